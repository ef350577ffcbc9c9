"""Sparse building blocks shared by the neighbourhood models.

Queries become a sparse (queries x tracks) matrix of their seeds (`seed_indicators`); item-item
models are built block by block and keep only each row's strongest neighbours
(`blocked_neighbours`), so memory stays bounded on large catalogues. Titles are stored as one
UTF-8 byte array plus offsets (`pack_strings`), which `np.savez` writes without pickle.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query


def seed_indicators(queries: Sequence[Query], n_tracks: int) -> sp.csr_matrix:
    """Queries x tracks, 1.0 where a seed is present (seeds must be known: `Recommender.known`).

    >>> seed_indicators([Query(seeds=[2, 0, 2]), Query(seeds=[])], 3).toarray().tolist()
    [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    lengths = [len(q.seeds) for q in queries]
    col = np.concatenate([q.seeds for q in queries]) if queries else np.array([], np.int32)
    row = np.repeat(np.arange(len(queries), dtype=np.int32), lengths)
    m = sp.csr_matrix(
        (np.ones(len(col), dtype=np.float32), (row, col)), shape=(len(queries), n_tracks)
    )
    m.sum_duplicates()
    m.data[:] = 1.0  # a repeated seed counts once
    return m


def top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep each row's k largest stored values (ties: the lower column index wins).

    Values must be positive (similarities).

    >>> m = sp.csr_matrix(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]]))
    >>> top_k_per_row(m, 1).toarray().tolist()
    [[3.0, 0.0, 0.0], [0.0, 5.0, 0.0]]
    """
    m = sp.csr_matrix(m)
    m.sum_duplicates()
    return _top_k_distinct(m, k)


def _top_k_distinct(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """`top_k_per_row` for a matrix without duplicate entries, in any column order (such as a
    sparse product's output): nothing is sorted but the ties at each row's threshold and the
    kept entries. Only rows longer than k do any work, each on its own slice of the arrays
    (which stays in cache): its k-th largest value by one `np.partition` (linear time), then the
    values above it and, among those equal to it, the lowest columns until it has k."""
    counts = np.diff(m.indptr)
    if len(counts) == 0 or counts.max(initial=0) <= k:
        out = sp.csr_matrix(m, copy=True)
        out.sort_indices()
        return out
    data, indices, indptr = m.data, m.indices, m.indptr
    keep = np.ones(len(data), dtype=bool)
    for r in np.flatnonzero(counts > k).tolist():  # O(row length) each
        lo, hi = int(indptr[r]), int(indptr[r + 1])
        row = data[lo:hi]
        kth = np.partition(row, hi - lo - k)[hi - lo - k]
        chosen = row > kth
        ties = np.flatnonzero(row == kth)
        room = k - int(np.count_nonzero(chosen))
        if len(ties) > room:  # the lowest columns among the ties
            ties = ties[np.argsort(indices[lo:hi][ties], kind="stable")[:room]]
        chosen[ties] = True
        keep[lo:hi] = chosen
    new_indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(np.minimum(counts, k), out=new_indptr[1:])
    out = sp.csr_matrix((data[keep], indices[keep], new_indptr), shape=m.shape)
    out.sort_indices()
    return out


def blocked_neighbours(
    left: sp.csr_matrix,
    right: sp.csr_matrix,
    k: int,
    row_scale: np.ndarray | None = None,
    col_scale: np.ndarray | None = None,
    block: int = 4096,
    budget: int = 16_000_000,
) -> sp.csr_matrix:
    """`diag(row_scale) · left @ right · diag(col_scale)` (items x items), top-k per row.

    Computed a block of rows at a time so memory stays bounded: at most `block` rows, and no more
    than about `budget` product entries by an upper bound (each row's entries are at most the
    right-hand rows it touches, summed, and at most the width), so the popular items' rows come
    in small blocks; a block's product costs about 25 bytes per entry while it is cut to its
    top k. The rows kept are written into one buffer as they come (no stacking copy at the end:
    at 1M playlists the result is 3.4 GB). Empty rows of `left` are skipped; the diagonal (an
    item's similarity to itself) is dropped.
    """
    n, width = left.shape[0], right.shape[1]
    busy = np.flatnonzero(np.diff(left.indptr) > 0).astype(np.int32)
    if col_scale is not None and np.all(col_scale == 1):
        col_scale = None  # (item-knn's default damping 0): a pass over every product entry saved
    counts = np.zeros(n, dtype=np.int64)
    # Room for k per busy row: pages never written are never resident.
    data = np.empty(len(busy) * k, dtype=np.float32)
    indices = np.empty(len(busy) * k, dtype=np.int32)
    filled = 0
    for rows in _blocks(left, right, busy, block, budget):
        prod = sp.csr_matrix(left[rows] @ right, dtype=np.float32)
        local = np.repeat(np.arange(len(rows), dtype=np.int32), np.diff(prod.indptr))
        if col_scale is not None:
            prod.data *= col_scale[prod.indices]
        if row_scale is not None:
            prod.data *= row_scale[rows][local]
        prod.data[prod.indices == rows[local]] = 0.0
        del local
        prod.eliminate_zeros()
        part = _top_k_distinct(prod, k)  # a product has no duplicate entries
        del prod
        data[filled : filled + part.nnz] = part.data
        indices[filled : filled + part.nnz] = part.indices
        filled += part.nnz
        counts[rows] = np.diff(part.indptr)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    # Rows are in item order and each part's columns sorted, so the matrix is canonical as is.
    out = sp.csr_matrix((data[:filled], indices[:filled], indptr), shape=(n, width))
    out.has_sorted_indices = True
    return out


def _blocks(
    left: sp.csr_matrix, right: sp.csr_matrix, busy: np.ndarray, block: int, budget: int
) -> Iterator[np.ndarray]:
    """Consecutive runs of `busy` rows: at most `block` rows and, beyond the first row, at most
    `budget` product entries by the bound of `blocked_neighbours`."""
    if not len(busy):
        return
    right_len = np.diff(right.indptr).astype(np.int32)
    touched = right_len[left.indices]
    starts = left.indptr[:-1][busy]
    bound = np.minimum(np.add.reduceat(touched, starts, dtype=np.int64), right.shape[1])
    del touched
    total = np.cumsum(bound)
    start = 0
    while start < len(busy):
        floor = total[start - 1] if start else 0
        stop = int(np.searchsorted(total, floor + budget, side="right"))
        stop = min(max(stop, start + 1), start + block, len(busy))
        yield busy[start:stop]
        start = stop


def columns_to_csr(
    scores: np.ndarray, rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Dense scores for `rows` x `columns` (sorted) as a CSR block of `shape`; other rows empty.

    Cheaper for the base class than a full-width dense block when only a known vocabulary can
    be recommended (its top-k then looks at len(columns) values per row, not every track).

    >>> columns_to_csr(np.array([[0.5, 0.25]]), np.array([1]), np.array([0, 2]), (2, 3)).toarray()
    array([[0.  , 0.  , 0.  ],
           [0.5 , 0.  , 0.25]], dtype=float32)
    """
    counts = np.zeros(shape[0], dtype=np.int64)
    counts[rows] = len(columns)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    order = np.argsort(rows, kind="stable")
    data = np.ascontiguousarray(scores[order], dtype=np.float32).ravel()
    indices = np.tile(columns.astype(np.int32), len(rows))
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def pack_strings(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all strings concatenated, and offsets (n + 1).

    >>> data, offsets = pack_strings(["ab", "", "é"])
    >>> unpack_strings(data, offsets)
    ['ab', '', 'é']
    """
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return data, offsets


def unpack_strings(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    raw = data.tobytes()
    return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]


def contributions(
    seed_rows: sp.csr_matrix, items: np.ndarray, names: Callable[[int], str], top: int = 3
) -> list[str | None]:
    """For each item, the `top` sources (rows of `seed_rows`) that gave it the most weight.

    `seed_rows` is sources x tracks (e.g. the seeds' neighbour rows); the reason names the
    sources through `names`.
    """
    csc = sp.csc_matrix(seed_rows)
    out: list[str | None] = []
    for item in items.tolist():
        if item < 0 or item >= csc.shape[1]:
            out.append(None)
            continue
        lo, hi = csc.indptr[item], csc.indptr[item + 1]
        if lo == hi:
            out.append(None)
            continue
        src, weight = csc.indices[lo:hi], csc.data[lo:hi]
        order = np.lexsort((src, -weight))[:top]
        out.append(", ".join(names(int(s)) for s in src[order]))
    return out
