"""Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV: using
iso-value curves for customer base analysis", J. Marketing Research 42, 415-430, sec. "Adding
monetary value"; Fader & Hardie 2013, "The Gamma-Gamma model of monetary value").

Model: a customer's transaction values are Gamma(p, nu); across customers nu ~ Gamma(q, v)
(v is the paper's gamma, in currency units). For a customer with x > 0 repeat transactions of
mean value mbar, the mean has density
f(mbar | p, q, v, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) v^q mbar^(px-1) x^(px) / (v + x mbar)^(px+q)
(Fader & Hardie 2013). Pure numpy, broadcasting, log space.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["loglik", "loglik_and_grad", "grad_loglik", "conditional_expected_spend", "expected_spend_new",
           "conditional_expected_spend_grid"]


def _f(*args):
    return [np.asarray(v, dtype=np.float64) for v in args]


def loglik(p, q, v, x, mbar):
    """Per-customer log density of the mean spend mbar of x > 0 transactions (Fader & Hardie
    2013). The power terms are written as -q log1p(x mbar / v) - px log1p(v / (x mbar)) - log mbar,
    equal to q log v + (px-1) log mbar + px log x - (px+q) log(v + x mbar) without cancellation.

    Examples
    --------
    Estimates of Fader & Hardie (2013) on CDNOW (p = 6.25, q = 3.74, v = 15.44) and two repeat
    buyers with x = 2 and 1 repeat purchases of mean value 22.35 and 11.77 (USD):

    >>> from clvmodels.math import gammagamma
    >>> gammagamma.loglik(6.25, 3.74, 15.44, np.array([2, 1]), np.array([22.35, 11.77])).round(4).tolist()
    [-3.5513, -3.7377]
    """
    p, q, v, x, mbar = _f(p, q, v, x, mbar)
    px = p * x
    xm = x * mbar
    return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
            - q * np.log1p(xm / v) - px * np.log1p(v / xm) - np.log(mbar))


def loglik_and_grad(p, q, v, x, mbar):
    """Log-likelihood and analytic gradient w.r.t. (p, q, v); grad shape (3,) + data shape.

    d/dp = x [psi(px+q) - psi(px) - log1p(v/(x mbar))]; d/dq = psi(px+q) - psi(q) - log1p(x mbar/v);
    d/dv = q/v - (px+q)/(v + x mbar).

    Examples
    --------
    >>> from clvmodels.math import gammagamma
    >>> ll, grad = gammagamma.loglik_and_grad(6.25, 3.74, 15.44, np.array([2, 1]), np.array([22.35, 11.77]))
    >>> grad.shape                                                # (p, q, v) x customers
    (3, 2)
    >>> grad.round(4).tolist()
    [[-0.051, -0.3378], [0.2172, 0.5046], [-0.0278, -0.1249]]
    """
    p, q, v, x, mbar = _f(p, q, v, x, mbar)
    px = p * x
    xm = x * mbar
    dg = special.digamma(px + q)
    ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
          - q * np.log1p(xm / v) - px * np.log1p(v / xm) - np.log(mbar))
    d_p = x * (dg - special.digamma(px) - np.log1p(v / xm))
    d_q = dg - special.digamma(q) - np.log1p(xm / v)
    d_v = q / v - (px + q) / (v + xm)
    return ll, np.stack(np.broadcast_arrays(d_p, d_q, d_v))


def grad_loglik(p, q, v, x, mbar):
    """Gradient of :func:`loglik` with respect to (p, q, v).

    Examples
    --------
    >>> from clvmodels.math import gammagamma
    >>> gammagamma.grad_loglik(6.25, 3.74, 15.44, 2, 22.35).round(4).tolist()
    [-0.051, 0.2172, -0.0278]
    """
    return loglik_and_grad(p, q, v, x, mbar)[1]


def conditional_expected_spend(p, q, v, x, mbar):
    """E[Z | x, mbar] = p (v + x mbar) / (px + q - 1) (Fader, Hardie & Lee 2005 "RFM and CLV";
    Fader & Hardie 2013): a weighted average of the population mean p v/(q-1)
    (weight (q-1)/(px+q-1)) and the customer's own mean mbar (weight px/(px+q-1)).
    With x = 0 it reduces to the population mean. Requires q > 1.

    Examples
    --------
    The customer's mean is pulled towards the population mean p v / (q - 1) = 35.22, the less so
    the more transactions it rests on; x = 0 gives the population mean itself:

    >>> from clvmodels.math import gammagamma
    >>> x, mbar = np.array([2, 1, 0, 20]), np.array([22.35, 11.77, 0.0, 22.35])
    >>> gammagamma.conditional_expected_spend(6.25, 3.74, 15.44, x, mbar).round(2).tolist()
    [24.66, 18.92, 35.22, 22.63]
    """
    p, q, v, x, mbar = _f(p, q, v, x, mbar)
    return p * (v + x * mbar) / (p * x + q - 1)


def expected_spend_new(p, q, v):
    """Population mean spend per transaction, E[Z] = p v / (q - 1) (Fader & Hardie 2013); q > 1.

    Examples
    --------
    >>> from clvmodels.math import gammagamma
    >>> round(float(gammagamma.expected_spend_new(6.25, 3.74, 15.44)), 2)
    35.22
    """
    p, q, v = _f(p, q, v)
    return p * v / (q - 1)


def conditional_expected_spend_grid(p, q, v, x, mbar):
    """:func:`conditional_expected_spend` for n customers (``x``, ``mbar`` of shape (n,)) and S
    parameter columns (``p, q, v`` of shape (1, S) or (n, S)) as an (n, S) array, computed in place
    (the denominator once per distinct x when the parameters are per draw).

    Examples
    --------
    Three customers (rows) and two parameter draws (columns):

    >>> from clvmodels.math import gammagamma
    >>> p, q, v = np.array([[6.25, 6.0]]), np.array([[3.74, 3.8]]), np.array([[15.44, 16.0]])
    >>> x, mbar = np.array([2.0, 1.0, 0.0]), np.array([22.35, 11.77, 0.0])
    >>> gammagamma.conditional_expected_spend_grid(p, q, v, x, mbar).round(2).tolist()
    [[24.66, 24.61], [18.92, 18.93], [35.22, 34.29]]
    """
    p, q, v = (np.asarray(a, dtype=np.float64) for a in (p, q, v))
    x = np.asarray(x, dtype=np.float64)
    xm = (x * np.asarray(mbar, dtype=np.float64))[:, None]
    if p.shape[0] == 1 and q.shape[0] == 1:
        ux, xi = np.unique(x, return_inverse=True)
        inv_den = 1.0 / (p * ux[:, None] + (q - 1.0))                      # (distinct x, S)
        num = v + xm
        num *= p
        num *= inv_den[xi]
    else:
        num = np.multiply(p, xm)
        num += p * v
        den = np.multiply(p, x[:, None])
        den += q - 1.0
        num /= den
    return np.broadcast_to(num, (len(x), max(p.shape[1], q.shape[1], v.shape[1])))
