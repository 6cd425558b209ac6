"""``data.engine: spark`` in a config: ``clv run`` / ``clv score`` read the log with Spark (a Parquet folder, a CSV
file or a table of the Spark catalog) and give the scores the DuckDB engine gives on the same file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from clvmodels import cli as clv_cli
from clvmodels import pipeline
from clvmodels.data.rfm import purchase_log, rfm_summary
from clvmodels.errors import ConfigError

from .conftest import awkward_log

SCORE_COLUMNS = ["frequency", "recency", "T", "monetary_value", "p_alive", "expected_purchases", "clv"]


def config(source, engine: str, **data) -> dict:
    return {"name": f"spark-{engine}", "data": {"source": str(source), "engine": engine, "timezone": "Europe/Berlin",
                                                "order_col": "order_id", **data},
            "summary": {"calibration_end": "2023-09-30", "observation_end": "2024-03-31", "time_unit": "W",
                        "returns": "match"},
            # no spend model: the log's amounts have no customer heterogeneity, so Gamma-Gamma has no finite MLE
            # (q, v -> infinity) and its estimate is wherever the optimiser stops; the summary's monetary values
            # are compared instead
            "models": {"purchase": "bgnbd", "spend": None},
            "forecast": {"horizon": 6, "period": "M", "interval": None},
            "output": {"report": False}}


@pytest.fixture(scope="module")
def files(tmp_path_factory, spark):
    """The awkward log (ids '7', '07', '007', UTC offsets, refunds with and without their order, late starters)
    as a folder of Parquet files (written by Spark, three parts) and as a CSV file."""
    root = tmp_path_factory.mktemp("spark-pipeline")
    log = awkward_log(seed=3, n_customers=300, n_rows=4000)
    log.to_csv(root / "log.csv", index=False)
    spark.createDataFrame(log).repartition(3).write.parquet(str(root / "log_parquet"))
    return root, log


def scores(result) -> pd.DataFrame:
    return result.scores.sort_index()[SCORE_COLUMNS]


@pytest.mark.parametrize("kind", ["log_parquet", "log.csv"])
def test_a_run_with_the_spark_engine_scores_as_the_duckdb_engine(files, kind, tmp_path, monkeypatch):
    root, log = files
    monkeypatch.chdir(tmp_path)
    got = pipeline.run(config(root / kind, "spark"), write=False)
    want = pipeline.run(config(root / kind, "duckdb"), write=False)
    assert got.summary.time_unit == "W" and got.summary.has_holdout is False    # scored on all data
    assert len(got.scores) > 250
    assert {"7", "07", "007"} <= set(got.scores.index)       # ids keep their leading zeros
    pd.testing.assert_index_equal(got.scores.sort_index().index, want.scores.sort_index().index)
    np.testing.assert_allclose(scores(got).to_numpy(float), scores(want).to_numpy(float), rtol=1e-10, atol=1e-10)
    assert got.metrics["metrics"] == pytest.approx(want.metrics["metrics"], rel=1e-9)


def test_a_spark_table_is_a_source(files, spark, tmp_path, monkeypatch):
    root, log = files
    monkeypatch.chdir(tmp_path)
    spark.read.parquet(str(root / "log_parquet")).createOrReplaceTempView("shop_transactions")
    got = pipeline.run(config("table", "spark", table="shop_transactions"), write=False)
    want = pipeline.run(config(root / "log_parquet", "duckdb"), write=False)
    np.testing.assert_allclose(scores(got).to_numpy(float), scores(want).to_numpy(float), rtol=1e-10, atol=1e-10)


def test_a_missing_spark_table_names_the_key(spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="data.table: Spark cannot read table 'no_such_table'") as err:
        pipeline.run(config("table", "spark", table="no_such_table"), write=False)
    assert err.value.key == "data.table"


def test_the_data_layer_reads_a_spark_frame_and_refuses_what_it_cannot(files, spark):
    root, log = files
    sdf = spark.read.parquet(str(root / "log_parquet"))
    kw = dict(timezone="Europe/Berlin", returns="drop")
    got = rfm_summary(sdf, "2024-03-31", "W", **kw)              # engine='auto' picks Spark for a Spark frame
    want = rfm_summary(log, "2024-03-31", "W", engine="pandas", **kw)
    assert type(got).__name__ == "RFMSummary" and got.time_unit == "W"
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(want), rtol=1e-12)
    with pytest.raises(ConfigError, match="engine='duckdb' cannot read a Spark DataFrame"):
        rfm_summary(sdf, "2024-03-31", "W", engine="duckdb", **kw)
    # the purchases the summary counts (the holdout tracking of a run reads them), as DuckDB lists them
    pd.testing.assert_frame_equal(purchase_log(sdf, got.options, "2024-03-31"),
                                  purchase_log(str(root / "log_parquet"), got.options, "2024-03-31"), rtol=1e-12)


@pytest.mark.parametrize("data, message", [
    ({"source": "table"}, "source 'table' needs engine: spark and data.table"),
    ({"source": "x.csv", "table": "t", "engine": "spark"}, "data.table is for source: table"),
    ({"source": "x.csv", "spark_conf": {"spark.master": "local[1]"}}, "data.spark_conf is for engine: spark"),
])
def test_spark_keys_are_checked_before_any_work(tmp_path, data, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "data": data}))
    proc = subprocess.run([sys.executable, "-m", "clvmodels.cli", "validate", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_clv_run_and_clv_score_with_the_spark_engine(spark, files, tmp_path, monkeypatch):
    """``clv run`` end to end in its own process (its own local Spark, started from data.spark_conf) on the Parquet
    folder, then ``clv score`` of the CSV with the saved models (in this process: its Spark session is the active
    one); the scores equal those of the in-process DuckDB run."""
    root, log = files
    cfg = config(root / "log_parquet", "spark", spark_conf={"spark.master": "local[1]", "spark.ui.enabled": "false",
                                                            "spark.sql.shuffle.partitions": "2"})
    cfg["export"] = [{"target": "file", "directory": "drop"}]
    (tmp_path / "spark.yaml").write_text(yaml.safe_dump(cfg))
    cli = [sys.executable, "-m", "clvmodels.cli"]
    proc = subprocess.run(cli + ["run", "spark.yaml", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # --quiet is errors only, Spark's log included (the JVM's own line about incubator modules is not Spark's log)
    spark_lines = [line for line in proc.stderr.splitlines() if "incubator modules" not in line]
    assert spark_lines == [] and proc.stdout == ""
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    delivered = pd.read_csv(tmp_path / "drop" / f"{folder.name}.csv", dtype={"customer_id": str})
    assert {"7", "07", "007"} <= set(delivered["customer_id"])
    monkeypatch.chdir(tmp_path)
    assert clv_cli.main(["score", str(folder), "--transactions", str(root / "log.csv"), "--as-of", "2024-03-31",
                         "--output-dir", "scored", "--quiet"]) == 0
    (scored,) = (tmp_path / "scored").iterdir()
    manifest = json.loads((scored / "manifest.json").read_text())
    assert manifest["scored_from"] == folder.name
    got = pd.read_parquet(scored / "export_table.parquet").sort_index()
    want = pipeline.run({**config(root / "log_parquet", "duckdb")}, write=False).scores.sort_index()
    assert list(got.index) == list(want.index)
    for col in ("frequency", "recency", "T", "clv", "p_alive"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-10, atol=1e-10,
                                   err_msg=col)
