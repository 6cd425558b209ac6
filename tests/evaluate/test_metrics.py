"""Metric functions: hand-computed values, tie handling, invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clvmodels.errors import DataValidationError
from clvmodels.evaluate import metrics as M


def test_purchase_metrics_hand_computed():
    pred = np.array([1.0, 0.0, 2.0, 3.0])
    act = np.array([0.0, 0.0, 4.0, 3.0])
    m = M.purchase_metrics(pred, act)
    assert m["n_customers"] == 4
    assert m["actual_total"] == 7.0 and m["predicted_total"] == 6.0
    assert m["aggregate_error_pct"] == pytest.approx(-100 / 7)
    assert m["mae"] == pytest.approx((1 + 0 + 2 + 0) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4 + 0) / 4))
    assert m["correlation"] == pytest.approx(np.corrcoef(pred, act)[0, 1])


def test_purchase_metrics_constant_prediction_gives_nan_correlation():
    m = M.purchase_metrics(np.ones(5), np.arange(5.0))
    assert math.isnan(m["correlation"]) and math.isnan(m["spearman"])


def test_purchase_metrics_rejects_nan_and_mismatch():
    with pytest.raises(DataValidationError, match="NaN"):
        M.purchase_metrics([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(DataValidationError, match="3 values"):
        M.purchase_metrics([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(DataValidationError, match="no customers"):
        M.purchase_metrics([], [])


def test_top_share_capture_exact_cut():
    # 10 customers, top 20% = the two highest scores, holding 50 + 20 of the 100 total
    score = np.arange(10.0)
    value = np.array([0, 0, 0, 0, 10, 5, 5, 10, 20, 50], dtype=float)
    assert M.top_share_capture(score, value, 0.2) == pytest.approx(0.7)
    # a fractional cut-off takes the next customer pro rata: 2.5 customers -> 70 + 0.5 * 10
    assert M.top_share_capture(score, value, 0.25) == pytest.approx(0.75)


def test_top_share_capture_ties_are_pro_rata_and_order_free():
    # all scores tied: the top 10% holds 10% of the value in expectation, whatever the order
    rng = np.random.default_rng(3)
    value = rng.gamma(0.5, 10.0, 1000)
    assert M.top_share_capture(np.zeros(1000), value, 0.1) == pytest.approx(0.1)
    score = rng.integers(0, 5, 1000).astype(float)
    perm = rng.permutation(1000)
    assert M.top_share_capture(score, value, 0.1) == pytest.approx(M.top_share_capture(score[perm], value[perm], 0.1))


def test_top_share_capture_oracle_and_zero_value():
    value = np.array([5.0, 1.0, 0.0, 4.0])
    assert M.top_share_capture(value, value, 0.25) == pytest.approx(0.5)
    assert math.isnan(M.top_share_capture(np.arange(3.0), np.zeros(3), 0.5))
    with pytest.raises(DataValidationError, match="share"):
        M.top_share_capture(value, value, 0.0)


def test_gini_closed_forms():
    n = 8
    # equal values: no concentration
    assert M.gini(np.arange(n), np.ones(n)) == pytest.approx(0.0)
    # one customer holds everything and is ranked first: Lorenz area 1 - 1/(2n) -> Gini 1 - 1/n
    value = np.zeros(n)
    value[3] = 1.0
    assert M.gini(value, value) == pytest.approx(1 - 1 / n)
    # ranked last instead: area 1/(2n) -> Gini 1/n - 1
    score = -value
    assert M.gini(score, value) == pytest.approx(1 / n - 1)


def test_normalized_gini_perfect_reverse_random():
    rng = np.random.default_rng(11)
    value = rng.gamma(0.7, 30.0, 20_000)
    assert M.normalized_gini(value, value) == pytest.approx(1.0)
    assert M.normalized_gini(-value, value) < -0.99
    assert abs(M.normalized_gini(rng.normal(size=value.size), value)) < 0.03


def test_lorenz_curve_groups_ties():
    curve = M.lorenz_curve([3.0, 1.0, 1.0, 0.0], [6.0, 1.0, 2.0, 1.0])
    assert curve["customer_share"].tolist() == [0.0, 0.25, 0.75, 1.0]
    assert curve["value_share"].tolist() == pytest.approx([0.0, 0.6, 0.9, 1.0])


def test_ranking_metrics_keys_and_lift():
    value = np.array([0, 0, 0, 0, 10, 5, 5, 10, 20, 50], dtype=float)
    r = M.ranking_metrics(np.arange(10.0), value, share=0.2, prefix="revenue_")
    assert r["revenue_top_capture"] == pytest.approx(0.7)
    assert r["revenue_top_lift"] == pytest.approx(3.5)
    assert r["revenue_top_capture_oracle"] == pytest.approx(0.7)
    assert set(r) == {f"revenue_{k}" for k in ("top_share", "top_capture", "top_capture_oracle", "top_lift",
                                                 "spearman", "gini", "normalized_gini")}


def test_conditional_expectations_bins():
    freq = np.array([0, 0, 1, 2, 9, 12, 3])
    pred = np.array([0.1, 0.3, 1.0, 2.0, 7.0, 9.0, 3.0])
    act = np.array([0.0, 1.0, 1.0, 3.0, 6.0, 10.0, 2.0])
    tab = M.conditional_expectations(freq, pred, act, max_frequency=4)
    assert tab.index.tolist() == ["0", "1", "2", "3", "4+"]
    assert tab["n_customers"].tolist() == [2, 1, 1, 1, 2]
    assert tab.loc["0", "actual"] == pytest.approx(0.5)
    assert tab.loc["0", "predicted"] == pytest.approx(0.2)
    assert tab.loc["4+", "actual"] == pytest.approx(8.0)
    assert tab.loc["4+", "error"] == pytest.approx(0.0)


def test_conditional_expectations_empty_bin_is_kept():
    tab = M.conditional_expectations([0, 0, 3], [0.1, 0.2, 3.0], [0.0, 0.0, 2.0], max_frequency=3)
    assert tab["n_customers"].tolist() == [2, 0, 0, 1]
    assert np.isnan(tab.loc["1", "actual"])


def test_spend_calibration_filters_and_groups():
    pred = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    act = np.array([12.0, 0.0, 28.0, 44.0, 60.0])
    freq = np.array([1, 1, 0, 2, 9])
    hold = np.array([2, 0, 1, 1, 3])
    tab = M.spend_calibration(pred, act, freq, hold, max_frequency=3)
    # customer 2 has no holdout purchase, customer 3 no calibration repeat purchase: both left out
    assert tab["n_customers"].tolist() == [1, 1, 1]
    assert tab.index.tolist() == ["1", "2", "3+"]
    assert tab.loc["3+", "predicted"] == 50.0 and tab.loc["3+", "actual"] == 60.0
    dec = M.spend_calibration(pred, act, freq, hold, by="decile", n_groups=3)
    assert dec["n_customers"].sum() == 3
    with pytest.raises(DataValidationError, match="by must be"):
        M.spend_calibration(pred, act, freq, hold, by="week")


def test_frequency_labels():
    assert M.frequency_labels(pd.Series([0, 6, 7, 30]), 7).tolist() == ["0", "6", "7+", "7+"]
