"""The store: ingest is whole-slice, resumable, idempotent; strict mode changes nothing; indices
never move; the interactions/catalogue cache follows the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import playlist, simple_world, track, write_slice

import spotifier.store.pipeline as pipeline
from spotifier.errors import InvalidInputError
from spotifier.home import Home
from spotifier.store import (
    INVALID_FILE,
    columns,
    connect,
    ingest,
    load_catalog,
    load_interactions,
    source_root,
    store_fingerprint,
)

TABLES = ("playlists", "tracks", "artists", "albums", "entries")


def dump(home: Path) -> dict[str, Any]:
    """Every table's rows (slices without the timestamp), for exact before/after comparisons."""
    with connect(home) as con:
        out: dict[str, Any] = {
            t: sorted(con.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES
        }
        out["slices"] = sorted(con.execute("SELECT file, md5, playlists FROM slices").fetchall())
    return out


def test_ingest_loads_every_table(tmp_path: Path) -> None:
    simple_world(tmp_path / "w" / "data", n_slices=2, per_slice=3)
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert (report.slices_ingested, report.playlists, report.entries) == (2, 6, 42)
    with connect(tmp_path / "h") as con:
        rows = con.execute("SELECT pid, pos, track_idx FROM entries WHERE pid = 1 ORDER BY pos")
        entries = rows.fetchall()
        uris = dict(con.execute("SELECT track_idx, track_uri FROM tracks").fetchall())
        assert [uris[t] for _, _, t in entries] == [
            track(n)["track_uri"] for n in (1, 2, 3, 4, 5, 6, 0)
        ]
        # indices in order of first appearance: playlist 0 holds tracks 0..5, then 0 again
        assert [uris[i] for i in range(6)] == [track(n)["track_uri"] for n in range(6)]
        pl = con.execute("SELECT * FROM playlists WHERE pid = 1000").fetchall()[0]
        assert pl[:4] == (1000, "Chill", None, False)
        feats = con.execute(
            "SELECT duration_ms_mean, top_artist, top_album FROM playlist_features WHERE pid = 0"
        ).fetchall()[0]
        # playlist 0 = tracks 0,1,2,3,4,5,0: artist 0 and album 0 occur twice
        assert feats == (200_000.0, "Artist 0", "Album 0")
        (artist_of_album,) = con.execute(
            "SELECT artist_idx FROM albums WHERE album_uri = ?", [track(3)["album_uri"]]
        ).fetchall()[0]
        assert artist_of_album == 3


def test_rerun_is_idempotent_and_indices_never_change(tmp_path: Path) -> None:
    paths = simple_world(tmp_path / "w", n_slices=3)
    home = tmp_path / "h"
    ingest(home, paths[1], workers=1)  # one slice first: its tracks get the first indices
    first = dump(home)
    report = ingest(home, tmp_path / "w", workers=1)
    assert (report.slices_skipped, report.slices_ingested) == (1, 2)
    after = dump(home)
    assert set(first["tracks"]) <= set(after["tracks"])
    assert set(first["artists"]) <= set(after["artists"])
    again = ingest(home, tmp_path / "w", workers=1)
    assert (again.slices_skipped, again.slices_ingested, again.playlists) == (3, 0, 0)
    assert dump(home) == after


def _crash_on_second_slice(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    original = getattr(pipeline, target)
    calls = {"n": 0}

    def crashing(con: Any, parsed: Any, stored: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            if target == "_write_slice":
                original(con, parsed, stored)  # rows written, transaction not committed
            raise KeyboardInterrupt
        original(con, parsed, stored)

    monkeypatch.setattr(pipeline, target, crashing)


@pytest.mark.parametrize("where", ["_commit", "_write_slice"])
def test_resume_after_interrupted_run_equals_clean_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    simple_world(tmp_path / "w", n_slices=3)
    ingest(tmp_path / "clean", tmp_path / "w", workers=1)
    with monkeypatch.context() as m:
        _crash_on_second_slice(m, where)
        with pytest.raises(KeyboardInterrupt):
            ingest(tmp_path / "h", tmp_path / "w", workers=1)
    with connect(tmp_path / "h") as con:
        assert con.execute("SELECT count(*) FROM slices").fetchall() == [(1,)]
        assert con.execute("SELECT count(*) FROM playlists").fetchall() == [(4,)]
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert (report.slices_skipped, report.slices_ingested) == (1, 2)
    assert dump(tmp_path / "h") == dump(tmp_path / "clean")


KILLER = """
import os, sys
import spotifier.store.pipeline as p
original = p._write_slice
calls = []
def write(con, parsed, stored):
    calls.append(1)
    original(con, parsed, stored)
    if len(calls) == 2:
        os._exit(9)  # killed mid-transaction: rows written, no commit
p._write_slice = write
p.ingest(sys.argv[1], sys.argv[2], workers=1)
"""


def test_process_killed_mid_slice_loses_nothing(tmp_path: Path) -> None:
    simple_world(tmp_path / "w", n_slices=3)
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "h"), str(tmp_path / "w")],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr.decode()
    with connect(tmp_path / "h") as con:
        assert con.execute("SELECT file FROM slices").fetchall() == [("mpd.slice.0-999.json",)]
        assert con.execute("SELECT count(DISTINCT pid) FROM entries").fetchall() == [(4,)]
    ingest(tmp_path / "h", tmp_path / "w", workers=1)
    ingest(tmp_path / "clean", tmp_path / "w", workers=1)
    assert dump(tmp_path / "h") == dump(tmp_path / "clean")


def _world_with_invalid(folder: Path) -> None:
    write_slice(folder, [playlist(0, [1, 2, 3, 4, 5]), playlist(1, [2, 3, 4, 5, 6])], first=0)
    bad = playlist(1001, [7, 8, 9, 10, 11], num_followers=0)
    short = playlist(1002, [7, 8, 9])
    write_slice(folder, [playlist(1000, [7, 8, 9, 10, 11, 12]), bad, short], first=1000)


def test_default_mode_skips_invalid_playlists_and_lists_them(tmp_path: Path) -> None:
    _world_with_invalid(tmp_path / "w")
    home = tmp_path / "h"
    report = ingest(home, tmp_path / "w", workers=1)
    assert (report.playlists, report.invalid_playlists) == (3, 2)
    assert "pid 1001: num_followers" in report.examples[0]
    lines = [json.loads(x) for x in (home / INVALID_FILE).read_text().splitlines()]
    assert [(x["pid"], x["violations"][0]["field"]) for x in lines] == [
        (1001, "num_followers"),
        (1002, "tracks"),
    ]
    with connect(home) as con:
        assert [p for (p,) in con.execute("SELECT pid FROM playlists ORDER BY pid").fetchall()] == [
            0,
            1,
            1000,
        ]
        # tracks only the skipped playlists used were not added
        assert con.execute("SELECT count(*) FROM tracks").fetchall() == [(12,)]


def test_strict_mode_stops_and_leaves_the_store_unchanged(tmp_path: Path) -> None:
    home = tmp_path / "h"
    write_slice(tmp_path / "first", [playlist(5000, [40, 41, 42, 43, 44])], first=5000)
    ingest(home, tmp_path / "first", workers=1)
    before, fingerprint = dump(home), store_fingerprint(home)
    _world_with_invalid(tmp_path / "w")  # slice 0 is valid and gets committed before the failure
    with pytest.raises(InvalidInputError, match=r"pid 1001: num_followers"):
        ingest(home, tmp_path / "w", strict=True, workers=1)
    assert dump(home) == before
    assert store_fingerprint(home) == fingerprint
    assert not (home / INVALID_FILE).exists()
    # the same data passes in default mode afterwards, with the same indices as a fresh store
    ingest(home, tmp_path / "w", workers=1)
    assert dump(home)["tracks"][:5] == before["tracks"]


def test_strict_failure_on_a_fresh_home_leaves_no_store(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _world_with_invalid(tmp_path / "w")
    with pytest.raises(InvalidInputError, match=r"pid 1001: num_followers"):
        ingest(home, tmp_path / "w", strict=True, workers=1)
    assert not (home / "store.duckdb").exists()
    assert not (home / "store.duckdb.wal").exists()
    ingest(home, tmp_path / "w", workers=1)  # and the home works afterwards
    with connect(home) as con:
        assert con.execute("SELECT count(*) FROM playlists").fetchall()[0][0] > 0


def test_pid_in_two_slices_is_an_invalid_playlist_and_the_rest_loads(tmp_path: Path) -> None:
    write_slice(tmp_path / "w", [playlist(7, [1, 2, 3, 4, 5])], first=0)
    write_slice(
        tmp_path / "w", [playlist(7, [6, 7, 8, 9, 10]), playlist(8, [6, 7, 8, 9, 10])], first=1000
    )
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert (report.slices_ingested, report.playlists, report.invalid_playlists) == (2, 2, 1)
    listed = [json.loads(line) for line in (tmp_path / "h" / INVALID_FILE).read_text().splitlines()]
    assert [(x["file"], x["pid"], x["violations"][0]["field"]) for x in listed] == [
        ("mpd.slice.1000-1999.json", 7, "pid")
    ]
    with pytest.raises(InvalidInputError, match=r"mpd.slice.1000-1999.json: pid 7: pid: already"):
        ingest(tmp_path / "strict", tmp_path / "w", workers=1, strict=True)
    assert not (tmp_path / "strict" / "store.duckdb").exists()


def test_pid_stored_by_an_earlier_run_is_listed_and_the_others_load(tmp_path: Path) -> None:
    write_slice(tmp_path / "a", [playlist(p, [p + 1, 2, 3, 4, 5]) for p in (3, 7, 9)], first=0)
    ingest(tmp_path / "h", tmp_path / "a", workers=1)
    write_slice(tmp_path / "b", [playlist(p, [6, 7, 8, 9, 10]) for p in (12, 9, 7, 20)], first=1000)
    report = ingest(tmp_path / "h", tmp_path / "b", workers=1)
    assert (report.playlists, report.invalid_playlists) == (2, 2)
    with connect(tmp_path / "h") as con:
        pids = con.execute("SELECT pid FROM playlists ORDER BY pid").fetchall()
    assert [p for (p,) in pids] == [3, 7, 9, 12, 20]
    again = ingest(tmp_path / "h", tmp_path / "b", workers=1)  # a re-run: done, not failing
    assert again.slices_skipped == 1 and not again.rejected_files


def test_an_unreadable_slice_is_skipped_and_named_the_others_load(tmp_path: Path) -> None:
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5])], first=0)
    write_slice(tmp_path / "w", [playlist(1000, [1, 2, 3, 4, 5])], first=1000)
    write_slice(tmp_path / "w", [playlist(2000, [1, 2, 3, 4, 5])], first=2000)
    broken = tmp_path / "w" / "mpd.slice.1000-1999.json"
    broken.write_bytes(broken.read_bytes()[:-50])
    report = ingest(tmp_path / "h", tmp_path / "w", workers=2)
    assert report.playlists == 2
    assert (
        len(report.rejected_files) == 1 and "mpd.slice.1000-1999.json" in report.rejected_files[0]
    )
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        ingest(tmp_path / "strict", tmp_path / "w", workers=1, strict=True)


def test_a_deeply_nested_slice_is_one_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / "w" / "mpd.slice.0-999.json"
    deep.parent.mkdir()
    deep.write_bytes(b'{"playlists": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(InvalidInputError, match=r"mpd\.slice\.0-999\.json: not valid JSON"):
        ingest(tmp_path / "h", tmp_path / "w", workers=1, strict=True)
    report = ingest(tmp_path / "h2", tmp_path / "w", workers=1)
    assert report.playlists == 0 and "not valid JSON" in report.rejected_files[0]


def test_an_overlong_title_rejects_the_playlist(tmp_path: Path) -> None:
    long_title = dict(playlist(1, [1, 2, 3, 4, 5]), name="x" * 5_000)
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5]), long_title])
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert (report.playlists, report.invalid_playlists) == (1, 1)
    assert "pid 1: name: 5,000 characters, over the limit of 1,000" in report.examples[0]


def test_name_conflict_with_the_store_rejects_the_playlist(tmp_path: Path) -> None:
    home = tmp_path / "h"
    write_slice(tmp_path / "a", [playlist(0, [1, 2, 3, 4, 5])], first=0)
    ingest(home, tmp_path / "a", workers=1)
    renamed = dict(track(3), album_name="Not album 3")
    write_slice(
        tmp_path / "b",
        [playlist(1000, [renamed, 20, 21, 22, 23]), playlist(1001, [30, 31, 32, 33, 2])],
        first=1000,
    )
    report = ingest(home, tmp_path / "b", workers=1)
    assert report.invalid_playlists == 1
    assert "pid 1000: tracks[0].album_name" in report.examples[0]
    ingest(tmp_path / "h2", tmp_path / "a", workers=1)
    with pytest.raises(InvalidInputError, match="album_name"):
        ingest(tmp_path / "h2", tmp_path / "b", strict=True, workers=1)
    with connect(home) as con:
        uris = [
            u for (u,) in con.execute("SELECT track_uri FROM tracks ORDER BY track_idx").fetchall()
        ]
    # tracks 20-23 came only with the rejected playlist; 30-33 were appended in order
    assert uris == [track(n)["track_uri"] for n in (1, 2, 3, 4, 5, 30, 31, 32, 33)]


def test_source_root_follows_the_generator_layout(tmp_path: Path) -> None:
    simple_world(tmp_path / "gen" / "data", n_slices=1)
    (tmp_path / "gen" / "truth").mkdir()
    simple_world(tmp_path / "plain", n_slices=1)
    home = tmp_path / "h"
    assert source_root(home) is None
    ingest(home, tmp_path / "gen" / "data", workers=1)
    assert source_root(home) == (tmp_path / "gen").resolve()
    ingest(home, tmp_path / "gen", workers=1)
    assert source_root(home) == (tmp_path / "gen").resolve()
    ingest(tmp_path / "h2", tmp_path / "plain", workers=1)
    assert source_root(tmp_path / "h2") == (tmp_path / "plain").resolve()


def test_interactions_and_catalog_from_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    write_slice(
        folder,
        [playlist(1001, [9, 8, 9, 7, 6], name="B"), playlist(1000, [1, 2, 3, 4, 5])],
        first=1000,
    )
    write_slice(folder, [playlist(3, [5, 6, 7, 8, 9], name="Café")], first=0, gz=True)
    ingest(tmp_path / "h", folder, workers=1)
    inter = load_interactions(tmp_path / "h")
    catalog = load_catalog(tmp_path / "h")
    assert inter.pids.tolist() == [3, 1000, 1001]
    assert inter.titles.tolist() == ["Café", "list 1000", "B"]
    as_numbers = [
        [int(catalog.track_uris[t].rsplit(":", 1)[1]) for t in inter.playlist(r)]
        for r in range(inter.n_playlists)
    ]
    assert as_numbers == [[5, 6, 7, 8, 9], [1, 2, 3, 4, 5], [9, 8, 9, 7, 6]]
    assert inter.n_tracks == catalog.n_tracks == 9
    # the gz slice 0-999 is read first: its tracks get the first indices
    assert catalog.track_uris[0] == track(5)["track_uri"]
    t = int(catalog.index_of([track(8)["track_uri"]])[0][0])
    assert catalog.artist_names[catalog.track_artist[t]] == "Artist 1"
    assert catalog.album_names[catalog.track_album[t]] == "Album 8"
    assert catalog.track_duration_ms[t] == 200_000
    assert inter.matrix[2].toarray()[0, catalog.index_of([track(9)["track_uri"]])[0][0]] == 2


def test_cache_is_reused_until_a_new_slice_arrives(tmp_path: Path) -> None:
    home = Home(tmp_path / "h")
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5])], first=0)
    ingest(home, tmp_path / "w", workers=1)
    first = load_interactions(home)
    load_catalog(home)
    cached = sorted(p.name for p in home.matrices_dir.glob("*.npz"))
    assert len(cached) == 2
    mtimes = {p: p.stat().st_mtime_ns for p in home.matrices_dir.glob("*.npz")}
    assert load_interactions(home).tracks.tolist() == first.tracks.tolist()
    assert {p: p.stat().st_mtime_ns for p in home.matrices_dir.glob("*.npz")} == mtimes
    with np.load(home.matrices_dir / cached[1], allow_pickle=False) as z:
        assert z["tracks"].dtype == np.int32
    write_slice(tmp_path / "w", [playlist(1000, [5, 6, 7, 8, 9])], first=1000)
    ingest(home, tmp_path / "w", workers=1)
    second = load_interactions(home)
    assert second.n_playlists == 2 and second.n_tracks == 9
    assert load_catalog(home).n_tracks == 9
    assert sorted(p.name for p in home.matrices_dir.glob("*.npz")) != cached
    assert len(list(home.matrices_dir.glob("*.npz"))) == 2  # stale caches removed


@pytest.mark.slow
def test_worker_processes_give_the_same_store(tmp_path: Path) -> None:
    simple_world(tmp_path / "w", n_slices=4, per_slice=20)
    ingest(tmp_path / "serial", tmp_path / "w", workers=1)
    report = ingest(tmp_path / "parallel", tmp_path / "w", workers=2)
    assert report.slices_ingested == 4
    assert dump(tmp_path / "parallel") == dump(tmp_path / "serial")


def test_info_block_problems_warn_by_default_and_fail_strict(tmp_path: Path) -> None:
    path = write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5])])
    doc = json.loads(path.read_text())
    del doc["info"]["version"]
    path.write_text(json.dumps(doc, indent=4))
    with pytest.raises(InvalidInputError, match=r"info\.version"):
        ingest(tmp_path / "strict", tmp_path / "w", strict=True, workers=1)
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert report.playlists == 1
    assert report.info_problems == [
        "mpd.slice.0-999.json: playlist: info.version: missing or not a string"
    ]


def test_a_changed_slice_is_refused_not_mixed_in(tmp_path: Path) -> None:
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 5])])
    ingest(tmp_path / "h", tmp_path / "w", workers=1)
    before = dump(tmp_path / "h")
    write_slice(tmp_path / "w", [playlist(0, [1, 2, 3, 4, 6])])
    with pytest.raises(InvalidInputError, match=r"mpd.slice.0-999.json: changed since it was"):
        ingest(tmp_path / "h", tmp_path / "w", workers=1, strict=True)
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert "changed since it was ingested" in report.rejected_files[0]
    assert dump(tmp_path / "h") == before


def _three_slices_with_a_conflict(folder: Path) -> None:
    write_slice(folder, [playlist(0, [1, 2, 3, 4, 5])], first=0)
    renamed = dict(track(3), album_name="Not album 3")
    # pid 1000 is rejected (track 3's album renamed): tracks 20-23 arrive only with it
    write_slice(
        folder,
        [playlist(1000, [renamed, 20, 21, 22, 23]), playlist(1001, [30, 31, 32, 33, 2])],
        first=1000,
    )
    write_slice(
        folder,
        [playlist(2000, [33, 20, 40, 1, 41]), playlist(2001, [21, 42, 30, 5, 43])],
        first=2000,
    )


def test_one_run_over_slices_finds_what_earlier_slices_stored(tmp_path: Path) -> None:
    """URIs stored by a slice of the same run (after a compaction) are found by the next one,
    exactly as when each slice is ingested by a run of its own (which reads them back)."""
    _three_slices_with_a_conflict(tmp_path / "w")
    one_run = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert (one_run.playlists, one_run.invalid_playlists) == (4, 1)
    files = sorted(
        (tmp_path / "w").glob("mpd.slice.*"), key=lambda p: int(p.name.split(".")[2].split("-")[0])
    )
    for i, file in enumerate(files):
        (tmp_path / f"only{i}").mkdir()
        (tmp_path / f"only{i}" / file.name).write_bytes(file.read_bytes())
        ingest(tmp_path / "h2", tmp_path / f"only{i}", workers=1)
    ours, theirs = dump(tmp_path / "h"), dump(tmp_path / "h2")
    assert ours["tracks"] == theirs["tracks"] and ours["entries"] == theirs["entries"]
    with connect(tmp_path / "h") as con:
        uris = [
            u for (u,) in con.execute("SELECT track_uri FROM tracks ORDER BY track_idx").fetchall()
        ]
    assert uris == [
        track(n)["track_uri"] for n in (1, 2, 3, 4, 5, 30, 31, 32, 33, 20, 40, 41, 21, 42, 43)
    ]


def test_a_hash_clash_falls_back_to_an_exact_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _three_slices_with_a_conflict(tmp_path / "w")
    ingest(tmp_path / "clean", tmp_path / "w", workers=1)
    # Every URI gets the same first hash: each lookup meets a clash and must go exact.
    original = columns.hash_sql
    monkeypatch.setattr(
        columns,
        "hash_sql",
        lambda uri, name: original(uri, name).replace(f"hash({uri}) AS a", "42::UBIGINT AS a", 1),
    )
    report = ingest(tmp_path / "h", tmp_path / "w", workers=1)
    assert (report.playlists, report.invalid_playlists) == (4, 1)
    assert dump(tmp_path / "h") == dump(tmp_path / "clean")


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_parser_workers_die_with_their_parent(signal_name: str) -> None:
    import signal
    import time

    script = (
        "import sys, time\n"
        "from spotifier.store.parsers import start_parsers\n"
        "pool = start_parsers(2)\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        workers = _children(parent.pid)
        assert len(workers) >= 2
        parent.send_signal(getattr(signal, signal_name))
        parent.wait(timeout=30)
        for _ in range(300):  # bounded: up to ~30 s for the workers to notice
            if not any(_alive(w) for w in workers):
                break
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:
        parent.kill()
        parent.wait(timeout=30)
