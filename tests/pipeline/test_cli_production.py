"""The scheduled-run surface of the CLI: --set overrides, --quiet for cron, --dry-run, a live progress
display only on a terminal, and ``clv score`` applying a finished run's saved models to new data."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clvmodels import cli, datasets, pipeline
from clvmodels.data.rfm import rfm_summary
from clvmodels.forecast.clv import forecast_clv
from clvmodels.models.bgnbd import BGNBD
from clvmodels.models.gammagamma import GammaGamma
from clvmodels.registry import load_model


def write_config(tmp_path: Path, **extra) -> Path:
    cfg = {"name": "nightly", "data": {"source": "cdnow_sample"},
           "summary": {"observation_end": "1998-03-31", "time_unit": "W"},
           "models": {"purchase": "bgnbd", "spend": "gammagamma"},
           "forecast": {"horizon": 12, "period": "M", "n_draws": 40},
           "output": {"dir": "runs"},
           "export": [{"target": "file", "directory": "drop"}]}
    cfg.update(extra)
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def clv(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clvmodels.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, **kw)


def run_folders(root: Path) -> list[Path]:
    return sorted(p for p in (root / "runs").glob("nightly-*") if p.is_dir()) if (root / "runs").exists() else []


def test_set_overrides_a_value_and_names_a_bad_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path)
    assert cli.main(["run", str(path), "--set", "forecast.horizon=6", "--set", "export.0.format=parquet",
                     "--quiet"]) == 0
    (folder,) = run_folders(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["forecast"]["horizon"] == 6
    assert (folder / "report.html").is_file()
    assert cli.main(["run", str(path), "--set", "output.report=false", "--quiet"]) == 0
    assert not (run_folders(tmp_path)[-1] / "report.html").exists()
    assert list((tmp_path / "drop").glob("*.parquet"))
    capsys.readouterr()

    assert cli.main(["run", str(path), "--set", "forecast.horizn=6"]) == 2
    err = capsys.readouterr().err
    assert "forecast.horizn" in err and "Traceback" not in err
    assert cli.main(["run", str(path), "--set", "forecast.horizon"]) == 2
    assert "key.path=value" in capsys.readouterr().err
    assert cli.main(["run", str(path), "--set", "export.3.format=csv"]) == 2
    assert "no item '3'" in capsys.readouterr().err
    assert len(run_folders(tmp_path)) == 2           # none of the bad overrides started a run


def test_quiet_prints_nothing_on_success_and_one_paragraph_on_error(tmp_path):
    # a log with a $0 repeat buyer, so the run has a warning to keep quiet about
    tx = datasets.cdnow_transactions(sample=True)
    tx.loc[tx["customer_id"] == tx["customer_id"].iloc[0], "amount"] = 0.0
    tx.to_csv(tmp_path / "log.csv", index=False)
    path = write_config(tmp_path, data={"source": "log.csv"},
                        models={"purchase": "bgnbd", "spend": "gammagamma", "nonpositive_spend": "zero"})
    loud = clv("run", str(path), cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert "warning:" in loud.stderr and "run folder:" in loud.stdout
    quiet = clv("run", str(path), "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0
    assert (quiet.stdout, quiet.stderr) == ("", "")
    assert len(run_folders(tmp_path)) == 2

    bad = clv("run", str(path), "--quiet", "--set", "forecast.margin=2", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stdout == "" and bad.stderr.count("\n") == 1 and "forecast.margin" in bad.stderr


def test_dry_run_checks_everything_and_does_nothing(tmp_path):
    path = write_config(tmp_path, models={"purchase": {"name": "paretonbd", "method": "advi"}, "spend": "gammagamma"})
    out = clv("run", str(path), "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["summary"]["customers"] == 2357
    assert plan["models"]["purchase"] == {"name": "paretonbd", "method": "advi"}
    assert plan["export"][0]["destination"] == str(tmp_path / "drop")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "drop").exists()
    # a dry run still stops on bad data before anything would be fitted
    (tmp_path / "log.csv").write_text("customer_id,date,amount\nA,2020-01-01,5\nB,not a day,3\n")
    bad = clv("run", str(path), "--dry-run", "--set", "data.source=log.csv", cwd=tmp_path)
    assert bad.returncode == 2 and "date" in bad.stderr and "Traceback" not in bad.stderr


def test_progress_is_live_on_a_terminal_and_absent_in_a_pipe(tmp_path):
    path = write_config(tmp_path, forecast={"horizon": 12, "period": "M", "interval": None})
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "clvmodels.cli", "run", str(path)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=follower, env={**os.environ, "COLUMNS": "120"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:                             # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=600)
    os.close(leader)
    assert proc.returncode == 0
    terminal = b"".join(chunks).decode("utf-8", "replace")
    for step in ("build the summary", "fit bgnbd (mle)", "fit gammagamma (mle)", "forecast 2,357 customers",
                 "write the run folder", "deliver to file"):
        assert step in terminal, step
    assert "\x1b[" in terminal                     # a live display redraws with control sequences
    assert "2357/2357" in terminal                  # the forecast step counts customers, chunk by chunk

    piped = clv("run", str(path), cwd=tmp_path)
    assert piped.returncode == 0
    for stream in (piped.stdout, piped.stderr):
        assert "\x1b" not in stream and "\r" not in stream
        assert "fit bgnbd (mle)" not in stream


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("score")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        result = pipeline.run(write_config(tmp))
    finally:
        os.chdir(cwd)
    return result, tmp


def new_log() -> pd.DataFrame:
    """The sample log up to 1998-06-30 with zero-padded text ids, plus three customers the run never saw."""
    tx = datasets.cdnow_transactions(sample=True)
    tx["customer_id"] = tx["customer_id"].astype(str).str.zfill(6)
    extra = pd.DataFrame({"customer_id": ["NEW01", "NEW01", "NEW01", "NEW02", "NEW03", "NEW03"],
                          "date": pd.to_datetime(["1998-04-02", "1998-05-01", "1998-06-20", "1998-06-01",
                                                  "1998-04-15", "1998-04-16"]),
                          "amount": [12.0, 30.5, 8.0, 55.0, 20.0, 21.0]})
    return pd.concat([tx, extra], ignore_index=True)


def test_clv_score_applies_the_saved_models_without_fitting(trained, tmp_path, monkeypatch, capsys):
    result, root = trained
    log = new_log()
    log.to_csv(tmp_path / "new.csv", index=False)

    def no_fit(self, *args, **kwargs):
        raise AssertionError("clv score must not fit")
    monkeypatch.setattr(BGNBD, "fit", no_fit)
    monkeypatch.setattr(GammaGamma, "fit", no_fit)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["score", str(result.folder), "--transactions", "new.csv", "--output-dir", "scored"]) == 0
    out = capsys.readouterr().out
    assert "scoring folder:" in out and "as of 1998-06-30" in out
    (folder,) = (tmp_path / "scored").glob("nightly-score-*")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["scored_from"] == result.folder.name
    assert result.folder.name in (folder / "report.html").read_text()
    assert manifest["purchase_model"]["params"] == result.manifest["purchase_model"]["params"]
    scores = pd.read_parquet(folder / "export_table.parquet")

    # the same numbers as the forecasting API on the saved models, customer for customer
    purchase = load_model(result.folder / result.manifest["purchase_model"]["file"])
    spend = load_model(result.folder / result.manifest["spend_model"]["file"])
    summary = rfm_summary(pd.read_csv(tmp_path / "new.csv", dtype={"customer_id": str}), None, "W")
    f = result.manifest["forecast"]
    direct = forecast_clv(summary, purchase, spend, horizon=f["horizon"], period=f["period"],
                          discount_rate=f["discount_rate"], margin=f["margin"], cost_per_order=f["cost_per_order"],
                          interval=None)
    assert len(scores) == len(direct) == 2357 + 3
    assert set(scores.index) == set(direct.index)
    for col in ("clv", "p_alive", "expected_purchases", "expected_spend"):
        np.testing.assert_allclose(scores.loc[direct.index, col].to_numpy(), direct[col].to_numpy(),
                                   rtol=1e-10, atol=1e-10, err_msg=col)
    # customers the run never saw are scored from their own history, with the run's metadata
    fresh = scores.loc[["NEW01", "NEW02", "NEW03"]]
    assert np.isfinite(fresh["clv"]).all() and (fresh["clv"] > 0).all()
    assert fresh.loc["NEW01", "frequency"] == 2 and fresh.loc["NEW02", "frequency"] == 0
    assert (scores["as_of"] == "1998-06-30").all() and (scores["run_id"] == folder.name).all()
    # and delivered to the run's own targets under the scoring run id
    delivered = pd.read_csv(root / "drop" / f"{folder.name}.csv", dtype={"customer_id": str})
    assert sorted(delivered["customer_id"]) == sorted(scores.index)


def test_clv_score_errors_name_what_is_wrong(trained, tmp_path, capsys):
    result, _ = trained
    assert cli.main(["score", str(result.folder), "--transactions", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    (tmp_path / "wrong.csv").write_text("client,day,amount\nA,2020-01-01,5\n")
    assert cli.main(["score", str(result.folder), "--transactions", str(tmp_path / "wrong.csv")]) == 2
    err = capsys.readouterr().err
    assert "customer_id" in err and "Traceback" not in err
    assert cli.main(["score", str(tmp_path), "--transactions", str(tmp_path / "wrong.csv")]) == 2
    assert "run folder" in capsys.readouterr().err


def test_clv_score_as_of_an_earlier_day(trained, tmp_path, monkeypatch, capsys):
    result, _ = trained
    new_log().to_parquet(tmp_path / "new.parquet")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["score", str(result.folder), "--transactions", "new.parquet", "--as-of", "1998-04-30",
                     "--output-dir", "scored", "--quiet"]) == 0
    (folder,) = (tmp_path / "scored").glob("nightly-score-*")
    scores = pd.read_parquet(folder / "export_table.parquet")
    assert (scores["as_of"] == "1998-04-30").all()
    assert "NEW01" in scores.index and "NEW02" not in scores.index     # NEW02 first bought on 1998-06-01
    assert scores.loc["NEW01", "frequency"] == 0                        # its later purchases are after the day
