"""Facts of the MPD format shared by the reader, writer, validator and generator (see MPD.md)."""

from __future__ import annotations

import re

#: Playlist keys in the order real slice files use (`description` is optional, after `name`).
PLAYLIST_FIELDS: tuple[str, ...] = (
    "name",
    "collaborative",
    "pid",
    "modified_at",
    "num_tracks",
    "num_albums",
    "num_followers",
    "tracks",
    "num_edits",
    "duration_ms",
    "num_artists",
)
OPTIONAL_PLAYLIST_FIELDS: tuple[str, ...] = ("description",)

#: Track keys in file order.
TRACK_FIELDS: tuple[str, ...] = (
    "pos",
    "artist_name",
    "track_uri",
    "artist_uri",
    "track_name",
    "album_uri",
    "duration_ms",
    "album_name",
)

INFO_FIELDS: tuple[str, ...] = ("generated_on", "slice", "version")

MIN_TRACKS, MAX_TRACKS = 5, 250
LATEST_MODIFIED_AT = 1509494400  # 2017-11-01 00:00:00 UTC
EARLIEST_MODIFIED_AT = 1262304000  # 2010-01-01 00:00:00 UTC

URI_RE = {
    kind: re.compile(rf"^spotify:{kind}:[0-9A-Za-z]{{22}}$")
    for kind in ("track", "artist", "album")
}

SLICE_RE = re.compile(r"^mpd\.slice\.(\d+)-(\d+)\.json(\.gz)?$")

_PUNCTUATION = re.compile(r"[.,/#!$%\^\*;:{}=_`~()@]")
_SPACES = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """The official title normalization: lower-case, punctuation to space, squeeze spaces.

    >>> normalize_name("Work Out!!  (2017)")
    'work out 2017'
    >>> normalize_name("#ThrowBack")
    'throwback'
    """
    name = _PUNCTUATION.sub(" ", name.lower())
    return _SPACES.sub(" ", name).strip()


def slice_name(first_pid: int, size: int = 1000) -> str:
    """File name of the slice that starts at `first_pid`.

    >>> slice_name(999000)
    'mpd.slice.999000-999999.json'
    """
    return f"mpd.slice.{first_pid}-{first_pid + size - 1}.json"
