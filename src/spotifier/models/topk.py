"""The one top-k kernel every recommendation list goes through (implicit's `topk` is the
example): a score block's row, minus the seeds, to its k best (ties: the lower track index).

A score block is a dense float32 array (queries x tracks; -inf or NaN = not a candidate) or a
CSR matrix whose stored entries are the candidates (`as_block` makes either from what a model's
`_score` returns).
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import scipy.sparse as sp

from spotifier.models.workspace import per_thread

Scores: TypeAlias = np.ndarray | sp.csr_matrix


def row_top_k(block: Scores, j: int, seeds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row `j`'s k best candidates and their scores, best first, `seeds` (sorted, unique)
    left out; fewer than k when the row holds fewer finite scores."""
    if isinstance(block, sp.csr_matrix):
        # Read the row straight from the CSR arrays (fancy-indexing a row costs ~100 µs).
        lo, hi = block.indptr[j], block.indptr[j + 1]
        cand = np.asarray(block.indices[lo:hi], dtype=np.int64)
        vals = np.asarray(block.data[lo:hi], dtype=np.float32)
    else:
        cand, vals = dense_candidates(np.asarray(block[j], dtype=np.float32), seeds, k)
    above = contenders(vals, k + len(seeds))
    if above is not None:
        # A long row (a factor model scores every track): only what can reach the top k.
        cand, vals = cand[above], vals[above]
    if len(seeds):
        keep = ~_marked(seeds, cand, block.shape[1])
        cand, vals = cand[keep], vals[keep]
    finite = np.isfinite(vals)
    cand, vals = cand[finite], vals[finite]
    return top_k_stable(cand, vals, k)


def _marked(seeds: np.ndarray, cand: np.ndarray, width: int) -> np.ndarray:
    """True for each of `cand` (all below `width`) that is one of `seeds` (not empty).

    The seeds are marked in a per-thread array of `width` flags (left all False again) and read
    back at the candidates: one look-up per candidate, where a binary search over the seeds cost
    5-10x as much on rows of thousands of candidates.

    >>> _marked(np.array([2, 7]), np.array([7, 1, 2, 2, 9]), 10).tolist()
    [True, False, True, True, False]
    """
    flags = per_thread("seed-flags", max(width, int(seeds.max()) + 1), bool, False)
    flags[seeds] = True
    out = flags[cand]
    flags[seeds] = False
    return out


def as_block(block: Scores | sp.spmatrix) -> Scores:
    """A score block as `row_top_k` reads it: CSR (indices as they come: each row's stored entries
    are distinct candidates, scipy products and COO->CSR conversion guarantee it, so no
    sum_duplicates, a full index sort) or a dense float32 array."""
    if sp.issparse(block):
        return block if isinstance(block, sp.csr_matrix) else sp.csr_matrix(block)
    return np.asarray(block, dtype=np.float32)


def dense_candidates(dense: np.ndarray, seeds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The finite, non-seed entries of a dense row that can make its top k (ties kept).

    One partition over the row instead of gathering every finite entry: only values at or
    above the k-th largest (after seeds are masked) can be chosen, and `top_k_stable` then
    orders them exactly as it would the whole row.
    """
    row = np.where(np.isfinite(dense), dense, -np.inf)
    if len(seeds):
        row[seeds] = -np.inf
    if k < len(row):
        kth = np.partition(row, len(row) - k)[len(row) - k]
        cand = np.flatnonzero((row >= kth) & (row > -np.inf))
    else:
        cand = np.flatnonzero(row > -np.inf)
    return cand, row[cand]


def contenders(vals: np.ndarray, need: int) -> np.ndarray | None:
    """Positions of the `vals` at or above a floor chosen from a sample so that about four times
    `need` pass; None when `vals` is short or fewer than `need` passed (look at everything).

    The top `need` values are kept exactly, ties included: at least `need` values are at or
    above the floor, so the need-th largest value is too.

    >>> vals = np.arange(100_000, dtype=np.float32)
    >>> above = contenders(vals, 500)
    >>> 500 <= len(above) < 5_000 and set(range(99_500, 100_000)) <= set(above.tolist())
    True
    >>> contenders(vals[:1000], 500) is None
    True
    """
    m = len(vals)
    if need < 1 or m < max(50_000, 32 * need):
        return None
    stride = m // (8 * need)  # a sample of about 8 * need values
    sample = vals[::stride]
    rank = min(len(sample), 4 * need // stride + 2)
    floor = np.partition(sample, len(sample) - rank)[len(sample) - rank]
    if not np.isfinite(floor):
        return None
    above = np.flatnonzero(vals >= floor)
    return above if len(above) >= need else None


def top_k_stable(cand: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest `vals`, sorted descending; ties broken by the lower candidate id.

    >>> top_k_stable(np.array([5, 3, 9, 1]), np.array([0.5, 0.9, 0.5, 0.1]), 3)
    (array([3, 5, 9]), array([0.9, 0.5, 0.5]))
    """
    if len(cand) > k:
        part = np.argpartition(-vals, k - 1)[:k]
        kth = vals[part].min()
        above = np.flatnonzero(vals > kth)
        ties = np.flatnonzero(vals == kth)
        ties = ties[np.argsort(cand[ties], kind="stable")][: k - len(above)]
        sel = np.concatenate([above, ties])
        cand, vals = cand[sel], vals[sel]
    order = np.lexsort((cand, -vals))
    return cand[order], vals[order]
