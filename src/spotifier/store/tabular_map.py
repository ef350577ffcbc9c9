"""Tabular ingest, part 1: which files, which format, which column stands for which key.

A *key* is what Spotifier needs to know about a playlist entry (`playlist`, `track`,
`position`, ...); `--map KEY=COLUMN` names the column that holds it, and without `--map` a
column named like the key or like the MPD's field (`pid`, `track_uri`, `pos`, `name`, ...) is
recognized. Header names are compared after `normalize_header` (case, spaces, stray quotes),
because real exports are messy.

>>> normalize_header(' "Track URI" ')
'track_uri'
>>> parse_maps(["playlist=user_id, playlistname", "tracks=songs"])
{'playlist': ('user_id', 'playlistname'), 'tracks': ('songs',)}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.mpd.format import SLICE_RE

#: every key; `playlist` may name several columns (a composite key, joined by `KEY_JOINER`)
KEYS = (
    "playlist", "track", "tracks", "position", "title", "description", "tags", "artist",
    "artist_name", "album", "album_name", "track_name", "duration_ms", "num_followers",
    "num_edits", "modified_at", "collaborative",
)  # fmt: skip

#: joins the parts of a composite playlist key: `user_id=7, playlistname=Rock` -> "7/Rock"
KEY_JOINER = "/"

#: header names (normalized) recognized for each key without `--map`: the key itself, the MPD's
#: field and the most common other spellings
ALIASES: dict[str, tuple[str, ...]] = {
    "playlist": ("playlist", "playlist_id", "pid", "playlistid"),
    "track": ("track", "track_id", "track_uri", "trackid", "song", "song_id"),
    "tracks": ("tracks", "songs", "track_ids", "song_ids"),
    "position": ("position", "pos"),
    "title": ("title", "name", "playlist_name", "playlistname", "plylst_title"),
    "description": ("description",),
    "tags": ("tags",),
    "artist": ("artist", "artist_id", "artist_uri"),
    "artist_name": ("artist_name", "artistname"),
    "album": ("album", "album_id", "album_uri"),
    "album_name": ("album_name", "albumname"),
    "track_name": ("track_name", "trackname", "song_name"),
    "duration_ms": ("duration_ms",),
    "num_followers": ("num_followers", "followers"),
    "num_edits": ("num_edits",),
    "modified_at": ("modified_at",),
    "collaborative": ("collaborative",),
}

#: `--format` values and the file endings that imply them (`.gz` allowed for the text ones)
FORMATS = ("csv", "tsv", "parquet", "jsonl", "json", "mpd")
_ENDINGS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}


def normalize_header(name: str) -> str:
    """A header as compared with keys: no surrounding spaces or quotes, lower case, runs of
    spaces, dashes and dots as one underscore."""
    name = name.strip().strip("\"'`").strip().lower()
    return re.sub(r"[\s\-.]+", "_", name)


def parse_maps(items: list[str] | None) -> dict[str, tuple[str, ...]]:
    """`--map KEY=COLUMN[,COLUMN...]` options as {key: columns}; unknown keys are an error."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        columns = tuple(c.strip() for c in value.split(",") if c.strip())
        if not sep or not columns:
            raise InvalidInputError(f"--map {item!r}: expected KEY=COLUMN (e.g. track=song_id)")
        if key not in KEYS:
            raise InvalidInputError(
                f"--map {item!r}: unknown key {key!r} (keys: {', '.join(KEYS)})"
            )
        if len(columns) > 1 and key != "playlist":
            raise InvalidInputError(f"--map {item!r}: only `playlist` may name several columns")
        out[key] = columns
    if "track" in out and "tracks" in out:
        raise InvalidInputError(
            "--map: map `track` (one row per entry) or `tracks` (a list), not both"
        )
    return out


def format_of(path: Path, fmt: str | None) -> str:
    """The format of one file: `fmt` when given, else from its ending; a `.json` file holding an
    object (not an array of records) is an MPD slice."""
    if fmt is not None:
        if fmt == "ndjson":
            return "jsonl"
        if fmt not in FORMATS:
            raise InvalidInputError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
        return fmt
    name = path.name.lower().removesuffix(".gz")
    if SLICE_RE.match(path.name):
        return "mpd"
    for ending, kind in _ENDINGS.items():
        if name.endswith(ending):
            return _json_kind(path) if kind == "json" else kind
    raise InvalidInputError(
        f"{path}: unknown format (endings: {', '.join(_ENDINGS)}, .gz for text); pass --format"
    )


def _json_kind(path: Path) -> str:
    """'mpd' for a JSON object (a slice), 'json' for an array of records."""
    import gzip

    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(4096).lstrip()
    except (OSError, EOFError):
        return "json"  # unreadable: the JSON reader reports it
    return "mpd" if head.startswith(b"{") else "json"


@dataclass(frozen=True)
class Source:
    """One file to ingest and its format."""

    path: Path
    format: str


def find_sources(paths: list[Path], fmt: str | None) -> list[Source]:
    """Every file the user's paths stand for, with its format, in a stable order.

    A folder holding MPD slices (or a `data/` folder of them) is one `mpd` source; any other
    folder stands for its files with a known ending, sorted by name.
    """
    out: list[Source] = []
    for path in paths:
        path = path.expanduser()
        if not path.exists():
            raise NotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            out.append(Source(path, format_of(path, fmt)))
            continue
        folder = path / "data" if (path / "data").is_dir() else path
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if fmt in (None, "mpd") and any(SLICE_RE.match(p.name) for p in files):
            out.append(Source(path, "mpd"))
            continue
        known = [p for p in files if _known_ending(p) or fmt is not None]
        if not known:
            raise NotFoundError(
                f"{folder}: no playlist files (.csv, .tsv, .parquet, .jsonl, .json)"
            )
        out.extend(Source(p, format_of(p, fmt)) for p in known)
    return out


def _known_ending(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return any(name.endswith(ending) for ending in _ENDINGS)


def resolve_columns(
    columns: list[str], maps: dict[str, tuple[str, ...]], file: str
) -> dict[str, tuple[str, ...]]:
    """{key: the file's actual column names} for every key this file provides.

    Mapped columns must exist (compared normalized); a missing one is an error naming it and
    listing the file's columns. Unmapped keys are recognized by `ALIASES`.
    """
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(normalize_header(column), column)
    listing = ", ".join(repr(c) for c in columns)
    out: dict[str, tuple[str, ...]] = {}
    for key, wanted in maps.items():
        found = []
        for column in wanted:
            actual = by_norm.get(normalize_header(column))
            if actual is None:
                raise InvalidInputError(
                    f"{file}: --map {key}={column}: no column {column!r} (the file's columns: "
                    f"{listing})"
                )
            found.append(actual)
        out[key] = tuple(found)
    taken = {c for cols in out.values() for c in cols}
    for key, aliases in ALIASES.items():
        if (
            key in out
            or (key == "tracks" and "track" in out)
            or (key == "track" and "tracks" in out)
        ):
            continue
        for alias in aliases:
            actual = by_norm.get(alias)
            if actual is not None and actual not in taken:
                out[key] = (actual,)
                taken.add(actual)
                break
    if "track" in out and "tracks" in out:  # both recognized: a long file with a spare column
        del out["tracks"]
    if "playlist" not in out:
        raise InvalidInputError(
            f"{file}: no playlist id column (the file's columns: {listing}); pass "
            "--map playlist=COLUMN, or several columns (--map playlist=user_id,playlistname) "
            "when together they identify a playlist"
        )
    if not ({"track", "tracks"} & out.keys() or {"track_name", "artist_name"} <= out.keys()):
        raise InvalidInputError(
            f"{file}: no track column (the file's columns: {listing}); pass --map track=COLUMN, "
            "--map tracks=LIST_COLUMN, or map both track_name and artist_name"
        )
    if "tracks" in out and "position" in out:
        raise InvalidInputError(
            f"{file}: a list of tracks (--map tracks=...) gives the positions itself; "
            "do not map position too"
        )
    return out
