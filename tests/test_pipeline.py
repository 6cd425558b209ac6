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
    # the calibration fit the holdout checked - BG/NBD on the CDNOW sample: Fader, Hardie & Lee (2005),
    # r=0.243, alpha=4.414, a=0.793, b=2.426 - is kept next to the refit on all 78 weeks that scored
    params = json.loads((folder / "models" / "evaluation" / "purchase.json").read_text())["params"]
    assert params["r"] == pytest.approx(0.243, abs=5e-4) and params["b"] == pytest.approx(2.426, abs=5e-4)
    assert manifest["scoring"]["as_of"] == "1998-06-30" and manifest["scoring"]["fit_window"]["to"] == "1998-06-30"
    assert manifest["scoring"]["evaluation_fit_window"]["to"] == "1997-09-30"
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["forecast"]["discount_rate"] == 0.1 and saved["segments"]["vip"] == 0.95  # defaults filled in
    scores = pd.read_csv(folder / "scores.csv", index_col="customer_id")
    assert len(scores) == 2357
    assert (scores["clv_lower"] <= scores["clv"] + 1e-9).all() and (scores["clv"] <= scores["clv_upper"] + 1e-9).all()
    assert set(scores["tier"]) <= {"VIP", "core", "low", "margin-negative"}
    metrics = json.loads((folder / "metrics.json").read_text())
    # the holdout check is on the calibration summary: 1,882 repeat purchases in weeks 40-78 (CDNOW sample)
    assert metrics["metrics"]["purchases_actual"] == 1882


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
    assert info["customers"] == 2357 and info["calibration_end"] == "1997-09-30" and info["time_unit"] == "W"
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


# --------------------------------------------------------------------------------------------
# regressions of the contracts issue
# --------------------------------------------------------------------------------------------
def test_a_run_delivers_every_crm_field(finished_run):
    # bug 1: the pipeline asked for R, F, M, RFM while segments produce r_score ...: every RFM score
    # was silently missing from the CRM. The schema is declared once (clvmodels.export.schema).
    from clvmodels.export.schema import CRM_COLUMNS

    result, tmp = finished_run
    delivered = pd.read_csv(tmp / "drop" / f"{result.folder.name}.csv", index_col="customer_id",
                            keep_default_na=False)
    from clvmodels.export.mapping import RUN_METADATA

    assert list(delivered.columns) == [c.name for c in CRM_COLUMNS] + list(RUN_METADATA)
    assert set(delivered["r_score"]) == set(range(1, 6)) and set(delivered["f_score"]) == set(range(1, 6))
    table = pd.read_parquet(result.folder / pipeline.EXPORT_TABLE)
    assert list(table.columns) == [c.name for c in CRM_COLUMNS] + list(RUN_METADATA) and len(table) == 2357
    assert (delivered["run_id"] == result.folder.name).all() and (delivered["as_of"] == "1998-06-30").all()


def test_clv_export_resends_the_canonical_table_for_zero_padded_text_ids(tmp_path, monkeypatch):
    # bug 2: `clv export RUN_FOLDER` re-read scores.csv; text ids '000123' came back as integers and
    # floats lost their last bit, so the checksum changed and the run's own first delivery conflicted
    import clvmodels as clv

    tx = clv.datasets.cdnow_transactions(sample=True)
    tx["customer_id"] = tx["customer_id"].map(lambda i: f"{i:06d}")
    tx["amount"] = tx["amount"] * (1 + 1e-13)          # floats whose shortest text form matters
    tx.to_csv(tmp_path / "tx.csv", index=False)
    cfg = config(tmp_path)
    cfg["data"] = {"source": str(tmp_path / "tx.csv")}
    cfg["export"] = [cfg["export"][0]]                  # only the file drop: the CLI delivers later
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = pipeline.run(path)
    # bug 12 (tracking left out for a CSV source): the holdout tracking is there, counted like the summary
    assert result.metrics["metrics"]["tracking_holdout_actual"] == 1882   # = the calibration summary's holdout
    (tmp_path / "drop" / f"{result.folder.name}.csv.manifest.json").unlink()   # as if never delivered
    (tmp_path / "drop" / f"{result.folder.name}.csv").unlink()
    assert cli.main(["export", str(result.folder)]) == 0
    delivered = pd.read_csv(tmp_path / "drop" / f"{result.folder.name}.csv", dtype={"customer_id": str})
    assert delivered["customer_id"].iloc[0] == "000001"
    assert cli.main(["export", str(result.folder)]) == 0   # again: a no-op, not a conflict


def test_clv_run_finds_a_data_file_whose_name_starts_with_cdnow(tmp_path, capsys):
    # bug 3: the CLI tested startswith("cdnow") and left such a relative path unresolved
    import clvmodels as clv

    clv.datasets.cdnow_transactions(sample=True).to_csv(tmp_path / "cdnow_mine.csv", index=False)
    cfg = config(tmp_path)
    cfg["data"] = {"source": "cdnow_mine.csv"}           # relative to the config file
    cfg["export"] = []
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli.main(["validate", str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["run", str(path)]) == 0, capsys.readouterr().err


def test_a_log_without_amounts_runs_end_to_end(tmp_path):
    # bug 5: amount_col null + spend null passed `clv validate`, then `clv run` failed on the score
    # ranking; a spend model without amounts is refused by the config check, naming the key
    import clvmodels as clv

    tx = clv.datasets.cdnow_transactions(sample=True).drop(columns=["amount", "quantity"])
    tx.to_csv(tmp_path / "tx.csv", index=False)
    cfg = config(tmp_path)
    cfg["data"] = {"source": str(tmp_path / "tx.csv"), "amount_col": None}
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert "models.spend" in str(e.value)
    cfg["models"]["spend"] = None
    info = pipeline.validate(cfg)
    assert info["customers"] == 2357 and info["options"]["amount_col"] is None
    result = pipeline.run(cfg)
    scores = pd.read_csv(result.folder / "scores.csv", index_col="customer_id")
    assert (scores["expected_spend"] == 1.0).all() and "m_score" not in scores
    assert result.metrics["metrics"]["clv_top_capture"] > 0.3           # ranked against holdout purchases
    assert result.metrics["settings"]["score_target"] == "holdout purchases"


def test_calibration_end_as_a_number_of_periods(tmp_path):
    # bug 6: calibration_end=104 was read as 1970-01-01 and ended in "no transaction is left"
    cfg = config(tmp_path, summary__calibration_end=39)
    cfg["export"] = []
    parsed, _ = load_config(cfg)
    assert parsed.summary.calibration_end == 39.0
    info = pipeline.validate(cfg)
    assert info["calibration_end"] == "1997-09-30"          # 39 weeks from 1997-01-01 (FHL 2005)
    with pytest.raises(ConfigError) as e:
        load_config(config(tmp_path, summary__calibration_end="1997-13-45"))
    assert e.value.key == "summary.calibration_end"
