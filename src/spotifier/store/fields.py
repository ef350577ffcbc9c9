"""Which optional fields a store actually holds, so every command can say what is absent.

Own playlists (a warehouse table, a names-only CSV) often lack titles, artists, albums or
durations; the store keeps those as NULL (never 0 or ''), and `present_fields` names the ones that
have at least one value. Commands show an absent field as absent, never as zero.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE playlists (pid BIGINT, name VARCHAR, num_followers BIGINT)")
    >>> _ = con.execute("INSERT INTO playlists VALUES (0, 'road trip', NULL), (1, NULL, NULL)")
    >>> sorted(present_fields(con))
    ['title']
    >>> describe_absent("title")
    'no titles in this data'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

#: Every optional field `present_fields` may report.
OPTIONAL_FIELDS: frozenset[str] = frozenset(
    {
        "title",
        "description",
        "tags",
        "artist",
        "album",
        "track_name",
        "artist_name",
        "album_name",
        "duration_ms",
        "num_followers",
        "modified_at",
        "collaborative",
        "num_edits",
        "spotify_uris",
    }
)

# field -> (table, SQL condition of a row that holds it)
_HOLDS: dict[str, tuple[str, str]] = {
    "title": ("playlists", "name IS NOT NULL AND trim(name) <> ''"),
    "description": ("playlists", "description IS NOT NULL AND trim(description) <> ''"),
    "tags": ("playlists", "len(tags) > 0"),
    "num_followers": ("playlists", "num_followers IS NOT NULL"),
    "modified_at": ("playlists", "modified_at IS NOT NULL"),
    "collaborative": ("playlists", "collaborative IS NOT NULL"),
    "num_edits": ("playlists", "num_edits IS NOT NULL"),
    "artist": ("tracks", "artist_idx IS NOT NULL"),
    "album": ("tracks", "album_idx IS NOT NULL"),
    "track_name": ("tracks", "track_name IS NOT NULL AND trim(track_name) <> ''"),
    "duration_ms": ("tracks", "duration_ms IS NOT NULL"),
    "artist_name": ("artists", "artist_name IS NOT NULL AND trim(artist_name) <> ''"),
    "album_name": ("albums", "album_name IS NOT NULL AND trim(album_name) <> ''"),
}

#: How a missing field reads in a sentence ("no titles in this data").
_PLURALS = {
    "title": "titles",
    "description": "descriptions",
    "tags": "tags",
    "artist": "artists",
    "album": "albums",
    "track_name": "track names",
    "artist_name": "artist names",
    "album_name": "album names",
    "duration_ms": "durations",
    "num_followers": "follower counts",
    "modified_at": "modification dates",
    "collaborative": "collaborative flags",
    "num_edits": "edit counts",
    "spotify_uris": "Spotify track URIs",
}


def describe_absent(field: str) -> str:
    """The sentence that stands in for a value the data lacks."""
    return f"no {_PLURALS.get(field, field)} in this data"


def columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The column names of `table` in the main schema (empty when the table does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ?",
        [table],
    ).fetchall()
    return {str(r[0]) for r in rows}


def present_fields(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The optional fields (of `OPTIONAL_FIELDS`) with at least one value in this store.

    "spotify_uris" is present when the store has tracks and every track id is a Spotify track URI
    (what `challenge` and `verify` need). Each check stops at the first row that settles it, so
    asking costs milliseconds even on the full MPD.
    """
    from spotifier.store.schema import source_kind

    present: set[str] = set()
    for table in ("playlists", "tracks", "artists", "albums"):
        have = columns(con, table)
        usable = [f for f, (t, _) in _HOLDS.items() if t == table and _column_of(f) in have]
        if not usable:
            continue
        sql = ", ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {_HOLDS[f][1]})" for f in usable)
        row: Any = con.execute(f"SELECT {sql}").fetchall()[0]
        present.update(f for f, held in zip(usable, row, strict=True) if held)
    if "track_uri" in columns(con, "tracks"):
        # MPD slices are validated as Spotify URIs on ingest: only other sources need a look.
        mpd = source_kind(con) == "mpd"
        row = con.execute(
            "SELECT EXISTS (SELECT 1 FROM tracks), "
            + (
                "false"
                if mpd
                else "EXISTS (SELECT 1 FROM tracks WHERE track_uri IS NULL "
                "OR NOT starts_with(track_uri, 'spotify:track:'))"
            )
        ).fetchall()[0]
        if row[0] and not row[1]:
            present.add("spotify_uris")
    return frozenset(present)


def _column_of(field: str) -> str:
    return {"title": "name", "artist": "artist_idx", "album": "album_idx"}.get(field, field)
