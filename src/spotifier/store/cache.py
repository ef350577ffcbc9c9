"""Interactions and catalogue built from the store with Arrow/numpy, cached as `.npz`.

The cache lives in `home/matrices/` under a fingerprint of the `slices` table, so it is rebuilt
exactly when an ingest commits (or a strict ingest undoes) a slice. Strings are stored as UTF-8
bytes plus offsets: `np.load(..., allow_pickle=False)` always works.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from spotifier.data import Catalog, Interactions
from spotifier.home import Home, atomic_file
from spotifier.store.schema import connect

CACHE_VERSION = 1


def _home(home: Home | str | Path) -> Home:
    return home if isinstance(home, Home) else Home.resolve(home)


def _fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    h = hashlib.blake2b(digest_size=10)
    h.update(f"v{CACHE_VERSION}".encode())
    for file, md5, n in con.execute(
        "SELECT file, md5, playlists FROM slices ORDER BY file, md5"
    ).fetchall():
        h.update(f"{file}\0{md5}\0{n}\n".encode())
    return h.hexdigest()


def store_fingerprint(home: Home | str | Path) -> str:
    """A short hash of what the store holds (its slice registry); changes on every ingest."""
    with connect(_home(home)) as con:
        return _fingerprint(con)


def pack_strings(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64, utf-8 bytes uint8) of a string array; nulls become ''.

    >>> offsets, data = pack_strings(pa.array(["ab", None, "é"]))
    >>> offsets.tolist(), unpack_strings(offsets, data).tolist()
    ([0, 2, 2, 4], ['ab', '', 'é'])
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arr = values.fill_null("").cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data_buffer = arr.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0)
    start = int(offsets[0]) if len(offsets) else 0
    end = int(offsets[-1]) if len(offsets) else 0
    return (offsets - start).astype(np.int64), data[start:end].astype(np.uint8)


def unpack_strings(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The object array of `str` that `pack_strings` packed."""
    arr = pa.LargeStringArray.from_buffers(
        len(offsets) - 1,
        pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int64)),
        pa.py_buffer(np.ascontiguousarray(data, dtype=np.uint8)),
    )
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _cached(home: Home, kind: str, fingerprint: str) -> Path:
    return home.matrices_dir / f"{kind}-{fingerprint}.npz"


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    kind = path.name.split("-")[0]
    for stale in path.parent.glob(f"{kind}-*.npz"):
        if stale != path:
            stale.unlink(missing_ok=True)


def _interactions_arrays(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    playlists = con.sql("SELECT pid, name, num_tracks FROM playlists ORDER BY pid").to_arrow_table()
    tracks = con.sql("SELECT track_idx FROM entries ORDER BY pid, pos").fetchnumpy()["track_idx"]
    indptr = np.zeros(playlists.num_rows + 1, dtype=np.int64)
    np.cumsum(playlists["num_tracks"].to_numpy(), out=indptr[1:])
    offsets, data = pack_strings(playlists["name"])
    row = con.execute("SELECT count(*) FROM tracks").fetchall()[0]
    return {
        "indptr": indptr,
        "tracks": np.asarray(tracks, dtype=np.int32),
        "pids": playlists["pid"].to_numpy().astype(np.int64),
        "n_tracks": np.array(int(row[0]) if row else 0, dtype=np.int64),
        "title_offsets": offsets,
        "title_bytes": data,
    }


def _cache_or_build(
    home: Home, kind: str, build: Callable[[duckdb.DuckDBPyConnection], dict[str, np.ndarray]]
) -> Path:
    """The `.npz` of `kind` for the store's current content, built from the store if missing."""
    with connect(home) as con:
        path = _cached(home, kind, _fingerprint(con))
        if not path.exists():
            _save(path, build(con))
    return path


def load_interactions(home: Home | str | Path) -> Interactions:
    """Every ingested playlist (rows in pid order, tracks in position order, titles = names)."""
    path = _cache_or_build(_home(home), "interactions", _interactions_arrays)
    with np.load(path, allow_pickle=False) as z:
        return Interactions(
            indptr=z["indptr"],
            tracks=z["tracks"],
            n_tracks=int(z["n_tracks"]),
            titles=unpack_strings(z["title_offsets"], z["title_bytes"]),
            pids=z["pids"],
        )


_CATALOG_STRINGS = (
    "track_uris",
    "track_names",
    "artist_uris",
    "artist_names",
    "album_uris",
    "album_names",
)


def _catalog_arrays(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    tracks = con.sql(
        "SELECT track_uri, track_name, artist_idx, album_idx, duration_ms FROM tracks "
        "ORDER BY track_idx"
    ).to_arrow_table()
    artists = con.sql("SELECT artist_uri, artist_name FROM artists ORDER BY artist_idx")
    albums = con.sql("SELECT album_uri, album_name FROM albums ORDER BY album_idx")
    artist_table, album_table = artists.to_arrow_table(), albums.to_arrow_table()
    columns = {
        "track_uris": tracks["track_uri"],
        "track_names": tracks["track_name"],
        "artist_uris": artist_table["artist_uri"],
        "artist_names": artist_table["artist_name"],
        "album_uris": album_table["album_uri"],
        "album_names": album_table["album_name"],
    }
    out: dict[str, np.ndarray] = {
        "track_artist": tracks["artist_idx"].to_numpy().astype(np.int32),
        "track_album": tracks["album_idx"].to_numpy().astype(np.int32),
        "track_duration_ms": tracks["duration_ms"].to_numpy().astype(np.int64),
    }
    for key, values in columns.items():
        out[f"{key}_offsets"], out[f"{key}_bytes"] = pack_strings(values)
    return out


def load_catalog(home: Home | str | Path) -> Catalog:
    """Tracks, albums and artists of the store; index i of every track array is track_idx i."""
    path = _cache_or_build(_home(home), "catalog", _catalog_arrays)
    with np.load(path, allow_pickle=False) as z:
        strings = {k: unpack_strings(z[f"{k}_offsets"], z[f"{k}_bytes"]) for k in _CATALOG_STRINGS}
        return Catalog(
            track_artist=z["track_artist"],
            track_album=z["track_album"],
            track_duration_ms=z["track_duration_ms"],
            **strings,
        )
