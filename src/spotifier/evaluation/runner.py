"""Recommend for evaluation cases and score the lists: the per-playlist rows behind every table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from spotifier.data import Catalog, Query
from spotifier.metrics import score_playlist
from spotifier.models.base import Recommendations
from spotifier.progress import track
from spotifier.split import Case

K = 500
_BATCH = 256


class Recommends(Protocol):
    def recommend(self, queries: Sequence[Query], k: int = 500) -> Recommendations: ...


class RanksByPid(Protocol):
    """The generator's oracle (`spotifier.synth.Oracle`): true ranking of a stored playlist."""

    def rank(self, pid: int, k: int, exclude: set[str]) -> list[str]: ...


def recommend_cases(
    model: Recommends, cases: Sequence[Case], k: int = K, label: str = "recommending"
) -> tuple[np.ndarray, float]:
    """(items (n, k) int32 with -1 padding, wall seconds) for every case's query."""
    items = np.full((len(cases), k), -1, dtype=np.int32)
    started = time.perf_counter()
    starts = range(0, len(cases), _BATCH)
    for start in track(starts, label, total=len(starts)):
        batch = [c.query for c in cases[start : start + _BATCH]]
        items[start : start + len(batch)] = model.recommend(batch, k).items
    return items, time.perf_counter() - started


def oracle_items(
    oracle: RanksByPid, cases: Sequence[Case], catalog: Catalog, k: int = K
) -> tuple[np.ndarray, float]:
    """The oracle's ranking of each case's playlist (seeds excluded) as track indices."""
    items = np.full((len(cases), k), -1, dtype=np.int32)
    uris = catalog.track_uris
    started = time.perf_counter()
    for i, case in enumerate(track(cases, "oracle")):
        exclude = {str(uris[t]) for t in case.query.seeds.tolist()}
        # URIs the store never saw cannot be held out, so they are dropped, not counted.
        known, _ = catalog.index_of(oracle.rank(case.pid, k, exclude))
        items[i, : len(known)] = known[:k]
    return items, time.perf_counter() - started


def score_cases(
    cases: Sequence[Case],
    items: np.ndarray,
    artist_of: np.ndarray | None,
    hit_k: int = 100,
) -> list[dict[str, Any]]:
    """One row per case: pid, category and every metric (see `spotifier.metrics`)."""
    # A plain list indexes faster than numpy one item at a time.
    lookup = artist_of.tolist() if artist_of is not None else None
    rows = []
    for case, ranked in zip(cases, items, strict=True):
        recommended = [t for t in ranked.tolist() if t >= 0]
        row: dict[str, Any] = {"pid": case.pid, "category": case.category}
        row.update(score_playlist(recommended, case.truth.tolist(), lookup, hit_k))
        rows.append(row)
    return rows


def sample_cases(cases: Sequence[Case], n: int | None, seed: int = 0) -> list[Case]:
    """A seeded sample of `n` cases in their original order; smaller samples nest in larger ones.

    >>> sample_cases(list(range(10)), 3) == sorted(sample_cases(list(range(10)), 3))
    True
    >>> set(sample_cases(list(range(10)), 3)) <= set(sample_cases(list(range(10)), 6))
    True
    """
    if n is None or n >= len(cases):
        return list(cases)
    order = np.random.default_rng(seed).permutation(len(cases))[:n]
    return [cases[i] for i in sorted(order.tolist())]
