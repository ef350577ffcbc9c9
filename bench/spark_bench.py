"""Spark MLlib ALS vs implicit's ALS: fit time on the same playlists, side by side.

    .venv/bin/python bench/spark_bench.py [--playlists 10000] [--factors 64] [--iterations 15]
                                          [--master local[2]] [--no-append]

Generates a world (or reuses one in --work), ingests it with DuckDB, holds out the tail of every
10th playlist, then fits `als` twice with the same ALSConfig: implicit (the default engine) and
Spark MLlib (`spotifier.spark.fit_als`). Reports the fit seconds (Spark's JVM start separately),
the ratio, and recall@50 of the held-out tracks for both, and appends a section to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spotifier import store
from spotifier.data import Interactions, Query, TrainingData
from spotifier.home import Home
from spotifier.metrics import recall_at
from spotifier.models.als import ALS, ALSConfig

RESULTS = Path(__file__).with_name("RESULTS.md")


def hold_out(inter: Interactions, every: int = 10, keep: int = 10):
    """Every `every`-th playlist with >= 2·keep tracks keeps its first `keep`; the rest is truth."""
    playlists, queries, truths = [], [], []
    for row in range(inter.n_playlists):
        tracks = inter.playlist(row).tolist()
        if row % every == 0 and len(tracks) >= 2 * keep:
            truth = set(tracks[keep:]) - set(tracks[:keep])
            if truth:
                queries.append(Query(seeds=np.asarray(tracks[:keep])))
                truths.append(truth)
                tracks = tracks[:keep]
        playlists.append(tracks)
    return Interactions.from_lists(playlists, inter.n_tracks), queries, truths


def recall(model: ALS, queries: list[Query], truths: list[set[int]], k: int = 50) -> float:
    recs = model.recommend(queries, k=k)
    return float(np.mean([recall_at(recs.row(i)[0].tolist(), t, k) for i, t in enumerate(truths)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--playlists", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--memory", default="4g")
    parser.add_argument("--work", type=Path, default=None, help="Keep the world and store here.")
    parser.add_argument("--no-append", action="store_true", help="Do not write RESULTS.md.")
    args = parser.parse_args()

    from spotifier.spark import fit_als, session, stop
    from spotifier.synth import generate

    work = args.work or Path(tempfile.mkdtemp(prefix="spark-bench-"))
    world, home = work / f"world-{args.playlists}-{args.seed}", Home(work / "home")
    if not (world / "data").exists():
        generate(world, args.playlists, seed=args.seed)
    store.ingest(home, world)
    full = store.load_interactions(home)
    train, queries, truths = hold_out(full)
    data = TrainingData.from_catalog(train, store.load_catalog(home))
    config = ALSConfig(factors=args.factors, iterations=args.iterations)

    started = time.perf_counter()
    local = ALS(config).fit(data)
    implicit_s = time.perf_counter() - started

    started = time.perf_counter()
    session(args.master, args.memory)
    jvm_s = time.perf_counter() - started
    started = time.perf_counter()
    spark = fit_als(data, config, args.master)
    spark_s = time.perf_counter() - started
    stop()

    rows = [
        ("implicit ALS (CPU)", implicit_s, recall(local, queries, truths)),
        (f"Spark MLlib ALS ({args.master})", spark_s, recall(spark, queries, truths)),
    ]
    shape = (
        f"{train.n_playlists:,} playlists x {train.n_tracks:,} tracks, "
        f"{train.binary.nnz:,} non-zeros; factors={args.factors}, iterations={args.iterations}"
    )
    lines = [
        "| engine | fit seconds | recall@50 (held-out tails) |",
        "|---|---:|---:|",
        *[f"| {name} | {secs:.1f} | {rec:.4f} |" for name, secs, rec in rows],
        "",
        f"Spark / implicit fit time: **{spark_s / implicit_s:.1f}x** "
        f"(plus {jvm_s:.1f} s to start the Spark JVM, not counted above).",
    ]
    print(shape)
    print("\n".join(lines))
    if args.no_append:
        return
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    command = "python " + " ".join(["bench/spark_bench.py", *sys.argv[1:]])
    section = [
        f"\n## Spark ALS vs implicit ALS ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n",
        f"Machine: {machine} ({platform.platform()}). Command: `{command}`.",
        f"Data: generated world of {args.playlists:,} playlists (seed {args.seed}); {shape}.\n",
        *lines,
        "",
    ]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section) + "\n")


if __name__ == "__main__":
    main()
