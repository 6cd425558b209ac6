"""MBG/NBD math (clvmodels.math.mbgnbd) against mpmath evaluations of the published forms
(Batislam, Denizel & Filiztekin 2007; the same expressions as lifetimes' ModifiedBetaGeoFitter
documents), an integral of the individual-level likelihood, and Monte Carlo."""

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
from test_bgnbd_math import _extreme_grid, _rel, _sample  # noqa: E402

from clvmodels.math import mbgnbd as M  # noqa: E402
from clvmodels.simulate import mbgnbd as simulate  # noqa: E402

RTOL = 1e-8


def test_loglik_matches_mpmath():
    rng = np.random.default_rng(11)
    r, alpha, a, b, x, t_x, T, _ = _sample(rng, 200)
    ours = M.loglik(r, alpha, a, b, x, t_x, T)
    for i in range(r.size):
        expected = ref.stable(ref.mbg_loglik, r[i], alpha[i], a[i], b[i], x[i], t_x[i], T[i])
        assert abs(ours[i] - float(expected)) <= RTOL * max(1.0, abs(float(expected))), i


def test_loglik_matches_integral_of_individual_likelihood():
    # Individual level (dropout coin at time 0 and after each purchase):
    # (1-p)^(x+1) lam^x e^(-lam T) + p (1-p)^x lam^x e^(-lam t_x), integrated over p numerically.
    for (r, alpha, a, b, x, t_x, T) in [(0.525, 6.183, 0.891, 1.614, 2, 30.43, 38.86),
                                        (1.7, 0.8, 3.1, 0.6, 0, 0.0, 12.0),
                                        (0.5, 20.0, 0.4, 5.0, 7, 3.0, 52.0)]:
        with mp.workdps(30):
            def lam_int(s):
                return mp.gamma(r + x) / mp.gamma(r) * mp.mpf(alpha) ** r / (alpha + s) ** (r + x)

            def integrand(p):
                val = (1 - p) ** (x + 1) * lam_int(T) + p * (1 - p) ** x * lam_int(t_x)
                return val * p ** (a - 1) * (1 - p) ** (b - 1) / mp.beta(a, b)

            expected = mp.log(mp.quad(integrand, [0, 0.5, 1]))
        assert abs(M.loglik(r, alpha, a, b, x, t_x, T) - float(expected)) < 1e-10


def test_predictions_match_mpmath():
    rng = np.random.default_rng(12)
    r, alpha, a, b, x, t_x, T, t = _sample(rng, 120)
    pa = M.p_alive(r, alpha, a, b, x, t_x, T)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    en = M.expected_purchases_new(r, alpha, a, b, t)
    for i in range(r.size):
        args = (r[i], alpha[i], a[i], b[i])
        expected = ref.stable(ref.mbg_p_alive, *args, x[i], t_x[i], T[i])
        if expected > 1e-300:
            assert _rel(pa[i], expected) < RTOL
        assert _rel(en[i], ref.stable(ref.mbg_expected_new, *args, t[i])) < RTOL
        expected = ref.stable(ref.mbg_conditional, *args, x[i], t_x[i], T[i], t[i])
        if expected > 1e-300:
            assert _rel(ce[i], expected) < RTOL


def test_p_purchases_matches_mpmath_and_is_a_distribution():
    rng = np.random.default_rng(13)
    r, alpha, a, b, _, _, _, t = _sample(rng, 60)
    n = np.floor(np.exp(rng.uniform(0, np.log(200), r.size))) - 1
    ours = M.p_purchases(r, alpha, a, b, n, t)
    for i in range(r.size):
        expected = ref.stable(ref.mbg_p_purchases, r[i], alpha[i], a[i], b[i], n[i], t[i], precisions=(60, 120, 240))
        if expected > 1e-250:
            assert _rel(ours[i], expected) < RTOL
    k = np.arange(0, 4000)[:, None]
    params, t = (0.525, 6.183, 0.891, 1.614), np.array([1.0, 39.0, 78.0])
    P = M.p_purchases(*params, k, t[None, :])
    np.testing.assert_allclose(P.sum(axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose((k * P).sum(axis=0), M.expected_purchases_new(*params, t), rtol=1e-8)


def test_simulation_agrees():
    params = (0.525, 6.183, 0.891, 1.614)
    sim = simulate.simulate(*params, T=39.0, n_customers=200_000, random_state=21)
    counts = np.bincount(sim["frequency"].astype(int), minlength=6)[:6] / len(sim)
    P = M.p_purchases(*params, np.arange(6), 39.0)
    assert (np.abs(counts - P) < 4 * np.sqrt(P * (1 - P) / len(sim)) + 1e-4).all()
    se = sim["frequency"].std() / np.sqrt(len(sim))
    assert abs(sim["frequency"].mean() - M.expected_purchases_new(*params, 39.0)) < 4 * se


def test_p_alive_below_one_without_repeat_purchases():
    # the time-0 dropout: P(alive | x = 0) = 1 / (1 + a/b) at t_x = 0 (for any T > 0 it is lower)
    assert M.p_alive(0.5, 5.0, 1.0, 3.0, 0, 0.0, 0.0) == pytest.approx(0.75)
    assert M.p_alive(0.5, 5.0, 1.0, 3.0, 0, 0.0, 10.0) < 0.75


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(14)
    r, alpha, a, b, x, t_x, T, _ = _sample(rng, 40)
    for i in range(r.size):
        p0 = np.array([r[i], alpha[i], a[i], b[i]])
        _, g = M.loglik_and_grad(*p0, x[i], t_x[i], T[i])
        for k in range(4):
            fd = richardson_derivative(lambda p: M.loglik(*p, x[i], t_x[i], T[i]), p0, k)
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1, abs(fd)))


def test_finite_on_extreme_grid():
    r, alpha, a, b, x, t_x, T, t = _extreme_grid(120_000, 16)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ll, g = M.loglik_and_grad(r, alpha, a, b, x, t_x, T)
        pa = M.p_alive(r, alpha, a, b, x, t_x, T)
    assert np.isfinite(ll).all() and np.isfinite(g).all() and ((pa >= 0) & (pa <= 1)).all()
    pp = M.p_purchases(r, alpha, a, b, np.minimum(x, 50), t)
    assert np.isfinite(pp).all() and ((pp >= 0) & (pp <= 1 + 1e-12)).all()
    r, alpha, a, b, x, t_x, T, t = _extreme_grid(5_000, 17)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    assert np.isfinite(ce).all() and (ce <= (r + x) / (alpha + T) * t * (1 + 1e-8)).all()


@pytest.mark.slow
def test_expectations_finite_on_25k_extreme_grid():
    r, alpha, a, b, x, t_x, T, t = _extreme_grid(25_000, 18)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    en = M.expected_purchases_new(r, alpha, a, b, t)
    assert np.isfinite(ce).all() and np.isfinite(en).all()
    assert (ce <= (r + x) / (alpha + T) * t * (1 + 1e-8)).all()


pos = st.floats(1e-3, 1e3)


@settings(max_examples=60, deadline=None)
@given(r=pos, alpha=pos, a=pos, b=pos, x=st.integers(0, 10_000), T=st.floats(1e-3, 1e4),
       frac=st.floats(0, 1), t=st.floats(1e-3, 1e4))
def test_properties(r, alpha, a, b, x, T, frac, t):
    t_x = frac * T if x > 0 else 0.0
    ll = M.loglik(r, alpha, a, b, x, t_x, T)
    pa = M.p_alive(r, alpha, a, b, x, t_x, T)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    assert np.isfinite(ll) and 0 <= pa <= 1
    assert np.isfinite(ce) and 0 <= ce <= (r + x) / (alpha + T) * t * (1 + 1e-8)
