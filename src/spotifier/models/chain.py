"""The named fallback chain: seeds → model; no seeds but a title → `title`; else popularity.

Models that use titles themselves (`handles_titles = True`, e.g. `title`, `hybrid`) get every
query; for the others, zero-seed queries with a title go to the title model. The end of the chain,
popularity, is every model's own back-fill. This module is the one place that rule is written:
`chain_models` says which saved models a chain needs, `FallbackChain` routes between them. A
title model trained on data without any title (all blank) is left out: it would only ever
answer with popularity, which the model's own back-fill gives anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spotifier.data import Catalog, Query
from spotifier.errors import InvalidInputError
from spotifier.models import registry
from spotifier.models.base import Recommendations, Recommender

#: The most tracks one continuation returns (the challenge's 500), in the CLI and the API alike.
MAX_K = 500
TITLE = "title"


def check_k(k: int) -> int:
    """`k` if it is 1..MAX_K, else one error (checked before any model is loaded or trained)."""
    if not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k must be between 1 and {MAX_K}, got {k}")
    return k


def chain_models(name: str) -> list[str]:
    """The models the chain for `name` uses: `name`, then `title` unless `name` reads titles
    itself (or this build has no title model)."""
    if name == TITLE or registry.model_class(name).handles_titles:
        return [name]
    return [name, TITLE] if TITLE in registry.model_names() else [name]


class FallbackChain:
    def __init__(self, primary: Recommender, title: Recommender | None = None) -> None:
        self.primary = primary
        if primary.handles_titles or (title is not None and not title.knows_titles):
            title = None
        self.title = title

    @property
    def name(self) -> str:
        return self.primary.name

    def route(self, query: Query) -> str:
        """Which link of the chain answers this query: 'model', 'title' or 'popularity'."""
        if len(query.seeds):
            return "model"
        if query.name and (self.title is not None or self.primary.handles_titles):
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

    def query(
        self, catalog: Catalog, uris: Sequence[str], name: str | None = None
    ) -> tuple[Query, list[str]]:
        """The query for seed URIs and a title, and the URIs it ignores (CLI and API share it).

        A URI is ignored when the store does not know it, or when the store knows it but the model
        does not: a track ingested after the model was trained (its index is past the model's).
        A blank title is no title.
        """
        seeds, unknown = catalog.index_of(uris)
        known = seeds < self.primary.n_tracks
        if not known.all():
            unknown += [str(catalog.track_uris[i]) for i in seeds[~known].tolist()]
            seeds = seeds[known]
        title = name.strip() if name else ""
        return Query(seeds=seeds, name=title or None), unknown
