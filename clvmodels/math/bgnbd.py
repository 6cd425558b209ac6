"""BG/NBD model math (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an
alternative to the Pareto/NBD model", Marketing Science 24(2), 275-284; and the notes
"Computing P(alive) using the BG/NBD model" (2008) by the same authors).

Model: while active, a customer buys with Poisson rate lambda ~ Gamma(r, alpha) (alpha is a
rate, in the time unit of the data); after every purchase the customer drops out with
probability p ~ Beta(a, b).

Symbols: x = number of repeat purchases, t_x = time of the last one (recency), T = age;
t = length of a future (or new-customer) period; n = a number of purchases. All functions are
pure numpy, vectorised, broadcasting (parameter draws of shape (D, 1) against customers of
shape (N,) give (D, N)) and work in log space.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .special import log_bg_mean_purchases, per_unique

__all__ = [
    "loglik", "loglik_and_grad", "grad_loglik", "expected_purchases_new", "p_purchases",
    "conditional_expected_purchases", "p_alive", "log_p_alive", "weighted_loglik_and_grad",
]


def _f(*args):
    return [np.asarray(v, dtype=np.float64) for v in args]


def _terms(r, alpha, a, b, x, t_x, T):
    """Common pieces of eq. 6: the shared log factor and the two log terms.

    L = B(a, b+x)/B(a, b) Gamma(r+x)/Gamma(r) [ alpha^r/(alpha+T)^(r+x)
        + 1{x>0} a/(b+x-1) alpha^r/(alpha+t_x)^(r+x) ].
    alpha^r/(alpha+T)^(r+x) is written -r log1p(T/alpha) - x log(alpha+T) (no cancellation for
    small T or large alpha).
    """
    if np.ndim(r) == np.ndim(a) == np.ndim(b) == 0:  # scalar parameters: once per distinct x
        common = per_unique(x, lambda xx: special.gammaln(r + xx) + special.gammaln(b + xx) - special.gammaln(a + b + xx))
    else:
        common = special.gammaln(r + x) + special.gammaln(b + x) - special.gammaln(a + b + x)
    common = common - special.gammaln(r) - special.gammaln(b) + special.gammaln(a + b)
    log_T = -r * np.log1p(T / alpha) - x * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_tx = np.where(x > 0, np.log(a) - np.log(b + x - 1) - r * np.log1p(t_x / alpha)
                          - x * np.log(alpha + t_x), -np.inf)
    return common, log_T, log_tx


def loglik(r, alpha, a, b, x, t_x, T):
    """Per-customer log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    common, log_T, log_tx = _terms(r, alpha, a, b, x, t_x, T)
    return common + np.logaddexp(log_T, log_tx)


def loglik_and_grad(r, alpha, a, b, x, t_x, T):
    """Log-likelihood (eq. 6) and its analytic gradient with respect to (r, alpha, a, b).

    Returns ``(ll, grad)`` with ``grad`` of shape ``(4,) + ll.shape``. With w the posterior
    weight of the "dropped out after the last purchase" term (w = 0 when x = 0):
    d/dr = psi(r+x) - psi(r) - (1-w) log1p(T/alpha) - w log1p(t_x/alpha);
    d/dalpha = r/alpha - (r+x) [(1-w)/(alpha+T) + w/(alpha+t_x)];
    d/da = psi(a+b) - psi(a+b+x) + w/a;
    d/db = psi(b+x) - psi(b) + psi(a+b) - psi(a+b+x) - w/(b+x-1).
    """
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    common, log_T, log_tx = _terms(r, alpha, a, b, x, t_x, T)
    ll = common + np.logaddexp(log_T, log_tx)
    w = special.expit(log_tx - log_T)

    def x_terms(xx):
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_bx1 = np.where(xx > 0, 1.0 / (b + xx - 1), 0.0)
        return (special.digamma(r + xx), special.digamma(b + xx), special.digamma(a + b + xx), inv_bx1)

    if np.ndim(r) == np.ndim(a) == np.ndim(b) == 0:
        dg_rx, dg_bx, dg_abx, inv_bx1 = per_unique(x, x_terms)
    else:
        dg_rx, dg_bx, dg_abx, inv_bx1 = x_terms(x)
    dg_ab = special.digamma(a + b) - dg_abx
    d_r = dg_rx - special.digamma(r) - (1 - w) * np.log1p(T / alpha) - w * np.log1p(t_x / alpha)
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
    d_a = dg_ab + w / a
    d_b = dg_bx - special.digamma(b) + dg_ab - w * inv_bx1
    grad = np.stack(np.broadcast_arrays(d_r, d_alpha, d_a, d_b))
    return ll, grad


def grad_loglik(r, alpha, a, b, x, t_x, T):
    """Gradient of :func:`loglik` with respect to (r, alpha, a, b), shape (4,) + data shape."""
    return loglik_and_grad(r, alpha, a, b, x, t_x, T)[1]


def log_p_alive(r, alpha, a, b, x, t_x, T):
    """log P(alive at T | x, t_x, T) (Fader, Hardie & Lee 2008 note; = 0 when x = 0)."""
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(a) - np.log(b + x - 1) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
        return np.where(x > 0, -np.logaddexp(0.0, y), 0.0)


def p_alive(r, alpha, a, b, x, t_x, T):
    """P(alive at T | x, t_x, T) = 1 / (1 + 1{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model")."""
    return np.exp(log_p_alive(r, alpha, a, b, x, t_x, T))


def expected_purchases_new(r, alpha, a, b, t):
    """E[X(t)] for a new customer (eq. 7):
    (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))],
    evaluated as the guarded mean G(r, t/alpha, a, b) (finite also at a = 1 and a + b <= 1)."""
    r, alpha, a, b, t = _f(r, alpha, a, b, t)
    return np.exp(log_bg_mean_purchases(r, t / alpha, a, b))


def p_purchases(r, alpha, a, b, n, t):
    """P(X(t) = n) for a new customer (eq. 8).

    B(a, b+n)/B(a, b) NB(n) + 1{n>0} B(a+1, b+n-1)/B(a, b) P(N(t) >= n), where NB is the
    negative binomial pmf of purchases with rate Gamma(r, alpha) over t and
    P(N(t) >= n) = 1 - sum_{j<n} NB(j) = I_{t/(alpha+t)}(n, r) (regularised incomplete beta).
    """
    r, alpha, a, b, n, t = _f(r, alpha, a, b, n, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = t / (alpha + t)
        log_nb = (special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1)
                  - r * np.log1p(t / alpha) + special.xlogy(n, z))
        first = special.betaln(a, b + n) - special.betaln(a, b) + log_nb
        second = np.where(n > 0, special.betaln(a + 1, b + n - 1) - special.betaln(a, b)
                          + np.log(special.betainc(np.maximum(n, 1), r, z)), -np.inf)
        return np.exp(np.logaddexp(first, second))


def conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t):
    """E[Y(t) | x, t_x, T], expected purchases in (T, T+t] (eq. 10).

    Eq. 10 is P(alive | x, t_x, T) times the new-customer mean (eq. 7) with the posterior
    parameters r+x, alpha+T, a, b+x; the 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t)) inside is
    evaluated in log space by :func:`~clvmodels.math.special.log_bg_mean_purchases`, which stays
    finite and accurate for heavy buyers (x in the thousands) where scipy's hyp2f1 overflows.
    """
    r, alpha, a, b, x, t_x, T, t = _f(r, alpha, a, b, x, t_x, T, t)
    log_g = log_bg_mean_purchases(r + x, t / (alpha + T), a, b + x)
    return np.exp(log_g + log_p_alive(r, alpha, a, b, x, t_x, T))


def _dot(a, b):
    """Inner product without BLAS: OpenBLAS threads a 1-D dot and, on a busy machine, the thread
    hand-off costs far more than the product itself."""
    return np.einsum("i,i->", a, b)


def _groups(x):
    """Distinct values of x, their positions (inverse) and, for sorted x, run starts."""
    if x.size > 1 and np.all(x[1:] >= x[:-1]):
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        counts = np.diff(np.r_[starts, x.size])
        inverse = np.repeat(np.arange(starts.size), counts)
        return x[starts], inverse
    return np.unique(x, return_inverse=True)


def _weighted_family(r, alpha, a, b, x, t_x, T, weights, shift, chunk=1 << 15):
    """Weighted total log-likelihood and gradient of the BG/NBD (shift 0) / MBG/NBD (shift 1) family.

    Same formulas as :func:`loglik_and_grad`, reorganised for the optimiser: terms that depend on
    x only are computed once per distinct x and weighted by the group weights; the per-row part
    (two log1p, one exp, one log1p per row) runs in cache-sized chunks of rows, and inner products
    avoid BLAS (see :func:`_dot`). Parameters must be scalars, data 1-D.
    """
    x = np.asarray(x, dtype=np.float64)
    t_x = np.asarray(t_x, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ux, inv = _groups(x)
    Wg = np.bincount(inv, weights=w, minlength=ux.size)
    has_g = (ux > 0) if shift == 0 else np.ones(ux.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        bx = np.where(has_g, b + ux - 1 + shift, 1.0)  # b+x-1 (BG) or b+x (MBG)
    log_bx_g = np.log(bx)
    inv_bx_g = 1.0 / bx
    lg_alpha = np.log(alpha)
    log_a = np.log(a)
    s_ll = s_LT = s_w4d = s_alpha = s_ww4 = s_w4bx = 0.0
    for start in range(0, x.size, chunk):
        sl = slice(start, start + chunk)
        xc, wc, Tc, txc, gi = x[sl], w[sl], T[sl], t_x[sl], inv[sl]
        L_T = np.log1p(Tc / alpha)
        L_tx = np.log1p(txc / alpha)
        rx = r + xc
        xla = xc * lg_alpha
        term_T = -rx * L_T - xla
        term_tx = log_a - log_bx_g[gi] - rx * L_tx - xla
        if shift == 0:
            term_tx[xc == 0] = -np.inf
        d = term_tx - term_T
        e = np.exp(-np.abs(d))
        one_e = 1.0 + e
        w4 = np.where(d > 0, 1.0, e) / one_e
        s_ll += _dot(wc, np.maximum(term_T, term_tx) + np.log1p(e))
        ww4 = wc * w4
        s_LT += _dot(wc, L_T)
        s_w4d += _dot(ww4, L_T - L_tx)
        s_alpha += _dot(wc * rx, (1 - w4) / (alpha + Tc) + w4 / (alpha + txc))
        s_ww4 += ww4.sum()
        s_w4bx += _dot(ww4, inv_bx_g[gi])
    C = (special.gammaln(r + ux) + special.gammaln(b + ux + shift) - special.gammaln(a + b + ux + shift)
         - special.gammaln(r) - special.gammaln(b) + special.gammaln(a + b))
    total = float(_dot(Wg, C) + s_ll)
    dg_ab = special.digamma(a + b) - special.digamma(a + b + ux + shift)
    g_r = _dot(Wg, special.digamma(r + ux) - special.digamma(r)) - s_LT + s_w4d
    g_alpha = (r / alpha) * Wg.sum() - s_alpha
    g_a = _dot(Wg, dg_ab) + s_ww4 / a
    g_b = _dot(Wg, special.digamma(b + ux + shift) - special.digamma(b) + dg_ab) - s_w4bx
    return total, np.array([g_r, g_alpha, g_a, g_b])


def weighted_loglik_and_grad(r, alpha, a, b, x, t_x, T, weights):
    """(sum_i w_i loglik_i, its gradient w.r.t. (r, alpha, a, b)) for scalar parameters, 1-D data.

    The optimiser's entry point (eq. 6 and the gradient of :func:`loglik_and_grad`), about twice
    as fast on large data because x-only terms are evaluated once per distinct x.
    """
    return _weighted_family(r, alpha, a, b, x, t_x, T, weights, 0)
