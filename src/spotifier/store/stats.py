"""`spotifier stats`: the official stats.txt figures for whatever is ingested, plus histograms."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from spotifier.home import Home
from spotifier.mpd.format import normalize_name
from spotifier.store.fields import describe_absent, present_fields
from spotifier.store.schema import connect, source_kind

TOP = 20


def _scalar(con: Any, sql: str) -> Any:
    row = con.execute(sql).fetchall()[0]
    return row[0] if row else None


def _histogram(con: Any, column: str) -> list[list[int]]:
    rows = con.execute(
        f"SELECT {column}, count(*) FROM playlists WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return [[int(value), int(n)] for value, n in rows]


#: Each figure that needs an optional field, and that field (see `spotifier.store.fields`).
NEEDS: dict[str, str] = {
    "unique_albums": "album",
    "unique_artists": "artist",
    "unique_titles": "title",
    "unique_normalized_titles": "title",
    "playlists_with_descriptions": "description",
    "playlists_with_tags": "tags",
    "collaborative": "collaborative",
    "top_titles": "title",
    "top_artists": "artist",
    "followers": "num_followers",
    "edits": "num_edits",
}


def compute_stats(home: Home | str | Path, top: int = TOP) -> dict[str, Any]:
    """The official summary statistics of the store, as one JSON-ready dict.

    `tracks` counts every entry (repeats included), as the official stats script does; titles
    are normalized with `spotifier.mpd.normalize_name`. Histograms are `[value, playlists]` pairs.
    A figure whose field the data lacks (own playlists without titles, say) is None, never 0;
    `absent` says why for each such figure, and `fields` lists the optional fields present.
    A track's unknown name or artist is None in `top_tracks`; `uri` is its external id.
    """
    home = home if isinstance(home, Home) else Home.resolve(home)
    with connect(home) as con:
        fields = set(present_fields(con))
        if source_kind(con) == "mpd":
            fields.add("description")  # an MPD field: a store without any has 0, not "absent"
        playlists = int(_scalar(con, "SELECT count(*) FROM playlists"))
        entries = int(_scalar(con, "SELECT count(*) FROM entries"))
        unique = {
            key: int(_scalar(con, f"SELECT count(DISTINCT {column}) FROM {source}"))
            for key, column, source in (
                ("unique_tracks", "track_idx", "entries"),
                ("unique_albums", "t.album_idx", "entries JOIN tracks t USING (track_idx)"),
                ("unique_artists", "t.artist_idx", "entries JOIN tracks t USING (track_idx)"),
            )
        }
        title_counts = con.execute(
            "SELECT name, count(*) FROM playlists WHERE name IS NOT NULL GROUP BY name"
        ).fetchall()
        normalized: Counter[str] = Counter()
        for name, n in title_counts:
            normalized[normalize_name(name)] += int(n)
        top_tracks = con.execute(
            """SELECT t.track_uri, t.track_name, a.artist_name, c.n FROM
               (SELECT track_idx, count(*) AS n FROM entries GROUP BY track_idx) c
               JOIN tracks t USING (track_idx) LEFT JOIN artists a ON a.artist_idx = t.artist_idx
               ORDER BY c.n DESC, t.track_idx LIMIT ?""",
            [top],
        ).fetchall()
        top_artists = con.execute(
            """SELECT a.artist_uri, a.artist_name, c.n FROM
               (SELECT t.artist_idx, count(*) AS n FROM entries JOIN tracks t USING (track_idx)
                GROUP BY t.artist_idx) c
               JOIN artists a USING (artist_idx) ORDER BY c.n DESC, a.artist_idx LIMIT ?""",
            [top],
        ).fetchall()
        stats: dict[str, Any] = {
            "playlists": playlists,
            "tracks": entries,
            **unique,
            "unique_titles": len(title_counts),
            "unique_normalized_titles": len(normalized),
            "playlists_with_descriptions": int(
                _scalar(con, "SELECT count(NULLIF(trim(description), '')) FROM playlists")
            ),
            "playlists_with_tags": int(
                _scalar(con, "SELECT count(*) FROM playlist_ids WHERE len(tags) > 0")
            ),
            "avg_playlist_length": round(entries / playlists, 4) if playlists else 0.0,
            "collaborative": int(
                _scalar(con, "SELECT count(*) FROM playlists WHERE collaborative")
            ),
            "top_titles": [
                {"title": title, "count": n}
                for title, n in sorted(normalized.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            ],
            "top_tracks": [
                {"uri": uri, "name": name or None, "artist": artist or None, "count": int(n)}
                for uri, name, artist, n in top_tracks
            ],
            "top_artists": [
                {"uri": uri, "name": name, "count": int(n)} for uri, name, n in top_artists
            ],
            "histograms": {
                "length": _histogram(con, "num_tracks"),
                "followers": _histogram(con, "num_followers"),
                "edits": _histogram(con, "num_edits"),
            },
        }
    return _mark_absent(stats, frozenset(fields))


def _mark_absent(stats: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Replace each figure whose field is absent by None, and say why under `absent`.

    >>> out = _mark_absent({"unique_titles": 0, "histograms": {"edits": []}}, frozenset())
    >>> out["unique_titles"], out["histograms"]["edits"], out["absent"]["unique_titles"]
    (None, None, 'no titles in this data')
    """
    absent: dict[str, str] = {}
    for key, field in NEEDS.items():
        if field in fields:
            continue
        if key in stats:
            stats[key] = None
        elif key in stats.get("histograms", {}):
            stats["histograms"][key] = None
        else:
            continue
        absent[key] = describe_absent(field)
    stats["fields"] = sorted(fields)
    stats["absent"] = absent
    return stats
