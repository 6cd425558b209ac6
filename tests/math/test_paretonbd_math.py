"""Pareto/NBD math core against independent 50-digit mpmath evaluations.

References: Schmittlein, Morrison & Colombo (1987); Fader, Hardie & Lee (2005), "A Note on
Deriving the Pareto/NBD Model and Related Expressions" (FHL note, likelihood eqs. 17-19);
Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves", JMR, eq. 2 (DERT).
"""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special

import clvmodels as clv
from clvmodels.errors import InvalidValueError
from clvmodels.math import paretonbd as pnbd



def _dps(digits):
    """Run an mpmath reference at a fixed working precision (no global mpmath state)."""
    def wrap(fn):
        def inner(*args):
            with mp.workdps(digits):
                return fn(*args)
        inner.__name__ = fn.__name__
        return inner
    return wrap


# ---------------------------------------------------------------------------------------------
# independent references (mpmath, 50 digits), written from the papers' formulas
# ---------------------------------------------------------------------------------------------
def _mp(*vals):
    return [mp.mpf(float(v)) for v in vals]


@_dps(50)
def ref_parts(r, alpha, s, beta, x, t_x, T):
    """(alive term, likelihood L) with FHL note eqs. 17-19 (2F1 with the alpha >= beta switch)."""
    r, alpha, s, beta, x, t_x, T = _mp(r, alpha, s, beta, x, t_x, T)
    a = r + s + x
    if alpha >= beta:
        F = lambda tau: mp.hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + tau)) / (alpha + tau) ** a  # noqa: E731
    else:
        F = lambda tau: mp.hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + tau)) / (beta + tau) ** a  # noqa: E731
    A0 = (F(t_x) - F(T)) / a if T > t_x else mp.mpf(0)
    alive = (alpha + T) ** (-(r + x)) * (beta + T) ** (-s)
    const = mp.exp(mp.loggamma(r + x) - mp.loggamma(r)) * alpha ** r * beta ** s
    return alive, const * (alive + s * A0), const


@_dps(50)
def ref_loglik(*args):
    return mp.log(ref_parts(*args)[1])


@_dps(50)
def ref_p_alive(*args):
    alive, L, const = ref_parts(*args)
    return const * alive / L


@_dps(50)
def ref_cond_exp(r, alpha, s, beta, x, t_x, T, t):
    pa = ref_p_alive(r, alpha, s, beta, x, t_x, T)
    r, alpha, s, beta, x, T, t = _mp(r, alpha, s, beta, x, T, t)
    return (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) * pa


@_dps(50)
def ref_exp_new(r, alpha, s, beta, t):
    r, alpha, s, beta, t = _mp(r, alpha, s, beta, t)
    return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))


@_dps(30)
def ref_p_purchases(r, alpha, s, beta, n, t):
    """NB(n; t) P(tau > t) + int_0^t NB(n; tau) f(tau) dtau, by mpmath quadrature on a dense grid."""
    r, alpha, s, beta, n, t = _mp(r, alpha, s, beta, n, t)
    lnb = lambda tau: (mp.loggamma(r + n) - mp.loggamma(r) - mp.loggamma(n + 1)  # noqa: E731
                       + r * mp.log(alpha / (alpha + tau)) + n * mp.log(tau / (alpha + tau)))
    first = mp.exp(lnb(t) + s * mp.log(beta / (beta + t)))
    g = lambda u: mp.exp(lnb(mp.exp(u)) + mp.log(s) + s * mp.log(beta) - (s + 1) * mp.log(beta + mp.exp(u)) + u)  # noqa: E731
    lt = mp.log(t)
    span = 60 + 120 / (n + 1)
    pts = [lt - span + i * span / 150 for i in range(151)]
    return first + mp.quad(g, pts)


@_dps(50)
def ref_dert(r, alpha, s, beta, x, t_x, T, delta):
    """FHL (2005) "RFM and CLV" eq. 2 with U(s, s; z) = e^z Gamma(1-s, z) (mpmath gammainc)."""
    alive, L, _ = ref_parts(r, alpha, s, beta, x, t_x, T)
    r, alpha, s, beta, x, T, delta = _mp(r, alpha, s, beta, x, T, delta)
    z = delta * (beta + T)
    U = mp.exp(z) * mp.gammainc(1 - s, z)
    return (alpha ** r * beta ** s * delta ** (s - 1) * mp.gamma(r + x + 1) * U
            / (mp.gamma(r) * (alpha + T) ** (r + x + 1) * L))


def _sample_points(n, seed, heavy=True):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        r, alpha, s, beta = 10 ** rng.uniform(-3, 3, 4)
        T = 10 ** rng.uniform(-1, 4)
        if heavy and rng.random() < 0.4:
            x = float(rng.integers(1000, 3000))
        else:
            x = float(rng.integers(0, 6))
        t_x = 0.0 if x == 0 else (T if rng.random() < 0.15 else T * rng.random())
        out.append((r, alpha, s, beta, x, t_x, T))
    return out


# ---------------------------------------------------------------------------------------------
# likelihood
# ---------------------------------------------------------------------------------------------
def test_cdnow_loglik_at_published_estimates():
    # FHL note / "RFM and CLV" (2005): r=0.553, alpha=10.578, s=0.606, beta=11.669, LL=-9595.0
    # on the 2,357-customer CDNOW sample; the estimates are rounded to 3 decimals, so LL to ~0.05.
    d = clv.datasets.cdnow_summary()
    ll = pnbd.loglik(0.553, 10.578, 0.606, 11.669, d["frequency"], d["recency"], d["T"])
    assert ll.shape == (2357,)
    assert abs(ll.sum() - (-9595.0)) < 0.05


def test_loglik_matches_mpmath_on_sampled_points():
    pts = _sample_points(120, seed=11)
    got = pnbd.loglik(*np.array(pts).T)
    for p, g in zip(pts, got):
        ref = float(ref_loglik(*p))
        # |d log L| <= 1e-8 means L itself agrees to 1e-8 relative
        assert abs(g - ref) <= 1e-8 * max(1.0, abs(ref)), (p, g, ref)


@pytest.mark.parametrize("t_x", [9990.0, 10.0])
def test_heavy_buyer_where_plain_hyp2f1_fails(t_x):
    # a heavy buyer: 1,500 purchases over T = 10,000 days, the last one recent (t_x = 9,990) or
    # long ago (t_x = 10); parameters 1e-3..1e3
    x, T = 1500.0, 10_000.0
    grid = np.array(list(itertools.product([1e-3, 1.0, 1e3], repeat=4)))
    got = pnbd.loglik(*grid.T, x, t_x, T)
    assert np.all(np.isfinite(got))
    for p, g in zip(grid, got):
        ref = float(ref_loglik(*p, x, t_x, T))
        assert abs(g - ref) <= 1e-8 * max(1.0, abs(ref)), (p, g, ref)

    # the textbook evaluation with scipy.special.hyp2f1 (even with everything else in logs)
    # breaks down when the last purchase is long ago (2F1 argument near 1 with r+s+x = 1,500+)
    def naive(r, alpha, s, beta):
        a = r + s + x
        with np.errstate(all="ignore"):
            if alpha >= beta:
                lF = lambda tau: (np.log(special.hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + tau)))  # noqa: E731
                                  - a * np.log(alpha + tau))
            else:
                lF = lambda tau: (np.log(special.hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + tau)))  # noqa: E731
                                  - a * np.log(beta + tau))
            log_a0 = lF(t_x) + np.log1p(-np.exp(lF(T) - lF(t_x))) - np.log(a)
            return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                    + np.logaddexp(-(r + x) * np.log(alpha + T) - s * np.log(beta + T), np.log(s) + log_a0))

    if t_x == 10.0:
        naive_vals = np.array([naive(*p) for p in grid])
        broken = ~np.isfinite(naive_vals) | (np.abs(naive_vals - got) > 1e-6 * np.maximum(1, np.abs(got)))
        assert broken.mean() > 0.25


@pytest.mark.slow
def test_loglik_finite_over_extreme_grid():
    # 7^4 parameter combinations x 64 histories = 153,664 points, parameters 1e-3..1e3,
    # up to 5,000 purchases and T up to 10,000
    vals = np.array([1e-3, 1e-2, 0.3, 1.0, 10.0, 100.0, 1e3])
    params = np.array(list(itertools.product(vals, repeat=4)))
    hist = []
    for x in (0.0, 1.0, 7.0, 150.0, 1500.0, 5000.0):
        for T in (0.01, 1.0, 100.0, 1e4):
            for f in (0.0, 0.3, 0.999, 1.0):
                if (x == 0) != (f == 0):
                    continue
                hist.append((x, f * T, T))
    hist = np.array(hist * 4)[:64]
    assert params.shape[0] * hist.shape[0] >= 100_000
    r, a, s, b = (params[:, i][:, None] for i in range(4))
    x, t_x, T = hist.T
    ll = pnbd.loglik(r, a, s, b, x, t_x, T)
    assert ll.shape == (len(params), len(hist))
    assert np.all(np.isfinite(ll)) and np.all(ll <= 1e-12 + np.where(x == 0, 0.0, np.inf))
    pa = pnbd.p_alive(r[::7], a[::7], s[::7], b[::7], x, t_x, T)
    assert np.all((pa >= 0) & (pa <= 1))


def test_loglik_of_zero_length_history():
    # T = 0 (first purchase at the observation end): L = 1 for x = 0 (nothing could happen yet)
    assert pnbd.loglik(0.5, 2.0, 0.7, 3.0, 0.0, 0.0, 0.0) == pytest.approx(0.0, abs=1e-15)
    assert pnbd.p_alive(0.5, 2.0, 0.7, 3.0, 0.0, 0.0, 0.0) == pytest.approx(1.0, abs=1e-15)


def test_broadcasting_draws_against_customers():
    d = clv.datasets.cdnow_summary().iloc[:50]
    draws = np.array([[0.5, 10.0, 0.6, 11.0], [0.6, 11.0, 0.5, 12.0], [0.55, 10.5, 0.61, 11.7]])
    r, a, s, b = (draws[:, i][:, None] for i in range(4))
    cols = d["frequency"].to_numpy(float), d["recency"].to_numpy(float), d["T"].to_numpy(float)
    out = pnbd.loglik(r, a, s, b, *cols)
    assert out.shape == (3, 50)
    np.testing.assert_allclose(out[1], pnbd.loglik(*draws[1], *cols), rtol=1e-14)
    assert pnbd.conditional_expected_purchases(r, a, s, b, *cols, 39.0).shape == (3, 50)
    assert pnbd.dert(r, a, s, b, *cols, 0.002).shape == (3, 50)
    assert pnbd.p_purchases(r, a, s, b, np.arange(4.0), 39.0).shape == (3, 4)


def test_invalid_parameters_raise():
    with pytest.raises(InvalidValueError, match="alpha"):
        pnbd.loglik(0.5, -1.0, 0.5, 1.0, 1.0, 1.0, 2.0)
    with pytest.raises(InvalidValueError, match="s"):
        pnbd.p_alive(0.5, 1.0, np.nan, 1.0, 1.0, 1.0, 2.0)


# ---------------------------------------------------------------------------------------------
# predictions
# ---------------------------------------------------------------------------------------------
def test_p_alive_and_conditional_expectation_match_mpmath():
    pts = _sample_points(60, seed=12)
    arr = np.array(pts).T
    pa = pnbd.p_alive(*arr)
    ce = pnbd.conditional_expected_purchases(*arr, 52.0)
    for p, g_pa, g_ce in zip(pts, pa, ce):
        ref_pa = ref_p_alive(*p)
        assert g_pa == pytest.approx(float(ref_pa), rel=1e-8, abs=1e-300), p
        if p[2] != 1.0:
            ref_ce = float(ref_cond_exp(*p, 52.0))
            assert g_ce == pytest.approx(ref_ce, rel=1e-8, abs=1e-300), p


def test_expected_purchases_new_matches_mpmath_and_is_continuous_at_s_1():
    rng = np.random.default_rng(13)
    for _ in range(40):
        r, alpha, s, beta = 10 ** rng.uniform(-3, 3, 4)
        t = 10 ** rng.uniform(-2, 4)
        got = pnbd.expected_purchases_new(r, alpha, s, beta, t)
        assert got == pytest.approx(float(ref_exp_new(r, alpha, s, beta, t)), rel=1e-8)
    # s = 1: r beta/alpha log(1 + t/beta) (the limit of the general expression)
    assert pnbd.expected_purchases_new(0.5, 2.0, 1.0, 3.0, 10.0) == pytest.approx(0.5 * 3 / 2 * np.log(1 + 10 / 3), rel=1e-14)
    near = pnbd.expected_purchases_new(0.5, 2.0, 1.0 + 1e-9, 3.0, 10.0)
    assert near == pytest.approx(0.5 * 3 / 2 * np.log(1 + 10 / 3), rel=1e-8)
    assert pnbd.expected_purchases_new(0.5, 2.0, 0.7, 3.0, 0.0) == 0.0


def test_cdnow_conditional_expectation_consistent_with_new_customer():
    # a customer with no history (x = t_x = T = 0) is a new customer
    v = pnbd.conditional_expected_purchases(0.553, 10.578, 0.606, 11.669, 0.0, 0.0, 0.0, 39.0)
    assert v == pytest.approx(pnbd.expected_purchases_new(0.553, 10.578, 0.606, 11.669, 39.0), rel=1e-14)


@pytest.mark.slow
def test_p_purchases_matches_mpmath():
    rng = np.random.default_rng(14)
    for _ in range(12):
        r, alpha, s, beta = 10 ** rng.uniform(-2, 2, 4)
        t = 10 ** rng.uniform(-1, 3)
        n = float(rng.integers(0, 25))
        got = pnbd.p_purchases(r, alpha, s, beta, n, t)
        assert got == pytest.approx(float(ref_p_purchases(r, alpha, s, beta, n, t)), rel=1e-8, abs=1e-300)


def test_p_purchases_is_a_distribution_with_the_right_mean():
    r, alpha, s, beta, t = 0.553, 10.578, 0.606, 11.669, 39.0
    n = np.arange(0.0, 400.0)
    p = pnbd.p_purchases(r, alpha, s, beta, n, t)
    assert p.sum() == pytest.approx(1.0, abs=1e-10)
    assert (n * p).sum() == pytest.approx(pnbd.expected_purchases_new(r, alpha, s, beta, t), rel=1e-9)
    assert pnbd.p_purchases(r, alpha, s, beta, 0.0, 0.0) == 1.0
    assert pnbd.p_purchases(r, alpha, s, beta, 3.0, 0.0) == 0.0


def test_dert_matches_mpmath():
    pts = _sample_points(50, seed=15)
    rng = np.random.default_rng(16)
    deltas = 10 ** rng.uniform(-4, 0, len(pts))
    got = pnbd.dert(*np.array(pts).T, deltas)
    for p, d, g in zip(pts, deltas, got):
        assert g == pytest.approx(float(ref_dert(*p, d)), rel=1e-8, abs=1e-300), (p, d)


def test_dert_h_function_against_mpmath():
    # h(s, z) = z^s e^z Gamma(1-s, z) = int_0^inf e^-u (1+u/z)^-s du, checked against the
    # integral by mpmath quadrature (30 digits) over the ranges where the continued fraction
    # and our own quadrature are used
    rng = np.random.default_rng(17)
    s = 10 ** rng.uniform(-3, 3, 40)
    z = 10 ** rng.uniform(-5, 4, 40)
    got = np.exp(pnbd.log_dert_h(s, z))
    with mp.workdps(30):
        for si, zi, g in zip(s, z, got):
            S, Z = mp.mpf(si), mp.mpf(zi)
            pts = sorted({mp.mpf(0), *(Z / S * k for k in (0.1, 1, 10, 100)), *(Z * k for k in (0.1, 1, 10)),
                          *(mp.mpf(k) for k in (1, 10, 100)), mp.inf})
            ref = mp.quad(lambda u: mp.exp(-u) * (1 + u / Z) ** (-S), pts)
            assert g == pytest.approx(float(ref), rel=1e-9), (si, zi)


def test_dert_is_the_limit_of_discounted_incremental_transactions():
    # DERT = int_0^inf e^(-delta t) dE[X(T, T+t)]/dt dt. Sum the discounted increments of our
    # conditional expectation over growing horizons (midpoint rule on a fine grid) and watch
    # the sum converge to the closed form (FHL 2005 "RFM and CLV" eq. 2).
    r, alpha, s, beta = 0.553, 10.578, 0.606, 11.669
    x, t_x, T = 2.0, 30.43, 38.86
    delta = 0.15 / 52  # 15% a year, continuously compounded, per week
    closed = pnbd.dert(r, alpha, s, beta, x, t_x, T, delta)
    errors = []
    for horizon in (52.0, 520.0, 5200.0, 52000.0):
        edges = np.concatenate([[0.0], np.geomspace(1e-3, horizon, 20001)])
        cum = pnbd.conditional_expected_purchases(r, alpha, s, beta, x, t_x, T, edges)
        mids = 0.5 * (edges[1:] + edges[:-1])
        errors.append(abs(np.sum(np.exp(-delta * mids) * np.diff(cum)) - closed) / closed)
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6 and errors[0] > 0.1

    # and the same with scipy.integrate.quad on the analytic rate
    pa = pnbd.p_alive(r, alpha, s, beta, x, t_x, T)

    def rate(t):
        return (r + x) / (alpha + T) * ((beta + T) / (beta + T + t)) ** s * pa

    val, _ = integrate.quad(lambda t: np.exp(-delta * t) * rate(t), 0, np.inf, epsabs=0, epsrel=1e-12, limit=500)
    assert closed == pytest.approx(val, rel=1e-9)
