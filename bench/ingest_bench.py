"""Ingest throughput: `spotifier ingest` (DuckDB, worker processes) vs a naive json.load + pandas
loader, measured side by side on the same slice files. Appends a section to bench/RESULTS.md.

    python bench/ingest_bench.py                    # generate 10 slices with spotifier.synth
    python bench/ingest_bench.py --mpd DIR          # or measure an existing folder of slices
    python bench/ingest_bench.py --mpd DIR --slices 200 --before HEAD~3 --rounds 2 --no-naive

`--before REV` runs `spotifier ingest` of git revision REV (its whole `src/`) and of today's tree
side by side, each as its own process into a fresh home, alternating for `--rounds` rounds, and
reports the ratio of the medians. `--slices N` takes the first N slice files only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

RESULTS = Path(__file__).with_name("RESULTS.md")
REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def _fallback_world(out: Path, n_playlists: int, seed: int) -> None:
    """Slices with MPD-like shape (power-law tracks, 5-250 long) when the generator is absent."""
    from spotifier.mpd.format import slice_name

    try:
        from spotifier.mpd.writer import dumps_slice  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        dumps_slice = None
    rng = np.random.default_rng(seed)
    n_tracks = 200_000
    artist_of = rng.integers(0, 30_000, n_tracks)
    album_of = artist_of * 3 + rng.integers(0, 3, n_tracks)
    weights = 1.0 / np.arange(1, n_tracks + 1) ** 0.9
    weights /= weights.sum()
    words = ["love", "night", "Beyoncé", "summer", "dance", "blue", "heart", "road", "fire", "rain"]
    (out / "data").mkdir(parents=True, exist_ok=True)
    for first in range(0, n_playlists, 1000):
        playlists = []
        for pid in range(first, min(first + 1000, n_playlists)):
            length = int(np.clip(rng.lognormal(3.9, 0.7), 5, 250))
            chosen = rng.choice(n_tracks, size=length, p=weights)
            tracks = [
                {
                    "pos": i,
                    "artist_name": f"{words[artist_of[t] % 10]} {artist_of[t]}",
                    "track_uri": f"spotify:track:{t:022d}",
                    "artist_uri": f"spotify:artist:{artist_of[t]:022d}",
                    "track_name": f"{words[t % 10]} {words[(t // 10) % 10]} {t}",
                    "album_uri": f"spotify:album:{album_of[t]:022d}",
                    "duration_ms": int(150_000 + (t * 7919) % 150_000),
                    "album_name": f"{words[album_of[t] % 10]} album {album_of[t]}",
                }
                for i, t in enumerate(chosen.tolist())
            ]
            playlists.append(
                {
                    "name": words[pid % 10],
                    "collaborative": "false",
                    "pid": pid,
                    "modified_at": 1500000000 - 86400 * (pid % 900),
                    "num_tracks": length,
                    "num_albums": len({t["album_uri"] for t in tracks}),
                    "num_followers": 1,
                    "tracks": tracks,
                    "num_edits": 2,
                    "duration_ms": sum(t["duration_ms"] for t in tracks),
                    "num_artists": len({t["artist_uri"] for t in tracks}),
                }
            )
        name = slice_name(first)
        info = f"{first}-{first + 999}"
        if dumps_slice is not None:
            text = dumps_slice(playlists, info, generated_on="2017-12-03 08:41:42.057563")
        else:
            doc = {
                "info": {"generated_on": "x", "slice": info, "version": "v1"},
                "playlists": playlists,
            }
            text = json.dumps(doc, indent=4).encode()
        (out / "data" / name).write_bytes(text)


def make_world(out: Path, n_playlists: int, seed: int) -> str:
    try:
        from spotifier.synth import generate  # type: ignore[attr-defined]
    except ImportError:
        _fallback_world(out, n_playlists, seed)
        return "bench fallback generator"
    generate(out, n_playlists, seed)
    return "spotifier.synth.generate"


def naive_load(files: list[Path]) -> tuple[int, int]:
    """What a first notebook does: json.load each slice, flatten with pandas, concatenate."""
    import pandas as pd

    playlists, entries = [], []
    for path in files:
        with gzip.open(path) if path.name.endswith(".gz") else path.open() as fh:
            data = json.load(fh)
        frame = pd.DataFrame(data["playlists"])
        playlists.append(frame.drop(columns=["tracks"]))
        entries.append(pd.json_normalize(data["playlists"], record_path="tracks", meta=["pid"]))
    p, e = pd.concat(playlists), pd.concat(entries)
    return len(p), len(e)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the parser processes)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - wall, _cpu() - cpu


def short_rev(rev: str) -> str:
    """Git's short name of revision `rev` in this repository."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def export_src(rev: str, into: Path) -> Path:
    """The `src/` folder of git revision `rev`, written under `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def ingest_process(src: Path, mpd: Path, home: Path, workers: int) -> tuple[float, float, int]:
    """`spotifier ingest` with the package at `src` in a process of its own: wall s, CPU s of
    it and its parser processes, playlists ingested."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, "-m", "spotifier", "--home", str(home), "-q", "ingest", str(mpd)]
    argv += ["--json"] + (["--workers", str(workers)] if workers else [])
    before = _cpu()
    wall = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - wall
    if done.returncode != 0:
        raise SystemExit(f"ingest with {src} failed:\n{done.stderr[-2000:]}")
    return wall, _cpu() - before, int(json.loads(done.stdout)["playlists"])


def first_slices(files: list[Path], n: int, into: Path) -> Path:
    """A folder of symbolic links to the first `n` slice files."""
    folder = into / "first" / "data"
    folder.mkdir(parents=True)
    for path in files[:n]:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def before_after(
    rev: str, source: Path, tmp: Path, rounds: int, workers: int, megabytes: float
) -> tuple[list[str], str]:
    """Table rows and a summary: REV's ingest and today's, alternating, `rounds` times."""
    short = short_rev(rev)
    variants = [(f"before ({short})", export_src(rev, tmp / "before")), ("now", REPO / "src")]
    walls: dict[str, list[float]] = {name: [] for name, _ in variants}
    cpus: dict[str, list[float]] = {name: [] for name, _ in variants}
    counts = set()
    for r in range(rounds):
        for name, src in variants if r % 2 == 0 else variants[::-1]:
            home = tmp / f"home-{len(walls[name])}-{name.split()[0]}"
            wall, cpu, n = ingest_process(src, source, home, workers)
            shutil.rmtree(home, ignore_errors=True)
            walls[name].append(wall)
            cpus[name].append(cpu)
            counts.add(n)
            speed = megabytes / wall
            print(f"round {r + 1}: {name}: {wall:.1f} s, {speed:,.1f} MB/s, {cpu:.1f} CPU s")
    if len(counts) != 1:
        raise SystemExit(f"the two revisions ingested different playlist counts: {counts}")
    rows = []
    for name, _ in variants:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        every = ", ".join(f"{w:.1f}" for w in walls[name])
        rows.append(
            f"| spotifier ingest, {name} | {wall:.1f} | {megabytes / wall:,.1f} | {cpu:.1f} | "
            f"{every} |"
        )
    old, new = (statistics.median(walls[name]) for name, _ in variants)
    old_cpu, new_cpu = (statistics.median(cpus[name]) for name, _ in variants)
    summary = (
        f"now vs {short}: wall {old / new:.2f}x as fast ({old:.1f} -> {new:.1f} s), CPU "
        f"{old_cpu:.1f} -> {new_cpu:.1f} s ({old_cpu / new_cpu:.2f}x less); medians of {rounds}, "
        "alternating"
    )
    return rows, summary


def _json_bytes(path: Path) -> int:
    """Bytes of JSON text in a slice file (a gzip file's trailer holds its size modulo 2**32)."""
    if not path.name.endswith(".gz"):
        return path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(-4, os.SEEK_END)
        return int.from_bytes(fh.read(4), "little")


def _against_naive(
    args: argparse.Namespace,
    source: Path,
    files: list[Path],
    tmp: Path,
    megabytes: float,
    cores: int,
) -> tuple[list[str], str, str]:
    from spotifier.store import ingest

    load_before = os.getloadavg()[0]
    workers = args.workers or None
    report, ours, ours_cpu = _timed(lambda: ingest(tmp / "home", source, workers=workers))
    resumed, rerun, rerun_cpu = _timed(lambda: ingest(tmp / "home", source, workers=workers))
    assert resumed.slices_skipped == len(files)
    rows = [  # (loader, wall s, CPU s, cores it can use)
        ("spotifier ingest (validate + DuckDB)", ours, ours_cpu, cores),
        ("spotifier ingest re-run (all slices skipped by md5)", rerun, rerun_cpu, cores),
    ]
    ratio = ""
    if not args.no_naive:
        (n_playlists, _), naive, naive_cpu = _timed(lambda: naive_load(files))
        assert n_playlists == report.playlists
        rows.insert(1, ("naive json.load + pandas (no validation, no store)", naive, naive_cpu, 1))
        ratio = f"; ingest wall-clock speed is {naive / ours:.2f}x the naive loader's"
    lines = [
        "| loader | wall s | MB/s | CPU s | MB/s CPU-bound estimate |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {sec:.2f} | {megabytes / sec:,.1f} | {cpu:.2f} | "
            f"{megabytes / max(cpu / usable, 1e-9):,.1f} |"
            for name, sec, cpu, usable in rows
        ),
    ]
    note = (
        "CPU-bound estimate = MB / (CPU s / cores the loader can use): what an otherwise idle "
        "machine would give, ignoring serial phases. MB are of JSON text."
    )
    summary = (
        f"{len(files)} slices, {megabytes:,.0f} MB, {report.playlists:,} playlists, "
        f"{report.entries:,} entries{ratio}; load average {load_before:.1f} -> "
        f"{os.getloadavg()[0]:.1f}"
    )
    return lines, summary, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpd", type=Path, help="existing folder of slices (default: generate)")
    parser.add_argument("--playlists", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="0: one per core")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--slices", type=int, help="only the first N slice files")
    parser.add_argument("--before", help="also ingest with this git revision's src/ (same run)")
    parser.add_argument("--rounds", type=int, default=1, help="--before: alternating rounds")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive pandas loader")
    args = parser.parse_args()

    from spotifier.mpd.reader import iter_slice_files
    from spotifier.progress import set_quiet

    set_quiet(True)
    tmp = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        source = args.mpd
        origin = f"--mpd {args.mpd}"
        if source is None:
            source = tmp / "world"
            t0 = time.perf_counter()
            origin = make_world(source, args.playlists, args.seed)
            print(
                f"generated {args.playlists:,} playlists with {origin} in "
                f"{time.perf_counter() - t0:.1f} s"
            )
        files = iter_slice_files(source)
        if args.slices:
            source = first_slices(files, args.slices, tmp)
            files = iter_slice_files(source)
        megabytes = sum(_json_bytes(p) for p in files) / 1e6
        cores = os.cpu_count() or 1
        load_before = os.getloadavg()[0]
        if args.before:
            table, summary = before_after(
                args.before, source, tmp, args.rounds, args.workers, megabytes
            )
            lines = [
                "| loader | median wall s | MB/s | median CPU s | every round's wall s |",
                "|---|---:|---:|---:|---|",
                *table,
            ]
            note = "MB are of JSON text (gzipped slices count their content)."
            summary = (
                f"{len(files)} slices, {megabytes:,.0f} MB of JSON; {summary}; load average "
                f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}"
            )
        else:
            lines, summary, note = _against_naive(args, source, files, tmp, megabytes, cores)
        print("\n".join(lines))
        print(summary)
        print(note)
        if not args.no_record:
            command = "python bench/ingest_bench.py " + " ".join(sys.argv[1:])
            machine = (
                f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
            )
            section = [
                f"\n## Ingest throughput ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)",
                f"- machine: {machine} ({platform.platform()})",
                f"- command: `{command.strip()}`; data: {origin}",
                f"- {summary}",
                "",
                *lines,
                "",
                note,
                "",
            ]
            with RESULTS.open("a") as fh:
                fh.write("\n".join(section))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
