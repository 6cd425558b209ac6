"""MBG/NBD model class on CDNOW and simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import clvmodels as clv
from clvmodels.simulate import mbgnbd as sim


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


def _naive_mbg_loglik(params, x, t_x, T):
    """The MBG/NBD likelihood written directly, in linear space (Batislam et al. 2007)."""
    r, alpha, a, b = params
    g = np.exp(special.gammaln(r + x) - special.gammaln(r)) * alpha**r
    L = g * (special.beta(a, b + x + 1) / (alpha + T) ** (r + x) + special.beta(a + 1, b + x) / (alpha + t_x) ** (r + x))
    return np.log(L / special.beta(a, b))


def test_cdnow_fit(cdnow):
    m = clv.MBGNBD().fit(cdnow)
    bg = clv.BGNBD().fit(cdnow)
    assert m.converged_ and np.isfinite(m.loglik_)
    # MBG/NBD nests a dropout at time 0: its fit is as good as BG/NBD's or close
    assert m.loglik_ > bg.loglik_ - 1.0
    # lifetimes 0.11.3 ModifiedBetaGeoFitter on the same summary (anchor run in
    # benchmarks/bench_fit.py): r = 0.52484, alpha = 6.18299, a = 0.89136, b = 1.61400
    expected = pd.Series({"r": 0.52484, "alpha": 6.18299, "a": 0.89136, "b": 1.61400})
    np.testing.assert_allclose(m.params_, expected, rtol=2e-4)
    # independent check: Nelder-Mead on a linear-space implementation of the likelihood
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    nll = lambda th: -np.sum(_naive_mbg_loglik(np.exp(th), x, t_x, T))  # noqa: E731
    res = optimize.minimize(nll, np.log([0.5, 6.0, 0.9, 1.6]), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20000, "maxfev": 20000})
    np.testing.assert_allclose(m.params_, np.exp(res.x), rtol=1e-4)
    assert m.loglik_ == pytest.approx(-res.fun, rel=1e-9)


def test_predictions(cdnow):
    m = clv.MBGNBD().fit(cdnow)
    pa = m.p_alive(cdnow)
    assert (pa[cdnow["frequency"] == 0] < 1).all()  # dropout at time 0
    e = m.expected_purchases(cdnow, 39)
    assert e.name == "expected_purchases" and np.isfinite(e).all() and list(e.index) == list(cdnow.index)
    # the two models tell a similar story about the next 39 weeks on this data (within 10%)
    assert e.sum() == pytest.approx(clv.BGNBD().fit(cdnow).expected_purchases(cdnow, 39).sum(), rel=0.1)
    np.testing.assert_allclose(m.p_purchases(np.arange(2000), 39.0).sum(), 1.0, rtol=1e-9)


def test_recovers_simulated_parameters():
    truth = {"r": 0.6, "alpha": 8.0, "a": 0.9, "b": 3.0}
    T = np.random.default_rng(5).uniform(10, 80, 20_000)
    m = clv.MBGNBD().fit(sim.simulate(**truth, T=T, random_state=6))
    z = (m.params_ - pd.Series(truth)) / m.stderr_
    assert m.converged_ and (z.abs() < 4).all(), z


def test_compressed_equals_expanded():
    d = sim.simulate(0.5, 5.0, 1.2, 2.0, T=np.repeat([10.0, 20.0], 1000), random_state=8)
    d["recency"] = np.round(d["recency"])  # make many rows identical
    d["recency"] = np.minimum(d["recency"], d["T"])
    d.loc[d["frequency"] == 0, "recency"] = 0.0
    cols = ["frequency", "recency", "T"]
    comp = d.groupby(cols, as_index=False).size()
    a = clv.MBGNBD().fit(comp, weights=comp["size"].to_numpy())
    b = clv.MBGNBD().fit(d)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)
    assert a.loglik_ == pytest.approx(b.loglik_, rel=1e-12)
