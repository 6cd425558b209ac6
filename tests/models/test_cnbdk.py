"""BG/CNBD-k and MBG/CNBD-k model classes: CDNOW (BTYDplus' number), k = 1 equal to BG/NBD and MBG/NBD,
the choice of k, parameter recovery on simulated regular buyers, persistence and the model protocol."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import ConfigError, InvalidValueError, MissingColumnError, NotFittedError
from clvmodels.math import cnbdk as cnbdk_math
from clvmodels.protocols import PurchaseMath, PurchaseModel, require_purchase_model
from clvmodels.simulate import cnbdk as sim

PAIRS = [(clv.BGCNBDk, clv.BGNBD), (clv.MBGCNBDk, clv.MBGNBD)]


@pytest.fixture(scope="module")
def cdnow():
    # the 2,357-customer CDNOW sample, 39 weeks of calibration to 1997-09-30, same-day purchases merged
    # (the data layer's default merge="D", as BTYDplus' elog2cbs does), litt in weeks
    tx = clv.datasets.cdnow_transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clv.errors.DataDroppedWarning)    # purchases after 1997-09-30
        return clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="W", litt=True)


@pytest.fixture(scope="module")
def mbg_cdnow(cdnow):
    return clv.MBGCNBDk().fit(cdnow)


# --------------------------------------------------------------------------------------------
# CDNOW
# --------------------------------------------------------------------------------------------
def test_cdnow_mbgcnbd_selects_k1_with_btydplus_loglik(cdnow, mbg_cdnow):
    # Platzer & Reutterer (2016) / the BTYDplus vignette: on the CDNOW sample the MBG/CNBD-k chooses k = 1 with
    # LL -9582.1 (the MBG/NBD: lifetimes 0.11.3 ModifiedBetaGeoFitter, r = 0.52484, alpha = 6.18299,
    # a = 0.89136, b = 1.61400)
    m = mbg_cdnow
    assert len(cdnow) == 2357 and m.k_ == 1 and m.converged_
    assert round(m.loglik_, 1) == -9582.1
    np.testing.assert_allclose(m.params_, [0.52484, 6.18299, 0.89136, 1.61400], rtol=2e-4)
    by_k = m.loglik_by_k_
    assert by_k.index.tolist() == list(range(1, 9)) and by_k.idxmax() == 1
    assert (np.diff(by_k.to_numpy()) < 0).all()            # CDNOW purchases are anything but regular
    assert m.fit_info_["k"] == 1 and len(m.fit_info_["k_search"]) == 8


def test_cdnow_bgcnbd_at_k1_is_fhl2005(cdnow):
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    m = clv.BGCNBDk(max_k=3).fit(cdnow)
    assert m.k_ == 1
    assert round(m.loglik_, 1) == -9582.4
    np.testing.assert_allclose(m.params_, [0.243, 4.414, 0.793, 2.426], atol=6e-4)


def test_each_k_is_its_own_maximum(cdnow, mbg_cdnow):
    # the search's log-likelihood at k = 2 is that of a fit with k fixed at 2, and includes the (k - 1) litt term
    fixed = clv.MBGCNBDk(k=2).fit(cdnow)
    assert fixed.k_ == 2 and fixed.loglik_by_k_.index.tolist() == [2]
    assert fixed.loglik_ == pytest.approx(mbg_cdnow.loglik_by_k_[2], rel=1e-9)
    assert fixed.log_likelihood(cdnow).sum() == pytest.approx(fixed.loglik_, rel=1e-12)
    assert fixed.fit_info_["litt_total"] == pytest.approx(cdnow["litt"].sum(), rel=1e-15)


# --------------------------------------------------------------------------------------------
# k = 1 is the BG/NBD (MBG/NBD)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cnbd, base", PAIRS)
def test_k1_equals_bgnbd_and_mbgnbd(cdnow, cnbd, base):
    m, b = cnbd(k=1).fit(cdnow), base().fit(cdnow)
    assert m.loglik_ == pytest.approx(b.loglik_, rel=1e-12)
    np.testing.assert_allclose(m.params_, b.params_, rtol=5e-8)
    np.testing.assert_allclose(m.stderr_, b.stderr_, rtol=1e-5)
    # at the same parameters every prediction is the BG/NBD's (MBG/NBD's)
    m1 = cnbd.from_params(k=1, **b.params_.to_dict(), time_unit="W")
    s = cdnow.iloc[::7]
    for name, args in (("expected_purchases", (s, 39.0)), ("p_alive", (s,)), ("p_purchases", (np.arange(6), 39.0)),
                       ("expected_purchases_new", (np.array([13.0, 39.0, 78.0]),))):
        np.testing.assert_allclose(getattr(m1, name)(*args), getattr(b, name)(*args), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m1.log_likelihood(cdnow), b.log_likelihood(cdnow), rtol=1e-12)
    fc = {name: clv.forecast_clv(s, model, 10.0, horizon=12, period="M", discount_rate=0.1, margin=0.3,
                                 interval=None) for name, model in (("cnbd", m1), ("base", b))}
    pd.testing.assert_frame_equal(fc["cnbd"], fc["base"], check_exact=False, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# parameter recovery on simulated regular buyers
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, truth, seed", [
    (clv.BGCNBDk, {"k": 2, "r": 1.2, "alpha": 3.0, "a": 0.8, "b": 3.0}, 11),
    (clv.MBGCNBDk, {"k": 3, "r": 2.0, "alpha": 5.0, "a": 0.7, "b": 2.5}, 12),
])
def test_recovers_k_and_parameters(cls, truth, seed):
    T = np.random.default_rng(seed).uniform(26.0, 78.0, 6000)
    data = sim.simulate(**truth, T=T, dropout_at_zero=cls is clv.MBGCNBDk, random_state=seed + 100)
    m = cls(max_k=5).fit(data)
    assert m.k_ == truth["k"] and m.converged_
    assert m.loglik_by_k_.idxmax() == truth["k"]
    z = (m.params_ - pd.Series({k: v for k, v in truth.items() if k != "k"})) / m.stderr_
    assert (z.abs() < 3).all(), z


def test_weights_are_repeated_rows():
    # weights count identical customers: the litt term of the log-likelihood is weighted too
    data = sim.simulate(2, 1.2, 3.0, 0.8, 3.0, T=40.0, n_customers=400, random_state=21)
    w = np.random.default_rng(22).integers(1, 4, len(data))
    expanded = data.loc[data.index.repeat(w)].reset_index(drop=True).rename_axis("customer_id")
    a = clv.BGCNBDk(max_k=3).fit(data, weights=w)
    b = clv.BGCNBDk(max_k=3).fit(expanded)
    assert a.k_ == b.k_
    np.testing.assert_allclose(a.loglik_by_k_, b.loglik_by_k_, rtol=1e-9)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# settings, data contract, errors
# --------------------------------------------------------------------------------------------
def test_summary_without_litt_names_the_option(cdnow):
    with pytest.raises(MissingColumnError, match="litt=True") as info:
        clv.MBGCNBDk().fit(cdnow.drop(columns="litt"))
    assert info.value.column == "litt"
    # predictions need only (frequency, recency, T)
    m = clv.MBGCNBDk.from_params(k=2, r=0.5, alpha=3.0, a=0.9, b=1.6, time_unit="W")
    assert np.isfinite(m.expected_purchases(cdnow.drop(columns="litt"), 39.0)).all()


def test_litt_in_a_finer_unit_than_the_summary_is_refused(cdnow):
    bad = cdnow.copy()
    bad["litt"] = bad["litt"] + np.log(7.0) * bad["frequency"]        # days instead of weeks
    with pytest.raises(InvalidValueError, match="litt"):
        clv.MBGCNBDk(k=2).fit(bad)


@pytest.mark.parametrize("settings, key", [({"k": 0}, "k"), ({"k": 1.5}, "k"), ({"k": True}, "k"),
                                           ({"max_k": 0}, "max_k"), ({"max_k": "8"}, "max_k")])
def test_bad_settings_name_the_key(cdnow, settings, key):
    with pytest.raises(ConfigError) as info:
        clv.BGCNBDk(**settings).fit(cdnow)
    assert info.value.key == key


def test_from_params_needs_a_whole_k():
    with pytest.raises(InvalidValueError, match="needs k"):
        clv.BGCNBDk.from_params(r=0.5, alpha=3.0, a=0.9, b=1.6)
    with pytest.raises(InvalidValueError, match="whole number"):
        clv.BGCNBDk.from_params(k=2.5, r=0.5, alpha=3.0, a=0.9, b=1.6)
    with pytest.raises(NotFittedError):
        clv.BGCNBDk().p_alive(pd.DataFrame({"frequency": [1.0], "recency": [1.0], "T": [2.0]}))


def test_a_choice_at_max_k_is_warned_about():
    data = sim.simulate(4, 2.0, 2.0, 0.7, 3.0, T=52.0, n_customers=3000, random_state=3)
    with pytest.warns(clv.errors.CLVWarning, match="max_k"):
        m = clv.BGCNBDk(max_k=2).fit(data)
    assert m.k_ == 2


# --------------------------------------------------------------------------------------------
# predictions, protocol, persistence
# --------------------------------------------------------------------------------------------
def test_predictions_are_the_math_at_k(cdnow):
    m = clv.MBGCNBDk.from_params(k=3, r=0.8, alpha=2.0, a=0.9, b=1.6, time_unit="W")
    s = cdnow.iloc[:300]
    x, t_x, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    p = (3, 0.8, 2.0, 0.9, 1.6)
    np.testing.assert_array_equal(m.p_alive(s), cnbdk_math.p_alive(*p, x, t_x, T, dropout_at_zero=True))
    np.testing.assert_array_equal(m.expected_purchases(s, 26.0),
                                  cnbdk_math.conditional_expected_purchases(*p, x, t_x, T, 26.0, dropout_at_zero=True))
    np.testing.assert_array_equal(m.p_active(s, 26.0), cnbdk_math.p_active(*p, x, t_x, T, 26.0, dropout_at_zero=True))
    assert m.p_purchases(np.arange(2000), 39.0).sum() == pytest.approx(1.0, rel=1e-10)
    draws = m.simulate_purchases(s.iloc[:2], 26.0, n_draws=20_000, random_state=0)
    assert draws.shape == (20_000, 2) and list(draws.columns) == list(s.index[:2])
    se = draws.std() / np.sqrt(len(draws))
    assert (abs(draws.mean() - m.expected_purchases(s.iloc[:2], 26.0)) < 4 * se + 1e-12).all()
    new = m.simulate(T=39.0, n_customers=10, random_state=0)
    assert new.columns.tolist() == ["frequency", "recency", "T", "litt"]


def test_heavy_buyers_stay_finite():
    m = clv.BGCNBDk.from_params(k=4, r=3.0, alpha=1.0, a=0.5, b=20.0, time_unit="W")
    # 2,000 purchases in 100 weeks (one every 0.05 weeks), the last just now; 500 and a long silence; none
    s = pd.DataFrame({"frequency": [2000.0, 500.0, 0.0], "recency": [99.99, 60.0, 0.0], "T": [100.0, 100.0, 100.0]})
    for values in (m.p_alive(s), m.expected_purchases(s, 52.0), m.p_active(s, 4.0)):
        assert np.isfinite(values).all()
    assert m.expected_purchases(s, 52.0).iloc[0] > 100


def test_protocol_and_registry():
    m = clv.MBGCNBDk.from_params(k=2, r=0.5, alpha=3.0, a=0.9, b=1.6, time_unit="W")
    assert isinstance(m, PurchaseModel) and isinstance(m.math, PurchaseMath) and require_purchase_model(m) is m
    assert m.math.ahead_needs_recency and not clv.MBGCNBDk.from_params(k=1, r=0.5, alpha=3.0, a=0.9,
                                                                      b=1.6).math.ahead_needs_recency
    assert clv.registry.get("mbgcnbd").label == "MBG/CNBD-k" and clv.registry.get("bgcnbd").label == "BG/CNBD-k"
    assert type(clv.registry.build("mbgcnbd")) is clv.MBGCNBDk
    assert clv.registry.spec_of(m).key == "mbgcnbd" and clv.registry.get("mbgcnbd").summary_options == ("litt",)
    draws = m.parameter_draws()                                   # k is not a drawn parameter
    assert set(draws.estimate) == {"r", "alpha", "a", "b"}


def test_save_load_round_trip(cdnow, mbg_cdnow, tmp_path):
    m = clv.MBGCNBDk(k=2).fit(cdnow)
    path = m.save(tmp_path / "mbgcnbd.json")
    saved = json.loads(path.read_text())
    assert saved["model"] == "MBGCNBDk" and saved["params"]["k"] == 2
    back = clv.load_model(path)
    assert type(back) is clv.MBGCNBDk and back.k_ == 2 and back.k == 2
    pd.testing.assert_series_equal(back.params_, m.params_)
    pd.testing.assert_frame_equal(back.cov_, m.cov_)
    assert back.loglik_ == m.loglik_ and back.loglik_by_k_.equals(m.loglik_by_k_)
    s = cdnow.iloc[:100]
    pd.testing.assert_series_equal(back.expected_purchases(s, 39.0), m.expected_purchases(s, 39.0))
    chosen = clv.MBGCNBDk.load(mbg_cdnow.save(tmp_path / "chosen.json"))
    assert chosen.k_ == 1 and chosen.k is None and chosen.loglik_by_k_.equals(mbg_cdnow.loglik_by_k_)
