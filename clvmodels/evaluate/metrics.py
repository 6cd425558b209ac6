"""Holdout metrics: pure functions of predicted and actual per-customer numbers.

Everything here takes plain arrays (or Series) and returns floats, dicts or small DataFrames;
nothing fits a model. The conventions:

* *purchases* are repeat purchases in the holdout window; *revenue* is the holdout purchases
  times their mean value (``frequency_holdout * monetary_value_holdout`` of a calibration /
  holdout summary).
* *Aggregate error* is ``100 * (sum(pred) - sum(actual)) / sum(actual)`` (signed, percent).
* Ranking metrics sort customers by a *score* (predicted revenue, CLV or purchases) and ask how
  much of the *actual* holdout value the top of the list holds. Tied scores are handled
  exactly: a tie group that straddles a cut-off contributes its value pro rata, which equals
  the expectation over random orderings of the tied customers (so results never depend on the
  input order). The same rule gives the Lorenz curve of the Gini coefficient.

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing
Science 24(2) - holdout tracking and conditional expectations (their Figures 3-4 on CDNOW);
Malthouse & Blattberg (2005) for decile / top-x% capture of future value as the managerial
yardstick of a CLV ranking.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataValidationError

__all__ = [
    "purchase_metrics",
    "ranking_metrics",
    "top_share_capture",
    "lorenz_curve",
    "gini",
    "normalized_gini",
    "conditional_expectations",
    "spend_calibration",
    "frequency_labels",
]


def _as_float(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).sum())
        raise DataValidationError(f"{name}: {bad} value(s) are NaN or infinite", column=name, n_rows=bad)
    return arr


def _pair(pred, actual, pred_name: str = "predicted", actual_name: str = "actual") -> tuple[np.ndarray, np.ndarray]:
    p = _as_float(pred, pred_name)
    a = _as_float(actual, actual_name)
    if p.shape != a.shape:
        raise DataValidationError(f"{pred_name} has {p.size} values but {actual_name} has {a.size}")
    if p.size == 0:
        raise DataValidationError("no customers to evaluate", n_rows=0)
    return p, a


def _pct(num: float, den: float) -> float:
    return float(100.0 * num / den) if den != 0 else math.nan


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def purchase_metrics(predicted, actual) -> dict[str, float]:
    """Per-customer and aggregate accuracy of predicted holdout purchases.

    Returns ``n_customers``, ``actual_total``, ``predicted_total``, ``aggregate_error_pct``
    (signed), ``mae``, ``rmse``, ``correlation`` (Pearson), ``spearman`` and ``mean_actual``.
    Undefined quantities (e.g. a correlation with a constant vector) are NaN.

    Examples
    --------
    >>> m = purchase_metrics([0.5, 1.2, 2.0, 0.1], [0, 2, 2, 0])
    >>> {k: round(m[k], 4) for k in ("actual_total", "predicted_total", "aggregate_error_pct", "mae", "rmse")}
    {'actual_total': 4.0, 'predicted_total': 3.8, 'aggregate_error_pct': -5.0, 'mae': 0.35, 'rmse': 0.4743}
    """
    p, a = _pair(predicted, actual)
    err = p - a
    return {
        "n_customers": int(p.size),
        "actual_total": float(a.sum()),
        "predicted_total": float(p.sum()),
        "aggregate_error_pct": _pct(p.sum() - a.sum(), a.sum()),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "correlation": _corr(p, a),
        "spearman": _spearman(p, a),
        "mean_actual": float(a.mean()),
    }


def _grouped_desc(score: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tie groups of ``score`` in descending order: (group sizes, group value totals)."""
    uniq, inverse = np.unique(-score, return_inverse=True)  # ascending -score == descending score
    sizes = np.bincount(inverse, minlength=uniq.size).astype(np.float64)
    totals = np.bincount(inverse, weights=value, minlength=uniq.size)
    return sizes, totals


def top_share_capture(score, value, share: float = 0.1) -> float:
    """Share of the total ``value`` held by the top ``share`` of customers ranked by ``score``.

    The cut-off is ``share * n`` customers (fractional allowed); a tie group straddling it
    contributes pro rata. Returns NaN if the total value is 0.

    Examples
    --------
    The top 40% (two of five customers) are the score-5 customer and half of the tie at score 3:

    >>> score, value = [5.0, 3.0, 3.0, 1.0, 0.0], [40.0, 0.0, 30.0, 20.0, 10.0]
    >>> top_share_capture(score, value, share=0.2), top_share_capture(score, value, share=0.4)
    (0.4, 0.55)
    """
    s, v = _pair(score, value, "score", "value")
    if not 0.0 < share <= 1.0:
        raise DataValidationError(f"share must be in (0, 1], got {share!r}", column="share")
    total = v.sum()
    if total == 0:
        return math.nan
    sizes, totals = _grouped_desc(s, v)
    k = share * s.size
    cum = np.cumsum(sizes)
    before = cum - sizes
    frac = np.clip((k - before) / sizes, 0.0, 1.0)
    return float((frac * totals).sum() / total)


def lorenz_curve(score, value) -> pd.DataFrame:
    """Cumulative share of ``value`` against the cumulative share of customers ranked by
    ``score`` (highest first), one point per tie group plus the origin.

    Columns ``customer_share`` and ``value_share`` (both from 0 to 1). Ranking by ``value``
    itself gives the *whale curve* of the value.

    Examples
    --------
    The two customers tied at score 3 form one point:

    >>> lorenz_curve([5.0, 3.0, 3.0, 1.0, 0.0], [40.0, 0.0, 30.0, 20.0, 10.0])
       customer_share  value_share
    0             0.0          0.0
    1             0.2          0.4
    2             0.6          0.7
    3             0.8          0.9
    4             1.0          1.0
    """
    s, v = _pair(score, value, "score", "value")
    sizes, totals = _grouped_desc(s, v)
    total = v.sum()
    x = np.concatenate([[0.0], np.cumsum(sizes) / s.size])
    y = np.concatenate([[0.0], np.cumsum(totals) / total]) if total != 0 else np.full(x.size, np.nan)
    return pd.DataFrame({"customer_share": x, "value_share": y})


def gini(score, value) -> float:
    """Gini coefficient of ``value`` along the ranking by ``score``: ``2 * AUC - 1`` where AUC is
    the area under the Lorenz curve (:func:`lorenz_curve`, linear within tie groups).

    With ``score = value`` this is the concentration of the value itself (0 = everyone equal,
    -> 1 = one customer holds everything); with a model's score it measures how well the
    model concentrates the value at the top of its list.

    Examples
    --------
    >>> score, value = [5.0, 3.0, 3.0, 1.0, 0.0], [40.0, 0.0, 30.0, 20.0, 10.0]
    >>> round(gini(score, value), 4), round(gini(value, value), 4)     # the model's ranking, the best one
    (0.22, 0.4)
    """
    curve = lorenz_curve(score, value)
    x, y = curve["customer_share"].to_numpy(), curve["value_share"].to_numpy()
    if np.isnan(y).any():
        return math.nan
    auc = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return 2.0 * auc - 1.0


def normalized_gini(score, value) -> float:
    """``gini(score, value) / gini(value, value)``: 1 for a perfect ranking, ~0 for a random one.

    NaN when the value itself has no concentration (``gini(value, value)`` is 0 or undefined).

    Examples
    --------
    >>> value = [40.0, 0.0, 30.0, 20.0, 10.0]
    >>> round(normalized_gini([5.0, 3.0, 3.0, 1.0, 0.0], value), 4), normalized_gini(value, value)
    (0.55, 1.0)
    """
    best = gini(value, value)
    if not np.isfinite(best) or best == 0:
        return math.nan
    return gini(score, value) / best


def ranking_metrics(score, value, share: float = 0.1, prefix: str = "") -> dict[str, float]:
    """How well ``score`` ranks customers by their actual holdout ``value``.

    ``top_capture`` (share of the actual value held by the top ``share`` by score),
    ``top_capture_oracle`` (the best possible, ranking by the value itself), ``top_lift``
    (``top_capture / share``), ``spearman`` (rank correlation), ``gini`` and
    ``normalized_gini``. Keys are prefixed with ``prefix``.

    Examples
    --------
    >>> m = ranking_metrics([5.0, 3.0, 3.0, 1.0, 0.0], [40.0, 0.0, 30.0, 20.0, 10.0], share=0.2, prefix="clv_")
    >>> {k: round(v, 4) for k, v in m.items()}
    {'clv_top_share': 0.2, 'clv_top_capture': 0.4, 'clv_top_capture_oracle': 0.4, 'clv_top_lift': 2.0,
     'clv_spearman': 0.5643, 'clv_gini': 0.22, 'clv_normalized_gini': 0.55}
    """
    s, v = _pair(score, value, "score", "value")
    capture = top_share_capture(s, v, share)
    out = {
        "top_share": float(share),
        "top_capture": capture,
        "top_capture_oracle": top_share_capture(v, v, share),
        "top_lift": capture / share if np.isfinite(capture) else math.nan,
        "spearman": _spearman(s, v),
        "gini": gini(s, v),
        "normalized_gini": normalized_gini(s, v),
    }
    return {f"{prefix}{k}": val for k, val in out.items()}


def frequency_labels(frequency, max_frequency: int) -> np.ndarray:
    """Bin labels '0', '1', ..., f'{max_frequency}+' for calibration frequencies.

    Examples
    --------
    >>> frequency_labels([0, 1, 3, 9], max_frequency=3).tolist()
    ['0', '1', '3+', '3+']
    """
    f = np.asarray(frequency, dtype=np.float64)
    capped = np.minimum(np.floor(f), max_frequency).astype(np.int64)
    labels = np.array([str(k) for k in range(max_frequency)] + [f"{max_frequency}+"], dtype=object)
    return labels[capped]


def _ordered_labels(max_frequency: int, start: int = 0) -> list[str]:
    return [str(k) for k in range(start, max_frequency)] + [f"{max_frequency}+"]


def conditional_expectations(frequency, predicted, actual, max_frequency: int = 7) -> pd.DataFrame:
    """Average holdout purchases by calibration frequency, actual vs predicted.

    The table of Fader, Hardie & Lee (2005), Figure 4 ("conditional expectations"): customers
    are grouped by calibration repeat purchases 0, 1, ..., ``max_frequency``+; columns
    ``n_customers``, ``actual`` and ``predicted`` (group means) and ``error`` (predicted -
    actual). Index ``frequency`` (string labels, in order).

    Examples
    --------
    >>> frequency = [0, 0, 1, 2, 5, 8]
    >>> predicted, actual = [0.2, 0.1, 0.8, 1.5, 3.9, 6.0], [0, 1, 1, 1, 4, 7]
    >>> conditional_expectations(frequency, predicted, actual, max_frequency=3)
               n_customers  actual  predicted  error
    frequency
    0                    2     0.5       0.15  -0.35
    1                    1     1.0       0.80  -0.20
    2                    1     1.0       1.50   0.50
    3+                   2     5.5       4.95  -0.55
    """
    p, a = _pair(predicted, actual)
    f = _as_float(frequency, "frequency")
    if f.shape != p.shape:
        raise DataValidationError(f"frequency has {f.size} values for {p.size} customers", column="frequency")
    labels = frequency_labels(f, max_frequency)
    order = _ordered_labels(max_frequency)
    frame = pd.DataFrame({"frequency": labels, "actual": a, "predicted": p})
    g = frame.groupby("frequency", sort=False)
    out = pd.DataFrame({"n_customers": g.size(), "actual": g["actual"].mean(), "predicted": g["predicted"].mean()})
    out = out.reindex(order)
    out["n_customers"] = out["n_customers"].fillna(0).astype(np.int64)
    out["error"] = out["predicted"] - out["actual"]
    out.index.name = "frequency"
    return out


def spend_calibration(predicted_spend, actual_spend, frequency, holdout_purchases, *, by: str = "frequency",
                      max_frequency: int = 7, n_groups: int = 10) -> pd.DataFrame:
    """Predicted vs actual mean spend per purchase in the holdout.

    Only customers with repeat purchases in the calibration period *and* purchases in the
    holdout are used (the Gamma-Gamma model's spend prediction is conditional on calibration
    repeat purchases; a mean holdout spend needs holdout purchases). ``by='frequency'`` groups
    by calibration frequency 1, ..., ``max_frequency``+; ``by='decile'`` (any ``n_groups``)
    by quantile groups of the predicted spend. Columns ``n_customers``, ``actual`` (mean of
    the customers' mean holdout spend), ``predicted`` (mean predicted spend), ``error``.

    Examples
    --------
    The third customer has no calibration repeat purchase and is left out:

    >>> spend_calibration(predicted_spend=[20.0, 30.0, 25.0, 40.0], actual_spend=[22.0, 27.0, 0.0, 45.0],
    ...                   frequency=[1, 2, 0, 4], holdout_purchases=[2, 1, 0, 3], max_frequency=3)
           n_customers  actual  predicted  error
    group
    1                1    22.0       20.0   -2.0
    2                1    27.0       30.0    3.0
    3+               1    45.0       40.0   -5.0
    """
    p, a = _pair(predicted_spend, actual_spend, "predicted_spend", "actual_spend")
    f = _as_float(frequency, "frequency")
    h = _as_float(holdout_purchases, "holdout_purchases")
    keep = (f > 0) & (h > 0)
    if not keep.any():
        return pd.DataFrame(columns=["n_customers", "actual", "predicted", "error"],
                            index=pd.Index([], name="group"))
    p, a, f = p[keep], a[keep], f[keep]
    if by == "frequency":
        labels = frequency_labels(f, max_frequency)
        order = _ordered_labels(max_frequency, start=1)
    elif by == "decile":
        ranks = stats.rankdata(p, method="average") / p.size
        grp = np.minimum(np.ceil(ranks * n_groups).astype(np.int64), n_groups)
        grp = np.maximum(grp, 1)
        labels = np.array([f"Q{g}" for g in grp], dtype=object)
        order = [f"Q{g}" for g in range(1, n_groups + 1)]
    else:
        raise DataValidationError(f"by must be 'frequency' or 'decile', got {by!r}", column="by")
    frame = pd.DataFrame({"group": labels, "actual": a, "predicted": p})
    g = frame.groupby("group", sort=False)
    out = pd.DataFrame({"n_customers": g.size(), "actual": g["actual"].mean(), "predicted": g["predicted"].mean()})
    out = out.reindex(order)
    out["n_customers"] = out["n_customers"].fillna(0).astype(np.int64)
    out["error"] = out["predicted"] - out["actual"]
    out.index.name = "group"
    return out
