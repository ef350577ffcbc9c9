"""Turn ranked lists into per-playlist metric rows, and rows into overall and per-category means."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from spotifier.metrics.core import ArtistLookup, clicks, hit_at, ndcg, r_precision

#: The metric keys of every row, result file and `--json` output, in display order.
METRIC_KEYS: tuple[str, ...] = ("r_precision", "r_precision_track", "ndcg", "clicks", "hit_at_100")


def score_playlist(
    recommended: Sequence[Any],
    relevant: Collection[Any],
    artist_of: ArtistLookup | Mapping[Any, Any] | None,
    hit_k: int = 100,
) -> dict[str, float]:
    """Every metric for one playlist. Without `artist_of`, `r_precision` is the track-only value.

    >>> row = score_playlist(["x", "a"], {"a"}, artist_of=None)
    >>> row["ndcg"], row["hit_at_100"]
    (1.0, 1.0)
    """
    track_only = r_precision(recommended, relevant)
    return {
        "r_precision": (
            r_precision(recommended, relevant, artist_of) if artist_of is not None else track_only
        ),
        "r_precision_track": track_only,
        "ndcg": ndcg(recommended, relevant),
        "clicks": float(clicks(recommended, relevant)),
        f"hit_at_{hit_k}": hit_at(recommended, relevant, hit_k),
    }


def mean_rows(rows: Iterable[Mapping[str, Any]], keys: Sequence[str] = METRIC_KEYS) -> dict:
    """The mean of each metric over rows, plus `playlists` (the row count).

    >>> mean_rows([{"ndcg": 1.0}, {"ndcg": 0.0}], keys=["ndcg"])
    {'ndcg': 0.5, 'playlists': 2}
    """
    rows = list(rows)
    out: dict[str, Any] = {}
    for key in keys:
        values = [float(r[key]) for r in rows if key in r]
        out[key] = sum(values) / len(values) if values else None
    out["playlists"] = len(rows)
    return out


def aggregate(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str] = METRIC_KEYS
) -> tuple[dict, dict[str, dict]]:
    """(overall means, means per `category`), categories in sorted order.

    >>> overall, per = aggregate([{"category": "1", "ndcg": 1.0}, {"category": "2", "ndcg": 0.0}],
    ...                          keys=["ndcg"])
    >>> overall["ndcg"], per["2"]["ndcg"]
    (0.5, 0.0)
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["category"]), []).append(row)

    def order(name: str) -> tuple[int, int | str]:
        return (0, int(name)) if name.isdigit() else (1, name)

    per = {name: mean_rows(groups[name], keys) for name in sorted(groups, key=order)}
    return mean_rows(rows, keys), per
