"""Interactions and catalogue built from the store with Arrow/numpy, cached as `.npz`.

The cache lives in `home/matrices/` under a fingerprint of the store's content: the `slices`
table (every committed file), the `meta` table (schema version, source kind) and the row counts,
so it is rebuilt when an ingest commits (or a strict ingest undoes) a file or a store is
migrated: nothing else in Spotifier changes a store. Strings are stored as UTF-8 bytes plus
offsets: `np.load(..., allow_pickle=False)` always works.
"""

from __future__ import annotations

import errno
import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spotifier.data import Catalog, Interactions
from spotifier.home import Home, atomic_file
from spotifier.store.fields import columns, present_fields
from spotifier.store.schema import connect, playlist_id_sql

# 2: external playlist ids, the fields present, -1 for unknown artists/albums/durations.
CACHE_VERSION = 2


def _home(home: Home | str | Path) -> Home:
    return home if isinstance(home, Home) else Home.resolve(home)


def _fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    h = hashlib.blake2b(digest_size=10)
    h.update(f"v{CACHE_VERSION}".encode())
    for file, md5, n in con.execute(
        "SELECT file, md5, playlists FROM slices ORDER BY file, md5"
    ).fetchall():
        h.update(f"{file}\0{md5}\0{n}\n".encode())
    if columns(con, "meta"):
        for key, value in con.execute("SELECT key, value FROM meta ORDER BY key").fetchall():
            h.update(f"meta\0{key}\0{value}\n".encode())
    for table in ("playlists", "entries", "tracks", "artists", "albums"):
        (count,) = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
        h.update(f"{table}\0{count}\n".encode())
    return h.hexdigest()


def store_fingerprint(home: Home | str | Path) -> str:
    """A short hash of what the store holds (committed files, meta, row counts); changes on
    every ingest and migration."""
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
    playlists = con.sql(
        f"SELECT pid, name, num_tracks, {playlist_id_sql(con)} AS playlist_id FROM playlists "
        "ORDER BY pid"
    ).to_arrow_table()
    tracks = con.sql("SELECT track_idx FROM entries ORDER BY pid, pos").fetchnumpy()["track_idx"]
    indptr = np.zeros(playlists.num_rows + 1, dtype=np.int64)
    np.cumsum(playlists["num_tracks"].to_numpy(), out=indptr[1:])
    offsets, data = pack_strings(playlists["name"])
    id_offsets, id_data = pack_strings(playlists["playlist_id"])
    row = con.execute("SELECT count(*) FROM tracks").fetchall()[0]
    return {
        "indptr": indptr,
        "tracks": np.asarray(tracks, dtype=np.int32),
        "pids": playlists["pid"].to_numpy().astype(np.int64),
        "n_tracks": np.array(int(row[0]) if row else 0, dtype=np.int64),
        "title_offsets": offsets,
        "title_bytes": data,
        "playlist_id_offsets": id_offsets,
        "playlist_id_bytes": id_data,
    }


def _cache_or_build(
    home: Home, kind: str, build: Callable[[duckdb.DuckDBPyConnection], dict[str, np.ndarray]]
) -> Path | io.BytesIO:
    """The `.npz` of `kind` for the store's current content, built from the store if missing.

    A cache file that is not a whole zip (truncated) is built again. In a home the user may only
    read, the cache is built in memory instead: reading commands keep working there.
    """
    with connect(home) as con:
        path = _cached(home, kind, _fingerprint(con))
        if path.exists() and zipfile.is_zipfile(path):
            return path
        arrays = build(con)
    try:
        _save(path, arrays)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        buffer.seek(0)
        return buffer
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


def load_playlist_ids(home: Home | str | Path) -> np.ndarray:
    """The external playlist id (str) of every row of `load_interactions(home)`, in pid order.

    For an MPD store it is the pid as text; for own playlists, the id the user's data gave.
    """
    path = _cache_or_build(_home(home), "interactions", _interactions_arrays)
    with np.load(path, allow_pickle=False) as z:
        return unpack_strings(z["playlist_id_offsets"], z["playlist_id_bytes"])


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
    out: dict[str, np.ndarray] = {
        # Unknown (NULL) artist, album and duration are -1 (the store contract).
        "track_artist": _filled(tracks["artist_idx"], np.int32),
        "track_album": _filled(tracks["album_idx"], np.int32),
        "track_duration_ms": _filled(tracks["duration_ms"], np.int64),
    }
    columns = {"track_uris": tracks["track_uri"], "track_names": tracks["track_name"]}
    for kind in ("artist", "album"):
        ids, names = _by_index(con, kind)
        columns[f"{kind}_uris"], columns[f"{kind}_names"] = ids, names
    for key, values in columns.items():
        out[f"{key}_offsets"], out[f"{key}_bytes"] = pack_strings(values)
    out["fields"] = np.array(sorted(present_fields(con)), dtype=str)
    return out


def _filled(values: pa.ChunkedArray, dtype: type) -> np.ndarray:
    return np.asarray(pc.fill_null(values, -1).to_numpy(), dtype=dtype)


def _by_index(con: duckdb.DuckDBPyConnection, kind: str) -> tuple[pa.Array, pa.Array]:
    """(external ids, names) of artists or albums, position i holding index i ('' in gaps)."""
    table = con.sql(
        f"SELECT {kind}_idx AS idx, {kind}_uri AS uri, {kind}_name AS name FROM {kind}s "
        "ORDER BY idx"
    ).to_arrow_table()
    idx = pc.fill_null(table["idx"], -1).to_numpy()
    size = int(idx.max(initial=-1)) + 1
    if len(idx) == size and (idx == np.arange(size)).all():
        return table["uri"].combine_chunks(), table["name"].combine_chunks()
    ok = idx >= 0
    slots = np.full(size, -1, dtype=np.int64)
    slots[idx[ok]] = np.flatnonzero(ok)
    take = pa.array(np.where(slots >= 0, slots, 0))
    gaps = pa.array(slots < 0)
    uri = pc.if_else(gaps, "", pc.take(table["uri"].combine_chunks(), take))
    name = pc.if_else(gaps, "", pc.take(table["name"].combine_chunks(), take))
    return uri, name


def load_catalog(home: Home | str | Path) -> Catalog:
    """Tracks, albums and artists of the store; index i of every track array is track_idx i."""
    path = _cache_or_build(_home(home), "catalog", _catalog_arrays)
    with np.load(path, allow_pickle=False) as z:
        strings = {k: unpack_strings(z[f"{k}_offsets"], z[f"{k}_bytes"]) for k in _CATALOG_STRINGS}
        return Catalog(
            track_artist=z["track_artist"],
            track_album=z["track_album"],
            track_duration_ms=z["track_duration_ms"],
            fields=frozenset(str(f) for f in z["fields"].tolist()),
            **strings,
        )
