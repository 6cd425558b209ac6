"""Pareto/NBD by maximum likelihood (Schmittlein, Morrison & Colombo 1987; Fader, Hardie & Lee 2005).

The math lives in :mod:`clvmodels.math.paretonbd`; this class only declares it to the estimation
base (:class:`~clvmodels.models.base.MLEModel`) and shapes the predictions as pandas objects keyed
by customer_id in input order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ..math import paretonbd as _math
from .base import MLEModel

__all__ = ["ParetoNBD"]


class ParetoNBD(MLEModel):
    """Pareto/NBD: Poisson purchasing at rate lambda ~ Gamma(r, alpha) while alive, exponential
    lifetimes with rate mu ~ Gamma(s, beta).

    Fit on an RFM summary (columns ``frequency``, ``recency``, ``T`` in one time unit); ``params_``
    holds r, alpha, s, beta (alpha and beta in the summary's time unit). See
    :class:`~clvmodels.models.base.MLEModel` for the settings (``penalizer_coef``,
    ``initial_params``, ``max_iter``, ``tol``) and the fitted attributes. The optimiser gets the
    log-likelihood with its analytic gradient and Hessian in one pass over the distinct rows
    (:func:`clvmodels.math.paretonbd.weighted_evaluator`), and the covariance is the inverse of that
    Hessian.

    Examples
    --------
    The CDNOW calibration summary (weeks); the estimates and log-likelihood of the Fader, Hardie &
    Lee (2005) note are r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669, LL = -9595.0 (beta
    differs by 0.001 here, for a standard error of 6.2):

    >>> import clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary()
    >>> pnbd = clv.ParetoNBD().fit(summary)
    >>> pnbd.params_.round(3).to_dict(), round(pnbd.loglik_, 1)
    ({'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.668}, -9595.0)
    >>> pnbd.expected_purchases(summary.loc[[1, 2, 3]], t=39).round(3).tolist()
    [1.455, 0.171, 0.107]
    >>> pnbd.p_alive(summary.loc[[1, 2, 3]]).round(3).tolist()
    [0.869, 0.168, 0.295]
    >>> pnbd.dert(summary.loc[[1, 2]], clv.DiscountRate(0.10)).round(2).tolist()   # annual 10%
    [8.17, 0.96]
    """

    math = _math
    param_names = ("r", "alpha", "s", "beta")
    _boundary_note = ("s, beta -> infinity: every customer has the same dropout rate s / beta; r, alpha -> "
                      "infinity: every customer buys at the same rate")
    input_columns = ("frequency", "recency", "T")
    _scale_columns = ("recency", "T")
    _scale_params = ("alpha", "beta")

    def _initial_guess(self, data, weights):
        x, _, T = data
        w = weights / weights.sum()
        # purchase rate r/alpha ~ mean(x/T); start with moderate heterogeneity (r = s = 1/2)
        rate = float(np.sum(w * x / np.maximum(T, 1e-12)))
        rate = min(max(rate, 1e-3), 1e3)
        return np.array([0.5, 0.5 / rate, 0.5, 1.0])

    # ---- predictions ------------------------------------------------------------------------
    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """E[X(T, T+t) | frequency, recency, T]: expected purchases in the next ``t`` time units."""
        t = _nonneg_scalar(t, "t")
        frame, (x, t_x, T) = self._prepare(summary)
        out = self.math.conditional_expected_purchases(*self._params_tuple(), x, t_x, T, t)
        return self._keyed(self._finite_or_warn(out, "expected_purchases"), frame.index, "expected_purchases")

    def expected_purchases_new(self, t):
        """E[X(t)] for a new customer; float for scalar ``t``, Series indexed by t otherwise."""
        self.check_fitted()
        params = self._params_tuple()
        t_arr = np.asarray(t, dtype=np.float64)
        if t_arr.ndim == 0:
            return float(self.math.expected_purchases_new(*params, t_arr))
        if t_arr.ndim != 1:
            raise InvalidValueError("t must be a scalar or a 1-D array", column="t")
        return pd.Series(np.asarray(self.math.expected_purchases_new(*params, t_arr), dtype=np.float64),
                         index=pd.Index(t_arr, name="t"), name="expected_purchases_new")

    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at T | frequency, recency, T) per customer."""
        frame, data = self._prepare(summary)
        out = self.math.p_alive(*self._params_tuple(), *data)
        return self._keyed(self._finite_or_warn(out, "p_alive"), frame.index, "p_alive")

    def p_purchases(self, n, t):
        """P(X(t) = n) for a new customer: float, Series (one argument an array) or DataFrame
        (rows n, columns t)."""
        self.check_fitted()
        params = self._params_tuple()
        return self._grid(lambda a, b: self.math.p_purchases(*params, a, b), n, t, "p_purchases", "n", "t")

    def dert(self, summary: pd.DataFrame, discount_rate, *, time_unit: str | None = None) -> pd.Series:
        """Discounted expected residual transactions per customer (FHL 2005, "RFM and CLV", eq. 2).

        ``discount_rate`` is a :class:`~clvmodels.DiscountRate` or a number (an annual effective
        rate), converted to the paper's continuously compounded rate per time unit of the summary,
        ``delta = log(1 + annual) * days(unit) / 365.25``; the unit is ``time_unit``, else the
        summary's, else the model's. Multiply by the expected spend per transaction (Gamma-Gamma)
        to get the residual CLV.

        Examples
        --------
        >>> import clvmodels as clv
        >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
        >>> pnbd.dert(clv.datasets.cdnow_summary().loc[[1, 2]], clv.DiscountRate(0.15)).round(2).tolist()
        [6.52, 0.77]
        """
        delta = self._rate_per_unit(summary, discount_rate, time_unit, continuous=True)
        frame, data = self._prepare(summary)
        out = self.math.dert(*self._params_tuple(), *data, delta)
        return self._keyed(self._finite_or_warn(out, "dert"), frame.index, "dert")


def _nonneg_scalar(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"{name} must be a number, got {value!r}", column=name) from exc
    if not np.isfinite(v) or v < 0:
        raise InvalidValueError(f"{name} must be finite and >= 0, got {v}", column=name)
    return v
