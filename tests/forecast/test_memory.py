"""max_memory bounds the working memory of forecast_clv and residual_clv.

Peak memory is measured with tracemalloc, which sees numpy's allocations. The cases are small (the
CDNOW sample, a few hundred draws) but the (customers x draws x periods) arrays they would need
unchunked are 10-100x the budget; before max_memory, the Pareto/NBD paths fed millions of elements
to a quadrature holding ~1,100 nodes per element (15-24 GB on real data).
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import ConfigError
from clvmodels.forecast.clv import DEFAULT_MAX_MEMORY, parse_memory

MB = 1_000_000


def peak_bytes(fn):
    """(result, peak bytes allocated while fn runs)."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def pnbd_fit(cdnow):
    return clv.ParetoNBD().fit(cdnow)


def test_parse_memory():
    assert parse_memory("512MB") == 512 * MB
    assert parse_memory("2 GiB") == 2 * 1024 ** 3
    assert parse_memory(" 1.5gb ") == 1_500_000_000
    assert parse_memory(3 * MB) == 3 * MB
    assert parse_memory(None) == parse_memory(DEFAULT_MAX_MEMORY)
    for bad in ("lots", "12 parsecs", -5, 10, True, "0.1KB"):
        with pytest.raises(ConfigError):
            parse_memory(bad)


def test_pareto_forecast_with_interval_stays_within_the_budget(cdnow, pnbd_fit, gg):
    # 2,357 customers x 301 draws x 24 weekly periods: one such array is 136 MB
    budget = 16 * MB
    fc, peak = peak_bytes(lambda: clv.forecast_clv(cdnow, pnbd_fit, gg, horizon=24, period="W", discount_rate=0.1,
                                                   margin=0.3, n_draws=300, random_state=0, max_memory=budget))
    assert peak < budget
    assert fc.attrs["max_memory"] == budget
    # the same numbers as with a roomy budget
    roomy = clv.forecast_clv(cdnow, pnbd_fit, gg, horizon=24, period="W", discount_rate=0.1, margin=0.3,
                             n_draws=300, random_state=0, max_memory="4GB")
    np.testing.assert_allclose(fc.to_numpy(), roomy.to_numpy(), rtol=1e-12)


def test_pareto_residual_clv_stays_within_the_budget(cdnow, pnbd_fit, gg):
    # the residual CLV was killed at 23.9 GB on 7,000 customers with its default interval
    budget = 8 * MB
    res, peak = peak_bytes(lambda: clv.residual_clv(cdnow, pnbd_fit, gg, discount_rate=0.1, margin=0.3, n_draws=300,
                                                    random_state=0, max_memory=budget))
    assert peak < budget
    roomy = clv.residual_clv(cdnow, pnbd_fit, gg, discount_rate=0.1, margin=0.3, n_draws=300, random_state=0)
    np.testing.assert_allclose(res.to_numpy(), roomy.to_numpy(), rtol=1e-12)


def test_pareto_quadrature_regime_is_chunked():
    # alpha >> beta: the 2F1 of the likelihood sits next to z = 1 for every customer, where the math
    # uses its quadrature (~1,100 nodes per element): 200 customers x 13 draws unchunked would hold
    # ~45 MB per temporary, and it has ~20
    rng = np.random.default_rng(3)
    n = 200
    T = rng.uniform(20, 40, n)
    s = pd.DataFrame({"frequency": rng.integers(0, 20, n).astype(float), "T": T})
    s["recency"] = np.where(s["frequency"] > 0, rng.uniform(0, 1, n) * T, 0.0)
    model = clv.ParetoNBD.from_params(r=0.8, alpha=5000.0, s=0.7, beta=0.5, time_unit="W",
                                      cov=np.diag([1e-4, 1e2, 1e-4, 1e-4]))
    budget = 16 * MB
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, peak = peak_bytes(lambda: clv.residual_clv(s, model, 10.0, discount_rate=0.1, margin=1.0, n_draws=12,
                                                        random_state=0, time_unit="W", max_memory=budget))
    assert peak < budget
    ref = model.p_alive(clv.RFMSummary.from_frame(s, time_unit="W") if hasattr(clv, "RFMSummary") else s)
    np.testing.assert_allclose(res["p_alive"], ref.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", ["BGNBD", "MBGNBD"])
def test_bg_family_peak_does_not_grow_with_customers(cdnow, gg, name):
    # BG/NBD-family forecasts: the chunks respect the budget; the interpolants of the alive factors
    # (per frequency x draw, clvmodels.math._bgfast) add a part that depends on draws, not customers
    model = getattr(clv, name)().fit(cdnow)
    budget = 16 * MB
    big = pd.concat([cdnow] * 4)
    big.index = pd.RangeIndex(len(big), name="customer_id")
    big["recency"] *= np.repeat([1.0, 0.999, 0.998, 0.997], len(cdnow))   # 4x the distinct customers

    def run(frame):
        return clv.forecast_clv(frame, model, gg, horizon=24, period="W", discount_rate=0.1, margin=0.3,
                                n_draws=200, random_state=0, max_memory=budget, time_unit="W")

    _, small_peak = peak_bytes(lambda: run(cdnow))
    _, big_peak = peak_bytes(lambda: run(big))
    assert big_peak < small_peak + 4 * MB          # the result columns of 3x more customers: ~1 MB
    assert big_peak < 2 * budget


def test_bgbb_and_bayes_paths_stay_within_the_budget(cdnow, make_bayes):
    don = clv.datasets.donations()
    bb = clv.BGBB().fit(don, weights="weight") if "weight" in don else clv.BGBB().fit(don)
    budget = 4 * MB
    _, peak = peak_bytes(lambda: clv.forecast_clv(don, bb, 1.0, horizon=10, period="Y", discount_rate=0.1, margin=1.0,
                                                  n_draws=300, random_state=0, time_unit="Y", max_memory=budget))
    assert peak < budget
    _, peak = peak_bytes(lambda: clv.residual_clv(don, bb, 1.0, discount_rate=0.1, margin=1.0, n_draws=300,
                                                  random_state=0, time_unit="Y", max_memory=budget))
    assert peak < budget
    # a Bayesian Pareto/NBD (posterior draws): the same chunked paths
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(rng.normal(0, 0.05, (2, 100))) for k, v in
             {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items()}
    bayes = make_bayes(clv.bayes.ParetoNBD, draws)
    budget = 16 * MB
    fc, peak = peak_bytes(lambda: clv.forecast_clv(cdnow, bayes, 20.0, horizon=24, period="W", discount_rate=0.1,
                                                   margin=0.3, max_memory=budget))
    assert peak < budget
    assert fc.attrs["n_draws"] == 200
