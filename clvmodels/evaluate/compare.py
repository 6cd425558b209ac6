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

from .. import registry
from ..errors import CLVError, CLVWarning, ConfigError, NotFittedError
from ..protocols import require_purchase_model, require_spend_model
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
    table : one row per model (index ``model``: its name), columns ``kind``, the criteria,
        ``mean_rank``, the other metrics of :func:`evaluate`, ``fit_seconds`` and the ranks
        (``rank_<metric>``); sorted by ``mean_rank`` (then ``mae``).
    recommended : name of the recommended (probabilistic) model
    reason : why, in one paragraph
    evaluations : name -> :class:`HoldoutEvaluation`
    models : name -> fitted purchase model (baseline: the baseline estimator)
    spend_model : the fitted spend model shared by all purchase models (or None)
    criteria : the (metric, direction) pairs used for ranking
    notes : anything skipped or worth knowing

    Examples
    --------
    >>> import json, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> models = {"BG/NBD": clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W"),
    ...           "Pareto/NBD": clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669,
    ...                                                   time_unit="W")}
    >>> cmp = clv.compare_models(cal, models, spend_model=None)    # no spend model: ranked on purchases
    >>> list(cmp.table.index), cmp.spend_model
    (['Pareto/NBD', 'BG/NBD'], None)
    >>> [metric for metric, direction in cmp.criteria]
    ['aggregate_error_pct', 'mae', 'correlation', 'purchases_top_capture']
    >>> round(cmp.evaluations["BG/NBD"].metrics["mae"], 3), cmp.models["BG/NBD"] is models["BG/NBD"]
    (0.786, True)
    >>> print(cmp.notes[0])
    no transaction log given: the machine-learning baseline (temporal strategy) was skipped; pass
    transactions=... or baseline=GradientBoostingBaseline(strategy='crossfit').
    >>> json.loads(cmp.to_json())["recommended"]
    'Pareto/NBD'
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


def _fitted(model, summary, require=require_purchase_model):
    """``model`` itself when it is fitted (``check_fitted`` passes), else a fitted clone; either way
    checked against the model protocol (a :class:`ConfigError` names what is missing)."""
    try:
        model.check_fitted()
    except (NotFittedError, AttributeError):
        model = clone(model).fit(summary)
    return require(model)


def _default_models(bayes: bool | Mapping) -> dict[str, Any]:
    """The registry's comparison models (MLE; with ``bayes``, their Bayesian variants too)."""
    out = {}
    for key in registry.keys("purchase"):
        spec = registry.get(key)
        if spec.compare:
            out[spec.label] = registry.build(key)
    if bayes:
        kwargs = dict(bayes) if isinstance(bayes, Mapping) else {}
        kwargs.setdefault("progressbar", False)
        method = kwargs.pop("sampler", "nuts")
        for key in registry.keys("purchase"):
            spec = registry.get(key)
            if spec.compare and spec.bayes is not None:
                out[f"{spec.label} (Bayes)"] = registry.build(key, method, **kwargs)
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
                   transactions=None, spend_model="auto", baseline="auto", bayes=False,
                   criteria=DEFAULT_CRITERIA, top_share: float = 0.1, period: str | None = None,
                   max_frequency: int = 7, tracking: bool = True, max_draws: int = 200) -> ModelComparison:
    """Fit purchase models on the calibration part of ``summary`` and rank them on its holdout.

    Parameters
    ----------
    summary : calibration / holdout summary (:func:`clvmodels.calibration_holdout`), possibly
        with covariate columns for the models that use them.
    models : ``{name: estimator}``; unfitted estimators are cloned and fitted on ``summary``,
        fitted ones are used as they are. Any :class:`~clvmodels.protocols.PurchaseModel` works.
        Default: the registry's comparison models (:mod:`clvmodels.registry`: BG/NBD, MBG/NBD and
        Pareto/NBD by maximum likelihood).
    bayes : with the default models, also fit their Bayesian variants; ``True`` or a dict of
        settings for them (e.g. ``{"draws": 500, "chains": 2}`` or ``{"sampler": "advi"}``).
    spend_model : ``"auto"`` (a Gamma-Gamma with its defaults when the summary has
        ``monetary_value``), None, or an estimator (fitted or not). One spend model serves every
        purchase model; its own rules apply (Gamma-Gamma's default ``nonpositive_spend="error"``
        names repeat buyers whose purchases were all free: pass
        ``spend_model=clv.GammaGamma(nonpositive_spend="zero")`` to score them).
    baseline : ``"auto"`` (the :class:`GradientBoostingBaseline` with the temporal strategy when
        ``transactions`` is given), True/False, or a configured baseline instance.
    criteria : ``[(metric, "abs"|"min"|"max"), ...]`` used for ranking; a missing revenue
        criterion falls back to ``purchases_top_capture``.
    transactions : the transaction log the summary was built from (DataFrame or path): enables the
        tracking metrics and the temporal baseline.
    tracking : compute the tracking metrics when ``transactions`` is given.
    Other parameters are passed to :func:`evaluate`.

    Returns
    -------
    :class:`ModelComparison` (``.table``, ``.recommended``, ``.reason``, ``.evaluations``,
    ``.to_json()``).

    Examples
    --------
    Fitted models are used as they are (here the published CDNOW estimates, Fader, Hardie & Lee
    2005); unfitted ones are fitted on ``summary``. Without ``transactions`` there is no tracking
    and no machine-learning baseline:

    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> models = {"BG/NBD": clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W"),
    ...           "Pareto/NBD": clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669,
    ...                                                   time_unit="W")}
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> cmp = compare_models(cal, models, spend_model=gg)
    >>> cmp.table[["aggregate_error_pct", "mae", "revenue_top_capture", "mean_rank"]].round(3)
                aggregate_error_pct    mae  revenue_top_capture  mean_rank
    model
    Pareto/NBD              -11.493  0.755                0.503        1.0
    BG/NBD                  -12.118  0.786                0.502        2.0
    >>> print(cmp.reason)
    Pareto/NBD has the best mean rank (1.00) over 4 holdout criteria among the probabilistic models:
    aggregate error -11.5%, MAE 0.755, correlation 0.630, top-decile revenue capture 50.3%.
    Runner-up: BG/NBD (mean rank 2.00), not better on any criterion.
    """
    notes: list[str] = []
    if models is None:
        models = _default_models(bayes)
    elif bayes:
        notes.append("bayes=True is ignored when models are given: add Bayesian models to `models`.")
    if not models:
        raise ConfigError("no models to compare", key="models")
    criteria = tuple((m, d) for m, d in criteria)
    has_money = "monetary_value" in summary.columns and "monetary_value_holdout" in summary.columns
    if not has_money or spend_model is None:
        # without a spend model (or amounts) no model predicts revenue: rank by the purchases' capture
        criteria = tuple(("purchases_top_capture", d) if m == "revenue_top_capture" else (m, d) for m, d in criteria)

    spend = None
    if isinstance(spend_model, str):
        if spend_model != "auto":
            raise ConfigError(f"spend_model must be 'auto', None or an estimator, got {spend_model!r}",
                              key="spend_model")
        if has_money:
            spend = registry.build("gammagamma").fit(summary)
    elif spend_model is not None:
        spend = _fitted(spend_model, summary, require_spend_model)

    common = dict(top_share=top_share, max_frequency=max_frequency, period=period, max_draws=max_draws)
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
        preds = base.fit_predict(summary, transactions)
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
