"""The embedded store: DuckDB tables in `home/store.duckdb`, the interactions cache, stats.

Public names load lazily, so ingest's worker processes import only what parsing needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spotifier.store.cache import (
        load_catalog,
        load_interactions,
        load_playlist_ids,
        store_fingerprint,
    )
    from spotifier.store.fields import present_fields
    from spotifier.store.pipeline import INVALID_FILE, IngestReport, ingest
    from spotifier.store.schema import connect, source_root
    from spotifier.store.stats import compute_stats

_EXPORTS = {
    "INVALID_FILE": "pipeline",
    "IngestReport": "pipeline",
    "ingest": "pipeline",
    "load_catalog": "cache",
    "load_interactions": "cache",
    "load_playlist_ids": "cache",
    "present_fields": "fields",
    "store_fingerprint": "cache",
    "connect": "schema",
    "source_root": "schema",
    "compute_stats": "stats",
}

__all__ = [
    "INVALID_FILE",
    "IngestReport",
    "compute_stats",
    "connect",
    "ingest",
    "load_catalog",
    "load_interactions",
    "load_playlist_ids",
    "present_fields",
    "source_root",
    "store_fingerprint",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spotifier.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"spotifier.store.{module}"), name)
    globals()[name] = value
    return value
