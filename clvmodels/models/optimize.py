"""Maximum likelihood over callables: the optimiser every MLE model shares.

Like statsmodels' ``Optimizer``, nothing here knows a model. A model hands over a
:class:`LogLik` per data set - callables returning the total weighted log-likelihood and, when it
has them, its gradient and Hessian in natural parameters - plus the parameters' bounds and scales;
:func:`maximize_loglik` returns the estimate, the log-likelihood and the covariance.

Strategy
--------
1. Parameters are optimised as ``theta = log(param - lower)`` (``logit`` inside finite bounds),
   on a rescaled time axis (the model's scale parameters divided by a power of two, exact in
   floating point), so the optimiser sees O(1) numbers whatever the time unit.
2. Above ``WARM_ROWS`` distinct rows, a fixed, evenly spaced (frequency-stratified) sub-sample is
   optimised first; Newton steps on the full data then finish the job (with the exact Hessian
   when the model has one, else the sub-sample's Hessian refreshed once by differences of the
   analytic gradient). L-BFGS-B on the full data is the fallback, and the only path for small data.
3. The covariance is the inverse of the negative Hessian of the (penalised) total log-likelihood,
   factorised in theta (``cov = J (-J H J)^-1 J``, ``J = d param / d theta``): the same matrix, well
   conditioned when parameters differ by orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, special

__all__ = ["LogLik", "ParameterTransform", "Objective", "Optimum", "maximize_loglik", "minimize", "newton",
           "theta_hessian", "covariance_from_hessian", "WARM_ROWS", "THETA_EDGE", "RUNAWAY_FAR", "RUNAWAY_FACTOR",
           "RUNAWAY_GAIN", "RUNAWAY_WINDOW"]

THETA_EDGE = 30.0  # |log-parameter| beyond this means the estimate runs off to 0 or infinity
# a run towards the edge: over RUNAWAY_WINDOW iterations a parameter (rescaled to its data scale) beyond
# RUNAWAY_FAR (or below 1 / RUNAWAY_FAR) moved RUNAWAY_FACTOR times further out while the total
# log-likelihood rose by less than RUNAWAY_GAIN: the likelihood is flat towards the edge
RUNAWAY_FAR = 1e2
RUNAWAY_FACTOR = 4.0
RUNAWAY_GAIN = 1e-3
RUNAWAY_WINDOW = 3
WARM_ROWS = 50_000  # above this many distinct rows, warm-start from a sub-sample fit
_WARM_GTOL = 1e-6  # gradient tolerance of that sub-sample fit
_DEFER_STEP = 1e-6  # a Newton step this small is taken unevaluated: the final LL pass confirms it


@dataclass
class LogLik:
    """The total weighted log-likelihood of one (compressed) data set, in natural parameters.

    ``value(p)`` -> float; ``value_grad(p)`` -> ``(float, grad (k,))`` or None when the model has
    no analytic gradient; ``evaluator(p, order)`` (optional, a prepared pass over the rows) ->
    the value (order 0), with its gradient (1) and Hessian (2). ``p`` is a tuple of floats.
    ``total_weight`` is the sum of the rows' weights.

    Examples
    --------
    The Poisson log-likelihood (up to a constant) of counts with a rate p[0], with its gradient; the
    maximum is at the mean count, 1.5:

    >>> from clvmodels.models.optimize import LogLik
    >>> counts = np.array([0.0, 1.0, 2.0, 3.0])
    >>> def value(p):
    ...     return float(np.sum(counts * np.log(p[0]) - p[0]))
    >>> def value_grad(p):
    ...     return value(p), np.array([np.sum(counts / p[0] - 1.0)])
    >>> ll = LogLik(value=value, value_grad=value_grad, total_weight=4.0)
    >>> ll.has_grad, round(ll.value((1.5,)), 4), ll.value_grad((1.0,))[1].tolist()   # at 1.5 and 1.0
    (True, -3.5672, [2.0])
    """

    value: Callable[[tuple], float]
    value_grad: Callable[[tuple], tuple] | None
    total_weight: float
    evaluator: Callable[..., object] | None = None

    @property
    def has_grad(self) -> bool:
        return self.evaluator is not None or self.value_grad is not None


class ParameterTransform:
    """Map natural parameters with bounds (lower, upper) to an unconstrained theta and back.

    Examples
    --------
    >>> from clvmodels.models.optimize import ParameterTransform
    >>> tr = ParameterTransform([(0.0, np.inf), (1.0, np.inf), (0.0, 1.0)])    # e.g. alpha, q > 1, a probability
    >>> theta = tr.to_theta([2.0, 3.0, 0.25])
    >>> theta.round(4).tolist()                                    # log(2), log(3 - 1), logit(0.25)
    [0.6931, 0.6931, -1.0986]
    >>> tr.to_param(theta).round(4).tolist()
    [2.0, 3.0, 0.25]
    >>> tr.to_param([-5.0, -5.0, 5.0]).round(4).tolist()          # any theta maps inside the bounds
    [0.0067, 1.0067, 0.9933]
    """

    def __init__(self, bounds: Sequence[tuple[float, float]]):
        self.lower = np.array([b[0] for b in bounds], dtype=np.float64)
        self.upper = np.array([b[1] for b in bounds], dtype=np.float64)
        self.finite = np.isfinite(self.upper)

    def _span(self):
        return np.where(self.finite, self.upper - self.lower, 1.0)

    def to_theta(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.finite, special.logit((p - self.lower) / self._span()), np.log(p - self.lower))

    def to_param(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        return np.where(self.finite, self.lower + self._span() * special.expit(theta), self.lower + np.exp(theta))

    def dparam_dtheta(self, theta: np.ndarray) -> np.ndarray:
        s = special.expit(np.asarray(theta, dtype=np.float64))
        return np.where(self.finite, self._span() * s * (1.0 - s), np.exp(theta))

    def d2param_dtheta2(self, theta: np.ndarray) -> np.ndarray:
        s = special.expit(np.asarray(theta, dtype=np.float64))
        return np.where(self.finite, self._span() * s * (1.0 - s) * (1.0 - 2.0 * s), np.exp(theta))


def _penalty(penalizer: float, p_nat: np.ndarray) -> tuple[float, np.ndarray]:
    if penalizer == 0.0:
        return 0.0, np.zeros_like(p_nat)
    return penalizer * float(np.sum(p_nat ** 2)), 2.0 * penalizer * p_nat


class Objective:
    """Mean penalised negative log-likelihood of theta on one set of (compressed) rows.

    ``objective(theta)`` returns ``f``, or ``(f, grad)`` when the log-likelihood has an analytic
    gradient (``has_grad``); ``objective.hessian`` is None, or (with a prepared evaluator of
    second derivatives) a function ``theta -> (f, grad, hess)``. Non-finite values give
    ``f = inf`` (the optimisers then step back). The penalty ``penalizer * sum(p**2)`` acts on the
    parameters in the data's own units (``p * pscale``).

    Examples
    --------
    The mean negative log-likelihood of a Poisson rate on theta = log(rate), and its gradient:

    >>> from clvmodels.models.optimize import LogLik, Objective, ParameterTransform
    >>> counts = np.array([0.0, 1.0, 2.0, 3.0])
    >>> def value_grad(p):
    ...     return float(np.sum(counts * np.log(p[0]) - p[0])), np.array([np.sum(counts / p[0] - 1.0)])
    >>> ll = LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=4.0)
    >>> objective = Objective(ll, pscale=np.ones(1), tr=ParameterTransform([(0.0, np.inf)]))
    >>> f, grad = objective(np.log([1.5]))                         # at the MLE: the gradient is 0
    >>> round(f, 4), grad.round(8).tolist(), objective.hessian is None
    (0.8918, [0.0], True)
    """

    def __init__(self, loglik: LogLik, pscale: np.ndarray, tr: ParameterTransform, penalizer: float = 0.0):
        self.loglik, self.pscale, self.tr, self.penalizer = loglik, pscale, tr, float(penalizer)
        self.total_w = float(loglik.total_weight)
        self.n_par = len(pscale)
        self.has_grad = loglik.has_grad
        self.hessian = self._hessian if loglik.evaluator is not None else None

    def _natural(self, theta, order):
        """(p, f, g_p[, H_p]): mean penalised objective and derivatives in the rescaled natural params."""
        pscale = self.pscale
        p = self.tr.to_param(theta)
        pt = tuple(float(v) for v in p)
        pen, dpen = _penalty(self.penalizer, p * pscale)
        try:
            out = self.loglik.evaluator(*pt, order=order) if self.loglik.evaluator is not None else \
                self.loglik.value_grad(pt)
        except (ZeroDivisionError, OverflowError):     # a step to the edge (a parameter 0 or inf in float)
            n = len(pscale)
            return (p, np.inf, np.full(n, np.nan)) if order < 2 else (p, np.inf, np.full(n, np.nan),
                                                                      np.full((n, n), np.nan))
        f = -out[0] / self.total_w + pen
        g = -np.asarray(out[1], dtype=np.float64) / self.total_w + dpen * pscale
        if order < 2:
            return p, f, g
        H = -np.asarray(out[2], dtype=np.float64) / self.total_w + 2.0 * self.penalizer * np.diag(pscale ** 2)
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
            pen, _ = _penalty(self.penalizer, p * self.pscale)
            try:
                f = -self.loglik.value(tuple(float(v) for v in p)) / self.total_w + pen
            except (ZeroDivisionError, OverflowError):
                return np.inf
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

    def theta_gradient(self, g_nat, theta) -> np.ndarray:
        """Gradient in theta of the mean penalised objective, from the gradient ``g_nat`` of the
        total LL in the data's own units (natural parameters p * pscale)."""
        _, dpen = _penalty(self.penalizer, self.tr.to_param(theta) * self.pscale)
        return (-np.asarray(g_nat, dtype=np.float64) / self.total_w + dpen) * self.pscale * self.tr.dparam_dtheta(theta)


class _RunawayWatch:
    """L-BFGS-B callback that stops a run towards the edge of the parameter space (see RUNAWAY_*):
    there the likelihood is flat, the optimiser crawls (Pareto/NBD's s, beta -> infinity took ~100
    evaluations, each costlier as beta / alpha grows) and there is no finite estimate to reach."""

    def __init__(self, objective: Objective, names: Sequence[str]):
        self.tr, self.total_w = objective.tr, objective.total_w
        self.names = list(names) or [f"parameter {i}" for i in range(objective.n_par)]
        self.open_up = ~objective.tr.finite                       # no upper bound
        self.open_down = self.open_up & (objective.tr.lower == 0)  # may run to 0
        self.history: list[tuple[np.ndarray, float]] = []
        self.stopped: list[str] = []
        self.gain = np.nan

    def __call__(self, intermediate_result):
        self.history.append((np.array(intermediate_result.x, dtype=np.float64), float(intermediate_result.fun)))
        if len(self.history) <= RUNAWAY_WINDOW:
            return
        (theta0, f0), (theta, f) = self.history[-1 - RUNAWAY_WINDOW], self.history[-1]
        p0, p = self.tr.to_param(theta0), self.tr.to_param(theta)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (self.open_up & (p >= RUNAWAY_FAR) & (p >= RUNAWAY_FACTOR * p0)) | \
                  (self.open_down & (p <= 1.0 / RUNAWAY_FAR) & (p * RUNAWAY_FACTOR <= p0))
        gain = (f0 - f) * self.total_w          # total log-likelihood gained over the window
        if out.any() and np.isfinite(gain) and gain < RUNAWAY_GAIN:
            self.stopped, self.gain = [n for n, o in zip(self.names, out) if o], gain
            raise StopIteration


def minimize(objective: Objective, theta0, *, tol: float, max_iter: int, gtol: float | None = None,
             names: Sequence[str] = ()):
    """L-BFGS-B on ``objective`` (analytic gradient when it has one, else 3-point differences).

    A run towards the edge of the parameter space is stopped (``success`` False, ``runaway`` the
    parameters' ``names``): over ``RUNAWAY_WINDOW`` iterations a parameter at least ``RUNAWAY_FAR``
    times its data scale (or below its inverse, for parameters bounded by 0) moved
    ``RUNAWAY_FACTOR`` times further out while the total log-likelihood rose by less than
    ``RUNAWAY_GAIN``.

    Examples
    --------
    >>> from clvmodels.models.optimize import LogLik, Objective, ParameterTransform, minimize
    >>> counts = np.array([0.0, 1.0, 2.0, 3.0])
    >>> def value_grad(p):
    ...     return float(np.sum(counts * np.log(p[0]) - p[0])), np.array([np.sum(counts / p[0] - 1.0)])
    >>> ll = LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=4.0)
    >>> objective = Objective(ll, pscale=np.ones(1), tr=ParameterTransform([(0.0, np.inf)]))
    >>> res = minimize(objective, np.zeros(1), tol=1e-10, max_iter=100)
    >>> bool(res.success), np.exp(res.x).round(6).tolist()        # the rate: the mean count
    (True, [1.5])
    """
    gtol = float(tol) if gtol is None else max(float(gtol), float(tol))
    opts = {"maxiter": int(max_iter), "gtol": gtol, "ftol": 1e-15, "maxcor": 10}
    watch = _RunawayWatch(objective, names)
    with np.errstate(all="ignore"):
        res = optimize.minimize(objective, theta0, jac=True if objective.has_grad else "3-point", method="L-BFGS-B",
                                options=opts, callback=watch)
    res.runaway = watch.stopped
    if watch.stopped:
        res.success = False
        res.message = (f"stopped: {', '.join(watch.stopped)} kept running towards infinity or 0 (x{RUNAWAY_FACTOR:g} "
                       f"in {RUNAWAY_WINDOW} iterations) while the log-likelihood rose by {watch.gain:.2g} "
                       f"< {RUNAWAY_GAIN:g}")
        return res
    # L-BFGS-B reports "ABNORMAL" when it cannot improve any further at machine precision;
    # that is convergence if the gradient is essentially zero.
    if not res.success and np.all(np.isfinite(res.x)) and np.isfinite(res.fun):
        g = getattr(res, "jac", None)
        if g is not None and np.max(np.abs(g)) < 1e-5:
            res.success = True
    return res


def theta_hessian(objective: Objective, theta, g=None) -> np.ndarray:
    """Symmetric Hessian of ``objective`` (returning (f, grad)) by forward differences.

    Examples
    --------
    >>> from clvmodels.models.optimize import LogLik, Objective, ParameterTransform, theta_hessian
    >>> counts = np.array([0.0, 1.0, 2.0, 3.0])
    >>> def value_grad(p):
    ...     return float(np.sum(counts * np.log(p[0]) - p[0])), np.array([np.sum(counts / p[0] - 1.0)])
    >>> ll = LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=4.0)
    >>> objective = Objective(ll, pscale=np.ones(1), tr=ParameterTransform([(0.0, np.inf)]))
    >>> theta_hessian(objective, np.log([1.5])).round(4).tolist()   # d2/dtheta2 of the mean: exp(theta) = 1.5
    [[1.5]]
    """
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


def newton(objective: Objective, theta0, *, tol: float, H0=None, max_steps: int = 25, defer_step: float = 0.0):
    """Polish a warm start with Newton steps; None when that fails (the caller falls back to L-BFGS).

    With an analytic Hessian (``objective.hessian``) every step uses the exact Hessian at the
    current point, taken in the same pass as the objective and gradient; the Hessian at the
    returned point is returned as ``hess`` for the covariance. Otherwise the first steps use
    ``H0`` (the sub-sample's Hessian of the mean objective, in theta); after two of them (or once a
    step is below 1e-4) the full-data Hessian is taken once by forward differences of the analytic
    gradient, used for the remaining steps (quadratic convergence) and returned as ``hess``.
    Returns None when a Hessian is not positive definite or a step fails to decrease the objective.

    ``defer_step`` > 0 (analytic Hessian only): once a Newton step is below it (the next gradient,
    quadratically smaller, is then far below ``tol``), the step is taken without evaluating the
    new point and the result is marked ``pending``: the caller confirms the gradient in its final
    pass over the data (one pass fewer).

    Examples
    --------
    >>> from clvmodels.models.optimize import LogLik, Objective, ParameterTransform, newton
    >>> counts = np.array([0.0, 1.0, 2.0, 3.0])
    >>> def value_grad(p):
    ...     return float(np.sum(counts * np.log(p[0]) - p[0])), np.array([np.sum(counts / p[0] - 1.0)])
    >>> ll = LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=4.0)
    >>> objective = Objective(ll, pscale=np.ones(1), tr=ParameterTransform([(0.0, np.inf)]))
    >>> res = newton(objective, np.log([1.4]), tol=1e-10)           # from a warm start near the optimum
    >>> bool(res.success), np.exp(res.x).round(6).tolist(), res.hess.round(3).tolist()
    (True, [1.5], [[1.5]])
    """
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
        H = theta_hessian(objective, theta, g) if H0 is None or not np.all(np.isfinite(H0)) else H0
    fresh = exact
    n_steps = 0
    for n_steps in range(1, max_steps + 1):
        if np.max(np.abs(g)) < float(tol):
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
            H = theta_hessian(objective, theta, g)
            fresh = True
        if np.max(np.abs(step)) < 1e-13:
            break
    ok = fresh and np.max(np.abs(g)) < max(float(tol), 1e-9)
    return optimize.OptimizeResult(x=theta, fun=f, jac=g, success=bool(ok), nit=n_steps, hess=H,
                                   message="Newton polish " + ("converged" if ok else "stopped"))


def covariance_from_hessian(H) -> tuple[np.ndarray, bool]:
    """Inverse of the negative Hessian (natural parameters); (NaN matrix, False) unless it is
    finite and negative definite.

    Examples
    --------
    The Hessian of a Poisson log-likelihood in its rate, -sum(x) / rate^2, at the MLE rate 1.5 of 4
    counts summing to 6: the variance of the estimate is rate / n = 0.375.

    >>> from clvmodels.models.optimize import covariance_from_hessian
    >>> cov, ok = covariance_from_hessian([[-6.0 / 1.5 ** 2]])
    >>> cov.round(4).tolist(), ok
    ([[0.375]], True)
    >>> covariance_from_hessian([[1.0]])                             # not negative definite
    (array([[nan]]), False)
    """
    H = 0.5 * (np.asarray(H, dtype=np.float64) + np.asarray(H, dtype=np.float64).T)
    k = len(H)
    if not np.all(np.isfinite(H)):
        return np.full((k, k), np.nan), False
    try:
        chol = np.linalg.cholesky(-H)
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan), False
    inv_chol = np.linalg.inv(chol)
    cov = inv_chol.T @ inv_chol
    return 0.5 * (cov + cov.T), True


def _covariance_from_theta(H_theta, theta, tr: ParameterTransform, pscale) -> tuple[np.ndarray, bool]:
    """cov = J (H_theta)^-1 J with J = d param / d theta (H_theta: Hessian of the negative total LL)."""
    k = len(theta)
    try:
        chol = np.linalg.cholesky(0.5 * (H_theta + H_theta.T))
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan), False
    inv_chol = np.linalg.inv(chol)
    J = tr.dparam_dtheta(theta) * pscale
    cov = (inv_chol.T @ inv_chol) * np.outer(J, J)
    return 0.5 * (cov + cov.T), True


def _numerical_hessian(loglik: LogLik, params: tuple[float, ...], lower: np.ndarray, penalizer: float,
                       n_rows: int, g_hat=None) -> np.ndarray:
    """Symmetric numerical Hessian of the penalised total log-likelihood in natural params:
    differences of the analytic gradient when there is one (forward differences above WARM_ROWS
    rows, reusing ``g_hat``, the gradient at the estimate, when known), else of the value."""
    p0 = np.array(params, dtype=np.float64)
    k = len(p0)
    total_w = float(loglik.total_weight)
    # relative steps, kept inside the bounds
    h = 1e-4 * np.maximum(np.abs(p0), 1e-8)
    h = np.minimum(h, 0.5 * (p0 - lower))
    H = np.empty((k, k))
    if loglik.value_grad is not None:
        def grad(p):
            _, g = loglik.value_grad(tuple(float(v) for v in p))
            return g - _penalty(penalizer, p)[1] * total_w
        with np.errstate(all="ignore"):
            if n_rows > WARM_ROWS:  # large data: forward differences (k + 1 gradients)
                g0 = grad(p0) if g_hat is None else np.asarray(g_hat) - _penalty(penalizer, p0)[1] * total_w
                for i in range(k):
                    e = np.zeros(k)
                    e[i] = 1e-2 * h[i]
                    H[:, i] = (grad(p0 + e) - g0) / e[i]
            else:
                for i in range(k):
                    e = np.zeros(k)
                    e[i] = h[i]
                    H[:, i] = (grad(p0 + e) - grad(p0 - e)) / (2 * h[i])
        return 0.5 * (H + H.T)

    def total(p):
        with np.errstate(all="ignore"):
            return float(loglik.value(tuple(float(v) for v in p))) - _penalty(penalizer, p)[0] * total_w

    f0 = total(p0)
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = h[i]
            ej[j] = h[j]
            if i == j:
                H[i, i] = (total(p0 + ei) - 2 * f0 + total(p0 - ei)) / h[i] ** 2
            else:
                H[i, j] = (total(p0 + ei + ej) - total(p0 + ei - ej) - total(p0 - ei + ej)
                           + total(p0 - ei - ej)) / (4 * h[i] * h[j])
                H[j, i] = H[i, j]
    return 0.5 * (H + H.T)


@dataclass
class Optimum:
    """What :func:`maximize_loglik` found.

    ``params`` in the data's own units; ``loglik`` the total log-likelihood there; ``cov`` the
    covariance (NaN when the Hessian is not negative definite, ``cov_ok`` False); ``result`` the
    optimiser's report; ``problems`` plain-language reasons not to trust the fit (empty when fine).

    Examples
    --------
    What :func:`maximize_loglik` returns; here for a Poisson rate without an analytic gradient:

    >>> from clvmodels.models.optimize import LogLik, ParameterTransform, maximize_loglik
    >>> x = np.array([0.0, 1.0, 2.0, 3.0])
    >>> def make_loglik(cols, w):
    ...     value = lambda p: float(np.sum(w * (cols[0] * np.log(p[0]) - p[0])))
    ...     return LogLik(value=value, value_grad=None, total_weight=float(w.sum()))
    >>> opt = maximize_loglik(make_loglik, (x,), np.ones(4), (x,), np.zeros(1), ParameterTransform([(0.0, np.inf)]),
    ...                       np.ones(1), tol=1e-10, max_iter=100)
    >>> type(opt).__name__, opt.params.round(4).tolist(), opt.cov.round(4).tolist(), opt.cov_ok, opt.problems
    ('Optimum', [1.5], [[0.375]], True, [])
    """

    params: np.ndarray
    theta: np.ndarray
    loglik: float
    cov: np.ndarray
    cov_ok: bool
    result: optimize.OptimizeResult
    problems: list[str] = field(default_factory=list)


def _warm_rows(n: int) -> np.ndarray:
    """Positions of the warm-start sub-sample: WARM_ROWS rows evenly spaced over the n compressed
    rows, which are sorted by frequency, so the sample is stratified by frequency (its optimum
    lands 2-4x closer to the full one than a random draw's, sparing a Newton pass now and then)."""
    return (np.arange(WARM_ROWS, dtype=np.int64) * n) // WARM_ROWS


def maximize_loglik(make_loglik: Callable[[tuple, np.ndarray], LogLik], data: tuple, weights: np.ndarray,
                    scaled: tuple, theta0: np.ndarray, tr: ParameterTransform, pscale: np.ndarray, *,
                    tol: float, max_iter: int, penalizer: float = 0.0, warm_start: bool = True,
                    names: Sequence[str] = ()) -> Optimum:
    """Maximise the penalised log-likelihood of (compressed) rows and estimate the covariance.

    Parameters
    ----------
    make_loglik : ``(columns, weights) -> LogLik`` for any subset of the rows.
    data, scaled : the rows' columns in the data's own units and on the optimiser's rescaled axis.
    weights : the rows' weights.
    theta0 : start, in theta of the rescaled natural parameters.
    tr, pscale : the parameters' transform and their scale (the rescaled parameter times
        ``pscale`` is the parameter in the data's units; a power of two, so the map is exact).
    tol, max_iter : gradient tolerance and L-BFGS iteration cap.
    penalizer : L2 penalty on the parameters in the data's units.
    warm_start : allow the sub-sample warm start on large data.
    names : parameter names, for the messages of ``Optimum.problems``.

    Examples
    --------
    A Poisson rate fitted on weighted (compressed) counts: counts 0, 1, 2, 3 seen 1, 1, 1, 1 times.
    The estimate is the mean 1.5, its variance rate / n = 0.375:

    >>> from clvmodels.models.optimize import LogLik, ParameterTransform, maximize_loglik
    >>> def make_loglik(cols, w):
    ...     (x,) = cols
    ...     def value_grad(p):
    ...         return float(np.sum(w * (x * np.log(p[0]) - p[0]))), np.array([np.sum(w * (x / p[0] - 1.0))])
    ...     return LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=float(w.sum()))
    >>> data, weights = (np.array([0.0, 1.0, 2.0, 3.0]),), np.ones(4)
    >>> opt = maximize_loglik(make_loglik, data, weights, data, np.zeros(1), ParameterTransform([(0.0, np.inf)]),
    ...                       np.ones(1), tol=1e-10, max_iter=100, names=("rate",))
    >>> opt.params.round(6).tolist(), opt.cov.round(6).tolist(), opt.problems
    ([1.5], [[0.375]], [])
    >>> round(opt.loglik, 4)
    -3.5672
    """
    uw = weights

    def objective(cols, w):
        return Objective(make_loglik(cols, w), pscale, tr, penalizer)

    full = None  # the full-data objective of the Newton polish, when there is one
    res = None
    if warm_start and len(uw) > WARM_ROWS:
        # warm start: optimise on a fixed sub-sample first (same model, same start); the
        # full-data optimisation then needs only a few iterations
        pick = _warm_rows(len(uw))
        sub = tuple(c[pick] for c in scaled)
        # (to |grad| < 1e-6 only: the sub-sample's optimum is itself ~1/sqrt(50,000) away from
        # the full one, and Newton's first step covers both; tighter costs iterations, not steps)
        pre = minimize(objective(sub, uw[pick]), theta0, tol=tol, max_iter=max_iter, gtol=_WARM_GTOL, names=names)
        if pre.runaway:     # no Newton steps along a flat ridge: L-BFGS on the full data, watched the same way
            theta0 = pre.x
        elif np.all(np.isfinite(pre.x)) and np.all(np.abs(pre.x) < THETA_EDGE):
            theta0 = pre.x
            full = objective(scaled, uw)
            if full.hessian is not None:  # analytic Hessian: plain Newton steps on the full data
                res = newton(full, theta0, tol=tol, defer_step=_DEFER_STEP)
            else:
                # the sub-sample's Hessian of the mean objective estimates the full one
                sub_obj = objective(sub, uw[pick])
                H0 = theta_hessian(sub_obj, theta0) if sub_obj.has_grad else None
                res = newton(full, theta0, tol=tol, H0=H0)
        if res is None or not (res.success or res.get("pending")):
            res = minimize(full or objective(scaled, uw), theta0, tol=tol, max_iter=max_iter, names=names)
    else:
        res = minimize(objective(scaled, uw), theta0, tol=tol, max_iter=max_iter, names=names)

    total_w = float(uw.sum())
    loglik = make_loglik(data, uw)    # in the data's own units
    ev = loglik.evaluator
    while True:
        p_hat = tr.to_param(res.x) * pscale  # exact map back: pscale is a power of two
        params = tuple(float(v) for v in p_hat)
        pending = bool(res.get("pending", False))
        newton_hess = res.get("hess") if isinstance(res, optimize.OptimizeResult) else None
        use_newton_hess = newton_hess is not None and (res.success or pending) and penalizer == 0
        H_nat = g_hat = None
        if ev is None:
            if loglik.value_grad is not None:
                ll, g_hat = loglik.value_grad(params)
                ll = float(ll)
            else:
                with np.errstate(all="ignore"):
                    ll = float(loglik.value(params))
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
        full = full or objective(scaled, uw)
        g_theta = full.theta_gradient(out[1], res.x)
        if np.all(np.isfinite(g_theta)) and np.max(np.abs(g_theta)) < max(float(tol), 1e-9):
            res.update(jac=g_theta, success=True, pending=False, message="Newton polish converged")
            break
        # the unevaluated step did not land (unexpected): keep stepping with evaluations
        again = newton(full, res.x, tol=tol)
        res = again if again is not None and again.success else minimize(full, res.x, tol=tol, max_iter=max_iter,
                                                                          names=names)

    problems = []
    if not res.success:
        problems.append(f"the optimiser stopped without converging ({res.message})")
    if not np.isfinite(ll):
        problems.append("the log-likelihood at the estimate is not finite")
    edge = [n for n, t in zip(names or range(len(params)), res.x) if abs(t) > THETA_EDGE]
    if edge:
        problems.append(f"parameter(s) {edge} ran to the edge of their range (estimate near 0 or infinity)")
    k = len(params)
    if H_nat is not None:  # analytic Hessian of the penalised total LL at the estimate
        pen = 2.0 * float(penalizer) * total_w * np.eye(k)
        J = tr.dparam_dtheta(res.x) * pscale
        H_theta = -(np.asarray(H_nat, dtype=np.float64) - pen) * np.outer(J, J)
        cov, ok = _covariance_from_theta(H_theta, res.x, tr, pscale)
    elif use_newton_hess:
        # the Newton polish already holds the full-data Hessian of the mean objective in theta:
        # analytic at the returned point (evaluator models), or by differences of the gradient
        # close to the optimum (standard errors agree with a central-difference Hessian at the
        # optimum to ~1e-5). Map it to natural parameters (the gradient term vanishes)
        cov, ok = _covariance_from_theta(newton_hess * total_w, res.x, tr, pscale)
    else:
        H = _numerical_hessian(loglik, params, tr.lower * pscale, penalizer, len(uw), g_hat)
        cov, ok = covariance_from_hessian(H)
    if not ok:
        problems.append("the Hessian at the optimum is not negative definite (standard errors unavailable)")
    return Optimum(params=np.asarray(p_hat, dtype=np.float64), theta=np.asarray(res.x), loglik=ll, cov=cov,
                   cov_ok=ok, result=res, problems=problems)
