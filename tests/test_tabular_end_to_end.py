"""Own playlists end to end: a generated world in tabular form -> ingest -> split -> train the
hybrid -> evaluate it against item-knn, through the real command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


#: a small hybrid, so the test fits the suite's time limit on a shared 2-core machine
HYBRID = ["generators=item-knn,title,popularity", "candidates=100", "n_estimators=40"]


@pytest.mark.parametrize("fmt", ["parquet"])  # (CSV loads the same store: test_tabular_ingest)
def test_tabular_generate_ingest_split_train_evaluate(
    tmp_path: Path, fmt: str, spotifier_cli: Callable[..., Any]
) -> None:
    home = tmp_path / "home"

    def spotifier(*args: str) -> str:
        return str(spotifier_cli(home, *args, timeout=1800).stdout)

    spotifier("generate", str(tmp_path / "world"), "-n", "1500", "--format", fmt)
    report = json.loads(spotifier("ingest", str(tmp_path / "world"), "--json"))
    assert report["playlists"] == 1500 and report["invalid_playlists"] == 0
    split = json.loads(spotifier("split", "--playlists", "150", "--json"))
    assert split["playlists"] == 150
    settings = [arg for item in HYBRID for arg in ("--set", item)]
    spotifier("train", "hybrid", "--split", "default", *settings)
    result = json.loads(
        spotifier("evaluate", "popularity", "hybrid", "--split", "default", "--json")
    )
    scores = {name: model["overall"] for name, model in result["models"].items()}
    assert scores["hybrid"]["playlists"] == 150
    assert scores["hybrid"]["ndcg"] > scores["popularity"]["ndcg"]
