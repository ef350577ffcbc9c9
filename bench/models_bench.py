"""Per-model fit time, recommend time and peak memory; and the validation grid behind the defaults.

    # speed: every classical model on an ingested world (each in its own process, for peak RSS)
    python bench/models_bench.py speed --home HOME [--split default] [--queries 10000]
    # tune: small grids on validation playlists cut from the training data (not the held-out)
    python bench/models_bench.py tune --home HOME [--split default] [--validation 1000]

`speed` uses the split's held-out challenge playlists as queries (repeated when the split has fewer
than --queries). `tune` removes --validation training playlists, cuts challenge-like cases from them
with `spotifier.split.sample_challenge`, fits on the rest and scores each config on those cases.
Both print a table and append a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).with_name("RESULTS.md")
SPEED_MODELS = ["popularity", "playlist-knn", "item-knn", "als", "ease", "rp3beta", "title"]

#: The grids searched by `tune` (kept small: the machine is shared).
GRIDS: dict[str, dict[str, list[Any]]] = {
    "playlist-knn": {"neighbours": [50, 100, 200, 400], "alpha": [0.5, 0.8], "power": [1.0, 2.0]},
    "item-knn": {"damping": [0.0, 0.2, 0.35, 0.5], "similarity": ["cosine", "bm25"]},
    "item-knn-quick": {"damping": [-0.2, 0.1]},
    "rp3beta": {"alpha": [0.7, 1.0], "beta": [0.0, 0.15, 0.3]},
    "als": {"factors": [64, 128], "alpha": [10.0, 40.0]},
    "als-quick": {"factors": [128], "alpha": [5.0, 20.0]},
    "ease": {"n_items": [2000, 4000], "l2": [50.0, 200.0, 800.0]},
    "title": {
        "neighbours": [20, 50, 100],
        "power": [1.0, 2.0, 4.0],
        "group_exponent": [0.0, 0.5, 1.0],
    },
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def append_results(title: str, lines: list[str]) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python " + " ".join(sys.argv)
    text = [f"\n## {title}\n", f"{stamp}; {machine()}", "", f"`{command}`", "", *lines, ""]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(text) + "\n")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


# --------------------------------------------------------------------------- speed
def speed_one(home: str, split: str, name: str, n_queries: int) -> dict[str, Any]:
    """Fit and recommend one model in this process; report seconds and peak RSS."""
    from spotifier.data import TrainingData
    from spotifier.home import Home
    from spotifier.models import create
    from spotifier.split import load_split, load_training_interactions
    from spotifier.store import load_catalog

    h = Home.resolve(home)
    data = TrainingData.from_catalog(load_training_interactions(h, split), load_catalog(h))
    queries = [c.query for c in load_split(h, split).cases]
    queries = (queries * (n_queries // max(len(queries), 1) + 1))[:n_queries]
    model = create(name)
    started = time.perf_counter()
    model.fit(data)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    model.recommend(queries, k=500)
    rec = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "model": name,
        "fit_s": fit,
        "recommend_s": rec,
        "queries": len(queries),
        "peak_mb": peak_mb,
    }


def speed(args: argparse.Namespace) -> None:
    rows = []
    for name in args.models or SPEED_MODELS:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "_one",
                "--home",
                args.home,
                "--split",
                args.split,
                "--queries",
                str(args.queries),
                "--model",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(
            [
                name,
                f"{r['fit_s']:.1f}",
                f"{r['recommend_s']:.1f}",
                f"{1000 * r['recommend_s'] / r['queries']:.2f}",
                f"{r['peak_mb']:.0f}",
            ]
        )
        print(rows[-1], flush=True)
    from spotifier.home import Home
    from spotifier.split import load_training_interactions

    inter = load_training_interactions(Home.resolve(args.home), args.split)
    header = [
        "model",
        "fit s",
        f"recommend s ({args.queries} playlists, k=500)",
        "ms / playlist",
        "peak RSS MB",
    ]
    lines = [
        f"Training: {inter.n_playlists:,} playlists, {inter.n_entries:,} entries, "
        f"{int((inter.track_counts > 0).sum()):,} distinct tracks (split '{args.split}').",
        "",
        *table(header, rows),
    ]
    print("\n".join(lines))
    append_results("models_bench speed", lines)


# --------------------------------------------------------------------------- tune
def tune(args: argparse.Namespace) -> None:
    from spotifier.data import TrainingData
    from spotifier.evaluation.runner import score_cases
    from spotifier.home import Home
    from spotifier.metrics.runner import aggregate
    from spotifier.models import create
    from spotifier.split import load_training_interactions, sample_challenge
    from spotifier.store import load_catalog

    home = Home.resolve(args.home)
    catalog = load_catalog(home)
    inter = load_training_interactions(home, args.split)
    rng = np.random.default_rng(args.seed)
    eligible = np.flatnonzero(inter.lengths() >= 10)
    val_rows = np.sort(rng.choice(eligible, size=args.validation, replace=False))
    cases = sample_challenge(inter, val_rows, seed=args.seed)
    fit_rows = np.setdiff1d(np.arange(inter.n_playlists), val_rows)
    data = TrainingData.from_catalog(inter.subset(fit_rows), catalog)
    seeded = [c for c in cases if len(c.query.seeds)]
    titled = [c for c in cases if not len(c.query.seeds)]
    print(
        f"fit on {len(fit_rows):,} playlists; {len(seeded)} seeded and {len(titled)} title-only "
        f"validation cases",
        flush=True,
    )

    def evaluate(name: str, settings: list[str], which: list) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        model = create(name, settings).fit(data)
        items = model.recommend([c.query for c in which], k=500).items
        overall, _ = aggregate(score_cases(which, items, catalog.track_artist))
        return overall, time.perf_counter() - started

    lines: list[str] = [
        f"Fit on {len(fit_rows):,} training playlists of split '{args.split}'; "
        f"{len(seeded)} seeded validation cases (title-only cases, {len(titled)}, "
        "for `title`) cut by sample_challenge from the other "
        f"{args.validation} (seed {args.seed}).",
        "",
    ]
    for name in args.models or ["popularity", *GRIDS]:
        grid = GRIDS.get(name, {})
        name = name.removesuffix("-quick")
        which = titled if name == "title" else seeded
        keys = list(grid)
        rows = []
        for values in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
            settings = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
            overall, seconds = evaluate(name, settings, which)
            rows.append(
                [
                    name,
                    " ".join(settings) or "-",
                    f"{overall['r_precision']:.4f}",
                    f"{overall['ndcg']:.4f}",
                    f"{overall['clicks']:.2f}",
                    f"{seconds:.1f}",
                ]
            )
            print(rows[-1], flush=True)
        rows.sort(key=lambda r: -float(r[3]))
        lines += [*table(["model", "settings", "R-prec", "NDCG", "clicks", "s"], rows), ""]
    print("\n".join(lines))
    append_results("models_bench tune (validation playlists from the training data)", lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["speed", "tune", "_one"])
    parser.add_argument("--home", required=True)
    parser.add_argument("--split", default="default")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--model")
    args = parser.parse_args()
    from spotifier.progress import set_quiet

    set_quiet(True)
    if args.mode == "_one":
        print(json.dumps(speed_one(args.home, args.split, args.model, args.queries)))
    elif args.mode == "speed":
        speed(args)
    else:
        tune(args)


if __name__ == "__main__":
    main()
