"""BG/BB math core against independent mpmath evaluations.

Reference: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time
Noncontractual Setting", Marketing Science 29(6) (FHS). The mpmath references below are written
from the model's definition (sums over the death opportunity and over p/theta moments), not from
the closed forms the library uses.
"""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np
import pytest

import clvmodels as clv
from clvmodels.errors import InvalidValueError
from clvmodels.math import bgbb


def _mp(*vals):
    return [mp.mpf(float(v)) for v in vals]


def _lb(a, b):
    return mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)


def ref_L(alpha, beta, gamma, delta, x, t_x, n):
    with mp.workdps(40):
        alpha, beta, gamma, delta = _mp(alpha, beta, gamma, delta)
        x, t_x, n = int(x), int(t_x), int(n)
        lab, lgd = _lb(alpha, beta), _lb(gamma, delta)
        total = mp.exp(_lb(alpha + x, beta + n - x) - lab + _lb(gamma, delta + n) - lgd)
        for i in range(n - t_x):
            total += mp.exp(_lb(alpha + x, beta + t_x - x + i) - lab + _lb(gamma + 1, delta + t_x + i) - lgd)
        return total


def ref_surv_sum(gamma, delta, n, n_star):
    """sum_{t=n+1}^{n+n*} E[(1-theta)^t], theta ~ Beta(gamma, delta)."""
    gamma, delta = _mp(gamma, delta)
    return mp.fsum(mp.exp(_lb(gamma, delta + t) - _lb(gamma, delta)) for t in range(int(n) + 1, int(n + n_star) + 1))


def ref_cond_exp(alpha, beta, gamma, delta, x, t_x, n, n_star):
    with mp.workdps(40):
        L = ref_L(alpha, beta, gamma, delta, x, t_x, n)
        a, b = _mp(alpha, beta)
        # E[p (1-theta)^n ... ] posterior weight of "alive at n" times future transactions
        return mp.exp(_lb(a + x + 1, b + n - x) - _lb(a, b)) * ref_surv_sum(gamma, delta, n, n_star) / L


def ref_dert(alpha, beta, gamma, delta, x, t_x, n, d):
    with mp.workdps(40):
        L = ref_L(alpha, beta, gamma, delta, x, t_x, n)
        a, b, g, dl, d = _mp(alpha, beta, gamma, delta, d)
        # sum_{k>=1} E[(1-theta)^(n+k)] / (1+d)^k by mpmath's nsum (independent of 2F1)
        s = mp.nsum(lambda k: mp.exp(_lb(g, dl + n + k) - _lb(g, dl)) / (1 + d) ** k, [1, mp.inf])
        return mp.exp(_lb(a + x + 1, b + n - x) - _lb(a, b)) * s / L


def _sample(nsamp, seed, n_max=60):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(nsamp):
        alpha, beta, gamma, delta = 10 ** rng.uniform(-3, 3, 4)
        n = int(rng.integers(0, n_max))
        x = int(rng.integers(0, n + 1))
        t_x = 0 if x == 0 else int(rng.integers(x, n + 1))
        out.append((alpha, beta, gamma, delta, float(x), float(t_x), float(n)))
    return out


def test_donations_loglik_at_published_estimates():
    # FHS (2010), section 4 (empirical analysis, 1995 cohort of 11,104 donors, 6 opportunities):
    # alpha=1.204, beta=0.750, gamma=0.657, delta=2.783, LL=-33,225.6 (estimates rounded to 3 d.p.)
    d = clv.datasets.donations()
    ll = bgbb.loglik(1.204, 0.750, 0.657, 2.783, d["frequency"], d["recency"], d["n_periods"])
    assert (d["weight"] * ll).sum() == pytest.approx(-33225.6, abs=0.05)


def test_loglik_matches_mpmath():
    pts = _sample(150, seed=1)
    got = bgbb.loglik(*np.array(pts).T)
    for p, g in zip(pts, got):
        assert abs(g - float(mp.log(ref_L(*p)))) <= 1e-10 * max(1.0, abs(g)), p


def test_p_alive_matches_mpmath():
    pts = _sample(80, seed=2)
    got = bgbb.p_alive(*np.array(pts).T)
    for p, g in zip(pts, got):
        alpha, beta, gamma, delta, x, t_x, n = p
        with mp.workdps(40):
            a, b, gg, dd = _mp(alpha, beta, gamma, delta)
            num = mp.exp(_lb(a + x, b + n - x) - _lb(a, b) + _lb(gg, dd + n + 1) - _lb(gg, dd))
            ref = num / ref_L(*p)
        assert g == pytest.approx(float(ref), rel=1e-8, abs=1e-300), p


def test_expected_purchases_new_and_conditional_match_mpmath():
    rng = np.random.default_rng(3)
    pts = _sample(80, seed=3)
    n_star = rng.integers(0, 40, len(pts)).astype(float)
    got = bgbb.conditional_expected_purchases(*np.array(pts).T, n_star)
    for p, ns, g in zip(pts, n_star, got):
        assert g == pytest.approx(float(ref_cond_exp(*p, ns)), rel=1e-8, abs=1e-300), (p, ns)
    for _ in range(40):
        alpha, beta, gamma, delta = 10 ** rng.uniform(-3, 3, 4)
        n = float(rng.integers(0, 500))
        with mp.workdps(40):
            ref = mp.mpf(alpha) / (mp.mpf(alpha) + mp.mpf(beta)) * ref_surv_sum(gamma, delta, 0, n)
        assert bgbb.expected_purchases_new(alpha, beta, gamma, delta, n) == pytest.approx(float(ref), rel=1e-8, abs=1e-300)


@pytest.mark.parametrize("gamma", [1.0, 1.0 + 1e-12, 1.0 - 1e-7, 1.0 + 2e-3, 0.999])
def test_expected_purchases_continuous_through_gamma_1(gamma):
    # the closed form has delta/(gamma-1) [1 - ...]; at gamma = 1 it is delta (psi(1+delta+n) - psi(1+delta))
    alpha, beta, delta = 1.2, 0.75, 2.8
    for n in (1.0, 6.0, 1000.0):
        with mp.workdps(40):
            ref = mp.mpf(alpha) / mp.mpf(alpha + beta) * ref_surv_sum(gamma, delta, 0, n)
        assert bgbb.expected_purchases_new(alpha, beta, gamma, delta, n) == pytest.approx(float(ref), rel=1e-10)


def test_conditional_expectation_of_a_new_customer_is_the_unconditional_one():
    v = bgbb.conditional_expected_purchases(1.204, 0.750, 0.657, 2.783, 0.0, 0.0, 0.0, 5.0)
    assert v == pytest.approx(bgbb.expected_purchases_new(1.204, 0.750, 0.657, 2.783, 5.0), rel=1e-13)


def test_p_purchases_matches_mpmath_and_sums_to_one():
    params = (1.204, 0.750, 0.657, 2.783)
    for n in (0.0, 1.0, 6.0, 40.0):
        xs = np.arange(0.0, n + 1)
        p = bgbb.p_purchases(*params, xs, n)
        assert p.sum() == pytest.approx(1.0, abs=1e-13)
        assert (xs * p).sum() == pytest.approx(bgbb.expected_purchases_new(*params, n), rel=1e-12, abs=1e-15)
    rng = np.random.default_rng(4)
    for _ in range(30):
        alpha, beta, gamma, delta = 10 ** rng.uniform(-3, 3, 4)
        n = int(rng.integers(0, 40))
        x = int(rng.integers(0, n + 1))
        with mp.workdps(40):
            a, b, g, dl = _mp(alpha, beta, gamma, delta)
            ref = mp.binomial(n, x) * mp.exp(_lb(a + x, b + n - x) - _lb(a, b) + _lb(g, dl + n) - _lb(g, dl))
            for i in range(x, n):
                ref += mp.binomial(i, x) * mp.exp(_lb(a + x, b + i - x) - _lb(a, b) + _lb(g + 1, dl + i) - _lb(g, dl))
        assert bgbb.p_purchases(alpha, beta, gamma, delta, x, n) == pytest.approx(float(ref), rel=1e-8, abs=1e-300)
    assert bgbb.p_purchases(*params, 3.0, 2.0) == 0.0


@pytest.mark.slow
def test_dert_matches_mpmath_including_tiny_discount_rates():
    pts = _sample(10, seed=5, n_max=20)
    rng = np.random.default_rng(6)
    ds = 10 ** rng.uniform(-2.5, 0, len(pts))
    got = bgbb.dert(*np.array(pts).T, ds)
    for p, d, g in zip(pts, ds, got):
        assert g == pytest.approx(float(ref_dert(*p, d)), rel=1e-8, abs=1e-300), (p, d)
    # a tiny rate puts z = 1/(1+d) within 1e-6 of 1 (the quadrature branch of the 2F1)
    p = (1.204, 0.750, 0.657, 2.783, 3.0, 5.0, 6.0)
    with mp.workdps(30):
        a, b, g, dl = _mp(*p[:4])
        d = mp.mpf("1e-6")
        L = ref_L(*p)
        ref = (mp.exp(_lb(a + 4, b + 3) - _lb(a, b) + _lb(g, dl + 7) - _lb(g, dl)) / (1 + d)
               * mp.hyp2f1(1, dl + 7, g + dl + 7, 1 / (1 + d)) / L)
    assert bgbb.dert(*p, 1e-6) == pytest.approx(float(ref), rel=1e-8)


def test_dert_is_the_limit_of_discounted_conditional_increments():
    p = (1.204, 0.750, 0.657, 2.783, 3.0, 5.0, 6.0)
    d = 0.1
    closed = bgbb.dert(*p, d)
    k = np.arange(0.0, 2001.0)
    cum = bgbb.conditional_expected_purchases(*p, k)
    partial = np.cumsum(np.diff(cum) / (1 + d) ** k[1:])
    errs = np.abs(partial[[9, 99, 1999]] - closed) / closed
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-12


def test_finite_over_extreme_grid():
    vals = np.array([1e-3, 1e-2, 0.3, 1.0, 10.0, 100.0, 1e3])
    params = np.array(list(itertools.product(vals, repeat=4)))
    hist = [(0.0, 0.0, 0.0)]
    for n in (1.0, 6.0, 30.0):
        for x in sorted({0.0, 1.0, n // 2, n}):
            for t_x in sorted({x, (x + n) // 2, n}):
                if x == 0 and t_x > 0:
                    continue
                hist.append((x, max(t_x, x), n))
    hist = np.array(hist * 3)[:42]
    assert len(params) * len(hist) >= 100_000
    a, b, g, d = (params[:, i][:, None] for i in range(4))
    x, t_x, n = hist.T
    ll = bgbb.loglik(a, b, g, d, x, t_x, n)
    assert np.all(np.isfinite(ll)) and np.all(ll <= 1e-12)
    pa = bgbb.p_alive(a, b, g, d, x, t_x, n)
    assert np.all((pa >= 0) & (pa <= 1))
    ce = bgbb.conditional_expected_purchases(a, b, g, d, x, t_x, n, 10.0)
    assert np.all(np.isfinite(ce)) and np.all(ce >= 0) and np.all(ce <= 10.0 + 1e-9)
    de = bgbb.dert(a[::10], b[::10], g[::10], d[::10], x, t_x, n, 0.1)
    assert np.all(np.isfinite(de)) and np.all(de >= 0) and np.all(de <= 11.0 + 1e-9)


def test_log_gamma_ratio_against_mpmath():
    rng = np.random.default_rng(7)
    u = 10 ** rng.uniform(-2, 6, 300)
    eps = np.where(rng.random(300) < 0.5, 1, -1) * 10 ** rng.uniform(-14, 3, 300)
    eps = np.maximum(eps, -0.9 * u)
    got = bgbb.log_gamma_ratio(u, eps)
    with mp.workdps(40):
        for ui, ei, g in zip(u, eps, got):
            ref = mp.loggamma(mp.mpf(ui) + mp.mpf(ei)) - mp.loggamma(mp.mpf(ui))
            assert g == pytest.approx(float(ref), rel=1e-11, abs=1e-300), (ui, ei)


def test_broadcasting_and_validation():
    d = clv.datasets.donations()
    cols = [d[c].to_numpy(float) for c in ("frequency", "recency", "n_periods")]
    draws = np.array([[1.2, 0.75, 0.66, 2.8], [1.1, 0.8, 0.6, 2.5]])
    out = bgbb.loglik(*(draws[:, i][:, None] for i in range(4)), *cols)
    assert out.shape == (2, len(d))
    np.testing.assert_allclose(out[1], bgbb.loglik(*draws[1], *cols), rtol=1e-14)
    with pytest.raises(InvalidValueError):
        bgbb.loglik(1.0, 1.0, 1.0, 1.0, 3.0, 2.0, 6.0)  # x > t_x
    with pytest.raises(InvalidValueError):
        bgbb.loglik(1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 6.0)
