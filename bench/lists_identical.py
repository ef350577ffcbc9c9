"""Are every model's recommendation lists identical to an earlier revision's? (issue 17)

    python bench/lists_identical.py [--before 2cef972] [--after REV] [--playlists 4000] [--seed 0]

Checks REV out into a temporary `git worktree` (removed afterwards), generates one world with
REV's code, then for each side (REV's code and this checkout's, or `--after`'s revision checked
out likewise, each run in a subprocess whose
PYTHONPATH points at that side's `src/`) ingests the world into its own home, builds the default
split, trains every registered model with its default config and recommends k=500 for the
split's challenge playlists. Lists are compared model by model, item by item (as track URIs and
pids, so a change of internal numbering is not mistaken for a change of lists) and score by
score. A model registered on one side only is reported as such. Prints a table and appends it
to bench/RESULTS.md.

Both sides run with the same thread limits, so a model whose training is only deterministic for
a fixed thread count still compares like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).with_name("RESULTS.md")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_BEFORE = "2cef972"


# --------------------------------------------------------------------------- one side
def run_side(home: str, split: str, out: Path, models: list[str] | None) -> None:
    """Train and recommend every model with the `spotifier` found on sys.path (one side)."""
    from spotifier.data import TrainingData
    from spotifier.home import Home
    from spotifier.models import create, model_names
    from spotifier.split import load_split, load_training_interactions
    from spotifier.store import load_catalog

    h = Home.resolve(home)
    catalog = load_catalog(h)
    data = TrainingData.from_catalog(load_training_interactions(h, split), catalog)
    cases = load_split(h, split).cases
    queries = [c.query for c in cases]
    names = model_names()
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "pids.npy", np.array([c.pid for c in cases], dtype=np.int64))
    np.save(out / "track_uris.npy", np.asarray(catalog.track_uris, dtype=str))
    (out / "models.json").write_text(json.dumps(names))
    for name in names:
        if models and name not in models:
            continue
        print(f"{out.name}: {name}", file=sys.stderr, flush=True)
        try:
            recs = create(name).fit(data).recommend(queries, k=500)
        except Exception as exc:  # a failing model is a row of the table, not the end
            (out / f"{name}.error").write_text(f"{type(exc).__name__}: {exc}")
            continue
        np.savez(out / f"{name}.npz", items=recs.items, scores=recs.scores)


# --------------------------------------------------------------------------- comparing
def compare(before: Path, after: Path, name: str) -> list[Any]:
    """One table row: model, playlists, identical, max |score diff| (or why not compared)."""
    row: list[Any] = [name]
    for side in (before, after):
        error = side / f"{name}.error"
        if error.exists():
            return [*row, "-", f"failed on {side.name}: {error.read_text()[:120]}", "-"]
        if not (side / f"{name}.npz").exists():
            return [*row, "-", f"not registered on {side.name}", "-"]
    sides = []
    for side in (before, after):
        uris = np.load(side / "track_uris.npy")
        pids = np.load(side / "pids.npy")
        with np.load(side / f"{name}.npz") as npz:
            items, scores = npz["items"], npz["scores"]
        named = np.where(items >= 0, uris[np.maximum(items, 0)], "")
        order = np.argsort(pids, kind="stable")
        sides.append((pids[order], named[order], scores[order]))
    (pids_b, items_b, scores_b), (pids_a, items_a, scores_a) = sides
    if not np.array_equal(pids_b, pids_a):
        return [*row, f"{len(pids_b)} / {len(pids_a)}", "no (different playlists)", "-"]
    same_items = np.array_equal(items_b, items_a)
    both_nan = np.isnan(scores_b) & np.isnan(scores_a)
    same_scores = bool(np.all(both_nan | (scores_b == scores_a)))
    diff = np.abs(scores_b.astype(np.float64) - scores_a.astype(np.float64))
    diff = np.where(both_nan, 0.0, diff)
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    if np.isnan(diff).any():  # NaN on one side only
        worst = float("inf")
    identical = "yes" if same_items and same_scores else "no"
    if not same_items:
        rows_differ = int((items_b != items_a).any(axis=1).sum())
        identical = f"no ({rows_differ} lists differ)"
    elif not same_scores:
        identical = "no (scores only)"
    return [*row, len(pids_b), identical, f"{worst:.3g}"]


# --------------------------------------------------------------------------- driver
def spotifier_cli(src: Path, home: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "spotifier", "--home", str(home), "-q", *args]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def side_process(src: Path, home: Path, out: Path, models: list[str] | None) -> None:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "_side", "--home", str(home), "--out", str(out)]
    if models:
        command += ["--models", *models]
    subprocess.run(command, env=env, check=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(args: argparse.Namespace) -> int:
    # A kill removes the temporary worktrees too (the `finally` below runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="lists-identical-"))
    rev = short(args.before)
    head = short(args.after or "HEAD")
    if args.after is None and dirty():
        head += " with uncommitted changes"
    tree, after_tree = work / "tree-before", work / "tree-after"
    trees = [tree] if args.after is None else [tree, after_tree]
    try:
        for path, which in zip(trees, (rev, head), strict=False):
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), which],
                check=True,
                capture_output=True,
            )
        world = work / "world"
        spotifier_cli(
            tree / "src",
            work / "home-gen",
            "generate",
            str(world),
            "--playlists",
            str(args.playlists),
            "--seed",
            str(args.seed),
        )
        held_out = min(10_000, args.playlists // 100 * 10)
        sides = {"before": tree / "src", "after": (after_tree if args.after else REPO) / "src"}
        for label, src in sides.items():
            home = work / f"home-{label}"
            spotifier_cli(src, home, "ingest", str(world))
            spotifier_cli(src, home, "split", "--playlists", str(held_out), "--seed", "0")
            side_process(src, home, work / label, args.models)
        names_b = json.loads((work / "before" / "models.json").read_text())
        names_a = json.loads((work / "after" / "models.json").read_text())
        names = names_b + [n for n in names_a if n not in names_b]
        if args.models:
            names = [n for n in names if n in args.models]
        rows = [compare(work / "before", work / "after", name) for name in names]
    finally:
        for path in trees:
            if path.exists():
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                    check=False,
                )
        shutil.rmtree(work, ignore_errors=True)
    header = ["model", "playlists", "identical lists", "max |score diff|"]
    lines = [
        f"World: {args.playlists:,} generated playlists (seed {args.seed}), default split of "
        f"{held_out:,} challenge playlists, k=500; before = {rev}, after = {head}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]
    print("\n".join(lines))
    if not args.no_append:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "python " + " ".join(sys.argv)
        text = ["", "## lists_identical", "", f"{stamp}; {machine()}", "", f"`{command}`", ""]
        with RESULTS.open("a") as fh:
            fh.write("\n".join([*text, *lines, ""]) + "\n")
    return 0 if all(row[2] == "yes" for row in rows) else 1


def short(revision: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", revision],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def dirty() -> bool:
    status = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(status.stdout.strip())


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="revision to compare against")
    parser.add_argument("--after", help="revision to compare (default: this checkout as it is)")
    parser.add_argument("--playlists", type=int, default=4000, help="playlists in the world")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument("--models", nargs="*", help="only these models (default: all)")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_side"]:
        side = argparse.ArgumentParser()
        side.add_argument("--home", required=True)
        side.add_argument("--out", type=Path, required=True)
        side.add_argument("--split", default="default")
        side.add_argument("--models", nargs="*")
        ns = side.parse_args(sys.argv[2:])
        run_side(ns.home, ns.split, ns.out, ns.models)
        sys.exit(0)
    sys.exit(main(parse(sys.argv[1:])))
