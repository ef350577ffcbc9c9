"""Hand-made MPD slices for the data tests (independent of the generator)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def uri(kind: str, n: int) -> str:
    """A valid `spotify:<kind>:<22 base62 chars>` URI numbered n."""
    return f"spotify:{kind}:{n:022d}"


def track(n: int, artist: int | None = None, album: int | None = None, ms: int = 200_000) -> dict:
    """Track n by artist n % 7 on album n % 11 unless given; names derive from the numbers."""
    artist = n % 7 if artist is None else artist
    album = n % 11 if album is None else album
    return {
        "pos": 0,
        "artist_name": f"Artist {artist}",
        "track_uri": uri("track", n),
        "artist_uri": uri("artist", artist),
        "track_name": f"Track {n}",
        "album_uri": uri("album", album),
        "duration_ms": ms,
        "album_name": f"Album {album}",
    }


def playlist(pid: int, tracks: list[int] | list[dict], name: str = "", **extra: Any) -> dict:
    """A valid playlist holding `tracks` (numbers or track dicts), with consistent counts."""
    items = [dict(t) if isinstance(t, dict) else track(t) for t in tracks]
    for i, t in enumerate(items):
        t["pos"] = i
    out: dict[str, Any] = {
        "name": name or f"list {pid}",
        "collaborative": "false",
        "pid": pid,
        "modified_at": 1500000000 - 86400 * (pid % 50),
        "num_tracks": len(items),
        "num_albums": len({t["album_uri"] for t in items}),
        "num_followers": 1 + pid % 3,
        "tracks": items,
        "num_edits": 1 + pid % 4,
        "duration_ms": sum(t["duration_ms"] for t in items),
        "num_artists": len({t["artist_uri"] for t in items}),
    }
    out.update(extra)
    return out


def write_slice(folder: Path, playlists: list[dict], first: int = 0, gz: bool = False) -> Path:
    """Write `playlists` as `mpd.slice.<first>-<first+999>.json[.gz]` in the real layout."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "info": {
            "generated_on": "2017-12-03 08:41:42.057563",
            "slice": f"{first}-{first + 999}",
            "version": "v1",
        },
        "playlists": playlists,
    }
    text = json.dumps(data, indent=4).encode()
    name = f"mpd.slice.{first}-{first + 999}.json"
    path = folder / (name + ".gz" if gz else name)
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def simple_world(folder: Path, n_slices: int = 3, per_slice: int = 4) -> list[Path]:
    """`n_slices` valid slices; playlist pid holds tracks pid..pid+5, then track 0."""
    paths = []
    for s in range(n_slices):
        first = s * 1000
        pls = [
            playlist(
                first + i, [first + i + k for k in range(6)] + [0], name=["Chill", "rap!"][i % 2]
            )
            for i in range(per_slice)
        ]
        paths.append(write_slice(folder, pls, first=first))
    return paths
