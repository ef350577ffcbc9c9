"""Own playlists end to end: a generated world in tabular form -> ingest -> split -> train the
hybrid -> evaluate it against item-knn, through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _spotifier(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "spotifier", "--quiet", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "SPOTIFIER_DEBUG": "1"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_tabular_generate_ingest_split_train_evaluate(tmp_path: Path, fmt: str) -> None:
    home = tmp_path / "home"
    _spotifier(home, "generate", str(tmp_path / "world"), "-n", "3000", "--format", fmt)
    report = json.loads(_spotifier(home, "ingest", str(tmp_path / "world"), "--json"))
    assert report["playlists"] == 3000 and report["invalid_playlists"] == 0
    split = json.loads(_spotifier(home, "split", "--playlists", "300", "--json"))
    assert split["playlists"] == 300
    _spotifier(home, "train", "hybrid")
    result = json.loads(_spotifier(home, "evaluate", "item-knn", "hybrid", "--json"))
    scores = {name: model["overall"] for name, model in result["models"].items()}
    assert scores["hybrid"]["r_precision"] > 0
    assert scores["hybrid"]["ndcg"] >= scores["item-knn"]["ndcg"]
