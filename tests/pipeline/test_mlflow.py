"""MLflow tracking of a run against a real local MLflow store: params, metrics, the run folder as
artifacts, and a pyfunc scorer whose predictions equal ``clv score``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clvmodels import cli, datasets, pipeline

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'clvmodels[mlflow]')")


def config(tmp_path: Path, **tracking) -> dict:
    return {"name": "tracked", "data": {"source": "cdnow_sample"},
            "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"},
            "models": {"purchase": "bgnbd", "spend": "gammagamma"},
            "forecast": {"horizon": 12, "period": "M", "n_draws": 40, "margin": 0.3},
            "output": {"dir": str(tmp_path / "runs")},
            "tracking": {"uri": str(tmp_path / "mlruns"), "experiment": "clv-nightly",
                         "registered_model": "cdnow-clv", "tags": {"team": "analytics"}, **tracking}}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")      # MLflow 3 refuses a file store without it
        before = mlflow.get_tracking_uri()
        result = pipeline.run(config(tmp))
        assert mlflow.get_tracking_uri() == before       # the process-wide MLflow state is left alone
        yield result, tmp


def test_run_logs_params_metrics_and_the_run_folder(tracked):
    result, tmp = tracked
    client = mlflow.MlflowClient(tracking_uri=(tmp / "mlruns").as_uri())
    run = client.get_run(result.tracking["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == result.manifest["run_id"]
    assert client.get_experiment(run.info.experiment_id).name == "clv-nightly"
    assert run.data.tags["team"] == "analytics" and run.data.tags["clvmodels.run_id"] == result.folder.name
    params, metrics = run.data.params, run.data.metrics
    assert params["models.purchase"] == "bgnbd" and params["models.purchase.method"] == "mle"
    assert params["forecast.horizon"] == "12" and params["summary.calibration_end"] == "1997-09-30"
    for key, value in result.manifest["purchase_model"]["params"].items():
        assert float(params[f"purchase.{key}"]) == value
    assert metrics["total.clv"] == pytest.approx(result.manifest["totals"]["clv"], rel=1e-12)
    holdout = json.loads((result.folder / "metrics.json").read_text())["metrics"]
    assert metrics["holdout.mae"] == pytest.approx(holdout["mae"], rel=1e-12)
    assert metrics["customers"] == 2357
    assert all(np.isfinite(v) for v in metrics.values())

    logged = {f.path for f in client.list_artifacts(run.info.run_id, "run_folder")}
    for name in ("manifest.json", "config.yaml", "export_table.parquet", "metrics.json", "models"):
        assert f"run_folder/{name}" in logged
    assert json.loads((result.folder / "tracking.json").read_text()) == result.tracking
    versions = client.search_model_versions("name='cdnow-clv'")
    assert [v.run_id for v in versions] == [run.info.run_id]


def test_pyfunc_scorer_equals_clv_score(tracked, tmp_path, monkeypatch, capsys):
    result, _ = tracked
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    tx = datasets.cdnow_transactions(sample=True)
    tx = pd.concat([tx, pd.DataFrame({"customer_id": [99001, 99001], "amount": [10.0, 14.0],
                                      "date": pd.to_datetime(["1998-05-01", "1998-06-02"])})])
    tx.to_parquet(tmp_path / "new.parquet")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["score", str(result.folder), "--transactions", "new.parquet", "--output-dir", "scored",
                     "--quiet"]) == 0
    (folder,) = (tmp_path / "scored").iterdir()
    expected = pd.read_parquet(folder / "export_table.parquet")

    model = mlflow.pyfunc.load_model(result.tracking["model_uri"])
    summary = pipeline.load_run(result.folder).summary_of(tx)
    got = model.predict(summary)
    assert list(got.index) == list(expected.index) and 99001 in got.index
    crm = [c for c in expected.columns if c not in ("run_id", "as_of", "scored_at", "model_version")]
    assert list(got.columns) == crm
    pd.testing.assert_frame_equal(got, expected[crm], check_exact=False, rtol=1e-12)
    # the same from a plain frame with a customer_id column, as a model server would pass it
    plain = pd.DataFrame(summary).reset_index()
    pd.testing.assert_frame_equal(model.predict(plain, params={"as_of": "1998-06-30"}), got, check_exact=False,
                                  rtol=1e-12)


def test_a_summary_in_another_time_unit_is_refused(tracked):
    from clvmodels.data.rfm import rfm_summary
    from clvmodels.errors import ConfigError

    result, _ = tracked
    daily = rfm_summary(datasets.cdnow_transactions(sample=True), None, "D")
    with pytest.raises(ConfigError, match="time unit 'D'.*fitted in 'W'"):
        pipeline.load_run(result.folder).score(daily, write=False)


def test_tracking_problems_stop_before_the_fit_or_name_the_finished_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "cfg.yaml"
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    path.write_text(yaml.safe_dump(config(tmp_path)))
    assert cli.main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "tracking.uri" in err and "MLFLOW_ALLOW_FILE_STORE" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()                  # refused before anything was fitted or written

    # a server that is not there: the run itself finishes; the error names the folder, never the password
    monkeypatch.setenv("CLV_MLFLOW_PASSWORD", "s3cret-pw-771")
    path.write_text(yaml.safe_dump(config(tmp_path, uri="http://clv:${CLV_MLFLOW_PASSWORD}@127.0.0.1:9/")))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    assert cli.main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    (folder,) = (tmp_path / "runs").iterdir()
    assert "complete and delivered" in err and folder.name in err
    assert "s3cret-pw-771" not in err
    for file in folder.rglob("*"):
        if file.is_file():
            assert b"s3cret-pw-771" not in file.read_bytes(), file
