"""Fast Pareto/NBD kernels: the likelihood's 2F1 term with its parameter derivatives, the
prepared weighted evaluator of the fit, and the forecasting layer's fast paths.

The tail integral
-----------------
The Pareto/NBD likelihood (Fader, Hardie & Lee 2005 note, eqs. 17-19; Schmittlein, Morrison &
Colombo 1987) and its "given alive" predictions need

    I(p1, A, p2, B; tau) = int_tau^inf (A+u)^-p1 (B+u)^-p2 du = (A+tau)^-p1 (B+tau)^(1-p2) G,

(p1, p2 > 0, p1 + p2 > 1). With ``lA = log(A+tau)``, ``lB = log(B+tau)``, ``y = exp(-|lA-lB|)``,
``z = 1 - y`` and ``c = p1 + p2``, Euler's transformation of FHL's 2F1 gives

    G = 2F1(1, p; c; z) * k / (c - 1),   p = p1, k = 1                    when A >= B,
                                         p = p2, k = (A+tau)/(B+tau)      when A <  B,

a series of positive terms ``t_k = (p)_k/(c)_k z^k`` whose ratio ``z (p+k)/(c+k)`` stays below
``z``. Its derivatives with respect to p, c and z are series too (FHL's parameters enter the
Pochhammer ratios only):

    d t_k/dp = t_k P_k,  d t_k/dc = -t_k Q_k,  d t_k/dz = k t_k / z,
    P_k = sum_{j<k} 1/(p+j) = psi(p+k) - psi(p),  Q_k = psi(c+k) - psi(c),

and the second derivatives add ``-sum 1/(p+j)^2`` (trigamma differences) to the squares. All
sums have positive terms (or one sign), so they are accurate to a few ulps; the series stops
when the next terms, bounded by a geometric tail in z, are below 1e-17 of the sum. Where
``z > 0.98`` for derivatives, ``z > 0.99`` for values (the series would need hundreds or thousands
of terms), the same integral is taken in the form
``G = exp(-lB) int exp(h(w)) dw``, ``h(w) = w - p1 log(1+e^(w-lA)) - p2 log(1+e^(w-lB))``
(log-concave in w), by the guarded Gauss-Legendre panels of
:func:`clvmodels.math.paretonbd.log_integral_concave`, and the derivatives are moments of
the same quadrature (``d log G = E[dh]``, ``d2 log G = E[d2h] + Cov(dh)``).

Derivatives are returned in ``v = (p1, lA, p2, lB)``: for the likelihood's F
(p1 = r+x, A = alpha, p2 = s+1, B = beta) that is the order of (r, alpha, s, beta), and the chain
rule to natural parameters is diagonal.
"""

from __future__ import annotations

import threading

import numpy as np
from scipy import special

from .special import weighted_rows

__all__ = ["log_g", "ParetoRows", "row_loglik", "PNBDAliveFactors", "PAliveContext", "p_alive_shared"]

Z_SERIES = 0.98      # above this z the quadrature is used for derivatives (the series' tail carries k^2 factors)
Z_SERIES_VALUE = 0.99   # ... and for values (at most ~4,000 terms of 4 operations: still cheaper)
_TOL = 1e-17
_MAX_TERMS = 6000
_CHUNK = 8192
_QCHUNK = 128       # elements per quadrature call (~1,100 nodes each, ~20 temporaries)


# --------------------------------------------------------------------------------------------
# the 2F1(1, p; c; z) series with derivatives
# --------------------------------------------------------------------------------------------
def _series(p, c, z, order):
    """log 2F1(1, p; c; z) and its derivatives in (p, c, z) (1-D arrays, 0 <= z <= Z_SERIES).

    Returns (L, d, h, ok): d = (Lp, Lc, Lz) (order >= 1), h = 3x3 nested tuple (order 2), ok a
    mask of converged elements.
    """
    n = z.size
    if order == 0 and n:
        return _series_value(p, c, z)
    # k = 0 and k = 1
    rho1 = p / c
    t = rho1 * z
    S = 1.0 + t
    if order >= 1:
        P = 1.0 / p
        Q = 1.0 / c
        Sp = t * P
        Sc = t * Q
        Sz = rho1.copy()
    if order >= 2:
        P2 = P * P
        Q2 = Q * Q
        Spp = np.zeros(n)
        Scc = 2.0 * t * Q2
        Spc = -t * P * Q
        Spz = rho1 * P
        Scz = -rho1 * Q
        Szz = np.zeros(n)
    # k >= 2: u_k = rho_k z^(k-2), t_k = u_k z^2
    u = rho1 * (p + 1.0) / (c + 1.0)
    z2 = z * z
    ok = np.zeros(n, dtype=bool)
    out_idx = np.arange(n)
    res = {}
    act = np.arange(n)
    k = 2
    pp, cc, zz, zz2 = p, c, z, z2

    def store(sel, pos):
        res.setdefault("idx", []).append(pos)
        res.setdefault("S", []).append(S[sel])
        if order >= 1:
            for name, arr in (("Sp", Sp), ("Sc", Sc), ("Sz", Sz)):
                res.setdefault(name, []).append(arr[sel])
        if order >= 2:
            for name, arr in (("Spp", Spp), ("Scc", Scc), ("Spc", Spc), ("Spz", Spz), ("Scz", Scz), ("Szz", Szz)):
                res.setdefault(name, []).append(arr[sel])

    while True:
        if k > 2:
            ratio = (pp + (k - 1.0)) / (cc + (k - 1.0))
            u *= zz
            u *= ratio
        t = u * zz2
        S += t
        if order >= 1:
            ip = 1.0 / (pp + (k - 1.0))
            ic = 1.0 / (cc + (k - 1.0))
            P += ip
            Q += ic
            tz = u * (k * zz)              # k t_k / z
            Sp += t * P
            Sc += t * Q
            Sz += tz
        if order >= 2:
            P2 += ip * ip
            Q2 += ic * ic
            Spp += t * (P * P - P2)
            Scc += t * (Q * Q + Q2)
            Spc -= t * P * Q
            Spz += tz * P
            Scz -= tz * Q
            Szz += (k * (k - 1.0)) * u
        if k % 4 == 0 or k >= _MAX_TERMS:
            # the tail after t_k is below t_k z/(1-z) (term ratios < z); the derivative sums carry
            # factors up to k^2 (P_k, Q_k ~ log k): bounded by (k+1) (1+P+Q) relative to their size
            f = zz / (1.0 - zz)
            if order >= 1:
                f = f * (k + 1.0) * (1.0 + P + Q)
            done = t * f <= _TOL * S
            if k >= _MAX_TERMS:
                fin = np.ones(act.size, dtype=bool)
            else:
                fin = done
            if fin.any():
                ok[act[done]] = True
                store(fin, act[fin])
                keep = ~fin
                if not keep.any():
                    break
                act = act[keep]
                pp, cc, zz, zz2, u, S = pp[keep], cc[keep], zz[keep], zz2[keep], u[keep], S[keep]
                if order >= 1:
                    P, Q, Sp, Sc, Sz = P[keep], Q[keep], Sp[keep], Sc[keep], Sz[keep]
                if order >= 2:
                    P2, Q2, Spp, Scc, Spc, Spz, Scz, Szz = (a[keep] for a in (P2, Q2, Spp, Scc, Spc, Spz, Scz, Szz))
        k += 1
    idx = np.concatenate(res["idx"])
    inv = np.empty(n, dtype=np.intp)
    inv[idx] = np.arange(n)
    col = {name: np.concatenate(v)[inv] for name, v in res.items() if name != "idx"}
    del out_idx
    S = col["S"]
    L = np.log(S)
    if order < 1:
        return L, None, None, ok
    Lp, Lc, Lz = col["Sp"] / S, -col["Sc"] / S, col["Sz"] / S
    if order < 2:
        return L, (Lp, Lc, Lz), None, ok
    Lpp = col["Spp"] / S - Lp * Lp
    Lcc = col["Scc"] / S - Lc * Lc
    Lpc = col["Spc"] / S - Lp * Lc
    Lpz = col["Spz"] / S - Lp * Lz
    Lcz = col["Scz"] / S - Lc * Lz
    Lzz = col["Szz"] / S - Lz * Lz
    return L, (Lp, Lc, Lz), ((Lpp, Lpc, Lpz), (Lpc, Lcc, Lcz), (Lpz, Lcz, Lzz)), ok


def _series_value(p, c, z):
    """log 2F1(1, p; c; z) alone: a fixed number of terms for the whole batch, from the largest z
    (terms ratio below z: the tail after k terms is below z^k/(1-z) < 1e-17), no convergence
    checks or compaction (the values path of the forecasts). Non-finite z (a NaN parameter) is
    left out of that count and reported as not converged, so it cannot set K for the batch."""
    finite = np.isfinite(z)
    zmax = float(z.max(initial=0.0, where=finite))
    if zmax <= 0.0:
        return np.where(finite, 0.0, np.nan), None, None, finite
    if zmax < 1.0:      # (log_g sends z > Z_SERIES_VALUE to the quadrature; z = 1 would never stop)
        K = int(min(_MAX_TERMS, np.ceil(np.log(_TOL * (1.0 - zmax)) / np.log(zmax)) + 1))
    else:
        K = _MAX_TERMS
    S = np.ones(z.size)
    t = np.ones(z.size)
    ratio = np.empty(z.size)
    tmp = np.empty(z.size)
    for k in range(K):
        np.add(p, k, out=ratio)
        np.add(c, k, out=tmp)
        ratio /= tmp
        ratio *= z
        t *= ratio
        S += t
    if K < _MAX_TERMS:
        ok = finite
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = finite & (z < 1.0) & (t * (z / (1.0 - z)) <= _TOL * S)
    return np.log(S), None, None, ok


def _series_log_g(p1, lA, p2, lB, order):
    """log G and derivatives in v = (p1, lA, p2, lB) by the series (every z <= Z_SERIES)."""
    n = p1.size
    delta = lA - lB
    bA = delta >= 0
    y = np.exp(-np.abs(delta))
    z = -np.expm1(-np.abs(delta))
    p = np.where(bA, p1, p2)
    c = p1 + p2
    a = c - 1.0
    L, d, h, ok = _series(p, c, z, order)
    logg = L - np.log(a) + np.where(bA, 0.0, delta)
    logg[~ok] = np.nan          # not converged within _MAX_TERMS: log_g redoes these by the quadrature
    if order < 1:
        return logg, None, None
    Lp, Lc, Lz = d
    sg = np.where(bA, 1.0, -1.0)
    fa = bA.astype(np.float64)
    # d(p, c, z)/dv, v = (p1, lA, p2, lB)
    zero = np.zeros(n)
    one = np.ones(n)
    J = np.array([[fa, zero, 1.0 - fa, zero],      # dp/dv
                  [one, zero, one, zero],          # dc/dv
                  [zero, sg * y, zero, -sg * y]])  # dz/dv
    g = Lp * J[0] + Lc * J[1] + Lz * J[2]
    g[0] -= 1.0 / a
    g[2] -= 1.0 / a
    nb = 1.0 - fa
    g[1] += nb
    g[3] -= nb
    if order < 2:
        return logg, g, None
    Hs = np.array([[h[0][0], h[0][1], h[0][2]], [h[1][0], h[1][1], h[1][2]], [h[2][0], h[2][1], h[2][2]]])
    H = np.einsum("abn,ain,bjn->ijn", Hs, J, J)
    zy = Lz * y
    H[1, 1] -= zy
    H[3, 3] -= zy
    H[1, 3] += zy
    H[3, 1] += zy
    ia2 = 1.0 / (a * a)
    for i in (0, 2):
        for j in (0, 2):
            H[i, j] += ia2
    return logg, g, H


def _quad_log_g(p1, lA, p2, lB, order):
    """log G and derivatives in v = (p1, lA, p2, lB) by the log-concave quadrature (any z)."""
    from .paretonbd import log_integral_concave

    n = p1.size
    P1, P2, LA, LB = p1[:, None], p2[:, None], lA[:, None], lB[:, None]

    def h(w):
        return w - P1 * np.logaddexp(0.0, w - LA) - P2 * np.logaddexp(0.0, w - LB)

    def dh(w):
        return 1.0 - P1 * special.expit(w - LA) - P2 * special.expit(w - LB)

    nodes, terms, hmax = log_integral_concave(h, dh, np.full(n, -np.inf), np.full(n, np.inf), np.minimum(lA, lB),
                                              kinks=(lA, lB), return_nodes=True)
    top = terms.max(axis=1, keepdims=True)
    wts = np.exp(terms - top)
    tot = wts.sum(axis=1, keepdims=True)
    logg = hmax + top[:, 0] + np.log(tot[:, 0]) - lB
    if order < 1:
        return logg, None, None
    wts /= tot
    a1 = np.logaddexp(0.0, nodes - LA)
    a2 = np.logaddexp(0.0, nodes - LB)
    s1 = special.expit(nodes - LA)
    s2 = special.expit(nodes - LB)
    dv = np.stack([-a1, P1 * s1, -a2, P2 * s2])             # (4, n, m)
    E = np.einsum("inm,nm->in", dv, wts)
    g = E.copy()
    g[3] -= 1.0
    if order < 2:
        return logg, g, None
    H = np.einsum("inm,jnm,nm->ijn", dv, dv, wts) - E[:, None, :] * E[None, :, :]
    e01 = np.einsum("nm,nm->n", s1, wts)
    e23 = np.einsum("nm,nm->n", s2, wts)
    H[0, 1] += e01
    H[1, 0] += e01
    H[2, 3] += e23
    H[3, 2] += e23
    H[1, 1] -= p1 * np.einsum("nm,nm->n", s1 * (1.0 - s1), wts)
    H[3, 3] -= p2 * np.einsum("nm,nm->n", s2 * (1.0 - s2), wts)
    return logg, g, H


def log_g(p1, lA, p2, lB, order=0):
    """log G of the tail integral (module docstring) with its gradient (4, n) and Hessian (4, 4, n)
    in ``v = (p1, lA, p2, lB)``; 1-D inputs of equal length. Series where ``z <= Z_SERIES``,
    quadrature elsewhere."""
    p1, lA, p2, lB = (np.ascontiguousarray(np.ravel(v), dtype=np.float64) for v in np.broadcast_arrays(p1, lA, p2, lB))
    n = p1.size
    logg = np.empty(n)
    g = np.empty((4, n)) if order >= 1 else None
    H = np.empty((4, 4, n)) if order >= 2 else None
    z_big = np.abs(lA - lB) > -np.log1p(-(Z_SERIES if order >= 1 else Z_SERIES_VALUE))

    def run(idx, fn, chunk):
        for c0 in range(0, idx.size, chunk):
            sel = idx[c0:c0 + chunk]
            lv, gv, hv = fn(p1[sel], lA[sel], p2[sel], lB[sel], order)
            logg[sel] = lv
            if order >= 1:
                g[:, sel] = gv
            if order >= 2:
                H[:, :, sel] = hv

    small = np.flatnonzero(~z_big)
    if small.size > _CHUNK:   # chunks of similar z need similar numbers of terms
        small = small[np.argsort(np.abs(lA[small] - lB[small]), kind="stable")]
    run(small, _series_log_g, _CHUNK)
    run(np.flatnonzero(z_big | np.isnan(logg)), _quad_log_g, _QCHUNK)
    return logg, g, H


# --------------------------------------------------------------------------------------------
# the likelihood: per row, and prepared weighted sums
# --------------------------------------------------------------------------------------------
def _theta_log_g(r, alpha, s, beta, x, tau, order, keys=None):
    """log G of the likelihood's F(tau) (p1 = r+x, A = alpha, p2 = s+1, B = beta) with its gradient
    and Hessian in the natural parameters (r, alpha, s, beta)."""
    ea = alpha + tau
    eb = beta + tau
    lA, lB = np.log(ea), np.log(eb)
    logg, g, H = log_g(r + x, lA, s + 1.0, lB, order)
    if keys is not None:
        keys.update(lA=lA, lB=lB)
    if order < 1:
        return logg, None, None
    iA, iB = 1.0 / ea, 1.0 / eb
    if keys is not None:
        keys.update(iA=iA, iB=iB)
    Jd = np.array([np.ones_like(iA), iA, np.ones_like(iA), iB])
    gv1, gv3 = g[1].copy(), g[3].copy()
    g *= Jd
    if order < 2:
        return logg, g, None
    H *= Jd[:, None, :] * Jd[None, :, :]
    H[1, 1] -= gv1 * iA * iA
    H[3, 3] -= gv3 * iB * iB
    return logg, g, H


def _log_q_terms(r, alpha, s, beta, x, t_x, T, gT, gt, order):
    """log Q and its derivatives for rows with a gap (t_x < T), from log G at T and at t_x.

    ``L = C e1 Q``, ``Q = 1 - s G(T) + s e^D G(t_x)`` with
    ``D = (r+x) log((alpha+T)/(alpha+t_x)) + s log((beta+T)/(beta+t_x))``.
    """
    lgT, dgT, hgT = gT
    lgt, dgt, hgt = gt
    ls = np.log(s)
    laT, lat = np.log(alpha + T), np.log(alpha + t_x)
    lbT, lbt = np.log(beta + T), np.log(beta + t_x)
    D = (r + x) * (laT - lat) + s * (lbT - lbt)
    log_b = ls + D + lgt
    with np.errstate(divide="ignore"):
        log_a = np.log1p(-np.minimum(s * np.exp(lgT), 1.0))
    logq = np.logaddexp(log_a, log_b)
    if order < 1:
        return logq, None, None
    wB = np.exp(log_b - logq)
    gT_ = np.exp(ls + lgT - logq)
    iaT, iat = 1.0 / (alpha + T), 1.0 / (alpha + t_x)
    ibT, ibt = 1.0 / (beta + T), 1.0 / (beta + t_x)
    dD = np.array([laT - lat, (r + x) * (iaT - iat), lbT - lbt, s * (ibT - ibt)])
    U = dD + dgt
    U[2] += 1.0 / s
    V = dgT.copy()
    V[2] += 1.0 / s
    grad = wB * U - gT_ * V
    if order < 2:
        return logq, grad, None
    HD = np.zeros((4, 4) + np.shape(D))
    HD[0, 1] = HD[1, 0] = iaT - iat
    HD[1, 1] = (r + x) * (iat * iat - iaT * iaT)
    HD[2, 3] = HD[3, 2] = ibT - ibt
    HD[3, 3] = s * (ibt * ibt - ibT * ibT)
    dU = HD + hgt
    dU[2, 2] -= 1.0 / (s * s)
    dV = hgT.copy()
    dV[2, 2] -= 1.0 / (s * s)
    hess = (wB * (dU + U[:, None] * U[None, :]) - gT_ * (dV + V[:, None] * V[None, :])
            - grad[:, None] * grad[None, :])
    return logq, grad, hess


def _base_terms(r, alpha, s, beta, x, T, order):
    """log(C e1) per row and its derivatives (no 2F1)."""
    laT, lbT = np.log(alpha + T), np.log(beta + T)
    ll = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
          - (r + x) * laT - s * lbT)
    if order < 1:
        return ll, None, None
    iaT, ibT = 1.0 / (alpha + T), 1.0 / (beta + T)
    n = np.shape(ll)
    g = np.array(np.broadcast_arrays(special.digamma(r + x) - special.digamma(r) + np.log(alpha) - laT,
                                     r / alpha - (r + x) * iaT, np.log(beta) - lbT, s / beta - s * ibT))
    if order < 2:
        return ll, g, None
    H = np.zeros((4, 4) + n)
    H[0, 0] = special.polygamma(1, r + x) - special.polygamma(1, r)
    H[0, 1] = H[1, 0] = 1.0 / alpha - iaT
    H[1, 1] = -r / alpha ** 2 + (r + x) * iaT * iaT
    H[2, 3] = H[3, 2] = 1.0 / beta - ibT
    H[3, 3] = -s / beta ** 2 + s * ibT * ibT
    return ll, g, H


def row_loglik(r, alpha, s, beta, x, t_x, T, order=0):
    """Per-row log-likelihood (FHL note eqs. 17-19) with its gradient (4, n) and Hessian (4, 4, n)
    in (r, alpha, s, beta); scalar parameters, 1-D data."""
    r, alpha, s, beta = (float(v) for v in (r, alpha, s, beta))
    x, t_x, T = (np.ascontiguousarray(np.ravel(v), dtype=np.float64) for v in np.broadcast_arrays(x, t_x, T))
    ll, g, H = _base_terms(r, alpha, s, beta, x, T, order)
    gap = np.flatnonzero(t_x < T)
    if gap.size:
        xg, txg, Tg = x[gap], t_x[gap], T[gap]
        both = _theta_log_g(r, alpha, s, beta, np.concatenate([xg, xg]), np.concatenate([Tg, txg]), order)
        m = gap.size
        gT = tuple(None if v is None else v[..., :m] for v in both)
        gt = tuple(None if v is None else v[..., m:] for v in both)
        lq, gq, hq = _log_q_terms(r, alpha, s, beta, xg, txg, Tg, gT, gt, order)
        ll[gap] += lq
        if order >= 1:
            g[:, gap] += gq
        if order >= 2:
            H[:, :, gap] += hq
    return ll, g, H


class ParetoRows:
    """Pareto/NBD rows prepared once for many weighted evaluations (the optimiser's kernel).

    ``rows(r, alpha, s, beta, order)`` returns ``sum_i w_i loglik_i`` (order 0), with its gradient
    (order 1) and Hessian (order 2) in (r, alpha, s, beta). Per evaluation:

    * the 2F1 terms are evaluated once per distinct (x, tau) in each chunk of rows (rows are sorted
      by (x, T), so customers of one cohort share their F(T); every customer without repeat
      purchases shares F(0) at x = 0);
    * rows without a gap (t_x = T) have no 2F1 term at all; the terms that depend on x only
      (log-gamma, digamma, trigamma) are evaluated once per distinct x.
    """

    _CHUNK = 1 << 15

    def __init__(self, x, t_x, T, weights, blas=False):
        x, t_x, T, w = weighted_rows(x, t_x, T, weights)
        self._dot = np.dot if blas else (lambda a, b: np.einsum("i,i->", a, b))
        self.W = float(w.sum())
        ux, xi = np.unique(x, return_inverse=True)
        self.ux = ux
        self.Wx = np.bincount(xi, weights=w, minlength=ux.size)
        self.x, self.T, self.w = x, T, w
        self.WX = float(self._dot(w, x))
        gap = t_x < T
        gx, gt, gT, gw = x[gap], t_x[gap], T[gap], w[gap]
        order = np.lexsort((gt, gT, gx))
        gx, gt, gT, gw = gx[order], gt[order], gT[order], gw[order]
        self.chunks = []
        for c0 in range(0, gx.size, self._CHUNK):
            c1 = min(gx.size, c0 + self._CHUNK)
            cx, ct, cT, cw = gx[c0:c1], gt[c0:c1], gT[c0:c1], gw[c0:c1]
            m = c1 - c0
            # distinct (x, tau) as complex numbers x + i tau: one 1-D sort (np.unique(axis=0) sorts
            # row views, ~10x slower)
            keys = np.concatenate([cx + 1j * cT, cx + 1j * ct])
            uk, kinv = np.unique(keys, return_inverse=True)
            kinv = kinv.ravel()
            self.chunks.append((cx, ct, cT, cw, uk.real.copy(), uk.imag.copy(), kinv[:m], kinv[m:]))

    def __call__(self, r, alpha, s, beta, order=0):
        r, alpha, s, beta = (float(v) for v in (r, alpha, s, beta))
        dot = self._dot
        x, T, w, W = self.x, self.T, self.w, self.W
        ux, Wx = self.ux, self.Wx
        # ---- the closed-form part: log(C e1) summed over every row ----------------------------
        laT, lbT = np.log(alpha + T), np.log(beta + T)
        S_la, S_lb = dot(w, laT), dot(w, lbT)
        wx = w * x
        S_xla = dot(wx, laT)
        total = (float(dot(Wx, special.gammaln(r + ux))) - W * special.gammaln(r) + W * r * np.log(alpha)
                 + W * s * np.log(beta) - r * S_la - S_xla - s * S_lb)
        if order >= 1:
            iaT, ibT = 1.0 / (alpha + T), 1.0 / (beta + T)
            S_ia, S_xia, S_ib = dot(w, iaT), dot(wx, iaT), dot(w, ibT)
            grad = np.array([float(dot(Wx, special.digamma(r + ux))) - W * special.digamma(r) + W * np.log(alpha) - S_la,
                             W * r / alpha - r * S_ia - S_xia,
                             W * np.log(beta) - S_lb,
                             W * s / beta - s * S_ib])
        if order >= 2:
            iaT2 = iaT * iaT
            S_ia2, S_xia2, S_ib2 = dot(w, iaT2), dot(wx, iaT2), dot(w, ibT * ibT)
            hess = np.zeros((4, 4))
            hess[0, 0] = float(dot(Wx, special.polygamma(1, r + ux))) - W * special.polygamma(1, r)
            hess[0, 1] = hess[1, 0] = W / alpha - S_ia
            hess[1, 1] = -W * r / alpha ** 2 + r * S_ia2 + S_xia2
            hess[2, 3] = hess[3, 2] = W / beta - S_ib
            hess[3, 3] = -W * s / beta ** 2 + s * S_ib2
        # ---- the 2F1 part: rows with t_x < T ----------------------------------------------
        for cx, ct, cT, cw, kx, ktau, iT, it in self.chunks:
            keys = {}
            lg, dg, hg = _theta_log_g(r, alpha, s, beta, kx, ktau, order, keys)
            total += self._chunk(r, alpha, s, beta, cx, ct, cT, cw, lg, dg, hg, iT, it, order,
                                 grad if order >= 1 else None, hess if order >= 2 else None, keys)
        if order < 1:
            return total
        if order < 2:
            return total, grad
        return total, grad, 0.5 * (hess + hess.T)

    def _chunk(self, r, alpha, s, beta, x, t_x, T, w, lg, dg, hg, iT, it, order, grad, hess, keys):
        """Adds one chunk's log Q terms (see :func:`_log_q_terms`) to ``grad`` and ``hess`` in place
        and returns its weighted log-likelihood. Sums over rows are matrix products; the 2F1
        Hessians enter once per key through per-key sums of the row weights."""
        dot = self._dot
        lgT, lgt = lg[iT], lg[it]
        ls = np.log(s)
        lA, lB = keys["lA"], keys["lB"]              # log(alpha + tau), log(beta + tau) of the keys
        dla, dlb = lA[iT] - lA[it], lB[iT] - lB[it]
        rx = r + x
        log_b = ls + rx * dla + s * dlb + lgt
        with np.errstate(divide="ignore"):
            log_a = np.log1p(-np.minimum(s * np.exp(lgT), 1.0))
        logq = np.logaddexp(log_a, log_b)
        total = float(dot(w, logq))
        if order < 1:
            return total
        wB = np.exp(log_b - logq)
        gT_ = np.exp(ls + lgT - logq)
        iA, iB = keys["iA"], keys["iB"]
        iaT, iat, ibT, ibt = iA[iT], iA[it], iB[iT], iB[it]
        dia, dib = iaT - iat, ibT - ibt
        U = dg[:, it]
        U[0] += dla
        U[1] += rx * dia
        U[2] += dlb + 1.0 / s
        U[3] += s * dib
        V = dg[:, iT]
        V[2] += 1.0 / s
        a = w * wB
        b = w * gT_
        grad += U @ a - V @ b
        if order < 2:
            return total
        Gq = U * wB - V * gT_
        hess += (U * a) @ U.T - (V * b) @ V.T - (Gq * w) @ Gq.T
        nk = lg.size
        hess += (hg.reshape(16, nk) @ (np.bincount(it, weights=a, minlength=nk)
                                       - np.bincount(iT, weights=b, minlength=nk))).reshape(4, 4)
        # second derivatives of D and of log s
        ra = float(dot(a, dia))
        hess[0, 1] += ra
        hess[1, 0] += ra
        hess[1, 1] += float(dot(a * rx, iat * iat - iaT * iaT))
        rb = float(dot(a, dib))
        hess[2, 3] += rb
        hess[3, 2] += rb
        hess[3, 3] += s * float(dot(a, ibt * ibt - ibT * ibT))
        hess[2, 2] -= (float(a.sum()) - float(b.sum())) / (s * s)
        return total



# --------------------------------------------------------------------------------------------
# the forecasting layer's "given alive" factors (closed form)
# --------------------------------------------------------------------------------------------
class PNBDAliveFactors:
    """G and H of the Pareto/NBD for groups (x, T) x draws x period ends, in closed form.

    Given alive at T with x repeat purchases, lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T)
    independently (exponential lifetimes are memoryless; SMC 1987, FHL 2005 note), so

        G = E[X(T, T+t) | alive] = E[lambda] E[(1 - e^(-mu t))/mu]
          = (r+x)/(alpha+T) * (beta+T)/(s-1) * [1 - ((beta+T)/(beta+T+t))^(s-1)]   (log form at s = 1),
        H = P(alive at T+t | alive) = ((beta+T)/(beta+T+t))^s.

    The t-dependent factor depends on T only, so it is computed once per distinct T and the
    (x, T) groups are rows of it times (r+x)/(alpha+T). ``block`` bounds the elements of one
    (distinct T x draws x periods) temporary. :meth:`prepare` computes the period reductions of
    ``weights`` once for every distinct T of ``T_all`` when they fit in 32 blocks (distinct T x
    draws x reductions elements), so that :meth:`reduced` only gathers them.
    """

    def __init__(self, r, alpha, s, beta, x_all, T_all, steps, weights=None, keep_full=True, block=2_000_000):
        self.r, self.alpha, self.s, self.beta = (np.asarray(v, dtype=np.float64).ravel() for v in (r, alpha, s, beta))
        self.steps = np.asarray(steps, dtype=np.float64)
        self.weights = weights or {}
        self.block = max(1, int(block))
        self.uT_all = np.unique(np.asarray(T_all, dtype=np.float64))
        self._cache = None

    def prepare(self, n_jobs: int = 1) -> None:
        """Tabulate the period reductions of ``weights`` per distinct T (when they fit, see above)."""
        if self.weights and self.uT_all.size * self.r.size * len(self.weights) <= 32 * self.block:
            self._cache = self._by_T(self.uT_all, self.weights)

    def _by_T(self, uT, weights):
        S, K = self.r.size, self.steps.size
        red = {name: np.empty((uT.size, S)) for name in weights}
        step = max(1, self.block // (S * K))
        for b0 in range(0, uT.size, step):
            sl = slice(b0, min(uT.size, b0 + step))
            M, H = self._t_parts(uT[sl])
            for name, (which, w) in weights.items():
                red[name][sl] = (M if which == "G" else H) @ w
        return red

    def _t_parts(self, uT):
        """(M, H) of shape (len(uT), S, K): M = E[(1 - e^-mu t)/mu | alive at T]
        = (beta+T) l exprel(-(s-1) l) with l = log(1 + t/(beta+T)), exact at s = 1."""
        bT = self.beta[None, :, None] + uT[:, None, None]
        ell = np.log1p(self.steps[None, None, :] / bT)
        s = self.s[None, :, None]
        H = np.exp(-s * ell)
        M = special.exprel((1.0 - s) * ell)
        M *= ell
        M *= bT
        return M, H

    def _rate(self, xg, Tg):
        return (self.r[None, :] + xg[:, None]) / (self.alpha[None, :] + Tg[:, None])

    def __call__(self, xg: np.ndarray, Tg: np.ndarray, want_h: bool = True):
        """(G, H) of shape (len(xg), S, K) (H None unless ``want_h``)."""
        xg, Tg = np.asarray(xg, dtype=np.float64), np.asarray(Tg, dtype=np.float64)
        uT, ti = np.unique(Tg, return_inverse=True)
        M, H = self._t_parts(uT)
        G = M[ti]
        G *= self._rate(xg, Tg)[:, :, None]
        return G, (H[ti] if want_h else None)

    def reduced(self, xg: np.ndarray, Tg: np.ndarray, weights: dict) -> dict:
        """``{name: sum_k w_k F[:, :, k]}`` of shape (len(xg), S) for ``weights`` ``{name: ("G"|"H", w)}``,
        by distinct T (one (distinct T x S x K) block at a time)."""
        xg, Tg = np.asarray(xg, dtype=np.float64), np.asarray(Tg, dtype=np.float64)
        if self._cache is not None and weights is self.weights:
            ti = np.searchsorted(self.uT_all, Tg)
            if np.all(self.uT_all[np.minimum(ti, self.uT_all.size - 1)] == Tg):
                red = self._cache
            else:
                red = None
        else:
            red = None
        if red is None:
            uT, ti = np.unique(Tg, return_inverse=True)
            red = self._by_T(uT, weights)
        rate = self._rate(xg, Tg)
        return {name: (red[name][ti] * rate if which == "G" else red[name][ti])
                for name, (which, _) in weights.items()}


# --------------------------------------------------------------------------------------------
# P(alive now) for many customers x draws: Chebyshev interpolation in log(tau + c) per draw
# --------------------------------------------------------------------------------------------
_CHEB: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_DEGREES = (24, 48, 96)
_CHEB_TOL = 1e-15


def _cheb(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(first-kind nodes (d+1,), M (d+1, d+1)) with coefficients = M @ values."""
    if d not in _CHEB:
        j = np.arange(d + 1)
        theta = np.pi * (j + 0.5) / (d + 1)
        M = 2.0 / (d + 1) * np.cos(np.outer(j, theta))
        M[0] *= 0.5
        _CHEB[d] = (np.cos(theta), M)
    return _CHEB[d]


class _TauFunction:
    """Values ``f(tau)`` (S per tau: one per draw) at many tau, from a Chebyshev interpolant in
    ``w = log(tau + c)`` over [lo, hi] when that converges (coefficient tail below _CHEB_TOL of the
    function's scale), else None (the caller evaluates f directly). ``c`` puts the singularities of
    f (at tau = -alpha, -beta) at w = -inf or off the real axis."""

    def __init__(self, f, lo: float, hi: float, c: float):
        self.c, self.ok = c, False
        self.w0, self.w1 = np.log(lo + c), np.log(hi + c)
        if not self.w1 > self.w0:
            self.w1 = self.w0 + 1e-9
        for d in _DEGREES:
            nodes, M = _cheb(d)
            tau = np.exp(self.w0 + (nodes + 1.0) * 0.5 * (self.w1 - self.w0)) - c
            vals = f(np.maximum(tau, 0.0))                           # (d+1, S)
            coef = M @ vals
            scale = np.maximum(np.abs(vals).max(axis=0), 1.0)
            if np.all(np.isfinite(coef)) and np.all(np.abs(coef[-3:]).max(axis=0) <= _CHEB_TOL * scale * (d + 1)):
                nz = np.flatnonzero(np.abs(coef).max(axis=1) > 1e-18 * scale.max())
                self.coef = coef[: (int(nz[-1]) + 1 if nz.size else 1)]
                self.ok = True
                return

    def __call__(self, tau: np.ndarray) -> np.ndarray:
        """(len(tau), S) by one matrix product with the Chebyshev polynomials at tau."""
        u = np.clip((2.0 * np.log(tau + self.c) - (self.w0 + self.w1)) / (self.w1 - self.w0), -1.0, 1.0)
        V = np.cos(np.outer(np.arccos(u), np.arange(self.coef.shape[0])))
        return V @ self.coef


class PAliveContext:
    """What P(alive now) computations share across calls for one set of per-draw parameters: the
    tau range of all customers and the Chebyshev interpolants of log G per frequency x (built once,
    under a lock: several threads may ask)."""

    def __init__(self, r, alpha, s, beta, lo: float, hi: float):
        self.params = tuple(np.asarray(v, dtype=np.float64).ravel() for v in (r, alpha, s, beta))
        self.lo, self.hi = float(lo), float(hi)
        self.c = float(np.minimum(self.params[1], self.params[3]).min())
        self._g: dict[float, object] = {}
        self._lock = threading.Lock()

    def serves(self, r, alpha, s, beta, lo: float, hi: float) -> bool:
        """True when these are the context's parameters and [lo, hi] lies within its tau range
        (outside it the interpolants would be clipped: wrong values, not an error)."""
        return (self.lo <= lo and hi <= self.hi
                and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(self.params, (r, alpha, s, beta))))

    def g_fn(self, x: float, build):
        with self._lock:
            hit = self._g.get(x)
        if hit is None:
            fn = _TauFunction(build, self.lo, self.hi, self.c)
            with self._lock:
                hit = self._g.setdefault(x, fn if fn.ok else False)
        return hit or None


def p_alive_shared(r, alpha, s, beta, x, t_x, T, block=262_144, context: PAliveContext | None = None):
    """P(alive now) (n, S) for customers with t_x < T and per-draw parameter vectors (S,).

    ``P(alive) = 1 / (A + e^D)`` with ``A = 1 - s G(T)`` and ``D = log s + log G(t_x) +
    (r+x) log((alpha+T)/(alpha+t_x)) + s log((beta+T)/(beta+t_x))`` (see :func:`_log_q_terms`).
    A and the logs at T are computed once per distinct (x, T), the logs at t_x directly. ``log G``
    at t_x comes from a Chebyshev interpolant in ``w = log(tau + c)`` per frequency x and draw
    (c = the smallest min(alpha, beta) of the draws, which puts its singularities at tau = -alpha,
    -beta off the interval), evaluated by one matrix product per block of customers; directly at
    the distinct t_x when a frequency has few of them (x = 0: only t_x = 0) or the interpolant does
    not converge to ~1e-15 of its scale. ``context`` (:class:`PAliveContext`) keeps the
    interpolants across calls (a forecast's chunks).
    """
    r, alpha, s, beta = (np.asarray(v, dtype=np.float64).ravel() for v in (r, alpha, s, beta))
    S, n = r.size, x.size
    out = np.empty((n, S))
    if n == 0:
        return out
    order = np.argsort(x, kind="stable")
    xs, ts, Ts = x[order], t_x[order], T[order]
    lo, hi = float(min(ts.min(), Ts.min())), float(max(ts.max(), Ts.max()))
    if context is None or not context.serves(r, alpha, s, beta, lo, hi):
        context = PAliveContext(r, alpha, s, beta, lo, hi)
    many = 4 * (_DEGREES[0] + 1)

    def logs(tau):
        return np.log(alpha[None, :] + tau[:, None]), np.log(beta[None, :] + tau[:, None])

    def lG(tau, xv):
        m = tau.size
        lA, lB = logs(tau)
        return log_g(np.broadcast_to((r + xv)[None, :], (m, S)), lA, np.broadcast_to((s + 1.0)[None, :], (m, S)),
                     lB, 0)[0].reshape(m, S)

    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]
    rows = max(1, int(block) // S)
    ls = np.log(s)
    for g0, g1 in zip(starts, ends):
        xv = float(xs[g0])
        rx = r + xv
        gt, gT = ts[g0:g1], Ts[g0:g1]
        uT, iT = np.unique(gT, return_inverse=True)
        laT, lbT = logs(uT)
        lgT = lG(uT, xv)
        A = 1.0 - np.minimum(s * np.exp(lgT), 1.0)         # 1 - s G(T): >= 0
        baseT = rx * laT + s * lbT + ls                     # D without the t_x terms
        fn = None
        if g1 - g0 > many and np.unique(gt).size > many:
            fn = context.g_fn(xv, lambda tau, xv=xv: lG(tau, xv))
        for b0 in range(g0, g1, rows):
            b1 = min(g1, b0 + rows)
            tb = ts[b0:b1]
            ib = iT[b0 - g0:b1 - g0]
            if fn is not None:
                lgt = fn(tb)
                la_t, lb_t = logs(tb)
            else:   # few distinct t_x (x = 0: all at 0), or no convergence: directly, once each
                uu, iu = np.unique(tb, return_inverse=True)
                la_u, lb_u = logs(uu)
                la_t, lb_t, lgt = la_u[iu], lb_u[iu], lG(uu, xv)[iu]
            D = baseT[ib]
            la_t *= rx
            D -= la_t
            lb_t *= s
            D -= lb_t
            D += lgt
            np.exp(D, out=D)
            D += A[ib]
            np.reciprocal(D, out=D)
            out[order[b0:b1]] = D
    return out
