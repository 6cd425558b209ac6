"""BG/NBD model, fitted by maximum likelihood (Fader, Hardie & Lee 2005, "Counting your customers
the easy way", Marketing Science). The math lives in :mod:`clvmodels.math.bgnbd`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..math import bgnbd as _math
from .base import MLEModel

__all__ = ["BGNBD"]


class BGNBD(MLEModel):
    """Beta-geometric/NBD purchase model.

    Parameters r, alpha (purchase rate ~ Gamma(r, alpha); alpha in the summary's time unit) and
    a, b (dropout probability after each purchase ~ Beta(a, b)). Settings and fitted attributes
    are those of :class:`~clvmodels.models.base.MLEModel`.

    Examples
    --------
    Fit on the CDNOW calibration summary (weeks): the estimates and the log-likelihood of Fader,
    Hardie & Lee (2005), r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4:

    >>> import clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary()
    >>> bg = clv.BGNBD().fit(summary)
    >>> bg.params_.round(3).to_dict(), round(bg.loglik_, 1)
    ({'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}, -9582.4)

    Predictions are Series keyed by customer_id; customer 1 (x = 2, t_x = 30.43, T = 38.86) expects
    1.226 purchases in the next 39 weeks, the paper's number:

    >>> bg.expected_purchases(summary.loc[[1, 2, 3]], t=39).round(3)
    customer_id
    1    1.226
    2    0.203
    3    0.195
    Name: expected_purchases, dtype: float64
    >>> bg.p_alive(summary.loc[[1, 2, 3]]).round(3).tolist()
    [0.727, 0.212, 1.0]
    >>> bg.p_purchases([0, 1, 2], 39).round(4).tolist()      # a new customer, over 39 weeks
    [0.5743, 0.1992, 0.0853]
    """

    math = _math
    param_names = ("r", "alpha", "a", "b")
    _boundary_note = ("a, b -> infinity with a / (a + b) fixed: every customer has the same dropout "
                      "probability after a purchase; r, alpha -> infinity: every customer buys at the same rate")
    input_columns = ("frequency", "recency", "T")
    _scale_columns = ("recency", "T")
    _scale_params = ("alpha",)

    def _initial_guess(self, data, weights):
        x, _, T = data
        rate = float(np.einsum("i,i->", weights, x) / max(np.einsum("i,i->", weights, T), 1e-12))
        # r = 1 and alpha matching the observed purchase rate; a, b: a moderate dropout rate
        return np.array([1.0, 1.0 / max(rate, 1e-3), 1.0, 2.0])

    # ---- predictions --------------------------------------------------------------------
    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """Expected purchases in the next ``t`` time units, given each customer's history (eq. 10)."""
        frame, (x, t_x, T) = self._prepare(summary)
        t = self._check_horizon(t, "t")
        values = self.math.conditional_expected_purchases(*self._params_tuple(), x, t_x, T, t)
        return self._keyed(self._finite_or_warn(values, "expected_purchases"), frame.index, "expected_purchases")

    def expected_purchases_new(self, t):
        """E[X(t)] for a new customer (eq. 7); scalar t -> float, array -> Series indexed by t."""
        params = self._params_tuple()
        self._check_nonneg(t, "t")
        return self._grid(lambda _, tt: self.math.expected_purchases_new(*params, tt), 0.0, t,
                          "expected_purchases_new", "n", "t")

    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at T | history) for each customer."""
        frame, (x, t_x, T) = self._prepare(summary)
        values = self.math.p_alive(*self._params_tuple(), x, t_x, T)
        return self._keyed(self._finite_or_warn(values, "p_alive"), frame.index, "p_alive")

    def p_purchases(self, n, t):
        """P(X(t) = n) for a new customer (eq. 8). Scalars -> float; one array -> Series;
        two arrays -> DataFrame (rows n, columns t)."""
        params = self._params_tuple()
        self._check_nonneg(n, "n", integer=True)
        self._check_nonneg(t, "t")
        return self._grid(lambda nn, tt: self.math.p_purchases(*params, nn, tt), n, t, "p_purchases", "n", "t")
