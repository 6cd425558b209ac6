"""Value segments: RFM scores, value tiers, whale curve (hand-computed references)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import CLVWarning, ConfigError, InvalidValueError, MissingColumnError
from clvmodels.segments import TIER_LABELS, historical_margin, rfm_scores, value_tiers, whale_curve


def _summary(n=100, seed=0):
    rng = np.random.default_rng(seed)
    T = np.full(n, 50.0)
    x = rng.permutation(n).astype(float)           # all distinct
    rec = rng.uniform(0, 50, n)
    mv = rng.permutation(n) + 1.0
    return pd.DataFrame({"frequency": x, "recency": rec, "T": T, "monetary_value": mv},
                        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))


def test_rfm_quintiles_without_ties_are_equal_fifths():
    s = _summary(100)
    r = rfm_scores(s)
    for col in ("r_score", "f_score", "m_score"):
        assert (r[col].value_counts().sort_index() == 20).all()
    # more purchases, more recent, more spend -> higher scores (monotone)
    assert (np.diff(r.loc[s["frequency"].sort_values().index, "f_score"].to_numpy()) >= 0).all()
    assert (np.diff(r.loc[(s["T"] - s["recency"]).sort_values().index, "r_score"].to_numpy()) <= 0).all()
    assert r["rfm_total"].equals(r["r_score"] + r["f_score"] + r["m_score"])
    assert r.loc["c0", "rfm_cell"] == f"{r.loc['c0', 'r_score']}{r.loc['c0', 'f_score']}{r.loc['c0', 'm_score']}"
    assert r.index.equals(s.index)


def test_rfm_ties_share_a_score_cdnow():
    s = clv.datasets.cdnow_summary()
    r = rfm_scores(s)
    # 1,411 of the 2,357 CDNOW customers have no repeat purchase (FHL 2005, the calibration
    # histogram): they all get F = 1, and the next value starts in the bin of its rank
    assert (r.loc[s["frequency"] == 0, "f_score"] == 1).all()
    assert r.loc[s["frequency"] == 1, "f_score"].nunique() == 1
    assert r.loc[s["frequency"] == 1, "f_score"].iloc[0] == 1 + int(np.floor(5 * 1411 / 2357))
    assert set(r["r_score"]) <= set(range(1, 6))


def test_rfm_options_and_errors():
    s = _summary(30)
    r = rfm_scores(s.drop(columns="monetary_value"), n_bins=3)
    assert "m_score" not in r and set(r["f_score"]) == {1, 2, 3}
    with pytest.raises(ConfigError):
        rfm_scores(s, n_bins=1)
    with pytest.raises(MissingColumnError):
        rfm_scores(s.drop(columns="recency"))
    bad = s.copy()
    bad.loc["c3", "frequency"] = np.nan
    with pytest.raises(InvalidValueError) as e:
        rfm_scores(bad)
    assert e.value.examples == ["c3"]


def test_value_tiers_by_quantile_and_by_value():
    v = pd.Series([-5.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 100.0],
                  index=pd.Index(list("abcdefghij"), name="customer_id"), name="clv")
    t = value_tiers(v, vip=0.9, core=0.5)
    # numpy linear quantiles: q0.9 = 7 + 0.1 * 93 = 16.3; q0.5 = 3.5
    assert t.thresholds["vip"] == pytest.approx(16.3) and t.thresholds["core"] == pytest.approx(3.5)
    tiers = t.customers["tier"].astype(str)
    assert tiers["j"] == "VIP" and tiers["a"] == "margin-negative"
    assert list(tiers[list("fghi")]) == ["core"] * 4 and list(tiers[list("bcde")]) == ["low"] * 4
    assert t.summary.loc["VIP", "customers"] == 1 and t.summary["customers"].sum() == 10
    assert t.summary["share_of_value"].sum() == pytest.approx(1.0)
    assert t.customers.loc["j", "rank"] == 1
    t2 = value_tiers(v.to_frame(), vip=50.0, core=5.0, by="value", labels=("A", "B", "C", "D"))
    assert list(t2.customers["tier"].astype(str)[list("ajgf")]) == ["D", "A", "B", "C"]   # 5 >= core, 4 < core
    assert list(t2.customers["tier"].cat.categories) == ["A", "B", "C", "D"]
    assert TIER_LABELS == ("VIP", "core", "low", "margin-negative")


def test_value_tiers_errors():
    v = pd.Series([1.0, 2.0], name="clv")
    with pytest.raises(ConfigError):
        value_tiers(v, vip=0.4, core=0.5)
    with pytest.raises(ConfigError):
        value_tiers(v, vip=1.5)
    with pytest.raises(ConfigError):
        value_tiers(v, by="rank")
    with pytest.raises(MissingColumnError):
        value_tiers(pd.DataFrame({"x": [1.0]}))


def test_whale_curve_hand_example():
    m = pd.Series([10.0, 5.0, -3.0, 0.0, 2.0], index=pd.Index(list("abcde"), name="customer_id"))
    w = whale_curve(predicted=m)
    c = w.curve
    # sorted 10, 5, 2, 0, -3 -> cumulative 10, 15, 17, 17, 14 (total 14)
    assert list(c["customer_id"]) == list("abedc")
    np.testing.assert_allclose(c["cumulative_margin"], [10, 15, 17, 17, 14])
    np.testing.assert_allclose(c["cumulative_share"], np.array([10, 15, 17, 17, 14]) / 14)
    row = w.summary.loc["predicted"]
    assert row["customer_share_for_100pct"] == pytest.approx(2 / 5)   # a and b create 100%
    assert row["peak_share"] == pytest.approx(17 / 14) and row["customer_share_at_peak"] == pytest.approx(3 / 5)
    assert row["n_destroyers"] == 1 and row["destroyed_margin"] == -3.0
    assert list(w.destroyers["predicted"]) == ["c"]
    assert w.share_for_100pct() == pytest.approx(0.4)


def test_whale_curve_historical_and_predicted_cdnow():
    s = clv.datasets.cdnow_summary()
    hist = historical_margin(s, margin=0.3, cost_per_order=3.0)
    np.testing.assert_allclose(hist, 0.3 * s["frequency"] * s["monetary_value"] - 3.0 * s["frequency"])
    pred = pd.Series(np.linspace(-10, 40, len(s)), index=s.index, name="clv")
    w = whale_curve(hist, predicted=pred)
    assert set(w.summary.index) == {"historical_margin", "predicted"}
    assert len(w.curve) == 2 * len(s)
    for name in w.summary.index:
        row = w.summary.loc[name]
        assert 0 < row["customer_share_for_100pct"] <= row["customer_share_at_peak"] <= 1
        assert row["peak_share"] >= 1
        assert row["n_destroyers"] == len(w.destroyers[name])


def test_whale_curve_with_non_positive_total_warns():
    with pytest.warns(CLVWarning):
        w = whale_curve(pd.Series([-1.0, -2.0, 1.0], name="m"))
    assert np.isnan(w.summary.loc["m", "customer_share_for_100pct"])
    with pytest.raises(ConfigError):
        whale_curve()
    with pytest.raises(ConfigError):
        whale_curve([1.0, 2.0])
