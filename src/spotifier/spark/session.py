"""One place that builds the SparkSession: quiet logs and sensible settings for a small box.

pyspark is an optional extra (`spotifier[spark]`) and needs a Java runtime (17+); both are checked
here, so every Spark entry point fails with one clear message instead of a JVM stack trace.

The defaults suit local mode on a 2-core / 24 GB machine: few shuffle partitions (the default 200
would spend more time scheduling than computing on small data), the UI off, and the driver heap
set from `memory` (in local mode the driver is also the only executor). On a cluster started by
`spark-submit`, the master and memory come from spark-submit and `master=None` keeps them.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spotifier.errors import MissingExtraError, SpotifierError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
DEFAULT_MEMORY = "4g"
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def java_available() -> bool:
    """True when a `java` executable can be found ($JAVA_HOME/bin/java or on PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def launched_by_spark_submit() -> bool:
    """True inside a Python application started by `spark-submit` (its JVM is already up)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def pyspark_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyspark") is not None


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError as exc:
        raise MissingExtraError("pyspark", "spark") from exc
    return pyspark


def shuffle_partitions(master: str | None) -> int:
    """Shuffle partitions: 2 x cores in local mode (a few tasks per core), Spark's default else.

    >>> shuffle_partitions("local[3]")
    6
    >>> shuffle_partitions("local")
    2
    >>> shuffle_partitions("spark://head:7077")
    200
    """
    if master is None or not master.startswith("local"):
        return 200
    inside = master[len("local") :].strip("[]").split(",")[0]
    if inside in ("", "1"):
        cores = 1
    elif inside == "*":
        cores = os.cpu_count() or 1
    else:
        try:
            cores = int(inside)
        except ValueError:
            cores = os.cpu_count() or 1
    return max(2, 2 * cores)


def session(
    master: str | None = DEFAULT_MASTER,
    memory: str | None = DEFAULT_MEMORY,
    app_name: str = "spotifier",
    config: dict[str, str] | None = None,
) -> SparkSession:
    """The SparkSession Spotifier's Spark steps run in (an existing one is reused).

    `master`: "local[*]" (default), "local[2]", "spark://host:7077", "yarn", ... or None to keep
    what spark-submit set. Under spark-submit its master, memory and `--conf` settings are
    kept (the defaults here are not applied). `memory`: spark.driver.memory (only effective
    when this call starts the JVM). `config`: extra Spark settings, which win over the defaults.
    """
    _pyspark()
    if launched_by_spark_submit():
        # spark-submit already chose the master, the memory and the settings; keep them.
        master = None if master == DEFAULT_MASTER else master
        memory = None
    elif not java_available():
        raise SpotifierError(
            "the Spark engine needs a Java runtime (17 or newer): install one or set JAVA_HOME"
        )
    from pyspark.sql import SparkSession

    settings = {
        "spark.sql.shuffle.partitions": str(shuffle_partitions(master)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # Arrow makes toPandas / createDataFrame(pandas) columnar instead of row by row.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.maxResultSize": "0",
        # Quiet JVM logs from the first line on (setLogLevel only acts once the JVM is up).
        "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile={LOG_CONFIG}",
    }
    submitted = launched_by_spark_submit()
    if submitted:
        settings = {k: settings[k] for k in ("spark.sql.session.timeZone",)}
    if master is not None and master.startswith("local"):
        # Adaptive execution re-plans every shuffle as its own job: worth it on a cluster,
        # pure overhead for the small partitions of one machine.
        settings["spark.sql.adaptive.enabled"] = "false"
    if memory:
        settings["spark.driver.memory"] = memory
    settings.update(config or {})
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    if master is not None and master.startswith("local"):
        # Local mode talks to itself only: bind to loopback (and skip the hostname warning).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with warnings.catch_warnings():
        # pyspark warns about pandas versions it has not certified; Spotifier barely uses pandas.
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop() -> None:
    """Stop the active session, if any (tests and one-shot CLI commands call this at the end)."""
    if not pyspark_available():
        return
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
