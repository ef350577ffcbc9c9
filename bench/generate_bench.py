"""Synthetic MPD generator: speed, catalog growth vs N, and the oracle's ranking speed.

    python bench/generate_bench.py [--write 20000,100000] [--growth 20000,50000,100000,200000]
                                   [--million] [--write-million] [--oracle 10000]
    python bench/generate_bench.py --before d99d8cb --before-size 100000 --rounds 2 --gzip \
                                   --write "" --growth "" --oracle 0

1. Writes worlds of each --write size (to a temporary folder, removed afterwards) and reports
   playlists/s and MB/s (wall and CPU).
2. Generates without writing at each --growth size and counts the unique tracks, albums, artists
   and normalized titles the playlists use; fits `unique = a · N^b` on the two largest sizes and
   extrapolates to N = 1,000,000, beside the official figures (MPD.md). --million adds a direct
   measurement at 1M (no files written, a few minutes); --write-million writes one (about 33 GB).
3. Ranks --oracle playlists of the 20k world (k = 500, first 5 tracks excluded) with the oracle.
4. With --before REV: `spotifier generate --before-size N` with git revision REV's `src/` and with
   today's, each in a process of its own, alternating --rounds times (the same world: the files
   are compared, and must be equal unless --gzip, whose compressor may differ).
Appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

OFFICIAL = {"unique_tracks": 2_262_292, "unique_albums": 734_684, "unique_artists": 295_860,
            "unique_normalized_titles": 17_381}  # fmt: skip


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def generate_process(src: Path, out: Path, args: argparse.Namespace) -> tuple[float, float]:
    """`spotifier generate` with the package at `src`, in a process of its own: wall s, CPU s."""
    argv = [sys.executable, "-m", "spotifier", "-q", "generate", str(out)]
    argv += ["--playlists", str(args.before_size), "--seed", str(args.seed)]
    argv += ["--gzip"] if args.gzip else []
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    done = subprocess.run(argv, env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"generate with {src} failed:\n{done.stderr.decode()[-2000:]}")
    return wall, cpu_seconds() - cpu0


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    if names != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def before_after(args: argparse.Namespace, scratch: Path) -> str:
    """REV's generate and today's, alternating: a table and the ratio of the medians."""
    from ingest_bench import REPO, export_src, short_rev

    short = short_rev(args.before)
    variants = [
        (f"before ({short})", export_src(args.before, scratch / "before")),
        ("now", REPO / "src"),
    ]
    walls: dict[str, list[float]] = {name: [] for name, _ in variants}
    cpus: dict[str, list[float]] = {name: [] for name, _ in variants}
    for r in range(args.rounds):
        for name, src in variants if r % 2 == 0 else variants[::-1]:
            out = scratch / f"ab-{name.split()[0]}"
            shutil.rmtree(out, ignore_errors=True)
            wall, cpu = generate_process(src, out, args)
            walls[name].append(wall)
            cpus[name].append(cpu)
            print(f"round {r + 1}: {name}: {wall:.1f} s wall, {cpu:.1f} CPU s", flush=True)
    same = _same_files(scratch / "ab-before", scratch / "ab-now")
    if not same and not args.gzip:
        raise SystemExit("the two revisions wrote different worlds")
    rows = [
        [name, f"{statistics.median(walls[name]):.1f}", f"{statistics.median(cpus[name]):.1f}",
         ", ".join(f"{w:.1f}" for w in walls[name])]
        for name, _ in variants
    ]  # fmt: skip
    (old, new), (old_cpu, new_cpu) = (
        [statistics.median(d[name]) for name, _ in variants] for d in (walls, cpus)
    )
    return (
        f"generate --playlists {args.before_size:,}{' --gzip' if args.gzip else ''}, now vs "
        f"{short}, alternating, medians of {args.rounds}: wall {old / new:.2f}x as fast, CPU "
        f"{old_cpu / new_cpu:.2f}x less; files {'identical' if same else 'differ (gzip)'}\n\n"
        + table(["revision", "wall s", "CPU s", "every run (wall s)"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", default="20000,100000")
    parser.add_argument("--growth", default="20000,50000,100000,200000")
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--write-million", action="store_true")
    parser.add_argument("--oracle", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before", help="also time this git revision's generate (same run)")
    parser.add_argument("--before-size", type=int, default=100_000, help="--before: playlists")
    parser.add_argument("--rounds", type=int, default=2, help="--before: alternating rounds")
    parser.add_argument("--gzip", action="store_true", help="--before: generate --gzip")
    args = parser.parse_args()

    from spotifier.progress import set_quiet
    from spotifier.synth import Oracle, generate

    set_quiet(True)
    started_at = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="generate_bench."))
    sections = []
    try:
        # 1. speed
        rows = []
        write_sizes = sizes(args.write) + ([1_000_000] if args.write_million else [])
        world_20k = None
        for n in write_sizes:
            out = scratch / f"w{n}"
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            report = generate(out, n_playlists=n, seed=args.seed)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
            mb = report.bytes / 1e6
            rate = [f"{n / wall:,.0f}", f"{mb / wall:,.1f}"]
            rows.append(
                [f"{n:,}", f"{wall:.1f}", f"{cpu:.1f}", *rate, f"{mb:,.0f}", f"{report.entries:,}"]
            )
            print(f"write {n:,}: {wall:.1f}s wall, {cpu:.1f}s CPU, {mb:,.0f} MB", flush=True)
            if n == 20_000 and args.oracle:
                world_20k = out
            else:
                shutil.rmtree(out)
        if rows:
            sections.append(
                "Generation speed (both cores, slices in worker processes; CPU s = all processes)"
                + "\n\n"
                + table(
                    ["playlists", "wall s", "CPU s", "playlists/s", "MB/s", "MB", "entries"], rows
                )
            )

        # 2. catalog growth
        growth = sizes(args.growth) + ([1_000_000] if args.million else [])
        reports = []
        for n in growth:
            t0 = time.perf_counter()
            reports.append(generate(None, n_playlists=n, seed=args.seed))
            print(f"growth {n:,}: {time.perf_counter() - t0:.1f}s", flush=True)
        keys = list(OFFICIAL)
        rows = [
            [f"{r.playlists:,}", *(f"{getattr(r, k):,}" for k in keys), f"{r.top_track_share:.1%}"]
            for r in reports
        ]
        fit = sorted((r for r in reports if r.playlists < 1_000_000), key=lambda r: r.playlists)[
            -2:
        ]
        laws, projected = [], []
        for k in keys if len(fit) == 2 else []:
            (n1, y1), (n2, y2) = [(r.playlists, getattr(r, k)) for r in fit]
            b = float(np.log(y2 / y1) / np.log(n2 / n1))
            at_million = y2 * (1_000_000 / n2) ** b
            laws.append(f"{k} ∝ N^{b:.3f}")
            projected.append(f"{at_million:,.0f} ({at_million / OFFICIAL[k] - 1:+.0%})")
        if projected:
            rows.append(["1,000,000 (fit)", *projected, ""])
        rows.append(["official MPD", *(f"{OFFICIAL[k]:,}" for k in keys), "4.7%"])
        if reports:
            sections.append(
                "Catalog growth: unique items the playlists use (top track = share of playlists "
                "holding the most common track); the fit uses the two largest sizes below 1M: "
                + ", ".join(laws)
                + "\n\n"
                + table(
                    ["playlists", "tracks", "albums", "artists", "normalized titles", "top track"],
                    rows,
                )
            )

        # 3. oracle
        if world_20k is not None:
            t0 = time.perf_counter()
            oracle = Oracle.load(world_20k / "truth")
            load_s = time.perf_counter() - t0
            pids, excludes = [], []
            for path in sorted((world_20k / "data").glob("*.json")):
                for p in orjson.loads(path.read_bytes())["playlists"]:
                    pids.append(p["pid"])
                    excludes.append([t["track_uri"] for t in p["tracks"][:5]])
                if len(pids) >= args.oracle:
                    break
            pids, excludes = pids[: args.oracle], excludes[: args.oracle]
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            oracle.rank_many(pids, 500, excludes)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
            sections.append(
                f"Oracle on the 20k world: load {load_s:.1f}s; rank_many of {len(pids):,} "
                f"playlists (k=500, 5 seeds excluded) {wall:.1f}s wall, {cpu:.1f}s CPU "
                f"({wall / len(pids) * 1000:.2f} ms per playlist)"
            )
            print(sections[-1], flush=True)
        # 4. before / after
        if args.before:
            sections.append(before_after(args, scratch))
            print(sections[-1], flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    command = "python bench/generate_bench.py " + shlex.join(sys.argv[1:])
    text = (
        f"\n## Synthetic MPD generator ({started_at:%Y-%m-%d %H:%M} UTC)\n"
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.platform()})\n"
        f"- command: `{command.strip()}`; load average {load_before:.1f} -> "
        f"{os.getloadavg()[0]:.1f} (machine shared with other jobs: wall times are pessimistic, "
        "CPU s are the better guide)\n\n" + "\n\n".join(sections) + "\n"
    )
    print(text)
    with open(Path(__file__).parent / "RESULTS.md", "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
