"""The main job: data -> summary -> models -> scores (+ holdout check), written to a run folder.

The same public functions a notebook calls, driven by a :class:`~clvmodels.config.RunConfig`.
A run folder ``<output.dir>/<name>-<UTC timestamp>/`` is self-describing:

* ``config.yaml`` - the validated config, every default filled in;
* ``manifest.json`` - package and library versions, timings, the data report (rows left out and why),
  customer counts;
* ``models/purchase.json``, ``models/spend.json`` - fitted parameters, covariance, log-likelihood;
* ``scores.csv`` (and/or ``.parquet``) - one row per customer;
* ``metrics.json`` - holdout metrics when the config has a holdout.

The folder is written under a temporary name and renamed when complete, so a crashed run never
looks like a finished one.
"""

from __future__ import annotations

import datetime as dt
import json
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
from .timeunits import convert

__all__ = ["run", "validate", "RunResult"]

_PURCHASE = {"bgnbd": "BGNBD", "mbgnbd": "MBGNBD", "paretonbd": "ParetoNBD"}


@dataclass
class RunResult:
    """What a run produced: the folder and the in-memory tables."""

    folder: Path | None
    summary: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict
    manifest: dict = field(default_factory=dict)


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


def build_summary(cfg: RunConfig, base: Path | None = None) -> pd.DataFrame:
    """Transactions -> (calibration) summary as the config says; validates all data on the way."""
    from .data.rfm import calibration_holdout, rfm_summary

    tx = _load_transactions(cfg, base)
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


def run(config, *, write: bool = True) -> RunResult:
    """Run the main job for a config (YAML path, dict or RunConfig)."""
    import clvmodels as clv

    cfg, base = (config, None) if isinstance(config, RunConfig) else load_config(config)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    summary = build_summary(cfg, base)
    timings["summary_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    purchase = getattr(clv, _PURCHASE[cfg.models.purchase])(penalizer_coef=cfg.models.penalizer).fit(summary)
    spend = None
    if cfg.models.spend and "monetary_value" in summary:
        spend = clv.GammaGamma().fit(summary)
    timings["fit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    horizon_t = convert(cfg.forecast.horizon, cfg.forecast.period, cfg.summary.time_unit)
    scores = pd.DataFrame(index=summary.index)
    scores["p_alive"] = purchase.p_alive(summary)
    scores["expected_purchases"] = purchase.expected_purchases(summary, t=horizon_t)
    if spend is not None:
        scores["expected_spend"] = spend.expected_spend(summary)
        scores["expected_revenue"] = scores["expected_purchases"] * scores["expected_spend"]
        scores["expected_margin"] = scores["expected_revenue"] * cfg.forecast.margin
    timings["score_s"] = time.perf_counter() - t0

    metrics = {}
    if "frequency_holdout" in summary:
        metrics = holdout_metrics(purchase, summary)
    manifest = {
        "clvmodels": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "customers": int(len(summary)), "data_report": summary.attrs.get("report", {}),
        "purchase_model": {"name": cfg.models.purchase, "params": purchase.params_.to_dict(),
                           "loglik": float(purchase.loglik_), "converged": bool(purchase.converged_)},
        "spend_model": ({"name": "gammagamma", "params": spend.params_.to_dict()} if spend is not None else None),
        "forecast_horizon_in_summary_units": horizon_t, "timings": timings,
    }
    folder = _write(cfg, summary, scores, metrics, manifest, purchase, spend) if write else None
    return RunResult(folder, summary, scores, metrics, manifest)


def holdout_metrics(purchase, summary: pd.DataFrame) -> dict:
    """Purchases predicted for the holdout vs what happened (per customer and in aggregate)."""
    duration = float(summary["duration_holdout"].iloc[0])
    pred = purchase.expected_purchases(summary, t=duration).to_numpy()
    actual = summary["frequency_holdout"].to_numpy(dtype=float)
    err = pred - actual
    return {
        "holdout_duration": duration,
        "customers": int(len(actual)),
        "purchases_actual": float(actual.sum()),
        "purchases_predicted": float(pred.sum()),
        "aggregate_error_pct": float(100 * (pred.sum() - actual.sum()) / actual.sum()) if actual.sum() else None,
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "correlation": float(np.corrcoef(pred, actual)[0, 1]) if actual.std() > 0 else None,
    }


def _write(cfg: RunConfig, summary, scores, metrics, manifest, purchase, spend) -> Path:
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
        out = scores.join(summary)
        for fmt in cfg.output.formats:
            if fmt == "csv":
                out.to_csv(tmp / "scores.csv")
            else:
                out.to_parquet(tmp / "scores.parquet")
        if metrics:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
