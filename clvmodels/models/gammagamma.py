"""Gamma-Gamma spend model, fitted by maximum likelihood (Fader, Hardie & Lee 2005, "RFM and CLV";
Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"). Math in
:mod:`clvmodels.math.gammagamma`."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataDroppedWarning, InvalidValueError, describe_culprits
from ..math import gammagamma as _math
from .base import MLEModel

__all__ = ["GammaGamma", "NONPOSITIVE_SPEND_POLICIES", "nonpositive_repeat_buyers", "spend_inputs"]

NONPOSITIVE_SPEND_POLICIES = ("error", "zero", "population")


def nonpositive_repeat_buyers(frame: pd.DataFrame, policy: str) -> np.ndarray:
    """Repeat buyers whose ``monetary_value`` is not positive (e.g. only free items), as a mask.

    Under ``policy="error"`` (the default of every Gamma-Gamma model, MLE and Bayesian) they raise
    an :class:`~clvmodels.errors.InvalidValueError` naming them; ``"zero"`` and ``"population"``
    return the mask (see :class:`GammaGamma`).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels.models.gammagamma import nonpositive_repeat_buyers
    >>> frame = pd.DataFrame({"frequency": [2, 1, 0], "monetary_value": [22.35, 0.0, 0.0]},
    ...                      index=pd.Index([1, 2, 3], name="customer_id"))
    >>> nonpositive_repeat_buyers(frame, "zero").tolist()       # customer 2 only: customer 3 has x = 0
    [False, True, False]
    >>> nonpositive_repeat_buyers(frame, "error")
    Traceback (most recent call last):
        ...
    clvmodels.errors.InvalidValueError: column 'monetary_value': 1 repeat buyer(s) have a non-positive mean spend; ...
    """
    if policy not in NONPOSITIVE_SPEND_POLICIES:
        raise ConfigError(f"nonpositive_spend={policy!r}; use one of {list(NONPOSITIVE_SPEND_POLICIES)}",
                          key="nonpositive_spend")
    bad = ((frame["frequency"] > 0) & (frame["monetary_value"] <= 0)).to_numpy()
    if bad.any() and policy == "error":
        ids = frame.index[bad]
        raise InvalidValueError(
            f"column 'monetary_value': {int(bad.sum())} repeat buyer(s) have a non-positive mean spend; "
            f"the Gamma-Gamma model needs monetary_value > 0 when frequency > 0; example customer ids "
            f"{describe_culprits(ids)} (GammaGamma(nonpositive_spend='zero' or 'population') scores them "
            "without fitting on them)", column="monetary_value", n_rows=int(bad.sum()), examples=list(ids[:5]))
    return bad


def spend_inputs(frame: pd.DataFrame, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, mbar)`` for ``conditional_expected_spend`` after the non-positive spend policy: under
    ``"zero"`` such repeat buyers keep x with mbar = 0 (the limit of an observed mean of 0), under
    ``"population"`` they get x = 0 (the population mean); customers with x = 0 get mbar = 0.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels.models.gammagamma import spend_inputs
    >>> frame = pd.DataFrame({"frequency": [2, 1, 0], "monetary_value": [22.35, -5.0, 9.99]},
    ...                      index=pd.Index([1, 2, 3], name="customer_id"))
    >>> x, mbar = spend_inputs(frame, "zero")
    >>> x.tolist(), mbar.tolist()
    ([2.0, 1.0, 0.0], [22.35, 0.0, 0.0])
    >>> x, mbar = spend_inputs(frame, "population")
    >>> x.tolist(), mbar.tolist()
    ([2.0, 0.0, 0.0], [22.35, 0.0, 0.0])
    """
    bad = nonpositive_repeat_buyers(frame, policy)
    x = frame["frequency"].to_numpy(dtype=np.float64)
    mbar = frame["monetary_value"].to_numpy(dtype=np.float64)
    if policy == "population":
        x = np.where(bad, 0.0, x)
    mbar = np.where(bad | (x <= 0), 0.0, mbar)
    return x, mbar


class GammaGamma(MLEModel):
    """Gamma-Gamma model of the mean spend per repeat transaction.

    Parameters p (shape of transaction values), q > 1 and v (the paper's gamma, in currency
    units). Bounds enforce q > 1 so that the population mean p v / (q - 1) exists.

    Fitting uses repeat buyers only (``frequency > 0``). The model needs their ``monetary_value``
    (mean spend of the repeat transactions) to be positive; ``nonpositive_spend`` says what to do
    with repeat buyers whose mean is zero or negative (e.g. free items):

    * ``"error"`` (default): an :class:`~clvmodels.errors.InvalidValueError` (a DataValidationError)
      names them, in ``fit`` and in predictions;
    * ``"zero"``: they are left out of the fit (counted in ``n_nonpositive_excluded_``, announced by a
      DataDroppedWarning) and scored with the conditional mean at an observed mean of 0, the limit
      ``p v / (p x + q - 1)``: their repeat purchases are evidence of low spend;
    * ``"population"``: they are left out of the fit (counted, warned) and scored like customers
      without repeat purchases, with the population mean ``p v / (q - 1)``.

    Examples
    --------
    Fit on the CDNOW repeat buyers; Fader & Hardie (2013) report p = 6.25, q = 3.74, v = 15.44
    (v differs by 0.01 here, for a standard error of 4.2):

    >>> import clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary()
    >>> gg = clv.GammaGamma().fit(summary)
    >>> gg.params_.round(2).to_dict(), gg.n_obs_                  # 946 repeat buyers
    ({'p': 6.25, 'q': 3.74, 'v': 15.45}, 946.0)
    >>> gg.expected_spend(summary.loc[[1, 2, 3]]).round(2).tolist()   # customer 3 (x = 0): the population mean
    [24.66, 18.91, 35.17]
    >>> round(gg.expected_spend_new(), 2)
    35.17

    A repeat buyer with a mean spend of 0 is an error by default; ``"zero"`` scores him at an
    observed mean of 0 instead:

    >>> odd = summary.loc[[1, 2]].assign(monetary_value=[22.35, 0.0])
    >>> gg.set_params(nonpositive_spend="zero").expected_spend(odd).round(2).tolist()
    [24.66, 10.73]
    """

    math = _math
    param_names = ("p", "q", "v")
    _boundary_note = "q, v -> infinity: every customer has the same mean spend"
    _bounds = {"q": (1.0, np.inf)}
    input_columns = ("frequency", "monetary_value")
    _scale_columns = ("monetary_value",)
    _scale_params = ("v",)
    _validate_kwargs = {"require_monetary": True}

    def __init__(self, nonpositive_spend: str = "error", penalizer_coef: float = 0.0,
                 initial_params: dict | None = None, max_iter: int = 1000, tol: float = 1e-10):
        super().__init__(penalizer_coef=penalizer_coef, initial_params=initial_params, max_iter=max_iter, tol=tol)
        self.nonpositive_spend = nonpositive_spend

    def _nonpositive(self, frame: pd.DataFrame) -> np.ndarray:
        """Repeat buyers with monetary_value <= 0; raises under the 'error' policy."""
        return nonpositive_repeat_buyers(frame, self.nonpositive_spend)

    def spend_inputs(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(x, mbar)`` per customer for ``math.conditional_expected_spend`` after this model's
        ``nonpositive_spend`` policy (the spend-model protocol, :mod:`clvmodels.protocols`)."""
        return spend_inputs(self._validate(frame), self.nonpositive_spend)

    def _fit_frame(self, summary: pd.DataFrame) -> pd.DataFrame:
        frame = self._validate(summary)
        bad = self._nonpositive(frame)
        if bad.any():
            warnings.warn(f"GammaGamma: {int(bad.sum())} repeat buyer(s) with monetary_value <= 0 left out of the "
                          f"fit (nonpositive_spend={self.nonpositive_spend!r}), e.g. "
                          f"{describe_culprits(frame.index[bad])}", DataDroppedWarning, stacklevel=3)
        self.n_nonpositive_excluded_ = int(bad.sum())
        repeat = (frame["frequency"] > 0).to_numpy() & ~bad
        if not repeat.any():
            raise InvalidValueError("the Gamma-Gamma model needs at least one repeat buyer (frequency > 0) with "
                                    "a positive monetary_value", column="frequency", n_rows=0)
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
        frame, _ = self._prepare(summary)
        x, mbar = spend_inputs(frame, self.nonpositive_spend)
        values = self.math.conditional_expected_spend(*self._params_tuple(), x, mbar)
        return self._keyed(self._finite_or_warn(values, "expected_spend"), frame.index, "expected_spend")

    def expected_spend_new(self) -> float:
        """Population mean spend per transaction p v / (q - 1)."""
        return float(self.math.expected_spend_new(*self._params_tuple()))

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Per-customer log-likelihood of the repeat buyers (others are not modelled: NaN-free
        Series over the repeat buyers only, keyed by customer_id)."""
        frame, _ = self._prepare(summary)
        repeat = (frame["frequency"] > 0).to_numpy() & ~self._nonpositive(frame)
        sub = frame[repeat]
        ll = self._loglik(self._params_tuple(), self._columns(sub))
        return self._keyed(self._finite_or_warn(ll, "log_likelihood"), sub.index, "log_likelihood")
