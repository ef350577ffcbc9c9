"""Spark MLlib ALS, exported into Spotifier's own `als` model.

The hyperparameters come from `ALSConfig` (the `als` model's config), mapped onto MLlib's:

| ALSConfig      | MLlib ALS                       | why                                          |
|----------------|---------------------------------|----------------------------------------------|
| factors        | rank                            | the same thing                               |
| iterations     | maxIter                         | the same thing                               |
| alpha          | alpha = alpha - 1               | MLlib's confidence is 1 + alpha·r, implicit's|
|                |                                 | is alpha·r; with r = 1 (presence) both give  |
|                |                                 | the configured confidence                    |
| regularization | regParam                        | MLlib scales λ by each row's rating count    |
|                |                                 | (ALS-WR), implicit does not: the same value  |
|                |                                 | regularizes more in MLlib                    |
| seed           | seed                            |                                              |

The fitted track factors become an `ALS` model's `item_factors` (tracks MLlib never saw get a
zero factor, as implicit's are all but zero), so fold-in, scoring, saving and serving are the
`als` model's own code. Playlist factors stay on the executors: fold-in never needs them.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from spotifier.data import TrainingData
from spotifier.home import Home, atomic_file
from spotifier.progress import note

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from spotifier.models.als import ALS, ALSConfig


def ratings_frame(spark: SparkSession, matrix: sp.csr_matrix, partitions: int) -> DataFrame:
    """The playlists x tracks presence matrix as a (playlist, track, rating) DataFrame.

    The COO arrays travel to the executors as Arrow record batches, not Python rows.
    """
    import pyarrow as pa

    coo = sp.coo_matrix(matrix)
    table = pa.table(
        {
            "playlist": pa.array(coo.row.astype(np.int32)),
            "track": pa.array(coo.col.astype(np.int32)),
            "rating": pa.array(np.ones(coo.nnz, dtype=np.float32)),
        }
    )
    frame = spark.createDataFrame(table)
    return frame.repartition(partitions)


def mllib_params(config: ALSConfig, partitions: int) -> dict[str, Any]:
    """MLlib ALS keyword arguments for an `ALSConfig` (the mapping in the module docstring).

    >>> from spotifier.models.als import ALSConfig
    >>> p = mllib_params(ALSConfig(factors=8, alpha=20.0, regularization=0.1, iterations=3), 4)
    >>> (p["rank"], p["alpha"], p["regParam"], p["maxIter"], p["implicitPrefs"])
    (8, 19.0, 0.1, 3, True)
    """
    return {
        "rank": config.factors,
        "maxIter": config.iterations,
        "regParam": config.regularization,
        "alpha": max(config.alpha - 1.0, 0.0),
        "implicitPrefs": True,
        "nonnegative": False,
        "seed": config.seed,
        "numUserBlocks": partitions,
        "numItemBlocks": partitions,
        "userCol": "playlist",
        "itemCol": "track",
        "ratingCol": "rating",
        # Keeps the lineage short over many iterations (needs a checkpoint dir, set below).
        "checkpointInterval": 10,
    }


def item_factor_matrix(factors: Any, n_tracks: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) item factors as a dense float32 (n_tracks, rank) array."""
    out = np.zeros((n_tracks, rank), dtype=np.float32)
    table = factors.toArrow() if hasattr(factors, "toArrow") else None
    if table is not None:
        ids = table.column("id").to_numpy()
        values = table.column("features").combine_chunks().flatten().to_numpy()
        out[ids] = values.reshape(len(ids), rank)
    else:  # pragma: no cover - pyspark < 4 without toArrow
        for row in factors.toLocalIterator():
            out[row["id"]] = row["features"]
    return out


def fit_als(
    data: TrainingData,
    config: ALSConfig | None = None,
    master: str | None = "local[*]",
    memory: str | None = None,
) -> ALS:
    """Fit MLlib ALS on `data` and return a fitted Spotifier `ALS` model (not saved)."""
    from spotifier.models.als import ALS
    from spotifier.spark.session import DEFAULT_MEMORY, session

    model = ALS(config)
    cfg: ALSConfig = model.config
    spark = session(master, memory or DEFAULT_MEMORY)
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 4)
    if spark.sparkContext.getCheckpointDir() is None:
        import tempfile

        spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="spotifier-spark-ckpt-"))
    from pyspark.ml.recommendation import ALS as MLlibALS

    ratings = ratings_frame(spark, data.interactions.binary, partitions)
    mllib_model = MLlibALS(**mllib_params(cfg, partitions)).fit(ratings)
    item_factors = item_factor_matrix(
        mllib_model.itemFactors.select("id", "features"), data.n_tracks, cfg.factors
    )
    # The base class's fit sets popularity and n_tracks; `_fit` is replaced by the export.
    model.n_tracks = data.n_tracks
    counts = data.interactions.track_counts.astype(np.int64)
    model.popularity_counts = counts
    model.popularity_order = np.lexsort((np.arange(len(counts)), -counts)).astype(np.int32)
    model._set_state({"item_factors": item_factors})  # the model's own loader resets its caches
    return model


def train_als(
    home: Home,
    split: str | None = None,
    master: str | None = "local[*]",
    overrides: list[str] | None = None,
    memory: str | None = None,
) -> ALS:
    """Train `als` with Spark MLlib and save it in the home folder like any `als` model.

    The saved model is the `als` model (same config, same arrays); its meta.json also records
    `"engine": "spark"` and the Spark master.
    """
    from spotifier.models import persist
    from spotifier.models.als import ALS
    from spotifier.models.base import parse_overrides

    config = parse_overrides(ALS.config_class, overrides or [], owner="als")
    data, _ = persist.load_training(home, split)
    note(f"fitting als with Spark MLlib ({master or 'spark-submit master'})")
    started = time.perf_counter()
    model = fit_als(data, config, master, memory)  # type: ignore[arg-type]
    fit_seconds = time.perf_counter() - started
    persist.check_scores(model, data)  # a broken fit never replaces the saved model
    target = persist.save(home, model, split, data, fit_seconds)
    record_engine(target, master)
    return model


def record_engine(model_dir: Any, master: str | None) -> None:
    """Add the engine to a saved model's meta.json (atomically; persist's API is unchanged)."""
    from pathlib import Path

    path = Path(model_dir) / "meta.json"
    meta = json.loads(path.read_text())
    meta["engine"] = "spark"
    meta["spark_master"] = master
    with atomic_file(path, "w") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
