"""The Apache Spark engine (extra `spotifier[spark]`): Spark ingest and Spark MLlib ALS.

Both end in Spotifier's own formats — the DuckDB store and the `als` model folder — so every
later command works unchanged. pyspark is imported only when a function here runs.
"""

from spotifier.spark.als import fit_als, train_als
from spotifier.spark.session import DEFAULT_MASTER, java_available, pyspark_available, session, stop
from spotifier.spark.store_ingest import ingest

__all__ = [
    "DEFAULT_MASTER",
    "fit_als",
    "ingest",
    "java_available",
    "pyspark_available",
    "session",
    "stop",
    "train_als",
]
