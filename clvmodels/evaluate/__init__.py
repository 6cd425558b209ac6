"""Holdout evaluation, model comparison and a machine-learning baseline.

"Does it predict?": fit on a calibration period, predict the holdout, compare with what happened.

* :func:`evaluate` - one fitted model (or a table of predictions) against the holdout of a
  calibration / holdout summary: per-customer MAE / RMSE / correlation of purchases, aggregate
  error, the conditional-expectation table by calibration frequency and cohort tracking (Fader,
  Hardie & Lee 2005), spend calibration, and the ranking quality of the predicted value (top-decile
  capture of holdout revenue, Spearman, Gini / lift). Returns a :class:`HoldoutEvaluation` with a
  tidy ``.table`` and ``.to_json()``.
* :func:`compare_models` - BG/NBD, Pareto/NBD, MBG/NBD (and Bayesian variants, covariate models,
  anything with the model interface) fitted on the same calibration data and ranked on the
  holdout, with a recommended model and the reason, next to a :class:`GradientBoostingBaseline`.
* :func:`tracking` - weekly / cumulative cohort repeat purchases, actual vs model.
* :mod:`.metrics` - the metric functions themselves (pure, array in, numbers out).
* :func:`add_first_purchase_value` - the first purchase's value as a covariate / feature.
"""

from __future__ import annotations

from . import metrics
from .baseline import GradientBoostingBaseline
from .compare import DEFAULT_CRITERIA, ModelComparison, compare_models
from .evaluation import METRIC_DESCRIPTIONS, HoldoutEvaluation, evaluate
from .features import add_first_purchase_value, first_purchase_value
from .tracking import repeat_purchase_log, tracking, tracking_metrics

__all__ = [
    "evaluate",
    "HoldoutEvaluation",
    "METRIC_DESCRIPTIONS",
    "compare_models",
    "ModelComparison",
    "DEFAULT_CRITERIA",
    "GradientBoostingBaseline",
    "tracking",
    "tracking_metrics",
    "repeat_purchase_log",
    "add_first_purchase_value",
    "first_purchase_value",
    "metrics",
]
