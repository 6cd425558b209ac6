"""The PyTensor likelihoods equal the numpy math core (and mpmath) to 1e-10."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")
mp = pytest.importorskip("mpmath", reason="mpmath (test extra) gives the independent reference")

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from clvmodels.bayes import _pt_math as M  # noqa: E402
from clvmodels.datasets import cdnow_summary  # noqa: E402

pytestmark = pytest.mark.bayes

# Parameter sets: the published CDNOW MLEs (Fader, Hardie & Lee 2005: BG/NBD r=0.243,
# alpha=4.414, a=0.793, b=2.426; Pareto/NBD r=0.553, alpha=10.578, s=0.606, beta=11.669) and
# points far from them (b < 1, alpha << beta, beta << alpha) that the sampler visits while tuning.
BG_PARAMS = [(0.243, 4.414, 0.793, 2.426), (1.5, 0.3, 0.2, 0.6), (0.05, 40.0, 3.0, 0.9)]
PNBD_PARAMS = [(0.553, 10.578, 0.606, 11.669), (0.5, 2.0, 0.6, 15.0), (0.3, 30.0, 1.2, 0.5),
               (2.0, 1.0, 0.2, 0.01)]


@pytest.fixture(scope="module")
def cdnow():
    s = cdnow_summary()
    return s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy(), s["monetary_value"].to_numpy()


def _eval(expr):
    return pytensor.function([], expr)()


def _f64(params):
    # python floats would be auto-cast (some to float32) by PyTensor; the model passes float64
    return [np.float64(v) for v in params]


def _mp_bgnbd(r, alpha, a, b, x, t_x, T):
    """FHL (2005) eq. 6 in 40-digit arithmetic."""
    with mp.workdps(40):
        r, alpha, a, b, t_x, T = (mp.mpf(float(v)) for v in (r, alpha, a, b, t_x, T))
        common = mp.gamma(r + x) * alpha**r / mp.gamma(r)
        L = mp.beta(a, b + x) / mp.beta(a, b) * common / (alpha + T) ** (r + x)
        if x > 0:
            L += mp.beta(a + 1, b + x - 1) / mp.beta(a, b) * common / (alpha + t_x) ** (r + x)
        return float(mp.log(L))


@pytest.mark.parametrize("params", BG_PARAMS)
def test_bgnbd_rows_equal_mpmath(cdnow, params):
    x, t_x, T, _ = cdnow
    idx = np.r_[0:60, np.flatnonzero(x >= 10)[:20]]
    got = _eval(M.bgnbd_loglik(*_f64(params), x[idx], t_x[idx], T[idx]))
    ref = np.array([_mp_bgnbd(*params, x[i], t_x[i], T[i]) for i in idx])
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)


def test_bgnbd_cdnow_total_matches_paper(cdnow):
    x, t_x, T, _ = cdnow
    total = _eval(M.bgnbd_total_loglik(*_f64(BG_PARAMS[0]), M.BGNBDRows.from_data(x, t_x, T)))
    # Fader, Hardie & Lee (2005), section 4: LL = -9582.4 at the MLE
    assert total == pytest.approx(-9582.4, abs=0.05)


@pytest.mark.parametrize("params", BG_PARAMS)
def test_bgnbd_compressed_total_equals_row_sum(cdnow, params):
    x, t_x, T, _ = cdnow
    rng = np.random.default_rng(3)
    w = rng.integers(1, 4, size=len(x)).astype(float)
    rows = M.BGNBDRows.from_data(x, t_x, T, w)
    total = _eval(M.bgnbd_total_loglik(*_f64(params), rows))
    by_row = np.sum(w * _eval(M.bgnbd_loglik(*_f64(params), x, t_x, T)))
    assert total == pytest.approx(by_row, rel=1e-12)
    assert rows.n_rows < len(x)  # CDNOW has identical rows (the x = 0 customers of each cohort week)


@pytest.mark.parametrize("params", BG_PARAMS)
def test_bgnbd_equals_numpy_core(cdnow, params):
    core = pytest.importorskip("clvmodels.math.bgnbd", reason="numpy BG/NBD core not written yet")
    x, t_x, T, _ = cdnow
    got = _eval(M.bgnbd_loglik(*_f64(params), x, t_x, T))
    np.testing.assert_allclose(got, core.loglik(*params, x, t_x, T), rtol=1e-10, atol=0)


@pytest.mark.parametrize("params", PNBD_PARAMS)
def test_paretonbd_equals_numpy_core(cdnow, params):
    from clvmodels.math import paretonbd as core

    x, t_x, T, _ = cdnow
    got = _eval(M.paretonbd_loglik(*_f64(params), x, t_x, T))
    np.testing.assert_allclose(got, core.loglik(*params, x, t_x, T), rtol=1e-10, atol=0)


def test_paretonbd_cdnow_total_matches_paper(cdnow):
    x, t_x, T, _ = cdnow
    total = _eval(pt.sum(M.paretonbd_loglik(*_f64(PNBD_PARAMS[0]), x, t_x, T)))
    # Fader, Hardie & Lee (2005) note / design.md section 5: LL = -9595.0 at the MLE
    assert total == pytest.approx(-9595.0, abs=0.05)


def test_paretonbd_last_purchase_at_T_has_no_death_term():
    # t_x = T: the integral over death times in (t_x, T] is empty, L = the "alive" term only
    r, alpha, s, beta, x, T = 0.5, 3.0, 0.7, 9.0, 4.0, 20.0
    got = _eval(M.paretonbd_loglik(*_f64((r, alpha, s, beta)), np.float64(x), np.float64(T), np.float64(T)))
    with mp.workdps(30):
        ref = (mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha) + s * mp.log(beta)
               - (r + x) * mp.log(alpha + T) - s * mp.log(beta + T))
    assert got == pytest.approx(float(ref), rel=1e-12)


def _mp_gg(p, q, v, x, m):
    """Fader & Hardie (2013) eq. 3 in 40-digit arithmetic."""
    with mp.workdps(40):
        p, q, v, m = (mp.mpf(float(t)) for t in (p, q, v, m))
        px = p * x
        return float(mp.loggamma(px + q) - mp.loggamma(px) - mp.loggamma(q) + q * mp.log(v) + (px - 1) * mp.log(m)
                     + px * mp.log(x) - (px + q) * mp.log(v + x * m))


def test_gammagamma_equals_mpmath(cdnow):
    x, _, _, m = cdnow
    rep = x > 0
    params = (6.25, 3.74, 15.44)  # Fader & Hardie (2013), CDNOW repeat buyers
    got = _eval(M.gammagamma_loglik(*_f64(params), x[rep], m[rep]))
    ref = np.array([_mp_gg(*params, xi, mi) for xi, mi in zip(x[rep][:150], m[rep][:150])])
    np.testing.assert_allclose(got[:150], ref, rtol=1e-10)


def test_gammagamma_equals_numpy_core(cdnow):
    core = pytest.importorskip("clvmodels.math.gammagamma", reason="numpy Gamma-Gamma core not written yet")
    x, _, _, m = cdnow
    rep = x > 0
    for params in [(6.25, 3.74, 15.44), (0.8, 12.0, 300.0)]:
        got = _eval(M.gammagamma_loglik(*_f64(params), x[rep], m[rep]))
        np.testing.assert_allclose(got, core.loglik(*params, x[rep], m[rep]), rtol=1e-10, atol=0)


def test_bgnbd_gradient_matches_finite_differences(cdnow):
    x, t_x, T, _ = cdnow
    theta = pt.dvector("theta")
    r, alpha, a, b = (pt.exp(theta[i]) for i in range(4))
    total = M.bgnbd_total_loglik(r, alpha, a, b, M.BGNBDRows.from_data(x, t_x, T))
    f = pytensor.function([theta], [total, pt.grad(total, theta)])
    th0 = np.log([0.3, 5.0, 0.7, 2.0])
    _, grad = f(th0)
    h = 1e-5  # differences ~2e-8 off; at 1e-6 rounding of the total dominated (up to 4e-7)
    fd = np.array([(f(th0 + h * e)[0] - f(th0 - h * e)[0]) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(grad, fd, rtol=1e-5)
    # the x = 0 rows use the clamped branch: gradients stay finite there
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("with_dropout", [False, True])
def test_bgnbd_covariate_total_equals_row_sum(cdnow, with_dropout):
    x, t_x, T, _ = cdnow
    rng = np.random.default_rng(11)
    P = np.column_stack([rng.integers(0, 2, len(x)), rng.normal(size=len(x))]).astype(float)
    D = rng.normal(size=(len(x), 1))
    w = rng.integers(1, 3, size=len(x)).astype(float)
    r, alpha, a, b = _f64((0.3, 5.0, 0.7, 2.2))
    beta = np.array([0.5, -0.2])
    gamma = np.array([0.4])
    rows = M.BGNBDCovariateRows.from_data(x, t_x, T, P, D if with_dropout else D[:, :0], w)
    total = _eval(M.bgnbd_covariate_total_loglik(r, alpha, a, b, rows, pt.as_tensor(beta),
                                                 pt.as_tensor(gamma) if with_dropout else None))
    alpha_i = alpha * np.exp(-P @ beta)
    if with_dropout:
        eta = np.log(a / b) + D @ gamma
        a_i, b_i = (a + b) / (1 + np.exp(-eta)), (a + b) / (1 + np.exp(eta))
    else:
        a_i, b_i = np.full(len(x), a), np.full(len(x), b)
    by_row = np.sum(w * _eval(M.bgnbd_loglik(r, alpha_i, a_i, b_i, x, t_x, T)))
    assert total == pytest.approx(by_row, rel=1e-12)
    ref = sum(wi * _mp_bgnbd(r, alpha_i[i], a_i[i], b_i[i], x[i], t_x[i], T[i]) for i, wi in enumerate(w[:40]))
    part = np.sum(w[:40] * _eval(M.bgnbd_loglik(r, alpha_i[:40], a_i[:40], b_i[:40], x[:40], t_x[:40], T[:40])))
    assert part == pytest.approx(ref, rel=1e-11)
