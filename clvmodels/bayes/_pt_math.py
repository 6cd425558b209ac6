"""The math core's log-likelihoods written once more for PyTensor.

Each function here mirrors a function of :mod:`clvmodels.math` (same symbols, same equations) and
is tested equal to it to 1e-10 in ``tests/bayes/test_pt_math.py``. Parameters broadcast against
the data, so a per-customer parameter (a covariate model's ``alpha_i``) is just a vector.

Two forms are provided for BG/NBD:

* :func:`bgnbd_loglik` - per-row log-likelihood, any broadcastable parameters (used with
  covariates);
* :func:`bgnbd_total_loglik` - the weighted total over compressed rows with scalar parameters,
  arranged so that every term that depends on x alone (``gammaln``, ``betaln``) is evaluated once
  per distinct x and every ``log(alpha + t)`` once per distinct time value; only one softplus is
  left per distinct (x, t_x, T) row. This is what makes NUTS fast at 10^5..10^6 customers.

References
----------
* Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
  Pareto/NBD model", Marketing Science 24(2), eq. 6 (BG/NBD likelihood).
* Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model and related expressions",
  eqs. 17-19 (Pareto/NBD likelihood); Schmittlein, Morrison & Colombo (1987).
* Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", eq. 3; Fader, Hardie & Lee
  (2005), "RFM and CLV: using iso-value curves", JMR 42(4) (Gamma-Gamma likelihood).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import betaln

__all__ = [
    "bgnbd_loglik",
    "bgnbd_total_loglik",
    "BGNBDRows",
    "BGNBDCovariateRows",
    "bgnbd_covariate_total_loglik",
    "paretonbd_loglik",
    "gammagamma_loglik",
    "GL_NODES",
]

# Gauss-Legendre rule on [-1, 1] for the Pareto/NBD dropout-time integral (see paretonbd_loglik)
GL_NODES = 32
_GL_X, _GL_W = np.polynomial.legendre.leggauss(GL_NODES)


# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------
def bgnbd_loglik(r, alpha, a, b, x, t_x, T):
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6).

    ``L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
        + 1{x>0} B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))``

    evaluated for x > 0 as ``A1 + A3 + softplus(A2 - A3)`` where A2 - A3 = log((b+x-1)/a)
    + (r+x) log((alpha+t_x)/(alpha+T)) (ratio of the two beta functions), and for x = 0 as
    ``A1 + A2``. ``x`` is clamped to >= 1 inside the x > 0 branch so that its gradient stays finite
    on rows where the branch is not used.
    """
    x = pt.as_tensor_variable(x)
    xs = pt.maximum(x, 1.0)
    log_norm = pt.gammaln(r + x) - pt.gammaln(r) + r * pt.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * pt.log(alpha + T)            # A2 (+ betaln(a, b))
    dead = betaln(a + 1.0, b + xs - 1.0) - (r + xs) * pt.log(alpha + t_x)  # A3 (+ betaln(a, b))
    z = pt.log(b + xs - 1.0) - pt.log(a) + (r + xs) * (pt.log(alpha + t_x) - pt.log(alpha + T))
    return log_norm + pt.switch(pt.gt(x, 0.0), dead + pt.softplus(z), alive)


@dataclass(frozen=True)
class BGNBDRows:
    """Compressed BG/NBD data, pre-arranged for :func:`bgnbd_total_loglik` (plain numpy).

    Built by :meth:`from_data` from (x, t_x, T) and weights; every array is float64 / intp.
    """

    x_values: np.ndarray        # distinct x
    x_weight: np.ndarray        # total weight per distinct x
    x_weight_rep: np.ndarray    # weight of repeat buyers (x > 0) per distinct x (0 for x = 0)
    T0_values: np.ndarray       # distinct T among x = 0 rows
    T0_weight: np.ndarray
    w0: float                   # total weight of x = 0 rows
    t_values: np.ndarray        # distinct t_x among x > 0 rows
    t_weight: np.ndarray        # sum of w per distinct t_x
    t_xweight: np.ndarray       # sum of w * x per distinct t_x
    T_values: np.ndarray        # distinct T among x > 0 rows
    row_x: np.ndarray           # x of each distinct x > 0 row
    row_w: np.ndarray
    row_xi: np.ndarray          # index into x_values
    row_ti: np.ndarray          # index into t_values
    row_Ti: np.ndarray          # index into T_values

    @classmethod
    def from_data(cls, x, t_x, T, weights=None) -> BGNBDRows:
        from ..data.compression import compress_rows

        data = np.column_stack([np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)])
        rows, w, _ = compress_rows(data, weights)
        X, TX, TT = rows.T
        xv, xi = np.unique(X, return_inverse=True)
        x_weight = np.bincount(xi, weights=w, minlength=len(xv))
        pos = X > 0
        x_weight_rep = np.bincount(xi[pos], weights=w[pos], minlength=len(xv))
        T0v, T0i = np.unique(TT[~pos], return_inverse=True)
        T0w = np.bincount(T0i, weights=w[~pos], minlength=len(T0v))
        tv, ti = np.unique(TX[pos], return_inverse=True)
        Tv, Ti = np.unique(TT[pos], return_inverse=True)
        return cls(
            x_values=xv, x_weight=x_weight, x_weight_rep=x_weight_rep,
            T0_values=T0v, T0_weight=T0w, w0=float(w[~pos].sum()),
            t_values=tv, t_weight=np.bincount(ti, weights=w[pos], minlength=len(tv)),
            t_xweight=np.bincount(ti, weights=w[pos] * X[pos], minlength=len(tv)),
            T_values=Tv, row_x=X[pos], row_w=w[pos], row_xi=xi[pos].astype(np.intp),
            row_ti=ti.astype(np.intp), row_Ti=Ti.astype(np.intp),
        )

    @property
    def n_rows(self) -> int:
        return len(self.row_x) + len(self.T0_values)


def _data_factory(rows):
    """Data arrays as PyTensor constants, made once per field. (Constants compile faster under
    nutpie's numba backend than shared variables: measured 11 s against 17-23 s on CDNOW.)"""
    made: dict[str, object] = {}

    def get(field: str):
        if field not in made:
            made[field] = pt.constant(np.asarray(getattr(rows, field)))
        return made[field]

    return get


def bgnbd_total_loglik(r, alpha, a, b, rows: BGNBDRows, *, fast: bool = False):
    """Weighted total BG/NBD log-likelihood (eq. 6 of Fader, Hardie & Lee 2005) on compressed rows.

    Algebraically identical to ``sum(w * bgnbd_loglik(...))`` for scalar parameters:

    * x = 0 rows: ``gammaln``/``betaln`` parts per distinct x, ``-r log(alpha+T)`` per distinct T;
    * x > 0 rows: ``A1 + A3`` split into per-x constants and ``-(r+x) log(alpha+t_x)`` summed per
      distinct t_x; what remains per row is ``softplus(log((b+x-1)/a) + (r+x)(log(alpha+t_x) -
      log(alpha+T)))``, with the two logs gathered from their distinct values.
    """
    c = _data_factory(rows)
    xv = c("x_values")
    xs = pt.maximum(xv, 1.0)
    lbab = betaln(a, b)
    a1 = pt.gammaln(r + xv) - pt.gammaln(r) + r * pt.log(alpha) - lbab
    total = pt.sum(c("x_weight") * a1)
    # x = 0 rows (A2 with x = 0)
    if rows.w0 > 0:
        total = total + rows.w0 * betaln(a, b) - r * pt.sum(
            c("T0_weight") * pt.log(alpha + c("T0_values")))
    if len(rows.row_x):
        # x > 0 rows: A3 constant parts, then the time-dependent parts
        c3 = betaln(a + 1.0, b + xs - 1.0)
        total = total + pt.sum(c("x_weight_rep") * c3)
        log_t = pt.log(alpha + c("t_values"))
        total = total - pt.sum((r * c("t_weight") + c("t_xweight")) * log_t)
        if fast:
            from ._fastlik import softplus_rows

            return total + softplus_rows(r, alpha, a, b, rows)
        log_T = pt.log(alpha + c("T_values"))
        log_b_x = pt.log(b + xs - 1.0)[c("row_xi")]
        rx = r + c("row_x")
        z = log_b_x - pt.log(a) + rx * (log_t[c("row_ti")] - log_T[c("row_Ti")])
        total = total + pt.sum(c("row_w") * pt.softplus(z))
    return total


@dataclass(frozen=True)
class BGNBDCovariateRows:
    """Compressed BG/NBD rows with covariates, split into x = 0 and x > 0 parts (plain numpy)."""

    T0: np.ndarray              # x = 0 rows
    w0: np.ndarray
    P0: np.ndarray              # purchase covariates of the x = 0 rows (n0, kp)
    x: np.ndarray               # x > 0 rows
    t_x: np.ndarray
    T: np.ndarray
    w: np.ndarray
    P: np.ndarray               # purchase covariates (n, kp)
    D: np.ndarray               # dropout covariates (n, kd)
    x_values: np.ndarray        # distinct x among x > 0 rows
    xi: np.ndarray              # row -> index into x_values

    @classmethod
    def from_data(cls, x, t_x, T, P, D, weights=None) -> BGNBDCovariateRows:
        from ..data.compression import compress_rows

        P = np.asarray(P, dtype=np.float64).reshape(len(x), -1)
        D = np.asarray(D, dtype=np.float64).reshape(len(x), -1)
        kp = P.shape[1]
        data = np.column_stack([np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float), P, D])
        rows, w, _ = compress_rows(data, weights)
        pos = rows[:, 0] > 0
        xv, xi = np.unique(rows[pos, 0], return_inverse=True)
        return cls(T0=rows[~pos, 2], w0=w[~pos], P0=rows[~pos, 3:3 + kp],
                   x=rows[pos, 0], t_x=rows[pos, 1], T=rows[pos, 2], w=w[pos], P=rows[pos, 3:3 + kp],
                   D=rows[pos, 3 + kp:], x_values=xv, xi=xi.astype(np.intp))


def bgnbd_covariate_total_loglik(r, alpha, a, b, rows: BGNBDCovariateRows, purchase_coef=None,
                                 dropout_coef=None):
    """Weighted total BG/NBD log-likelihood (FHL 2005 eq. 6) with customer-level
    ``alpha_i = alpha exp(-P_i @ purchase_coef)`` and ``a_i = kappa sigmoid(eta_i)``,
    ``b_i = kappa sigmoid(-eta_i)``, ``eta_i = log(a/b) + D_i @ dropout_coef``, ``kappa = a + b``.

    Equal to ``sum(w * bgnbd_loglik(r, alpha_i, a_i, b_i, ...))``, arranged for speed: x = 0 rows
    reduce to ``-r log(1 + T/alpha_i)``; for x > 0 rows, because a_i + b_i = kappa is shared,
    ``betaln(a_i+1, b_i+x-1) - betaln(a_i, b_i) = log a_i + gammaln(b_i+x-1) - gammaln(b_i)
    - gammaln(kappa+x) + gammaln(kappa)``, so only ``gammaln(b_i+x-1) - gammaln(b_i)`` is per row
    (and only with dropout covariates).
    """
    c = _data_factory(rows)
    total = 0.0
    log_alpha = pt.log(alpha)
    if len(rows.T0):
        la0 = log_alpha - pt.dot(c("P0"), purchase_coef) if purchase_coef is not None else log_alpha
        total = total - r * pt.sum(c("w0") * pt.log1p(c("T0") * pt.exp(-la0)))
    if len(rows.x):
        kappa = a + b
        xv = c("x_values")
        per_x = pt.gammaln(r + xv) - pt.gammaln(r) - pt.gammaln(kappa + xv) + pt.gammaln(kappa)
        X = c("x")
        la = log_alpha - pt.dot(c("P"), purchase_coef) if purchase_coef is not None else log_alpha
        alpha_i = pt.exp(la)
        if dropout_coef is not None:
            eta = pt.log(a) - pt.log(b) + pt.dot(c("D"), dropout_coef)
            log_a_i = pt.log(kappa) - pt.softplus(-eta)
            b_i = kappa * pt.sigmoid(-eta)
            g = pt.gammaln(b_i + X - 1.0) - pt.gammaln(b_i)
        else:
            log_a_i = pt.log(a)
            b_i = b
            g = (pt.gammaln(b + xv - 1.0) - pt.gammaln(b))[c("xi")]
        rx = r + X
        log_t = pt.log(alpha_i + c("t_x"))
        log_T = pt.log(alpha_i + c("T"))
        z = pt.log(b_i + X - 1.0) - log_a_i + rx * (log_t - log_T)
        ll = per_x[c("xi")] + r * la + log_a_i + g - rx * log_t + pt.softplus(z)
        total = total + pt.sum(c("w") * ll)
    return total


# ---------------------------------------------------------------------------------------------
# Pareto/NBD
# ---------------------------------------------------------------------------------------------
def paretonbd_loglik(r, alpha, s, beta, x, t_x, T):
    """Per-customer Pareto/NBD log-likelihood (Fader, Hardie & Lee 2005 note, eqs. 17-19).

    ``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s * I ]`` with
    ``I = int_{t_x}^{T} (alpha+y)^-(r+x) (beta+y)^-(s+1) dy`` (the ``A0`` of the note: integrating
    the conditional likelihood over a death time y in (t_x, T]; the note writes I with 2F1).

    PyTensor has no guarded 2F1 with parameter gradients, so ``I`` is evaluated by a
    ``GL_NODES``-point Gauss-Legendre rule in ``u = log(m + y)`` with ``m = min(alpha, beta)``: in
    that variable the integrand ``exp(u - (r+x) log(alpha-m+e^u) - (s+1) log(beta-m+e^u))`` is
    smooth (singularities at distance pi from the real axis), log-concave and decreasing, so the
    rule is accurate to ~1e-13 relative for the whole parameter range met in practice, and its
    gradient is plain autodiff.
    """
    x = pt.as_tensor_variable(x)
    m = pt.minimum(alpha, beta)
    da, db = alpha - m, beta - m
    log_alive = -(r + x) * pt.log(alpha + T) - s * pt.log(beta + T)
    u_lo = pt.log(m + t_x)
    u_hi = pt.log(m + T)
    half = pt.maximum(0.5 * (u_hi - u_lo), 1e-300)
    mid = 0.5 * (u_hi + u_lo)
    gx = pt.constant(_GL_X)
    lw = pt.constant(np.log(_GL_W))
    # nodes along a trailing axis
    u = pt.shape_padright(mid) + pt.shape_padright(half) * gx
    rx = pt.shape_padright(r + x)
    s1 = pt.shape_padright(s + 1.0)
    h = u - rx * pt.log(pt.shape_padright(da) + pt.exp(u)) - s1 * pt.log(pt.shape_padright(db) + pt.exp(u))
    log_int = pt.log(half) + pt.logsumexp(h + lw, axis=-1)
    log_bracket = pt.logaddexp(log_alive, pt.log(s) + log_int)
    return pt.gammaln(r + x) - pt.gammaln(r) + r * pt.log(alpha) + s * pt.log(beta) + log_bracket


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------
def gammagamma_loglik(p, q, v, x, mbar):
    """Per-customer Gamma-Gamma log-likelihood of the mean spend ``mbar`` over x > 0 transactions.

    Fader & Hardie (2013), eq. 3 (density of the sample mean with nu integrated out):
    ``f(mbar | p, q, v, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * v^q mbar^(px-1) x^(px)
    / (v + x mbar)^(px+q)``.
    """
    px = p * x
    return (pt.gammaln(px + q) - pt.gammaln(px) - pt.gammaln(q) + q * pt.log(v)
            + (px - 1.0) * pt.log(mbar) + px * pt.log(x) - (px + q) * pt.log(v + x * mbar))
