"""The hybrid against item-knn on data holding track ids only (issue 15: own playlists).

    python bench/hybrid_without_fields.py [--playlists 2000] [--set folds=1 ...]

Generates a world, ingests it, holds out a tenth of the playlists (challenge-category cases cut
by `sample_challenge`, seeded ones only), and blanks what a bare warehouse table lacks: every
artist and album index -1, every title ''. Fits item-knn (defaults) and the hybrid (defaults,
plus `--set` overrides) on the rest and prints their R-precision on the cases; appends a line to
bench/RESULTS.md. Without artists, albums and titles the hybrid leaves out the title generator,
the artist co-occurrence and the album facts; it should still beat item-knn.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from lists_identical import machine

RESULTS = Path(__file__).with_name("RESULTS.md")


def main(args: argparse.Namespace) -> None:
    from spotifier import store
    from spotifier.data import Interactions, Query, TrainingData
    from spotifier.metrics import r_precision
    from spotifier.models import create
    from spotifier.split import sample_challenge
    from spotifier.synth import generate

    with tempfile.TemporaryDirectory(prefix="hybrid-bare-") as tmp:
        root = Path(tmp)
        generate(root / "gen", args.playlists, args.seed)
        store.ingest(root / "home", root / "gen", workers=1)
        inter = store.load_interactions(root / "home")
    rng = np.random.default_rng(args.seed)
    eligible = np.flatnonzero(inter.lengths() >= 10)
    held = np.sort(rng.choice(eligible, size=args.playlists // 10, replace=False))
    cases = [c for c in sample_challenge(inter, held, seed=args.seed) if len(c.query.seeds)]
    train = inter.subset(np.setdiff1d(np.arange(inter.n_playlists), held))
    titles = np.array([""] * train.n_playlists, dtype=object)
    bare = Interactions(train.indptr, train.tracks, train.n_tracks, titles, train.pids)
    unknown = np.full(inter.n_tracks, -1, dtype=np.int32)
    data = TrainingData(bare, unknown, unknown)
    queries = [
        Query(seeds=c.query.seeds, positions=c.query.positions, num_tracks=c.query.num_tracks)
        for c in cases
    ]
    rows = []
    for name, settings in (("item-knn", []), ("hybrid", args.set)):
        started = time.perf_counter()
        items = create(name, settings).fit(data).recommend(queries, k=500).items
        seconds = time.perf_counter() - started
        scores = [
            r_precision(items[i][items[i] >= 0].tolist(), set(case.truth.tolist()))
            for i, case in enumerate(cases)
        ]
        rows.append(f"| {name} {' '.join(settings)} | {np.mean(scores):.4f} | {seconds:.0f} |")
        print(rows[-1], flush=True)
    lines = [
        "",
        "## hybrid_without_fields",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}",
        "",
        f"`python {' '.join(sys.argv)}`",
        "",
        f"World: {args.playlists:,} generated playlists (seed {args.seed}) with every artist, "
        f"album and title blanked; {len(cases)} seeded challenge-category cases cut from "
        f"{len(held)} held-out playlists; k=500. R-precision without artist credit.",
        "",
        "| model | R-prec | fit + recommend s |",
        "|---|---|---|",
        *rows,
        "",
    ]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--set", nargs="*", default=[], help="hybrid settings, key=value")
    main(parser.parse_args())
