"""What the report reads: EDA columns from the store, evaluation and tuning results, examples.

Every reader returns None (or an empty value) when its input does not exist, so the page can say
what is missing instead of failing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spotifier.home import Home

EXAMPLES = 3
EXAMPLE_K = 10


def eda_columns(home: Home) -> dict[str, Any]:
    """Per-playlist columns and per-track/artist counts for the distribution plots.

    A column the data lacks (own playlists without followers, edits, durations, modification
    dates or artists) is None, so the page says it is missing instead of plotting zeros.
    """
    from spotifier import store

    con = store.connect(home, read_only=True)

    def values(sql: str) -> np.ndarray | None:
        found = np.asarray(con.execute(sql).fetchnumpy()["v"], dtype=np.float64)
        return found if len(found) else None

    def per_playlist(expression: str, column: str) -> np.ndarray | None:
        return values(f"SELECT {expression} AS v FROM playlists WHERE {column} IS NOT NULL")

    try:
        months = con.execute(
            """SELECT strftime(to_timestamp(modified_at), '%Y-%m') AS month FROM playlists
               WHERE modified_at IS NOT NULL"""
        ).fetchnumpy()["month"]
        out = {
            "num_tracks": per_playlist("num_tracks", "num_tracks"),
            "num_followers": per_playlist("num_followers", "num_followers"),
            "num_edits": per_playlist("num_edits", "num_edits"),
            "minutes": per_playlist("duration_ms / 60000.0", "duration_ms"),
            "track_seconds": values(
                "SELECT duration_ms / 1000.0 AS v FROM tracks WHERE duration_ms > 0"
            ),
            "track_counts": values("SELECT count(*) AS v FROM entries GROUP BY track_idx"),
            "artist_counts": values(
                """SELECT count(*) AS v FROM entries JOIN tracks USING (track_idx)
                   WHERE tracks.artist_idx IS NOT NULL GROUP BY tracks.artist_idx"""
            ),
        }
    finally:
        con.close()
    labels, counts = np.unique(np.asarray(months, dtype=str), return_counts=True)
    out["months"] = labels.tolist() if len(labels) else None
    out["month_counts"] = counts.tolist()
    return out


def evaluation_results(home: Home) -> dict[str, dict[str, dict[str, Any]]]:
    """{split: {model: result}} from `home/results/<split>/<model>.json` (no per-playlist rows)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    root = home.results_dir
    if not root.exists():
        return out
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "tune"):
        models: dict[str, dict[str, Any]] = {}
        for path in sorted(split_dir.glob("*.json")):
            try:
                result = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(result, dict) and isinstance(result.get("overall"), dict):
                result.pop("per_playlist", None)
                models[str(result.get("model", path.stem))] = result
        if models:
            out[split_dir.name] = models
    return out


def tune_results(home: Home) -> dict[str, dict[str, Any]]:
    """{model: sweep} from `home/results/tune/*.json` (rows of grid values and metrics)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((home.results_dir / "tune").glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(result, dict) and isinstance(result.get("rows"), list) and result["rows"]:
            out[path.stem] = result
    return out


def category_order(keys: list[str]) -> list[str]:
    """Categories in numeric order when they are numbers.

    >>> category_order(["10", "2", "1"])
    ['1', '2', '10']
    """
    return sorted(keys, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))


#: Categories shown first: a few seeds with a title reads best on a page.
PREFERRED_CATEGORIES = ("3", "7", "9", "5", "2", "8", "10", "hide-first")


def pick_cases(cases: list[Any], n: int = EXAMPLES) -> list[Any]:
    """Up to `n` titled cases with seeds, from different categories (preferred ones first);
    cases without a title when none has one (data without titles)."""
    titled = any(case.query.name for case in cases)
    first: dict[str, Any] = {}
    for case in cases:
        named = bool(case.query.name) or not titled
        if len(case.query.seeds) > 0 and named and case.category not in first:
            first[case.category] = case
    order = [c for c in (*PREFERRED_CATEGORIES, "6", "4") if c in first]
    order += [c for c in first if c not in order]
    return [first[c] for c in order[:n]]


def _trained(home: Home, name: str, split: str | None) -> bool:
    return (home.model_dir(name, split) / "meta.json").exists()


def examples(home: Home, split: str, models: list[str]) -> tuple[list[dict[str, Any]], str | None]:
    """A few held-out playlists of `split` continued by each already-trained model (no training).

    Returns (examples, reason-when-empty).
    """
    from spotifier import store
    from spotifier.models import persist
    from spotifier.models.chain import FallbackChain
    from spotifier.split import load_split

    trained = [m for m in models if m != "oracle" and _trained(home, m, split)]
    if not trained:
        return [], f"no model trained on split '{split}'"
    try:
        loaded = load_split(home, split)
    except Exception as exc:  # a missing or stale split: say so on the page
        return [], f"split '{split}' cannot be read ({exc})"
    catalog = store.load_catalog(home)
    picks = pick_cases(loaded.cases)
    chains = {}
    for name in trained:
        if _trained(home, "title", split) or name == "title":
            chains[name] = persist.load_chain(home, name, split)
        else:
            chains[name] = FallbackChain(persist.load(home, name, split), None)
    out = []
    for case in picks:
        truth = {int(t) for t in np.asarray(case.truth).tolist()}
        rows: dict[str, list[dict[str, Any]]] = {}  # track dicts gain a boolean "hit"
        for name, chain in chains.items():
            recs = chain.recommend([case.query], k=EXAMPLE_K)
            items, _ = recs.row(0)
            rows[name] = [
                {"label": catalog.label(idx), "hit": idx in truth} for idx in items.tolist()
            ]
        out.append(
            {
                "title": case.query.name,
                "playlist_id": loaded.playlist_id(case.pid),
                "seeds": [{"label": catalog.label(t)} for t in case.query.seeds[:5].tolist()],
                "n_seeds": len(case.query.seeds),
                "n_truth": len(truth),
                "recommendations": rows,
            }
        )
    return out, None if out else "the split has no case with seed tracks"


def followers_result(home: Home) -> dict[str, Any] | None:
    from spotifier.followers import load_result

    return load_result(home)


def source_description(home: Home) -> str:
    """Where the stored playlists came from, for the page's header."""
    from spotifier import store
    from spotifier.store.schema import source_kind

    try:
        root = store.source_root(home)
        with store.connect(home, read_only=True) as con:
            kind = source_kind(con)
    except Exception:
        return "unknown"
    shape = {"tabular": "own playlists as tables", "mixed": "MPD slices and tables"}.get(
        kind or "", "MPD slices"
    )
    if root is None:
        return shape if kind else "unknown"
    generated = (Path(root) / "truth").exists()
    return f"{root} ({'generated world, ' if generated else ''}{shape})"
