"""BG/BB by maximum likelihood (Fader, Hardie & Shang 2010), discrete transaction opportunities.

Summary columns: ``frequency`` (x, repeat transactions), ``recency`` (t_x, the opportunity of
the last one, 0 if none) and ``n_periods`` (n, opportunities observed), optionally a ``weight``
column counting identical customers (the layout of :func:`clvmodels.datasets.donations`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ..math import bgbb as _math
from .base import MLEModel

__all__ = ["BGBB"]

_COLUMNS = ("frequency", "recency", "n_periods")


class BGBB(MLEModel):
    """Beta-geometric/beta-Bernoulli model: transaction probability p ~ Beta(alpha, beta) at each
    opportunity while alive; death probability theta ~ Beta(gamma, delta) before each opportunity.

    ``fit(summary)`` uses the ``weight`` column as case weights when present and no ``weights=``
    is given (donations-style pattern counts). Predictions return Series keyed by the summary's
    index, in input order.

    Examples
    --------
    The donations data (one row per pattern, a ``weight`` column of donors): the estimates of Fader,
    Hardie & Shang (2010) are alpha = 1.204, beta = 0.750, gamma = 0.657, delta = 2.783:

    >>> import clvmodels as clv
    >>> donors = clv.datasets.donations()
    >>> bb = clv.BGBB().fit(donors)                          # the weight column is used as case weights
    >>> bb.params_.round(3).to_dict(), bb.n_obs_
    ({'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}, 11104.0)
    >>> patterns = donors.iloc[[0, 1, 21]]                   # (x, t_x) = (0, 0), (1, 1), (6, 6) in n = 6
    >>> bb.p_alive(patterns).round(3).tolist()
    [0.108, 0.069, 0.93]
    >>> bb.expected_purchases(patterns, n_star=5).round(3).tolist()    # next 5 opportunities
    [0.073, 0.086, 3.753]
    >>> bb.dert(patterns, discount_rate=0.10).round(3).tolist()        # annual 10%, yearly opportunities
    [0.115, 0.135, 5.91]
    """

    math = _math
    param_names = ("alpha", "beta", "gamma", "delta")
    input_columns = _COLUMNS
    _validate_kwargs = {"columns": _COLUMNS, "discrete": True}
    time_axis = "opportunities"

    def fit(self, summary: pd.DataFrame, weights=None) -> BGBB:
        """Maximum-likelihood fit; ``weights`` defaults to the ``weight`` column if there is one."""
        if weights is None and isinstance(summary, pd.DataFrame) and "weight" in summary.columns:
            weights = "weight"
        return super().fit(summary, weights=weights)

    def _initial_guess(self, data, weights):
        return np.array([1.0, 1.0, 1.0, 1.0])

    # ---- predictions ------------------------------------------------------------------------
    def expected_purchases(self, summary: pd.DataFrame, n_star) -> pd.Series:
        """E[X(n, n+n*) | x, t_x, n]: expected transactions in the next ``n_star`` opportunities."""
        n_star = _count(n_star, "n_star")
        frame, data = self._prepare(summary)
        out = self.math.conditional_expected_purchases(*self._params_tuple(), *data, n_star)
        return self._keyed(self._finite_or_warn(out, "expected_purchases"), frame.index, "expected_purchases")

    def expected_purchases_new(self, n):
        """E[X(n)] for a new customer over ``n`` opportunities (float, or Series indexed by n)."""
        self.check_fitted()
        params = self._params_tuple()
        n_arr = np.asarray(n, dtype=np.float64)
        if n_arr.ndim == 0:
            return float(self.math.expected_purchases_new(*params, n_arr))
        if n_arr.ndim != 1:
            raise InvalidValueError("n must be a scalar or a 1-D array", column="n")
        return pd.Series(np.asarray(self.math.expected_purchases_new(*params, n_arr), dtype=np.float64),
                         index=pd.Index(n_arr, name="n"), name="expected_purchases_new")

    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at opportunity n+1 | x, t_x, n) per customer."""
        frame, data = self._prepare(summary)
        out = self.math.p_alive(*self._params_tuple(), *data)
        return self._keyed(self._finite_or_warn(out, "p_alive"), frame.index, "p_alive")

    def p_purchases(self, x, n):
        """P(X(n) = x) for a new customer: float, Series, or DataFrame (rows x, columns n)."""
        self.check_fitted()
        params = self._params_tuple()
        return self._grid(lambda a, b: self.math.p_purchases(*params, a, b), x, n, "p_purchases", "x", "n")

    def dert(self, summary: pd.DataFrame, discount_rate, *, time_unit: str | None = None) -> pd.Series:
        """Discounted expected residual transactions (FHS 2010), the transaction at the next
        opportunity discounted once. ``discount_rate`` is a :class:`~clvmodels.DiscountRate` or a
        number (an annual effective rate), converted to the effective rate per opportunity; an
        opportunity lasts ``time_unit`` (else the summary's, else the model's time unit).

        Examples
        --------
        >>> import clvmodels as clv
        >>> bb = clv.BGBB.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783, time_unit="Y")
        >>> bb.dert(clv.datasets.donations().iloc[:2], 0.10).round(3).tolist()
        [0.115, 0.135]
        """
        d = self._rate_per_unit(summary, discount_rate, time_unit, continuous=False)
        frame, data = self._prepare(summary)
        out = self.math.dert(*self._params_tuple(), *data, d)
        return self._keyed(self._finite_or_warn(out, "dert"), frame.index, "dert")


def _count(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"{name} must be a whole number, got {value!r}", column=name) from exc
    if not (np.isfinite(v) and v >= 0 and v == np.floor(v)):
        raise InvalidValueError(f"{name} must be a whole number >= 0, got {value!r}", column=name)
    return v
