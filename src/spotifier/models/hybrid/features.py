"""The hybrid's feature collector: one query's candidates become the ranker's feature rows.

Columns are named (`Columns`), never computed by position:

- per generator (`PER_GENERATOR`): its score for EVERY candidate (not only those in its own top
  k; NaN where it has no opinion), that score over the query's best, and the candidate's rank in
  its top k (k + 1 when absent);
- track, album-share and artist popularity; how many seeds share the candidate's artist and album;
- similarity to the seeds (item-item conditional probability from `item-knn`): max and sum over
  all seeds and over the last five seeds (what a prefix is heading towards);
- order: how often the candidate directly follows, in training playlists, a seed whose next
  position is missing, and directly precedes a seed whose previous position is missing (album
  runs: a prefix continues its last album, a playlist whose first track is hidden starts with the
  previous track of its second's album); album and artist matches with those boundary seeds;
- number of seeds, prefix or random seeds, title present, the playlist's full length, how many
  generators proposed the candidate;
- album steps: for a candidate on the album of a seed next to a missing position, its rank by
  plays within that album minus the seed's (an album run's neighbour is often one step away);
- artist co-occurrence: the mean and max over the seeds of P(the candidate's artist is in a
  playlist | the seed's artist is) (`side.group_similarity`): far denser than track
  co-occurrence, so it still speaks for tracks few playlists play.

An unknown artist or album (-1) matches nothing, so a catalogue without artists or albums leaves
those columns constant (0) or missing (NaN), which the ranker cannot split on.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query
from spotifier.models.hybrid.candidates import Lists, lookup
from spotifier.models.hybrid.side import Side

#: Per-generator feature kinds, in column order.
PER_GENERATOR = ("score", "relative", "rank")
#: Query- and candidate-level features after the per-generator ones, in column order.
SHARED = (
    "track_log_count",
    "artist_log_count",
    "album_share",
    "seed_artist_share",
    "seed_album_share",
    "seed_artist_count",
    "seed_album_count",
    "sim_max",
    "sim_sum",
    "sim_max_last5",
    "sim_sum_last5",
    "follows_gap",
    "precedes_gap",
    "album_next",
    "artist_next",
    "album_prev",
    "artist_prev",
    "last_album",
    "last_artist",
    "n_seeds",
    "is_prefix",
    "has_title",
    "num_tracks",
    "n_generators",
    "album_step_next",
    "album_step_prev",
    "artist_sim_mean",
    "artist_sim_max",
)


class Columns:
    """The ranker's feature columns by name: each generator's `PER_GENERATOR` kinds, in the
    generators' order, then `SHARED`. The one place a column's position is worked out.

    >>> cols = Columns(["als", "title"])
    >>> cols.of(1, "rank"), cols["n_seeds"], cols.names[:2], len(cols)
    (5, 25, ['als:score', 'als:relative'], 34)
    """

    def __init__(self, generator_names: Sequence[str]) -> None:
        self.generators = tuple(generator_names)
        per = [(g, kind) for g in range(len(self.generators)) for kind in PER_GENERATOR]
        self._per = {key: at for at, key in enumerate(per)}
        self._shared = {name: len(per) + i for i, name in enumerate(SHARED)}
        self.names = [f"{self.generators[g]}:{kind}" for g, kind in per] + list(SHARED)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> int:
        return self._shared[name]

    def of(self, generator: int, kind: str) -> int:
        """The column of generator number `generator`'s feature `kind`."""
        return self._per[(generator, kind)]

    def kind(self, kind: str) -> list[int]:
        """Every generator's column of feature `kind`, in the generators' order."""
        return [self.of(g, kind) for g in range(len(self.generators))]


def feature_names(generator_names: Sequence[str]) -> list[str]:
    return Columns(generator_names).names


def collect(lists: Lists, j: int, query: Query, cands: np.ndarray, side: Side) -> np.ndarray:
    """The feature rows (one per candidate, `Columns` order) for query `j` of the batch, whose
    seeds are known tracks (`Recommender.known`)."""
    n_gen, _, k = lists.items.shape
    cols = _columns(n_gen)
    seeds = query.seeds.astype(np.int64)
    n = len(cands)
    x = np.full((n, len(cols)), np.nan, dtype=np.float32)
    n_found = np.zeros(n, dtype=np.float32)
    for g in range(n_gen):
        items, scores = lists.items[g, j], lists.scores[g, j]
        own = items >= 0
        items, scores = items[own].astype(np.int64), scores[own]
        ranks = np.arange(1, len(items) + 1, dtype=np.float32)
        x[:, cols.of(g, "rank")] = k + 1  # absent: beyond the list
        if n == 0:
            continue
        block = lists.blocks[g] if g < len(lists.blocks) else None
        full = lookup(block, j, cands, lists.scratch)
        best = float(np.max(scores)) if len(scores) else np.nan
        if len(items):
            order = np.argsort(items, kind="stable")
            pos = np.minimum(np.searchsorted(items[order], cands), len(items) - 1)
            hit = items[order][pos] == cands
            at = order[pos[hit]]
            full[hit] = scores[at]  # the model's own top-k score where it has one
            x[hit, cols.of(g, "rank")] = ranks[at]
            n_found += hit
        x[:, cols.of(g, "score")] = full
        x[:, cols.of(g, "relative")] = full / best if best > 0 else np.nan
    ordered = seeds[_position_order(query)]
    artist = side.track_artist[cands]
    album = side.track_album[cands]
    n_seeds = len(seeds)
    same_artist = _count_in(side.track_artist[seeds], artist)
    same_album = _count_in(side.track_album[seeds], album)
    x[:, cols["track_log_count"]] = side.track_log_count[cands]
    x[:, cols["artist_log_count"]] = side.artist_log_count[cands]
    x[:, cols["album_share"]] = side.album_share[cands]
    x[:, cols["seed_artist_share"]] = same_artist / max(n_seeds, 1)
    x[:, cols["seed_album_share"]] = same_album / max(n_seeds, 1)
    x[:, cols["seed_artist_count"]] = same_artist
    x[:, cols["seed_album_count"]] = same_album
    if side.similarity is not None and n:
        x[:, cols["sim_max"]], x[:, cols["sim_sum"]] = _row_stats(side.similarity, seeds, cands)
        last = ordered[-5:]
        x[:, cols["sim_max_last5"]], x[:, cols["sim_sum_last5"]] = _row_stats(
            side.similarity, last, cands
        )
    nxt, prv = _boundaries(query)
    if side.transitions is not None and n:
        x[:, cols["follows_gap"]] = _row_stats(side.transitions, seeds[nxt], cands)[1]
        before = side.before
        assert before is not None
        x[:, cols["precedes_gap"]] = _row_stats(before, seeds[prv], cands)[1]
    x[:, cols["album_next"]] = _count_in(side.track_album[seeds[nxt]], album)
    x[:, cols["artist_next"]] = _count_in(side.track_artist[seeds[nxt]], artist)
    x[:, cols["album_prev"]] = _count_in(side.track_album[seeds[prv]], album)
    x[:, cols["artist_prev"]] = _count_in(side.track_artist[seeds[prv]], artist)
    if n_seeds:
        last_album, last_artist = side.track_album[ordered[-1]], side.track_artist[ordered[-1]]
        x[:, cols["last_album"]] = (album == last_album) & (last_album >= 0)
        x[:, cols["last_artist"]] = (artist == last_artist) & (last_artist >= 0)
    x[:, cols["n_seeds"]] = n_seeds
    x[:, cols["is_prefix"]] = float(query.is_prefix)
    x[:, cols["has_title"]] = float(bool(query.name and query.name.strip()))
    x[:, cols["num_tracks"]] = np.nan if query.num_tracks is None else float(query.num_tracks)
    x[:, cols["n_generators"]] = n_found
    if side.album_rank is not None:
        x[:, cols["album_step_next"]] = _album_step(side, seeds[nxt], cands, album)
        x[:, cols["album_step_prev"]] = _album_step(side, seeds[prv], cands, album)
    if side.artist_similarity is not None and n and n_seeds:
        x[:, cols["artist_sim_mean"]], x[:, cols["artist_sim_max"]] = _group_stats(
            side.artist_similarity, side.track_artist[seeds], artist
        )
    return x


def rank_fusion(x: np.ndarray, cols: Columns, k: int) -> np.ndarray:
    """Reciprocal-rank fusion of the generators' ranks: the score when no ranker is trained."""
    ranks = x[:, cols.kind("rank")]
    return np.where(ranks <= k, 1.0 / (60.0 + ranks), 0.0).sum(axis=1).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _columns(n_gen: int) -> Columns:
    """Columns for `n_gen` unnamed generators (positions are all `collect` needs)."""
    return Columns([str(g) for g in range(n_gen)])


def _row_stats(
    matrix: sp.csr_matrix, rows: np.ndarray, cands: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(max, sum) over `rows` of `matrix[rows, c]` for every candidate c (0 where absent)."""
    n = len(cands)
    if len(rows) == 0 or n == 0:
        return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    take = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    cols, vals = matrix.indices[take], matrix.data[take]
    pos = np.minimum(np.searchsorted(cands, cols), n - 1)
    hit = cands[pos] == cols
    pos, vals = pos[hit], vals[hit]
    sums = np.bincount(pos, weights=vals, minlength=n).astype(np.float32)
    maxes = np.zeros(n, dtype=np.float32)
    np.maximum.at(maxes, pos, vals)
    return maxes, sums


def _boundaries(query: Query) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the seeds) of seeds whose next / previous position is missing.

    Without known positions the seeds are taken as a prefix.

    >>> q = Query(seeds=np.array([5, 6, 7]), positions=np.array([1, 2, 5]), num_tracks=6)
    >>> [b.tolist() for b in _boundaries(q)]
    [[1], [0, 2]]
    """
    n_seeds = len(query.seeds)
    if n_seeds == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    if query.positions is None or len(query.positions) != n_seeds:
        positions = np.arange(n_seeds, dtype=np.int64)
    else:
        positions = np.asarray(query.positions, dtype=np.int64)
    present = set(positions.tolist())
    limit = query.num_tracks if query.num_tracks is not None else int(positions.max()) + 2
    nxt = np.array([p + 1 < limit and p + 1 not in present for p in positions.tolist()])
    prv = np.array([p > 0 and p - 1 not in present for p in positions.tolist()])
    return np.flatnonzero(nxt), np.flatnonzero(prv)


def _position_order(query: Query) -> np.ndarray:
    """The seeds' indices in playlist order (query order when positions are unknown)."""
    if query.positions is None or len(query.positions) != len(query.seeds):
        return np.arange(len(query.seeds))
    return np.argsort(np.asarray(query.positions), kind="stable")


def _group_stats(
    matrix: sp.csr_matrix, seed_groups: np.ndarray, cand_groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, max) over the seeds of `matrix[seed's group, candidate's group]`; seeds of no
    group (-1) left out, NaN when none is left."""
    seed_groups = seed_groups[seed_groups >= 0]
    if len(seed_groups) == 0:
        none = np.full(len(cand_groups), np.nan, dtype=np.float32)
        return none, none.copy()
    uniq, back = np.unique(cand_groups, return_inverse=True)
    maxes, sums = _row_stats(matrix, seed_groups.astype(np.int64), uniq.astype(np.int64))
    return sums[back] / len(seed_groups), maxes[back]


def _album_step(side: Side, seeds: np.ndarray, cands: np.ndarray, album: np.ndarray) -> np.ndarray:
    """For candidates on a seed's album: the candidate's rank by plays within the album minus
    that seed's (the first such seed); NaN for the others."""
    out = np.full(len(cands), np.nan, dtype=np.float32)
    seeds = seeds[side.track_album[seeds] >= 0]
    if len(seeds) == 0 or side.album_rank is None:
        return out
    seed_album = side.track_album[seeds]
    order = np.argsort(seed_album, kind="stable")
    seed_album, seed_rank = seed_album[order], side.album_rank[seeds[order]]
    pos = np.minimum(np.searchsorted(seed_album, album), len(seed_album) - 1)
    hit = seed_album[pos] == album
    out[hit] = side.album_rank[cands[hit]] - seed_rank[pos[hit]]
    return out


def _count_in(pool: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many times each of `values` occurs in `pool`; -1 (unknown) occurs nowhere.

    >>> _count_in(np.array([3, 3, 5, -1]), np.array([3, 4, 5, -1])).tolist()
    [2.0, 0.0, 1.0, 0.0]
    """
    pool = pool[pool >= 0]
    if len(pool) == 0:
        return np.zeros(len(values), dtype=np.float32)
    uniq, counts = np.unique(pool, return_counts=True)
    pos = np.minimum(np.searchsorted(uniq, values), len(uniq) - 1)
    return np.where(uniq[pos] == values, counts[pos], 0).astype(np.float32)
