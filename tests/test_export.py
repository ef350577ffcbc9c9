"""`spotifier export`: tables other tools read, MPD slices when the data has every field, and
the round trip (export, ingest into a new home: identical stats and tables)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from spotifier.cli import app
from spotifier.errors import InvalidInputError
from spotifier.store import compute_stats, connect, ingest
from spotifier.store.export import export
from spotifier.store.tabular import ingest_paths
from spotifier.store.tabular_map import parse_maps
from spotifier.synth import generate

TABLES = ("playlists", "tracks", "artists", "albums", "entries")


def dump(home: Path) -> dict[str, list[tuple[object, ...]]]:
    with connect(home) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


@pytest.fixture(scope="module")
def world_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    generate(root / "w", n_playlists=1500, seed=5, workers=1)
    ingest(root / "h", root / "w", workers=1)
    return root / "h"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "mpd"])
def test_export_then_ingest_gives_identical_stats(
    world_home: Path, tmp_path: Path, fmt: str
) -> None:
    counts = export(world_home, tmp_path / "out", fmt)
    assert counts == {"playlists": 1500, "entries": dump(world_home)["entries"].__len__()}
    report = ingest_paths(tmp_path / "again", [tmp_path / "out"])
    assert report.playlists == 1500 and report.invalid_playlists == 0
    assert compute_stats(tmp_path / "again") == compute_stats(world_home)
    assert dump(tmp_path / "again") == dump(world_home)


def test_exported_tables_are_plain_tables(world_home: Path, tmp_path: Path) -> None:
    export(world_home, tmp_path / "out", "parquet")
    con = duckdb.connect()
    columns = [
        r[0]
        for r in con.execute(
            f"DESCRIBE SELECT * FROM '{tmp_path / 'out' / 'entries.parquet'}'"
        ).fetchall()
    ]
    assert columns[:4] == ["playlist", "position", "track", "track_name"]
    for table in ("playlists", "tracks", "artists", "albums"):
        path = tmp_path / "out" / "tables" / f"{table}.parquet"
        assert con.execute(f"SELECT count(*) FROM '{path}'").fetchall()[0][0] > 0


def test_mpd_export_names_what_the_store_lacks(tmp_path: Path) -> None:
    rows = tmp_path / "np.csv"
    rows.write_text("user,artistname,trackname,playlistname\nu1,Air,La femme,Mix\n")
    ingest_paths(tmp_path / "h", [rows], maps=parse_maps(["playlist=user,playlistname"]))
    with pytest.raises(InvalidInputError, match=r"album ids.*Spotify URIs") as err:
        export(tmp_path / "h", tmp_path / "out", "mpd")
    assert "modification dates" in str(err.value)
    assert not (tmp_path / "out").exists()
    export(tmp_path / "h", tmp_path / "out", "csv")  # the tables need nothing
    ingest_paths(tmp_path / "h2", [tmp_path / "out"])
    assert compute_stats(tmp_path / "h2") == compute_stats(tmp_path / "h")


def test_export_through_the_cli(world_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["--home", str(world_home), "export", str(out), "--format", "csv", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["playlists"] == 1500
    again = runner.invoke(app, ["--home", str(world_home), "export", str(out)])
    assert isinstance(again.exception, InvalidInputError)  # exit 2 through `main`
    assert "not an empty folder" in str(again.exception)
