"""A machine-learning baseline: gradient boosting on RFM features (scikit-learn).

Probabilistic models are not the only way to predict next period's purchases. This baseline puts
a plain supervised learner in the same comparison, so users can see when the "buy till you die"
structure pays off and when it does not.

Two strategies, both predicting each customer's holdout purchases and holdout revenue:

``"temporal"`` (default; what one could deploy)
    Shift the calibration/holdout split back in time: features are built at
    ``cutoff = calibration_end - h`` and the targets are the purchases / revenue in
    ``(cutoff, calibration_end]``, with ``h = min(holdout length, half the cohort's calibration
    age)``. The fitted learner is then applied to features at ``calibration_end``; its
    predictions for a window of length ``h`` are scaled by ``holdout / h``. Needs the
    transaction log. No holdout information is used.
``"crossfit"`` (an optimistic reference, not deployable)
    K-fold across customers on the *actual* holdout targets: each customer's prediction comes
    from a learner trained on the other customers' holdout outcomes. It uses the future of other
    customers of the same cohort, which no production system has; it bounds what a learner on
    these features can reach.

Features: frequency, recency, T, T - recency, frequency / T, monetary_value (when present) and
the value of the first purchase (when the log has amounts). The learner is a
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` with the Poisson loss (counts and
non-negative revenue, log link).
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from ..data.transactions import to_timestamp
from ..errors import ConfigError, DataDroppedWarning, DataValidationError, MissingColumnError
from ..timeunits import days_per
from .features import first_purchase_value

__all__ = ["GradientBoostingBaseline"]

STRATEGIES = ("temporal", "crossfit")


def _feature_frame(summary: pd.DataFrame, first_value: pd.Series | None) -> pd.DataFrame:
    f = summary["frequency"].to_numpy(dtype=np.float64)
    rec = summary["recency"].to_numpy(dtype=np.float64)
    T = summary["T"].to_numpy(dtype=np.float64)
    X = {"frequency": f, "recency": rec, "T": T, "since_last": T - rec,
         "rate": np.divide(f, T, out=np.zeros_like(f), where=T > 0)}
    if "monetary_value" in summary.columns:
        X["monetary_value"] = summary["monetary_value"].to_numpy(dtype=np.float64)
    if first_value is not None:
        X["first_purchase_value"] = first_value.reindex(summary.index).to_numpy(dtype=np.float64)
    return pd.DataFrame(X, index=summary.index)


def _targets(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    y = summary["frequency_holdout"].to_numpy(dtype=np.float64)
    rev = None
    if "monetary_value_holdout" in summary.columns:
        rev = y * summary["monetary_value_holdout"].to_numpy(dtype=np.float64)
    return y, rev


class GradientBoostingBaseline(BaseEstimator):
    """Gradient boosting on RFM features predicting holdout purchases and revenue.

    Parameters
    ----------
    strategy : ``"temporal"`` (default) or ``"crossfit"``; see the module docstring.
    n_splits : folds of the ``"crossfit"`` strategy.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization : settings of
        :class:`~sklearn.ensemble.HistGradientBoostingRegressor` (Poisson loss, no early stopping).
    random_state : seed of the learner and of the folds.
    n_threads : OpenMP threads of the learner during ``fit_predict`` (default 1: customer tables
        are small, and on a busy machine more threads make it slower, not faster); None leaves
        the process setting alone.

    Use :meth:`fit_predict` with a calibration / holdout summary
    (:func:`clvmodels.calibration_holdout`); it returns ``expected_purchases`` and, when the
    summary has ``monetary_value_holdout``, ``expected_revenue`` per customer.
    """

    def __init__(self, strategy: str = "temporal", n_splits: int = 5, max_iter: int = 200,
                 learning_rate: float = 0.05, max_leaf_nodes: int = 15, min_samples_leaf: int = 40,
                 l2_regularization: float = 1.0, random_state: int | None = 0, n_threads: int | None = 1):
        self.strategy = strategy
        self.n_splits = n_splits
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.n_threads = n_threads

    def _learner(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(loss="poisson", max_iter=int(self.max_iter),
                                             learning_rate=float(self.learning_rate),
                                             max_leaf_nodes=int(self.max_leaf_nodes),
                                             min_samples_leaf=int(self.min_samples_leaf),
                                             l2_regularization=float(self.l2_regularization),
                                             early_stopping=False, random_state=self.random_state)

    def fit_predict(self, summary: pd.DataFrame, transactions: pd.DataFrame | None = None, *, calibration_end=None,
                    customer_col: str = "customer_id", date_col: str = "date", amount_col: str | None = "amount"
                    ) -> pd.DataFrame:
        """Predictions for the holdout of ``summary`` (DataFrame keyed like the summary).

        ``transactions`` (the log the summary was built from) is required by the temporal
        strategy and adds the first-purchase value feature to either strategy.
        ``calibration_end`` defaults to ``summary.attrs['report']['calibration_end']``.
        """
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {list(STRATEGIES)}, got {self.strategy!r}", key="strategy")
        for col in ("frequency", "recency", "T", "frequency_holdout", "duration_holdout"):
            if col not in summary.columns:
                raise MissingColumnError(f"the summary has no column {col!r}: build it with "
                                         "clvmodels.calibration_holdout(...)", column=col)
        has_amount = (transactions is not None and amount_col is not None and amount_col in transactions.columns)
        first = None
        if has_amount:
            first = first_purchase_value(transactions, customer_col=customer_col, date_col=date_col,
                                         amount_col=amount_col)
        X = _feature_frame(summary, first)
        y, rev = _targets(summary)
        limit = threadpool_limits(limits=int(self.n_threads), user_api="openmp") if self.n_threads else nullcontext()
        with limit:
            pred_y, pred_rev = self._predict(summary, transactions, X, y, rev, first, calibration_end, customer_col,
                                             date_col, amount_col if has_amount else None)
        self.feature_names_ = list(X.columns)
        out = pd.DataFrame({"expected_purchases": pred_y}, index=summary.index)
        if rev is not None and pred_rev is not None:
            out["expected_revenue"] = pred_rev
            with np.errstate(divide="ignore", invalid="ignore"):
                out["expected_spend"] = np.where(pred_y > 0, pred_rev / pred_y, 0.0)
        return out

    def _predict(self, summary, transactions, X, y, rev, first, calibration_end, customer_col, date_col, amount_col):
        if self.strategy == "crossfit":
            pred_y, pred_rev = self._crossfit(X, y, rev)
            self.horizon_ratio_ = 1.0
        else:
            if transactions is None:
                raise ConfigError("the temporal strategy needs the transaction log (transactions=...); "
                                  "strategy='crossfit' works from the summary alone", key="transactions")
            pred_y, pred_rev = self._temporal(summary, transactions, X, first, calibration_end, customer_col,
                                              date_col, amount_col)
        return pred_y, pred_rev

    def _crossfit(self, X: pd.DataFrame, y: np.ndarray, rev: np.ndarray | None):
        n = len(X)
        k = int(self.n_splits)
        if k < 2 or k > n:
            raise ConfigError(f"n_splits must be between 2 and the number of customers, got {k}", key="n_splits")
        pred_y = np.zeros(n)
        pred_rev = np.zeros(n) if rev is not None else None
        folds = KFold(n_splits=k, shuffle=True, random_state=self.random_state)
        Xv = X.to_numpy()
        for train, test in folds.split(Xv):
            pred_y[test] = self._learner().fit(Xv[train], y[train]).predict(Xv[test])
            if rev is not None:
                pred_rev[test] = self._learner().fit(Xv[train], rev[train]).predict(Xv[test])
        return pred_y, pred_rev

    def _temporal(self, summary, transactions, X, first, calibration_end, customer_col, date_col, amount_col):
        from ..data.rfm import calibration_holdout

        report = summary.attrs.get("report", {}) if hasattr(summary, "attrs") else {}
        cal_end = calibration_end if calibration_end is not None else report.get("calibration_end")
        if cal_end is None:
            raise ConfigError("calibration_end is needed (it is not in summary.attrs['report'])", key="calibration_end")
        cal_end = to_timestamp(cal_end, "calibration_end")
        unit = summary.attrs.get("time_unit") or report.get("time_unit") or "W"
        horizon = float(summary["duration_holdout"].iloc[0])
        age = float(summary["T"].max())
        h = min(horizon, age / 2.0)
        h_days = int(np.floor(h * days_per(unit)))
        if h_days < 1:
            raise DataValidationError("the calibration period is too short for a temporal training window "
                                      "(use strategy='crossfit')")
        cutoff = cal_end - pd.Timedelta(days=h_days)
        opts = {k: report[k] for k in ("merge", "monetary_includes_first", "returns") if k in report}
        with warnings.catch_warnings():
            # the later transactions are left out on purpose: that is the point of the shifted window
            warnings.filterwarnings("ignore", message=r".*after observation_end excluded", category=DataDroppedWarning)
            shifted = calibration_holdout(transactions, calibration_end=cutoff, observation_end=cal_end,
                                          time_unit=unit, customer_col=customer_col, date_col=date_col,
                                          amount_col=amount_col, engine="pandas", **opts)
        if "monetary_value_holdout" not in shifted.columns and "monetary_value_holdout" in summary.columns:
            raise DataValidationError("revenue targets need amounts in the transaction log", column="amount")
        X_train = _feature_frame(shifted, first)
        if "monetary_value" in X.columns and "monetary_value" not in X_train.columns:
            X_train["monetary_value"] = 0.0
        X_train = X_train[X.columns]
        y_train, rev_train = _targets(shifted)
        ratio = horizon / float(shifted["duration_holdout"].iloc[0])
        self.training_cutoff_ = cutoff
        self.horizon_ratio_ = ratio
        self.n_train_ = int(len(shifted))
        pred_y = self._learner().fit(X_train.to_numpy(), y_train).predict(X.to_numpy()) * ratio
        pred_rev = None
        if rev_train is not None and "monetary_value_holdout" in summary.columns:
            pred_rev = self._learner().fit(X_train.to_numpy(), rev_train).predict(X.to_numpy()) * ratio
        return pred_y, pred_rev
