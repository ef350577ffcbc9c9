"""`seed-baseline`: the CS109 project's playlist-similarity baseline, reproduced faithfully.

For each query, a Python loop over every training ("bank") playlist computes the multiset Dice
similarity `2·|A∩B| / (|A|+|B|)`; the 5 most similar playlists are pooled as a multiset (a track
in three neighbours counts three times), the query's tracks are subtracted, the pool is shuffled
with a seeded generator and de-duplicated in shuffled order. Popularity back-fills the rest.

It is deliberately slow (that loop is the point of comparison for `playlist-knn`), so the
evaluator scores it on at most `max_eval_queries` queries of a large split (unless `--sample`
asks for more) and says so.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import PositiveInt


@dataclass(frozen=True)
class SeedBaselineConfig(ModelConfig):
    """Settings of `seed-baseline` (the seed's own values)."""

    batch_size: PositiveInt = 64
    """Queries scored at once (each is a Python loop over the bank; small batches show progress)."""
    neighbours: PositiveInt = 5
    """Most similar bank playlists pooled as candidates (the seed used 5)."""


def dice(query: Counter[int], query_len: int, bank: Counter[int], bank_len: int) -> float:
    """Multiset Dice similarity, as the seed's Counter code computes it.

    >>> dice(Counter([1, 1, 2]), 3, Counter([1, 3]), 2)
    0.4
    """
    if query_len + bank_len == 0:
        return 0.0
    overlap = 0
    for track, count in query.items():  # = sum((query & bank).values()), without a new Counter
        other = bank.get(track)
        if other:
            overlap += count if count < other else other
    return 2.0 * overlap / (query_len + bank_len)


class SeedBaseline(Recommender):
    """The seed's baseline: Dice over the bank, top-5 playlists, shuffled pool."""

    name = "seed-baseline"
    config_class = SeedBaselineConfig
    #: The evaluator samples at most this many queries for this model unless `--sample` asks more.
    max_eval_queries: ClassVar[int] = 500
    config: SeedBaselineConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.indptr = np.zeros(1, dtype=np.int64)
        self.tracks = np.array([], dtype=np.int32)
        self._bank: list[tuple[Counter[int], int]] | None = None

    def _fit(self, data: TrainingData) -> None:
        self.indptr = data.interactions.indptr.astype(np.int64)
        self.tracks = data.interactions.tracks.astype(np.int32)
        self._bank = None

    @property
    def bank(self) -> list[tuple[Counter[int], int]]:
        if self._bank is None:
            self._bank = [
                (Counter(self.tracks[a:b].tolist()), int(b - a))
                for a, b in zip(self.indptr[:-1], self.indptr[1:], strict=True)
            ]
        return self._bank

    def neighbours(self, query: Query) -> list[int]:
        """Bank rows of the most similar playlists (ties: the earlier playlist first)."""
        seeds = query.seeds.tolist()
        if not seeds:
            return []
        wanted, wanted_len = Counter(seeds), len(seeds)
        sims = np.zeros(len(self.bank))
        for row, (counter, length) in enumerate(self.bank):  # the seed's per-query loop
            sims[row] = dice(wanted, wanted_len, counter, length)
        order = np.argsort(-sims, kind="stable")[: self.config.neighbours]
        return [int(r) for r in order if sims[r] > 0]

    def ranked(self, query: Query) -> list[int]:
        """The shuffled, de-duplicated pool for one query."""
        rows = self.neighbours(query)
        seeds = query.seeds.tolist()
        pool = Counter(t for r in rows for t in self.tracks[self.indptr[r] : self.indptr[r + 1]])
        remaining = list((pool - Counter(seeds)).elements())
        self._rng(query).shuffle(remaining)
        return list(dict.fromkeys(remaining))

    def _rng(self, query: Query) -> np.random.Generator:
        # Seeded by the config's seed and the query itself: the same query always gets the same
        # shuffle, whatever batch it arrives in.
        digest = zlib.crc32(np.ascontiguousarray(query.seeds, dtype=np.int32).tobytes())
        return np.random.default_rng([self.config.seed, digest])

    def _score(self, queries: Sequence[Query]) -> Scores:
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, query in enumerate(queries):
            ranked = self.ranked(query)
            rows += [i] * len(ranked)
            cols += ranked
            vals += (1.0 - np.arange(len(ranked)) / (len(ranked) + 1)).tolist()
        return sp.csr_matrix(
            (np.asarray(vals, dtype=np.float32), (rows, cols)),
            shape=(len(queries), self.n_tracks),
        )

    def _state(self) -> dict[str, np.ndarray]:
        return {"indptr": self.indptr, "tracks": self.tracks}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.indptr = arrays["indptr"].astype(np.int64)
        self.tracks = arrays["tracks"].astype(np.int32)
        self._bank = None

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        rows = self.neighbours(query)
        out: list[str | None] = []
        for item in items.tolist():
            hits = [r for r in rows if item in self.tracks[self.indptr[r] : self.indptr[r + 1]]]
            out.append(
                f"in {len(hits)} of the {len(rows)} most similar playlists" if hits else None
            )
        return out
