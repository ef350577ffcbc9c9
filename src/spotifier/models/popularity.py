"""`popularity`: the most frequent tracks, the same list for every playlist (minus its seeds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import PositiveInt


@dataclass(frozen=True)
class PopularityConfig(ModelConfig):
    """Settings of `popularity` (speed only: the list is the popularity order whatever they are)."""

    max_candidates: PositiveInt = 2000
    """Tracks each query is scored against: the most popular; the shared back-fill continues
    past them, so a sparse head avoids a partition over the whole catalogue per query."""


class Popularity(Recommender):
    """Ranks tracks by how many training playlists contain them.

    >>> from spotifier.data import Interactions
    >>> data = TrainingData(Interactions.from_lists([[0, 1], [1, 2], [1]], n_tracks=3),
    ...                     np.zeros(3, np.int32), np.zeros(3, np.int32))
    >>> Popularity().fit(data).recommend([Query(seeds=[2])], k=2).items.tolist()
    [[1, 0]]
    """

    name = "popularity"
    config_class = PopularityConfig
    config: PopularityConfig
    # The baseline and the end of every fallback chain: it answers titled queries with
    # popularity too, so its evaluation row (the floor of every gap share) is pure popularity.
    handles_titles = True

    def _fit(self, data: TrainingData) -> None:
        pass

    def _score(self, queries: Sequence[Query]) -> Scores:
        # Scores are the playlist counts, so the ranking is the shared popularity order. A sparse
        # block of the head avoids a partition over the whole catalogue per query.
        top = self.popularity_order[: self.config.max_candidates]
        n = len(queries)
        return sp.csr_matrix(
            (
                np.tile(self.popularity_counts[top].astype(np.float32), n),
                np.tile(top, n),
                np.arange(n + 1, dtype=np.int64) * len(top),
            ),
            shape=(n, self.n_tracks),
        )
