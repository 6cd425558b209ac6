"""Pareto/GGG model math: the individual-level likelihood with the dropout time integrated out,
P(alive), and the draws of future purchases that the Bayesian sampler (:mod:`clvmodels.bayes.paretoggg`)
and its predictions use.

Reference: Platzer & Reutterer (2016), "Ticking away the moments: timing regularity helps to better
predict customer activity", Marketing Science 35(5), 779-799 (P&R 2016). Equation numbers are not
quoted (they were not checked against the printed paper); each function states the expression.

Model. While alive, customer i's inter-purchase times are Gamma(k, k lambda) (shape k, rate k lambda:
mean 1/lambda, coefficient of variation 1/sqrt(k); k = 1 is the Poisson process of the Pareto/NBD,
k > 1 more regular, k < 1 more clumpy); the lifetime tau ~ Exponential(mu) starts at the first purchase
(time 0). Across customers k ~ Gamma(t, gamma), lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta) (shape,
rate). Data: x repeat purchases, t_x the time of the last one, T the observation length, ``litt`` the
sum of the logs of the x inter-purchase times.

Integrating tau out (by parts over tau in (t_x, T), plus tau > T)::

    L(k, lambda, mu) = exp(x (k log(k lambda) - lgamma(k)) + (k - 1) litt - k lambda t_x - mu t_x)
                       * [1 - (k lambda / (k lambda + mu))^k P(k, (k lambda + mu)(T - t_x))]

with P the regularised lower incomplete gamma function (Q = 1 - P). The bracket is evaluated as
``log(Q(k, z) + P(k, z) (1 - (k lambda / (k lambda + mu))^k))``, z = (k lambda + mu)(T - t_x): a sum of
two non-negative terms, so it keeps its relative precision for heavy buyers, rates near 0 or huge, and
T = t_x (where it is 0). With k = 1 it is the Pareto/NBD individual likelihood
lambda^x [mu/(lambda+mu) e^(-(lambda+mu) t_x) + lambda/(lambda+mu) e^(-(lambda+mu) T)].

P(alive at T | k, lambda, mu, history) = e^(-mu T) Q(k, k lambda (T - t_x)) / (L / the purchase-time
factor), i.e. the share of the likelihood of the histories in which the customer is still alive at T.

log P and log Q are computed by one numba kernel (power series below z = k + 1, Lentz's continued
fraction above), in log space, so neither underflows; the kernels compile on first use (cached on disk).
All public functions broadcast numpy arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidValueError

__all__ = ["log_incomplete_gamma", "loglik", "p_alive", "draw_remaining_gap", "draw_future_purchases"]

def kernels():
    """The numba kernels (:mod:`clvmodels.math._pgggfast`, compiled on first use and cached on disk); the
    sampler uses them too."""
    from . import _pgggfast

    return _pgggfast


def _flat(*args):
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])
    shape = arrays[0].shape
    return shape, [np.ascontiguousarray(a).ravel() for a in arrays]


def _check_params(**params):
    for name, value in params.items():
        v = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(v) & (v > 0)):
            raise InvalidValueError(f"{name} must be finite and > 0", column=name)


def _check_data(x, t_x, T):
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    if not np.all(np.isfinite(x) & (x >= 0)):
        raise InvalidValueError("x (frequency) must be finite and >= 0", column="frequency")
    if not np.all(np.isfinite(t_x) & (t_x >= 0)):
        raise InvalidValueError("t_x (recency) must be finite and >= 0", column="recency")
    if not np.all(np.isfinite(T) & (T >= t_x)):
        raise InvalidValueError("T must be finite and >= t_x (recency)", column="T")


def log_incomplete_gamma(a, z):
    """``(log P(a, z), log Q(a, z))``: logs of the regularised lower and upper incomplete gamma functions.

    Finite where ``scipy.special.gammainc`` / ``gammaincc`` underflow to 0 (deep tails).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import special
    >>> from clvmodels.math import paretoggg
    >>> lp, lq = paretoggg.log_incomplete_gamma([2.0, 0.5], [1.5, 3.0])
    >>> bool(np.allclose(np.exp(lp), special.gammainc([2.0, 0.5], [1.5, 3.0]), rtol=1e-13, atol=0))
    True
    >>> round(float(paretoggg.log_incomplete_gamma(3.0, 2000.0)[1]), 2)     # Q underflows in linear space
    -1985.49
    """
    _check_params(a=a)
    z = np.asarray(z, dtype=np.float64)
    if not np.all(z >= 0):
        raise InvalidValueError("z must be >= 0", column="z")
    shape, (a, z) = _flat(a, z)
    lp, lq = np.empty_like(a), np.empty_like(a)
    kernels().log_pq_arr(a, z, lp, lq)
    return lp.reshape(shape), lq.reshape(shape)


def loglik(k, lam, mu, x, t_x, T, litt):
    """Per-customer log-likelihood of the Pareto/GGG given the individual parameters (tau integrated out).

    ``log L = x (k log(k lam) - lgamma(k)) + (k - 1) litt - k lam t_x - mu t_x
    + log(1 - (k lam / (k lam + mu))^k P(k, (k lam + mu)(T - t_x)))`` (see the module docstring;
    P & R 2016, section 3).

    Parameters
    ----------
    k, lam, mu : array_like, > 0
        Gamma shape of the inter-purchase times, purchase rate (1 / mean gap) and dropout rate.
    x, t_x, T, litt : array_like
        Repeat purchases, time of the last one, observation length, sum of log inter-purchase times.

    Examples
    --------
    With k = 1 it is the Pareto/NBD individual likelihood:

    >>> import numpy as np
    >>> from clvmodels.math import paretoggg
    >>> lam, mu, x, t_x, T = 0.8, 0.1, 4, 6.0, 10.0
    >>> pnbd = x * np.log(lam) + np.log(mu / (lam + mu) * np.exp(-(lam + mu) * t_x)
    ...                                 + lam / (lam + mu) * np.exp(-(lam + mu) * T))
    >>> bool(abs(paretoggg.loglik(1.0, lam, mu, x, t_x, T, 0.3) - pnbd) < 1e-12)
    True
    >>> paretoggg.loglik([1.0, 5.0], 2.0, 1e-3, 500, 250.0, 250.5, 500 * np.log(0.5)).round(2).tolist()
    [-154.68, 280.07]
    """
    _check_params(k=k, lam=lam, mu=mu)
    _check_data(x, t_x, T)
    shape, (k, lam, mu, x, t_x, T, litt) = _flat(k, lam, mu, x, t_x, T, litt)
    out = np.empty_like(k)
    kernels().loglik_arr(k, lam, mu, x, t_x, T, litt, out)
    return out.reshape(shape)


def p_alive(k, lam, mu, x, t_x, T):
    """P(alive at T | k, lam, mu, x, t_x, T) = e^(-mu T) Q(k, k lam (T - t_x)) / (e^(-mu t_x) [1 - (k lam /
    (k lam + mu))^k P(k, (k lam + mu)(T - t_x))]) (P & R 2016, section 3), computed in log space.

    Examples
    --------
    A regular buyer (k = 8) silent for twice the mean gap is much less likely alive than a Poisson
    buyer (k = 1) with the same rates; a customer who just bought is alive:

    >>> from clvmodels.math import paretoggg
    >>> paretoggg.p_alive([1.0, 8.0, 8.0], 0.5, 0.05, 10, [30.0, 30.0, 34.0], 34.0).round(3).tolist()
    [0.578, 0.08, 1.0]
    """
    _check_params(k=k, lam=lam, mu=mu)
    _check_data(x, t_x, T)
    shape, (k, lam, mu, x, t_x, T) = _flat(k, lam, mu, x, t_x, T)
    out = np.empty_like(k)
    kernels().log_palive_arr(k, lam, mu, x, t_x, T, out)
    return np.exp(out).reshape(shape)


def draw_remaining_gap(k, lam, elapsed, rng):
    """Draw the time from now to the next purchase of a customer alive now: the current inter-purchase
    time G ~ Gamma(k, k lam) conditioned on G > ``elapsed`` (the time since the last purchase), minus
    ``elapsed``. Inverse-CDF on the upper tail (``gammainccinv`` of u Q(k, k lam elapsed)), so deep tails
    keep their precision; where Q underflows the tail is exponential with rate k lam (1 - (k-1)/z).

    Examples
    --------
    >>> import numpy as np
    >>> from clvmodels.math import paretoggg
    >>> rng = np.random.default_rng(1)
    >>> g = paretoggg.draw_remaining_gap(np.full(20000, 1.0), 0.5, 3.0, rng)   # memoryless when k = 1
    >>> round(float(g.mean()), 1)
    2.0
    """
    from scipy import special

    k, lam, elapsed = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (k, lam, elapsed)))
    rate = k * lam
    z0 = rate * elapsed
    _, lq0 = log_incomplete_gamma(k, z0)
    u = rng.uniform(size=k.shape)
    target = np.exp(np.log(u) + lq0)
    with np.errstate(all="ignore"):
        z = special.gammainccinv(k, target)
    tail = ~(np.isfinite(z) & (target > 1e-290) & (z >= z0))
    if tail.any():
        # Q(k, z) ~ z^(k-1) e^-z / Gamma(k): beyond z0 the excess is nearly Exp(1 - (k-1)/z0) in z
        hazard = np.maximum(1.0 - (k[tail] - 1.0) / np.maximum(z0[tail], 1e-300), 1e-3)
        z = z.copy()
        z[tail] = z0[tail] + rng.exponential(size=int(tail.sum())) / hazard
    return np.maximum(z - z0, 0.0) / rate


def draw_future_purchases(k, lam, mu, x, t_x, T, t, rng, *, alive=None):
    """One draw of each customer's purchases in (T, T + t] given the parameters and the history.

    Alive at T with :func:`p_alive` (or as given by the boolean ``alive``); if alive, the remaining
    lifetime is Exponential(mu) (memoryless), the next purchase comes after the current gap conditioned on
    exceeding T - t_x (a truncated Gamma drawn by exact rejection in numba, like :func:`draw_remaining_gap`),
    later ones after fresh Gamma(k, k lam) gaps. ``rng`` seeds numba's generator, so a seeded ``rng`` gives
    the same counts.
    All arguments broadcast to one shape; returns float counts of that shape.

    Examples
    --------
    >>> import numpy as np
    >>> from clvmodels.math import paretoggg
    >>> rng = np.random.default_rng(0)
    >>> n = paretoggg.draw_future_purchases(3.0, 1.0, 1e-9, 5, 5.0, 5.0, np.full(20000, 10.0), rng)
    >>> # alive, regular (k = 3), one purchase per unit of time, just bought: E[N(10)] ~ 10 - (1 - 1/k) / 2
    >>> bool(abs(n.mean() - 9.67) < 0.1)
    True
    """
    k, lam, mu, x, t_x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                     for v in (k, lam, mu, x, t_x, T, t)))
    shape = k.shape
    k, lam, mu, x, t_x, T, t = (np.ascontiguousarray(v).ravel() for v in (k, lam, mu, x, t_x, T, t))
    if alive is None:
        alive = rng.uniform(size=k.shape) < p_alive(k, lam, mu, x, t_x, T)
    else:
        alive = np.broadcast_to(np.asarray(alive, dtype=bool), shape).ravel()
    out = np.zeros(k.shape)
    idx = np.flatnonzero(alive & (t > 0))
    if idx.size:
        fast = kernels()
        life = rng.exponential(size=idx.size) / mu[idx]
        counts = np.empty(idx.size)
        fast.seed(int(rng.integers(2**31 - 1)))
        fast.future_counts(np.ascontiguousarray(k[idx]), np.ascontiguousarray(k[idx] * lam[idx]),
                           np.ascontiguousarray(T[idx] - t_x[idx]), life, np.ascontiguousarray(t[idx]), counts)
        out[idx] = counts
    return out.reshape(shape)
