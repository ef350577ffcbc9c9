"""The DuckDB store's schema and connections (`home/store.duckdb`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from spotifier.errors import NotFoundError, SpotifierError
from spotifier.home import Home, atomic_file

TABLES = {
    "playlists": """pid BIGINT, name VARCHAR, description VARCHAR, collaborative BOOLEAN,
        modified_at BIGINT, num_tracks INTEGER, num_albums INTEGER, num_artists INTEGER,
        num_followers BIGINT, num_edits BIGINT, duration_ms BIGINT""",
    "tracks": """track_idx INTEGER, track_uri VARCHAR, track_name VARCHAR, artist_idx INTEGER,
        album_idx INTEGER, duration_ms INTEGER""",
    "artists": "artist_idx INTEGER, artist_uri VARCHAR, artist_name VARCHAR",
    "albums": "album_idx INTEGER, album_uri VARCHAR, album_name VARCHAR, artist_idx INTEGER",
    "entries": "pid BIGINT, pos INTEGER, track_idx INTEGER",
    "slices": "file VARCHAR, md5 VARCHAR, playlists INTEGER, ingested_at TIMESTAMP",
}

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
    JOIN artists a ON a.artist_idx = t.artist_idx
    JOIN albums b ON b.album_idx = t.album_idx
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


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    for name, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})").fetchall()
    con.execute(PLAYLIST_FEATURES).fetchall()


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
            return duckdb.connect(str(path), read_only=True)
        home.ensure()
        con = duckdb.connect(str(path))
        create_schema(con)
        return con
    except duckdb.IOException as exc:
        raise SpotifierError(f"{path}: cannot open the store ({exc})") from exc


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
        json.dump(payload, fh)  # type: ignore[arg-type]


def source_root(home: Home | str | Path) -> Path | None:
    """The folder most recently ingested into this home (None before any ingest)."""
    home = home if isinstance(home, Home) else Home.resolve(home)
    try:
        return Path(json.loads(_source_file(home).read_text())["source_root"])
    except (OSError, ValueError, KeyError):
        return None
