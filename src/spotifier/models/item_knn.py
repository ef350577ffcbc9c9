"""`item-knn` and the item-item scoring shared with `rp3beta`.

Track-track similarity from co-occurrence in training playlists, `top_k` neighbours kept per
track; a query's scores are the sum of its seeds' neighbour rows (one sparse product).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import NonNegativeFloat, PositiveInt, UnitFloat
from spotifier.models.similarity import blocked_neighbours, contributions, seed_indicators
from spotifier.progress import blas_threads


class ItemItemModel(Recommender):
    """Base of the item-item models: `similarity` (tracks x tracks CSR) is the whole state."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def _score(self, queries: Sequence[Query]) -> Scores:
        return sp.csr_matrix(seed_indicators(queries, self.n_tracks) @ self.similarity)

    def _state(self) -> dict[str, Any]:
        return {"similarity": self.similarity}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.similarity = sp.csr_matrix(arrays["similarity"], dtype=np.float32)

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        """Which seeds (1-based positions in the query) pulled each item in."""
        rows = self.similarity[query.seeds]
        reasons = contributions(rows, items, lambda s: str(s + 1))
        return [f"like seed track {r}" if r else None for r in reasons]


@dataclass(frozen=True)
class ItemKNNConfig(ModelConfig):
    """Settings of `item-knn`. Defaults chosen on the default world (20,000 playlists, seed 0):
    fit on its 'default' split's training data minus 1,000 validation playlists, scored on 892
    seeded cases cut from those (`python bench/models_bench.py tune`)."""

    batch_size: PositiveInt = 512
    """Queries scored at once (one sparse product each batch; sparse rows are cheap)."""
    similarity: Literal["cosine", "bm25"] = "cosine"
    """'cosine' (binary co-occurrence) or 'bm25' (co-occurrence in long playlists counts less,
    with `k1` and `b`); bm25 scored slightly below cosine."""
    neighbours: PositiveInt = 200
    """Most similar tracks kept per track."""
    damping: NonNegativeFloat = 0.0
    """Similarity c_ij / (n_i^(1-damping) · n_j^damping): 0.5 is cosine, larger values penalise
    popular candidates more. 0 (the conditional probability P(j | i)) scored R-precision 0.093,
    0.2 scored 0.081 and 0.5 0.046: the generated world, like the MPD, rewards popular tracks."""
    k1: NonNegativeFloat = 1.2
    """BM25 saturation (with similarity 'bm25' only); the usual text-retrieval default."""
    b: UnitFloat = 0.75
    """BM25 length normalisation, 0 (none) to 1 (full); the usual default."""


def bm25_row_weights(lengths: np.ndarray, k1: float, b: float) -> np.ndarray:
    """BM25 saturation of a presence (tf = 1) in a playlist of each length.

    >>> bm25_row_weights(np.array([10, 20, 30]), 1.2, 0.75).round(3).tolist()
    [1.257, 1.0, 0.83]
    """
    avg = lengths.mean() if len(lengths) else 1.0
    return (k1 + 1) / (1 + k1 * (1 - b + b * lengths / max(avg, 1e-12)))


class ItemKNN(ItemItemModel):
    """Cosine or BM25 track-track similarity with a popularity-damping exponent."""

    name = "item-knn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig

    def _fit(self, data: TrainingData) -> None:
        cfg = self.config
        x = data.interactions.binary.astype(np.float32, copy=False)  # read only: no copy
        if cfg.similarity == "bm25":
            weights = bm25_row_weights(np.diff(x.indptr).astype(np.float64), cfg.k1, cfg.b)
            xw = sp.csr_matrix(sp.diags(weights.astype(np.float32)) @ x)
        else:
            xw = x
        n = np.maximum(np.asarray(xw.sum(axis=0)).ravel().astype(np.float64), 1e-12)
        with blas_threads():
            self.similarity = blocked_neighbours(
                sp.csr_matrix(xw.T),
                x,
                cfg.neighbours,
                row_scale=np.power(n, -(1 - cfg.damping)).astype(np.float32),
                col_scale=np.power(n, -cfg.damping).astype(np.float32),
            )
