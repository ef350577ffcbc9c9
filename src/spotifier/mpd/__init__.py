"""The MPD format: read, write and validate slices and challenge sets exactly as published."""

from spotifier.mpd.format import (
    PLAYLIST_FIELDS,
    TRACK_FIELDS,
    normalize_name,
    slice_name,
)
from spotifier.mpd.reader import iter_slice_files, read_slice
from spotifier.mpd.validate import ConsistencyChecker, Violation, validate_info, validate_playlist

__all__ = [
    "PLAYLIST_FIELDS",
    "TRACK_FIELDS",
    "ConsistencyChecker",
    "Violation",
    "iter_slice_files",
    "normalize_name",
    "read_slice",
    "slice_name",
    "validate_info",
    "validate_playlist",
]
