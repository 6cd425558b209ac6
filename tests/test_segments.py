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


def _reference_bins(values, n_bins):
    """Slow reference for the binning rule: walk the distinct values worst to best (ascending)."""
    distinct, counts = np.unique(values, return_counts=True)
    k = min(n_bins, len(distinct))
    score_of, binned, i = {}, 0, 0
    for b in range(1, k + 1):
        left, have = k - b + 1, 0           # bins still open (this one included), customers in it
        while True:
            score_of[distinct[i]] = b
            have += counts[i]
            i += 1
            if i == len(distinct):
                break
            # close at the fair share of the rest, or when the later bins need every remaining value
            if left > 1 and (have * left >= len(values) - binned or len(distinct) - i == left - 1):
                break
        binned += have
    return np.array([score_of[v] for v in values])


# CDNOW sample (Fader, Hardie & Lee 2005, "Counting your customers the easy way", calibration
# histogram): 1,411 of the 2,357 customers make no repeat purchase in the calibration period.
CDNOW_CUSTOMERS, CDNOW_NO_REPEAT = 2357, 1411


def test_rfm_cdnow_uses_every_quintile():
    s = clv.datasets.cdnow_summary()
    before = s.copy()
    r = rfm_scores(s)
    pd.testing.assert_frame_equal(s, before)          # the caller's frame is not modified
    assert len(s) == CDNOW_CUSTOMERS and int((s["frequency"] == 0).sum()) == CDNOW_NO_REPEAT
    for col in ("r_score", "f_score", "m_score"):
        assert set(r[col]) == {1, 2, 3, 4, 5}, col   # the old scores skipped f_score 2
    no_repeat = s["frequency"] == 0
    assert (r.loc[no_repeat, "f_score"] == 1).all() and (r.loc[~no_repeat, "f_score"] > 1).all()
    assert (r.loc[no_repeat, "m_score"] == 1).all()   # their monetary_value is 0
    # F by hand: 1,411 / 439 / 214 / 100 / 62 customers with 0 / 1 / 2 / 3 / 4 repeat purchases,
    # 131 with more. Fair shares of the rest: ceil(2357/5) = 472 -> {0} (1,411);
    # ceil(946/4) = 237 -> {1} (439); ceil(507/3) = 169 -> {2} (214); ceil(293/2) = 147 -> {3}
    # has 100 < 147, {3, 4} has 162 -> closes; the last bin takes the 131 with 5 or more.
    assert r["f_score"].value_counts().sort_index().to_dict() == {1: 1411, 2: 439, 3: 214, 4: 162, 5: 131}


def test_rfm_identical_values_share_a_score_and_bins_are_monotone():
    s = clv.datasets.cdnow_summary()
    r = rfm_scores(s)
    gap = s["T"] - s["recency"]
    for value, col, sign in ((s["frequency"], "f_score", 1), (s["monetary_value"], "m_score", 1),
                             (gap, "r_score", -1)):
        assert (r[col].groupby(value.to_numpy()).nunique() == 1).all(), col   # ties share a score
        order = np.argsort(sign * value.to_numpy(), kind="stable")               # worst to best
        assert (np.diff(r[col].to_numpy()[order]) >= 0).all(), col               # monotone
        np.testing.assert_array_equal(r[col], _reference_bins(sign * value.to_numpy(), 5))
    rng = np.random.default_rng(7)
    for _ in range(200):
        n, n_bins = int(rng.integers(1, 80)), int(rng.integers(2, 12))
        x = rng.geometric(rng.uniform(0.2, 0.9), n).astype(float) - 1      # heavy ties at 0
        out = rfm_scores(pd.DataFrame({"frequency": x, "recency": 0.0, "T": 1.0}), n_bins=n_bins)
        np.testing.assert_array_equal(out["f_score"], _reference_bins(x, n_bins))
        assert (out["f_score"].groupby(x).nunique() == 1).all()
        k = min(n_bins, len(np.unique(x)))
        assert set(out["f_score"]) == set(range(1, k + 1))
        assert (out["f_score"][x == x.max()] == k).all()
    # no ties, N not a multiple of n_bins: sizes differ by at most one, the larger bins first
    r102 = rfm_scores(_summary(102))
    assert r102["f_score"].value_counts().sort_index().tolist() == [21, 21, 20, 20, 20]


def test_rfm_hand_example_with_ties():
    s = pd.DataFrame({"frequency": [0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 6],
                      "recency": [0, 0, 0, 0, 0, 5, 5, 9, 1, 9, 10, 10],
                      "T": 10.0,
                      "monetary_value": [0, 0, 0, 0, 0, 10, 12, 12, 30, 30, 30, 50]},
                     index=pd.Index([f"c{i}" for i in range(12)], name="customer_id"))
    r = rfm_scores(s, n_bins=4)
    # F, 12 customers, 4 bins: fair share ceil(12/4) = 3 -> {0} has 5 -> bin 1 (5);
    # ceil(7/3) = 3 -> {1} has 2, {1, 2} has 3 -> bin 2; ceil(4/2) = 2 -> {3} has 3 -> bin 3;
    # {6} -> bin 4. (The old rule, 1 + floor(4 * share strictly below), gave frequency 2 a 3.)
    assert r["f_score"].tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    # M: {0} (5) -> 1; ceil(7/3) = 3: {10} has 1, {10, 12} has 3 -> 2; {30} (3 >= 2) -> 3; {50} -> 4
    assert r["m_score"].tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    # R, gap = T - recency, worst (largest) first: 10 (5), 9 (1), 5 (2), 1 (2), 0 (2).
    # ceil(12/4) = 3 -> {10} -> 1; ceil(7/3) = 3: {9} has 1, {9, 5} has 3 -> 2;
    # ceil(4/2) = 2 -> {1} -> 3; {0} -> 4
    assert r["recency_gap"].tolist() == [10, 10, 10, 10, 10, 5, 5, 1, 9, 1, 0, 0]
    assert r["r_score"].tolist() == [1, 1, 1, 1, 1, 2, 2, 3, 2, 3, 4, 4]
    assert r.loc["c11", "rfm_cell"] == "444" and r.loc["c0", "rfm_total"] == 3
    # a bin closes early to leave one distinct value to each later bin: 10 customers, 3 bins,
    # fair share ceil(10/3) = 4 would take {1, 2} (9 customers) and leave only {3} for two bins
    x = np.array([1, 2, 2, 2, 2, 2, 2, 2, 2, 3], dtype=float)
    r3 = rfm_scores(pd.DataFrame({"frequency": x, "recency": 0.0, "T": 1.0}), n_bins=3)
    assert r3["f_score"].tolist() == [1, 2, 2, 2, 2, 2, 2, 2, 2, 3]   # the old rule gave 1, 1 x 8, 3


def test_rfm_fewer_distinct_values_than_bins_gives_consecutive_scores():
    s = pd.DataFrame({"frequency": [0, 0, 1, 1, 1, 5], "recency": [0, 0, 2, 2, 2, 4], "T": 4.0,
                      "monetary_value": [0, 0, 9, 9, 9, 9]})
    r = rfm_scores(s, n_bins=5)
    # 3 distinct frequencies -> scores 1..3 (each value its own bin), not 1, 3, 5 or 1, 2, 5
    assert r["f_score"].tolist() == [1, 1, 2, 2, 2, 3]
    assert r["r_score"].tolist() == [1, 1, 2, 2, 2, 3]     # gaps 4, 2, 0: smaller is better
    assert r["m_score"].tolist() == [1, 1, 2, 2, 2, 2]
    r12 = rfm_scores(s, n_bins=12)                         # two-digit scores: no rfm_cell
    assert "rfm_cell" not in r12 and r12["f_score"].tolist() == [1, 1, 2, 2, 2, 3]
    assert r12["rfm_total"].equals(r12["r_score"] + r12["f_score"] + r12["m_score"])


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



def test_value_tiers_treat_last_bit_noise_as_a_tie():
    # two customers with the same history whose CLVs came out an ulp apart (vectorised exp / log differ between a
    # SIMD body and its tail): ranked in the frame's order, and on the same side of a threshold at that value
    x = 6.195
    v = pd.Series([x, np.nextafter(x, 7.0), 1.0], index=pd.Index(["0013", "0063", "0100"], name="customer_id"),
                  name="clv")
    t = value_tiers(v, by="value", vip=np.nextafter(x, 7.0), core=2.0)
    assert list(t.customers["rank"]) == [1, 2, 3]                     # not [2, 1, 3]
    assert list(t.customers["tier"].astype(str)) == ["VIP", "VIP", "low"]
    assert t.customers["clv"].iloc[1] == np.nextafter(x, 7.0)           # the value itself is kept unrounded
    # a real difference (a thousandth of a cent) still orders them
    t3 = value_tiers(pd.Series([x, x + 1e-5], index=v.index[:2], name="clv"))
    assert list(t3.customers["rank"]) == [2, 1]


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
