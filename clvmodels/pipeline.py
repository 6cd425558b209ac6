"""The main job: data -> summary -> models -> holdout check -> CLV and segments -> run folder -> CRM.

The same public functions a notebook calls, driven by a :class:`~clvmodels.config.RunConfig`.
A run folder ``<output.dir>/<name>-<UTC timestamp>/`` is self-describing:

* ``config.yaml`` - the validated config, every default filled in;
* ``manifest.json`` - package and library versions, timings, the data report (rows left out and why),
  customer counts, fitted parameters;
* ``models/purchase.json``, ``models/spend.json`` - parameters, covariance, log-likelihood (no pickle);
* ``scores.csv`` (and/or ``.parquet``) - one row per customer: P(alive), churn, expected purchases,
  spend, revenue, margin, discounted CLV with its interval, value tier, RFM scores, and the summary;
* ``metrics.json`` and ``evaluation.csv`` - holdout metrics when the config has a holdout;
* ``exports.json`` - one receipt per CRM delivery (written after the deliveries).

The folder is written under a temporary name and renamed when complete, so a crashed run never
looks like a finished one. Deliveries use the folder name as ``run_id``: each target receives a run
exactly once, and ``clv export RUN_FOLDER`` re-delivers (or resumes) a finished run safely.
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

from . import __version__
from .config import RunConfig, load_config
from .errors import ConfigError

__all__ = ["run", "validate", "deliver", "build_summary", "RunResult"]

_PURCHASE = {"bgnbd": "BGNBD", "mbgnbd": "MBGNBD", "paretonbd": "ParetoNBD"}
# the columns a CRM receives (those present), in this order
EXPORT_COLUMNS = ("p_alive", "churn_probability", "p_no_purchase_in_horizon", "expected_purchases",
                  "expected_spend", "expected_revenue", "expected_margin", "clv", "clv_lower", "clv_upper",
                  "tier", "value_rank", "R", "F", "M", "RFM")


@dataclass
class RunResult:
    """What a run produced: the folder and the in-memory tables."""

    folder: Path | None
    summary: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict
    manifest: dict = field(default_factory=dict)
    receipts: list = field(default_factory=list)


def _load_transactions(cfg: RunConfig, base: Path | None):
    from . import datasets

    if cfg.data.source == "cdnow":
        return datasets.cdnow_transactions()
    if cfg.data.source == "cdnow_sample":
        return datasets.cdnow_transactions(sample=True)
    path = cfg.source_path(base)
    if not Path(path).exists():
        raise ConfigError(f"data.source: file {path!r} does not exist", key="data.source")
    return path


def build_summary(cfg: RunConfig, base: Path | None = None, transactions=None) -> pd.DataFrame:
    """Transactions -> (calibration) summary as the config says; validates all data on the way."""
    from .data.rfm import calibration_holdout, rfm_summary

    tx = _load_transactions(cfg, base) if transactions is None else transactions
    s, d = cfg.summary, cfg.data
    common = dict(time_unit=s.time_unit, customer_col=d.customer_col, date_col=d.date_col,
                  amount_col=d.amount_col, merge=s.merge, monetary_includes_first=s.monetary_includes_first,
                  returns=s.returns, date_format=d.date_format, engine=d.engine)
    if s.calibration_end is not None:
        return calibration_holdout(tx, s.calibration_end, s.observation_end, **common)
    return rfm_summary(tx, s.observation_end, **common)


def validate(config) -> dict:
    """Check a config and its data without fitting anything; return the data report."""
    cfg, base = load_config(config)
    summary = build_summary(cfg, base)
    return {"customers": int(len(summary)), "report": summary.attrs.get("report", {})}


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
    scores = scores.join(rfm_scores(summary, monetary=monetary))
    scores.attrs = dict(fc.attrs)
    return scores


def run(config, *, write: bool = True, transactions=None) -> RunResult:
    """Run the main job for a config (YAML path, dict or RunConfig); deliver to the CRM targets."""
    import clvmodels as clv

    cfg, base = (config, None) if isinstance(config, RunConfig) else load_config(config)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    summary = build_summary(cfg, base, transactions)
    timings["summary_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    purchase = getattr(clv, _PURCHASE[cfg.models.purchase])(penalizer_coef=cfg.models.penalizer).fit(summary)
    spend = None
    if cfg.models.spend and "monetary_value" in summary:
        spend = clv.GammaGamma(nonpositive_spend=cfg.models.nonpositive_spend).fit(summary)
    timings["fit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = _score(cfg, summary, purchase, spend)
    timings["forecast_s"] = time.perf_counter() - t0

    metrics, evaluation_table = {}, None
    if "frequency_holdout" in summary:
        from .evaluate import evaluate

        t0 = time.perf_counter()
        tx = transactions if transactions is not None else _load_transactions(cfg, base)
        ev = evaluate(summary, purchase, spend, transactions=tx if isinstance(tx, pd.DataFrame) else None,
                      score=scores["clv"], name=cfg.models.purchase,
                      customer_col=cfg.data.customer_col, date_col=cfg.data.date_col)
        metrics, evaluation_table = json.loads(ev.to_json()), ev.table
        timings["evaluate_s"] = time.perf_counter() - t0
    manifest = {
        "clvmodels": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "customers": int(len(summary)), "data_report": summary.attrs.get("report", {}),
        "purchase_model": {"name": cfg.models.purchase, "params": purchase.params_.to_dict(),
                           "loglik": float(purchase.loglik_), "converged": bool(purchase.converged_)},
        "spend_model": ({"name": "gammagamma", "params": spend.params_.to_dict(),
                         "nonpositive_spend": cfg.models.nonpositive_spend,
                         "n_nonpositive_excluded": int(getattr(spend, "n_nonpositive_excluded_", 0))}
                        if spend is not None else None),
        "forecast": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                     for k, v in scores.attrs.items()},
        "totals": {"clv": float(scores["clv"].sum()), "expected_revenue": float(scores["expected_revenue"].sum()),
                   "margin_negative_customers": int((scores["clv"] < 0).sum())},
        "timings": timings,
    }
    if not write:
        return RunResult(None, summary, scores, metrics, manifest)
    folder = _write(cfg, summary, scores, metrics, evaluation_table, manifest, purchase, spend)
    receipts = deliver(folder, cfg, scores)
    return RunResult(folder, summary, scores, metrics, manifest, receipts)


def export_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The CRM table: value, risk and segment fields, keyed by customer_id."""
    cols = [c for c in EXPORT_COLUMNS if c in scores.columns]
    out = scores[cols].copy()
    if "tier" in out:
        out["tier"] = out["tier"].astype(str)
    return out


def deliver(folder: Path, cfg: RunConfig | None = None, scores: pd.DataFrame | None = None) -> list[dict]:
    """Deliver a finished run folder to its export targets, exactly once per target.

    Safe to call again (``clv export RUN_FOLDER``): a target that already has this run says so,
    an HTTP delivery that crashed part-way resumes after its last acknowledged batch.
    """
    from . import export

    folder = Path(folder)
    if cfg is None:
        cfg, _ = load_config(yaml.safe_load((folder / "config.yaml").read_text()))
    if not cfg.export:
        return []
    if scores is None:
        scores = pd.read_csv(folder / "scores.csv", index_col="customer_id")
    table = export.prepare_table(export_table(scores))
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


def _write(cfg: RunConfig, summary, scores, metrics, evaluation_table, manifest, purchase, spend) -> Path:
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
