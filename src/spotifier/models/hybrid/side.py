"""The hybrid's side facts: per-track popularity and album ranks, transitions (what follows what
in training playlists) and artist co-occurrence, learned at fit time for the feature collector.

An artist or album index of -1 means "unknown" (own playlists without those fields): such a track
has no artist or album facts (NaN), matches no other track's artist or album, and proposes no
album mates. A catalogue without any artist gets no artist co-occurrence matrix at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from spotifier.data import Interactions


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
        """The facts for tracks with these artists and albums (-1: unknown) and play counts.

        >>> side = Side.build(np.array([0, 0, -1]), np.array([-1, 1, 1]), np.array([3, 1, 1]))
        >>> np.exp(side.artist_log_count).round().tolist(), side.album_share.tolist()
        ([5.0, 5.0, nan], [nan, 0.5, 0.5])
        """
        counts = np.asarray(counts, dtype=np.float64)
        artist_known, album_known = track_artist >= 0, track_album >= 0
        artist_counts = np.bincount(
            track_artist[artist_known], weights=counts[artist_known], minlength=1
        )
        album_counts = np.bincount(
            track_album[album_known], weights=counts[album_known], minlength=1
        )
        seen = np.flatnonzero((counts > 0) & album_known)
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
        artist_log = np.log1p(artist_counts)[np.maximum(track_artist, 0)]
        album_total = np.maximum(album_counts[np.maximum(track_album, 0)], 1.0)
        return cls(
            track_artist.astype(np.int32),
            track_album.astype(np.int32),
            np.log1p(counts).astype(np.float32),
            np.where(artist_known, artist_log, np.nan).astype(np.float32),
            np.where(album_known, counts / album_total, np.nan).astype(np.float32),
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
        known = albums >= 0
        albums, counts = albums[known], counts[known]
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
    i, for groups of tracks (artists, albums; `group[track]`, -1 = none), the top `k` j per i,
    i itself left out. Built a block of rows at a time (`blocked_neighbours`). With
    `max_playlists`, counted on a seeded sample of that many playlists when there are more.

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
    cols = group[inter.tracks]
    if (cols < 0).any():  # tracks without a group are in none
        rows, cols = rows[cols >= 0], cols[cols >= 0]
    member = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(inter.n_playlists, n_groups),
    )
    del rows
    member.data[:] = 1.0  # in a playlist or not: a group's repeats there count once
    held = np.maximum(np.asarray(member.sum(axis=0)).ravel(), 1.0)
    return blocked_neighbours(
        sp.csr_matrix(member.T), member, k, row_scale=(1.0 / held).astype(np.float32)
    )
