"""The hybrid's CPU per query in-process at the server's batch sizes, now and at an older revision.

Each measurement is a fresh subprocess (`--worker`) that loads the home's trained `hybrid` the
way a `spotifier serve` worker does (one BLAS thread, the ranker compiled and waited for), then
times `recommend(k=500)` over `--queries` 25-seed queries from the store's playlists (with their
titles) in batches of each `--batch` size, with `time.process_time()`. With `--before REV` the
same is done with REV's whole `src/` (its models and its compiler), alternating before / now in
every round, so both see the same machine. Prints a table and appends it to bench/RESULTS.md.

    python bench/hybrid_cpu.py --home H --before e0c1ac8 --batch 8 16 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def worker(home: Path, batch: int, n: int) -> None:
    """Load the hybrid as a server worker would and print its CPU ms per query (JSON)."""
    os.environ["SPOTIFIER_NATIVE_RANKER"] = "1"
    import numpy as np
    from threadpoolctl import threadpool_limits

    from spotifier import store
    from spotifier.data import Query
    from spotifier.home import Home
    from spotifier.models import registry

    threadpool_limits(limits=1)
    h = Home.resolve(home)
    model = registry.load(h.root / "models" / "hybrid")
    ranker = getattr(model, "reranker", None)
    if ranker is not None and hasattr(ranker.booster, "wait"):
        ranker.booster.wait(600)
    inter = store.load_interactions(h)
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(inter.lengths() >= 26), n + batch, replace=False)
    titles = inter.titles
    queries = [
        Query(
            seeds=inter.playlist(r)[:25].astype(np.int64),
            name=str(titles[r]) if titles is not None else None,
        )
        for r in rows.tolist()
    ]
    model.recommend(queries[n:], k=500)  # warm (queries not timed)
    started = time.process_time()
    for at in range(0, n, batch):
        model.recommend(queries[at : at + batch], k=500)
    print(json.dumps({"ms": (time.process_time() - started) / n * 1000}))


def measure(src: Path, home: Path, batch: int, n: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--worker", "--home", str(home), "--batch", str(batch)]
    cmd += ["--queries", str(n)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, type=Path, help="a home with a trained hybrid")
    parser.add_argument("--before", help="also time this git revision's src/ (same run)")
    parser.add_argument("--batch", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--queries", type=int, default=192, help="queries timed per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.worker:
        worker(args.home, args.batch[0], args.queries)
        return

    from serve_bench import export_src

    tmp = tempfile.TemporaryDirectory(prefix="hybrid-cpu-")
    sides = [("now", REPO / "src")]
    if args.before:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", args.before],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        sides.insert(0, (f"before ({rev})", export_src(args.before, Path(tmp.name), "all")))
    times: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for batch in args.batch:
            for label, src in sides:
                ms = measure(src, args.home, batch, args.queries)
                times.setdefault((label, batch), []).append(ms)
                print(f"round {round_ + 1}, batch {batch}, {label}: {ms:.2f} ms/query", flush=True)
    head = "| batch | " + " | ".join(f"{label} ms/query" for label, _ in sides) + " |"
    lines = [head, "|---:|" + "---:|" * len(sides)]
    for batch in args.batch:
        cells = [", ".join(f"{t:.2f}" for t in times[(label, batch)]) for label, _ in sides]
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if not args.no_record:
        from models_bench import append_results

        detail = (
            f"{args.queries} 25-seed queries with titles, k=500, one BLAS thread, ranker "
            f"compiled; every round's figure, sides alternating; load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        append_results("Hybrid CPU per query in-process", [detail, "", *lines])


if __name__ == "__main__":
    main()
