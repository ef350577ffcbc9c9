"""`popularity`: the most frequent tracks, the same list for every playlist (minus its seeds)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spotifier.data import Query, TrainingData
from spotifier.models.base import Recommender, Scores


class Popularity(Recommender):
    """Ranks tracks by how many training playlists contain them.

    >>> from spotifier.data import Interactions
    >>> data = TrainingData(Interactions.from_lists([[0, 1], [1, 2], [1]], n_tracks=3),
    ...                     np.zeros(3, np.int32), np.zeros(3, np.int32))
    >>> Popularity().fit(data).recommend([Query(seeds=[2])], k=2).items.tolist()
    [[1, 0]]
    """

    name = "popularity"
    # The baseline and the end of every fallback chain: it answers titled queries with
    # popularity too, so its evaluation row (the floor of every gap share) is pure popularity.
    handles_titles = True

    def _fit(self, data: TrainingData) -> None:
        pass

    def _score(self, queries: Sequence[Query]) -> Scores:
        # Scores are the playlist counts, so the ranking is the shared popularity order.
        row = self.popularity_counts.astype(np.float32)
        return np.broadcast_to(row, (len(queries), self.n_tracks))
