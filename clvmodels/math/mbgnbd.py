"""MBG/NBD model math (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison
of models for customer base analysis", International Journal of Research in Marketing 24, 201-209).

Same as BG/NBD (Fader, Hardie & Lee 2005) except that a customer may also drop out at time 0,
before any repeat purchase: the dropout coin p ~ Beta(a, b) is tossed at time 0 and after every
purchase. Hence customers with x = 0 can be inactive, and all results follow from the BG/NBD ones
with b shifted by one where the extra toss was survived. Same symbols and broadcasting as
:mod:`clvmodels.math.bgnbd`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from . import bgnbd as _bg
from .special import log_bg_mean_purchases, per_unique

__all__ = [
    "weighted_evaluator",
    "p_alive_ahead", "p_no_purchase_ahead", "p_alive_grid", "alive_factors",
    "loglik", "loglik_and_grad", "grad_loglik", "expected_purchases_new", "p_purchases",
    "conditional_expected_purchases", "p_alive", "log_p_alive", "weighted_loglik_and_grad",
]


def _f(*args):
    return [np.asarray(v, dtype=np.float64) for v in args]


def _terms(r, alpha, a, b, x, t_x, T):
    """L = B(a, b+x+1)/B(a, b) Gamma(r+x)/Gamma(r) [ alpha^r/(alpha+T)^(r+x)
    + a/(b+x) alpha^r/(alpha+t_x)^(r+x) ] (Batislam et al. 2007, sec. 2; B(a+1, b+x) =
    B(a, b+x+1) a/(b+x)). The second term (dropout at the last toss) is present for x = 0 too."""
    if np.ndim(r) == np.ndim(a) == np.ndim(b) == 0:  # scalar parameters: once per distinct x
        common = per_unique(x, lambda xx: special.gammaln(r + xx) + special.gammaln(b + xx + 1)
                            - special.gammaln(a + b + xx + 1))
    else:
        common = special.gammaln(r + x) + special.gammaln(b + x + 1) - special.gammaln(a + b + x + 1)
    common = common - special.gammaln(r) - special.gammaln(b) + special.gammaln(a + b)
    log_T = -r * np.log1p(T / alpha) - x * np.log(alpha + T)
    log_tx = np.log(a) - np.log(b + x) - r * np.log1p(t_x / alpha) - x * np.log(alpha + t_x)
    return common, log_T, log_tx


def loglik(r, alpha, a, b, x, t_x, T):
    """Per-customer log-likelihood (Batislam, Denizel & Filiztekin 2007, sec. 2).

    Examples
    --------
    The MBG/NBD maximum-likelihood estimates on the CDNOW calibration sample (``clv.MBGNBD().fit``,
    rounded) and three CDNOW customers (weeks):

    >>> from clvmodels.math import mbgnbd
    >>> params = (0.525, 6.183, 0.891, 1.614)                     # r, alpha, a, b
    >>> x, t_x, T = np.array([2, 1, 0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> mbgnbd.loglik(*params, x, t_x, T).round(4).tolist()
    [-9.4856, -4.4604, -0.5398]
    >>> import clvmodels as clv
    >>> s = clv.datasets.cdnow_summary()
    >>> round(float(mbgnbd.loglik(*params, s["frequency"], s["recency"], s["T"]).sum()), 1)
    -9582.1
    """
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    common, log_T, log_tx = _terms(r, alpha, a, b, x, t_x, T)
    return common + np.logaddexp(log_T, log_tx)


def loglik_and_grad(r, alpha, a, b, x, t_x, T):
    """Log-likelihood and its analytic gradient w.r.t. (r, alpha, a, b); grad shape (4,) + shape.

    With w the weight of the dropout term: d/dr and d/dalpha as for BG/NBD;
    d/da = psi(a+b) - psi(a+b+x+1) + w/a; d/db = psi(b+x+1) - psi(b) + psi(a+b) - psi(a+b+x+1)
    - w/(b+x).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> x, t_x, T = np.array([2, 1, 0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> ll, grad = mbgnbd.loglik_and_grad(0.525, 6.183, 0.891, 1.614, x, t_x, T)
    >>> grad.shape                                                # (r, alpha, a, b) x customers
    (4, 3)
    >>> grad[:, 2].round(4).tolist()                              # x = 0: a and b enter too (time-0 dropout)
    [-0.7739, 0.0285, 0.2857, -0.1577]
    """
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    common, log_T, log_tx = _terms(r, alpha, a, b, x, t_x, T)
    ll = common + np.logaddexp(log_T, log_tx)
    w = special.expit(log_tx - log_T)

    def x_terms(xx):
        return (special.digamma(r + xx), special.digamma(b + xx + 1), special.digamma(a + b + xx + 1))

    if np.ndim(r) == np.ndim(a) == np.ndim(b) == 0:
        dg_rx, dg_bx, dg_abx = per_unique(x, x_terms)
    else:
        dg_rx, dg_bx, dg_abx = x_terms(x)
    dg_ab = special.digamma(a + b) - dg_abx
    d_r = dg_rx - special.digamma(r) - (1 - w) * np.log1p(T / alpha) - w * np.log1p(t_x / alpha)
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
    d_a = dg_ab + w / a
    d_b = dg_bx - special.digamma(b) + dg_ab - w / (b + x)
    grad = np.stack(np.broadcast_arrays(d_r, d_alpha, d_a, d_b))
    return ll, grad


def grad_loglik(r, alpha, a, b, x, t_x, T):
    """Gradient of :func:`loglik` with respect to (r, alpha, a, b).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.grad_loglik(0.525, 6.183, 0.891, 1.614, 2, 30.43, 38.86).round(4).tolist()
    [0.6356, 0.0251, -0.5767, 0.2911]
    """
    return loglik_and_grad(r, alpha, a, b, x, t_x, T)[1]


def log_p_alive(r, alpha, a, b, x, t_x, T):
    """log P(alive at T | x, t_x, T) = -log(1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.log_p_alive(0.525, 6.183, 0.891, 1.614, [2, 1, 0], [30.43, 1.71, 0.0], 38.86).round(4).tolist()
    [-0.3479, -1.767, -0.9423]
    """
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    y = np.log(a) - np.log(b + x) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    return -np.logaddexp(0.0, y)


def p_alive(r, alpha, a, b, x, t_x, T):
    """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))
    (Batislam et al. 2007); below 1 even for x = 0 (dropout at time 0).

    Examples
    --------
    Unlike the BG/NBD, a customer without repeat purchases may have dropped out at time 0:

    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.p_alive(0.525, 6.183, 0.891, 1.614, [2, 1, 0], [30.43, 1.71, 0.0], 38.86).round(4).tolist()
    [0.7062, 0.1708, 0.3897]
    """
    return np.exp(log_p_alive(r, alpha, a, b, x, t_x, T))


def expected_purchases_new(r, alpha, a, b, t):
    """E[X(t)] for a new customer (Batislam et al. 2007):
    b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))] = b/(a+b) G(r, t/alpha, a, b+1),
    with G the guarded BG/NBD mean (the customer must survive the time-0 toss, probability
    b/(a+b), after which p ~ Beta(a, b+1)).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> round(float(mbgnbd.expected_purchases_new(0.525, 6.183, 0.891, 1.614, 39.0)), 4)
    1.183
    >>> mbgnbd.expected_purchases_new(0.525, 6.183, 0.891, 1.614, [13.0, 39.0, 78.0]).round(4).tolist()
    [0.5354, 1.183, 1.8048]
    """
    r, alpha, a, b, t = _f(r, alpha, a, b, t)
    return np.exp(np.log(b) - np.log(a + b) + log_bg_mean_purchases(r, t / alpha, a, b + 1))


def p_purchases(r, alpha, a, b, n, t):
    """P(X(t) = n) for a new customer.

    X(t) = min(N(t), K) with K the number of purchases before dropout, P(K >= k) = E(1-p)^k:
    P(X(t)=n) = B(a, b+n+1)/B(a, b) NB(n) + B(a+1, b+n)/B(a, b) P(N(t) >= n), with
    P(N(t) >= 0) = 1 (dropout at time 0) and P(N(t) >= n) = I_{t/(alpha+t)}(n, r) for n > 0.

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.p_purchases(0.525, 6.183, 0.891, 1.614, [0, 1, 2, 3], 39.0).round(4).tolist()
    [0.5825, 0.1828, 0.0869, 0.0486]
    >>> round(float(mbgnbd.p_purchases(0.525, 6.183, 0.891, 1.614, np.arange(200), 39.0).sum()), 6)
    1.0
    """
    r, alpha, a, b, n, t = _f(r, alpha, a, b, n, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = t / (alpha + t)
        log_nb = (special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1)
                  - r * np.log1p(t / alpha) + special.xlogy(n, z))
        first = special.betaln(a, b + n + 1) - special.betaln(a, b) + log_nb
        log_tail = np.where(n > 0, np.log(special.betainc(np.maximum(n, 1), r, z)), 0.0)
        second = special.betaln(a + 1, b + n) - special.betaln(a, b) + log_tail
        return np.exp(np.logaddexp(first, second))


def conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t):
    """E[Y(t) | x, t_x, T] (Batislam et al. 2007):
    P(alive) (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))]
    = P(alive) G(r+x, t/(alpha+T), a, b+x+1), in log space.

    Examples
    --------
    Expected purchases in the next 39 weeks of three CDNOW customers:

    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.conditional_expected_purchases(0.525, 6.183, 0.891, 1.614, [2, 1, 0], [30.43, 1.71, 0.0], 38.86,
    ...                                       39.0).round(3).tolist()
    [1.263, 0.189, 0.154]
    """
    r, alpha, a, b, x, t_x, T, t = _f(r, alpha, a, b, x, t_x, T, t)
    log_g = log_bg_mean_purchases(r + x, t / (alpha + T), a, b + x + 1)
    return np.exp(log_g + log_p_alive(r, alpha, a, b, x, t_x, T))


def weighted_loglik_and_grad(r, alpha, a, b, x, t_x, T, weights):
    """(sum_i w_i loglik_i, gradient w.r.t. (r, alpha, a, b)) for scalar parameters and 1-D data;
    the optimiser's entry point (see :func:`clvmodels.math.bgnbd.weighted_loglik_and_grad`).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 30.43]), np.array([38.86, 38.86])
    >>> total, grad = mbgnbd.weighted_loglik_and_grad(0.525, 6.183, 0.891, 1.614, x, t_x, T, np.array([3.0, 1.0]))
    >>> round(float(total), 4), grad.shape
    (-11.1051, (4,))
    >>> round(float(mbgnbd.loglik(0.525, 6.183, 0.891, 1.614, [0, 0, 0, 2], [0, 0, 0, 30.43], 38.86).sum()), 4)
    -11.1051
    """
    from .bgnbd import _weighted_family

    return _weighted_family(r, alpha, a, b, x, t_x, T, weights, 1)


# ----------------------------------------------------------------------------------------------
# the future of a customer alive now (the forecasting layer's factors)


def p_alive_ahead(r, alpha, a, b, x, T, t):
    """P(alive at T+t | alive at T, x, T): as the BG/NBD's with p ~ Beta(a, b+x+1), the coin of
    time 0 having been survived too (derivation in :func:`clvmodels.math.bgnbd._alive_ahead`).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.p_alive_ahead(0.525, 6.183, 0.891, 1.614, np.array([0, 1, 2]), 38.86, 39.0).round(4).tolist()
    [0.908, 0.8072, 0.7517]
    """
    return _bg._alive_ahead(r, alpha, a, b, x, T, t, 1.0)


def p_no_purchase_ahead(r, alpha, a, b, x, T, t):
    """P(no purchase in (T, T+t] | alive at T, x, T): the BG/NBD's (dropout only follows a purchase
    or time 0, so a and b do not enter).

    Examples
    --------
    >>> from clvmodels.math import mbgnbd
    >>> mbgnbd.p_no_purchase_ahead(0.525, 6.183, 0.891, 1.614, np.array([0, 1, 2]), 38.86, 39.0).round(4).tolist()
    [0.7208, 0.3863, 0.207]
    """
    return _bg.p_no_purchase_ahead(r, alpha, a, b, x, T, t)


def p_alive_grid(r, alpha, a, b, x, t_x, T):
    """:func:`p_alive` as an (n, S) array for S parameter columns, computed in place.

    Examples
    --------
    Two parameter draws (columns) for three customers (rows); the same numbers as :func:`p_alive`:

    >>> from clvmodels.math import mbgnbd
    >>> r, alpha = np.array([[0.525, 0.5]]), np.array([[6.183, 6.0]])      # shape (1, S): S = 2 draws
    >>> a, b = np.array([[0.891, 0.9]]), np.array([[1.614, 1.6]])
    >>> x, t_x, T = np.array([2.0, 1.0, 0.0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> mbgnbd.p_alive_grid(r, alpha, a, b, x, t_x, T).round(4).tolist()
    [[0.7062, 0.7039], [0.1708, 0.1707], [0.3897, 0.394]]
    """
    return _bg._p_alive_grid(r, alpha, a, b, x, t_x, T, 1.0)


def alive_factors(r, alpha, a, b, x, T, steps, weights=None, keep_full=False):
    """The forecasting layer's fast "given alive" factors (:class:`clvmodels.math._bgfast.BGAliveFactors`,
    MBG/NBD shift); arguments and results as :func:`clvmodels.math.bgnbd.alive_factors`.

    Examples
    --------
    ``G`` times P(alive now) is :func:`conditional_expected_purchases`, ``H`` is :func:`p_alive_ahead`:

    >>> from clvmodels.math import mbgnbd
    >>> fac = mbgnbd.alive_factors([0.525], [6.183], [0.891], [1.614], np.array([2.0]), np.array([38.86]),
    ...                            np.array([13.0, 39.0]))
    >>> G, H = fac(np.array([2.0]), np.array([38.86]))
    >>> p_now = mbgnbd.p_alive(0.525, 6.183, 0.891, 1.614, 2, 30.43, 38.86)
    >>> (p_now * G[0, 0]).round(3).tolist(), H[0, 0].round(4).tolist()
    ([0.477, 1.263], [0.897, 0.7517])
    """
    from ._bgfast import BGAliveFactors

    return BGAliveFactors(r, alpha, a, b, 1, x, T, steps, weights, keep_full=keep_full)


def weighted_evaluator(x, t_x, T, weights, blas=False):
    """The BG/NBD-family kernel (:class:`clvmodels.math.bgnbd.FamilyRows`) with the MBG/NBD shift
    (the dropout coin is also tossed at time 0): value, gradient and Hessian of the weighted total
    log-likelihood in one pass over rows prepared once.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.math import mbgnbd
    >>> s = clv.datasets.cdnow_summary()
    >>> ev = mbgnbd.weighted_evaluator(s["frequency"], s["recency"], s["T"], np.ones(len(s)))
    >>> total, grad, hess = ev(0.525, 6.183, 0.891, 1.614, order=2)
    >>> round(float(total), 1), hess.shape
    (-9582.1, (4, 4))
    >>> np.sqrt(np.diag(np.linalg.inv(-hess))).round(3).tolist()    # standard errors of r, alpha, a, b
    [0.084, 0.701, 0.156, 0.545]
    """
    return _bg.FamilyRows(x, t_x, T, weights, shift=1, blas=blas)
