"""The main job: data -> summary -> models -> holdout check -> CLV and segments -> run folder -> CRM.

The same public functions a notebook calls, driven by a :class:`~clvmodels.config.RunConfig`.
A run folder ``<output.dir>/<name>-<UTC timestamp>/`` is self-describing:

* ``config.yaml`` - the validated config, every default filled in;
* ``manifest.json`` - package and library versions, timings, the data report (rows left out and why),
  customer counts, fitted parameters;
* ``models/purchase.json``, ``models/spend.json`` - parameters, covariance, log-likelihood (no pickle);
* ``scores.csv`` (and/or ``.parquet``) - one row per customer: P(alive), churn, expected purchases,
  spend, revenue, margin, discounted CLV with its interval, value tier, RFM scores, and the summary;
* ``export_table.parquet`` - the canonical CRM table (:mod:`clvmodels.export.schema`), the exact
  table every delivery sends; its checksum is in the manifest;
* ``metrics.json`` and ``evaluation.csv`` - holdout metrics when the config has a holdout;
* ``exports.json`` - one receipt per CRM delivery (written after the deliveries).

The folder is written under a temporary name and renamed when complete, so a crashed run never
looks like a finished one. Deliveries use the folder name as ``run_id``: each target receives a run
exactly once, and ``clv export RUN_FOLDER`` re-delivers (or resumes) a finished run safely from its
``export_table.parquet``, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import __version__, registry
from .config import RunConfig, load_config
from .data.summary import RFMSummary
from .errors import ConfigError

__all__ = ["run", "validate", "deliver", "build_summary", "RunResult", "EXPORT_TABLE"]

#: the canonical CRM table of a run folder, re-sent by ``clv export``
EXPORT_TABLE = "export_table.parquet"


@dataclass
class RunResult:
    """What a run produced: the folder and the in-memory tables."""

    folder: Path | None
    summary: RFMSummary
    scores: pd.DataFrame
    metrics: dict
    manifest: dict = field(default_factory=dict)
    receipts: list = field(default_factory=list)


def _load_transactions(cfg: RunConfig):
    """The config's transaction log: a bundled data set (a DataFrame) or the path of a file."""
    from . import datasets

    if cfg.data.source == "cdnow":
        return datasets.cdnow_transactions()
    if cfg.data.source == "cdnow_sample":
        return datasets.cdnow_transactions(sample=True)
    path = Path(cfg.data.source)
    if not path.exists():
        raise ConfigError(f"data.source: file {str(path)!r} does not exist", key="data.source")
    return str(path)


def build_summary(cfg: RunConfig, transactions=None) -> RFMSummary:
    """Transactions -> (calibration) summary as the config says; validates all data on the way."""
    from .data.rfm import calibration_holdout, rfm_summary

    tx = _load_transactions(cfg) if transactions is None else transactions
    s, d = cfg.summary, cfg.data
    common = dict(time_unit=s.time_unit, customer_col=d.customer_col, date_col=d.date_col,
                  amount_col=d.amount_col, merge=s.merge, monetary_includes_first=s.monetary_includes_first,
                  returns=s.returns, date_format=d.date_format, engine=d.engine, timezone=d.timezone,
                  order_col=d.order_col, refund_window=s.refund_window)
    if s.calibration_end is not None:
        return calibration_holdout(tx, s.calibration_end, s.observation_end, **common)
    return rfm_summary(tx, s.observation_end, **common)


def validate(config) -> dict:
    """Check a config and its data without fitting anything; return what the summary holds (the
    customers, its time unit and dates, its options and what was left out)."""
    cfg = _config(config)
    return build_summary(cfg).describe_facts()


def _config(config) -> RunConfig:
    return config if isinstance(config, RunConfig) else load_config(config)[0]


def _score(cfg: RunConfig, summary: pd.DataFrame, purchase, spend) -> pd.DataFrame:
    from .forecast.clv import forecast_clv
    from .segments import rfm_scores, value_tiers

    f = cfg.forecast
    fc = forecast_clv(summary, purchase, spend if spend is not None else 1.0, horizon=f.horizon, period=f.period,
                      discount_rate=f.discount_rate, margin=f.margin, cost_per_order=f.cost_per_order,
                      cost_per_active_period=f.cost_per_active_period, retention_cost=f.retention_cost,
                      interval=f.interval, n_draws=f.n_draws, random_state=f.random_seed)
    tiers = value_tiers(fc, column="clv", vip=cfg.segments.vip, core=cfg.segments.core, by=cfg.segments.by)
    scores = fc.join(tiers.customers[["tier", "rank"]].rename(columns={"rank": "value_rank"}))
    monetary = "monetary_value" if "monetary_value" in summary.columns else None
    return scores.join(rfm_scores(summary, monetary=monetary))


def _fit_models(cfg: RunConfig, summary: RFMSummary):
    """The purchase and spend models of the config, from the registry, fitted on ``summary``."""
    m = cfg.models
    purchase = registry.build(m.purchase, penalizer_coef=m.penalizer).fit(summary)
    spend = None
    if m.spend is not None:
        spend = registry.build(m.spend, nonpositive_spend=m.nonpositive_spend).fit(summary)
    return purchase, spend


def run(config, *, write: bool = True, transactions=None) -> RunResult:
    """Run the main job for a config (YAML path, dict or RunConfig); deliver to the CRM targets."""
    cfg = _config(config)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tx = _load_transactions(cfg) if transactions is None else transactions
    summary = build_summary(cfg, tx)
    timings["summary_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    purchase, spend = _fit_models(cfg, summary)
    timings["fit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = _score(cfg, summary, purchase, spend)
    timings["forecast_s"] = time.perf_counter() - t0

    metrics, evaluation_table = {}, None
    if summary.has_holdout:
        from .evaluate import evaluate

        t0 = time.perf_counter()
        ev = evaluate(summary, purchase, spend, transactions=tx, score=scores["clv"],
                      name=registry.get(cfg.models.purchase).label)
        metrics, evaluation_table = json.loads(ev.to_json()), ev.table
        timings["evaluate_s"] = time.perf_counter() - t0
    table = export_table(scores)
    manifest = {
        "clvmodels": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "customers": int(len(summary)), "summary": summary.describe_facts(),
        "purchase_model": {"name": cfg.models.purchase, "params": purchase.params_.to_dict(),
                           "loglik": float(purchase.loglik_), "converged": bool(purchase.converged_)},
        "spend_model": ({"name": cfg.models.spend, "params": spend.params_.to_dict(),
                         "nonpositive_spend": cfg.models.nonpositive_spend,
                         "n_nonpositive_excluded": int(getattr(spend, "n_nonpositive_excluded_", 0))}
                        if spend is not None else None),
        "forecast": cfg.forecast.model_dump(mode="json"),
        "totals": {"clv": float(scores["clv"].sum()), "expected_revenue": float(scores["expected_revenue"].sum()),
                   "margin_negative_customers": int((scores["clv"] < 0).sum())},
        "export_table": {"file": EXPORT_TABLE, "rows": table.n_rows, "checksum": table.checksum,
                         "columns": table.schema},
        "timings": timings,
    }
    if not write:
        return RunResult(None, summary, scores, metrics, manifest)
    folder = _write(cfg, summary, scores, table, metrics, evaluation_table, manifest, purchase, spend)
    receipts = deliver(folder, cfg)
    return RunResult(folder, summary, scores, metrics, manifest, receipts)


def export_table(scores: pd.DataFrame):
    """The canonical CRM table of the scores (:func:`clvmodels.export.schema.crm_table`, validated
    by :func:`clvmodels.export.prepare_table`): what every delivery of the run sends."""
    from .export import prepare_table
    from .export.schema import crm_table

    return prepare_table(crm_table(scores))


def read_export_table(folder: Path):
    """The run folder's canonical export table, checked against the checksum in its manifest."""
    from .export import ExportError, prepare_table

    folder = Path(folder)
    path = folder / EXPORT_TABLE
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} has no {EXPORT_TABLE}: it is not a finished clvmodels run folder "
                          "(made by clv run)", key="run_folder")
    table = prepare_table(pd.read_parquet(path))
    recorded = json.loads((folder / "manifest.json").read_text())["export_table"]["checksum"]
    if table.checksum != recorded:
        raise ExportError(f"{path} does not match the checksum in its manifest ({recorded}): it was changed after "
                          "the run; refusing to deliver it")
    return table


def deliver(folder: Path, cfg: RunConfig | None = None) -> list[dict]:
    """Deliver a finished run folder to its export targets, exactly once per target.

    Safe to call again (``clv export RUN_FOLDER``): a target that already has this run says so,
    an HTTP delivery that crashed part-way resumes after its last acknowledged batch. The table
    sent is the folder's ``export_table.parquet`` (the same bytes every time).
    """
    from . import export

    folder = Path(folder)
    if cfg is None:
        if not (folder / "config.yaml").is_file():
            raise ConfigError(f"{str(folder)!r} is not a clvmodels run folder (no config.yaml)", key="run_folder")
        cfg, _ = load_config(yaml.safe_load((folder / "config.yaml").read_text()))
    if not cfg.export:
        return []
    table = read_export_table(folder)
    run_id = folder.name
    receipts = []
    for target in cfg.export:
        if target.target == "file":
            directory = Path(target.directory)  # outputs are relative to the working directory, like output.dir
            directory.mkdir(parents=True, exist_ok=True)
            receipt = export.to_file(table, directory, run_id, target.format)
        elif target.target == "sql":
            receipt = export.to_sql(table, target.url, target.table, run_id)
        else:
            receipt = export.to_http(table, target.url, run_id, ledger_dir=folder, batch_size=target.batch_size)
        receipts.append(receipt.to_dict())
    _atomic_write(folder / "exports.json", json.dumps(receipts, indent=2, default=str))
    return receipts


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write(cfg: RunConfig, summary, scores, table, metrics, evaluation_table, manifest, purchase, spend) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    root = Path(cfg.output.dir)
    final = root / f"{cfg.name}-{stamp}"
    tmp = root / f".{cfg.name}-{stamp}.partial"
    (tmp / "models").mkdir(parents=True, exist_ok=False)
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        purchase.save(tmp / "models" / "purchase.json")
        if spend is not None:
            spend.save(tmp / "models" / "spend.json")
        out = scores.join(summary[[c for c in summary.columns if c not in scores.columns]])
        if "tier" in out:
            out["tier"] = out["tier"].astype(str)
        for fmt in cfg.output.formats:
            if fmt == "csv":
                out.to_csv(tmp / "scores.csv")
            else:
                out.to_parquet(tmp / "scores.parquet")
        table.to_frame().to_parquet(tmp / EXPORT_TABLE, engine="pyarrow", index=True)
        if metrics:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if evaluation_table is not None:
            evaluation_table.to_csv(tmp / "evaluation.csv", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
