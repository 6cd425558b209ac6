"""clvmodels.spark.to_file: the executors deliver the scores to a file drop exactly once per run, a partition that
fails is retried by Spark without duplicating a row, and a table that breaks the export contract is refused before
anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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
    return sdf, bg, gg, want


# Run in a fresh process: retries need a master that allows them (local[N,maxFailures]), and the session of this
# process may have been started by a docstring example with local[1].
RETRY_JOB = r"""
import sys
from pyspark import TaskContext
from pyspark.sql import SparkSession
import clvmodels as clv, clvmodels.spark as cs

def flaky(batches):
    # pass rows through; on the first attempt of partition 1, die after its first batch has gone downstream (so
    # the write task has started its part file when it fails)
    ctx = TaskContext.get()
    for i, batch in enumerate(batches):
        if i == 1 and ctx.partitionId() == 1 and ctx.attemptNumber() == 0:
            raise RuntimeError("injected executor failure (first attempt of partition 1)")
        yield batch

spark = (SparkSession.builder.master("local[2,3]").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "50").getOrCreate())
spark.sparkContext.setLogLevel("WARN")
summary = clv.datasets.cdnow_summary()
bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
summary = summary.iloc[:600]
sdf = spark.createDataFrame(summary.reset_index()).repartition(4)
fc = cs.forecast_clv(sdf.mapInPandas(flaky, sdf.schema), bg, gg, horizon=6, period="M", discount_rate=0.1,
                     margin=0.3, interval=None, time_unit="W")
receipt = cs.to_file(fc, sys.argv[1], "cdnow-retry")
print("ROWS", receipt.rows)
spark.stop()
"""


@pytest.mark.slow
def test_a_failed_partition_is_retried_without_duplicating_rows(scored, tmp_path):
    _, _, _, want = scored
    proc = subprocess.run([sys.executable, "-c", RETRY_JOB, str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "injected executor failure" in proc.stderr            # the first attempt did fail, and Spark retried
    got = pd.read_parquet(tmp_path / "cdnow-retry.parquet")   # every part file of the folder
    assert f"ROWS {len(want)}" in proc.stdout and len(got) == len(want)
    assert got["customer_id"].is_unique
    got = got.set_index("customer_id").loc[want.index]
    np.testing.assert_allclose(got["clv"].to_numpy(), want["clv"].to_numpy(), rtol=1e-10)
    manifest = json.loads((tmp_path / "cdnow-retry.parquet.manifest.json").read_text())
    assert manifest["rows"] == len(want)
    assert sum(size for _, size in manifest["parts"]) > 0


def test_the_same_run_again_is_a_no_op_and_another_table_a_conflict(spark, scored, tmp_path):
    sdf, bg, gg, want = scored
    fc = cs.forecast_clv(sdf, bg, gg, **SETTINGS, time_unit="W")
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
    sdf, bg, gg, want = scored
    fc = cs.forecast_clv(sdf, bg, gg, **SETTINGS, time_unit="W")
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
