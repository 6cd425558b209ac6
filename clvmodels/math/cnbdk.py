"""BG/CNBD-k and MBG/CNBD-k model math: the (M)BG/NBD with Erlang-k inter-purchase times.

References: Platzer & Reutterer (2016), "Ticking away the moments: timing regularity helps to better
predict customer activity", Marketing Science 35(5), 779-799 (P&R 2016: regularity, the summary
statistic ``litt``, P(active)); Reutterer, Platzer & Schroeder (2021), "Leveraging purchase regularity
for predicting customer behavior the easy way", International Journal of Research in Marketing 38(1),
194-215 (RPS 2021: the (M)BG/CNBD-k models, their likelihood and P(alive)). Equation numbers are
deliberately not quoted (they were not checked against the printed papers); each function names the
section and the expression, and the BTYDplus implementation (``xbgcnbd.LL``, ``xbgcnbd.PAlive``,
``xbgcnbd_pmf_cpp``) whose numbers the tests reproduce.

Model. While active, a customer's repeat purchases form a renewal process with Erlang-k inter-purchase
times of rate lambda (mean k / lambda; k = 1 is the Poisson process of the (M)BG/NBD): equivalently,
every k-th event of a Poisson(lambda) process is a purchase. lambda ~ Gamma(r, alpha) across customers
(alpha a rate, in the time unit of the data). After every purchase the customer drops out with
probability p ~ Beta(a, b); in the MBG/CNBD-k (``dropout_at_zero=True``) also at time 0, so customers
without repeat purchases may be gone. With k = 1 every function here equals its BG/NBD
(:mod:`clvmodels.math.bgnbd`) or MBG/NBD (:mod:`clvmodels.math.mbgnbd`) counterpart.

Symbols: x repeat purchases, t_x the time of the last one (recency), T the customer's age, ``litt`` the
sum of the logs of the x inter-purchase times; t a future period, n a number of purchases. ``s`` below
is 1 for the MBG/CNBD-k and 0 for the BG/CNBD-k. Given alive at T, the posterior is p ~ Beta(a, b+x+s)
and, with j in {0..k-1} the number of Poisson events since the last purchase (the *phase*),
lambda ~ Gamma(r+kx+j, alpha+T), the phase having posterior weights
pi_j proportional to (r+kx)_j / j! ((T-t_x)/(alpha+T))^j (RPS 2021, proof of the likelihood). The
predictions below average over (alive, phase, lambda, p) exactly; they are not the BG/NBD-based
approximation with bias correction that BTYDplus' ``ConditionalExpectedTransactions`` uses.

All functions are pure numpy/scipy, vectorised, broadcasting; ``k`` is a whole number >= 1 (an array of
whole numbers broadcasts like the other parameters). :data:`BG` and :data:`MBG` are the two models'
namespaces of these functions, in the signatures of :class:`clvmodels.protocols.PurchaseMath`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
from scipy import special

from ..errors import CLVWarning, InvalidValueError
from .bgbb import log_gamma_ratio
from .bgnbd import _alive_ahead as _bg_alive_ahead
from .special import log_bg_mean_purchases

__all__ = [
    "loglik", "loglik_and_grad", "p_alive", "phase_probabilities", "conditional_expected_purchases",
    "expected_purchases_new", "p_purchases", "p_alive_ahead", "p_no_purchase_ahead", "p_active",
    "ahead_given_alive", "draw_future_purchases", "CNBDkMath", "BG", "MBG",
]

_TERMS_BLOCK = 256         # the widest first blocks of future purchases summed in one vectorised step
_BLOCK_CELLS = 1 << 21     # a block of a long series grows to at most this many event counts (16 MB a row)
_MAX_TERMS = 10_000_000   # a series needing more future purchases gives NaN and a CLVWarning (k > 1)
_SERIES_RTOL = 1e-17


def _f(*args):
    return [np.asarray(v, dtype=np.float64) for v in args]


def _whole_k(k) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    if not np.all(np.isfinite(k) & (k >= 1) & (k == np.floor(k))):
        raise InvalidValueError(f"k (the Erlang shape of the inter-purchase times) must be a whole number >= 1, "
                                f"got {np.unique(k)[:5].tolist()}", column="k")
    return k


def _per_k(fn: Callable, k, *args, n_out: int = 1):
    """``fn(int k, *args)``, evaluated once per distinct k; the result broadcasts over ``k`` too
    (``n_out`` > 1: ``fn`` returns that many arrays, and so does this)."""
    k = _whole_k(k)
    ks = np.unique(k)
    args = _f(*args)
    shape = np.broadcast_shapes(k.shape, *(a.shape for a in args))
    if ks.size == 1:
        res = fn(int(ks[0]), *args)
        outs = [np.asarray(o, dtype=np.float64) for o in (res if n_out > 1 else (res,))]
        outs = [o if o.shape == shape else np.broadcast_to(o, shape).copy() for o in outs]
    else:
        kb = np.broadcast_to(k, shape)
        bargs = [np.broadcast_to(a, shape) for a in args]
        outs = [np.empty(shape) for _ in range(n_out)]
        for kk in ks:
            m = kb == kk
            res = fn(int(kk), *(a[m] for a in bargs))
            for o, v in zip(outs, res if n_out > 1 else (res,)):
                o[m] = v
    return tuple(outs) if n_out > 1 else outs[0]


def _shift(dropout_at_zero: bool) -> float:
    return 1.0 if dropout_at_zero else 0.0


# ----------------------------------------------------------------------------------------------
# the phase given alive, and the likelihood


def _phase_terms(k: int, rk, v):
    """log c_j = log((rk)_j v^j / j!) for j = 0..k-1, stacked on a new first axis, and the harmonic
    sums H_j = sum_{i<j} 1/(rk+i) (d log (rk)_j / d rk). v = (T - t_x)/(alpha + T) in [0, 1)."""
    rk, v = np.broadcast_arrays(rk, v)
    logc = np.zeros((k,) + rk.shape)
    H = np.zeros((k,) + rk.shape)
    with np.errstate(divide="ignore"):
        lv = np.log(v)
    for j in range(1, k):
        logc[j] = logc[j - 1] + np.log(rk + (j - 1)) + lv - np.log(j)
        H[j] = H[j - 1] + 1.0 / (rk + (j - 1))
    return logc, H


def _history(k: int, r, alpha, a, b, x, t_x, T, s: float):
    """The posterior pieces of a history: ``(log_odds, logc, logS, H)``.

    ``log_odds`` = log P(dropped at t_x, history) - log P(alive at T, history), (-inf for a BG/CNBD-k
    customer without repeat purchases); ``logc`` the phase log-weights (unnormalised, first axis j) with
    ``logS`` = logsumexp over j (S = P(fewer than k Poisson events in (t_x, T] | lambda) integrated, the
    factor of RPS 2021's likelihood and BTYDplus' ``S2``); ``H`` as in :func:`_phase_terms`.
    """
    rk = r + k * x
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.clip((T - t_x) / (alpha + T), 0.0, 1.0)
    logc, H = _phase_terms(k, rk, v)
    logS = special.logsumexp(logc, axis=0)
    bx1 = b + x + (s - 1.0)                                     # b+x-1 (BG), b+x (MBG)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a) - np.log(bx1) + rk * np.log1p((T - t_x) / (alpha + t_x)) - logS
        odds = np.where((x > 0) | (s > 0), odds, -np.inf)
    return odds, logc, logS, H


def _loglik_k(k, r, alpha, a, b, x, t_x, T, litt, s, want_grad=False):
    rk = r + k * x
    bx = b + x + s                                              # p | alive ~ Beta(a, bx)
    common = (special.gammaln(rk) - special.gammaln(r) + special.gammaln(bx) - special.gammaln(a + bx)
              - special.gammaln(b) + special.gammaln(a + b) + (k - 1) * litt - x * special.gammaln(k))
    _, logc, logS, H = _history(k, r, alpha, a, b, x, t_x, T, s)
    log_alive = -r * np.log1p(T / alpha) - k * x * np.log(alpha + T) + logS
    with np.errstate(divide="ignore", invalid="ignore"):
        log_drop = np.where((x > 0) | (s > 0), np.log(a) - np.log(bx - 1.0) - r * np.log1p(t_x / alpha)
                            - k * x * np.log(alpha + t_x), -np.inf)
    ll = common + np.logaddexp(log_alive, log_drop)
    if not want_grad:
        return ll
    w = special.expit(log_drop - log_alive)                     # P(dropped at t_x | history)
    pi = np.exp(logc - logS)
    Ej = np.einsum("j...,j->...", pi, np.arange(k, dtype=np.float64)) if k > 1 else np.zeros_like(ll)
    Hbar = np.sum(pi * H, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_bx1 = np.where(w > 0, 1.0 / (bx - 1.0), 0.0)
    dg_ab = special.digamma(a + b) - special.digamma(a + bx)
    d_r = (special.digamma(rk) - special.digamma(r) - (1 - w) * (np.log1p(T / alpha) - Hbar)
           - w * np.log1p(t_x / alpha))
    d_alpha = r / alpha - (1 - w) * (rk + Ej) / (alpha + T) - w * rk / (alpha + t_x)
    d_a = dg_ab + w / a
    d_b = special.digamma(bx) - special.digamma(b) + dg_ab - w * inv_bx1
    return ll, np.stack(np.broadcast_arrays(d_r, d_alpha, d_a, d_b))


def loglik(k, r, alpha, a, b, x, t_x, T, litt, *, dropout_at_zero=False):
    """Per-customer log-likelihood of the BG/CNBD-k (MBG/CNBD-k with ``dropout_at_zero``).

    RPS 2021, section 2 (the likelihood of (x, t_x, T, litt); BTYDplus ``xbgcnbd.LL``):

    L = ((k-1)!)^-x e^((k-1) litt) B(a, b+x+s)/B(a, b) Gamma(r+kx)/Gamma(r) alpha^r
        [ (alpha+T)^-(r+kx) sum_{j<k} (r+kx)_j/j! ((T-t_x)/(alpha+T))^j
          + 1{x>0 or s} a/(b+x+s-1) (alpha+t_x)^-(r+kx) ],

    evaluated in log space (finite for heavy buyers). ``litt`` enters only through (k-1) litt, so it
    matters for choosing k, not for the other parameters at a fixed k.

    Examples
    --------
    The self-checks of BTYDplus' C++ likelihood (``xbgcnbd_ll_cpp``): k = 3, r = 0.5, alpha = 2,
    a = 0.3, b = 0.6, customers (x, t_x, T, litt) = (3, 12, 14, 3) and (4, 12, 14, 3):

    >>> from clvmodels.math import cnbdk
    >>> cnbdk.loglik(3, 0.5, 2.0, 0.3, 0.6, [3, 4], 12.0, 14.0, 3.0).round(5).tolist()
    [-10.425, -12.22396]

    With k = 1 it is the BG/NBD (MBG/NBD) likelihood; summed over the CDNOW sample at the MBG/NBD
    estimates it is the log-likelihood BTYDplus reports for the MBG/CNBD-k on CDNOW (k = 1), -9582.1:

    >>> import clvmodels as clv
    >>> s = clv.datasets.cdnow_summary()
    >>> ll = cnbdk.loglik(1, 0.525, 6.183, 0.891, 1.614, s["frequency"], s["recency"], s["T"], 0.0,
    ...                   dropout_at_zero=True)
    >>> round(float(ll.sum()), 1)
    -9582.1
    """
    s = _shift(dropout_at_zero)
    return _per_k(lambda kk, *v: _loglik_k(kk, *v, s), k, r, alpha, a, b, x, t_x, T, litt)


def loglik_and_grad(k, r, alpha, a, b, x, t_x, T, litt, *, dropout_at_zero=False):
    """:func:`loglik` and its gradient with respect to (r, alpha, a, b) (k is discrete); ``k`` a scalar.

    With w = P(dropped at t_x | history), pi_j the phase weights (:func:`phase_probabilities` times
    P(alive)), E[j] = sum_j pi_j j and Hbar = sum_j pi_j sum_{i<j} 1/(r+kx+i), b' = b+x+s:
    d/dr = psi(r+kx) - psi(r) - (1-w) (log1p(T/alpha) - Hbar) - w log1p(t_x/alpha);
    d/dalpha = r/alpha - (1-w) (r+kx+E[j])/(alpha+T) - w (r+kx)/(alpha+t_x);
    d/da = psi(a+b) - psi(a+b') + w/a; d/db = psi(b') - psi(b) + psi(a+b) - psi(a+b') - w/(b'-1).

    Returns ``(ll, grad)`` with ``grad`` of shape ``(4,) + ll.shape``.

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> ll, grad = cnbdk.loglik_and_grad(2, 0.5, 2.0, 0.3, 0.6, [3, 0], [12.0, 0.0], 14.0, [2.0, 0.0])
    >>> grad.shape
    (4, 2)
    >>> h = 1e-6        # d/dr against a central difference
    >>> up = cnbdk.loglik(2, 0.5 + h, 2.0, 0.3, 0.6, 3, 12.0, 14.0, 2.0)
    >>> dn = cnbdk.loglik(2, 0.5 - h, 2.0, 0.3, 0.6, 3, 12.0, 14.0, 2.0)
    >>> bool(abs((up - dn) / (2 * h) - grad[0, 0]) < 1e-6)
    True
    """
    k = _whole_k(k)
    if k.ndim or np.ndim(r) or np.ndim(alpha) or np.ndim(a) or np.ndim(b):
        raise InvalidValueError("loglik_and_grad takes scalar parameters (k, r, alpha, a, b)", column="k")
    r, alpha, a, b, x, t_x, T, litt = _f(r, alpha, a, b, x, t_x, T, litt)
    return _loglik_k(int(k), r, alpha, a, b, x, t_x, T, litt, _shift(dropout_at_zero), want_grad=True)


def p_alive(k, r, alpha, a, b, x, t_x, T, *, dropout_at_zero=False):
    """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x+s-1) ((alpha+T)/(alpha+t_x))^(r+kx) / S), with
    S = sum_{j<k} (r+kx)_j/j! ((T-t_x)/(alpha+T))^j (RPS 2021, section 2; BTYDplus ``xbgcnbd.PAlive``).

    1 for a BG/CNBD-k customer without repeat purchases (dropout only follows a purchase). With k > 1 a
    long silence after regular purchases weighs more than under the BG/NBD: the customer was due.

    Examples
    --------
    Two customers with 6 repeat purchases by T = 40 weeks, one silent for the last 20 weeks, one who just
    bought, and one with none, under k = 1 (alpha = 5) and k = 4 (alpha = 5/4: the same prior mean purchase
    rate r / (k alpha), the Poisson events being k times as frequent as purchases). Regular purchases make
    the long silence weigh more:

    >>> from clvmodels.math import cnbdk
    >>> x, t_x = [6, 6, 0], [20.0, 39.0, 0.0]
    >>> cnbdk.p_alive(1, 1.0, 5.0, 0.5, 3.0, x, t_x, 40.0).round(3).tolist()
    [0.207, 0.932, 1.0]
    >>> cnbdk.p_alive(4, 1.0, 1.25, 0.5, 3.0, x, t_x, 40.0).round(4).tolist()
    [0.0004, 0.9409, 1.0]
    >>> float(cnbdk.p_alive(4, 1.0, 1.25, 0.5, 3.0, 0, 0.0, 40.0, dropout_at_zero=True).round(3))   # MBG: may be gone
    0.41
    """
    s = _shift(dropout_at_zero)

    def one(kk, r, alpha, a, b, x, t_x, T):
        odds = _history(kk, r, alpha, a, b, x, t_x, T, s)[0]
        return special.expit(-odds)
    return _per_k(one, k, r, alpha, a, b, x, t_x, T)


def phase_probabilities(k, r, alpha, a, b, x, t_x, T):
    """P(phase j | alive at T, x, t_x, T) for j = 0..k-1, on a new first axis: the probability that j of
    the k Poisson events that make the next purchase have happened since t_x (RPS 2021, the phase
    mixture of the likelihood): proportional to (r+kx)_j / j! ((T-t_x)/(alpha+T))^j. ``k`` a scalar.

    Examples
    --------
    Just after a purchase the phase is 0; five weeks later a regular buyer (k = 3) is closer to the next one:

    >>> from clvmodels.math import cnbdk
    >>> cnbdk.phase_probabilities(3, 1.0, 20.0, 0.5, 3.0, [6, 6], [39.9, 35.0], 40.0).round(3).tolist()
    [[0.969, 0.256], [0.031, 0.406], [0.001, 0.338]]
    """
    k = _whole_k(k)
    if k.ndim:
        raise InvalidValueError("phase_probabilities takes a scalar k", column="k")
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    _, logc, logS, _ = _history(int(k), r, alpha, a, b, x, t_x, T, 0.0)
    return np.exp(logc - logS)


# ----------------------------------------------------------------------------------------------
# the future of a customer alive in a given phase


def _future_sums(k: int, j, R, u, a, bp):
    """For customers alive at T in phase j with lambda ~ Gamma(R, alpha+T) and p ~ Beta(a, bp), over a
    future period of length t = u (alpha+T), the two series

        S1 = sum_{n>=1} rho_{n-1} P(N >= nk-j),   S2 = sum_{n>=1} rho_{n-1} a/(a+bp+n-1) P(N >= nk-j),

    with rho_m = E[(1-p)^m] = prod_{i<m} (bp+i)/(a+bp+i) and N ~ NB(R, 1/(1+u)) the Poisson events in
    the period, P(N >= m) = I_z(m, R), z = u/(1+u). S1 = E[purchases in the period | alive, phase j] (the
    n-th future purchase needs nk-j events and the n-1 tosses before it survived); 1 - S2 = E[rho_M] =
    P(alive at T+t | alive, phase j), M = floor((N+j)/k) purchases each followed by a toss.

    Summed in blocks of future purchases (the first wide enough for the NB mean plus eight standard
    deviations). In a block the pmf of the event counts comes from its value at the first count (log-gamma
    ratio) times the ratios (R+i) z/(i+1), and every tail is the regularised incomplete beta after the block
    plus a sum of pmf values: sums of positive terms, so each tail is accurate relative to itself (~1e-14).
    Blocks continue until the rest is provably below 1e-17 of S1: past the mode the pmf ratios are at most
    c = max(z, (R+m) z/(m+1)) < 1, and rho decreases, so the terms left after the block sum to at most
    rho_{n-1} P(N >= m) / (1 - c^k) with n the block's last purchase. A long series' blocks grow with what it
    has summed, up to 2^21 event counts. A series that needs more than 10 million future purchases (its
    negative binomial mean alone says so, or it has not converged by then) is NaN, with a CLVWarning.
    Arguments are 1-D arrays (j whole); memory is bounded (rows are processed in chunks).
    """
    size = R.size
    S1, S2 = np.full(size, np.nan), np.full(size, np.nan)
    ok = np.isfinite(u) & (u >= 0)
    S1[ok & (u == 0)] = S2[ok & (u == 0)] = 0.0
    pending = np.flatnonzero(ok & (u > 0))
    S1[pending] = S2[pending] = 0.0
    with np.errstate(divide="ignore"):
        z, log_z, log_q = u / (1.0 + u), np.log(u) - np.log1p(u), -np.log1p(u)
    log_rho = np.zeros(size)                    # log rho_{n0-1} at the start of each element's next block
    n0 = np.ones(size)                          # the element's next future purchase
    mean = R * u
    need = (mean + 8.0 * np.sqrt(mean * (1.0 + u)) + 6.0 + j) / k
    width = np.clip(2.0 ** np.ceil(np.log2(np.maximum(need, 1.0))), 4, _TERMS_BLOCK)
    widest = max(_TERMS_BLOCK, _BLOCK_CELLS // k)
    n0[pending[mean[pending] / k > _MAX_TERMS]] = np.inf     # past the cap before its bulk: no need to sum
    while pending.size:
        if np.any(n0[pending] > _MAX_TERMS):
            stop = pending[n0[pending] > _MAX_TERMS]
            S1[stop] = S2[stop] = np.nan
            pending = pending[n0[pending] <= _MAX_TERMS]
            warnings.warn(f"{stop.size} future-purchase series of the CNBD-k forecast need more than {_MAX_TERMS:,} "
                          "future purchases (a purchase rate and horizon far outside any real log): NaN for "
                          "those customers", CLVWarning, stacklevel=4)
            continue
        done = np.zeros(pending.size, dtype=bool)
        for w in np.unique(width[pending]):
            mine = np.flatnonzero(width[pending] == w)
            rows = max(1, (1 << 21) // int(w * k))
            for c0 in range(0, mine.size, rows):
                sel = mine[c0:c0 + rows]
                done[sel] = _future_block(k, int(w), pending[sel], j, R, z, log_z, log_q, a, bp, n0, log_rho, S1, S2)
        pending = pending[~done]
        # a long series' blocks grow with what it has summed (a quarter of it), so its cost stays linear
        # in its length with few vectorised steps
        grow = np.maximum(_TERMS_BLOCK, 2.0 ** np.floor(np.log2(np.maximum(n0[pending] / 4.0, 1.0))))
        width[pending] = np.minimum(2 * width[pending], np.minimum(grow, widest))
    return S1, S2


def _future_block(k, w, idx, j, R, z, log_z, log_q, a, bp, n0, log_rho, S1, S2):
    """One block of ``w`` future purchases of the elements ``idx`` of :func:`_future_sums` (updates
    ``n0``, ``log_rho``, ``S1``, ``S2`` in place); returns which elements are done."""
    jj, RR, zz, aa, bb = j[idx][:, None], R[idx][:, None], z[idx][:, None], a[idx][:, None], bp[idx][:, None]
    lz, lq, nn = log_z[idx][:, None], log_q[idx][:, None], n0[idx][:, None]
    m0 = nn * k - jj                                             # events for the block's first purchase
    i = m0 + np.arange(w * k, dtype=np.float64)[None, :]
    step = np.log((RR + i) / (i + 1.0))
    step += lz                                                   # log(pmf(i+1) / pmf(i))
    lp = np.cumsum(step, axis=1)
    lp -= step
    lp += log_gamma_ratio(RR, m0) - special.gammaln(m0 + 1.0) + RR * lq + m0 * lz     # + log pmf(m0)
    rev = np.cumsum(np.exp(lp)[:, ::-1], axis=1)[:, ::-1]        # sum_{i <= l < m_after} pmf(l)
    m_after = m0[:, 0] + w * k
    T_after = special.betainc(m_after, RR[:, 0], zz[:, 0])       # P(N >= m_after)
    tails = T_after[:, None] + rev[:, ::k]                       # P(N >= nk - j), n in the block
    n = nn + np.arange(w, dtype=np.float64)[None, :]
    up = np.log(bb + n - 1.0) - np.log(aa + bb + n - 1.0)        # log(rho_n / rho_{n-1})
    log_r = np.cumsum(up, axis=1)
    t1 = np.exp(log_rho[idx][:, None] + log_r - up) * tails      # rho_{n-1} P(N >= nk - j)
    S1[idx] += t1.sum(axis=1)
    S2[idx] += (t1 * (aa / (aa + bb + n - 1.0))).sum(axis=1)
    log_rho[idx] += log_r[:, -1]
    n0[idx] += w
    c = np.maximum(zz[:, 0], (RR[:, 0] + m_after) * zz[:, 0] / (m_after + 1.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # every later term is rho_{n-1} P(N >= nk-j) with rho_{n-1} <= rho at the block's end (rho decreases)
        rest = np.where(c < 1.0, np.exp(log_rho[idx]) * T_after / (1.0 - c ** k), np.inf)
    return rest <= _SERIES_RTOL * S1[idx]


def _future(k: int, r, alpha, a, b, x, t_x, T, t, s, which: str, series: bool = False):
    """Expectations over the posterior phases of a customer alive at T: ``which`` = 'mean' (expected
    purchases in (T, T+t] given alive), 'survival' (P(alive at T+t | alive at T)) or 'both' (the two, from
    one pass over the series). ``t_x`` None: the last purchase was at T (phase 0). Returns ``(value, odds)``
    (``((mean, survival), odds)`` for 'both') with ``odds`` the history's dropout log-odds.

    With k = 1 (one phase) these are the (M)BG/NBD's closed forms, evaluated by the guarded hypergeometric
    mean of :func:`clvmodels.math.special.log_bg_mean_purchases` (and
    :func:`clvmodels.math.bgnbd.p_alive_ahead`), whose cost does not grow with t; ``series=True`` sums the
    series of :func:`_future_sums` instead (the tests compare the two)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in (r, alpha, a, b, x, T, t) + ((t_x,) if t_x is not None
                                                                                       else ())))
    r, alpha, a, b, x, T, t = (np.broadcast_to(v, shape).ravel() for v in (r, alpha, a, b, x, T, t))
    if t_x is None:
        odds = np.full(r.size, -np.inf)
        pi = np.zeros((k, r.size))
        pi[0] = 1.0
    else:
        t_x = np.broadcast_to(t_x, shape).ravel()
        odds, logc, logS, _ = _history(k, r, alpha, a, b, x, t_x, T, s)
        pi = np.exp(logc - logS)
    mean = surv = None
    if k == 1 and not series:
        if which in ("mean", "both"):
            with np.errstate(over="ignore", invalid="ignore"):
                mean = np.exp(log_bg_mean_purchases(r + x, t / (alpha + T), a, b + x + s))
        if which in ("survival", "both"):
            surv = np.asarray(_bg_alive_ahead(r, alpha, a, b, x, T, t, s), dtype=np.float64)
    else:
        keep = pi > 1e-18 * pi.max(axis=0)            # phases with weight (their series are comparable)
        jj = np.broadcast_to(np.arange(k, dtype=np.float64)[:, None], pi.shape)[keep]
        col = np.broadcast_to(np.arange(r.size)[None, :], pi.shape)[keep]
        rk = r + k * x
        S1, S2 = _future_sums(k, jj, rk[col] + jj, (t / (alpha + T))[col], a[col], (b + x + s)[col])
        terms = np.zeros(pi.shape)
        if which in ("mean", "both"):
            terms[keep] = pi[keep] * S1
            mean = terms.sum(axis=0)
        if which in ("survival", "both"):
            terms[keep] = pi[keep] * S2
            surv = np.clip(1.0 - terms.sum(axis=0), 0.0, 1.0)
    odds = odds.reshape(shape)
    if which == "both":
        return (mean.reshape(shape), surv.reshape(shape)), odds
    return (mean if which == "mean" else surv).reshape(shape), odds


def conditional_expected_purchases(k, r, alpha, a, b, x, t_x, T, t, *, dropout_at_zero=False):
    """E[X(T, T+t) | x, t_x, T]: expected purchases in (T, T+t] given the history.

    P(alive) sum_j pi_j sum_{n>=1} B(a, b'+n-1)/B(a, b') I_{t/(alpha+T+t)}(nk-j, r+kx+j), b' = b+x+s:
    given alive in phase j, the n-th future purchase needs nk-j Poisson events (a negative binomial
    count under lambda's posterior Gamma(r+kx+j, alpha+T)) and n-1 survived tosses. Exact: the series
    is summed until the rest is below 1e-17 of the sum (relative error ~1e-14; its cost grows with the
    expected number of future Poisson events, NaN and a CLVWarning beyond 10 million future purchases), and with k = 1 it is
    the closed form of Fader, Hardie & Lee (2005, eq. 10) / Batislam et al. (2007). BTYDplus'
    ``xbgcnbd.ConditionalExpectedTransactions`` approximates it (a BG/NBD form with alpha scaled by k,
    rescaled to the cohort's unconditional expectation).

    Examples
    --------
    The customers of :func:`p_alive` (k = 4) over the next 26 weeks:

    >>> from clvmodels.math import cnbdk
    >>> x, t_x = [6, 6, 0], [20.0, 39.0, 0.0]
    >>> cnbdk.conditional_expected_purchases(4, 1.0, 20.0, 0.5, 3.0, x, t_x, 40.0, 26.0).round(3).tolist()
    [0.273, 2.226, 0.195]

    With k = 1 it is the BG/NBD expectation (Fader, Hardie & Lee 2005: 1.226 for their customer):

    >>> round(float(cnbdk.conditional_expected_purchases(1, 0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39)), 3)
    1.226
    """
    s = _shift(dropout_at_zero)

    def one(kk, r, alpha, a, b, x, t_x, T, t):
        mean, odds = _future(kk, r, alpha, a, b, x, t_x, T, t, s, "mean")
        return special.expit(-odds) * mean
    return _per_k(one, k, r, alpha, a, b, x, t_x, T, t)


def expected_purchases_new(k, r, alpha, a, b, t, *, dropout_at_zero=False):
    """E[X(t)] for a customer born at 0: :func:`conditional_expected_purchases` at x = t_x = T = 0, i.e.
    P(survives time 0) sum_{n>=1} B(a, b+s+n-1)/B(a, b+s) I_{t/(alpha+t)}(nk, r) with P(survives time 0)
    = b/(a+b) for the MBG/CNBD-k and 1 for the BG/CNBD-k (BTYDplus ``xbgcnbd.Expectation``, which sums
    the probability mass function instead).

    Examples
    --------
    BTYDplus' self-check parameters (k = 3, r = 0.5, alpha = 2, a = 0.3, b = 0.6) over 10 time units - the
    mean of :func:`p_purchases`, as BTYDplus computes it - and the BG/NBD mean of Fader, Hardie & Lee
    (2005) over 39 weeks (k = 1):

    >>> from clvmodels.math import cnbdk
    >>> round(float(cnbdk.expected_purchases_new(3, 0.5, 2.0, 0.3, 0.6, 10.0)), 4)
    0.4938
    >>> n = np.arange(3000)
    >>> round(float((n * cnbdk.p_purchases(3, 0.5, 2.0, 0.3, 0.6, n, 10.0)).sum()), 4)
    0.4938
    >>> round(float(cnbdk.expected_purchases_new(1, 0.243, 4.414, 0.793, 2.426, 39.0)), 4)
    1.1967
    """
    return conditional_expected_purchases(k, r, alpha, a, b, 0.0, 0.0, 0.0, t, dropout_at_zero=dropout_at_zero)


def p_purchases(k, r, alpha, a, b, n, t, *, dropout_at_zero=False):
    """P(X(t) = n) for a customer born at 0 (BTYDplus ``xbgcnbd_pmf_cpp``; RPS 2021, section 2).

    X(t) = min(P(t), D) with P(t) = floor(N(t)/k) the purchases of a customer who never leaves (N(t) ~
    NB(r, alpha/(alpha+t)) Poisson events) and D the purchases before dropout:
    P(X(t) = n) = B(a, b+n+s)/B(a, b) P(nk <= N(t) < nk+k) + 1{n>0 or s} B(a+1, b+n+s-1)/B(a, b) P(N(t) >= nk),
    in log space (P(N >= 0) = 1).

    Examples
    --------
    BTYDplus' self-checks (k = 3, r = 0.5, alpha = 2, a = 0.3, b = 0.6): P(X(10) = 2) = 0.05669 for the
    BG/CNBD-k and 0.04548 for the MBG/CNBD-k:

    >>> from clvmodels.math import cnbdk
    >>> round(float(cnbdk.p_purchases(3, 0.5, 2.0, 0.3, 0.6, 2, 10.0)), 5)
    0.05669
    >>> round(float(cnbdk.p_purchases(3, 0.5, 2.0, 0.3, 0.6, 2, 10.0, dropout_at_zero=True)), 5)
    0.04548
    >>> round(float(cnbdk.p_purchases(3, 0.5, 2.0, 0.3, 0.6, np.arange(3000), 10.0).sum()), 10)
    1.0
    """
    s = _shift(dropout_at_zero)

    def one(kk, r, alpha, a, b, n, t):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = t / (alpha + t)
            i = n[..., None] * kk + np.arange(kk)            # the k event counts that make n purchases
            log_nb = (special.gammaln(r[..., None] + i) - special.gammaln(r)[..., None] - special.gammaln(i + 1)
                      - (r * np.log1p(t / alpha))[..., None] + special.xlogy(i, z[..., None]))
            log_in = special.logsumexp(log_nb, axis=-1)
            bs = b + n + s
            first = special.betaln(a, bs) - special.betaln(a, b) + log_in
            tail = np.where(n > 0, np.log(special.betainc(np.maximum(n * kk, 1.0), r, z)), 0.0)
            second = np.where((n > 0) | (s > 0), special.betaln(a + 1, bs - 1) - special.betaln(a, b) + tail, -np.inf)
            return np.exp(np.logaddexp(first, second))
    return _per_k(one, k, r, alpha, a, b, n, t)


def p_alive_ahead(k, r, alpha, a, b, x, T, t, *, t_x=None, dropout_at_zero=False):
    """P(alive at T+t | alive at T, x, T [, t_x]): 1 - sum_j pi_j sum_{n>=1} B(a, b'+n-1)/B(a, b')
    a/(a+b'+n-1) I_{t/(alpha+T+t)}(nk-j, r+kx+j), the expectation of (1-p)^M over M, the purchases in
    (T, T+t] of a customer who never leaves, each followed by a toss (derivation at :func:`_future_sums`).

    The protocol (:class:`~clvmodels.protocols.PurchaseMath`) passes no recency: ``t_x=None`` is a
    customer whose last purchase was at T (phase 0). With k > 1 the survival of a customer alive now
    depends on the time since the last purchase; give ``t_x`` to account for it. Absolute error below
    ~1e-12 (typically ~1e-15: the tails of the event counts are regularised incomplete beta functions).

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> round(float(cnbdk.p_alive_ahead(1, 0.243, 4.414, 0.793, 2.426, 2, 38.86, 39.0)), 4)   # = BG/NBD
    0.7806
    >>> cnbdk.p_alive_ahead(4, 1.0, 20.0, 0.5, 3.0, 6, 40.0, 26.0, t_x=[39.0, 30.0]).round(3).tolist()
    [0.886, 0.861]
    """
    return _ahead(k, r, alpha, a, b, x, T, t, t_x, dropout_at_zero, "survival")


def _ahead(k, r, alpha, a, b, x, T, t, t_x, dropout_at_zero: bool, which: str):
    """:func:`_future` given alive at T (phase from ``t_x``, or 0 when None), per distinct k."""
    s = _shift(dropout_at_zero)

    def one(kk, r, alpha, a, b, x, T, t, *rest):
        return _future(kk, r, alpha, a, b, x, rest[0] if rest else None, T, t, s, which)[0]
    extra = () if t_x is None else (t_x,)
    return _per_k(one, k, r, alpha, a, b, x, T, t, *extra, n_out=2 if which == "both" else 1)


def ahead_given_alive(k, r, alpha, a, b, x, T, t, *, t_x=None, dropout_at_zero=False):
    """``(E[X(T, T+t) | alive at T], P(alive at T+t | alive at T))`` for customers alive now, from one pass
    over the series of :func:`_future_sums`: the forecasting layer's "given alive" factors (per period,
    for every parameter draw), at half the cost of the two functions they equal,
    :func:`conditional_expected_purchases` / :func:`p_alive` and :func:`p_alive_ahead`. ``t_x`` as for
    :func:`p_alive_ahead` (None: the last purchase at T).

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> mean, alive = cnbdk.ahead_given_alive(4, 1.0, 20.0, 0.5, 3.0, 6, 40.0, 26.0, t_x=[39.0, 30.0])
    >>> mean.round(3).tolist(), alive.round(3).tolist()       # the customer silent for 10 weeks is due
    ([2.366, 2.954], [0.886, 0.861])
    >>> pa = cnbdk.p_alive(4, 1.0, 20.0, 0.5, 3.0, 6, [39.0, 30.0], 40.0)
    >>> (cnbdk.conditional_expected_purchases(4, 1.0, 20.0, 0.5, 3.0, 6, [39.0, 30.0], 40.0, 26.0) / pa).round(3).tolist()
    [2.366, 2.954]
    """
    return _ahead(k, r, alpha, a, b, x, T, t, t_x, dropout_at_zero, "both")


def _no_purchase_given_alive(k, r, alpha, x, T, t, pi):
    """sum_j pi_j P(N_j < k-j), N_j ~ NB(r+kx+j, (alpha+T)/(alpha+T+t)): P(I_q(r+kx+j, k-j)); and its
    complement computed without cancellation."""
    q = (alpha + T) / (alpha + T + t)
    R0 = r + k * x
    j = np.arange(k, dtype=np.float64).reshape((k,) + (1,) * max(pi.ndim - 1, q.ndim, R0.ndim))
    R = R0 + j
    none = np.sum(pi * special.betainc(R, k - j, q), axis=0)
    some = np.sum(pi * special.betainc(k - j, R, 1.0 - q), axis=0)
    return none, some


def p_no_purchase_ahead(k, r, alpha, a, b, x, T, t, *, t_x=None, dropout_at_zero=False):
    """P(no purchase in (T, T+t] | alive at T, x, T [, t_x]) = sum_j pi_j I_q(r+kx+j, k-j) with
    q = (alpha+T)/(alpha+T+t): fewer than k-j Poisson events in the period (a and b do not enter: a
    customer alive at T leaves only after a purchase). ``t_x=None``: last purchase at T (phase 0), as the
    protocol asks; with k = 1 it is ((alpha+T)/(alpha+T+t))^(r+x) whatever t_x.

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> round(float(cnbdk.p_no_purchase_ahead(1, 0.243, 4.414, 0.793, 2.426, 2, 38.86, 39.0)), 4)  # = BG/NBD
    0.2367
    >>> cnbdk.p_no_purchase_ahead(4, 1.0, 20.0, 0.5, 3.0, 6, 40.0, 5.0, t_x=[39.0, 35.0]).round(3).tolist()
    [0.745, 0.446]
    """
    def one(kk, r, alpha, a, b, x, T, t, *rest):
        if rest:
            _, logc, logS, _ = _history(kk, r, alpha, np.ones_like(r), np.ones_like(r), x, rest[0], T, 0.0)
            pi = np.exp(logc - logS)
        else:
            pi = np.zeros((kk,) + np.broadcast_shapes(*(np.shape(v) for v in (r, alpha, x, T, t))))
            pi[0] = 1.0
        return _no_purchase_given_alive(kk, r, alpha, x, T, t, pi)[0]
    extra = () if t_x is None else (t_x,)
    return _per_k(one, k, r, alpha, a, b, x, T, t, *extra)


def p_active(k, r, alpha, a, b, x, t_x, T, t, *, dropout_at_zero=False):
    """P(active): the probability of at least one purchase in (T, T+t] given the history (the measure
    of P&R 2016, section 5, and BTYDplus ``mcmc.PActive``):
    P(alive) sum_j pi_j I_{t/(alpha+T+t)}(k-j, r+kx+j).

    Unlike P(alive), it looks ahead: a customer alive now but slow may well make no purchase.

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> x, t_x = [6, 6, 0], [20.0, 39.0, 0.0]
    >>> cnbdk.p_active(4, 1.0, 20.0, 0.5, 3.0, x, t_x, 40.0, 5.0).round(3).tolist()
    [0.071, 0.24, 0.04]
    """
    s = _shift(dropout_at_zero)

    def one(kk, r, alpha, a, b, x, t_x, T, t):
        odds, logc, logS, _ = _history(kk, r, alpha, a, b, x, t_x, T, s)
        return special.expit(-odds) * _no_purchase_given_alive(kk, r, alpha, x, T, t, np.exp(logc - logS))[1]
    return _per_k(one, k, r, alpha, a, b, x, t_x, T, t)


def draw_future_purchases(k, r, alpha, a, b, x, t_x, T, t, *, n_draws: int, random_state=None,
                          dropout_at_zero=False) -> np.ndarray:
    """Draws of each customer's purchases in (T, T+t] from the model given the history (scalar parameters).

    Per draw: alive ~ Bernoulli(P(alive)); phase j ~ pi; lambda ~ Gamma(r+kx+j, alpha+T); p ~ Beta(a, b+x+s);
    N ~ Poisson(lambda t) events, M = floor((N+j)/k) purchases if the customer stayed, D ~ Geometric(p)
    purchases before dropout; X = alive * min(M, D). The mean of the draws estimates
    :func:`conditional_expected_purchases`, the share of positive draws :func:`p_active`.

    Returns an int array ``(n_draws, n_customers)`` (customers: the broadcast of x, t_x, T, t, 1-D).

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> draws = cnbdk.draw_future_purchases(4, 1.0, 20.0, 0.5, 3.0, [6, 6], [20.0, 39.0], 40.0, 26.0,
    ...                                     n_draws=20_000, random_state=1)
    >>> draws.shape, draws.mean(axis=0).round(2).tolist()      # exact means: 0.273 and 2.226
    ((20000, 2), [0.27, 2.22])
    """
    k = _whole_k(k)
    if k.ndim or any(np.ndim(v) for v in (r, alpha, a, b)):
        raise InvalidValueError("draw_future_purchases takes scalar parameters (k, r, alpha, a, b)", column="k")
    k = int(k)
    s = _shift(dropout_at_zero)
    x, t_x, T, t = (v.ravel() for v in np.broadcast_arrays(*_f(x, t_x, T, t)))
    r, alpha, a, b = (float(v) for v in (r, alpha, a, b))
    rng = np.random.default_rng(random_state)
    odds, logc, logS, _ = _history(k, r, alpha, a, b, x, t_x, T, s)
    size = (int(n_draws), x.size)
    alive = rng.random(size) < special.expit(-odds)
    cum = np.cumsum(np.exp(logc - logS), axis=0)
    j = (rng.random(size)[None] > cum[:, None, :]).sum(axis=0).clip(0, k - 1)
    lam = rng.gamma(r + k * x + j) / (alpha + T)
    p = rng.beta(a, b + x + s, size=size)
    M = (rng.poisson(lam * t) + j) // k
    D = rng.geometric(np.clip(p, 1e-300, 1.0))
    return np.where(alive, np.minimum(M, D), 0)


# ----------------------------------------------------------------------------------------------
# the models' math namespaces


#: the optional fast paths of clvmodels.math.bgnbd / mbgnbd that a namespace with k = 1 takes over
_BASE_FAST_PATHS = ("weighted_evaluator", "weighted_loglik_and_grad", "p_alive_grid", "alive_factors")
_PROTOCOL = ("loglik", "loglik_and_grad", "p_alive", "conditional_expected_purchases", "expected_purchases_new",
             "p_purchases", "p_alive_ahead", "p_no_purchase_ahead", "p_active", "ahead_given_alive",
             "draw_future_purchases")


class CNBDkMath:
    """The math of one model of the family as a namespace: the functions of this module with
    ``dropout_at_zero`` fixed, parameters first (k, r, alpha, a, b). :data:`BG` (BG/CNBD-k) and
    :data:`MBG` (MBG/CNBD-k).

    :meth:`with_k` fixes k too: the namespace a fitted model hands to the other layers, whose functions
    take (r, alpha, a, b) first as :class:`clvmodels.protocols.PurchaseMath` asks (k is chosen by
    likelihood, not estimated on a continuum, so parameter draws leave it fixed).

    ``ahead_needs_recency`` tells the forecasting layer that the future of a customer alive now depends
    on the time since the last purchase (the phase of the Erlang clock) when k > 1:
    :func:`p_alive_ahead` and :func:`p_no_purchase_ahead` take ``t_x=``, and the expected purchases given
    alive are not those of a customer who just bought.

    Examples
    --------
    >>> from clvmodels.math import cnbdk
    >>> from clvmodels.protocols import PurchaseMath
    >>> isinstance(cnbdk.MBG, PurchaseMath), cnbdk.MBG.dropout_at_zero, cnbdk.BG
    (True, True, CNBDkMath(dropout_at_zero=False))
    >>> round(float(cnbdk.MBG.p_purchases(3, 0.5, 2.0, 0.3, 0.6, 2, 10.0)), 5)     # BTYDplus: 0.04548
    0.04548
    >>> m3 = cnbdk.MBG.with_k(3)
    >>> m3, m3.ahead_needs_recency, round(float(m3.p_purchases(0.5, 2.0, 0.3, 0.6, 2, 10.0)), 5)
    (CNBDkMath(dropout_at_zero=True, k=3), True, 0.04548)
    >>> cnbdk.BG.with_k(1).ahead_needs_recency      # k = 1: the (M)BG/NBD, memoryless
    False
    >>> cnbdk.MBG.with_k(1).alive_factors.__module__     # and its fast paths are the MBG/NBD's
    'clvmodels.math.mbgnbd'
    """

    def __init__(self, dropout_at_zero: bool, k: int | None = None):
        self.dropout_at_zero = bool(dropout_at_zero)
        if k is not None:
            k = int(_whole_k(k))
        self.k = k
        self.ahead_needs_recency = k is None or k > 1
        lead = () if k is None else (k,)
        for name in _PROTOCOL:
            setattr(self, name, partial(globals()[name], *lead, dropout_at_zero=self.dropout_at_zero))
        if k == 1:
            # k = 1 is the (M)BG/NBD: its optional fast paths (the fit's prepared evaluator, the forecast's
            # P(alive) grid and "given alive" factors) apply as they are
            from . import bgnbd, mbgnbd

            base = mbgnbd if self.dropout_at_zero else bgnbd
            for name in _BASE_FAST_PATHS:
                setattr(self, name, getattr(base, name))

    def with_k(self, k: int) -> CNBDkMath:
        """This model's namespace with k fixed: functions of (r, alpha, a, b, data...)."""
        return CNBDkMath(self.dropout_at_zero, k)

    def __repr__(self) -> str:
        return (f"CNBDkMath(dropout_at_zero={self.dropout_at_zero}"
                + ("" if self.k is None else f", k={self.k}") + ")")


#: the BG/CNBD-k: dropout only after a purchase
BG = CNBDkMath(dropout_at_zero=False)
#: the MBG/CNBD-k: dropout also at time 0
MBG = CNBDkMath(dropout_at_zero=True)
