"""Stores of "own playlists" for the downstream tests: a generated MPD world ingested, then
rewritten in SQL into what the store contract says a tabular ingest leaves behind.

The contract (briefs/STORE_CONTRACT.md): `playlists.playlist_id` holds the user's string id,
`meta` holds `schema_version` 2, track/artist/album ids are arbitrary strings, and every
optional field the data lacks is NULL (a track's unknown artist or album: NULL index, no row).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

#: The optional fields a names-only CSV (`user_id, artistname, trackname, playlistname`) lacks.
NAMES_ONLY_DROP = frozenset(
    {
        "title",
        "description",
        "album",
        "duration_ms",
        "num_followers",
        "modified_at",
        "collaborative",
        "num_edits",
    }
)
#: A bare warehouse table (`playlist_id, track_id, position`): every optional field absent.
BARE_DROP = NAMES_ONLY_DROP | {"artist", "track_name"}


def generated_home(root: Path, n_playlists: int = 600, seed: int = 3) -> Path:
    """A home holding `n_playlists` generated playlists ingested as MPD slices (no oracle)."""
    from spotifier.store import ingest
    from spotifier.synth import generate

    generate(root / "gen", n_playlists, seed)
    home = root / "home"
    ingest(home, root / "gen", workers=1)
    (home / "source.json").unlink(missing_ok=True)  # the generator's URIs would not match
    return home


def playlist_id(pid: int) -> str:
    """The string id the fixtures give playlist `pid`: separators, spaces and non-ASCII."""
    return f"user {pid % 7}/liste ü·{pid}"


def version_1(source: Path, home: Path) -> Path:
    """A copy of the store at `source` as Spotifier wrote it before external ids (schema 1)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "store.duckdb", home / "store.duckdb")
    with duckdb.connect(str(home / "store.duckdb")) as con:
        con.execute("DROP VIEW IF EXISTS playlist_ids")
        con.execute("ALTER TABLE playlists DROP COLUMN playlist_id")
        con.execute("ALTER TABLE playlists DROP COLUMN tags")
        con.execute("DROP TABLE meta")
    return home


def own_store(
    source: Path, home: Path, drop: frozenset[str] = BARE_DROP, derived_ids: bool = False
) -> Path:
    """Copy the home at `source` to `home`, then rewrite its store as a tabular ingest would.

    Playlist ids become `playlist_id(pid)`; track ids become `wh-<n>` (or, with `derived_ids`,
    "artist — track" strings as ids derived from names look); every field in `drop` is NULLed.
    """
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "store.duckdb", home / "store.duckdb")
    con = duckdb.connect(str(home / "store.duckdb"))
    try:
        con.execute("UPDATE playlists SET playlist_id = 'user ' || (pid % 7) || '/liste ü·' || pid")
        con.execute("UPDATE meta SET value = 'tabular' WHERE key = 'source_kind'")
        if derived_ids:
            con.execute(
                """UPDATE tracks SET track_uri = lower(a.artist_name) || ' — ' || lower(track_name)
                   || '#' || track_idx FROM artists a WHERE a.artist_idx = tracks.artist_idx"""
            )
            con.execute("UPDATE artists SET artist_uri = 'name:' || lower(artist_name)")
        else:
            con.execute("UPDATE tracks SET track_uri = 'wh-' || (track_idx * 7 + 3)")
        playlist_columns = {
            "title": "name",
            "description": "description",
            "collaborative": "collaborative",
            "modified_at": "modified_at",
            "num_followers": "num_followers",
            "num_edits": "num_edits",
        }
        for field, column in playlist_columns.items():
            if field in drop:
                con.execute(f"UPDATE playlists SET {column} = NULL")
        if "duration_ms" in drop:
            con.execute("UPDATE tracks SET duration_ms = NULL")
            con.execute("UPDATE playlists SET duration_ms = NULL")
        if "track_name" in drop:
            con.execute("UPDATE tracks SET track_name = NULL")
        for kind in ("artist", "album"):
            if kind in drop:
                con.execute(f"UPDATE tracks SET {kind}_idx = NULL")
                con.execute(f"UPDATE playlists SET num_{kind}s = NULL")
                con.execute(f"DELETE FROM {kind}s")
    finally:
        con.close()
    return home
