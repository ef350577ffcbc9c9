"""bench/full_scale.py: process-tree RSS, the stage plan, --resume, and a small end-to-end run."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "full_scale.py"


def _load():
    spec = importlib.util.spec_from_file_location("full_scale", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["full_scale"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fs = _load()


def test_tree_rss_counts_children() -> None:
    own = fs.tree_rss(os.getpid())
    assert own > 10_000_000  # a Python process with pytest loaded holds more than 10 MB
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(200_000_000); time.sleep(30)"]
    )
    try:
        for _ in range(100):  # wait until the child has touched its 200 MB
            if fs.tree_rss(child.pid) > 150_000_000:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert fs.tree_rss(os.getpid()) >= own + 150_000_000
    finally:
        child.kill()
        child.wait()


def _args(**over):
    import argparse

    base = dict(
        playlists=3000, seed=0, gzip=False, split_playlists=10_000,
        models=["als", "hybrid"], challenge_model="hybrid",
    )  # fmt: skip
    return argparse.Namespace(**{**base, **over})


def test_plan_caps_the_split_and_orders_stages(tmp_path: Path) -> None:
    world, home = tmp_path / "w", tmp_path / "h"
    stages = fs.plan(_args(gzip=True), world, home, home / "s.csv.gz")
    names = [s.name for s in stages]
    assert names == [
        "generate", "ingest", "split", "train als", "train hybrid", "challenge", "verify", "score",
    ]  # fmt: skip
    split = stages[2].argv
    assert split[split.index("--playlists") + 1] == "300"  # 10% of 3,000, not 10,000
    assert "--gzip" in stages[0].argv
    assert stages[5].argv[stages[5].argv.index("--model") + 1] == "hybrid"
    big = fs.plan(_args(playlists=1_000_000), world, home, home / "s.csv.gz")[2].argv
    assert big[big.index("--playlists") + 1] == "10000"
    assert fs._short(stages[1].argv, world, home) == "spotifier --home H -q ingest W --json"
    assert "--set" not in stages[4].argv
    tuned = fs.plan(_args(overrides={"hybrid": ["refit=false"]}), world, home, home / "s")
    assert tuned[4].argv[-2:] == ["--set", "refit=false"] and "--set" not in tuned[3].argv


def test_set_options_are_checked() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    assert fs.parse_sets(["hybrid:refit=false", "als:factors=32"], ["als", "hybrid"], parser) == {
        "hybrid": ["refit=false"],
        "als": ["factors=32"],
    }
    for bad in ("refit=false", "hybrid:refit", "ease:k=1"):
        with pytest.raises(SystemExit):
            fs.parse_sets([bad], ["als", "hybrid"], parser)


def test_resume_detects_finished_outputs(tmp_path: Path) -> None:
    world, home = tmp_path / "w", tmp_path / "h"
    stages = {s.name: s for s in fs.plan(_args(), world, home, home / "s.csv.gz")}
    assert not any(fs.finished(s, world, home) for s in stages.values())
    (world / "data").mkdir(parents=True)
    (world / "truth").mkdir()
    (world / "data" / "mpd.slice.0-999.json").write_text("{}")
    (home / "splits" / "full").mkdir(parents=True)
    (home / "splits" / "full" / "meta.json").write_text("{}")
    (home / "models" / "full" / "als").mkdir(parents=True)
    (home / "models" / "full" / "als" / "meta.json").write_text("{}")
    done = {name for name, s in stages.items() if fs.finished(s, world, home)}
    assert done == {"generate", "split", "train als"}  # ingest always runs (it skips by md5)


@pytest.mark.slow
def test_small_pipeline_end_to_end(tmp_path: Path) -> None:
    work = ["--work", str(tmp_path / "work"), "--keep", "--no-record"]
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--playlists", "1000", "--models", "als", *work],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "score (als on split 'full'): r_precision" in out.stdout
    assert (tmp_path / "work" / "home" / "submission.csv.gz").exists()
    verdict = (tmp_path / "work" / "logs" / "verify.out").read_text().strip()
    assert verdict == "OK"


def test_records_survive_and_belong_to_one_world(tmp_path: Path) -> None:
    path = tmp_path / "stages.json"
    stage = fs.Stage("ingest", ["x"], seconds=12.5, rss_max=3, rss_tree=4, throughput="9 MB/s")
    stage.info = {"playlists": 1000, "slices_ingested": 1}
    fs.save_record(path, 1000, 0, stage)
    fs.save_record(path, 1000, 0, fs.Stage("split", ["y"], seconds=1.0))
    records = fs.load_records(path, 1000, 0)
    assert set(records) == {"ingest", "split"}
    assert records["ingest"]["seconds"] == 12.5 and records["ingest"]["info"]["playlists"] == 1000
    assert fs.load_records(path, 2000, 0) == {}  # another world: nothing carries over
    assert fs.load_records(path, 1000, 1) == {}
    world, home = tmp_path / "w", tmp_path / "h"
    plan = {s.name: s for s in fs.plan(_args(playlists=1000), world, home, home / "s")}
    assert not fs.finished(plan["ingest"], world, home, records)  # no store yet
    home.mkdir()
    (home / "store.duckdb").write_bytes(b"")
    assert fs.finished(plan["ingest"], world, home, records)
    assert not fs.finished(plan["ingest"], world, home, {})


def test_report_only_reads_the_records_and_claims_nothing_unmeasured(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    stage = fs.Stage("generate", ["x"], seconds=30.0, rss_max=10**9, rss_tree=2 * 10**9)
    fs.save_record(work / "stages.json", 1000, 0, stage)
    flags = ["--report", "--no-record", "--models", "als"]
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--playlists", "1000", "--work", str(work), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "earlier run" in out.stdout and "not run" in out.stdout
    assert "whole pipeline < 1 h: 30 s (not every stage ran) -> not measured" in out.stdout
    assert not (work / "home").exists()  # nothing was run
