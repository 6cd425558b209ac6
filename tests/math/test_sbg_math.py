"""Shifted-beta-geometric math core (Fader & Hardie 2007; DERL of Fader & Hardie 2010)."""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np
import pytest
from scipy import optimize

from clvmodels.errors import InvalidValueError
from clvmodels.math import sbg

# Fader & Hardie (2007), "How to Project Customer Retention", J. Interactive Marketing 21(1):
# survivors per year of the "regular" and "high end" cohorts, years 0-7 (the calibration period
# of the paper), and the published maximum-likelihood estimates fitted on them.
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
PUBLISHED = {"high_end": (0.668, 3.806), "regular": (0.704, 1.182)}


def _lb(a, b):
    return mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)


def ref_loglik(alpha, beta, survivors):
    """From the definition: P(T = t) = E[theta (1-theta)^(t-1)], S(t) = E[(1-theta)^t]."""
    with mp.workdps(40):
        a, b = mp.mpf(float(alpha)), mp.mpf(float(beta))
        total = mp.mpf(0)
        for t in range(1, len(survivors)):
            lost = survivors[t - 1] - survivors[t]
            if lost:
                total += lost * (_lb(a + 1, b + t - 1) - _lb(a, b))
        k = len(survivors) - 1
        return total + survivors[-1] * (_lb(a, b + k) - _lb(a, b))


@pytest.mark.parametrize("name,survivors", [("high_end", HIGH_END), ("regular", REGULAR)])
def test_published_estimates_are_the_mle(name, survivors):
    res = optimize.minimize(lambda th: -sbg.loglik(*np.exp(th), survivors), np.zeros(2), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    alpha, beta = np.exp(res.x)
    pub_a, pub_b = PUBLISHED[name]
    # published to 3 decimals
    assert alpha == pytest.approx(pub_a, abs=6e-4)
    assert beta == pytest.approx(pub_b, abs=6e-4)


def test_loglik_matches_mpmath():
    rng = np.random.default_rng(1)
    for _ in range(60):
        alpha, beta = 10 ** rng.uniform(-3, 3, 2)
        k = int(rng.integers(1, 40))
        surv = np.sort(rng.integers(0, 5000, k + 1))[::-1].tolist()
        got = sbg.loglik(alpha, beta, surv)
        ref = float(ref_loglik(alpha, beta, surv))
        assert got == pytest.approx(ref, rel=1e-10, abs=1e-9)


def test_survival_retention_churn_against_definitions():
    rng = np.random.default_rng(2)
    t = np.arange(0.0, 60.0)
    for _ in range(30):
        alpha, beta = 10 ** rng.uniform(-3, 3, 2)
        S = sbg.survival(alpha, beta, t)
        assert S[0] == 1.0
        # S(t) = prod_{i<=t} r_i and P(T=t) = S(t-1) - S(t)
        np.testing.assert_allclose(S[1:], np.cumprod(sbg.retention(alpha, beta, t[1:])), rtol=1e-11)
        # (the double-precision difference itself cancels, hence the loose tolerance here)
        np.testing.assert_allclose(sbg.p_churn_at(alpha, beta, t[1:]), S[:-1] - S[1:], rtol=1e-6, atol=1e-300)
        churn = sbg.p_churn_at(alpha, beta, t[1:])
        with mp.workdps(40):
            a, b = mp.mpf(alpha), mp.mpf(beta)
            for tt in (1, 7, 59):
                ref = mp.exp(_lb(a, b + tt) - _lb(a, b))
                assert S[tt] == pytest.approx(float(ref), rel=1e-10)
                ref_churn = mp.exp(_lb(a + 1, b + tt - 1) - _lb(a, b))
                assert churn[tt - 1] == pytest.approx(float(ref_churn), rel=1e-10)
    # FH 2007: r_t = (beta + t - 1)/(alpha + beta + t - 1), increasing in t
    r = sbg.retention(0.668, 3.806, np.arange(1.0, 13.0))
    assert np.all(np.diff(r) > 0)
    assert r[0] == pytest.approx(3.806 / (0.668 + 3.806))


def test_derl_matches_mpmath_sum():
    rng = np.random.default_rng(3)
    for _ in range(8):
        alpha, beta = 10 ** rng.uniform(-2, 2, 2)
        n = int(rng.integers(0, 20))
        d = 10 ** rng.uniform(-2, 0)
        with mp.workdps(30):
            a, b, dd = mp.mpf(alpha), mp.mpf(beta), mp.mpf(d)
            ref = mp.nsum(lambda t: mp.exp(_lb(a, b + t) - _lb(a, b + n)) / (1 + dd) ** (t - n - 1), [n + 1, mp.inf])
        assert sbg.derl(alpha, beta, n, d) == pytest.approx(float(ref), rel=1e-8)


def test_derl_of_a_homogeneous_cohort_and_small_rates():
    # with alpha, beta large and alpha/(alpha+beta) = churn c, DERL -> sum_k (1-c)^(k+1)/(1+d)^k
    c, d = 0.2, 0.1
    homog = (1 - c) * (1 + d) / (d + c)
    assert sbg.derl(c * 1e7, (1 - c) * 1e7, 3, d) == pytest.approx(homog, rel=1e-5)
    # tiny discount rate: the 2F1 argument is within 1e-7 of 1
    with mp.workdps(30):
        ref = (mp.mpf("3.806") + 4) / (mp.mpf("0.668") + mp.mpf("3.806") + 4) * mp.hyp2f1(
            1, mp.mpf("3.806") + 5, mp.mpf("0.668") + mp.mpf("3.806") + 5, 1 / (1 + mp.mpf("1e-7")))
    assert sbg.derl(0.668, 3.806, 4, 1e-7) == pytest.approx(float(ref), rel=1e-8)


def test_finite_over_extreme_grid():
    vals = 10 ** np.linspace(-3, 3, 40)
    a, b = (g.ravel()[:, None] for g in np.meshgrid(vals, vals))
    t = np.arange(0.0, 70.0)
    assert a.size * t.size >= 100_000
    S = sbg.survival(a, b, t)
    assert np.all(np.isfinite(S)) and np.all((S >= 0) & (S <= 1))
    r = sbg.retention(a, b, t[1:])
    assert np.all(np.isfinite(r)) and np.all((r > 0) & (r < 1))
    assert np.all(np.isfinite(sbg.derl(a, b, t[:5], 0.05)))
    ll = np.array([sbg.loglik(a[:, 0], b[:, 0], s) for s in (HIGH_END, REGULAR, [10, 0], [10, 10, 10])])
    assert np.all(np.isfinite(ll))


def test_validation():
    with pytest.raises(InvalidValueError, match="increase"):
        sbg.loglik(1.0, 1.0, [100, 90, 95])
    with pytest.raises(InvalidValueError):
        sbg.loglik(1.0, 1.0, [100])
    with pytest.raises(InvalidValueError):
        sbg.retention(1.0, 1.0, 0)
    with pytest.raises(InvalidValueError, match="beta"):
        sbg.survival(1.0, -2.0, 3)
    assert sbg.loglik(np.array([[1.0], [2.0]]), 3.0, HIGH_END).shape == (2, 1)
    assert list(itertools.islice(sbg.survival(1.0, 1.0, [0, 1, 2]), 3)) == pytest.approx([1.0, 0.5, 1 / 3])


def test_loglik_periods_sums_to_the_cohort_loglik():
    surv = np.array(HIGH_END, dtype=float)
    t = np.arange(1.0, len(surv))
    lost = surv[:-1] - surv[1:]
    per = sbg.loglik_periods(0.7, 3.5, np.append(t, t[-1]), np.append(np.zeros_like(t), 1.0))
    total = np.dot(np.append(lost, surv[-1]), per)
    assert total == pytest.approx(sbg.loglik(0.7, 3.5, surv), rel=1e-14)
