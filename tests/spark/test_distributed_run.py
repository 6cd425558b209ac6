"""``data.spark_mode: distributed``: ``clv run`` / ``clv score`` / ``clv export`` keep the per-customer data in Spark
from summary to delivery, with the scores, tiers and RFM scores of the DuckDB engine's in-process run."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from clvmodels import cli as clv_cli
from clvmodels import pipeline
from clvmodels.spark import runs

from .conftest import awkward_log

FLOATS = ["p_alive", "expected_purchases", "expected_revenue", "clv", "frequency", "recency", "T", "monetary_value"]
EXACT = ["tier", "value_rank", "r_score", "f_score", "m_score", "rfm_cell", "rfm_total"]


def config(source, engine: str, **extra) -> dict:
    data = {"source": str(source), "engine": engine, "timezone": "Europe/Berlin", "order_col": "order_id"}
    if engine == "spark":
        data["spark_mode"] = "distributed"
    return {"name": f"dist-{engine}", "data": data,
            "summary": {"calibration_end": "2023-09-30", "observation_end": "2024-03-31", "time_unit": "W",
                        "returns": "match"},
            "models": {"purchase": "bgnbd", "spend": None},   # no spend heterogeneity in the log: see test_pipeline
            "forecast": {"horizon": 6, "period": "M", "interval": None}, **extra}


@pytest.fixture(scope="module")
def log_parquet(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("dist")
    log = awkward_log(seed=5, n_customers=250, n_rows=3000)
    spark.createDataFrame(log).repartition(3).write.parquet(str(root / "log_parquet"))
    log.to_csv(root / "log.csv", index=False)
    return root


def test_a_distributed_run_scores_segments_and_delivers_as_the_duckdb_run(log_parquet, spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "crm.db"
    targets = [{"target": "file", "directory": "drop", "format": "parquet"}, {"target": "sql", "url": f"sqlite:///{db}", "table": "clv"}]
    if os.environ.get("CLV_TEST_POSTGRES_URL"):
        # as a user writes it: the password from the environment, so that `clv export` can deliver the folder again
        pg = sa.engine.make_url(os.environ["CLV_TEST_POSTGRES_URL"])
        monkeypatch.setenv("CLV_DIST_DB_PASSWORD", pg.password or "")
        url = pg.set(password="PASSWORD").render_as_string(hide_password=False).replace("PASSWORD", "${CLV_DIST_DB_PASSWORD}")
        targets.append({"target": "sql", "url": url, "table": "clv_dist_test"})
    runs.COLLECTED.clear()
    got = pipeline.run(config(log_parquet / "log_parquet", "spark", export=targets), write=True)
    want = pipeline.run(config(log_parquet / "log_parquet", "duckdb"), write=False)
    folder = got.folder
    table = pd.read_parquet(folder / "export_table.parquet").set_index("customer_id").sort_index()
    w = want.scores.sort_index()
    assert {"7", "07", "007"} <= set(table.index) and list(table.index) == list(w.index)
    np.testing.assert_allclose(table[FLOATS].to_numpy(float), w[FLOATS].to_numpy(float), rtol=1e-10, atol=1e-10)
    for col in EXACT:
        assert (table[col].astype(str) == w[col].astype(str)).all(), col
    # the export table's columns and metadata are the pandas run's
    pandas_table = pipeline.export_table(want.scores, {"run_id": "r", "as_of": "a", "scored_at": "s",
                                                       "model_version": "m"}).to_frame()
    assert list(table.columns) == list(pandas_table.columns)
    assert (table["run_id"] == folder.name).all() and (table["as_of"] == "2024-03-31").all()
    # the holdout metrics: the sample is every customer here, so they are the DuckDB run's
    # (without the purchase tracking, which needs every transaction)
    common = set(got.metrics["metrics"]) & set(want.metrics["metrics"])
    assert got.metrics["sample"]["complete"] and len(common) > 20
    assert {k: got.metrics["metrics"][k] for k in common} == pytest.approx(
        {k: want.metrics["metrics"][k] for k in common}, rel=1e-9)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["engine"] == "spark-distributed" and manifest["left_out"][0].startswith("report.html")
    assert not (folder / "report.html").exists() and (folder / "scores.csv").is_dir()
    # nothing per customer reached the driver: the fits' distinct rows and the bounded sample only
    sizes = dict(runs.COLLECTED)
    assert sizes["evaluation sample"] <= runs.EVALUATION_SAMPLE
    histories = len(pd.DataFrame(want.summary)[["frequency", "recency", "T"]].drop_duplicates())
    assert sizes["fit BGNBD"] == histories                     # the refit's distinct histories, not its customers
    assert [what for what, _ in runs.COLLECTED] == ["fit BGNBD", "evaluation sample", "fit BGNBD"]
    # delivered exactly once to the file drop and the SQL table(s); clv export again is a no-op
    receipts = json.loads((folder / "exports.json").read_text())
    assert [r["rows"] for r in receipts] == [len(w)] * len(targets) and not any(r["already_delivered"]
                                                                                 for r in receipts)
    dropped = pd.read_parquet(tmp_path / "drop" / f"{folder.name}.parquet")
    assert len(dropped) == len(w) and set(dropped["customer_id"]) == set(w.index)
    for target in targets[1:]:
        engine = sa.create_engine(os.path.expandvars(target["url"]))
        with engine.connect() as conn:
            n = conn.execute(sa.text(f"SELECT count(*) FROM {target['table']} WHERE run_id = :r"),
                             {"r": folder.name}).scalar()
        engine.dispose()
        assert n == len(w)
    assert clv_cli.main(["export", str(folder), "--quiet"]) == 0
    again = json.loads((folder / "exports.json").read_text())
    assert all(r["already_delivered"] for r in again)


def test_clv_score_with_a_distributed_run_folder(log_parquet, spark, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = config(log_parquet / "log_parquet", "spark", summary={"observation_end": "2024-03-31", "time_unit": "W",
                                                                 "returns": "match"})
    folder = pipeline.run(cfg).folder
    assert clv_cli.main(["score", str(folder), "--transactions", str(log_parquet / "log.csv"), "--as-of",
                         "2023-12-31", "--output-dir", "scored"]) == 0
    out = capsys.readouterr().out             # the summary a user reads: its top customers come from Spark's table
    (scored,) = (tmp_path / "scored").iterdir()
    assert json.loads((scored / "manifest.json").read_text())["scored_from"] == folder.name
    got = pd.read_parquet(scored / "export_table.parquet").set_index("customer_id").sort_index()
    saved = pipeline.load_run(folder)
    want = pipeline.SavedRun(saved.folder, saved.config.model_copy(update={"data": saved.config.data.model_copy(
        update={"engine": "duckdb", "spark_mode": "collect"})}), saved.manifest, saved.purchase, saved.spend)
    w = want.score(str(log_parquet / "log.csv"), as_of="2023-12-31", write=False).scores.sort_index()
    assert list(got.index) == list(w.index) and (got["as_of"] == "2023-12-31").all()
    np.testing.assert_allclose(got[FLOATS].to_numpy(float), w[FLOATS].to_numpy(float), rtol=1e-10, atol=1e-10)
    assert (got["value_rank"] == w["value_rank"]).all() and (got["rfm_cell"] == w["rfm_cell"].astype(str)).all()
    top = w.sort_values(["clv", "customer_id"] if "customer_id" in w.columns else "clv", ascending=False).index[0]
    assert "top customers by CLV:" in out and str(top) in out.split("top customers by CLV:")[1]


@pytest.mark.parametrize("change, key", [
    ({"data": {"source": "x.csv", "spark_mode": "distributed"}}, "data.spark_mode: distributed is for engine: spark"),
    ({"data": {"source": "table", "engine": "spark", "table": "no_such_orders", "spark_mode": "distributed"}},
     "data.table: Spark cannot read table 'no_such_orders'"),
])
def test_user_errors_exit_2_with_one_paragraph(spark, tmp_path, monkeypatch, capsys, change, key):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"name": "bad", **change}))
    assert clv_cli.main(["run", "bad.yaml", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err and "\n\n" not in err.strip()
