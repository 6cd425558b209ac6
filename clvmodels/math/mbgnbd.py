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
    """Per-customer log-likelihood (Batislam, Denizel & Filiztekin 2007, sec. 2)."""
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    common, log_T, log_tx = _terms(r, alpha, a, b, x, t_x, T)
    return common + np.logaddexp(log_T, log_tx)


def loglik_and_grad(r, alpha, a, b, x, t_x, T):
    """Log-likelihood and its analytic gradient w.r.t. (r, alpha, a, b); grad shape (4,) + shape.

    With w the weight of the dropout term: d/dr and d/dalpha as for BG/NBD;
    d/da = psi(a+b) - psi(a+b+x+1) + w/a; d/db = psi(b+x+1) - psi(b) + psi(a+b) - psi(a+b+x+1)
    - w/(b+x).
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
    """Gradient of :func:`loglik` with respect to (r, alpha, a, b)."""
    return loglik_and_grad(r, alpha, a, b, x, t_x, T)[1]


def log_p_alive(r, alpha, a, b, x, t_x, T):
    """log P(alive at T | x, t_x, T) = -log(1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))."""
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    y = np.log(a) - np.log(b + x) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    return -np.logaddexp(0.0, y)


def p_alive(r, alpha, a, b, x, t_x, T):
    """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))
    (Batislam et al. 2007); below 1 even for x = 0 (dropout at time 0)."""
    return np.exp(log_p_alive(r, alpha, a, b, x, t_x, T))


def expected_purchases_new(r, alpha, a, b, t):
    """E[X(t)] for a new customer (Batislam et al. 2007):
    b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))] = b/(a+b) G(r, t/alpha, a, b+1),
    with G the guarded BG/NBD mean (the customer must survive the time-0 toss, probability
    b/(a+b), after which p ~ Beta(a, b+1))."""
    r, alpha, a, b, t = _f(r, alpha, a, b, t)
    return np.exp(np.log(b) - np.log(a + b) + log_bg_mean_purchases(r, t / alpha, a, b + 1))


def p_purchases(r, alpha, a, b, n, t):
    """P(X(t) = n) for a new customer.

    X(t) = min(N(t), K) with K the number of purchases before dropout, P(K >= k) = E(1-p)^k:
    P(X(t)=n) = B(a, b+n+1)/B(a, b) NB(n) + B(a+1, b+n)/B(a, b) P(N(t) >= n), with
    P(N(t) >= 0) = 1 (dropout at time 0) and P(N(t) >= n) = I_{t/(alpha+t)}(n, r) for n > 0.
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
    = P(alive) G(r+x, t/(alpha+T), a, b+x+1), in log space."""
    r, alpha, a, b, x, t_x, T, t = _f(r, alpha, a, b, x, t_x, T, t)
    log_g = log_bg_mean_purchases(r + x, t / (alpha + T), a, b + x + 1)
    return np.exp(log_g + log_p_alive(r, alpha, a, b, x, t_x, T))


def weighted_loglik_and_grad(r, alpha, a, b, x, t_x, T, weights):
    """(sum_i w_i loglik_i, gradient w.r.t. (r, alpha, a, b)) for scalar parameters and 1-D data;
    the optimiser's entry point (see :func:`clvmodels.math.bgnbd.weighted_loglik_and_grad`)."""
    from .bgnbd import _weighted_family

    return _weighted_family(r, alpha, a, b, x, t_x, T, weights, 1)


# ----------------------------------------------------------------------------------------------
# the future of a customer alive now (the forecasting layer's factors)


def p_alive_ahead(r, alpha, a, b, x, T, t):
    """P(alive at T+t | alive at T, x, T): as the BG/NBD's with p ~ Beta(a, b+x+1), the coin of
    time 0 having been survived too (derivation in :func:`clvmodels.math.bgnbd._alive_ahead`)."""
    return _bg._alive_ahead(r, alpha, a, b, x, T, t, 1.0)


def p_no_purchase_ahead(r, alpha, a, b, x, T, t):
    """P(no purchase in (T, T+t] | alive at T, x, T): the BG/NBD's (dropout only follows a purchase
    or time 0, so a and b do not enter)."""
    return _bg.p_no_purchase_ahead(r, alpha, a, b, x, T, t)


def p_alive_grid(r, alpha, a, b, x, t_x, T):
    """:func:`p_alive` as an (n, S) array for S parameter columns, computed in place."""
    return _bg._p_alive_grid(r, alpha, a, b, x, t_x, T, 1.0)


def alive_factors(r, alpha, a, b, x, T, steps, weights=None, keep_full=False):
    """The forecasting layer's fast "given alive" factors (:class:`clvmodels.math._bgfast.BGAliveFactors`,
    MBG/NBD shift)."""
    from ._bgfast import BGAliveFactors

    return BGAliveFactors(r, alpha, a, b, 1, x, T, steps, weights, keep_full=keep_full)


def weighted_evaluator(x, t_x, T, weights, blas=False):
    """The BG/NBD-family kernel (:class:`clvmodels.math.bgnbd.FamilyRows`) with the MBG/NBD shift
    (the dropout coin is also tossed at time 0): value, gradient and Hessian of the weighted total
    log-likelihood in one pass over rows prepared once."""
    return _bg.FamilyRows(x, t_x, T, weights, shift=1, blas=blas)
