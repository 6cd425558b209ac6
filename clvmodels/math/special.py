"""Guarded special functions in log space, shared by the model math modules.

Everything here is pure numpy/scipy, vectorised and broadcasting. The central piece is a
log-space summation of generalised hypergeometric series (:func:`log_pfq_series`) that tracks
signs and an a-posteriori rounding-error estimate, on which the guarded Gauss hypergeometric
function (:func:`log_hyp2f1`) and the BG/NBD-family mean (:func:`bg_mean_purchases`) are built.

Why not ``scipy.special.hyp2f1``? For the parameters of a heavy buyer (e.g. 2F1(r+x, b+x;
a+b+x-1; z) with x = 1000 and z near 1) it overflows to inf or returns wrong values; here the
size of the function is carried in the logarithm, and the series is chosen per element among
equivalent representations (direct, Euler-transformed, 1 - z connection formula) by its
estimated error.

Other helpers may add functions at the end of this file; existing signatures are stable.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from ..errors import InvalidValueError

__all__ = [
    "gammaln", "betaln", "logsumexp", "log1mexp", "logdiffexp", "log_gamma_ratio",
    "log_pfq_series", "log_hyp2f1", "hyp2f1", "bg_mean_purchases",
]

gammaln = special.gammaln
betaln = special.betaln
logsumexp = special.logsumexp

_EPS = np.finfo(np.float64).eps
_TINY_LOG = -745.0


def log1mexp(x):
    """log(1 - exp(x)) for x <= 0, accurate near 0 and for very negative x (Maechler 2012).

    Examples
    --------
    >>> from clvmodels.math.special import log1mexp
    >>> log1mexp([-1e-20, -0.5, -5.0]).round(4).tolist()   # np.log(1 - np.exp(-1e-20)) is -inf
    [-46.0517, -0.9328, -0.0068]
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -0.6931471805599453, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def logdiffexp(a, b):
    """log(exp(a) - exp(b)) for a >= b, without overflow (``-inf`` when a == b).

    Examples
    --------
    >>> from clvmodels.math.special import logdiffexp
    >>> round(float(logdiffexp(1000.0, 999.0)), 4)        # np.exp(1000.0) overflows
    999.5413
    >>> logdiffexp([0.0, 1.0], [-np.inf, 1.0]).tolist()    # exp(b) = 0, then a == b
    [0.0, -inf]
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return a + log1mexp(np.where(np.isneginf(b), -np.inf, b - a))


def log_gamma_ratio(x, n):
    """log(Gamma(x + n) / Gamma(x)) (log of the rising factorial (x)_n), x > 0, x + n > 0.

    Examples
    --------
    >>> from clvmodels.math.special import log_gamma_ratio
    >>> np.exp(log_gamma_ratio([0.5, 2.0], 3)).round(4).tolist()   # (0.5)_3 = 0.5 * 1.5 * 2.5, (2)_3 = 2 * 3 * 4
    [1.875, 24.0]
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return special.gammaln(x + n) - special.gammaln(x)


def _sgamma(x):
    """(log|Gamma(x)|, sign Gamma(x)); Gamma at a pole gives (inf, 0)."""
    x = np.asarray(x, dtype=np.float64)
    pole = (x <= 0) & (x == np.floor(x))
    with np.errstate(all="ignore"):
        lg = np.where(pole, np.inf, special.gammaln(x))
        sg = np.where(pole, 0.0, special.gammasgn(x))
    return lg, sg


def _log_term_shift(P, Q, logz, n, k):
    """log|t_k| - log|t_n| of the pFq series, for arrays k (..., m) and per-element n (...)."""
    n = n[:, None]
    with np.errstate(all="ignore"):
        d = (k - n) * logz[:, None] - (special.gammaln(k + 1) - special.gammaln(n + 1))
        for arr in P:
            d = d + special.gammaln(arr[:, None] + k) - special.gammaln(arr[:, None] + n)
        for arr in Q:
            d = d - special.gammaln(arr[:, None] + k) + special.gammaln(arr[:, None] + n)
        d = np.where(np.isnan(d), np.inf, d)
        for arr in P:  # a numerator reaching zero ends the series: later terms are exactly 0
            ends = (arr == np.floor(arr)) & (arr <= 0)
            d = np.where(ends[:, None] & (k > -arr[:, None]), -np.inf, d)
    return d


def _pochhammer_sign(P, Q, k):
    """Sign of prod (p)_k / prod (q)_k (only negative parameters flip signs)."""
    sign = np.ones_like(k)
    for arr in (*P, *Q):
        neg = np.where(arr < 0, np.minimum(k, np.ceil(-arr)), 0.0)
        sign = sign * np.where(np.mod(neg, 2) == 1, -1.0, 1.0)
    return sign


def log_pfq_series(nums, dens, z, *, max_terms=20000, rtol=1e-17):
    """Sum the generalised hypergeometric series sum_n prod(nums)_n / prod(dens)_n z^n / n! in log space.

    ``nums`` and ``dens`` are sequences of arrays broadcasting with ``z`` (``|z| < 1`` for an infinite
    series). Returns ``(log_abs, sign, log_abs_terms, converged)``: log|sum|, the sign of the sum,
    the log of the sum of ``|terms|`` (``eps * exp(log_abs_terms - log_abs)`` estimates the rounding
    error relative to the result) and whether the truncation criterion was met.

    Terms are carried as (log|t|, sign), so sums far outside the float range are fine. Each element
    has its own term index: the loop only works on elements that have not converged. Before
    stopping, the sizes of all later terms are checked in closed form (log-gamma) on a grid that
    includes every zero crossing of a negative parameter and a geometric grid far beyond, because
    such series can dip and grow again (a second hump after a denominator changes sign); if only
    the stretch up to the last crossing is negligible, the loop jumps over it.

    Examples
    --------
    2F1(1, 1; 2; z) = -log(1 - z) / z, summed for z = 0.5 and z = -0.5:

    >>> from clvmodels.math.special import log_pfq_series
    >>> log_abs, sign, log_abs_terms, converged = log_pfq_series([1.0, 1.0], [2.0], [0.5, -0.5])
    >>> (sign * np.exp(log_abs)).round(6).tolist(), converged.tolist()
    ([1.386294, 0.81093], [True, True])
    >>> (-np.log1p(-np.array([0.5, -0.5])) / np.array([0.5, -0.5])).round(6).tolist()
    [1.386294, 0.81093]
    """
    arrays = np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in (*nums, *dens, z)])
    shape = arrays[0].shape
    k = len(nums)
    P = [a.ravel() for a in arrays[:k]]
    Q = [a.ravel() for a in arrays[k:-1]]
    zf = arrays[-1].ravel()
    n_el = zf.size
    res_m = np.zeros(n_el)
    res_v = np.zeros(n_el)
    res_am = np.zeros(n_el)
    res_av = np.zeros(n_el)
    conv = np.zeros(n_el, dtype=bool)
    idx = np.arange(n_el)
    n = np.zeros(n_el)
    lt = np.zeros(n_el)
    st = np.ones(n_el)
    m, v = np.zeros(n_el), np.zeros(n_el)
    am, av = np.zeros(n_el), np.zeros(n_el)
    Pa, Qa = list(P), list(Q)
    n_min = np.zeros(n_el)
    for arr in (*P, *Q):
        n_min = np.maximum(n_min, np.ceil(-arr))
    with np.errstate(all="ignore"):
        logz = np.log(np.abs(zf))
        sz = np.sign(zf)
        absz = np.abs(zf)
        frac = np.linspace(0.0, 1.0, 24)
        geo = 2.0 ** (np.arange(1, 81) / 2.5) - 1.0
        next_check = np.zeros(n_el)
        for _ in range(max_terms + 1):
            # add the current term (lt, st) to the running sums
            big = lt > m
            v = v * np.where(big, np.exp(m - lt), 1.0) + st * np.where(big, 1.0, np.exp(lt - m))
            m = np.where(big, lt, m)
            bigA = lt > am
            av = av * np.where(bigA, np.exp(am - lt), 1.0) + np.where(bigA, 1.0, np.exp(lt - am))
            am = np.where(bigA, lt, am)
            # next term
            lr = logz - np.log(n + 1.0)
            sr = sz.copy()
            for p in Pa:
                lr = lr + np.log(np.abs(p + n))
                sr = sr * np.sign(p + n)
            for q in Qa:
                lr = lr - np.log(np.abs(q + n))
                sr = sr * np.sign(q + n)
            lt = lt + lr
            st = st * sr
            n = n + 1.0
            log_sum = m + np.log(np.abs(v))
            log_lim = log_sum + np.log(rtol)
            ratio = np.exp(np.minimum(lr, 50.0))
            bound = np.maximum(ratio, absz)
            small = (bound < 1) & (ratio < 1) & (lt - np.log1p(-np.minimum(bound, 1 - 1e-16)) < log_lim)
            finished = (sr == 0) | np.isneginf(lt)
            bad = np.isnan(lt) | (lt == np.inf) | np.isnan(v)
            cand = np.flatnonzero(small & ~finished & ~bad & (n >= next_check))
            if cand.size:
                Pc = [p[cand] for p in Pa]
                Qc = [q[cand] for q in Qa]
                nc, nminc = n[cand], n_min[cand]
                upto = np.maximum(nminc + 1, nc)
                ks = [nc[:, None] + frac[None, :] * (upto - nc)[:, None]]
                for arr in (*Pc, *Qc):
                    ks.append(np.clip(np.ceil(-arr)[:, None] + np.array([-1.0, 0.0, 1.0]), nc[:, None], upto[:, None]))
                kk_near = np.floor(np.concatenate(ks, axis=1))
                kk_far = np.floor(upto[:, None] + (upto[:, None] + 10.0) * geo[None, :])
                near_ok = (lt[cand][:, None] + _log_term_shift(Pc, Qc, logz[cand], nc, kk_near)).max(axis=1) < log_lim[cand]
                far_ok = (lt[cand][:, None] + _log_term_shift(Pc, Qc, logz[cand], nc, kk_far)).max(axis=1) < log_lim[cand]
                done_c = near_ok & far_ok
                finished[cand[done_c]] = True
                # negligible up to the last sign change but not beyond: jump to just after it
                jump = near_ok & ~far_ok & (nminc + 1 > nc)
                if jump.any():
                    jc = cand[jump]
                    kj = (nminc[jump] + 1)[:, None]
                    shift = _log_term_shift([p[jump] for p in Pc], [q[jump] for q in Qc], logz[jc], nc[jump], kj)[:, 0]
                    lt[jc] = lt[jc] + shift
                    st[jc] = (_pochhammer_sign([p[jc] for p in Pa], [q[jc] for q in Qa], n_min[jc] + 1)
                              * sz[jc] ** (n_min[jc] + 1))
                    n[jc] = n_min[jc] + 1
                # not yet: look again a little later
                retry = cand[~done_c & ~jump]
                next_check[retry] = n[retry] + np.maximum(8.0, 0.25 * n[retry])
                conv_now = np.zeros(idx.size, dtype=bool)
                conv_now[cand[done_c]] = True
            else:
                conv_now = np.zeros(idx.size, dtype=bool)
            conv_now |= finished & ~bad & ~(small & ~finished)
            conv_now |= (sr == 0) | np.isneginf(lt)
            stop = finished | bad
            if stop.any():
                ii = idx[stop]
                res_m[ii] = m[stop]
                res_v[ii] = np.where(bad[stop], np.nan, v[stop])
                res_am[ii] = am[stop]
                res_av[ii] = av[stop]
                conv[ii] = conv_now[stop] & ~bad[stop]
                keep = ~stop
                idx = idx[keep]
                if idx.size == 0:
                    break
                n, lt, st, m, v, am, av = n[keep], lt[keep], st[keep], m[keep], v[keep], am[keep], av[keep]
                next_check = next_check[keep]
                Pa = [p[keep] for p in Pa]
                Qa = [q[keep] for q in Qa]
                logz, sz, absz, n_min = logz[keep], sz[keep], absz[keep], n_min[keep]
        if idx.size:
            res_m[idx] = m
            res_v[idx] = v
            res_am[idx] = am
            res_av[idx] = av
        log_abs = res_m + np.log(np.abs(res_v))
        sign = np.sign(res_v)
        log_abs_terms = res_am + np.log(res_av)
    return (log_abs.reshape(shape), sign.reshape(shape), log_abs_terms.reshape(shape), conv.reshape(shape))


def log_hyp2f1(a, b, c, z, *, return_error=False):
    """Gauss hypergeometric function in log space: ``(log|2F1(a, b; c; z)|, sign)`` for real z < 1.

    For z < 0 the Pfaff transformation 2F1(a,b;c;z) = (1-z)^(-a) 2F1(a, c-b; c; z/(z-1)) (or the
    same with a and b swapped) maps the argument into [0, 1). On [0, 1) the direct series and the
    Euler-transformed series (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) are both summed in log space
    (:func:`log_pfq_series`) and, per element, the one with the smaller estimated error is kept
    (Abramowitz & Stegun 15.3.3-15.3.5). Elements where neither converges (z very close to 1
    with slowly decaying terms) are returned as NaN; ``return_error=True`` also returns the
    estimated relative error. Elements whose estimated error exceeds 1e-7 are NaN, so a caller
    never gets a silently wrong value (it should warn or raise on NaN).

    Examples
    --------
    >>> from clvmodels.math.special import log_hyp2f1
    >>> log_abs, sign = log_hyp2f1(1.0, 1.0, 2.0, [0.5, -1.0])
    >>> (sign * np.exp(log_abs)).round(6).tolist()      # -log(1 - z) / z: 2 log 2 and log 2
    [1.386294, 0.693147]

    A heavy buyer's 2F1 far beyond the float range (``scipy.special.hyp2f1`` returns inf here):

    >>> round(float(log_hyp2f1(1000.5, 1002.4, 1003.0, 0.99)[0]), 4)
    4604.7112
    """
    a, b, c, z = np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in (a, b, c, z)])
    shape = a.shape
    a, b, c, z = (v.ravel() for v in (a, b, c, z))
    log_pre = np.zeros(a.size)
    neg = z < 0
    with np.errstate(all="ignore"):
        # Pfaff for z < 0, keeping the parameter that makes the new numerator c - b smaller in size
        swap = neg & (np.abs(c - a) < np.abs(c - b))
        A = np.where(swap, b, a)
        B = np.where(swap, a, b)
        zz = np.where(neg, z / (z - 1), z)
        B = np.where(neg, c - B, B)
        log_pre = np.where(neg, -A * np.log1p(-z), 0.0)
        out = np.full(a.size, np.nan)
        sgn = np.zeros(a.size)
        err = np.full(a.size, np.inf)
        l1, s1, t1, c1 = log_pfq_series([A, B], [c], zz, max_terms=5000)
        e1 = np.where(c1, _EPS * (8 + np.exp(t1 - l1)), np.inf)
        l2, s2, t2, c2 = log_pfq_series([c - A, c - B], [c], zz, max_terms=5000)
        l2 = l2 + (c - A - B) * np.log1p(-zz)
        e2 = np.where(c2, _EPS * (8 + np.exp(t2 - (l2 - (c - A - B) * np.log1p(-zz)))
                                  + np.abs((c - A - B) * np.log1p(-zz))), np.inf)
        use2 = e2 < e1
        out = np.where(use2, l2, l1) + log_pre
        sgn = np.where(use2, s2, s1)
        err = np.minimum(e1, e2) + _EPS * np.abs(log_pre)
        out = np.where(err < 1e-7, out, np.nan)
    out, sgn, err = out.reshape(shape), sgn.reshape(shape), err.reshape(shape)
    if return_error:
        return out, sgn, err
    return out, sgn


def hyp2f1(a, b, c, z):
    """2F1(a, b; c; z) for real z < 1 via :func:`log_hyp2f1` (inf beyond the float range).

    Warns (RuntimeWarning) when some elements could not be evaluated to 1e-7 (returned as NaN).

    Examples
    --------
    >>> from clvmodels.math.special import hyp2f1
    >>> hyp2f1(1.0, 1.0, 2.0, [0.5, -1.0]).round(6).tolist()   # -log(1 - z) / z
    [1.386294, 0.693147]
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = hyp2f1(0.5, 0.5, 1.5, 0.999999)        # too close to z = 1 for the series
    >>> bool(np.isnan(value)), caught[0].category.__name__
    (True, 'RuntimeWarning')
    """
    la, sa = log_hyp2f1(a, b, c, z)
    if np.isnan(la).any():
        warnings.warn(f"hyp2f1: {int(np.isnan(la).sum())} element(s) could not be evaluated accurately "
                      "(z too close to 1 for the series); returned NaN", RuntimeWarning, stacklevel=2)
    with np.errstate(over="ignore"):
        return sa * np.exp(la)


# --------------------------------------------------------------------------------------------
# The BG/NBD-family mean  G(r, u, a, b) = E_{p ~ Beta(a, b)} [ (1 - (1 + p u)^(-r)) / p ]
# --------------------------------------------------------------------------------------------

def _combine(l1, s1, l2, s2):
    """(log|x|, sign x) of x = s1 e^l1 + s2 e^l2."""
    m = np.maximum(l1, l2)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(all="ignore"):
        val = s1 * np.exp(l1 - m) + s2 * np.exp(l2 - m)
        return m + np.log(np.abs(val)), np.sign(val)


def _g_small_u(r, u, a, b):
    """G = r u 3F2(r+1, a, 1; a+b, 2; -u): alternating series, for small u."""
    one = np.ones_like(a)
    la, sa, lt, conv = log_pfq_series([r + 1, a, one], [a + b, 2 * one], -u, max_terms=3000)
    with np.errstate(all="ignore"):
        val = np.log(r) + np.log(u) + la
        err = _EPS * (8 + 2 * np.exp(lt - la))
    return val, np.where(conv & (sa > 0), err, np.inf)


def _g_euler(r, u, a, b):
    """Euler-transformed form, good unless z = u/(1+u) is close to 1 with small r - a.

    G = c E1 - (1+u)^(1-a) D z 3F2(D+1, a, 1; a+b, 2; z) with c = a+b-1, D = c - r,
    E1 = (1 - (1+u)^(1-a)) / (a - 1) (= log1p(u) at a = 1; no singularity).
    """
    c = a + b - 1
    D = c - r
    L = np.log1p(u)
    z = u / (1 + u)
    one = np.ones_like(a)
    la, sa, lt, conv = log_pfq_series([D + 1, a, one], [a + b, 2 * one], z, max_terms=3000)
    with np.errstate(all="ignore"):
        E1 = L * special.exprel(-(a - 1) * L)
        l1 = np.log(np.abs(c)) + np.log(E1)
        s1 = np.sign(c)
        l2 = (1 - a) * L + np.log(np.abs(D)) + np.log(z) + la
        s2 = -np.sign(D) * sa
        lg, sg = _combine(l1, s1, l2, s2)
        size = np.logaddexp(l1, (1 - a) * L + np.log(np.abs(D)) + np.log(z) + lt)
        err = _EPS * (8 + 2 * np.exp(size - lg)) + _EPS * np.abs((a - 1) * L) * np.exp(size - lg)
    ok = conv & (sg > 0) & np.isfinite(lg)
    zero_d = D == 0  # the series part vanishes identically
    lg = np.where(zero_d, l1, lg)
    err = np.where(zero_d, _EPS * 8, err)
    ok = ok | (zero_d & np.isfinite(l1))
    return lg, np.where(ok, err, np.inf)


def _g_connection_core(r, u, a, b):
    """1 - z connection formula (singular at a = 1 and integer r - a + 1), for large u.

    G = c/(a-1) - T1 - T2,
    T1 = Gamma(c+1) Gamma(r-a+1) / ((a-1) Gamma(r) Gamma(b)) w^(a-1) 2F1(c-r, a-1; a-r; w),
    T2 = Gamma(c+1) Gamma(a-1-r) / (Gamma(c-r) Gamma(a)) w^r 2F1(r, b; r-a+2; w),
    with c = a+b-1, w = 1/(1+u) (Abramowitz & Stegun 15.3.6 applied to the Euler form).
    """
    c = a + b - 1
    lw = -np.log1p(u)
    w = np.exp(lw)
    with np.errstate(all="ignore"):
        F1l, F1s, F1t, c1 = log_pfq_series([c - r, a - 1], [a - r], w, max_terms=4000)
        F2l, F2s, F2t, c2 = log_pfq_series([r, b], [r - a + 2], w, max_terms=4000)
        lgc1 = special.gammaln(c + 1)
        g1l, g1s = _sgamma(r - a + 1)
        g2l, g2s = _sgamma(a - 1 - r)
        g3l, g3s = _sgamma(c - r)
        t1l = lgc1 + g1l - np.log(np.abs(a - 1)) - special.gammaln(r) - special.gammaln(b) + (a - 1) * lw + F1l
        t1s = g1s * np.sign(a - 1) * F1s
        t1t = t1l - F1l + F1t
        pole3 = np.isinf(g3l)  # 1/Gamma(c-r) = 0: T2 vanishes
        t2l = np.where(pole3, -np.inf, lgc1 + g2l - g3l - special.gammaln(a) + r * lw + F2l)
        t2s = np.where(pole3, 0.0, g2s * g3s * F2s)
        t2t = np.where(pole3, -np.inf, t2l - F2l + F2t)
        l0 = np.log(np.abs(c)) - np.log(np.abs(a - 1))
        s0 = np.sign(c) * np.sign(a - 1)
        la, sa = _combine(l0, s0, t1l, -t1s)
        lg, sg = _combine(la, sa, t2l, -t2s)
        size = np.logaddexp(np.logaddexp(l0, t1t), t2t)
        # gamma functions of large arguments carry absolute log errors ~ eps * |lnGamma|
        gam_err = _EPS * (np.abs(lgc1) + np.abs(g1l) + np.abs(g2l) + np.where(pole3, 0, np.abs(g3l))
                          + special.gammaln(r + 1) + special.gammaln(b + 1) + np.abs(r * lw) + np.abs((a - 1) * lw))
        err = (_EPS * 16 + gam_err) * np.exp(size - lg)
    ok = c1 & (c2 | pole3) & (sg > 0) & np.isfinite(lg) & np.isfinite(err)
    return lg, np.where(ok, err, np.inf)


_NODES = np.array([-2.0, -1.0, 1.0, 2.0])


def _lagrange4(vals, s):
    """Cubic Lagrange interpolation through nodes -2, -1, 1, 2; ``vals`` has shape (4, n)."""
    out = np.zeros_like(s)
    for i, xi in enumerate(_NODES):
        li = np.ones_like(s)
        for j, xj in enumerate(_NODES):
            if j != i:
                li = li * (s - xj) / (xi - xj)
        out = out + li * vals[i]
    return out


def _g_connection(r, u, a, b):
    """Connection formula; near its removable singularities (a = 1, integer r - a + 1) the value
    is interpolated (cubic, 4 nodes at +-h, +-2h) from points away from them. All points are
    evaluated in one batch."""
    L = np.log1p(u)
    n = r.size
    # level 1: nodes in a around 1
    ha = 1e-3 / np.maximum(1.0, L)
    near_a = np.abs(a - 1) < ha
    a_pts = [a]
    own_a = [np.arange(n)]
    for t in _NODES:
        a_pts.append(1 + t * ha[near_a])
        own_a.append(np.flatnonzero(near_a))
    own1 = np.concatenate(own_a)
    a1 = np.concatenate(a_pts)
    r1, u1, b1 = r[own1], u[own1], b[own1]
    # level 2: nodes in r around the r with integer r - a + 1
    hr = 1e-3 / np.maximum(1.0, np.log1p(u1)) * np.maximum(1.0, np.sqrt(r1))
    m = r1 - a1 + 1
    k = np.round(m)
    r0 = k + a1 - 1
    hr = np.minimum(hr, np.where(r0 > 0, r0 / 3, hr))
    near_r = (np.abs(m - k) < hr) & (r0 > 3 * hr)
    n1 = r1.size
    r_pts = [r1]
    own_r = [np.arange(n1)]
    for t in _NODES:
        r_pts.append(r0[near_r] + t * hr[near_r])
        own_r.append(np.flatnonzero(near_r))
    own2 = np.concatenate(own_r)
    r2 = np.concatenate(r_pts)
    lg2, err2 = _g_connection_core(r2, u1[own2], a1[own2], b1[own2])
    # fold level 2
    lg1, err1 = lg2[:n1].copy(), err2[:n1].copy()
    if near_r.any():
        cnt = int(near_r.sum())
        vals = lg2[n1:].reshape(4, cnt)
        errs = err2[n1:].reshape(4, cnt)
        s = (r1[near_r] - r0[near_r]) / hr[near_r]
        lg1[near_r] = _lagrange4(vals, s)
        err1[near_r] = 4 * errs.max(axis=0) + 1e-12
    # fold level 1
    lg, err = lg1[:n].copy(), err1[:n].copy()
    if near_a.any():
        cnt = int(near_a.sum())
        vals = lg1[n:].reshape(4, cnt)
        errs = err1[n:].reshape(4, cnt)
        lg[near_a] = _lagrange4(vals, (a[near_a] - 1) / ha[near_a])
        err[near_a] = 4 * errs.max(axis=0) + 1e-12
    return lg, err


def _g_positive_sum(r, u, a, b, max_total=2_000_000, max_terms=50_000):
    """Positive-term form G = sum_{k>=1} (b)_{k-1}/(a+b)_{k-1} P(N >= k), N ~ NBD(r, u/(1+u)).

    Purchases while alive are min(N(t), K) with K the (beta-)geometric number of purchases
    before dropout (Fader, Hardie & Lee 2005, sec. 2-3); P(N >= k) is the regularised incomplete
    beta I_z(k, r). No cancellation; the cost grows with the NBD mean r u, so this is the
    fallback for large r at moderate u.
    """
    z = u / (1 + u)
    sd = np.sqrt(r * u * (1 + u))
    with np.errstate(divide="ignore"):
        geo = 40.0 / -np.log(z)  # heavy geometric tail when r is small
    kmax = np.ceil(r * u + 40 * sd + np.minimum(geo, 1e12) + 60)
    lg = np.full(r.size, np.nan)
    err = np.full(r.size, np.inf)
    feasible = np.flatnonzero(kmax <= max_terms)
    kmax = np.where(kmax <= max_terms, kmax, 0).astype(np.int64)
    start = 0
    while start < feasible.size:
        cum = np.cumsum(kmax[feasible[start:]])
        stop = start + max(1, int(np.searchsorted(cum, max_total, side="right")))
        ids = feasible[start:stop]
        counts = kmax[ids]
        total = int(counts.sum())
        owner = np.repeat(np.arange(ids.size), counts)
        k = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + 1.0
        ri, ai, bi, zi = r[ids][owner], a[ids][owner], b[ids][owner], z[ids][owner]
        with np.errstate(all="ignore"):
            log_ck = (special.gammaln(bi + k - 1) - special.gammaln(bi) - special.gammaln(ai + bi + k - 1)
                      + special.gammaln(ai + bi))
            terms = log_ck + np.log(special.betainc(k, ri, zi))
            terms = np.where(np.isfinite(terms), terms, -np.inf)
            m = np.full(ids.size, -np.inf)
            np.maximum.at(m, owner, terms)
            acc = np.bincount(owner, weights=np.exp(terms - m[owner]), minlength=ids.size)
            lg[ids] = m + np.log(acc)
            big = np.zeros(ids.size)
            np.maximum.at(big, owner, np.abs(special.gammaln(ai + bi + k)))
        err[ids] = 1e-13 + _EPS * 4 * big
        start = stop
    return lg, np.where(np.isfinite(lg), err, np.inf)


def log_bg_mean_purchases(r, u, a, b, *, return_error=False):
    """log G(r, u, a, b), where G = E_{p ~ Beta(a, b)}[(1 - (1 + p u)^(-r)) / p].

    G is the mean number of purchases of a BG/NBD customer over a period of length t with
    u = t / alpha (Fader, Hardie & Lee 2005, eq. 7):
    G = (a+b-1)/(a-1) [1 - (1+u)^(-r) 2F1(r, b; a+b-1; u/(1+u))], finite for all a, b > 0 (the
    singularities at a = 1 and a + b = 1 are removable). The conditional expectation (eq. 10) is
    P(alive) * G(r+x, t/(alpha+T), a, b+x); the MBG/NBD means use b + 1.

    Each element is computed by the representation with the smallest estimated error among
    (i) r u 3F2(r+1, a, 1; a+b, 2; -u) for small u, (ii) the Euler-transformed series in
    z = u/(1+u), (iii) the 1 - z connection formula for large u, interpolated across its removable
    singularities, and (iv) a positive-term sum (large r at moderate u). ``return_error=True``
    also returns the estimated relative error (below 1e-10 over parameters 1e-3..1e4).
    """
    r, u, a, b = np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in (r, u, a, b)])
    shape = r.shape
    r, u, a, b = (v.ravel().copy() for v in (r, u, a, b))
    out = np.full(r.size, np.nan)
    err = np.full(r.size, np.inf)
    zero = u == 0
    out[zero] = -np.inf
    err[zero] = 0.0
    todo = ~zero & np.isfinite(u) & (u > 0) & (r > 0) & (a > 0) & (b > 0) & np.isfinite(r * a * b)
    target = 1e-12

    def take(mask, fn):
        ii = np.flatnonzero(mask)
        if ii.size == 0:
            return
        lv, ev = fn(r[ii], u[ii], a[ii], b[ii])
        better = ev < err[ii]
        out[ii[better]] = lv[better]
        err[ii[better]] = ev[better]

    c = a + b - 1
    take(todo & (u < 0.5) & (r * u < 30), _g_small_u)
    take(todo & (err > target) & ((u < 200) | (a + b > 0.2 * u)) & (r - c < 1500), _g_euler)
    take(todo & (err > target) & (u > 0.5), _g_connection)
    # the positive-term sum is exact but costs ~ r u terms: only where the series forms fail
    take(todo & (err > 1e-9), _g_positive_sum)
    out = out.reshape(shape)
    err = err.reshape(shape)
    if return_error:
        return out, err
    return out


def bg_mean_purchases(r, u, a, b):
    """G(r, u, a, b) = exp(:func:`log_bg_mean_purchases`).

    Examples
    --------
    Mean purchases of a new BG/NBD customer over 39 weeks with the CDNOW estimates of Fader, Hardie
    & Lee (2005) (r = 0.243, alpha = 4.414, a = 0.793, b = 2.426), so u = t / alpha:

    >>> from clvmodels.math.special import bg_mean_purchases
    >>> round(float(bg_mean_purchases(0.243, 39 / 4.414, 0.793, 2.426)), 4)
    1.1967
    >>> bg_mean_purchases(0.243, np.array([13.0, 39.0, 78.0]) / 4.414, 0.793, 2.426).round(4).tolist()
    [0.5344, 1.1967, 1.8605]
    >>> round(float(bg_mean_purchases(0.5, 2.0, 1.0, 2.0)), 4)   # a = 1: a removable singularity, no NaN
    0.7117
    """
    return np.exp(log_bg_mean_purchases(r, u, a, b))


def per_unique(x, fn, min_size=4096):
    """Evaluate ``fn(values)`` on the distinct values of a large 1-D array ``x`` and expand back.

    Purchase counts take few distinct values, so the log-gamma/digamma terms that depend only on x
    (and scalar parameters) are computed once per distinct count. ``fn`` maps an array to an
    array or a tuple of arrays of the same shape. Small or non-1-D inputs call ``fn(x)`` directly.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < min_size:
        return fn(x)
    if np.all(x[1:] >= x[:-1]):  # sorted (the estimation base sorts rows by frequency): run lengths
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        counts = np.diff(np.r_[starts, x.size])
        vals = fn(x[starts])
        if isinstance(vals, tuple):
            return tuple(np.repeat(v, counts) for v in vals)
        return np.repeat(vals, counts)
    ux, inv = np.unique(x, return_inverse=True)
    vals = fn(ux)
    if isinstance(vals, tuple):
        return tuple(v[inv] for v in vals)
    return vals[inv]


def check_positive(**params) -> None:
    """Raise InvalidValueError naming the first parameter that is not finite and > 0 (any shape)."""
    for name, value in params.items():
        v = np.asarray(value, dtype=np.float64)
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            raise InvalidValueError(f"parameter {name} must be finite and > 0; got {int(bad.sum())} invalid value(s)",
                                    column=name, n_rows=int(bad.sum()))


def weighted_rows(x, t_x, T, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x, t_x, T, weights)`` as flat float arrays without the rows of weight 0 (the prepared
    weighted evaluators' input); InvalidValueError when their lengths differ."""
    x, t_x, T, w = (np.asarray(v, dtype=np.float64).ravel() for v in (x, t_x, T, weights))
    if not x.size == t_x.size == T.size == w.size:
        raise InvalidValueError(f"x, t_x, T and weights must have the same length; got {x.size}, {t_x.size}, "
                                f"{T.size} and {w.size}", column="weights")
    keep = w != 0
    if not keep.all():
        x, t_x, T, w = x[keep], t_x[keep], T[keep], w[keep]
    return x, t_x, T, w
