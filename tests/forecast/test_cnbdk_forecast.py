"""forecast_clv and evaluate with the (M)BG/CNBD-k: with k > 1 the future of a customer alive now depends on
the time since the last purchase, so the engine's "given alive" factors must use each customer's recency.
Reference values come from the model classes' own predictions and the math module, not from the engine."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.math import cnbdk as cnbdk_math

WEEKS_PER_MONTH = 365.25 / 12 / 7


@pytest.fixture(scope="module")
def cal():
    tx = clv.datasets.cdnow_transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clv.errors.DataDroppedWarning)
        return clv.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W", litt=True)


@pytest.fixture(scope="module")
def regular():
    # an MBG/CNBD-k with k = 3 fitted at a fixed k (CDNOW itself picks k = 1), with its covariance
    tx = clv.datasets.cdnow_transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clv.errors.DataDroppedWarning)
        cal = clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="W", litt=True)
    return clv.MBGCNBDk(k=3).fit(cal)


@pytest.fixture(scope="module")
def gg(cal):
    return clv.GammaGamma().fit(cal)


def test_forecast_follows_the_models_own_predictions(cal, regular, gg):
    s = cal.iloc[:400]
    fc, cash = clv.forecast_clv(s, regular, gg, horizon=6, period="M", discount_rate=0.1, margin=0.3,
                                interval=None, return_cash_flows=True)
    # expected purchases over the horizon and per period are the model's conditional expectations
    np.testing.assert_allclose(fc["expected_purchases"], regular.expected_purchases(s, 6 * WEEKS_PER_MONTH),
                               rtol=1e-9)
    one = cash[(cash["customer_id"] == s.index[0]) & (cash["period"] > 0)]
    cum = [regular.expected_purchases(s.iloc[:1], t).iloc[0] for t in WEEKS_PER_MONTH * np.arange(1, 7)]
    np.testing.assert_allclose(one["expected_purchases"], np.diff(cum, prepend=0.0), rtol=1e-9, atol=1e-15)
    # P(no purchase in the horizon) = 1 - P(active) (P&R 2016); P(alive at the horizon) from the math with t_x
    np.testing.assert_allclose(fc["p_no_purchase_in_horizon"], 1 - regular.p_active(s, 6 * WEEKS_PER_MONTH),
                               rtol=1e-10, atol=1e-13)
    x, t_x, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    p = (3, *regular.params_.to_numpy())
    ahead = cnbdk_math.p_alive_ahead(*p, x, T, 6 * WEEKS_PER_MONTH, t_x=t_x, dropout_at_zero=True)
    np.testing.assert_allclose(fc["p_alive_at_horizon"], regular.p_alive(s) * ahead, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fc["p_alive"], regular.p_alive(s), rtol=1e-12)


def test_customers_alike_but_for_recency_get_different_futures(regular):
    # same x and T, the last purchase just now or 20 weeks ago: given alive, the second is due sooner
    s = pd.DataFrame({"frequency": [4.0, 4.0], "recency": [30.0, 10.0], "T": [30.0, 30.0]},
                     index=pd.Index([1, 2], name="customer_id"))
    fc = clv.forecast_clv(s, regular, 10.0, horizon=4, period="W", discount_rate=0.0, margin=1.0, interval=None,
                          time_unit="W")
    np.testing.assert_allclose(fc["expected_purchases"], regular.expected_purchases(s, 4.0), rtol=1e-9)
    given_alive = fc["expected_purchases"] / fc["p_alive"]
    assert given_alive.iloc[1] != pytest.approx(given_alive.iloc[0], rel=1e-3)


def test_intervals_from_the_mle_covariance(cal, regular, gg):
    s = cal.iloc[:300]
    fc = clv.forecast_clv(s, regular, gg, horizon=12, period="M", discount_rate=0.1, margin=0.3, interval=0.9,
                          n_draws=100, random_state=0)
    assert fc.attrs["purchase_model"] == "MBGCNBDk" and fc.attrs["n_draws"] == 100
    assert np.isfinite(fc.to_numpy()).all()
    assert (fc["clv_lower"] <= fc["clv"] + 1e-9).all() and (fc["clv"] <= fc["clv_upper"] + 1e-9).all()
    assert (fc["clv_upper"] - fc["clv_lower"] > 0).mean() > 0.9


def test_evaluate_on_the_holdout(cal, gg):
    m = clv.MBGCNBDk(max_k=3).fit(cal)
    ev = clv.evaluate.evaluate(cal, m, gg, name="MBG/CNBD-k")
    # k = 1 on CDNOW: the MBG/NBD's holdout accuracy
    ref = clv.evaluate.evaluate(cal, clv.MBGNBD().fit(cal), gg)
    for key in ("mae", "rmse", "purchases_predicted", "p_alive_auc"):
        assert ev.metrics[key] == pytest.approx(ref.metrics[key], rel=1e-6), key
    assert np.isfinite([ev.metrics[k] for k in ("mae", "rmse", "correlation", "aggregate_error_pct")]).all()
