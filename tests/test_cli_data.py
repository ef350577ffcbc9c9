"""The `ingest` and `stats` commands, through the CLI runner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import playlist, simple_world, write_slice

from spotifier.cli import app

runner = CliRunner()


def test_ingest_then_stats_json(tmp_path: Path) -> None:
    simple_world(tmp_path / "w", n_slices=2)
    home = str(tmp_path / "h")
    result = runner.invoke(app, ["--home", home, "ingest", str(tmp_path / "w"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "ingested 2 file(s) (8 playlists, 56 entries)" in result.output
    again = runner.invoke(app, ["--home", home, "ingest", str(tmp_path / "w"), "--json"])
    assert json.loads(again.stdout)["slices_skipped"] == 2
    stats = runner.invoke(app, ["--home", home, "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.stdout)
    assert (data["playlists"], data["tracks"]) == (8, 56)
    assert [t["title"] for t in data["top_titles"]] == ["chill", "rap"]
    table = runner.invoke(app, ["--home", home, "stats"])
    assert table.exit_code == 0
    assert "unique normalized titles" in table.output
    assert "length" in table.output and "followers" in table.output


def test_ingest_reports_invalid_playlists(tmp_path: Path) -> None:
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5]), playlist(1, [1, 2, 3])])
    result = runner.invoke(
        app, ["--home", str(tmp_path / "h"), "ingest", str(tmp_path / "w"), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "1 invalid playlist(s) or row(s) skipped" in result.output
    assert "pid 1: tracks: 3 tracks, outside 5..250" in result.output


def _spotifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spotifier", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_errors_are_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    simple_world(tmp_path / "w", n_slices=2)
    corrupt = tmp_path / "w" / "mpd.slice.1000-1999.json"
    corrupt.write_bytes(corrupt.read_bytes()[:-100])  # truncated
    done = _spotifier(
        "--home", str(tmp_path / "h"), "ingest", str(tmp_path / "w"), "--workers", "1"
    )
    # not strict: the broken file is named and skipped, the other loads, exit 5 says so
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    assert f"skipped: {corrupt}: not valid JSON" in done.stderr
    assert "(4 playlists, 28 entries)" in done.stdout
    strict_run = _spotifier(
        "--home", str(tmp_path / "h3"), "ingest", str(tmp_path / "w"), "--workers", "1", "--strict"
    )
    assert strict_run.returncode == 2
    assert f"{corrupt}: not valid JSON" in strict_run.stderr
    assert len(strict_run.stderr.strip().splitlines()) == 1
    strict = _spotifier(
        "--home",
        str(tmp_path / "h2"),
        "ingest",
        str(tmp_path / "w"),
        "--strict",
        "--engine",
        "nope",
    )
    assert strict.returncode == 2 and "--engine" in strict.stderr


def test_every_data_command_has_help() -> None:
    for command in ("ingest", "stats"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert len(result.output.strip()) > 50


def test_strict_ingest_fails_through_the_cli(tmp_path: Path) -> None:
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5]), playlist(1, [1, 2, 3])])
    home = str(tmp_path / "h")
    result = runner.invoke(app, ["--home", home, "ingest", str(tmp_path / "w"), "--strict"])
    assert result.exit_code != 0
    assert "pid 1: tracks" in str(result.exception)
    # nothing was ingested, and a fresh home keeps no empty store: stats says to ingest first
    assert not (tmp_path / "h" / "store.duckdb").exists()
    stats = runner.invoke(app, ["--home", home, "stats", "--json"])
    assert stats.exit_code != 0
    assert "no store yet" in str(stats.exception)
