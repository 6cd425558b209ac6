"""``compare_models``: fit several models on the same calibration data, rank them on the holdout.

The recommendation is the probabilistic model with the best *mean rank* over a few holdout
criteria that matter to users (default: absolute aggregate error, per-customer MAE,
per-customer correlation and the top-decile capture of holdout revenue). The machine-learning
baseline is ranked in the same table but is not recommended (it gives no P(alive), no horizon
beyond the holdout and no intervals); the reason text says where it does better.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..errors import CLVError, CLVWarning, ConfigError
from .baseline import GradientBoostingBaseline
from .evaluation import HoldoutEvaluation, _clean, evaluate

__all__ = ["compare_models", "ModelComparison", "DEFAULT_CRITERIA"]

FORMAT = "clvmodels.comparison/1"

#: (metric, direction): "abs" = smaller absolute value is better, "min" smaller, "max" larger
DEFAULT_CRITERIA: tuple[tuple[str, str], ...] = (
    ("aggregate_error_pct", "abs"),
    ("mae", "min"),
    ("correlation", "max"),
    ("revenue_top_capture", "max"),
)

_LABELS = {"aggregate_error_pct": "aggregate error", "mae": "MAE", "correlation": "correlation",
           "revenue_top_capture": "top-decile revenue capture", "purchases_top_capture": "top-decile purchase capture",
           "rmse": "RMSE", "revenue_spearman": "Spearman (revenue)", "revenue_normalized_gini": "normalized Gini"}

_DEFAULT_MLE = (("BG/NBD", "BGNBD"), ("Pareto/NBD", "ParetoNBD"), ("MBG/NBD", "MBGNBD"))
_DEFAULT_BAYES = (("BG/NBD (Bayes)", "BGNBD"), ("Pareto/NBD (Bayes)", "ParetoNBD"))


def _fmt(metric: str, value: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if metric.endswith("_pct"):
        return f"{value:+.1f}%"
    if "capture" in metric:
        return f"{100 * value:.1f}%"
    return f"{value:.3f}"


@dataclass
class ModelComparison:
    """Result of :func:`compare_models`.

    Attributes
    ----------
    table : one row per model (index: name), columns ``kind``, the criteria, their ranks
        (``rank_<metric>``), ``mean_rank``, more metrics and ``fit_seconds``; sorted by ``mean_rank``.
    recommended : name of the recommended (probabilistic) model
    reason : why, in one paragraph
    evaluations : name -> :class:`HoldoutEvaluation`
    models : name -> fitted purchase model (baseline: the baseline estimator)
    spend_model : the fitted spend model shared by all purchase models (or None)
    criteria : the (metric, direction) pairs used for ranking
    notes : anything skipped or worth knowing
    """

    table: pd.DataFrame
    recommended: str | None
    reason: str
    evaluations: dict[str, HoldoutEvaluation]
    models: dict[str, Any]
    spend_model: Any = None
    criteria: tuple[tuple[str, str], ...] = DEFAULT_CRITERIA
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "recommended": self.recommended,
            "reason": self.reason,
            "criteria": [list(c) for c in self.criteria],
            "table": _clean(self.table.reset_index().rename(columns={"index": "model"}).to_dict(orient="records")),
            "evaluations": {k: v.to_dict() for k, v in self.evaluations.items()},
            "notes": list(self.notes),
        }

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"ModelComparison(recommended={self.recommended!r}, models={list(self.table.index)})"


def _is_fitted(model) -> bool:
    return getattr(model, "params_", None) is not None if not hasattr(model, "idata_") else \
        getattr(model, "idata_", None) is not None


def _fitted(model, summary):
    if hasattr(model, "idata_") or hasattr(model, "_draw_arrays"):
        if getattr(model, "idata_", None) is not None:
            return model
    else:
        try:
            if getattr(model, "params_", None) is not None:
                return model
        except CLVError:
            pass
    est = clone(model)
    return est.fit(summary)


def _default_models(bayes: bool | Mapping, names: tuple[tuple[str, str], ...] = _DEFAULT_MLE) -> dict[str, Any]:
    import clvmodels as clv

    out = {}
    for label, cls in names:
        out[label] = getattr(clv, cls)()
    if bayes:
        kwargs = dict(bayes) if isinstance(bayes, Mapping) else {}
        kwargs.setdefault("progressbar", False)
        for label, cls in _DEFAULT_BAYES:
            out[label] = getattr(clv.bayes, cls)(**kwargs)
    return out


def _rank(table: pd.DataFrame, criteria) -> pd.DataFrame:
    """Rank the probabilistic models among themselves on each criterion (1 = best, ties share
    the better rank); a baseline row gets the rank it would take among them."""
    used = []
    prob = (table["kind"] == "probabilistic").to_numpy()
    for metric, direction in criteria:
        if metric not in table.columns or table[metric].isna().all():
            continue
        col = table[metric].astype(float)
        if direction == "abs":
            key = col.abs()
        elif direction == "min":
            key = col
        elif direction == "max":
            key = -col
        else:
            raise ConfigError(f"criterion direction must be 'abs', 'min' or 'max', got {direction!r}", key="criteria")
        key = key.fillna(np.inf).to_numpy()
        ref = key[prob]
        table[f"rank_{metric}"] = [1.0 + float(np.sum(ref < k)) for k in key]
        used.append(metric)
    if not used:
        raise ConfigError("none of the ranking criteria could be computed", key="criteria")
    table["mean_rank"] = table[[f"rank_{m}" for m in used]].mean(axis=1)
    return table


def _reason(table: pd.DataFrame, best: str, criteria, baseline_names: list[str]) -> str:
    used = [(m, d) for m, d in criteria if f"rank_{m}" in table.columns]
    row = table.loc[best]
    parts = [f"{_LABELS.get(m, m)} {_fmt(m, row[m])}" for m, _ in used]
    text = (f"{best} has the best mean rank ({row['mean_rank']:.2f}) over {len(used)} holdout criteria among the "
            f"probabilistic models: " + ", ".join(parts) + ".")
    others = [n for n in table.index if n != best and table.loc[n, "kind"] != "baseline"]
    if others:
        runner = min(others, key=lambda n: table.loc[n, "mean_rank"])
        wins = [_LABELS.get(m, m) for m, d in used if _better(table.loc[runner, m], row[m], d)]
        text += f" Runner-up: {runner} (mean rank {table.loc[runner, 'mean_rank']:.2f})"
        text += f", better on {', '.join(wins)}." if wins else ", not better on any criterion."
    for b in baseline_names:
        wins = [f"{_LABELS.get(m, m)} ({_fmt(m, table.loc[b, m])} vs {_fmt(m, row[m])})" for m, d in used
                if _better(table.loc[b, m], row[m], d)]
        if wins:
            text += f" The machine-learning baseline {b} does better on " + ", ".join(wins) + \
                    "; it gives no P(alive), no forecast beyond the holdout window and no intervals."
        else:
            text += f" The machine-learning baseline {b} is not better on any criterion."
    return text


def _better(a, b, direction: str) -> bool:
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
        return False
    if direction == "abs":
        return abs(a) < abs(b)
    if direction == "min":
        return a < b
    return a > b


def compare_models(summary: pd.DataFrame, models: Mapping[str, Any] | None = None, *,
                   transactions: pd.DataFrame | None = None, spend_model="auto", baseline="auto", bayes=False,
                   criteria=DEFAULT_CRITERIA, top_share: float = 0.1, calibration_end=None, observation_end=None,
                   period: str = "W", max_frequency: int = 7, customer_col: str = "customer_id",
                   date_col: str = "date", amount_col: str | None = "amount", tracking: bool = True,
                   max_draws: int = 200) -> ModelComparison:
    """Fit purchase models on the calibration part of ``summary`` and rank them on its holdout.

    Parameters
    ----------
    summary : calibration / holdout summary (:func:`clvmodels.calibration_holdout`), possibly
        with covariate columns for the models that use them.
    models : ``{name: estimator}``; unfitted estimators are cloned and fitted on ``summary``,
        fitted ones are used as they are. Default: BG/NBD, Pareto/NBD and MBG/NBD (MLE).
    bayes : with the default models, also fit the Bayesian BG/NBD and Pareto/NBD; ``True`` or a
        dict of settings for them (e.g. ``{"draws": 500, "chains": 2}`` or ``{"sampler": "advi"}``).
    spend_model : ``"auto"`` (fit a Gamma-Gamma when the summary has ``monetary_value``), None, or
        an estimator (fitted or not). One spend model serves every purchase model.
    baseline : ``"auto"`` (the :class:`GradientBoostingBaseline` with the temporal strategy when
        ``transactions`` is given), True/False, or a configured baseline instance.
    criteria : ``[(metric, "abs"|"min"|"max"), ...]`` used for ranking; a missing revenue
        criterion falls back to ``purchases_top_capture``.
    transactions : the transaction log: enables the tracking metrics and the temporal baseline.
    tracking : compute the tracking metrics when ``transactions`` is given.
    Other parameters are passed to :func:`evaluate`.

    Returns
    -------
    :class:`ModelComparison` (``.table``, ``.recommended``, ``.reason``, ``.evaluations``,
    ``.to_json()``).
    """
    import clvmodels as clv

    notes: list[str] = []
    if models is None:
        models = _default_models(bayes)
    elif bayes:
        notes.append("bayes=True is ignored when models are given: add Bayesian models to `models`.")
    if not models:
        raise ConfigError("no models to compare", key="models")
    criteria = tuple((m, d) for m, d in criteria)
    has_money = "monetary_value" in summary.columns and "monetary_value_holdout" in summary.columns
    if not has_money:
        criteria = tuple(("purchases_top_capture", d) if m == "revenue_top_capture" else (m, d) for m, d in criteria)

    spend = None
    if isinstance(spend_model, str):
        if spend_model != "auto":
            raise ConfigError(f"spend_model must be 'auto', None or an estimator, got {spend_model!r}",
                              key="spend_model")
        if has_money:
            # repeat buyers whose purchases were all free are scored with the population mean (and announced)
            spend = clv.GammaGamma(nonpositive_spend="population").fit(summary)
            n_bad = int(getattr(spend, "n_nonpositive_excluded_", 0) or 0)
            if n_bad:
                notes.append(f"{n_bad} repeat buyer(s) with repeat purchases of no positive value were left out of "
                             "the Gamma-Gamma fit and get its population mean spend.")
    elif spend_model is not None:
        spend = _fitted(spend_model, summary)

    common = dict(top_share=top_share, max_frequency=max_frequency, period=period, calibration_end=calibration_end,
                  observation_end=observation_end, customer_col=customer_col, date_col=date_col, max_draws=max_draws)
    evaluations: dict[str, HoldoutEvaluation] = {}
    fitted: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for label, est in models.items():
        t0 = time.perf_counter()
        try:
            model = _fitted(est, summary)
        except CLVError as exc:
            notes.append(f"{label}: not fitted ({exc}); left out of the comparison.")
            warnings.warn(f"compare_models: {label} could not be fitted: {exc}", CLVWarning, stacklevel=2)
            continue
        fit_s = time.perf_counter() - t0
        ev = evaluate(summary, model, spend, transactions=transactions if tracking else None, name=label, **common)
        evaluations[label], fitted[label] = ev, model
        rows[label] = {"kind": "probabilistic", **ev.metrics, "fit_seconds": fit_s}

    base = None
    if baseline == "auto":
        if transactions is not None:
            base = GradientBoostingBaseline()
        else:
            notes.append("no transaction log given: the machine-learning baseline (temporal strategy) was skipped; "
                         "pass transactions=... or baseline=GradientBoostingBaseline(strategy='crossfit').")
    elif baseline is True:
        base = GradientBoostingBaseline()
    elif baseline:
        base = baseline
    baseline_names: list[str] = []
    if base is not None:
        label = f"Gradient boosting ({base.strategy})"
        t0 = time.perf_counter()
        preds = base.fit_predict(summary, transactions, calibration_end=calibration_end, customer_col=customer_col,
                                 date_col=date_col, amount_col=amount_col)
        fit_s = time.perf_counter() - t0
        ev = evaluate(summary, predictions=preds, name=label, top_share=top_share, max_frequency=max_frequency)
        evaluations[label], fitted[label] = ev, base
        rows[label] = {"kind": "baseline", **ev.metrics, "fit_seconds": fit_s}
        baseline_names.append(label)
        if base.strategy == "crossfit":
            notes.append(f"{label} uses other customers' holdout outcomes (cross-fitting): an optimistic reference.")

    if not any(r["kind"] == "probabilistic" for r in rows.values()):
        raise CLVError("no probabilistic model could be fitted; see the warnings")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = _rank(table, criteria)
    lead_cols = ["kind"] + [m for m, _ in criteria if m in table.columns] + ["mean_rank"]
    rest = [c for c in table.columns if c not in lead_cols]
    table = table[lead_cols + rest].sort_values(["mean_rank", "mae"], kind="stable")
    table.index.name = "model"
    probabilistic = table[table["kind"] == "probabilistic"]
    best = str(probabilistic.index[0])
    reason = _reason(table, best, criteria, baseline_names)
    return ModelComparison(table=table, recommended=best, reason=reason, evaluations=evaluations, models=fitted,
                           spend_model=spend, criteria=criteria, notes=notes)
