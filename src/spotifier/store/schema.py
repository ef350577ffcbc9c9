"""The DuckDB store's schema and connections (`home/store.duckdb`).

Schema version 2 (`meta.schema_version`) holds playlists from any source: `playlists.playlist_id`
is the user's own playlist id (for MPD slices the pid as text), `playlists.tags` a list of tags,
and every optional field the data lacks is NULL (never 0 or ''). Inside, ids stay integers
(`pid`, `track_idx`, `artist_idx`, `album_idx`); the external ids are `playlist_id`,
`track_uri`, `artist_uri` and `album_uri`.

A version-1 store (written before tabular ingest: MPD only, no `meta` table) is migrated in
place by the first writable connection; a read-only connection leaves it as it is and reads
`playlist_id` as the pid's text through the `playlist_ids` view.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from spotifier.errors import NotFoundError, SpotifierError
from spotifier.home import Home, atomic_file
from spotifier.store.damage import store_error

TABLES = {
    "playlists": """pid BIGINT, name VARCHAR, description VARCHAR, collaborative BOOLEAN,
        modified_at BIGINT, num_tracks INTEGER, num_albums INTEGER, num_artists INTEGER,
        num_followers BIGINT, num_edits BIGINT, duration_ms BIGINT, playlist_id VARCHAR,
        tags VARCHAR[]""",
    "tracks": """track_idx INTEGER, track_uri VARCHAR, track_name VARCHAR, artist_idx INTEGER,
        album_idx INTEGER, duration_ms INTEGER""",
    "artists": "artist_idx INTEGER, artist_uri VARCHAR, artist_name VARCHAR",
    "albums": "album_idx INTEGER, album_uri VARCHAR, album_name VARCHAR, artist_idx INTEGER",
    "entries": "pid BIGINT, pos INTEGER, track_idx INTEGER",
    "slices": "file VARCHAR, md5 VARCHAR, playlists INTEGER, ingested_at TIMESTAMP",
    "meta": "key VARCHAR, value VARCHAR",
}

#: the version of the tables above; stores without a `meta` table are version 1
SCHEMA_VERSION = 2
SOURCE_KINDS = ("mpd", "tabular", "mixed")

# Every playlist's external id and tags, whatever the store's version: read commands use this
# view (or `playlist_id_sql`) and work on a read-only version-1 store too.
PLAYLIST_IDS_V2 = (
    "CREATE OR REPLACE VIEW playlist_ids AS SELECT pid, playlist_id, tags FROM playlists"
)
PLAYLIST_IDS_V1 = """CREATE OR REPLACE TEMP VIEW playlist_ids AS
SELECT pid, CAST(pid AS VARCHAR) AS playlist_id, CAST(NULL AS VARCHAR[]) AS tags FROM playlists"""

# The seed's derived features: mean track duration, most frequent artist and album (ties: the
# one that appears first in the playlist).
PLAYLIST_FEATURES = """
CREATE OR REPLACE VIEW playlist_features AS
WITH counted AS (
    SELECT e.pid, a.artist_name, b.album_name,
           count(*) OVER (PARTITION BY e.pid, t.artist_idx) AS artist_n,
           count(*) OVER (PARTITION BY e.pid, t.album_idx) AS album_n,
           e.pos
    FROM entries e
    JOIN tracks t USING (track_idx)
    LEFT JOIN artists a ON a.artist_idx = t.artist_idx
    LEFT JOIN albums b ON b.album_idx = t.album_idx
), tops AS (
    SELECT pid,
           arg_max(artist_name, artist_n * 1000 - pos) AS top_artist,
           arg_max(album_name, album_n * 1000 - pos) AS top_album
    FROM counted GROUP BY pid
)
SELECT p.pid, p.name, p.collaborative, p.num_tracks, p.num_albums, p.num_artists, p.num_edits,
       p.num_followers, p.duration_ms, p.modified_at,
       p.duration_ms / p.num_tracks AS duration_ms_mean, tops.top_artist, tops.top_album
FROM playlists p JOIN tops USING (pid)
"""


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()
    return {str(row[0]) for row in rows}


def meta_value(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """A `meta` entry (None when absent, or on a version-1 store, which has no `meta`)."""
    if "meta" not in _tables(con):
        return None
    # fetchall: a fetchone leaves the result open and the connection's next query fails.
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return str(rows[0][0]) if rows else None


def _set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("DELETE FROM meta WHERE key = ?", [key]).fetchall()
    con.execute("INSERT INTO meta VALUES (?, ?)", [key, value]).fetchall()


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The store's schema version: `meta.schema_version`, 1 for a store without `meta`."""
    value = meta_value(con, "schema_version")
    return 1 if value is None else int(value)


def source_kind(con: duckdb.DuckDBPyConnection) -> str | None:
    """Where the store's playlists came from: 'mpd', 'tabular', 'mixed' (None when empty)."""
    kind = meta_value(con, "source_kind")
    if kind is None and schema_version(con) == 1:
        return "mpd"  # version 1 knew only MPD slices
    return kind


def record_source_kind(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    """Note that playlists of `kind` were added (inside the caller's transaction): a store fed
    from both MPD slices and tables becomes 'mixed'."""
    before = meta_value(con, "source_kind")
    _set_meta(con, "source_kind", kind if before in (None, kind) else "mixed")


def playlist_id_sql(con: duckdb.DuckDBPyConnection, alias: str = "") -> str:
    """A SQL expression for `playlists.playlist_id` that also works on a version-1 store.

    `alias`: the playlists table's alias in the caller's query (`"p"` -> `p.playlist_id`).
    """
    prefix = f"{alias}." if alias else ""
    if schema_version(con) >= 2:
        return f"{prefix}playlist_id"
    return f"CAST({prefix}pid AS VARCHAR)"


def _migrate_v1(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a version-1 store to version 2 in place, in one transaction: `playlist_id` is the
    pid's text (what MPD ingest writes today), `tags` NULL, and the `meta` table."""
    con.begin()
    try:
        con.execute("ALTER TABLE playlists ADD COLUMN playlist_id VARCHAR").fetchall()
        con.execute("UPDATE playlists SET playlist_id = CAST(pid AS VARCHAR)").fetchall()
        con.execute("ALTER TABLE playlists ADD COLUMN tags VARCHAR[]").fetchall()
        con.execute(f"CREATE TABLE meta ({TABLES['meta']})").fetchall()
        _set_meta(con, "schema_version", str(SCHEMA_VERSION))
        if con.execute("SELECT count(*) FROM playlists").fetchall()[0][0]:
            _set_meta(con, "source_kind", "mpd")
        con.commit()
    except BaseException:
        con.rollback()
        raise


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables (a fresh store) or migrate a version-1 store; a store written by a
    newer Spotifier is refused rather than changed."""
    tables = _tables(con)
    if "playlists" in tables and "meta" not in tables:
        _migrate_v1(con)
    elif "meta" in tables:
        _check_version(con)
    for name, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})").fetchall()
    if meta_value(con, "schema_version") is None:
        _set_meta(con, "schema_version", str(SCHEMA_VERSION))
    con.execute(PLAYLIST_FEATURES).fetchall()
    con.execute(PLAYLIST_IDS_V2).fetchall()


def _check_version(con: duckdb.DuckDBPyConnection) -> None:
    version = schema_version(con)
    if version > SCHEMA_VERSION:
        raise SpotifierError(
            f"the store has schema version {version}, newer than this Spotifier's "
            f"({SCHEMA_VERSION}); upgrade Spotifier, or ingest again into a new home"
        )


def _prepare_read_only(con: duckdb.DuckDBPyConnection) -> None:
    """A read-only connection reads a version-1 store as it is: `playlist_ids` becomes a
    temporary view deriving the ids from the pids."""
    if "playlists" in _tables(con) and schema_version(con) == 1:
        con.execute(PLAYLIST_IDS_V1).fetchall()
    else:
        _check_version(con)


def connect(home: Home | str | Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to `home/store.duckdb`; read-only ones need an existing store.

    A writable connection creates the store and its schema when missing.
    """
    home = home if isinstance(home, Home) else Home.resolve(home)
    path = home.store_path
    if read_only and not path.exists():
        raise NotFoundError(f"{path}: no store yet; run `spotifier ingest MPD_DIR` first")
    try:
        if read_only:
            con = duckdb.connect(str(path), read_only=True)
            _prepare_read_only(con)
            return con
        home.ensure()
        con = duckdb.connect(str(path))
        create_schema(con)
        return con
    except duckdb.Error as exc:
        raise store_error(path, exc) from exc


def _source_file(home: Home) -> Path:
    return home.root / "source.json"


def resolve_source_root(path: Path) -> Path:
    """The folder a user's ingest path stands for: the generator's OUT folder or the MPD root.

    A folder holding `data/` is itself the root; a `data/` folder whose parent has `truth/` (or
    the parent of an individual slice file there) stands for that parent.
    """
    path = path.expanduser().resolve()
    folder = path if path.is_dir() else path.parent
    if (folder / "data").is_dir():
        return folder
    if folder.name == "data" and (folder.parent / "truth").is_dir():
        return folder.parent
    return folder


def record_source_root(home: Home, path: Path) -> None:
    payload = {"source_root": str(resolve_source_root(path)), "at": datetime.now(UTC).isoformat()}
    with atomic_file(_source_file(home), "w") as fh:
        json.dump(payload, fh)


def source_root(home: Home | str | Path) -> Path | None:
    """The folder most recently ingested into this home (None before any ingest)."""
    home = home if isinstance(home, Home) else Home.resolve(home)
    try:
        return Path(json.loads(_source_file(home).read_text())["source_root"])
    except (OSError, ValueError, KeyError):
        return None
