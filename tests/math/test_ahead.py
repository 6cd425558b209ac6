"""The per-model "given alive now" factors of the math modules (p_alive_ahead, p_no_purchase_ahead).

Each formula is checked against (i) an mpmath integral of its *definition* (not of the closed
form) and (ii) a Monte-Carlo simulation of the model's generative story with exact conditioning
on the history (customers with no repeat purchase for the continuous-time models, whose histories
are then discrete; any history for the discrete BG/BB). Model definitions: BG/NBD - Fader, Hardie
& Lee (2005), Marketing Science 24(2), section 2; MBG/NBD - Batislam, Denizel & Filiztekin (2007);
Pareto/NBD - Schmittlein, Morrison & Colombo (1987); BG/BB - Fader, Hardie & Shang (2010),
Marketing Science 29(6), section 3.
"""

from __future__ import annotations

import functools

import mpmath as mp
import numpy as np
import pytest

from clvmodels.math import bgnbd as bg_math
from clvmodels.math import mbgnbd as mbg_math
from clvmodels.math import bgbb as bgbb_math
from clvmodels.math import paretonbd as pnbd_math
from clvmodels.simulate import bgbb as sim_bgbb
from clvmodels.simulate import paretonbd as sim_pnbd

mp.mp.dps = 30

# CDNOW 39-week sample estimates (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
# section 4: BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426; Pareto/NBD r=0.553, alpha=10.578,
# s=0.606, beta=11.669)
BG = (0.243, 4.414, 0.793, 2.426)
PNBD = (0.553, 10.578, 0.606, 11.669)
# Donations BG/BB estimates (Fader, Hardie & Shang 2010, table 2): alpha=1.204, beta=0.750,
# gamma=0.657, delta=2.783
BB = (1.204, 0.750, 0.657, 2.783)


def _bg_alive_ahead_ref(r, alpha, a, b, x, T, t, extra):
    """E_p[exp(-lambda p t)] over the posterior given alive at T, by direct 2-D integration
    (lambda integrated in closed form only through the gamma Laplace transform)."""
    bp = b + x + (1 if extra else 0)
    rp, ap = mp.mpf(r + x), mp.mpf(alpha + T)

    def integrand(p):
        return p ** (a - 1) * (1 - p) ** (bp - 1) * (ap / (ap + p * t)) ** rp

    return mp.quad(integrand, [0, mp.mpf(1) / 2, 1]) / mp.beta(a, bp)


@pytest.mark.parametrize("extra", [False, True])
@pytest.mark.parametrize("params", [BG, (2.0, 1.0, 3.0, 0.5), (0.5, 2.0, 1.0, 1.0), (1.3, 0.2, 0.4, 8.0)])
def test_bg_alive_ahead_matches_integral_of_definition(params, extra):
    r, alpha, a, b = params
    for x, T, t in [(0, 38.86, 52.0), (2, 38.86, 4.0), (7, 20.0, 100.0), (50, 10.0, 1.0), (1, 3.0, 0.01)]:
        ref = float(_bg_alive_ahead_ref(r, alpha, a, b, x, T, t, extra))
        got = (mbg_math if extra else bg_math).p_alive_ahead(r, alpha, a, b, x, T, t)
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-11), (params, x, T, t)
        # the closed form of the docstring: 2F1(r+x, a; a+b'; -t/(alpha+T))
        bp = b + x + (1 if extra else 0)
        assert got == pytest.approx(float(mp.hyp2f1(r + x, a, a + bp, -t / (alpha + T))), rel=1e-9, abs=1e-11)


def test_bg_alive_ahead_broadcasts_and_limits():
    r, alpha, a, b = BG
    x = np.array([0.0, 1.0, 5.0])[:, None, None]
    T = np.array([10.0, 20.0, 39.0])[:, None, None]
    t = np.array([0.0, 1.0, 10.0, 1e4])[None, None, :]
    draws = np.array([1.0, 1.1])[None, :, None]
    out = bg_math.p_alive_ahead(r * draws, alpha, a, b, x, T, t)
    assert out.shape == (3, 2, 4)
    assert np.all(out[:, :, 0] == 1.0)                      # nothing happens in no time
    assert np.all(np.diff(out, axis=2) <= 0)                # survival decreases
    assert np.all((out >= 0) & (out <= 1))


def test_bg_no_purchase_ahead_is_the_gamma_laplace_transform():
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426   # (a and b do not enter)
    for x, T, t in [(0, 38.86, 52.0), (3, 30.0, 5.0)]:
        # E[exp(-lambda t)], lambda ~ Gamma(r+x, alpha+T), integrated in v = log(lambda)
        ref = mp.quad(lambda v: mp.exp((r + x) * v - mp.exp(v) * (alpha + T + t)), [-mp.inf, -5, 0, 5]) \
            * mp.mpf(alpha + T) ** (r + x) / mp.gamma(r + x)
        assert bg_math.p_no_purchase_ahead(r, alpha, a, b, x, T, t) == pytest.approx(float(ref), rel=1e-12)


def test_bg_future_against_simulation_of_one_time_buyers():
    # BG/NBD generative story (FHL 2005, section 2) simulated for customers observed over (0, T]
    # and (T, T+t]; those with no repeat purchase in (0, T] have a discrete history (x = 0), and
    # are all alive at T. Alive at T+t unless a purchase in (T, T+t] was followed by dropout.
    r, alpha, a, b = BG
    T, t, n = 38.86, 26.0, 400_000
    rng = np.random.default_rng(11)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x_cal = rng.poisson(lam * T)
    sel = x_cal == 0
    lam, p = lam[sel], p[sel]
    # future: purchases at Poisson(lam) times; each followed by dropout with prob p
    first = rng.exponential(1.0, lam.size) / lam
    no_purchase = first > t
    n_future = rng.poisson(lam * t)
    k_drop = rng.geometric(np.clip(p, 1e-12, 1.0))  # dropout after the k-th future purchase
    alive_end = n_future < k_drop
    se = 4.0 * np.sqrt(0.25 / sel.sum())
    assert alive_end.mean() == pytest.approx(bg_math.p_alive_ahead(r, alpha, a, b, 0, T, t), abs=se)
    assert no_purchase.mean() == pytest.approx(bg_math.p_no_purchase_ahead(r, alpha, a, b, 0, T, t), abs=se)


def test_log_tail_integral_against_mpmath():
    cases = [(1.5, 3.0, 0.7, 10.0, 0.0), (3.0, 20.0, 1.6, 2.0, 5.0), (0.6, 1.0, 0.6, 1.0, 2.0),
             (50.5, 60.0, 0.606, 50.0, 17.0), (0.3, 1e-3, 1.2, 1e3, 0.0), (200.0, 5.0, 1.0, 7.0, 1e3)]
    for pA, A, pB, B, tau in cases:
        f = lambda u: (A + u) ** -mp.mpf(pA) * (B + u) ** -mp.mpf(pB)  # noqa: E731
        L = mp.mpf(1e3)
        head = mp.quad(f, [tau + c for c in (0, 1e-3, 1e-2, 0.1, 1, 10, 100)] + [tau + L])
        # beyond tau + L: u = tau + L e^w turns the algebraic tail into an exponential one
        tail = mp.quad(lambda w: L * mp.exp(w) * f(tau + L * mp.exp(w)), [0, 1, 5, 20, 80, mp.inf])
        ref = mp.log(head + tail)
        assert pnbd_math.log_tail_integral(pA, A, pB, B, tau) == pytest.approx(float(ref), rel=1e-10, abs=1e-10), (pA, A)


def test_pnbd_alive_ahead_is_exponential_lifetime_mixture():
    r, alpha, s, beta = 0.553, 10.578, 0.606, 11.669   # (r and alpha do not enter)
    for T, t in [(38.86, 52.0), (0.0, 1.0)]:
        ref = mp.quad(lambda mu: mp.exp(-mu * t) * mu ** (s - 1) * mp.exp(-mu * (beta + T)), [0, 1, mp.inf])
        ref *= mp.mpf(beta + T) ** s / mp.gamma(s)
        assert pnbd_math.p_alive_ahead(r, alpha, s, beta, 0.0, T, t) == pytest.approx(float(ref), rel=1e-12)


def test_pnbd_no_purchase_ahead_against_first_purchase_density():
    # P0 = 1 - int_0^t E[lambda e^-(lambda+mu)u] du (first future purchase before dropout)
    r, alpha, s, beta = PNBD
    for x, T, t in [(0, 38.86, 52.0), (5, 38.86, 10.0), (20, 20.0, 100.0), (0, 0.5, 1e4), (2, 30.0, 0.0)]:
        rp, ap, bp = mp.mpf(r + x), mp.mpf(alpha + T), mp.mpf(beta + T)
        g = lambda u: (rp / ap) * (ap / (ap + u)) ** (rp + 1) * (bp / (bp + u)) ** s  # noqa: E731
        ref = 1 - mp.quad(g, [0, min(t, 1), t]) if t > 0 else mp.mpf(1)
        got = pnbd_math.p_no_purchase_ahead(r, alpha, s, beta, x, T, t)
        assert got == pytest.approx(float(ref), rel=1e-9, abs=1e-12), (x, T, t)


def test_pnbd_future_against_the_package_simulator():
    # clvmodels.simulate.paretonbd with the latent lifetimes: customers with x = 0 over (0, T]
    # (exact conditioning), then the future over (T, T+t].
    r, alpha, s, beta = PNBD
    T, t, n = 38.86, 52.0, 400_000
    sim = sim_pnbd.simulate(r, alpha, s, beta, T, n_customers=n, random_state=5, return_latent=True)
    sel = (sim["frequency"] == 0).to_numpy()
    lam, tau = sim["lambda_"].to_numpy()[sel], sim["lifetime"].to_numpy()[sel]
    rng = np.random.default_rng(6)
    alive_end = tau > T + t
    active = np.clip(np.minimum(tau, T + t) - T, 0.0, None)
    no_purchase = rng.poisson(lam * active) == 0
    pa = pnbd_math.p_alive(r, alpha, s, beta, 0.0, 0.0, T)
    se = 4.0 * np.sqrt(0.25 / sel.sum())
    assert alive_end.mean() == pytest.approx(pa * pnbd_math.p_alive_ahead(r, alpha, s, beta, 0.0, T, t), abs=se)
    p0 = pnbd_math.p_no_purchase_ahead(r, alpha, s, beta, 0.0, T, t)
    assert no_purchase.mean() == pytest.approx(1 - pa + pa * p0, abs=se)


def test_bgbb_future_against_posterior_integrals():
    # P(alive at n+k | history) and P(no transaction in n+1..n+m | history) from the definitions
    # (FHS 2010, section 3): every term is a product of a function of p and a function of theta,
    # so the posterior integrals are sums of products of 1-D integrals (numerical, not betaln).
    a, b, g, d = BB

    @functools.lru_cache(maxsize=None)
    def Ep(j, k):   # int p^j (1-p)^k dBeta(a, b)
        return mp.quad(lambda p: p ** (a - 1 + j) * (1 - p) ** (b - 1 + k), [0, 0.5, 1]) / mp.beta(a, b)

    @functools.lru_cache(maxsize=None)
    def Et(j, k):   # int th^j (1-th)^k dBeta(g, d)
        return mp.quad(lambda t: t ** (g - 1 + j) * (1 - t) ** (d - 1 + k), [0, 0.5, 1]) / mp.beta(g, d)

    for x, t_x, n, m in [(0, 0, 6, 3), (3, 5, 6, 1), (6, 6, 6, 5), (1, 1, 6, 4)]:
        # likelihood: alive through n, or died at the beginning of opportunity t_x + i + 1
        lik = Ep(x, n - x) * Et(0, n) + sum(Ep(x, t_x - x + i) * Et(1, t_x + i) for i in range(n - t_x))
        alive_at = lambda k: Ep(x, n - x) * Et(0, n + k)  # noqa: E731 - survives n + k dropout points
        # alive at n+1 with the history, then alive for J opportunities without a transaction
        none = sum(Ep(x, n - x + j) * Et(1, n + j) for j in range(1, m)) + Ep(x, n - x + m) * Et(0, n + m)

        pa = bgbb_math.p_alive(a, b, g, d, x, t_x, n)
        assert pa == pytest.approx(float(alive_at(1) / lik), rel=1e-9)
        for k in (1, 2, m + 3):
            got = pa * bgbb_math.p_alive_ahead(a, b, g, d, x, n, k)
            assert got == pytest.approx(float(alive_at(k) / lik), rel=1e-9), (x, t_x, n, k)
        got = 1 - pa + pa * bgbb_math.p_no_purchase_ahead(a, b, g, d, x, n, m)
        assert got == pytest.approx(float((1 - pa) + none / lik), rel=1e-9), (x, t_x, n, m)


def test_bgbb_future_against_the_package_simulator():
    # Discrete histories condition exactly: simulate n + m opportunities, split the record.
    a, b, g, d = BB
    n, m, N = 6, 4, 300_000
    rng = np.random.default_rng(3)
    p = rng.beta(a, b, N)
    th = rng.beta(g, d, N)
    alive_for = rng.geometric(th) - 1  # alive at opportunities 1..alive_for (as the simulator)
    buys = (np.arange(1, n + m + 1)[None, :] <= alive_for[:, None]) & (rng.random((N, n + m)) < p[:, None])
    x = buys[:, :n].sum(axis=1)
    last = np.where(buys[:, :n].any(axis=1), n - np.argmax(buys[:, :n][:, ::-1], axis=1), 0)
    for hx, htx in [(0, 0), (2, 4), (6, 6)]:
        sel = (x == hx) & (last == htx)
        assert sel.sum() > 2000
        pa = bgbb_math.p_alive(a, b, g, d, hx, htx, n)
        se = 4.0 * np.sqrt(0.25 / sel.sum())
        assert (alive_for[sel] >= n + m).mean() == pytest.approx(pa * bgbb_math.p_alive_ahead(a, b, g, d, hx, n, m), abs=se)
        none = ~buys[sel, n:].any(axis=1)
        assert none.mean() == pytest.approx(1 - pa + pa * bgbb_math.p_no_purchase_ahead(a, b, g, d, hx, n, m), abs=se)
    # the package simulator draws the same story: its calibration histogram agrees with ours
    ref = sim_bgbb.simulate(a, b, g, d, n, n_customers=N, random_state=4)
    assert ref["frequency"].mean() == pytest.approx(x.mean(), abs=0.02)
