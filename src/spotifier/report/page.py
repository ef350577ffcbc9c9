"""`spotifier report`: build one self-contained HTML page (images embedded as base64 PNG).

The same PNGs are also written beside the page (`DIR/img/`), for the README and slides.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from spotifier.errors import NotFoundError
from spotifier.home import Home, atomic_file
from spotifier.progress import track
from spotifier.report import inputs, plots
from spotifier.store.fields import describe_absent

METRICS = (
    ("r_precision", "R-precision"),
    ("ndcg", "NDCG"),
    ("clicks", "clicks (lower is better)"),
)
SECTIONS = (
    "summary",
    "distributions",
    "popularity",
    "top",
    "results",
    "tuning",
    "followers",
    "examples",
)


class _Images:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: list[str] = []

    def add(self, name: str, png: bytes) -> dict[str, str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.png").write_bytes(png)
        self.names.append(name)
        return {"name": name, "src": "data:image/png;base64," + base64.b64encode(png).decode()}


def _summary_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The numeric figures of `spotifier stats`; one the data lacks says so, never 0.

    >>> _summary_rows({"playlists": 3, "unique_titles": None, "absent": {"unique_titles": "x"}})
    [('playlists', '3'), ('unique titles', '—  (x)')]
    """
    rows = []
    absent = stats.get("absent", {})
    for key, value in stats.items():
        if value is None and key in absent:
            rows.append((key.replace("_", " "), f"—  ({absent[key]})"))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
        rows.append((key.replace("_", " "), text))
    return rows


def _chart(img: _Images, name: str, values: Any, field: str, draw: Any) -> dict[str, str]:
    """`draw(values)` as an image, or the sentence saying which field the data lacks."""
    if values is None:
        return {"name": name, "missing": describe_absent(field)}
    return img.add(name, draw(values))


def _eda(home: Home, img: _Images, ctx: dict[str, Any]) -> None:
    from spotifier import store

    stats = store.compute_stats(home)
    ctx["fields"] = stats["fields"]
    ctx["summary"] = _summary_rows(stats)
    n = max(int(stats.get("playlists", 0)), 1)
    collaborative = stats.get("collaborative")
    ctx["collaborative"] = (
        {"count": collaborative, "share": 100.0 * collaborative / n}
        if collaborative is not None
        else {"missing": describe_absent("collaborative")}
    )
    cols = inputs.eda_columns(home)
    histogram = plots.histogram
    ctx["distributions"] = [
        _chart(
            img,
            "length",
            cols["num_tracks"],
            "num_tracks",
            lambda v: histogram(v, None, "Playlist length", "tracks per playlist"),
        ),
        _chart(
            img,
            "followers",
            cols["num_followers"],
            "num_followers",
            lambda v: histogram(v, None, "Followers", "followers (log scale)", True, True),
        ),
        _chart(
            img,
            "edits",
            cols["num_edits"],
            "num_edits",
            lambda v: histogram(v, None, "Edits", "edits (log scale)", True, True),
        ),
        _chart(
            img,
            "playlist_minutes",
            cols["minutes"],
            "duration_ms",
            lambda v: histogram(v, None, "Playlist duration", "minutes"),
        ),
        _chart(
            img,
            "track_seconds",
            cols["track_seconds"],
            "duration_ms",
            lambda v: histogram(
                np.clip(v, 0, 900),
                None,
                "Track duration (catalogue)",
                "seconds (clipped at 900)",
                ylabel="tracks",
            ),
        ),
    ]
    ctx["modified"] = _chart(
        img,
        "modified",
        cols["months"],
        "modified_at",
        lambda v: plots.monthly(v, cols["month_counts"], "Last modification date"),
    )
    series = {"tracks": cols["track_counts"]}
    if cols["artist_counts"] is not None:
        series["artists"] = cols["artist_counts"]
    else:
        ctx["long_tail_missing"] = describe_absent("artist") + ": tracks only"
    ctx["long_tail"] = _chart(
        img,
        "long_tail",
        cols["track_counts"],
        "track",
        lambda v: plots.long_tail(series, "Popularity long tail"),
    )
    tops = []
    for key, label, field, needs in (
        ("top_titles", "Top normalized titles", "title", "title"),
        ("top_tracks", "Top tracks", "name", "track"),
        ("top_artists", "Top artists", "name", "artist"),
    ):
        entries = stats.get(key)
        if entries is None:
            tops.append({"name": key, "missing": describe_absent(needs)})
            continue
        if not entries:
            continue
        names = [_top_label(e, field) for e in entries[:20]]
        counts = [int(e["count"]) for e in entries[:20]]
        unit = "playlists" if key == "top_titles" else "playlist entries"
        tops.append(img.add(key, plots.top_bars(names, counts, label, unit)))
    ctx["tops"] = tops


def _top_label(entry: dict[str, Any], field: str) -> str:
    """A top-list bar's label: "name — artist" as far as known, else the external id.

    >>> _top_label({"name": None, "artist": None, "uri": "wh-3"}, "name")
    'wh-3'
    """
    name = entry.get(field) or entry.get("uri") or ""
    artist = entry.get("artist")
    return f"{name} — {artist}" if artist else str(name)


def _results(home: Home, img: _Images, ctx: dict[str, Any]) -> None:
    results = inputs.evaluation_results(home)
    all_models = [m for models in results.values() for m in models]
    colors = plots.model_colors(all_models)
    sections = []
    for split, models in results.items():
        per: dict[str, dict[str, dict[str, float | None]]] = {}
        cats: set[str] = set()
        for name, res in models.items():
            if name == "oracle":
                continue
            per[name] = {**res.get("per_category", {}), "all": res["overall"]}
            cats.update(res.get("per_category", {}))
        oracle = models.get("oracle")
        categories = [*inputs.category_order(sorted(cats)), "all"]
        charts = []
        for metric, label in METRICS:
            if not per or not any(metric in r["all"] for r in per.values()):
                continue
            line = None
            if oracle is not None:
                merged = {**oracle.get("per_category", {}), "all": oracle["overall"]}
                line = {c: merged.get(c, {}).get(metric) for c in categories}
            charts.append(
                img.add(
                    f"results_{split}_{metric}",
                    plots.category_bars(per, categories, metric, label, colors, line),
                )
            )
        table = []
        for name, res in sorted(
            models.items(), key=lambda kv: -(kv[1]["overall"].get("r_precision") or 0.0)
        ):
            o = res["overall"]
            gap = res.get("gap_share") or {}
            table.append(
                {
                    "name": name,
                    "color": colors[name],
                    "values": [o.get(k) for k in ("r_precision", "r_precision_track", "ndcg")]
                    + [o.get("clicks"), o.get("hit_at_100")],
                    "gap": gap.get("r_precision"),
                    "gap_ndcg": gap.get("ndcg"),
                    "seconds": res.get("fit_seconds"),
                }
            )
        sections.append(
            {
                "split": split,
                "protocol": next(iter(models.values())).get("protocol", ""),
                "charts": charts,
                "table": table,
            }
        )
    ctx["results"] = sections
    ctx["result_models"] = sorted(m for m in set(all_models) if m != "oracle")


def _tuning(home: Home, img: _Images, ctx: dict[str, Any]) -> None:
    sweeps = []
    for model, result in inputs.tune_results(home).items():
        rows = result["rows"]
        keys = [k for k in result.get("grid", {}) if all(k in r for r in rows)]
        metric = next((m for m in ("r_precision", "ndcg") if m in rows[0]), None)
        if metric is None:
            continue
        charts = [
            img.add(
                f"tune_{model}_{k}",
                plots.sweep(
                    rows, k, [o for o in keys if o != k], metric, f"{model}: {metric} vs {k}"
                ),
            )
            for k in keys
        ]
        sweeps.append(
            {"model": model, "charts": charts, "best": result.get("best"), "n": len(rows)}
        )
    ctx["tuning"] = sweeps


def _followers(home: Home, img: _Images, ctx: dict[str, Any]) -> None:
    result = inputs.followers_result(home)
    ctx["followers"] = result
    if result is None:
        if "num_followers" not in ctx.get("fields", ["num_followers"]):
            ctx["followers_missing"] = describe_absent("num_followers")
        return
    models = result["models"]
    colors = plots.model_colors(list(models))
    ctx["followers_charts"] = [img.add("followers_scores", plots.followers_scores(models, colors))]
    if result.get("predictions"):
        ctx["followers_charts"].append(
            img.add("followers_residuals", plots.residuals(result["predictions"]))
        )


def _examples(home: Home, ctx: dict[str, Any]) -> None:
    results = ctx.get("results") or []
    if not results:
        ctx["examples"], ctx["examples_missing"] = [], "no evaluated model"
        return
    split = results[0]["split"]
    names = [row["name"] for row in results[0]["table"] if row["name"] != "oracle"][:3]
    ctx["examples"], ctx["examples_missing"] = inputs.examples(home, split, names)
    ctx["examples_split"] = split


def build(home: Home, out: Path | None = None) -> Path:
    """Write `out/index.html` (default `home/report/`) and its PNGs; returns the page's path."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    if not home.store_path.exists():
        raise NotFoundError(f"no store at {home.store_path}; run: spotifier ingest MPD_DIR")
    out = Path(out) if out is not None else home.reports_dir
    img = _Images(out / "img")
    ctx: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "home": str(home.root),
        "source": inputs.source_description(home),
        "metric_labels": ["R-prec", "R-prec (track)", "NDCG", "clicks", "hit@100"],
    }
    steps = [
        lambda: _eda(home, img, ctx),
        lambda: _results(home, img, ctx),
        lambda: _tuning(home, img, ctx),
        lambda: _followers(home, img, ctx),
        lambda: _examples(home, ctx),
    ]
    for step in track(steps, "report"):
        step()
    env = Environment(
        loader=PackageLoader("spotifier.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters["num"] = _num
    html = env.get_template("index.html.j2").render(**ctx)
    path = out / "index.html"
    with atomic_file(path, "w") as fh:
        fh.write(html)
    return path


def _num(value: Any, digits: int = 3) -> str:
    """Format a metric for the page ('—' for missing).

    >>> _num(0.12345), _num(None), _num(3)
    ('0.123', '—', '3')
    """
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "—"
        if abs(value) >= 1e5:
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)
