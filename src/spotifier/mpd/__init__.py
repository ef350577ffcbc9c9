"""The MPD format: read, write and validate slices and challenge sets exactly as published."""

from spotifier.mpd.format import (
    PLAYLIST_FIELDS,
    TRACK_FIELDS,
    normalize_name,
    slice_name,
)

__all__ = ["PLAYLIST_FIELDS", "TRACK_FIELDS", "normalize_name", "slice_name"]
