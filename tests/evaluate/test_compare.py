"""compare_models(): ranking, recommendation, fitted models kept, failures reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

import clvmodels as clv
from clvmodels.errors import CLVError, CLVWarning
from clvmodels.evaluate import GradientBoostingBaseline, compare_models


@pytest.fixture(scope="module")
def comparison(cdnow_sample_cal, cdnow_sample_tx):
    return compare_models(cdnow_sample_cal, transactions=cdnow_sample_tx,
                          baseline=GradientBoostingBaseline(max_iter=25, learning_rate=0.1))


def test_default_comparison(comparison):
    tab = comparison.table
    assert set(tab.index) == {"BG/NBD", "Pareto/NBD", "MBG/NBD", "Gradient boosting (temporal)"}
    assert list(tab.columns[:6]) == ["kind", "aggregate_error_pct", "mae", "correlation", "revenue_top_capture",
                                     "mean_rank"]
    prob = tab[tab["kind"] == "probabilistic"]
    assert comparison.recommended == prob["mean_rank"].idxmin()
    assert comparison.recommended in comparison.reason
    assert "Gradient boosting (temporal)" in comparison.reason
    # ranks: 1 for the best probabilistic MAE, ranks are consistent with the metric
    best_mae = prob["mae"].idxmin()
    assert tab.loc[best_mae, "rank_mae"] == 1
    order = prob.sort_values("correlation", ascending=False).index
    assert list(prob.loc[order, "rank_correlation"]) == sorted(prob["rank_correlation"])
    assert prob["mean_rank"].is_monotonic_increasing   # the table is sorted by mean rank
    # the fitted models and the shared Gamma-Gamma are kept; CDNOW published BG/NBD estimates (FHL 2005)
    bg = comparison.models["BG/NBD"]
    np.testing.assert_allclose(bg.params_[["r", "alpha", "a", "b"]], [0.243, 4.414, 0.793, 2.426], atol=2e-3)
    np.testing.assert_allclose(comparison.spend_model.params_, [6.25, 3.74, 15.44], rtol=5e-3)
    assert set(comparison.evaluations) == set(tab.index)


def test_comparison_json(comparison, tmp_path):
    data = json.loads(comparison.to_json(tmp_path / "cmp.json"))
    assert data["recommended"] == comparison.recommended
    assert [row["model"] for row in data["table"]] == list(comparison.table.index)
    assert data["criteria"][0] == ["aggregate_error_pct", "abs"]
    assert set(data["evaluations"]) == set(comparison.table.index)


def test_fitted_models_are_used_as_given(cdnow_sample_cal):
    fixed = clv.BGNBD.from_params(r=0.3, alpha=5.0, a=0.8, b=2.5)
    cmp = compare_models(cdnow_sample_cal, {"fixed": fixed, "fitted": clv.BGNBD()}, spend_model=None)
    assert cmp.models["fixed"] is fixed
    assert cmp.models["fitted"].params_["r"] == pytest.approx(0.243, abs=2e-3)
    assert "Gradient boosting" not in " ".join(cmp.table.index)
    assert any("baseline" in n for n in cmp.notes)   # no transactions: the baseline was skipped, and said so
    assert "revenue_top_capture" in cmp.table.columns   # monetary columns present: revenue ranking by purchases


class _Broken:
    def fit(self, summary):
        raise CLVError("cannot fit")

    def get_params(self, deep=False):
        return {}


def test_failed_model_is_reported_and_skipped(cdnow_sample_cal):
    with pytest.warns(CLVWarning, match="broken"):
        cmp = compare_models(cdnow_sample_cal, {"broken": _Broken(), "ok": clv.ParetoNBD()}, spend_model=None)
    assert list(cmp.table.index) == ["ok"]
    assert any(n.startswith("broken") for n in cmp.notes)


def test_without_money_the_ranking_uses_purchases(cdnow_sample_cal):
    summary = cdnow_sample_cal.drop(columns=["monetary_value", "monetary_value_holdout"])
    cmp = compare_models(summary, {"BG/NBD": clv.BGNBD(), "Pareto/NBD": clv.ParetoNBD()})
    assert ("purchases_top_capture", "max") in cmp.criteria
    assert "rank_purchases_top_capture" in cmp.table.columns
    assert cmp.spend_model is None


def test_free_repeat_purchases_follow_the_one_default_policy(cdnow_sample_cal):
    # regression (contracts issue, bug 9): compare_models used "population" while the pipeline and
    # the model default to "error"; now the spend model's own default applies everywhere
    from clvmodels.errors import DataDroppedWarning, InvalidValueError

    cal = cdnow_sample_cal.copy()
    who = cal.index[cal["frequency"] > 0][0]
    cal.loc[who, "monetary_value"] = 0.0
    with pytest.raises(InvalidValueError, match="nonpositive_spend") as e:
        compare_models(cal, {"BG/NBD": clv.BGNBD()})
    assert e.value.examples == [who]
    with pytest.warns(DataDroppedWarning, match="monetary_value <= 0"):
        cmp = compare_models(cal, {"BG/NBD": clv.BGNBD()},
                             spend_model=clv.GammaGamma(nonpositive_spend="population"))
    spend = cmp.evaluations["BG/NBD"].predictions.loc[who, "expected_spend"]
    assert spend == pytest.approx(cmp.spend_model.expected_spend_new())
