"""The generated catalog: artists → albums → tracks with power-law popularity and release years.

Sizes grow sublinearly with the number of playlists N (`catalog_artists`): the catalog holds
`ARTISTS_PER_N × N^GROWTH` artists, and the unique artists, albums and tracks that playlists end
up using follow power laws (measured in `bench/generate_bench.py`). Popularity drifts with time:
a track's weight in year `e` (0 = 2010 … 7 = 2017) is its base popularity times `KERNEL[age]`, zero
before its album's release; albums released before 2010 ("back catalog") keep a constant weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spotifier.synth.tastes import GENRES, N_GENRES, N_MOODS, taste_cell_matrix, taste_prevalence

N_EPOCHS = 8  # years 2010 … 2017
BACK = -1  # release "epoch" of the back catalog (before 2010)
GROWTH = 0.6
ARTISTS_PER_N = 76.0
MIN_ARTISTS = 2000
#: weight by age in years (index 0 = released that year); BACK_WEIGHT for the back catalog
KERNEL = np.array([1.0, 0.75, 0.5, 0.38, 0.3, 0.26, 0.24, 0.22])
BACK_WEIGHT = 0.3
ARTIST_ZIPF = 0.8
ARTIST_OFFSET = 4.0
HIT_BOOST = 1.2
HEAD_CAP = 0.015
SINGLE_SHARE = 0.6
TRACK_DECAY = 1.0


def catalog_artists(n_playlists: int) -> int:
    """How many artists the catalog holds for a world of `n_playlists`.

    >>> catalog_artists(20_000) < 10 * catalog_artists(2_000)
    True
    """
    return max(MIN_ARTISTS, round(ARTISTS_PER_N * n_playlists**GROWTH))


@dataclass
class Catalog:
    artist_genre: np.ndarray  # int8 (artists,)
    artist_pop: np.ndarray  # float64
    album_artist: np.ndarray  # int32 (albums,)
    album_release: np.ndarray  # int8, BACK or 0..7
    album_start: np.ndarray  # int32 first track of each album (tracks are grouped by album)
    album_len: np.ndarray  # int32
    track_album: np.ndarray  # int32 (tracks,)
    track_artist: np.ndarray  # int32
    track_cell: np.ndarray  # int16 genre * N_MOODS + mood
    track_base: np.ndarray  # float64 base popularity
    track_duration: np.ndarray  # int32 milliseconds

    @property
    def n_tracks(self) -> int:
        return len(self.track_album)

    @property
    def n_albums(self) -> int:
        return len(self.album_artist)

    @property
    def n_artists(self) -> int:
        return len(self.artist_genre)

    def weights(self, epoch: int) -> np.ndarray:
        """Each track's popularity weight in year `epoch` (0 before release)."""
        release = self.album_release[self.track_album].astype(np.int64)
        age = epoch - release
        kernel = np.where(age >= 0, KERNEL[np.clip(age, 0, N_EPOCHS - 1)], 0.0)
        kernel = np.where(release == BACK, BACK_WEIGHT, kernel)
        return self.track_base * kernel

    def save(self, path: Path) -> None:
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> Catalog:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(**{k: arrays[k] for k in cls.__dataclass_fields__})


def _genre_shares() -> np.ndarray:
    """Artists per genre: half the base shares, half what playlists ask for (so that no small
    genre in demand is dominated by a handful of artists)."""
    base = np.array([g[1] for g in GENRES])
    demand = (taste_prevalence() @ taste_cell_matrix()).reshape(N_GENRES, N_MOODS).sum(axis=1)
    shares = 0.5 * base / base.sum() + 0.5 * demand / demand.sum()
    return shares / shares.sum()


def build_catalog(n_playlists: int, seed: int) -> Catalog:
    """The catalog of a world: deterministic for (n_playlists, seed)."""
    rng = np.random.default_rng([seed, 0xCA7A])
    n_artists = catalog_artists(n_playlists)
    shares = _genre_shares()
    artist_genre = rng.choice(N_GENRES, size=n_artists, p=shares).astype(np.int8)
    # Zipf by a random rank within the genre: each genre's head is the same whatever N is,
    # while its tail grows with N
    order = np.lexsort((rng.random(n_artists), artist_genre))
    counts = np.bincount(artist_genre, minlength=N_GENRES)
    rank = np.empty(n_artists)
    rank[order] = np.arange(n_artists) - np.repeat(np.cumsum(counts) - counts, counts)
    artist_pop = 1000.0 * (rank + ARTIST_OFFSET) ** -ARTIST_ZIPF
    artist_pop *= rng.lognormal(0.0, 0.3, n_artists)

    # albums per artist: 1 + geometric; popular artists have more
    extra = rng.geometric(0.46, size=n_artists) - 1
    extra += (np.log1p(artist_pop) * rng.random(n_artists) * 2).astype(np.int64)
    n_albums_of = 1 + np.minimum(extra, 25)
    album_artist = np.repeat(np.arange(n_artists, dtype=np.int32), n_albums_of)
    n_albums = len(album_artist)
    rank_in_artist = np.arange(n_albums) - np.repeat(
        np.cumsum(n_albums_of) - n_albums_of, n_albums_of
    )
    album_factor = (1.0 + rank_in_artist) ** -0.8 * rng.lognormal(0.0, 0.5, n_albums)

    back_share = np.array([g[3] for g in GENRES])[artist_genre[album_artist]]
    year_p = 1.0 + 0.25 * np.arange(N_EPOCHS)
    years = rng.choice(N_EPOCHS, size=n_albums, p=year_p / year_p.sum())
    album_release = np.where(rng.random(n_albums) < back_share, BACK, years).astype(np.int8)

    single = rng.random(n_albums) < SINGLE_SHARE
    album_len = np.where(single, rng.integers(1, 3, n_albums), rng.integers(3, 9, n_albums)).astype(
        np.int32
    )
    album_start = (np.cumsum(album_len) - album_len).astype(np.int32)
    n_tracks = int(album_len.sum())

    track_album = np.repeat(np.arange(n_albums, dtype=np.int32), album_len)
    track_artist = album_artist[track_album]
    genre = artist_genre[track_artist].astype(np.int64)
    mood_p = np.array([g[2] for g in GENRES])[genre]
    mood = (rng.random(n_tracks)[:, None] > np.cumsum(mood_p, axis=1)[:, :-1]).sum(axis=1)
    track_cell = (genre * N_MOODS + mood).astype(np.int16)
    position = np.arange(n_tracks) - album_start[track_album]
    track_factor = rng.lognormal(0.0, 0.7, n_tracks) * (1.0 + position) ** -TRACK_DECAY
    hit = rng.random(n_tracks) < 1.5 / np.maximum(album_len[track_album], 1)
    track_factor = np.where(hit, track_factor * HIT_BOOST, track_factor)
    track_base = artist_pop[track_artist] * album_factor[track_album] * track_factor
    track_base = _cap_head(track_base, track_cell, album_release[track_album])
    duration = rng.lognormal(math.log(224_000), 0.28, n_tracks)
    track_duration = np.clip(duration, 30_000, 900_000).astype(np.int32)
    return Catalog(
        artist_genre=artist_genre,
        artist_pop=artist_pop,
        album_artist=album_artist,
        album_release=album_release,
        album_start=album_start,
        album_len=album_len,
        track_album=track_album,
        track_artist=track_artist,
        track_cell=track_cell,
        track_base=track_base,
        track_duration=track_duration,
    )


def _cap_head(base: np.ndarray, cell: np.ndarray, release: np.ndarray) -> np.ndarray:
    """Cap each track at HEAD_CAP of its cell's weight in 2017 (when most playlists are made):
    the top track then sits in 3-6% of playlists at any N instead of depending on one lucky draw."""
    age = (N_EPOCHS - 1) - release.astype(np.int64)
    kernel = np.where(release == BACK, BACK_WEIGHT, KERNEL[np.clip(age, 0, N_EPOCHS - 1)])
    w = base * kernel
    cells = cell.astype(np.int64)
    totals = np.bincount(cells, weights=w)
    scale = np.minimum(1.0, HEAD_CAP * totals[cells] / np.maximum(w, 1e-300))
    return base * scale


def grouped_keys(
    values: np.ndarray, groups: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Search keys for drawing an item of group g ∝ `values`: `searchsorted(keys, g + u, 'right')`.

    `groups` must be sorted ascending. Item i covers (keys[i-1], keys[i]] with keys in [g, g+1];
    returns (keys, totals per group).

    >>> keys, totals = grouped_keys(np.array([1.0, 3.0, 2.0, 2.0]), np.array([0, 0, 1, 1]), 2)
    >>> keys.tolist(), totals.tolist()
    ([0.25, 1.0, 1.5, 2.0], [4.0, 4.0])
    """
    totals = np.bincount(groups, weights=values, minlength=n_groups)
    cum = np.cumsum(values)
    starts = np.cumsum(totals) - totals
    within = cum - starts[groups]
    safe = np.where(totals > 0, totals, 1.0)
    keys = groups + np.minimum(within / safe[groups], 1.0)
    last = np.r_[groups[1:] != groups[:-1], True]
    keys[last] = groups[last] + 1.0
    return keys, totals


def draw(keys: np.ndarray, groups: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Positions (into the grouped order) of one draw per (group, uniform) pair."""
    target = groups + np.minimum(u, 1.0 - 1e-12)
    order = np.argsort(target)  # sorted needles make the binary searches cache-friendly
    out = np.empty(len(target), dtype=np.int64)
    out[order] = np.searchsorted(keys, target[order], side="right")
    return out
