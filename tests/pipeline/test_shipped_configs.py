"""Every config shipped in configs/ validates, runs from a fresh working directory, and leaves a
complete run folder; the template names every option a config can have."""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path

import pandas as pd
import pydantic
import pytest
import sqlalchemy

from clvmodels import cli, datasets
from clvmodels.config import RunConfig, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def option_paths(model: type[pydantic.BaseModel], prefix: str = "") -> list[str]:
    """Every key path of a config model: data.source, models.sampler.draws, export.fields, ..."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append(prefix + name)
        nested = []
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (arg, *typing.get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, pydantic.BaseModel):
                    nested.append(inner)
        for sub in dict.fromkeys(nested):
            paths += option_paths(sub, prefix + name + ".")
    return paths


def test_the_shipped_configs_are_the_documented_ones():
    assert {p.name for p in SHIPPED} == {"cdnow.yaml", "cdnow_bayes.yaml", "cdnow_sql.yaml", "template.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_validates(path, monkeypatch):
    monkeypatch.setenv("CLV_DB_PASSWORD", "not-used")
    cfg, folder = load_config(path)
    assert folder == CONFIGS
    assert cfg.name == path.stem


def test_the_template_names_every_option():
    import re

    # keys are written as "key:" on their own line or inside a {flow: mapping}, set or commented out
    keys = set(re.findall(r"([A-Za-z_]+):(?:\s|$)", (CONFIGS / "template.yaml").read_text()))
    for path in option_paths(RunConfig):
        assert path.rsplit(".", 1)[-1] in keys, f"configs/template.yaml does not mention {path}"


def check_run_folder(folder: Path, customers: int, method: str) -> dict:
    """A complete run folder: every file, a manifest that says what ran, scores for every customer."""
    for name in ("config.yaml", "manifest.json", "metrics.json", "evaluation.csv", "scores.csv",
                 "export_table.parquet", "exports.json", "report.html"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["customers"] == customers
    assert manifest["purchase_model"]["method"] == method and manifest["purchase_model"]["converged"] in (True, None)
    for role in ("purchase_model", "spend_model"):
        assert (folder / manifest[role]["file"]).is_file()
    scores = pd.read_csv(folder / "scores.csv", dtype={"customer_id": str})
    assert len(scores) == customers and scores["customer_id"].is_unique
    assert scores["clv"].notna().all()
    receipts = json.loads((folder / "exports.json").read_text())
    assert receipts and all(r["status"] == "delivered" for r in receipts)
    return manifest


@pytest.mark.slow
def test_cdnow_main_job_from_a_fresh_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(CONFIGS / "cdnow.yaml"), "--quiet"]) == 0
    (folder,) = (tmp_path / "runs").glob("cdnow-*")
    manifest = check_run_folder(folder, 23_570, "mle")
    assert manifest["scoring"]["as_of"] == "1998-06-30"
    drop = pd.read_csv(next((tmp_path / "runs" / "crm_drop").glob("*.csv")), dtype={"customer_id": str})
    assert len(drop) == 23_570


@pytest.mark.slow
@pytest.mark.bayes
def test_cdnow_bayes_config_with_a_short_sampler(tmp_path, monkeypatch):
    pytest.importorskip("pymc")
    monkeypatch.chdir(tmp_path)
    # the shipped sampler settings take minutes; the same config with a short ADVI fit checks the path
    assert cli.main(["run", str(CONFIGS / "cdnow_bayes.yaml"), "--quiet", "--set", "models.method=advi",
                     "--set", "models.sampler.advi_iterations=3000", "--set", "models.sampler.draws=200",
                     "--set", "forecast.n_draws=100", "--set", "data.source=cdnow_sample"]) == 0
    (folder,) = (tmp_path / "runs").glob("cdnow_bayes-*")
    manifest = check_run_folder(folder, 2357, "advi")
    assert manifest["purchase_model"]["file"].endswith(".nc")


@pytest.mark.slow
def test_cdnow_sql_config_reads_a_database_and_delivers_to_sqlite(tmp_path, monkeypatch):
    """The SQL config against a real database: PostgreSQL when CLV_TEST_POSTGRES_URL is set (CI starts
    one), and a SQLite file in any case; the password comes from the environment only."""
    tx = datasets.cdnow_transactions(sample=True)
    tx["customer_id"] = tx["customer_id"].astype(str).str.zfill(5)          # text ids with leading zeros
    urls = [f"sqlite:///{tmp_path / 'shop.db'}"]
    pg = os.environ.get("CLV_TEST_POSTGRES_URL")
    if pg:
        parsed = sqlalchemy.engine.make_url(pg)
        monkeypatch.setenv("CLV_DB_PASSWORD", parsed.password)
        urls.append(parsed.set(password="PASSWORD").render_as_string(hide_password=False)
                    .replace("PASSWORD", "${CLV_DB_PASSWORD}"))
    for i, url in enumerate(urls):
        engine = sqlalchemy.create_engine(os.path.expandvars(url))
        with engine.begin() as connection:
            tx.to_sql("cdnow_transactions", connection, index=False, if_exists="replace")
        engine.dispose()
        work = tmp_path / f"work{i}"
        work.mkdir()
        monkeypatch.chdir(work)
        assert cli.main(["run", str(CONFIGS / "cdnow_sql.yaml"), "--quiet", "--set", f"data.url={url}",
                         "--set", "forecast.n_draws=50"]) == 0
        (folder,) = (work / "runs").glob("cdnow_sql-*")
        check_run_folder(folder, 2357, "mle")
        crm = sqlalchemy.create_engine(f"sqlite:///{work / 'runs' / 'crm.db'}")
        with crm.connect() as connection:
            delivered = pd.read_sql_query("SELECT customer_id, clv FROM clv_scores", connection)
        crm.dispose()
        assert len(delivered) == 2357 and delivered["customer_id"].str.len().eq(5).all()
        if url.startswith("postgresql"):                 # the password stays a reference to the environment
            assert "${CLV_DB_PASSWORD}@" in (folder / "config.yaml").read_text()
            leaked = f":{os.environ['CLV_DB_PASSWORD']}@".encode()
            for file in folder.rglob("*"):
                if file.is_file():
                    assert leaked not in file.read_bytes(), file


def test_a_sql_source_names_what_is_wrong(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLV_DB_PASSWORD", raising=False)
    assert cli.main(["validate", str(CONFIGS / "cdnow_sql.yaml")]) == 2
    assert "CLV_DB_PASSWORD" in capsys.readouterr().err
    assert cli.main(["validate", str(CONFIGS / "cdnow_sql.yaml"), "--set", "data.query=null"]) == 2
    assert "data.query" in capsys.readouterr().err
    db = tmp_path / "empty.db"
    sqlalchemy.create_engine(f"sqlite:///{db}").dispose()
    assert cli.main(["validate", str(CONFIGS / "cdnow_sql.yaml"), "--set", f"data.url=sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert "data.query" in err and "cdnow_transactions" in err and "Traceback" not in err
