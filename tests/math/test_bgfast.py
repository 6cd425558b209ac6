"""The fast BG/NBD-family factors against the guarded evaluator of clvmodels.math.special.

G(r, u, a, b) = E_p[(1 - (1+pu)^-r)/p] is the BG/NBD mean (Fader, Hardie & Lee 2005, eq. 7/10)
and H(r, u, a, b) = E_p[(1+pu)^-r] = 1 - a/(a+b) G(r, u, a+1, b) the survival given alive.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from clvmodels.math._bgfast import BGAliveFactors, bg_series
from clvmodels.math.special import log_bg_mean_purchases


def _ref(r, u, a, b):
    G = np.exp(log_bg_mean_purchases(r, u, a, b))
    H = 1.0 - a / (a + b) * np.exp(log_bg_mean_purchases(r, u, a + 1.0, b))
    return G, H


def test_series_matches_guarded_evaluator_over_a_wide_grid():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.poisson(2.0, n).astype(float)
    x[:60] = rng.integers(30, 800, 60)                                  # heavy buyers
    r = rng.uniform(0.05, 3.0, n) + x
    a = rng.uniform(0.2, 4.0, n)
    b = rng.uniform(0.1, 6.0, n) + x
    u = np.exp(rng.uniform(np.log(1e-4), np.log(60.0), n))
    G, H, ok = bg_series(r, u, a, b)
    Gr, Hr = _ref(r, u, a, b)
    np.testing.assert_allclose(G, Gr, rtol=1e-11)
    np.testing.assert_allclose(H, Hr, rtol=0, atol=2e-12)
    assert ok.mean() > 0.99


def test_series_against_mpmath_and_edge_cases():
    for r, u, a, b in [(0.243, 1.2, 0.793, 2.426), (5.3, 12.0, 0.3, 7.0), (0.5, 1e-6, 2.0, 0.2)]:
        G, H, _ = bg_series(np.array([r]), np.array([u]), np.array([a]), np.array([b]))
        # G = (a+b-1)/(a-1) [1 - (1+u)^-r 2F1(r, b; a+b-1; u/(1+u))] (FHL 2005, eq. 7)
        ref_g = (a + b - 1) / (a - 1) * (1 - (1 + u) ** -r * mp.hyp2f1(r, b, a + b - 1, u / (1 + u)))
        assert G[0] == pytest.approx(float(ref_g), rel=1e-10)
        assert H[0] == pytest.approx(float(mp.hyp2f1(r, a, a + b, -u)), rel=1e-11)
    G, H, ok = bg_series(np.array([1.0]), np.array([0.0]), np.array([1.0]), np.array([1.0]))
    assert G[0] == 0.0 and H[0] == 1.0 and ok[0]
    # first term below the float range: handed to the guarded evaluator and flagged
    G, H, ok = bg_series(np.array([2000.0]), np.array([5.0]), np.array([0.8]), np.array([2000.0]))
    Gr, Hr = _ref(2000.0, 5.0, 0.8, 2000.0)
    assert not ok[0] and G[0] == pytest.approx(float(Gr), rel=1e-10) and H[0] == pytest.approx(float(Hr), abs=1e-12)


@pytest.mark.parametrize("shift,keep_full", [(0, True), (1, False)])
def test_factors_with_all_strategies_match_direct_values(shift, keep_full):
    # many T for x = 0 (T-stage), a moderate number for x = 3 (log-u interpolant), one for x = 40
    rng = np.random.default_rng(5)
    S = 25
    r = 0.243 * rng.uniform(0.8, 1.2, S)
    alpha = 4.414 * rng.uniform(0.8, 1.2, S)
    a = 0.793 * rng.uniform(0.8, 1.2, S)
    b = 2.426 * rng.uniform(0.8, 1.2, S)
    T0 = np.unique(rng.integers(1, 731, 300)) / 7.0
    T3 = np.unique(rng.integers(1, 731, 40)) / 7.0
    xg = np.r_[np.zeros(T0.size), np.full(T3.size, 3.0), [40.0]]
    Tg = np.r_[T0, T3, [80.0]]
    steps = np.arange(1, 13) * 365.25 / 12 / 7
    w = {"tot": ("G", np.r_[np.zeros(11), 1.0]), "alive": ("H", np.linspace(1, 0.5, 12))}
    fac = BGAliveFactors(r, alpha, a, b, shift, xg, Tg, steps, w, keep_full=keep_full)
    assert {fac._strategy(0.0), fac._strategy(3.0), fac._strategy(40.0)} == {"T", "u", "series"}
    fac.prepare(n_jobs=2)
    red = fac.reduced(xg, Tg, w)     # reductions applied to the cached T-stage coefficients
    G, H = fac(xg, Tg)               # per-period values (without kept coefficients: the log-u stage)
    rows = np.r_[np.arange(0, T0.size, 9), T0.size + np.arange(0, T3.size, 4), xg.size - 1]
    X, TT = xg[rows, None, None], Tg[rows, None, None]
    u = steps[None, None, :] / (alpha[None, :, None] + TT)
    Gr, Hr = _ref(r[None, :, None] + X, u, a[None, :, None], b[None, :, None] + X + shift)
    np.testing.assert_allclose(G[rows], Gr, rtol=1e-11)
    np.testing.assert_allclose(H[rows], Hr, rtol=0, atol=2e-12)
    np.testing.assert_allclose(red["tot"][rows], Gr[:, :, -1], rtol=1e-11)
    np.testing.assert_allclose(red["alive"][rows], Hr @ np.linspace(1, 0.5, 12), rtol=1e-11)
