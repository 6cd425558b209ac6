"""Gamma-Gamma math (clvmodels.math.gammagamma) against mpmath: the published density of the
mean spend (Fader & Hardie 2013), an independent integral over the customer's rate nu, and the
posterior mean by integration."""

from __future__ import annotations

import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import bgfamily_mpref as ref  # noqa: E402
from fd_ref import richardson_derivative  # noqa: E402

from clvmodels.math import gammagamma as M  # noqa: E402
from clvmodels.simulate import gammagamma as simulate  # noqa: E402


def _sample(rng, n):
    lo = lambda a, b: np.exp(rng.uniform(np.log(a), np.log(b), n))  # noqa: E731
    return lo(1e-2, 1e2), lo(1.01, 1e2), lo(1e-2, 1e3), np.floor(lo(1, 2000)), lo(1e-2, 1e4)


def test_loglik_matches_mpmath():
    rng = np.random.default_rng(31)
    p, q, v, x, m = _sample(rng, 300)
    ours = M.loglik(p, q, v, x, m)
    for i in range(p.size):
        expected = float(ref.stable(ref.gg_loglik, p[i], q[i], v[i], x[i], m[i]))
        assert abs(ours[i] - expected) <= 1e-8 * max(1.0, abs(expected))


def test_loglik_matches_integral_over_nu():
    # the mean of x Gamma(p, nu) values is Gamma(px, x nu); integrate over nu ~ Gamma(q, v)
    for (p, q, v, x, m) in [(6.25, 3.74, 15.44, 2, 30.0), (0.5, 1.5, 3.0, 1, 0.2), (20.0, 8.0, 100.0, 15, 7.0)]:
        with mp.workdps(30):
            def integrand(nu):
                dens_m = (x * nu) ** (p * x) * mp.mpf(m) ** (p * x - 1) * mp.exp(-x * nu * m) / mp.gamma(p * x)
                return dens_m * mp.mpf(v) ** q * nu ** (q - 1) * mp.exp(-v * nu) / mp.gamma(q)
            mode = mp.mpf(p * x + q) / (v + x * m)  # where the integrand peaks
            pts = [0] + [mode * (1 + k / 20) for k in range(-19, 40)] + [mp.inf]
            expected = mp.log(mp.quad(integrand, pts))
        assert M.loglik(p, q, v, x, m) == pytest.approx(float(expected), abs=1e-10)


def test_conditional_mean_matches_posterior_integral():
    # E[p / nu | x, mbar] with the posterior of nu proportional to density(mbar | nu) * prior(nu)
    for (p, q, v, x, m) in [(6.25, 3.74, 15.44, 2, 30.0), (1.5, 2.5, 3.0, 5, 0.7)]:
        with mp.workdps(30):
            post = lambda nu: nu ** (p * x + q - 1) * mp.exp(-nu * (v + x * m))  # noqa: E731
            num = mp.quad(lambda nu: p / nu * post(nu), [0, mp.inf])
            expected = num / mp.quad(post, [0, mp.inf])
        assert M.conditional_expected_spend(p, q, v, x, m) == pytest.approx(float(expected), rel=1e-10)
    assert M.expected_spend_new(6.25, 3.74, 15.44) == pytest.approx(6.25 * 15.44 / 2.74)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(32)
    p, q, v, x, m = _sample(rng, 50)
    for i in range(p.size):
        p0 = np.array([p[i], q[i], v[i]])
        _, g = M.loglik_and_grad(*p0, x[i], m[i])
        for k in range(3):
            fd = richardson_derivative(lambda p: M.loglik(*p, x[i], m[i]), p0, k)
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1, abs(fd)))


def test_simulated_means_have_model_moments():
    x = np.full(200_000, 3.0)
    m = simulate.simulate(6.25, 3.74, 15.44, x, random_state=33)
    expected = M.expected_spend_new(6.25, 3.74, 15.44)
    assert abs(m.mean() - expected) < 4 * m.std() / np.sqrt(m.size)
    assert (simulate.simulate(6.25, 3.74, 15.44, np.array([0.0, 2.0]), random_state=1)[0]) == 0.0


def test_finite_on_extreme_grid():
    rng = np.random.default_rng(34)
    n = 150_000
    lo = lambda a, b: np.exp(rng.uniform(np.log(a), np.log(b), n))  # noqa: E731
    p, q, v, x, m = lo(1e-3, 1e3), 1 + lo(1e-3, 1e3), lo(1e-3, 1e3), np.floor(lo(1, 1e4)), lo(1e-4, 1e6)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ll, g = M.loglik_and_grad(p, q, v, x, m)
        ce = M.conditional_expected_spend(p, q, v, x, m)
    assert np.isfinite(ll).all() and np.isfinite(g).all() and np.isfinite(ce).all() and (ce > 0).all()


@settings(max_examples=100, deadline=None)
@given(p=st.floats(1e-3, 1e3), q=st.floats(1.001, 1e3), v=st.floats(1e-3, 1e3), x=st.integers(1, 10_000),
       m=st.floats(1e-4, 1e6))
def test_conditional_mean_is_between_population_and_own_mean(p, q, v, x, m):
    ce = M.conditional_expected_spend(p, q, v, x, m)
    pop = M.expected_spend_new(p, q, v)
    assert np.isfinite(M.loglik(p, q, v, x, m))
    assert min(pop, m) * (1 - 1e-12) <= ce <= max(pop, m) * (1 + 1e-12)
