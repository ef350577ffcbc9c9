"""`spotifier evaluate`: load (or train) each model on a split, recommend, score, save, compare.

Results go to `home/results/<split>/<model>.json` with the overall and per-category means and
one row per held-out playlist, so the report (and later gap shares) can reuse them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spotifier.data import Catalog
from spotifier.errors import InvalidInputError
from spotifier.evaluation.runner import (
    RanksByPid,
    oracle_items,
    recommend_cases,
    sample_cases,
    score_cases,
)
from spotifier.home import Home, atomic_file
from spotifier.metrics import METRIC_KEYS, aggregate, mean_rows
from spotifier.models.chain import FallbackChain
from spotifier.progress import note
from spotifier.split import (
    DEFAULT_SPLIT,
    HIDE_FIRST_SPLIT,
    PROTOCOLS,
    Case,
    Split,
    build_split,
    load_split,
)

ORACLE = "oracle"
BASELINE = "popularity"
# Kept in the result files, left out of the `--json` document (which states them once).
_FILE_ONLY = ("model", "split", "protocol", "split_created_at", "per_playlist")


def resolve_split(home: Home, split: str | None, protocol: str | None) -> Split:
    """The split to evaluate on, built with the protocol's defaults (and a notice) if missing."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise InvalidInputError(f"unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}")
    name = split or (HIDE_FIRST_SPLIT if protocol == "hide-first" else DEFAULT_SPLIT)
    if not (home.split_dir(name) / "meta.json").exists():
        protocol = protocol or "challenge"
        note(f"[yellow]split '{name}' does not exist; building it ({protocol} protocol)[/]")
        build_split(home, name, protocol=protocol)
    loaded = load_split(home, name)
    if protocol is not None and loaded.protocol != protocol:
        raise InvalidInputError(
            f"split '{name}' uses the {loaded.protocol} protocol, not {protocol}; "
            f"choose another --split or --protocol"
        )
    return loaded


def load_oracle(home: Home) -> RanksByPid | None:
    """The generator's oracle when the stored data came from `spotifier generate`, else None."""
    from spotifier import store

    root = store.source_root(home)
    if root is None or not (Path(root) / "truth").is_dir():
        return None
    try:
        from spotifier.synth import Oracle
    except ImportError:
        note("[yellow]generator truth found but spotifier.synth.Oracle is missing; no oracle[/]")
        return None
    oracle: RanksByPid = Oracle.load(Path(root) / "truth")
    return oracle


def evaluate(
    home: Home,
    models: Sequence[str],
    split: str | None = None,
    protocol: str | None = None,
    sample: int | None = None,
    oracle: bool = True,
) -> dict[str, Any]:
    """Evaluate each model (plus the oracle when truth exists); returns the `--json` document."""
    from spotifier import store
    from spotifier.models import persist, registry

    loaded = resolve_split(home, split, protocol)
    catalog = store.load_catalog(home)
    names = [m for m in dict.fromkeys(models) if m != ORACLE]
    for name in names:
        registry.model_class(name)  # unknown names fail before any work
    hide_first = loaded.protocol == "hide-first"
    credit = artist_credit(catalog)
    out: dict[str, Any] = {
        "split": loaded.name,
        "protocol": loaded.protocol,
        "artist_credit": credit,
        "models": {},
    }
    if credit != "all":
        out["notes"] = [ARTIST_CREDIT_NOTES[credit]]
    results: dict[str, dict[str, Any]] = {}
    training = persist.Training(home, loaded.name)  # loaded once, if any model needs training
    for name in names:
        klass = registry.model_class(name)
        # The hide-first protocol is the seed's own comparison: its test playlists (1,000 of a
        # 10,000 sample) are scored whole, as the seed scored them, so models pair up.
        cap = None if hide_first else klass.max_eval_queries
        limit = _limit(sample, cap)
        cases = sample_cases(loaded.cases, limit)
        chain = persist.load_chain(home, name, loaded.name, training)
        items, seconds = recommend_cases(chain, cases, label=name)
        fit = _fit_seconds(home, chain, loaded.name)
        results[name] = _result(name, loaded, cases, items, catalog, fit, seconds, hide_first)
        recall = _candidate_recall(chain, cases)
        if recall is not None:
            results[name]["candidate_recall"] = recall
    the_oracle = load_oracle(home) if (oracle or ORACLE in models) else None
    if the_oracle is not None:
        cases = sample_cases(loaded.cases, sample)
        items, seconds = oracle_items(the_oracle, cases, catalog)
        results[ORACLE] = _result(ORACLE, loaded, cases, items, catalog, 0.0, seconds, hide_first)
    _add_gap_shares(home, loaded.name, results)
    for name, result in results.items():
        save_result(home, loaded.name, name, result)
        out["models"][name] = {k: v for k, v in result.items() if k not in _FILE_ONLY}
    return out


#: What R-precision's artist credit means on data whose artists are not all known.
ARTIST_CREDIT_NOTES = {
    "partial": "some tracks have no artist: R-precision's artist credit only where it is known",
    "none": "no artists in this data: R-precision is track-only (no artist credit)",
}


def artist_credit(catalog: Catalog) -> str:
    """Where R-precision's artist credit applies: "all" tracks, "partial", or "none".

    >>> from spotifier.evaluation.testing import tiny_mpd
    >>> catalog = tiny_mpd(20, 50)[1]
    >>> artist_credit(catalog)
    'all'
    >>> import dataclasses
    >>> artist_credit(dataclasses.replace(catalog, track_artist=catalog.track_artist * 0 - 1))
    'none'
    """
    known = catalog.track_artist >= 0
    if known.all():
        return "all"
    return "partial" if known.any() else "none"


def _candidate_recall(chain: FallbackChain, cases: list[Case]) -> dict[str, Any] | None:
    """Stage-one recall (share of held-out tracks among the candidates) for two-stage models."""
    if not cases:
        return None
    values = chain.primary.candidate_recall([c.query for c in cases], [c.truth for c in cases])
    if values is None:
        return None
    per_category: dict[str, float] = {}
    for category in sorted({c.category for c in cases}):
        mask = np.array([c.category == category for c in cases])
        per_category[category] = round(float(values[mask].mean()), 4)
    return {"overall": round(float(values.mean()), 4), "per_category": per_category}


def _limit(sample: int | None, model_limit: int | None) -> int | None:
    """How many held-out playlists a model is scored on: an explicit `--sample` (which may
    exceed a slow model's cap), else the model's own `max_eval_queries` cap, else all.

    >>> _limit(None, 500), _limit(1000, 500), _limit(20, 500), _limit(None, None)
    (500, 1000, 20, None)
    """
    return sample if sample is not None else model_limit


def _fit_seconds(home: Home, chain: Any, split: str) -> float:
    from spotifier.models import persist

    total = 0.0
    for part in (chain.primary, chain.title):
        if part is not None:
            total += float(persist.read_meta(home, part.name, split).get("fit_seconds", 0.0))
    return round(total, 3)


def _result(
    name: str,
    split: Split,
    cases: list[Case],
    items: Any,
    catalog: Catalog,
    fit_seconds: float,
    recommend_seconds: float,
    hide_first: bool,
) -> dict[str, Any]:
    rows = score_cases(cases, items, catalog.track_artist)
    keys = METRIC_KEYS if hide_first else METRIC_KEYS[:-1]
    overall, per_category = aggregate(rows, keys)
    result: dict[str, Any] = {
        "model": name,
        "split": split.name,
        "protocol": split.protocol,
        "split_created_at": split.meta.get("created_at"),
        "overall": overall,
        "per_category": per_category,
        "fit_seconds": fit_seconds,
        "recommend_seconds": round(recommend_seconds, 3),
    }
    if len(cases) < len(split.cases):
        result["sampled"] = len(cases)
    credit = artist_credit(catalog)
    if credit != "all":
        result["artist_credit"] = credit
    result["per_playlist"] = [
        {
            "playlist_id": split.playlist_id(r["pid"]),
            **{k: r[k] for k in ("pid", "category", *keys)},
        }
        for r in rows
    ]
    return result


def _add_gap_shares(home: Home, split: str, results: dict[str, dict[str, Any]]) -> None:
    """(model − popularity) / (oracle − popularity) per metric, on the model's own playlists."""
    base = results.get(BASELINE) or read_result(home, split, BASELINE)
    ceiling = results.get(ORACLE) or read_result(home, split, ORACLE)
    if base is None or ceiling is None:
        return
    if base.get("split_created_at") != ceiling.get("split_created_at"):
        return  # saved on an older build of the split
    base_rows = {r["pid"]: r for r in base["per_playlist"]}
    ceiling_rows = {r["pid"]: r for r in ceiling["per_playlist"]}
    for name, result in results.items():
        if name in (BASELINE, ORACLE):
            continue
        pids = [r["pid"] for r in result["per_playlist"]]
        if result.get("split_created_at") != base.get("split_created_at"):
            continue
        if not all(p in base_rows and p in ceiling_rows for p in pids):
            continue
        keys = [k for k in METRIC_KEYS if result["overall"].get(k) is not None]
        low = mean_rows([base_rows[p] for p in pids], keys)
        high = mean_rows([ceiling_rows[p] for p in pids], keys)
        shares = {}
        for key in keys:
            span = (high[key] or 0.0) - (low[key] or 0.0)
            shares[key] = (result["overall"][key] - low[key]) / span if span else None
        result["gap_share"] = shares


def result_path(home: Home, split: str, model: str) -> Path:
    return home.results_dir / split / f"{model}.json"


def save_result(home: Home, split: str, model: str, result: dict[str, Any]) -> None:
    with atomic_file(result_path(home, split, model), "w") as fh:
        json.dump(result, fh, indent=1)


def read_result(home: Home, split: str, model: str) -> dict[str, Any] | None:
    """A saved evaluation result (with per-playlist rows), or None."""
    path = result_path(home, split, model)
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result
