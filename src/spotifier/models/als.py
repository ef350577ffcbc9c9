"""`als`: implicit-feedback matrix factorisation (implicit's ALS) with fold-in of the seeds.

Training uses implicit's CPU ALS (confidence `alpha · x_ui`, conjugate-gradient steps). At query
time a brand-new playlist's factor is the exact least-squares solution given the track factors
(what implicit's `recalculate_user` computes):
`(YᵀY + λI + Σ_s (c_s - 1) y_s y_sᵀ) x = Σ_s c_s y_s`.
Each query is solved on its own; scores are matrix products per batch, pruned by a norm bound
(see `ALS._pruned`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.errors import require
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import NonNegativeInt, PositiveFloat, PositiveInt
from spotifier.progress import blas_threads, cpu_count


@dataclass(frozen=True)
class ALSConfig(ModelConfig):
    """Settings of `als`. The model's four were chosen on validation playlists cut from the
    default world's training data (`bench/models_bench.py tune`); the rest are speed settings
    that never change a list."""

    batch_size: PositiveInt = 64
    """Queries folded in and scored at once (each solves its own small system)."""
    factors: PositiveInt = 64
    """Latent dimensions of a track's and a playlist's factor."""
    regularization: PositiveFloat = 0.05
    """The ridge λ of every least-squares step (and of the query fold-in)."""
    alpha: PositiveFloat = 20.0
    """Confidence of an observed track: c = alpha for a presence, 1 for an absence."""
    iterations: PositiveInt = 15
    """ALS sweeps over playlists and tracks."""
    min_count: NonNegativeInt = 2
    """Only tracks in at least this many training playlists are scored: a track seen once has a
    barely fitted factor and never reached a top 500; on the default world 2 gave the metrics of
    1 and cut recommend time from 7.2 s to 4.6 s for 2,000 playlists."""
    max_candidates: PositiveInt = 2000
    """Candidates per query in `score`, exactly (the block a hybrid saved before pair scores
    reads its als scores from; a newer one asks `score_pairs` for its candidates' scores)."""
    head_size: PositiveInt = 16_384
    """Tracks (by factor norm) every query is scored against before the norm bound prunes the
    rest; a bigger head costs more products and prunes a little more."""
    tail_budget: PositiveInt = 32_000_000
    """Most scores computed at once past the head (32M float32 = 128 MB: at 1M tracks 256 weak
    queries would otherwise need a 2.4 GB block)."""


class ALS(Recommender):
    """Matrix factorisation; queries are folded in from their seeds."""

    name = "als"
    config_class = ALSConfig
    config: ALSConfig
    scores_pairs = True

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.item_factors = np.zeros((0, self.config.factors), dtype=np.float32)
        self._gram: np.ndarray | None = None
        self._by_norm: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _fit(self, data: TrainingData) -> None:
        require("implicit", "models")
        from implicit.cpu.als import AlternatingLeastSquares

        cfg = self.config
        with blas_threads(1):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                random_state=cfg.seed,
                num_threads=cpu_count(),
            )
            model.fit(data.interactions.binary.astype(np.float32), show_progress=False)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._gram = None
        self._by_norm = None

    @property
    def gram(self) -> np.ndarray:
        """YᵀY + λI in float64 (the part of every fold-in system shared by all queries)."""
        if self._gram is None:
            y = self.item_factors.astype(np.float64)
            self._gram = y.T @ y + self.config.regularization * np.eye(y.shape[1])
        return self._gram

    @property
    def by_norm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tracks seen in training (at least `min_count` times), ordered by the norm of their
        factor, largest first: (track ids, factors, norms in float64). Cached."""
        if self._by_norm is None:
            known = np.flatnonzero(self.popularity_counts >= max(1, self.config.min_count))
            factors = self.item_factors[known]
            norms = np.linalg.norm(factors.astype(np.float64), axis=1)
            order = np.argsort(-norms, kind="stable")
            self._by_norm = (known[order], np.ascontiguousarray(factors[order]), norms[order])
        return self._by_norm

    def playlist_factor(self, query: Query) -> np.ndarray | None:
        """The playlist factor for a query's seeds (None without any known seed)."""
        seeds = np.unique(query.seeds)
        if len(seeds) == 0:
            return None
        y = self.item_factors[seeds].astype(np.float64)
        c = self.config.alpha
        a = self.gram + (c - 1.0) * (y.T @ y)
        b = c * y.sum(axis=0)
        return np.linalg.solve(a, b).astype(np.float32)

    def _score(self, queries: Sequence[Query]) -> Scores:
        # Each row's best `max_candidates` tracks, exactly (the hybrid reads these scores).
        return self._pruned(queries, lambda q: self.config.max_candidates, exact=True)

    def _score_top(self, queries: Sequence[Query], k: int) -> Scores:
        # Only each row's top k once its seeds are gone: the k + seeds best tracks are enough.
        return self._pruned(queries, lambda q: k + len(np.unique(q.seeds)), exact=False)

    def score_pairs(
        self, queries: Sequence[Query], rows: np.ndarray, items: np.ndarray
    ) -> np.ndarray:
        """Each pair's score (a playlist factor times a track's), for any known track seen at
        least `min_count` times (NaN for the others, as in `score`): ~2,000 chosen tracks a query
        cost a fraction of `score`'s exact top `max_candidates`, whose floor lets the norm bound
        skip few tracks (~122,000 of 149,000 scored at 20,000 playlists)."""
        self._check_fitted()
        queries = self.known(queries)
        out = np.full(len(items), np.nan, dtype=np.float32)
        users = np.zeros((len(queries), self.config.factors), dtype=np.float32)
        solved = np.zeros(len(queries), dtype=bool)
        for i, query in enumerate(queries):
            factor = self.playlist_factor(query)
            if factor is not None:
                users[i], solved[i] = factor, True
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        seen = (items >= 0) & (items < self.n_tracks)
        seen[seen] = self.popularity_counts[items[seen]] >= max(1, self.config.min_count)
        take = seen & solved[rows]
        out[take] = np.einsum(
            "ij,ij->i", users[rows[take]], self.item_factors[items[take]], dtype=np.float32
        )
        return out

    def _pruned(
        self, queries: Sequence[Query], need_of: Callable[[Query], int], exact: bool
    ) -> sp.csr_matrix:
        """A CSR block holding, per query, its `need_of(query)` best tracks (ties included; with
        `exact`, exactly that many), computed without scoring most tracks.

        Tracks are kept ordered by factor norm, largest first. Each query is first scored against
        the head of that order; the need-th best head score is a floor the query's need-th best
        overall score cannot be under, and since a score is at most |u|·|y| (Cauchy-Schwarz), only
        tracks with |y| >= floor / |u| can reach the floor. The rest is never multiplied: at 100k
        playlists a 25-seed query with k=500 scores ~10% of the known tracks, with identical lists.
        """
        ids, factors, norms = self.by_norm
        n = len(ids)
        factors_of = (self.playlist_factor(q) for q in queries)
        solved = [(i, f) for i, f in enumerate(factors_of) if f is not None]
        rows = np.array([i for i, _ in solved], dtype=np.int64)
        users = np.stack([f for _, f in solved]) if solved else np.zeros((0, self.config.factors))
        users = users.astype(np.float32)
        needs = np.array([min(n, max(1, need_of(queries[i]))) for i in rows], dtype=np.int64)
        head = min(n, max(self.config.head_size, 8 * int(needs.max(initial=0))))
        # No BLAS thread setting of its own: these products are small, and the caller's limit
        # holds (`spotifier serve` runs one BLAS thread per worker).
        scores = _products(users, factors[:head])
        floors = np.array(
            [np.partition(row, head - r)[head - r] for row, r in zip(scores, needs, strict=True)],
            dtype=np.float64,
        )
        # |u| a little generous, so that float rounding in the product cannot beat the bound.
        reach = np.linalg.norm(users.astype(np.float64), axis=1) * (1.0 + 1e-4) + 1e-30
        limits = np.where(floors > 0, floors / reach, 0.0)
        ends = np.searchsorted(-norms, -limits, side="right")  # tracks with |y| >= limit
        ends = np.maximum(ends, head)
        cols: list[np.ndarray] = [ids[:0]] * len(rows)
        vals: list[np.ndarray] = [np.zeros(0, np.float32)] * len(rows)

        def keep(j: int, row: np.ndarray) -> None:
            pos = np.flatnonzero(row >= floors[j])
            if exact and len(pos) > needs[j]:
                pos = pos[np.argpartition(-row[pos], needs[j] - 1)[: needs[j]]]
            cols[j], vals[j] = ids[pos], row[pos]

        for j in np.flatnonzero(ends <= head).tolist():
            keep(j, scores[j])
        # Rows that must look past the head, in groups whose product stays under `tail_budget`
        # scores (at 1M tracks 256 weak queries would otherwise need a 2.4 GB block at once).
        far = np.flatnonzero(ends > head)
        far = far[np.argsort(ends[far], kind="stable")]
        start = 0
        while start < len(far):
            width = ends[far[start:]] - head  # ascending: the first m rows need m x width[m-1]
            fit = int((np.arange(1, len(width) + 1) * width <= self.config.tail_budget).sum())
            stop = start + max(1, fit)
            group = far[start:stop]
            tail = _products(users[group], factors[head : int(ends[group].max())])
            for g, j in enumerate(group.tolist()):
                keep(j, np.concatenate([scores[j], tail[g, : ends[j] - head]]))
            start = stop
        counts = np.zeros(len(queries), dtype=np.int64)
        counts[rows] = [len(c) for c in cols]
        indptr = np.zeros(len(queries) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        order = np.argsort(rows, kind="stable")
        data = np.concatenate([vals[o] for o in order]) if cols else np.zeros(0, np.float32)
        indices = np.concatenate([cols[o] for o in order]) if cols else np.zeros(0, np.int64)
        return sp.csr_matrix((data, indices, indptr), shape=(len(queries), self.n_tracks))

    def _state(self) -> dict[str, Any]:
        return {"item_factors": self.item_factors}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.item_factors = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self._gram = None
        self._by_norm = None

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        """The seed whose factor is most aligned with each item."""
        out: list[str | None] = []
        if len(query.seeds) == 0:
            return [None] * len(items)
        seed_factors = self.item_factors[query.seeds]
        for item in items.tolist():
            if item < 0 or item >= self.n_tracks:
                out.append(None)
                continue
            affinity = seed_factors @ self.item_factors[item]
            out.append(f"like seed track {int(np.argmax(affinity)) + 1}")
        return out


def _products(users: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """`users @ factors.T`, as rows (C order), computed as `(factors @ users.T).T`: BLAS runs a
    tall-and-thin product (many tracks x a few queries) about 3x as fast as a short-and-wide one
    (a few queries x many tracks), measured with one thread at batch 8, with the same numbers."""
    return np.ascontiguousarray((factors @ users.T).T)
