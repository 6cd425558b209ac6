"""The Pareto/GGG sampler's collapsed updates (clvmodels.bayes._pggg_sampler), each against an independent
computation: the incomplete beta function against scipy, the closed-form marginals of the population pairs
against numerical integration (scipy.integrate.quad), and the exact joint draws of (lambda, G) and of the
lifetime against importance sampling / the analytic truncated Lomax law.

The closed forms (derived in the module docstring): with Z = lambda (alpha + k t_x) ~ Gamma(r + kx, 1) and
Y = k lambda G ~ Gamma(k, 1), P(G > c) = P(Z / (Z + Y) < 1 / (1 + rho)) = I_{1/(1+rho)}(r + kx, k),
rho = k c / (alpha + k t_x) (beta-gamma algebra); with mu ~ Gamma(s, beta) integrated out,
E[e^(-mu t)] = (beta / (beta + t))^s. Seeds pin the draws; tolerances are Monte Carlo standard errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

numba = pytest.importorskip("numba")
S = pytest.importorskip("clvmodels.bayes._pggg_sampler")


def _logs(rho):
    l1p = math.log1p(rho)
    return -l1p, math.log(rho) - l1p            # log x, log(1 - x) for x = 1 / (1 + rho)


def test_incomplete_beta_matches_scipy_in_the_bulk_and_far_tails():
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(4000):
        a, b = math.exp(rng.uniform(-3, 7)), math.exp(rng.uniform(-3, 4))
        rho = math.exp(rng.uniform(-10, 10))
        li, lj = S.log_ibeta(a, b, *_logs(rho))
        for got, ref in ((li, special.betainc(a, b, 1 / (1 + rho))), (lj, special.betaincc(a, b, 1 / (1 + rho)))):
            if ref > 1e-250:
                worst = max(worst, abs(math.expm1(got - math.log(ref))))
    assert worst < 1e-8
    assert S.log_ibeta(2.0, 3.0, -math.inf, 0.0) == (-math.inf, 0.0)



def test_incomplete_beta_of_the_rate_marginal_skips_only_what_rounding_hides():
    # log_ibeta_lower (the (r, alpha) marginal's term) returns log I_x(a, b) = 0 without its continued fraction
    # when 1 - I_x(a, b) is provably below e^-50; elsewhere it is the full computation. Against scipy: where the
    # shortcut is taken, 1 - I_x(a, b) < e^-50 indeed; everywhere, log I to 1e-9 (as log_ibeta's 1e-8 relative)
    rng = np.random.default_rng(1)
    worst, shortcuts, worst_skipped = 0.0, 0, 0.0
    for _ in range(4000):
        a, b = math.exp(rng.uniform(-3, 7)), math.exp(rng.uniform(-3, 4))
        rho = math.exp(rng.uniform(-14, 8))
        lx, l1x = _logs(rho)
        got = S.log_ibeta_lower(a, b, lx, l1x, math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
        ref = special.betainc(a, b, 1 / (1 + rho))
        if ref > 1e-250:
            worst = max(worst, abs(got - math.log(ref)))
        if got == 0.0:
            shortcuts += 1
            worst_skipped = max(worst_skipped, special.betaincc(a, b, 1 / (1 + rho)))
    assert worst < 1e-9
    assert shortcuts > 100 and worst_skipped < math.exp(-50)

@pytest.mark.parametrize("r, alpha, k, x, tx, c", [(0.55, 10.5, 1.0, 0.0, 0.0, 30.0), (1.5, 3.0, 3.0, 40.0, 50.0, 2.0),
                                                   (0.6, 10.0, 0.5, 5.0, 30.0, 20.0), (1.5, 3.0, 3.0, 40.0, 50.0, 10.0)])
def test_rate_marginal_equals_the_integral_over_lambda_and_the_current_gap(r, alpha, k, x, tx, c):
    # pair_target(0, ...) for one customer minus its priors is log of
    # int Gamma(lambda; r, alpha) lambda^(kx) e^(-k lambda t_x) Q(k, k lambda c) dlambda (the k-only factors aside)
    ls, lm = math.log(r), math.log(r / alpha)
    one = [np.array([v]) for v in (k * x, k * tx, k * c, k, math.lgamma(k))]
    ours = S.pair_target(0, ls, lm, *one, 0.0, 1e6, 0.0, 0.0, np.empty(0)) + 0.5 * (ls / 1e6) ** 2

    def integrand(lam):
        return math.exp(stats.gamma.logpdf(lam, r, scale=1 / alpha) + k * x * math.log(lam) - k * lam * tx
                        + math.log(max(special.gammaincc(k, k * lam * c), 1e-300)))

    mean = (r + k * x) / (alpha + k * tx)
    val, err = integrate.quad(integrand, 0, 50 * mean + 50, points=[mean], limit=400, epsabs=0, epsrel=1e-11)
    assert ours == pytest.approx(math.log(val), abs=1e-7)


@pytest.mark.parametrize("s, beta, tx, g, d", [(0.6, 12.0, 10.0, 5.0, 20.0), (0.6, 12.0, 10.0, 25.0, 20.0),
                                               (3.0, 1.5, 0.0, 2.0, 30.0), (0.2, 40.0, 30.0, 0.01, 9.0)])
def test_dropout_marginal_equals_the_integral_over_mu(s, beta, tx, g, d):
    # pair_target(1, ...): E over mu ~ Gamma(s, beta) of e^(-mu t_x) (1 - e^(-mu G)) if G <= d (gone before the
    # next purchase), of e^(-mu t_x) otherwise
    ls, lm = math.log(s), math.log(s / beta)
    ours = S.pair_target(1, ls, lm, np.array([tx]), np.array([g if g <= d else -1.0]), np.array([tx]),
                         np.array([tx]), np.array([tx]), 0.0, 1e6, 0.0, 0.0, np.empty(0)) + 0.5 * (ls / 1e6) ** 2

    def integrand(mu):
        keep = -math.expm1(-mu * g) if g <= d else 1.0
        return stats.gamma.pdf(mu, s, scale=1 / beta) * math.exp(-mu * tx) * keep

    val, _ = integrate.quad(integrand, 0, np.inf, limit=400, epsabs=0, epsrel=1e-11)
    assert ours == pytest.approx(math.log(val), abs=1e-7)


@numba.njit
def _draw_many(seed, r, alpha, k, x, tx, c, li, out):
    np.random.seed(seed)
    for j in range(out.shape[0]):
        out[j, 0], out[j, 1] = S.draw_rate_gap(r, alpha, k, x, tx, c, li)


# one case per sampler of the truncated Beta variate: plain rejection (P(G > c) large), tangent envelope (a regular
# heavy buyer silent for long: P tiny), power proposal (clumpy k < 1), inverse CDF (k < 1, P tiny, u not small)
@pytest.mark.parametrize("r, alpha, k, x, tx, c", [(1.5, 3.0, 3.0, 40.0, 50.0, 2.0), (1.5, 3.0, 3.0, 40.0, 50.0, 10.0),
                                                   (0.3, 2.0, 0.7, 30.0, 50.0, 40.0), (0.6, 10.0, 0.5, 5.0, 30.0, 20.0),
                                                   (2.0, 0.5, 0.8, 60.0, 40.0, 9.0)])
@pytest.mark.parametrize("cached", [False, True])
def test_joint_draw_of_rate_and_gap_matches_importance_sampling(r, alpha, k, x, tx, c, cached):
    a, e = r + k * x, alpha + k * tx
    n = 100_000
    out = np.empty((n, 2))
    li = np.nan
    if cached:
        # the sampler's path: log I_u(a, k) as the (r, alpha) move left it in its buffer
        buf = np.empty(1)
        S.pair_target(0, math.log(r), math.log(r / alpha), *[np.array([v]) for v in (k * x, k * tx, k * c, k, math.lgamma(k))],
                      0.0, 1.0, 0.0, 0.0, buf)
        li = float(buf[0])
        assert li == pytest.approx(math.log(special.betainc(a, k, e / (e + k * c))), rel=1e-9, abs=1e-12)
    _draw_many(7, r, alpha, k, x, tx, c, li, out)
    lam, gap = out[:, 0], out[:, 1]
    assert np.all(gap >= c) and np.all(np.isfinite(out)) and np.all(lam > 0)
    # reference: lambda ~ Gamma(a, e) weighted by Q(k, k lambda c); E[k lambda G | lambda] = k Q(k + 1, .) / Q(k, .)
    rng = np.random.default_rng(1)
    ref_lam = rng.gamma(a, 1 / e, 2_000_000)
    z = k * ref_lam * c
    w = special.gammaincc(k, z)
    w /= w.sum()
    ess_w = 1.0 / np.sum(w ** 2)
    assert ess_w > 10_000
    for ours, ref_values in ((lam, ref_lam), (k * lam * gap, k * special.gammaincc(k + 1, z) / special.gammaincc(k, z))):
        ref = float(np.sum(w * ref_values))
        sd = float(np.sqrt(np.sum(w * (ref_values - ref) ** 2)))
        se = sd * math.sqrt(1 / n + 1 / ess_w)
        assert abs(float(np.mean(ours)) - ref) < 5 * se + 1e-12, (float(np.mean(ours)), ref, se)


@numba.njit
def _lifetimes(seed, s, beta, tx, g, d, out):
    np.random.seed(seed)
    for j in range(out.shape[0]):
        out[j] = S.draw_lifetime(s, beta, tx, g, d)


@pytest.mark.parametrize("s, beta, tx, g, d", [(0.6, 12.0, 10.0, 5.0, 20.0), (0.6, 12.0, 10.0, 25.0, 20.0),
                                               (4.0, 2.0, 3.0, 1.0, 9.0)])
def test_lifetime_draws_follow_the_truncated_lomax_law(s, beta, tx, g, d):
    # L has survival (beta / (beta + l))^s, conditioned on L > t_x and, when G <= d, on L < t_x + G
    out = np.empty(50_000)
    _lifetimes(3, s, beta, tx, g, d, out)
    lo, hi = tx, (tx + g if g <= d else np.inf)
    assert np.all((out >= lo) & (out <= hi))
    surv = lambda v: (beta / (beta + v)) ** s            # noqa: E731
    cdf = lambda v: (surv(lo) - surv(np.minimum(v, hi))) / (surv(lo) - (surv(hi) if np.isfinite(hi) else 0.0))  # noqa: E731
    assert stats.kstest(out, cdf).pvalue > 1e-4


def _assert_chain_matches_grid(out, g1, g2, lp, sd_rel):
    # a chain's draws of two coordinates (columns of out) against the moments of the density exp(lp) on the grid
    # g1 x g2: means within 5 Monte Carlo standard errors (batch means), sds within sd_rel
    w = np.exp(lp - lp.max())
    w /= w.sum()
    U, V = np.meshgrid(g1, g2, indexing="ij")
    for draws, grid in ((out[:, 0], U), (out[:, 1], V)):
        mean = float((w * grid).sum())
        sd = math.sqrt(float((w * (grid - mean) ** 2).sum()))
        se = np.std(draws.reshape(100, -1).mean(axis=1)) / math.sqrt(100)
        assert abs(draws.mean() - mean) < 5 * se, (draws.mean(), mean, se)
        assert draws.std() == pytest.approx(sd, rel=sd_rel)


@numba.njit
def _pair_chain(seed, n_warm, n_keep, steps, a1, a2, a3, a4, a5, out, accept):
    # mh_pair on (r, alpha) given a fixed latent state, as the sampler drives it: adaptive random walk in warm-up,
    # the trial of independence steps in its last fifth, then a fixed kernel
    np.random.seed(seed)
    hchol = np.zeros((4, 3))
    hchol[:, 0] = 0.3
    hchol[:, 2] = 0.3
    hl_scale, hn, hs = np.zeros(4), np.zeros(4), np.zeros((4, 5))
    acc, tries = np.zeros(4), np.zeros(4)
    n_ind = np.ones(4, dtype=np.int64)
    ind_acc, ind_n = np.zeros(4), np.zeros(4)
    buf, spare = np.empty(a1.shape[0]), np.empty(a1.shape[0])
    ls, lm = 0.0, -1.0
    for it in range(n_warm + n_keep):
        warm = it < n_warm
        if it == n_warm // 2:
            hn[2] = 0.0
            hs[2, :] = 0.0
        trial = warm and it >= (4 * n_warm) // 5
        ls, lm, cur = S.mh_pair(0, ls, lm, 2, steps, a1, a2, a3, a4, a5, 0.0, 2.0, 1.0, 1.0, hchol, hl_scale, hs, hn,
                                acc, tries, warm, warm and it >= n_warm // 10, it, buf, spare, n_ind, trial, ind_acc,
                                ind_n)
        if it == n_warm - 1 and ind_acc[2] / ind_n[2] >= S._INDEP_ALL:
            n_ind[2] = steps
        if not warm:
            out[it - n_warm, 0] = ls
            out[it - n_warm, 1] = lm
            # the buffer returned holds each customer's log I at the state returned
            if it == n_warm + n_keep - 1:
                S.pair_target(0, ls, lm, a1, a2, a3, a4, a5, 0.0, 2.0, 1.0, 1.0, spare)
                for i in range(a1.shape[0]):
                    if abs(spare[i] - cur[i]) > 1e-12:
                        accept[1] = -1.0
    accept[0] = n_ind[2]


def test_population_pair_kernel_with_independence_steps_targets_the_pair_conditional():
    # 300 customers' latent state held fixed: the chain of (log r, log(r / alpha)) must have the moments of the
    # exact conditional, computed on a grid of pair_target (priors included); the trial picks independence steps
    # only here (the conditional is close to the fitted t)
    rng = np.random.default_rng(3)
    n = 300
    k = rng.gamma(9.0, 1 / 3.0, n)
    lam = rng.gamma(1.5, 1 / 3.0, n)
    tx = rng.uniform(5, 50, n)
    x = rng.poisson(lam * tx).astype(float)
    c = rng.uniform(0, 10, n)
    a = [k * x, k * tx, k * c, k, np.array([math.lgamma(v) for v in k])]
    out = np.empty((40_000, 2))
    accept = np.zeros(2)
    _pair_chain(11, 2_000, out.shape[0], 2, *a, out, accept)
    assert accept[0] == 2 and accept[1] == 0.0
    g1 = np.linspace(out[:, 0].mean() - 8 * out[:, 0].std(), out[:, 0].mean() + 8 * out[:, 0].std(), 241)
    g2 = np.linspace(out[:, 1].mean() - 8 * out[:, 1].std(), out[:, 1].mean() + 8 * out[:, 1].std(), 241)
    lp = np.array([[S.pair_target(0, u, v, *a, 0.0, 2.0, 1.0, 1.0, np.empty(0)) for v in g2] for u in g1])
    _assert_chain_matches_grid(out, g1, g2, lp, sd_rel=0.05)


def test_new_history_chains_match_importance_sampling():
    # customer_chains with the population held fixed: each customer's draws of (k, lambda, mu) must have the
    # posterior means of prior x the collapsed likelihood (clvmodels.math.paretoggg.loglik), by importance sampling
    from clvmodels.math import paretoggg as pmath

    pin = np.array([3.0, 1.0, 2.0, 4.0, 1.5, 30.0])                 # t, gamma, r, alpha, s, beta
    x = np.array([0.0, 8.0, 8.0, 30.0])
    tx = np.array([0.0, 39.5, 16.0, 38.0])
    T = np.full(4, 40.0)
    litt = np.array([0.0, 8 * np.log(39.5 / 8) - 0.05, 8 * np.log(2.0) - 0.1, 30 * np.log(38 / 30) - 12])
    n_draws = 4000
    out = [np.empty((4, n_draws)) for _ in range(3)]
    S.customer_chains(np.arange(4) + 5, x, tx, T, litt, np.tile(pin, (n_draws, 1)), 50, 2, S._LO, S._HI, *out)
    rng = np.random.default_rng(0)
    n = 400_000
    ref = [rng.gamma(pin[0], 1 / pin[1], n), rng.gamma(pin[2], 1 / pin[3], n), rng.gamma(pin[4], 1 / pin[5], n)]
    for i in range(4):
        ll = pmath.loglik(*ref, x[i], tx[i], T[i], litt[i])
        w = np.exp(ll - ll.max())
        w /= w.sum()
        for ours, values in zip(out, ref):
            mean = float(np.sum(w * values))
            sd = float(np.sqrt(np.sum(w * (values - mean) ** 2)))
            # the chain's Monte Carlo standard error of its mean, by batch means
            se = np.std(ours[i].reshape(40, -1).mean(axis=1)) / np.sqrt(40)
            assert abs(ours[i].mean() - mean) < 5 * se + 1e-3 * sd, (i, ours[i].mean(), mean, se)
            assert ours[i].std() == pytest.approx(sd, rel=0.1)


def _gap_data(rng, n, t, gamma, x):
    # customers with k ~ Gamma(t, gamma), lambda fixed, x + 1 complete Gamma(k, k lambda) gaps each: the pieces of
    # the gap log likelihood that the (t, gamma) move holds fixed
    k = rng.gamma(t, 1 / gamma, n)
    lam = rng.gamma(2.0, 1 / 4.0, n) + 0.05
    lgp, spn = np.zeros(n), np.zeros(n)
    for i in range(n):
        g = rng.gamma(k[i], 1 / (k[i] * lam[i]), int(x[i]) + 1)
        lgp[i], spn[i] = np.log(g).sum(), g.sum()
    llm = np.log(lam)
    cdat = (x + 1) * (1 + llm) + lgp - lam * spn
    return np.log(k), lam, llm, lgp, spn, cdat


def _log_marginal(t, gamma, x, lam, lgp, spn, points=4001):
    # sum over customers of log of the integral over k of Gamma(k; t, gamma) times the gap likelihood (a grid in log k)
    u = np.linspace(-6.0, 6.0, points)[:, None]
    k = np.exp(u)
    ll = ((x + 1) * (k * (u + np.log(lam)) - special.gammaln(k)) + (k - 1) * lgp - k * lam * spn
          + t * (u + math.log(gamma)) - special.gammaln(t) - gamma * k)
    mx = ll.max(axis=0)
    return float(np.sum(mx + np.log(np.exp(ll - mx).sum(axis=0) * (u[1, 0] - u[0, 0]))))


def test_t_gamma_move_ratio_is_that_of_the_k_integrated_out():
    # the transport of every log k makes the (t, gamma) move's ratio (priors aside) the ratio of the marginal
    # likelihoods with each k integrated out, up to the approximation of k's conditional: on 3,000 customers drawn
    # at t = 200 (every k near 1, as on the whole CDNOW log) and at t = 9 (spread k, some heavy buyers), along and
    # across the ridge t / gamma = const. The map that only held k's population quantile was off by 10-50 here
    rng = np.random.default_rng(5)
    n = 3_000
    x = rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 5, 12], size=n).astype(float)
    for t, gamma in ((200.0, 191.0), (9.0, 3.0)):
        logk, lam, llm, lgp, spn, cdat = _gap_data(rng, n, t, gamma, x)
        cur = np.array([S.k_target(u, a, b, c + 1, d, e, 0.0, 0.0)
                        for u, a, b, c, d, e in zip(logk, lam, llm, x, lgp, spn)])
        base = _log_marginal(t, gamma, x, lam, lgp, spn)
        for dla, dlb in ((-0.5, 0.0), (0.5, 0.0), (0.2, 0.02), (-0.2, -0.02), (0.0, 0.03)):
            la, lb = math.log(t), math.log(t / gamma)
            nt, ng = math.exp(la + dla), math.exp(la + dla - (lb + dlb))
            moved = S.transport(t, gamma, nt, ng, x, logk, lam, llm, lgp, spn, cdat, cur, np.empty(n), np.empty(n),
                                -9.0, 9.2)
            exact = _log_marginal(nt, ng, x, lam, lgp, spn) - base
            assert moved == pytest.approx(exact, abs=0.1 + 0.02 * abs(exact)), (t, dla, dlb, moved, exact)


@numba.njit
def _tg_chain(seed, n_keep, x, lam, llm, lgp, spn, cdat, logk, out):
    # the (t, gamma) block as the sampler runs it on fixed gaps: each log k by slice sampling given (t, gamma), then
    # a random-walk move of (log t, log(t / gamma)) carrying every log k along (tg_log_ratio)
    np.random.seed(seed)
    n = x.shape[0]
    la, lb = math.log(5.0), 0.5
    cur = np.empty(n)
    new_u, new_l = np.empty(n), np.empty(n)
    for it in range(n_keep):
        sh, rt = math.exp(la), math.exp(la - lb)
        for i in range(n):
            logk[i] = S.slice_k(logk[i], 1.0, lam[i], x[i] + 1.0, lgp[i], spn[i], sh, rt, -9.0, 9.2)
            cur[i] = S.k_target(logk[i], lam[i], llm[i], x[i] + 1.0, lgp[i], spn[i], 0.0, 0.0)
        for _ in range(3):
            nla = la + 0.6 * np.random.standard_normal()
            nlb = lb + 0.25 * np.random.standard_normal()
            lr = S.tg_log_ratio(la, lb, nla, nlb, 0.0, 2.0, 1.0, 1.0, x, logk, lam, llm, lgp, spn, cdat, cur, new_u,
                                new_l, -9.0, 9.2)
            if np.random.random() < math.exp(min(lr, 0.0)):
                la, lb = nla, nlb
                for i in range(n):
                    logk[i] = new_u[i]
                    cur[i] = new_l[i]
        out[it, 0] = la
        out[it, 1] = lb


def test_t_gamma_move_keeps_the_posterior_of_t_and_gamma():
    # 40 customers' gaps held fixed: the chain of (log t, log(t / gamma)) must have the moments of their exact
    # posterior (priors: log t ~ N(0, 2), gamma ~ Gamma(1, 1), as the chain's), each k integrated out on a grid.
    # Exactness does not rest on the approximation inside the map; a wrong Jacobian or density term shifts these
    rng = np.random.default_rng(8)
    n = 40
    x = rng.integers(0, 6, n).astype(float)
    logk, lam, llm, lgp, spn, cdat = _gap_data(rng, n, 4.0, 2.0, x)
    out = np.empty((60_000, 2))
    _tg_chain(4, out.shape[0], x, lam, llm, lgp, spn, cdat, logk.copy(), out)
    out = out[2_000:]
    ga = np.linspace(-2.5, 6.0, 86)
    gb = np.linspace(-1.5, 2.5, 81)
    lp = np.empty((ga.size, gb.size))
    for i, a in enumerate(ga):
        for j, b in enumerate(gb):
            t, gamma = math.exp(a), math.exp(a - b)
            lp[i, j] = (_log_marginal(t, gamma, x, lam, lgp, spn, 1201) - 0.5 * (a / 2.0) ** 2
                        + (a - b) - gamma)          # Gamma(1, 1) on gamma, in log gamma: log gamma - gamma
    w = np.exp(lp - lp.max())
    assert (w[0].sum() + w[-1].sum() + w[:, 0].sum() + w[:, -1].sum()) / w.sum() < 1e-4   # the grid holds it all
    _assert_chain_matches_grid(out, ga, gb, lp, sd_rel=0.06)
