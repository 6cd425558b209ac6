"""``evaluate``: one fitted model (or a table of predictions) against a holdout.

The answer to "does it predict?" on a calibration / holdout split
(:func:`clvmodels.calibration_holdout`): per-customer accuracy of the holdout purchases, the
aggregate error, Fader, Hardie & Lee's (2005) conditional-expectation table and cohort tracking,
the spend model's calibration, and how well the predicted value ranks customers by the revenue
they actually brought in the holdout.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..data.summary import summary_time_unit
from ..errors import DataValidationError, MissingColumnError
from ..forecast.predict import Predictor, expected_spend
from . import metrics as M
from .tracking import tracking as _tracking
from .tracking import tracking_metrics

__all__ = ["evaluate", "HoldoutEvaluation", "METRIC_DESCRIPTIONS"]

FORMAT = "clvmodels.evaluation/1"

#: what every key of ``HoldoutEvaluation.metrics`` means (also the ``description`` column of ``.table``)
METRIC_DESCRIPTIONS: dict[str, str] = {
    "n_customers": "customers in the calibration cohort",
    "holdout_duration": "holdout length in the summary's time unit",
    "purchases_actual": "repeat purchases made in the holdout (sum over customers)",
    "purchases_predicted": "predicted holdout purchases (sum of conditional expectations)",
    "aggregate_error_pct": "100 * (predicted - actual) / actual total holdout purchases",
    "mae": "mean absolute error of holdout purchases per customer",
    "rmse": "root mean squared error of holdout purchases per customer",
    "correlation": "Pearson correlation of predicted and actual holdout purchases",
    "purchases_spearman": "rank correlation of predicted and actual holdout purchases",
    "active_auc": "AUC of the predicted purchases for 'bought at least once in the holdout'",
    "p_alive_mean": "mean P(alive) at the end of calibration",
    "p_alive_auc": "AUC of P(alive) for 'bought at least once in the holdout'",
    "purchases_top_capture": "share of holdout purchases made by the top customers ranked by predicted purchases",
    "revenue_actual": "holdout revenue (purchases x their mean value)",
    "revenue_predicted": "predicted holdout revenue (expected purchases x expected spend)",
    "revenue_error_pct": "100 * (predicted - actual) / actual holdout revenue",
    "revenue_mae": "mean absolute error of holdout revenue per customer",
    "revenue_correlation": "Pearson correlation of predicted and actual holdout revenue",
    "revenue_top_share": "share of customers called the 'top' (0.1 = top decile)",
    "revenue_top_capture": "share of holdout revenue from the top customers by predicted value",
    "revenue_top_capture_oracle": "the best possible top capture (ranking by the actual revenue)",
    "revenue_top_lift": "revenue_top_capture / revenue_top_share",
    "revenue_spearman": "rank correlation of predicted value and holdout revenue",
    "revenue_gini": "Gini coefficient of holdout revenue along the predicted ranking",
    "revenue_normalized_gini": "revenue_gini / Gini of the oracle ranking (1 = perfect ranking)",
    "spend_n_customers": "customers with repeat purchases in both periods (spend calibration sample)",
    "spend_mae": "mean absolute error of the mean holdout spend per purchase",
    "spend_bias_pct": "100 * (mean predicted - mean actual) / mean actual spend per purchase",
    "spend_correlation": "correlation of predicted and actual mean spend per purchase",
    "tracking_holdout_actual": "cohort repeat purchases in the holdout window (from the transaction log)",
    "tracking_holdout_expected": "unconditional model forecast of those (sum of E[X(t - t0_i)])",
    "tracking_holdout_error_pct": "100 * (expected - actual) / actual cohort holdout purchases",
    "tracking_calibration_actual": "cohort repeat purchases in the calibration window",
    "tracking_calibration_expected": "model fit of those (in-sample)",
    "tracking_calibration_error_pct": "100 * (expected - actual) / actual calibration purchases",
    "tracking_period_mae": "mean absolute error of the per-period (e.g. weekly) holdout purchases",
    "tracking_period_correlation": "correlation of per-period expected and actual holdout purchases",
}


def _section(key: str) -> str:
    for prefix, name in (("revenue_", "revenue"), ("clv_", "clv"), ("spend_", "spend"), ("tracking_", "tracking"),
                         ("p_alive", "purchases"), ("purchases_", "purchases")):
        if key.startswith(prefix):
            return name
    return "purchases"


def _clean(obj: Any) -> Any:
    """JSON-ready copy: NaN/inf -> None, numpy scalars -> Python, Timestamps -> ISO strings."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(obj).isoformat()
    return obj


def _records(frame: pd.DataFrame | None) -> list[dict] | None:
    if frame is None:
        return None
    return _clean(frame.reset_index().to_dict(orient="records"))


@dataclass
class HoldoutEvaluation:
    """What :func:`evaluate` found.

    Attributes
    ----------
    name : the model's name
    metrics : flat dict of holdout metrics (keys described in :data:`METRIC_DESCRIPTIONS`)
    conditional_expectations : actual vs predicted mean holdout purchases by calibration frequency
    spend_calibration : actual vs predicted mean spend per purchase by calibration frequency (or None)
    tracking : per-period cohort tracking table (or None without a transaction log)
    predictions : per-customer table (index customer_id): frequency, frequency_holdout,
        expected_purchases, and when available p_alive, expected_spend, expected_revenue,
        actual_revenue (a ``score`` passed to :func:`evaluate` is not stored here; it only adds
        the ``clv_*`` metrics)
    settings : how the evaluation was run

    Examples
    --------
    >>> import json, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> ev = clv.evaluate.evaluate(cal, bg, clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44), name="BG/NBD")
    >>> ev.table.set_index("metric").loc[["mae", "revenue_top_capture"], ["section", "value"]].round(3)
                          section  value
    metric
    mae                 purchases  0.786
    revenue_top_capture   revenue  0.502
    >>> ev.spend_calibration.loc[["1", "7+"]].round(2)
           n_customers  actual  predicted  error
    group
    1              157   37.71      33.34  -4.37
    7+              56   40.54      39.50  -1.05
    >>> list(ev.predictions.columns)
    ['frequency', 'frequency_holdout', 'expected_purchases', 'p_alive', 'expected_spend', 'expected_revenue',
     'actual_revenue']
    >>> doc = json.loads(ev.to_json())
    >>> doc["format"], doc["model"], doc["tracking"]
    ('clvmodels.evaluation/1', 'BG/NBD', None)
    """

    name: str
    metrics: dict[str, float]
    conditional_expectations: pd.DataFrame
    spend_calibration: pd.DataFrame | None = None
    tracking: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """Tidy metrics table: one row per metric with ``model``, ``section``, ``metric``, ``value``,
        ``description``."""
        rows = [{"model": self.name, "section": _section(k), "metric": k, "value": float(v) if v is not None else math.nan,
                 "description": METRIC_DESCRIPTIONS.get(k, "")} for k, v in self.metrics.items()]
        return pd.DataFrame(rows, columns=["model", "section", "metric", "value", "description"])

    def to_dict(self, include_predictions: bool = False) -> dict[str, Any]:
        """JSON-ready dict (NaN -> null). Per-customer predictions only on request."""
        track = None
        if self.tracking is not None:
            track = {"totals": _clean(self.tracking.attrs.get("totals", {})), "periods": _records(self.tracking)}
        out = {
            "format": FORMAT,
            "model": self.name,
            "metrics": _clean(self.metrics),
            "conditional_expectations": _records(self.conditional_expectations),
            "spend_calibration": _records(self.spend_calibration),
            "tracking": track,
            "settings": _clean(self.settings),
        }
        if include_predictions and self.predictions is not None:
            out["predictions"] = _records(self.predictions)
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int = 2, include_predictions: bool = False) -> str:
        """The evaluation as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(include_predictions=include_predictions), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        m = self.metrics
        bits = [f"{k}={m[k]:.4g}" for k in ("aggregate_error_pct", "mae", "correlation", "revenue_top_capture")
                if k in m and m[k] is not None and np.isfinite(m[k])]
        return f"HoldoutEvaluation({self.name}: {', '.join(bits)})"


def _auc(score: np.ndarray, active: np.ndarray) -> float:
    if active.all() or not active.any():
        return math.nan
    return float(roc_auc_score(active, score))


def _check_summary(summary: pd.DataFrame) -> None:
    if not isinstance(summary, pd.DataFrame):
        raise DataValidationError(f"summary must be a pandas DataFrame, got {type(summary).__name__}")
    for col in ("frequency", "recency", "T", "frequency_holdout", "duration_holdout"):
        if col not in summary.columns:
            raise MissingColumnError(f"the summary has no column {col!r}: evaluate needs a calibration/holdout "
                                     "summary from clvmodels.calibration_holdout(...)", column=col)
    if len(summary) == 0:
        raise DataValidationError("the summary is empty", n_rows=0)


def _column(predictions: pd.DataFrame, name: str, index: pd.Index) -> np.ndarray | None:
    if name not in predictions.columns:
        return None
    col = predictions[name]
    if not col.index.equals(index):
        col = col.reindex(index)
        if col.isna().any():
            raise DataValidationError(f"predictions[{name!r}] has no value for {int(col.isna().sum())} customer(s) "
                                      "of the summary", column=name, n_rows=int(col.isna().sum()))
    return col.to_numpy(dtype=np.float64)


def evaluate(summary: pd.DataFrame, purchase_model=None, spend_model=None, *, predictions: pd.DataFrame | None = None,
             transactions=None, score: pd.Series | None = None, name: str | None = None,
             period: str | None = None, max_frequency: int = 7, top_share: float = 0.1,
             max_draws: int = 200) -> HoldoutEvaluation:
    """Evaluate a fitted model on the holdout of a calibration / holdout summary.

    Parameters
    ----------
    summary : output of :func:`clvmodels.calibration_holdout` (frequency, recency, T,
        frequency_holdout, duration_holdout; monetary_value and monetary_value_holdout for
        the spend and revenue metrics).
    purchase_model : a fitted purchase model (:class:`~clvmodels.protocols.PurchaseModel`: MLE,
        Bayesian - predictions are posterior means - or your own).
    spend_model : optional fitted spend model (:class:`~clvmodels.protocols.SpendModel`); with it
        the ranking metrics use the predicted holdout revenue ``expected purchases x expected
        spend``. Its own rules apply (e.g. Gamma-Gamma's ``nonpositive_spend``).
    predictions : instead of models, a DataFrame keyed by customer with ``expected_purchases`` and
        optionally ``expected_spend`` / ``expected_revenue`` / ``p_alive`` (any model, e.g. the
        :class:`~clvmodels.evaluate.GradientBoostingBaseline` or another library).
    transactions : the transaction log (DataFrame or CSV / Parquet path) the summary was built
        from; adds the cohort tracking (per period and cumulative) of Fader, Hardie & Lee (2005),
        Figures 2-3 (needs ``purchase_model`` and a summary from :func:`clvmodels.calibration_holdout`,
        whose options say how to read the log).
    score : optional per-customer value to rank by (e.g. ``forecast_clv(...)["clv"]``); adds
        ``clv_*`` ranking metrics against the actual holdout revenue (against the holdout purchases
        when the log has no amounts).
    name : label of the model (default: its class name).
    period : tracking period (default: the summary's time unit).
    max_frequency : the last (open) bin of the conditional-expectation table (``7`` -> 0..6, 7+).
    top_share : share of customers counted as the top (0.1 = top decile).
    max_draws : Bayesian models: predictions average over at most this many posterior draws
        (thinned evenly over the chains).

    Returns
    -------
    :class:`HoldoutEvaluation` with ``.metrics`` (flat dict), ``.table`` (tidy DataFrame),
    ``.conditional_expectations``, ``.spend_calibration``, ``.tracking``, ``.predictions`` and
    ``.to_json()``.

    Examples
    --------
    The BG/NBD estimates of Fader, Hardie & Lee (2005) on their 39 + 39-week CDNOW split:

    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> ev = evaluate(cal, bg, gg, name="BG/NBD")
    >>> {k: round(ev.metrics[k], 3) for k in ("purchases_actual", "purchases_predicted", "mae", "revenue_top_capture")}
    {'purchases_actual': 1882.0, 'purchases_predicted': 1653.941, 'mae': 0.786, 'revenue_top_capture': 0.502}

    The conditional expectations; the ``actual`` column is FHL (2005) Figure 4's actual series:

    >>> ev.conditional_expectations.round(3)
               n_customers  actual  predicted  error
    frequency
    0                 1411   0.237      0.225 -0.011
    1                  439   0.697      0.523 -0.174
    2                  214   1.393      1.044 -0.348
    3                  100   1.560      1.520 -0.040
    4                   62   2.532      2.164 -0.368
    5                   38   2.947      2.654 -0.294
    6                   29   3.862      3.504 -0.358
    7+                  64   6.359      6.157 -0.202

    With ``transactions=tx`` the cohort tracking (FHL 2005, Figures 2-3) is added as well.
    """
    _check_summary(summary)
    if (purchase_model is None) == (predictions is None):
        raise DataValidationError("pass either purchase_model (a fitted model) or predictions (a DataFrame), not both")
    idx = summary.index
    duration = float(summary["duration_holdout"].iloc[0])
    freq = summary["frequency"].to_numpy(dtype=np.float64)
    actual = summary["frequency_holdout"].to_numpy(dtype=np.float64)
    has_money = "monetary_value_holdout" in summary.columns
    actual_rev = actual * summary["monetary_value_holdout"].to_numpy(dtype=np.float64) if has_money else None

    p_alive = exp_spend = exp_rev = None
    if purchase_model is not None:
        predictor = Predictor(purchase_model, max_draws=max_draws)
        exp_purch = predictor.expected_purchases(summary, duration)
        p_alive = predictor.p_alive(summary)
        if spend_model is not None:
            exp_spend = expected_spend(spend_model, summary, max_draws=max_draws)
        label = name or type(purchase_model).__name__
        kind = predictor.method
    else:
        if not isinstance(predictions, pd.DataFrame):
            raise DataValidationError("predictions must be a DataFrame with an expected_purchases column")
        exp_purch = _column(predictions, "expected_purchases", idx)
        if exp_purch is None:
            raise MissingColumnError("predictions needs an 'expected_purchases' column", column="expected_purchases")
        p_alive = _column(predictions, "p_alive", idx)
        exp_spend = _column(predictions, "expected_spend", idx)
        exp_rev = _column(predictions, "expected_revenue", idx)
        label = name or "predictions"
        kind = "predictions"
    if exp_rev is None and exp_spend is not None:
        exp_rev = exp_purch * exp_spend

    metrics: dict[str, float] = {"n_customers": int(len(summary)), "holdout_duration": duration}
    pm = M.purchase_metrics(exp_purch, actual)
    metrics.update({
        "purchases_actual": pm["actual_total"], "purchases_predicted": pm["predicted_total"],
        "aggregate_error_pct": pm["aggregate_error_pct"], "mae": pm["mae"], "rmse": pm["rmse"],
        "correlation": pm["correlation"], "purchases_spearman": pm["spearman"],
    })
    active = actual > 0
    metrics["active_auc"] = _auc(exp_purch, active)
    if p_alive is not None:
        metrics["p_alive_mean"] = float(np.mean(p_alive))
        metrics["p_alive_auc"] = _auc(p_alive, active)
    metrics["purchases_top_capture"] = M.top_share_capture(exp_purch, actual, top_share)

    rev_score_name = None
    if actual_rev is not None:
        rev_score = exp_rev if exp_rev is not None else exp_purch
        rev_score_name = "expected_revenue" if exp_rev is not None else "expected_purchases"
        metrics["revenue_actual"] = float(actual_rev.sum())
        if exp_rev is not None:
            rm = M.purchase_metrics(exp_rev, actual_rev)
            metrics.update({"revenue_predicted": rm["predicted_total"], "revenue_error_pct": rm["aggregate_error_pct"],
                            "revenue_mae": rm["mae"], "revenue_correlation": rm["correlation"]})
        metrics.update(M.ranking_metrics(rev_score, actual_rev, share=top_share, prefix="revenue_"))
    score_target = None
    if score is not None:
        # without amounts (a log of purchases only) the value is ranked against holdout purchases
        score_target = "holdout revenue" if actual_rev is not None else "holdout purchases"
        sv = _column(pd.DataFrame({"score": pd.Series(score)}), "score", idx)
        metrics.update(M.ranking_metrics(sv, actual_rev if actual_rev is not None else actual, share=top_share,
                                         prefix="clv_"))

    spend_table = None
    if exp_spend is not None and has_money:
        spend_table = M.spend_calibration(exp_spend, summary["monetary_value_holdout"], freq, actual,
                                          by="frequency", max_frequency=max_frequency)
        keep = (freq > 0) & (actual > 0)
        metrics["spend_n_customers"] = int(keep.sum())
        if keep.any():
            ps = exp_spend[keep]
            as_ = summary["monetary_value_holdout"].to_numpy(dtype=np.float64)[keep]
            metrics["spend_mae"] = float(np.abs(ps - as_).mean())
            metrics["spend_bias_pct"] = float(100 * (ps.mean() - as_.mean()) / as_.mean()) if as_.mean() else math.nan
            metrics["spend_correlation"] = M._corr(ps, as_)

    track = None
    if transactions is not None and purchase_model is not None:
        track = _tracking(purchase_model, transactions, summary, period=period, max_draws=max_draws)
        metrics.update(tracking_metrics(track))

    cond = M.conditional_expectations(freq, exp_purch, actual, max_frequency=max_frequency)
    pred = pd.DataFrame({"frequency": freq, "frequency_holdout": actual, "expected_purchases": exp_purch}, index=idx)
    if p_alive is not None:
        pred["p_alive"] = p_alive
    if exp_spend is not None:
        pred["expected_spend"] = exp_spend
    if exp_rev is not None:
        pred["expected_revenue"] = exp_rev
    if actual_rev is not None:
        pred["actual_revenue"] = actual_rev
    settings = {"kind": kind, "top_share": top_share, "max_frequency": max_frequency,
                "period": None if track is None else track.attrs["totals"]["period"],
                "revenue_score": rev_score_name, "score_target": score_target,
                "time_unit": summary_time_unit(summary),
                "spend_model": type(spend_model).__name__ if spend_model is not None else None}
    return HoldoutEvaluation(name=label, metrics=metrics, conditional_expectations=cond, spend_calibration=spend_table,
                             tracking=track, predictions=pred, settings=settings)
