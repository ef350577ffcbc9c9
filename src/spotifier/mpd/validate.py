"""The official MPD checker's rules plus the 5–250 length rule, one `Violation` per problem.

Per-playlist rules live in `validate_playlist`; the cross-playlist rules (one name per URI,
unique pids) in `ConsistencyChecker`, which the store extends to what it already holds.

    >>> pl = {"name": "x", "collaborative": "maybe", "pid": 3}
    >>> [str(v) for v in validate_playlist(pl, "f.json")][-1]
    "f.json: pid 3: collaborative: 'maybe' is not 'true'/'false'"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

from spotifier.mpd.format import (
    INFO_FIELDS,
    MAX_TRACKS,
    MIN_TRACKS,
    OPTIONAL_PLAYLIST_FIELDS,
    PLAYLIST_FIELDS,
    TRACK_FIELDS,
    URI_RE,
)

MAX_PID = 999_999
#: a title longer than this is rejected (not truncated: a cut title is another title), so no
#: model meets a 50 MB title; tabular ingest applies the same limit
MAX_TITLE = 1_000
INT64 = (-(2**63), 2**63 - 1)
_ALLOWED = frozenset(PLAYLIST_FIELDS) | frozenset(OPTIONAL_PLAYLIST_FIELDS)
_INT_FIELDS = (
    "pid",
    "modified_at",
    "num_tracks",
    "num_albums",
    "num_followers",
    "num_edits",
    "duration_ms",
    "num_artists",
)
#: URI field -> the name field that must be the same wherever the URI appears.
NAME_OF_URI = {"track_uri": "track_name", "artist_uri": "artist_name", "album_uri": "album_name"}


@dataclass(frozen=True)
class Violation:
    """One broken rule: which file, which playlist (None when unknown), which field, and why."""

    file: str
    pid: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"pid {self.pid}" if self.pid is not None else "playlist"
        return f"{self.file}: {where}: {self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (Python bools are ints, JSON booleans are not)."""
    return type(value) is int


def pid_of(playlist: object) -> int | None:
    pid = playlist.get("pid") if isinstance(playlist, dict) else None
    return pid if is_int(pid) and INT64[0] <= pid <= INT64[1] else None


def validate_info(info: object, file: str) -> list[Violation]:
    """The slice's `info` block: exactly generated_on, slice, version, all strings."""
    if not isinstance(info, dict):
        return [Violation(file, None, "info", "missing or not an object")]
    out = []
    for key in INFO_FIELDS:
        if not isinstance(info.get(key), str):
            out.append(Violation(file, None, f"info.{key}", "missing or not a string"))
    out.extend(
        Violation(file, None, f"info.{key}", "unknown field")
        for key in info
        if key not in INFO_FIELDS
    )
    return out


def _validate_track(track: object, i: int, file: str, pid: int | None) -> list[Violation]:
    where = f"tracks[{i}]"
    if not isinstance(track, dict):
        return [Violation(file, pid, where, "not an object")]
    out = [Violation(file, pid, f"{where}.{k}", "missing") for k in TRACK_FIELDS if k not in track]
    out.extend(
        Violation(file, pid, f"{where}.{k}", "unknown field")
        for k in track
        if k not in TRACK_FIELDS
    )
    pos = track.get("pos")
    if "pos" in track and (not is_int(pos) or pos != i):
        out.append(Violation(file, pid, f"{where}.pos", f"is {pos!r}, expected {i}"))
    for key in ("artist_name", "track_name", "album_name"):
        if key in track and not isinstance(track[key], str):
            out.append(Violation(file, pid, f"{where}.{key}", "not a string"))
    for key in NAME_OF_URI:
        value = track.get(key)
        kind = key.removesuffix("_uri")
        if key in track and not (isinstance(value, str) and URI_RE[kind].match(value)):
            out.append(
                Violation(
                    file,
                    pid,
                    f"{where}.{key}",
                    f"{value!r} is not spotify:{kind}:<22 base62 chars>",
                )
            )
    duration = track.get("duration_ms")
    if "duration_ms" in track and not (is_int(duration) and 0 <= duration < 2**31):
        out.append(
            Violation(file, pid, f"{where}.duration_ms", f"{duration!r} is not an int in 0..2^31-1")
        )
    return out


def validate_playlist(playlist: object, file: str = "<slice>") -> list[Violation]:
    """Every per-playlist rule of the official checker, plus 5 <= len(tracks) <= 250.

    Never raises, whatever `playlist` holds: junk yields violations.
    """
    if not isinstance(playlist, dict):
        return [Violation(file, None, "playlist", "not an object")]
    pid = pid_of(playlist)
    out = [Violation(file, pid, k, "missing") for k in PLAYLIST_FIELDS if k not in playlist]
    out.extend(Violation(file, pid, str(k), "unknown field") for k in playlist if k not in _ALLOWED)

    for key in _INT_FIELDS:
        if key in playlist and not (
            is_int(playlist[key]) and INT64[0] <= playlist[key] <= INT64[1]
        ):
            out.append(Violation(file, pid, key, f"{playlist[key]!r} is not a 64-bit integer"))
    if pid is not None and not 0 <= pid <= MAX_PID:
        out.append(Violation(file, pid, "pid", f"outside 0..{MAX_PID}"))
    name = playlist.get("name")
    if "name" in playlist and not (isinstance(name, str) and name):
        out.append(Violation(file, pid, "name", "not a non-empty string"))
    elif isinstance(name, str) and len(name) > MAX_TITLE:
        out.append(
            Violation(
                file, pid, "name", f"{len(name):,} characters, over the limit of {MAX_TITLE:,}"
            )
        )
    if "description" in playlist and not isinstance(playlist["description"], str):
        out.append(Violation(file, pid, "description", "not a string"))
    if "collaborative" in playlist and playlist["collaborative"] not in ("true", "false"):
        out.append(
            Violation(
                file, pid, "collaborative", f"{playlist['collaborative']!r} is not 'true'/'false'"
            )
        )
    if (
        "modified_at" in playlist
        and is_int(playlist["modified_at"])
        and playlist["modified_at"] < 0
    ):
        out.append(Violation(file, pid, "modified_at", "negative"))
    for key in ("num_followers", "num_edits"):
        if is_int(playlist.get(key)) and playlist[key] < 1:
            out.append(Violation(file, pid, key, f"{playlist[key]} < 1"))

    tracks = playlist.get("tracks")
    if "tracks" not in playlist:
        return out
    if not isinstance(tracks, list):
        out.append(Violation(file, pid, "tracks", "not a list"))
        return out
    if not MIN_TRACKS <= len(tracks) <= MAX_TRACKS:
        out.append(Violation(file, pid, "tracks", f"{len(tracks)} tracks, outside 5..250"))
    if is_int(playlist.get("num_tracks")) and playlist["num_tracks"] != len(tracks):
        out.append(
            Violation(file, pid, "num_tracks", f"{playlist['num_tracks']} != {len(tracks)} tracks")
        )
    track_problems = [v for i, t in enumerate(tracks) for v in _validate_track(t, i, file, pid)]
    out.extend(track_problems)
    if track_problems:
        return out  # the derived counts below need well-formed tracks
    derived = {
        "num_albums": len({t["album_uri"] for t in tracks}),
        "num_artists": len({t["artist_uri"] for t in tracks}),
        "duration_ms": sum(t["duration_ms"] for t in tracks),
    }
    for key, value in derived.items():
        if is_int(playlist.get(key)) and playlist[key] != value:
            out.append(
                Violation(file, pid, key, f"{playlist[key]} != {value} computed from tracks")
            )
    return out


class ConsistencyChecker:
    """The cross-playlist rules: each URI has one name, each pid appears once.

    Feed valid playlists in order; the first name seen for a URI is the reference.

    >>> t = {"track_uri": "spotify:track:" + "a" * 22, "track_name": "A",
    ...      "artist_uri": "spotify:artist:" + "b" * 22, "artist_name": "B",
    ...      "album_uri": "spotify:album:" + "c" * 22, "album_name": "C"}
    >>> checker = ConsistencyChecker()
    >>> checker.check({"pid": 1, "tracks": [t]}, "f.json")
    []
    >>> [v.field for v in checker.check({"pid": 1, "tracks": [dict(t, track_name="Z")]}, "f.json")]
    ['pid', 'tracks[0].track_name']
    """

    def __init__(self) -> None:
        self.names: dict[str, dict[str, str]] = {key: {} for key in NAME_OF_URI}
        self.pids: dict[int, str] = {}

    def check(self, playlist: dict[str, Any], file: str, record: bool = True) -> list[Violation]:
        """Violations of `playlist` against everything recorded so far; record it when clean."""
        pid = playlist["pid"]
        out = []
        if pid in self.pids:
            out.append(Violation(file, pid, "pid", f"duplicate: already in {self.pids[pid]}"))
        pending: dict[str, dict[str, str]] = {key: {} for key in NAME_OF_URI}
        for i, track in enumerate(playlist["tracks"]):
            for uri_key, name_key in NAME_OF_URI.items():
                uri, name = track[uri_key], track[name_key]
                known = self.names[uri_key].get(uri, pending[uri_key].get(uri))
                if known is None:
                    pending[uri_key][uri] = name
                elif known != name:
                    out.append(
                        Violation(
                            file,
                            pid,
                            f"tracks[{i}].{name_key}",
                            f"{uri} is named {known!r} elsewhere",
                        )
                    )
        if record and not out:
            self.pids[pid] = file
            for uri_key, new in pending.items():
                self.names[uri_key].update(new)
        return out
