"""`als`: implicit-feedback matrix factorisation (implicit's ALS) with fold-in of the seeds.

Training uses implicit's CPU ALS (confidence `alpha · x_ui`, conjugate-gradient steps). At query
time a brand-new playlist's factor is the exact least-squares solution given the track factors
(what implicit's `recalculate_user` computes):
`(YᵀY + λI + Σ_s (c_s - 1) y_s y_sᵀ) x = Σ_s c_s y_s`.
Each query is solved on its own; scores are one matrix product per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.errors import require
from spotifier.models.base import ModelConfig, Recommender, Scores, contenders
from spotifier.models.similarity import columns_to_csr
from spotifier.progress import blas_threads, cpu_count


@dataclass(frozen=True)
class ALSConfig(ModelConfig):
    """Hyperparameters of `als`.

    factors: latent dimensions. regularization: λ. alpha: confidence of an observed track
    (c = alpha for a presence). iterations: ALS sweeps.
    Defaults chosen on validation playlists cut from the default world's training data
    (see `bench/models_bench.py --tune`).
    min_count: only tracks in at least this many training playlists are scored (a speed setting:
    a track seen once has a barely fitted factor and never reached a top 500 here; on the default
    world min_count 2 gave identical metrics to 1 and cut recommend time from 7.2 s to 4.6 s for
    2,000 playlists; at 100k it keeps 10k challenge playlists under a minute).
    """

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 20.0
    iterations: int = 15
    min_count: int = 2


class ALS(Recommender):
    """Matrix factorisation; queries are folded in from their seeds."""

    name = "als"
    config_class = ALSConfig
    batch_size = 64
    #: Candidates per query handed to the shared top-k (k above this is back-filled).
    max_candidates: ClassVar[int] = 2000
    config: ALSConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.item_factors = np.zeros((0, self.config.factors), dtype=np.float32)  # type: ignore[attr-defined]
        self._gram: np.ndarray | None = None
        self._known: tuple[np.ndarray, np.ndarray] | None = None

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
        self._known = None

    @property
    def gram(self) -> np.ndarray:
        """YᵀY + λI in float64 (the part of every fold-in system shared by all queries)."""
        if self._gram is None:
            y = self.item_factors.astype(np.float64)
            self._gram = y.T @ y + self.config.regularization * np.eye(y.shape[1])
        return self._gram

    @property
    def known_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the tracks seen in training, and their factors (cached)."""
        if self._known is None:
            known = np.flatnonzero(self.popularity_counts >= max(1, self.config.min_count))
            self._known = (known, np.ascontiguousarray(self.item_factors[known]))
        return self._known

    def fold_in(self, query: Query) -> np.ndarray | None:
        """The playlist factor for a query's seeds (None without any known seed)."""
        seeds = np.unique(query.seeds[(query.seeds >= 0) & (query.seeds < self.n_tracks)])
        if len(seeds) == 0:
            return None
        y = self.item_factors[seeds].astype(np.float64)
        c = self.config.alpha
        a = self.gram + (c - 1.0) * (y.T @ y)
        b = c * y.sum(axis=0)
        return np.linalg.solve(a, b).astype(np.float32)

    def _score(self, queries: Sequence[Query]) -> Scores:
        # Only tracks seen in training are candidates (the others' factors were never fitted).
        known, known_factors = self.known_factors
        solved = [(i, f) for i, f in enumerate(self.fold_in(q) for q in queries) if f is not None]
        rows = np.array([i for i, _ in solved], dtype=np.int64)
        users = np.stack([f for _, f in solved]) if solved else np.zeros((0, self.config.factors))
        with blas_threads():
            scores = users.astype(np.float32) @ known_factors.T
        shape = (len(queries), self.n_tracks)
        if scores.shape[1] <= self.max_candidates:
            return columns_to_csr(scores, rows, known, shape)
        # Hand the base class each row's best `max_candidates` only.
        keep = np.sort(best_columns(scores, self.max_candidates), axis=1)
        indptr = np.zeros(len(queries) + 1, dtype=np.int64)
        counts = np.zeros(len(queries), dtype=np.int64)
        counts[rows] = self.max_candidates
        np.cumsum(counts, out=indptr[1:])
        order = np.argsort(rows, kind="stable")
        data = np.take_along_axis(scores, keep, axis=1)[order].ravel()
        return sp.csr_matrix((data, known[keep[order]].ravel(), indptr), shape=shape)

    def _state(self) -> dict[str, Any]:
        return {"item_factors": self.item_factors}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.item_factors = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self._gram = None
        self._known = None

    def explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        """The seed whose factor is most aligned with each item."""
        valid = np.flatnonzero((query.seeds >= 0) & (query.seeds < self.n_tracks))
        out: list[str | None] = []
        if len(valid) == 0:
            return [None] * len(items)
        seed_factors = self.item_factors[query.seeds[valid]]
        for item in items.tolist():
            if item < 0 or item >= self.n_tracks:
                out.append(None)
                continue
            affinity = seed_factors @ self.item_factors[item]
            out.append(f"like seed track {int(valid[int(np.argmax(affinity))]) + 1}")
        return out


def best_columns(scores: np.ndarray, n: int) -> np.ndarray:
    """Each row's `n` highest columns (in no order), as a (rows, n) array.

    A row first drops to its contenders (values above a floor read off a sample of the row),
    then partitions those: about 8x less work than partitioning all of a long row.

    >>> np.sort(best_columns(np.array([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0]]), 2), axis=1).tolist()
    [[1, 2], [0, 2]]
    """
    out = np.empty((scores.shape[0], n), dtype=np.int64)
    for i, row in enumerate(scores):
        above = contenders(row, n)
        if above is None:
            out[i] = np.argpartition(-row, n - 1)[:n]
        else:
            out[i] = above[np.argpartition(-row[above], n - 1)[:n]]
    return out
