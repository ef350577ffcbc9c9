"""The named fallback chain: seeds → model; no seeds but a title → `title`; else popularity.

Models that use titles themselves (`handles_titles = True`, e.g. `title`, `hybrid`) get every
query; for the others, zero-seed queries with a title go to the title model. The end of the chain,
popularity, is every model's own back-fill.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spotifier.data import Query
from spotifier.models.base import Recommendations, Recommender


class FallbackChain:
    def __init__(self, primary: Recommender, title: Recommender | None = None) -> None:
        self.primary = primary
        self.title = None if getattr(primary, "handles_titles", False) else title

    @property
    def name(self) -> str:
        return self.primary.name

    def route(self, query: Query) -> str:
        """Which link of the chain answers this query: 'model', 'title' or 'popularity'."""
        if len(query.seeds):
            return "model"
        if query.name and (
            self.title is not None or getattr(self.primary, "handles_titles", False)
        ):
            return "title" if self.title is not None else "model"
        return "popularity" if self.title is not None else "model"

    def recommend(self, queries: Sequence[Query], k: int = 500) -> Recommendations:
        routes = np.array([self.route(q) for q in queries])
        to_title = np.flatnonzero(routes == "title")
        if self.title is None or len(to_title) == 0:
            return self.primary.recommend(queries, k)
        items = np.full((len(queries), k), -1, dtype=np.int32)
        scores = np.full((len(queries), k), np.nan, dtype=np.float32)
        rest = np.flatnonzero(routes != "title")
        for model, rows in ((self.primary, rest), (self.title, to_title)):
            if len(rows):
                block = model.recommend([queries[int(i)] for i in rows], k)
                items[rows], scores[rows] = block.items, block.scores
        return Recommendations(items, scores)

    def explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        model = self.title if self.route(query) == "title" and self.title else self.primary
        return model.explain(query, items)
