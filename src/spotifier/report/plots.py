"""The report's figures: matplotlib (Agg), one function per chart, each returning PNG bytes.

Colours are fixed per model (`model_colors`), so a model looks the same in every chart.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#7f7f7f"
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8",
    "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
]  # fmt: skip
_FIXED = {"oracle": "#000000", "popularity": GREY}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "font.size": 10})
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per model: fixed ones for oracle/popularity, the palette in sorted-name order.

    >>> model_colors(["als", "oracle", "ease"])
    {'als': '#1f77b4', 'ease': '#ff7f0e', 'oracle': '#000000'}
    """
    out, i = {}, 0
    for name in sorted(set(names)):
        if name in _FIXED:
            out[name] = _FIXED[name]
        else:
            out[name] = _PALETTE[i % len(_PALETTE)]
            i += 1
    return out


def histogram(
    values: np.ndarray,
    weights: np.ndarray | None,
    title: str,
    xlabel: str,
    log_x: bool = False,
    log_y: bool = False,
    bins: int = 50,
    ylabel: str = "playlists",
) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    values = np.asarray(values, dtype=np.float64)
    if log_x:
        lo, hi = max(values.min(), 1.0), max(values.max(), 2.0)
        edges = np.unique(np.floor(np.logspace(np.log10(lo), np.log10(hi + 1), bins)))
        ax.hist(values, bins=edges, weights=weights, color=BLUE)
        ax.set_xscale("log")
    else:
        ax.hist(values, bins=bins, weights=weights, color=BLUE)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
    return _png(fig)


def monthly(months: Sequence[str], counts: Sequence[int], title: str) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10.5, 3.2))
    x = np.arange(len(months))
    ax.bar(x, counts, color=BLUE, width=1.0)
    step = max(1, len(months) // 12)
    ax.set_xticks(x[::step], [months[i] for i in range(0, len(months), step)], rotation=45)
    ax.set_title(title)
    ax.set_xlabel("month of last modification (UTC)")
    ax.set_ylabel("playlists")
    return _png(fig)


def long_tail(series: Mapping[str, np.ndarray], title: str) -> bytes:
    """Rank-frequency on log-log axes, one line per series (counts sorted descending)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for (label, counts), color in zip(series.items(), [BLUE, ORANGE, "#2ca02c"], strict=False):
        counts = np.sort(np.asarray(counts))[::-1]
        ax.loglog(np.arange(1, len(counts) + 1), counts, label=label, color=color, lw=1.6)
    ax.set_title(title)
    ax.set_xlabel("rank (log scale)")
    ax.set_ylabel("playlist entries (log scale)")
    ax.legend()
    return _png(fig)


def top_bars(labels: Sequence[str], counts: Sequence[int], title: str, xlabel: str) -> bytes:
    plt = _plt()
    n = len(labels)
    fig, ax = plt.subplots(figsize=(5.2, 0.26 * n + 1.0))
    short = [lab if len(lab) <= 34 else lab[:33] + "…" for lab in labels]
    ax.barh(np.arange(n)[::-1], counts, color=BLUE)
    ax.set_yticks(np.arange(n)[::-1], short)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _png(fig)


def category_bars(
    results: Mapping[str, Mapping[str, Mapping[str, float | None]]],
    categories: Sequence[str],
    metric: str,
    label: str,
    colors: Mapping[str, str],
    oracle: Mapping[str, float | None] | None = None,
) -> bytes:
    """Grouped bars: one group per category (plus 'all'), one bar per model; the oracle as ticks."""
    plt = _plt()
    models = list(results)
    fig, ax = plt.subplots(figsize=(10.5, 3.8))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(categories))
    for j, name in enumerate(models):
        vals = [results[name].get(c, {}).get(metric) for c in categories]
        y = [np.nan if v is None else v for v in vals]
        ax.bar(x - 0.4 + width * (j + 0.5), y, width, label=name, color=colors[name])
    if oracle is not None:
        ys = [oracle.get(c) for c in categories]
        for xi, yv in zip(x, ys, strict=True):
            if yv is not None:
                ax.hlines(yv, xi - 0.42, xi + 0.42, color=colors.get("oracle", "k"), lw=2)
        ax.plot([], [], color=colors.get("oracle", "k"), lw=2, label="oracle (ceiling)")
    ax.set_xticks(x, categories)
    ax.set_xlabel("challenge category")
    ax.set_ylabel(label)
    ax.set_title(f"{label} per category")
    ax.legend(
        fontsize=8, ncol=min(6, len(models) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.16)
    )
    return _png(fig)


def sweep(
    rows: Sequence[Mapping[str, Any]], key: str, others: Sequence[str], metric: str, title: str
) -> bytes:
    """A tuning sweep: the metric against one hyperparameter, one line per setting of the others."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    rows = [{k: _number(v) for k, v in r.items()} for r in rows]
    xs_all = [r[key] for r in rows]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_all)
    labels = sorted({str(v) for v in xs_all})
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(f"{o}={r[o]}" for o in others), []).append(r)
    for j, (group, members) in enumerate(sorted(groups.items())):
        members = sorted(members, key=lambda r: r[key] if numeric else str(r[key]))
        xs = [m[key] if numeric else labels.index(str(m[key])) for m in members]
        ys = [m.get(metric) for m in members]
        ax.plot(xs, ys, marker="o", color=_PALETTE[j % len(_PALETTE)], label=", ".join(group))
    if numeric and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(labels)), labels)
    if others:
        ax.legend(fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(key)
    ax.set_ylabel(metric + (" (lower is better)" if metric == "clicks" else ""))
    return _png(fig)


def _number(value: Any) -> Any:
    """Grid values may be saved as strings: '400' -> 400.0, 'bm25' stays.

    >>> _number("400"), _number("bm25"), _number(True)
    (400.0, 'bm25', True)
    """
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def followers_scores(models: Mapping[str, Mapping[str, Any]], colors: Mapping[str, str]) -> bytes:
    """Test R² (log scale) and Spearman per followers model; the ceiling as a dashed line."""
    plt = _plt()
    names = [n for n in models if n != "ceiling"]
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.4))
    for ax, key, label in zip(
        axes,
        ("r2_log_test", "spearman_test"),
        ("R² of log1p(followers)", "Spearman ρ"),
        strict=True,
    ):
        vals = [max(float(models[n][key]), -0.5) for n in names]
        ax.bar(range(len(names)), vals, color=[colors[n] for n in names])
        if "ceiling" in models:
            ax.axhline(models["ceiling"][key], color="k", ls="--", label="noise ceiling")
            ax.legend(fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel(label + " (test)")
        ax.set_title(
            label + " on the 33% test part" + (" (clipped at -0.5)" if "R²" in label else "")
        )
    return _png(fig)


def residuals(predictions: Mapping[str, Mapping[str, Sequence[float]]]) -> bytes:
    """Predicted vs actual followers (log axes) and residuals of log1p, one column per model."""
    plt = _plt()
    names = list(predictions)
    fig, axes = plt.subplots(2, len(names), figsize=(3.3 * len(names), 6.0), squeeze=False)
    for j, name in enumerate(names):
        y = np.asarray(predictions[name]["y"], dtype=np.float64)
        p = np.clip(np.asarray(predictions[name]["pred"], dtype=np.float64), 0.0, None)
        top, bottom = axes[0][j], axes[1][j]
        top.scatter(y, p + 1, s=4, alpha=0.3, color=BLUE)
        lim = [1, max(float(y.max()), float(p.max()) + 1, 2.0)]
        top.plot(lim, lim, color="k", lw=0.8)
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_title(name)
        top.set_xlabel("actual followers")
        top.set_ylabel("predicted + 1")
        resid = np.log1p(y) - np.log1p(p)
        bottom.scatter(np.log1p(p), resid, s=4, alpha=0.3, color=ORANGE)
        bottom.axhline(0, color="k", lw=0.8)
        bottom.set_xlabel("log1p(predicted)")
        bottom.set_ylabel("log1p residual")
    return _png(fig)
