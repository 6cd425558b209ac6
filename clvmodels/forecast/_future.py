"""Forward-looking quantities of a customer who is alive now (pure numpy, log space).

Every purchase model of the package factorises the same way: given a history, the customer is
alive now with probability ``P(alive)`` (the model's own ``p_alive``), and *given alive now* the
latent parameters have a posterior that no longer depends on the recency ``t_x``. Everything the
forecasting layer needs about the future is therefore

    E[X(T, T+t) | history]           = P(alive) * E[X(T, T+t) | alive at T, x, T]
    P(alive at T+t | history)        = P(alive) * P(alive at T+t | alive at T, x, T)
    P(no purchase in (T, T+t] | h.)  = 1 - P(alive) + P(alive) * P0(t | alive at T, x, T)

so the expensive "given alive" factors depend on (x, T) only and are computed once per distinct
(x, T) (and parameter draw), not once per customer. This module holds those factors:

=============  ==========================================  ==========================================
model          posterior given alive at T                  source of the model
=============  ==========================================  ==========================================
BG/NBD         lambda ~ Gamma(r+x, alpha+T),               Fader, Hardie & Lee (2005), "Counting your
               p ~ Beta(a, b+x)                            customers the easy way", Marketing Sci. 24(2)
MBG/NBD        lambda ~ Gamma(r+x, alpha+T),               Batislam, Denizel & Filiztekin (2007),
               p ~ Beta(a, b+x+1) (a coin is also tossed   IJRM 24(3)
               at the first purchase)
Pareto/NBD     lambda ~ Gamma(r+x, alpha+T),               Schmittlein, Morrison & Colombo (1987);
               mu ~ Gamma(s, beta+T)                       Fader, Hardie & Lee (2005) note
BG/BB          p ~ Beta(alpha+x, beta+n-x),                Fader, Hardie & Shang (2010), Marketing
               theta ~ Beta(gamma, delta+n+1)              Science 29(6)
               (alive at opportunity n+1)
=============  ==========================================  ==========================================

The derivations are written in each function's docstring; the tests check every formula against
mpmath integrals of its definition and against Monte-Carlo simulations of the generative story.

All functions broadcast their arguments (draws x customers x periods in any layout).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln

from ..math.paretonbd import log_hyp2f1_1
from ..math.special import log_bg_mean_purchases

__all__ = [
    "log_tail_integral",
    "bg_p_alive_ahead",
    "bg_p_no_purchase_ahead",
    "pnbd_p_alive_ahead",
    "pnbd_p_no_purchase_ahead",
    "bgbb_p_alive_ahead",
    "bgbb_p_no_purchase_ahead",
]


def _f64(*args):
    return np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in args))


# --------------------------------------------------------------------------------------------
# BG/NBD and MBG/NBD
# --------------------------------------------------------------------------------------------
def bg_p_alive_ahead(r, alpha, a, b, x, T, t, *, extra_coin: bool = False):
    """P(alive at T+t | alive at T, x, T) for the BG/NBD (``extra_coin=False``) or MBG/NBD.

    Derivation. In the BG/NBD (Fader, Hardie & Lee 2005, section 2) a living customer buys as
    Poisson(lambda) and becomes inactive right after each purchase with probability p, so he is
    still alive at T+t unless a purchase in (T, T+t] was followed by dropout: the dropout events
    form a Poisson process of rate lambda*p, and P(alive at T+t | alive at T, lambda, p) =
    exp(-lambda p t). Given alive at T with x repeat purchases, the likelihood is
    ``lambda^x exp(-lambda T) (1-p)^x``, so lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x)
    (MBG/NBD, Batislam et al. 2007: ``(1-p)^(x+1)``, i.e. Beta(a, b+x+1)). Integrating lambda
    gives ``E_p[(1 + p u)^-(r+x)]`` with u = t/(alpha+T), i.e. 2F1(r+x, a; a+b'; -u) with
    b' = b+x (+1). Through ``p^a = p * p^(a-1)`` this expectation equals

        1 - a/(a+b') * G(r+x, u, a+1, b'),   G(r, u, a, b) = E_{p~Beta(a,b)}[(1 - (1+pu)^-r)/p],

    and G is the guarded BG/NBD mean of :func:`clvmodels.math.special.log_bg_mean_purchases`
    (relative error below 1e-10), so the result has an absolute error below ~1e-10.
    """
    r, alpha, a, b, x, T, t = _f64(r, alpha, a, b, x, T, t)
    bp = b + x + (1.0 if extra_coin else 0.0)
    u = t / (alpha + T)
    with np.errstate(over="ignore", invalid="ignore"):
        log_g = log_bg_mean_purchases(r + x, u, a + 1.0, bp)
        frac = np.exp(np.log(a) - np.log(a + bp) + log_g)
    out = np.clip(1.0 - frac, 0.0, 1.0)
    return out[()] if out.ndim == 0 else out


def bg_p_no_purchase_ahead(r, alpha, x, T, t):
    """P(no purchase in (T, T+t] | alive at T, x, T) for the BG/NBD and MBG/NBD.

    A BG/NBD customer can only become inactive right after a purchase, so a customer alive at T
    makes no purchase in (T, T+t] exactly when his next Poisson arrival comes after t:
    ``E[exp(-lambda t)]`` with lambda ~ Gamma(r+x, alpha+T), i.e. ``((alpha+T)/(alpha+T+t))^(r+x)``.
    """
    r, alpha, x, T, t = _f64(r, alpha, x, T, t)
    out = np.exp(-(r + x) * np.log1p(t / (alpha + T)))
    return out[()] if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------------
def log_tail_integral(pA, A, pB, B, tau):
    """log of ``int_tau^inf (A+u)^-pA (B+u)^-pB du`` for A, B > 0, pA, pB > 0, pA + pB > 1.

    With M = max(A, B) carrying the exponent p, m = min(A, B) the other exponent q and
    a = p + q - 1, the substitution v = (M+tau)/(M+u) gives
    ``(M+tau)^-a / a * y^(1-q) 2F1(1, p; a+1; z)``, z = (M-m)/(M+tau), y = 1 - z (the same
    integral as the Pareto/NBD likelihood's, FHL note eqs. 18-19, after Euler's transformation),
    evaluated by :func:`clvmodels.math.paretonbd.log_hyp2f1_1`.
    """
    pA, A, pB, B, tau = _f64(pA, A, pB, B, tau)
    a_big = A >= B
    M = np.where(a_big, A, B)
    m = np.where(a_big, B, A)
    p = np.where(a_big, pA, pB)
    q = np.where(a_big, pB, pA)
    a = p + q - 1.0
    Mt = M + tau
    z = (M - m) / Mt
    y = (m + tau) / Mt
    out = -a * np.log(Mt) - np.log(a) + (1.0 - q) * np.log(y) + log_hyp2f1_1(p, a + 1.0, z, y)
    return out[()] if out.ndim == 0 else out


def pnbd_p_alive_ahead(s, beta, T, t):
    """P(alive at T+t | alive at T, T) for the Pareto/NBD: ``((beta+T)/(beta+T+t))^s``.

    Lifetimes are exponential(mu) (memoryless), and given alive at T, mu ~ Gamma(s, beta+T)
    whatever the purchase history (Schmittlein, Morrison & Colombo 1987; FHL 2005 note).
    """
    s, beta, T, t = _f64(s, beta, T, t)
    out = np.exp(-s * np.log1p(t / (beta + T)))
    return out[()] if out.ndim == 0 else out


def pnbd_p_no_purchase_ahead(r, alpha, s, beta, x, T, t):
    """P(no purchase in (T, T+t] | alive at T, x, T) for the Pareto/NBD.

    Given alive at T, lambda ~ Gamma(r', alpha'), mu ~ Gamma(s, beta') with r' = r+x,
    alpha' = alpha+T, beta' = beta+T. The first future purchase happens at u (before dropout) with
    density ``E[lambda e^-(lambda+mu) u] = (r'/alpha') (alpha'/(alpha'+u))^(r'+1) (beta'/(beta'+u))^s``;
    the customer never buys again with probability ``E[mu/(lambda+mu)] = int_0^inf E[mu
    e^-(lambda+mu) u] du``. Hence, as a sum of two positive terms (no cancellation),

        P0 = s beta'^s alpha'^r' I(r', alpha', s+1, beta'; 0)
             + r' alpha'^r' beta'^s I(r'+1, alpha', s, beta'; t),

    with ``I(pA, A, pB, B; tau) = int_tau^inf (A+u)^-pA (B+u)^-pB du`` (:func:`log_tail_integral`).
    At t = 0 the two terms are E[mu/(lambda+mu)] + E[lambda/(lambda+mu)] = 1.
    """
    r, alpha, s, beta, x, T, t = _f64(r, alpha, s, beta, x, T, t)
    rp, ap, bp = r + x, alpha + T, beta + T
    head = s * np.log(bp) + rp * np.log(ap)
    never = np.log(s) + head + log_tail_integral(rp, ap, s + 1.0, bp, 0.0)
    later = np.log(rp) + head + log_tail_integral(rp + 1.0, ap, s, bp, t)
    out = np.exp(np.minimum(np.logaddexp(never, later), 0.0))
    return out[()] if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------
# BG/BB (discrete opportunities)
# --------------------------------------------------------------------------------------------
def bgbb_p_alive_ahead(gamma, delta, n, k):
    """P(alive at opportunity n+k | alive at opportunity n+1, n), k >= 1 (FHS 2010, section 3).

    A living customer dies at the beginning of each opportunity with probability theta; given
    alive at n+1, theta ~ Beta(gamma, delta+n+1), so the probability of surviving the k-1
    further dropout points is ``B(gamma, delta+n+k) / B(gamma, delta+n+1)``.
    """
    gamma, delta, n, k = _f64(gamma, delta, n, k)
    out = np.exp(np.minimum(betaln(gamma, delta + n + k) - betaln(gamma, delta + n + 1.0), 0.0))
    return out[()] if out.ndim == 0 else out


def bgbb_p_no_purchase_ahead(alpha, beta, gamma, delta, x, n, m: int):
    """P(no transaction at opportunities n+1, ..., n+m | alive at n+1, x, n) for the BG/BB.

    Given alive at n+1, p ~ Beta(alpha+x, beta+n-x) and theta ~ Beta(gamma, delta+n+1)
    (FHS 2010). The customer is alive at n+1, ..., n+J with P(J = j) = (1-theta)^(j-1) theta, so

        P0 = sum_{j=1}^{m-1} E[(1-p)^j] E[(1-theta)^(j-1) theta] + E[(1-p)^m] E[(1-theta)^(m-1)],

    with ``E[(1-p)^j] = B(alpha', beta'+j)/B(alpha', beta')`` and
    ``E[(1-theta)^(j-1) theta] = B(gamma+1, delta'+j-1)/B(gamma, delta')``. ``m`` is a whole
    number (the same for all elements).
    """
    alpha, beta, gamma, delta, x, n = _f64(alpha, beta, gamma, delta, x, n)
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
