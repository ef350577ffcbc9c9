"""Stage one of the hybrid: candidate generation and score look-up.

`CandidateGenerator` holds the fitted generators (registry models with their default configs).
For a batch it asks each, through the public contract only (`score`, `candidates`), for its
score block once and its top `k` from that block (`Lists`); `union` turns one query's lists
into its candidate set, plus up to `album_candidates` tracks from the seeds' albums. `lookup`
reads any generator's score for any candidate, not only for those in its own top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models.base import Recommender
from spotifier.models.hybrid.side import Side
from spotifier.progress import track


@dataclass(frozen=True, eq=False)
class Lists:
    """Each generator's ranked items and scores for a batch: (n_generators, n_queries, k), -1 /
    NaN past its own opinions, and each generator's whole score block (queries x tracks, CSR,
    or dense)."""

    items: np.ndarray
    scores: np.ndarray
    blocks: tuple[sp.csr_matrix | np.ndarray | None, ...] = ()
    scratch: np.ndarray | None = None  # NaN per track: `lookup`'s workspace

    @property
    def k(self) -> int:
        return int(self.items.shape[2])


class CandidateGenerator:
    """The stage-one models, by name, and what they propose for a batch of queries."""

    def __init__(self, names: Sequence[str], models: Sequence[Recommender]) -> None:
        self.names = tuple(names)
        self.models = list(models)

    @classmethod
    def fit(cls, names: Sequence[str], data: TrainingData, seed: int) -> CandidateGenerator:
        from spotifier.models.registry import create

        models = [
            create(name, [f"seed={seed}"]).fit(data)
            for name in track(names, "hybrid: fitting generators")
        ]
        return cls(names, models)

    def model(self, name: str) -> Recommender | None:
        """The generator called `name` (the first, if listed twice), or None."""
        return self.models[self.names.index(name)] if name in self.names else None

    def generate(self, queries: Sequence[Query], k: int) -> Lists:
        """Every generator's top `k` for every query (back-fill is not an opinion: -1), and its
        whole score block for the batch."""
        n_gen = len(self.models)
        items = np.full((n_gen, len(queries), k), -1, dtype=np.int32)
        scores = np.full((n_gen, len(queries), k), np.nan, dtype=np.float32)
        blocks: list[sp.csr_matrix | np.ndarray | None] = []
        for g, model in enumerate(self.models):
            block = model.score(queries)
            own = model.candidates(queries, k, scores=block)
            items[g], scores[g] = own.items, own.scores
            blocks.append(block)
        n_tracks = max((b.shape[1] for b in blocks if b is not None), default=0)
        return Lists(items, scores, tuple(blocks), np.full(n_tracks, np.nan, dtype=np.float32))


def union(lists: Lists, j: int, query: Query, side: Side) -> np.ndarray:
    """Query `j`'s candidates, sorted: every generator's list, and the seeds' album mates."""
    rows_items = lists.items[:, j, :]
    found_any = rows_items[rows_items >= 0]
    seeds = query.seeds.astype(np.int64)
    mates = side.album_mates(seeds)
    if len(mates):
        mates = mates[~np.isin(mates, seeds)][: side.album_candidates]
        found_any = np.concatenate([found_any.astype(np.int64), mates])
    return np.unique(found_any).astype(np.int64)


def lookup(
    block: sp.csr_matrix | np.ndarray | None,
    j: int,
    cands: np.ndarray,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Row `j` of a score block at `cands` (NaN where the block holds no finite score).

    With `scratch` (all NaN, one per track; left all NaN again) the row is scattered into it
    and read back at `cands`: no sorted indices needed. Without it, the row is sorted.

    >>> b = sp.csr_matrix(np.array([[0.0, 2.0, 0.0, 3.0]], dtype=np.float32))
    >>> lookup(b, 0, np.array([1, 2, 3])).tolist()
    [2.0, nan, 3.0]
    >>> lookup(b, 0, np.array([1, 2, 3]), np.full(4, np.nan, np.float32)).tolist()
    [2.0, nan, 3.0]
    """
    out = np.full(len(cands), np.nan, dtype=np.float32)
    if block is None or len(cands) == 0:
        return out
    if isinstance(block, np.ndarray):
        vals = block[j, cands].astype(np.float32)
        return np.where(np.isfinite(vals), vals, np.nan).astype(np.float32)
    lo, hi = block.indptr[j], block.indptr[j + 1]
    if lo == hi:
        return out
    idx, data = block.indices[lo:hi], block.data[lo:hi]
    if scratch is not None:
        scratch[idx] = data
        out = scratch[cands]
        scratch[idx] = np.nan
    else:
        order = np.argsort(idx, kind="stable")
        idx, data = idx[order], data[order]
        pos = np.minimum(np.searchsorted(idx, cands), len(idx) - 1)
        hit = idx[pos] == cands
        out[hit] = data[pos[hit]]
    out[~np.isfinite(out)] = np.nan
    return out
