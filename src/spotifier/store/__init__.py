"""The embedded store: DuckDB tables in `home/store.duckdb`, the interactions cache, stats."""

from spotifier.store.cache import load_catalog, load_interactions, store_fingerprint
from spotifier.store.pipeline import INVALID_FILE, IngestReport, ingest
from spotifier.store.schema import connect, source_root
from spotifier.store.stats import compute_stats

__all__ = [
    "INVALID_FILE",
    "IngestReport",
    "compute_stats",
    "connect",
    "ingest",
    "load_catalog",
    "load_interactions",
    "source_root",
    "store_fingerprint",
]
