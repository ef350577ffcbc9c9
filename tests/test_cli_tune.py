"""`spotifier tune` through the CLI runner, on a small generated and ingested world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spotifier.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-tune")
    out = root / "world"
    for args in (
        ["generate", str(out), "--playlists", "400", "--seed", "1"],
        ["--home", str(root / "home"), "ingest", str(out / "data")],
    ):
        result = runner.invoke(app, ["--quiet", *args])
        assert result.exit_code == 0, result.output
    return root / "home"


def invoke(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), "--quiet", *args])


def test_tune_sweeps_the_grid_and_saves_the_table(home: Path) -> None:
    result = invoke(
        home, "tune", "item-knn", "--grid", "neighbours=2,100", "--playlists", "60", "--json"
    )
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    assert [row["neighbours"] for row in table["rows"]] == ["2", "100"]
    assert table["validation_playlists"] >= 50
    for row in table["rows"]:
        assert 0.0 <= row["r_precision"] <= 1.0 and 0.0 <= row["ndcg"] <= 1.0
        assert 0.0 <= row["clicks"] <= 51.0
    assert table["best"]["neighbours"] in ("2", "100")
    saved = json.loads((home / "results" / "tune" / "item-knn.json").read_text())
    assert saved["rows"] == table["rows"]


def test_tune_prints_a_table(home: Path) -> None:
    result = invoke(home, "tune", "popularity", "--grid", "seed=0,1", "--playlists", "60")
    assert result.exit_code == 0, result.output
    assert "r_precision" in result.stdout and "validation playlists" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tune", "item-knn", "--grid", "neighbours"], "key=v1,v2"),
        (["tune", "item-knn", "--grid", "nope=1,2"], "unknown setting 'nope'"),
        (["tune", "item-knn", "--grid", "neighbours=ten"], "neighbours"),
        (["tune", "no-such-model", "--grid", "a=1"], "unknown model"),
    ],
)
def test_tune_bad_input_is_one_clear_error(home: Path, args: list[str], message: str) -> None:
    from spotifier.errors import SpotifierError

    result = invoke(home, *args)
    assert result.exit_code != 0
    assert isinstance(result.exception, SpotifierError)
    assert message in str(result.exception)
