"""seed-baseline vs playlist-knn on the seed's hide-first protocol, side by side on the same queries

    python bench/baseline_vs_knn.py --home HOME [--playlists 10000] [--queries 200] [--seed 0]

Takes the first --playlists playlists of the ingested store, splits them 90/10 into bank and test
(as the seed did), hides each test playlist's first track and asks both models, fitted on the bank,
for 100 tracks. seed-baseline (a Python loop over the bank per query) answers --queries test
playlists; playlist-knn answers the same ones and then all of them. Reports seconds per query,
hit@100 and the speed ratio, and appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from models_bench import append_results, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True)
    parser.add_argument("--playlists", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--knn-set",
        nargs="*",
        default=[],
        help="Extra playlist-knn configs to time (key=value,...)",
    )
    args = parser.parse_args()

    from spotifier.data import TrainingData
    from spotifier.home import Home
    from spotifier.metrics import hit_at
    from spotifier.models import create
    from spotifier.progress import set_quiet
    from spotifier.split.sampling import hide_first_case
    from spotifier.store import load_catalog, load_interactions

    set_quiet(True)
    home = Home.resolve(args.home)
    everything = load_interactions(home)
    n = min(args.playlists, everything.n_playlists)
    inter = everything.subset(np.arange(n))
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n)
    bank_rows, test_rows = np.sort(order[: n * 9 // 10]), np.sort(order[n * 9 // 10 :])
    cases = [c for c in (hide_first_case(inter, int(r)) for r in test_rows) if c is not None]
    data = TrainingData.from_catalog(inter.subset(bank_rows), load_catalog(home))
    sample = cases[: args.queries]
    print(
        f"bank {len(bank_rows):,} playlists; {len(cases)} test playlists; "
        f"seed-baseline on {len(sample)}",
        flush=True,
    )

    def run(name: str, which: list, settings: list[str] | None = None) -> tuple[float, float]:
        model = create(name, settings or []).fit(data)
        started = time.perf_counter()
        items = model.recommend([c.query for c in which], k=100).items
        per_query = (time.perf_counter() - started) / len(which)
        hits = [
            hit_at(row[row >= 0].tolist(), c.truth.tolist(), 100)
            for row, c in zip(items, which, strict=True)
        ]
        return per_query, float(np.mean(hits))

    rows_extra: list[list[object]] = []
    base_t, base_hit = run("seed-baseline", sample)
    knn_t, knn_hit = run("playlist-knn", sample)
    all_t, all_hit = run("playlist-knn", cases)
    for extra in args.knn_set:
        t, hit = run("playlist-knn", sample, extra.split(","))
        rows_extra.append(
            [
                f"playlist-knn {extra}",
                len(sample),
                f"{1000 * t:.2f}",
                f"{hit:.3f}",
                f"{base_t / t:.0f}x",
            ]
        )
    rows = [
        ["seed-baseline", len(sample), f"{1000 * base_t:.2f}", f"{base_hit:.3f}", "1"],
        [
            "playlist-knn",
            len(sample),
            f"{1000 * knn_t:.2f}",
            f"{knn_hit:.3f}",
            f"{base_t / knn_t:.0f}x",
        ],
        [
            "playlist-knn (all test)",
            len(cases),
            f"{1000 * all_t:.2f}",
            f"{all_hit:.3f}",
            f"{base_t / all_t:.0f}x",
        ],
        *rows_extra,
    ]
    lines = [
        f"Hide-first protocol on the first {n:,} playlists of the store in `{args.home}`: bank "
        f"{len(bank_rows):,}, test {len(cases)} (first track hidden), k = 100, default configs.",
        "",
        *table(["model", "queries", "ms / query", "hit@100", "speed vs seed-baseline"], rows),
    ]
    print("\n".join(lines))
    append_results(f"baseline_vs_knn ({n:,} playlists)", lines)


if __name__ == "__main__":
    main()
