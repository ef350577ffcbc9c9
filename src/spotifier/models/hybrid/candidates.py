"""Stage one of the hybrid: candidate generation and score look-up.

`CandidateGenerator` holds the fitted generators (registry models with their default configs).
For a batch it asks each, through the public contract only (`score`, `candidates`), for its
score block once and its top `k` from that block (`Lists`) -- or, from a generator that scores
chosen tracks (`scores_pairs`, e.g. `als`), for its top `k` only, and later for its scores of
the pool's candidates alone (`PairScorer`); `pool` turns the batch's lists into
its candidates (`Pool`: every query's union, plus up to `album_candidates` tracks from the seeds'
albums). `lookup` reads any generator's score for any candidate, not only for those in its own
top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import Recommender
from spotifier.models.hybrid.side import Side
from spotifier.models.workspace import per_thread
from spotifier.progress import track


@dataclass(frozen=True, eq=False)
class PairScorer:
    """A generator's scores asked for only once the batch's candidates are known
    (`Recommender.score_pairs`), instead of its whole score block."""

    model: Recommender
    queries: Sequence[Query]

    def at(self, cands: Pool) -> np.ndarray:
        return self.model.score_pairs(self.queries, cands.rows, cands.items)


#: A generator's opinions for a batch: a whole score block (CSR or dense), or a `PairScorer`.
Block: TypeAlias = sp.csr_matrix | np.ndarray | PairScorer | None


@dataclass(frozen=True, eq=False)
class Lists:
    """Each generator's ranked items and scores for a batch: (n_generators, n_queries, k), -1 /
    NaN past its own opinions, and each generator's whole score block (queries x tracks, CSR,
    or dense) or its `PairScorer`."""

    items: np.ndarray
    scores: np.ndarray
    blocks: tuple[Block, ...] = ()

    @property
    def k(self) -> int:
        return int(self.items.shape[2])


class CandidateGenerator:
    """The stage-one models, by name, and what they propose for a batch of queries.

    `pairs`: the names of the generators asked for their scores of the pool's candidates only
    (`PairScorer`), not for their whole score blocks. A choice made when the hybrid is fitted and
    saved with it: the ranker learned from the scores one way or the other (a block holds only a
    generator's best `max_candidates`; pair scores are there for every candidate).
    """

    def __init__(
        self, names: Sequence[str], models: Sequence[Recommender], pairs: Sequence[str] = ()
    ) -> None:
        self.names = tuple(names)
        self.models = list(models)
        self.pairs = tuple(n for n in self.names if n in set(pairs))

    @classmethod
    def fit(cls, names: Sequence[str], data: TrainingData, seed: int) -> CandidateGenerator:
        from spotifier.models.registry import create

        models = [
            create(name, [f"seed={seed}"]).fit(data)
            for name in track(names, "hybrid: fitting generators")
        ]
        return cls(names, models, [n for n, m in zip(names, models, strict=True) if m.scores_pairs])

    def model(self, name: str) -> Recommender | None:
        """The generator called `name` (the first, if listed twice), or None."""
        return self.models[self.names.index(name)] if name in self.names else None

    def generate(self, queries: Sequence[Query], k: int) -> Lists:
        """Every generator's top `k` for every query (back-fill is not an opinion: -1), and its
        whole score block for the batch (or its `PairScorer`)."""
        n_gen = len(self.models)
        items = np.full((n_gen, len(queries), k), -1, dtype=np.int32)
        scores = np.full((n_gen, len(queries), k), np.nan, dtype=np.float32)
        blocks: list[Block] = []
        for g, model in enumerate(self.models):
            block: Block
            if self.names[g] in self.pairs:
                block = PairScorer(model, queries)
                own = model.candidates(queries, k)
            else:
                block = model.score(queries)
                own = model.candidates(queries, k, scores=block)
            items[g], scores[g] = own.items, own.scores
            blocks.append(block)
        return Lists(items, scores, tuple(blocks))


@dataclass(frozen=True, eq=False)
class Pool:
    """A batch's candidates, flat and sorted by (query, track): candidate i is track `items[i]`
    for batch row `rows[i]`; query j's are `items[offsets[j]:offsets[j + 1]]`, ascending.

    One flat array for the whole batch lets the feature collector and the ranker work on every
    query's candidates at once instead of a few dozen small numpy calls per query.
    """

    rows: np.ndarray
    items: np.ndarray
    offsets: np.ndarray

    def of(self, j: int) -> np.ndarray:
        """Query `j`'s candidates, ascending."""
        return self.items[self.offsets[j] : self.offsets[j + 1]]

    @classmethod
    def from_keys(cls, keys: np.ndarray, stride: int, n_rows: int) -> Pool:
        """The pool of sorted, distinct keys `row * stride + item` (rows below `n_rows`)."""
        rows = keys // stride
        return cls(rows, keys - rows * stride, _offsets(np.bincount(rows, minlength=n_rows)))

    def subset(self, keep: np.ndarray) -> Pool:
        """Only the candidates of the batch rows where `keep` (one bool per query) is True; the
        others' spans become empty (rows keep their numbers)."""
        take = keep[self.rows]
        counts = np.where(keep, np.diff(self.offsets), 0)
        return Pool(self.rows[take], self.items[take], _offsets(counts))


def pool(lists: Lists, queries: Sequence[Query], side: Side) -> Pool:
    """Every query's candidates: every generator's list, and the seeds' album mates."""
    n_tracks = len(side.track_artist)
    n_q = lists.items.shape[1]
    found = lists.items >= 0
    rows = np.broadcast_to(np.arange(n_q, dtype=np.int64)[None, :, None], lists.items.shape)
    keys = [rows[found] * n_tracks + lists.items[found]]
    for j, query in enumerate(queries):
        seeds = query.seeds.astype(np.int64)
        mates = side.album_mates(seeds)
        if len(mates):
            mates = mates[~np.isin(mates, seeds)][: side.album_candidates]
            keys.append(j * n_tracks + mates)
    return Pool.from_keys(np.unique(np.concatenate(keys)), n_tracks, n_q)


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def positions(rows: np.ndarray, cols: np.ndarray, cands: Pool) -> np.ndarray:
    """For each entry (batch row `rows[i]`, column `cols[i]`; rows ascending) the position of
    that column among that row's candidates in `cands`, -1 when it is not one of them.

    Each row's candidates are marked with their positions in a per-thread array (`per_thread`)
    one cell per column, and the row's entries read back there: one look-up per entry instead of
    a binary search over the batch's candidates.

    >>> c = Pool(np.array([0, 0, 1]), np.array([2, 5, 2]), np.array([0, 2, 3]))
    >>> positions(np.array([0, 0, 0, 1, 1]), np.array([5, 1, 2, 2, 5]), c).tolist()
    [1, -1, 0, 2, -1]
    """
    out = np.full(len(cols), -1, dtype=np.int64)
    if len(cols) == 0 or len(cands.items) == 0:
        return out
    marks = per_thread("positions", int(max(cols.max(), cands.items.max())) + 1, np.int64, -1)
    n_q = len(cands.offsets) - 1
    bounds = np.searchsorted(rows, np.arange(n_q + 1))
    for j in range(n_q):
        a, b = bounds[j], bounds[j + 1]
        lo, hi = cands.offsets[j], cands.offsets[j + 1]
        if a == b or lo == hi:
            continue
        mine = cands.items[lo:hi]
        marks[mine] = np.arange(lo, hi)
        out[a:b] = marks[cols[a:b]]
        marks[mine] = -1
    return out


def lookup(block: Block, cands: Pool) -> np.ndarray:
    """Each candidate's score in the batch's score block (NaN where the block holds no finite
    score for it), or from its `PairScorer`.

    A CSR block's row is scattered into a per-thread all-NaN array one cell per track
    (`per_thread`) and read back at the row's candidates: linear in the block's entries, no index
    sort. One row at a time, not the batch's rows at once: a track-wide row stays in the CPU's
    cache, a batch-wide block of them does not (the batch-wide scatter was 7x slower).

    >>> b = sp.csr_matrix(np.array([[0.0, 2.0, 0.0, 3.0], [1.0, 0, 0, 0]], dtype=np.float32))
    >>> c = Pool(np.array([0, 0, 0, 1]), np.array([1, 2, 3, 0]), np.array([0, 3, 4]))
    >>> lookup(b, c).tolist()
    [2.0, nan, 3.0, 1.0]
    """
    out = np.full(len(cands.items), np.nan, dtype=np.float32)
    if block is None or len(out) == 0:
        return out
    if isinstance(block, PairScorer | np.ndarray):
        pairs = block.at(cands) if isinstance(block, PairScorer) else block[cands.rows, cands.items]
        vals = np.asarray(pairs, dtype=np.float32)
        return np.where(np.isfinite(vals), vals, np.nan).astype(np.float32)
    workspace = per_thread("scores", block.shape[1], np.float32, np.nan)
    indptr, offsets = block.indptr, cands.offsets
    for j in range(len(offsets) - 1):
        lo, hi = indptr[j], indptr[j + 1]
        if lo == hi or offsets[j] == offsets[j + 1]:
            continue
        idx = block.indices[lo:hi]
        workspace[idx] = block.data[lo:hi]
        out[offsets[j] : offsets[j + 1]] = workspace[cands.items[offsets[j] : offsets[j + 1]]]
        workspace[idx] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out
