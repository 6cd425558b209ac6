"""Gamma-Gamma spend model, fitted by maximum likelihood (Fader, Hardie & Lee 2005, "RFM and CLV";
Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"). Math in
:mod:`clvmodels.math.gammagamma`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError, describe_culprits
from ..math import gammagamma as _math
from .base import MLEModel

__all__ = ["GammaGamma"]


class GammaGamma(MLEModel):
    """Gamma-Gamma model of the mean spend per repeat transaction.

    Parameters p (shape of transaction values), q > 1 and v (the paper's gamma, in currency
    units). Bounds enforce q > 1 so that the population mean p v / (q - 1) exists.

    Fitting uses repeat buyers only (``frequency > 0``); their ``monetary_value`` (mean spend of
    the repeat transactions) must be positive, otherwise a DataValidationError names them.
    """

    _math = _math
    _param_names = ("p", "q", "v")
    _bounds = {"q": (1.0, np.inf)}
    _summary_columns = ("frequency", "monetary_value")
    _scale_columns = ("monetary_value",)
    _scale_params = ("v",)
    _validate_kwargs = {"require_monetary": True}

    def _repeat_buyers(self, frame: pd.DataFrame) -> pd.Series:
        repeat = frame["frequency"] > 0
        bad = repeat & (frame["monetary_value"] <= 0)
        if bad.any():
            ids = frame.index[bad.to_numpy()]
            raise InvalidValueError(
                f"column 'monetary_value': {int(bad.sum())} repeat buyer(s) have a non-positive mean spend; "
                f"the Gamma-Gamma model needs monetary_value > 0 when frequency > 0; example customer ids "
                f"{describe_culprits(ids)}", column="monetary_value", n_rows=int(bad.sum()), examples=list(ids[:5]))
        return repeat

    def _fit_frame(self, summary: pd.DataFrame) -> pd.DataFrame:
        frame = self._validate(summary)
        repeat = self._repeat_buyers(frame)
        if not repeat.any():
            raise InvalidValueError("the Gamma-Gamma model needs at least one repeat buyer (frequency > 0)",
                                    column="frequency", n_rows=0)
        return frame[repeat]

    def _initial_guess(self, data, weights):
        x, m = data
        # method of moments on the customer means: E[mbar] = p v/(q-1); start q = 3 (finite variance)
        mean = float(np.sum(weights * m) / np.sum(weights))
        return np.array([2.0, 3.0, mean])

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Expected spend per transaction for every customer (Series ``expected_spend``).

        Repeat buyers get the conditional mean p (v + x mbar) / (p x + q - 1); customers without
        repeat purchases (frequency 0, whose monetary_value carries no repeat information) get the
        population mean p v / (q - 1).
        """
        frame, (x, m) = self._prepare(summary)
        self._repeat_buyers(frame)
        p, q, v = self._params_tuple()
        values = np.where(x > 0, self._math.conditional_expected_spend(p, q, v, x, np.where(x > 0, m, 1.0)),
                          self._math.expected_spend_new(p, q, v))
        return self._keyed(self._finite_or_warn(values, "expected_spend"), frame.index, "expected_spend")

    def expected_spend_new(self) -> float:
        """Population mean spend per transaction p v / (q - 1)."""
        return float(self._math.expected_spend_new(*self._params_tuple()))

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Per-customer log-likelihood of the repeat buyers (others are not modelled: NaN-free
        Series over the repeat buyers only, keyed by customer_id)."""
        frame, _ = self._prepare(summary)
        repeat = self._repeat_buyers(frame)
        sub = frame[repeat]
        ll = self._loglik(self._params_tuple(), self._columns(sub))
        return self._keyed(self._finite_or_warn(ll, "log_likelihood"), sub.index, "log_likelihood")
