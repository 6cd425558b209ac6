"""``compare_models``: fit several models on the same calibration data, rank them and say how sure the choice is.

Three ways to judge the models (``criterion``):

``"holdout"``
    Score each model on the holdout of a calibration / holdout summary. The recommendation is
    the probabilistic model with the best *mean rank* over a few holdout criteria that matter to
    users (default: absolute aggregate error, per-customer MAE, per-customer correlation and the
    top-decile capture of holdout revenue).
``"time_split"``
    For users without a holdout: rebuild a calibration / holdout split *inside* the calibration
    period from the transaction log (the first part to fit, the rest to score), refit every model
    on the first part and rank them as above on the rest.
``"bic"`` / ``"aic"``
    No scoring period at all: the Bayesian (Schwarz 1978) or Akaike (1974) information criterion
    of each model's calibration log-likelihood, ``BIC = k ln(n) - 2 LL`` and ``AIC = 2 k - 2 LL``
    with ``k`` parameters (the (M)BG/CNBD-k's k counts as one more when the fit chose it) and ``n``
    customers. Needs models with a per-customer ``log_likelihood(summary)`` (every maximum-likelihood
    model).

``"auto"`` (default) is ``"holdout"`` when the summary has holdout columns, else ``"bic"``.

*Is the winner clearly better?* A metric on one sample of customers is itself noisy. A paired
bootstrap over customers (:mod:`clvmodels.evaluate.bootstrap`) recomputes every metric and the
difference between each model and the recommended one on the same resamples. On one criterion,
a model is *clearly better* when the whole interval of the difference lies beyond the smallest
difference that counts (``min_difference``: by default 1% of the MAE / RMSE, 1 point of an error
percentage, 0.01 of a correlation or capture; 2 for BIC / AIC). Against each other probabilistic
model the recommended one is then

* *clearly better* when it is clearly better on at least one criterion and the other model on none;
* *not distinguishable* when neither is clearly better on any criterion: the difference is
  resampling noise, or too small to count;
* a *trade-off* when the other model is clearly better on some criterion.

The recommendation is *clear* when it is clearly better than every other probabilistic model.
The intervals measure the noise of the scored customers for these fitted models (the models are
not refitted per resample, and what the period itself did - a season, a promotion - is shared by
all resamples), one criterion at a time. The share of resamples in which the recommended model
ranks first is reported too.

The machine-learning baseline is ranked in the same table but is not recommended (it gives no
P(alive), no horizon beyond the holdout and no intervals); the reason text says where it does
better.
"""

from __future__ import annotations

import json
import math
import textwrap
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
from ..data.rfm import calibration_holdout
from ..data.summary import RFMSummary
from ..errors import CLVError, CLVWarning, ConfigError, DataDroppedWarning, NotFittedError
from ..protocols import require_purchase_model, require_spend_model
from .baseline import GradientBoostingBaseline
from .bootstrap import BOOTSTRAP_METRICS, PairedBootstrap, loglik_bootstrap, paired_bootstrap
from .evaluation import METRIC_DESCRIPTIONS, HoldoutEvaluation, _clean, evaluate

__all__ = ["CRITERIA", "DEFAULT_CRITERIA", "ModelComparison", "Recommendation", "compare_models"]

FORMAT = "clvmodels.comparison/1"

#: (metric, direction): "abs" = smaller absolute value is better, "min" smaller, "max" larger
DEFAULT_CRITERIA: tuple[tuple[str, str], ...] = (
    ("aggregate_error_pct", "abs"),
    ("mae", "min"),
    ("correlation", "max"),
    ("revenue_top_capture", "max"),
)

#: the values of ``compare_models(criterion=...)``
CRITERIA: tuple[str, ...] = ("auto", "holdout", "time_split", "bic", "aic")

#: what a recommended model is, against one other probabilistic model
CLEAR, NOISE, TRADE_OFF, NOT_ASSESSED = "clearly better", "not distinguishable", "trade-off", "not assessed"

HOLDOUT_COLUMNS = ("frequency_holdout", "duration_holdout")

_LABELS = {"aggregate_error_pct": "aggregate error", "mae": "MAE", "correlation": "correlation",
           "revenue_top_capture": "top-decile revenue capture", "purchases_top_capture": "top-decile purchase capture",
           "rmse": "RMSE", "revenue_spearman": "Spearman (revenue)", "revenue_normalized_gini": "normalized Gini",
           "bic": "BIC", "aic": "AIC", "loglik": "log-likelihood", "revenue_mae": "revenue MAE",
           "revenue_error_pct": "revenue error", "revenue_correlation": "revenue correlation"}


def _fmt(metric: str, value: float, diff: bool = False) -> str:
    """A value of ``metric`` for the reason text; with ``diff``, a signed difference (percentages and
    shares in points)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    sign, unit = ("+", " points") if diff else ("", "%")
    if metric.endswith("_pct"):
        return f"{value:+.1f}{unit}"
    if "capture" in metric:
        return f"{100 * value:{sign}.1f}{unit}"
    if metric in ("bic", "aic", "loglik"):
        return f"{value:{sign}.1f}"
    return f"{value:{sign}.3f}"


def _fmt_bounds(metric: str, lo: float, hi: float) -> str:
    if "capture" in metric:
        lo, hi = 100 * lo, 100 * hi
    digits = 1 if metric.endswith("_pct") or "capture" in metric or metric in ("bic", "aic", "loglik") else 3
    return f"{lo:.{digits}f} to {hi:.{digits}f}"


@dataclass(frozen=True)
class Recommendation:
    """The recommended model and how sure the choice is.

    Attributes
    ----------
    model : name of the recommended (probabilistic) model
    criterion : what it was judged on: ``"holdout"``, ``"time_split"``, ``"bic"`` or ``"aic"``
    clear : True when it is clearly better than every other probabilistic model (see
        :mod:`clvmodels.evaluate.compare`); False when some difference is within resampling noise,
        when another model is better on some criterion, or when nothing was resampled (``n_boot=0``)
    reason : the statement, in one paragraph (also ``ModelComparison.reason``)
    versus : other probabilistic model -> ``"clearly better"``, ``"not distinguishable"``,
        ``"trade-off"`` or ``"not assessed"``
    support : share of the bootstrap resamples in which the model ranks first (ties included), or
        None without resamples
    interval : central probability of the intervals (e.g. 0.95)
    n_boot : number of bootstrap resamples (0: none)

    Examples
    --------
    >>> rec = Recommendation("BG/NBD", "bic", True, "BG/NBD has the lowest BIC ...", {"Pareto/NBD": "clearly better"},
    ...                      support=0.99, interval=0.95, n_boot=1000)
    >>> rec.clear, rec.versus["Pareto/NBD"]
    (True, 'clearly better')
    >>> rec.to_dict()["criterion"]
    'bic'
    """

    model: str
    criterion: str
    clear: bool
    reason: str
    versus: dict[str, str] = field(default_factory=dict)
    support: float | None = None
    interval: float = 0.95
    n_boot: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _clean({"model": self.model, "criterion": self.criterion, "clear": self.clear, "reason": self.reason,
                       "versus": dict(self.versus), "support": self.support, "interval": self.interval,
                       "n_boot": self.n_boot})


@dataclass
class ModelComparison:
    """Result of :func:`compare_models`.

    Attributes
    ----------
    table : one row per model (index ``model``: its name), columns ``kind``, the criteria,
        ``mean_rank``, the other metrics of :func:`evaluate`, ``fit_seconds``, the ranks
        (``rank_<metric>``) and, for models with a per-customer log-likelihood, ``loglik``,
        ``n_params``, ``aic`` and ``bic`` on the calibration data; sorted by the criterion
        (``mean_rank`` then ``mae``; or ``bic`` / ``aic``). Without a scored period (``criterion="bic"``
        on a summary without holdout columns) only ``kind``, ``fit_seconds`` and the information criteria.
    recommended : name of the recommended (probabilistic) model
    reason : why, and how sure, in one paragraph (``recommendation.reason``)
    evaluations : name -> :class:`HoldoutEvaluation` on the scored period (the holdout, or the
        time split's second part)
    models : name -> fitted purchase model (fitted on ``summary``; baseline: the baseline estimator)
    spend_model : the fitted spend model shared by all purchase models (or None)
    criteria : the (metric, direction) pairs used for ranking
    notes : anything skipped or worth knowing
    recommendation : the :class:`Recommendation` (``.clear``, ``.reason``, ``.versus``, ``.support``)
    intervals : tidy table of the paired bootstrap (or None with ``n_boot=0``): ``split``
        (``"holdout"``, ``"time_split"`` or ``"calibration"`` for the information criteria),
        ``metric``, ``model``, ``value``, ``lower``, ``upper``, ``diff``, ``diff_lower``,
        ``diff_upper`` (the difference to the recommended model; for signed errors the difference
        of absolute values) and ``direction``
    criterion : the criterion used (``"auto"`` resolved)
    time_split : ``criterion="time_split"`` only: ``calibration_end`` / ``observation_end`` (ISO
        dates) of the split inside the calibration period and its number of ``customers``; else None

    Examples
    --------
    >>> import json, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> models = {"BG/NBD": clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W"),
    ...           "Pareto/NBD": clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669,
    ...                                                   time_unit="W")}
    >>> cmp = clv.compare_models(cal, models, spend_model=None)    # no spend model: ranked on purchases
    >>> list(cmp.table.index), cmp.spend_model, cmp.criterion
    (['Pareto/NBD', 'BG/NBD'], None, 'holdout')
    >>> [metric for metric, direction in cmp.criteria]
    ['aggregate_error_pct', 'mae', 'correlation', 'purchases_top_capture']
    >>> round(cmp.evaluations["BG/NBD"].metrics["mae"], 3), cmp.models["BG/NBD"] is models["BG/NBD"]
    (0.786, True)
    >>> print(cmp.notes[1])
    no transaction log given: the machine-learning baseline (temporal strategy) was skipped; pass
    transactions=... or baseline=GradientBoostingBaseline(strategy='crossfit').
    >>> cmp.recommendation.clear, cmp.recommendation.versus
    (True, {'BG/NBD': 'clearly better'})
    >>> json.loads(cmp.to_json())["recommendation"]["model"]
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
    recommendation: Recommendation | None = None
    intervals: pd.DataFrame | None = None
    criterion: str = "holdout"
    time_split: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the table, the recommendation, the intervals, the evaluations, the notes.

        Examples
        --------
        >>> import clvmodels as clv
        >>> cmp = clv.compare_models(clv.datasets.cdnow_summary(), {"BG/NBD": clv.BGNBD()}, n_boot=0)
        >>> doc = cmp.to_dict()
        >>> doc["format"], doc["criterion"], doc["recommended"], doc["intervals"]
        ('clvmodels.comparison/1', 'bic', 'BG/NBD', None)
        """
        intervals = None
        if self.intervals is not None:
            intervals = _clean(self.intervals.to_dict(orient="records"))
        return {
            "format": FORMAT,
            "criterion": self.criterion,
            "recommended": self.recommended,
            "reason": self.reason,
            "recommendation": None if self.recommendation is None else self.recommendation.to_dict(),
            "criteria": [list(c) for c in self.criteria],
            "table": _clean(self.table.reset_index().rename(columns={"index": "model"}).to_dict(orient="records")),
            "intervals": intervals,
            "time_split": None if self.time_split is None else dict(self.time_split),
            "evaluations": {k: v.to_dict() for k, v in self.evaluations.items()},
            "notes": list(self.notes),
        }

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON text; also written to ``path`` when given.

        Examples
        --------
        >>> import json, clvmodels as clv
        >>> cmp = clv.compare_models(clv.datasets.cdnow_summary(), {"BG/NBD": clv.BGNBD()}, n_boot=0)
        >>> json.loads(cmp.to_json())["recommendation"]["clear"]
        True
        """
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def summary(self, width: int = 110) -> str:
        """The comparison as text: the table, the intervals of the deciding criteria, the
        recommendation with its statement, and the notes (what ``print(comparison)`` shows).

        Examples
        --------
        >>> import clvmodels as clv
        >>> models = {"BG/NBD": clv.BGNBD(), "Pareto/NBD": clv.ParetoNBD()}
        >>> cmp = clv.compare_models(clv.datasets.cdnow_summary(), models, n_boot=200)
        >>> text = cmp.summary()
        >>> text.splitlines()[0]
        'Model comparison - criterion: bic'
        >>> "Recommendation: BG/NBD" in text
        True
        """
        lines = [f"Model comparison - criterion: {self.criterion}", ""]
        lead = [c for c in ["kind"] + [m for m, _ in self.criteria] + ["mean_rank", "bic", "aic"]
                if c in self.table.columns]
        with pd.option_context("display.width", width, "display.max_columns", 20):
            lines.append(self.table[lead].round(3).to_string())
            if self.intervals is not None and len(self.intervals):
                keys = {"bic", "aic"} if self.criterion in ("bic", "aic") else {m for m, _ in self.criteria}
                shown = self.intervals[self.intervals["metric"].isin(keys)]
                if len(shown):
                    rec = self.recommendation
                    lines += ["", (f"Paired bootstrap ({rec.n_boot} resamples of the customers), "
                                   f"{100 * rec.interval:g}% intervals; diff = model - {self.recommended}:")]
                    cols = ["split", "metric", "model", "value", "lower", "upper", "diff", "diff_lower", "diff_upper"]
                    lines.append(shown[cols].round(4).to_string(index=False))
        rec = self.recommendation
        if rec is not None:
            verdict = "clear" if rec.clear else "not clear"
            lines += ["", f"Recommendation: {rec.model} ({verdict})"]
        lines += textwrap.wrap(self.reason, width=width)
        if self.notes:
            lines += ["", "Notes:"]
            for note in self.notes:
                lines += textwrap.wrap(note, width=width, initial_indent="- ", subsequent_indent="  ")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        clear = None if self.recommendation is None else self.recommendation.clear
        return (f"ModelComparison(recommended={self.recommended!r}, clear={clear}, criterion={self.criterion!r}, "
                f"models={list(self.table.index)})")


def _fitted(model, summary, require=require_purchase_model):
    """``model`` itself when it is fitted (``check_fitted`` passes), else a fitted clone; either way
    checked against the model protocol (a :class:`ConfigError` names what is missing)."""
    try:
        model.check_fitted()
    except (NotFittedError, AttributeError):
        model = clone(model).fit(summary)
    return require(model)


def _default_models(bayes: bool | Mapping, summary, notes: list[str]) -> dict[str, Any]:
    """The registry's comparison models (MLE; with ``bayes``, their Bayesian variants too). A model
    whose fit needs a summary option the summary was built without (the (M)BG/CNBD-k's ``litt``) is
    left out, and the notes say how to include it."""
    options = getattr(summary, "options", None)

    def has(option: str) -> bool:
        return option in summary.columns or getattr(options, option, False) is True

    out, lacking = {}, {}
    for key in registry.keys("purchase"):
        spec = registry.get(key)
        if not spec.compare:
            continue
        missing = [o for o in spec.summary_options if not has(o)]
        if missing:
            lacking.setdefault(", ".join(f"{o}=True" for o in missing), []).append(spec.label)
            continue
        out[spec.label] = registry.build(key)
    for option, labels in lacking.items():
        notes.append(f"{' and '.join(labels)} left out: {'they need' if len(labels) > 1 else 'it needs'} a summary "
                     f"built with {option} (clv.calibration_holdout(..., {option}) or clv.rfm_summary(..., {option})).")
    if bayes:
        kwargs = dict(bayes) if isinstance(bayes, Mapping) else {}
        kwargs.setdefault("progressbar", False)
        method = kwargs.pop("sampler", "nuts")
        for key in registry.keys("purchase"):
            spec = registry.get(key)
            if spec.compare and spec.bayes is not None and spec.label in out:
                out[f"{spec.label} (Bayes)"] = registry.build(key, method, **kwargs)
    return out


#: relative difference below which two values of a criterion tie (floating-point noise of equal models)
_TIE = 1e-9


def _rank(table: pd.DataFrame, criteria) -> pd.DataFrame:
    """Rank the probabilistic models among themselves on each criterion (1 = best, ties share
    the better rank; values within rounding of each other tie, as do a model and its special case,
    e.g. the BG/CNBD-k at k = 1 and the BG/NBD); a baseline row gets the rank it would take among them."""
    used = []
    prob = (table["kind"] == "probabilistic").to_numpy()
    for metric, direction in criteria:
        if metric not in table.columns or table[metric].isna().all():
            continue
        key = _key(table[metric].astype(float).to_numpy(), direction)
        ref = key[prob]
        table[f"rank_{metric}"] = [1.0 + float(np.sum(ref < k - _TIE * abs(k))) if np.isfinite(k)
                                   else 1.0 + float(np.sum(np.isfinite(ref))) for k in key]
        used.append(metric)
    if not used:
        raise ConfigError("none of the ranking criteria could be computed", key="criteria")
    table["mean_rank"] = table[[f"rank_{m}" for m in used]].mean(axis=1)
    return table


def _key(values: np.ndarray, direction: str) -> np.ndarray:
    """Smaller is better: |x| for "abs", x for "min", -x for "max"; NaN -> inf."""
    if direction == "abs":
        key = np.abs(values)
    elif direction == "min":
        key = np.asarray(values, dtype=np.float64)
    elif direction == "max":
        key = -np.asarray(values, dtype=np.float64)
    else:
        raise ConfigError(f"criterion direction must be 'abs', 'min' or 'max', got {direction!r}", key="criteria")
    return np.where(np.isnan(key), np.inf, key)


def _reason(table: pd.DataFrame, best: str, criteria, baseline_names: list[str], where: str = "holdout") -> str:
    used = [(m, d) for m, d in criteria if f"rank_{m}" in table.columns]
    row = table.loc[best]
    parts = [f"{_LABELS.get(m, m)} {_fmt(m, row[m])}" for m, _ in used]
    text = (f"{best} has the best mean rank ({row['mean_rank']:.2f}) over {len(used)} {where} criteria among the "
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


# ---- how sure: the paired bootstrap's verdicts ---------------------------------------------------
#: BIC / AIC differences below this count as none: "not worth more than a bare mention" (Kass & Raftery
#: 1995, section 3.2); models within 2 AIC have substantial support (Burnham & Anderson 2002, section 2.6)
IC_MARGIN = 2.0


def _margin(metric: str, reference_value: float, min_difference: float) -> float:
    """The smallest difference of ``metric`` that counts (see ``compare_models(min_difference=...)``)."""
    if metric in ("bic", "aic", "loglik"):
        return IC_MARGIN
    if metric.endswith("_pct"):
        return 100.0 * min_difference
    if "correlation" in metric or "capture" in metric:
        return min_difference
    return min_difference * abs(reference_value) if np.isfinite(reference_value) else 0.0


def _evidence(boot: PairedBootstrap, metric: str, direction: str, other: str, best: str, min_difference: float):
    """(metric, diff, lower, upper, side, margin) of ``other - best`` on ``metric``: side +1 when the
    whole interval favours ``best`` by more than the margin, -1 when it favours ``other`` so, else 0."""
    diff, _ = boot.difference(metric, other, best, direction=direction)
    lo, hi = boot.interval_of(metric, other, best, direction=direction)
    margin = _margin(metric, boot.value(metric, best), min_difference)
    sign = -1.0 if direction == "max" else 1.0      # a positive signed difference favours best
    side = 0
    if np.isfinite(lo) and np.isfinite(hi):
        if min(sign * lo, sign * hi) > margin:
            side = 1
        elif max(sign * lo, sign * hi) < -margin:
            side = -1
    return metric, diff, lo, hi, side, margin


def _verdicts(boot: PairedBootstrap | None, best: str, others: list[str], used,
              min_difference: float) -> dict[str, tuple[str, list]]:
    """other -> (verdict, [evidence per criterion, see :func:`_evidence`])."""
    out = {}
    for other in others:
        if boot is None or not used:
            out[other] = (NOT_ASSESSED, [])
            continue
        ev = [_evidence(boot, m, d, other, best, min_difference) for m, d in used]
        sides = {e[4] for e in ev}
        verdict = TRADE_OFF if -1 in sides else (CLEAR if 1 in sides else NOISE)
        out[other] = (verdict, ev)
    return out


def _support(boot: PairedBootstrap, best: str, prob: list[str], used) -> float | None:
    """Share of the resamples in which ``best`` has the best mean rank among ``prob`` on ``used``."""
    if boot is None or not used or len(prob) < 2:
        return None
    cols = [boot.models.index(m) for m in prob]
    ranks = []
    for metric, direction in used:
        key = _key(boot.replicates[:, boot.metrics.index(metric), :][:, cols], direction)    # (B, models)
        # values within rounding of each other tie (a model given twice may differ in the last digits)
        tol = 1e-9 * np.where(np.isfinite(key), np.abs(key), 0.0)
        ranks.append(1.0 + (key[:, None, :] < key[:, :, None] - tol[:, :, None]).sum(axis=2))
    mean_rank = np.mean(ranks, axis=0)
    j = prob.index(best)
    return float(np.mean(mean_rank[:, j] <= mean_rank.min(axis=1)))


def _phrase(evidence, pct: float) -> str:
    metric, diff, lo, hi = evidence[:4]
    bounds = _fmt_bounds(metric, lo, hi)
    return f"{_LABELS.get(metric, metric)} ({_fmt(metric, diff, diff=True)}, {pct:g}% interval {bounds})"


def _statement(best: str, verdicts: dict[str, tuple[str, list]], boot: PairedBootstrap | None, where: str,
               support: float | None, unassessed: str = "") -> tuple[bool, str]:
    """(clear, the sentences saying how sure the choice of ``best`` is); ``unassessed``: why the
    resamples could not be used when they were drawn."""
    if not verdicts:
        return True, f"{best} is the only probabilistic model ranked."
    if boot is None or all(v == NOT_ASSESSED for v, _ in verdicts.values()):
        why = unassessed or "n_boot=0"
        return False, (f"How sure the choice is was not assessed ({why}): the recommendation is not called clear"
                       + ("; pass n_boot=1000 for intervals." if why == "n_boot=0" else "."))
    pct = 100 * boot.interval
    head = (f"Paired bootstrap over the {boot.n_customers:,} customers ({boot.n_boot} resamples, {pct:g}% "
            f"intervals, differences other model - {best}): ")
    parts = []
    for other, (verdict, ev) in verdicts.items():
        if verdict == CLEAR:
            wins = [_phrase(e, pct) for e in ev if e[4] == 1]
            parts.append(f"{best} is clearly better than {other} on {', '.join(wins)}")
        elif verdict == TRADE_OFF:
            losses = [_phrase(e, pct) for e in ev if e[4] == -1]
            parts.append(f"{other} is clearly better on {', '.join(losses)}")
        else:
            shown = next((e for e in ev if e[0] in ("mae", "bic", "aic")), ev[0])
            lo, hi, margin = shown[2], shown[3], shown[5]
            if not (np.isfinite(lo) and np.isfinite(hi)):
                why = "undefined on the resamples"
            elif lo <= 0 <= hi:
                why = "within resampling noise"
            else:
                why = (f"not clearly larger than the smallest difference that counts "
                       f"({_fmt(shown[0], margin, diff=True).lstrip('+')})")
            parts.append(f"the difference to {other} in {_phrase(shown, pct)} is {why}"
                         + ("" if len(ev) == 1 else ", and no criterion tells them apart"))
    clear = all(v == CLEAR for v, _ in verdicts.values())
    text = head + "; ".join(parts) + ". "
    kinds = {v for v, _ in verdicts.values()}
    if clear:
        text += f"The recommendation is clear on this {where}."
    elif TRADE_OFF in kinds:
        text += (f"No model is better on every criterion on this {where}: the recommendation is not clear; choose by "
                 "the criterion that matters most to you.")
    else:
        names = [best] + [o for o, (v, _) in verdicts.items() if v == NOISE]
        text += (f"{', '.join(names[:-1])} and {names[-1]} are not distinguishable on this {where}: the "
                 "recommendation is not clear; prefer the simpler or better-understood model, or gather more data.")
    if support is not None:
        text += f" {best} ranks first in {100 * support:.0f}% of the resamples."
    return clear, text


def _note_undefined(boot: PairedBootstrap, split: str, notes: list[str]) -> None:
    """A note for each metric and model defined on the full sample but not on some resamples (e.g. a
    correlation of a resample in which every outcome is the same): its interval uses the others."""
    defined = np.isfinite(boot.values)                       # (metrics, models)
    missing = (~np.isfinite(boot.replicates)).sum(axis=0)    # (metrics, models)
    for i, j in zip(*np.nonzero(defined & (missing > 0))):
        notes.append(f"{split}: {boot.metrics[i]} of {boot.models[j]} is undefined in {int(missing[i, j])} of "
                     f"{boot.n_boot} resamples; its interval uses the others.")


def _note_missing_intervals(iv: pd.DataFrame, best: str, notes: list[str]) -> None:
    """Say why an interval or a difference is NaN (a metric undefined in every resample, or undefined
    for the recommended model), with a :class:`CLVWarning`."""
    for (split, metric), group in iv.groupby(["split", "metric"], sort=False):
        no_interval = group.loc[group[["lower", "upper"]].isna().any(axis=1), "model"].tolist()
        no_diff = group.loc[group[["diff", "diff_lower", "diff_upper"]].isna().any(axis=1), "model"].tolist()
        if not no_interval and not no_diff:
            continue
        parts = []
        if no_interval:
            parts.append(f"no interval for {', '.join(map(str, no_interval))} (undefined in every resample)")
        if no_diff:
            parts.append(f"no difference to {best} for {', '.join(map(str, no_diff))} (undefined for one of them)")
        text = f"{split}: {metric}: " + "; ".join(parts) + "; those cells of .intervals are NaN."
        notes.append(text)
        warnings.warn(f"compare_models: {text}", CLVWarning, stacklevel=4)


# ---- the time split --------------------------------------------------------------------------------
def _time_split_summary(summary, transactions, split_at) -> RFMSummary:
    """A calibration / holdout summary inside the calibration period of ``summary``, rebuilt from
    ``transactions`` with the summary's own options, for the customers of ``summary``."""
    if transactions is None:
        raise ConfigError("criterion='time_split' needs transactions=...: the transaction log the summary was built "
                          "from (the split inside the calibration period is rebuilt from it)", key="transactions")
    if not isinstance(summary, RFMSummary) or summary.options is None:
        raise ConfigError("criterion='time_split' needs the summary built by clv.rfm_summary(...) or "
                          "clv.calibration_holdout(...): it reads the log with the summary's options and dates",
                          key="criterion")
    end = summary.calibration_end if summary.calibration_end is not None else summary.observation_end
    if end is None:
        raise ConfigError("criterion='time_split': the summary does not know where its calibration period ends "
                          "(build it with observation_end=...)", key="criterion")
    if isinstance(split_at, (int, float, np.floating)) and not isinstance(split_at, bool):
        if not 0.0 < float(split_at) < 1.0:
            raise ConfigError(f"split_at={split_at!r}: a fraction of the calibration period must be in (0, 1), or "
                              "give a date", key="split_at")
        cut: Any = float(split_at) * float(summary["T"].max())   # periods after the first transaction day
    else:
        cut = split_at
    options = {**summary.options.as_dict(), "after_observation_end": "exclude"}
    with warnings.catch_warnings():
        # the transactions after the calibration period are left out on purpose
        warnings.filterwarnings("ignore", message=r".*after observation_end excluded", category=DataDroppedWarning)
        inner = calibration_holdout(transactions, calibration_end=cut, observation_end=end, **options)
    inner = inner[inner.index.isin(summary.index)]
    if len(inner) == 0:
        raise ConfigError(f"criterion='time_split': no customer of the summary made a first purchase before "
                          f"split_at={split_at!r}", key="split_at")
    return inner


# ---- scoring on a split -----------------------------------------------------------------------------
def _score(split, purchase: Mapping[str, Any], spend, base, transactions, tracking: bool, common, notes):
    """Evaluate fitted purchase models (and the baseline) on the holdout of ``split``:
    (rows, evaluations, baseline names). A model that cannot be scored (e.g. its predictions are NaN
    for some customers) is left out with a note and a :class:`CLVWarning`; when no model can be
    scored, the first model's error is raised."""
    evaluations: dict[str, HoldoutEvaluation] = {}
    rows: dict[str, dict[str, Any]] = {}
    first_error: CLVError | None = None
    for label, model in purchase.items():
        try:
            ev = evaluate(split, model, spend, transactions=transactions if tracking else None, name=label, **common)
        except CLVError as exc:
            first_error = first_error or exc
            notes.append(f"{label}: not scored ({exc}); left out of the comparison.")
            warnings.warn(f"compare_models: {label} could not be scored: {exc}", CLVWarning, stacklevel=3)
            continue
        evaluations[label] = ev
        rows[label] = {"kind": "probabilistic", **ev.metrics}
    if not evaluations:
        raise first_error
    names: list[str] = []
    if base is not None:
        label = f"Gradient boosting ({base.strategy})"
        t0 = time.perf_counter()
        preds = base.fit_predict(split, transactions)
        fit_s = time.perf_counter() - t0
        ev = evaluate(split, predictions=preds, name=label, top_share=common["top_share"],
                      max_frequency=common["max_frequency"])
        evaluations[label] = ev
        rows[label] = {"kind": "baseline", **ev.metrics, "fit_seconds": fit_s}
        names.append(label)
        if base.strategy == "crossfit":
            notes.append(f"{label} uses other customers' holdout outcomes (cross-fitting): an optimistic reference.")
    return rows, evaluations, names


def _fit_all(models: Mapping[str, Any], summary, notes, *, refit: bool, what: str):
    """name -> (fitted model, seconds); failures become notes and warnings."""
    out = {}
    for label, est in models.items():
        t0 = time.perf_counter()
        try:
            model = require_purchase_model(clone(est).fit(summary)) if refit else _fitted(est, summary)
        except CLVError as exc:
            notes.append(f"{label}: not fitted{what} ({exc}); left out of the comparison.")
            warnings.warn(f"compare_models: {label} could not be fitted{what}: {exc}", CLVWarning, stacklevel=3)
            continue
        out[label] = (model, time.perf_counter() - t0)
        if getattr(model, "converged_", True) is False:
            boundary = list((getattr(model, "fit_info_", None) or {}).get("boundary") or [])
            notes.append(f"{label}: the fit{what} did not converge"
                         + (f" (no finite maximum-likelihood estimate: {', '.join(boundary)} ran to the edge; it is "
                            "scored as the limiting model)" if boundary else "")
                         + "; its standard errors are not usable.")
    return out


def _spend(spend_model, summary, has_money: bool, refit: bool = False):
    if isinstance(spend_model, str):
        if spend_model != "auto":
            raise ConfigError(f"spend_model must be 'auto', None or an estimator, got {spend_model!r}",
                              key="spend_model")
        return registry.build("gammagamma").fit(summary) if has_money else None
    if spend_model is None:
        return None
    if refit:
        return require_spend_model(clone(spend_model).fit(summary))
    return _fitted(spend_model, summary, require_spend_model)


def _information(fitted: Mapping[str, Any], summary, notes, needed: bool):
    """name -> (per-customer log-likelihood, number of parameters) for the models that have one."""
    out = {}
    columns = None
    for label, model in fitted.items():
        fn = getattr(model, "log_likelihood", None)
        if not callable(fn):
            if needed:
                notes.append(f"{label}: no per-customer log_likelihood(summary); left out of the information "
                             "criteria.")
            continue
        if columns is None:
            columns = tuple(model.input_columns)
        elif tuple(model.input_columns) != columns:
            if needed:
                notes.append(f"{label}: its likelihood is of other data ({', '.join(model.input_columns)}); left "
                             "out of the information criteria.")
            continue
        # a failure or a non-finite value is said whether or not the criterion needs it: the table's
        # loglik / aic / bic cells of the model stay empty
        try:
            ll = pd.Series(fn(summary)).reindex(summary.index).to_numpy(dtype=np.float64)
        except CLVError as exc:      # e.g. the (M)BG/CNBD-k on a summary without litt
            notes.append(f"{label}: no log-likelihood on this summary ({exc}); left out of the information "
                         "criteria.")
            continue
        if not np.all(np.isfinite(ll)):
            notes.append(f"{label}: its log-likelihood is not finite for every customer; left out of the "
                         "information criteria.")
            continue
        n_params = len(model.param_names)
        if len((getattr(model, "fit_info_", None) or {}).get("k_search") or []) > 1:
            n_params += 1     # the (M)BG/CNBD-k's k, chosen by likelihood: one more estimated parameter
        out[label] = (ll, n_params)
    return out


def _check_criteria(criteria) -> tuple[tuple[str, str], ...]:
    """``criteria`` as a tuple of (metric, direction) pairs; a :class:`ConfigError` names what is wrong
    (a metric :func:`evaluate` does not compute, a direction other than "abs" / "min" / "max")."""
    if isinstance(criteria, (str, bytes)) or not hasattr(criteria, "__iter__"):
        raise ConfigError(f"criteria must be a list of (metric, direction) pairs, got {criteria!r}", key="criteria")
    out = []
    for item in criteria:
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) != 2:
            raise ConfigError(f"criteria must be (metric, direction) pairs, e.g. ('mae', 'min'); got {item!r}",
                              key="criteria")
        metric, direction = item
        if metric not in METRIC_DESCRIPTIONS:
            raise ConfigError(f"criteria: {metric!r} is not a holdout metric; use one of "
                              f"{sorted(METRIC_DESCRIPTIONS)}", key="criteria")
        if direction not in ("abs", "min", "max"):
            raise ConfigError(f"criteria: the direction of {metric!r} must be 'abs', 'min' or 'max', got "
                              f"{direction!r}", key="criteria")
        out.append((str(metric), str(direction)))
    if not out:
        raise ConfigError("criteria is empty: give at least one (metric, direction) pair", key="criteria")
    return tuple(out)


def _check_bootstrap_settings(n_boot, interval, random_state, min_difference) -> None:
    """Typed errors for the bootstrap settings, before anything is fitted."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ConfigError(f"n_boot must be a whole number >= 0 (0: no bootstrap), got {n_boot!r}", key="n_boot")
    if n_boot:
        if isinstance(interval, bool) or not isinstance(interval, (int, float, np.floating)) \
                or not 0.0 < float(interval) < 1.0:
            raise ConfigError(f"interval must be in (0, 1), e.g. 0.95, got {interval!r}", key="interval")
        try:
            np.random.default_rng(random_state)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"random_state must be None, a whole number or a numpy Generator, got "
                              f"{random_state!r}", key="random_state") from exc
    if isinstance(min_difference, bool) or not isinstance(min_difference, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(min_difference) and min_difference >= 0):
        raise ConfigError(f"min_difference must be a number >= 0, got {min_difference!r}", key="min_difference")


def compare_models(summary: pd.DataFrame, models: Mapping[str, Any] | None = None, *,
                   transactions=None, spend_model="auto", baseline="auto", bayes=False,
                   criteria=DEFAULT_CRITERIA, top_share: float = 0.1, period: str | None = None,
                   max_frequency: int = 7, tracking: bool = True, max_draws: int = 200,
                   criterion: str = "auto", n_boot: int = 1000, interval: float = 0.95, random_state=0,
                   min_difference: float = 0.01, split_at: float | str | pd.Timestamp = 0.5) -> ModelComparison:
    """Fit purchase models on the calibration part of ``summary``, rank them and say how sure the choice is.

    Parameters
    ----------
    summary : calibration / holdout summary (:func:`clvmodels.calibration_holdout`), possibly
        with covariate columns for the models that use them; or, for ``criterion="bic"`` / ``"aic"``
        / ``"time_split"``, a plain summary (:func:`clvmodels.rfm_summary`).
    models : ``{name: estimator}``; unfitted estimators are cloned and fitted on ``summary``,
        fitted ones are used as they are. Any :class:`~clvmodels.protocols.PurchaseModel` works.
        Default: the registry's comparison models (:mod:`clvmodels.registry`: BG/NBD, MBG/NBD,
        Pareto/NBD, and BG/CNBD-k and MBG/CNBD-k when the summary was built with ``litt=True``, by
        maximum likelihood).
    bayes : with the default models, also fit their Bayesian variants; ``True`` or a dict of
        settings for them (e.g. ``{"draws": 500, "chains": 2}`` or ``{"sampler": "advi"}``).
    spend_model : ``"auto"`` (a Gamma-Gamma with its defaults when the summary has
        ``monetary_value``), None, or an estimator (fitted or not). One spend model serves every
        purchase model; its own rules apply (Gamma-Gamma's default ``nonpositive_spend="error"``
        names repeat buyers whose purchases were all free: pass
        ``spend_model=clv.GammaGamma(nonpositive_spend="zero")`` to score them).
    baseline : ``"auto"`` (the :class:`GradientBoostingBaseline` with the temporal strategy when
        ``transactions`` is given), True/False, or a configured baseline instance. It needs a
        scored period (a holdout or the time split).
    criteria : ``[(metric, "abs"|"min"|"max"), ...]`` ranked on the scored period; a missing revenue
        criterion falls back to ``purchases_top_capture``. A metric :func:`evaluate` does not compute
        or another direction is refused (:class:`ConfigError`, before anything is fitted), as are
        bad ``n_boot``, ``interval``, ``random_state`` and ``min_difference`` values. A model that
        cannot be fitted or scored (e.g. NaN predictions) is left out with a note and a
        :class:`CLVWarning`; a metric undefined for a model or on some resamples is named in the notes.
    criterion : how the models are judged (see :mod:`clvmodels.evaluate.compare`):
        ``"holdout"`` (the summary's holdout), ``"time_split"`` (refit on the first part of the
        calibration period and score on the rest; needs ``transactions``), ``"bic"`` or ``"aic"``
        (calibration log-likelihood and parameter count), or ``"auto"``: ``"holdout"`` when the
        summary has holdout columns, else ``"bic"`` (the result's notes say which).
    n_boot : paired bootstrap resamples of the customers for the intervals and the verdict
        (0: none; the recommendation is then not called clear).
    interval : central probability of the bootstrap intervals.
    random_state : seed (or numpy Generator) of the resamples; the default 0 gives the same answer
        on every run.
    min_difference : the smallest difference that counts as "better": relative to the recommended
        model's value for MAE / RMSE (0.01: 1%), in points for error percentages (0.01: 1 point) and
        as is for correlations and top-decile captures (0.01). A model is clearly better on a
        criterion when the whole interval of the difference lies beyond it; on a large holdout
        tiny but systematic differences are otherwise "significant". BIC / AIC differences below
        2 never count (Kass & Raftery 1995). 0: any difference beyond resampling noise counts.
    split_at : ``criterion="time_split"`` only: where the calibration period is cut, as a fraction
        of its length (the oldest customer's ``T``) from its first transaction day, or a date. Every
        model is refitted on the first part (fitted models too: they have seen the second part).
    transactions : the transaction log the summary was built from (DataFrame or path): enables the
        tracking metrics, the temporal baseline and the time split.
    tracking : compute the tracking metrics when ``transactions`` is given.
    Other parameters are passed to :func:`evaluate`.

    Returns
    -------
    :class:`ModelComparison` (``.table``, ``.recommended``, ``.reason``, ``.recommendation``
    with ``.clear``, ``.intervals``, ``.evaluations``, ``.to_json()``; ``print()`` shows a summary).

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
    Runner-up: BG/NBD (mean rank 2.00), not better on any criterion. Paired bootstrap over the 2,357
    customers (1000 resamples, 95% intervals, differences other model - Pareto/NBD): Pareto/NBD is
    clearly better than BG/NBD on MAE (+0.031, 95% interval 0.026 to 0.037). The recommendation is
    clear on this holdout. Pareto/NBD ranks first in 100% of the resamples.
    >>> cmp.recommendation.clear
    True

    The intervals, tidy; ``diff`` is the model's value minus the recommended model's:

    >>> iv = cmp.intervals.set_index(["metric", "model"])
    >>> iv.loc["mae", ["value", "lower", "upper", "diff", "diff_lower", "diff_upper"]].round(3)
                value  lower  upper   diff  diff_lower  diff_upper
    model
    Pareto/NBD  0.755  0.702  0.813  0.000       0.000       0.000
    BG/NBD      0.786  0.734  0.843  0.031       0.026       0.037

    Without a holdout, the models are ranked by BIC (FHL 2005: log-likelihoods -9582.4 and -9595.0,
    four parameters each). The difference is within resampling noise of the 2,357 customers:

    >>> rfm = clv.datasets.cdnow_summary()
    >>> by_bic = compare_models(rfm, models)
    >>> by_bic.criterion, by_bic.recommended, by_bic.table["bic"].round(1).tolist()
    ('bic', 'BG/NBD', [19195.9, 19221.0])
    >>> by_bic.recommendation.clear, by_bic.recommendation.versus
    (False, {'Pareto/NBD': 'not distinguishable'})
    """
    notes: list[str] = []
    if models is None:
        models = _default_models(bayes, summary, notes)
    elif bayes:
        notes.append("bayes=True is ignored when models are given: add Bayesian models to `models`.")
    if not models:
        raise ConfigError("no models to compare", key="models")
    if not isinstance(criterion, str) or criterion not in CRITERIA:
        raise ConfigError(f"criterion={criterion!r}; use one of {list(CRITERIA)}", key="criterion")
    criteria = _check_criteria(criteria)
    _check_bootstrap_settings(n_boot, interval, random_state, min_difference)
    has_holdout = all(c in summary.columns for c in HOLDOUT_COLUMNS)
    if criterion == "auto":
        criterion = "holdout" if has_holdout else "bic"
        notes.append("criterion='auto': the summary has holdout columns, so the models are ranked on the holdout."
                     if has_holdout else
                     "criterion='auto': the summary has no holdout columns, so the models are ranked by BIC on the "
                     "calibration data (criterion='time_split' with transactions=... scores them on a split inside "
                     "the calibration period instead).")
    elif criterion == "holdout" and not has_holdout:
        raise ConfigError("criterion='holdout' needs a calibration / holdout summary (clv.calibration_holdout(...)) "
                          "with frequency_holdout and duration_holdout; without a holdout use criterion='bic', "
                          "'aic' or 'time_split'", key="criterion")
    by_ic = criterion in ("bic", "aic")
    # revenue is scored when the scored period has amounts (the time split's has them when the log has)
    has_money = "monetary_value" in summary.columns
    if criterion == "time_split":
        options = getattr(summary, "options", None)
        has_money = has_money and (options is None or options.amount_col is not None)
    else:
        has_money = has_money and has_holdout and "monetary_value_holdout" in summary.columns
    if not has_money or spend_model is None:
        # without a spend model (or amounts) no model predicts revenue: rank by the purchases' capture
        criteria = tuple(("purchases_top_capture", d) if m == "revenue_top_capture" else (m, d) for m, d in criteria)

    spend = _spend(spend_model, summary, has_money)
    fits = _fit_all(models, summary, notes, refit=False, what="")
    fitted = {k: m for k, (m, _) in fits.items()}
    if not fitted:
        raise CLVError("no probabilistic model could be fitted; see the warnings")

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

    common = {"top_share": top_share, "max_frequency": max_frequency, "period": period, "max_draws": max_draws}
    rows: dict[str, dict[str, Any]] = {}
    evaluations: dict[str, HoldoutEvaluation] = {}
    baseline_names: list[str] = []
    split_name = split_facts = None
    if criterion == "time_split":
        split_name = "time_split"
        inner = _time_split_summary(summary, transactions, split_at)
        split_facts = {"calibration_end": inner.calibration_end.date().isoformat(),
                       "observation_end": inner.observation_end.date().isoformat(), "customers": len(inner)}
        what = " on the first part of the time split"
        inner_fits = _fit_all({k: models[k] for k in fitted}, inner, notes, refit=True, what=what)
        if not inner_fits:
            raise CLVError("no probabilistic model could be fitted on the first part of the time split")
        inner_spend = _spend(spend_model, inner, has_money, refit=True)
        rows, evaluations, baseline_names = _score(inner, {k: m for k, (m, _) in inner_fits.items()}, inner_spend,
                                                   base, transactions, tracking, common, notes)
        for label, (_, seconds) in inner_fits.items():
            if label in rows:
                rows[label]["fit_seconds"] = seconds
        # a model not fitted or not scored on the time split is not judged: left out (the notes say why)
        fitted = {k: m for k, m in fitted.items() if k in rows}
        notes.append(f"time split: the models were refitted on the {len(inner):,} customers acquired by "
                     f"{inner.calibration_end.date()} with their purchases up to then, and scored on their purchases "
                     f"after it, up to {inner.observation_end.date()}"
                     + ("; the summary's own holdout was not used." if has_holdout else "."))
    elif has_holdout:
        split_name = "holdout"
        rows, evaluations, baseline_names = _score(summary, fitted, spend, base, transactions, tracking, common, notes)
        fitted = {k: m for k, m in fitted.items() if k in rows}
        for label in fitted:
            rows[label]["fit_seconds"] = fits[label][1]
    else:
        rows = {label: {"kind": "probabilistic", "fit_seconds": seconds} for label, (_, seconds) in fits.items()}
        if base is not None:
            notes.append("no holdout and no time split: the machine-learning baseline was skipped.")

    info = _information(fitted, summary, notes, needed=by_ic)
    n_customers = len(summary)
    for label, (ll, k) in info.items():
        total = float(ll.sum())
        rows[label].update(loglik=total, n_params=k, aic=2.0 * k - 2.0 * total,
                           bic=k * math.log(n_customers) - 2.0 * total)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    if evaluations:
        table = _rank(table, criteria)
        for metric, _ in criteria:
            undefined = [str(n) for n in table.index if f"rank_{metric}" in table.columns
                         and not np.isfinite(table.loc[n, metric])]
            if undefined:
                notes.append(f"{metric} is undefined (NaN) for {', '.join(undefined)} (e.g. a correlation of "
                             "constant predictions): ranked last on it.")
    if by_ic:
        if not info:
            raise ConfigError(f"criterion={criterion!r} needs models with a per-customer log_likelihood(summary) "
                              "(every maximum-likelihood model has one); use criterion='holdout' or 'time_split'",
                              key="criterion")
        sort = [criterion] + (["mean_rank"] if "mean_rank" in table.columns else [])
        table = table.sort_values(sort, kind="stable", na_position="last")
    else:
        # ties of the mean rank: the lower MAE, then (equal within rounding) the model with fewer parameters
        mae = table["mae"].astype(float)
        order = pd.DataFrame({"mean_rank": table["mean_rank"], "mae": mae.round(int(-np.log10(_TIE))),
                              "n_params": table.get("n_params", pd.Series(np.nan, index=table.index))})
        table = table.loc[order.sort_values(["mean_rank", "mae", "n_params"], kind="stable",
                                            na_position="last").index]
    lead = ["kind"] + [m for m, _ in criteria if m in table.columns] + (["mean_rank"] if evaluations else [])
    table = table[lead + [c for c in table.columns if c not in lead]]
    table.index.name = "model"

    prob = [str(n) for n in table.index if table.loc[n, "kind"] == "probabilistic"
            and (not by_ic or n in info)]
    best = prob[0]
    others = prob[1:]

    intervals = []
    holdout_boot = ic_boot = None
    unassessed = ""        # why the verdict could not use the resamples (besides n_boot=0)
    if n_boot:
        if evaluations:
            holdout_boot = paired_bootstrap({k: ev.predictions for k, ev in evaluations.items()}, n_boot=n_boot,
                                            interval=interval, random_state=random_state, top_share=top_share)
            intervals.append(holdout_boot.table(reference=best).assign(split=split_name))
            _note_undefined(holdout_boot, split_name, notes)
        if by_ic:
            ic_boot = loglik_bootstrap({k: info[k][0] for k in prob}, {k: info[k][1] for k in prob}, n_boot=n_boot,
                                       interval=interval, random_state=random_state)
            intervals.append(ic_boot.table(reference=best).assign(split="calibration"))
    iv_table = None
    if intervals:
        iv_table = pd.concat(intervals, ignore_index=True)
        order = {name: i for i, name in enumerate(table.index)}
        iv_table = iv_table.assign(_order=iv_table["model"].map(order))
        iv_table = iv_table.sort_values(["split", "metric", "_order"], kind="stable").drop(columns="_order")
        iv_table = iv_table[["split"] + [c for c in iv_table.columns if c != "split"]].reset_index(drop=True)
        _note_missing_intervals(iv_table, best, notes)

    if by_ic:
        used = [(criterion, "min")]
        boot = ic_boot
        label = _LABELS[criterion]
        row = table.loc[best]
        reason = (f"{best} has the lowest {label} ({_fmt(criterion, row[criterion])}) among the probabilistic "
                  f"models with a log-likelihood ({label} from the calibration log-likelihood, {int(row['n_params'])} "
                  f"parameters and {n_customers:,} customers).")
        if others:
            runner = others[0]
            reason += (f" Runner-up: {runner} ({label} {_fmt(criterion, table.loc[runner, criterion])}, "
                       f"{_fmt(criterion, table.loc[runner, criterion] - row[criterion], diff=True)}).")
        if "mean_rank" in table.columns:
            on_holdout = table[table["kind"] == "probabilistic"]["mean_rank"].idxmin()
            reason += (f" On the holdout, {on_holdout} has the best mean rank"
                       + (" too." if on_holdout == best else f" ({best}: {table.loc[best, 'mean_rank']:.2f})."))
        where = "calibration data"
    else:
        where = "holdout" if criterion == "holdout" else "time split"
        used = [(m, d) for m, d in criteria if f"rank_{m}" in table.columns and m in BOOTSTRAP_METRICS]
        skipped = [m for m, _ in criteria if f"rank_{m}" in table.columns and m not in BOOTSTRAP_METRICS]
        if skipped and n_boot:
            notes.append(f"not resampled (not a function of per-customer values): {', '.join(skipped)}; the verdict "
                         "uses the other criteria.")
        boot = holdout_boot
        if n_boot and boot is not None and not used:
            unassessed = "none of the ranking criteria is one the bootstrap recomputes"
        reason = _reason(table, best, criteria, baseline_names,
                         where="holdout" if criterion == "holdout" else "time-split")
    verdicts = _verdicts(boot, best, others, used, float(min_difference))
    support = _support(boot, best, prob, used)
    clear, statement = _statement(best, verdicts, boot, where, support, unassessed)
    reason = f"{reason} {statement}"
    recommendation = Recommendation(model=best, criterion=criterion, clear=clear, reason=reason,
                                    versus={k: v for k, (v, _) in verdicts.items()}, support=support,
                                    interval=float(interval), n_boot=int(n_boot or 0))
    return ModelComparison(table=table, recommended=best, reason=reason, evaluations=evaluations, models=fitted,
                           spend_model=spend, criteria=criteria, notes=notes, recommendation=recommendation,
                           intervals=iv_table, criterion=criterion, time_split=split_facts)
