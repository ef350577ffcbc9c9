"""The oracle: rank tracks for a generated playlist by its true generating distribution.

It reads `OUT/truth/` (no pickle) and scores

    p(t) = (1 - lam) · W[cell(t)] · w_e(t) / Z_e[cell(t)] + lam · Σ_a phi_a · p(t | a, e)

(see `spotifier.synth.sampler`). Ranking is exact but touches few tracks: a track that is not by an
anchor artist scores `W[c] · w_e(t) / Z_e[c]`, so within its cell it can only beat tracks of lower
weight; the candidates are therefore the top `k + |exclude|` tracks of each active cell in that year
(pre-sorted once per year) plus the anchor artists' tracks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.synth.catalog import N_EPOCHS, Catalog
from spotifier.synth.tastes import N_CELLS


class Oracle:
    """Ranks track URIs for each generated playlist by the probability that generated it."""

    def __init__(
        self, catalog: Catalog, track_id: np.ndarray, playlists: dict[str, np.ndarray]
    ) -> None:
        self.catalog = catalog
        self.track_uri = np.char.add(b"spotify:track:", track_id.astype("S22")).astype("U36")
        self._uri_index: dict[str, int] | None = None
        self.p = playlists
        self.row_of = {int(pid): row for row, pid in enumerate(playlists["pid"].tolist())}
        c = catalog
        cells = c.track_cell.astype(np.int64)
        # per year: tracks grouped by cell, descending weight; probability within the cell
        self.order = np.empty((N_EPOCHS, c.n_tracks), dtype=np.int32)
        self.p_cell = np.empty((N_EPOCHS, c.n_tracks))
        self.p_anchor = np.empty((N_EPOCHS, c.n_tracks))
        for e in range(N_EPOCHS):
            w = c.weights(e)
            self.order[e] = np.lexsort((-w, cells))
            totals = np.bincount(cells, weights=w, minlength=N_CELLS)
            self.p_cell[e] = w / np.where(totals > 0, totals, 1.0)[cells]
            album_w = np.bincount(c.track_album, weights=w, minlength=c.n_albums)
            artist_w = np.bincount(c.album_artist, weights=album_w, minlength=c.n_artists)
            share = album_w / np.where(artist_w > 0, artist_w, 1.0)[c.album_artist] / c.album_len
            self.p_anchor[e] = share[c.track_album]
        self.cell_start = np.searchsorted(np.sort(cells), np.arange(N_CELLS + 1))
        # tracks of each artist (tracks are grouped by album, albums by artist)
        self.artist_start = np.searchsorted(c.track_artist, np.arange(c.n_artists + 1))

    @classmethod
    def load(cls, truth_dir: str | Path) -> Oracle:
        truth = Path(truth_dir)
        paths = [truth / "catalog.npz", truth / "playlists.npz", truth / "meta.json"]
        for path in paths:
            if not path.exists():
                raise NotFoundError(f"{path} is missing: is {truth} a generator's truth folder?")
        meta = json.loads(paths[2].read_text())
        if meta.get("generator_version") != 1:
            raise InvalidInputError(
                f"{paths[2]}: unknown generator_version {meta.get('generator_version')}"
            )
        with np.load(paths[0], allow_pickle=False) as arrays:
            catalog = Catalog(**{k: arrays[k] for k in Catalog.__dataclass_fields__})
            track_id = arrays["track_id"]
        with np.load(paths[1], allow_pickle=False) as arrays:
            playlists = {k: arrays[k] for k in arrays.files}
        return cls(catalog, track_id, playlists)

    def _row(self, pid: int) -> int:
        try:
            return self.row_of[int(pid)]
        except KeyError:
            raise NotFoundError(f"playlist {pid} is not in this generated world") from None

    def index_of(self, uris: Iterable[str]) -> np.ndarray:
        """Track indices of URIs (unknown URIs are skipped)."""
        if self._uri_index is None:
            self._uri_index = {u: i for i, u in enumerate(self.track_uri.tolist())}
        index = self._uri_index
        return np.array([index[u] for u in uris if u in index], dtype=np.int64)

    def _anchors(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The playlist's anchor artists (sorted, unique) and their summed weights."""
        lo, hi = self.p["anchor_offsets"][row], self.p["anchor_offsets"][row + 1]
        artists, inverse = np.unique(self.p["anchor_artist"][lo:hi], return_inverse=True)
        weights = np.bincount(inverse, weights=self.p["anchor_w"][lo:hi], minlength=len(artists))
        return artists.astype(np.int64), weights

    def scores(self, pid: int, tracks: np.ndarray) -> np.ndarray:
        """The generating probability of each track index for playlist `pid`."""
        return self._scores(self._row(pid), np.asarray(tracks, dtype=np.int64))

    def _scores(self, row: int, tracks: np.ndarray) -> np.ndarray:
        c, p = self.catalog, self.p
        e, lam = int(p["epoch"][row]), float(p["lam"][row])
        cell_w = p["cell_w"][row].astype(np.float64)
        score = (1 - lam) * cell_w[c.track_cell[tracks]] * self.p_cell[e, tracks]
        artists, weights = self._anchors(row)
        if len(artists) and lam > 0:
            track_artist = c.track_artist[tracks]
            at = np.minimum(np.searchsorted(artists, track_artist), len(artists) - 1)
            match = artists[at] == track_artist
            score[match] += lam * weights[at[match]] * self.p_anchor[e, tracks[match]]
        return score

    def rank_indices(self, pid: int, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """The `k` most probable track indices for `pid`, best first, without `exclude`."""
        row = self._row(pid)
        c, p = self.catalog, self.p
        e, lam = int(p["epoch"][row]), float(p["lam"][row])
        excluded = np.unique(np.asarray(exclude if exclude is not None else [], dtype=np.int64))
        m = k + len(excluded)
        cell_w = p["cell_w"][row].astype(np.float64)
        parts = []
        for cell in np.flatnonzero(cell_w > 0).tolist():
            lo = self.cell_start[cell]
            parts.append(self.order[e, lo : min(lo + m, self.cell_start[cell + 1])])
        taste = np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)
        if len(taste) > m:  # only the m best by the cell term can beat a non-anchor track
            cell_score = cell_w[c.track_cell[taste]] * self.p_cell[e, taste]
            threshold = np.partition(cell_score, len(cell_score) - m)[len(cell_score) - m]
            taste = taste[cell_score >= threshold]  # ties kept: the order below breaks them
        artists, _ = self._anchors(row)
        anchor = [
            np.arange(self.artist_start[a], self.artist_start[a + 1]) for a in artists.tolist()
        ]
        candidates = np.sort(np.concatenate([taste, *anchor])) if lam > 0 else np.sort(taste)
        if len(candidates):
            candidates = candidates[np.r_[True, candidates[1:] != candidates[:-1]]]
        if len(excluded):
            at = np.minimum(np.searchsorted(excluded, candidates), len(excluded) - 1)
            candidates = candidates[excluded[at] != candidates]
        score = self._scores(row, candidates)
        keep = score > 0
        candidates, score = candidates[keep], score[keep]
        # best first; equal probabilities (capped hits) by track index, so the ranking is unique
        return candidates[np.lexsort((candidates, -score))[:k]]

    def rank(self, pid: int, k: int, exclude: Iterable[str] = ()) -> list[str]:
        """Track URIs for `pid` by true probability, best first, skipping `exclude` URIs."""
        excluded = self.index_of(exclude)
        return self.track_uri[self.rank_indices(pid, k, excluded)].tolist()

    def rank_many(
        self, pids: Sequence[int], k: int, excludes: Sequence[Iterable[str]] | None = None
    ) -> list[list[str]]:
        """`rank` for many playlists (excludes aligned with pids)."""
        excludes = excludes if excludes is not None else [()] * len(pids)
        return [self.rank(pid, k, ex) for pid, ex in zip(pids, excludes, strict=True)]
