"""The challenge's metrics as pure per-playlist functions, and a runner that aggregates them.

>>> scores = score_playlist([3, 1, 2], [1, 2], artist_of=None)
>>> scores["r_precision_track"], scores["clicks"]
(0.5, 0.0)
"""

from spotifier.metrics.core import (
    NO_HIT_CLICKS,
    UNKNOWN_ARTIST,
    clicks,
    dcg,
    hit_at,
    ndcg,
    r_precision,
    recall_at,
)
from spotifier.metrics.runner import (
    METRIC_KEYS,
    aggregate,
    mean_rows,
    score_playlist,
)

__all__ = [
    "METRIC_KEYS",
    "NO_HIT_CLICKS",
    "UNKNOWN_ARTIST",
    "aggregate",
    "clicks",
    "dcg",
    "hit_at",
    "mean_rows",
    "ndcg",
    "r_precision",
    "recall_at",
    "score_playlist",
]
