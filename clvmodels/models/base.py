"""One small estimation base shared by every maximum-likelihood model.

A model subclass is *declarative*: it says what its parameters are, which summary columns it
reads and where its per-customer log-likelihood lives; :class:`MLEModel` does the rest
(validation, compression of identical rows into weights, optimisation on log-parameters with
a well-scaled axis, a symmetric numerical Hessian, standard errors, a convergence report,
JSON persistence and parameter draws for the forecasting layer).

How to write a model
--------------------
::

    from ..math import bgnbd as _bgnbd_math

    class BGNBD(MLEModel):
        _math = _bgnbd_math                       # math module (pure numpy, log space)
        _param_names = ("r", "alpha", "a", "b")   # natural parameters, in the math signature order
        _bounds = {}                              # name -> (lower, upper); default (0, inf)
        _summary_columns = ("frequency", "recency", "T")   # data columns, in the math signature order
        _scale_columns = ("recency", "T")         # columns measured in the time unit ...
        _scale_params = ("alpha",)                # ... and the parameters measured in that unit too

        # optional hooks
        def _initial_guess(self, data, weights): ...   # start, natural params, in *rescaled* units
        def _fit_frame(self, summary): ...             # select/validate the rows used for fitting

The per-customer log-likelihood is ``self._loglik(params, data)`` where ``params`` is a tuple of
natural parameter values (floats) and ``data`` a tuple of 1-D float arrays in
``_summary_columns`` order. By default it calls ``self._math.loglik(*params, *data)``, so the
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

Fitting, attributes and persistence are described on :class:`MLEModel`.
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special
from sklearn.base import BaseEstimator
from threadpoolctl import ThreadpoolController

from ..data.validation import validate_summary, validate_weights
from ..errors import (CLVError, CLVWarning, ConvergenceWarning, DataValidationError, InvalidValueError,
                      NotFittedError)

__all__ = ["MLEModel", "load_model", "compress_rows", "compress_columns", "FORMAT"]

FORMAT = "clvmodels.mle/1"
_REGISTRY: dict[str, type[MLEModel]] = {}
_ADVICE = ("Try: express T/recency in a coarser time unit (e.g. weeks instead of days), check the data "
           "(duplicated or implausible customers), or pass initial_params={...} to start elsewhere.")
_THETA_EDGE = 30.0  # |log-parameter| beyond this means the estimate runs off to 0 or infinity
_WARM_ROWS = 50_000  # above this many distinct rows, warm-start from a sub-sample fit
_WARM_GTOL = 1e-6  # gradient tolerance of that sub-sample fit
_DEFER_STEP = 1e-6  # a Newton step this small is taken unevaluated: the final LL pass confirms it
_THREADPOOLS: list[ThreadpoolController] = []  # created at the first fit, then reused


def _one_blas_thread():
    """Context limiting BLAS to one thread. The controller is built once: building one scans the
    loaded libraries (~3 ms, a sixth of a CDNOW fit); its ``limit`` afterwards costs ~10 us. (BLAS
    libraries loaded after the first fit are not seen; numpy's and scipy's load with this module.)"""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def compress_rows(data: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical rows of ``data`` (n, k) into unique rows with summed weights.

    Returns ``(unique_rows, unique_weights, inverse)`` with ``data == unique_rows[inverse]``; the
    unique rows are sorted by their first column (the purchase count, so per-count terms can be
    computed once per run), ties in order of first appearance. See :func:`compress_columns`.
    """
    data = np.asarray(data, dtype=np.float64)
    n = len(data)
    data = data.reshape(n, -1)
    cols, unique_weights, inverse = compress_columns([data[:, j] for j in range(data.shape[1])], weights)
    unique_rows = np.column_stack(cols) if cols else np.empty((0, 0))
    return unique_rows, unique_weights, inverse


def _row_hash(cols: Sequence[np.ndarray]) -> np.ndarray:
    """64-bit FNV-style hash of each row's bit patterns (float64 columns, -0.0 already mapped to 0.0)."""
    h = np.full(len(cols[0]), np.uint64(0xCBF29CE484222325))
    tmp = np.empty_like(h)
    with np.errstate(over="ignore"):
        for c in cols:
            h ^= c.view(np.uint64)
            h *= np.uint64(0x100000001B3)
            h ^= np.right_shift(h, np.uint64(29), out=tmp)
    return h


def _first_of_hash(h: np.ndarray) -> np.ndarray | None:
    """For each row, the position of the first row with the same hash; None when all hashes differ.

    A hash table's random accesses dominate the cost at a million rows, so it only sees rows that
    may share their hash: counting rounds spread the remaining rows over 2-4 buckets per row by
    a fresh range of hash bits each time, and a row alone in its bucket cannot share its hash
    (rows with equal hashes share every bucket, so they always survive). With all rows distinct,
    each round keeps about a third; rounds stop below ~32,000 rows, or when most rows survive,
    and are skipped when a strided probe of ~4,000 rows already holds repeats (many duplicates:
    the hash table is fast on them). Count tables stay below 32 MB (glibc maps larger blocks
    fresh on every call, which costs more than the counting on a virtual machine).
    """
    n = h.size
    cand, sub = None, h  # positions (in h) of the rows that may share their hash, and their hashes
    free_bits = 64
    if n > 1 << 15:
        probe = h[:: n >> 12]  # ~4,000 rows: repeats among them mean duplicates are common
        if len(pd.unique(probe)) < len(probe):
            free_bits = 0
    while sub.size > 1 << 15:
        bits = min(sub.size.bit_length() + 1, 22)
        if bits > free_bits:
            break
        free_bits -= bits
        bucket = ((sub >> np.uint64(free_bits)) & np.uint64((1 << bits) - 1)).astype(np.intp)
        shared = np.bincount(bucket, minlength=1 << bits) > 1  # a 1-byte table: cache-friendly lookups
        keep = np.flatnonzero(shared[bucket])
        if keep.size == 0:
            return None
        cand = keep if cand is None else cand[keep]
        survived = keep.size / sub.size
        sub = sub[keep]
        if survived > 0.8:  # mostly duplicates: the hash table is fast on them
            break
    codes, uniq = pd.factorize(sub)  # group ids in order of first appearance
    if len(uniq) == len(sub):
        return None
    running = np.maximum.accumulate(codes)
    firsts = np.flatnonzero(np.r_[True, running[1:] > running[:-1]])  # first row of each group
    if cand is None:
        return firsts[codes]
    first = np.arange(n)
    first[cand] = cand[firsts[codes]]
    return first


def compress_columns(columns: Sequence[np.ndarray], weights: np.ndarray | None = None, want_inverse: bool = True
                     ) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray | None]:
    """Collapse identical rows given as columns: ``(unique_columns, unique_weights, inverse)``.

    Rows are grouped by a 64-bit hash of their bit patterns (sort-free; see :func:`_first_of_hash`)
    and every merged row is verified against its group's first row, with an exact lexicographic
    fallback in the (astronomically unlikely) event of a hash collision. Groups are ordered by the
    first column (a radix sort when it holds small whole numbers), ties in order of first
    appearance (lexicographic after a collision). ``inverse`` (None with ``want_inverse=False``)
    maps rows to groups.
    """
    cols = [np.asarray(c, dtype=np.float64).ravel() for c in columns]
    cols = [c + 0.0 if np.signbit(c).any() else c for c in cols]  # + 0.0 maps -0.0 to 0.0
    if not cols:
        raise ValueError("compress_columns needs at least one column")
    n = cols[0].size
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    first = _first_of_hash(_row_hash(cols)) if n else None
    inverse = None
    if first is None:  # all rows distinct
        unique, unique_w = cols, (np.ones(n) if w is None else w)
    else:
        is_first = first == np.arange(n)
        dup = np.flatnonzero(~is_first)
        if all(np.array_equal(c[dup], c[first[dup]]) for c in cols):
            group = np.cumsum(is_first) - 1
            inverse = group[first]
            unique = [c[is_first] for c in cols]
        else:  # hash collision: exact grouping by a lexicographic sort
            order = np.lexsort(cols[::-1])
            new = np.zeros(n, dtype=bool)
            new[0] = True
            for c in cols:
                cs = c[order]
                new[1:] |= cs[1:] != cs[:-1]
            inverse = np.empty(n, dtype=np.intp)
            inverse[order] = np.cumsum(new) - 1
            unique = [c[order][new] for c in cols]
        unique_w = np.bincount(inverse, weights=w, minlength=len(unique[0])).astype(np.float64)
    # order the groups by the first column (a radix sort when it holds small whole numbers)
    key = unique[0]
    if key.size > 1 and not np.all(key[1:] >= key[:-1]):
        small = key.min() >= 0 and key.max() < 65536
        key16 = key.astype(np.uint16) if small else None
        if small and np.array_equal(key16, key):  # whole numbers (the uint16 cast truncates)
            order = np.argsort(key16, kind="stable")
        else:
            order = np.argsort(key, kind="stable")
        unique = [c[order] for c in unique]
        unique_w = unique_w[order] if w is not None or first is not None else unique_w  # (all ones)
        if want_inverse:
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            inverse = rank if inverse is None else rank[inverse]
    elif first is None:  # distinct and already in order: never hand back the caller's arrays
        unique, unique_w = [c.copy() for c in unique], unique_w.copy()
    if not want_inverse:
        return tuple(unique), np.asarray(unique_w, dtype=np.float64), None
    inverse = np.arange(n) if inverse is None else inverse
    return tuple(unique), np.asarray(unique_w, dtype=np.float64), inverse


def _warm_rows(n: int) -> np.ndarray:
    """Positions of the warm-start sub-sample: _WARM_ROWS rows evenly spaced over the n compressed
    rows, which are sorted by frequency, so the sample is stratified by frequency (its optimum
    lands 2-4x closer to the full one than a random draw's, sparing a Newton pass now and then)."""
    return (np.arange(_WARM_ROWS, dtype=np.int64) * n) // _WARM_ROWS


class _Transform:
    """Map natural parameters with bounds (lower, upper) to an unconstrained theta and back."""

    def __init__(self, bounds: Sequence[tuple[float, float]]):
        self.lower = np.array([b[0] for b in bounds], dtype=np.float64)
        self.upper = np.array([b[1] for b in bounds], dtype=np.float64)
        self.finite = np.isfinite(self.upper)

    def to_theta(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        span = np.where(self.finite, self.upper - self.lower, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.finite, special.logit((p - self.lower) / span), np.log(p - self.lower))

    def to_param(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        span = np.where(self.finite, self.upper - self.lower, 1.0)
        return np.where(self.finite, self.lower + span * special.expit(theta), self.lower + np.exp(theta))

    def dparam_dtheta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        span = np.where(self.finite, self.upper - self.lower, 1.0)
        s = special.expit(theta)
        return np.where(self.finite, span * s * (1.0 - s), np.exp(theta))

    def d2param_dtheta2(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        span = np.where(self.finite, self.upper - self.lower, 1.0)
        s = special.expit(theta)
        return np.where(self.finite, span * s * (1.0 - s) * (1.0 - 2.0 * s), np.exp(theta))


class _Objective:
    """Mean penalised negative log-likelihood of theta on one set of (compressed) rows.

    ``objective(theta)`` returns ``f``, or ``(f, grad)`` when the model has an analytic gradient
    (``has_grad``); ``objective.hessian`` is None, or (when the model's math module offers a
    prepared evaluator with second derivatives) a function ``theta -> (f, grad, hess)``.
    Non-finite values give ``f = inf`` (the optimisers then step back).
    """

    def __init__(self, model: MLEModel, data, w, pscale, tr: _Transform):
        self.model, self.data, self.w, self.pscale, self.tr = model, data, w, pscale, tr
        self.total_w = float(w.sum())
        self.n_par = len(model._param_names)
        self.ev = model._evaluator(data, w)
        self.has_grad = (self.ev is not None
                         or model._has_grad(tuple(tr.to_param(np.zeros(self.n_par))), data, w))
        self.hessian = self._hessian if self.ev is not None else None

    def _natural(self, theta, order):
        """(p, f, g_p[, H_p]): mean penalised objective and derivatives in the rescaled natural params."""
        model, pscale = self.model, self.pscale
        p = self.tr.to_param(theta)
        pt = tuple(float(v) for v in p)
        pen, dpen = model._penalty(p * pscale)
        if self.ev is not None:
            out = self.ev(*pt, order=order)
        else:
            out = model._weighted_loglik_and_grad(pt, self.data, self.w)
        f = -out[0] / self.total_w + pen
        g = -np.asarray(out[1], dtype=np.float64) / self.total_w + dpen * pscale
        if order < 2:
            return p, f, g
        H = (-np.asarray(out[2], dtype=np.float64) / self.total_w
             + 2.0 * float(model.penalizer_coef) * np.diag(pscale ** 2))
        return p, f, g, H

    def __call__(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        with np.errstate(all="ignore"):
            if self.has_grad:
                _, f, g = self._natural(theta, 1)
                grad = g * self.tr.dparam_dtheta(theta)
                if not np.isfinite(f) or not np.all(np.isfinite(grad)):
                    return np.inf, np.zeros(self.n_par)
                return f, grad
            p = self.tr.to_param(theta)
            pen, _ = self.model._penalty(p * self.pscale)
            ll = self.model._loglik(tuple(float(v) for v in p), self.data)
            f = -float(np.einsum("i,i->", self.w, ll)) / self.total_w + pen
        return f if np.isfinite(f) else np.inf

    def _hessian(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        with np.errstate(all="ignore"):
            _, f, g, H = self._natural(theta, 2)
            J = self.tr.dparam_dtheta(theta)
            grad = g * J
            hess = H * np.outer(J, J) + np.diag(g * self.tr.d2param_dtheta2(theta))
        if not np.isfinite(f) or not np.all(np.isfinite(grad)) or not np.all(np.isfinite(hess)):
            return np.inf, np.zeros(self.n_par), np.full((self.n_par, self.n_par), np.nan)
        return f, grad, 0.5 * (hess + hess.T)


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

    Attributes (after ``fit``)
    --------------------------
    params_ : pd.Series, natural parameters by name (summary's units)
    cov_ : pd.DataFrame, asymptotic covariance (inverse negative Hessian) in natural parameters
    stderr_ : pd.Series, square roots of the diagonal of ``cov_``
    loglik_ : float, total weighted log-likelihood (papers' convention)
    converged_ : bool, optimiser success and a positive definite Hessian
    n_obs_ : float, number of customers used in the fit (sum of weights)
    time_unit_ : str or None, ``summary.attrs["time_unit"]`` when the summary carries one
    data_summary_ : dict, n_customers / n_repeat_buyers of the summary given to ``fit``
    fit_info_ : dict, optimiser details (iterations, message, unique rows, time scale)
    """

    # ---- declarations a subclass overrides -------------------------------------------------
    _math: ClassVar[ModuleType | None] = None
    _param_names: ClassVar[tuple[str, ...]] = ()
    _bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    _summary_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    _scale_columns: ClassVar[tuple[str, ...]] = ()
    _scale_params: ClassVar[tuple[str, ...]] = ()
    _validate_kwargs: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

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
        return self._math.loglik(*params, *data)

    def _loglik_and_grad(self, params: tuple[float, ...], data: tuple[np.ndarray, ...]):
        """``(ll, grad)`` with grad (n_params, n_rows) in natural params, or None if unavailable."""
        fn = getattr(self._math, "loglik_and_grad", None)
        if fn is None:
            return None
        return fn(*params, *data)

    def _weighted_loglik_and_grad(self, params: tuple[float, ...], data: tuple[np.ndarray, ...], weights: np.ndarray):
        """``(sum_i w_i ll_i, gradient (n_params,))`` or None when no analytic gradient exists.

        Uses the math module's ``weighted_loglik_and_grad(*params, *data, weights)`` when present
        (fast path), else weights the per-row ``loglik_and_grad``.
        """
        fn = getattr(self._math, "weighted_loglik_and_grad", None)
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
        start = np.ones(len(self._param_names))
        lo = np.array([self._bound(n)[0] for n in self._param_names])
        return np.where(start > lo, start, lo + 1.0)

    # ---- small helpers --------------------------------------------------------------------
    @classmethod
    def _bound(cls, name: str) -> tuple[float, float]:
        return tuple(cls._bounds.get(name, (0.0, np.inf)))

    @classmethod
    def _transform(cls) -> _Transform:
        return _Transform([cls._bound(n) for n in cls._param_names])

    def _check_fitted(self) -> None:
        if getattr(self, "params_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(summary) "
                                 f"or {type(self).__name__}.from_params(...) first.")

    def _params_tuple(self) -> tuple[float, ...]:
        self._check_fitted()
        return tuple(float(self.params_[n]) for n in self._param_names)

    def _check_time_unit(self, summary: pd.DataFrame) -> None:
        unit = getattr(summary, "attrs", {}).get("time_unit")
        mine = getattr(self, "time_unit_", None)
        if unit is not None and mine is not None and unit != mine:
            raise DataValidationError(f"the summary is in time unit {unit!r} but the model was fitted in "
                                      f"{mine!r}; rebuild the summary in {mine!r}", column="T")

    def _columns(self, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        return tuple(frame[c].to_numpy(dtype=np.float64) for c in self._summary_columns)

    def _prepare(self, summary: pd.DataFrame) -> tuple[pd.DataFrame, tuple[np.ndarray, ...]]:
        """Validated frame and data columns for prediction (fitted check + time-unit check)."""
        self._check_fitted()
        self._check_time_unit(summary)
        frame = self._validate(summary)
        return frame, self._columns(frame)

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
        arr = np.asarray(value, dtype=np.float64)
        bad = ~np.isfinite(arr) | (arr < 0)
        if integer:
            bad |= arr != np.floor(arr)
        if np.any(bad):
            kind = "non-negative whole numbers" if integer else "finite and non-negative"
            raise InvalidValueError(f"{name} must be {kind}; got {np.asarray(value)[bad][:5].tolist()}", column=name)
        return arr

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
        with _one_blas_thread():
            return self._fit(summary, weights)

    def _fit(self, summary: pd.DataFrame, weights) -> MLEModel:
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
        scaled = tuple(c / scale if name in self._scale_columns else c for name, c in zip(self._summary_columns, cols))
        pscale = np.array([scale if n in self._scale_params else 1.0 for n in self._param_names])

        start = np.asarray(self._initial_guess(scaled, uw), dtype=np.float64)
        for name, value in (self.initial_params or {}).items():
            if name not in self._param_names:
                raise CLVError(f"initial_params has unknown parameter {name!r}; expected {list(self._param_names)}")
            start[self._param_names.index(name)] = float(value) / pscale[self._param_names.index(name)]
        tr = self._transform()
        theta0 = tr.to_theta(start)
        if not np.all(np.isfinite(theta0)):
            raise CLVError(f"initial parameters {dict(zip(self._param_names, start * pscale))} are outside the bounds")

        full = None  # the full-data objective of the Newton polish, when there is one
        if len(uw) > _WARM_ROWS and not self.initial_params:
            # warm start: optimise on a fixed sub-sample first (same model, same start); the
            # full-data optimisation then needs only a few iterations
            pick = _warm_rows(len(uw))
            sub = tuple(c[pick] for c in scaled)
            # (to |grad| < 1e-6 only: the sub-sample's optimum is itself ~1/sqrt(50,000) away from
            # the full one, and Newton's first step covers both; tighter costs iterations, not steps)
            pre = self._minimize(theta0, sub, uw[pick], pscale, tr, gtol=_WARM_GTOL)
            res = None
            if np.all(np.isfinite(pre.x)) and np.all(np.abs(pre.x) < _THETA_EDGE):
                theta0 = pre.x
                full = self._objective(scaled, uw, pscale, tr)
                if full.hessian is not None:  # analytic Hessian: plain Newton steps on the full data
                    res = self._newton(theta0, scaled, uw, pscale, tr, objective=full, defer_step=_DEFER_STEP)
                else:
                    # the sub-sample's Hessian of the mean objective estimates the full one
                    sub_obj = self._objective(sub, uw[pick], pscale, tr)
                    H0 = self._theta_hessian(sub_obj, theta0) if sub_obj.has_grad else None
                    res = self._newton(theta0, scaled, uw, pscale, tr, H0=H0, objective=full)
            if res is None or not (res.success or res.get("pending")):
                res = self._minimize(theta0, scaled, uw, pscale, tr)
        else:
            res = self._minimize(theta0, scaled, uw, pscale, tr)
        total_w = float(uw.sum())
        ev = self._evaluator(cols, uw)
        while True:
            p_hat = tr.to_param(res.x) * pscale  # exact map back: pscale is a power of two
            params = tuple(float(v) for v in p_hat)
            pending = bool(res.get("pending", False))
            newton_hess = res.get("hess") if isinstance(res, optimize.OptimizeResult) else None
            use_newton_hess = newton_hess is not None and (res.success or pending) and self.penalizer_coef == 0
            H_nat = g_hat = None
            if ev is None:
                fast = self._weighted_loglik_and_grad(params, cols, uw)
                if fast is not None:
                    ll, g_hat = fast
                else:
                    ll = float(np.einsum("i,i->", uw, self._loglik(params, cols)))
                break
            # one pass in the data's units: the LL, and the gradient and Hessian at the estimate
            # unless Newton already holds the Hessian there (its last step was evaluated)
            order = 2 if pending or not use_newton_hess else 0
            with np.errstate(all="ignore"):
                out = ev(*params, order=order)
            ll = float(out[0] if order else out)
            if order == 2:
                H_nat = out[2]
            if not pending:
                break
            g_theta = self._theta_gradient(out[1], res.x, pscale, tr, total_w)
            if np.all(np.isfinite(g_theta)) and np.max(np.abs(g_theta)) < max(float(self.tol), 1e-9):
                res.update(jac=g_theta, success=True, pending=False, message="Newton polish converged")
                break
            # the unevaluated step did not land (unexpected): keep stepping with evaluations
            again = self._newton(res.x, scaled, uw, pscale, tr, objective=full)
            res = again if again is not None and again.success else self._minimize(res.x, scaled, uw, pscale, tr)

        self.params_ = pd.Series(p_hat, index=list(self._param_names), name="estimate", dtype=np.float64)
        self.loglik_ = ll
        self.n_obs_ = total_w
        self.time_unit_ = getattr(summary, "attrs", {}).get("time_unit")
        self.data_summary_ = data_summary
        self.fit_info_ = {"n_iter": int(getattr(res, "nit", -1)), "message": str(res.message),
                          "success": bool(res.success), "n_unique_rows": int(len(uw)), "scale": float(scale)}

        problems = []
        if not res.success:
            problems.append(f"the optimiser stopped without converging ({res.message})")
        if not np.isfinite(ll):
            problems.append("the log-likelihood at the estimate is not finite")
        edge = [n for n, t in zip(self._param_names, res.x) if abs(t) > _THETA_EDGE]
        if edge:
            problems.append(f"parameter(s) {edge} ran to the edge of their range (estimate near 0 or infinity)")
        if H_nat is not None:  # analytic Hessian of the penalised total LL at the estimate
            pen = 2.0 * float(self.penalizer_coef) * total_w * np.eye(len(params))
            # factorised in theta (cov = J (-J H J)^-1 J, J = d param / d theta): the same matrix,
            # but well conditioned when parameters differ by many orders of magnitude
            J = tr.dparam_dtheta(res.x) * pscale
            H_theta = -(np.asarray(H_nat, dtype=np.float64) - pen) * np.outer(J, J)
            cov, pd_ok = self._covariance_from_theta(H_theta, res.x, tr, pscale)
        elif use_newton_hess:
            # the Newton polish already holds the full-data Hessian of the mean objective in
            # theta: analytic at the returned point (evaluator models), or by differences of the
            # gradient close to the optimum (standard errors agree with a central-difference
            # Hessian at the optimum to ~1e-5). Map it to natural parameters,
            # cov = J (W H_theta)^-1 J^T with J = d param / d theta (the gradient term vanishes)
            cov, pd_ok = self._covariance_from_theta(newton_hess * total_w, res.x, tr, pscale)
        else:
            cov, pd_ok = self._covariance(params, cols, uw, g_hat)
        if not pd_ok:
            problems.append("the Hessian at the optimum is not negative definite (standard errors unavailable)")
        self.cov_ = pd.DataFrame(cov, index=list(self._param_names), columns=list(self._param_names))
        with np.errstate(invalid="ignore"):
            self.stderr_ = pd.Series(np.sqrt(np.diag(cov)), index=list(self._param_names), name="stderr")
        self.converged_ = not problems
        if problems:
            warnings.warn(f"{type(self).__name__} fit: " + "; ".join(problems) + ". " + _ADVICE,
                          ConvergenceWarning, stacklevel=2)
        return self

    def _choose_scale(self, cols: tuple[np.ndarray, ...], w: np.ndarray) -> float:
        if not self._scale_columns:
            return 1.0
        col = cols[self._summary_columns.index(self._scale_columns[-1])]
        pos = col > 0
        w_pos = float(np.einsum("i,i->", w, pos))  # (einsum: a masked reduce is ~7x slower)
        if not w_pos > 0:
            return 1.0
        # weighted mean of the positive values (no masked copies: non-positive values add zero)
        mean = float(np.einsum("i,i->", w, col if col.min() >= 0 else np.maximum(col, 0.0)) / w_pos)
        return float(2.0 ** np.round(np.log2(mean)))

    def _penalty(self, p_nat: np.ndarray) -> tuple[float, np.ndarray]:
        c = float(self.penalizer_coef)
        if c == 0.0:
            return 0.0, np.zeros_like(p_nat)
        return c * float(np.sum(p_nat ** 2)), 2.0 * c * p_nat

    def _has_grad(self, params, data, w) -> bool:
        return self._weighted_loglik_and_grad(params, tuple(d[:1] for d in data), w[:1]) is not None

    def _evaluator(self, data, weights):
        """The math module's prepared evaluator of the weighted total log-likelihood, or None.

        ``self._math.weighted_evaluator(*data, weights, blas=True)`` (optional) prepares the rows
        once and returns ``ev`` with ``ev(*params, order)`` giving the total (order 0), with its
        gradient (1) and its Hessian (2) in natural parameters; ``blas=True`` because the fit
        limits BLAS to one thread.
        """
        make = getattr(self._math, "weighted_evaluator", None)
        return None if make is None else make(*data, weights, blas=True)

    def _objective(self, data, w, pscale, tr) -> _Objective:
        """Mean penalised negative log-likelihood of theta (with its gradient when analytic)."""
        return _Objective(self, data, w, pscale, tr)

    def _minimize(self, theta0, data, w, pscale, tr, gtol=None):
        objective = self._objective(data, w, pscale, tr)
        gtol = float(self.tol) if gtol is None else max(float(gtol), float(self.tol))
        opts = {"maxiter": int(self.max_iter), "gtol": gtol, "ftol": 1e-15, "maxcor": 10}
        with np.errstate(all="ignore"):
            if objective.has_grad:
                res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", options=opts)
            else:
                res = optimize.minimize(objective, theta0, jac="3-point", method="L-BFGS-B", options=opts)
        # L-BFGS-B reports "ABNORMAL" when it cannot improve any further at machine precision;
        # that is convergence if the gradient is essentially zero.
        if not res.success and np.all(np.isfinite(res.x)) and np.isfinite(res.fun):
            g = getattr(res, "jac", None)
            if g is not None and np.max(np.abs(g)) < 1e-5:
                res.success = True
        return res

    @staticmethod
    def _theta_hessian(objective, theta, g=None):
        """Symmetric Hessian of ``objective`` (returning (f, grad)) by forward differences."""
        theta = np.asarray(theta, dtype=np.float64)
        k = theta.size
        if g is None:
            g = objective(theta)[1]
        H = np.empty((k, k))
        for i in range(k):
            h = 1e-6 * max(1.0, abs(theta[i]))
            e = np.zeros(k)
            e[i] = h
            H[:, i] = (objective(theta + e)[1] - g) / h
        return 0.5 * (H + H.T)

    def _theta_gradient(self, g_nat, theta, pscale, tr, total_w) -> np.ndarray:
        """Gradient in theta of the mean penalised objective, from the gradient ``g_nat`` of the
        total LL in the data's own units (natural parameters p * pscale)."""
        _, dpen = self._penalty(tr.to_param(theta) * pscale)
        return (-np.asarray(g_nat, dtype=np.float64) / total_w + dpen) * pscale * tr.dparam_dtheta(theta)

    def _newton(self, theta0, data, w, pscale, tr, H0=None, max_steps=25, objective=None, defer_step=0.0):
        """Polish a warm start on the full data with Newton steps.

        With an analytic Hessian (``objective.hessian``) every step uses the exact Hessian at the
        current point, taken in the same pass as the objective and gradient; the Hessian at the
        returned point is returned as ``hess`` for the covariance. Otherwise the first steps use
        ``H0`` (the sub-sample's Hessian of the mean objective, in theta); after two of them (or
        once a step is below 1e-4) the full-data Hessian is taken once by forward differences of
        the analytic gradient, used for the remaining steps (quadratic convergence) and returned
        as ``hess``. Returns None when a Hessian is not positive definite or a step fails to
        decrease the objective, so the caller falls back to L-BFGS.

        ``defer_step`` > 0 (analytic Hessian only): once a Newton step is below it (the next
        gradient, quadratically smaller, is then far below ``tol``), the step is taken without
        evaluating the new point and the result is marked ``pending``: the caller confirms the
        gradient in its final pass over the data (one pass fewer).
        """
        if objective is None:
            objective = self._objective(data, w, pscale, tr)
        if not objective.has_grad:
            return None
        exact = objective.hessian is not None
        theta = np.array(theta0, dtype=np.float64)
        if exact:
            f, g, H = objective.hessian(theta)
        else:
            f, g = objective(theta)
        if not np.isfinite(f):
            return None
        if not exact:
            H = self._theta_hessian(objective, theta, g) if H0 is None or not np.all(np.isfinite(H0)) else H0
        fresh = exact
        n_steps = 0
        for n_steps in range(1, max_steps + 1):
            if np.max(np.abs(g)) < float(self.tol):
                break
            try:
                chol = linalg.cho_factor(H)
            except (linalg.LinAlgError, ValueError):
                return None
            step = -linalg.cho_solve(chol, g)
            if exact and np.max(np.abs(step)) < defer_step:
                return optimize.OptimizeResult(x=theta + step, fun=f, jac=g, success=False, pending=True, nit=n_steps,
                                               hess=H, message="Newton polish: last step not yet confirmed")
            for _ in range(30):
                trial = objective.hessian(theta + step) if exact else (*objective(theta + step), None)
                f_new = trial[0]
                if np.isfinite(f_new) and f_new <= f + 1e-14 * abs(f):
                    break
                step = step / 2
            else:
                return None
            theta, f, g = theta + step, f_new, trial[1]
            if exact:
                H = trial[2]
            elif not fresh and (n_steps >= 2 or np.max(np.abs(step)) < 1e-4):
                # one full-data Hessian, once the chord steps have come close to the optimum
                H = self._theta_hessian(objective, theta, g)
                fresh = True
            if np.max(np.abs(step)) < 1e-13:
                break
        ok = fresh and np.max(np.abs(g)) < max(float(self.tol), 1e-9)
        return optimize.OptimizeResult(x=theta, fun=f, jac=g, success=bool(ok), nit=n_steps, hess=H,
                                       message="Newton polish " + ("converged" if ok else "stopped"))

    def _total_loglik_nat(self, p: np.ndarray, data, w) -> float:
        pen, _ = self._penalty(p)
        with np.errstate(all="ignore"):
            return float(np.einsum("i,i->", w, self._loglik(tuple(float(v) for v in p), data))) - pen * float(w.sum())

    def _hessian(self, params: tuple[float, ...], data, w, g_hat=None) -> np.ndarray:
        """Symmetric numerical Hessian of the penalised total log-likelihood in natural params."""
        p0 = np.array(params, dtype=np.float64)
        k = len(p0)
        lo = np.array([self._bound(n)[0] for n in self._param_names])
        # relative steps, kept inside the bounds
        h = 1e-4 * np.maximum(np.abs(p0), 1e-8)
        h = np.minimum(h, 0.5 * (p0 - lo))
        has_grad = self._has_grad(params, data, w)
        H = np.empty((k, k))
        if has_grad:
            def grad(p):
                _, g = self._weighted_loglik_and_grad(tuple(float(v) for v in p), data, w)
                _, dpen = self._penalty(p)
                return g - dpen * float(w.sum())
            with np.errstate(all="ignore"):
                if len(w) > _WARM_ROWS:  # large data: forward differences (k + 1 gradients)
                    if g_hat is None:
                        g0 = grad(p0)
                    else:  # the gradient at the estimate is already known
                        g0 = np.asarray(g_hat) - self._penalty(p0)[1] * float(w.sum())
                    for i in range(k):
                        e = np.zeros(k)
                        e[i] = 1e-2 * h[i]
                        H[:, i] = (grad(p0 + e) - g0) / e[i]
                else:
                    for i in range(k):
                        e = np.zeros(k)
                        e[i] = h[i]
                        H[:, i] = (grad(p0 + e) - grad(p0 - e)) / (2 * h[i])
        else:
            f0 = self._total_loglik_nat(p0, data, w)
            for i in range(k):
                for j in range(i, k):
                    ei = np.zeros(k)
                    ej = np.zeros(k)
                    ei[i] = h[i]
                    ej[j] = h[j]
                    if i == j:
                        H[i, i] = (self._total_loglik_nat(p0 + ei, data, w) - 2 * f0
                                   + self._total_loglik_nat(p0 - ei, data, w)) / h[i] ** 2
                    else:
                        H[i, j] = (self._total_loglik_nat(p0 + ei + ej, data, w) - self._total_loglik_nat(p0 + ei - ej, data, w)
                                   - self._total_loglik_nat(p0 - ei + ej, data, w)
                                   + self._total_loglik_nat(p0 - ei - ej, data, w)) / (4 * h[i] * h[j])
                        H[j, i] = H[i, j]
        return 0.5 * (H + H.T)

    def _covariance_from_theta(self, H_theta, theta, tr, pscale) -> tuple[np.ndarray, bool]:
        k = len(theta)
        try:
            chol = np.linalg.cholesky(0.5 * (H_theta + H_theta.T))
        except np.linalg.LinAlgError:
            return np.full((k, k), np.nan), False
        inv_chol = np.linalg.inv(chol)
        J = tr.dparam_dtheta(theta) * pscale
        cov = (inv_chol.T @ inv_chol) * np.outer(J, J)
        return 0.5 * (cov + cov.T), True

    def _covariance(self, params, data, w, g_hat=None) -> tuple[np.ndarray, bool]:
        return self._covariance_from_hessian(self._hessian(params, data, w, g_hat))

    @staticmethod
    def _covariance_from_hessian(H) -> tuple[np.ndarray, bool]:
        """Inverse of the negative Hessian (natural parameters); (NaN matrix, False) unless it is
        finite and negative definite."""
        H = 0.5 * (H + H.T)
        k = len(H)
        if not np.all(np.isfinite(H)):
            return np.full((k, k), np.nan), False
        info = -H
        try:
            chol = np.linalg.cholesky(info)
        except np.linalg.LinAlgError:
            return np.full((k, k), np.nan), False
        inv_chol = np.linalg.inv(chol)
        cov = inv_chol.T @ inv_chol
        return 0.5 * (cov + cov.T), True

    def _data_summary(self, summary: pd.DataFrame, w: np.ndarray) -> dict[str, float]:
        freq_col = self._summary_columns[0] if self._summary_columns[0] in summary.columns else "frequency"
        out = {"n_customers": float(np.sum(w))}
        if freq_col in summary.columns:
            freq = pd.to_numeric(summary[freq_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            out["n_repeat_buyers"] = float(np.einsum("i,i->", w, freq > 0))
        return {k: (int(v) if float(v).is_integer() else v) for k, v in out.items()}

    # ---- scoring without refitting ----------------------------------------------------------
    @classmethod
    def from_params(cls, cov=None, **params: float) -> MLEModel:
        """A model with the given parameters, ready to predict without fitting.

        ``cov`` (optional) is a covariance matrix (array or DataFrame, in ``_param_names`` order)
        that enables :meth:`sample_params`; without it ``sample_params`` raises.
        """
        names = cls._param_names
        missing = [n for n in names if n not in params]
        extra = [n for n in params if n not in names]
        if missing or extra:
            raise CLVError(f"{cls.__name__}.from_params needs exactly {list(names)}; "
                           f"missing {missing}, unexpected {extra}")
        values = np.array([float(params[n]) for n in names])
        for n, v in zip(names, values):
            lo, hi = cls._bound(n)
            if not (np.isfinite(v) and lo < v < hi):
                raise InvalidValueError(f"parameter {n}={v} must lie strictly inside ({lo}, {hi})", column=n)
        model = cls()
        model.params_ = pd.Series(values, index=list(names), name="estimate", dtype=np.float64)
        if cov is not None:
            cov = np.asarray(cov, dtype=np.float64).reshape(len(names), len(names))
            model.cov_ = pd.DataFrame(cov, index=list(names), columns=list(names))
            with np.errstate(invalid="ignore"):
                model.stderr_ = pd.Series(np.sqrt(np.diag(cov)), index=list(names), name="stderr")
        else:
            model.cov_ = None
            model.stderr_ = None
        model.loglik_ = None
        model.converged_ = None
        model.n_obs_ = None
        model.time_unit_ = None
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
        self._check_fitted()
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
        self._check_fitted()
        if getattr(self, "cov_", None) is None:
            raise NotFittedError(f"{type(self).__name__} has no covariance (built with from_params without cov=): "
                                 "fit the model, or pass cov= to from_params, to draw parameters.")
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
        return pd.DataFrame(tr.to_param(draws), columns=list(self._param_names))

    # ---- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: class, version, settings, params, cov, fit report."""
        from .. import __version__

        self._check_fitted()
        settings = {k: v for k, v in self.get_params(deep=False).items()}

        def clean(x):
            if x is None:
                return None
            if isinstance(x, float) and not np.isfinite(x):
                return None
            return x

        return {
            "format": FORMAT,
            "model": type(self).__name__,
            "clvmodels_version": __version__,
            "settings": settings,
            "params": {n: float(self.params_[n]) for n in self._param_names},
            "cov": None if self.cov_ is None else [[clean(float(v)) for v in row] for row in self.cov_.to_numpy()],
            "loglik": clean(None if self.loglik_ is None else float(self.loglik_)),
            "converged": self.converged_,
            "n_obs": self.n_obs_,
            "time_unit": self.time_unit_,
            "data_summary": self.data_summary_,
            "fit_info": self.fit_info_,
        }

    def save(self, path) -> Path:
        """Write the model as JSON (no pickle). Returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> MLEModel:
        if d.get("model") != cls.__name__:
            raise CLVError(f"the file holds a {d.get('model')!r} model, not a {cls.__name__}")
        cov = d.get("cov")
        if cov is not None:
            cov = np.array([[np.nan if v is None else v for v in row] for row in cov], dtype=np.float64)
        model = cls.from_params(cov=cov, **d["params"])
        settings = d.get("settings") or {}
        model.set_params(**{k: v for k, v in settings.items() if k in model.get_params(deep=False)})
        model.loglik_ = d.get("loglik")
        model.converged_ = d.get("converged")
        model.n_obs_ = d.get("n_obs")
        model.time_unit_ = d.get("time_unit")
        model.data_summary_ = d.get("data_summary")
        model.fit_info_ = d.get("fit_info")
        return model

    @classmethod
    def load(cls, path) -> MLEModel:
        """Read a model written by :meth:`save` (the file must hold this class)."""
        d = _read_json(path)
        return cls._from_dict(d)


def _read_json(path) -> dict[str, Any]:
    try:
        d = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise CLVError(f"{path} is not a clvmodels model file (invalid JSON: {exc})") from exc
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise CLVError(f"{path} is not a clvmodels model file (format {FORMAT!r} expected)")
    return d


def load_model(path) -> MLEModel:
    """Load any MLE model saved with ``save(path)``, dispatching on the stored class name."""
    d = _read_json(path)
    name = d.get("model")
    cls = _REGISTRY.get(name)
    if cls is None:
        clv = importlib.import_module("clvmodels")
        try:
            cls = getattr(clv, name)
        except AttributeError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, MLEModel)):
        raise CLVError(f"{path} holds an unknown model class {name!r}")
    return cls._from_dict(d)
