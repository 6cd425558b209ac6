"""BG/NBD math (clvmodels.math.bgnbd) against independent mpmath evaluations of the paper's
formulas (Fader, Hardie & Lee 2005, eqs. 6, 7, 8, 10; P(alive) from the 2008 note), against
Monte Carlo draws of the model, and over extreme grids."""

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

from clvmodels.math import bgnbd as M  # noqa: E402
from clvmodels.math import mbgnbd as MB  # noqa: E402
from clvmodels.simulate import bgnbd as simulate  # noqa: E402

RTOL = 1e-8


def _rel(ours, expected):
    expected = mp.mpf(expected)
    if expected == 0:
        return abs(float(ours))
    return abs(float(mp.mpf(float(ours)) / expected - 1))


def _sample(rng, n):
    """Parameters 1e-2..1e2 and realistic-to-heavy histories (x up to 2000, T up to 1e4)."""
    lo = lambda a, b, size=n: np.exp(rng.uniform(np.log(a), np.log(b), size))  # noqa: E731
    r, alpha, a, b = lo(1e-2, 1e2), lo(1e-2, 1e2), lo(1e-2, 1e2), lo(1e-2, 1e2)
    # keep a away from the removable a = 1 point, where the paper's form itself is 0/0 in mpmath
    a = np.where(np.abs(a - 1) < 1e-3, a + 0.01, a)
    x = np.where(rng.uniform(size=n) < 0.3, 0.0, np.floor(lo(1, 2000)))
    T = lo(0.5, 1e4)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    t = lo(0.1, 1e3)
    return r, alpha, a, b, x, t_x, T, t


def test_loglik_matches_mpmath():
    rng = np.random.default_rng(1)
    r, alpha, a, b, x, t_x, T, _ = _sample(rng, 200)
    ours = M.loglik(r, alpha, a, b, x, t_x, T)
    for i in range(r.size):
        expected = ref.stable(ref.bg_loglik, r[i], alpha[i], a[i], b[i], x[i], t_x[i], T[i])
        assert abs(ours[i] - float(expected)) <= RTOL * max(1.0, abs(float(expected))), i


def test_loglik_matches_integral_of_individual_likelihood():
    # Independent of eq. 6's algebra: integrate the individual-level likelihood
    # (1-p)^x lam^x e^(-lam T) + 1{x>0} p (1-p)^(x-1) lam^x e^(-lam t_x) (sec. 3) over
    # p ~ Beta(a, b) numerically, with the lambda ~ Gamma(r, alpha) integral done exactly.
    for (r, alpha, a, b, x, t_x, T) in [(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86),
                                        (1.7, 0.8, 3.1, 0.6, 0, 0.0, 12.0),
                                        (0.5, 20.0, 0.4, 5.0, 7, 3.0, 52.0)]:
        with mp.workdps(30):
            def lam_int(s):  # E[lam^x e^(-lam s)], lam ~ Gamma(r, alpha)
                return mp.gamma(r + x) / mp.gamma(r) * mp.mpf(alpha) ** r / (alpha + s) ** (r + x)

            def integrand(p):
                val = (1 - p) ** x * lam_int(T)
                if x > 0:
                    val += p * (1 - p) ** (x - 1) * lam_int(t_x)
                return val * p ** (a - 1) * (1 - p) ** (b - 1) / mp.beta(a, b)

            expected = mp.log(mp.quad(integrand, [0, 0.5, 1]))
        assert abs(M.loglik(r, alpha, a, b, x, t_x, T) - float(expected)) < 1e-10


def test_cdnow_customer_example():
    # Fader, Hardie & Lee (2005), sec. 5: x=2, t_x=30.43, T=38.86 at the published estimates
    # expects 1.226 purchases in the next 39 weeks (published to 3 decimals).
    value = M.conditional_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39)
    assert value == pytest.approx(1.226, abs=5e-4)


def test_predictions_match_mpmath():
    rng = np.random.default_rng(2)
    r, alpha, a, b, x, t_x, T, t = _sample(rng, 120)
    pa = M.p_alive(r, alpha, a, b, x, t_x, T)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    en = M.expected_purchases_new(r, alpha, a, b, t)
    for i in range(r.size):
        args = (r[i], alpha[i], a[i], b[i])
        expected = ref.stable(ref.bg_p_alive, *args, x[i], t_x[i], T[i])
        if expected > 1e-300:  # below that the float result underflows to 0, as it should
            assert _rel(pa[i], expected) < RTOL
        assert _rel(en[i], ref.stable(ref.bg_expected_new, *args, t[i])) < RTOL
        expected = ref.stable(ref.bg_conditional, *args, x[i], t_x[i], T[i], t[i])
        if expected > 1e-300:
            assert _rel(ce[i], expected) < RTOL, (args, x[i], t_x[i], T[i], t[i])


def test_p_purchases_matches_mpmath():
    rng = np.random.default_rng(3)
    r, alpha, a, b, _, _, _, t = _sample(rng, 80)
    n = np.floor(np.exp(rng.uniform(0, np.log(200), r.size))) - 1
    ours = M.p_purchases(r, alpha, a, b, n, t)
    for i in range(r.size):
        expected = ref.stable(ref.bg_p_purchases, r[i], alpha[i], a[i], b[i], n[i], t[i],
                              precisions=(60, 120, 240))
        if expected > 1e-250:
            assert _rel(ours[i], expected) < RTOL, (r[i], alpha[i], a[i], b[i], n[i], t[i])


def test_p_purchases_is_a_distribution_with_the_right_mean():
    # Sum over n is 1 and the mean is eq. 7: eqs. 7 and 8 agree with each other.
    n = np.arange(0, 4000)[:, None]
    for params, t in [((0.243, 4.414, 0.793, 2.426), np.array([1.0, 39.0, 78.0])),
                      ((2.0, 1.0, 3.0, 1.5), np.array([5.0, 50.0]))]:
        P = M.p_purchases(*params, n, t[None, :])
        np.testing.assert_allclose(P.sum(axis=0), 1.0, rtol=1e-10)
        np.testing.assert_allclose((n * P).sum(axis=0), M.expected_purchases_new(*params, t), rtol=1e-8)


def test_p_purchases_and_mean_agree_with_simulation():
    # Monte Carlo: 200,000 new customers observed over t = 39 (simulator written from the model's
    # assumptions, independent of eqs. 7-8).
    params = (0.243, 4.414, 0.793, 2.426)
    sim = simulate.simulate(*params, T=39.0, n_customers=200_000, random_state=11)
    counts = np.bincount(sim["frequency"].astype(int), minlength=8)[:8] / len(sim)
    P = M.p_purchases(*params, np.arange(8), 39.0)
    assert (np.abs(counts - P) < 4 * np.sqrt(P * (1 - P) / len(sim)) + 1e-4).all()
    mean = sim["frequency"].mean()
    se = sim["frequency"].std() / np.sqrt(len(sim))
    assert abs(mean - M.expected_purchases_new(*params, 39.0)) < 4 * se


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    r, alpha, a, b, x, t_x, T, _ = _sample(rng, 50)
    for i in range(r.size):
        p0 = np.array([r[i], alpha[i], a[i], b[i]])
        _, g = M.loglik_and_grad(*p0, x[i], t_x[i], T[i])
        for k in range(4):
            fd = richardson_derivative(lambda p: M.loglik(*p, x[i], t_x[i], T[i]), p0, k)
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1, abs(fd)))


def test_broadcasting_draws_by_customers():
    rng = np.random.default_rng(5)
    r, alpha, a, b, x, t_x, T, t = _sample(rng, 7)
    D = np.array([[0.2], [0.5], [1.3]])
    out = M.conditional_expected_purchases(D, D * 10, D + 0.4, D + 2, x, t_x, T, 10.0)
    assert out.shape == (3, 7)
    for d in range(3):
        np.testing.assert_allclose(out[d], M.conditional_expected_purchases(D[d, 0], D[d, 0] * 10, D[d, 0] + 0.4,
                                                                             D[d, 0] + 2, x, t_x, T, 10.0), rtol=1e-12)
    assert M.loglik(D, 1.0, 1.0, 1.0, x, t_x, T).shape == (3, 7)
    assert M.p_alive(D, 1.0, 1.0, 1.0, x, t_x, T).shape == (3, 7)


def _extreme_grid(n, seed):
    rng = np.random.default_rng(seed)
    lo = lambda a, b: np.exp(rng.uniform(np.log(a), np.log(b), n))  # noqa: E731
    r, alpha, a, b = lo(1e-3, 1e3), lo(1e-3, 1e3), lo(1e-3, 1e3), lo(1e-3, 1e3)
    x = np.where(rng.uniform(size=n) < 0.25, 0.0, np.floor(lo(1, 1e4)))
    T = lo(1e-3, 1e4)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    t = lo(1e-2, 1e4)
    return r, alpha, a, b, x, t_x, T, t


def test_finite_on_extreme_grid():
    # 120,000 points: parameters 1e-3..1e3, x up to 1e4, T up to 1e4 (closed-form functions)
    r, alpha, a, b, x, t_x, T, t = _extreme_grid(120_000, 6)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ll, g = M.loglik_and_grad(r, alpha, a, b, x, t_x, T)
        pa = M.p_alive(r, alpha, a, b, x, t_x, T)
    assert np.isfinite(ll).all() and np.isfinite(g).all()
    assert ((pa >= 0) & (pa <= 1)).all()
    pp = M.p_purchases(r, alpha, a, b, np.minimum(x, 50), t)
    assert np.isfinite(pp).all() and ((pp >= 0) & (pp <= 1 + 1e-12)).all()


def test_expectations_finite_on_extreme_grid():
    r, alpha, a, b, x, t_x, T, t = _extreme_grid(5_000, 7)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    en = M.expected_purchases_new(r, alpha, a, b, t)
    assert np.isfinite(ce).all() and np.isfinite(en).all()
    assert (ce >= 0).all() and (en > 0).all()
    # a customer cannot be expected to buy more than an immortal one with the posterior rate
    assert (ce <= (r + x) / (alpha + T) * t * (1 + 1e-8)).all()


@pytest.mark.slow
def test_expectations_finite_on_25k_extreme_grid():
    r, alpha, a, b, x, t_x, T, t = _extreme_grid(25_000, 8)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    en = M.expected_purchases_new(r, alpha, a, b, t)
    assert np.isfinite(ce).all() and np.isfinite(en).all()
    assert (ce <= (r + x) / (alpha + T) * t * (1 + 1e-8)).all()
    assert (en <= r / alpha * t * (1 + 1e-8)).all()


pos = st.floats(1e-3, 1e3)


@settings(max_examples=60, deadline=None)
@given(r=pos, alpha=pos, a=pos, b=pos, x=st.integers(0, 10_000), T=st.floats(1e-3, 1e4),
       frac=st.floats(0, 1), t=st.floats(1e-3, 1e4))
def test_properties(r, alpha, a, b, x, T, frac, t):
    t_x = frac * T if x > 0 else 0.0
    ll = M.loglik(r, alpha, a, b, x, t_x, T)
    pa = M.p_alive(r, alpha, a, b, x, t_x, T)
    ce = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    ce2 = M.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, 2 * t)
    assert np.isfinite(ll) and 0 <= pa <= 1
    assert np.isfinite(ce) and 0 <= ce <= (r + x) / (alpha + T) * t * (1 + 1e-8)
    assert ce2 >= ce * (1 - 1e-9)  # more time, more purchases


def _weighted_rows(rng, n):
    """Unsorted rows with light and heavy buyers (x up to 2000), zero and fractional weights."""
    T = np.exp(rng.uniform(np.log(0.5), np.log(1e3), n))
    x = np.where(rng.uniform(size=n) < 0.35, 0.0, rng.poisson(3.0, n).astype(float))
    heavy = rng.uniform(size=n) < 0.05
    x[heavy] = np.floor(np.exp(rng.uniform(0, np.log(2000), heavy.sum())))
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n) ** 3, 0.0)  # many long silences: dropout term dominates
    w = rng.choice([0.0, 0.5, 1.0, 3.0], size=n)
    return x, t_x, T, w


@pytest.mark.parametrize("module, shift", [(M, 0), (MB, 1)])
def test_weighted_evaluator_matches_per_row_sums(module, shift, monkeypatch):
    # FamilyRows (the optimiser's kernel) against the per-row functions summed with weights
    # (value, gradient) and central differences of that summed analytic gradient (Hessian).
    # Small chunks make distinct-x groups straddle chunk boundaries.
    monkeypatch.setattr(M.FamilyRows, "_CHUNK", 97)
    rng = np.random.default_rng(21)
    x, t_x, T, w = _weighted_rows(rng, 3000)
    ev = M.FamilyRows(x, t_x, T, w, shift)
    for p in [(0.243, 4.414, 0.793, 2.426), (0.02, 80.0, 0.05, 30.0), (40.0, 0.03, 12.0, 0.08)]:
        ll, g = module.loglik_and_grad(*p, x, t_x, T)
        with np.errstate(invalid="ignore"):
            u = np.log(p[2]) - np.log(p[3] + x - 1 + shift) + (p[0] + x) * (np.log1p(T / p[1]) - np.log1p(t_x / p[1]))
        assert (u[x > 0] > 700).any()  # the overflow guard of softplus(u) is exercised
        total, grad, H = ev(*p, order=2)
        assert total == pytest.approx(float(np.sum(w * ll)), rel=1e-13)
        assert ev(*p, order=0) == pytest.approx(total, rel=1e-15)
        np.testing.assert_allclose(ev(*p, order=1)[1], grad, rtol=1e-15)
        np.testing.assert_allclose(grad, (g * w).sum(axis=1), rtol=1e-11, atol=1e-11 * np.abs(g * w).sum())
        fd = np.empty((4, 4))
        for k in range(4):
            h = 1e-5 * p[k]
            up, dn = np.array(p), np.array(p)
            up[k] += h
            dn[k] -= h
            fd[:, k] = ((module.loglik_and_grad(*up, x, t_x, T)[1] - module.loglik_and_grad(*dn, x, t_x, T)[1])
                        * w).sum(axis=1) / (2 * h)
        np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())
        assert (H == H.T).all()
    # public entry points agree with the kernel
    p = (0.5, 6.0, 0.8, 2.5)
    tot, grad = module.weighted_loglik_and_grad(*p, x, t_x, T, w)
    assert tot == pytest.approx(ev(*p, order=0), rel=1e-13)
    np.testing.assert_allclose(grad, ev(*p, order=1)[1], rtol=1e-12)


def test_weighted_evaluator_blocks_and_blas_switch():
    # only x = 0 rows, only x > 0 rows, BLAS inner products: same numbers as the per-row sums
    rng = np.random.default_rng(22)
    x, t_x, T, w = _weighted_rows(rng, 500)
    p = (0.7, 3.0, 1.2, 4.0)
    for keep in (x == 0, x > 0):
        ll = M.loglik(*p, x[keep], t_x[keep], T[keep])
        for blas in (False, True):
            ev = M.weighted_evaluator(x[keep], t_x[keep], T[keep], w[keep], blas=blas)
            assert ev(*p, order=0) == pytest.approx(float(np.sum(w[keep] * ll)), rel=1e-13)
            assert np.isfinite(ev(*p, order=2)[2]).all()
