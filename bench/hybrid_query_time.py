"""The hybrid's query-time settings against its metrics: the ranker's cascade and the candidate
depths, side by side.

Loads (or trains) `hybrid` on a split, then for each `--variants` entry `TREES:KEEP` (the first
TREES trees score every candidate, each query's best KEEP get the rest; `0:0` = every tree for
every candidate) or `CANDIDATES:ALBUM:TREES:KEEP` (also each generator's top CANDIDATES and up to
ALBUM album mates, instead of the trained `candidates` and `album_candidates`) recommends the
split's held-out playlists and reports R-precision, NDCG and clicks (the challenge's metrics, as
`spotifier evaluate` computes them), how many lists are the same as the first variant's, and the
CPU time per query at the server's batch size (`--batch`; the ranker compiled and one BLAS
thread, as a `spotifier serve` worker runs it). These settings are read only at query time, so
one trained model serves every variant (a ranker trained at other depths would do somewhat
better at them: docs/hybrid.md). Appends a section to bench/RESULTS.md.

    python bench/hybrid_query_time.py --home H --split default --variants 50:600 25:300 20:200
    python bench/hybrid_query_time.py --home H --variants 400:200:50:600 250:200:50:600
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--split", default="default")
    parser.add_argument("--variants", nargs="+", default=["50:600", "25:300", "20:200"])
    parser.add_argument("--batch", type=int, default=16, help="queries per call when timing")
    parser.add_argument("--timed", type=int, default=400, help="seeded queries timed per variant")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("SPOTIFIER_NATIVE_RANKER", "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # one BLAS / OpenMP thread, as each `spotifier serve` worker

    from spotifier.evaluation.harness import resolve_split
    from spotifier.evaluation.runner import recommend_cases, score_cases
    from spotifier.home import Home
    from spotifier.metrics import aggregate
    from spotifier.models import persist
    from spotifier.models.hybrid import Hybrid
    from spotifier.models.hybrid.ranker import Reranker
    from spotifier.models.ranker_native import native_ranker
    from spotifier.store import load_catalog

    home = Home.resolve(args.home)
    split = resolve_split(home, args.split, None)
    chain = persist.load_chain(home, "hybrid", split.name)
    model = chain.primary
    assert isinstance(model, Hybrid) and model.reranker is not None, "needs a trained ranker"
    raw = getattr(model.reranker.booster, "booster", model.reranker.booster)
    catalog = load_catalog(home)
    cases = list(split.cases)
    seeded = [c.query for c in cases if len(c.query.seeds)][: args.timed]

    table, first_items = [], None
    trained, side = model.config, model.side
    for variant in args.variants:
        fields = [int(v) for v in variant.split(":")]
        if len(fields) not in (2, 4):
            parser.error(f"--variants {variant}: TREES:KEEP or CANDIDATES:ALBUM:TREES:KEEP")
        trees, keep = fields[-2:]
        depth, album = fields[:2] if len(fields) == 4 else (None, None)
        model.config = replace(
            trained,
            candidates=depth or trained.candidates,
            album_candidates=trained.album_candidates if album is None else album,
        )
        model.side = replace(side, album_candidates=model.config.album_candidates)
        booster = native_ranker(raw, [trees], background=False)
        model.reranker = Reranker(booster, trees, max(keep, 1))
        chain.recommend(seeded[: args.batch], 500)  # warm
        started = time.process_time()
        for at in range(0, len(seeded), args.batch):
            chain.recommend(seeded[at : at + args.batch], 500)
        cpu_ms = (time.process_time() - started) / len(seeded) * 1000
        items, _seconds = recommend_cases(chain, cases, label=f"cascade {variant}")
        overall, _ = aggregate(score_cases(cases, items, catalog.track_artist))
        same = 1.0 if first_items is None else float(np.mean((items == first_items).all(axis=1)))
        first_items = items if first_items is None else first_items
        row = (variant, overall["r_precision"], overall["ndcg"], overall["clicks"], same, cpu_ms)
        table.append(row)
        print(
            f"{variant:>8}  R-prec {row[1]:.4f}  NDCG {row[2]:.4f}  clicks {row[3]:.2f}  "
            f"same lists {same:.1%}  CPU {cpu_ms:.2f} ms/query",
            flush=True,
        )
    lines = [
        "| variant | R-prec | NDCG | clicks | lists same as the first | CPU ms/query |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {v} | {r:.4f} | {n:.4f} | {c:.2f} | {s:.1%} | {ms:.2f} |"
            for v, r, n, c, s, ms in table
        ),
    ]
    print("\n".join(lines))
    if not args.no_results:
        from models_bench import append_results

        detail = (
            f"split '{split.name}': {len(cases)} held-out playlists; CPU per query over "
            f"{len(seeded)} seeded queries in batches of {args.batch}, compiled ranker, one BLAS "
            f"thread; load average {os.getloadavg()[0]:.1f}"
        )
        append_results("Hybrid query-time settings", [detail, "", *lines])


if __name__ == "__main__":
    main()
