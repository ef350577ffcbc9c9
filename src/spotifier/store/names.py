"""Find tracks by "artist — track" name in the store, for data whose ids were derived from names.

Own playlists without track ids (a names-only CSV) get ids that Spotifier derives from the
names; nobody can type those, so `recommend` also takes "Artist — Track". Matching is by
`track_name` and `artist_name`, case- and space-normalized; when nothing matches, the error
lists the closest names the store has.

    >>> split_name("Dolly Parton — Jolene"), split_name("AC/DC - T.N.T. - Live")
    ([('Dolly Parton', 'Jolene')], [('AC/DC', 'T.N.T. - Live'), ('AC/DC - T.N.T.', 'Live')])
    >>> normalize("  Dolly   PARTON ")
    'dolly parton'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spotifier.errors import InvalidInputError

if TYPE_CHECKING:
    import duckdb

    from spotifier.data import Catalog
    from spotifier.home import Home

#: What may stand between the artist and the track: em dash, en dash, or a spaced hyphen.
SEPARATORS = re.compile(r"\s*[—–]\s*|\s+-\s+")
#: How many close matches an error lists.
CLOSE = 5
_NORMALIZED = "lower(trim(regexp_replace({}, '\\s+', ' ', 'g')))"


def normalize(text: str) -> str:
    """Lower case, surrounding spaces dropped, inner runs of spaces made one."""
    return " ".join(text.split()).lower()


def split_name(text: str) -> list[tuple[str, str]]:
    """Every (artist, track) reading of `text`, one per separator (names may hold a " - ")."""
    return [
        (text[: m.start()].strip(), text[m.end() :].strip())
        for m in SEPARATORS.finditer(text)
        if text[: m.start()].strip() and text[m.end() :].strip()
    ]


def resolve_tracks(
    home: Home | str | Path, catalog: Catalog, values: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """(`values` with each "artist — track" that is not a track id replaced by the id of the
    track so named, {name given: id found}). Ids, and unknown values that are no name, pass
    through unchanged (the caller reports those as unknown tracks)."""
    from spotifier.store.schema import connect

    _, unknown = catalog.index_of(values)
    names = [v for v in dict.fromkeys(unknown) if split_name(v)]
    if not names:
        return list(values), {}
    if not {"track_name", "artist_name"} <= catalog.fields:
        raise InvalidInputError(
            f"'{names[0]}' is not a track id of this store, and the store has no track and "
            "artist names to find it by; give track ids"
        )
    with connect(home) as con:
        found = {name: find_track(con, name) for name in names}
    return [found.get(v, v) for v in values], found


def find_track(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """The external id of the track "artist — track" names (the first stored, when several
    tracks share the name); `InvalidInputError` listing close matches when none does."""
    for artist, track in split_name(text):
        rows = con.execute(
            f"""SELECT t.track_uri FROM tracks t JOIN artists a USING (artist_idx)
                WHERE {_NORMALIZED.format("t.track_name")} = ?
                  AND {_NORMALIZED.format("a.artist_name")} = ?
                ORDER BY t.track_idx LIMIT 1""",
            [normalize(track), normalize(artist)],
        ).fetchall()
        if rows:
            return str(rows[0][0])
    close = close_matches(con, text)
    hint = "; close matches: " + "; ".join(close) if close else ""
    raise InvalidInputError(f"no track is named '{text}' (artist — track){hint}")


def close_matches(con: duckdb.DuckDBPyConnection, text: str, n: int = CLOSE) -> list[str]:
    """The `n` stored "artist — track" names most like `text` (Jaro-Winkler similarity)."""
    rows = con.execute(
        f"""SELECT a.artist_name || ' — ' || t.track_name FROM tracks t
            JOIN artists a USING (artist_idx) WHERE t.track_name IS NOT NULL
            ORDER BY jaro_winkler_similarity(
                {_NORMALIZED.format("a.artist_name || ' — ' || t.track_name")}, ?) DESC,
                t.track_idx
            LIMIT ?""",
        [normalize(text), n],
    ).fetchall()
    return [str(r[0]) for r in rows]
