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

from .special import log_bg_mean_purchases, per_unique, weighted_rows

__all__ = [
    "p_alive_ahead", "p_no_purchase_ahead", "p_alive_grid", "alive_factors",
    "loglik", "loglik_and_grad", "grad_loglik", "expected_purchases_new", "p_purchases",
    "conditional_expected_purchases", "p_alive", "log_p_alive", "weighted_loglik_and_grad",
    "weighted_evaluator", "FamilyRows",
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
    """Per-customer log-likelihood (Fader, Hardie & Lee 2005, eq. 6).

    Examples
    --------
    CDNOW estimates of Fader, Hardie & Lee (2005) and three customers of the CDNOW sample (weeks):

    >>> from clvmodels.math import bgnbd
    >>> params = (0.243, 4.414, 0.793, 2.426)                     # r, alpha, a, b
    >>> x, t_x, T = np.array([2, 1, 0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> bgnbd.loglik(*params, x, t_x, T).round(4).tolist()
    [-9.4586, -4.4691, -0.5547]

    Summed over the whole calibration sample it is the paper's maximised log-likelihood (-9582.4):

    >>> import clvmodels as clv
    >>> s = clv.datasets.cdnow_summary()
    >>> round(float(bgnbd.loglik(*params, s["frequency"], s["recency"], s["T"]).sum()), 1)
    -9582.4
    """
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

    Examples
    --------
    >>> from clvmodels.math import bgnbd
    >>> x, t_x, T = np.array([2, 1, 0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> ll, grad = bgnbd.loglik_and_grad(0.243, 4.414, 0.793, 2.426, x, t_x, T)
    >>> grad.shape                                                # (r, alpha, a, b) x customers
    (4, 3)
    >>> grad[:, 0].round(4).tolist()                              # customer with x = 2
    [2.6962, -0.0002, -0.2029, 0.0766]
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
    """Gradient of :func:`loglik` with respect to (r, alpha, a, b), shape (4,) + data shape.

    Examples
    --------
    >>> from clvmodels.math import bgnbd
    >>> bgnbd.grad_loglik(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86).round(4).tolist()
    [2.6962, -0.0002, -0.2029, 0.0766]
    """
    return loglik_and_grad(r, alpha, a, b, x, t_x, T)[1]


def log_p_alive(r, alpha, a, b, x, t_x, T):
    """log P(alive at T | x, t_x, T) (Fader, Hardie & Lee 2008 note; = 0 when x = 0).

    Examples
    --------
    >>> from clvmodels.math import bgnbd
    >>> bgnbd.log_p_alive(0.243, 4.414, 0.793, 2.426, [2, 1, 0], [30.43, 1.71, 0.0], 38.86).round(4).tolist()
    [-0.3194, -1.5507, 0.0]
    """
    r, alpha, a, b, x, t_x, T = _f(r, alpha, a, b, x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(a) - np.log(b + x - 1) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
        return np.where(x > 0, -np.logaddexp(0.0, y), 0.0)


def p_alive(r, alpha, a, b, x, t_x, T):
    """P(alive at T | x, t_x, T) = 1 / (1 + 1{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model").

    Examples
    --------
    Three CDNOW customers (weeks) under the estimates of Fader, Hardie & Lee (2005): a customer
    without repeat purchases is alive for sure in the BG/NBD.

    >>> from clvmodels.math import bgnbd
    >>> bgnbd.p_alive(0.243, 4.414, 0.793, 2.426, [2, 1, 0], [30.43, 1.71, 0.0], 38.86).round(4).tolist()
    [0.7266, 0.2121, 1.0]
    """
    return np.exp(log_p_alive(r, alpha, a, b, x, t_x, T))


def expected_purchases_new(r, alpha, a, b, t):
    """E[X(t)] for a new customer (eq. 7):
    (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))],
    evaluated as the guarded mean G(r, t/alpha, a, b) (finite also at a = 1 and a + b <= 1).

    Examples
    --------
    >>> from clvmodels.math import bgnbd
    >>> round(float(bgnbd.expected_purchases_new(0.243, 4.414, 0.793, 2.426, 39.0)), 4)
    1.1967
    >>> bgnbd.expected_purchases_new(0.243, 4.414, 0.793, 2.426, [13.0, 39.0, 78.0]).round(4).tolist()
    [0.5344, 1.1967, 1.8605]
    """
    r, alpha, a, b, t = _f(r, alpha, a, b, t)
    return np.exp(log_bg_mean_purchases(r, t / alpha, a, b))


def p_purchases(r, alpha, a, b, n, t):
    """P(X(t) = n) for a new customer (eq. 8).

    B(a, b+n)/B(a, b) NB(n) + 1{n>0} B(a+1, b+n-1)/B(a, b) P(N(t) >= n), where NB is the
    negative binomial pmf of purchases with rate Gamma(r, alpha) over t and
    P(N(t) >= n) = 1 - sum_{j<n} NB(j) = I_{t/(alpha+t)}(n, r) (regularised incomplete beta).

    Examples
    --------
    The distribution of purchases of a new customer over 39 weeks (CDNOW estimates):

    >>> from clvmodels.math import bgnbd
    >>> bgnbd.p_purchases(0.243, 4.414, 0.793, 2.426, [0, 1, 2, 3], 39.0).round(4).tolist()
    [0.5738, 0.1994, 0.0854, 0.0459]
    >>> round(float(bgnbd.p_purchases(0.243, 4.414, 0.793, 2.426, np.arange(200), 39.0).sum()), 6)
    1.0
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

    Examples
    --------
    The customer of Fader, Hardie & Lee (2005) with x = 2, t_x = 30.43, T = 38.86 expects 1.226
    purchases in the next 39 weeks (the paper's number); with one early purchase, far fewer:

    >>> from clvmodels.math import bgnbd
    >>> round(float(bgnbd.conditional_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39.0)), 3)
    1.226
    >>> bgnbd.conditional_expected_purchases(0.243, 4.414, 0.793, 2.426, [2, 1, 0], [30.43, 1.71, 0.0], 38.86,
    ...                                      39.0).round(3).tolist()
    [1.226, 0.203, 0.195]
    """
    r, alpha, a, b, x, t_x, T, t = _f(r, alpha, a, b, x, t_x, T, t)
    log_g = log_bg_mean_purchases(r + x, t / (alpha + T), a, b + x)
    return np.exp(log_g + log_p_alive(r, alpha, a, b, x, t_x, T))


def _dot(a, b):
    """Inner product without BLAS (a threaded OpenBLAS dot is slow on a busy machine)."""
    return np.einsum("i,i->", a, b)


def _unit_dot(w, b):
    """dot(w, b) for w all ones."""
    return np.add.reduce(b)


class FamilyRows:
    """BG/NBD-family rows prepared once for many weighted evaluations (the optimiser's kernel).

    ``shift`` 0 is the BG/NBD (Fader, Hardie & Lee 2005, eq. 6), 1 the MBG/NBD (Batislam et al.
    2007). Calling ``rows(r, alpha, a, b, order)`` returns ``sum_i w_i loglik_i`` (order 0), with
    its gradient (order 1) and its Hessian (order 2) with respect to (r, alpha, a, b), for scalar
    parameters. The formulas are those of :func:`loglik` and :func:`loglik_and_grad`, arranged
    so that each evaluation is one pass over the rows:

    * rows are sorted by x once; terms that depend on x only (log-gamma, digamma, trigamma,
      log(b+x-1), 1/(b+x-1)) are evaluated once per distinct x and enter through per-x sums;
    * BG/NBD rows with x = 0 have no dropout term: their log-likelihood is -r log1p(T/alpha),
      so they cost one log1p and one reciprocal per row;
    * the other rows cost two logs, two reciprocals, one exp and one log1p: their
      log-likelihood is r log(alpha) - (r+x) log(alpha+T) + softplus(u) with
      u = log(a/(b+x-1)) + (r+x) log((alpha+T)/(alpha+t_x)) (the log-ratio of the two terms of
      eq. 6), softplus(u) = log1p(e^u) (u + log1p(e^-u) past u = 700, where e^u would
      overflow); the weight of the dropout term is w = e^u/(1+e^u), and 1-w = 1/(1+e^u);
    * rows run in cache-sized chunks; sums are inner products: ``einsum`` by default, BLAS
      ``dot`` with ``blas=True`` (only when the caller has limited BLAS to one thread, as
      ``MLEModel.fit`` does: on a busy machine a threaded OpenBLAS dot costs milliseconds).

    Rows with zero weight are dropped. Data must be 1-D and valid (x whole, 0 <= t_x <= T).

    Examples
    --------
    Prepare the CDNOW rows once, then evaluate the total log-likelihood with its gradient and
    Hessian at the estimates of Fader, Hardie & Lee (2005); the inverse of minus the Hessian gives
    the standard errors:

    >>> import clvmodels as clv
    >>> from clvmodels.math.bgnbd import FamilyRows
    >>> s = clv.datasets.cdnow_summary()
    >>> rows = FamilyRows(s["frequency"], s["recency"], s["T"], np.ones(len(s)))     # shift=0: BG/NBD
    >>> total, grad, hess = rows(0.243, 4.414, 0.793, 2.426, order=2)
    >>> round(float(total), 1), hess.shape
    (-9582.4, (4, 4))
    >>> np.sqrt(np.diag(np.linalg.inv(-hess))).round(3).tolist()    # standard errors of r, alpha, a, b
    [0.013, 0.378, 0.186, 0.706]
    """

    _CHUNK = 1 << 15

    def __init__(self, x, t_x, T, weights, shift=0, blas=False):
        x, t_x, T, w = weighted_rows(x, t_x, T, weights)
        if x.size > 1 and not np.all(x[1:] >= x[:-1]):
            order = np.argsort(x, kind="stable")
            x, t_x, T, w = x[order], t_x[order], T[order], w[order]
        self.shift = int(shift)
        self._dot = np.dot if blas else _dot
        # BG/NBD rows without repeat purchases: no dropout term (block 0)
        n0 = int(np.searchsorted(x, 0.0, side="right")) if self.shift == 0 else 0
        self.T0, self.w0 = T[:n0], w[:n0]
        self.W0 = float(self.w0.sum())
        x1, self.t1, self.T1, self.w1 = x[n0:], t_x[n0:], T[n0:], w[n0:]
        self.x1 = x1
        self.unit = bool(np.all(w == 1.0))  # unit weights (distinct customers): sums instead of dots
        self.wx1 = x1 if self.unit else self.w1 * x1
        self.W1 = float(self.w1.sum())
        self.WX1 = float(self.wx1.sum())
        n1 = x1.size
        if n1:
            starts = np.flatnonzero(np.r_[True, x1[1:] != x1[:-1]])
        else:
            starts = np.zeros(0, dtype=np.intp)
        self.ux = x1[starts]                                    # distinct x (block 1)
        self.Wg = np.add.reduceat(self.w1, starts) if n1 else np.zeros(0)
        # chunks of block 1, each with the distinct-x segments it holds
        bounds = np.r_[starts, n1]
        self.chunks = []
        for c0 in range(0, n1, self._CHUNK):
            c1 = min(c0 + self._CHUNK, n1)
            g0 = int(np.searchsorted(starts, c0, side="right")) - 1
            g1 = int(np.searchsorted(starts, c1, side="left"))
            seg = np.maximum(bounds[g0:g1], c0) - c0
            counts = np.diff(np.r_[seg, c1 - c0])
            self.chunks.append((c0, c1, g0, g1, seg, counts))
        m = min(self._CHUNK, max(n1, n0, 1))
        self._buf = np.empty((12, m))

    def __call__(self, r, alpha, a, b, order=1):
        r, alpha, a, b = float(r), float(alpha), float(a), float(b)
        shift = self.shift
        dot = self._dot
        wdot = _unit_dot if self.unit else dot  # weighted sum: dot(weights, v)
        buf = self._buf
        # ---- block 0: -r log1p(T/alpha) per row (BG/NBD, x = 0) -----------------------------
        S0_L = S0_i = S0_i2 = 0.0
        step = buf.shape[1]
        for c0 in range(0, self.T0.size, step):
            Tc, wc = self.T0[c0:c0 + step], self.w0[c0:c0 + step]
            m = Tc.size
            q, L = buf[0, :m], buf[1, :m]
            np.divide(Tc, alpha, out=q)
            np.log1p(q, out=L)
            S0_L += wdot(wc, L)
            if order >= 1:
                np.add(Tc, alpha, out=q)
                np.divide(1.0, q, out=q)                        # 1/(alpha+T)
                S0_i += wdot(wc, q)
                if order >= 2:
                    np.multiply(q, q, out=L)
                    S0_i2 += wdot(wc, L)
        # ---- block 1: the two-term mixture of eq. 6 -------------------------------------------
        G = self.ux.size
        bx = b + self.ux + (shift - 1)                          # b+x-1 (BG/NBD), b+x (MBG/NBD)
        beta = 1.0 / bx
        k = np.log(a) - np.log(bx)                              # log(a/(b+x-1))
        S_lT = S_xlT = S_sp = S_vD = S_iT = S_xiT = S_vP = S_vdI = 0.0
        S_svDD = S_svPD = S_svPP = S_iT2 = S_xiT2 = S_vPs = 0.0
        V = np.zeros(G)
        Sg = np.zeros(G)
        SDg = np.zeros(G)
        SPg = np.zeros(G)
        reduceat = np.add.reduceat
        for c0, c1, g0, g1, seg, counts in self.chunks:
            m = c1 - c0
            Tc, tc, wc, wxc, xc = (self.T1[c0:c1], self.t1[c0:c1], self.w1[c0:c1], self.wx1[c0:c1],
                                   self.x1[c0:c1])
            iT, it, lT, D, rho, u, y = (buf[j, :m] for j in range(7))
            np.add(Tc, alpha, out=iT)
            np.log(iT, out=lT)                                  # log(alpha+T)
            np.add(tc, alpha, out=it)
            np.log(it, out=D)
            np.subtract(lT, D, out=D)                           # log((alpha+T)/(alpha+t_x)) >= 0
            np.add(xc, r, out=rho)                              # r+x
            np.multiply(rho, D, out=u)
            if g1 - g0 == 1:
                u += k[g0]
            else:
                for j, (s0, cnt) in enumerate(zip(seg, counts)):
                    u[s0:s0 + cnt] += k[g0 + j]                 # u = log(a/(b+x-1)) + (r+x) D
            big = float(u.max()) > 700.0
            np.exp(np.minimum(u, 700.0) if big else u, out=y)
            S_lT += wdot(wc, lT)
            S_xlT += dot(wxc, lT)
            if order >= 1:
                np.divide(1.0, iT, out=iT)                      # 1/(alpha+T)
                np.divide(1.0, it, out=it)                      # 1/(alpha+t_x)
            # softplus(u) = log1p(exp(u)) (= u + log1p(exp(-u)) beyond the overflow guard)
            sp = lT
            np.log1p(y, out=sp)
            if big:
                sp += np.maximum(u - 700.0, 0.0)
            S_sp += wdot(wc, sp)
            if order < 1:
                continue
            opy, v = buf[7, :m], buf[8, :m]
            np.add(y, 1.0, out=opy)
            np.divide(y, opy, out=v)                            # w = sigmoid(u)
            if not self.unit:
                np.multiply(wc, v, out=v)                       # weight x w
            dI, P = u, buf[9, :m]
            S_iT += wdot(wc, iT)
            S_xiT += dot(wxc, iT)
            np.subtract(it, iT, out=dI)                         # 1/(alpha+t_x) - 1/(alpha+T)
            np.multiply(rho, dI, out=P)
            S_vD += dot(v, D)
            S_vP += dot(v, P)
            V[g0:g1] += reduceat(v, seg)
            if order < 2:
                continue
            s, tmp = buf[10, :m], buf[11, :m]
            S_vdI += dot(v, dI)
            np.add(it, iT, out=tmp)
            np.multiply(tmp, P, out=tmp)
            S_vPs += dot(v, tmp)                                # weight w (r+x)(1/(a+t)^2 - 1/(a+T)^2)
            np.multiply(iT, iT, out=tmp)
            S_iT2 += wdot(wc, tmp)
            S_xiT2 += dot(wxc, tmp)
            np.divide(v, opy, out=s)                            # weight w (1 - w)
            Sg[g0:g1] += reduceat(s, seg)
            np.multiply(s, D, out=tmp)
            S_svDD += dot(tmp, D)
            SDg[g0:g1] += reduceat(tmp, seg)
            np.multiply(s, P, out=tmp)
            S_svPD += dot(tmp, D)
            S_svPP += dot(tmp, P)
            SPg[g0:g1] += reduceat(tmp, seg)
        # ---- per-x terms: B(a, b+x+shift)/B(a, b) Gamma(r+x)/Gamma(r) --------------------------
        ux, Wg, W = self.ux, self.Wg, self.W0 + self.W1
        bxs = b + ux + shift
        C = (special.gammaln(r + ux) - special.gammaln(r) + special.gammaln(bxs) - special.gammaln(b)
             - special.gammaln(a + b + ux + shift) + special.gammaln(a + b))
        log_alpha = np.log(alpha)
        # block 1: sum w [r log(alpha) - (r+x) log(alpha+T)] + softplus; block 0: -r log1p(T/alpha)
        total = float(dot(Wg, C)) + r * (log_alpha * self.W1 - S_lT - S0_L) - S_xlT + S_sp
        if order < 1:
            return total
        dg_ab = special.digamma(a + b) - special.digamma(a + b + ux + shift)
        sum_V = float(V.sum())
        g_r = (float(dot(Wg, special.digamma(r + ux) - special.digamma(r))) + log_alpha * self.W1 - S_lT - S0_L
               + S_vD)
        g_alpha = (r / alpha) * W - r * (S_iT + S0_i) - S_xiT - S_vP
        g_a = float(dot(Wg, dg_ab)) + sum_V / a
        g_b = float(dot(Wg, special.digamma(bxs) - special.digamma(b) + dg_ab)) - float(dot(V, beta))
        grad = np.array([g_r, g_alpha, g_a, g_b])
        if order < 2:
            return total, grad
        tg_ab = special.polygamma(1, a + b) - special.polygamma(1, a + b + ux + shift)
        sum_S, sum_SD, sum_SP = float(Sg.sum()), float(SDg.sum()), float(SPg.sum())
        H = np.empty((4, 4))
        H[0, 0] = float(dot(Wg, special.polygamma(1, r + ux) - special.polygamma(1, r))) + S_svDD
        H[0, 1] = W / alpha - S_iT - S0_i - S_vdI - S_svPD
        H[0, 2] = sum_SD / a
        H[0, 3] = -float(dot(beta, SDg))
        H[1, 1] = -r * W / alpha ** 2 + r * (S_iT2 + S0_i2) + S_xiT2 + S_vPs + S_svPP
        H[1, 2] = -sum_SP / a
        H[1, 3] = float(dot(beta, SPg))
        H[2, 2] = float(dot(Wg, tg_ab)) + (sum_S - sum_V) / a ** 2
        H[2, 3] = float(dot(Wg, tg_ab)) - float(dot(beta, Sg)) / a
        H[3, 3] = (float(dot(Wg, special.polygamma(1, bxs) - special.polygamma(1, b) + tg_ab))
                   + float(dot(beta * beta, V + Sg)))
        iu = np.triu_indices(4, 1)
        H[(iu[1], iu[0])] = H[iu]
        return total, grad, H


def _weighted_family(r, alpha, a, b, x, t_x, T, weights, shift):
    """Weighted total log-likelihood and gradient of the BG/NBD (shift 0) / MBG/NBD (shift 1)
    family for scalar parameters and 1-D data (one evaluation of :class:`FamilyRows`)."""
    return FamilyRows(x, t_x, T, weights, shift)(r, alpha, a, b, order=1)


def weighted_evaluator(x, t_x, T, weights, blas=False):
    """Rows prepared for repeated weighted evaluations: ``ev(r, alpha, a, b, order)`` gives the
    total log-likelihood (order 0), its gradient (1) and Hessian (2). See :class:`FamilyRows`.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.math import bgnbd
    >>> s = clv.datasets.cdnow_summary()
    >>> ev = bgnbd.weighted_evaluator(s["frequency"], s["recency"], s["T"], np.ones(len(s)))
    >>> round(float(ev(0.243, 4.414, 0.793, 2.426, order=0)), 1)      # Fader, Hardie & Lee (2005): -9582.4
    -9582.4
    >>> total, grad = ev(0.243, 4.414, 0.793, 2.426, order=1)
    >>> bool(np.abs(grad / len(s)).max() < 0.01)                # per customer, ~0 near the maximum
    True
    """
    return FamilyRows(x, t_x, T, weights, 0, blas=blas)


def weighted_loglik_and_grad(r, alpha, a, b, x, t_x, T, weights):
    """(sum_i w_i loglik_i, its gradient w.r.t. (r, alpha, a, b)) for scalar parameters, 1-D data.

    The optimiser's entry point (eq. 6 and the gradient of :func:`loglik_and_grad`): x-only
    terms are evaluated once per distinct x, see :class:`FamilyRows`.

    Examples
    --------
    Identical customers enter once with their count as weight:

    >>> from clvmodels.math import bgnbd
    >>> x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 30.43]), np.array([38.86, 38.86])
    >>> total, grad = bgnbd.weighted_loglik_and_grad(0.243, 4.414, 0.793, 2.426, x, t_x, T, np.array([3.0, 1.0]))
    >>> round(float(total), 4), grad.shape
    (-11.1227, (4,))
    >>> round(float(bgnbd.loglik(0.243, 4.414, 0.793, 2.426, [0, 0, 0, 2], [0, 0, 0, 30.43], 38.86).sum()), 4)
    -11.1227
    """
    return _weighted_family(r, alpha, a, b, x, t_x, T, weights, 0)


# ----------------------------------------------------------------------------------------------
# the future of a customer alive now (the forecasting layer's factors; see clvmodels.forecast)


def _alive_ahead(r, alpha, a, b, x, T, t, shift):
    """P(alive at T+t | alive at T, x, T) for the BG/NBD (``shift=0``) or MBG/NBD (``shift=1``).

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
    r, alpha, a, b, x, T, t = np.broadcast_arrays(*_f(r, alpha, a, b, x, T, t))
    bp = b + x + shift
    u = t / (alpha + T)
    with np.errstate(over="ignore", invalid="ignore"):
        log_g = log_bg_mean_purchases(r + x, u, a + 1.0, bp)
        frac = np.exp(np.log(a) - np.log(a + bp) + log_g)
    out = np.clip(1.0 - frac, 0.0, 1.0)
    return out[()] if out.ndim == 0 else out


def p_alive_ahead(r, alpha, a, b, x, T, t):
    """P(alive at T+t | alive at T, x, T): the BG/NBD survival ahead (derivation in :func:`_alive_ahead`).

    Examples
    --------
    A customer alive now (week 38.86) with x = 0, 1, 2 repeat purchases: probability to be still
    alive 39 weeks later (CDNOW estimates of Fader, Hardie & Lee 2005):

    >>> from clvmodels.math import bgnbd
    >>> bgnbd.p_alive_ahead(0.243, 4.414, 0.793, 2.426, np.array([0, 1, 2]), 38.86, 39.0).round(4).tolist()
    [0.9556, 0.841, 0.7806]
    """
    return _alive_ahead(r, alpha, a, b, x, T, t, 0.0)


def p_no_purchase_ahead(r, alpha, a, b, x, T, t):
    """P(no purchase in (T, T+t] | alive at T, x, T) for the BG/NBD and MBG/NBD (a and b do
    not enter: a customer alive at T can only drop out after a purchase).

    A BG/NBD customer can only become inactive right after a purchase, so a customer alive at T
    makes no purchase in (T, T+t] exactly when his next Poisson arrival comes after t:
    ``E[exp(-lambda t)]`` with lambda ~ Gamma(r+x, alpha+T), i.e. ``((alpha+T)/(alpha+T+t))^(r+x)``.

    Examples
    --------
    >>> from clvmodels.math import bgnbd
    >>> bgnbd.p_no_purchase_ahead(0.243, 4.414, 0.793, 2.426, np.array([0, 1, 2]), 38.86, 39.0).round(4).tolist()
    [0.8554, 0.4499, 0.2367]
    >>> round(float(((4.414 + 38.86) / (4.414 + 38.86 + 39.0)) ** (0.243 + 2)), 4)   # the closed form at x = 2
    0.2367
    """
    r, alpha, x, T, t = np.broadcast_arrays(*_f(r, alpha, x, T, t))
    out = np.exp(-(r + x) * np.log1p(t / (alpha + T)))
    return out[()] if out.ndim == 0 else out


def _p_alive_grid(r, alpha, a, b, x, t_x, T, shift):
    """P(alive now) as an (n, S) array for n customers and S parameter columns, in place.

    ``r, alpha, a, b`` are (1, S) (per-draw) or (n, S) arrays, ``x, t_x, T`` (n,). The same formula
    as :func:`p_alive` (Fader, Hardie & Lee 2008) with the x-only factors computed once per
    distinct x when the parameters are per draw; ``shift`` 0 for the BG/NBD, 1 for the MBG/NBD.
    """
    n, S = len(x), max(np.shape(v)[1] for v in (r, alpha, a, b))
    off = shift - 1.0   # a/(b+x-1) (BG) or a/(b+x) (MBG)
    # y = log(a) - log(b+x+off) + (r+x) log1p((T-t_x)/(alpha+t_x)); P(alive) = 1/(1+e^y)
    y = alpha + t_x[:, None]
    if y.shape != (n, S):
        y = np.broadcast_to(y, (n, S)).copy()
    np.divide((T - t_x)[:, None], y, out=y)
    np.log1p(y, out=y)
    if r.shape[0] == 1 and a.shape[0] == 1 and b.shape[0] == 1:
        ux, xi = np.unique(x, return_inverse=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            lb = np.log(a) - np.log(b + (ux + off)[:, None])      # (distinct x, S)
        y *= (r + ux[:, None])[xi]
        y += lb[xi]
    else:
        tmp = np.multiply(y, x[:, None])
        y *= r
        y += tmp
        with np.errstate(divide="ignore", invalid="ignore"):
            np.add(b, (x + off)[:, None], out=tmp)
            np.log(tmp, out=tmp)
        y -= tmp
        y += np.log(a)
    with np.errstate(over="ignore"):   # 1 / (1 + e^y): e^y = inf gives exactly 0
        np.exp(y, out=y)
    y += 1.0
    np.reciprocal(y, out=y)
    if shift == 0:
        y[x == 0] = 1.0
    return y


def p_alive_grid(r, alpha, a, b, x, t_x, T):
    """:func:`p_alive` for n customers (``x, t_x, T`` of shape (n,)) and S parameter columns
    (``r, alpha, a, b`` of shape (1, S) or (n, S)) as an (n, S) array, computed in place.

    Examples
    --------
    Two parameter draws (columns) for three customers (rows); the same numbers as :func:`p_alive`:

    >>> from clvmodels.math import bgnbd
    >>> r, alpha = np.array([[0.243, 0.25]]), np.array([[4.414, 4.5]])     # shape (1, S): S = 2 draws
    >>> a, b = np.array([[0.793, 0.8]]), np.array([[2.426, 2.5]])
    >>> x, t_x, T = np.array([2.0, 1.0, 0.0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> bgnbd.p_alive_grid(r, alpha, a, b, x, t_x, T).round(4).tolist()
    [[0.7266, 0.729], [0.2121, 0.2159], [1.0, 1.0]]
    """
    return _p_alive_grid(r, alpha, a, b, x, t_x, T, 0.0)


def alive_factors(r, alpha, a, b, x, T, steps, weights=None, keep_full=False):
    """Error-controlled "given alive" factors for many draws, (x, T) groups and period ends
    (:class:`clvmodels.math._bgfast.BGAliveFactors`, BG/NBD): the forecasting layer's fast path.

    ``r, alpha, a, b`` are per-draw vectors (S,); ``x`` and ``T`` list every (x, T) group that will
    be asked for (they fix the interpolation domains); ``steps`` are the K period ends t. Calling
    the result with groups ``(xg, Tg)`` sorted by x returns ``(G, H)`` of shape (groups, S, K):
    ``G`` = E[purchases in (T, T+t] | alive at T] and ``H`` = P(alive at T+t | alive at T).

    Examples
    --------
    One parameter draw, the customer x = 2, T = 38.86 of Fader, Hardie & Lee (2005), periods ending
    13 and 39 weeks ahead. ``G`` times P(alive now) is the conditional expectation (1.226 at 39
    weeks, the paper's number) and ``H`` is :func:`p_alive_ahead`:

    >>> from clvmodels.math import bgnbd
    >>> fac = bgnbd.alive_factors([0.243], [4.414], [0.793], [2.426], np.array([2.0]), np.array([38.86]),
    ...                           np.array([13.0, 39.0]))
    >>> G, H = fac(np.array([2.0]), np.array([38.86]))
    >>> G.shape                                                   # (groups, draws, periods)
    (1, 1, 2)
    >>> p_now = bgnbd.p_alive(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86)
    >>> (p_now * G[0, 0]).round(3).tolist(), H[0, 0].round(4).tolist()
    ([0.457, 1.226], [0.91, 0.7806])
    """
    from ._bgfast import BGAliveFactors

    return BGAliveFactors(r, alpha, a, b, 0, x, T, steps, weights, keep_full=keep_full)
