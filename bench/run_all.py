"""`make bench`: every benchmark in bench/ at its everyday size, one after the other.

Each script times itself, prints its table and appends a section to bench/RESULTS.md. The
full-scale run (1M playlists, about an hour) is separate: `make bench-full`.

    python bench/run_all.py [--home DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPOTIFIER = [sys.executable, "-m", "spotifier"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/spotifier-bench/home"))
    parser.add_argument("--playlists", type=int, default=20_000, help="world for the model benches")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks (script stems)")
    args = parser.parse_args()

    home = str(args.home)
    world = str(args.home.parent / "world")
    # The model benches share one generated, ingested and split world.
    prepare = [
        [*SPOTIFIER, "generate", world, "--playlists", str(args.playlists), "--force"],
        [*SPOTIFIER, "--home", home, "ingest", world],
        [*SPOTIFIER, "--home", home, "split", "--name", "default"],
    ]
    benches = {
        "generate_bench": ["--write", "20000,100000", "--growth", "20000,50000"],
        "ingest_bench": ["--playlists", "10000"],
        "baseline_vs_knn": ["--home", home, "--playlists", "10000", "--queries", "200"],
        "models_bench": ["speed", "--home", home, "--queries", "10000"],
        "hybrid_bench": ["--home", home, "--queries", "2000"],
        "serve_bench": ["--home", str(args.home.parent / "serve"), "--playlists", "20000"],
        "spark_bench": ["--playlists", "5000"],
    }
    chosen = args.only or list(benches)
    needs_world = {"baseline_vs_knn", "models_bench", "hybrid_bench"}
    started = time.perf_counter()
    if needs_world & set(chosen) and not (args.home / "splits" / "default").exists():
        for command in prepare:
            print("$", " ".join(command), flush=True)
            subprocess.run(command, check=True)
    failed = []
    for name in chosen:
        command = [sys.executable, str(HERE / f"{name}.py"), *benches[name]]
        print("$", " ".join(command), flush=True)
        if subprocess.run(command).returncode != 0:
            failed.append(name)
    print(f"benchmarks done in {time.perf_counter() - started:.0f} s; results in bench/RESULTS.md")
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
