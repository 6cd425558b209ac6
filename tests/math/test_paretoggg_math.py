"""Pareto/GGG math (clvmodels.math.paretoggg) against independent mpmath evaluations written from the
individual-level model (the dropout time integrated numerically, not the closed form), the Pareto/NBD at
k = 1, and simulation."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from scipy import stats

from clvmodels.errors import InvalidValueError
from clvmodels.math import paretoggg

mp.mp.dps = 25


def _ref_parts(k, lam, mu, x, t_x, T, litt):
    """(log L, log P(alive)) by mpmath: the purchase-time density of the x gaps, times the probability of the
    rest of the history integrated over the dropout time tau ~ Exp(mu) (tau > T: alive and the current gap
    longer than T - t_x; t_x < tau < T: the current gap outlasts tau - t_x)."""
    k, lam, mu, t_x, T, litt = (mp.mpf(v) for v in (k, lam, mu, t_x, T, litt))
    rate = k * lam
    gaps = x * (k * mp.log(rate) - mp.loggamma(k)) + (k - 1) * litt - rate * t_x

    def surv(u):
        return mp.gammainc(k, rate * u, mp.inf, regularized=True)

    d = T - t_x
    alive = mp.exp(-mu * T) * surv(d)
    if d > 0:
        pts = [t_x] + [t_x + d * f for f in (mp.mpf("0.001"), mp.mpf("0.01"), mp.mpf("0.1"), mp.mpf("0.5"))] + [T]
        dead = mp.quad(lambda tau: mu * mp.exp(-mu * tau) * surv(tau - t_x), pts)
    else:
        dead = mp.mpf(0)
    total = alive + dead
    return gaps + mp.log(total), mp.log(alive / total)


def _grid(rng, n):
    lo = lambda a, b: float(np.exp(rng.uniform(np.log(a), np.log(b))))  # noqa: E731
    rows = []
    for i in range(n):
        k, lam, mu = lo(0.2, 30), lo(1e-3, 20), lo(1e-4, 5)
        x = 0 if i % 5 == 0 else int(lo(1, 501))
        if i % 7 == 3:
            x = 500                                                   # heavy buyers
        T = lo(1, 400)
        t_x = 0.0 if x == 0 else (T if i % 6 == 1 else T * rng.uniform())
        litt = 0.0 if x == 0 else x * np.log(max(t_x, 1e-9) / x) - rng.exponential(1.0) * x
        rows.append((k, lam, mu, x, t_x, T, litt))
    return rows


ROWS = _grid(np.random.default_rng(20161), 24)


def test_loglik_and_p_alive_equal_the_integral_over_the_dropout_time():
    worst_ll = worst_pa = 0.0
    for k, lam, mu, x, t_x, T, litt in ROWS:
        ll_ref, lpa_ref = _ref_parts(k, lam, mu, x, t_x, T, litt)
        ll = float(paretoggg.loglik(k, lam, mu, x, t_x, T, litt))
        pa = float(paretoggg.p_alive(k, lam, mu, x, t_x, T))
        assert np.isfinite(ll) and 0.0 <= pa <= 1.0
        worst_ll = max(worst_ll, abs(ll - float(ll_ref)) / max(1.0, abs(float(ll_ref))))
        worst_pa = max(worst_pa, abs(pa - float(mp.exp(lpa_ref))))
    assert worst_ll < 1e-10
    assert worst_pa < 1e-10


def test_k_one_is_the_pareto_nbd_individual_likelihood():
    rng = np.random.default_rng(7)
    n = 2000
    lam, mu = np.exp(rng.uniform(-5, 2, n)), np.exp(rng.uniform(-6, 1, n))
    x = rng.integers(0, 60, n).astype(float)
    T = np.exp(rng.uniform(0, 4, n))
    t_x = np.where(x > 0, T * rng.uniform(size=n), 0.0)
    litt = np.where(x > 0, rng.normal(size=n), 0.0)
    ours = paretoggg.loglik(1.0, lam, mu, x, t_x, T, litt)
    # lambda^x [mu/(lambda+mu) e^-(lambda+mu) t_x + lambda/(lambda+mu) e^-(lambda+mu) T], in log space
    pnbd = x * np.log(lam) + np.logaddexp(np.log(mu) - (lam + mu) * t_x, np.log(lam) - (lam + mu) * T) \
        - np.log(lam + mu)
    np.testing.assert_allclose(ours, pnbd, rtol=1e-12, atol=1e-12)
    pa = paretoggg.p_alive(1.0, lam, mu, x, t_x, T)
    # Pareto/NBD P(alive | lambda, mu) = 1 / (1 + mu/(lambda+mu) (e^((lambda+mu)(T-t_x)) - 1))
    pa_pnbd = 1.0 / (1.0 + mu / (lam + mu) * np.expm1((lam + mu) * (T - t_x)))
    np.testing.assert_allclose(pa, pa_pnbd, rtol=1e-10, atol=1e-300)


def test_extremes_stay_finite():
    # heavy buyers, rates near 0 and huge, T == t_x, k tiny and large
    k = np.array([1e-3, 0.05, 1.0, 50.0, 400.0, 3.0, 3.0, 3.0])
    lam = np.array([1e-6, 1e3, 50.0, 1e-4, 2.0, 1e-8, 1e4, 1.0])
    mu = np.array([1e-9, 1e2, 1e-8, 30.0, 1e-6, 1e3, 1e-12, 1.0])
    x = np.array([500.0, 500.0, 0.0, 3.0, 500.0, 1.0, 500.0, 2.0])
    T = np.array([52.0, 52.0, 52.0, 300.0, 250.0, 1e4, 52.0, 10.0])
    t_x = np.array([52.0, 1.0, 0.0, 2.0, 250.0, 1.0, 0.01, 10.0])
    litt = np.where(x > 0, x * np.log(np.maximum(t_x, 1e-9) / np.maximum(x, 1)), 0.0)
    ll = paretoggg.loglik(k, lam, mu, x, t_x, T, litt)
    pa = paretoggg.p_alive(k, lam, mu, x, t_x, T)
    assert np.all(np.isfinite(ll))
    assert np.all((pa >= 0) & (pa <= 1))
    assert pa[-1] == 1.0 and pa[0] == 1.0                     # T == t_x: just bought


def test_log_incomplete_gamma_matches_mpmath_in_the_tails():
    for a, z in [(0.01, 1e-5), (0.3, 0.9), (2.0, 1.5), (5.0, 6.5), (40.0, 41.5), (400.0, 380.0), (3.0, 2000.0),
                 (150.0, 1.0), (0.5, 700.0)]:
        lp, lq = paretoggg.log_incomplete_gamma(a, z)
        P = mp.gammainc(a, 0, z, regularized=True)
        Q = mp.gammainc(a, z, mp.inf, regularized=True)
        assert abs(float(lp) - float(mp.log(P))) <= 1e-11 * max(1.0, abs(float(mp.log(P))))
        assert abs(float(lq) - float(mp.log(Q))) <= 1e-11 * max(1.0, abs(float(mp.log(Q))))


def test_remaining_gap_is_the_truncated_gamma():
    rng = np.random.default_rng(3)
    k, lam, elapsed = 4.0, 0.5, 9.0
    g = paretoggg.draw_remaining_gap(np.full(20000, k), lam, elapsed, rng) + elapsed
    dist = stats.gamma(k, scale=1.0 / (k * lam))
    # the CDF of Gamma(k, k lam) conditioned on > elapsed
    cdf = lambda v: (dist.cdf(v) - dist.cdf(elapsed)) / dist.sf(elapsed)  # noqa: E731
    assert stats.kstest(g, cdf).pvalue > 1e-3
    # deep tail (Q underflows in linear space): still beyond the elapsed time and finite
    far = paretoggg.draw_remaining_gap(np.full(100, 6.0), 5.0, 400.0, rng)
    assert np.all(np.isfinite(far) & (far >= 0)) and far.mean() < 1.0


def test_future_purchases_at_k_one_match_the_pareto_nbd_expectation():
    rng = np.random.default_rng(11)
    lam, mu, x, t_x, T, t = 0.7, 0.05, 6.0, 8.0, 12.0, 20.0
    n = paretoggg.draw_future_purchases(1.0, lam, mu, x, t_x, T, np.full(200_000, t), rng)
    pa = 1.0 / (1.0 + mu / (lam + mu) * np.expm1((lam + mu) * (T - t_x)))
    expected = pa * lam / mu * (1.0 - np.exp(-mu * t))
    assert abs(n.mean() - expected) < 4 * n.std() / np.sqrt(n.size)


def test_bad_parameters_raise_typed_errors():
    with pytest.raises(InvalidValueError, match="k must be"):
        paretoggg.loglik(0.0, 1.0, 1.0, 1, 1.0, 2.0, 0.0)
    with pytest.raises(InvalidValueError, match="mu must be"):
        paretoggg.p_alive(1.0, 1.0, np.nan, 1, 1.0, 2.0)
    with pytest.raises(InvalidValueError, match="T must be"):
        paretoggg.loglik(1.0, 1.0, 1.0, 1, 3.0, 2.0, 0.0)
