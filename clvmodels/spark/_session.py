"""pyspark, imported only when a Spark function is called, and the checks every entrance shares."""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from ..errors import ConfigError, DataValidationError

INSTALL_HINT = 'pip install "clvmodels[spark]"'
# the key of the facts a Spark summary carries in the metadata of its customer_id column
FACTS_KEY = "clvmodels.summary"


def pyspark_sql():
    """``pyspark.sql``, or a ConfigError saying how to install it."""
    try:
        return importlib.import_module("pyspark.sql")
    except ImportError:
        raise ConfigError(f"the Spark engine needs pyspark, which is not installed: {INSTALL_HINT}",
                          key="engine") from None


def functions():
    """``pyspark.sql.functions`` (after :func:`pyspark_sql`)."""
    pyspark_sql()
    return importlib.import_module("pyspark.sql.functions")


def require_frame(df, name: str = "df"):
    """``df`` if it is a Spark DataFrame (classic or Spark Connect), else a DataValidationError."""
    sql = pyspark_sql()
    kinds = [sql.DataFrame]
    # a Spark Connect DataFrame means its module is loaded; importing it otherwise is not only wasted work: without
    # Connect's extra dependencies pyspark calls sys.exit(0) when __main__ looks like a doctest run (pytest-xdist)
    connect = sys.modules.get("pyspark.sql.connect.dataframe")
    if connect is not None:
        kinds.append(connect.DataFrame)
    if not isinstance(df, tuple(kinds)):
        raise DataValidationError(f"{name} must be a Spark DataFrame, got {type(df).__name__} (for a pandas "
                                  "DataFrame use clvmodels.rfm_summary / clvmodels.forecast_clv)")
    return df


def session(df):
    """The SparkSession of a DataFrame."""
    return df.sparkSession


def json_safe(value: Any) -> Any:
    """A customer id (or any example value) as a JSON value: numbers and text as they are, else text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def read_facts(df) -> dict | None:
    """The facts dict stored in the ``customer_id`` column's metadata by the Spark summary, or None."""
    if "customer_id" not in df.columns:
        return None
    meta = df.schema["customer_id"].metadata or {}
    facts = meta.get(FACTS_KEY)
    if isinstance(facts, str):
        facts = json.loads(facts)
    return facts if isinstance(facts, dict) else None


def start_session(conf: dict[str, str] | None = None, app_name: str = "clvmodels"):
    """The Spark session to work in: the active one, else one started with ``conf`` (e.g.
    ``{"spark.master": "local[4]", "spark.driver.memory": "8g"}``; without ``spark.master``, the
    ``SPARK_MASTER`` environment variable, else local on every core), with Spark's console progress bar
    off and its logging at WARN to stderr (ERROR under the CLI's ``--quiet``, which sets ``CLVMODELS_QUIET=1``),
    without the "unable to load native-hadoop library" warning every machine without Hadoop's native libraries
    prints (a ``spark.driver.extraJavaOptions`` in ``conf`` or a ``SPARK_CONF_DIR`` keeps your own log4j2
    set-up). The JVM's own start-up line about incubator modules is not Spark's logging and still shows. A run config's ``data.engine: spark`` starts its session with this (``data.spark_conf``).

    A local master without ``spark.sql.shuffle.partitions`` in ``conf`` gets two shuffle partitions a core instead
    of Spark's 200 (sized for clusters, they make a small log's summary several times slower on one machine).

    Examples
    --------
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session({"spark.ui.enabled": "false"})
    >>> spark.createDataFrame([("007", 1.0)], ["customer_id", "amount"]).count()
    1
    """
    builder = pyspark_sql().SparkSession.builder.config("spark.ui.showConsoleProgress", "false")
    conf = dict(conf or {})
    if "spark.driver.extraJavaOptions" not in conf and "SPARK_CONF_DIR" not in os.environ:
        quiet = os.environ.get("CLVMODELS_QUIET") == "1"
        builder = builder.config("spark.driver.extraJavaOptions",
                                 f"-Dlog4j2.configurationFile=file:{_log4j2_file('error' if quiet else 'warn')}")
        if quiet and "spark.log.level" not in conf:
            builder = builder.config("spark.log.level", "ERROR")     # once started, errors only
    for key, value in conf.items():
        builder = builder.config(key, value)
    master = conf.get("spark.master")
    if not master and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        master = os.environ.get("SPARK_MASTER", "local[*]")
        builder = builder.master(master)
    cores = local_cores(master)
    if cores is not None and "spark.sql.shuffle.partitions" not in conf:
        # Spark's 200 shuffle partitions are sized for clusters: on one machine a small log's summary then runs
        # hundreds of near-empty tasks per stage (8-10 s instead of 2-3 s for a 4-row log on 2 cores)
        builder = builder.config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
    return builder.appName(app_name).getOrCreate()


def local_cores(master: str | None) -> int | None:
    """The cores of a ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]`` master; None for any other master.

    Examples
    --------
    >>> local_cores("local[4]"), local_cores("local[2,3]"), local_cores("local"), local_cores("spark://host:7077")
    (4, 2, 1, None)
    """
    import re

    if not master:
        return None
    if master.strip() == "local":
        return 1
    found = re.fullmatch(r"\s*local\[\s*(\*|\d+)\s*(?:,\s*\d+\s*)?\]\s*", master)
    if found is None:
        return None
    return (os.cpu_count() or 1) if found.group(1) == "*" else int(found.group(1))


_LOG4J2 = """\
# written by clvmodels.spark.start_session: Spark's warnings and errors to stderr, no start-up noise
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
logger.utils.name = org.apache.spark.util.Utils
logger.utils.level = {level}
"""


def _log4j2_file(level: str) -> str:
    """The log4j2 configuration of the sessions :func:`start_session` starts (a file in the temp directory)."""
    import tempfile

    text = _LOG4J2.replace("{level}", level)
    user = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"clvmodels-log4j2-{level}-{user}.properties")
    try:
        with open(path) as fh:
            if fh.read() == text:
                return path
    except OSError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path
