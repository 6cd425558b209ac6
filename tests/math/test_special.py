"""Guarded special functions (clvmodels.math.special) against mpmath.

References: mpmath at >= 40 digits, stabilised across precisions (see bgfamily_mpref.stable);
the BG/NBD mean is the paper's own closed form, Fader, Hardie & Lee (2005) eq. 7,
(a+b-1)/(a-1) [1 - (1+u)^(-r) 2F1(r, b; a+b-1; u/(1+u))], evaluated by mpmath.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from scipy import special as sp

sys.path.insert(0, str(Path(__file__).parent))
from bgfamily_mpref import stable  # noqa: E402

from clvmodels.math import special as S  # noqa: E402


def _G_ref(r, u, a, b):
    if abs(a - 1) > mp.mpf("1e-6") and abs(a + b - 1) > mp.mpf("1e-6"):
        return (a + b - 1) / (a - 1) * (1 - (1 + u) ** (-r) * mp.hyp2f1(r, b, a + b - 1, u / (1 + u)))
    # at the removable singularities a = 1, a + b = 1 use G = r u 3F2(r+1, a, 1; a+b, 2; -u)
    # (term-by-term integration of E_p[(1 - (1+pu)^-r)/p]; mpmath continues 3F2 beyond |u| = 1)
    return r * u * mp.hyp3f2(r + 1, a, 1, a + b, 2, -u)


def _rel(ours, ref):
    return abs(float(mp.mpf(float(ours)) / ref - 1))


def test_log1mexp_logdiffexp():
    x = -np.logspace(-20, 3, 200)
    with mp.workdps(600):
        ref = [float(mp.log(1 - mp.exp(mp.mpf(v)))) for v in x]
    np.testing.assert_allclose(S.log1mexp(x), ref, rtol=1e-14)
    np.testing.assert_allclose(S.logdiffexp(np.log(3.0), np.log(1.0)), np.log(2.0), rtol=1e-15)
    assert S.logdiffexp(1.0, 1.0) == -np.inf
    assert np.isfinite(S.logdiffexp(1000.0, 999.0))


def test_pfq_series_matches_mpmath():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        a, b = np.exp(rng.uniform(-3, 4, 2))
        c = np.exp(rng.uniform(-2, 4))
        z = rng.uniform(-0.9, 0.9)
        la, sa, lt, conv = S.log_pfq_series([a, b], [c], z)
        assert conv
        est = 16 * np.finfo(float).eps * np.exp(lt - la)  # the series' own rounding-error estimate
        if est > 1e-6:  # heavy cancellation (z < 0, large parameters): flagged, not trusted
            continue
        ref = stable(lambda A, B, C, Z: mp.hyp2f1(A, B, C, Z), a, b, c, z)
        assert _rel(sa * np.exp(la), ref) < 1e-13 + est
        checked += 1
    assert checked > 40


def test_pfq_series_negative_parameters_second_hump():
    # 2F1(r, b; r-a+2; w) with a denominator crossing zero at n ~ 320: the terms dip and grow again
    # afterwards; stopping at the first small term is wrong by 30 orders of magnitude.
    r, b, a, w = 0.0019431694398995523, 0.016684117727218027, 321.689312692055, 0.5345
    la, sa, lt, conv = S.log_pfq_series([r, b], [r - a + 2], w)
    with mp.workdps(300):
        ref = mp.hyp2f1(r, b, r - a + 2, w)
    assert conv and _rel(sa * np.exp(la), ref) < 1e-10


def test_log_hyp2f1_and_nan_flag():
    rng = np.random.default_rng(1)
    a, b = np.exp(rng.uniform(-3, 5, (2, 200)))
    c = np.exp(rng.uniform(-2, 5, 200))
    z = rng.uniform(-5, 0.95, 200)
    la, sa, err = S.log_hyp2f1(a, b, c, z, return_error=True)
    ok = np.isfinite(la)
    assert ok.mean() > 0.8  # most of this range is covered; the rest is flagged, never silently wrong
    for i in np.flatnonzero(ok)[:80]:
        ref = stable(lambda A, B, C, Z: mp.hyp2f1(A, B, C, Z), a[i], b[i], c[i], z[i])
        # within its own error estimate, which is below 1e-7 whenever a value is returned
        assert err[i] < 1e-7
        assert _rel(sa[i] * np.exp(la[i]), ref) < 1e-12 + 2 * err[i], (a[i], b[i], c[i], z[i])
    with pytest.warns(RuntimeWarning):
        S.hyp2f1(2.06, 1651.9, 20.06, -11.08)


def test_bg_mean_heavy_buyer_where_scipy_fails():
    # eq. 10 for a heavy buyer: x = 1000 purchases, T = 10,000 days, horizon t = 20,000 days.
    # With scipy.special.hyp2f1 the paper's formula gives inf * 0 = nan; the guarded mean is
    # finite and matches mpmath.
    r, alpha, a, b, x, T, t = 0.243, 30.9, 0.793, 2.426, 1000.0, 10000.0, 20000.0
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        F = sp.hyp2f1(r + x, b + x, a + b + x - 1, z)
        direct = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * F)
    assert not np.isfinite(direct)
    ours = S.bg_mean_purchases(r + x, t / (alpha + T), a, b + x)
    ref = stable(_G_ref, r + x, t / (alpha + T), a, b + x)
    assert np.isfinite(ours) and _rel(ours, ref) < 1e-10


@pytest.mark.parametrize("r,u,a,b", [
    (0.243, 39 / 4.414, 0.793, 2.426),      # CDNOW new customer, 39 weeks
    (0.5, 1e7, 0.01, 0.01),                 # z -> 1, tiny a, b
    (1e4, 10.0, 2.0, 1e4),                  # huge r and b
    (1000.0, 1e3, 0.001, 0.001),
    (1.0, 1e5, 1.0, 0.5),                   # a = 1 exactly (removable singularity)
    (2.0, 1e6, 3.0, 5.0),                   # r - a + 1 integer (degenerate connection)
    (3.0, 100.0, 2.0, 5.0),
    (0.3, 5.0, 0.2, 0.5),                   # a + b < 1
    (0.7, 2.0, 0.6, 0.4),                   # a + b = 1 (c = 0)
])
def test_bg_mean_special_points(r, u, a, b):
    ours, err = S.log_bg_mean_purchases(r, u, a, b, return_error=True)
    ref = stable(_G_ref, r, u, a, b)
    assert _rel(np.exp(ours), ref) < 1e-10
    assert err < 1e-8


def _random_points(rng, n):
    lo = lambda a, b: np.exp(rng.uniform(np.log(a), np.log(b), n))  # noqa: E731
    return lo(1e-3, 1.1e4), lo(1e-8, 1e8), lo(1e-3, 1e3), lo(1e-3, 1.1e4)


def test_bg_mean_random_extreme_points_vs_mpmath():
    rng = np.random.default_rng(2024)
    r, u, a, b = _random_points(rng, 60)
    ours, err = S.log_bg_mean_purchases(r, u, a, b, return_error=True)
    for i in range(r.size):
        ref = stable(_G_ref, r[i], u[i], a[i], b[i])
        assert _rel(np.exp(ours[i]), ref) < 1e-8, (r[i], u[i], a[i], b[i])
        assert err[i] < 1e-6


@pytest.mark.slow
def test_bg_mean_many_random_extreme_points_vs_mpmath():
    rng = np.random.default_rng(7)
    r, u, a, b = _random_points(rng, 600)
    ours = S.log_bg_mean_purchases(r, u, a, b)
    worst = max(_rel(np.exp(ours[i]), stable(_G_ref, r[i], u[i], a[i], b[i])) for i in range(r.size))
    assert worst < 1e-8


def test_bg_mean_limits():
    # u -> 0: G ~ r u; a > 1, u -> inf: G -> E[1/p] = (a+b-1)/(a-1)
    np.testing.assert_allclose(S.bg_mean_purchases(0.7, 1e-12, 2.0, 3.0), 0.7e-12, rtol=1e-9)
    np.testing.assert_allclose(S.bg_mean_purchases(0.7, 1e14, 3.0, 3.0), 5.0 / 2.0, rtol=1e-6)
    assert S.bg_mean_purchases(0.7, 0.0, 2.0, 3.0) == 0.0


def test_per_unique_matches_direct():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 50, 10000).astype(float)
    f = lambda v: (sp.gammaln(v + 0.3), v**2)  # noqa: E731
    for arr in (x, np.sort(x)):
        got = S.per_unique(arr, f)
        np.testing.assert_array_equal(got[0], f(arr)[0])
        np.testing.assert_array_equal(got[1], f(arr)[1])
