"""The DuckDB side of `ingest --engine spark`: the executors' Parquet files loaded into the
store in one transaction, the skipped playlists listed, the batch's Parquet published."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from spotifier.home import Home
from spotifier.store import INVALID_FILE, IngestReport
from spotifier.store.schema import record_source_kind

EXAMPLES = 5  # as many example problems as the DuckDB ingest reports


def record_rejected(home: Home, bad: list[Any], report: IngestReport) -> None:
    """Count the skipped playlists, keep examples, append them to invalid_playlists.jsonl."""
    if not bad:
        return
    path = home.root / INVALID_FILE
    with path.open("ab") as fh:
        for row in bad:
            field, _, message = str(row["problem"]).partition(": ")
            line = {
                "file": row["file"],
                "index": row["slice_row"],
                "pid": row["pid"],
                "violations": [{"field": field, "message": message}],
            }
            fh.write(orjson.dumps(line) + b"\n")
    report.invalid_playlists = len(bad)
    report.invalid_list = str(path)
    report.examples = [f"{r['file']}: pid {r['pid']}: {r['problem']}" for r in bad[:EXAMPLES]]


def load_into_store(
    con: Any,
    staging: Path,
    files: list[Path],
    digests: dict[Path, str],
    per_file: dict[str, int],
    report: IngestReport,
) -> None:
    """One DuckDB transaction: the new rows from Parquet, then the slices registry."""
    from spotifier.spark.frames import name_of

    def scan(name: str) -> str:
        pattern = sql_path(staging / name / "**" / "*.parquet")
        return f"read_parquet({pattern}, hive_partitioning = false)"

    inserts = {
        "artists": "artist_idx, artist_uri, artist_name",
        "albums": "album_idx, album_uri, album_name, artist_idx",
        "tracks": "track_idx, track_uri, track_name, artist_idx, album_idx, duration_ms",
        "playlists": "pid, name, description, collaborative, modified_at, num_tracks, "
        "num_albums, num_artists, num_followers, num_edits, duration_ms, "
        "CAST(pid AS VARCHAR) AS playlist_id",
        "entries": "pid, pos, track_idx",
    }
    order = {"artists": "artist_idx", "albums": "album_idx", "tracks": "track_idx"}
    order |= {"playlists": "pid", "entries": "pid, pos"}
    now = datetime.now(UTC).replace(tzinfo=None)
    con.begin()
    try:
        # a table without files has no new rows (a batch whose playlists were all rejected)
        present = {t for t in inserts if any((staging / t).glob("**/*.parquet"))}
        for table, columns in inserts.items():
            if table not in present:
                continue
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT {columns} FROM {scan(table)} "
                f"ORDER BY {order[table]}"
            )
        for f in files:
            con.execute(
                "INSERT INTO slices VALUES (?, ?, ?, ?)",
                [f.name, digests[f], per_file.get(name_of(str(f)), 0), now],
            )
        record_source_kind(con, "mpd")
        for table in ("playlists", "entries"):
            count = scalar(con, f"SELECT count(*) FROM {scan(table)}") if table in present else 0
            setattr(report, table, count)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def sql_path(path: Path) -> str:
    """A path as a DuckDB string literal (quotes doubled).

    >>> sql_path(Path("/tmp/it's"))
    "'/tmp/it''s'"
    """
    return "'" + str(path).replace("'", "''") + "'"


def scalar(con: Any, query: str) -> int:
    row = con.execute(query).fetchone()
    return int(row[0]) if row else 0


def publish(staging: Path, root: Path) -> None:
    """Move the batch's partitioned playlists and entries under `home/parquet/<table>/`."""
    for table in ("playlists", "entries"):
        for part in (staging / table).glob("pid_bucket=*/*.parquet"):
            target = root / table / part.parent.name / part.name
            target.parent.mkdir(parents=True, exist_ok=True)
            part.replace(target)
