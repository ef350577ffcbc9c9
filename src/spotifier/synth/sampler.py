"""Draw the playlists of one slice from the world: lengths, tastes, album runs, titles, counts.

Each playlist has a modification year `e`, a mixture `W` over genre × mood cells (from its one
to three tastes) and a few anchor artists with weights `phi`. Each entry is drawn either from
the cells — cell c ~ W, then a track ∝ its weight in year e within c — or, with probability
`lam`, as part of a run of consecutive tracks from an album of an anchor artist (album ∝ its
weight in year e). The generating distribution the oracle ranks by is therefore

    p(t | playlist) = (1 - lam) · W[cell(t)] · w_e(t) / Z_e[cell(t)]
                      + lam · Σ_a phi_a · [artist(t) = a] · w_e(album(t)) / w_e(a) / len(album(t)).

Tracks are not drawn twice (duplicates are dropped), then about a third of playlists get one or more
deliberate repeats of an earlier track, as in the real data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spotifier.mpd.format import LATEST_MODIFIED_AT
from spotifier.synth.catalog import N_EPOCHS, Catalog, draw, grouped_keys
from spotifier.synth.playlist_fields import DAY, draw_edits, draw_followers, draw_titles
from spotifier.synth.tastes import (
    N_CELLS,
    N_GENRES,
    N_MOODS,
    TASTES,
    taste_cell_matrix,
    taste_prevalence,
)

SPAN_DAYS = (LATEST_MODIFIED_AT - 1262304000) // DAY  # 2010-01-01 … 2017-11-01
#: days back from 2017-11-01 to each January 1st (2010 … 2017): gives a playlist's year
_YEAR_START_DAYS_BACK = np.array(
    [(LATEST_MODIFIED_AT - int(np.datetime64(f"{2010 + e}-01-01", "s").astype(np.int64))) // DAY
     for e in range(N_EPOCHS)]
)  # fmt: skip

LENGTH_MU, LENGTH_SIGMA = 3.96, 1.0
MODIFIED_MEAN_DAYS = 420.0
#: personal titles: index i of a 28,000-phrase vocabulary with P(i) ∝ (i + 30)^-1 (Zipf-Mandelbrot:
#: a flat head, so no personal title outranks the genre titles, and ~17k at N = 1M)
NOISE_VOCABULARY, NOISE_OFFSET, NOISE_ZIPF = 28_000, 30.0, 1.0
REPEAT_SHARE = 0.35
ANCHOR_POWER = 0.6
#: followers: log-scale effects of each taste as the playlist's dominant taste
TASTE_FOLLOW = {"party": 0.35, "workout": 0.3, "rap": 0.25, "throwback": 0.2, "chill": 0.15,
                "christmas": -0.3, "sleep": -0.2, "worship": 0.1}  # fmt: skip


class World:
    """The catalog plus the search keys for fast grouped draws, per year."""

    def __init__(self, catalog: Catalog, seed: int) -> None:
        self.catalog, self.seed = catalog, seed
        c = catalog
        self.cell_order = np.argsort(c.track_cell, kind="stable").astype(np.int32)
        sorted_cells = c.track_cell[self.cell_order].astype(np.int64)
        artist_order = np.argsort(c.artist_genre, kind="stable").astype(np.int32)
        sorted_genres = c.artist_genre[artist_order].astype(np.int64)
        self.artist_order = artist_order
        cell_keys, artist_keys, album_keys = [], [], []
        self.cell_totals = np.zeros((N_EPOCHS, N_CELLS))
        self.album_weight = np.zeros((N_EPOCHS, c.n_albums))
        self.artist_weight = np.zeros((N_EPOCHS, c.n_artists))
        for e in range(N_EPOCHS):
            w = c.weights(e)
            keys, totals = grouped_keys(w[self.cell_order], sorted_cells, N_CELLS)
            cell_keys.append(keys + e * N_CELLS)
            self.cell_totals[e] = totals
            album_w = np.bincount(c.track_album, weights=w, minlength=c.n_albums)
            artist_w = np.bincount(c.album_artist, weights=album_w, minlength=c.n_artists)
            self.album_weight[e], self.artist_weight[e] = album_w, artist_w
            # anchors are picked ∝ weight^ANCHOR_POWER: big stars are not everybody's favourite
            keys, _ = grouped_keys(artist_w[artist_order] ** ANCHOR_POWER, sorted_genres, N_GENRES)
            artist_keys.append(keys + e * N_GENRES)
            keys, _ = grouped_keys(album_w, c.album_artist.astype(np.int64), c.n_artists)
            album_keys.append(keys + e * c.n_artists)
        self.cell_keys = np.concatenate(cell_keys)
        self.artist_keys = np.concatenate(artist_keys)
        self.album_keys = np.concatenate(album_keys)
        self.genre_totals = self.artist_weight_by_genre()
        self.taste_cells = taste_cell_matrix()
        self.taste_p = taste_prevalence()
        self.title_tables = [
            (
                np.cumsum([w for _, w in t.titles]) / sum(w for _, w in t.titles),
                [s for s, _ in t.titles],
            )
            for t in TASTES
        ]
        noise_p = (np.arange(NOISE_VOCABULARY) + NOISE_OFFSET) ** -NOISE_ZIPF
        self.noise_cdf = np.cumsum(noise_p) / noise_p.sum()
        self.taste_follow = np.array([TASTE_FOLLOW.get(t.name, 0.0) for t in TASTES])

    def artist_weight_by_genre(self) -> np.ndarray:
        genre = self.catalog.artist_genre.astype(np.int64)
        return np.stack(
            [
                np.bincount(genre, weights=self.artist_weight[e], minlength=N_GENRES)
                for e in range(N_EPOCHS)
            ]
        )


@dataclass
class SliceDraw:
    """One slice's playlists as arrays (entries concatenated, `offsets` into them)."""

    pids: np.ndarray
    names: list[str]
    descriptions: dict[int, str]  # row -> description
    collaborative: np.ndarray  # bool
    modified_at: np.ndarray  # int64
    num_followers: np.ndarray
    num_edits: np.ndarray
    offsets: np.ndarray  # (n+1,)
    entries: np.ndarray  # int32 track indices
    # truth
    epoch: np.ndarray
    lam: np.ndarray
    taste_w: np.ndarray  # (n, tastes) float32
    cell_w: np.ndarray  # (n, cells) float32
    anchor_offsets: np.ndarray
    anchor_artist: np.ndarray
    anchor_w: np.ndarray


def _lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        draw_ = np.round(rng.lognormal(LENGTH_MU, LENGTH_SIGMA, len(todo))).astype(np.int64)
        ok = (draw_ >= 5) & (draw_ <= 250)
        out[todo[ok]] = draw_[ok]
        todo = todo[~ok]
    return out


def _modified(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    m = MODIFIED_MEAN_DAYS
    u = rng.random(n)
    back = np.floor(-m * np.log1p(-u * (1 - math.exp(-SPAN_DAYS / m)))).astype(np.int64)
    back = np.minimum(back, SPAN_DAYS)
    epoch = N_EPOCHS - 1 - np.searchsorted(_YEAR_START_DAYS_BACK[::-1], back, side="left")
    return LATEST_MODIFIED_AT - back * DAY, np.clip(epoch, 0, N_EPOCHS - 1)


def _tastes(world: World, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    k = len(TASTES)
    theta = np.zeros((n, k))
    dominant = rng.choice(k, size=n, p=world.taste_p)
    n_extra = rng.choice(3, size=n, p=[0.45, 0.35, 0.2])
    w0 = np.where(n_extra == 0, 1.0, rng.uniform(0.5, 0.9, n))
    theta[np.arange(n), dominant] = w0
    for j in (1, 2):
        has = n_extra >= j
        extra = rng.choice(k, size=n, p=world.taste_p)
        share = (1 - w0) / np.maximum(n_extra, 1)
        np.add.at(theta, (np.arange(n)[has], extra[has]), share[has])
    return theta, dominant


def _row_draw(weights: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draw per row of a small dense weight matrix (one draw per entry of `rows`)."""
    n, k = weights.shape
    cum = np.cumsum(weights, axis=1)
    cum /= cum[:, -1:]
    cum[:, -1] = 1.0
    keys = (np.arange(n)[:, None] + cum).ravel()
    pos = np.searchsorted(keys, rows + np.minimum(u, 1.0 - 1e-12), side="right")
    return pos - rows * k


def sample_slice(world: World, first_pid: int, n: int, slice_index: int) -> SliceDraw:
    """The playlists `first_pid … first_pid + n - 1`, deterministic for (seed, slice_index)."""
    rng = np.random.default_rng([world.seed, 1, slice_index])
    c = world.catalog
    modified_at, epoch = _modified(rng, n)
    theta, dominant = _tastes(world, rng, n)
    cell_w = theta @ world.taste_cells
    cell_w *= world.cell_totals[epoch] > 0
    cell_w /= cell_w.sum(axis=1, keepdims=True)
    lengths = _lengths(rng, n)
    lam = rng.beta(1.5, 4.0, n)
    n_anchor = 1 + np.minimum(rng.poisson(1.3, n), 5)
    # anchors: genre from the cell mixture, artist ∝ its weight that year within the genre
    genre_w = cell_w.reshape(n, N_GENRES, N_MOODS).sum(axis=2)
    genre_w *= world.genre_totals[epoch] > 0
    anchor_offsets = np.r_[0, np.cumsum(n_anchor)]
    a_rows = np.repeat(np.arange(n), n_anchor)
    a_genre = _row_draw(genre_w, a_rows, rng.random(len(a_rows)))
    pos = draw(world.artist_keys, epoch[a_rows] * N_GENRES + a_genre, rng.random(len(a_rows)))
    anchor_artist = world.artist_order[pos - epoch[a_rows] * c.n_artists]
    anchor_w = rng.gamma(1.0, size=len(a_rows))
    anchor_w /= np.bincount(a_rows, weights=anchor_w, minlength=n)[a_rows]

    entries, offsets = _entries(world, rng, n, epoch, cell_w, lengths, lam, a_rows, anchor_artist,
                                anchor_w, anchor_offsets)  # fmt: skip
    entries, offsets = _fix_small(world, rng, entries, offsets, epoch, cell_w, lam)
    names, descs, collaborative = draw_titles(world, rng, n, first_pid, dominant)
    lengths = np.diff(offsets)
    n_artists = unique_per_row(c.track_artist[entries], offsets)
    followers = draw_followers(world, rng, lengths, n_artists, collaborative, modified_at, dominant,
                           np.isin(np.arange(n), list(descs)))  # fmt: skip
    edits = draw_edits(rng, lengths)
    return SliceDraw(
        pids=np.arange(first_pid, first_pid + n, dtype=np.int64),
        names=names,
        descriptions=descs,
        collaborative=collaborative,
        modified_at=modified_at,
        num_followers=followers,
        num_edits=edits,
        offsets=offsets,
        entries=entries,
        epoch=epoch.astype(np.int8),
        lam=lam.astype(np.float32),
        taste_w=theta.astype(np.float32),
        cell_w=cell_w.astype(np.float32),
        anchor_offsets=anchor_offsets.astype(np.int64),
        anchor_artist=anchor_artist.astype(np.int32),
        anchor_w=anchor_w.astype(np.float32),
    )


def _fix_small(
    world: World,
    rng: np.random.Generator,
    entries: np.ndarray,
    offsets: np.ndarray,
    epoch: np.ndarray,
    cell_w: np.ndarray,
    lam: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Redraw (from the cells only, lam = 0) playlists with < 3 artists or < 2 albums."""
    c = world.catalog
    for _ in range(20):
        n_artists = unique_per_row(c.track_artist[entries], offsets)
        n_albums = unique_per_row(c.track_album[entries], offsets)
        bad = np.flatnonzero((n_artists < 3) | (n_albums < 2))
        if not len(bad):
            return entries, offsets
        lam[bad] = 0.0
        lengths = np.diff(offsets)[bad]
        rows, tracks = _cell_draws(world, rng, epoch[bad], cell_w[bad], 2 * lengths + 4)
        rows, tracks, counts = _dedupe_cut(rows, tracks, lengths, c.n_tracks)
        parts = np.split(entries, offsets[1:-1])
        new = np.split(tracks.astype(np.int32), np.cumsum(counts)[:-1])
        for j, row in enumerate(bad.tolist()):
            parts[row] = new[j]
        entries = np.concatenate(parts)
        offsets = np.r_[0, np.cumsum([len(p) for p in parts])]
    raise RuntimeError("could not draw playlists with >= 3 artists and >= 2 albums")


def unique_per_row(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many distinct values each row `values[offsets[i]:offsets[i+1]]` holds.

    >>> unique_per_row(np.array([3, 3, 5, 7]), np.array([0, 3, 3, 4])).tolist()
    [2, 0, 1]
    >>> unique_per_row(np.array([], dtype=np.int32), np.array([0, 0])).tolist()
    [0]
    """
    if len(values) == 0:
        return np.zeros(len(offsets) - 1, dtype=np.int64)
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    pairs = np.sort(rows.astype(np.int64) * (1 << 32) + values.astype(np.int64))
    first = np.r_[True, pairs[1:] != pairs[:-1]]
    return np.bincount((pairs[first] >> 32).astype(np.int64), minlength=len(offsets) - 1)


def _entries(
    world: World,
    rng: np.random.Generator,
    n: int,
    epoch: np.ndarray,
    cell_w: np.ndarray,
    lengths: np.ndarray,
    lam: np.ndarray,
    a_rows: np.ndarray,
    anchor_artist: np.ndarray,
    anchor_w: np.ndarray,
    anchor_offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    c = world.catalog
    n_anchor_tracks = rng.binomial(lengths, lam)
    # album runs: run lengths 1 + geometric, enough runs to cover the anchor share
    max_runs = np.maximum(n_anchor_tracks, 1)
    run_rows = np.repeat(np.arange(n), max_runs)
    run_len = rng.geometric(0.4, len(run_rows))
    cum_all = np.cumsum(run_len)
    run_starts = np.cumsum(max_runs) - max_runs
    cum = cum_all - np.repeat(np.r_[0, cum_all][run_starts], max_runs)
    keep = (cum - run_len < n_anchor_tracks[run_rows]) & (n_anchor_tracks[run_rows] > 0)
    run_rows, run_len = run_rows[keep], run_len[keep]
    # which anchor: categorical over the row's anchors by anchor_w
    u = rng.random(len(run_rows))
    a_cum = np.cumsum(anchor_w)
    row_start = anchor_offsets[run_rows]
    base = np.where(row_start > 0, a_cum[np.maximum(row_start - 1, 0)], 0.0)
    choice = np.searchsorted(
        a_cum, base + u * (a_cum[anchor_offsets[run_rows + 1] - 1] - base), side="right"
    )
    choice = np.clip(choice, row_start, anchor_offsets[run_rows + 1] - 1)
    artist = anchor_artist[choice].astype(np.int64)
    album = draw(
        world.album_keys, epoch[run_rows] * c.n_artists + artist, rng.random(len(run_rows))
    )
    album = album - epoch[run_rows] * c.n_albums
    alen = c.album_len[album]
    start = (rng.random(len(album)) * alen).astype(np.int64)
    run_len = np.minimum(run_len, alen - start)
    run_first = c.album_start[album] + start

    # single cell draws for the rest, over-drawn so duplicates can be dropped
    n_cell = np.ceil((lengths - n_anchor_tracks) * 1.3).astype(np.int64) + 4
    cell_rows, cell_tracks = _cell_draws(world, rng, epoch, cell_w, n_cell)

    # segments (runs and single draws) in random order within each playlist
    seg_rows = np.r_[run_rows, cell_rows]
    seg_first = np.r_[run_first, cell_tracks].astype(np.int64)
    seg_len = np.r_[run_len, np.ones(len(cell_rows), dtype=np.int64)]
    order = np.lexsort((rng.random(len(seg_rows)), seg_rows))
    seg_rows, seg_first, seg_len = seg_rows[order], seg_first[order], seg_len[order]
    rows = np.repeat(seg_rows, seg_len)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(seg_len) - seg_len, seg_len)
    tracks = np.repeat(seg_first, seg_len) + within
    for attempt in range(6):
        rows, tracks, counts = _dedupe_cut(rows, tracks, lengths, c.n_tracks)
        short = lengths - counts
        if not short.any() or attempt == 5:
            break
        # top up playlists that lost too many draws to duplicates (small, concentrated cells)
        extra_rows, extra_tracks = _cell_draws(
            world, rng, epoch, cell_w, 2 * short + 4 * (short > 0)
        )
        order = np.argsort(np.r_[rows, extra_rows], kind="stable")
        rows = np.r_[rows, extra_rows][order]
        tracks = np.r_[tracks, extra_tracks][order]
    offsets = np.r_[0, np.cumsum(counts)]
    tracks = _repeats(rng, tracks.astype(np.int32), offsets)
    return tracks, offsets


def _cell_draws(
    world: World, rng: np.random.Generator, epoch: np.ndarray, cell_w: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`count[i]` tracks for playlist i: a cell ~ its weights, then a track ∝ weight in the cell."""
    c = world.catalog
    rows = np.repeat(np.arange(len(count)), count)
    cell = _row_draw(cell_w, rows, rng.random(len(rows)))
    pos = draw(world.cell_keys, epoch[rows] * N_CELLS + cell, rng.random(len(rows)))
    return rows, world.cell_order[pos - epoch[rows] * c.n_tracks].astype(np.int64)


def _dedupe_cut(
    rows: np.ndarray, tracks: np.ndarray, lengths: np.ndarray, n_tracks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop repeated (row, track) pairs keeping the first, then cut each row to its length."""
    n = len(lengths)
    key = rows.astype(np.int64) * n_tracks + tracks
    order = np.argsort(key, kind="stable")  # stable: the first occurrence leads each run
    sorted_key = key[order]
    keep = np.zeros(len(key), dtype=bool)
    keep[order[np.r_[True, sorted_key[1:] != sorted_key[:-1]]]] = True
    rows, tracks = rows[keep], tracks[keep]
    counts = np.bincount(rows, minlength=n)
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < lengths[rows]
    rows, tracks = rows[keep], tracks[keep]
    return rows, tracks, np.bincount(rows, minlength=n)


def _repeats(rng: np.random.Generator, tracks: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """About a third of playlists repeat an earlier track later on (replacing an entry)."""
    n = len(offsets) - 1
    has = np.flatnonzero(rng.random(n) < REPEAT_SHARE)
    n_rep = rng.geometric(0.6, len(has))
    u = rng.random((len(has), 2 * int(n_rep.max(initial=1))))
    for j, row in enumerate(has.tolist()):
        lo, hi = int(offsets[row]), int(offsets[row + 1])
        size = hi - lo
        if size < 8:
            continue
        for r in range(int(n_rep[j])):
            src = lo + int(u[j, 2 * r] * (size - 1))
            dst = src + 1 + int(u[j, 2 * r + 1] * (hi - src - 1))
            tracks[dst] = tracks[src]
    return tracks
