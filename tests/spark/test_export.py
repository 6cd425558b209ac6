"""clvmodels.spark.to_file: the executors deliver the scores to a file drop exactly once per run, a partition that
fails is retried by Spark without duplicating a row, and a table that breaks the export contract is refused before
anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

import clvmodels as clv
import clvmodels.spark as cs
from clvmodels.errors import DataValidationError, MissingColumnError
from clvmodels.export import ExportConflictError

SETTINGS = dict(horizon=6, period="M", discount_rate=0.1, margin=0.3, interval=None)


@pytest.fixture(scope="module")
def scored(spark):
    summary = clv.datasets.cdnow_summary()
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    summary = summary.iloc[:600]
    sdf = spark.createDataFrame(summary.reset_index()).repartition(4)
    want = clv.forecast_clv(summary, bg, gg, **SETTINGS, time_unit="W")
    fc = cs.forecast_clv(sdf, bg, gg, **SETTINGS, time_unit="W").cache()   # scored once for the module's tests
    assert fc.count() == len(want)
    return sdf, fc, gg, want


def _flaky(marker_dir):
    """A mapInPandas function passing rows through that, on the first attempt of partition 1 of a job, dies after
    its first batch has gone downstream (the write task has started its part file, or its SQL transaction) and
    leaves a file in ``marker_dir`` saying so. Nested, so that Spark ships it by value to its Python workers."""
    def run(batches):
        import os as _os

        from pyspark import TaskContext

        ctx = TaskContext.get()
        for i, batch in enumerate(batches):
            if i == 1 and ctx.partitionId() == 1 and ctx.attemptNumber() == 0:
                open(_os.path.join(marker_dir, f"failed-stage-{ctx.stageId()}"), "w").close()
                raise RuntimeError("injected executor failure (first attempt of partition 1)")
            yield batch
    return run


# The same job in a fresh process with its own local[2,3] session, for a session of this process that cannot retry
# (a master without a failures part, e.g. started by another test with local[1]).
RETRY_JOB = r"""
import sys
from pyspark.sql import SparkSession
import clvmodels as clv, clvmodels.spark as cs
from tests.spark.test_export import _delivered_with_a_failing_partition
spark = (SparkSession.builder.master("local[2,3]").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
_delivered_with_a_failing_partition(spark, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
spark.stop()
"""


def _delivered_with_a_failing_partition(spark, folder, url):
    """Score the first 600 CDNOW customers through _flaky and deliver them with to_file (and to_sql when url)."""
    summary = clv.datasets.cdnow_summary()
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    sdf = spark.createDataFrame(summary.iloc[:600].reset_index()).repartition(4)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")    # several batches per partition
    try:
        fc = cs.forecast_clv(sdf.mapInPandas(_flaky(str(folder)), sdf.schema), bg, gg, **SETTINGS, time_unit="W")
        cs.to_file(fc, folder, "cdnow-retry")
        if url:
            cs.to_sql(fc, url, "clv_retry", "cdnow-retry")
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


def _failures_allowed(spark) -> int:
    master = spark.sparkContext.master
    inside = master[master.find("[") + 1:master.rfind("]")] if "[" in master else ""
    return int(inside.split(",")[1]) if "," in inside else 1


@pytest.mark.slow
def test_a_failed_partition_is_retried_without_duplicating_rows(spark, scored, tmp_path):
    _, _, _, want = scored
    # PostgreSQL when the suite has one (CI): the SQL sink's staging transaction dies mid-way and is retried too
    url = os.environ.get("CLV_TEST_POSTGRES_URL") and _database(tmp_path)
    if _failures_allowed(spark) > 1:
        _delivered_with_a_failing_partition(spark, tmp_path, url)
    else:
        proc = subprocess.run([sys.executable, "-c", RETRY_JOB, str(tmp_path), *([url] if url else [])],
                              capture_output=True, text=True, timeout=600,
                              cwd=str(Path(__file__).resolve().parents[2]))
        assert proc.returncode == 0, proc.stderr[-3000:]
    failed = sorted(p.name for p in tmp_path.glob("failed-stage-*"))
    assert len(failed) >= (3 if url else 2), failed     # the checks' job, the write (and the staging) each failed once
    got = pd.read_parquet(tmp_path / "cdnow-retry.parquet")   # every part file of the folder
    assert len(got) == len(want) and got["customer_id"].is_unique
    got = got.set_index("customer_id").loc[want.index]
    np.testing.assert_allclose(got["clv"].to_numpy(), want["clv"].to_numpy(), rtol=1e-10)
    manifest = json.loads((tmp_path / "cdnow-retry.parquet.manifest.json").read_text())
    assert manifest["rows"] == len(want)
    assert sum(size for _, size in manifest["parts"]) > 0
    if url:
        in_db = _rows(url, "clv_retry", "cdnow-retry")
        assert len(in_db) == len(want) and in_db["customer_id"].is_unique
        np.testing.assert_allclose(in_db.set_index("customer_id").loc[want.index, "clv"], want["clv"], rtol=1e-10)
        assert _rows(url, "clv_retry__clv_staging", "cdnow-retry").empty     # the staged rows were moved


def _database(tmp_path) -> str:
    """A fresh table space: PostgreSQL when CLV_TEST_POSTGRES_URL is set (as .ci/run does), else SQLite."""
    url = os.environ.get("CLV_TEST_POSTGRES_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:    # every run of this test starts without the tables of an earlier one
        for name in ("clv_retry", "clv_retry__clv_staging", "clv_retry__clv_parts"):
            conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {name}"))
        if sqlalchemy.inspect(conn).has_table("clv_exports"):
            conn.execute(sqlalchemy.text("DELETE FROM clv_exports WHERE table_name = 'clv_retry'"))
    engine.dispose()
    return url


def _rows(url: str, table: str, run_id: str) -> pd.DataFrame:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        out = pd.read_sql_query(sqlalchemy.text(f"SELECT * FROM {table} WHERE run_id = :r"), conn, params={"r": run_id})
    engine.dispose()
    return out


def test_a_partition_staged_before_a_crash_is_not_staged_again(spark, scored, tmp_path):
    """A driver that died after the executors staged (or a retried attempt of a partition that committed): the
    next to_sql finds the partitions committed, stages nothing again and delivers every customer once."""
    from clvmodels.spark.export import _sample_table, _stage_partition

    _, fc, _, want = scored
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    first = cs.to_sql(fc, url, "scores", "r0")                 # creates the tables
    assert first.rows == len(want)
    # stage run r1 by hand, as the executors do, and stop before the driver's transaction
    from clvmodels.spark.export import _check
    rows, checksum = _check(fc, __import__("pyspark.sql.functions", fromlist=["col"]))
    sample = _sample_table(fc)
    kinds = (tuple(sample.names), tuple(sample.kinds), sample.id_kind)
    staged = fc.mapInPandas(_stage_partition(url, "scores", None, "clv_exports", kinds, "r1", checksum, 100), "n long")
    assert sum(r["n"] for r in staged.collect()) == rows == len(want)
    receipt = cs.to_sql(fc, url, "scores", "r1")
    assert not receipt.already_delivered and receipt.rows == len(want)
    got = _rows(url, "scores", "r1")
    assert len(got) == len(want) and got["customer_id"].is_unique
    assert _rows(url, "scores__clv_staging", "r1").empty
    with pytest.raises(ExportConflictError, match="different table"):
        cs.to_sql(fc.withColumn("clv", fc["clv"] + 1.0), url, "scores", "r1")
    assert cs.to_sql(fc.repartition(5), url, "scores", "r1").already_delivered


def test_the_same_run_again_is_a_no_op_and_another_table_a_conflict(spark, scored, tmp_path):
    _, fc, _, want = scored
    first = cs.to_file(fc, tmp_path, "r1", format="csv", prefix="clv_")
    # the same rows in another partitioning give the same checksum: a no-op that says so
    again = cs.to_file(fc.repartition(7), tmp_path, "r1", format="csv", prefix="clv_")
    assert not first.already_delivered and again.already_delivered and again.checksum == first.checksum
    parts = sorted(Path(first.details["path"]).glob("part-*.csv"))
    got = pd.concat([pd.read_csv(p, dtype={"customer_id": str}) for p in parts], ignore_index=True)
    assert len(got) == len(want) and got["customer_id"].is_unique
    changed = fc.withColumn("clv", fc["clv"] * 1.01)
    with pytest.raises(ExportConflictError, match="different table"):
        cs.to_file(changed, tmp_path, "r1", format="csv", prefix="clv_")


def test_a_crashed_write_without_manifest_is_redone(spark, scored, tmp_path):
    _, fc, _, want = scored
    # what a driver killed after the executors wrote but before the manifest leaves: a folder, no manifest
    fc.limit(10).write.parquet(str(tmp_path / "r2.parquet"))
    receipt = cs.to_file(fc, tmp_path, "r2")
    assert not receipt.already_delivered
    assert len(pd.read_parquet(receipt.details["path"])) == len(want)


def test_a_table_breaking_the_contract_is_refused_naming_column_and_customers(spark, tmp_path):
    frame = pd.DataFrame({"customer_id": ["007", "012", "013"], "clv": [1.0, float("nan"), 2.0]})
    with pytest.raises(DataValidationError, match=r"column 'clv'.*'012'") as err:
        cs.to_file(spark.createDataFrame(frame), tmp_path, "bad")
    assert err.value.column == "clv" and err.value.examples == ["012"]
    twice = pd.DataFrame({"customer_id": ["007", "007", "013"], "clv": [1.0, 1.5, 2.0]})
    with pytest.raises(DataValidationError, match=r"not unique.*'007'"):
        cs.to_file(spark.createDataFrame(twice), tmp_path, "bad")
    with pytest.raises(MissingColumnError, match="customer_id"):
        cs.to_file(spark.createDataFrame(frame.rename(columns={"customer_id": "id"})), tmp_path, "bad")
    assert list(tmp_path.iterdir()) == []                      # nothing was written
