"""numba kernels of the Pareto/GGG math (:mod:`clvmodels.math.paretoggg`) and sampler: log P / log Q of the
incomplete gamma function, the individual likelihood, P(alive), truncated Gamma draws and future purchase
counts. Module-level functions so that numba's disk cache (``cache=True``) finds them again in a new process;
imported only when a Pareto/GGG function is first called (numba is not imported by ``import clvmodels``)."""

from __future__ import annotations

import math

import numba
import numpy as np


def _jit(fn):
    # the on-disk cache needs a writable __pycache__ or user cache directory: without one, compile in memory
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:
        return numba.njit(nogil=True, cache=False)(fn)


_TINY = 1e-300
_EPS = 1e-16


@_jit
def log1mexp(u):
    # log(1 - exp(u)) for u <= 0 (Maechler 2012's two branches)
    if u > -0.6931471805599453:
        return math.log(-math.expm1(u))
    return math.log1p(-math.exp(u))


@_jit
def log_pq(a, z):
    """(log P(a, z), log Q(a, z)): regularised lower / upper incomplete gamma, a > 0, z >= 0."""
    if z <= 0.0:
        return -np.inf, 0.0
    if math.isinf(z):
        return 0.0, -np.inf
    lpre = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1.0:
        # P = z^a e^-z / Gamma(a + 1) * sum_n z^n / ((a + 1) ... (a + n))
        total = 1.0
        term = 1.0
        ap = a
        for _ in range(100000):
            ap += 1.0
            term *= z / ap
            total += term
            if term < total * _EPS:
                break
        lp = lpre - math.log(a) + math.log(total)
        if lp > 0.0:
            lp = 0.0
        return lp, log1mexp(lp)
    # Q = z^a e^-z / Gamma(a) * 1 / (z + 1 - a - 1 (1 - a) / (z + 3 - a - 2 (2 - a) / ...)), modified Lentz
    b = z + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    lq = lpre + math.log(h)
    if lq > 0.0:
        lq = 0.0
    return log1mexp(lq), lq


@_jit
def log_bracket(k, klam, mu, d):
    # log(1 - (k lambda / (k lambda + mu))^k P(k, (k lambda + mu) d)), as log(Q + P (1 - ratio^k))
    if d <= 0.0:
        return 0.0
    lp, lq = log_pq(k, (klam + mu) * d)
    la = -k * math.log1p(mu / klam)                  # log ratio^k <= 0
    if la == 0.0:
        return lq
    lc = log1mexp(la)
    hi = max(lq, lp + lc)
    if hi == -np.inf:
        return -np.inf
    return hi + math.log(math.exp(lq - hi) + math.exp(lp + lc - hi))


@_jit
def loglik1(k, lam, mu, x, tx, T, litt, lgk):
    """The log-likelihood of one customer; ``lgk`` = lgamma(k) (passed in: the sampler caches it)."""
    klam = k * lam
    ll = (k - 1.0) * litt - klam * tx - mu * tx
    if x > 0.0:
        ll += x * (k * math.log(klam) - lgk)
    return ll + log_bracket(k, klam, mu, T - tx)


@_jit
def log_palive1(k, lam, mu, x, tx, T):
    d = T - tx
    if d <= 0.0:
        return 0.0
    klam = k * lam
    _, lq = log_pq(k, klam * d)
    out = -mu * d + lq - log_bracket(k, klam, mu, d)
    return min(out, 0.0)


@_jit
def loglik_arr(k, lam, mu, x, tx, T, litt, out):
    for i in range(out.shape[0]):
        out[i] = loglik1(k[i], lam[i], mu[i], x[i], tx[i], T[i], litt[i], math.lgamma(k[i]))


@_jit
def log_palive_arr(k, lam, mu, x, tx, T, out):
    for i in range(out.shape[0]):
        out[i] = log_palive1(k[i], lam[i], mu[i], x[i], tx[i], T[i])


@_jit
def log_pq_arr(a, z, lp, lq):
    for i in range(lp.shape[0]):
        lp[i], lq[i] = log_pq(a[i], z[i])


@_jit
def trunc_gamma(k, z0):
    """z ~ Gamma(k, 1) conditioned on z > z0: plain rejection below the mean; above it, the translated exponential
    proposal z0 + Exp(rho) of Robert (1995), rho = (z0 - k + sqrt((z0 - k)^2 + 4 z0)) / (2 z0), accepted with
    probability exp(h(z) - max h), h(z) = (k - 1) log z - (1 - rho) z."""
    if z0 <= 0.0:
        return np.random.gamma(k, 1.0)
    if z0 < k:
        for _ in range(100000):
            z = np.random.gamma(k, 1.0)
            if z > z0:
                return z
    rho = (z0 - k + math.sqrt((z0 - k) ** 2 + 4.0 * z0)) / (2.0 * z0)
    zmax = z0
    if k > 1.0 and rho < 1.0:
        zmax = max(z0, (k - 1.0) / (1.0 - rho))
    hmax = (k - 1.0) * math.log(zmax) - (1.0 - rho) * zmax
    for _ in range(1000000):
        z = z0 + np.random.exponential(1.0 / rho)
        h = (k - 1.0) * math.log(z) - (1.0 - rho) * z
        if math.log(np.random.random()) < h - hmax:
            return z
    return z0


@_jit
def seed(value):
    np.random.seed(value)


@_jit
def future_counts(k, rate, elapsed, life, horizon, out):
    """Purchases in (0, horizon] of a renewal process with Gamma(k, rate) gaps whose current gap has lasted
    ``elapsed`` already (its remainder drawn from the truncated Gamma), stopped at ``life``. Uses numba's
    generator of the calling thread (seed it with :func:`seed`). Beyond 10^5 expected purchases the count is
    drawn from the renewal central limit (mean end/m + (cv^2 - 1)/2, variance end cv^2/m, m = k/rate the
    mean gap, cv^2 = 1/k) instead of gap by gap."""
    for i in range(out.shape[0]):
        end = min(life[i], horizon[i])
        when = trunc_gamma(k[i], rate[i] * elapsed[i]) / rate[i] - elapsed[i]
        if when > end:
            out[i] = 0.0
            continue
        m = k[i] / rate[i]
        if (end - when) / m > 1e5:
            cv2 = 1.0 / k[i]
            span = end - when
            mean = 1.0 + span / m + 0.5 * (cv2 - 1.0)
            sd = math.sqrt(span * cv2 / m)
            out[i] = max(1.0, math.floor(mean + sd * np.random.standard_normal() + 0.5))
            continue
        n = 0
        while when <= end:
            n += 1
            when += np.random.gamma(k[i], 1.0 / rate[i])
        out[i] = n


@_jit
def forecast_paths(k, rate, mu, elapsed, steps, seeds, cum, nobuy):
    """Rao-Blackwellised futures of customers alive now, one per element i (k, rate = k lambda, mu, elapsed =
    T - t_x): one path of purchase times S_1 < S_2 < ... (the current gap conditioned on exceeding ``elapsed``,
    then Gamma(k, rate) gaps), with the exponential lifetime integrated out, so a purchase at s counts
    P(alive at s) = e^(-mu s). ``cum[i, j]`` = sum over purchases up to ``steps[j]`` (sorted) of e^(-mu S),
    i.e. E[X(T, T + steps[j]) | alive now, path]; ``nobuy[i]`` = P(no purchase in (T, T + steps[-1]] | alive
    now, S_1) = 1 - 1{S_1 <= steps[-1]} e^(-mu S_1). Beyond 10^4 expected gaps the path is replaced by its
    fluid limit after S_1 (rate 1 / mean gap), a relative error below 10^-4. The elements come in
    ``seeds.shape[0]`` consecutive blocks of equal size (one customer's draws), numba's generator seeded with
    ``seeds[c]`` before block c: a customer's paths do not depend on the other customers of the call."""
    K = steps.shape[0]
    end = steps[K - 1]
    per = k.shape[0] // max(seeds.shape[0], 1)
    for i in range(k.shape[0]):
        if per > 0 and i % per == 0 and i // per < seeds.shape[0]:
            np.random.seed(seeds[i // per])
        for j in range(K):
            cum[i, j] = 0.0
        s = trunc_gamma(k[i], rate[i] * elapsed[i]) / rate[i] - elapsed[i]
        if s < 0.0:
            s = 0.0
        if s > end:
            nobuy[i] = 1.0
            continue
        w1 = math.exp(-mu[i] * s)
        nobuy[i] = 1.0 - w1
        m = k[i] / rate[i]
        if (end - s) / m > 1e4:
            lam = 1.0 / m
            for j in range(K):
                if steps[j] >= s:
                    d = steps[j] - s
                    if mu[i] * d > 1e-12:
                        cum[i, j] = w1 * (1.0 + lam * (-math.expm1(-mu[i] * d)) / mu[i])
                    else:
                        cum[i, j] = w1 * (1.0 + lam * d)
            continue
        j = 0
        while s <= end:
            while steps[j] < s:
                j += 1
            cum[i, j] += math.exp(-mu[i] * s)
            s += np.random.gamma(k[i], 1.0 / rate[i])
        for j in range(1, K):
            cum[i, j] += cum[i, j - 1]


@_jit
def new_customer_paths(k, rate, sh, beta, times, group, out):
    """Repeat purchases of new customers (a purchase at 0, then Gamma(k, rate) gaps), one path per element i,
    with the dropout rate mu ~ Gamma(sh, beta) integrated out: a purchase at u counts P(alive at u) =
    (beta / (beta + u))^sh. Adds each path's contribution to ``out[group[i], j]`` for the first of the sorted
    ``times`` at or after the purchase (the caller takes cumulative sums over j). Beyond 10^5 expected gaps the
    path after its first purchase is replaced by its fluid limit (rate 1 / mean gap)."""
    n_t = times.shape[0]
    end = times[n_t - 1]
    for i in range(k.shape[0]):
        g = group[i]
        s = np.random.gamma(k[i], 1.0 / rate[i])
        m = k[i] / rate[i]
        if s <= end and (end - s) / m > 1e5:
            lam = 1.0 / m
            prev = s
            first = True
            for j in range(n_t):
                if times[j] < s:
                    continue
                a, b = prev, times[j]
                e = 1.0 - sh[i]
                if abs(e) < 1e-9:
                    val = beta[i] * math.log((beta[i] + b) / (beta[i] + a))
                else:
                    val = beta[i] / e * (((beta[i] + b) / beta[i]) ** e - ((beta[i] + a) / beta[i]) ** e)
                out[g, j] += lam * val
                if first:
                    out[g, j] += math.exp(-sh[i] * math.log1p(s / beta[i]))
                    first = False
                prev = b
            continue
        j = 0
        while s <= end:
            while times[j] < s:
                j += 1
            out[g, j] += math.exp(-sh[i] * math.log1p(s / beta[i]))
            s += np.random.gamma(k[i], 1.0 / rate[i])


@_jit
def new_customer_counts(k, rate, sh, beta, T, group, out):
    """Adds P(X(T) = n | path) of new customers to ``out[group[i], n]``, n = 0 .. out.shape[1] - 2 and the open
    bin n >= out.shape[1] - 1, one path per element i (purchase times S_0 = 0 < S_1 < ..., Gamma(k, rate) gaps)
    with the dropout rate mu ~ Gamma(sh, beta) integrated out: P(X(T) = n) = 1{S_n <= T} A(S_n) - 1{S_(n+1) <=
    T} A(S_(n+1)), with A(u) = (beta / (beta + u))^sh the probability of being alive at u."""
    nb = out.shape[1]
    for i in range(k.shape[0]):
        g = group[i]
        prev = 1.0            # A(S_0) = 1
        s = 0.0
        n = 0
        while n < nb - 1:
            s += np.random.gamma(k[i], 1.0 / rate[i])
            cur = math.exp(-sh[i] * math.log1p(s / beta[i])) if s <= T[i] else 0.0
            out[g, n] += prev - cur
            prev = cur
            n += 1
            if cur == 0.0:
                break
        out[g, nb - 1] += prev
