"""(M)BG/CNBD-k math (clvmodels.math.cnbdk) against BTYDplus' own reference values, the BG/NBD and
MBG/NBD modules at k = 1, independent mpmath evaluations (the closed form and quadrature over the
individual-level model, tests/math/cnbdk_mpref.py) and simulation."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from scipy import special
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import bgfamily_mpref as bgref  # noqa: E402
import cnbdk_mpref as ref  # noqa: E402
from fd_ref import richardson_derivative  # noqa: E402

from clvmodels.errors import CLVWarning, InvalidValueError  # noqa: E402
from clvmodels.math import bgnbd, cnbdk, mbgnbd  # noqa: E402
from clvmodels.math.special import log_bg_mean_purchases  # noqa: E402
from clvmodels.simulate import cnbdk as simulate  # noqa: E402

MODELS = [(False, bgnbd), (True, mbgnbd)]
# BTYDplus (src/BTYDplus.cpp, the self-checks after xbgcnbd_exp_cpp): k, r, alpha, a, b
BTYDPLUS = (3, 0.5, 2.0, 0.3, 0.6)


def _grid(rng, n, x_max=300, k_max=10):
    """Parameters 1e-2..1e2, k in 1..k_max and histories up to x_max repeat purchases (heavy buyers)."""
    lo = lambda a, b, size=n: np.exp(rng.uniform(np.log(a), np.log(b), size))  # noqa: E731
    k = rng.integers(1, k_max + 1, n).astype(float)
    r, alpha, a, b = lo(1e-2, 1e2), lo(1e-2, 1e2), lo(1e-2, 1e2), lo(1e-2, 1e2)
    x = np.where(rng.uniform(size=n) < 0.25, 0.0, np.floor(lo(1, x_max + 1)))
    T = lo(0.5, 500)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    # litt of x gaps adding up to t_x (the most regular: x log(t_x / x)), minus a random spread
    litt = np.where(x > 0, x * np.log(np.maximum(t_x, 1e-300) / np.maximum(x, 1)) - rng.exponential(2.0, n) * x, 0)
    t = lo(0.1, 200)
    return k, r, alpha, a, b, x, t_x, T, litt, t


def _close(ours, expected, rtol):
    expected = float(expected)
    return abs(float(ours) - expected) <= rtol * max(1.0, abs(expected))


# --------------------------------------------------------------------------------------------
# reference values
# --------------------------------------------------------------------------------------------
def test_btydplus_reference_values():
    # BTYDplus' C++ self-checks: xbgcnbd_ll_cpp(params, x = c(3, 4), t.x = 12, T.cal = 14, litt = 3)
    # == c(-10.42500, -12.22396); xbgcnbd_pmf_cpp(params, t = 10, x = 2) == 0.05669 (BG/CNBD-k) and
    # 0.04548 (MBG/CNBD-k); the pmf sums to 1 and its mean is the expectation (xbgcnbd_exp_cpp)
    np.testing.assert_array_equal(cnbdk.loglik(*BTYDPLUS, [3, 4], 12.0, 14.0, 3.0).round(5), [-10.425, -12.22396])
    assert round(float(cnbdk.p_purchases(*BTYDPLUS, 2, 10.0)), 5) == 0.05669
    assert round(float(cnbdk.p_purchases(*BTYDPLUS, 2, 10.0, dropout_at_zero=True)), 5) == 0.04548
    n = np.arange(4000)
    for s in (False, True):
        P = cnbdk.p_purchases(*BTYDPLUS, n, 10.0, dropout_at_zero=s)
        assert P.sum() == pytest.approx(1.0, rel=1e-12)
        assert (n * P).sum() == pytest.approx(cnbdk.expected_purchases_new(*BTYDPLUS, 10.0, dropout_at_zero=s),
                                              rel=1e-11)


def test_btydplus_cdnow_loglik_at_k1():
    # the MBG/CNBD-k on the CDNOW sample picks k = 1 with LL -9582.1 (BTYDplus demo/cdnow.R; the MBG/NBD
    # optimum, lifetimes 0.11.3 ModifiedBetaGeoFitter: r = 0.52484, alpha = 6.18299, a = 0.89136, b = 1.61400)
    import clvmodels as clv

    s = clv.datasets.cdnow_summary()
    ll = cnbdk.loglik(1, 0.52484, 6.18299, 0.89136, 1.61400, s["frequency"], s["recency"], s["T"], 0.0,
                      dropout_at_zero=True)
    assert round(float(ll.sum()), 1) == -9582.1


# --------------------------------------------------------------------------------------------
# k = 1 is the BG/NBD (MBG/NBD)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dropout_at_zero, base", MODELS)
def test_k1_equals_bgnbd_and_mbgnbd(dropout_at_zero, base):
    rng = np.random.default_rng(3)
    _, r, alpha, a, b, x, t_x, T, litt, t = _grid(rng, 3000)
    kw = {"dropout_at_zero": dropout_at_zero}

    def same(ours, theirs, atol=0.0):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        tol = 1e-12 * np.maximum(1.0, np.abs(theirs)) + atol
        assert np.all(np.abs(ours - theirs) <= tol), np.max(np.abs(ours - theirs) / tol)

    same(cnbdk.loglik(1, r, alpha, a, b, x, t_x, T, litt, **kw), base.loglik(r, alpha, a, b, x, t_x, T))
    for i in range(0, 3000, 300):        # scalar parameters for the gradient
        ll, g = cnbdk.loglik_and_grad(1, r[i], alpha[i], a[i], b[i], x, t_x, T, litt, **kw)
        ll0, g0 = base.loglik_and_grad(r[i], alpha[i], a[i], b[i], x, t_x, T)
        same(ll, ll0)
        np.testing.assert_allclose(g, g0, rtol=1e-10, atol=1e-10 * np.abs(g0).max())
    same(cnbdk.p_alive(1, r, alpha, a, b, x, t_x, T, **kw), base.p_alive(r, alpha, a, b, x, t_x, T), atol=1e-15)
    # the expectations of k = 1 are the closed forms (the series are compared with them below)
    same(cnbdk.conditional_expected_purchases(1, r, alpha, a, b, x, t_x, T, t, **kw),
         base.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t), atol=1e-300)
    same(cnbdk.expected_purchases_new(1, r, alpha, a, b, t, **kw), base.expected_purchases_new(r, alpha, a, b, t))
    same(cnbdk.p_alive_ahead(1, r, alpha, a, b, x, T, t, **kw), base.p_alive_ahead(r, alpha, a, b, x, T, t), atol=1e-12)
    same(cnbdk.p_no_purchase_ahead(1, r, alpha, a, b, x, T, t, **kw),
         base.p_no_purchase_ahead(r, alpha, a, b, x, T, t), atol=1e-15)
    # with k = 1 the time since the last purchase does not matter once the customer is alive
    same(cnbdk.p_no_purchase_ahead(1, r, alpha, a, b, x, T, t, t_x=t_x, **kw),
         base.p_no_purchase_ahead(r, alpha, a, b, x, T, t), atol=1e-15)
    n = np.minimum(x, 60)
    same(cnbdk.p_purchases(1, r, alpha, a, b, n, t, **kw), base.p_purchases(r, alpha, a, b, n, t), atol=1e-15)


@pytest.mark.parametrize("dropout_at_zero, base", MODELS)
def test_the_series_at_k1_are_the_closed_forms(dropout_at_zero, base):
    # the series that k > 1 needs, at k = 1, against the guarded closed forms (FHL 2005 eq. 10; Batislam et al.
    # 2007): equal within the closed form's documented relative error (1e-10); wherever they differ by more than
    # 1e-12 and the closed form's own error estimate (which can be optimistic: 1.3e-12 was estimated where the
    # error is 5.7e-12, and mpmath confirms the series there), and at the three largest differences, mpmath
    # decides: the series to 1e-13
    rng = np.random.default_rng(4)
    _, r, alpha, a, b, x, t_x, T, _, t = _grid(rng, 1500)
    t = np.minimum(t, 104.0)
    s = float(dropout_at_zero)
    mean, odds = cnbdk._future(1, r, alpha, a, b, x, t_x, T, t, s, "mean", series=True)
    pa = special.expit(-odds)
    closed, err = log_bg_mean_purchases(r + x, t / (alpha + T), a, b + x + s, return_error=True)
    diff = np.abs(mean / np.exp(closed) - 1)
    np.testing.assert_array_less(diff, 1e-10)
    np.testing.assert_allclose(pa * mean, base.conditional_expected_purchases(r, alpha, a, b, x, t_x, T, t),
                               rtol=1e-10, atol=1e-300)
    disputed = np.flatnonzero(diff > np.maximum(1e-12, 2 * err))
    assert disputed.size <= 10, disputed.size
    for i in np.union1d(disputed, np.argsort(diff)[-3:]):
        expected = bgref.stable(bgref.bg_conditional if s == 0 else bgref.mbg_conditional, r[i], alpha[i], a[i],
                                b[i], x[i], t_x[i], T[i], t[i], precisions=(40, 80, 160, 320))
        if expected > 1e-250:
            assert float(pa[i] * mean[i]) == pytest.approx(float(expected), rel=1e-13), i
    # survival ahead: the closed form's documented absolute error is ~1e-10 (bgnbd._alive_ahead); where the
    # two differ most, the hypergeometric 2F1(r+x, a; a+b'; -t/(alpha+T)) at high precision decides (the
    # series' own absolute error is below 1e-12: on this grid 1.4e-13 at worst, 2e-14 at the 99th percentile)
    ahead = cnbdk._future(1, r, alpha, a, b, x, None, T, t, s, "survival", series=True)[0]
    closed_ahead = base.p_alive_ahead(r, alpha, a, b, x, T, t)
    np.testing.assert_allclose(ahead, closed_ahead, rtol=0, atol=1e-10)
    for i in np.argsort(np.abs(ahead - closed_ahead))[-3:]:
        with mp.workdps(40):
            bp = mp.mpf(b[i]) + x[i] + s
            expected = mp.hyp2f1(mp.mpf(r[i]) + x[i], mp.mpf(a[i]), mp.mpf(a[i]) + bp,
                                 -mp.mpf(t[i]) / (mp.mpf(alpha[i]) + mp.mpf(T[i])))
        assert abs(float(ahead[i]) - float(expected)) < 1e-12, i


# --------------------------------------------------------------------------------------------
# mpmath
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_loglik_matches_mpmath_closed_form(dropout_at_zero):
    rng = np.random.default_rng(11 + dropout_at_zero)
    k, r, alpha, a, b, x, t_x, T, litt, _ = _grid(rng, 150)
    s = float(dropout_at_zero)
    ours = cnbdk.loglik(k, r, alpha, a, b, x, t_x, T, litt, dropout_at_zero=dropout_at_zero)
    assert x.max() >= 150 and set(k) >= {1, 2, 5, 10}
    for i in range(k.size):
        expected = bgref.stable(ref.loglik, k[i], r[i], alpha[i], a[i], b[i], x[i], t_x[i], T[i], litt[i], s)
        assert _close(ours[i], expected, 1e-11), i


@pytest.mark.parametrize("case", [
    (2, 0.8, 4.0, 0.7, 2.5, 3, 20.0, 39.0, 4.0),
    (3, 0.5, 2.0, 0.3, 0.6, 0, 0.0, 14.0, 0.0),
    (5, 2.5, 12.0, 1.4, 0.6, 12, 30.0, 52.0, 8.0),
    (3, 1.2, 3.0, 0.9, 3.0, 300, 51.0, 52.0, -600.0),     # a heavy buyer
    (10, 0.3, 1.0, 2.0, 5.0, 40, 20.0, 60.0, -10.0),
])
@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_loglik_matches_the_integral_of_the_individual_model(case, dropout_at_zero):
    # no negative binomial, no closed form: the likelihood of Erlang-k gaps and the coin tosses, integrated
    # over lambda ~ Gamma(r, alpha) by quadrature (p ~ Beta(a, b) in closed form)
    with mp.workdps(30):
        expected = ref.loglik_integral(*[mp.mpf(v) for v in case], mp.mpf(dropout_at_zero))
    ours = cnbdk.loglik(*case, dropout_at_zero=dropout_at_zero)
    assert _close(ours, expected, 1e-12)


PREDICTION_CASES = [   # k, r, alpha, a, b, x, t_x, T, t
    (2, 0.8, 4.0, 0.7, 2.5, 3, 20.0, 39.0, 26.0),
    (3, 0.5, 2.0, 0.3, 0.6, 0, 0.0, 14.0, 10.0),
    (4, 1.0, 20.0, 0.5, 3.0, 6, 20.0, 40.0, 26.0),
    (5, 2.5, 12.0, 1.4, 0.6, 12, 30.0, 52.0, 52.0),
    (3, 1.2, 3.0, 0.9, 3.0, 300, 51.0, 52.0, 13.0),      # a heavy buyer: ~75 purchases ahead
    (10, 0.3, 1.0, 2.0, 5.0, 40, 20.0, 60.0, 100.0),
]


@pytest.mark.parametrize("case", PREDICTION_CASES)
@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_predictions_match_mpmath(case, dropout_at_zero):
    k, r, alpha, a, b, x, t_x, T, t = case
    kw = {"dropout_at_zero": dropout_at_zero}
    s = mp.mpf(dropout_at_zero)
    with mp.workdps(30):
        mpcase = [mp.mpf(v) for v in case]
        pa = ref.p_alive(*mpcase[:8], s)
        ce = ref.conditional_expected(*mpcase, s)
        none = ref.p_no_purchase_ahead(*mpcase, s)
    assert _close(cnbdk.p_alive(*case[:8], **kw), pa, 1e-13)
    assert float(cnbdk.conditional_expected_purchases(*case, **kw)) == pytest.approx(float(ce), rel=1e-11)
    assert float(cnbdk.p_no_purchase_ahead(k, r, alpha, a, b, x, T, t, t_x=t_x, **kw)) == pytest.approx(
        float(none), rel=1e-11)
    assert float(cnbdk.p_active(*case, **kw)) == pytest.approx(float(pa * (1 - none)), rel=1e-11)


@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_p_purchases_matches_mpmath(dropout_at_zero):
    rng = np.random.default_rng(21 + dropout_at_zero)
    k, r, alpha, a, b, _, _, _, _, t = _grid(rng, 80)
    n = np.floor(np.exp(rng.uniform(0, np.log(100), k.size))) - 1
    ours = cnbdk.p_purchases(k, r, alpha, a, b, n, t, dropout_at_zero=dropout_at_zero)
    for i in range(k.size):
        expected = bgref.stable(ref.p_purchases, k[i], r[i], alpha[i], a[i], b[i], n[i], t[i],
                                float(dropout_at_zero), precisions=(60, 120, 240))
        if expected > 1e-250:
            assert float(ours[i]) == pytest.approx(float(expected), rel=1e-10), i


@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_alive_ahead_is_the_survival_of_the_next_purchases(dropout_at_zero):
    # given alive in phase 0, P(alive at T+t) = E[(1-p)^M], M = floor(N/k) purchases in the period:
    # sum_M P(M) E[(1-p)^M], with P(M = m) from the Poisson counts integrated over lambda (negative binomial)
    k, r, alpha, a, b, x, T, t = 3, 1.5, 6.0, 0.8, 2.0, 4, 30.0, 20.0
    s = int(dropout_at_zero)
    with mp.workdps(30):
        R, q = r + k * x, mp.mpf(alpha + T) / (alpha + T + t)
        nb = [mp.rf(R, i) / mp.factorial(i) * q ** R * (1 - q) ** i for i in range(2000)]
        expected = mp.fsum(nb[i] * mp.beta(a, b + x + s + i // k) / mp.beta(a, b + x + s) for i in range(2000))
    ours = cnbdk.p_alive_ahead(k, r, alpha, a, b, x, T, t, dropout_at_zero=dropout_at_zero)
    assert float(ours) == pytest.approx(float(expected), abs=1e-13)


# --------------------------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------------------------
def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(31)
    k, r, alpha, a, b, x, t_x, T, litt, _ = _grid(rng, 40, x_max=50)
    for i in range(k.size):
        for s in (False, True):
            p0 = np.array([r[i], alpha[i], a[i], b[i]])
            args = (x[i], t_x[i], T[i], litt[i])
            _, g = cnbdk.loglik_and_grad(k[i], *p0, *args, dropout_at_zero=s)
            for j in range(4):
                fd = richardson_derivative(lambda p: cnbdk.loglik(k[i], *p, *args, dropout_at_zero=s), p0, j)
                assert g[j] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1.0, abs(fd))), (i, s, j)


def test_litt_only_shifts_the_likelihood_by_k_minus_1_times_itself():
    args = (0.8, 4.0, 0.7, 2.5, 3, 20.0, 39.0)
    for k in (1, 2, 7):
        d = cnbdk.loglik(k, *args, 5.0) - cnbdk.loglik(k, *args, 2.0)
        assert float(d) == pytest.approx(3.0 * (k - 1), abs=1e-12)


def test_k_broadcasts_like_a_parameter():
    # the forecasting layer passes parameter draws as (1, S) columns: k as one of them
    k = np.array([[1.0, 2.0, 3.0, 2.0]])
    r = np.array([[0.5, 0.6, 0.7, 0.8]])
    x, t_x, T = np.array([[0.0], [2.0], [5.0]]), np.array([[0.0], [10.0], [30.0]]), np.array([[40.0], [40.0], [40.0]])
    got = cnbdk.conditional_expected_purchases(k, r, 4.0, 0.7, 2.5, x, t_x, T, 26.0)
    assert got.shape == (3, 4)
    for col in range(4):
        one = cnbdk.conditional_expected_purchases(int(k[0, col]), r[0, col], 4.0, 0.7, 2.5, x, t_x, T, 26.0)
        np.testing.assert_array_equal(got[:, col], one[:, 0])
    assert cnbdk.p_alive(k, r, 4.0, 0.7, 2.5, x, t_x, T).shape == (3, 4)
    for bad in (0, 1.5, np.nan):
        with pytest.raises(InvalidValueError, match="whole number"):
            cnbdk.p_alive(bad, 0.5, 4.0, 0.7, 2.5, 1, 5.0, 10.0)


def test_p_alive_just_after_a_purchase_does_not_depend_on_k():
    # no silence to weigh: P(alive | t_x = T) = 1 / (1 + a/(b+x+s-1)) whatever k (and whatever lambda)
    for s in (False, True):
        got = [float(cnbdk.p_alive(k, 1.0, 5.0 * k, 0.5, 3.0, 6, 40.0, 40.0, dropout_at_zero=s)) for k in (1, 2, 4, 8)]
        np.testing.assert_allclose(got, 1.0 / (1.0 + 0.5 / (3.0 + 6 + s - 1)), rtol=1e-15)
    # a silence as long as six mean inter-purchase times weighs more when purchases are regular (k = 4)
    # than under the BG/NBD with the same prior mean purchase rate r / (k alpha) (alpha divided by k)
    assert cnbdk.p_alive(4, 1.0, 1.25, 0.5, 3.0, 6, 20.0, 40.0) < 0.5 * cnbdk.p_alive(1, 1.0, 5.0, 0.5, 3.0, 6, 20.0, 40.0)


def test_heavy_buyers_stay_finite():
    rng = np.random.default_rng(41)
    n = 20_000
    lo = lambda a, b: np.exp(rng.uniform(np.log(a), np.log(b), n))  # noqa: E731
    k = rng.integers(1, 11, n).astype(float)
    r, alpha, a, b = lo(1e-3, 1e3), lo(1e-3, 1e3), lo(1e-3, 1e3), lo(1e-3, 1e3)
    x = np.floor(lo(1, 5000))
    T = lo(1e-2, 1e4)
    t_x = T * rng.uniform(0, 1, n)
    litt = x * np.log(t_x / x) - x
    for s in (False, True):
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            ll = cnbdk.loglik(k, r, alpha, a, b, x, t_x, T, litt, dropout_at_zero=s)
            pa = cnbdk.p_alive(k, r, alpha, a, b, x, t_x, T, dropout_at_zero=s)
        assert np.isfinite(ll).all() and ((pa >= 0) & (pa <= 1)).all()
    # expectations of heavy buyers over a year (histories of a year or more, up to 5,000 purchases)
    few = slice(0, 300)
    T = lo(52.0, 520.0)[few]
    t_x = T * rng.uniform(0.5, 1, T.size)
    ce = cnbdk.conditional_expected_purchases(k[few], r[few], alpha[few], a[few], b[few], x[few], t_x, T, 52.0)
    # never more than the expected Poisson events / k (+1) of a customer who stays: E[lambda | alive, j]
    # = (r + kx + j)/(alpha + T)
    rate = (r[few] + k[few] * x[few] + k[few]) / (alpha[few] + T)
    assert np.isfinite(ce).all() and (ce <= rate * 52.0 / k[few] + 1 + 1e-9).all()


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_simulated_population_agrees(dropout_at_zero):
    params = (3, 2.0, 6.0, 0.8, 2.5)
    kw = {"dropout_at_zero": dropout_at_zero}
    sim = simulate.simulate(*params, T=30.0, n_customers=100_000, holdout=20.0, random_state=5, **kw)
    n = len(sim)
    # the calibration histogram is the pmf at T
    counts = np.bincount(sim["frequency"].astype(int), minlength=8)[:8] / n
    P = cnbdk.p_purchases(*params, np.arange(8), 30.0, **kw)
    assert (np.abs(counts - P) < 4 * np.sqrt(P * (1 - P) / n)).all()
    # conditional expectations and P(active) average to the holdout's (law of total expectation), and the
    # holdout mean is E[X(50)] - E[X(30)]
    x, t_x, T = sim["frequency"], sim["recency"], sim["T"]
    ce = cnbdk.conditional_expected_purchases(*params, x, t_x, T, 20.0, **kw)
    hold = sim["frequency_holdout"]
    se = hold.std() / np.sqrt(n)
    assert abs(ce.mean() - hold.mean()) < 4 * se
    new = cnbdk.expected_purchases_new(*params, np.array([30.0, 50.0]), **kw)
    assert abs(new[1] - new[0] - ce.mean()) < 4 * se
    act = cnbdk.p_active(*params, x, t_x, T, 20.0, **kw)
    share = (hold > 0).mean()
    assert abs(act.mean() - share) < 4 * np.sqrt(share * (1 - share) / n)
    # the posterior is informative: customers the model calls active do buy more often
    assert hold[act > 0.8].gt(0).mean() > 0.75 and hold[act < 0.2].gt(0).mean() < 0.25


def test_draws_of_future_purchases():
    case = (4, 1.0, 20.0, 0.5, 3.0, [6, 6, 0, 300], [20.0, 39.0, 0.0, 39.0], 40.0, 26.0)
    for s in (False, True):
        draws = cnbdk.draw_future_purchases(*case, n_draws=40_000, random_state=7, dropout_at_zero=s)
        assert draws.shape == (40_000, 4) and draws.dtype.kind == "i" and (draws >= 0).all()
        mean = cnbdk.conditional_expected_purchases(*case, dropout_at_zero=s)
        se = draws.std(axis=0) / np.sqrt(len(draws))
        assert (np.abs(draws.mean(axis=0) - mean) < 4 * se + 1e-12).all()
        act = cnbdk.p_active(*case, dropout_at_zero=s)
        share = (draws > 0).mean(axis=0)
        assert (np.abs(share - act) < 4 * np.sqrt(act * (1 - act) / len(draws)) + 1e-12).all()


def test_a_long_series_is_summed_not_given_up():
    # found by the property test below in CI: 23 purchases at time 0 of a 0.03-week history, forecast 184
    # weeks ahead, needs ~200,000 future purchases of the series (the old cap gave NaN without a warning)
    case = (2, 1.0, 0.03125, 1.0, 1.0, 23, 0.0, 0.03125)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CLVWarning)
        ce = cnbdk.conditional_expected_purchases(*case, 184.0)
        ahead = cnbdk.p_alive_ahead(*case[:6], case[7], 184.0, t_x=0.0)
    pa = cnbdk.p_alive(*case)
    assert np.isfinite(ce) and 0 < ce < 69_000 * pa and 0 < ahead < 1
    # the same sums with a shorter horizon grow with it (expected purchases increase in t)
    assert cnbdk.conditional_expected_purchases(*case, 100.0) < ce


pos = st.floats(1e-2, 1e2)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 10), r=pos, alpha=pos, a=pos, b=pos, x=st.integers(0, 500), T=st.floats(1e-2, 1e3),
       frac=st.floats(0, 1), t=st.floats(1e-2, 1e3), s=st.booleans())
def test_properties(k, r, alpha, a, b, x, T, frac, t, s):
    t_x = frac * T if x > 0 else 0.0
    kw = {"dropout_at_zero": s}
    ll = cnbdk.loglik(k, r, alpha, a, b, x, t_x, T, 0.0, **kw)
    pa = cnbdk.p_alive(k, r, alpha, a, b, x, t_x, T, **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CLVWarning)
        ce = cnbdk.conditional_expected_purchases(k, r, alpha, a, b, x, t_x, T, t, **kw)
        ahead = cnbdk.p_alive_ahead(k, r, alpha, a, b, x, T, t, t_x=t_x, **kw)
    act = cnbdk.p_active(k, r, alpha, a, b, x, t_x, T, t, **kw)
    assert np.isfinite(ll) and 0 <= pa <= 1 and 0 <= act <= pa + 1e-12
    # the series of future purchases is summed up to 10 million of them; beyond (tens of purchases per time
    # unit for hundreds of units) the value is NaN with a warning, never silently
    expected_events = (r + k * x + k) * t / (alpha + T)
    if np.isnan(ce) or np.isnan(ahead):
        assert expected_events / k > 1e6 and any("10,000,000 future purchases" in str(w.message) for w in caught)
        return
    assert not caught and 0 <= ahead <= 1
    assert np.isfinite(ce) and ce >= 0 and ce >= act - 1e-9       # at least one purchase with P(active)


@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_ahead_given_alive_is_the_two_functions_in_one_pass(dropout_at_zero):
    # the forecasting layer's one-pass pair equals conditional expectation / P(alive) and P(alive ahead)
    rng = np.random.default_rng(51)
    k, r, alpha, a, b, x, t_x, T, _, t = _grid(rng, 300, x_max=60, k_max=6)
    kw = {"dropout_at_zero": dropout_at_zero}
    mean, alive = cnbdk.ahead_given_alive(k, r, alpha, a, b, x, T, t, t_x=t_x, **kw)
    pa = cnbdk.p_alive(k, r, alpha, a, b, x, t_x, T, **kw)
    ok = pa > 1e-250
    ce = cnbdk.conditional_expected_purchases(k, r, alpha, a, b, x, t_x, T, t, **kw)
    np.testing.assert_allclose(mean[ok], ce[ok] / pa[ok], rtol=1e-12)
    np.testing.assert_array_equal(alive, cnbdk.p_alive_ahead(k, r, alpha, a, b, x, T, t, t_x=t_x, **kw))
    # the namespace with k fixed: k = 1 takes over the (M)BG/NBD's fast paths, k > 1 needs the recency
    base = mbgnbd if dropout_at_zero else bgnbd
    one = (cnbdk.MBG if dropout_at_zero else cnbdk.BG).with_k(1)
    assert one.alive_factors is base.alive_factors and one.weighted_evaluator is base.weighted_evaluator
    assert not one.ahead_needs_recency and cnbdk.BG.with_k(2).ahead_needs_recency
    assert not hasattr(cnbdk.BG.with_k(2), "alive_factors")
