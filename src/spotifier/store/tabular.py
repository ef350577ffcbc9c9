"""Tabular ingest, part 3: checked rows -> the store, one file per transaction.

Each file is committed whole, with its row in `slices` (file name + md5): a re-run skips files
already ingested (by md5), and a run killed mid-file loses nothing (DuckDB rolls the open
transaction back). With `strict`, every file goes into one transaction that is rolled back at
the first invalid row, so the store is left exactly as it was.

Ids: the playlist's own id is `playlists.playlist_id`; `pid` is assigned here, after the
store's largest, in order of first appearance. New tracks, artists and albums get the next
indices in order of first appearance, as in the MPD ingest. A track, artist or album already in
the store keeps its stored name and artist/album (the first name seen wins, in a file too).
Positions are renumbered 0..n-1 within a playlist, in the order of the given positions (else of
the rows), so a playlist whose invalid rows were skipped has no gaps.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb
import numpy as np

from spotifier.errors import InvalidInputError, SpotifierError
from spotifier.home import Home
from spotifier.store.pipeline import IngestReport
from spotifier.store.schema import record_source_kind
from spotifier.store.tabular_map import Source, resolve_columns
from spotifier.store.tabular_rows import (
    clear_rejects,
    column_types,
    drop_rows,
    read_rows,
    rejected_lines,
)

EXAMPLES = 5


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


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


def _row_labels(rows: np.ndarray, source: Source, rejected: list[tuple[int, str]]) -> np.ndarray:
    """The number users see for each row: its line for CSV/TSV (the header is line 1, lines
    the reader set aside counted) and JSON Lines, its record number (from 1) otherwise."""
    if source.format in ("csv", "tsv"):
        bad = np.array(sorted(line for line, _ in rejected), dtype=np.int64)
        # the k-th valid record (k from 0) sits on line k + 2 plus the set-aside lines before it
        shifted = bad - 2 - np.arange(len(bad))
        k = rows - 1
        return k + 2 + np.searchsorted(shifted, k, side="right")
    return rows


def list_invalid(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    rejected: list[tuple[int, str]],
    out: Path,
    report: IngestReport,
) -> int:
    """Append the file's invalid rows to `out` (one JSON object per row: file, row, playlist,
    field, message); returns how many."""
    got = con.execute("SELECT _row, key, why FROM _bad ORDER BY _row").fetchall()
    labels = _row_labels(np.array([r[0] for r in got], dtype=np.int64), source, rejected)
    problems: list[tuple[int, str | None, str]] = [
        (int(label), key, why) for label, (_, key, why) in zip(labels.tolist(), got, strict=True)
    ]
    problems += [(line, None, f"row: {message}") for line, message in rejected]
    problems.sort(key=lambda p: p[0])
    if not problems:
        return 0
    import orjson

    unit = "line" if source.format in ("csv", "tsv", "jsonl") else "row"
    with out.open("ab") as fh:
        for number, key, why in problems:
            field, _, message = why.partition(": ")
            record = {"file": source.path.name, unit: number, "row": number, "playlist": key}
            fh.write(orjson.dumps({**record, "field": field, "message": message}) + b"\n")
    for number, key, why in problems[: max(0, EXAMPLES - len(report.examples))]:
        where = f"{source.path.name}: {unit} {number}"
        report.examples.append(f"{where}: {why}" if key is None else f"{where} ({key}): {why}")
    return len(problems)


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    maps: dict[str, tuple[str, ...]],
    md5: str,
    strict: bool,
    invalid_path: Path,
    report: IngestReport,
) -> None:
    """Read, check and (unless strict finds a problem) write one file, in the caller's
    transaction."""
    clear_rejects(con)
    try:
        types = column_types(con, source)
        cols = resolve_columns(list(types), maps, source.path.name)
        read_rows(con, source, cols, types)
        rejected = rejected_lines(con)
        if strict:
            _strict_check(con, source, rejected)
        positions = "list" if "tracks" in cols else "given" if "position" in cols else "rows"
        playlists, entries = write_checked(con, source.path.name, md5, positions)
        if strict:
            _strict_check(con, source, rejected)
        invalid = list_invalid(con, source, rejected, invalid_path, report)
        drop_rows(con)  # (after a failure, the caller's rollback drops them)
    except duckdb.Error as exc:
        raise InvalidInputError(f"{source.path}: cannot read as {source.format} ({exc})") from exc
    if invalid:
        report.invalid_list = str(invalid_path)
    report.invalid_playlists += invalid
    report.playlists += playlists
    report.entries += entries
    report.slices_ingested += 1
    report.megabytes += source.path.stat().st_size / 1e6


def _strict_check(
    con: duckdb.DuckDBPyConnection, source: Source, rejected: list[tuple[int, str]]
) -> None:
    """With --strict, the file's first invalid row is the error."""
    first = con.execute("SELECT _row, why FROM _bad ORDER BY _row LIMIT 1").fetchone()
    found = [(line, f"row: {message}") for line, message in rejected[:1]]
    if first is not None:
        label = _row_labels(np.array([first[0]], dtype=np.int64), source, rejected)[0]
        found.append((int(label), str(first[1])))
    if found:
        number, why = min(found)
        raise InvalidInputError(
            f"{source.path.name}: row {number}: {why} (--strict: nothing was ingested)"
        )


def ingest_tables(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    maps: dict[str, tuple[str, ...]],
    strict: bool,
    invalid_path: Path,
    report: IngestReport,
) -> None:
    """Load every tabular source not yet in the store (see the module docstring)."""
    from spotifier.progress import make_progress

    known = {str(r[0]) for r in con.execute("SELECT md5 FROM slices").fetchall()}
    start = time.perf_counter()
    if strict:
        con.begin()
    try:
        with make_progress() as progress:
            task = progress.add_task("ingest", total=len(sources), extra="")
            for source in sources:
                progress.advance(task)
                try:
                    md5 = file_md5(source.path)
                except OSError as exc:
                    _unreadable(report, source, f"cannot read ({exc})", strict)
                    continue
                if md5 in known:
                    report.slices_skipped += 1
                    continue
                if strict:
                    ingest_file(con, source, maps, md5, strict, invalid_path, report)
                else:
                    _one_transaction(con, source, maps, md5, invalid_path, report)
                known.add(md5)
                report.seconds = time.perf_counter() - start
                progress.update(
                    task, extra=f"{report.playlists:,} playlists · {report.entries:,} entries"
                )
        if strict:
            con.commit()
    except BaseException:
        if strict:
            con.rollback()
        raise


def _one_transaction(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    maps: dict[str, tuple[str, ...]],
    md5: str,
    invalid_path: Path,
    report: IngestReport,
) -> None:
    con.begin()
    try:
        ingest_file(con, source, maps, md5, False, invalid_path, report)
        con.commit()
    except InvalidInputError as exc:
        con.rollback()
        if "--map" in str(exc) or "no playlist id column" in str(exc) or "no track" in str(exc):
            raise  # a mapping error is the user's to fix for every file, not one file's damage
        _unreadable(report, source, str(exc).removeprefix(f"{source.path}: "), strict=False)
    except BaseException:
        con.rollback()
        raise


def _unreadable(report: IngestReport, source: Source, why: str, strict: bool) -> None:
    if strict:
        raise SpotifierError(f"{source.path}: {why} (--strict: nothing was ingested)")
    report.rejected_files.append(f"{source.path}: {why}")


def ingest_paths(
    home: Home | str | Path,
    paths: list[Path],
    fmt: str | None = None,
    maps: dict[str, tuple[str, ...]] | None = None,
    strict: bool = False,
    workers: int | None = None,
) -> IngestReport:
    """`spotifier ingest PATH...`: MPD slices through the MPD pipeline, every other file here.

    Invalid rows and playlists are skipped and listed in `home/invalid_playlists.jsonl`; a file
    that cannot be read is skipped and named in `report.rejected_files` (with `strict`, either
    stops the ingest and leaves the store unchanged).
    """
    from spotifier.store.pipeline import INVALID_FILE, ingest
    from spotifier.store.schema import connect, record_source_root
    from spotifier.store.tabular_map import find_sources

    home = home if isinstance(home, Home) else Home.resolve(home)
    sources = find_sources([Path(p) for p in paths], fmt)
    report = IngestReport(source=", ".join(str(p) for p in paths))
    start = time.perf_counter()
    for source in (s for s in sources if s.format == "mpd"):
        part = ingest(home, source.path, strict=strict, workers=workers)
        report.merge(part)
    tables = [s for s in sources if s.format != "mpd"]
    if tables:
        fresh = not home.store_path.exists()
        invalid_path = home.root / INVALID_FILE
        with connect(home, read_only=False) as con:
            if fresh:
                invalid_path.unlink(missing_ok=True)
            report.slices_found += len(tables)
            try:
                ingest_tables(con, tables, maps or {}, strict, invalid_path, report)
            except BaseException:
                con.close()
                if strict and fresh:  # leave no empty store behind
                    for path in (home.store_path, Path(f"{home.store_path}.wal")):
                        path.unlink(missing_ok=True)
                raise
            con.execute("CHECKPOINT").fetchall()
        record_source_root(home, tables[0].path)
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["ingest_paths", "ingest_tables"]
