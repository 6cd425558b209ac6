"""The Pareto/GGG MCMC: a data-augmentation Gibbs sampler written for numba, one chain per call (``nogil``:
chains run in parallel threads).

Every step draws from a closed-form conditional; only the alive/dropout step evaluates incomplete gamma functions.
Besides each customer's k, lambda and mu, the state holds two latent quantities per customer (the
augmentation that removes the integrals of the likelihood):

* G, the current inter-purchase time (the gap after the last purchase, at t_x, that is not finished by T);
* the remaining lifetime R after t_x: alive at T (R > T - t_x) or gone at t_x + R.

With them, the history is x + 1 complete Gamma(k, k lambda) gaps and an exponential lifetime, with the
constraint that no purchase falls in (t_x, T]: G > T - t_x if alive, G > R if gone. Integrating G and R out
again gives the likelihood of :mod:`clvmodels.math.paretoggg`. One sweep:

1. per customer, (alive, R) given k, lambda, mu with G integrated out: alive with the closed-form P(alive) of
   :mod:`clvmodels.math.paretoggg`; if gone, R (the time from t_x to the dropout) by rejection sampling from
   the cheaper of two envelopes (a truncated exponential, or the equilibrium density of the gaps);
2. G given k, lambda and (alive, R): Gamma(k, k lambda) truncated below at T - t_x (alive) or R (gone), by
   rejection (plain below the mean; beyond it a translated exponential proposal, Robert 1995);
3. log k given lambda and the x + 1 gaps: slice sampling (Neal 2003) with a per-customer width learnt in
   warm-up;
4. (r, alpha) with every lambda integrated out (closed form: a Gamma-Poisson-like marginal), by slice
   sampling on log r and log(r / alpha); then every lambda from Gamma(r + k (x + 1), alpha + k (t_x + G));
5. (t, gamma) given the k: gamma conjugate, t by slice sampling; then an interweaving move (Yu & Meng 2011)
   proposing (log t, log gamma) jointly with each log k moved so that its standardised value
   (log(gamma k) - psi(t)) / sqrt(psi'(t)) stays fixed (adaptive Metropolis: the proposal learns the pair's
   covariance in warm-up);
6. (s, beta) with every mu integrated out (closed form given alive / R), slice sampling on log s and
   log(s / beta); then every mu from Gamma(s + gone, beta + time alive).

The population pairs are sampled with the customers' values integrated out wherever that has a closed form,
which is what makes them mix (a plain Gibbs step given 10,000 customer values barely moves them).

Nothing here is public; :class:`clvmodels.bayes.ParetoGGG` calls :func:`run_chains`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..math.paretoggg import kernels

_K = kernels()
trunc_gamma = _K.trunc_gamma
log_pq = _K.log_pq
log_palive1 = _K.log_palive1


def _jit(fn):
    import numba

    # the on-disk cache needs a writable __pycache__ or user cache directory: without one, compile in memory
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:
        return numba.njit(nogil=True, cache=False)(fn)

__all__ = ["run_chains", "warm_up_compiler", "HYPER_NAMES"]

HYPER_NAMES = ("t", "gamma", "r", "alpha", "s", "beta")
_LO = np.array([-9.0, -40.0, -40.0])     # bounds of log k (k <= 10^4: beyond, k is a clock), log lambda, log mu
_HI = np.array([9.2, 25.0, 25.0])
# customer draws are stored as float32: kept inside its normal range (a rate below 1e-37 is 0 in any time unit)
_F32_TINY = 1e-37
_F32_BIG = 1e37


@_jit
def digamma(x):
    out = 0.0
    while x < 6.0:
        out -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return out + math.log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240
                                                                                     - f / 132))))


@_jit
def trigamma(x):
    out = 0.0
    while x < 6.0:
        out += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    return out + 1.0 / x + f / 2.0 + (1.0 / x) * f * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f / 30)))


@_jit
def draw_dropout_gap(k, lam, mu, d):
    # u in (0, d) with density proportional to mu e^(-mu u) Q(k, k lam u): the time from the last purchase to
    # the dropout of a customer gone before T. Rejection sampling from the envelope of smaller mass: e^(-mu u)
    # truncated to (0, d) (accepted with probability Q(k, k lam u)), or the equilibrium density of the gaps,
    # proportional to Q(k, k lam u) (u = W V, W ~ Gamma(k + 1, k lam), V uniform; accepted with probability
    # e^(-mu u), u > d rejected)
    klam = k * lam
    z_exp = -math.expm1(-mu * d) / mu
    _, lq1 = log_pq(k, klam * d)
    lp2, _ = log_pq(k + 1.0, klam * d)
    z_eq = d * math.exp(lq1) + math.exp(lp2) / lam
    for _ in range(10000000):
        if z_exp <= z_eq:
            u = -math.log1p(np.random.random() * math.expm1(-mu * d)) / mu
            if u > d:
                u = d
            _, lq = log_pq(k, klam * u)
            if math.log(1.0 - np.random.random()) < lq:
                return u
        else:
            u = np.random.gamma(k + 1.0, 1.0 / klam) * np.random.random()
            if u < d and np.random.random() < math.exp(-mu * u):
                return u
    return d * np.random.random()


@_jit
def k_target(u, lam, n_gaps, lgaps, span, sh, rt):
    # log p(log k = u | lambda, the x + 1 gaps) up to a constant: the Gamma(k, k lambda) densities of the
    # gaps (n_gaps of them, logs summing to lgaps, total length span) times the Gamma(sh, rt) prior
    kk = math.exp(u)
    return (n_gaps * (kk * (u + math.log(lam)) - math.lgamma(kk)) + (kk - 1.0) * lgaps - kk * lam * span
            + sh * u - rt * kk)


@_jit
def slice_k(u0, w, lam, n_gaps, lgaps, span, sh, rt, lo, hi):
    y = k_target(u0, lam, n_gaps, lgaps, span, sh, rt) - np.random.exponential(1.0)
    left = u0 - w * np.random.random()
    right = left + w
    for _ in range(50):
        if left < lo or not k_target(left, lam, n_gaps, lgaps, span, sh, rt) > y:
            break
        left -= w
    for _ in range(50):
        if right > hi or not k_target(right, lam, n_gaps, lgaps, span, sh, rt) > y:
            break
        right += w
    for _ in range(200):
        u1 = left + np.random.random() * (right - left)
        if lo <= u1 <= hi and k_target(u1, lam, n_gaps, lgaps, span, sh, rt) > y:
            return u1
        if u1 < u0:
            left = u1
        else:
            right = u1
    return u0


@_jit
def shape_target(u, n, slog, log_rate, m0, s0):
    a = math.exp(u)
    return n * (a * log_rate - math.lgamma(a)) + (a - 1.0) * slog - 0.5 * ((u - m0) / s0) ** 2


@_jit
def slice_shape(u0, n, slog, log_rate, m0, s0):
    w = 0.5
    y = shape_target(u0, n, slog, log_rate, m0, s0) - np.random.exponential(1.0)
    left = u0 - w * np.random.random()
    right = left + w
    for _ in range(100):
        if not shape_target(left, n, slog, log_rate, m0, s0) > y:
            break
        left -= w
    for _ in range(100):
        if not shape_target(right, n, slog, log_rate, m0, s0) > y:
            break
        right += w
    for _ in range(200):
        u1 = left + np.random.random() * (right - left)
        if shape_target(u1, n, slog, log_rate, m0, s0) > y and -20.0 < u1 < 20.0:
            return u1
        if u1 < u0:
            left = u1
        else:
            right = u1
    return u0


@_jit
def pair_target(which, ls, lm, cnt, expo, m0, s0, a0, b0):
    # log p(shape, rate | ...) with the customers' values integrated out, on (log shape, log(shape / rate)):
    # which = 0, the purchase rates: sum_i lgamma(r + c_i) - lgamma(r) + r log alpha - (r + c_i) log(alpha + e_i)
    # with c_i = k_i (x_i + 1), e_i = k_i (t_x + G_i); which = 1, the dropout rates: the same with
    # c_i = 1 for customers gone before T (0 if alive) and e_i the time alive. Plus the priors (log scale).
    if ls < -20.0 or ls > 20.0 or lm < -60.0 or lm > 60.0:
        return -np.inf
    sh = math.exp(ls)
    lb = ls - lm
    b = math.exp(lb)
    n = expo.shape[0]
    out = n * sh * lb
    if which == 0:
        lg = math.lgamma(sh)
        for i in range(n):
            out += math.lgamma(sh + cnt[i]) - lg - (sh + cnt[i]) * math.log(b + expo[i])
    else:
        nd = 0.0
        for i in range(n):
            out -= (sh + cnt[i]) * math.log(b + expo[i])
            nd += cnt[i]
        out += nd * ls
    return out - 0.5 * ((ls - m0) / s0) ** 2 + a0 * lb - b0 * b


@_jit
def pair_at(u, ls, lm, coord, which, cnt, expo, m0, s0, a0, b0):
    if coord == 0:
        return pair_target(which, u, lm, cnt, expo, m0, s0, a0, b0)
    return pair_target(which, ls, u, cnt, expo, m0, s0, a0, b0)


@_jit
def slice_pair(ls, lm, coord, w, which, cnt, expo, m0, s0, a0, b0):
    y = pair_target(which, ls, lm, cnt, expo, m0, s0, a0, b0) - np.random.exponential(1.0)
    u0 = ls if coord == 0 else lm
    left = u0 - w * np.random.random()
    right = left + w
    for _ in range(60):
        if not pair_at(left, ls, lm, coord, which, cnt, expo, m0, s0, a0, b0) > y:
            break
        left -= w
    for _ in range(60):
        if not pair_at(right, ls, lm, coord, which, cnt, expo, m0, s0, a0, b0) > y:
            break
        right += w
    for _ in range(200):
        u1 = left + np.random.random() * (right - left)
        if pair_at(u1, ls, lm, coord, which, cnt, expo, m0, s0, a0, b0) > y:
            return u1
        if u1 < u0:
            left = u1
        else:
            right = u1
    return u0


@_jit
def run(seed, x, tx, T, litt, logk, lam, mu, gap, hyp, prior_m, prior_s, prior_a, prior_b, n_warm, n_keep,
        thin, lo, hi, out_hyp, out_k, out_lam, out_mu, out_alive, out_acc):
    np.random.seed(seed)
    n = x.shape[0]
    # per customer: log k, lambda, mu, the current (unfinished) inter-purchase time ``gap`` (G, > 0), alive at
    # T or gone at t_x + rem; hyp = t, gamma, r, alpha, s, beta
    alive = np.ones(n, dtype=np.bool_)
    rem = np.zeros(n)
    cnt = np.empty(n)
    expo = np.empty(n)
    width = np.full(n, 1.0)
    wsum = np.zeros(n)
    wsq = np.zeros(n)
    wn = 0
    checkpoints = np.array([n_warm // 5, (2 * n_warm) // 5, (3 * n_warm) // 5, (4 * n_warm) // 5])
    pw = np.array([0.5, 0.5, 0.5, 0.5])      # slice widths of (log r, log mean) and (log s, log mean)
    # interweaving move of (t, gamma): lower Cholesky factor of the proposal of (log t, log gamma), its log
    # scale, running sums of the warm-up draws
    hchol = np.zeros((2, 3))
    hchol[:, 0] = 0.05
    hchol[:, 2] = 0.05
    hl_scale = np.zeros(2)
    hn = np.zeros(2)
    hs = np.zeros((2, 5))
    acc = np.zeros(2)
    tries = np.zeros(2)
    new_u = np.empty(n)
    total = n_warm + n_keep * thin
    kept = 0
    for it in range(total):
        warm = it < n_warm
        t_sh = hyp[0]
        t_rt = hyp[1]
        for i in range(n):
            d = T[i] - tx[i]
            kk = math.exp(logk[i])
            # 1. alive at T, or the dropout time, given (k, lambda, mu) with the current gap integrated out: alive
            # with the closed-form P(alive); if gone, the time from t_x to the dropout by rejection sampling
            if d > 0.0 and math.log(1.0 - np.random.random()) >= log_palive1(kk, lam[i], mu[i], x[i], tx[i], T[i]):
                alive[i] = False
                rem[i] = draw_dropout_gap(kk, lam[i], mu[i], d)
            else:
                alive[i] = True
                rem[i] = d
            # 2. the current gap G ~ Gamma(k, k lambda) beyond what was seen: G > T - t_x if alive, G > R if gone
            cut = d if alive[i] else rem[i]
            rate = kk * lam[i]
            gap[i] = max(trunc_gamma(kk, rate * cut) / rate, 1e-300)
            # 3. log k given lambda and the x + 1 gaps (slice sampling)
            u = slice_k(logk[i], width[i], lam[i], x[i] + 1.0, litt[i] + math.log(gap[i]), tx[i] + gap[i],
                        t_sh, t_rt, lo[0], hi[0])
            logk[i] = u
            kk = math.exp(u)
            cnt[i] = kk * (x[i] + 1.0)
            expo[i] = kk * (tx[i] + gap[i])
        # 4. (r, alpha) with every lambda integrated out (slice sampling on log r and log(r / alpha)), then
        # each lambda from its full conditional Gamma(r + k (x + 1), alpha + k (t_x + G))
        ls = math.log(hyp[2])
        lm = math.log(hyp[2] / hyp[3])
        for c in range(2):
            v = slice_pair(ls, lm, c, pw[c], 0, cnt, expo, prior_m[1], prior_s[1], prior_a[1], prior_b[1])
            if warm:
                pw[c] = 0.9 * pw[c] + 0.1 * min(max(4.0 * abs(v - (ls if c == 0 else lm)), 0.01), 5.0)
            if c == 0:
                ls = v
            else:
                lm = v
        hyp[2] = math.exp(ls)
        hyp[3] = math.exp(ls - lm)
        for i in range(n):
            lam[i] = max(np.random.gamma(hyp[2] + cnt[i], 1.0 / (hyp[3] + expo[i])), 1e-300)
        # 5. (t, gamma) given the k: rate (conjugate), shape (slice); then an interweaving move that proposes
        # (log t, log gamma) jointly with every log k moved so that its standardised value
        # (log(gamma k) - psi(t)) / sqrt(psi'(t)) stays fixed
        ssum = 0.0
        slog = 0.0
        for i in range(n):
            ssum += math.exp(logk[i])
            slog += logk[i]
        rate = np.random.gamma(prior_a[0] + n * hyp[0], 1.0 / (prior_b[0] + ssum))
        hyp[1] = rate
        hyp[0] = math.exp(slice_shape(math.log(hyp[0]), n, slog, math.log(rate), prior_m[0], prior_s[0]))
        # two moves: every customer's log k moved, or only those of customers with fewer than 3 repeat
        # purchases (whose k the data barely inform; the others' stay: a fixed, data-only split, so each
        # move is its own inverse)
        for mv in range(2):
            sh = hyp[0]
            rate = hyp[1]
            za = np.random.standard_normal()
            zb = np.random.standard_normal()
            sc = math.exp(hl_scale[mv])
            da = sc * hchol[mv, 0] * za
            db = sc * (hchol[mv, 1] * za + hchol[mv, 2] * zb)
            new_sh = sh * math.exp(da)
            new_rate = rate * math.exp(db)
            tries[mv] += 1.0
            a_prob = 0.0
            if -20.0 < math.log(new_sh) < 20.0 and -40.0 < math.log(new_rate) < 40.0:
                lr = math.log(rate)
                lrn = math.log(new_rate)
                m_old = digamma(sh)
                m_new = digamma(new_sh)
                ratio = math.sqrt(trigamma(new_sh) / trigamma(sh))
                lu = math.log(sh) - prior_m[0]
                lun = lu + da
                log_r = (-0.5 * (lun * lun - lu * lu) / (prior_s[0] * prior_s[0]) + prior_a[0] * db
                         - prior_b[0] * (new_rate - rate))
                lg_old = math.lgamma(sh)
                lg_new = math.lgamma(new_sh)
                ok = True
                for i in range(n):
                    u = logk[i]
                    if mv == 1 and x[i] >= 3.0:
                        new_u[i] = u
                        log_r += (new_sh * (u + lrn) - lg_new - math.exp(u + lrn)) - (
                            sh * (u + lr) - lg_old - math.exp(u + lr))
                        continue
                    un = m_new + ratio * (u + lr - m_old) - lrn
                    if un < lo[0] or un > hi[0]:
                        ok = False
                        break
                    new_u[i] = un
                    # the Jacobian, the Gamma log densities of the log values and of the x + 1 gaps
                    log_r += math.log(ratio) + ((new_sh * (un + lrn) - lg_new - math.exp(un + lrn))
                                                - (sh * (u + lr) - lg_old - math.exp(u + lr)))
                    lg_gap = litt[i] + math.log(gap[i])
                    span = tx[i] + gap[i]
                    log_r += (k_target(un, lam[i], x[i] + 1.0, lg_gap, span, 0.0, 0.0)
                              - k_target(u, lam[i], x[i] + 1.0, lg_gap, span, 0.0, 0.0))
                if ok:
                    a_prob = math.exp(min(log_r, 0.0)) if log_r == log_r else 0.0
                    if np.random.random() < a_prob:
                        acc[mv] += 1.0
                        hyp[0] = new_sh
                        hyp[1] = new_rate
                        for i in range(n):
                            logk[i] = new_u[i]
            if warm:
                hl_scale[mv] += (a_prob - 0.35) / math.sqrt(it + 1.0)
                if it >= n_warm // 10:
                    ua = math.log(hyp[0])
                    ub = math.log(hyp[1])
                    hn[mv] += 1.0
                    hs[mv, 0] += ua
                    hs[mv, 1] += ub
                    hs[mv, 2] += ua * ua
                    hs[mv, 3] += ua * ub
                    hs[mv, 4] += ub * ub
                    if hn[mv] >= 50.0 and it % 25 == 0:
                        ma = hs[mv, 0] / hn[mv]
                        mb = hs[mv, 1] / hn[mv]
                        caa = hs[mv, 2] / hn[mv] - ma * ma + 1e-8
                        cab = hs[mv, 3] / hn[mv] - ma * mb
                        cbb = hs[mv, 4] / hn[mv] - mb * mb + 1e-8
                        if caa > 0.0 and cbb - cab * cab / caa > 0.0:
                            hchol[mv, 0] = math.sqrt(caa)
                            hchol[mv, 1] = cab / hchol[mv, 0]
                            hchol[mv, 2] = math.sqrt(cbb - cab * cab / caa)
        # 6. (s, beta) with every mu integrated out given the alive / dropout states, then each mu from its full
        # conditional Gamma(s + gone_i, beta + time alive_i)
        for i in range(n):
            if alive[i]:
                cnt[i] = 0.0
                expo[i] = T[i]
            else:
                cnt[i] = 1.0
                expo[i] = tx[i] + rem[i]
        ls = math.log(hyp[4])
        lm = math.log(hyp[4] / hyp[5])
        for c in range(2):
            v = slice_pair(ls, lm, c, pw[2 + c], 1, cnt, expo, prior_m[2], prior_s[2], prior_a[2], prior_b[2])
            if warm:
                pw[2 + c] = 0.9 * pw[2 + c] + 0.1 * min(max(4.0 * abs(v - (ls if c == 0 else lm)), 0.01), 5.0)
            if c == 0:
                ls = v
            else:
                lm = v
        hyp[4] = math.exp(ls)
        hyp[5] = math.exp(ls - lm)
        for i in range(n):
            mu[i] = max(np.random.gamma(hyp[4] + cnt[i], 1.0 / (hyp[5] + expo[i])), 1e-300)
        # warm-up: slice widths of log k, 3 posterior sds, learnt between checkpoints
        if warm:
            if it >= n_warm // 10:
                wn += 1
                for i in range(n):
                    wsum[i] += logk[i]
                    wsq[i] += logk[i] * logk[i]
            for c_ in checkpoints:
                if it == c_ and wn >= 20:
                    for i in range(n):
                        m_ = wsum[i] / wn
                        width[i] = min(max(3.0 * math.sqrt(max(wsq[i] / wn - m_ * m_, 0.0)), 0.01), 5.0)
                    wn = 0
                    wsum[:] = 0.0
                    wsq[:] = 0.0
            if it == n_warm - 1:
                acc[:] = 0.0
                tries[:] = 0.0
        elif (it - n_warm) % thin == thin - 1:
            for j in range(6):
                out_hyp[kept, j] = hyp[j]
            for i in range(n):
                out_k[kept, i] = min(max(math.exp(logk[i]), _F32_TINY), _F32_BIG)
                out_lam[kept, i] = min(max(lam[i], _F32_TINY), _F32_BIG)
                out_mu[kept, i] = min(max(mu[i], _F32_TINY), _F32_BIG)
                out_alive[kept, i] = alive[i]
            kept += 1
    for mv in range(2):
        out_acc[mv] = acc[mv] / max(tries[mv], 1.0)
    return kept


def initial_values(x, tx, T, litt, rng, jitter: float):
    """Starting values of one chain: per-customer rates and regularity from the history (moment
    estimates, jittered by ``jitter`` on the log scale) and population parameters matched to them."""
    n = len(x)
    span = np.maximum(T, 1e-6)
    lam = (x + 0.5) / (span + 0.1 * max(float(np.mean(span)), 1e-6))
    mu = np.full(n, 1.0 / (3.0 * max(float(np.mean(span)), 1e-6)))
    k = np.ones(n)
    many = x >= 2
    # gamma shape from the gaps: log(mean gap) - mean log gap = delta; k ~ (3 - d + sqrt((d-3)^2 + 24 d)) / (12 d)
    with np.errstate(all="ignore"):
        delta = np.log(np.maximum(tx, 1e-300) / np.maximum(x, 1)) - litt / np.maximum(x, 1)
        est = (3 - delta + np.sqrt((delta - 3) ** 2 + 24 * delta)) / (12 * delta)
    k[many] = np.clip(np.where(np.isfinite(est[many]), est[many], 1.0), 0.2, 20.0)
    logv = np.log(np.vstack([k, lam, mu]))
    logv += jitter * rng.standard_normal(logv.shape)
    logv = np.clip(logv, _LO[:, None] + 1.0, _HI[:, None] - 1.0)
    hyp = np.empty(6)
    for p in range(3):
        v = np.exp(logv[p])
        m, var = float(np.mean(v)), float(np.var(v)) + 1e-12
        shape = float(np.clip(m * m / var, 0.05, 50.0))
        hyp[2 * p], hyp[2 * p + 1] = shape, shape / m
    return np.ascontiguousarray(logv), hyp


def warm_up_compiler() -> None:
    """Compile (or load from numba's disk cache) the sampler by running it on three customers, so that
    the timing of a fit measures sampling only."""
    x = np.array([0.0, 2.0, 5.0])
    tx = np.array([0.0, 3.0, 9.0])
    T = np.array([10.0, 10.0, 10.0])
    litt = np.array([0.0, 2 * math.log(1.5), 5 * math.log(1.8)])
    priors = {"t": {"mu": 0.0, "sigma": 2.0}, "r": {"mu": 0.0, "sigma": 2.0}, "s": {"mu": 0.0, "sigma": 2.0},
              "gamma": {"alpha": 1.0, "beta": 1.0}, "alpha": {"alpha": 1.0, "beta": 1.0},
              "beta": {"alpha": 1.0, "beta": 1.0}}
    run_chains(x, tx, T, litt, chains=1, tune=2, draws=1, thin=1, seed_seq=np.random.SeedSequence(0), priors=priors,
               cores=1)


def run_chains(x, tx, T, litt, *, chains: int, tune: int, draws: int, thin: int, seed_seq, priors: dict,
               cores: int, jitter: float = 0.3):
    """Run ``chains`` chains (``cores`` at a time, in threads); returns a dict of arrays with the chains on
    the first axis: ``hyper`` (C, D, 6), ``k``/``lambda``/``mu`` (C, D, N) float32, ``alive`` (C, D, N) bool
    (the augmented alive-at-T state) and ``acceptance`` (C, 2): of the two interweaving moves of (t, gamma)."""
    x, tx, T, litt = (np.ascontiguousarray(v, dtype=np.float64) for v in (x, tx, T, litt))
    n = len(x)
    names = (("t", "gamma"), ("r", "alpha"), ("s", "beta"))
    prior_m = np.array([priors[a]["mu"] for a, _ in names], dtype=np.float64)
    prior_s = np.array([priors[a]["sigma"] for a, _ in names], dtype=np.float64)
    prior_a = np.array([priors[b]["alpha"] for _, b in names], dtype=np.float64)
    prior_b = np.array([priors[b]["beta"] for _, b in names], dtype=np.float64)
    children = seed_seq.spawn(chains)
    out = {"hyper": np.empty((chains, draws, 6)), "k": np.empty((chains, draws, n), dtype=np.float32),
           "lambda": np.empty((chains, draws, n), dtype=np.float32),
           "mu": np.empty((chains, draws, n), dtype=np.float32),
           "alive": np.empty((chains, draws, n), dtype=np.bool_), "acceptance": np.empty((chains, 2))}

    def one(c):
        rng = np.random.default_rng(children[c])
        logv, hyp = initial_values(x, tx, T, litt, rng, jitter)
        logk = np.ascontiguousarray(logv[0])
        lam = np.ascontiguousarray(np.exp(logv[1]))
        mu = np.ascontiguousarray(np.exp(logv[2]))
        gap = (T - tx) + 1.0 / lam
        seed = int(rng.integers(2**31 - 1))
        acc = np.empty(2)
        kept = run(seed, x, tx, T, litt, logk, lam, mu, gap, hyp, prior_m, prior_s, prior_a, prior_b, int(tune),
                   int(draws), int(thin), _LO, _HI, out["hyper"][c], out["k"][c], out["lambda"][c], out["mu"][c],
                   out["alive"][c], acc)
        out["acceptance"][c] = acc
        return kept

    workers = max(1, min(int(cores), chains))
    if workers == 1:
        for c in range(chains):
            one(c)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(chains)))
    return out
