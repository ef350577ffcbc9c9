"""Stage one and the ranker's features for `hybrid`: candidates from several generators.

`generate(generators, queries, k)` asks each sub-model for its top `k` and `features(...)` turns
one query's lists into a candidate set and a feature matrix: per generator its score, its score
divided by the query's best score and its rank; track and artist popularity; how many seeds share
the candidate's artist and album; number of seeds, prefix or random seeds, title present, the
playlist's full length, and how many generators proposed the candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spotifier.data import Query
from spotifier.models.base import Recommender


@dataclass(frozen=True, eq=False)
class Lists:
    """Each generator's ranked items and scores for a batch: (n_generators, n_queries, k)."""

    items: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, eq=False)
class Side:
    """Per-track facts the features need (learned at fit time)."""

    track_artist: np.ndarray
    track_album: np.ndarray
    track_log_count: np.ndarray
    artist_log_count: np.ndarray

    @classmethod
    def build(cls, track_artist: np.ndarray, track_album: np.ndarray, counts: np.ndarray) -> Side:
        artist_counts = np.bincount(track_artist, weights=counts, minlength=1)
        return cls(
            track_artist.astype(np.int32),
            track_album.astype(np.int32),
            np.log1p(counts).astype(np.float32),
            np.log1p(artist_counts)[track_artist].astype(np.float32),
        )


def generate(generators: Sequence[Recommender], queries: Sequence[Query], k: int) -> Lists:
    """Every generator's top `k` for every query; back-filled entries are marked absent (-1)."""
    items = np.full((len(generators), len(queries), k), -1, dtype=np.int32)
    scores = np.full((len(generators), len(queries), k), np.nan, dtype=np.float32)
    for g, model in enumerate(generators):
        recs = model.recommend(queries, k)
        own = np.isfinite(recs.scores)  # NaN = popularity back-fill, not the model's opinion
        items[g] = np.where(own, recs.items, -1)
        scores[g] = np.where(own, recs.scores, np.nan)
    return Lists(items, scores)


def feature_names(generator_names: Sequence[str]) -> list[str]:
    per = [f"{n}:{kind}" for n in generator_names for kind in ("score", "relative", "rank")]
    return [
        *per,
        "track_log_count",
        "artist_log_count",
        "seed_artist_share",
        "seed_album_share",
        "seed_artist_count",
        "n_seeds",
        "is_prefix",
        "has_title",
        "num_tracks",
        "n_generators",
    ]


def features(lists: Lists, j: int, query: Query, side: Side) -> tuple[np.ndarray, np.ndarray]:
    """(candidates, features) for query `j` of the batch: the union of the generators' lists."""
    n_gen, _, k = lists.items.shape
    rows_items = lists.items[:, j, :]
    found_any = rows_items[rows_items >= 0]
    cands = np.unique(found_any).astype(np.int64)
    n = len(cands)
    x = np.full((n, 3 * n_gen + 10), np.nan, dtype=np.float32)
    n_found = np.zeros(n, dtype=np.float32)
    for g in range(n_gen):
        items, scores = rows_items[g], lists.scores[g, j]
        valid = items >= 0
        items, scores = items[valid].astype(np.int64), scores[valid]
        ranks = np.arange(1, len(items) + 1, dtype=np.float32)
        x[:, 3 * g + 2] = k + 1  # absent: beyond the list
        if len(items) == 0 or n == 0:
            continue
        order = np.argsort(items, kind="stable")
        pos = np.minimum(np.searchsorted(items[order], cands), len(items) - 1)
        hit = items[order][pos] == cands
        at = order[pos[hit]]
        best = float(np.max(scores)) if len(scores) else 1.0
        x[hit, 3 * g] = scores[at]
        x[hit, 3 * g + 1] = scores[at] / best if best > 0 else np.nan
        x[hit, 3 * g + 2] = ranks[at]
        n_found += hit
    base = 3 * n_gen
    seeds = query.seeds.astype(np.int64)
    seeds = seeds[(seeds >= 0) & (seeds < len(side.track_artist))]
    artist = side.track_artist[cands]
    album = side.track_album[cands]
    n_seeds = len(seeds)
    seed_artists = side.track_artist[seeds]
    same_artist = _count_in(seed_artists, artist)
    same_album = _count_in(side.track_album[seeds], album)
    x[:, base + 0] = side.track_log_count[cands]
    x[:, base + 1] = side.artist_log_count[cands]
    x[:, base + 2] = same_artist / max(n_seeds, 1)
    x[:, base + 3] = same_album / max(n_seeds, 1)
    x[:, base + 4] = same_artist
    x[:, base + 5] = n_seeds
    x[:, base + 6] = float(query.is_prefix)
    x[:, base + 7] = float(bool(query.name and query.name.strip()))
    x[:, base + 8] = np.nan if query.num_tracks is None else float(query.num_tracks)
    x[:, base + 9] = n_found
    return cands, x


def _count_in(pool: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many times each of `values` occurs in `pool`.

    >>> _count_in(np.array([3, 3, 5]), np.array([3, 4, 5])).tolist()
    [2.0, 0.0, 1.0]
    """
    if len(pool) == 0:
        return np.zeros(len(values), dtype=np.float32)
    uniq, counts = np.unique(pool, return_counts=True)
    pos = np.minimum(np.searchsorted(uniq, values), len(uniq) - 1)
    return np.where(uniq[pos] == values, counts[pos], 0).astype(np.float32)


def rank_fusion(x: np.ndarray, n_gen: int, k: int) -> np.ndarray:
    """Reciprocal-rank fusion of the generators' ranks: the score when no ranker is trained."""
    ranks = x[:, 2 : 3 * n_gen : 3]
    return np.where(ranks <= k, 1.0 / (60.0 + ranks), 0.0).sum(axis=1).astype(np.float32)
