"""The gradient-boosting baseline and the first-purchase features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv

from clvmodels.errors import ConfigError, DataValidationError, MissingColumnError
from clvmodels.evaluate import GradientBoostingBaseline, add_first_purchase_value, first_purchase_value

FAST = dict(max_iter=25, learning_rate=0.1)


@pytest.fixture(scope="module")
def temporal(cdnow_sample_cal, cdnow_sample_tx):
    base = GradientBoostingBaseline(**FAST)
    return base, base.fit_predict(cdnow_sample_cal, cdnow_sample_tx)


def test_temporal_window_and_outputs(temporal, cdnow_sample_cal):
    base, pred = temporal
    # h = min(39 weeks, half the age half the customers reach: median T = 229 days -> 114 days)
    assert base.training_cutoff_ == pd.Timestamp("1997-06-08")
    assert base.window_ == pytest.approx(114 / 7)
    assert base.horizon_ratio_ == pytest.approx(39 / (114 / 7))
    # attrition: the holdout is worth fewer than 39 / 16.3 windows; CDNOW's decay is strongly mixed (shape < 1)
    assert base.extrapolation_ < base.horizon_ratio_
    assert 0 < base.decay_shape_ < 1 and base.decay_hazard_ > 0
    # aggregate holdout purchases: -9.0% (BG/NBD -12.1%; the former H / h scaling: -1.5% with the default
    # learner, +18% with these settings)
    actual = cdnow_sample_cal["frequency_holdout"].sum()
    assert 100 * (pred["expected_purchases"].sum() - actual) / actual == pytest.approx(-9.0, abs=0.5)
    assert list(pred.columns) == ["expected_purchases", "expected_revenue", "expected_spend"]
    assert pred.index.equals(cdnow_sample_cal.index)
    assert (pred.to_numpy() >= 0).all() and np.isfinite(pred.to_numpy()).all()
    assert "first_purchase_value" in base.feature_names_
    # it learns something: predictions rise with calibration frequency
    by_f = pred["expected_purchases"].groupby(np.minimum(cdnow_sample_cal["frequency"], 3)).mean()
    assert by_f.is_monotonic_increasing


def test_temporal_is_deterministic(temporal, cdnow_sample_cal, cdnow_sample_tx):
    _, pred = temporal
    again = GradientBoostingBaseline(**FAST).fit_predict(cdnow_sample_cal, cdnow_sample_tx)
    pd.testing.assert_frame_equal(pred, again)


def test_temporal_level_comes_from_the_decay_curve(temporal, cdnow_sample_cal, cdnow_sample_tx):
    # the learner shares the total out; the total (last window carried along the curve) does not depend on it
    _, pred = temporal
    other = GradientBoostingBaseline(max_iter=10, learning_rate=0.3, max_leaf_nodes=4).fit_predict(
        cdnow_sample_cal, cdnow_sample_tx)
    assert other["expected_purchases"].sum() == pytest.approx(pred["expected_purchases"].sum(), rel=1e-9)
    assert other["expected_revenue"].sum() == pytest.approx(pred["expected_revenue"].sum(), rel=1e-9)
    assert not np.allclose(other["expected_purchases"], pred["expected_purchases"])
    with pytest.raises(ConfigError, match="min_cohort_share"):
        GradientBoostingBaseline(min_cohort_share=0).fit_predict(cdnow_sample_cal, cdnow_sample_tx)


def test_crossfit_never_uses_the_customers_own_outcome(cdnow_sample_cal):
    base = GradientBoostingBaseline(strategy="crossfit", n_splits=3, **FAST)
    pred = base.fit_predict(cdnow_sample_cal)
    changed = cdnow_sample_cal.copy()
    who = changed.index[10]
    changed.loc[who, "frequency_holdout"] = 50
    pred2 = base.fit_predict(changed)
    assert pred2.loc[who, "expected_purchases"] == pred.loc[who, "expected_purchases"]
    assert not np.allclose(pred2["expected_purchases"], pred["expected_purchases"])  # others did learn from it


def test_errors(cdnow_sample_cal):
    with pytest.raises(ConfigError, match="transaction log"):
        GradientBoostingBaseline().fit_predict(cdnow_sample_cal)
    with pytest.raises(ConfigError, match="strategy"):
        GradientBoostingBaseline(strategy="magic").fit_predict(cdnow_sample_cal)
    with pytest.raises(MissingColumnError, match="frequency_holdout"):
        GradientBoostingBaseline(strategy="crossfit").fit_predict(cdnow_sample_cal.drop(columns="frequency_holdout"))
    with pytest.raises(ConfigError, match="n_splits"):
        GradientBoostingBaseline(strategy="crossfit", n_splits=1).fit_predict(cdnow_sample_cal)


def _log():
    return pd.DataFrame({"customer_id": [1, 1, 1, 2, 2, 3],
                         "date": pd.to_datetime(["2020-01-02", "2020-01-02", "2020-02-01", "2020-01-05",
                                                 "2020-01-09", "2020-03-01"]),
                         "amount": [10.0, 5.0, 7.0, 0.0, 3.0, 20.0]})


def test_first_purchase_value():
    opts = clv.data.SummaryOptions.build()
    v = first_purchase_value(_log(), opts)
    assert v.to_dict() == {1: 15.0, 2: 0.0, 3: 20.0}
    assert first_purchase_value(_log(), opts, cutoff="2020-01-31").to_dict() == {1: 15.0, 2: 0.0}
    # the summary's rules: merged by month, customer 2's two January purchases are one
    monthly = clv.data.SummaryOptions.build(merge="M")
    assert first_purchase_value(_log(), monthly).to_dict() == {1: 15.0, 2: 3.0, 3: 20.0}


def test_add_first_purchase_value_is_centred_and_checks_ids():
    summary = clv.rfm_summary(_log(), observation_end="2020-03-01")
    out = add_first_purchase_value(summary, _log())
    expected = np.log1p([15.0, 0.0, 20.0])
    np.testing.assert_allclose(out["log_first_value"], expected - expected.mean())
    assert out.attrs["first_value_center"] == pytest.approx(expected.mean())
    assert isinstance(out, clv.RFMSummary) and out.time_unit == "W"
    assert "log_first_value" not in summary.columns   # the input is not modified
    with pytest.raises(DataValidationError, match="no transactions"):
        add_first_purchase_value(summary.rename(index={3: 99}), _log())
