"""Shifted-beta-geometric (sBG) model of contractual retention: log-space math core.

References
----------
* Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive Marketing
  21(1), 76-90 (FH 2007): each customer renews a contract at the end of every period with a
  constant probability 1 - theta until the first non-renewal; theta ~ Beta(alpha, beta).
  P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta)  (t = 1, 2, ...),
  S(t) = B(alpha, beta+t) / B(alpha, beta),
  r_t = S(t) / S(t-1) = (beta+t-1) / (alpha+beta+t-1).
  The cohort log-likelihood from survivor counts n_0 >= n_1 >= ... >= n_k is
  sum_t (n_{t-1} - n_t) log P(T=t) + n_k log S(k)  (the last term: still alive, censored).
* Fader & Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The Perils of
  Ignoring Heterogeneity", Marketing Science 29(1), 85-93 (FH 2010): discounted expected
  residual lifetime of a customer who has made n renewals,
  DERL = B(alpha, beta+n+1) / B(alpha, beta+n) 2F1(1, beta+n+1; alpha+beta+n+1; 1/(1+d))
  (FH 2010 write it for "n-1 renewals" with beta+n; the next renewal is counted undiscounted).

Time ``t`` counts contract periods since acquisition (t = 0 is acquisition, S(0) = 1).
Parameters broadcast against ``t`` (draws (D, 1) x periods (K,) -> (D, K)).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import betaln

from ..errors import CLVWarning, InvalidValueError
from .paretonbd import log_hyp2f1_1
from .special import check_positive as _check_positive

__all__ = ["survival", "retention", "p_churn_at", "loglik", "loglik_periods", "derl", "log_survival"]


def _check_periods(name: str, t, minimum: int) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    bad = ~(np.isfinite(t) & (t >= minimum) & (t == np.floor(t)))
    if bad.any():
        raise InvalidValueError(f"{name} must be whole numbers >= {minimum}; got {int(bad.sum())} invalid value(s)",
                                column=name, n_rows=int(bad.sum()))
    return t


def _finite(values, what: str):
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if np.any(bad):
        warnings.warn(f"sbg.{what}: {int(np.sum(bad))} value(s) are not finite (outside the numerically supported "
                      "range)", CLVWarning, stacklevel=3)
    return values[()] if values.ndim == 0 else values


def log_survival(alpha, beta, t):
    """log S(t) = log B(alpha, beta+t) - log B(alpha, beta) (FH 2007, survivor function).

    Examples
    --------
    >>> from clvmodels.math import sbg
    >>> sbg.log_survival(0.668, 3.806, [0, 1, 7]).round(4).tolist()
    [0.0, -0.1617, -0.7155]
    """
    _check_positive(alpha=alpha, beta=beta)
    t = _check_periods("t", t, 0)
    alpha, beta, t = np.broadcast_arrays(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64), t)
    return betaln(alpha, beta + t) - betaln(alpha, beta)


def survival(alpha, beta, t):
    """S(t) = P(T > t) = B(alpha, beta+t) / B(alpha, beta) (FH 2007).

    Examples
    --------
    Fader & Hardie (2007) fit the "high end" cohort's first 7 years (alpha = 0.668, beta = 3.806);
    1000 S(t) projects the survivors (observed in years 8-12: 468, 445, 427, 409, 394):

    >>> from clvmodels.math import sbg
    >>> (1000 * sbg.survival(0.668, 3.806, np.arange(8, 13))).round(0).tolist()
    [460.0, 436.0, 414.0, 395.0, 378.0]
    >>> round(float(sbg.survival(0.668, 3.806, 1)), 4)
    0.8507
    """
    return _finite(np.exp(log_survival(alpha, beta, t)), "survival")


def retention(alpha, beta, t):
    """Retention rate r_t = S(t)/S(t-1) = (beta+t-1)/(alpha+beta+t-1), t >= 1 (FH 2007).

    Examples
    --------
    Retention rises with tenure (the heterogeneity of the cohort, FH 2007):

    >>> from clvmodels.math import sbg
    >>> sbg.retention(0.668, 3.806, [1, 2, 5, 10]).round(4).tolist()
    [0.8507, 0.878, 0.9212, 0.9504]
    """
    _check_positive(alpha=alpha, beta=beta)
    t = _check_periods("t", t, 1)
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    return _finite((beta + t - 1.0) / (alpha + beta + t - 1.0), "retention")


def p_churn_at(alpha, beta, t):
    """P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta), t >= 1: the probability that the first
    non-renewal happens at the end of period t (FH 2007).

    Examples
    --------
    >>> from clvmodels.math import sbg
    >>> sbg.p_churn_at(0.668, 3.806, [1, 2, 3]).round(4).tolist()
    [0.1493, 0.1038, 0.0771]
    >>> round(float(sbg.p_churn_at(0.668, 3.806, np.arange(1, 8)).sum() + sbg.survival(0.668, 3.806, 7)), 6)
    1.0
    """
    _check_positive(alpha=alpha, beta=beta)
    t = _check_periods("t", t, 1)
    alpha, beta, t = np.broadcast_arrays(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64), t)
    return _finite(np.exp(betaln(alpha + 1.0, beta + t - 1.0) - betaln(alpha, beta)), "p_churn_at")


def loglik(alpha, beta, survivors):
    """Cohort log-likelihood from survivor counts ``survivors = [n_0, n_1, ..., n_k]`` (FH 2007):

    ``sum_{t=1}^{k} (n_{t-1} - n_t) log P(T=t) + n_k log S(k)``; the last term is the
    right-censored contribution of the customers still active at the end of period k.
    Counts need not be integers (e.g. weighted), but must be non-increasing and >= 0.
    Returns the total over the cohort; parameters broadcast (shape of broadcast(alpha, beta)).

    Examples
    --------
    The "high end" cohort of Fader & Hardie (2007), years 0-7; their estimates maximise it:

    >>> from clvmodels.math import sbg
    >>> survivors = [1000, 869, 743, 653, 593, 551, 517, 491]
    >>> round(float(sbg.loglik(0.668, 3.806, survivors)), 2)
    -1611.16
    >>> sbg.loglik(np.array([0.6, 0.668, 0.7]), 3.806, survivors).round(2).tolist()
    [-1613.7, -1611.16, -1611.66]
    """
    _check_positive(alpha=alpha, beta=beta)
    n = np.asarray(survivors, dtype=np.float64)
    if n.ndim != 1 or n.size < 2:
        raise InvalidValueError("survivors must be a 1-D sequence [n_0, n_1, ...] with at least two counts",
                                column="survivors")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise InvalidValueError("survivors must be finite and >= 0", column="survivors")
    lost = n[:-1] - n[1:]
    if np.any(lost < 0):
        bad = np.flatnonzero(lost < 0) + 1
        raise InvalidValueError(f"survivors must not increase over time (periods {bad.tolist()[:5]})",
                                column="survivors", n_rows=int(bad.size), examples=bad.tolist()[:5])
    alpha, beta = np.broadcast_arrays(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64))
    a, b = alpha[..., None], beta[..., None]
    t = np.arange(1, n.size, dtype=np.float64)
    log_p = betaln(a + 1.0, b + t - 1.0) - betaln(a, b)
    k = float(n.size - 1)
    log_s = betaln(alpha, beta + k) - betaln(alpha, beta)
    # 0 * log(p) is 0: weight only where counts are positive
    total = np.sum(np.where(lost > 0, lost * log_p, 0.0), axis=-1) + (n[-1] * log_s if n[-1] > 0 else 0.0)
    return _finite(total, "loglik")


def loglik_periods(alpha, beta, t, censored):
    """Per-record log-likelihood: ``log P(T = t)`` for a customer lost at the end of period t,
    ``log S(t)`` for one still active after t periods (``censored`` true). Summing these with the
    counts as weights gives :func:`loglik` (FH 2007); the MLE model fits on such records.

    Examples
    --------
    Customers lost at the end of periods 1 and 2, and one still active after 2 periods; weighted by
    counts these records give :func:`loglik`:

    >>> from clvmodels.math import sbg
    >>> sbg.loglik_periods(0.668, 3.806, [1, 2, 2], [False, False, True]).round(4).tolist()
    [-1.9017, -2.2652, -0.2918]
    >>> counts = np.array([131, 126, 743])                        # 1000 -> 869 -> 743
    >>> ll = (counts * sbg.loglik_periods(0.668, 3.806, [1, 2, 2], [False, False, True])).sum()
    >>> round(float(ll), 4) == round(float(sbg.loglik(0.668, 3.806, [1000, 869, 743])), 4)
    True
    """
    _check_positive(alpha=alpha, beta=beta)
    t = _check_periods("t", t, 0)
    alpha, beta, t, censored = np.broadcast_arrays(np.asarray(alpha, dtype=np.float64),
                                                   np.asarray(beta, dtype=np.float64), t,
                                                   np.asarray(censored, dtype=np.float64))
    cens = censored > 0
    if np.any(~cens & (t < 1)):
        raise InvalidValueError("a lost customer must have t >= 1", column="t")
    t_lost = np.where(cens, 1.0, t)
    lost = betaln(alpha + 1.0, beta + t_lost - 1.0) - betaln(alpha, beta)
    alive = betaln(alpha, beta + t) - betaln(alpha, beta)
    return _finite(np.where(cens, alive, lost), "loglik_periods")


def derl(alpha, beta, n, d):
    """Discounted expected residual lifetime (FH 2010) of a customer who has made ``n`` renewals
    (n = 0: just acquired, the first renewal still ahead), with ``d`` the discount rate per
    period: ``sum_{t>=n+1} S(t)/S(n) (1+d)^-(t-n-1)``
    ``= (beta+n)/(alpha+beta+n) 2F1(1, beta+n+1; alpha+beta+n+1; 1/(1+d))``.

    Multiply by the cash flow per period to value the customer's remaining contracts (the
    renewal about to happen counted undiscounted, as in FH 2010).

    Examples
    --------
    Discounted expected residual lifetime (in contract periods) at a 10% discount rate per period,
    for a customer just acquired (n = 0) and after 1 and 4 renewals:

    >>> from clvmodels.math import sbg
    >>> sbg.derl(0.668, 3.806, [0, 1, 4], 0.10).round(3).tolist()
    [5.415, 5.902, 6.897]
    >>> t = np.arange(1, 5000)                                     # the defining sum, for n = 0
    >>> round(float(np.sum(sbg.survival(0.668, 3.806, t) * 1.1 ** -(t - 1.0))), 3)
    5.415
    """
    _check_positive(alpha=alpha, beta=beta, d=d)
    n = _check_periods("n", n, 0)
    alpha, beta, n, d = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (alpha, beta, n, d)))
    b = beta + n + 1.0
    log_f = log_hyp2f1_1(b, b + alpha, 1.0 / (1.0 + d), d / (1.0 + d))
    val = np.exp(np.log(beta + n) - np.log(alpha + beta + n) + log_f)
    return _finite(val, "derl")
