"""Shifted-beta-geometric retention model by maximum likelihood (Fader & Hardie 2007).

Contractual setting: the data are a cohort's survivor counts per period, not an RFM summary::

    sbg = clv.ShiftedBetaGeo().fit([1000, 869, 743, 653, 593, 551, 517, 491])
    sbg.params_                    # alpha, beta
    sbg.survival(range(13))        # Series by period
    sbg.retention(range(1, 13))
    sbg.derl(n_renewals=4, discount_rate=0.1)

Several cohorts: a DataFrame with one row per cohort and one column per period 0, 1, ..., k
(trailing NaN where a younger cohort has not been observed yet); cohorts share alpha and beta.

How it maps onto the estimation base: every cohort becomes records ``(period t, censored)``
weighted by counts -- ``n_{t-1} - n_t`` customers lost at the end of period t and ``n_k`` still
active after the last observed period k (right-censored) -- whose log-likelihoods are
:func:`clvmodels.math.sbg.loglik_periods`. The base then optimises, computes the Hessian,
standard errors, persistence and parameter draws as for every other model; ``loglik_`` is the
cohort log-likelihood of FH (2007).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataValidationError, InvalidValueError
from ..math import sbg as _math
from ..timeunits import as_discount_rate, check_unit
from .base import MLEModel

__all__ = ["ShiftedBetaGeo"]


def _cohorts(survivors) -> list[tuple[object, np.ndarray]]:
    """Normalise the accepted inputs to a list of (cohort label, 1-D counts)."""
    if isinstance(survivors, pd.DataFrame):
        if survivors.empty:
            raise DataValidationError("survivors frame is empty", n_rows=0)
        text = [c for c in survivors.columns if survivors[c].dtype.kind not in "biuf"
                and survivors[c].map(lambda v: isinstance(v, str)).any()]
        if text:
            raise InvalidValueError(f"survivor counts must be numbers; column(s) {text} hold text", column="survivors")
        out = []
        for label, row in survivors.iterrows():
            vals = pd.to_numeric(row, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            observed = ~np.isnan(vals)
            k = int(observed.sum())
            if k and not observed[:k].all():
                raise InvalidValueError(f"cohort {label!r}: survivor counts have gaps (NaN before the last observed "
                                        "period); only trailing periods may be missing", column="survivors",
                                        n_rows=1, examples=[label])
            out.append((label, vals[:k]))
        return out
    if isinstance(survivors, (pd.Series, Sequence, np.ndarray)) and not isinstance(survivors, str):
        raw = np.asarray(survivors.to_numpy() if isinstance(survivors, pd.Series) else survivors)
        if raw.dtype.kind not in "biuf" and any(isinstance(v, str) for v in raw.ravel()):
            raise InvalidValueError(f"survivor counts must be numbers, not text; got {raw.ravel()[:3].tolist()!r}",
                                    column="survivors")
    if isinstance(survivors, pd.Series):
        return [(survivors.name, survivors.to_numpy(dtype=np.float64))]
    if isinstance(survivors, (Sequence, np.ndarray)) and not isinstance(survivors, str):
        arr = np.asarray(survivors, dtype=np.float64)
        if arr.ndim == 2:
            return [(i, row[~np.isnan(row)]) for i, row in enumerate(arr)]
        return [(None, arr)]
    raise DataValidationError(f"survivors must be a sequence of counts, a Series or a DataFrame of cohorts, "
                              f"got {type(survivors).__name__}")


def _records(survivors) -> pd.DataFrame:
    rows = []
    for label, n in _cohorts(survivors):
        what = "survivors" if label is None else f"cohort {label!r}"
        if n.size < 2:
            raise InvalidValueError(f"{what}: need the initial count and at least one later period", column="survivors",
                                    examples=[] if label is None else [label])
        if not np.all(np.isfinite(n)) or np.any(n < 0):
            raise InvalidValueError(f"{what}: counts must be finite and >= 0", column="survivors",
                                    examples=[] if label is None else [label])
        lost = n[:-1] - n[1:]
        if np.any(lost < 0):
            periods = (np.flatnonzero(lost < 0) + 1).tolist()
            raise InvalidValueError(f"{what}: survivor counts increase at period(s) {periods[:5]}; counts must be "
                                    "non-increasing", column="survivors", examples=[] if label is None else [label])
        k = n.size - 1
        t = np.arange(1, k + 1, dtype=np.float64)
        rows.append(pd.DataFrame({"period": np.append(t, k), "censored": np.append(np.zeros(k), 1.0),
                                  "count": np.append(lost, n[-1])}))
    return pd.concat(rows, ignore_index=True)


class ShiftedBetaGeo(MLEModel):
    """Shifted-beta-geometric (sBG): per-period churn probability theta ~ Beta(alpha, beta),
    constant for each customer (Fader & Hardie 2007).

    Examples
    --------
    The "high end" cohort of Fader & Hardie (2007), years 0-7; their estimates are alpha = 0.668,
    beta = 3.806, and the observed survivors of years 8-12 were 468, 445, 427, 409, 394:

    >>> import clvmodels as clv
    >>> sbg = clv.ShiftedBetaGeo().fit([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> sbg.params_.round(3).to_dict(), round(sbg.loglik_, 2)
    ({'alpha': 0.668, 'beta': 3.806}, -1611.16)
    >>> sbg.expected_survivors(range(8, 13)).round(0).tolist()
    [460.0, 436.0, 414.0, 395.0, 378.0]
    >>> sbg.retention([1, 2, 7]).round(3).tolist()
    [0.851, 0.878, 0.936]
    >>> sbg.derl([0, 4], discount_rate=0.10).round(3).tolist()    # yearly contracts, 10% a year
    [5.414, 6.897]
    """

    math = _math
    param_names = ("alpha", "beta")
    _boundary_note = "alpha, beta -> infinity: every customer churns with the same probability alpha / (alpha + beta)"
    input_columns = ("period", "censored")

    def _validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        # the internal record frame built by fit(); already checked in _records
        return summary.loc[:, list(self.input_columns)].astype(np.float64)

    def _loglik(self, params, data):
        return self.math.loglik_periods(*params, *data)

    def _initial_guess(self, data, weights):
        return np.array([1.0, 1.0])

    def _data_summary(self, summary: pd.DataFrame, w: np.ndarray) -> dict:
        return dict(self._fit_description)

    def fit(self, survivors, weights=None) -> ShiftedBetaGeo:
        """Fit on survivor counts ``[n_0, n_1, ..., n_k]`` (one cohort: list, array or Series) or on
        a DataFrame of cohorts (rows) by period (columns, trailing NaN allowed).

        ``weights`` is not supported (the counts are the weights).
        """
        if weights is not None:
            raise InvalidValueError("ShiftedBetaGeo.fit takes survivor counts; the counts are the weights",
                                    column="weights")
        records = _records(survivors)
        cohorts = _cohorts(survivors)
        self._fit_description = {"n_customers": float(sum(c[1][0] for c in cohorts)), "n_cohorts": len(cohorts),
                                 "n_periods": int(max(c[1].size - 1 for c in cohorts))}
        weighted = records[records["count"] > 0]
        if weighted.empty:
            raise DataValidationError("survivor counts are all zero: nothing to fit", n_rows=0)
        return super().fit(records, weights="count")

    # ---- predictions (keyed by period) ------------------------------------------------------
    def _periods(self, t, minimum: int, name: str = "t") -> tuple[np.ndarray, bool]:
        arr = np.asarray(list(t) if isinstance(t, range) else t, dtype=np.float64)
        if arr.ndim > 1:
            raise InvalidValueError(f"{name} must be a scalar or a 1-D sequence of periods", column=name)
        if not np.all(np.isfinite(arr) & (arr >= minimum) & (arr == np.floor(arr))):
            raise InvalidValueError(f"{name} must hold whole numbers >= {minimum}", column=name)
        return arr, arr.ndim == 0

    def _by_period(self, fn, t, minimum: int, name: str):
        self.check_fitted()
        arr, scalar = self._periods(t, minimum)
        values = fn(*self._params_tuple(), arr)
        if scalar:
            return float(values)
        return pd.Series(np.asarray(values, dtype=np.float64), index=pd.Index(arr.astype(np.int64), name="period"),
                         name=name)

    def survival(self, t):
        """S(t) = P(still a customer after t periods); float or Series by period."""
        return self._by_period(self.math.survival, t, 0, "survival")

    def retention(self, t):
        """Retention rate r_t = S(t)/S(t-1) (t >= 1); float or Series by period."""
        return self._by_period(self.math.retention, t, 1, "retention")

    def p_churn_at(self, t):
        """P(T = t): probability of leaving at the end of period t (t >= 1); float or Series."""
        return self._by_period(self.math.p_churn_at, t, 1, "p_churn_at")

    def expected_survivors(self, t, initial: float = 1000.0):
        """Expected survivors of a cohort of ``initial`` customers after t periods."""
        out = self.survival(t)
        return out * float(initial) if isinstance(out, float) else (out * float(initial)).rename("expected_survivors")

    def derl(self, n_renewals=0, discount_rate=0.1, *, period: str = "Y"):
        """Discounted expected residual lifetime (FH 2010) of a customer who has made
        ``n_renewals`` renewals; float or Series by n_renewals. ``discount_rate`` is a
        :class:`~clvmodels.DiscountRate` or a number (an annual effective rate), converted to the
        effective rate per contract ``period`` ('D', 'W', 'M', 'Y'; yearly contracts by default).

        Examples
        --------
        >>> sbg = ShiftedBetaGeo.from_params(alpha=0.668, beta=3.806)
        >>> round(sbg.derl(0, discount_rate=0.10), 3)
        5.415
        """
        rate = as_discount_rate(discount_rate)
        if not rate.annual > 0:
            raise InvalidValueError(f"discount_rate must be > 0, got {rate.annual}", column="discount_rate")
        d = rate.per_period(check_unit(period, key="period"))
        self.check_fitted()
        arr, scalar = self._periods(n_renewals, 0, "n_renewals")
        values = self.math.derl(*self._params_tuple(), arr, d)
        if scalar:
            return float(values)
        return pd.Series(np.asarray(values, dtype=np.float64), index=pd.Index(arr.astype(np.int64), name="n_renewals"),
                         name="derl")
