"""`playlist-knn`: the seed's neighbour idea done well, with sparse products over all playlists.

A query's seeds are folded in as a sparse row; its overlap with every training playlist is one
sparse product. Similarity is an asymmetric cosine `overlap / (|q|^alpha · |p|^(1-alpha))`; the
`neighbours` most similar playlists vote with weight `similarity^power` for their tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import NonNegativeFloat, PositiveInt, UnitFloat
from spotifier.models.similarity import pack_strings, seed_indicators, top_k_per_row, unpack_strings


@dataclass(frozen=True)
class PlaylistKNNConfig(ModelConfig):
    """Settings of `playlist-knn`. Defaults chosen on the default world (20,000 playlists, seed
    0): fit on its 'default' split's training data minus 1,000 validation playlists, scored on
    892 seeded challenge-like cases cut from those (`python bench/models_bench.py tune`, grid
    neighbours 50-400 x alpha 0.5/0.8 x power 1/2: all 16 points scored R-precision
    0.088-0.103)."""

    batch_size: PositiveInt = 128
    """Queries scored at once (each batch's overlap with every training playlist is one block)."""
    neighbours: PositiveInt = 100
    """Most similar training playlists that vote. 100 had the best R-precision (0.1029) with
    half the candidates, and so half the recommend time, of 200."""
    alpha: UnitFloat = 0.8
    """Asymmetric-cosine exponent, overlap / (|q|^alpha · |p|^(1-alpha)): 0.5 is cosine, larger
    leans on the query's length and penalises long training playlists less."""
    power: NonNegativeFloat = 1.0
    """A neighbour's vote weight is similarity ** power (above 1 sharpens it toward the
    closest); 2 scored no better."""


class PlaylistKNN(Recommender):
    """Weighted nearest training playlists, scored as a sum of their (binary) rows."""

    name = "playlist-knn"
    config_class = PlaylistKNNConfig
    config: PlaylistKNNConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.playlists = sp.csr_matrix((0, 0), dtype=np.float32)
        self.title_bytes = np.array([], dtype=np.uint8)
        self.title_offsets = np.zeros(1, dtype=np.int64)
        self._transposed: sp.csr_matrix | None = None
        self._titles: list[str] | None = None

    def _fit(self, data: TrainingData) -> None:
        self.playlists = data.interactions.binary.astype(np.float32)
        self.title_bytes, self.title_offsets = pack_strings(
            [str(t) for t in data.interactions.titles.tolist()]
        )
        self._transposed = None
        self._titles = None

    @property
    def transposed(self) -> sp.csr_matrix:
        if self._transposed is None:
            self._transposed = sp.csr_matrix(self.playlists.T)
        return self._transposed

    def neighbour_weights(self, queries: Sequence[Query]) -> sp.csr_matrix:
        """Queries x training playlists: the kept neighbours' vote weights."""
        q = seed_indicators(queries, self.n_tracks)
        overlap = sp.csr_matrix(q @ self.transposed)
        if overlap.nnz == 0:
            return overlap
        cfg = self.config
        q_len = np.asarray(q.sum(axis=1)).ravel()
        p_len = np.diff(self.playlists.indptr).astype(np.float64)
        rows = np.repeat(np.arange(overlap.shape[0]), np.diff(overlap.indptr))
        denom = np.power(q_len[rows], cfg.alpha) * np.power(p_len[overlap.indices], 1 - cfg.alpha)
        overlap.data = (overlap.data / np.maximum(denom, 1e-12)).astype(np.float32)
        kept = top_k_per_row(overlap, cfg.neighbours)
        kept.data = np.power(kept.data, cfg.power).astype(np.float32)
        return kept

    def _score(self, queries: Sequence[Query]) -> Scores:
        return sp.csr_matrix(self.neighbour_weights(queries) @ self.playlists)

    def _state(self) -> dict[str, Any]:
        return {
            "playlists": self.playlists,
            "title_bytes": self.title_bytes,
            "title_offsets": self.title_offsets,
        }

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.playlists = sp.csr_matrix(arrays["playlists"], dtype=np.float32)
        self.title_bytes = arrays["title_bytes"]
        self.title_offsets = arrays["title_offsets"]

    @property
    def titles(self) -> list[str]:
        if self._titles is None:
            self._titles = unpack_strings(self.title_bytes, self.title_offsets)
        return self._titles

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        weights = self.neighbour_weights([query])
        rows, w = weights.indices, weights.data
        order = np.lexsort((rows, -w))
        rows = rows[order]
        valid = (items >= 0) & (items < self.n_tracks)
        present = np.zeros((len(rows), len(items)), dtype=bool)
        if len(rows):
            present[:, valid] = self.playlists[rows][:, items[valid]].toarray() > 0
        out: list[str | None] = []
        for j in range(len(items)):
            names = [f"'{self.titles[r] or 'untitled'}'" for r in rows[present[:, j]][:3]]
            out.append("in similar playlists " + ", ".join(names) if names else None)
        return out
