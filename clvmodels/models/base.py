"""One small estimation base shared by every maximum-likelihood model.

A model subclass is *declarative*: it says what its parameters are, which summary columns it
reads and where its per-customer log-likelihood lives; :class:`MLEModel` does the rest
(validation, compression of identical rows into weights, optimisation on log-parameters with
a well-scaled axis, standard errors, a convergence report, JSON persistence and parameter draws
for the forecasting layer).

How to write a model
--------------------
::

    from ..math import bgnbd as _bgnbd_math

    class BGNBD(MLEModel):
        math = _bgnbd_math                        # math module (pure numpy, log space)
        param_names = ("r", "alpha", "a", "b")   # natural parameters, in the math signature order
        _bounds = {}                              # name -> (lower, upper); default (0, inf)
        input_columns = ("frequency", "recency", "T")   # data columns, in the math signature order
        _scale_columns = ("recency", "T")         # columns measured in the time unit ...
        _scale_params = ("alpha",)                # ... and the parameters measured in that unit too

        # optional hooks
        def _initial_guess(self, data, weights): ...   # start, natural params, in *rescaled* units
        def _fit_frame(self, summary): ...             # select/validate the rows used for fitting

The per-customer log-likelihood is ``self._loglik(params, data)`` where ``params`` is a tuple of
natural parameter values (floats) and ``data`` a tuple of 1-D float arrays in
``input_columns`` order. By default it calls ``self.math.loglik(*params, *data)``, so the
math module's ``loglik`` must take the parameters first and the data columns after, exactly in
the declared orders. If the math module also offers ``loglik_and_grad(*params, *data)`` returning
``(ll, grad)`` with ``grad`` of shape ``(n_params, n_rows)`` (derivatives with respect to the
natural parameters), the optimiser uses the analytic gradient; otherwise it uses central
differences. Override ``_loglik`` / ``_loglik_and_grad`` to do something else.

Contract of the declarations
----------------------------
* ``_bounds[name] = (lower, upper)``: ``upper`` may be ``inf``. The optimiser works on
  ``theta = log(param - lower)`` (or ``logit`` of the position inside finite bounds), so the
  bounds are strict: e.g. Gamma-Gamma declares ``q: (1, inf)`` so that its mean exists.
* ``_scale_columns`` / ``_scale_params``: before optimising, the scale columns are divided by a
  power of two ``c`` close to the mean of the last scale column (so the optimiser sees O(1)
  numbers whatever the time unit); parameters in ``_scale_params`` are rate/scale parameters
  measured in that unit, so the optimum maps back *exactly* by multiplying them by ``c`` (a power
  of two, hence exact in floating point). The likelihood must be scale-equivariant in that sense
  (true for alpha/beta of the NBD-type models and v of Gamma-Gamma). Leave both empty for models
  on discrete opportunities (BG/BB, sBG).
* ``loglik_`` is the total (weighted) log-likelihood in the papers' convention, evaluated on the
  data in their own unit (not the rescaled one); ``cov_`` is the inverse of the negative
  Hessian of the (penalised) total log-likelihood in natural parameters.

Fitting, attributes and persistence are described on :class:`MLEModel`; the optimiser is
:func:`clvmodels.models.optimize.maximize_loglik`, the JSON artifacts :mod:`clvmodels.models.artifacts`.
Every MLE model implements :class:`clvmodels.protocols.PurchaseModel` (or ``SpendModel``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .._threads import one_blas_thread
from ..data.compression import compress_columns
from ..data.summary import summary_time_unit
from ..data.validation import validate_summary, validate_weights
from ..errors import (CLVError, CLVWarning, ConfigError, ConvergenceWarning, DataValidationError,
                      InvalidValueError, NotFittedError)
from ..protocols import ParameterDraws
from ..timeunits import as_discount_rate, check_unit
from . import artifacts
from .optimize import LogLik, ParameterTransform, maximize_loglik

__all__ = ["MLEModel", "check_horizon"]

_ADVICE = ("Try: express T/recency in a coarser time unit (e.g. weeks instead of days), check the data "
           "(duplicated or implausible customers), or pass initial_params={...} to start elsewhere.")


class MLEModel(BaseEstimator):
    """Base of the maximum-likelihood models (sklearn estimator).

    Parameters
    ----------
    penalizer_coef : float, default 0
        Optional L2 penalty, as in lifetimes: the optimiser minimises
        ``-mean_weighted_loglik + penalizer_coef * sum(params**2)`` with the parameters in the
        summary's own units (unlike lifetimes, whose penalty acts on its internally rescaled
        alpha). 0 gives the plain maximum-likelihood estimate that papers report.
    initial_params : dict, optional
        Starting values ``{name: value}`` in the summary's units (any subset); the rest comes from
        the model's warm start.
    max_iter : int, default 1000
        Iteration cap of the optimiser (L-BFGS on log-parameters).
    tol : float, default 1e-10
        Convergence tolerance on the projected gradient of the mean negative log-likelihood.

    Attributes
    ----------
    params_ : pd.Series
        Natural parameters by name (summary's units); set by ``fit`` or ``from_params``.
    cov_ : pd.DataFrame
        Asymptotic covariance (inverse negative Hessian) in natural parameters (None after
        ``from_params`` without ``cov``).
    stderr_ : pd.Series
        Square roots of the diagonal of ``cov_`` (None without ``cov_``).
    loglik_ : float
        Total weighted log-likelihood (papers' convention). This and ``converged_``, ``n_obs_``,
        ``data_summary_``, ``fit_info_`` are None after ``from_params``.
    converged_ : bool
        No problem reported: optimiser success, a finite log-likelihood, no parameter at the edge
        of its range and a negative definite Hessian.
    n_obs_ : float
        Number of customers used in the fit (sum of weights).
    time_unit_ : str or None
        The time unit of the :class:`~clvmodels.RFMSummary` it was fitted on (``from_params``: its
        ``time_unit``).
    data_summary_ : dict
        n_customers / n_repeat_buyers of the summary given to ``fit``.
    fit_info_ : dict
        Optimiser details (iterations, message, unique rows, time scale).

    Examples
    --------
    Every MLE model (:class:`~clvmodels.BGNBD`, :class:`~clvmodels.ParetoNBD`, ...) is an MLEModel:
    fit, then read the estimates, their standard errors and Wald intervals, draw parameters, save:

    >>> import clvmodels as clv
    >>> from clvmodels.models.base import MLEModel
    >>> bg = clv.BGNBD().fit(clv.datasets.cdnow_summary())
    >>> isinstance(bg, MLEModel), bg.converged_, bg.n_obs_, bg.time_unit_
    (True, True, 2357.0, 'W')
    >>> bg.summary.round(3)
           estimate  stderr  lower_95  upper_95
    r         0.243   0.013     0.219     0.268
    alpha     4.414   0.378     3.731     5.221
    a         0.793   0.186     0.501     1.255
    b         2.426   0.705     1.372     4.289
    >>> bg.sample_params(2, random_state=0).round(3).values.tolist()     # draws (n_draws x params)
    [[0.244, 4.419, 0.921, 2.915], [0.236, 4.342, 1.079, 3.815]]
    >>> type(clv.BGNBD.load(bg.save("bgnbd.json"))).__name__             # JSON, no pickle
    'BGNBD'

    ``from_params`` scores with known parameters (no fit); with ``time_unit`` the predictions refuse
    a summary in another unit:

    >>> known = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> known.expected_purchases(clv.datasets.cdnow_summary().loc[[1]], t=39).round(3).tolist()
    [1.226]
    """

    # ---- declarations a subclass overrides -------------------------------------------------
    math: ClassVar[ModuleType | None] = None
    param_names: ClassVar[tuple[str, ...]] = ()
    _bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    input_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    covariate_columns: ClassVar[tuple[str, ...]] = ()
    time_axis: ClassVar[str] = "continuous"
    _scale_columns: ClassVar[tuple[str, ...]] = ()
    _scale_params: ClassVar[tuple[str, ...]] = ()
    _validate_kwargs: ClassVar[dict[str, Any]] = {}
    #: what the model becomes when its parameters run to infinity (said in the warning), e.g. BG/NBD's a, b
    _boundary_note: ClassVar[str] = ""

    def __init__(self, penalizer_coef: float = 0.0, initial_params: dict | None = None,
                 max_iter: int = 1000, tol: float = 1e-10):
        self.penalizer_coef = penalizer_coef
        self.initial_params = initial_params
        self.max_iter = max_iter
        self.tol = tol

    # ---- hooks ----------------------------------------------------------------------------
    def _validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Validated float copy of ``summary`` (same index/order) for this model's columns."""
        return validate_summary(summary, **self._validate_kwargs)

    def _fit_frame(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Rows used for fitting (default: all rows of the validated summary)."""
        return self._validate(summary)

    def _loglik(self, params: tuple[float, ...], data: tuple[np.ndarray, ...]) -> np.ndarray:
        return self.math.loglik(*params, *data)

    def _loglik_and_grad(self, params: tuple[float, ...], data: tuple[np.ndarray, ...]):
        """``(ll, grad)`` with grad (n_params, n_rows) in natural params, or None if unavailable."""
        fn = getattr(self.math, "loglik_and_grad", None)
        if fn is None:
            return None
        return fn(*params, *data)

    def _weighted_loglik_and_grad(self, params: tuple[float, ...], data: tuple[np.ndarray, ...], weights: np.ndarray):
        """``(sum_i w_i ll_i, gradient (n_params,))`` or None when no analytic gradient exists.

        Uses the math module's ``weighted_loglik_and_grad(*params, *data, weights)`` when present
        (fast path), else weights the per-row ``loglik_and_grad``.
        """
        fn = getattr(self.math, "weighted_loglik_and_grad", None)
        if fn is not None:
            total, g = fn(*params, *data, weights)
            return float(total), np.asarray(g, dtype=np.float64)
        out = self._loglik_and_grad(params, data)
        if out is None:
            return None
        ll, g = out
        return float(np.einsum("i,i->", weights, ll)), np.einsum("ki,i->k", np.asarray(g), weights)

    def _initial_guess(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        """Warm start in natural parameters, in the *rescaled* units the optimiser sees."""
        start = np.ones(len(self.param_names))
        lo = np.array([self._bound(n)[0] for n in self.param_names])
        return np.where(start > lo, start, lo + 1.0)

    # ---- small helpers --------------------------------------------------------------------
    @classmethod
    def _bound(cls, name: str) -> tuple[float, float]:
        return tuple(cls._bounds.get(name, (0.0, np.inf)))

    @classmethod
    def _transform(cls) -> ParameterTransform:
        return ParameterTransform([cls._bound(n) for n in cls.param_names])

    def _params_tuple(self) -> tuple[float, ...]:
        self.check_fitted()
        return tuple(float(self.params_[n]) for n in self.param_names)

    def _check_time_unit(self, summary: pd.DataFrame) -> None:
        unit = summary_time_unit(summary)
        mine = getattr(self, "time_unit_", None)
        if unit is not None and mine is not None and unit != mine:
            raise DataValidationError(f"the summary is in time unit {unit!r} but the model was fitted in "
                                      f"{mine!r}; rebuild the summary in {mine!r}", column="T")

    def _columns(self, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        return tuple(frame[c].to_numpy(dtype=np.float64) for c in self.input_columns)

    def _prepare(self, summary: pd.DataFrame) -> tuple[pd.DataFrame, tuple[np.ndarray, ...]]:
        """Validated frame and data columns for prediction (fitted check + time-unit check)."""
        self.check_fitted()
        self._check_time_unit(summary)
        frame = self._validate(summary)
        return frame, self._columns(frame)

    def _rate_per_unit(self, summary: pd.DataFrame, discount_rate, time_unit: str | None, *,
                       continuous: bool) -> float:
        """The discount rate (a :class:`~clvmodels.DiscountRate` or an annual effective number, > 0) per
        time unit of ``summary`` (``time_unit``, else the summary's, else the model's): continuously
        compounded, or effective per unit (``continuous=False``)."""
        rate = as_discount_rate(discount_rate)
        if not rate.annual > 0:
            raise InvalidValueError("discount_rate must be > 0 (the residual value is infinite without "
                                    "discounting)", column="discount_rate")
        unit = time_unit or summary_time_unit(summary) or getattr(self, "time_unit_", None)
        if unit is None:
            raise ConfigError("the time unit of the summary is unknown (a plain DataFrame and a model without "
                              "time_unit_): pass time_unit='D'|'W'|'M'|'Y'", key="time_unit")
        unit = check_unit(unit)
        return rate.continuous_rate(unit) if continuous else rate.per_period(unit)

    @staticmethod
    def _finite_or_warn(values: np.ndarray, what: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            warnings.warn(f"{what}: {int(bad.sum())} value(s) are not finite (parameters or data out of the "
                          "numerically supported range).", CLVWarning, stacklevel=3)
        return values

    @staticmethod
    def _check_nonneg(value, name: str, integer: bool = False) -> np.ndarray:
        """A prediction argument (horizon t, count n) as floats: finite, >= 0, whole if ``integer``."""
        arr = _real_array(value, name)
        bad = ~np.isfinite(arr) | (arr < 0)
        if integer:
            bad |= arr != np.floor(arr)
        if np.any(bad):
            kind = "non-negative whole numbers" if integer else "finite and non-negative"
            raise InvalidValueError(f"{name} must be {kind}; got {np.asarray(value)[bad][:5].tolist()}", column=name)
        return arr

    @staticmethod
    def _check_horizon(value, name: str = "t") -> float:
        return check_horizon(value, name)

    @staticmethod
    def _keyed(values: np.ndarray, index: pd.Index, name: str) -> pd.Series:
        """A Series keyed by customer_id in input order."""
        return pd.Series(np.asarray(values, dtype=np.float64), index=index, name=name)

    @staticmethod
    def _grid(fn, a, b, name: str, a_name: str, b_name: str):
        """Evaluate ``fn(a, b)`` for scalar/array a and b.

        Both scalars -> float; one array -> Series indexed by that array; both arrays ->
        DataFrame (rows a, columns b).
        """
        a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a_arr.ndim > 1 or b_arr.ndim > 1:
            raise InvalidValueError(f"{a_name} and {b_name} must be scalars or 1-D arrays")
        if a_arr.ndim == 0 and b_arr.ndim == 0:
            return float(fn(a_arr, b_arr))
        if b_arr.ndim == 0:
            return pd.Series(np.asarray(fn(a_arr, b_arr), dtype=np.float64), index=pd.Index(np.asarray(a), name=a_name), name=name)
        if a_arr.ndim == 0:
            return pd.Series(np.asarray(fn(a_arr, b_arr), dtype=np.float64), index=pd.Index(np.asarray(b), name=b_name), name=name)
        values = np.asarray(fn(a_arr[:, None], b_arr[None, :]), dtype=np.float64)
        return pd.DataFrame(values, index=pd.Index(np.asarray(a), name=a_name), columns=pd.Index(np.asarray(b), name=b_name))

    # ---- fitting --------------------------------------------------------------------------
    def _weights(self, summary: pd.DataFrame, weights) -> np.ndarray:
        w = validate_weights(weights, summary)
        return np.ones(len(summary)) if w is None else w

    def fit(self, summary: pd.DataFrame, weights=None) -> MLEModel:
        """Maximum-likelihood fit on an RFM summary.

        ``weights`` (optional): array-like of one non-negative weight per row, a Series keyed by
        customer_id, or the name of a column of ``summary`` (e.g. ``"weight"`` for counts of
        identical customers). Identical rows are compressed into weights before optimising, so
        fitting a summary equals fitting its compressed form.

        BLAS is limited to one thread during the fit (threadpoolctl, scoped to this call): the
        optimiser only does tiny vector operations, and on a busy machine OpenBLAS' thread
        hand-offs made a CDNOW fit 5x slower.
        """
        with one_blas_thread():
            return self._fit(summary, weights)

    def check_settings(self) -> None:
        """Raise the typed error a fit would raise for a bad setting, without fitting (e.g. a config check).

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.BGNBD(penalizer_coef=0.1).check_settings()               # fine: returns None
        >>> try:
        ...     clv.BGNBD(max_iter=0).check_settings()
        ... except clv.errors.ConfigError as exc:
        ...     print(exc)
        BGNBD(max_iter=0): max_iter must be a whole number >= 1
        """
        self._check_settings()

    def _check_settings(self) -> None:
        """The estimator's settings, checked when fitting (they may be set after construction)."""
        for name, ok, what in (("penalizer_coef", lambda v: v >= 0, "a finite number >= 0"),
                               ("tol", lambda v: v > 0, "a finite number > 0"),
                               ("max_iter", lambda v: v >= 1 and float(v).is_integer(), "a whole number >= 1")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or not ok(value):
                raise ConfigError(f"{type(self).__name__}({name}={value!r}): {name} must be {what}", key=name)

    def _fit(self, summary: pd.DataFrame, weights) -> MLEModel:
        self._check_settings()
        all_w = self._weights(summary, weights)
        frame = self._fit_frame(summary)
        data_summary = self._data_summary(summary, all_w)
        if len(frame) == len(summary) and frame.index.equals(summary.index):  # same rows, same order
            w = all_w
        else:
            w = all_w[summary.index.get_indexer(frame.index)]
        if not np.any(w > 0):
            raise DataValidationError("no customers with positive weight to fit", n_rows=0)
        columns = self._columns(frame)
        keep = w > 0
        if not keep.all():
            columns, w = tuple(c[keep] for c in columns), w[keep]
        cols, uw, _ = compress_columns(columns, None if weights is None else w, want_inverse=False)
        # the validated copy and the per-customer weights are not needed any more: freeing them
        # before the optimiser's allocations keeps the peak (and fresh pages) down
        del frame, columns, all_w, w, keep

        scale = self._choose_scale(cols, uw)
        scaled = tuple(c / scale if name in self._scale_columns else c for name, c in zip(self.input_columns, cols))
        pscale = np.array([scale if n in self._scale_params else 1.0 for n in self.param_names])

        start = np.asarray(self._initial_guess(scaled, uw), dtype=np.float64)
        for name, value in (self.initial_params or {}).items():
            if name not in self.param_names:
                raise CLVError(f"initial_params has unknown parameter {name!r}; expected {list(self.param_names)}")
            start[self.param_names.index(name)] = float(value) / pscale[self.param_names.index(name)]
        tr = self._transform()
        theta0 = tr.to_theta(start)
        if not np.all(np.isfinite(theta0)):
            raise CLVError(f"initial parameters {dict(zip(self.param_names, start * pscale))} are outside the bounds")

        opt = maximize_loglik(self._make_loglik, cols, uw, scaled, theta0, tr, pscale, tol=float(self.tol),
                              max_iter=int(self.max_iter), penalizer=float(self.penalizer_coef),
                              warm_start=not self.initial_params, names=self.param_names)
        res = opt.result
        self.params_ = pd.Series(opt.params, index=list(self.param_names), name="estimate", dtype=np.float64)
        self.loglik_ = opt.loglik
        self.n_obs_ = float(uw.sum())
        self.time_unit_ = summary_time_unit(summary)
        self.data_summary_ = data_summary
        self.fit_info_ = {"n_iter": int(getattr(res, "nit", -1)), "message": str(res.message),
                          "success": bool(res.success), "n_unique_rows": int(len(uw)), "scale": float(scale)}
        names = list(self.param_names)
        self.cov_ = pd.DataFrame(opt.cov, index=names, columns=names)
        with np.errstate(invalid="ignore"):
            self.stderr_ = pd.Series(np.sqrt(np.diag(opt.cov)), index=names, name="stderr")
        runaway = self._runaway(opt.params / pscale, bool(opt.problems))
        self.converged_ = not opt.problems and not runaway
        self.fit_info_["boundary"] = runaway
        if runaway:
            warnings.warn(f"{type(self).__name__} fit: no finite maximum-likelihood estimate: "
                          + ", ".join(f"{n}={self.params_[n]:.3g}" for n in runaway)
                          + f" ran towards infinity or 0 (the likelihood keeps rising along them; {self.n_obs_:g} "
                          "customer(s)). The values describe the limiting model the data support"
                          + (f" ({self._boundary_note})" if self._boundary_note else "")
                          + "; predictions are usable, standard errors and intervals are not. More customers "
                          "(or more history) usually give a finite estimate; a penalizer_coef > 0 keeps it finite."
                          + (" The optimiser also reported: " + "; ".join(opt.problems) + ". " + _ADVICE
                             if opt.problems else ""),
                          ConvergenceWarning, stacklevel=3)
        elif opt.problems:
            warnings.warn(f"{type(self).__name__} fit: " + "; ".join(opt.problems) + ". " + _ADVICE,
                          ConvergenceWarning, stacklevel=3)
        return self

    def _runaway(self, rescaled: np.ndarray, troubled: bool) -> list[str]:
        """Parameters that ran to the edge of the parameter space: above ``_BOUNDARY`` times their data
        scale, or (when the optimiser also reported a problem) above ``_BOUNDARY_TROUBLED`` or below
        ``1 / _BOUNDARY_TROUBLED`` of it (for parameters bounded below by 0 only)."""
        out = []
        for name, v in zip(self.param_names, rescaled):
            lo, hi = self._bound(name)
            if hi != np.inf:
                continue
            if v >= _BOUNDARY or (troubled and (v >= _BOUNDARY_TROUBLED or (lo == 0 and v <= 1 / _BOUNDARY_TROUBLED))):
                out.append(name)
        return out

    def _make_loglik(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> LogLik:
        """The total weighted log-likelihood of ``data`` as callables for the optimiser."""
        has_grad = (hasattr(self.math, "weighted_loglik_and_grad") or hasattr(self.math, "loglik_and_grad")
                    or type(self)._loglik_and_grad is not MLEModel._loglik_and_grad)

        def value(p):
            return float(np.einsum("i,i->", weights, self._loglik(p, data)))

        def value_grad(p):
            return self._weighted_loglik_and_grad(p, data, weights)

        return LogLik(value=value, value_grad=value_grad if has_grad else None, total_weight=float(weights.sum()),
                      evaluator=self._evaluator(data, weights))

    def _choose_scale(self, cols: tuple[np.ndarray, ...], w: np.ndarray) -> float:
        if not self._scale_columns:
            return 1.0
        col = cols[self.input_columns.index(self._scale_columns[-1])]
        pos = col > 0
        w_pos = float(np.einsum("i,i->", w, pos))  # (einsum: a masked reduce is ~7x slower)
        if not w_pos > 0:
            return 1.0
        # weighted mean of the positive values (no masked copies: non-positive values add zero)
        mean = float(np.einsum("i,i->", w, col if col.min() >= 0 else np.maximum(col, 0.0)) / w_pos)
        return float(2.0 ** np.round(np.log2(mean)))

    def _evaluator(self, data, weights):
        """The math module's prepared evaluator of the weighted total log-likelihood, or None.

        ``self.math.weighted_evaluator(*data, weights, blas=True)`` (optional) prepares the rows
        once and returns ``ev`` with ``ev(*params, order)`` giving the total (order 0), with its
        gradient (1) and its Hessian (2) in natural parameters; ``blas=True`` because the fit
        limits BLAS to one thread.
        """
        make = getattr(self.math, "weighted_evaluator", None)
        return None if make is None else make(*data, weights, blas=True)

    # ---- the model protocol (clvmodels.protocols) -----------------------------------------
    def check_fitted(self) -> None:
        """Raise :class:`~clvmodels.errors.NotFittedError` unless fitted (or built by ``from_params``)."""
        if getattr(self, "params_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(summary) "
                                 f"or {type(self).__name__}.from_params(...) first.")

    def parameter_draws(self, n_draws: int | None = None, random_state=None) -> ParameterDraws:
        """The estimate and ``n_draws`` draws from the asymptotic normal of the log-parameters
        (:meth:`sample_params`; none when ``n_draws`` is None or 0)."""
        self.check_fitted()
        names = self.param_names
        estimate = {k: np.asarray(float(self.params_[k])) for k in names}
        if not n_draws:
            return ParameterDraws({k: np.empty(0) for k in names}, estimate, "mle")
        sample = self.sample_params(int(n_draws), random_state=random_state)
        return ParameterDraws({k: sample[k].to_numpy(dtype=np.float64) for k in names}, estimate, "mle")

    def customer_parameters(self, params: Mapping[str, np.ndarray], covariates=None) -> dict[str, np.ndarray]:
        """Every customer shares the population parameters: ``(1, S)`` arrays."""
        return {k: np.asarray(params[k], dtype=np.float64).reshape(1, -1) for k in self.param_names}

    def _data_summary(self, summary: pd.DataFrame, w: np.ndarray) -> dict[str, float]:
        freq_col = self.input_columns[0] if self.input_columns[0] in summary.columns else "frequency"
        out = {"n_customers": float(np.sum(w))}
        if freq_col in summary.columns:
            freq = pd.to_numeric(summary[freq_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            out["n_repeat_buyers"] = float(np.einsum("i,i->", w, freq > 0))
        return {k: (int(v) if float(v).is_integer() else v) for k, v in out.items()}

    # ---- scoring without refitting ----------------------------------------------------------
    @classmethod
    def from_params(cls, cov=None, time_unit: str | None = None, **params: float) -> MLEModel:
        """A model with the given parameters, ready to predict without fitting.

        ``cov`` (optional) is a covariance matrix (array or DataFrame, in ``param_names`` order)
        that enables :meth:`sample_params`; without it ``sample_params`` raises. ``time_unit``
        (optional) is the unit the parameters are in ('D', 'W', 'M', 'Y'): predictions then refuse
        a summary in another unit.
        """
        names = cls.param_names
        missing = [n for n in names if n not in params]
        extra = [n for n in params if n not in names]
        if missing or extra:
            raise CLVError(f"{cls.__name__}.from_params needs exactly {list(names)}; "
                           f"missing {missing}, unexpected {extra}")
        values = np.array([_real_scalar(params[n], n) for n in names])
        for n, v in zip(names, values):
            lo, hi = cls._bound(n)
            if not (np.isfinite(v) and lo < v < hi):
                raise InvalidValueError(f"parameter {n}={v} must lie strictly inside ({lo}, {hi})", column=n)
        model = cls()
        model.params_ = pd.Series(values, index=list(names), name="estimate", dtype=np.float64)
        if cov is not None:
            cov = _covariance(cov, names, cls.__name__)
            model.cov_ = pd.DataFrame(cov, index=list(names), columns=list(names))
            with np.errstate(invalid="ignore"):
                model.stderr_ = pd.Series(np.sqrt(np.diag(cov)), index=list(names), name="stderr")
        else:
            model.cov_ = None
            model.stderr_ = None
        model.loglik_ = None
        model.converged_ = None
        model.n_obs_ = None
        model.time_unit_ = None if time_unit is None else check_unit(time_unit)
        model.data_summary_ = None
        model.fit_info_ = None
        return model

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Per-customer log-likelihood under the current parameters (Series by customer_id)."""
        frame, data = self._prepare(summary)
        ll = self._finite_or_warn(self._loglik(self._params_tuple(), data), "log_likelihood")
        return self._keyed(ll, frame.index, "log_likelihood")

    def score(self, summary: pd.DataFrame, y=None) -> float:
        """Mean per-customer log-likelihood (sklearn convention: higher is better)."""
        return float(self.log_likelihood(summary).mean())

    @property
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and Wald 95% intervals on the log scale."""
        self.check_fitted()
        est = self.params_
        se = self.stderr_ if self.stderr_ is not None else pd.Series(np.nan, index=est.index)
        lo = np.array([self._bound(n)[0] for n in est.index])
        with np.errstate(invalid="ignore", divide="ignore"):
            half = 1.959963984540054 * se.to_numpy() / (est.to_numpy() - lo)
            lower = lo + (est.to_numpy() - lo) * np.exp(-half)
            upper = lo + (est.to_numpy() - lo) * np.exp(half)
        return pd.DataFrame({"estimate": est.to_numpy(), "stderr": se.to_numpy(), "lower_95": lower, "upper_95": upper},
                            index=est.index)

    # ---- parameter draws --------------------------------------------------------------------
    def sample_params(self, n_draws: int, random_state=None) -> pd.DataFrame:
        """Draws (n_draws x params) from the asymptotic normal of the log-parameters.

        The covariance of ``theta = log(param - lower)`` (logit for finite bounds) is obtained from
        ``cov_`` by the delta method; draws are mapped back, so they always respect the bounds.
        ``random_state``: None, an int seed or a numpy Generator.
        """
        self.check_fitted()
        if getattr(self, "cov_", None) is None:
            raise NotFittedError(f"{type(self).__name__} has no covariance (built with from_params without cov=): "
                                 "fit the model, or pass cov= to from_params, to draw parameters.")
        boundary = (getattr(self, "fit_info_", None) or {}).get("boundary")
        if boundary:
            raise CLVError(f"{type(self).__name__} has no finite maximum-likelihood estimate ({', '.join(boundary)} "
                           "ran to the edge of the parameter space), so its parameter uncertainty is not defined; "
                           "cannot draw parameters.")
        cov = self.cov_.to_numpy()
        if not np.all(np.isfinite(cov)):
            raise CLVError(f"{type(self).__name__}.cov_ is not finite (the fit did not converge cleanly); "
                           "cannot draw parameters.")
        rng = np.random.default_rng(random_state)
        tr = self._transform()
        p = self.params_.to_numpy()
        theta = tr.to_theta(p)
        J = 1.0 / tr.dparam_dtheta(theta)  # dtheta/dparam
        cov_theta = cov * np.outer(J, J)
        draws = rng.multivariate_normal(theta, cov_theta, size=int(n_draws), method="cholesky")
        return pd.DataFrame(tr.to_param(draws), columns=list(self.param_names))

    # ---- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: class, version, settings, params, cov, fit report
        (:func:`clvmodels.models.artifacts.model_to_dict`)."""
        return artifacts.model_to_dict(self)

    def save(self, path) -> Path:
        """Write the model as JSON (no pickle). Returns the path."""
        return artifacts.save_json(self, path)

    @classmethod
    def load(cls, path) -> MLEModel:
        """Read a model written by :meth:`save` (the file must hold this class)."""
        return artifacts.model_from_dict(cls, artifacts.read_json(path))


#: a parameter above this many times its data scale has run to the boundary (no finite MLE)
_BOUNDARY = 1e6
#: the same with an optimiser that stopped with a problem (a flat, not negative definite Hessian)
_BOUNDARY_TROUBLED = 1e2


def _real_array(value, name: str) -> np.ndarray:
    """``value`` as a float array; text, complex or object values are an InvalidValueError naming ``name``."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise InvalidValueError(f"{name} must be real numbers; got {np.asarray(value).ravel()[:3].tolist()!r} "
                                f"({arr.dtype})", column=name)
    return arr.astype(np.float64)


def _real_scalar(value, name: str) -> float:
    """One real number (not text, complex, an array or None), for a model parameter."""
    arr = np.asarray(value) if value is not None else np.asarray(np.nan, dtype=object)
    if arr.dtype.kind not in "biuf" or arr.ndim != 0 or isinstance(value, bool):
        raise InvalidValueError(f"parameter {name} must be one real number; got {value!r}", column=name)
    return float(arr)


def _covariance(cov, names, model: str) -> np.ndarray:
    """A covariance matrix for ``names``: square of their size, finite, symmetric, positive semi-definite."""
    k = len(names)
    arr = np.asarray(cov.loc[list(names), list(names)] if isinstance(cov, pd.DataFrame) else cov)
    if arr.dtype.kind not in "biuf" or arr.shape != (k, k):
        raise InvalidValueError(f"{model}.from_params(cov=...): a {k} x {k} real matrix in the order {list(names)} "
                                f"is needed; got shape {arr.shape} ({arr.dtype})", column="cov")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or not np.allclose(arr, arr.T, rtol=1e-8, atol=0.0):
        raise InvalidValueError(f"{model}.from_params(cov=...) must be finite and symmetric", column="cov")
    eig = np.linalg.eigvalsh(arr)
    if eig.min() < -1e-10 * max(1.0, float(np.abs(eig).max())):
        raise InvalidValueError(f"{model}.from_params(cov=...) is not positive semi-definite (smallest eigenvalue "
                                f"{eig.min():.3g}): not a covariance matrix", column="cov")
    return arr


def check_horizon(value, name: str = "t") -> float:
    """A per-customer horizon as a float: one finite real number >= 0 (a prediction per customer has one
    horizon), else an :class:`~clvmodels.errors.InvalidValueError` naming ``name``.

    Examples
    --------
    >>> check_horizon(39)
    39.0
    >>> try:
    ...     check_horizon([1, 2])
    ... except InvalidValueError as exc:
    ...     print(str(exc)[:60])
    t must be one number (a horizon shared by every customer); g
    """
    arr = _real_array(value, name)
    bad = ~np.isfinite(arr) | (arr < 0)
    if np.any(bad):
        raise InvalidValueError(f"{name} must be finite and non-negative; got {arr[bad][:5].tolist()}", column=name)
    if arr.size != 1:
        raise InvalidValueError(f"{name} must be one number (a horizon shared by every customer); got an array "
                                f"of shape {arr.shape}. Call once per horizon, or use the *_new methods for a "
                                "grid of horizons.", column=name)
    return float(arr.reshape(()))
