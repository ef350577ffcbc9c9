"""Tabular ingest, part 3: one file's checked rows into the store's tables, in SQL.

`write_checked` reads what `tabular_rows.read_rows` set up (the views `_can` and `_ent`, the
table `_bad` of invalid rows, which it adds to) inside the caller's transaction: the valid
playlists (`_pl`), rows made invalid by what only the whole file or the store shows (a
playlist id already stored, a position repeated in a playlist: found before the catalogue is
written, so no track is stored for an invalid row), the new artists, albums and tracks, then the
entries and playlists.

Ids: the playlist's own id is `playlists.playlist_id`; `pid` is assigned here, after the
store's largest, in order of first appearance. New tracks, artists and albums get the next
indices in order of first appearance, as in the MPD ingest. A track, artist or album already in
the store keeps its stored name and artist/album (the first name seen wins, in a file too).
Positions are renumbered 0..n-1 within a playlist, in the order of the given positions (else of
the rows), so a playlist whose invalid rows were skipped has no gaps.
"""

from __future__ import annotations

import duckdb

from spotifier.store.schema import record_source_kind


def _first(column: str, order: str = "_row") -> str:
    """The first non-NULL value of `column` in file order, in a GROUP BY."""
    return f"arg_min({column}, CASE WHEN {column} IS NOT NULL THEN {order} END)"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    con.execute(sql).fetchall()


_VALID = "_row NOT IN (SELECT _row FROM _bad)"


def _playlists(con: duckdb.DuckDBPyConnection) -> None:
    """`_pl`: each valid playlist's key, first row, playlist fields (those of its first row)
    and new pid; a playlist whose id is already stored becomes invalid rows."""
    fields = ("title", "description", "collaborative", "modified_at", "num_followers")
    packed = ", ".join(f"{f} := {f}" for f in (*fields, "num_edits", "tags"))
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _pl AS
        SELECT key, first, a.title AS name, a.description, a.collaborative, a.modified_at,
               a.num_followers, a.num_edits, a.tags FROM (
            SELECT key, min(_row) AS first, arg_min(struct_pack({packed}), _row) AS a
            FROM _can WHERE {_VALID} GROUP BY key)""",
    )
    stored = "(SELECT key FROM _pl WHERE key IN (SELECT playlist_id FROM playlists))"
    if _scalar(con, f"SELECT count(*) FROM {stored}"):
        _run(
            con,
            f"""INSERT INTO _bad SELECT _row, key, 'playlist: ' || key || ' is already in the store'
            FROM _can WHERE key IN {stored} AND {_VALID}""",
        )
        _run(con, "DELETE FROM _pl WHERE key IN (SELECT key FROM _bad)")
    base = _scalar(con, "SELECT coalesce(max(pid) + 1, 0) FROM playlists")
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _pl AS
        SELECT {base} + row_number() OVER (ORDER BY first) - 1 AS pid, * FROM _pl""",
    )


def _catalogue(con: duckdb.DuckDBPyConnection) -> None:
    """New artists, albums and tracks (after the stored ones, by first appearance), and
    `_tmap`: each of the file's tracks with its stored index, artist, album and duration."""
    # one aggregate of a struct: the attributes of the track's first row (7 -> 3 s at 1.3M
    # rows against an aggregate per attribute)
    attrs = ("track_name", "artist", "artist_name", "album", "album_name", "duration_ms")
    packed = ", ".join(f"{a} := {a}" for a in attrs)
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _tr AS
        SELECT uri, first, a.track_name AS name, a.artist, a.artist_name, a.album, a.album_name,
               a.duration_ms FROM (
            SELECT track AS uri, min(_ord) AS first, arg_min(struct_pack({packed}), _ord) AS a
            FROM _ent WHERE {_VALID} AND key IN (SELECT key FROM _pl) GROUP BY track)""",
    )
    for table, uri, extra in (
        ("artists", "artist", ""),
        ("albums", "album", ", arg_min(artist, first) AS of_artist"),
    ):
        base = _scalar(con, f"SELECT count(*) FROM {table}")
        _run(
            con,
            f"""CREATE OR REPLACE TEMP TABLE _new AS
            SELECT {base} + row_number() OVER (ORDER BY first) - 1 AS idx, * FROM (
                SELECT {uri} AS uri, min(first) AS first,
                       {_first(uri + "_name", "first")} AS name{extra}
                FROM _tr WHERE {uri} IS NOT NULL GROUP BY {uri})
            WHERE uri NOT IN (SELECT {uri}_uri FROM {table})""",
        )
        if table == "artists":
            _run(con, "INSERT INTO artists SELECT idx, uri, name FROM _new ORDER BY idx")
        else:
            _run(
                con,
                """INSERT INTO albums SELECT n.idx, n.uri, n.name, a.artist_idx FROM _new n
                LEFT JOIN artists a ON a.artist_uri = n.of_artist ORDER BY n.idx""",
            )
    base = _scalar(con, "SELECT count(*) FROM tracks")
    _run(
        con,
        f"""INSERT INTO tracks
        SELECT {base} + row_number() OVER (ORDER BY n.first) - 1, n.uri, n.name, a.artist_idx,
               b.album_idx, CAST(n.duration_ms AS INTEGER)
        FROM _tr n LEFT JOIN artists a ON a.artist_uri = n.artist
        LEFT JOIN albums b ON b.album_uri = n.album
        WHERE n.uri NOT IN (SELECT track_uri FROM tracks)""",
    )
    _run(
        con,
        """CREATE OR REPLACE TEMP TABLE _tmap AS
        SELECT t.track_uri AS uri, t.track_idx, t.artist_idx, t.album_idx, t.duration_ms
        FROM tracks t JOIN _tr n ON t.track_uri = n.uri""",
    )


def _repeated_positions(con: duckdb.DuckDBPyConnection) -> None:
    """A position repeated in a playlist makes the later rows invalid. Checked before the
    catalogue is written, so that a track named only on such a row is not stored."""
    playlists = "key IN (SELECT key FROM _pl)"
    valid = f"SELECT key, position, _row, _ord FROM _ent WHERE {_VALID} AND {playlists}"
    repeated = f"(SELECT key, position FROM ({valid}) GROUP BY ALL HAVING count(*) > 1)"
    if _scalar(con, f"SELECT count(*) FROM {repeated}"):
        _run(
            con,
            f"""INSERT INTO _bad SELECT _row, key,
                'position: ' || position || ' repeated in playlist ' || key FROM (
                SELECT v._row, v.key, v.position, row_number() OVER (
                    PARTITION BY v.key, v.position ORDER BY v._ord) AS n
                FROM ({valid}) v JOIN {repeated} r USING (key, position))
            WHERE n > 1""",
        )


def _entries(con: duckdb.DuckDBPyConnection, positions: str) -> None:
    """`_e`: every valid entry with its pid and track. Positions become 0..n-1 (`positions`:
    "given", "list" or "rows")."""
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _e AS
        SELECT p.pid, e.position, e._row, e._ord, m.track_idx, m.artist_idx, m.album_idx,
               m.duration_ms
        FROM _ent e JOIN _pl p USING (key) JOIN _tmap m ON m.uri = e.track
        WHERE e.{_VALID}""",
    )
    dense = positions == "list"
    if positions == "given":  # (repeated positions are already invalid: `_repeated_positions`)
        dense = not _scalar(
            con,
            """SELECT count(*) FROM (SELECT pid FROM _e GROUP BY pid
            HAVING min(position) <> 0 OR max(position) <> count(*) - 1)""",
        )
    if not dense:
        _run(
            con,
            """CREATE OR REPLACE TEMP TABLE _e AS
            SELECT * REPLACE (row_number() OVER (
                PARTITION BY pid ORDER BY position NULLS LAST, _ord) - 1 AS position)
            FROM _e""",
        )


def write_checked(
    con: duckdb.DuckDBPyConnection, file: str, md5: str, positions: str
) -> tuple[int, int]:
    """Insert the file's valid rows (inside the caller's transaction); (playlists, entries).

    Reads `read_rows`' views; adds the rows found invalid here to `_bad`."""
    _playlists(con)
    if positions == "given":
        _repeated_positions(con)
    _catalogue(con)
    _entries(con, positions)
    _run(
        con,
        "INSERT INTO entries SELECT pid, CAST(position AS INTEGER), track_idx FROM _e",
    )
    _run(
        con,
        """INSERT INTO playlists BY NAME
        SELECT p.pid, p.key AS playlist_id, p.name, p.description, p.collaborative,
               p.modified_at, p.num_followers, p.num_edits, p.tags,
               CAST(e.n AS INTEGER) AS num_tracks,
               CAST(CASE WHEN e.albums_known THEN e.albums END AS INTEGER) AS num_albums,
               CAST(CASE WHEN e.artists_known THEN e.artists END AS INTEGER) AS num_artists,
               CASE WHEN e.durations_known THEN e.duration END AS duration_ms
        FROM _pl p JOIN (
            SELECT pid, count(*) AS n, count(DISTINCT album_idx) AS albums,
                   count(DISTINCT artist_idx) AS artists, sum(duration_ms) AS duration,
                   count(album_idx) > 0 AS albums_known, count(artist_idx) > 0 AS artists_known,
                   count(duration_ms) = count(*) AS durations_known
            FROM _e GROUP BY pid) e USING (pid)
        ORDER BY p.pid""",
    )
    playlists = _scalar(con, "SELECT count(DISTINCT pid) FROM _e")
    entries = _scalar(con, "SELECT count(*) FROM _e")
    con.execute(
        "INSERT INTO slices VALUES (?, ?, ?, now()::TIMESTAMP)", [file, md5, playlists]
    ).fetchall()
    record_source_kind(con, "tabular")
    for table in ("_pl", "_tr", "_new", "_tmap", "_e"):
        _run(con, f"DROP TABLE IF EXISTS {table}")
    return playlists, entries
