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
from spotifier.models.hybrid.candidates import Lists, Pool, lookup, positions
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


def collect(lists: Lists, queries: Sequence[Query], cands: Pool, side: Side) -> np.ndarray:
    """The feature rows (one per candidate of `cands`, `Columns` order) for the batch's queries,
    whose seeds are known tracks (`Recommender.known`).

    The whole batch at once: each feature is a handful of numpy calls over every candidate of
    every query (each tagged with its batch row), not a loop over the queries. Sums over seeds add
    in the same order as one query at a time would, so the rows are the same to the bit.
    """
    n_gen, n_q, k = lists.items.shape
    cols = _columns(n_gen)
    rows, items = cands.rows, cands.items
    n = len(items)
    # Built feature by feature: one contiguous row of `xt` per column, transposed at the end.
    xt = np.full((len(cols), n), np.nan, dtype=np.float32)
    if n == 0:
        return xt.T
    n_found = np.zeros(n, dtype=np.float32)
    for g in range(n_gen):
        block = lists.blocks[g] if g < len(lists.blocks) else None
        full = lookup(block, cands)
        own = lists.items[g] >= 0
        ranks = np.cumsum(own, axis=1, dtype=np.int64).astype(np.float32)
        list_rows = np.broadcast_to(np.arange(n_q, dtype=np.int64)[:, None], own.shape)[own]
        pos = positions(list_rows, lists.items[g][own], cands)
        hit = pos >= 0
        at = pos[hit]
        xt[cols.of(g, "rank")] = k + 1  # absent: beyond the list
        full[at] = lists.scores[g][own][hit]  # the model's own top-k score where it has one
        xt[cols.of(g, "rank"), at] = ranks[own][hit]
        n_found[at] += 1
        best = np.where(own, lists.scores[g], -np.inf).max(axis=1)[rows]
        xt[cols.of(g, "score")] = full
        with np.errstate(divide="ignore", invalid="ignore"):
            xt[cols.of(g, "relative")] = np.where(best > 0, full / best, np.nan)
    q = _QueryFacts(queries)
    artist = side.track_artist[items]
    album = side.track_album[items]
    same_artist = _count_pairs(q.seeds_of(q.seeds, side.track_artist), rows, artist)
    same_album = _count_pairs(q.seeds_of(q.seeds, side.track_album), rows, album)
    per_seed = np.maximum(q.n_seeds, 1).astype(np.float32)[rows]
    xt[cols["track_log_count"]] = side.track_log_count[items]
    xt[cols["artist_log_count"]] = side.artist_log_count[items]
    xt[cols["album_share"]] = side.album_share[items]
    xt[cols["seed_artist_share"]] = same_artist / per_seed
    xt[cols["seed_album_share"]] = same_album / per_seed
    xt[cols["seed_artist_count"]] = same_artist
    xt[cols["seed_album_count"]] = same_album
    if side.similarity is not None:
        xt[cols["sim_max"]], xt[cols["sim_sum"]] = _row_stats(side.similarity, q.seeds, cands)
        xt[cols["sim_max_last5"]], xt[cols["sim_sum_last5"]] = _row_stats(
            side.similarity, q.last5, cands
        )
    if side.transitions is not None:
        xt[cols["follows_gap"]] = _row_stats(side.transitions, q.nxt, cands)[1]
        before = side.before
        assert before is not None
        xt[cols["precedes_gap"]] = _row_stats(before, q.prv, cands)[1]
    xt[cols["album_next"]] = _count_pairs(q.seeds_of(q.nxt, side.track_album), rows, album)
    xt[cols["artist_next"]] = _count_pairs(q.seeds_of(q.nxt, side.track_artist), rows, artist)
    xt[cols["album_prev"]] = _count_pairs(q.seeds_of(q.prv, side.track_album), rows, album)
    xt[cols["artist_prev"]] = _count_pairs(q.seeds_of(q.prv, side.track_artist), rows, artist)
    seeded = (q.n_seeds > 0)[rows]
    last_album, last_artist = q.last_of(side.track_album)[rows], q.last_of(side.track_artist)[rows]
    xt[cols["last_album"], seeded] = ((album == last_album) & (last_album >= 0))[seeded]
    xt[cols["last_artist"], seeded] = ((artist == last_artist) & (last_artist >= 0))[seeded]
    xt[cols["n_seeds"]] = q.n_seeds[rows]
    xt[cols["is_prefix"]] = q.is_prefix[rows]
    xt[cols["has_title"]] = q.has_title[rows]
    xt[cols["num_tracks"]] = q.num_tracks[rows]
    xt[cols["n_generators"]] = n_found
    if side.album_rank is not None:
        xt[cols["album_step_next"]] = _album_step(side, q.nxt, rows, items, album)
        xt[cols["album_step_prev"]] = _album_step(side, q.prv, rows, items, album)
    if side.artist_similarity is not None:
        seed_artists = q.seeds_of(q.seeds, side.track_artist)
        mean, top = _group_stats(side.artist_similarity, seed_artists, rows, artist)
        xt[cols["artist_sim_mean"], seeded] = mean[seeded]
        xt[cols["artist_sim_max"], seeded] = top[seeded]
    return xt.T


#: A set of seeds for every query of a batch, flat: (batch row, track), in each query's order.
_Seeds = tuple[np.ndarray, np.ndarray]


class _QueryFacts:
    """What `collect` needs of each query of a batch, as flat per-row arrays: the seeds, the last
    five in playlist order, those next to a missing position (`nxt`, `prv`), and the scalars."""

    def __init__(self, queries: Sequence[Query]) -> None:
        seeds, last5, nxt, prv, last = [], [], [], [], []
        for query in queries:
            s = query.seeds.astype(np.int64)
            ordered = s[_position_order(query)]
            after, before = _boundaries(query)
            seeds.append(s)
            last5.append(ordered[-5:])
            nxt.append(s[after])
            prv.append(s[before])
            last.append(int(ordered[-1]) if len(s) else -1)
        self.seeds, self.last5 = _flat(seeds), _flat(last5)
        self.nxt, self.prv = _flat(nxt), _flat(prv)
        self.last = np.array(last, dtype=np.int64)
        self.n_seeds = np.array([len(s) for s in seeds], dtype=np.float32)
        self.is_prefix = np.array([float(q.is_prefix) for q in queries], dtype=np.float32)
        self.has_title = np.array(
            [float(bool(q.name and q.name.strip())) for q in queries], dtype=np.float32
        )
        self.num_tracks = np.array(
            [np.nan if q.num_tracks is None else float(q.num_tracks) for q in queries],
            dtype=np.float32,
        )

    @staticmethod
    def seeds_of(seeds: _Seeds, group: np.ndarray) -> _Seeds:
        """The seeds' groups (artist or album) instead of their tracks."""
        return seeds[0], group[seeds[1]]

    def last_of(self, group: np.ndarray) -> np.ndarray:
        """Each query's last seed's group (-1 without seeds)."""
        return np.where(self.last >= 0, group[np.maximum(self.last, 0)], -1)


def _flat(parts: list[np.ndarray]) -> _Seeds:
    rows = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p) for p in parts])
    values = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return rows, values


def rank_fusion(x: np.ndarray, cols: Columns, k: int) -> np.ndarray:
    """Reciprocal-rank fusion of the generators' ranks: the score when no ranker is trained."""
    ranks = x[:, cols.kind("rank")]
    return np.where(ranks <= k, 1.0 / (60.0 + ranks), 0.0).sum(axis=1).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _columns(n_gen: int) -> Columns:
    """Columns for `n_gen` unnamed generators (positions are all `collect` needs)."""
    return Columns([str(g) for g in range(n_gen)])


def _row_stats(matrix: sp.csr_matrix, seeds: _Seeds, cands: Pool) -> tuple[np.ndarray, np.ndarray]:
    """(max, sum) over each query's `seeds` (rows of `matrix`) of `matrix[seed, c]` for every
    candidate c of that query in `cands` (columns of `matrix`; 0 where absent). The entries are
    gathered query by query, seed by seed, so each candidate's sum adds them in the order one
    query at a time would."""
    n = len(cands.items)
    rows_of, seed_rows = seeds
    if len(seed_rows) == 0 or n == 0:
        return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    starts, ends = matrix.indptr[seed_rows], matrix.indptr[seed_rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    take = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    pos = positions(np.repeat(rows_of, lengths), matrix.indices[take], cands)
    hit = pos >= 0
    pos, vals = pos[hit], matrix.data[take][hit]
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
    matrix: sp.csr_matrix, seed_groups: _Seeds, rows: np.ndarray, cand_groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, max) over each query's seeds of `matrix[seed's group, candidate's group]`; seeds of
    no group (-1) left out, NaN when a query has none left."""
    seed_rows, groups = seed_groups
    known = groups >= 0
    seed_rows, groups = seed_rows[known], groups[known]
    n_q = int(max(rows.max(initial=-1), seed_rows.max(initial=-1))) + 1
    per_query = np.bincount(seed_rows, minlength=n_q).astype(np.float32)
    # Each (query, candidate group) once; an unknown group (-1) is `width`, which no entry has.
    stride = matrix.shape[1] + 1
    cand_keys = rows * stride + np.where(cand_groups >= 0, cand_groups, stride - 1)
    uniq, back = np.unique(cand_keys, return_inverse=True)
    pool = Pool.from_keys(uniq, stride, n_q)
    maxes, sums = _row_stats(matrix, (seed_rows, groups.astype(np.int64)), pool)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums[back] / per_query[rows]
    none = per_query[rows] == 0
    mean[none] = np.nan
    top = maxes[back]
    top[none] = np.nan
    return mean.astype(np.float32), top


def _album_step(
    side: Side, seeds: _Seeds, rows: np.ndarray, cands: np.ndarray, album: np.ndarray
) -> np.ndarray:
    """For candidates on the album of one of their query's `seeds`: the candidate's rank by
    plays within the album minus that seed's (the query's first such seed); NaN for the
    others."""
    out = np.full(len(cands), np.nan, dtype=np.float32)
    seed_rows, seed_tracks = seeds
    known = side.track_album[seed_tracks] >= 0
    seed_rows, seed_tracks = seed_rows[known], seed_tracks[known]
    if len(seed_tracks) == 0 or side.album_rank is None:
        return out
    stride = int(side.track_album.max(initial=0)) + 2
    seed_keys = seed_rows * stride + side.track_album[seed_tracks]
    order = np.argsort(seed_keys, kind="stable")  # among equal keys, the query's first seed
    seed_keys, seed_rank = seed_keys[order], side.album_rank[seed_tracks[order]]
    cand_keys = rows * stride + np.where(album >= 0, album, stride - 1)
    pos = np.minimum(np.searchsorted(seed_keys, cand_keys), len(seed_keys) - 1)
    hit = seed_keys[pos] == cand_keys
    out[hit] = side.album_rank[cands[hit]] - seed_rank[pos[hit]]
    return out


def _count_pairs(seeds: _Seeds, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many of its query's `seeds` (as (row, value) pairs) each candidate's value matches;
    -1 (unknown) matches nothing.

    >>> seeds = (np.array([0, 0, 0, 0, 1]), np.array([3, 3, 5, -1, 4]))
    >>> _count_pairs(seeds, np.array([0, 0, 0, 0, 1, 1]), np.array([3, 4, 5, -1, 3, 4])).tolist()
    [2.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    """
    seed_rows, pool = seeds
    known = pool >= 0
    if not known.any():
        return np.zeros(len(values), dtype=np.float32)
    stride = int(max(pool.max(), values.max(initial=0))) + 2
    uniq, counts = np.unique(seed_rows[known] * stride + pool[known], return_counts=True)
    keys = rows * stride + np.where(values >= 0, values, stride - 1)
    pos = np.minimum(np.searchsorted(uniq, keys), len(uniq) - 1)
    return np.where(uniq[pos] == keys, counts[pos], 0).astype(np.float32)
