"""Write a synthetic MPD: slices in the exact published format plus the latent truth.

How a world is made (details in `catalog`, `tastes`, `sampler`):
- a catalog of artists → albums → tracks with power-law popularity, genres, moods and release years,
  sized sublinearly in N (`catalog.GROWTH`);
- each playlist gets a modification day (midnight UTC, 2010-01-01 … 2017-11-01, exponentially skewed
  late), one to three tastes mixed into weights over genre × mood cells, a few anchor artists whose
  albums contribute runs of consecutive tracks, a length (truncated log-normal, 5–250, mean ≈ 66),
  and a title: from its dominant taste's vocabulary (25%) or a personal title (75%, from a
  Zipf-Mandelbrot vocabulary of 28,000 phrases);
- about a third of playlists repeat a track, 2% are collaborative, 1.9% have a description.

num_followers is a Lomax draw `1 + floor(s · (U^(-1/2) - 1))` whose scale depends on the playlist:

    log s = log 0.78 + 0.35·log(num_tracks / 50) - 0.8·(num_artists / num_tracks - 0.6)
            + 0.6·collaborative + 0.9·has_description + 0.12·age_years
            + taste effect (party 0.35, workout 0.3, rap 0.25, throwback 0.2, chill 0.15,
              worship 0.1, sleep -0.2, christmas -0.3, else 0) + Normal(0, 0.4)

where age_years = (2017-11-01 - modified_at) in years. So longer, more focused, collaborative,
described, older and party-like playlists have more followers (a regression has real signal), and
overall ≈ 75% have one follower, ≈ 15% two, with a power-law tail.

`OUT/truth/` holds `catalog.npz` (the catalog arrays and the 22-character ids of every URI),
`playlists.npz` (per playlist: year, anchor share, taste and cell mixtures, anchor artists and
weights) and `meta.json`; `spotifier.synth.Oracle` ranks tracks by the generating distribution.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from spotifier.errors import InvalidInputError
from spotifier.home import atomic_dir
from spotifier.mpd.format import normalize_name, slice_name
from spotifier.mpd.writer import assemble_slice, encode_playlist, track_tail, write_bytes
from spotifier.progress import cpu_count, make_progress
from spotifier.synth import names
from spotifier.synth.catalog import build_catalog
from spotifier.synth.sampler import SliceDraw, World, sample_slice, unique_per_row
from spotifier.synth.tabular import TABULAR_FORMATS, PartWriter, slice_table
from spotifier.synth.tastes import GENRE_NAMES, MOODS, TASTES

SLICE_SIZE = 1000
GENERATOR_VERSION = 1
DEFAULT_PLAYLISTS, DEFAULT_SEED = 20_000, 0


@dataclass
class GenerateReport:
    """What a run produced (catalog counts are of the items playlists actually use)."""

    out: str | None
    playlists: int
    seed: int
    entries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    unique_tracks: int = 0
    unique_albums: int = 0
    unique_artists: int = 0
    unique_normalized_titles: int = 0
    top_track_share: float = 0.0
    catalog: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The world is built once in the parent and inherited by forked workers (copy-on-write).
_WORLD: World | None = None
_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _tails(world: World, tracks: np.ndarray) -> np.ndarray:
    """Encoded track text (after `pos`) per track index (an object array, None where not
    needed yet), computed once per process."""
    key = f"tails-{world.seed}-{world.catalog.n_tracks}"
    if key not in _CACHE:
        n = world.catalog.n_tracks
        _CACHE[key] = (np.full(n, None, dtype=object), np.zeros(n, dtype=bool))
    cache, done = _CACHE[key]
    wanted = np.unique(tracks)
    new = wanted[~done[wanted]].astype(np.int64)
    if len(new) == 0:
        return cache
    c, seed = world.catalog, world.seed
    artist, album = c.track_artist[new], c.track_album[new]
    track_names = names.track_names(new, seed)
    artist_names = names.artist_names(artist, seed)
    album_names = names.album_names(album, seed)
    track_ids = names.uris("track", new, seed)
    artist_ids = names.uris("artist", artist, seed)
    album_ids = names.uris("album", album, seed)
    durations = c.track_duration[new].tolist()
    for i, t in enumerate(new.tolist()):
        cache[t] = track_tail(
            {
                "artist_name": artist_names[i],
                "track_uri": "spotify:track:" + track_ids[i].decode(),
                "artist_uri": "spotify:artist:" + artist_ids[i].decode(),
                "track_name": track_names[i],
                "album_uri": "spotify:album:" + album_ids[i].decode(),
                "duration_ms": durations[i],
                "album_name": album_names[i],
            }
        )
    done[new] = True
    return cache


def _encode_slice(world: World, d: SliceDraw) -> bytes:
    c = world.catalog
    entries = d.entries
    tails = _tails(world, entries)[entries].tolist()
    blocks = []
    n = len(d.pids)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(d.offsets))
    num_albums = unique_per_row(c.track_album[entries], d.offsets)
    num_artists = unique_per_row(c.track_artist[entries], d.offsets)
    durations = np.bincount(rows, weights=c.track_duration[entries], minlength=n)
    offsets = d.offsets.tolist()
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        playlist: dict[str, Any] = {"name": d.names[i]}
        if i in d.descriptions:
            playlist["description"] = d.descriptions[i]
        playlist.update(
            collaborative="true" if d.collaborative[i] else "false",
            pid=int(d.pids[i]),
            modified_at=int(d.modified_at[i]),
            num_tracks=hi - lo,
            num_albums=int(num_albums[i]),
            num_followers=int(d.num_followers[i]),
            tracks=None,
            num_edits=int(d.num_edits[i]),
            duration_ms=int(durations[i]),
            num_artists=int(num_artists[i]),
        )
        blocks.append(encode_playlist(playlist, tails[lo:hi]))
    return assemble_slice(blocks, f"{d.pids[0]}-{d.pids[-1]}", generated_on=_generated_on(world))


def _generated_on(world: World) -> str:
    # fixed per seed so a world is byte-identical when regenerated
    return f"2017-12-03 08:41:{world.seed % 60:02d}.057563"


def _run_slice(task: tuple[int, int, int, str | None, bool, str]) -> dict[str, Any]:
    index, first_pid, n, data_dir, gzip, fmt = task
    world = _WORLD
    assert world is not None
    d = sample_slice(world, first_pid, n, index)
    size = 0
    table = None
    if data_dir is not None and fmt != "mpd":
        table = slice_table(world, d)  # written by the parent, in order, into parts
    elif data_dir is not None:
        data = _encode_slice(world, d)
        size = len(data)
        write_bytes(Path(data_dir) / slice_name(first_pid, n), data, gzip=gzip)
    return {
        "draw": d,
        "table": table,
        "bytes": size,
        "tracks": np.unique(d.entries),
        "titles": sorted({normalize_name(t) for t in d.names}),
    }


def _tasks(
    n_playlists: int, data_dir: str | None, gzip: bool, fmt: str
) -> list[tuple[int, int, int, str | None, bool, str]]:
    return [
        (i, first, min(SLICE_SIZE, n_playlists - first), data_dir, gzip, fmt)
        for i, first in enumerate(range(0, n_playlists, SLICE_SIZE))
    ]


def _results(tasks: list[Any], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(tasks) == 1:
        yield from map(_run_slice, tasks)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        yield from pool.map(_run_slice, tasks, chunksize=1)


def generate(
    out_dir: str | os.PathLike[str] | None,
    n_playlists: int = DEFAULT_PLAYLISTS,
    seed: int = DEFAULT_SEED,
    gzip: bool = False,
    workers: int | None = None,
    force: bool = False,
    fmt: str = "mpd",
) -> GenerateReport:
    """Generate a world of `n_playlists` into `out_dir` (`data/` slices and `truth/`).

    `fmt` "csv" or "parquet" writes the same playlists as long tables instead of slices
    (`spotifier.synth.tabular`).

    Deterministic for (n_playlists, seed): the same bytes whatever `workers` is. The folder
    appears whole or not at all. A non-empty `out_dir` is refused unless `force`. With
    `out_dir=None` nothing is written: only the report (catalog counts, top-track share) is
    computed, as the bench does.
    """
    global _WORLD
    if n_playlists < 1:
        raise InvalidInputError(f"--playlists must be at least 1, got {n_playlists}")
    if seed < 0:
        raise InvalidInputError(f"--seed must be non-negative, got {seed}")
    if fmt not in ("mpd", *TABULAR_FORMATS):
        raise InvalidInputError(f"--format {fmt!r}: choose from mpd, {', '.join(TABULAR_FORMATS)}")
    if fmt != "mpd" and gzip:
        raise InvalidInputError("--gzip applies to MPD slices only")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists():
        if not out.is_dir():
            raise InvalidInputError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not force:
            raise InvalidInputError(f"{out} is not empty: pass --force to replace it")
    started = time.perf_counter()
    catalog = build_catalog(n_playlists, seed)
    _WORLD = World(catalog, seed)
    workers = workers if workers is not None else min(cpu_count(), 4)
    report = GenerateReport(out=str(out) if out else None, playlists=n_playlists, seed=seed)
    report.catalog = {
        "artists": catalog.n_artists,
        "albums": catalog.n_albums,
        "tracks": catalog.n_tracks,
    }
    try:
        if out is None:
            _collect(_WORLD, report, None, gzip, workers, fmt)
        else:
            with atomic_dir(out) as tmp:
                (tmp / "data").mkdir()
                draws = _collect(_WORLD, report, tmp / "data", gzip, workers, fmt)
                _write_truth(_WORLD, tmp / "truth", draws, n_playlists)
    finally:
        _WORLD = None
        _CACHE.clear()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _collect(
    world: World,
    report: GenerateReport,
    data_dir: Path | None,
    gzip: bool,
    workers: int,
    fmt: str = "mpd",
) -> list[SliceDraw]:
    tasks = _tasks(report.playlists, str(data_dir) if data_dir else None, gzip, fmt)
    parts = PartWriter(data_dir, fmt) if data_dir is not None and fmt != "mpd" else None
    c = world.catalog
    used = np.zeros(c.n_tracks, dtype=bool)
    playlists_with = np.zeros(c.n_tracks, dtype=np.int64)
    titles: set[str] = set()
    draws = []
    with make_progress() as progress:
        task = progress.add_task("generating", total=report.playlists, extra="")
        for result in _results(tasks, workers):
            d: SliceDraw = result["draw"]
            if parts is not None:
                parts.write(result["table"], len(d.pids))
            used[result["tracks"]] = True
            rows = np.repeat(np.arange(len(d.pids)), np.diff(d.offsets))
            pairs = np.unique(rows.astype(np.int64) * c.n_tracks + d.entries)
            playlists_with += np.bincount(pairs % c.n_tracks, minlength=c.n_tracks)
            titles.update(result["titles"])
            report.entries += len(d.entries)
            report.bytes += result["bytes"]
            draws.append(_truth_only(d))
            progress.update(task, advance=len(d.pids), extra=f"{report.bytes / 1e6:,.0f} MB")
    if parts is not None:
        parts.close()
        report.bytes = parts.bytes
    report.unique_tracks = int(used.sum())
    report.unique_albums = len(np.unique(c.track_album[used]))
    report.unique_artists = len(np.unique(c.track_artist[used]))
    report.unique_normalized_titles = len(titles)
    report.top_track_share = round(float(playlists_with.max()) / report.playlists, 4)
    return draws


def _truth_only(d: SliceDraw) -> SliceDraw:
    d.names, d.descriptions = [], {}
    d.entries = np.empty(0, dtype=np.int32)
    return d


def _write_truth(world: World, truth: Path, draws: list[SliceDraw], n_playlists: int) -> None:
    truth.mkdir()
    c = world.catalog
    arrays = {k: getattr(c, k) for k in c.__dataclass_fields__}
    arrays["track_id"] = names.uris("track", np.arange(c.n_tracks), world.seed)
    np.savez(truth / "catalog.npz", **arrays)
    anchor_counts = np.concatenate([np.diff(d.anchor_offsets) for d in draws])
    np.savez(
        truth / "playlists.npz",
        pid=np.concatenate([d.pids for d in draws]),
        epoch=np.concatenate([d.epoch for d in draws]),
        lam=np.concatenate([d.lam for d in draws]),
        taste_w=np.concatenate([d.taste_w for d in draws]),
        cell_w=np.concatenate([d.cell_w for d in draws]),
        anchor_offsets=np.r_[0, np.cumsum(anchor_counts)].astype(np.int64),
        anchor_artist=np.concatenate([d.anchor_artist for d in draws]),
        anchor_w=np.concatenate([d.anchor_w for d in draws]),
    )
    meta = {
        "generator_version": GENERATOR_VERSION,
        "seed": world.seed,
        "playlists": n_playlists,
        "tastes": [t.name for t in TASTES],
        "genres": list(GENRE_NAMES),
        "moods": list(MOODS),
        "cells": [f"{g}/{m}" for g in GENRE_NAMES for m in MOODS],
        "epochs": [str(2010 + e) for e in range(8)],
        "notes": "p(t|playlist) = (1-lam) * cell_w[cell(t)] * w_e(t)/Z_e[cell(t)] + lam * "
        "sum_a anchor_w[a] * [artist(t)=a] * w_e(album(t))/w_e(a)/len(album(t)); "
        "see spotifier.synth.sampler",
    }
    (truth / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
