"""The generated world in tabular form (`spotifier generate OUT --format csv|parquet`).

One row per playlist entry under the default column names (the ingest keys), the same
playlists, tracks and values as the MPD form of the same (size, seed):

    playlist, position, track, track_name, artist, artist_name, album, album_name,
    duration_ms, title, description, collaborative, modified_at, num_followers, num_edits

`playlist` is the MPD pid as text. Files are `OUT/data/playlists-NNNNN.<ext>` of up to
`PART_PLAYLISTS` playlists each (a playlist never spans two files), so `spotifier ingest OUT`
commits one part per transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from spotifier.synth import names
from spotifier.synth.sampler import SliceDraw, World

PART_PLAYLISTS = 100_000
TABULAR_FORMATS = ("csv", "parquet")

COLUMNS = (
    "playlist", "position", "track", "track_name", "artist", "artist_name", "album",
    "album_name", "duration_ms", "title", "description", "collaborative", "modified_at",
    "num_followers", "num_edits",
)  # fmt: skip


def _uri_strings(kind: str, ids: np.ndarray, seed: int) -> pa.Array:
    raw = names.uris(kind, ids, seed)
    return pa.array([f"spotify:{kind}:{x.decode()}" for x in raw.tolist()], type=pa.string())


def slice_table(world: World, d: SliceDraw) -> pa.Table:
    """One slice's playlists as long rows (see the module docstring)."""
    c, seed = world.catalog, world.seed
    entries = np.asarray(d.entries, dtype=np.int64)
    n = len(d.pids)
    lengths = np.diff(d.offsets)
    row = np.repeat(np.arange(n), lengths)
    position = np.arange(len(entries)) - np.asarray(d.offsets[:-1])[row]
    tracks, t_inv = np.unique(entries, return_inverse=True)
    artists, a_inv = np.unique(c.track_artist[tracks], return_inverse=True)
    albums, b_inv = np.unique(c.track_album[tracks], return_inverse=True)
    take = pa.array(t_inv.astype(np.int64))
    track_artist = pa.array(a_inv.astype(np.int64)).take(take)
    track_album = pa.array(b_inv.astype(np.int64)).take(take)
    rows = pa.array(row.astype(np.int64))
    description = pa.array([d.descriptions.get(i) for i in range(n)], type=pa.string())
    columns: dict[str, Any] = {
        "playlist": pa.array([str(int(p)) for p in d.pids], type=pa.string()).take(rows),
        "position": position.astype(np.int32),
        "track": _uri_strings("track", tracks, seed).take(take),
        "track_name": pa.array(names.track_names(tracks, seed), type=pa.string()).take(take),
        "artist": _uri_strings("artist", artists, seed).take(track_artist),
        "artist_name": pa.array(names.artist_names(artists, seed)).take(track_artist),
        "album": _uri_strings("album", albums, seed).take(track_album),
        "album_name": pa.array(names.album_names(albums, seed)).take(track_album),
        "duration_ms": c.track_duration[entries].astype(np.int32),
        "title": pa.array(d.names, type=pa.string()).take(rows),
        "description": description.take(rows),
        "collaborative": np.asarray(d.collaborative, dtype=bool)[row],
        "modified_at": np.asarray(d.modified_at, dtype=np.int64)[row],
        "num_followers": np.asarray(d.num_followers, dtype=np.int64)[row],
        "num_edits": np.asarray(d.num_edits, dtype=np.int64)[row],
    }
    return pa.table({key: columns[key] for key in COLUMNS})


class PartWriter:
    """Writes slice tables into `folder/playlists-NNNNN.<fmt>`, a new part every
    `PART_PLAYLISTS` playlists (written through a temp name, renamed when whole)."""

    def __init__(self, folder: Path, fmt: str, part_playlists: int = PART_PLAYLISTS) -> None:
        self.folder, self.fmt, self.limit = folder, fmt, part_playlists
        self.part, self.count, self.bytes = 0, 0, 0
        self._writer: Any = None
        self._path: Path | None = None

    def _open(self, schema: pa.Schema) -> None:
        self._path = self.folder / f"playlists-{self.part:05d}.{self.fmt}"
        tmp = self._path.with_name("." + self._path.name)
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(tmp, schema, compression="zstd")
        else:
            import pyarrow.csv as pcsv

            self._writer = pcsv.CSVWriter(tmp, schema)

    def write(self, table: pa.Table, playlists: int) -> None:
        if self._writer is not None and self.count + playlists > self.limit:
            self.close()
        if self._writer is None:
            self._open(table.schema)
        self._writer.write_table(table)
        self.count += playlists

    def close(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        tmp = self._path.with_name("." + self._path.name)
        self.bytes += tmp.stat().st_size
        tmp.replace(self._path)
        self._writer, self._path = None, None
        self.part, self.count = self.part + 1, 0
