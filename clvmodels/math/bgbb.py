"""BG/BB model (discrete-time, noncontractual): log-space math core.

Reference: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time
Noncontractual Setting", Marketing Science 29(6), 1086-1108 (FHS). Section and equation
references below name the expression of that paper (model and likelihood in section 3;
P(alive), E[X(n)], P(X(n) = x), conditional expectations and DERT follow it). Equation numbers
are deliberately not quoted: they were not checked against the printed paper.

Model: at each of n transaction opportunities a living customer transacts with probability
p ~ Beta(alpha, beta); before each opportunity (from the first repeat opportunity on) a living
customer dies with probability theta ~ Beta(gamma, delta). Data per customer: x repeat
transactions in n opportunities, the last at opportunity t_x (0 when x = 0).

All functions broadcast parameters against data (draws (D, 1) x customers (N,) -> (D, N)).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import betaln, gammaln, polygamma, psi

from ..errors import CLVWarning, InvalidValueError
from .paretonbd import log_exprel, log_hyp2f1_1
from .special import check_positive as _check_positive

__all__ = [
    "p_alive_ahead", "p_no_purchase_ahead",
    "loglik",
    "p_alive",
    "expected_purchases_new",
    "p_purchases",
    "conditional_expected_purchases",
    "dert",
    "log_gamma_ratio",
]


def _check_counts(**data) -> None:
    for name, value in data.items():
        v = np.asarray(value, dtype=np.float64)
        bad = ~(np.isfinite(v) & (v >= 0) & (v == np.floor(v)))
        if bad.any():
            raise InvalidValueError(f"{name} must be whole numbers >= 0; got {int(bad.sum())} invalid value(s)",
                                    column=name, n_rows=int(bad.sum()))


def _check_history(x, t_x, n) -> None:
    _check_counts(x=x, t_x=t_x, n=n)
    x, t_x, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, t_x, n)))
    bad = (x > t_x) | (t_x > n) | ((x > 0) & (t_x < 1))
    if bad.any():
        raise InvalidValueError(f"{int(bad.sum())} history(ies) violate x <= t_x <= n (t_x >= 1 when x > 0)",
                                column="recency", n_rows=int(bad.sum()))


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isfinite(values)
    if np.any(bad):
        warnings.warn(f"bgbb.{what}: {int(np.sum(bad))} value(s) are not finite (outside the numerically "
                      "supported range)", CLVWarning, stacklevel=3)
    return values


def _out(values):
    values = np.asarray(values)
    return values[()] if values.ndim == 0 else values


# --------------------------------------------------------------------------------------------
# accurate log-gamma ratios (candidates for clvmodels.math.special)
# --------------------------------------------------------------------------------------------
_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0)


def _stirling_tail(z):
    zi = 1.0 / z
    zi2 = zi * zi
    acc = np.zeros_like(z)
    for c in reversed(_STIRLING):
        acc = acc * zi2 + c
    return acc * zi


def log_gamma_ratio(u, eps):
    """log Gamma(u + eps) - log Gamma(u), accurate relative to its size for u > 0, u + eps > 0.

    Small ``|eps|`` uses the polygamma Taylor series; large arguments use the difference of
    Stirling series (no cancellation of two large log-gammas); otherwise gammaln directly.

    Examples
    --------
    >>> from clvmodels.math.bgbb import log_gamma_ratio
    >>> np.exp(log_gamma_ratio([0.5, 2.0], 3.0)).round(4).tolist()       # (0.5)(1.5)(2.5), (2)(3)(4)
    [1.875, 24.0]
    >>> f"{float(log_gamma_ratio(1e6, 1e-9)):.6e}"               # ~ 1e-9 * digamma(1e6): no cancellation
    '1.381551e-08'
    """
    u, eps = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(eps, dtype=np.float64))
    shape = u.shape
    u, eps = np.ravel(u), np.ravel(eps)
    small = np.abs(eps) < 1e-3 * np.minimum(u, 1.0)
    large = ~small & (np.minimum(u, u + eps) >= 20.0)
    out = np.asarray(gammaln(u + eps) - gammaln(u), dtype=np.float64).copy()
    if large.any():
        ul, el = u[large], eps[large]
        out[large] = ((ul - 0.5) * np.log1p(el / ul) + el * np.log(ul + el) - el
                      + _stirling_tail(ul + el) - _stirling_tail(ul))
    if small.any():
        us, es = u[small], eps[small]
        taylor = np.zeros_like(us)
        fact = 1.0
        for k in range(1, 7):
            fact *= k
            taylor += es ** k / fact * (psi(us) if k == 1 else polygamma(k - 1, us))
        out[small] = taylor
    return out.reshape(shape)


def _dlgr_over_eps(u, u2, eps):
    """[log_gamma_ratio(u2, eps) - log_gamma_ratio(u, eps)] / eps, finite at eps = 0 (u2 >= u)."""
    u, u2, eps = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (u, u2, eps)))
    shape = u.shape
    u, u2, eps = np.ravel(u), np.ravel(u2), np.ravel(eps)
    small = np.abs(eps) < 1e-3 * np.minimum(u, 1.0)
    e_safe = np.where(small, 1.0, eps)
    out = np.asarray((log_gamma_ratio(u2, e_safe) - log_gamma_ratio(u, e_safe)) / e_safe, dtype=np.float64).copy()
    if small.any():
        us, u2s, es = u[small], u2[small], eps[small]
        acc = psi(u2s) - psi(us)
        fact = 1.0
        for k in range(2, 7):
            fact *= k
            acc = acc + es ** (k - 1) / fact * (polygamma(k - 1, u2s) - polygamma(k - 1, us))
        out[small] = acc
    return out.reshape(shape)


def _log_sum_survival(gamma, delta, n, n_star):
    """log sum_{t=n+1}^{n+n_star} B(gamma, delta+t) / B(gamma, delta) (-inf when n_star = 0).

    Closed form (as in FHS's E[X(n)] and conditional expectation): delta/(gamma-1) * R(n) *
    [1 - R(n+n_star)/R(n)], R(m) = Gamma(gamma+delta) Gamma(1+delta+m) / (Gamma(gamma+delta+m)
    Gamma(1+delta)), evaluated without the removable singularity at gamma = 1 and without
    cancelling large log-gammas.
    """
    eps = gamma - 1.0
    u = 1.0 + delta + n
    log_R = log_gamma_ratio(1.0 + delta, eps) - log_gamma_ratio(u, eps)
    y = _dlgr_over_eps(u, u + n_star, eps)
    with np.errstate(divide="ignore"):
        return np.log(delta) + log_R + np.log(y) + log_exprel(-eps * y)


# --------------------------------------------------------------------------------------------
# likelihood and predictions
# --------------------------------------------------------------------------------------------
def _log_terms(alpha, beta, gamma, delta, x, t_x, n):
    """(log of the 'alive through n' term, log L)."""
    lbab = betaln(alpha, beta)
    lbgd = betaln(gamma, delta)
    log_alive = betaln(alpha + x, beta + n - x) - lbab + betaln(gamma, delta + n) - lbgd
    acc = log_alive
    n_terms = n - t_x
    kmax = int(np.max(n_terms)) if n_terms.size else 0
    for i in range(kmax):
        use = i < n_terms
        term = (betaln(alpha + x, beta + t_x - x + i) - lbab
                + betaln(gamma + 1.0, delta + t_x + i) - lbgd)
        acc = np.where(use, np.logaddexp(acc, term), acc)
    return log_alive, acc


def _bcast(*args):
    return np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in args))


def loglik(alpha, beta, gamma, delta, x, t_x, n):
    """Per-customer log-likelihood (FHS section 3, the likelihood function):

    ``L = B(a+x, b+n-x)/B(a,b) B(g, d+n)/B(g,d)
    + sum_{i=0}^{n-t_x-1} B(a+x, b+t_x-x+i)/B(a,b) B(g+1, d+t_x+i)/B(g,d)``.

    Examples
    --------
    The estimates of Fader, Hardie & Shang (2010) on the donations data (alpha = 1.204,
    beta = 0.750, gamma = 0.657, delta = 2.783) and four donors over n = 6 yearly opportunities:

    >>> from clvmodels.math import bgbb
    >>> params = (1.204, 0.750, 0.657, 2.783)                     # alpha, beta, gamma, delta
    >>> x, t_x, n = np.array([0, 1, 3, 6]), np.array([0, 1, 6, 6]), 6
    >>> bgbb.loglik(*params, x, t_x, n).round(4).tolist()
    [-1.1673, -2.2885, -5.8094, -2.1822]

    Weighted by the donors per pattern, the data's log-likelihood (maximal at these estimates):

    >>> import clvmodels as clv
    >>> d = clv.datasets.donations()
    >>> ll = bgbb.loglik(*params, d["frequency"], d["recency"], d["n_periods"])
    >>> round(float((d["weight"] * ll).sum()), 1)
    -33225.6
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    _check_history(x, t_x, n)
    args = _bcast(alpha, beta, gamma, delta, x, t_x, n)
    _, ll = _log_terms(*args)
    return _out(_finite(ll, "loglik"))


def p_alive(alpha, beta, gamma, delta, x, t_x, n):
    """P(alive at opportunity n+1 | x, t_x, n) (FHS, P(alive) in the section on model expressions):
    ``B(a+x, b+n-x)/B(a,b) B(g, d+n+1)/B(g,d) / L``.

    Examples
    --------
    P(alive at the next opportunity, 2002) for donors with (x, t_x) = (0, 0), (1, 1), (3, 6), (6, 6):

    >>> from clvmodels.math import bgbb
    >>> bgbb.p_alive(1.204, 0.750, 0.657, 2.783, [0, 1, 3, 6], [0, 1, 6, 6], 6).round(4).tolist()
    [0.108, 0.0694, 0.9304, 0.9304]
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    _check_history(x, t_x, n)
    alpha, beta, gamma, delta, x, t_x, n = _bcast(alpha, beta, gamma, delta, x, t_x, n)
    log_alive, ll = _log_terms(alpha, beta, gamma, delta, x, t_x, n)
    # B(g, d+n+1) / B(g, d+n) = (d+n) / (g+d+n)
    val = np.exp(np.minimum(log_alive - ll, 0.0) + np.log(delta + n) - np.log(gamma + delta + n))
    return _out(_finite(val, "p_alive"))


def expected_purchases_new(alpha, beta, gamma, delta, n):
    """E[X(n)] for a new customer (FHS, expected number of transactions for a new customer):
    ``a/(a+b) d/(g-1) [1 - Gamma(g+d) Gamma(1+d+n) / (Gamma(g+d+n) Gamma(1+d))]`` (its limit at g = 1).

    Examples
    --------
    >>> from clvmodels.math import bgbb
    >>> bgbb.expected_purchases_new(1.204, 0.750, 0.657, 2.783, [1, 6, 11]).round(4).tolist()
    [0.4985, 2.2196, 3.3876]
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    _check_counts(n=n)
    alpha, beta, gamma, delta, n = _bcast(alpha, beta, gamma, delta, n)
    val = np.exp(np.log(alpha) - np.log(alpha + beta) + _log_sum_survival(gamma, delta, 0.0, n))
    return _out(_finite(val, "expected_purchases_new"))


def p_purchases(alpha, beta, gamma, delta, x, n):
    """P(X(n) = x) for a new customer (FHS, distribution of the number of transactions):

    ``C(n,x) B(a+x, b+n-x)/B(a,b) B(g, d+n)/B(g,d)
    + sum_{i=x}^{n-1} C(i,x) B(a+x, b+i-x)/B(a,b) B(g+1, d+i)/B(g,d)``.

    Examples
    --------
    The distribution of repeat donations of a new donor over the 6 opportunities:

    >>> from clvmodels.math import bgbb
    >>> bgbb.p_purchases(1.204, 0.750, 0.657, 2.783, np.arange(7), 6).round(4).tolist()
    [0.3112, 0.1701, 0.1215, 0.1003, 0.0917, 0.0925, 0.1128]
    >>> round(float(bgbb.p_purchases(1.204, 0.750, 0.657, 2.783, np.arange(7), 6).sum()), 6)
    1.0
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    _check_counts(x=x, n=n)
    alpha, beta, gamma, delta, x, n = _bcast(alpha, beta, gamma, delta, x, n)
    lbab, lbgd = betaln(alpha, beta), betaln(gamma, delta)
    with np.errstate(invalid="ignore"):
        lchoose = gammaln(n + 1.0) - gammaln(x + 1.0) - gammaln(np.maximum(n - x, 0.0) + 1.0)
        acc = lchoose + betaln(alpha + x, beta + np.maximum(n - x, 0.0)) - lbab + betaln(gamma, delta + n) - lbgd
    acc = np.where(x > n, -np.inf, acc)
    kmax = int(np.max(n - x)) if n.size else 0
    for k in range(max(kmax, 0)):
        i = x + k
        use = i <= n - 1
        term = (gammaln(i + 1.0) - gammaln(x + 1.0) - gammaln(k + 1.0) + betaln(alpha + x, beta + k) - lbab
                + betaln(gamma + 1.0, delta + i) - lbgd)
        acc = np.where(use, np.logaddexp(acc, term), acc)
    val = np.exp(np.minimum(acc, 0.0))
    return _out(_finite(val, "p_purchases"))


def conditional_expected_purchases(alpha, beta, gamma, delta, x, t_x, n, n_star):
    """E[X(n, n+n*) | x, t_x, n], expected transactions in the next n* opportunities (FHS, conditional expectations):

    ``1/L B(a+x+1, b+n-x)/B(a,b) d/(g-1) Gamma(g+d)/Gamma(1+d)
    [Gamma(1+d+n)/Gamma(g+d+n) - Gamma(1+d+n+n*)/Gamma(g+d+n+n*)]``.

    Examples
    --------
    Expected donations over the next 5 opportunities (2002-2006):

    >>> from clvmodels.math import bgbb
    >>> bgbb.conditional_expected_purchases(1.204, 0.750, 0.657, 2.783, [0, 1, 3, 6], [0, 1, 6, 6], 6,
    ...                                     5).round(3).tolist()
    [0.073, 0.086, 2.19, 3.752]
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    _check_history(x, t_x, n)
    _check_counts(n_star=n_star)
    alpha, beta, gamma, delta, x, t_x, n, n_star = _bcast(alpha, beta, gamma, delta, x, t_x, n, n_star)
    _, ll = _log_terms(alpha, beta, gamma, delta, x, t_x, n)
    log_p = betaln(alpha + x + 1.0, beta + n - x) - betaln(alpha, beta)
    val = np.exp(log_p - ll + _log_sum_survival(gamma, delta, n, n_star))
    return _out(_finite(val, "conditional_expected_purchases"))


def dert(alpha, beta, gamma, delta, x, t_x, n, d):
    """Discounted expected residual transactions (FHS, DERT), d = discount rate per opportunity:

    ``B(alpha+x+1, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/(B(gamma, delta) (1+d))
    2F1(1, delta+n+1; gamma+delta+n+1; 1/(1+d)) / L`` (here ``d`` is the discount rate only, not
    delta as in the abbreviations of the other docstrings; the transaction at opportunity n+1 is
    discounted once). The 2F1 is evaluated in log space
    by :func:`clvmodels.math.paretonbd.log_hyp2f1_1`, accurate even for tiny d.

    Examples
    --------
    Discounted expected residual transactions at 10% per opportunity; the defining sum of
    discounted expected transactions per future opportunity gives the same:

    >>> from clvmodels.math import bgbb
    >>> bgbb.dert(1.204, 0.750, 0.657, 2.783, [0, 1, 6], [0, 1, 6], 6, 0.10).round(3).tolist()
    [0.115, 0.135, 5.909]
    >>> k = np.arange(1, 500)
    >>> cum = bgbb.conditional_expected_purchases(1.204, 0.750, 0.657, 2.783, 6, 6, 6, k)
    >>> round(float(np.sum(np.diff(cum, prepend=0.0) * 1.1 ** -k)), 3)
    5.909
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta, d=d)
    _check_history(x, t_x, n)
    alpha, beta, gamma, delta, x, t_x, n, d = _bcast(alpha, beta, gamma, delta, x, t_x, n, d)
    _, ll = _log_terms(alpha, beta, gamma, delta, x, t_x, n)
    log_p = betaln(alpha + x + 1.0, beta + n - x) - betaln(alpha, beta)
    log_s = betaln(gamma, delta + n + 1.0) - betaln(gamma, delta)
    b = delta + n + 1.0
    log_f = log_hyp2f1_1(b, b + gamma, 1.0 / (1.0 + d), d / (1.0 + d))
    val = np.exp(log_p + log_s - np.log1p(d) + log_f - ll)
    return _out(_finite(val, "dert"))


# ----------------------------------------------------------------------------------------------
# the future of a customer alive now (the forecasting layer's factors)


def p_alive_ahead(alpha, beta, gamma, delta, x, n, k):
    """P(alive at opportunity n+k | alive at opportunity n+1, x, n), k >= 1 (FHS 2010, section 3).

    A living customer dies at the beginning of each opportunity with probability theta; given
    alive at n+1, theta ~ Beta(gamma, delta+n+1), so the probability of surviving the k-1
    further dropout points is ``B(gamma, delta+n+k) / B(gamma, delta+n+1)``.

    Examples
    --------
    A donor alive at opportunity 7 (n = 6): survival to opportunities 7, 8 and 12. The purchase
    history does not enter (only gamma, delta, n and k):

    >>> from clvmodels.math import bgbb
    >>> bgbb.p_alive_ahead(1.204, 0.750, 0.657, 2.783, 6, 6, np.array([1, 2, 6])).round(4).tolist()
    [1.0, 0.9371, 0.7595]
    """
    gamma, delta, n, k = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (gamma, delta, n, k)))
    out = np.exp(np.minimum(betaln(gamma, delta + n + k) - betaln(gamma, delta + n + 1.0), 0.0))
    return out[()] if out.ndim == 0 else out


def p_no_purchase_ahead(alpha, beta, gamma, delta, x, n, m):
    """P(no transaction at opportunities n+1, ..., n+m | alive at n+1, x, n) for the BG/BB.

    Given alive at n+1, p ~ Beta(alpha+x, beta+n-x) and theta ~ Beta(gamma, delta+n+1)
    (FHS 2010). The customer is alive at n+1, ..., n+J with P(J = j) = (1-theta)^(j-1) theta, so

        P0 = sum_{j=1}^{m-1} E[(1-p)^j] E[(1-theta)^(j-1) theta] + E[(1-p)^m] E[(1-theta)^(m-1)],

    with ``E[(1-p)^j] = B(alpha', beta'+j)/B(alpha', beta')`` and
    ``E[(1-theta)^(j-1) theta] = B(gamma+1, delta'+j-1)/B(gamma, delta')``. ``m`` is a whole
    number of opportunities (a scalar: the same for all elements).

    Examples
    --------
    Probability that a donor alive at opportunity 7 makes no donation at opportunities 7-9
    (``m`` = 3), by past donations x = 0, 3, 6 in n = 6:

    >>> from clvmodels.math import bgbb
    >>> bgbb.p_no_purchase_ahead(1.204, 0.750, 0.657, 2.783, np.array([0, 3, 6]), 6, 3).round(4).tolist()
    [0.6632, 0.1707, 0.0114]
    """
    alpha, beta, gamma, delta, x, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                           for v in (alpha, beta, gamma, delta, x, n)))
    m = int(m)
    a1, b1, d1 = alpha + x, beta + n - x, delta + n + 1.0
    lb_p = betaln(a1, b1)
    lb_t = betaln(gamma, d1)
    if m <= 0:
        out = np.ones(np.broadcast(a1, b1, d1).shape)
        return out[()] if out.ndim == 0 else out
    acc = betaln(a1, b1 + m) - lb_p + betaln(gamma, d1 + m - 1.0) - lb_t
    for j in range(1, m):
        term = betaln(a1, b1 + j) - lb_p + betaln(gamma + 1.0, d1 + j - 1.0) - lb_t
        acc = np.logaddexp(acc, term)
    out = np.exp(np.minimum(acc, 0.0))
    return out[()] if out.ndim == 0 else out

