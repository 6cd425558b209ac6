"""The config-driven main job: validation of configs, the run folder, CRM delivery exactly once, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from clvmodels import cli, pipeline
from clvmodels.config import load_config
from clvmodels.errors import ConfigError

BASE = {
    "name": "sample",
    "data": {"source": "cdnow_sample"},
    "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30", "time_unit": "W"},
    "models": {"purchase": "bgnbd", "spend": "gammagamma"},
    "forecast": {"horizon": 12, "period": "M", "discount_rate": 0.1, "margin": 0.3, "n_draws": 50},
}


def config(tmp_path, **overrides) -> dict:
    cfg = json.loads(json.dumps(BASE))
    cfg["output"] = {"dir": str(tmp_path / "runs")}
    cfg["export"] = [{"target": "file", "directory": str(tmp_path / "drop")},
                     {"target": "sql", "url": f"sqlite:///{tmp_path / 'crm.db'}", "table": "clv_scores"}]
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        cfg.setdefault(section, {})[name] = value
    return cfg


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    return pipeline.run(config(tmp)), tmp


def test_run_folder_is_complete_and_self_describing(finished_run):
    result, tmp = finished_run
    folder = result.folder
    assert folder.parent == tmp / "runs" and folder.name.startswith("sample-")
    names = {p.name for p in folder.iterdir()}
    assert {"config.yaml", "manifest.json", "models", "scores.csv", "metrics.json", "evaluation.csv",
            "exports.json"} <= names
    assert not [p for p in (tmp / "runs").iterdir() if p.name.endswith(".partial")]
    manifest = json.loads((folder / "manifest.json").read_text())
    # BG/NBD on the CDNOW sample: Fader, Hardie & Lee (2005), r=0.243, alpha=4.414, a=0.793, b=2.426
    params = manifest["purchase_model"]["params"]
    assert params["r"] == pytest.approx(0.243, abs=5e-4) and params["b"] == pytest.approx(2.426, abs=5e-4)
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["forecast"]["discount_rate"] == 0.1 and saved["segments"]["vip"] == 0.95  # defaults filled in
    scores = pd.read_csv(folder / "scores.csv", index_col="customer_id")
    assert len(scores) == 2357
    assert (scores["clv_lower"] <= scores["clv"] + 1e-9).all() and (scores["clv"] <= scores["clv_upper"] + 1e-9).all()
    assert set(scores["tier"]) <= {"VIP", "core", "low", "margin-negative"}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["metrics"]["purchases_actual"] == scores["frequency_holdout"].sum()


def test_exports_delivered_once_and_redelivery_is_a_no_op(finished_run):
    import sqlite3

    result, tmp = finished_run
    assert [r["already_delivered"] for r in result.receipts] == [False, False]
    drop = list((tmp / "drop").glob("*.csv"))
    assert [p.name for p in drop] == [f"{result.folder.name}.csv"]
    again = pipeline.deliver(result.folder)
    assert [r["already_delivered"] for r in again] == [True, True]
    with sqlite3.connect(tmp / "crm.db") as con:
        rows = con.execute("SELECT count(*), count(DISTINCT run_id) FROM clv_scores").fetchone()
    assert rows == (2357, 1)


def test_crash_while_writing_leaves_no_run_folder(tmp_path, monkeypatch):
    import clvmodels as clv

    def boom(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(clv.GammaGamma, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(config(tmp_path))
    assert list((tmp_path / "runs").iterdir()) == []
    assert not (tmp_path / "drop").exists()


@pytest.mark.parametrize("override,key", [
    ({"forecast__discount_rate": -3}, "forecast.discount_rate"),
    ({"models__purchase": "lstm"}, "models.purchase"),
    ({"summary__time_unit": "fortnight"}, "summary.time_unit"),
    ({"forecast__horizonn": 3}, "forecast.horizonn"),
])
def test_invalid_config_names_the_key(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        load_config(config(tmp_path, **override))
    assert err.value.key == key


def test_export_target_needs_its_fields(tmp_path):
    cfg = config(tmp_path)
    cfg["export"] = [{"target": "sql", "url": "sqlite://"}]
    with pytest.raises(ConfigError, match=r"export\.0.*needs \['table'\]"):
        load_config(cfg)


def test_config_is_not_mutated(tmp_path):
    cfg = config(tmp_path)
    before = json.dumps(cfg, sort_keys=True)
    load_config(cfg)
    assert json.dumps(cfg, sort_keys=True) == before


def test_cli_validate_and_errors(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(config(tmp_path)))
    assert cli.main(["validate", str(good)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["customers"] == 2357 and info["report"]["calibration_end"] == "1997-09-30"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config(tmp_path, forecast__margin="lots")))
    assert cli.main(["run", str(bad)]) == 2
    assert "forecast.margin" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    assert cli.main(["run", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_data_error_names_customers(tmp_path, capsys):
    tx = pd.DataFrame({"customer_id": [1, 1, 2], "date": ["2021-01-01", "2021-02-01", "2021-01-03"],
                       "amount": [5.0, -2.0, 3.0]})
    tx.to_csv(tmp_path / "tx.csv", index=False)
    cfg = config(tmp_path)
    cfg["data"] = {"source": "tx.csv"}  # relative to the config file's folder
    cfg["summary"] = {"observation_end": "2021-03-01", "time_unit": "D"}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli.main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "negative amount" in err and "[1]" in err
