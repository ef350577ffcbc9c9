"""Full scale on one machine: generate, ingest, split, train, challenge, verify and score, each
stage a `spotifier` subprocess timed on its own (wall time, peak RSS, throughput). Appends a
section to bench/RESULTS.md.

    python bench/full_scale.py                          # 1,000,000 playlists (about an hour)
    python bench/full_scale.py --playlists 100000       # quick check
    python bench/full_scale.py --resume --keep          # re-run, skipping finished stages
    python bench/full_scale.py --resume --keep --redo "train hybrid,challenge,verify,score"

Every finished stage's measurements are kept in WORK/stages.json, so a resumed run reports the
whole pipeline: stages done earlier appear with their recorded figures ("earlier run") and the
pipeline's time is the sum of the stages' wall times. `--redo` re-runs named stages (e.g. after a
model changed) even when their output exists.

Peak RSS is measured two ways per stage: the largest single process (`ru_maxrss` from `wait4` of
the stage's process, which covers its reaped children) and the sum of RSS over the stage's whole
process tree (polled from /proc every 0.2 s; an upper bound, since forked workers share pages).
The 16 GB target is checked against the tree figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
MODELS = ("als", "item-knn", "ease", "hybrid")
TARGET_SECONDS = 3600.0
TARGET_RSS_BYTES = 16e9
TARGET_INGEST_MBS = 100.0
SPLIT = "full"
VERDICT = {True: "met", False: "NOT met", None: "not measured"}


@dataclass
class Stage:
    name: str
    argv: list[str]
    seconds: float = 0.0
    rss_max: int = 0  # bytes, largest single process
    rss_tree: int = 0  # bytes, peak sum over the process tree
    throughput: str = ""
    status: str = "ran"  # ran, skipped, failed, earlier run
    load: float = 0.0  # 1-minute load average when the stage ended
    stdout: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def spotifier_cmd() -> list[str]:
    """The `spotifier` entry point next to this interpreter, else `python -m spotifier`."""
    exe = Path(sys.executable).with_name("spotifier")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "spotifier"]


def _children() -> dict[int, list[int]]:
    """ppid -> pids for every process on the machine (one pass over /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces or parentheses).
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    """Summed resident set size of `root` and all its descendants, in bytes."""
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss(pid)
        todo.extend(tree.get(pid, []))
    return total


def run_stage(stage: Stage, logs: Path) -> None:
    """Run the stage's command as a child; fill in its wall time and peak RSS; raise on failure."""
    out_path, err_path = logs / f"{stage.name}.out", logs / f"{stage.name}.err"
    print(f"-> {stage.name}: {shlex.join(stage.argv)}", flush=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(stage.argv, stdout=out, stderr=err)
        done = threading.Event()
        peak = [0]

        def poll() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(proc.pid))
                done.wait(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        finally:
            done.set()
            poller.join()
        stage.seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stage.rss_max = usage.ru_maxrss * 1024  # Linux reports KiB
    stage.rss_tree = max(peak[0], stage.rss_max)
    stage.stdout = out_path.read_text(errors="replace")
    if proc.returncode != 0:
        stage.status = "failed"
        tail = err_path.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(
            f"stage {stage.name} exited with {proc.returncode}: {shlex.join(stage.argv)}\n"
            + "\n".join(tail)
        )


def _json(text: str) -> dict[str, Any]:
    """The JSON object a `--json` command printed (the first '{' to the end)."""
    start = text.find("{")
    parsed: dict[str, Any] = json.loads(text[start:]) if start >= 0 else {}
    return parsed


def _rate(amount: float, seconds: float, unit: str) -> str:
    return f"{amount / seconds:,.1f} {unit}" if seconds > 0 else "-"


def total_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f}"


def plan(args: argparse.Namespace, world: Path, home: Path, submission: Path) -> list[Stage]:
    cli = [*spotifier_cmd(), "--home", str(home), "-q"]
    generate = [*cli, "generate", str(world), "--playlists", str(args.playlists)]
    generate += ["--seed", str(args.seed), "--json"] + (["--gzip"] if args.gzip else [])
    cap = (args.playlists // 10) // 10 * 10
    held_out = min(args.split_playlists, cap)
    challenge_json = home / "splits" / SPLIT / "challenge_set.json"
    stages = [
        Stage("generate", generate),
        Stage("ingest", [*cli, "ingest", str(world), "--json"]),
        Stage("split", [*cli, "split", "--name", SPLIT, "--playlists", str(held_out), "--json"]),
    ]
    overrides = getattr(args, "overrides", {})
    for m in args.models:
        sets = [x for kv in overrides.get(m, []) for x in ("--set", kv)]
        stages.append(Stage(f"train {m}", [*cli, "train", m, "--split", SPLIT, *sets]))
    answer = ["--model", args.challenge_model, "--split", SPLIT, "--out", str(submission)]
    stages += [
        Stage("challenge", [*cli, "challenge", str(challenge_json), *answer, "--gzip"]),
        Stage("verify", [*cli, "verify", str(challenge_json), str(submission)]),
        Stage("score", [*cli, "score", str(submission), "--split", SPLIT, "--json"]),
    ]
    return stages


def parse_sets(
    sets: list[str], models: list[str], parser: argparse.ArgumentParser
) -> dict[str, list[str]]:
    """`MODEL:KEY=VALUE` options as {model: ["KEY=VALUE", ...]} (errors name the bad option)."""
    out: dict[str, list[str]] = {}
    for item in sets:
        model, sep, kv = item.partition(":")
        if not sep or "=" not in kv or not kv.split("=", 1)[0]:
            parser.error(f"--set {item!r}: expected MODEL:KEY=VALUE, e.g. hybrid:refit=false")
        if model not in models:
            parser.error(f"--set {item!r}: {model!r} is not among --models ({', '.join(models)})")
        out.setdefault(model, []).append(kv)
    return out


RECORDED = ("seconds", "rss_max", "rss_tree", "throughput", "info", "load")


def load_records(path: Path, playlists: int, seed: int) -> dict[str, dict[str, Any]]:
    """The stages a previous run of the same world finished, by name (empty if none or another
    world)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if saved.get("playlists") != playlists or saved.get("seed") != seed:
        return {}
    stages: dict[str, dict[str, Any]] = saved.get("stages", {})
    return stages


def save_record(path: Path, playlists: int, seed: int, stage: Stage) -> None:
    """Add one finished stage to the run's record (written to a temporary file, then renamed)."""
    records = load_records(path, playlists, seed)
    records[stage.name] = {key: getattr(stage, key) for key in RECORDED}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"playlists": playlists, "seed": seed, "stages": records}, indent=1))
    tmp.replace(path)


def finished(
    stage: Stage, world: Path, home: Path, records: dict[str, dict[str, Any]] | None = None
) -> bool:
    """With --resume: is this stage's output already there? (ingest counts as finished only
    when an earlier run recorded it; otherwise it runs, and skips the slices already in the
    store by md5, so a re-run only pays for what is missing.)"""
    if stage.name == "ingest":
        return bool(records and "ingest" in records and (home / "store.duckdb").exists())
    if stage.name == "generate":
        # generate writes OUT atomically: a non-empty folder is a whole world.
        return world.is_dir() and (world / "truth").is_dir() and any((world / "data").iterdir())
    if stage.name == "split":
        return (home / "splits" / SPLIT / "meta.json").exists()
    if stage.name.startswith("train "):
        model = stage.name.removeprefix("train ")
        return (home / "models" / SPLIT / model / "meta.json").exists()
    return False


def _world_size(world: Path) -> tuple[float, int]:
    files = list((world / "data").glob("mpd.slice.*"))
    return sum(p.stat().st_size for p in files) / 1e6, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playlists", type=int, default=1_000_000, help="world size")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spotifier-full"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder afterwards")
    parser.add_argument("--resume", action="store_true", help="skip stages already done")
    parser.add_argument(
        "--redo",
        default="",
        help='with --resume: stages to run again, comma-separated (e.g. "train hybrid,score")',
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split-playlists", type=int, default=10_000, help="held out (capped at 10%% of N)"
    )
    parser.add_argument(
        "--gzip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="gzip the slices (default: on at 500k playlists and more)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="MODEL:KEY=VALUE",
        help="a model's hyperparameter for its train stage (repeatable), e.g. hybrid:refit=false. "
        "At 500k playlists and more the hybrid defaults to refit=false: its generators are fitted "
        "once, on all but its validation playlists' held-back tracks (about 0.5%% of the data), "
        "instead of a second time on everything",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument(
        "--report",
        action="store_true",
        help="run nothing: report the stages recorded in WORK/stages.json (e.g. of a run that "
        "was stopped) and append that section",
    )
    args = parser.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.models:
        parser.error("--models: give at least one model")
    from spotifier.models.registry import model_names

    unknown = [m for m in args.models if m not in model_names()]
    if unknown:
        parser.error(f"--models: unknown {unknown}; available: {', '.join(model_names())}")
    args.challenge_model = "hybrid" if "hybrid" in args.models else args.models[-1]
    args.overrides = parse_sets(args.sets, args.models, parser)
    if args.playlists >= 500_000 and not any(
        kv.startswith("refit=") for kv in args.overrides.get("hybrid", [])
    ):
        args.overrides.setdefault("hybrid", []).append("refit=false")
    args.redo = {r.strip() for r in args.redo.split(",") if r.strip()}
    if args.gzip is None:
        args.gzip = args.playlists >= 500_000
    if args.playlists < 100:
        parser.error("--playlists: at least 100 (the split holds out 10% in multiples of 10)")

    work = args.work.resolve()
    world, home, logs = work / "world", work / "home", work / "logs"
    submission = home / "submission.csv.gz"
    if args.report:
        args.resume, args.keep = True, True
    if not args.resume:
        for folder in (world, home):  # only what this script creates, never the whole --work
            if folder.exists():
                print(f"removing {folder} from an earlier run (use --resume to reuse it)")
                shutil.rmtree(folder)
    logs.mkdir(parents=True, exist_ok=True)

    stages = plan(args, world, home, submission)
    # `kill` stops the run like Ctrl-C: the stage in progress is ended, the rest is reported.
    signal.signal(signal.SIGTERM, _interrupt)
    unknown_redo = args.redo - {s.name for s in stages}
    if unknown_redo:
        parser.error(f"--redo: no stage named {sorted(unknown_redo)}")
    record_path = work / "stages.json"
    if not args.resume:
        record_path.unlink(missing_ok=True)
    records = load_records(record_path, args.playlists, args.seed)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    error: BaseException | None = None
    entries = playlists = 0
    for stage in stages:
        if args.report:
            if stage.name in records:
                stage.status = "earlier run"
                for key in RECORDED:
                    setattr(stage, key, records[stage.name].get(key, getattr(stage, key)))
            else:
                stage.status = "not run"
            continue
        if args.resume and stage.name not in args.redo and finished(stage, world, home, records):
            earlier = records.get(stage.name)
            if earlier:
                stage.status = "earlier run"
                for key in RECORDED:
                    setattr(stage, key, earlier.get(key, getattr(stage, key)))
            else:
                stage.status = "skipped"
            print(f"-> {stage.name}: {stage.status} (output exists)", flush=True)
            continue
        try:
            run_stage(stage, logs)
        except (RuntimeError, KeyboardInterrupt) as exc:
            error = exc
            break
        if stage.name == "generate":
            report = _json(stage.stdout)
            stage.info = report
            stage.throughput = _rate(report.get("bytes", 0) / 1e6, stage.seconds, "MB/s")
        elif stage.name == "ingest":
            report = _json(stage.stdout)
            stage.info = report
            playlists, entries = report.get("playlists", 0), report.get("entries", 0)
            megabytes = report.get("megabytes", 0.0)
            stage.throughput = _rate(megabytes, stage.seconds, "MB/s")
            if report.get("mb_per_s"):
                stage.throughput += f" ({report['mb_per_s']:,.0f} MB/s on ingest's own clock)"
            if report.get("slices_skipped"):
                stage.throughput += f" ({report['slices_skipped']} slices already stored)"
        elif stage.name == "split":
            stage.info = _json(stage.stdout)
            stage.throughput = _rate(args.playlists, stage.seconds, "playlists/s")
        elif stage.name.startswith("train "):
            stage.throughput = _rate(args.playlists, stage.seconds, "playlists/s")
        elif stage.name in ("challenge", "verify", "score"):
            held = (stages[2].info or {}).get("playlists") or _held_out(home)
            stage.throughput = _rate(held, stage.seconds, "playlists/s")
            if stage.name == "score":
                stage.info = _json(stage.stdout)
            if stage.name == "verify":
                stage.info = {"verdict": stage.stdout.strip().splitlines()[-1:]}
        stage.load = os.getloadavg()[0]
        save_record(record_path, args.playlists, args.seed, stage)
    wall = time.perf_counter() - started
    done = ("ran", "earlier run")
    # The pipeline's time is the sum of its stages' wall times (some may come from earlier runs).
    total = sum(s.seconds for s in stages if s.status in done)
    load_after = os.getloadavg()[0]
    if error is not None:
        print(f"\nstopped: {error}\n(work folder kept: re-run with --resume)", file=sys.stderr)

    megabytes, n_slices = _world_size(world) if world.exists() else (0.0, 0)
    ingest = next(
        (
            s
            for s in stages
            if s.name == "ingest" and s.status in done and s.info.get("slices_ingested")
        ),
        None,
    )
    ran = [s for s in stages if s.status != "skipped" and s.seconds > 0]
    peak_tree = max((s.rss_tree for s in ran), default=0)
    complete = error is None and all(s.status in done for s in stages)
    if ingest is not None:
        playlists = ingest.info.get("playlists", playlists)
        entries = ingest.info.get("entries", entries)
    ingest_mbs = (ingest.info.get("megabytes", 0.0) / ingest.seconds) if ingest else 0.0
    # (target, measured, met: True / False / None when this run cannot tell)
    targets: list[tuple[str, str, bool | None]] = [
        (
            "whole pipeline < 1 h",
            f"{total:,.0f} s" + ("" if complete else " (not every stage ran)"),
            total < TARGET_SECONDS if complete else None,
        ),
        (
            "peak RSS < 16 GB in every stage",
            f"max {_gb(peak_tree)} GB" + ("" if complete else " over the stages that ran"),
            peak_tree < TARGET_RSS_BYTES if complete else None,
        ),
        (
            "ingest >= 100 MB/s",
            f"{ingest_mbs:,.1f} MB/s" if ingest else "no slice ingested in this run",
            ingest_mbs >= TARGET_INGEST_MBS if ingest else None,
        ),
    ]
    metrics = next((s.info.get("overall", {}) for s in stages if s.name == "score"), {})

    header = (
        "| stage | status | wall s | peak RSS GB (process) | peak RSS GB (tree) | throughput "
        "| load |"
    )
    lines = [header, "|---|---|---:|---:|---:|---|---:|"]
    for s in stages:
        if s.status == "skipped" or (s.seconds == 0 and s.status != "failed"):
            status = s.status if s.status == "skipped" else "not run"
            lines.append(f"| {s.name} | {status} | - | - | - | - | - |")
        else:
            lines.append(
                f"| {s.name} | {s.status} | {s.seconds:,.1f} | {_gb(s.rss_max)} | "
                f"{_gb(s.rss_tree)} | {s.throughput or '-'} | {s.load:.1f} |"
            )
    lines.append(f"| total | | {total:,.1f} | | {_gb(peak_tree)} (max) | | |")
    target_lines = [f"- {name}: {value} -> {VERDICT[ok]}" for name, value, ok in targets]
    world_line = (
        f"{args.playlists:,} playlists, seed {args.seed}, {n_slices} slices, "
        f"{megabytes:,.0f} MB on disk ({'gzip' if args.gzip else 'plain JSON'})"
        + (f", {entries:,} entries" if entries else "")
        + (f" ({playlists:,} playlists ingested)" if playlists else "")
    )
    metric_line = ", ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
        for k, v in metrics.items()
        if k in ("r_precision", "ndcg", "clicks", "playlists")
    )
    _print_table(stages, lines)
    print(f"world: {world_line}")
    print(f"load average {load_before:.1f} -> {load_after:.1f} (machine may be shared)")
    print(f"this invocation: {wall:,.0f} s wall; the pipeline: {total:,.0f} s over its stages")
    if metrics:
        print(f"score ({args.challenge_model} on split '{SPLIT}'): {metric_line}")
    print("\n".join(target_lines))

    if not args.no_record:
        ram = total_ram()
        machine = (
            f"{platform.machine()}, {os.cpu_count()} cores, {ram / 2**30:.1f} GiB RAM, "
            f"Python {platform.python_version()} ({platform.platform()})"
        )
        command = shlex.join(["python", "bench/full_scale.py", *sys.argv[1:]])
        section = [
            f"\n## Full-scale pipeline, {args.playlists:,} playlists "
            f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)",
            f"- machine: {machine}",
            f"- command: `{command}`",
            f"- world: {world_line}",
            f"- load average {load_before:.1f} -> {load_after:.1f} (machine shared)",
            "",
            *lines,
            "",
            "Each stage is one subprocess (W = the generated world, H = the home folder):",
            "",
            *(f"- {s.name}: `{_short(s.argv, world, home)}`" for s in stages),
            "",
            "Peak RSS (process) is the largest single process's `ru_maxrss`; (tree) "
            "is the polled sum over the stage's process tree, the figure checked against 16 GB. "
            "Load: the machine's 1-minute load average as the stage ended (2 = both cores busy). "
            'Total: the sum of the stages\' wall times ("earlier run" rows were measured by an '
            "earlier invocation of the same world, resumed with --resume). "
            "Throughput: generate = JSON MB written/s (before gzip); ingest = JSON MB parsed/s "
            "(the ingest's own count) over the stage's wall time; split and train = playlists "
            "in the world/s; challenge, verify, score = held-out playlists/s.",
            "",
            *(
                [f"Score of `{args.challenge_model}` on split '{SPLIT}': {metric_line}.", ""]
                if metrics
                else []
            ),
            "Targets:",
            *target_lines,
            *([f"- stopped early: {str(error).splitlines()[0]}"] if error else []),
            "",
        ]
        with RESULTS.open("a") as fh:
            fh.write("\n".join(section))
        print(f"appended a section to {RESULTS}")

    if error is None and not args.keep:
        for folder in (world, home, logs):
            shutil.rmtree(folder, ignore_errors=True)
    elif error is None:
        print(f"kept {work} (home: {home})")
    if error is not None:
        sys.exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _short(argv: list[str], world: Path, home: Path) -> str:
    """The stage's command as a user would type it, with W and H for the two folders."""
    text = shlex.join(["spotifier", *argv[len(spotifier_cmd()) :]])
    return text.replace(str(world), "W").replace(str(home), "H")


def _held_out(home: Path) -> int:
    meta = home / "splits" / SPLIT / "meta.json"
    try:
        return int(json.loads(meta.read_text()).get("playlists", 0))
    except (OSError, ValueError):
        return 0


def _print_table(stages: list[Stage], lines: list[str]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print("\n".join(lines))
        return
    table = Table(title="full-scale pipeline")
    heads = ("stage", "status", "wall s", "RSS GB (process)", "RSS GB (tree)", "throughput", "load")
    for head in heads:
        table.add_column(
            head, justify="left" if head in ("stage", "status", "throughput") else "right"
        )
    for row in lines[2:]:
        cells = [c.strip().strip("*") for c in row.strip("|").split("|")]
        table.add_row(*cells)
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
