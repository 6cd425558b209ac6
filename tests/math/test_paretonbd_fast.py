"""The fast Pareto/NBD kernels (clvmodels.math._pnbdfast) against mpmath and the guarded math core.

* the 2F1 factor G of the likelihood's tail integral, with its gradient and Hessian, in both
  branches (alpha >= beta, alpha < beta), by its series and by its quadrature (z near 1): 1e-10
  against mpmath (values by 40-digit quadrature, derivatives by mpmath.diff);
* the per-row log-likelihood and the prepared weighted evaluator: the values of ``loglik``, the
  gradient and Hessian against mpmath derivatives of the likelihood (heavy buyers included);
* the forecast factors (alive_factors, p_alive_grid, DERT's h) against the guarded math;
* the fit: the same optimum as the numerical-gradient path it replaces.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import clvmodels as clv
from clvmodels.math import _pnbdfast as fast
from clvmodels.math import paretonbd as pnbd

mp.mp.dps = 30


def mp_log_g(p1, lA, p2, lB):
    """log G by mpmath's hyp2f1: ``int_0^inf (A+v)^-p1 (B+v)^-p2 dv = A^-p1 B^(1-p2) G`` (A = e^lA,
    B = e^lB) is FHL's ``2F1(c-1, q; c; (M-m)/M) / ((c-1) M^(c-1))`` (eqs. 18-19 at tau = 0)."""
    A, B = mp.e ** lA, mp.e ** lB
    c = p1 + p2
    if A >= B:
        I = mp.hyp2f1(c - 1, p2, c, (A - B) / A) / ((c - 1) * A ** (c - 1))
    else:
        I = mp.hyp2f1(c - 1, p1, c, (B - A) / B) / ((c - 1) * B ** (c - 1))
    return mp.log(I * A ** p1 * B ** (p2 - 1))


def mp_loglik(r, alpha, s, beta, x, t_x, T):
    """FHL note eqs. 17-19 with mpmath's hyp2f1 (as in benchmarks/bench_fit_paretonbd.py)."""
    r, alpha, s, beta = (mp.mpf(v) for v in (r, alpha, s, beta))
    x, t_x, T = (mp.mpf(float(v)) for v in (x, t_x, T))
    a = r + s + x
    if alpha >= beta:
        F = lambda tau: mp.hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + tau)) / (alpha + tau) ** a  # noqa: E731
    else:
        F = lambda tau: mp.hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + tau)) / (beta + tau) ** a  # noqa: E731
    A0 = (F(t_x) - F(T)) / a if T > t_x else 0
    L = (mp.exp(mp.loggamma(r + x) - mp.loggamma(r)) * alpha ** r * beta ** s
         * ((alpha + T) ** (-(r + x)) * (beta + T) ** (-s) + s * A0))
    return mp.log(L)


def mp_derivs(f, point, hessian=True):
    x0 = [mp.mpf(float(v)) for v in point]
    k = len(x0)
    g = np.array([float(mp.diff(f, x0, tuple(int(j == i) for j in range(k)))) for i in range(k)])
    if not hessian:
        return g, None
    H = np.array([[float(mp.diff(f, x0, tuple(int(j == i) + int(j == m) for j in range(k)))) for m in range(k)]
                  for i in range(k)])
    return g, H


def fd_hessian(grad_fn, point, rel=1e-6):
    """Central differences of an analytic gradient."""
    p = np.array(point, dtype=np.float64)
    cols = []
    for i in range(p.size):
        h = rel * max(abs(p[i]), 1.0)
        e = np.zeros(p.size)
        e[i] = h
        cols.append((grad_fn(p + e) - grad_fn(p - e)) / (2 * h))
    return np.array(cols).T


# (p1, lA, p2, lB): series (small and large z, both branches), heavy buyers, the quadrature (z > 0.98)
G_POINTS = [
    (0.553, np.log(10.578), 1.606, np.log(11.669)),          # CDNOW at tau = 0: z = 0.09
    (2.553, np.log(40.0), 1.606, np.log(50.0)),               # alpha < beta
    (0.7, 0.0, 1.3, -np.log(40.0)),                           # z = 0.975, series
    (3.0, -np.log(30.0), 1.6, 0.5),                           # alpha << beta, z = 0.98
    (1500.5, np.log(10.0), 1.2, np.log(10_010.0)),            # heavy buyer, alpha < beta
    (1500.5, np.log(10_000.0), 1.2, np.log(20.0)),            # heavy buyer, alpha >> beta: quadrature
    (0.2, 1.0, 2.5, 1.0 - np.log(200.0)),                     # z = 0.995: quadrature
    (0.05, np.log(3.0), 1.001, np.log(3.0)),                  # alpha = beta: z = 0
]


@pytest.mark.parametrize("point", G_POINTS)
def test_log_g_value_gradient_hessian_match_mpmath(point):
    value, grad, hess = fast.log_g(*[np.array([v]) for v in point], order=2)
    ref = float(mp_log_g(*[mp.mpf(float(v)) for v in point]))
    assert value[0] == pytest.approx(ref, rel=1e-12, abs=1e-12)
    cheap = True   # mpmath.diff of hyp2f1: seconds per point
    g_ref, h_ref = mp_derivs(mp_log_g, point, hessian=cheap)
    np.testing.assert_allclose(grad[:, 0], g_ref, rtol=1e-10, atol=1e-10 * np.abs(g_ref).max())
    if cheap:   # (entries that are differences of second moments lose up to 3e-9 relative at x = 1,500)
        np.testing.assert_allclose(hess[:, :, 0], h_ref, rtol=1e-8, atol=1e-10 * np.abs(h_ref).max())
    h_fd = fd_hessian(lambda v: fast.log_g(*[np.array([t]) for t in v], order=1)[1][:, 0], point)
    np.testing.assert_allclose(hess[:, :, 0], h_fd, rtol=1e-3, atol=1e-4 * np.abs(h_fd).max())   # FD: a check of consistency


def test_log_g_regimes_agree_where_they_meet():
    # the same elements by the series (forced) and by the quadrature
    rng = np.random.default_rng(0)
    n = 200
    p1, p2 = np.exp(rng.uniform(-2, 5, n)), 1.0 + np.exp(rng.uniform(-3, 2, n))
    lA = rng.uniform(-3, 3, n)
    lB = lA + rng.choice([-1.0, 1.0], n) * rng.uniform(0.0, 3.5, n)
    for order in (0, 1, 2):
        a = fast._series_log_g(p1, lA, p2, lB, order)
        b = fast._quad_log_g(p1, lA, p2, lB, order)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-11, atol=1e-11)
        for k in range(1, order + 1):
            scale = np.abs(b[k]).max(axis=tuple(range(b[k].ndim - 1)))
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=0)
            assert np.all(np.abs(a[k] - b[k]) <= 1e-9 * np.maximum(scale, 1.0))


ROWS = [  # (x, t_x, T): CDNOW customers, one-time buyers, heavy buyers over 10,000 days
    (2.0, 30.43, 38.86), (0.0, 0.0, 38.86), (1.0, 1.71, 38.86), (7.0, 38.86, 38.86),
    (1500.0, 9990.0, 10_000.0), (1500.0, 10.0, 10_000.0), (3000.0, 5000.0, 10_000.0),
]
PARAMS = [(0.553, 10.578, 0.606, 11.669), (0.3, 2.0, 1.5, 400.0), (2.0, 300.0, 0.2, 1.5), (1.0, 5.0, 1.0, 5.0)]


@pytest.mark.parametrize("params", PARAMS)
def test_row_loglik_matches_loglik_and_mpmath_derivatives(params):
    x, t_x, T = (np.array(v) for v in zip(*ROWS))
    ll, grad, hess = fast.row_loglik(*params, x, t_x, T, order=2)
    np.testing.assert_allclose(ll, pnbd.loglik(*params, x, t_x, T), rtol=1e-12)
    for i in (0, 1, 4, 5):
        f = lambda r, a, s, b, i=i: mp_loglik(r, a, s, b, x[i], t_x[i], T[i])   # noqa: E731
        assert ll[i] == pytest.approx(float(f(*[mp.mpf(v) for v in params])), rel=1e-11)
        g_ref, _ = mp_derivs(f, params, hessian=False)
        np.testing.assert_allclose(grad[:, i], g_ref, rtol=1e-10, atol=1e-10 * np.abs(g_ref).max())
        h_fd = fd_hessian(lambda p, i=i: fast.row_loglik(*p, x[i:i + 1], t_x[i:i + 1], T[i:i + 1], order=1)[1][:, 0],
                          params)
        np.testing.assert_allclose(hess[:, :, i], h_fd, rtol=1e-5, atol=1e-6 * np.abs(h_fd).max())


def test_weighted_evaluator_equals_weighted_rows():
    s = clv.datasets.cdnow_summary()
    x, t_x, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    rng = np.random.default_rng(1)
    w = rng.integers(0, 4, x.size).astype(float)
    for params in PARAMS:
        ll, grad, hess = fast.row_loglik(*params, x, t_x, T, order=2)
        ev = pnbd.weighted_evaluator(x, t_x, T, w)
        total, g, H = ev(*params, order=2)
        assert total == pytest.approx(float(w @ ll), rel=1e-12)
        np.testing.assert_allclose(g, grad @ w, rtol=1e-10, atol=1e-8)
        np.testing.assert_allclose(H, hess @ w, rtol=1e-10, atol=1e-8)
        assert ev(*params, order=0) == total
        np.testing.assert_allclose(ev(*params, order=1)[1], g, rtol=1e-13)
        t2, g2 = pnbd.weighted_loglik_and_grad(*params, x, t_x, T, w)
        assert t2 == total
        ll2, gr2 = pnbd.loglik_and_grad(*params, x, t_x, T)
        np.testing.assert_allclose(gr2, grad, rtol=1e-13)


def _reference_fit(summary):
    """The numerical-gradient fit the evaluator replaced: a math namespace without derivatives."""
    import types

    plain = types.SimpleNamespace(**{k: getattr(pnbd, k) for k in pnbd.__all__
                                     if k not in ("loglik_and_grad", "weighted_evaluator", "weighted_loglik_and_grad")})

    class Plain(clv.ParetoNBD):
        math = plain

    return Plain().fit(summary)


def test_fit_reaches_the_same_optimum_as_the_numerical_gradient_path():
    s = clv.datasets.cdnow_summary()
    new = clv.ParetoNBD().fit(s)
    old = _reference_fit(s)
    assert new.converged_
    assert new.loglik_ == pytest.approx(old.loglik_, rel=1e-9)
    assert new.loglik_ >= old.loglik_ - 1e-9 * abs(old.loglik_)
    np.testing.assert_allclose(new.params_, old.params_, rtol=1e-5)
    np.testing.assert_allclose(new.stderr_, old.stderr_, rtol=1e-2)


def test_fit_on_heavy_buyers_reaches_the_same_optimum():
    # x up to thousands, T up to 10,000 days
    rng = np.random.default_rng(7)
    n = 400
    T = rng.uniform(100, 10_000, n)
    lam = rng.gamma(2.0, 0.1, n)
    life = rng.exponential(1 / rng.gamma(0.8, 1 / 2000.0, n))
    alive_t = np.minimum(life, T)
    x = rng.poisson(lam * alive_t).astype(float)
    t_x = np.where(x > 0, alive_t * rng.beta(np.maximum(x, 1), 1), 0.0)
    s = clv.RFMSummary.from_frame(
        __import__("pandas").DataFrame({"frequency": x, "recency": t_x, "T": T}), time_unit="D")
    assert x.max() > 1000
    new = clv.ParetoNBD().fit(s)
    old = _reference_fit(s)
    assert new.converged_
    assert new.loglik_ == pytest.approx(old.loglik_, rel=1e-9)
    assert new.loglik_ >= old.loglik_ - 1e-9 * abs(old.loglik_)
    total = pnbd.loglik(*new.params_.to_numpy(), x, t_x, T).sum()
    assert new.loglik_ == pytest.approx(total, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# forecast kernels
# ----------------------------------------------------------------------------------------------
def test_alive_factors_match_the_guarded_math():
    rng = np.random.default_rng(2)
    S = 6
    r, alpha, s, beta = (rng.uniform(0.2, 3.0, S) for _ in range(4))
    s[0] = 1.0                   # the log form
    s[1] = 1.0 + 1e-9
    x = np.array([0.0, 1.0, 5.0, 300.0, 2000.0])
    T = np.array([0.5, 10.0, 100.0, 3000.0, 10_000.0])
    steps = np.array([0.25, 4.0, 50.0, 500.0, 5000.0])
    fac = pnbd.alive_factors(r, alpha, s, beta, x, T, steps)
    G, H = fac(x, T)
    P = [v[None, :, None] for v in (r, alpha, s, beta)]
    xs, Ts = x[:, None, None], T[:, None, None]
    ref_g = (pnbd.conditional_expected_purchases(*P, xs, Ts, Ts, steps[None, None, :])
             / pnbd.p_alive(*P, xs, Ts, Ts))
    np.testing.assert_allclose(G, ref_g, rtol=1e-10)
    np.testing.assert_allclose(H, pnbd.p_alive_ahead(*P, xs, Ts, steps[None, None, :]), rtol=1e-12)
    # mpmath: E[(1 - e^-mu t)/mu] with mu ~ Gamma(s, beta+T)
    b, t = mp.mpf(beta[0] + T[1]), mp.mpf(steps[2])
    ref = (r[0] + x[1]) / (alpha[0] + T[1]) * float(b * mp.log(1 + t / b))
    assert G[1, 0, 2] == pytest.approx(ref, rel=1e-12)
    weights = {"a": ("G", rng.uniform(size=5)), "b": ("H", rng.uniform(size=5))}
    red = pnbd.alive_factors(r, alpha, s, beta, x, T, steps, block=7).reduced(x, T, weights)
    np.testing.assert_allclose(red["a"], G @ weights["a"][1], rtol=1e-13)
    np.testing.assert_allclose(red["b"], H @ weights["b"][1], rtol=1e-13)


def test_p_alive_grid_matches_p_alive():
    s = clv.datasets.cdnow_summary()
    x, t_x, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    rng = np.random.default_rng(4)
    S = 7
    for base in [(0.553, 10.578, 0.606, 11.669), (0.553, 1.2, 0.606, 300.0), (0.553, 300.0, 0.606, 1.2)]:
        P = [v * np.exp(rng.normal(0, 0.1, (1, S))) for v in base]
        ref = pnbd.p_alive(*P, x[:, None], t_x[:, None], T[:, None])
        got = pnbd.p_alive_grid(*P, x, t_x, T, block=1000)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-300)
        per_row = [np.ascontiguousarray(np.broadcast_to(v, (x.size, S))) for v in P]
        np.testing.assert_allclose(pnbd.p_alive_grid(*per_row, x, t_x, T, block=999), ref, rtol=1e-10, atol=1e-300)


def test_dert_h_series_matches_mpmath():
    rng = np.random.default_rng(5)
    s = np.r_[np.exp(rng.uniform(np.log(0.02), np.log(9.9), 40)), 0.999, 1.0011, 2.0015, 3.0, 0.5]
    z = np.r_[np.exp(rng.uniform(np.log(1e-7), 0.0, 40)), 0.1, 0.01, 0.5, 0.9, 1e-3]
    got = pnbd.log_dert_h(s, z)
    for si, zi, gi in zip(s, z, got):
        ref = float(mp.log(mp.mpf(zi) ** si * mp.e ** mp.mpf(zi) * mp.gammainc(1 - mp.mpf(si), mp.mpf(zi))))
        assert gi == pytest.approx(ref, rel=1e-11, abs=1e-11)


def test_p_alive_context_across_chunks_equals_one_call():
    # a forecast's chunks share one context (interpolants per frequency); each chunk's values must be
    # those of one call on all customers, and a context for other draws or a narrower tau range is
    # not used (its clipped interpolants would be wrong)
    s = clv.datasets.cdnow_summary()
    x, t_x, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    rng = np.random.default_rng(6)
    P = [v * np.exp(rng.normal(0, 0.1, (1, 5))) for v in (0.553, 10.578, 0.606, 11.669)]
    ref = pnbd.p_alive(*P, x[:, None], t_x[:, None], T[:, None])
    ctx = pnbd.p_alive_context(*P, t_x, T)
    parts = np.concatenate([pnbd.p_alive_grid(*P, x[i:i + 800], t_x[i:i + 800], T[i:i + 800], context=ctx)
                            for i in range(0, x.size, 800)])
    np.testing.assert_allclose(parts, ref, rtol=1e-10, atol=1e-300)
    assert len(ctx._g) > 0                       # the interpolants were built and kept
    other = pnbd.p_alive_context(*[2.0 * v for v in P], t_x, T)
    narrow = pnbd.p_alive_context(*P, t_x[:1], T[:1])
    for bad in (other, narrow):
        np.testing.assert_allclose(pnbd.p_alive_grid(*P, x, t_x, T, context=bad), ref, rtol=1e-10, atol=1e-300)
        assert len(bad._g) == 0


def test_log_g_values_nan_element_does_not_spoil_its_batch():
    # the values path sums a fixed number of terms per batch, set by the batch's largest z: a NaN
    # (a NaN parameter in a forecast's draws) must not set it nor mark its neighbours unconverged
    # (which sent the whole batch to the quadrature)
    rng = np.random.default_rng(7)
    n = 500
    p1, p2 = np.exp(rng.uniform(-2, 3, n)), 1.0 + np.exp(rng.uniform(-3, 1, n))
    z = rng.uniform(0.0, 0.95, n)
    p, c = p1, p1 + p2
    z[[3, 400]] = np.nan
    L, _, _, ok = fast._series_value(p, c, z)
    assert not ok[[3, 400]].any()
    assert ok.sum() == n - 2
    for i in (0, 17, 250):
        ref = mp.log(mp.hyp2f1(1, mp.mpf(float(p[i])), mp.mpf(float(c[i])), mp.mpf(float(z[i]))))
        assert L[i] == pytest.approx(float(ref), rel=1e-13, abs=1e-15)
    lA = rng.uniform(-3, 3, n)
    lB = lA + rng.uniform(-2.0, 2.0, n)
    lA[5] = np.nan
    with np.errstate(invalid="ignore"):
        got = fast.log_g(p1, lA, p2, lB, 0)[0]
    assert np.isnan(got[5]) and np.isfinite(np.delete(got, 5)).all()
    assert got[17] == pytest.approx(float(mp_log_g(*[mp.mpf(float(v[17])) for v in (p1, lA, p2, lB)])), rel=1e-12)
