"""Pareto/NBD model: log-space, guarded math core.

References
----------
* Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who Are They and What Will
  They Do Next?", Management Science 33(1) (SMC).
* Fader, Hardie & Lee (2005a), "A Note on Deriving the Pareto/NBD Model and Related Expressions"
  (FHL note; the likelihood equations 17-19 refer to it, other expressions are
  named by their section).
* Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
  Journal of Marketing Research 42(4), eq. (2) (DERT).

Model: while alive a customer buys as Poisson(lambda), lambda ~ Gamma(r, alpha); lifetimes are
exponential(mu), mu ~ Gamma(s, beta). Data per customer: x repeat purchases, the last at t_x,
observed over (0, T].

Numerics
--------
The likelihood (FHL note eqs. 17-19) is

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s * A0 ],
    A0 = F(t_x) - F(T),   F(tau) = int_tau^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du.

FHL write ``(r+s+x) F(tau)`` as ``2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+tau)) /
(alpha+tau)^(r+s+x)`` when alpha >= beta and with the roles of (alpha, s+1) and (beta, r+x)
swapped when alpha < beta (eqs. 18, 19). A plain ``scipy.special.hyp2f1`` overflows or loses
all accuracy there for heavy buyers (r+s+x in the thousands) or extreme alpha/beta. Here the
same quantity is evaluated as ``F = (M+tau)^-a J`` with ``a = r+s+x``, ``M = max(alpha, beta)``
and ``J = y^-sigma 2F1(1, b; a+1; z) / a`` (Euler's transformation of FHL's 2F1, whose series
has positive, decreasing terms), using

* Gauss's continued fraction (the incomplete-beta form) when ``y = 1 - z >= 1e-3``
  (converges in a few hundred steps at most, to ~1e-13 relative);
* otherwise a log-concave integral ``int exp(h(w)) dw`` evaluated by Gauss-Legendre panels
  placed on the level sets of ``h`` (see :func:`log_integral_concave`).

Because ``s F(T) <= (alpha+T)^-(r+x) (beta+T)^-s``, the subtraction ``F(t_x) - F(T)`` never
costs more than a factor two of relative accuracy in L.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.special import exprel, gammaln, xlogy

from ..errors import CLVWarning, InvalidValueError
from .special import check_positive as _check_positive

__all__ = [
    "loglik_and_grad", "weighted_evaluator", "weighted_loglik_and_grad", "alive_factors", "p_alive_grid",
    "p_alive_context", "dert_grid", "p_alive_ahead", "p_no_purchase_ahead", "log_tail_integral",
    "loglik",
    "p_alive",
    "conditional_expected_purchases",
    "expected_purchases_new",
    "p_purchases",
    "dert",
    "log_hyp2f1_1",
    "log_exprel",
    "log_integral_concave",
]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)
# panel edges: where h has dropped this far below its maximum (beyond 50 the rest is < 1e-21)
_LEVELS = (0.0, 1.0, 3.0, 6.0, 10.0, 15.0, 21.0, 28.0, 36.0, 45.0, 55.0)
_KINK_OFFSETS = (0.0, -0.5, 0.5, -2.0, 2.0, -6.0, 6.0, -20.0, 20.0, -60.0, 60.0, -200.0, 200.0)
_CF_Y_MIN = 1e-3      # below this distance of z from 1 the continued fraction is too slow
_CF_MAXIT = 3000
# elements per call of the quadrature: its temporaries hold ~1,100 nodes per element (~2 MB per
# array at 256 elements), so callers' blocks of millions of elements are fed to it in pieces
_QUAD_CHUNK = 256


def _in_chunks(fn, n: int, chunk: int = _QUAD_CHUNK) -> np.ndarray:
    """``concatenate([fn(slice) for slices of range(n)])``: bounds the memory of ``fn``'s temporaries."""
    if n <= chunk:
        return fn(slice(0, n))
    return np.concatenate([fn(slice(i, min(n, i + chunk))) for i in range(0, n, chunk)])


# --------------------------------------------------------------------------------------------
# guards
# --------------------------------------------------------------------------------------------
def _check_data(**data) -> None:
    for name, value in data.items():
        v = np.asarray(value, dtype=np.float64)
        bad = ~(np.isfinite(v) & (v >= 0))
        if bad.any():
            raise InvalidValueError(f"{name} must be finite and >= 0; got {int(bad.sum())} invalid value(s)",
                                    column=name, n_rows=int(bad.sum()))


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isfinite(values)
    if np.any(bad):
        warnings.warn(f"paretonbd.{what}: {int(np.sum(bad))} value(s) are not finite (outside the numerically "
                      "supported range)", CLVWarning, stacklevel=3)
    return values


def _out(values: np.ndarray):
    return values[()] if values.ndim == 0 else values


# --------------------------------------------------------------------------------------------
# guarded special functions (candidates for clvmodels.math.special)
# --------------------------------------------------------------------------------------------
def log_exprel(x):
    """log((exp(x) - 1) / x), exact at x = 0 and without overflow for large positive x.

    Examples
    --------
    >>> from clvmodels.math.paretonbd import log_exprel
    >>> log_exprel([0.0, 1e-12, 2.0, 1000.0]).round(6).tolist()   # log((e^x - 1) / x); e^1000 overflows
    [0.0, 0.0, 1.161439, 993.092245]
    """
    x = np.asarray(x, dtype=np.float64)
    big = x > 1.0
    xs = np.where(big, 1.0, x)
    xb = np.where(big, x, 2.0)
    with np.errstate(over="ignore"):
        small = np.log(exprel(xs))
    large = xb + np.log(-np.expm1(-xb)) - np.log(xb)
    return np.where(big, large, small)


def _softplus(x):
    """log(1 + exp(x)), stable."""
    return np.logaddexp(0.0, x)


def log_integral_concave(h: Callable[[np.ndarray], np.ndarray], dh: Callable[[np.ndarray], np.ndarray],
                         lo: np.ndarray, hi: np.ndarray, guess: np.ndarray,
                         kinks: tuple[np.ndarray, ...] = (), return_nodes: bool = False) -> np.ndarray:
    """log of ``int_lo^hi exp(h(u)) du`` for a concave ``h``, vectorised over a flat batch.

    ``h(u)`` and ``dh(u)`` take ``u`` of shape ``(n, k)`` (one row per batch element) and
    return the same shape. ``lo`` may be ``-inf`` and ``hi`` ``+inf`` provided the integral
    converges. The mode is located by bracketing and bisection on ``dh``; Gauss-Legendre panels
    (24 nodes each) are then placed between the points where ``h`` has dropped by 0, 1, 3, 6, ...,
    55 below its maximum on either side, so steep and flat parts of the integrand are both
    resolved and the truncated tails are below ``exp(-55)`` of the peak. ``kinks`` are points
    (arrays of shape (n,)) where the slope of ``h`` changes quickly (e.g. the centre of a
    softplus term); panel edges are graded geometrically around each of them. With
    ``return_nodes=True`` the quadrature itself is returned instead, ``(nodes, terms, hmax)``:
    nodes (n, m) and ``terms = log(weight) + h(node) - hmax`` (n, m), so that the integral is
    ``exp(hmax) * sum(exp(terms))`` and moments ``int g exp(h)`` are weighted sums of ``g(nodes)``.

    Examples
    --------
    log of int_0^inf exp(-u^2 / 2) du = sqrt(pi / 2) for three batch elements with different
    bounds (``h`` and ``dh`` receive arrays of shape (n, k)):

    >>> from clvmodels.math.paretonbd import log_integral_concave
    >>> h = lambda u: -0.5 * u ** 2
    >>> dh = lambda u: -u
    >>> out = log_integral_concave(h, dh, np.array([0.0, -np.inf, -1.0]), np.array([np.inf, np.inf, 1.0]),
    ...                            np.zeros(3))
    >>> np.exp(out).round(6).tolist()
    [1.253314, 2.506628, 1.711249]
    >>> [round(float(np.sqrt(np.pi / 2)), 6), round(float(np.sqrt(2 * np.pi)), 6)]
    [1.253314, 2.506628]
    """
    lo = np.asarray(lo, dtype=np.float64).reshape(-1)
    hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    u0 = np.asarray(guess, dtype=np.float64).reshape(-1)
    n = u0.size
    if n == 0:
        return (np.empty((0, 0)), np.empty((0, 0)), np.empty(0)) if return_nodes else np.empty(0)
    H = lambda u: h(u[:, None])[:, 0]  # noqa: E731 - tiny adapters to 1-D
    D = lambda u: dh(u[:, None])[:, 0]  # noqa: E731

    # 1) bracket the mode of h (dh decreasing): dh(left) > 0 > dh(right)
    step = np.ones(n)
    left = u0 - 1.0
    for _ in range(80):
        need = D(left) <= 0
        if not need.any():
            break
        left = np.where(need, left - step, left)
        step = np.where(need, step * 2.0, step)
    step = np.ones(n)
    right = u0 + 1.0
    for _ in range(80):
        need = D(right) >= 0
        if not need.any():
            break
        right = np.where(need, right + step, right)
        step = np.where(need, step * 2.0, step)
    for _ in range(200):
        mid = 0.5 * (left + right)
        pos = D(mid) > 0
        left = np.where(pos, mid, left)
        right = np.where(pos, right, mid)
        if np.all(right - left <= 1e-12 * (1.0 + np.abs(mid))):
            break
    mode = np.clip(0.5 * (left + right), lo, hi)
    hmax = H(mode)

    # 2) level points on either side of the mode, every level and side at once (columns): one call of
    #    h per bracketing / bisection step instead of one per level and side
    side = np.repeat([-1.0, 1.0], len(_LEVELS) - 1)[None, :]                   # (1, L)
    drop = np.tile(_LEVELS[1:], 2)[None, :]
    bound = np.where(side < 0, lo[:, None], hi[:, None])                      # (n, L)
    target = hmax[:, None] - drop
    finite = np.isfinite(bound)
    inside = finite & (h(np.where(finite, bound, mode[:, None])) >= target)
    near = np.broadcast_to(mode[:, None], bound.shape).copy()
    far = near + side
    stp = np.ones(bound.shape)
    for _ in range(80):
        far = np.where(side < 0, np.maximum(far, lo[:, None]), np.minimum(far, hi[:, None]))
        need = (h(far) > target) & ~inside
        if not need.any():
            break
        near = np.where(need, far, near)
        far = np.where(need, far + side * stp, far)
        stp = np.where(need, stp * 2.0, stp)
    for _ in range(60):
        mid = 0.5 * (near + far)
        above = h(mid) > target
        near = np.where(above, mid, near)
        far = np.where(above, far, mid)
    levels = np.where(inside, bound, 0.5 * (near + far))
    edges_left = list(levels[:, :len(_LEVELS) - 1].T)
    edges_right = list(levels[:, len(_LEVELS) - 1:].T)
    outer_lo, outer_hi = edges_left[-1], edges_right[-1]
    edges = [mode, *edges_left, *edges_right]
    for kink in kinks:
        kink = np.asarray(kink, dtype=np.float64).reshape(-1)
        for off in _KINK_OFFSETS:
            edges.append(np.clip(kink + off, outer_lo, outer_hi))
    edges = np.sort(np.stack(edges, axis=1), axis=1)  # (n, E)
    lo_p, hi_p = edges[:, :-1], edges[:, 1:]
    half = 0.5 * (hi_p - lo_p)
    mid = 0.5 * (hi_p + lo_p)
    nodes = mid[:, :, None] + half[:, :, None] * _GL_NODES[None, None, :]  # (n, P, G)
    vals = h(nodes.reshape(n, -1)).reshape(nodes.shape) - hmax[:, None, None]
    with np.errstate(divide="ignore"):
        logw = np.log(half)[:, :, None] + np.log(_GL_WEIGHTS)[None, None, :]
    terms = np.where(half[:, :, None] > 0, vals + logw, -np.inf).reshape(n, -1)
    if return_nodes:   # the quadrature itself: nodes and log(weight * exp(h - hmax)), (n, P*G) each
        return nodes.reshape(n, -1), terms, hmax
    top = np.max(terms, axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return hmax + top + np.log(np.sum(np.exp(terms - top[:, None]), axis=1))


def _log_hyp2f1_1_cf(b, c, z):
    """Gauss continued fraction for 2F1(1, b; c; z) (incomplete-beta form), vectorised.

    Returns (log value, converged mask). With a = c - 1 and sigma = c - b - 1 the partial
    numerators are d_{2m+1} = -(a+m)(b+m) z / ((a+2m)(a+2m+1)) and
    d_{2m} = -m (m+sigma) z / ((a+2m-1)(a+2m)); all are negative and tend to -z/4.
    """
    a = c - 1.0
    sig = c - b - 1.0
    n = z.size
    logf = np.zeros(n)
    C = np.ones(n)
    Dn = np.zeros(n)
    active = np.arange(n)
    done = np.zeros(n, dtype=bool)
    tiny = 1e-300
    aa, bb, ss, zz = a, b, sig, z
    for k in range(1, _CF_MAXIT + 1):
        m = k // 2
        if k % 2:
            d = -(aa + m) * (bb + m) * zz / ((aa + 2 * m) * (aa + 2 * m + 1))
        else:
            d = -m * (m + ss) * zz / ((aa + 2 * m - 1) * (aa + 2 * m))
        Dk = 1.0 + d * Dn[active]
        Dk = np.where(Dk == 0, tiny, Dk)
        Ck = 1.0 + d / C[active]
        Ck = np.where(Ck == 0, tiny, Ck)
        Dk = 1.0 / Dk
        delta = Ck * Dk
        logf[active] += np.log(np.abs(delta))
        C[active] = Ck
        Dn[active] = Dk
        conv = np.abs(delta - 1.0) < 1e-15
        if conv.any():
            done[active[conv]] = True
            keep = ~conv
            active = active[keep]
            aa, bb, ss, zz = aa[keep], bb[keep], ss[keep], zz[keep]
            if active.size == 0:
                break
    return -logf, done


def _log_j_quad(b, c, logy):
    """log int_0^inf (1+v)^-b (y+v)^-(c-b) dv via the concave integrand in w = log v."""
    b2, q2, ly = b[:, None], (c - b)[:, None], logy[:, None]

    def h(w):
        return w - b2 * _softplus(w) - q2 * np.logaddexp(ly, w)

    def dh(w):
        return 1.0 - b2 / (1.0 + np.exp(-w)) - q2 / (1.0 + np.exp(ly - w))

    n = b.size
    return log_integral_concave(h, dh, np.full(n, -np.inf), np.full(n, np.inf), np.minimum(logy, 0.0),
                                kinks=(np.zeros(n), logy))


def log_hyp2f1_1(b, c, z, y=None):
    """log 2F1(1, b; c; z) for c > max(b, 1), b > 0 and 0 <= z < 1 (all arrays broadcast).

    ``y`` is ``1 - z``; pass it when it is known more accurately than ``1 - z`` (e.g. a ratio of
    small numbers). For ``y >= 1e-3`` Gauss's continued fraction is used; closer to z = 1 the
    representation ``2F1(1, b; c; z) = (c-1) y^(c-b-1) int_0^inf (1+v)^-b (y+v)^-(c-b) dv`` is
    integrated numerically (its integrand is log-concave in log v).

    Examples
    --------
    2F1(1, 1; 2; z) = -log(1 - z) / z, also very close to z = 1 (pass ``y = 1 - z`` when it is known
    more accurately than ``1 - z``):

    >>> from clvmodels.math.paretonbd import log_hyp2f1_1
    >>> np.exp(log_hyp2f1_1(1.0, 2.0, [0.5, 0.9])).round(6).tolist()
    [1.386294, 2.558428]
    >>> z, y = 1 - 1e-12, 1e-12
    >>> round(float(log_hyp2f1_1(1.0, 2.0, z, y)), 6), round(float(np.log(-np.log(y) / z)), 6)
    (3.318939, 3.318939)
    """
    b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b, c, z)))
    y = 1.0 - z if y is None else np.broadcast_to(np.asarray(y, dtype=np.float64), z.shape)
    shape = z.shape
    b, c, z, y = (np.ravel(v).copy() for v in (b, c, z, y))
    out = np.empty(z.size)
    use_cf = y >= _CF_Y_MIN
    idx = np.flatnonzero(use_cf)
    quad = np.flatnonzero(~use_cf)
    if idx.size:
        val, ok = _log_hyp2f1_1_cf(b[idx], c[idx], z[idx])
        out[idx] = val
        quad = np.concatenate([quad, idx[~ok]])
    if quad.size:
        bq, cq, yq = b[quad], c[quad], y[quad]
        logy = np.log(yq)
        out[quad] = (np.log(cq - 1.0) + (cq - bq - 1.0) * logy
                     + _in_chunks(lambda sl: _log_j_quad(bq[sl], cq[sl], logy[sl]), quad.size))
    return out.reshape(shape)


def _log_F(r, alpha, s, beta, x, tau):
    """log F(tau) = log int_tau^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du (FHL note eqs. 18-19)."""
    a = r + s + x
    big_alpha = alpha >= beta
    M = np.where(big_alpha, alpha, beta)
    m = np.where(big_alpha, beta, alpha)
    p = np.where(big_alpha, r + x, s + 1.0)  # exponent on (M + u)
    Mt = M + tau
    z = (M - m) / Mt
    y = (m + tau) / Mt
    # F = (M+tau)^-a y^-sigma 2F1(1, p; a+1; z) / a with sigma = a - p
    return -a * np.log(Mt) - (a - p) * np.log(y) - np.log(a) + log_hyp2f1_1(p, a + 1.0, z, y)


# --------------------------------------------------------------------------------------------
# likelihood and predictions
# --------------------------------------------------------------------------------------------
def _loglik_parts(r, alpha, s, beta, x, t_x, T):
    """(log of the 'alive at T' term, log of the bracket in L, log of the constant)."""
    r, alpha, s, beta, x, t_x, T = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (r, alpha, s, beta, x, t_x, T)))
    shape = x.shape
    r, alpha, s, beta, x, t_x, T = (np.ravel(v) for v in (r, alpha, s, beta, x, t_x, T))
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    has_gap = T > t_x
    both = np.concatenate([t_x[has_gap], T[has_gap]])
    k = int(np.count_nonzero(has_gap))
    rep = lambda v: np.concatenate([v[has_gap], v[has_gap]])  # noqa: E731
    logF = _log_F(rep(r), rep(alpha), rep(s), rep(beta), rep(x), both)
    log_a0 = np.full(x.size, -np.inf)
    lf_tx, lf_T = logF[:k], logF[k:]
    diff = lf_T - lf_tx
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a0[has_gap] = np.where(diff < 0, lf_tx + np.log(-np.expm1(np.minimum(diff, 0.0))), -np.inf)
    log_bracket = np.logaddexp(log_alive, np.log(s) + log_a0)
    log_const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return log_alive.reshape(shape), log_bracket.reshape(shape), log_const.reshape(shape)


def loglik(r, alpha, s, beta, x, t_x, T):
    """Per-customer log-likelihood of the Pareto/NBD (FHL note eqs. 17-19; SMC 1987).

    Parameters broadcast against the data (draws of shape (D, 1) with customers (N,) give
    (D, N)). x = repeat transactions, t_x = time of the last one, T = length of observation.

    Examples
    --------
    The CDNOW estimates of the Pareto/NBD (Fader, Hardie & Lee 2005 note: r = 0.553,
    alpha = 10.578, s = 0.606, beta = 11.669, weeks) and three CDNOW customers:

    >>> from clvmodels.math import paretonbd
    >>> params = (0.553, 10.578, 0.606, 11.669)                   # r, alpha, s, beta
    >>> x, t_x, T = np.array([2, 1, 0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> paretonbd.loglik(*params, x, t_x, T).round(4).tolist()
    [-9.5543, -4.4502, -0.521]

    Summed over the calibration sample: the maximised log-likelihood reported there (-9595.0):

    >>> import clvmodels as clv
    >>> s = clv.datasets.cdnow_summary()
    >>> round(float(paretonbd.loglik(*params, s["frequency"], s["recency"], s["T"]).sum()), 1)
    -9595.0
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_data(x=x, t_x=t_x, T=T)
    _, log_bracket, log_const = _loglik_parts(r, alpha, s, beta, x, t_x, T)
    return _out(_finite(log_const + log_bracket, "loglik"))


def p_alive(r, alpha, s, beta, x, t_x, T):
    """P(alive at T | x, t_x, T) (FHL note, P(alive) section; SMC 1987):
    ``(alpha+T)^-(r+x) (beta+T)^-s / [ (alpha+T)^-(r+x) (beta+T)^-s + s A0 ]``.

    Examples
    --------
    >>> from clvmodels.math import paretonbd
    >>> paretonbd.p_alive(0.553, 10.578, 0.606, 11.669, [2, 1, 0], [30.43, 1.71, 0.0], 38.86).round(4).tolist()
    [0.8692, 0.168, 0.2953]
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_data(x=x, t_x=t_x, T=T)
    log_alive, log_bracket, _ = _loglik_parts(r, alpha, s, beta, x, t_x, T)
    return _out(_finite(np.exp(np.minimum(log_alive - log_bracket, 0.0)), "p_alive"))


def _log_mean_ratio(s, beta, T, t):
    """log of ``(beta+T)/(s-1) [1 - ((beta+T)/(beta+T+t))^(s-1)]``, stable at s = 1 and t = 0."""
    ell = np.log1p(t / (beta + T))
    with np.errstate(divide="ignore"):
        return np.log(beta + T) + np.log(ell) + log_exprel(-(s - 1.0) * ell)


def expected_purchases_new(r, alpha, s, beta, t):
    """E[X(t)] for a new customer (SMC 1987; FHL note, mean of X(t)):
    ``r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]`` (its limit at s = 1).

    Examples
    --------
    >>> from clvmodels.math import paretonbd
    >>> paretonbd.expected_purchases_new(0.553, 10.578, 0.606, 11.669, [13.0, 39.0, 78.0]).round(4).tolist()
    [0.5312, 1.213, 1.9094]
    >>> round(float(paretonbd.expected_purchases_new(0.553, 10.578, 1.0, 11.669, 39.0)), 4)   # s = 1: the limit
    0.8958
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_data(t=t)
    r, alpha, s, beta, t = (np.asarray(v, dtype=np.float64) for v in (r, alpha, s, beta, t))
    val = np.exp(np.log(r) - np.log(alpha) + _log_mean_ratio(s, beta, 0.0, t))
    return _out(_finite(np.asarray(val), "expected_purchases_new"))


def conditional_expected_purchases(r, alpha, s, beta, x, t_x, T, t):
    """E[X(T, T+t) | x, t_x, T] (SMC 1987; FHL note, conditional expectation):
    ``(r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive)``.

    Examples
    --------
    Expected purchases in the next 39 weeks of three CDNOW customers:

    >>> from clvmodels.math import paretonbd
    >>> paretonbd.conditional_expected_purchases(0.553, 10.578, 0.606, 11.669, [2, 1, 0], [30.43, 1.71, 0.0],
    ...                                          38.86, 39.0).round(3).tolist()
    [1.455, 0.171, 0.107]
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_data(x=x, t_x=t_x, T=T, t=t)
    r, alpha, s, beta, x, t_x, T, t = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (r, alpha, s, beta, x, t_x, T, t)))
    log_alive, log_bracket, _ = _loglik_parts(r, alpha, s, beta, x, t_x, T)
    log_pa = np.minimum(log_alive - log_bracket, 0.0)
    val = np.exp(np.log(r + x) - np.log(alpha + T) + _log_mean_ratio(s, beta, T, t) + log_pa)
    return _out(_finite(val, "conditional_expected_purchases"))


def p_purchases(r, alpha, s, beta, n, t):
    """P(X(t) = n) for a new customer (FHL note, distribution of X(t)).

    ``P = NB(n; r, alpha, t) (beta/(beta+t))^s + int_0^t NB(n; r, alpha, tau) f(tau) dtau`` where
    NB is the gamma-Poisson probability of n purchases in tau and f the Pareto (II) lifetime
    density ``s beta^s / (beta+tau)^(s+1)``. The closed form of FHL in terms of 2F1 differences
    cancels catastrophically; the integral is evaluated directly (log-concave in log tau).

    Examples
    --------
    The distribution of purchases of a new customer over 39 weeks (CDNOW estimates):

    >>> from clvmodels.math import paretonbd
    >>> paretonbd.p_purchases(0.553, 10.578, 0.606, 11.669, [0, 1, 2, 3], 39.0).round(4).tolist()
    [0.5936, 0.1656, 0.0825, 0.049]
    >>> round(float(paretonbd.p_purchases(0.553, 10.578, 0.606, 11.669, np.arange(300), 39.0).sum()), 6)
    1.0
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_data(n=n, t=t)
    r, alpha, s, beta, n, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (r, alpha, s, beta, n, t)))
    if np.any(n != np.floor(n)):
        raise InvalidValueError("n must be whole numbers of purchases", column="n")
    shape = n.shape
    r, alpha, s, beta, n, t = (np.ravel(v) for v in (r, alpha, s, beta, n, t))
    log_nb = gammaln(r + n) - gammaln(r) - gammaln(n + 1.0)
    with np.errstate(divide="ignore"):
        first = (log_nb + r * (np.log(alpha) - np.log(alpha + t)) + xlogy(n, t) - n * np.log(alpha + t)
                 + s * (np.log(beta) - np.log(beta + t)))
        pos = t > 0
        second = np.full(n.size, -np.inf)
        if pos.any():
            rr, aa, ss, bb, nn, tt = r[pos], alpha[pos], s[pos], beta[pos], n[pos], t[pos]

            def piece(sl):
                la, lb = np.log(aa[sl])[:, None], np.log(bb[sl])[:, None]
                n1, rn, s1 = (nn[sl] + 1.0)[:, None], (rr[sl] + nn[sl])[:, None], (ss[sl] + 1.0)[:, None]

                def h(u):
                    return n1 * u - rn * np.logaddexp(la, u) - s1 * np.logaddexp(lb, u)

                def dh(u):
                    return n1 - rn / (1.0 + np.exp(la - u)) - s1 / (1.0 + np.exp(lb - u))

                lt = np.log(tt[sl])
                return log_integral_concave(h, dh, np.full(lt.size, -np.inf), lt,
                                            np.minimum(lt, 0.5 * (la + lb)[:, 0]), kinks=(la[:, 0], lb[:, 0]))

            logK = _in_chunks(piece, nn.size)
            second[pos] = log_nb[pos] + rr * np.log(aa) + np.log(ss) + ss * np.log(bb) + logK
    val = np.exp(np.minimum(np.logaddexp(first, second), 0.0)).reshape(shape)
    return _out(_finite(val, "p_purchases"))


# --------------------------------------------------------------------------------------------
# DERT
# --------------------------------------------------------------------------------------------
def _log_h_cf(s, zz):
    """log of z^s e^z Gamma(1-s, z) by Legendre's continued fraction (fast for z >= 1 or s >= 10):
    ``z / (z+s - 1 s/(z+s+2 - 2(s+1)/(z+s+4 - ...)))``. Returns (log value, converged)."""
    n = zz.size
    b0 = zz + s
    logf = np.log(b0)
    C = b0.copy()
    Dn = np.zeros(n)
    done = np.zeros(n, dtype=bool)
    active = np.arange(n)
    ss, z = s.copy(), zz.copy()
    tiny = 1e-300
    for k in range(1, _CF_MAXIT + 1):
        ak = -k * (k - 1.0 + ss)
        bk = z + ss + 2.0 * k
        Dk = bk + ak * Dn[active]
        Dk = np.where(Dk == 0, tiny, Dk)
        Ck = bk + ak / C[active]
        Ck = np.where(Ck == 0, tiny, Ck)
        Dk = 1.0 / Dk
        delta = Ck * Dk
        logf[active] += np.log(np.abs(delta))
        C[active] = Ck
        Dn[active] = Dk
        conv = np.abs(delta - 1.0) < 1e-15
        if conv.any():
            done[active[conv]] = True
            keep = ~conv
            active = active[keep]
            ss, z = ss[keep], z[keep]
            if active.size == 0:
                break
    return np.log(zz) - logf, done


_H_SERIES_GAP = 1e-3   # distance of s from a whole number below which the series of h cancels too much


def _log_h_series(s, z):
    """log h(s, z) for 0 < z < 1 and s < 10 not within _H_SERIES_GAP of a whole number, from
    ``Gamma(1-s, z) = Gamma(1-s) - sum_k (-1)^k z^(1-s+k) / (k! (1-s+k))`` (DLMF 8.7.3):
    ``h = e^z [z^s Gamma(1-s) - sum_k (-1)^k z^(k+1) / (k! (1-s+k))]``. The terms fall like z^k/k!
    (24 of them reach 1e-17 at z = 1); the two parts cancel by at most a factor ~1/(distance of s
    from a whole number), i.e. up to 3 digits at the gap."""
    from scipy.special import gamma as _gamma

    acc = np.zeros(z.size)
    term = z.copy()                       # (-1)^k z^(k+1) / k!
    for k in range(40):
        acc += term / (1.0 - s + k)
        term = term * (-z / (k + 1.0))
        if np.all(np.abs(term) <= 1e-18 * np.abs(acc)):
            break
    head = np.exp(s * np.log(z)) * _gamma(1.0 - s)
    return z + np.log(head - acc)


def log_dert_h(s, z):
    """log h(s, z) with ``h = z^s e^z Gamma(1-s, z) = z U(1, 2-s, z) = int_0^inf e^-u (1+u/z)^-s du``.

    ``U(s, s, z) = e^z Gamma(1-s, z)`` is the confluent hypergeometric function of FHL (2005b)
    eq. (2). Continued fraction where it converges fast (z >= 1 or s >= 10), the series of the
    incomplete gamma function for z < 1 (:func:`_log_h_series`), and the (log-concave in log u)
    integral where s is within 1e-3 of a whole number; never ``scipy.special.hyperu``.
    """
    s, z = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(z, dtype=np.float64))
    shape = s.shape
    s, z = np.ravel(s).copy(), np.ravel(z).copy()
    out = np.empty(s.size)
    cf = (z >= 1.0) | (s >= 10.0)
    ser = ~cf & (np.abs(s - np.round(s)) > _H_SERIES_GAP) & (z > 0)
    idx = np.flatnonzero(cf)
    quad = np.flatnonzero(~cf & ~ser)
    if ser.any():
        out[ser] = _log_h_series(s[ser], z[ser])
    if idx.size:
        val, ok = _log_h_cf(s[idx], z[idx])
        out[idx] = val
        quad = np.concatenate([quad, idx[~ok]])
    if quad.size:
        sq, lzq = s[quad], np.log(z[quad])

        def piece(sl):
            s2, lz = sq[sl][:, None], lzq[sl][:, None]

            def h(v):
                return v - np.exp(v) - s2 * _softplus(v - lz)

            def dh(v):
                return 1.0 - np.exp(v) - s2 / (1.0 + np.exp(lz - v))

            k = s2.shape[0]
            return log_integral_concave(h, dh, np.full(k, -np.inf), np.full(k, np.inf),
                                        np.minimum(lz[:, 0], 0.0), kinks=(lz[:, 0], np.zeros(k)))

        out[quad] = _in_chunks(piece, quad.size)
    return out.reshape(shape)


def dert(r, alpha, s, beta, x, t_x, T, delta):
    """Discounted expected residual transactions (FHL 2005b, "RFM and CLV", eq. 2).

    ``DERT = alpha^r beta^s delta^(s-1) Gamma(r+x+1) U(s, s; delta (beta+T))
    / (Gamma(r) (alpha+T)^(r+x+1) L(r, alpha, s, beta | x, t_x, T))``, with ``delta`` the
    continuously compounded discount rate per time unit. Equivalently
    ``P(alive) (r+x)/(alpha+T) E[1/(mu+delta) | alive]`` and
    ``E[1/(mu+delta) | alive] = h(s, delta (beta+T)) / delta`` (see :func:`log_dert_h`).

    Examples
    --------
    DERT at an annual discount rate of 15%, continuously compounded per week
    (delta = log(1.15) * 7 / 365.25), for two CDNOW customers:

    >>> from clvmodels.math import paretonbd
    >>> delta = np.log(1.15) * 7 / 365.25
    >>> paretonbd.dert(0.553, 10.578, 0.606, 11.669, [2, 1], [30.43, 1.71], 38.86, delta).round(2).tolist()
    [6.52, 0.77]
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta, delta=delta)
    _check_data(x=x, t_x=t_x, T=T)
    r, alpha, s, beta, x, t_x, T, delta = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (r, alpha, s, beta, x, t_x, T, delta)))
    log_alive, log_bracket, _ = _loglik_parts(r, alpha, s, beta, x, t_x, T)
    log_pa = np.minimum(log_alive - log_bracket, 0.0)
    log_h = log_dert_h(s, delta * (beta + T))
    val = np.exp(log_pa + np.log(r + x) - np.log(alpha + T) + log_h - np.log(delta))
    return _out(_finite(val, "dert"))


# ----------------------------------------------------------------------------------------------
# the future of a customer alive now (the forecasting layer's factors)


def log_tail_integral(pA, A, pB, B, tau):
    """log of ``int_tau^inf (A+u)^-pA (B+u)^-pB du`` for A, B > 0, pA, pB > 0, pA + pB > 1.

    With M = max(A, B) carrying the exponent p, m = min(A, B) the other exponent q and
    a = p + q - 1, the substitution v = (M+tau)/(M+u) gives
    ``(M+tau)^-a / a * y^(1-q) 2F1(1, p; a+1; z)``, z = (M-m)/(M+tau), y = 1 - z (the same
    integral as the Pareto/NBD likelihood's, FHL note eqs. 18-19, after Euler's transformation),
    evaluated by :func:`log_hyp2f1_1`.

    Examples
    --------
    >>> from clvmodels.math.paretonbd import log_tail_integral
    >>> round(float(np.exp(log_tail_integral(2.0, 1.0, 1.0, 3.0, 0.5))), 6)
    0.121509
    >>> from scipy.integrate import quad                          # the same integral, numerically
    >>> round(quad(lambda u: (1.0 + u) ** -2.0 * (3.0 + u) ** -1.0, 0.5, np.inf)[0], 6)
    0.121509
    """
    pA, A, pB, B, tau = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (pA, A, pB, B, tau)))
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


def p_alive_ahead(r, alpha, s, beta, x, T, t):
    """P(alive at T+t | alive at T, x, T) for the Pareto/NBD: ``((beta+T)/(beta+T+t))^s``.

    Lifetimes are exponential(mu) (memoryless), and given alive at T, mu ~ Gamma(s, beta+T)
    whatever the purchase history (Schmittlein, Morrison & Colombo 1987; FHL 2005 note). ``r``,
    ``alpha`` and ``x`` do not enter: the result has the broadcast shape of ``s, beta, T, t``.

    Examples
    --------
    Exponential lifetimes: the probability of surviving the next 39 weeks depends on the age T only
    (here 38.86 and 20 weeks), not on the purchase history:

    >>> from clvmodels.math import paretonbd
    >>> paretonbd.p_alive_ahead(0.553, 10.578, 0.606, 11.669, 2, np.array([38.86, 20.0]), 39.0).round(4).tolist()
    [0.7071, 0.6148]
    >>> round(float(((11.669 + 38.86) / (11.669 + 38.86 + 39.0)) ** 0.606), 4)
    0.7071
    """
    s, beta, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (s, beta, T, t)))
    out = np.exp(-s * np.log1p(t / (beta + T)))
    return out[()] if out.ndim == 0 else out


def p_no_purchase_ahead(r, alpha, s, beta, x, T, t):
    """P(no purchase in (T, T+t] | alive at T, x, T) for the Pareto/NBD.

    Given alive at T, lambda ~ Gamma(r', alpha'), mu ~ Gamma(s, beta') with r' = r+x,
    alpha' = alpha+T, beta' = beta+T. The first future purchase happens at u (before dropout) with
    density ``E[lambda e^-(lambda+mu) u] = (r'/alpha') (alpha'/(alpha'+u))^(r'+1) (beta'/(beta'+u))^s``;
    the customer never buys again with probability ``E[mu/(lambda+mu)] = int_0^inf E[mu
    e^-(lambda+mu) u] du``. Hence, as a sum of two positive terms (no cancellation),

        P0 = s beta'^s alpha'^r' I(r', alpha', s+1, beta'; 0)
             + r' alpha'^r' beta'^s I(r'+1, alpha', s, beta'; t),

    with ``I(pA, A, pB, B; tau) = int_tau^inf (A+u)^-pA (B+u)^-pB du`` (:func:`log_tail_integral`;
    evaluated through the 2F1 series of :mod:`clvmodels.math._pnbdfast`, its quadrature near z = 1).
    At t = 0 the two terms are E[mu/(lambda+mu)] + E[lambda/(lambda+mu)] = 1.

    Examples
    --------
    >>> from clvmodels.math import paretonbd
    >>> p0 = paretonbd.p_no_purchase_ahead(0.553, 10.578, 0.606, 11.669, np.array([0, 1, 2]), 38.86, 39.0)
    >>> p0.round(4).tolist()
    [0.7654, 0.4843, 0.319]
    >>> float(paretonbd.p_no_purchase_ahead(0.553, 10.578, 0.606, 11.669, 2, 38.86, 0.0))   # t = 0: certain
    1.0
    """
    from ._pnbdfast import log_g

    r, alpha, s, beta, x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                       for v in (r, alpha, s, beta, x, T, t)))
    shape = r.shape
    r, alpha, s, beta, x, T, t = (np.ravel(v) for v in (r, alpha, s, beta, x, T, t))
    rp, ap, bp = r + x, alpha + T, beta + T
    # I(p1, A, p2, B; tau) = (A+tau)^-p1 (B+tau)^(1-p2) G(p1, log(A+tau), p2, log(B+tau)) (the 2F1
    # factor of clvmodels.math._pnbdfast): the first term is s G(r', log a', s+1, log b') exactly
    la, lb = np.log(ap), np.log(bp)
    lat, lbt = np.log(ap + t), np.log(bp + t)
    never = np.log(s) + log_g(rp, la, s + 1.0, lb, 0)[0]
    later = (np.log(rp) + rp * (la - lat) - lat + s * (lb - lbt) + lbt
             + log_g(rp + 1.0, lat, s, lbt, 0)[0])
    out = np.exp(np.minimum(np.logaddexp(never, later), 0.0))
    out[t == 0] = 1.0                                         # the two terms add up to 1 (to rounding)
    out = out.reshape(shape)
    return out[()] if out.ndim == 0 else out


def p_alive_context(r, alpha, s, beta, t_x, T):
    """A cache for :func:`p_alive_grid` over many calls with the same per-draw parameters
    (vectors (S,) or (1, S)) and customers whose recency and age lie within those of ``t_x`` and
    ``T`` (e.g. the chunks of a forecast): it keeps the Chebyshev interpolants of the 2F1 factor
    per frequency (:class:`clvmodels.math._pnbdfast.PAliveContext`).

    Examples
    --------
    >>> from clvmodels.math import paretonbd
    >>> r, alpha, s, beta = ([v] for v in (0.553, 10.578, 0.606, 11.669))
    >>> x, t_x, T = np.array([2.0, 1.0, 0.0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> ctx = paretonbd.p_alive_context(r, alpha, s, beta, t_x, T)
    >>> paretonbd.p_alive_grid(r, alpha, s, beta, x, t_x, T, context=ctx).round(4).tolist()
    [[0.8692], [0.168], [0.2953]]
    """
    from ._pnbdfast import PAliveContext

    t_x, T = np.asarray(t_x, dtype=np.float64), np.asarray(T, dtype=np.float64)
    return PAliveContext(r, alpha, s, beta, float(min(t_x.min(), T.min())), float(max(t_x.max(), T.max())))


def p_alive_grid(r, alpha, s, beta, x, t_x, T, block=262_144, context=None):
    """:func:`p_alive` for n customers (``x, t_x, T`` of shape (n,)) and S parameter columns
    (``r, alpha, s, beta`` of shape (1, S) or (n, S)) as an (n, S) array.

    ``P(alive) = 1 / Q`` with ``Q = 1 - s G(T) + s e^D G(t_x)``, ``D = (r+x) log((alpha+T)/(alpha+t_x))
    + s log((beta+T)/(beta+t_x))`` and G the 2F1 factor of the likelihood's F (FHL note eqs. 18-19;
    :mod:`clvmodels.math._pnbdfast`), evaluated once per distinct (x, T) and (x, t_x) of a block
    by its series (the quadrature where z > 0.9). Customers are taken ``block // S`` at a time,
    which bounds the temporaries (about 16 arrays of ``block`` elements); customers with
    t_x = T have Q = 1 (P(alive) = 1). With per-draw parameters (1, S) and many customers,
    ``log G`` at t_x comes from Chebyshev interpolants in ``log(tau + c)`` per frequency and draw
    (one matrix product per block; :func:`clvmodels.math._pnbdfast.p_alive_shared`), checked to
    converge to ~1e-15 of their scale, else it is evaluated directly. ``context``
    (:func:`p_alive_context`) keeps those interpolants across calls.

    Examples
    --------
    Two parameter draws (columns) for three customers (rows); the first column is :func:`p_alive`:

    >>> from clvmodels.math import paretonbd
    >>> r, alpha = np.array([[0.553, 0.55]]), np.array([[10.578, 10.5]])
    >>> s, beta = np.array([[0.606, 0.6]]), np.array([[11.669, 11.5]])
    >>> x, t_x, T = np.array([2.0, 1.0, 0.0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> paretonbd.p_alive_grid(r, alpha, s, beta, x, t_x, T).round(4).tolist()
    [[0.8692, 0.8699], [0.168, 0.1682], [0.2953, 0.2962]]
    """
    from ._pnbdfast import log_g, p_alive_shared

    r, alpha, s, beta = (np.atleast_2d(np.asarray(v, dtype=np.float64)) for v in (r, alpha, s, beta))
    x, t_x, T = (np.asarray(v, dtype=np.float64).ravel() for v in (x, t_x, T))
    n, S = x.size, max(v.shape[1] for v in (r, alpha, s, beta))
    shared = all(v.shape[0] == 1 for v in (r, alpha, s, beta))
    out = np.ones((n, S))
    rows = max(1, int(block) // S)
    with np.errstate(all="ignore"):
        if shared:   # per-draw parameters: interpolants in tau shared by every customer
            gap = np.flatnonzero(t_x < T)
            if gap.size:
                vecs = [np.broadcast_to(v, (1, S))[0] for v in (r, alpha, s, beta)]
                out[gap] = p_alive_shared(*vecs, x[gap], t_x[gap], T[gap], block=block, context=context)
            return out
        for b0 in range(0, n, rows):
            gap = b0 + np.flatnonzero(t_x[b0:b0 + rows] < T[b0:b0 + rows])
            if gap.size == 0:
                continue
            xb, tb, Tb = x[gap], t_x[gap], T[gap]
            P = [np.broadcast_to(v, (1, S)) if shared else np.broadcast_to(v, (n, S))[gap] for v in (r, alpha, s, beta)]
            m = gap.size
            if shared:   # once per distinct (x, tau) of the block
                keys, inv = np.unique(np.concatenate([np.column_stack([xb, Tb]), np.column_stack([xb, tb])]),
                                      axis=0, return_inverse=True)
                inv = inv.ravel()
                kx, kt, kp = keys[:, 0:1], keys[:, 1:2], [v for v in P]
            else:
                kx, kt = np.concatenate([xb, xb])[:, None], np.concatenate([Tb, tb])[:, None]
                inv = np.arange(2 * m)
                kp = [np.concatenate([v, v]) for v in P]
            rr, aa, ss, bb = kp
            lA = np.log(aa + kt)
            lB = np.log(bb + kt)
            p1 = np.broadcast_to(rr + kx, lA.shape)
            p2 = np.broadcast_to(ss + 1.0, lA.shape)
            lg = log_g(p1, lA, p2, lB, 0)[0].reshape(lA.shape)
            iT, it = inv[:m], inv[m:]
            rb, sb = P[0], P[2]
            D = (rb + xb[:, None]) * (lA[iT] - lA[it]) + sb * (lB[iT] - lB[it])
            lgT = lg[iT]
            log_a = np.log1p(-np.minimum(sb * np.exp(lgT), 1.0))
            D += np.log(sb)
            D += lg[it]
            out[gap] = np.exp(-np.logaddexp(log_a, D))
    return out


def dert_grid(r, alpha, s, beta, x, t_x, T, delta, p_alive_now=None, block=2_000_000):
    """:func:`dert` for n customers and S per-draw parameter columns, as an (n, S) array.

    ``r, alpha, s, beta`` are (1, S); ``x, t_x, T`` (n,). DERT (FHL 2005, "RFM and CLV", eq. 2)
    factorises as P(alive) (r+x)/(alpha+T) E[1/(mu+delta) | alive at T], and the last factor
    depends on T only: it is taken from :func:`dert` once per distinct T (at x = 0, t_x = T, where
    P(alive) = 1 exactly). ``p_alive_now`` (n, S), when already known, is reused. ``block`` bounds
    the elements (distinct T x S) of one call of :func:`dert` (and of :func:`p_alive_grid`).

    Examples
    --------
    Two customers (rows) and two parameter draws (columns); the first column is :func:`dert`:

    >>> from clvmodels.math import paretonbd
    >>> r, alpha = np.array([[0.553, 0.55]]), np.array([[10.578, 10.5]])
    >>> s, beta = np.array([[0.606, 0.6]]), np.array([[11.669, 11.5]])
    >>> x, t_x, T = np.array([2.0, 1.0]), np.array([30.43, 1.71]), np.array([38.86, 38.86])
    >>> delta = np.log(1.15) * 7 / 365.25
    >>> paretonbd.dert_grid(r, alpha, s, beta, x, t_x, T, delta).round(2).tolist()
    [[6.52, 6.57], [0.77, 0.77]]
    """
    with np.errstate(all="ignore"):
        uT, ti = np.unique(T, return_inverse=True)
        S = max(np.shape(v)[-1] if np.ndim(v) else 1 for v in (r, alpha, s, beta))
        step = max(1, int(block) // S)
        mu_part = np.empty((uT.size, S))
        for i in range(0, uT.size, step):
            u = uT[i:i + step, None]
            ref = np.asarray(dert(r, alpha, s, beta, 0.0, u, u, delta), dtype=np.float64)
            mu_part[i:i + step] = ref * (alpha + u) / r                # E[1/(mu+delta) | alive], (distinct T, S)
        if p_alive_now is None:
            p_alive_now = p_alive_grid(r, alpha, s, beta, x, t_x, T, block=block)
        return p_alive_now * (r + x[:, None]) / (alpha + T[:, None]) * mu_part[ti]


# ----------------------------------------------------------------------------------------------
# analytic derivatives of the likelihood (the optimiser's kernels; see clvmodels.math._pnbdfast)


def loglik_and_grad(r, alpha, s, beta, x, t_x, T):
    """Per-customer log-likelihood (FHL note eqs. 17-19) and its analytic gradient with respect to
    (r, alpha, s, beta), for scalar parameters and 1-D data.

    Returns ``(ll, grad)`` with ``grad`` of shape ``(4, n)``. Writing the likelihood as
    ``C e1 Q`` with ``e1 = (alpha+T)^-(r+x) (beta+T)^-s`` and ``Q = 1 - s G(T) + s e^D G(t_x)``
    (``F(tau) = (alpha+tau)^-(r+x) (beta+tau)^-s G(tau)``, ``D = log(e1(t_x) / e1(T))``), the
    derivatives of the 2F1 in G are its series differentiated term by term (digamma-type sums),
    or moments of the quadrature where the series converges slowly
    (:mod:`clvmodels.math._pnbdfast`).

    Examples
    --------
    >>> from clvmodels.math import paretonbd
    >>> x, t_x, T = np.array([2, 1, 0]), np.array([30.43, 1.71, 0.0]), np.array([38.86, 38.86, 38.86])
    >>> ll, grad = paretonbd.loglik_and_grad(0.553, 10.578, 0.606, 11.669, x, t_x, T)
    >>> ll.round(4).tolist(), grad.shape                          # the values of loglik
    ([-9.5543, -4.4502, -0.521], (4, 3))
    >>> grad[:, 0].round(4).tolist()                              # d/d(r, alpha, s, beta), customer 1
    [0.9237, -0.0001, -1.2366, 0.0369]
    """
    from ._pnbdfast import row_loglik

    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_data(x=x, t_x=t_x, T=T)
    ll, grad, _ = row_loglik(r, alpha, s, beta, x, t_x, T, order=1)
    return ll, grad


def weighted_evaluator(x, t_x, T, weights, blas=False):
    """Rows prepared for repeated weighted evaluations: ``ev(r, alpha, s, beta, order)`` gives the
    total log-likelihood (order 0), its gradient (1) and Hessian (2) in one pass over the rows
    (:class:`clvmodels.math._pnbdfast.ParetoRows`: the 2F1 terms once per distinct (x, tau) of a
    chunk, none for customers with t_x = T).

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.math import paretonbd
    >>> s = clv.datasets.cdnow_summary()
    >>> ev = paretonbd.weighted_evaluator(s["frequency"], s["recency"], s["T"], np.ones(len(s)))
    >>> round(float(ev(0.553, 10.578, 0.606, 11.669, order=0)), 1)      # FHL note: -9595.0
    -9595.0
    >>> total, grad, hess = ev(0.553, 10.578, 0.606, 11.669, order=2)
    >>> np.sqrt(np.diag(np.linalg.inv(-hess))).round(3).tolist()      # standard errors of r, alpha, s, beta
    [0.048, 0.842, 0.187, 6.189]
    """
    from ._pnbdfast import ParetoRows

    _check_data(x=x, t_x=t_x, T=T)
    return ParetoRows(x, t_x, T, weights, blas=blas)


def weighted_loglik_and_grad(r, alpha, s, beta, x, t_x, T, weights):
    """(sum_i w_i loglik_i, its gradient w.r.t. (r, alpha, s, beta)) for scalar parameters, 1-D data.

    Examples
    --------
    Identical customers enter once with their count as weight:

    >>> from clvmodels.math import paretonbd
    >>> x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 30.43]), np.array([38.86, 38.86])
    >>> total, grad = paretonbd.weighted_loglik_and_grad(0.553, 10.578, 0.606, 11.669, x, t_x, T, np.array([3.0, 1.0]))
    >>> round(float(total), 4), grad.shape
    (-11.1174, (4,))
    >>> round(float(paretonbd.loglik(0.553, 10.578, 0.606, 11.669, [0, 0, 0, 2], [0, 0, 0, 30.43], 38.86).sum()), 4)
    -11.1174
    """
    return weighted_evaluator(x, t_x, T, weights)(r, alpha, s, beta, order=1)


def alive_factors(r, alpha, s, beta, x, T, steps, weights=None, keep_full=False, block=2_000_000):
    """The forecasting layer's "given alive" factors for many draws, (x, T) groups and period ends,
    in closed form (:class:`clvmodels.math._pnbdfast.PNBDAliveFactors`).

    ``r, alpha, s, beta`` are per-draw vectors (S,); ``steps`` the K period ends t. Calling the
    result with groups ``(xg, Tg)`` returns ``(G, H)`` of shape (groups, S, K) with, given alive at T
    (lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T)),

    * ``G = E[X(T, T+t) | alive] = (r+x)/(alpha+T) (beta+T)/(s-1) [1 - ((beta+T)/(beta+T+t))^(s-1)]``
      (``(r+x)/(alpha+T) (beta+T) log(1 + t/(beta+T))`` at s = 1), and
    * ``H = P(alive at T+t | alive at T) = ((beta+T)/(beta+T+t))^s`` (:func:`p_alive_ahead`).

    ``block`` bounds the elements of one temporary of :meth:`~clvmodels.math._pnbdfast.PNBDAliveFactors.reduced`.

    Examples
    --------
    One draw (the CDNOW estimates), the customer x = 2, t_x = 30.43, T = 38.86, periods ending 13
    and 39 weeks ahead: ``G`` times P(alive now) is :func:`conditional_expected_purchases` (1.455 at
    39 weeks) and ``H`` is :func:`p_alive_ahead`:

    >>> from clvmodels.math import paretonbd
    >>> fac = paretonbd.alive_factors([0.553], [10.578], [0.606], [11.669], np.array([2.0]), np.array([38.86]),
    ...                               np.array([13.0, 39.0]))
    >>> G, H = fac(np.array([2.0]), np.array([38.86]))
    >>> G.shape                                                   # (groups, draws, periods)
    (1, 1, 2)
    >>> p_now = paretonbd.p_alive(0.553, 10.578, 0.606, 11.669, 2, 30.43, 38.86)
    >>> (p_now * G[0, 0]).round(3).tolist(), H[0, 0].round(4).tolist()
    ([0.543, 1.455], [0.8705, 0.7071])
    """
    from ._pnbdfast import PNBDAliveFactors

    return PNBDAliveFactors(r, alpha, s, beta, x, T, steps, weights, keep_full=keep_full, block=block)
