"""Holdout evaluation, model comparison and a machine-learning baseline.

"Does it predict?": fit on a calibration period, predict the holdout, compare with what happened.

* :func:`evaluate` - one fitted model (or a table of predictions) against the holdout of a
  calibration / holdout summary: per-customer MAE / RMSE / correlation of purchases, aggregate
  error, the conditional-expectation table by calibration frequency and cohort tracking (Fader,
  Hardie & Lee 2005), spend calibration, and the ranking quality of the predicted value (top-decile
  capture of holdout revenue, Spearman, Gini / lift). Returns a :class:`HoldoutEvaluation` with a
  tidy ``.table`` and ``.to_json()``.
* :func:`compare_models` - BG/NBD, Pareto/NBD, MBG/NBD, the (M)BG/CNBD-k on a summary with ``litt``
  (and Bayesian variants, covariate models, anything with the model interface) fitted on the same
  calibration data and ranked on the holdout (or by BIC / AIC, or on a time split inside the
  calibration period), with a recommended model, the reason and whether it is clearly better
  (:class:`Recommendation`), next to a :class:`GradientBoostingBaseline`.
* :mod:`.bootstrap` - paired bootstrap over customers: intervals for the holdout metrics and for
  the differences between models (:func:`paired_bootstrap`, :func:`loglik_bootstrap`).
* :func:`tracking` - weekly / cumulative cohort repeat purchases, actual vs model.
* :mod:`.metrics` - the metric functions themselves (pure, array in, numbers out).
* :func:`add_first_purchase_value` - the first purchase's value as a covariate / feature.
"""

from __future__ import annotations

from . import bootstrap, metrics
from .baseline import GradientBoostingBaseline
from .bootstrap import PairedBootstrap, loglik_bootstrap, paired_bootstrap
from .compare import CRITERIA, DEFAULT_CRITERIA, ModelComparison, Recommendation, compare_models
from .evaluation import METRIC_DESCRIPTIONS, HoldoutEvaluation, evaluate
from .features import add_first_purchase_value, first_purchase_value
from .tracking import repeat_purchase_log, tracking, tracking_metrics

__all__ = [
    "evaluate",
    "HoldoutEvaluation",
    "METRIC_DESCRIPTIONS",
    "compare_models",
    "ModelComparison",
    "Recommendation",
    "DEFAULT_CRITERIA",
    "CRITERIA",
    "paired_bootstrap",
    "loglik_bootstrap",
    "PairedBootstrap",
    "GradientBoostingBaseline",
    "tracking",
    "tracking_metrics",
    "repeat_purchase_log",
    "add_first_purchase_value",
    "first_purchase_value",
    "metrics",
    "bootstrap",
]
