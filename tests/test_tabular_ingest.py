"""Tabular ingest: every format and shape, mappings, names-only ids, invalid rows listed with
their row numbers, --strict, resuming, and the MPD and tabular forms of one world agreeing."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotifier.errors import InvalidInputError
from spotifier.store import INVALID_FILE, connect
from spotifier.store.schema import source_kind
from spotifier.store.tabular import ingest_paths
from spotifier.store.tabular_map import parse_maps
from spotifier.store.tabular_rows import MAX_TITLE

TABLES = ("playlists", "tracks", "artists", "albums", "entries")


def dump(home: Path) -> dict[str, Any]:
    with connect(home) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def listed(home: Path) -> list[dict[str, Any]]:
    path = home / INVALID_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def entries_of(home: Path) -> dict[str, list[str]]:
    """{playlist id: its track ids in order}."""
    with connect(home) as con:
        rows = con.execute(
            """SELECT p.playlist_id, t.track_uri FROM entries e JOIN playlists p USING (pid)
            JOIN tracks t USING (track_idx) ORDER BY p.pid, e.pos"""
        ).fetchall()
    out: dict[str, list[str]] = {}
    for playlist, track in rows:
        out.setdefault(playlist, []).append(track)
    return out


LONG_ROWS = [
    {"playlist_id": "p1", "track_id": "t1", "position": 0, "title": "Rock"},
    {"playlist_id": "p2", "track_id": "t3", "position": 1, "title": "Chill"},
    {"playlist_id": "p1", "track_id": "t2", "position": 1, "title": "Rock"},
    {"playlist_id": "p2", "track_id": "t1", "position": 0, "title": "Chill"},
]
EXPECTED = {"p1": ["t1", "t2"], "p2": ["t1", "t3"]}


def write_rows(path: Path, rows: list[dict[str, Any]], fmt: str) -> Path:
    """`rows` in format `fmt` (csv, tsv, parquet, jsonl, json; `.gz` endings compress)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
        return path
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        header = list(rows[0])
        lines = [sep.join(header)] + [sep.join(str(r[k]) for k in header) for r in rows]
        text = "\n".join(lines) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        text = json.dumps(rows)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize(
    "name",
    ["a.csv", "a.tsv", "a.parquet", "a.jsonl", "a.ndjson", "a.json", "a.csv.gz", "a.jsonl.gz"],
)
def test_long_rows_in_every_format(tmp_path: Path, name: str) -> None:
    fmt = {"ndjson": "jsonl"}.get(name.split(".")[1], name.split(".")[1])
    path = write_rows(tmp_path / "in" / name, LONG_ROWS, fmt)
    report = ingest_paths(tmp_path / "h", [path])
    assert (report.playlists, report.entries, report.invalid_playlists) == (2, 4, 0)
    assert entries_of(tmp_path / "h") == EXPECTED
    with connect(tmp_path / "h") as con:
        titles = dict(con.execute("SELECT playlist_id, name FROM playlists").fetchall())
        assert titles == {"p1": "Rock", "p2": "Chill"}
        assert source_kind(con) == "tabular"
        # absent fields are NULL, never 0 or ''
        row = con.execute(
            "SELECT description, collaborative, modified_at, num_followers, num_albums, "
            "num_artists, duration_ms FROM playlists LIMIT 1"
        ).fetchall()[0]
        assert row == (None,) * 7
        assert con.execute("SELECT count(*) FROM tracks WHERE artist_idx IS NULL").fetchall() == [
            (3,)
        ]


def test_a_folder_of_files_and_the_format_option(tmp_path: Path) -> None:
    write_rows(tmp_path / "in" / "part-1.csv", LONG_ROWS[:2], "csv")
    write_rows(tmp_path / "in" / "part-2.csv", LONG_ROWS[2:3], "csv")
    odd = write_rows(tmp_path / "odd" / "rows.txt", LONG_ROWS[3:], "csv")
    report = ingest_paths(tmp_path / "h", [tmp_path / "in"])
    assert report.slices_ingested == 2
    with pytest.raises(InvalidInputError, match="unknown format"):
        ingest_paths(tmp_path / "h", [odd])
    # p2 is stored by then: its row in rows.txt is an invalid row, listed
    report = ingest_paths(tmp_path / "h", [odd], fmt="csv")
    assert report.invalid_playlists == 1
    assert listed(tmp_path / "h")[-1]["message"] == "p2 is already in the store"


def test_wide_rows_with_a_list_column_melon_style(tmp_path: Path) -> None:
    rows = [
        {"id": 7, "plylst_title": "여름", "tags": ["k-pop", "summer"], "songs": [5, 6, 5]},
        {"id": 8, "plylst_title": "night", "tags": [], "songs": [6]},
    ]
    path = write_rows(tmp_path / "melon.jsonl", rows, "jsonl")
    ingest_paths(tmp_path / "h", [path], maps=parse_maps(["playlist=id", "tracks=songs"]))
    assert entries_of(tmp_path / "h") == {"7": ["5", "6", "5"], "8": ["6"]}
    with connect(tmp_path / "h") as con:
        got = con.execute("SELECT playlist_id, name, tags FROM playlists ORDER BY pid").fetchall()
    assert got[0] == ("7", "여름", ["k-pop", "summer"])


def test_composite_keys_and_names_only_ids_are_stable(tmp_path: Path) -> None:
    rows = [
        {"user_id": "u/1", "artistname": "Björk ", "trackname": "Jóga", "playlistname": "Mix, 1"},
        {"user_id": "u/1", "artistname": "björk", "trackname": " jóga", "playlistname": "Other"},
        {"user_id": "ü2", "artistname": "Air", "trackname": "La  Femme", "playlistname": "Mix, 1"},
    ]
    path = write_rows(tmp_path / "np.csv", rows, "json")  # commas inside: JSON keeps them
    maps = parse_maps(["playlist=user_id,playlistname"])
    ingest_paths(tmp_path / "h1", [path], fmt="json", maps=maps)
    ingest_paths(tmp_path / "h2", [path], fmt="json", maps=maps)
    assert dump(tmp_path / "h1") == dump(tmp_path / "h2")
    got = entries_of(tmp_path / "h1")
    assert got == {
        "u/1/Mix, 1": ["björk — jóga"],
        "u/1/Other": ["björk — jóga"],
        "ü2/Mix, 1": ["air — la femme"],
    }
    with connect(tmp_path / "h1") as con:
        artists = con.execute("SELECT artist_uri, artist_name FROM artists").fetchall()
    assert artists == [("björk", "Björk"), ("air", "Air")]


def test_messy_headers_still_match(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    path.write_text('" Playlist ID" ,"Track-URI ", POS\nA,x,1\nA,y,0\n')
    ingest_paths(tmp_path / "h", [path])
    assert entries_of(tmp_path / "h") == {"A": ["y", "x"]}


def test_a_missing_mapped_column_is_one_error_listing_the_columns(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "a.csv", LONG_ROWS, "csv")
    with pytest.raises(InvalidInputError) as err:
        ingest_paths(tmp_path / "h", [path], maps=parse_maps(["track=song"]))
    message = str(err.value)
    assert "--map track=song: no column 'song'" in message
    assert "'playlist_id', 'track_id', 'position', 'title'" in message
    with pytest.raises(InvalidInputError, match="unknown key 'tracc'"):
        parse_maps(["tracc=x"])
    nameless = write_rows(tmp_path / "b.csv", [{"user": "u", "song": "s"}], "csv")
    with pytest.raises(InvalidInputError, match="no playlist id column"):
        ingest_paths(tmp_path / "h", [nameless])


def test_invalid_rows_are_listed_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "playlist,track,position,duration_ms\n"  # line 1
        "p1,t1,0,100\n"  # 2: fine
        "p1,t2\n"  # 3: too few fields
        "p1,t3,1.5,100\n"  # 4: not a whole number
        ",t4,2,100\n"  # 5: empty playlist id
        "p1,,3,100\n"  # 6: empty track id
        "p1,t5,0,100\n"  # 7: position 0 repeated
        "p1,t6,4,-5\n"  # 8: negative duration
        "p1,t7,5,100,extra\n"  # 9: too many fields
        "p1,t8,6,100\n"  # 10: fine
    )
    report = ingest_paths(tmp_path / "h", [path])
    assert report.entries == 2
    got = [(x["line"], x["field"]) for x in listed(tmp_path / "h")]
    assert got == [
        (3, "row"),
        (4, "position"),
        (5, "playlist"),
        (6, "track"),
        (7, "position"),
        (8, "duration_ms"),
        (9, "row"),
    ]
    assert all(x["file"] == "bad.csv" for x in listed(tmp_path / "h"))
    assert entries_of(tmp_path / "h") == {"p1": ["t1", "t8"]}
    # A row found invalid late (its position repeated) leaves no track behind in the catalogue.
    with connect(tmp_path / "h") as con:
        tracks = con.execute("SELECT track_uri FROM tracks ORDER BY track_idx").fetchall()
    assert [t for (t,) in tracks] == ["t1", "t8"]


def test_strict_stops_at_the_first_problem_and_changes_nothing(tmp_path: Path) -> None:
    good = write_rows(tmp_path / "in" / "1.csv", LONG_ROWS, "csv")
    ingest_paths(tmp_path / "h", [good])
    before = dump(tmp_path / "h")
    more = [{"playlist_id": "p9", "track_id": "t9", "position": 0, "title": "x"}]
    write_rows(tmp_path / "in2" / "a.csv", more, "csv")
    write_rows(tmp_path / "in2" / "b.csv", [dict(more[0], position=-1)], "csv")
    with pytest.raises(InvalidInputError, match=r"b\.csv: row 2: position: -1"):
        ingest_paths(tmp_path / "h", [tmp_path / "in2"], strict=True)
    assert dump(tmp_path / "h") == before
    with pytest.raises(InvalidInputError, match="--strict"):
        ingest_paths(tmp_path / "fresh", [tmp_path / "in2"], strict=True)
    assert not (tmp_path / "fresh" / "store.duckdb").exists()


def test_reruns_skip_ingested_files_and_an_unreadable_file_is_skipped(tmp_path: Path) -> None:
    write_rows(tmp_path / "in" / "a.csv", LONG_ROWS, "csv")
    (tmp_path / "in" / "b.parquet").write_bytes(b"PAR1 not really")
    report = ingest_paths(tmp_path / "h", [tmp_path / "in"])
    assert report.playlists == 2 and len(report.rejected_files) == 1
    assert "b.parquet" in report.rejected_files[0]
    again = ingest_paths(tmp_path / "h", [tmp_path / "in" / "a.csv"])
    assert (again.slices_skipped, again.playlists) == (1, 0)


def test_a_long_title_is_rejected_and_listed(tmp_path: Path) -> None:
    rows = [
        dict(r, title="x" * (MAX_TITLE + 1)) if r["playlist_id"] == "p2" else r for r in LONG_ROWS
    ]
    ingest_paths(tmp_path / "h", [write_rows(tmp_path / "a.parquet", rows, "parquet")])
    assert entries_of(tmp_path / "h") == {"p1": ["t1", "t2"]}
    assert {x["field"] for x in listed(tmp_path / "h")} == {"title"}


def test_an_interrupted_ingest_resumes(tmp_path: Path) -> None:
    for i in range(3):
        rows = [dict(r, playlist_id=f"{r['playlist_id']}-{i}") for r in LONG_ROWS]
        write_rows(tmp_path / "in" / f"{i}.csv", rows, "csv")
    script = (
        "import os, sys\n"
        "import spotifier.store.tabular as t\n"
        "real = t.write_checked\n"
        "calls = []\n"
        "def dying(con, *a):\n"
        "    calls.append(1)\n"
        "    out = real(con, *a)\n"
        "    if len(calls) == 2: os._exit(9)  # killed inside the second file's transaction\n"
        "    return out\n"
        "t.write_checked = dying\n"
        f"t.ingest_paths({str(tmp_path / 'h')!r}, [{str(tmp_path / 'in')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=120, check=False)
    assert done.returncode == 9
    with connect(tmp_path / "h") as con:
        assert con.execute("SELECT count(*) FROM slices").fetchall() == [(1,)]
        assert con.execute("SELECT count(*) FROM playlists").fetchall() == [(2,)]
    report = ingest_paths(tmp_path / "h", [tmp_path / "in"])
    assert (report.slices_skipped, report.slices_ingested) == (1, 2)
    assert len(entries_of(tmp_path / "h")) == 6


def test_the_tabular_and_mpd_forms_of_a_world_load_the_same_store(tmp_path: Path) -> None:
    from spotifier.store import ingest
    from spotifier.synth import generate

    generate(tmp_path / "mpd", n_playlists=1200, seed=3, workers=1)
    ingest(tmp_path / "h-mpd", tmp_path / "mpd", workers=1)
    expected = dump(tmp_path / "h-mpd")
    for fmt in ("parquet", "csv"):
        generate(tmp_path / fmt, n_playlists=1200, seed=3, workers=1, fmt=fmt)
        ingest_paths(tmp_path / f"h-{fmt}", [tmp_path / fmt])
        got = dump(tmp_path / f"h-{fmt}")
        for table in TABLES:
            assert got[table] == expected[table], (fmt, table)


# -- the row validator, against a plain-Python statement of the rules ---------------------

_cell = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "0", "1", "2", "-1", "1.5", "3.0", "x", "1e3", " 2 "]),
)


def _whole(text: str | None) -> int | str | None:
    """The rules for a whole-number cell: None = absent, int = fine, "bad" = invalid."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return "bad"
    return int(value) if value == int(value) and value >= 0 else "bad"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["", "a", "b"]), st.sampled_from(["", "t", "u"]), _cell, _cell),
        min_size=1,
        max_size=8,
    )
)
def test_row_validator_matches_the_rules(tmp_path: Path, rows: list[tuple[Any, ...]]) -> None:
    from spotifier.store.tabular_map import Source, resolve_columns
    from spotifier.store.tabular_rows import column_types, drop_rows, read_rows

    path = tmp_path / "rows.parquet"
    table = pa.table(
        {
            "playlist": [r[0] for r in rows],
            "track": [r[1] for r in rows],
            "position": pa.array([r[2] for r in rows], pa.string()),
            "duration_ms": pa.array([r[3] for r in rows], pa.string()),
        }
    )
    pq.write_table(table, path)
    con = duckdb.connect()
    con.execute("CREATE TABLE playlists (playlist_id VARCHAR)")
    source = Source(path, "parquet")
    types = column_types(con, source)
    read_rows(con, source, resolve_columns(list(types), {}, "rows.parquet"), types)
    bad = dict(con.execute("SELECT _row, why FROM _bad").fetchall())
    drop_rows(con)
    for number, (playlist, track, position, duration) in enumerate(rows, start=1):
        pos, dur = _whole(position), _whole(duration)
        expect = (
            "playlist"
            if not playlist
            else "track"
            if not track
            else "position"
            if pos is None or pos == "bad"
            else "duration_ms"
            if dur == "bad"
            else None
        )
        got = bad.get(number)
        assert (got.split(":")[0] if got else None) == expect, (rows, number, got)
