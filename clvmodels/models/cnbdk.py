"""BG/CNBD-k and MBG/CNBD-k models, fitted by maximum likelihood (Reutterer, Platzer & Schroeder 2021,
"Leveraging purchase regularity for predicting customer behavior the easy way", IJRM; Platzer &
Reutterer 2016, Marketing Science). The math lives in :mod:`clvmodels.math.cnbdk`.

The (M)BG/NBD with Erlang-k inter-purchase times: k = 1 is the BG/NBD (MBG/NBD), k > 1 lets purchases
be regular, so a long silence of a regular buyer says more about dropout. k is a whole number chosen by
likelihood over 1..``max_k`` (one maximum-likelihood fit of (r, alpha, a, b) per k), or fixed.

The likelihood needs, beyond (x, t_x, T), the sum of the logs of the inter-purchase times ``litt``
(``clv.rfm_summary(..., litt=True)``). It enters only as the additive term (k - 1) litt, so at a fixed k
the optimiser sees (x, t_x, T) alone (and compresses identical rows of those) and the term is added to
``loglik_``; it matters for the choice of k.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd

from ..data.validation import LITT_COLUMN, validate_summary
from ..errors import CLVWarning, ConfigError, InvalidValueError, MissingColumnError
from ..math import cnbdk as _math
from .bgnbd import BGNBD

__all__ = ["BGCNBDk", "MBGCNBDk"]

#: the fitted state of one k, kept while the candidates are compared
_STATE = ("params_", "cov_", "stderr_", "loglik_", "converged_", "n_obs_", "time_unit_", "data_summary_",
          "fit_info_")


def _whole(value, name: str, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (Integral, float, np.floating)) \
            or not np.isfinite(value) or value < 1 or float(value) != int(value):
        raise ConfigError(f"{name}={value!r}: {name} must be a whole number >= 1"
                          + (" or None (chosen by likelihood)" if allow_none else ""), key=name)
    return int(value)


class BGCNBDk(BGNBD):
    """BG/CNBD-k purchase model: the BG/NBD with Erlang-k inter-purchase times.

    While alive a customer's purchases are every k-th event of a Poisson(lambda) process (the times
    between purchases are Gamma(k, lambda), mean k / lambda), lambda ~ Gamma(r, alpha) across customers
    (alpha in the summary's time unit); after each purchase the customer drops out with probability
    p ~ Beta(a, b). Same parameters as :class:`~clvmodels.BGNBD` plus the whole number k.

    Parameters
    ----------
    k : int, optional
        Fix k (e.g. ``k=2``). Default None: every k in 1..``max_k`` is fitted and the one with the
        highest log-likelihood is kept (as BTYDplus' ``xbgcnbd.EstimateParameters`` does).
    max_k : int, default 8
        The largest k tried when ``k`` is None. A choice at ``max_k`` is warned about (a larger k may fit
        better).
    penalizer_coef, initial_params, max_iter, tol
        As for every :class:`~clvmodels.models.base.MLEModel`; they apply to the fit at each k.

    Attributes
    ----------
    k_ : int
        The chosen (or fixed) k.
    params_, cov_, stderr_, loglik_, converged_
        The fit at ``k_`` (``cov_`` is conditional on k: parameter draws keep k fixed). ``loglik_``
        includes the (k - 1) litt term, so it is comparable across k and with BTYDplus.
    loglik_by_k_ : pd.Series
        The maximised log-likelihood of every k tried (index k), from ``fit_info_["k_search"]``.
    math
        The model's math namespace with k fixed at ``k_`` (:meth:`clvmodels.math.cnbdk.CNBDkMath.with_k`),
        what forecasts, evaluation and plots call.

    The summary given to ``fit`` must hold ``litt`` (``clv.rfm_summary(..., litt=True)`` or
    ``clv.calibration_holdout(..., litt=True)``); predictions need only (frequency, recency, T).

    Examples
    --------
    Regular buyers (Erlang-2 gaps), simulated; k is recovered and the estimates are close to the truth:

    >>> import clvmodels as clv
    >>> from clvmodels.simulate import cnbdk
    >>> sim = cnbdk.simulate(2, r=1.5, alpha=4.0, a=0.8, b=4.0, T=52.0, n_customers=3000, random_state=1)
    >>> m = clv.BGCNBDk(max_k=3).fit(sim)
    >>> m.k_, m.params_.round(2).to_dict()
    (2, {'r': 1.52, 'alpha': 4.11, 'a': 0.88, 'b': 4.42})
    >>> m.loglik_by_k_.round(1).tolist()                     # k = 1..3
    [-45171.9, -43687.0, -44366.6]
    >>> m.p_alive(sim.iloc[:3]).round(3).tolist()
    [0.889, 0.844, 0.917]

    With ``k=1`` it is the BG/NBD: on CDNOW the estimates of Fader, Hardie & Lee (2005):

    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="W", litt=True)
    >>> bg1 = clv.BGCNBDk(k=1).fit(cal)
    >>> bg1.params_.round(3).to_dict(), round(bg1.loglik_, 1)
    ({'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}, -9582.4)
    """

    _family = _math.BG
    param_names = ("r", "alpha", "a", "b")
    input_columns = ("frequency", "recency", "T")
    _scale_columns = ("recency", "T")
    _scale_params = ("alpha",)
    _boundary_note = ("a, b -> infinity with a / (a + b) fixed: every customer has the same dropout "
                      "probability after a purchase; r, alpha -> infinity: every customer has the same rate")

    def __init__(self, k: int | None = None, max_k: int = 8, penalizer_coef: float = 0.0,
                 initial_params: dict | None = None, max_iter: int = 1000, tol: float = 1e-10):
        super().__init__(penalizer_coef=penalizer_coef, initial_params=initial_params, max_iter=max_iter, tol=tol)
        self.k = k
        self.max_k = max_k

    # ---- k ----------------------------------------------------------------------------------
    @property
    def math(self) -> _math.CNBDkMath:
        """The math namespace: with k fixed at the k being fitted or ``k_`` (the family's, k first, before)."""
        k = getattr(self, "_k_fitting", None) or getattr(self, "k_", None)
        return self._family if k is None else self._family.with_k(k)

    @property
    def loglik_by_k_(self) -> pd.Series:
        """The maximised log-likelihood of each k tried (index ``k``)."""
        self.check_fitted()
        search = (getattr(self, "fit_info_", None) or {}).get("k_search") or []
        return pd.Series({int(row["k"]): (np.nan if row["loglik"] is None else float(row["loglik"]))
                          for row in search}, name="loglik", dtype=np.float64).rename_axis("k")

    def _check_settings(self) -> None:
        super()._check_settings()
        _whole(self.k, "k", allow_none=True)
        _whole(self.max_k, "max_k", allow_none=False)

    def _candidate_ks(self) -> list[int]:
        k = _whole(self.k, "k", allow_none=True)
        return [k] if k is not None else list(range(1, _whole(self.max_k, "max_k", allow_none=False) + 1))

    # ---- the likelihood seen by the optimiser: (x, t_x, T) at the k being fitted ------------
    def _loglik(self, params, data):
        return self._family.loglik(self._k_fitting, *params, *data, 0.0)

    def _loglik_and_grad(self, params, data):
        return self._family.loglik_and_grad(self._k_fitting, *params, *data, 0.0)

    def _initial_guess(self, data, weights):
        start = super()._initial_guess(data, weights)
        start[1] /= self._k_fitting            # k Poisson events per purchase: lambda k times the purchase rate
        prev = getattr(self, "_warm", None)
        if prev is not None:                   # the previous k's estimate (rescaled units), alpha moved likewise
            k_prev, p = prev
            start = p.copy()
            start[1] *= k_prev / self._k_fitting
        return start

    def _fit_frame(self, summary: pd.DataFrame) -> pd.DataFrame:
        frame = getattr(self, "_frame", None)
        return frame if frame is not None else self._validate_with_litt(summary)

    def _validate_with_litt(self, summary: pd.DataFrame) -> pd.DataFrame:
        if isinstance(summary, pd.DataFrame) and LITT_COLUMN not in summary.columns:
            raise MissingColumnError(
                f"{type(self).__name__} needs the column {LITT_COLUMN!r} (the sum of the log inter-purchase times, "
                "the regularity statistic that chooses k): build the summary with litt=True, e.g. "
                "clv.rfm_summary(transactions, ..., litt=True) or clv.calibration_holdout(..., litt=True)",
                column=LITT_COLUMN)
        return validate_summary(summary, litt=True, **self._validate_kwargs)

    # ---- fitting ------------------------------------------------------------------------------
    def _fit(self, summary: pd.DataFrame, weights) -> BGCNBDk:
        self._check_settings()
        ks = self._candidate_ks()
        frame = self._validate_with_litt(summary)
        all_w = self._weights(summary, weights)
        w = all_w if frame.index.equals(summary.index) else all_w[summary.index.get_indexer(frame.index)]
        litt_total = float(np.einsum("i,i->", w, frame[LITT_COLUMN].to_numpy(dtype=np.float64)))
        fits, best = [], None
        try:
            self._frame = frame
            for k in ks:
                self._k_fitting = k
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    super()._fit(summary, weights)
                total = self.loglik_ + (k - 1) * litt_total if self.loglik_ is not None else np.nan
                self.loglik_ = float(total)
                state = {name: getattr(self, name) for name in _STATE}
                fits.append((k, state, caught))
                if np.isfinite(total) and (best is None or total > best[1]["loglik_"]):
                    best = (k, state, caught)
                if np.all(np.isfinite(self.params_.to_numpy())):
                    self._warm = (k, self.params_.to_numpy() / np.array(
                        [self.fit_info_["scale"] if n in self._scale_params else 1.0 for n in self.param_names]))
        finally:
            for name in ("_frame", "_k_fitting", "_warm"):
                self.__dict__.pop(name, None)
        k, state, caught = best if best is not None else fits[0]
        for name, value in state.items():
            setattr(self, name, value)
        self.k_ = k
        self.fit_info_ = dict(self.fit_info_, k=k, litt_total=litt_total, k_search=[
            {"k": kk, "loglik": (float(s["loglik_"]) if np.isfinite(s["loglik_"]) else None),
             "converged": bool(s["converged_"])} for kk, s, _ in fits])
        for w_ in caught:
            warnings.warn_explicit(w_.message, w_.category, w_.filename, w_.lineno)
        if len(ks) > 1 and k == ks[-1]:
            warnings.warn(f"{type(self).__name__}: the likelihood chose k={k}, the largest tried (max_k={ks[-1]}); "
                          "a larger k may fit better: refit with a larger max_k", CLVWarning, stacklevel=3)
        return self

    # ---- per-customer likelihood ----------------------------------------------------------------
    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Per-customer log-likelihood at ``k_`` and the estimates (the summary needs ``litt``)."""
        self.check_fitted()
        self._check_time_unit(summary)
        frame = self._validate_with_litt(summary)
        x, t_x, T, litt = (frame[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T", LITT_COLUMN))
        ll = self._family.loglik(self.k_, *self._params_tuple(), x, t_x, T, litt)
        return self._keyed(self._finite_or_warn(ll, "log_likelihood"), frame.index, "log_likelihood")

    # ---- predictions beyond the BG/NBD's --------------------------------------------------------
    def p_active(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(at least one purchase in the next ``t`` time units | history) (Platzer & Reutterer 2016)."""
        frame, (x, t_x, T) = self._prepare(summary)
        t = self._check_horizon(t, "t")
        values = self.math.p_active(*self._params_tuple(), x, t_x, T, t)
        return self._keyed(self._finite_or_warn(values, "p_active"), frame.index, "p_active")

    def simulate_purchases(self, summary: pd.DataFrame, t: float, n_draws: int = 1000,
                           random_state=None) -> pd.DataFrame:
        """Draws of each customer's purchases in the next ``t`` time units from the fitted model, given
        the history (:func:`clvmodels.math.cnbdk.draw_future_purchases`): a DataFrame ``(n_draws x
        customers)`` with the customers' ids as columns."""
        frame, (x, t_x, T) = self._prepare(summary)
        t = self._check_horizon(t, "t")
        n_draws = _whole(n_draws, "n_draws", allow_none=False)
        draws = self.math.draw_future_purchases(*self._params_tuple(), x, t_x, T, t, n_draws=n_draws,
                                                random_state=random_state)
        return pd.DataFrame(draws, columns=frame.index)

    def simulate(self, T, n_customers: int | None = None, holdout=None, random_state=None) -> pd.DataFrame:
        """New customers simulated from the fitted model (:func:`clvmodels.simulate.cnbdk.simulate`):
        ``frequency``, ``recency``, ``T``, ``litt`` (and ``frequency_holdout`` with ``holdout``)."""
        from ..simulate import cnbdk as _sim

        return _sim.simulate(self.k_, *self._params_tuple(), T, dropout_at_zero=self._family.dropout_at_zero,
                             holdout=holdout, n_customers=n_customers, random_state=random_state)

    # ---- scoring without refitting, persistence -------------------------------------------------
    @classmethod
    def from_params(cls, cov=None, time_unit: str | None = None, k=None, **params: float) -> BGCNBDk:
        """A model with known k and (r, alpha, a, b), ready to predict (``cov``: of r, alpha, a, b).

        Examples
        --------
        >>> import clvmodels as clv
        >>> m = clv.MBGCNBDk.from_params(k=2, r=0.5, alpha=3.0, a=0.9, b=1.6, time_unit="W")
        >>> m.k_, m.expected_purchases_new(39.0) > 0
        (2, True)
        """
        if k is None:
            raise InvalidValueError(f"{cls.__name__}.from_params needs k (a whole number >= 1) besides "
                                    f"{list(cls.param_names)}", column="k")
        try:
            k = _whole(k, "k", allow_none=False)
        except ConfigError as exc:
            raise InvalidValueError(str(exc), column="k") from None
        model = super().from_params(cov=cov, time_unit=time_unit, **params)
        model.k = k
        model.k_ = k
        return model

    def to_dict(self) -> dict:
        """:func:`clvmodels.models.artifacts.model_to_dict` with k among the parameters."""
        d = super().to_dict()
        d["params"] = {"k": int(self.k_), **d["params"]}
        return d


class MBGCNBDk(BGCNBDk):
    """MBG/CNBD-k purchase model: the MBG/NBD with Erlang-k inter-purchase times.

    Like :class:`BGCNBDk`, but customers may also drop out at time 0 (right after the first purchase), so
    customers without repeat purchases have P(alive) < 1 (Batislam, Denizel & Filiztekin 2007; Reutterer,
    Platzer & Schroeder 2021). Same parameters, settings and methods.

    Examples
    --------
    On the CDNOW sample (2,357 customers, 39 weeks of calibration to 1997-09-30) the likelihood picks
    k = 1 with LL -9582.1, the MBG/NBD, as BTYDplus reports (Platzer & Reutterer 2016; BTYDplus vignette):

    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="W", litt=True)
    >>> m = clv.MBGCNBDk().fit(cal)
    >>> m.k_, round(m.loglik_, 1), m.params_.round(3).to_dict()
    (1, -9582.1, {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614})
    >>> m.loglik_by_k_.round(1).head(3).tolist()
    [-9582.1, -9853.3, -10394.4]
    """

    _family = _math.MBG
