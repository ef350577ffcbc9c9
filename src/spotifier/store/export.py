"""`spotifier export OUT`: the store as tables other tools read, or as MPD slices.

Parquet or CSV (`--format parquet|csv`), under the ingest keys' default column names:

- `OUT/entries.<ext>`: one row per playlist entry, with the playlist's fields and the track's
  names and ids (the long shape `spotifier ingest OUT` reads back: export, then ingest into a
  new home, gives identical `stats`);
- `OUT/tables/playlists.<ext>`, `tracks`, `artists`, `albums`: the store's tables with external
  ids (`playlist`, `track`, `artist`, `album`) instead of internal indices.

In CSV, a playlist's tags are one cell joined by `|`. `--format mpd` writes
`OUT/data/mpd.slice.<first>-<last>.json` (1,000 pids a slice) when the store holds every
field the MPD requires, else one error naming what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from spotifier.errors import InvalidInputError
from spotifier.home import Home, atomic_dir
from spotifier.store.schema import connect, playlist_id_sql
from spotifier.store.tabular_rows import sql_string

EXPORT_FORMATS = ("parquet", "csv", "mpd")
SLICE_PLAYLISTS = 1000

# the fields an MPD slice must have (`present_fields` names) and how they read in the error
_MPD_NEEDS = {
    "title": "playlist titles",
    "collaborative": "collaborative flags",
    "modified_at": "modification dates",
    "num_followers": "follower counts",
    "num_edits": "edit counts",
    "artist": "artist ids",
    "album": "album ids",
    "track_name": "track names",
    "artist_name": "artist names",
    "album_name": "album names",
    "duration_ms": "track durations",
    "spotify_uris": "Spotify URIs as track ids",
}


def _entries_sql(con: duckdb.DuckDBPyConnection, csv: bool) -> str:
    tags = "array_to_string(p.tags, '|')" if csv else "p.tags"
    return f"""
        SELECT {playlist_id_sql(con, "p")} AS playlist, e.pos AS position, t.track_uri AS track,
               t.track_name, a.artist_uri AS artist, a.artist_name, b.album_uri AS album,
               b.album_name, t.duration_ms, p.name AS title, p.description, p.collaborative,
               p.modified_at, p.num_followers, p.num_edits, {tags} AS tags
        FROM entries e JOIN playlists p USING (pid) JOIN tracks t USING (track_idx)
        LEFT JOIN artists a ON a.artist_idx = t.artist_idx
        LEFT JOIN albums b ON b.album_idx = t.album_idx
        ORDER BY e.pid, e.pos"""


def _tables_sql(con: duckdb.DuckDBPyConnection, csv: bool) -> dict[str, str]:
    tags = "array_to_string(p.tags, '|')" if csv else "p.tags"
    return {
        "playlists": f"""SELECT {playlist_id_sql(con, "p")} AS playlist, p.name AS title,
            p.description, p.collaborative, p.modified_at, p.num_tracks, p.num_albums,
            p.num_artists, p.num_followers, p.num_edits, p.duration_ms, {tags} AS tags
            FROM playlists p ORDER BY p.pid""",
        "tracks": """SELECT t.track_uri AS track, t.track_name, a.artist_uri AS artist,
            b.album_uri AS album, t.duration_ms FROM tracks t
            LEFT JOIN artists a ON a.artist_idx = t.artist_idx
            LEFT JOIN albums b ON b.album_idx = t.album_idx ORDER BY t.track_idx""",
        "artists": "SELECT artist_uri AS artist, artist_name FROM artists ORDER BY artist_idx",
        "albums": """SELECT b.album_uri AS album, b.album_name, a.artist_uri AS artist
            FROM albums b LEFT JOIN artists a ON a.artist_idx = b.artist_idx
            ORDER BY b.album_idx""",
    }


def export(home: Home | str | Path, out: str | Path, fmt: str = "parquet") -> dict[str, int]:
    """Write the store at `home` to the folder `out` (see the module docstring); the folder
    appears whole or not at all. Returns the number of playlists and entries written."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"--format {fmt!r}: choose from {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInputError(f"{out}: exists and is not an empty folder; choose a new one")
    with connect(home) as con:
        counts = {
            "playlists": int(con.execute("SELECT count(*) FROM playlists").fetchall()[0][0]),
            "entries": int(con.execute("SELECT count(*) FROM entries").fetchall()[0][0]),
        }
        if fmt == "mpd":
            _check_mpd_fields(con)
        with atomic_dir(out) as tmp:
            if fmt == "mpd":
                _write_slices(con, tmp / "data")
            else:
                _write_tables(con, tmp, fmt)
    return counts


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> None:
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
    con.execute(f"COPY ({sql}) TO {sql_string(str(path))} ({options})").fetchall()


def _write_tables(con: duckdb.DuckDBPyConnection, folder: Path, fmt: str) -> None:
    csv = fmt == "csv"
    _copy(con, _entries_sql(con, csv), folder / f"entries.{fmt}", fmt)
    (folder / "tables").mkdir()
    for name, sql in _tables_sql(con, csv).items():
        _copy(con, sql, folder / "tables" / f"{name}.{fmt}", fmt)


def _check_mpd_fields(con: duckdb.DuckDBPyConnection) -> None:
    from spotifier.store.fields import present_fields

    present = present_fields(con)
    missing = [label for field, label in _MPD_NEEDS.items() if field not in present]
    if missing:
        raise InvalidInputError(
            f"--format mpd needs fields this store lacks: {', '.join(missing)}; "
            "export as parquet or csv instead"
        )
    bad = con.execute(
        "SELECT min(pid), max(pid) FROM playlists WHERE pid < 0 OR pid > 999999"
    ).fetchall()
    if bad and bad[0][0] is not None:
        raise InvalidInputError("--format mpd needs pids within 0..999,999")


def _write_slices(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """One slice per 1,000 pids; each playlist's JSON is built by DuckDB, in key order."""
    from spotifier.mpd.format import slice_name
    from spotifier.mpd.writer import dumps_slice

    folder.mkdir(parents=True)
    top = con.execute("SELECT coalesce(max(pid), -1) FROM playlists").fetchall()[0][0]
    for first in range(0, int(top) + 1, SLICE_PLAYLISTS):
        last = first + SLICE_PLAYLISTS - 1
        rows = con.execute(
            f"""SELECT p.pid, p.name, p.description, p.collaborative, p.modified_at,
                   p.num_followers, p.num_edits, p.duration_ms, p.num_albums, p.num_artists,
                   to_json(list({{'pos': e.pos, 'artist_name': a.artist_name,
                       'track_uri': t.track_uri, 'artist_uri': a.artist_uri,
                       'track_name': t.track_name, 'album_uri': b.album_uri,
                       'duration_ms': t.duration_ms, 'album_name': b.album_name}}
                       ORDER BY e.pos))
            FROM playlists p JOIN entries e USING (pid) JOIN tracks t USING (track_idx)
            JOIN artists a ON a.artist_idx = t.artist_idx
            JOIN albums b ON b.album_idx = t.album_idx
            WHERE p.pid BETWEEN {first} AND {last}
            GROUP BY ALL ORDER BY p.pid"""
        ).fetchall()
        playlists = []
        for row in rows:
            pid, title, description, collab, modified, followers, edits, dur = row[:8]
            albums, artists, track_list = row[8], row[9], json.loads(row[10])
            playlist = {
                "name": title,
                **({"description": description} if description is not None else {}),
                "collaborative": "true" if collab else "false",
                "pid": pid,
                "modified_at": modified,
                "num_tracks": len(track_list),
                "num_albums": albums,
                "num_followers": followers,
                "tracks": track_list,
                "num_edits": edits,
                "duration_ms": dur,
                "num_artists": artists,
            }
            playlists.append(playlist)
        if playlists:
            name = slice_name(first, SLICE_PLAYLISTS)
            (folder / name).write_bytes(dumps_slice(playlists, f"{first}-{last}"))
