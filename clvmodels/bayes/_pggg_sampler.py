"""The Pareto/GGG MCMC: a data-augmentation sampler written for numba, one chain per call (``nogil``: chains run
in parallel threads).

Besides each customer's k, lambda and mu, the state holds two latent quantities per customer (the augmentation
that removes the integrals of the likelihood):

* G, the current inter-purchase time (the gap after the last purchase, at t_x, that is not finished by T);
* the lifetime: alive at T, or gone at t_x + R (R < T - t_x), so that G must exceed the cut c = T - t_x
  (alive) or R (gone).

With them, the history is x + 1 complete Gamma(k, k lambda) gaps and an exponential lifetime; integrating G and
the lifetime out again gives the likelihood of :mod:`clvmodels.math.paretoggg`. One sweep:

1. per customer, G given k, lambda and the cut: Gamma(k, k lambda) truncated below at c, by rejection (plain
   below the mean; beyond it a translated exponential proposal, Robert 1995); then log k given lambda and the
   x + 1 gaps by slice sampling (Neal 2003) with a per-customer width learnt in warm-up;
2. (r, alpha) given each k and cut, with every lambda **and G** integrated out: per customer a closed form with
   one regularised incomplete beta function (with Z = lambda (alpha + k t_x) and Y = k lambda G, G > c is
   Y > rho Z, and Z / (Z + Y) is Beta(r + kx, k)); Metropolis on (log r, log(r / alpha)): see below. Then each
   (lambda, G) jointly and exactly from the same construction (a truncated Beta variate times an independent
   Gamma one);
3. (t, gamma) given the k: gamma conjugate, t by slice sampling; then moves in the spirit of interweaving (Yu &
   Meng 2011) that propose (log t, log(t / gamma)) jointly with every log k carried along by a transport map: its
   quantile under an approximation of its own conditional (given lambda and the x + 1 gaps, G held) stays fixed. The
   approximation: the gaps' log likelihood in k is nearly a Gamma kernel a log k - b k (Stirling), matched in its
   first two derivatives at k0 = t / gamma, so the conditional is about Gamma(t + a, gamma + b); the quantile map is
   the Wilson-Hilferty cube-root normal one (cheap: no incomplete gamma function). Where the approximation were
   exact, the move's acceptance ratio would be that of (t, gamma) with every k integrated out; on a synthetic
   23,570-customer check it matches that ratio to 0.01 over +-1 in log t, while the standardised-normal map used
   before (k's population quantile fixed) was off by 10-50. So one step can travel the whole posterior: after
   warm-up one step a sweep is an independence proposal (a Student t fitted to the second half of warm-up), the
   other a random walk. This matters most where every k is near the same value (t in the hundreds, as on the
   whole CDNOW log): there neither the conditional updates nor a population-quantile map move t (lag-1
   autocorrelation 0.98 before; bulk ESS of t at the default settings 64 -> ~800-1,200);
4. (s, beta) given G, with every mu **and the lifetime** integrated out: alive at t_x, and gone before the next
   purchase t_x + G when that falls before T: (beta / (beta + t_x))^s - (beta / (beta + t_x + G))^s per
   customer; Metropolis as for (r, alpha). Then each lifetime from its Lomax law truncated accordingly (inverse
   CDF) and mu ~ Gamma(s + 1, beta + lifetime), which sets alive / R.

The Metropolis updates of (r, alpha) and (s, beta) are adaptive random walks in warm-up (slice sampling too in its
first fifth). After warm-up, the first step of each sweep proposes independently from a bivariate Student t fitted
to the second half of warm-up, the others are random-walk steps: given the latent state, these pairs' conditionals
are about as wide as their posteriors (the random walk's adapted scale settles near 2 posterior sds), so a proposal
from the whole posterior is accepted often and decorrelates more than a random-walk step (on 10,000 simulated
customers at the same number of steps a sweep, the lag-1 autocorrelation of r fell from 0.61 to 0.37, of s from 0.46
to 0.32). Where the t fits that well, every step is one: in the last fifth of warm-up each sweep adds an
independence step on trial, and a pair whose trial steps were accepted with mean probability >= 0.45 takes only
independence steps after warm-up (10,000 simulated customers: trial acceptance 0.53-0.62; min bulk ESS of r at
thin 1 over four seeds 346-596 with one independence step a sweep, 494-554 with only independence steps); the
others keep one (the CDNOW sample: trial acceptance 0.20-0.40, where more independence steps lowered the ESS). The
choice is made once, in warm-up, so the kernel stays fixed after it.

Each population pair is updated with as much of the customers' state integrated out as has a closed form:
conditioning (r, alpha) on G, or (s, beta) on the dropout times, is what made the earlier versions mix slowly on
real data (the CDNOW sample: bulk ESS 27-68 for 2 x 1,000 draws, now 240-860 at the same settings but thin 5;
``benchmarks/RESULTS.md``). The dropout state of the very first sweep is drawn from the closed-form P(alive).

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
log1mexp = _K.log1mexp


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
_RATE_STEPS = 2          # Metropolis steps of (r, alpha) a sweep (after warm-up: one independence, one random walk)
_IW_ROUNDS = 1           # rounds of the two (t, gamma) moves a sweep (independence after warm-up, random walk)
_DROP_STEPS = 4          # Metropolis steps of (s, beta) a sweep (after warm-up: one independence, then random walk)
_INDEP_ALL = 0.45        # ... or independence steps only, if the trial in late warm-up accepted this often (mean)
_INDEP_DF = 5.0          # the independence proposals of (r, alpha), (s, beta) after warm-up: Student t, 5 df,
_INDEP_SCALE = 1.25      # 1.25 x the warm-up draws' covariance factor
# customer draws are stored as float32: kept inside its normal range (a rate below 1e-37 is 0 in any time unit)
_PILOT = 250            # thin=0 (automatic): sweeps after warm-up whose autocorrelation sets the thinning, ...
_PILOT_TAUS = 20.0       # ... doubled (up to the draws asked for) until they span this many autocorrelation times
_FINAL_ESS = 250.0       # ... and doubled at the end while the chain's own draws hold fewer effective draws than
#                          this (or than a quarter of the draws asked for, if fewer)
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
def _lentz(aa, c, d):
    # one step of the modified Lentz algorithm for a continued fraction with partial numerator aa, denominator 1
    d = 1.0 + aa * d
    if abs(d) < 1e-300:
        d = 1e-300
    c = 1.0 + aa / c
    if abs(c) < 1e-300:
        c = 1e-300
    d = 1.0 / d
    return c, d, d * c


@_jit
def _betacf(a, b, x):
    # the continued fraction of I_x(a, b) (modified Lentz), converging fast for x < (a + 1) / (a + b + 2)
    qab = a + b
    c = 1.0
    d = 1.0 - qab * x / (a + 1.0)
    d = 1.0 / (d if abs(d) >= 1e-300 else 1e-300)
    h = d
    for m in range(1, 100000):
        m2 = 2.0 * m
        c, d, delta = _lentz(m * (b - m) * x / ((a - 1.0 + m2) * (a + m2)), c, d)
        h *= delta
        c, d, delta = _lentz(-(a + m) * (qab + m) * x / ((a + m2) * (a + 1.0 + m2)), c, d)
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


@_jit
def log_ibeta_pre(a, b, lx, l1x, lbeta_ab):
    # (log I_x(a, b), log(1 - I_x(a, b))) given log B(a, b) (callers may cache its terms); 0 < x < 1
    lbt = a * lx + b * l1x - lbeta_ab
    x = math.exp(lx)
    if x < (a + 1.0) / (a + b + 2.0):
        li = min(lbt + math.log(_betacf(a, b, x)) - math.log(a), 0.0)
        return li, log1mexp(li)
    lj = min(lbt + math.log(_betacf(b, a, math.exp(l1x))) - math.log(b), 0.0)
    return log1mexp(lj), lj


@_jit
def log_ibeta_lower(a, b, lx, l1x, lbeta_ab):
    # log I_x(a, b) alone, as log_ibeta_pre, but with 1 - I_x(a, b) < e^-50 taken as 0 without its continued
    # fraction: 1 - I_x(a, b) = I_(1-x)(b, a) = x^a (1 - x)^b / (b B(a, b)) h with h = 2F1(a + b, 1; b + 1; 1 - x),
    # a series whose term ratios are at most max((a + b) / (a + b + 2), 1 - x) where the fraction is used, so
    # h <= max((a + b + 2) / 2, 1 / x). An error below e^-50 in a term is far below the rounding of the sum
    lbt = a * lx + b * l1x - lbeta_ab
    x = math.exp(lx)
    if x < (a + 1.0) / (a + b + 2.0):
        return min(lbt + math.log(_betacf(a, b, x)) - math.log(a), 0.0)
    if lbt - math.log(b) + max(math.log(0.5 * (a + b + 2.0)), -lx) < -50.0:
        return 0.0
    return log1mexp(min(lbt + math.log(_betacf(b, a, math.exp(l1x))) - math.log(b), 0.0))


@_jit
def log_ibeta(a, b, lx, l1x):
    """(log I_x(a, b), log(1 - I_x(a, b))), the regularised incomplete beta function, given log x and log(1 - x)
    (so that x near 0 or 1 keeps its precision)."""
    if lx == -np.inf:
        return -np.inf, 0.0
    if l1x == -np.inf:
        return 0.0, -np.inf
    return log_ibeta_pre(a, b, lx, l1x, math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


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
def k_target(u, lam, llam, n_gaps, lgaps, span, sh, rt):
    # log p(log k = u | lambda, the x + 1 gaps) up to a constant: the Gamma(k, k lambda) densities of the
    # gaps (n_gaps of them, logs summing to lgaps, total length span) times the Gamma(sh, rt) prior; llam = log lambda
    kk = math.exp(u)
    return (n_gaps * (kk * (u + llam) - math.lgamma(kk)) + (kk - 1.0) * lgaps - kk * lam * span
            + sh * u - rt * kk)


@_jit
def gamma_coef(k0):
    # the Gamma-kernel approximation a log k - b k of a customer's gap log likelihood in k (matching its first two
    # derivatives at k0) is a = n_gaps * al, b = n_gaps * be - c, with c = n_gaps (1 + log lambda) + (sum of the log
    # gaps) - lambda (sum of the gaps), the customer's own term (cdat in run)
    tri = trigamma(k0)
    al = k0 * (k0 * tri - 1.0)
    be = k0 * tri - 1.0 - math.log(k0) + digamma(k0)
    return al, be


@_jit
def transport(sh, rt, new_sh, new_rt, x, logk, lam, llm, lgp, spn, cdat, cur_l, new_u, new_l, lo, hi):
    # the log k part of the (t, gamma) move from (sh, rt) to (new_sh, new_rt): each log k (current log likelihood
    # cur_l) is mapped to new_u (new_l) so that its quantile under Gamma(A, B), the approximation of its conditional
    # (A = t + a, B = gamma + b; module notes), stays: z = (w - 1 + 1 / (9A)) 3 sqrt(A) with w = (k B / A)^(1/3)
    # (Wilson-Hilferty) is held fixed. Any deterministic family of such maps gives an exact move; B is kept above
    # gamma / 20 (a customer whose gaps pull k far up). Returns the change of the Gamma(t, gamma) and gap log
    # densities plus the log Jacobian (d log k' / d log k = w s' / (w' s), s = 1 / (3 sqrt(A))), -inf if a mapped
    # value leaves the bounds
    al_o, be_o = gamma_coef(sh / rt)
    al_n, be_n = gamma_coef(new_sh / new_rt)
    lr_o = math.log(rt)
    lr_n = math.log(new_rt)
    lg_o = math.lgamma(sh)
    lg_n = math.lgamma(new_sh)
    out = 0.0
    for i in range(x.shape[0]):
        u = logk[i]
        ng = x[i] + 1.0
        a_o = sh + ng * al_o
        b_o = max(rt + ng * be_o - cdat[i], 0.05 * rt)
        a_n = new_sh + ng * al_n
        b_n = max(new_rt + ng * be_n - cdat[i], 0.05 * new_rt)
        s_o = 1.0 / (3.0 * math.sqrt(a_o))
        s_n = 1.0 / (3.0 * math.sqrt(a_n))
        w_o = math.exp((u + math.log(b_o / a_o)) / 3.0)
        w_n = 1.0 - 1.0 / (9.0 * a_n) + s_n * (w_o - 1.0 + 1.0 / (9.0 * a_o)) / s_o
        if not w_n > 0.0:
            return -np.inf
        un = math.log(a_n / b_n) + 3.0 * math.log(w_n)
        if un < lo or un > hi:
            return -np.inf
        new_u[i] = un
        new_l[i] = k_target(un, lam[i], llm[i], ng, lgp[i], spn[i], 0.0, 0.0)
        out += (math.log(w_o * s_n / (w_n * s_o)) + new_l[i] - cur_l[i]
                + (new_sh * (un + lr_n) - lg_n - math.exp(un + lr_n)) - (sh * (u + lr_o) - lg_o - math.exp(u + lr_o)))
    return out


@_jit
def tg_log_ratio(la, lb, nla, nlb, m0, s0, a0, b0, x, logk, lam, llm, lgp, spn, cdat, cur_l, new_u, new_l, lo, hi):
    # log acceptance ratio (proposal correction aside) of the (t, gamma) move from (la, lb) = (log t, log(t / gamma))
    # to (nla, nlb): the priors (normal on log t; Gamma(a0, b0) on gamma, in log gamma) and the transport of the log k
    sh = math.exp(la)
    rt = math.exp(la - lb)
    new_sh = math.exp(nla)
    new_rt = math.exp(nla - nlb)
    lu = la - m0
    lun = nla - m0
    out = -0.5 * (lun * lun - lu * lu) / (s0 * s0) + a0 * ((nla - nlb) - (la - lb)) - b0 * (new_rt - rt)
    return out + transport(sh, rt, new_sh, new_rt, x, logk, lam, llm, lgp, spn, cdat, cur_l, new_u, new_l, lo, hi)


@_jit
def slice_k(u0, w, lam, n_gaps, lgaps, span, sh, rt, lo, hi):
    llam = math.log(lam)
    y = k_target(u0, lam, llam, n_gaps, lgaps, span, sh, rt) - np.random.exponential(1.0)
    left = u0 - w * np.random.random()
    right = left + w
    for _ in range(50):
        if left < lo or not k_target(left, lam, llam, n_gaps, lgaps, span, sh, rt) > y:
            break
        left -= w
    for _ in range(50):
        if right > hi or not k_target(right, lam, llam, n_gaps, lgaps, span, sh, rt) > y:
            break
        right += w
    for _ in range(200):
        u1 = left + np.random.random() * (right - left)
        if lo <= u1 <= hi and k_target(u1, lam, llam, n_gaps, lgaps, span, sh, rt) > y:
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
def pair_target(which, ls, lm, a1, a2, a3, a4, a5, m0, s0, a0, b0, buf):
    # log p(shape, rate | ...) of a population pair on (log shape, log(shape / rate)), the customers' values and
    # some of the latent quantities integrated out (closed forms), plus the priors (log scale):
    # which = 0, (r, alpha) given each k and cut c (the current gap G exceeds c: T - t_x if alive, R if gone), every
    # lambda and G integrated out: lgamma(r + kx) - lgamma(r) + r log alpha - (r + kx) log(alpha + k t_x)
    # + log I_{1 / (1 + rho)}(r + kx, k), rho = k c / (alpha + k t_x) (a1 = kx, a2 = k t_x, a3 = k c, a4 = k,
    # a5 = lgamma(k));
    # which = 1, (s, beta) given each G, every mu and the dropout integrated out: alive at t_x, and gone before the
    # next purchase t_x + G if that falls before T: s log(beta / (beta + t_x)) + log(1 - ((beta + t_x) /
    # (beta + t_x + G))^s) (a1 = t_x, a2 = G, or -1 if the next purchase falls after T; a3 to a5 unused)
    if ls < -20.0 or ls > 20.0 or lm < -60.0 or lm > 60.0:
        return -np.inf
    sh = math.exp(ls)
    lb = ls - lm
    b = math.exp(lb)
    n = a1.shape[0]
    out = 0.0
    if which == 0:
        out = n * (sh * lb - math.lgamma(sh))
        keep = buf.shape[0] == n
        for i in range(n):
            a = sh + a1[i]
            e = b + a2[i]
            le = math.log(e)
            lga = math.lgamma(a)
            out += lga - a * le
            li = 0.0
            if a3[i] > 0.0:
                # I_{1 / (1 + rho)}(a, k), rho = k c / e
                kk = a4[i]
                l1p = math.log1p(a3[i] / e)
                li = log_ibeta_lower(a, kk, -l1p, math.log(a3[i]) - le - l1p, lga + a5[i] - math.lgamma(a + kk))
                out += li
            if keep:
                buf[i] = li
    else:
        for i in range(n):
            base = math.log1p(a1[i] / b)
            out -= sh * base
            if a2[i] >= 0.0:
                out += log1mexp(-sh * (math.log1p((a1[i] + a2[i]) / b) - base))
    return out - 0.5 * ((ls - m0) / s0) ** 2 + a0 * lb - b0 * b


@_jit
def pair_at(u, ls, lm, coord, which, a1, a2, a3, a4, a5, m0, s0, a0, b0):
    if coord == 0:
        return pair_target(which, u, lm, a1, a2, a3, a4, a5, m0, s0, a0, b0, np.empty(0))
    return pair_target(which, ls, u, a1, a2, a3, a4, a5, m0, s0, a0, b0, np.empty(0))


@_jit
def slice_pair(ls, lm, coord, w, which, a1, a2, a3, a4, a5, m0, s0, a0, b0):
    y = pair_target(which, ls, lm, a1, a2, a3, a4, a5, m0, s0, a0, b0, np.empty(0)) - np.random.exponential(1.0)
    u0 = ls if coord == 0 else lm
    left = u0 - w * np.random.random()
    right = left + w
    for _ in range(60):
        if not pair_at(left, ls, lm, coord, which, a1, a2, a3, a4, a5, m0, s0, a0, b0) > y:
            break
        left -= w
    for _ in range(60):
        if not pair_at(right, ls, lm, coord, which, a1, a2, a3, a4, a5, m0, s0, a0, b0) > y:
            break
        right += w
    for _ in range(200):
        u1 = left + np.random.random() * (right - left)
        if pair_at(u1, ls, lm, coord, which, a1, a2, a3, a4, a5, m0, s0, a0, b0) > y:
            return u1
        if u1 < u0:
            left = u1
        else:
            right = u1
    return u0


@_jit
def _plain_pair(a, kk, rho, e, c, tries):
    # (Z, Y) ~ Gamma(a, 1) x Gamma(k, 1) until Y > rho Z: (found, lambda, G)
    for _ in range(tries):
        z = np.random.gamma(a, 1.0)
        y = np.random.gamma(kk, 1.0)
        if y > rho * z:
            lam = max(z / e, 1e-300)
            return True, lam, max(y / (kk * lam), c)
    return False, 0.0, 0.0


@_jit
def slice_both(ls, lm, pw, off, which, a1, a2, a3, a4, a5, m0, s0, a0, b0):
    # one slice-sampling update of each coordinate of a pair; widths pw[off], pw[off + 1] learnt on the way (warm-up)
    for c in range(2):
        v = slice_pair(ls, lm, c, pw[off + c], which, a1, a2, a3, a4, a5, m0, s0, a0, b0)
        pw[off + c] = 0.9 * pw[off + c] + 0.1 * min(max(4.0 * abs(v - (ls if c == 0 else lm)), 0.01), 5.0)
        if c == 0:
            ls = v
        else:
            lm = v
    return ls, lm


@_jit
def draw_rate_gap(r, alpha, kk, x, tx, c, li):
    """(lambda, G) of one customer given k, the cut c (G > c) and (r, alpha), drawn jointly and exactly.

    With Z = lambda (alpha + k t_x) ~ Gamma(r + kx, 1) and Y = k lambda G ~ Gamma(k, 1) a priori, the condition
    G > c is Y > rho Z (rho = k c / (alpha + k t_x)), i.e. B = Z / (Z + Y) < 1 / (1 + rho) with B ~ Beta(r + kx, k)
    independent of Z + Y ~ Gamma(r + kx + k, 1). B is drawn truncated by the exact sampler with the best acceptance
    rate (plain rejection of (Z, Y) pairs, a power proposal on (0, u), a tangent exponential envelope below u), or by
    the inverse CDF (bisection) if none accepts often; then Z + Y. ``li`` is log I_u(r + kx, k) = log P(G > c), or NaN
    to compute it here (the sampler passes the value its (r, alpha) move computed at the same state); below log 1/2
    (-0.7) the first cheap plain tries are skipped."""
    a = r + kk * x
    e = alpha + kk * tx
    if c <= 0.0:
        z = np.random.gamma(a, 1.0)
        y = np.random.gamma(kk, 1.0)
        lam = max(z / e, 1e-300)
        return lam, max(y / (kk * lam), 1e-300)
    if not li < -0.7:
        # cheap first tries, often enough (skipped when I_u(a, k) is known to be below 1/2)
        ok, lam, g_ = _plain_pair(a, kk, kk * c / e, e, c, 3)
        if ok:
            return lam, g_
    lrho = math.log(kk * c) - math.log(e)
    l1p = math.log1p(math.exp(lrho))
    lu = -l1p                      # log u, u = 1 / (1 + rho)
    l1u = lrho - l1p               # log(1 - u)
    if li != li:
        li, _ = log_ibeta(a, kk, lu, l1u)
    rho = math.exp(lrho)
    # acceptance rates (log) of three exact rejection samplers of B: plain rejection of (Z, Y) pairs, I_u(a, k);
    # a power proposal B = u W^(1 / a) on (0, u); when log f(B) = (a - 1) log B + (k - 1) log(1 - B) is concave
    # (a, k >= 1) and increasing at u, u minus an exponential of its slope g at u (tangent envelope)
    lz = li + math.lgamma(a) + math.lgamma(kk) - math.lgamma(a + kk)      # log of the integral of f over (0, u)
    lpow = lz + math.log(a) - a * lu
    if kk < 1.0:
        lpow += (1.0 - kk) * l1u
    u = math.exp(lu)
    g = (a - 1.0) / u - (kk - 1.0) / math.exp(l1u)
    ltan = -np.inf
    if a >= 1.0 and kk >= 1.0 and g > 0.0:
        ltan = lz - ((a - 1.0) * lu + (kk - 1.0) * l1u) - math.log(-math.expm1(-g * u) / g)
    best = max(li, lpow, ltan)
    lb = 0.0
    l1b = 0.0
    done = False
    if best > -2.5:
        if li == best:
            ok, lam, g_ = _plain_pair(a, kk, rho, e, c, 1000)
            if ok:
                return lam, g_
        elif lpow == best:
            for _ in range(1000):
                lb = lu + math.log(1.0 - np.random.random()) / a
                l1b = log1mexp(lb)
                la = (kk - 1.0) * l1b if kk >= 1.0 else (kk - 1.0) * (l1b - l1u)
                if math.log(1.0 - np.random.random()) < la:
                    done = True
                    break
        else:
            fu = (a - 1.0) * lu + (kk - 1.0) * l1u
            em = -math.expm1(-g * u)
            for _ in range(1000):
                v = -math.log1p(-np.random.random() * em) / g        # Exp(g) truncated to (0, u)
                b_ = u - v
                if b_ <= 0.0:
                    continue
                lb = math.log(b_)
                l1b = math.log1p(-b_)
                if math.log(1.0 - np.random.random()) < (a - 1.0) * lb + (kk - 1.0) * l1b - fu + g * v:
                    done = True
                    break
    if not done:
        # inverse CDF: log I_B(a, k) = log V + log I_u(a, k), bisection on log B
        target = li + math.log(1.0 - np.random.random())
        hi = lu
        lo = lu - 1.0
        for _ in range(200):
            if log_ibeta(a, kk, lo, log1mexp(lo))[0] < target:
                break
            lo = lu - 2.0 * (lu - lo)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if log_ibeta(a, kk, mid, log1mexp(mid))[0] < target:
                lo = mid
            else:
                hi = mid
        lb = 0.5 * (lo + hi)
        l1b = log1mexp(lb)
    tot = np.random.gamma(a + kk, 1.0)
    lam = max(math.exp(lb) * tot / e, 1e-300)
    return lam, max(math.exp(l1b) * tot / (kk * lam), c)


@_jit
def draw_lifetime(s, beta, tx, g, d):
    """The lifetime L (from the first purchase) of one customer given G and (s, beta), mu integrated out: the
    Lomax law S(l) = (beta / (beta + l))^s conditioned on L > t_x and, when the next purchase t_x + G falls
    before T (G <= d), on L < t_x + G (inverse CDF)."""
    base = math.log1p(tx / beta)
    v = 1.0 - np.random.random()
    if g > d:
        ls_ = -s * base + math.log(v)
    else:
        lq = -s * (math.log1p((tx + g) / beta) - base)        # log S(t_x + G) / S(t_x)
        q = math.exp(lq)
        ls_ = -s * base + math.log(q + v * (1.0 - q))
    z = -ls_ / s
    life = beta * math.expm1(z) if z < 600.0 else 1e250     # beyond any T: alive, mu ~ 0
    if life < tx:
        life = tx
    if g <= d and life > tx + g:
        life = tx + g
    return life


@_jit
def adapt(hs, hn, hchol, m, ua, ub, refresh):
    # running moments of an adaptive Metropolis move's two coordinates; the proposal's Cholesky factor from them
    hn[m] += 1.0
    hs[m, 0] += ua
    hs[m, 1] += ub
    hs[m, 2] += ua * ua
    hs[m, 3] += ua * ub
    hs[m, 4] += ub * ub
    if hn[m] >= 50.0 and refresh:
        ma = hs[m, 0] / hn[m]
        mb = hs[m, 1] / hn[m]
        caa = hs[m, 2] / hn[m] - ma * ma + 1e-8
        cab = hs[m, 3] / hn[m] - ma * mb
        cbb = hs[m, 4] / hn[m] - mb * mb + 1e-8
        if caa > 0.0 and cbb - cab * cab / caa > 0.0:
            hchol[m, 0] = math.sqrt(caa)
            hchol[m, 1] = cab / hchol[m, 0]
            hchol[m, 2] = math.sqrt(cbb - cab * cab / caa)


@_jit
def _t_logq(m, hs, hn, hchol, ua, ub):
    # log density (up to a constant) of the independence proposal of move m at (ua, ub): a bivariate Student t
    # (_INDEP_DF degrees of freedom) centred on the warm-up mean, scale _INDEP_SCALE times the warm-up Cholesky factor
    za = (ua - hs[m, 0] / hn[m]) / (_INDEP_SCALE * hchol[m, 0])
    zb = (ub - hs[m, 1] / hn[m] - _INDEP_SCALE * hchol[m, 1] * za) / (_INDEP_SCALE * hchol[m, 2])
    return -0.5 * (_INDEP_DF + 2.0) * math.log1p((za * za + zb * zb) / _INDEP_DF)


@_jit
def mh_pair(which, ls, lm, m, steps, a1, a2, a3, a4, a5, m0, s0, a0, b0, hchol, hl_scale, hs, hn, acc, tries, warm,
            learn, it, buf, spare, n_ind, trial, ind_acc, ind_n):
    # Metropolis on (log shape, log(shape / rate)) of a population pair (move m). In warm-up: adaptive random walk,
    # its covariance learnt from the warm-up draws, its scale from the acceptance rate (target 0.3). After warm-up
    # the first n_ind[m] steps of a sweep are independence proposals (a Student t fitted to the warm-up draws): the
    # pair's conditional given the customers' latent state is about as wide as its posterior, so a draw from near the
    # whole posterior is accepted often and decorrelates far more than a random-walk step; the others stay random
    # walk (which keeps the chain moving wherever the t fits poorly). In the trial (late warm-up) an extra first step
    # is an independence one; its acceptance probability is summed in ind_acc / ind_n (it does not tune the random
    # walk's scale). pair_target's per-customer values at the current state end in the buffer returned (buf and
    # spare swap on each acceptance)
    cur = pair_target(which, ls, lm, a1, a2, a3, a4, a5, m0, s0, a0, b0, buf)
    for j in range(-1 if trial and hn[m] >= 50.0 else 0, steps):
        za = np.random.standard_normal()
        zb = np.random.standard_normal()
        indep = j == -1 or (not warm and j < n_ind[m] and hn[m] >= 50.0)
        if indep:
            w = math.sqrt(_INDEP_DF / np.random.chisquare(_INDEP_DF)) * _INDEP_SCALE
            nls = hs[m, 0] / hn[m] + w * hchol[m, 0] * za
            nlm = hs[m, 1] / hn[m] + w * (hchol[m, 1] * za + hchol[m, 2] * zb)
            corr = _t_logq(m, hs, hn, hchol, ls, lm) - _t_logq(m, hs, hn, hchol, nls, nlm)
        else:
            sc = math.exp(hl_scale[m])
            nls = ls + sc * hchol[m, 0] * za
            nlm = lm + sc * (hchol[m, 1] * za + hchol[m, 2] * zb)
            corr = 0.0
        val = pair_target(which, nls, nlm, a1, a2, a3, a4, a5, m0, s0, a0, b0, spare)
        a_prob = math.exp(min(val - cur + corr, 0.0)) if val == val else 0.0
        tries[m] += 1.0
        if trial and indep:
            ind_acc[m] += a_prob
            ind_n[m] += 1.0
        if np.random.random() < a_prob:
            ls = nls
            lm = nlm
            cur = val
            buf, spare = spare, buf
            acc[m] += 1.0
        if warm and not indep:
            hl_scale[m] += (a_prob - 0.3) / math.sqrt(it + 1.0)
        if learn:
            adapt(hs, hn, hchol, m, ls, lm, it % 25 == 0)
    return ls, lm, buf


@_jit
def autocorr_time(v):
    # integrated autocorrelation time of a series (Geyer 1992's initial positive sequence: sums of adjacent
    # autocorrelation pairs, while positive)
    n = v.shape[0]
    m = 0.0
    for i in range(n):
        m += v[i]
    m /= n
    c0 = 0.0
    for i in range(n):
        c0 += (v[i] - m) * (v[i] - m)
    if not c0 > 0.0:
        return 1.0
    tau = -1.0
    lag = 0
    while lag + 1 < n:
        pair = 0.0
        for h in (lag, lag + 1):
            c = 0.0
            for i in range(n - h):
                c += (v[i] - m) * (v[i + h] - m)
            pair += c / c0
        if pair <= 0.0:
            break
        tau += 2.0 * pair
        lag += 2
    return max(tau, 1.0)


@_jit
def max_autocorr_time(pilot):
    # the autocorrelation time of the slowest population parameter (columns: log t, ..., log beta)
    tau = 1.0
    for j in range(pilot.shape[1]):
        tau = max(tau, autocorr_time(pilot[:, j]))
    return tau


@_jit
def copy_row(src, dst, out_hyp, out_k, out_lam, out_mu, out_alive):
    # a kept draw moved to an earlier row (the thinning of kept draws in place)
    if src != dst:
        out_hyp[dst, :] = out_hyp[src, :]
        out_k[dst, :] = out_k[src, :]
        out_lam[dst, :] = out_lam[src, :]
        out_mu[dst, :] = out_mu[src, :]
        out_alive[dst, :] = out_alive[src, :]


@_jit
def run(seed, x, tx, T, litt, logk, lam, mu, gap, hyp, prior_m, prior_s, prior_a, prior_b, n_warm, n_keep,
        thin, n_rate, n_iw, n_drop, lo, hi, out_hyp, out_k, out_lam, out_mu, out_alive, out_acc, thin_target,
        thin_max):
    np.random.seed(seed)
    n = x.shape[0]
    # per customer: log k, lambda, mu, the current (unfinished) inter-purchase time ``gap`` (G, > 0), alive at
    # T or gone at t_x + rem, the cut G must exceed; hyp = t, gamma, r, alpha, s, beta
    alive = np.ones(n, dtype=np.bool_)
    rem = np.zeros(n)
    cut = np.zeros(n)
    kk = np.empty(n)
    kx = np.empty(n)
    ktx = np.empty(n)
    kc = np.empty(n)
    lgk = np.empty(n)
    nxt = np.empty(n)
    width = np.full(n, 1.0)
    wsum = np.zeros(n)
    wsq = np.zeros(n)
    wn = 0
    checkpoints = np.array([n_warm // 5, (2 * n_warm) // 5, (3 * n_warm) // 5, (4 * n_warm) // 5])
    pw = np.array([0.5, 0.5, 0.5, 0.5])      # slice widths of (log s, log(s / beta)), (log r, log(r / alpha))
    # adaptive Metropolis moves: 0 and 1 the moves of (t, gamma) (0 independence after warm-up), 2 the move of
    # (r, alpha), 3 that of (s, beta); lower Cholesky factors of their proposals, log scales, running sums of the
    # warm-up draws
    hchol = np.zeros((4, 3))
    hchol[:, 0] = 0.3        # a wide first guess: the scale adapts down within the first sweeps if it must
    hchol[:, 2] = 0.3
    hl_scale = np.zeros(4)
    hn = np.zeros(4)
    hs = np.zeros((4, 5))
    acc = np.zeros(4)
    tries = np.zeros(4)
    new_u = np.empty(n)
    new_l = np.empty(n)
    cur_l = np.empty(n)
    lgp = np.empty(n)
    spn = np.empty(n)
    llm = np.empty(n)
    li_a = np.empty(n)       # log I of each customer at the (r, alpha) state (mh_pair's two buffers)
    li_b = np.empty(n)
    cdat = np.empty(n)
    nobuf = np.empty(0)
    n_ind = np.ones(4, dtype=np.int64)
    ind_acc = np.zeros(4)
    ind_n = np.zeros(4)
    # thin 0: chosen after the first n_pilot sweeps after warm-up (the pilot, kept at thin 1 meanwhile: its rows
    # are thinned in place once the thinning is known, so no sweep is wasted): the autocorrelation time of the
    # slowest population parameter times thin_target / n_keep, at most thin_max; then doubled, once the draws are
    # complete, while they hold too few effective draws (_FINAL_ESS)
    n_pilot = min(_PILOT, n_keep) if thin == 0 else 0
    pilot = np.empty((n_keep if thin == 0 else 0, 6))
    total = n_warm + n_keep * max(thin, 1)
    kept = 0
    it = -1
    while it + 1 < total:
        it += 1
        warm = it < n_warm
        if it == n_warm // 2 and n_warm >= 200:
            # the independence proposals of (t, gamma), (r, alpha), (s, beta) fit the second half of warm-up only
            hn[2:] = 0.0
            hs[2:, :] = 0.0
            hn[0] = 0.0
            hs[0, :] = 0.0
        learn = warm and it >= n_warm // 10
        trial = warm and n_warm >= 200 and it >= (4 * n_warm) // 5      # independence steps on trial (mh_pair)
        t_sh = hyp[0]
        t_rt = hyp[1]
        for i in range(n):
            d = T[i] - tx[i]
            k_ = math.exp(logk[i])
            # first sweep: alive at T, or the dropout time, given the starting (k, lambda, mu) with G integrated
            # out (closed-form P(alive); if gone, the time from t_x to the dropout by rejection sampling)
            if it == 0:
                if d > 0.0 and math.log(1.0 - np.random.random()) >= log_palive1(k_, lam[i], mu[i], x[i], tx[i], T[i]):
                    alive[i] = False
                    rem[i] = draw_dropout_gap(k_, lam[i], mu[i], d)
                else:
                    alive[i] = True
                    rem[i] = d
            cut[i] = d if alive[i] else rem[i]
            # 1. the current gap G ~ Gamma(k, k lambda) beyond the cut: T - t_x if alive, R if gone
            rate = k_ * lam[i]
            gap[i] = max(trunc_gamma(k_, rate * cut[i]) / rate, 1e-300)
            # ... and log k given lambda and the x + 1 gaps (slice sampling)
            u = slice_k(logk[i], width[i], lam[i], x[i] + 1.0, litt[i] + math.log(gap[i]), tx[i] + gap[i],
                        t_sh, t_rt, lo[0], hi[0])
            logk[i] = u
            k_ = math.exp(u)
            kk[i] = k_
            kx[i] = k_ * x[i]
            ktx[i] = k_ * tx[i]
            kc[i] = k_ * cut[i]
            lgk[i] = math.lgamma(k_)
        # 2. (r, alpha) with every lambda and G integrated out (closed form with an incomplete beta function per
        # customer): adaptive random-walk Metropolis on (log r, log(r / alpha)); then each (lambda, G) jointly
        ls = math.log(hyp[2])
        lm = math.log(hyp[2] / hyp[3])
        if it < n_warm // 5:
            # early warm-up: slice sampling too, which travels from the starting values whatever its width
            ls, lm = slice_both(ls, lm, pw, 2, 0, kx, ktx, kc, kk, lgk, prior_m[1], prior_s[1], prior_a[1], prior_b[1])
        ls, lm, lib = mh_pair(0, ls, lm, 2, n_rate, kx, ktx, kc, kk, lgk, prior_m[1], prior_s[1], prior_a[1],
                              prior_b[1], hchol, hl_scale, hs, hn, acc, tries, warm, learn, it, li_a, li_b, n_ind,
                              trial, ind_acc, ind_n)
        hyp[2] = math.exp(ls)
        hyp[3] = math.exp(ls - lm)
        for i in range(n):
            lam[i], gap[i] = draw_rate_gap(hyp[2], hyp[3], kk[i], x[i], tx[i], cut[i], lib[i])
        # 3. (t, gamma) given the k: rate (conjugate), shape (slice); then Metropolis moves on
        # (log t, log(t / gamma)) that carry every log k along by the transport map (G held; see the module's notes)
        ssum = 0.0
        slog = 0.0
        for i in range(n):
            ssum += kk[i]
            slog += logk[i]
        rate = np.random.gamma(prior_a[0] + n * hyp[0], 1.0 / (prior_b[0] + ssum))
        hyp[1] = rate
        hyp[0] = math.exp(slice_shape(math.log(hyp[0]), n, slog, math.log(rate), prior_m[0], prior_s[0]))
        # the pieces of each customer's gap log likelihood in k the moves need (k_target, transport)
        for i in range(n):
            lgp[i] = litt[i] + math.log(gap[i])
            spn[i] = tx[i] + gap[i]
            llm[i] = math.log(lam[i])
            cur_l[i] = k_target(logk[i], lam[i], llm[i], x[i] + 1.0, lgp[i], spn[i], 0.0, 0.0)
            cdat[i] = (x[i] + 1.0) * (1.0 + llm[i]) + lgp[i] - lam[i] * spn[i]
        for rep in range(2 * n_iw):
            # (log t, log(t / gamma)); move 0 independence proposals after warm-up, move 1 random walk
            mv = rep % 2
            sh = hyp[0]
            rate = hyp[1]
            la = math.log(sh)
            lb = la - math.log(rate)
            za = np.random.standard_normal()
            zb = np.random.standard_normal()
            indep = mv == 0 and not warm and hn[0] >= 50.0
            if indep:
                w = math.sqrt(_INDEP_DF / np.random.chisquare(_INDEP_DF)) * _INDEP_SCALE
                nla = hs[0, 0] / hn[0] + w * hchol[0, 0] * za
                nlb = hs[0, 1] / hn[0] + w * (hchol[0, 1] * za + hchol[0, 2] * zb)
                corr = _t_logq(0, hs, hn, hchol, la, lb) - _t_logq(0, hs, hn, hchol, nla, nlb)
            else:
                sc = math.exp(hl_scale[mv])
                nla = la + sc * hchol[mv, 0] * za
                nlb = lb + sc * (hchol[mv, 1] * za + hchol[mv, 2] * zb)
                corr = 0.0
            tries[mv] += 1.0
            a_prob = 0.0
            if -20.0 < nla < 20.0 and -40.0 < nla - nlb < 40.0:
                log_r = corr + tg_log_ratio(la, lb, nla, nlb, prior_m[0], prior_s[0], prior_a[0], prior_b[0], x, logk,
                                            lam, llm, lgp, spn, cdat, cur_l, new_u, new_l, lo[0], hi[0])
                a_prob = math.exp(min(log_r, 0.0)) if log_r == log_r else 0.0
                if np.random.random() < a_prob:
                    acc[mv] += 1.0
                    hyp[0] = math.exp(nla)
                    hyp[1] = math.exp(nla - nlb)
                    for i in range(n):
                        logk[i] = new_u[i]
                        cur_l[i] = new_l[i]
            if warm and not indep:
                hl_scale[mv] += (a_prob - 0.3) / math.sqrt(it + 1.0)
            if learn:
                adapt(hs, hn, hchol, mv, math.log(hyp[0]), math.log(hyp[0] / hyp[1]), it % 25 == 0)
        for i in range(n):
            d = T[i] - tx[i]
            nxt[i] = gap[i] if gap[i] <= d else -1.0
        # 4. (s, beta) given G with every mu and dropout integrated out (adaptive Metropolis on log s and
        # log(s / beta); slice sampling too in warm-up); then each lifetime (Lomax, truncated) and
        # mu ~ Gamma(s + 1, beta + lifetime)
        ls = math.log(hyp[4])
        lm = math.log(hyp[4] / hyp[5])
        if it < n_warm // 5:
            ls, lm = slice_both(ls, lm, pw, 0, 1, tx, nxt, tx, tx, tx, prior_m[2], prior_s[2], prior_a[2], prior_b[2])
        ls, lm, _ = mh_pair(1, ls, lm, 3, n_drop, tx, nxt, tx, tx, tx, prior_m[2], prior_s[2], prior_a[2], prior_b[2],
                            hchol, hl_scale, hs, hn, acc, tries, warm, learn, it, nobuf, nobuf, n_ind, trial,
                            ind_acc, ind_n)
        hyp[4] = math.exp(ls)
        hyp[5] = math.exp(ls - lm)
        for i in range(n):
            d = T[i] - tx[i]
            life = draw_lifetime(hyp[4], hyp[5], tx[i], gap[i], d)
            mu[i] = max(np.random.gamma(hyp[4] + 1.0, 1.0 / (hyp[5] + life)), 1e-300)
            if life > T[i]:
                alive[i] = True
                rem[i] = d
            else:
                alive[i] = False
                rem[i] = life - tx[i]
        # warm-up: slice widths of log k, 3 posterior sds, learnt between checkpoints
        if warm:
            if learn:
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
                # every step of a pair independence from now on if its trial accepted often enough
                for mv in range(2, 4):
                    if ind_n[mv] > 0.0 and ind_acc[mv] / ind_n[mv] >= _INDEP_ALL:
                        n_ind[mv] = n_rate if mv == 2 else n_drop
                acc[:] = 0.0
                tries[:] = 0.0
        elif it < n_warm + n_pilot or (it - n_warm) % thin == thin - 1:
            for j in range(6):
                out_hyp[kept, j] = hyp[j]
            for i in range(n):
                out_k[kept, i] = min(max(math.exp(logk[i]), _F32_TINY), _F32_BIG)
                out_lam[kept, i] = min(max(lam[i], _F32_TINY), _F32_BIG)
                out_mu[kept, i] = min(max(mu[i], _F32_TINY), _F32_BIG)
                out_alive[kept, i] = alive[i]
            kept += 1
            if it == n_warm + n_pilot - 1:
                for r_ in range(n_pilot):
                    for j in range(6):
                        pilot[r_, j] = math.log(out_hyp[r_, j])
                tau = max_autocorr_time(pilot[:n_pilot])
                if tau * _PILOT_TAUS > n_pilot and n_pilot < n_keep:
                    # too short a pilot underestimates a long autocorrelation time: twice as long (still kept)
                    n_pilot = min(2 * n_pilot, n_keep)
                    continue
                thin = int(min(max(math.ceil(tau * thin_target / n_keep), 1.0), thin_max))
                total = n_warm + n_keep * thin
                kept = 0
                for r_ in range(thin - 1, n_pilot, thin):
                    copy_row(r_, kept, out_hyp, out_k, out_lam, out_mu, out_alive)
                    kept += 1
            if kept == n_keep and n_pilot > 0 and 2 * thin <= thin_max:
                # the chain's own draws, far longer than the pilot, say whether the thinning was enough: if not,
                # twice the thinning (every other draw kept, the rest sampled: the draws of that thinning from the
                # start), until it is
                for r_ in range(n_keep):
                    for j in range(6):
                        pilot[r_, j] = math.log(out_hyp[r_, j])
                if n_keep < min(_FINAL_ESS, 0.25 * n_keep) * max_autocorr_time(pilot):
                    kept = 0
                    for r_ in range(1, n_keep, 2):
                        copy_row(r_, kept, out_hyp, out_k, out_lam, out_mu, out_alive)
                        kept += 1
                    thin *= 2
                    total = n_warm + n_keep * thin
    for mv in range(4):
        out_acc[mv] = acc[mv] / max(tries[mv], 1.0)
    out_acc[4] = thin
    return kept


@_jit
def customer_chains(seeds, x, tx, T, litt, hyp, n_burn, n_between, lo, hi, out_k, out_lam, out_mu):
    """Draws of (k, lambda, mu) for customers whose history the fit did not see, one per population draw: each
    customer's own chain of the sampler's customer-level updates (the current gap G, log k by slice sampling,
    (lambda, G) jointly, the lifetime with mu integrated out, then mu), the population parameters held at draw j
    (row j of ``hyp``: t, gamma, r, alpha, s, beta) for ``n_between`` sweeps (``n_burn`` before the first) and the
    state after them kept as draw j. Each customer has its own seed, so a customer's draws do not depend on the
    others asked with it. The alive state starts from the closed-form P(alive) at the first draw's parameters."""
    S = hyp.shape[0]
    for i in range(x.shape[0]):
        np.random.seed(seeds[i])
        d = T[i] - tx[i]
        k_ = hyp[0, 0] / hyp[0, 1]
        logk = min(max(math.log(k_), lo[0]), hi[0])
        k_ = math.exp(logk)
        lam = (hyp[0, 2] + k_ * x[i]) / (hyp[0, 3] + k_ * T[i])
        mu = hyp[0, 4] / hyp[0, 5]
        alive = True
        rem = d
        if d > 0.0 and math.log(1.0 - np.random.random()) >= log_palive1(k_, lam, mu, x[i], tx[i], T[i]):
            alive = False
            rem = draw_dropout_gap(k_, lam, mu, d)
        for j in range(S):
            for _ in range(n_burn if j == 0 else n_between):
                cut = d if alive else rem
                rate = k_ * lam
                g = max(trunc_gamma(k_, rate * cut) / rate, 1e-300)
                logk = slice_k(logk, 1.0, lam, x[i] + 1.0, litt[i] + math.log(g), tx[i] + g, hyp[j, 0], hyp[j, 1],
                               lo[0], hi[0])
                k_ = math.exp(logk)
                lam, g = draw_rate_gap(hyp[j, 2], hyp[j, 3], k_, x[i], tx[i], cut, np.nan)
                life = draw_lifetime(hyp[j, 4], hyp[j, 5], tx[i], g, d)
                mu = max(np.random.gamma(hyp[j, 4] + 1.0, 1.0 / (hyp[j, 5] + life)), 1e-300)
                alive = life > T[i]
                rem = d if alive else life - tx[i]
            out_k[i, j] = k_
            out_lam[i, j] = lam
            out_mu[i, j] = mu


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
    run_chains(x, tx, T, litt, chains=1, tune=2, draws=1, thin=0, seed_seq=np.random.SeedSequence(0), priors=priors,
               cores=1)


def run_chains(x, tx, T, litt, *, chains: int, tune: int, draws: int, thin: int, seed_seq, priors: dict,
               cores: int, jitter: float = 0.3, thin_target: float = 300.0, thin_max: int = 100):
    """Run ``chains`` chains (``cores`` at a time, in threads); returns a dict of arrays with the chains on
    the first axis: ``hyper`` (C, D, 6), ``k``/``lambda``/``mu`` (C, D, N) float32, ``alive`` (C, D, N) bool
    (the augmented alive-at-T state), ``acceptance`` (C, 4): the Metropolis acceptance rates of the two moves
    of (t, gamma) (independence, random walk), of the (r, alpha) move and of the (s, beta) move (after warm-up),
    and ``thin`` (C,): each chain's thinning. ``thin=0`` lets each chain choose its own from a pilot of
    ``_PILOT`` sweeps after warm-up: the autocorrelation time of its slowest population parameter times
    ``thin_target / draws`` (at most ``thin_max``)."""
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
           "alive": np.empty((chains, draws, n), dtype=np.bool_), "acceptance": np.empty((chains, 4)),
           "thin": np.empty(chains, dtype=np.int64)}

    def one(c):
        rng = np.random.default_rng(children[c])
        logv, hyp = initial_values(x, tx, T, litt, rng, jitter)
        logk = np.ascontiguousarray(logv[0])
        lam = np.ascontiguousarray(np.exp(logv[1]))
        mu = np.ascontiguousarray(np.exp(logv[2]))
        gap = (T - tx) + 1.0 / lam
        seed = int(rng.integers(2**31 - 1))
        acc = np.empty(5)
        kept = run(seed, x, tx, T, litt, logk, lam, mu, gap, hyp, prior_m, prior_s, prior_a, prior_b, int(tune),
                   int(draws), int(thin), _RATE_STEPS, _IW_ROUNDS, _DROP_STEPS, _LO, _HI, out["hyper"][c], out["k"][c],
                   out["lambda"][c], out["mu"][c], out["alive"][c], acc,
                   float(thin_target), int(thin_max))
        out["acceptance"][c] = acc[:4]
        out["thin"][c] = int(acc[4])
        return kept

    workers = max(1, min(int(cores), chains))
    if workers == 1:
        for c in range(chains):
            one(c)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(chains)))
    return out
