"""DuckDB's errors about the store file, turned into one line a user can act on.

A truncated or bit-flipped `store.duckdb` fails at open ("not a valid DuckDB database file",
"Corrupt database file") or only when a query reaches the bad block ("Could not read enough
bytes"); a valid DuckDB file without the store's tables is no store either. All of them mean
the same thing to a user: the store cannot be trusted, so ingest again into a new home.

    >>> import duckdb
    >>> err = store_error(Path("/h/store.duckdb"), duckdb.Error("Corrupt database file: checksum"))
    >>> type(err).__name__, str(err).split(";")[1]
    ('DamagedFileError', ' ingest again into a new home')
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from spotifier.errors import DamagedFileError, FileSystemError, SpotifierError

#: Message fragments of DuckDB errors that mean the file itself is bad, not the query.
_DAMAGE = (
    "not a valid duckdb database",
    "corrupt database",
    "could not read enough bytes",
    "checksum",
    "failed to read",
    "invalid block",
    "database file is not a valid",
    "serialization error",
    "unsupported duckdb storage",
)
_FILE_IN_MESSAGE = re.compile(r'file "([^"]+)"')


def is_damage(exc: BaseException) -> bool:
    """Whether a DuckDB error says its database file is damaged (or is not a store at all)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.SerializationException | duckdb.CatalogException) or any(
        fragment in text for fragment in _DAMAGE
    )


def store_error(path: Path, exc: BaseException) -> SpotifierError:
    """The one-line error for DuckDB error `exc` raised while using the store at `path`."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lower = first.lower()
    named = _FILE_IN_MESSAGE.search(first)
    if named and not named.group(1).endswith((".wal", ".duckdb")):
        path = Path(named.group(1))  # DuckDB names another file (e.g. a table being ingested)
    if "could not set lock" in lower or "conflicting lock" in lower:
        return SpotifierError(
            f"{path}: the store is in use by another spotifier process; wait for it to finish "
            "and run the command again"
        )
    if "permission denied" in lower or "read-only file system" in lower:
        return FileSystemError(
            f"{path}: cannot write the store (permission denied); use a writable --home or fix "
            "the folder's permissions"
        )
    if "no space left" in lower:
        return FileSystemError(f"{path}: the disk is full; free some space and run it again")
    if "is a directory" in lower:
        return DamagedFileError(f"{path} is a folder, not a store; ingest again into a new home")
    if is_damage(exc):
        if isinstance(exc, duckdb.CatalogException):
            return DamagedFileError(
                f"{path} is not a complete Spotifier store ({first}); ingest again into a new home"
            )
        return DamagedFileError(f"{path} is damaged ({first}); ingest again into a new home")
    return SpotifierError(f"{path}: the store failed: {first}")
