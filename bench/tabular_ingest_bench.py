"""Tabular ingest vs MPD-JSON ingest of the same generated world, side by side in one run.

    python bench/tabular_ingest_bench.py --playlists 100000
    python bench/tabular_ingest_bench.py --playlists 1000000 --work /big/disk --keep

Generates the world twice with `spotifier generate` (`--format mpd` and `--format parquet`,
the same playlists; generation is not timed as ingest), then runs `spotifier ingest` on each
into a fresh home, each as its own process, and checks that both stores give identical
`spotifier stats --json`. Prints a table and appends a section to bench/RESULTS.md: wall time,
entries/s, the process's peak RSS, and the time 66 million entries (the size of a 1M-playlist
world) would take at the measured rate (an extrapolation when the world is smaller; say so).

The target (issue 15): 66 million entries from Parquet in under 3 minutes on this 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
TARGET_ENTRIES, TARGET_SECONDS = 66_000_000, 180.0


def _spotifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spotifier", "--quiet", *args],
        capture_output=True,
        text=True,
        check=True,
    )


def _timed_ingest(home: Path, world: Path) -> dict[str, Any]:
    """One `spotifier ingest` process: wall seconds, its report, and its peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = _spotifier("--home", str(home), "ingest", str(world), "--json")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(done.stdout)
    return {
        "seconds": seconds,
        "entries": report["entries"],
        "playlists": report["playlists"],
        # (RUSAGE_CHILDREN is the largest child so far: a later, smaller one does not lower it)
        "peak_mb": max(peak, before) / 1024,
        "megabytes": sum(f.stat().st_size for f in world.rglob("*") if f.is_file()) / 1e6,
    }


def _stats(home: Path) -> dict[str, Any]:
    return json.loads(_spotifier("--home", str(home), "stats", "--json").stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--playlists", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="Folder for worlds and homes.")
    parser.add_argument("--keep", action="store_true", help="Keep the worlds and homes.")
    parser.add_argument("--no-results", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tabular-bench-", dir=args.work))
    load_start = os.getloadavg()[0]
    rows: dict[str, dict[str, Any]] = {}
    generate_seconds: dict[str, float] = {}
    try:
        for fmt in ("mpd", "parquet"):
            start = time.perf_counter()
            _spotifier(
                "generate", str(work / f"world-{fmt}"), "-n", str(args.playlists),
                "--seed", str(args.seed), "--format", fmt,
            )  # fmt: skip
            generate_seconds[fmt] = time.perf_counter() - start
        for fmt in ("mpd", "parquet"):
            rows[fmt] = _timed_ingest(work / f"home-{fmt}", work / f"world-{fmt}" / "data")
        same = _stats(work / "home-mpd") == _stats(work / "home-parquet")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()[0]
    extrapolated = rows["parquet"]["entries"] < TARGET_ENTRIES
    lines = [
        "| input | files MB | playlists | entries | ingest s | entries/s | peak MB | "
        "66M entries at this rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fmt, row in rows.items():
        rate = row["entries"] / row["seconds"]
        lines.append(
            f"| {'MPD JSON' if fmt == 'mpd' else 'Parquet'} | {row['megabytes']:,.0f} | "
            f"{row['playlists']:,} | {row['entries']:,} | {row['seconds']:,.1f} | {rate:,.0f} | "
            f"{row['peak_mb']:,.0f} | {TARGET_ENTRIES / rate:,.0f} s |"
        )
    parquet_rate = rows["parquet"]["entries"] / rows["parquet"]["seconds"]
    at_target = TARGET_ENTRIES / parquet_rate
    verdict = "met" if at_target < TARGET_SECONDS else "not met"
    speedup = rows["mpd"]["seconds"] / rows["parquet"]["seconds"]
    notes = [
        f"- Parquet ingest is {speedup:.1f}x the MPD-JSON ingest's speed on the same world; "
        f"both stores give identical `stats --json`: {'yes' if same else 'NO'}.",
        f"- Target: {TARGET_ENTRIES:,} entries from Parquet in < {TARGET_SECONDS:.0f} s: "
        f"{at_target:,.0f} s {'(extrapolated from this size) ' if extrapolated else ''}"
        f"-> {verdict}.",
        f"- Generation (not part of ingest): MPD {generate_seconds['mpd']:,.0f} s, "
        f"Parquet {generate_seconds['parquet']:,.0f} s.",
    ]
    table = "\n".join([*lines, "", *notes])
    print(table)
    if args.no_results:
        return
    machine = f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} cores"
    command = "python bench/tabular_ingest_bench.py " + " ".join(sys.argv[1:])
    section = (
        f"\n## tabular_ingest_bench ({dt.date.today().isoformat()})\n\n"
        f"Machine: {machine}; 1-minute load average {load_start:.1f} at the start, "
        f"{load_end:.1f} at the end.\nCommand: `{command.strip()}`\n"
        f"World: `spotifier generate --playlists {args.playlists} --seed {args.seed}`, as MPD "
        "slices and as Parquet parts (`--format parquet`); each ingest is one "
        "`spotifier ingest DIR --json` process into a fresh home.\n\n" + table + "\n"
    )
    with RESULTS.open("a") as fh:
        fh.write(section)


if __name__ == "__main__":
    main()
