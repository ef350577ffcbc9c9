"""Stage one and the ranker's features for `hybrid`: candidates from several generators.

`generate(generators, queries, k)` asks each sub-model for its scores once per batch, keeps its
top `k` as its candidate list and the whole score block for look-ups; `features(...)` turns one
query's lists into a candidate set (the union) and a feature matrix:

- per generator: its score for EVERY candidate (not only those in its own top k; NaN where it has
  no opinion), that score over the query's best, and the candidate's rank in its top k;
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
  playlist | the seed's artist is) (`group_similarity`): far denser than track co-occurrence,
  so it still speaks for tracks few playlists play.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from spotifier.data import Interactions, Query
from spotifier.models.base import Recommender

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


@dataclass(frozen=True, eq=False)
class Lists:
    """Each generator's ranked items and scores for a batch: (n_generators, n_queries, k), and
    each generator's whole score block (queries x tracks, CSR, or dense)."""

    items: np.ndarray
    scores: np.ndarray
    blocks: tuple[sp.csr_matrix | np.ndarray | None, ...] = ()
    scratch: np.ndarray | None = None  # NaN per track: `lookup`'s workspace


@dataclass(frozen=True, eq=False)
class Side:
    """Per-track facts the features need (learned at fit time).

    `transitions[a, b]`: how many training playlists play b right after a. `similarity`: an
    item-item matrix (tracks x tracks) shared with the item-knn generator, or None.
    `artist_similarity`: artists x artists, `group_similarity`, or None.
    """

    track_artist: np.ndarray
    track_album: np.ndarray
    track_log_count: np.ndarray
    artist_log_count: np.ndarray
    album_share: np.ndarray
    album_rank: np.ndarray | None = None
    transitions: sp.csr_matrix | None = None
    similarity: sp.csr_matrix | None = None
    album_tracks: sp.csr_matrix | None = None
    album_candidates: int = 0
    artist_similarity: sp.csr_matrix | None = None
    _before: list[sp.csr_matrix] = field(default_factory=list, repr=False)

    @classmethod
    def build(
        cls,
        track_artist: np.ndarray,
        track_album: np.ndarray,
        counts: np.ndarray,
        transitions: sp.csr_matrix | None = None,
        similarity: sp.csr_matrix | None = None,
        album_candidates: int = 0,
        artist_similarity: sp.csr_matrix | None = None,
    ) -> Side:
        counts = np.asarray(counts, dtype=np.float64)
        artist_counts = np.bincount(track_artist, weights=counts, minlength=1)
        album_counts = np.bincount(track_album, weights=counts, minlength=1)
        seen = np.flatnonzero(counts > 0)
        # Albums x tracks (seen tracks only), each album's tracks most played first.
        order = seen[np.lexsort((seen, -counts[seen], track_album[seen]))]
        n_albums = int(track_album.max(initial=-1)) + 1
        album_tracks = sp.csr_matrix(
            (np.ones(len(order), dtype=np.float32), order, _indptr(track_album[order], n_albums)),
            shape=(n_albums, len(track_album)),
        )
        # Each seen track's rank among its album's tracks by plays (0 = most played).
        album_rank = np.full(len(track_album), np.nan, dtype=np.float32)
        starts = _indptr(track_album[order], n_albums)[track_album[order]]
        album_rank[order] = np.arange(len(order)) - starts
        return cls(
            track_artist.astype(np.int32),
            track_album.astype(np.int32),
            np.log1p(counts).astype(np.float32),
            np.log1p(artist_counts)[track_artist].astype(np.float32),
            (counts / np.maximum(album_counts[track_album], 1.0)).astype(np.float32),
            album_rank,
            transitions,
            similarity,
            album_tracks,
            album_candidates,
            artist_similarity,
        )

    def album_mates(self, seeds: np.ndarray) -> np.ndarray:
        """Up to `album_candidates` tracks from the seeds' albums: albums with more seeds first,
        then each album's most played tracks (seeds included; the caller drops them)."""
        if self.album_tracks is None or self.album_candidates <= 0 or len(seeds) == 0:
            return np.array([], dtype=np.int64)
        albums, counts = np.unique(self.track_album[seeds], return_counts=True)
        albums = albums[np.argsort(-counts, kind="stable")]
        m = self.album_tracks
        parts = [m.indices[m.indptr[a] : m.indptr[a + 1]] for a in albums.tolist()]
        mates = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        return mates[: self.album_candidates + len(seeds)].astype(np.int64)

    @property
    def before(self) -> sp.csr_matrix | None:
        """`transitions` transposed (row b: the tracks played right before b), cached."""
        if self.transitions is None:
            return None
        if not self._before:
            self._before.append(sp.csr_matrix(self.transitions.T))
        return self._before[0]


def _indptr(sorted_rows: np.ndarray, n_rows: int) -> np.ndarray:
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_rows, minlength=n_rows), out=indptr[1:])
    return indptr


def transitions(inter: Interactions) -> sp.csr_matrix:
    """Tracks x tracks: how many times track b directly follows track a in the playlists.

    >>> t = transitions(Interactions.from_lists([[0, 1, 2], [1, 2], [2, 0]], n_tracks=3))
    >>> t.toarray().astype(int).tolist()
    [[0, 1, 0], [0, 0, 2], [1, 0, 0]]
    """
    n = inter.n_tracks
    if inter.n_entries < 2:
        return sp.csr_matrix((n, n), dtype=np.float32)
    src, dst = inter.tracks[:-1], inter.tracks[1:]
    ok = src != dst
    ends = inter.indptr[1:-1] - 1  # a playlist's last entry: its pair crosses into the next
    ok[ends[(ends >= 0) & (ends < len(ok))]] = False  # (empty playlists end outside)
    # One sorted int64 key per pair, counted in place: at 66M entries this needs ~1 GB, where
    # a COO -> CSR conversion with summed duplicates needed ~3 GB.
    keys = src[ok].astype(np.int64) * n
    keys += dst[ok]
    del ok
    keys.sort()
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    counts = np.diff(starts, append=len(keys)).astype(np.float32)
    keys = keys[starts]
    del starts
    rows = keys // n
    indptr = _indptr(rows, n)
    del rows
    m = sp.csr_matrix((counts, (keys % n).astype(np.int32), indptr), shape=(n, n))
    m.has_sorted_indices = True
    return m


def group_similarity(
    inter: Interactions, group: np.ndarray, k: int, max_playlists: int = 0, seed: int = 0
) -> sp.csr_matrix:
    """P(group j is in a playlist | group i is): playlists holding both over playlists holding
    i, for groups of tracks (artists, albums; `group[track]`), the top `k` j per i, i itself
    left out. Built a block of rows at a time (`blocked_neighbours`). With `max_playlists`,
    counted on a seeded sample of that many playlists when there are more.

    >>> inter = Interactions.from_lists([[0, 1], [0, 2], [1, 3]], n_tracks=4)
    >>> m = group_similarity(inter, np.array([0, 0, 1, 2]), 5)  # groups: {0, 1}, {2}, {3}
    >>> m.toarray().astype(float).round(2).tolist()
    [[0.0, 0.33, 0.33], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    from spotifier.models.similarity import blocked_neighbours

    n_groups = int(group.max(initial=-1)) + 1
    if 0 < max_playlists < inter.n_playlists:  # only the sample's entries are ever gathered
        picked = np.random.default_rng(seed).choice(inter.n_playlists, max_playlists, replace=False)
        inter = inter.subset(np.sort(picked))
    rows = np.repeat(np.arange(inter.n_playlists, dtype=np.int32), inter.lengths())
    member = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, group[inter.tracks])),
        shape=(inter.n_playlists, n_groups),
    )
    del rows
    member.data[:] = 1.0  # in a playlist or not: a group's repeats there count once
    held = np.maximum(np.asarray(member.sum(axis=0)).ravel(), 1.0)
    return blocked_neighbours(
        sp.csr_matrix(member.T), member, k, row_scale=(1.0 / held).astype(np.float32)
    )


def _as_block(block: sp.spmatrix | np.ndarray) -> sp.csr_matrix | np.ndarray:
    if sp.issparse(block):
        return sp.csr_matrix(block)  # indices unsorted: `lookup` scatters rows into a scratch
    return np.asarray(block, dtype=np.float32)


def generate(generators: Sequence[Recommender], queries: Sequence[Query], k: int) -> Lists:
    """Every generator's top `k` for every query (back-filled entries are marked absent, -1),
    and its whole score block for the batch."""
    items = np.full((len(generators), len(queries), k), -1, dtype=np.int32)
    scores = np.full((len(generators), len(queries), k), np.nan, dtype=np.float32)
    blocks: list[sp.csr_matrix | np.ndarray | None] = []
    for g, model in enumerate(generators):
        block = model.score(queries)
        own = model.candidates(queries, k, scores=block)  # no back-fill: the model's opinions
        items[g], scores[g] = own.items, own.scores
        blocks.append(block)
    n_tracks = max((b.shape[1] for b in blocks if b is not None), default=0)
    return Lists(items, scores, tuple(blocks), np.full(n_tracks, np.nan, dtype=np.float32))


def feature_names(generator_names: Sequence[str]) -> list[str]:
    per = [f"{n}:{kind}" for n in generator_names for kind in PER_GENERATOR]
    return [*per, *SHARED]


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


def _boundaries(query: Query, n_valid: int, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the valid seeds) of seeds whose next / previous position is missing.

    Without known positions the valid seeds are taken as a prefix (unknown ids are dropped, as
    everywhere else).

    >>> q = Query(seeds=np.array([5, 6, 7]), positions=np.array([1, 2, 5]), num_tracks=6)
    >>> [b.tolist() for b in _boundaries(q, 3, np.ones(3, dtype=bool))]
    [[1], [0, 2]]
    """
    if n_valid == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    if query.positions is None or len(query.positions) != len(query.seeds):
        positions = np.arange(n_valid, dtype=np.int64)
    else:
        positions = np.asarray(query.positions, dtype=np.int64)[valid]
    present = set(positions.tolist())
    limit = query.num_tracks if query.num_tracks is not None else int(positions.max()) + 2
    nxt = np.array([p + 1 < limit and p + 1 not in present for p in positions.tolist()])
    prv = np.array([p > 0 and p - 1 not in present for p in positions.tolist()])
    return np.flatnonzero(nxt), np.flatnonzero(prv)


def _position_order(query: Query, valid: np.ndarray) -> np.ndarray:
    if query.positions is None or len(query.positions) != len(query.seeds):
        return np.arange(int(valid.sum()))
    return np.argsort(np.asarray(query.positions)[valid], kind="stable")


def features(lists: Lists, j: int, query: Query, side: Side) -> tuple[np.ndarray, np.ndarray]:
    """(candidates, features) for query `j` of the batch: the union of the generators' lists."""
    n_gen, _, k = lists.items.shape
    rows_items = lists.items[:, j, :]
    found_any = rows_items[rows_items >= 0]
    valid_mask = (query.seeds >= 0) & (query.seeds < len(side.track_artist))
    seeds = query.seeds[valid_mask].astype(np.int64)
    mates = side.album_mates(seeds)
    if len(mates):
        mates = mates[~np.isin(mates, seeds)][: side.album_candidates]
        found_any = np.concatenate([found_any.astype(np.int64), mates])
    cands = np.unique(found_any).astype(np.int64)
    n = len(cands)
    x = np.full((n, len(PER_GENERATOR) * n_gen + len(SHARED)), np.nan, dtype=np.float32)
    n_found = np.zeros(n, dtype=np.float32)
    for g in range(n_gen):
        items, scores = rows_items[g], lists.scores[g, j]
        valid = items >= 0
        items, scores = items[valid].astype(np.int64), scores[valid]
        ranks = np.arange(1, len(items) + 1, dtype=np.float32)
        x[:, 3 * g + 2] = k + 1  # absent: beyond the list
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
            x[hit, 3 * g + 2] = ranks[at]
            n_found += hit
        x[:, 3 * g] = full
        x[:, 3 * g + 1] = full / best if best > 0 else np.nan
    base = 3 * n_gen
    ordered = seeds[_position_order(query, valid_mask)]
    artist = side.track_artist[cands]
    album = side.track_album[cands]
    n_seeds = len(seeds)
    same_artist = _count_in(side.track_artist[seeds], artist)
    same_album = _count_in(side.track_album[seeds], album)
    col = {name: base + i for i, name in enumerate(SHARED)}
    x[:, col["track_log_count"]] = side.track_log_count[cands]
    x[:, col["artist_log_count"]] = side.artist_log_count[cands]
    x[:, col["album_share"]] = side.album_share[cands]
    x[:, col["seed_artist_share"]] = same_artist / max(n_seeds, 1)
    x[:, col["seed_album_share"]] = same_album / max(n_seeds, 1)
    x[:, col["seed_artist_count"]] = same_artist
    x[:, col["seed_album_count"]] = same_album
    if side.similarity is not None and n:
        x[:, col["sim_max"]], x[:, col["sim_sum"]] = _row_stats(side.similarity, seeds, cands)
        last = ordered[-5:]
        x[:, col["sim_max_last5"]], x[:, col["sim_sum_last5"]] = _row_stats(
            side.similarity, last, cands
        )
    nxt, prv = _boundaries(query, n_seeds, valid_mask)
    by_position = seeds  # boundary indices refer to the valid seeds in query order
    if side.transitions is not None and n:
        x[:, col["follows_gap"]] = _row_stats(side.transitions, by_position[nxt], cands)[1]
        before = side.before
        assert before is not None
        x[:, col["precedes_gap"]] = _row_stats(before, by_position[prv], cands)[1]
    x[:, col["album_next"]] = _count_in(side.track_album[by_position[nxt]], album)
    x[:, col["artist_next"]] = _count_in(side.track_artist[by_position[nxt]], artist)
    x[:, col["album_prev"]] = _count_in(side.track_album[by_position[prv]], album)
    x[:, col["artist_prev"]] = _count_in(side.track_artist[by_position[prv]], artist)
    if n_seeds:
        x[:, col["last_album"]] = album == side.track_album[ordered[-1]]
        x[:, col["last_artist"]] = artist == side.track_artist[ordered[-1]]
    x[:, col["n_seeds"]] = n_seeds
    x[:, col["is_prefix"]] = float(query.is_prefix)
    x[:, col["has_title"]] = float(bool(query.name and query.name.strip()))
    x[:, col["num_tracks"]] = np.nan if query.num_tracks is None else float(query.num_tracks)
    x[:, col["n_generators"]] = n_found
    if side.album_rank is not None:
        x[:, col["album_step_next"]] = _album_step(side, by_position[nxt], cands, album)
        x[:, col["album_step_prev"]] = _album_step(side, by_position[prv], cands, album)
    if side.artist_similarity is not None and n and n_seeds:
        x[:, col["artist_sim_mean"]], x[:, col["artist_sim_max"]] = _group_stats(
            side.artist_similarity, side.track_artist[seeds], artist
        )
    return cands, x


def _group_stats(
    matrix: sp.csr_matrix, seed_groups: np.ndarray, cand_groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, max) over the seeds of `matrix[seed's group, candidate's group]`."""
    uniq, back = np.unique(cand_groups, return_inverse=True)
    maxes, sums = _row_stats(matrix, seed_groups.astype(np.int64), uniq.astype(np.int64))
    return sums[back] / len(seed_groups), maxes[back]


def _album_step(side: Side, seeds: np.ndarray, cands: np.ndarray, album: np.ndarray) -> np.ndarray:
    """For candidates on a seed's album: the candidate's rank by plays within the album minus
    that seed's (the first such seed); NaN for the others."""
    out = np.full(len(cands), np.nan, dtype=np.float32)
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
    """How many times each of `values` occurs in `pool`.

    >>> _count_in(np.array([3, 3, 5]), np.array([3, 4, 5])).tolist()
    [2.0, 0.0, 1.0]
    """
    if len(pool) == 0:
        return np.zeros(len(values), dtype=np.float32)
    uniq, counts = np.unique(pool, return_counts=True)
    pos = np.minimum(np.searchsorted(uniq, values), len(uniq) - 1)
    return np.where(uniq[pos] == values, counts[pos], 0).astype(np.float32)


def rank_fusion(x: np.ndarray, n_gen: int, k: int) -> np.ndarray:
    """Reciprocal-rank fusion of the generators' ranks: the score when no ranker is trained."""
    ranks = x[:, 2 : 3 * n_gen : 3]
    return np.where(ranks <= k, 1.0 / (60.0 + ranks), 0.0).sum(axis=1).astype(np.float32)
