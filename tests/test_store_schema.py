"""The store's schema version 2: external playlist ids, tags, the `meta` table, and stores
written by the previous version (migrated by a writable open, read as they are read-only)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import simple_world

from spotifier.errors import SpotifierError
from spotifier.store import connect, ingest
from spotifier.store.schema import (
    SCHEMA_VERSION,
    playlist_id_sql,
    schema_version,
    source_kind,
)


def _make_v1(store: Path) -> None:
    """Turn a fresh store into what the previous version wrote: no meta, no playlist ids."""
    con = duckdb.connect(str(store))
    con.execute("DROP VIEW playlist_ids")
    con.execute("DROP TABLE meta")
    con.execute("ALTER TABLE playlists DROP COLUMN tags")
    con.execute("ALTER TABLE playlists DROP COLUMN playlist_id")
    con.close()


@pytest.fixture
def world(tmp_path: Path) -> Path:
    simple_world(tmp_path / "w" / "data", n_slices=2, per_slice=3)
    return tmp_path / "w"


def test_mpd_ingest_writes_version_2(tmp_path: Path, world: Path) -> None:
    ingest(tmp_path / "h", world, workers=1)
    with connect(tmp_path / "h") as con:
        assert schema_version(con) == SCHEMA_VERSION == 2
        assert source_kind(con) == "mpd"
        rows = con.execute("SELECT pid, playlist_id, tags FROM playlists ORDER BY pid").fetchall()
        assert rows and all(pid_text == str(pid) and tags is None for pid, pid_text, tags in rows)
        assert con.execute("SELECT count(*) FROM playlist_ids").fetchall() == [(len(rows),)]


def test_read_only_open_of_a_v1_store_reads_pids_as_ids(tmp_path: Path, world: Path) -> None:
    ingest(tmp_path / "h", world, workers=1)
    store = tmp_path / "h" / "store.duckdb"
    _make_v1(store)
    before = store.read_bytes()
    with connect(tmp_path / "h") as con:
        assert schema_version(con) == 1
        assert source_kind(con) == "mpd"
        expr = playlist_id_sql(con, "p")
        ids = con.execute(f"SELECT p.pid, {expr} FROM playlists p ORDER BY pid").fetchall()
        assert all(text == str(pid) for pid, text in ids)
        view = con.execute("SELECT pid, playlist_id FROM playlist_ids ORDER BY pid").fetchall()
        assert view == ids
    assert store.read_bytes() == before  # read-only: not migrated


def test_writable_open_migrates_a_v1_store_in_place(tmp_path: Path, world: Path) -> None:
    ingest(tmp_path / "h", world, workers=1)
    store = tmp_path / "h" / "store.duckdb"
    with connect(tmp_path / "h") as con:
        expected = con.execute(
            "SELECT pid, name, num_tracks FROM playlists ORDER BY pid"
        ).fetchall()
    _make_v1(store)
    connect(tmp_path / "h", read_only=False).close()
    with connect(tmp_path / "h") as con:
        assert schema_version(con) == 2 and source_kind(con) == "mpd"
        rows = con.execute(
            "SELECT pid, name, num_tracks, playlist_id FROM playlists ORDER BY pid"
        ).fetchall()
    assert [r[:3] for r in rows] == expected
    assert all(r[3] == str(r[0]) for r in rows)


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path, world: Path) -> None:
    ingest(tmp_path / "h", world, workers=1)
    con = duckdb.connect(str(tmp_path / "h" / "store.duckdb"))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    for read_only in (True, False):
        with pytest.raises(SpotifierError, match="schema version 99"):
            connect(tmp_path / "h", read_only=read_only)


def test_an_empty_store_has_no_source_kind(tmp_path: Path) -> None:
    connect(tmp_path / "h", read_only=False).close()
    with connect(tmp_path / "h") as con:
        assert schema_version(con) == 2
        assert source_kind(con) is None
