"""evaluate(): CDNOW reference numbers, internal consistency, JSON, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import DataValidationError, InvalidValueError, MissingColumnError
from clvmodels.evaluate import METRIC_DESCRIPTIONS, evaluate

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", section 5 (CDNOW sample)
FHL_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves", section 4
FHL_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def pareto_eval(pareto_sample, cdnow_sample_cal):
    return evaluate(cdnow_sample_cal, pareto_sample)


@pytest.fixture(scope="module")
def bg_eval(cdnow_sample_cal, cdnow_sample_tx):
    return evaluate(cdnow_sample_cal, clv.BGNBD.from_params(**FHL_BGNBD), clv.GammaGamma.from_params(**FHL_GG),
                    transactions=cdnow_sample_tx, name="BG/NBD")


def test_conditional_expectations_match_the_btyd_walkthrough(pareto_eval):
    tab = pareto_eval.conditional_expectations
    assert tab.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    # calibration histogram x = 0..6, 7+ (FHL 2005, Figure 1; design notes section 5)
    assert tab["n_customers"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    # BTYD walkthrough (McCarthy & Wadsworth 2014), Pareto/NBD conditional expectations on the CDNOW sample,
    # comp["transaction.actual"] (= FHL 2005 Figure 4's actual series)
    np.testing.assert_allclose(tab["actual"], [0.2367116, 0.6970387, 1.392523, 1.560000, 2.532258, 2.947368,
                                               3.862069, 6.359375], rtol=1e-6)
    # ... and comp["transaction.expected"] with the walkthrough's MLE (printed to 3-4 digits there; the same row
    # appears in public re-runs of the walkthrough, e.g. 0.138 0.600 1.196 1.714 2.399 2.907 3.819 6.403)
    np.testing.assert_allclose(tab["predicted"], [0.1385, 0.5996, 1.196, 1.714, 2.399, 2.907, 3.819, 6.403],
                               atol=1.5e-3)


def test_holdout_totals_and_per_customer_metrics(pareto_eval, pareto_sample, cdnow_sample_cal):
    m = pareto_eval.metrics
    pred = pareto_sample.expected_purchases(cdnow_sample_cal, t=39.0).to_numpy()
    act = cdnow_sample_cal["frequency_holdout"].to_numpy()
    assert m["n_customers"] == 2357 and m["holdout_duration"] == 39.0
    assert m["purchases_actual"] == 1882   # weeks 40-78 repeat purchases of the CDNOW sample
    assert m["purchases_predicted"] == pytest.approx(pred.sum())
    assert m["aggregate_error_pct"] == pytest.approx(100 * (pred.sum() - 1882) / 1882)
    assert m["mae"] == pytest.approx(np.abs(pred - act).mean())
    assert m["rmse"] == pytest.approx(np.sqrt(((pred - act) ** 2).mean()))
    assert m["correlation"] == pytest.approx(np.corrcoef(pred, act)[0, 1])
    assert 0.5 < m["correlation"] < 0.8 and 0.6 < m["p_alive_auc"] < 0.9
    # the conditional-expectation table is the per-bin mean of the same predictions
    tab = pareto_eval.conditional_expectations
    assert (tab["predicted"] * tab["n_customers"]).sum() == pytest.approx(pred.sum())


def test_revenue_and_ranking_metrics(bg_eval, cdnow_sample_cal):
    m = bg_eval.metrics
    rev = (cdnow_sample_cal["frequency_holdout"] * cdnow_sample_cal["monetary_value_holdout"]).to_numpy()
    assert m["revenue_actual"] == pytest.approx(rev.sum())
    p = bg_eval.predictions
    assert np.allclose(p["expected_revenue"], p["expected_purchases"] * p["expected_spend"])
    assert m["revenue_predicted"] == pytest.approx(p["expected_revenue"].sum())
    assert bg_eval.settings["revenue_score"] == "expected_revenue"
    # a model ranking is far better than random (10%) and below the oracle
    assert 0.3 < m["revenue_top_capture"] < m["revenue_top_capture_oracle"] <= 1
    assert m["revenue_top_lift"] == pytest.approx(10 * m["revenue_top_capture"])
    assert 0 < m["revenue_normalized_gini"] < 1


def test_spend_calibration_and_tracking(bg_eval, cdnow_sample_cal):
    cal = cdnow_sample_cal
    n = int(((cal["frequency"] > 0) & (cal["frequency_holdout"] > 0)).sum())
    assert bg_eval.metrics["spend_n_customers"] == n == bg_eval.spend_calibration["n_customers"].sum()
    assert abs(bg_eval.metrics["spend_bias_pct"]) < 15
    assert bg_eval.tracking is not None and len(bg_eval.tracking) == 78
    assert bg_eval.metrics["tracking_holdout_actual"] == 1882
    assert bg_eval.metrics["tracking_calibration_actual"] == 2457


def test_table_and_json(bg_eval, tmp_path):
    tab = bg_eval.table
    assert list(tab.columns) == ["model", "section", "metric", "value", "description"]
    assert len(tab) == len(bg_eval.metrics)
    assert set(tab["section"]) == {"purchases", "revenue", "spend", "tracking"}
    assert (tab["model"] == "BG/NBD").all()
    assert all(k in METRIC_DESCRIPTIONS for k in bg_eval.metrics)
    path = tmp_path / "metrics.json"
    text = bg_eval.to_json(path)
    data = json.loads(path.read_text())
    assert json.loads(text) == data
    assert data["format"] == "clvmodels.evaluation/1" and data["model"] == "BG/NBD"
    assert data["metrics"]["mae"] == pytest.approx(bg_eval.metrics["mae"])
    assert [r["frequency"] for r in data["conditional_expectations"]][-1] == "7+"
    assert len(data["tracking"]["periods"]) == 78 and data["tracking"]["totals"]["actual_holdout"] == 1882
    assert "predictions" not in data
    assert len(bg_eval.to_dict(include_predictions=True)["predictions"]) == 2357


def test_nan_becomes_null_in_json(cdnow_sample_cal):
    preds = pd.DataFrame({"expected_purchases": np.ones(len(cdnow_sample_cal))}, index=cdnow_sample_cal.index)
    ev = evaluate(cdnow_sample_cal, predictions=preds, name="constant")
    assert math.isnan(ev.metrics["correlation"])
    assert json.loads(ev.to_json())["metrics"]["correlation"] is None
    assert ev.settings["revenue_score"] == "expected_purchases"


def test_predictions_path_equals_model_path(bg_eval, cdnow_sample_cal):
    p = bg_eval.predictions
    shuffled = p[["expected_purchases", "expected_spend", "p_alive"]].sample(frac=1.0, random_state=1)
    ev = evaluate(cdnow_sample_cal, predictions=shuffled, name="same")
    for key in ("mae", "rmse", "correlation", "aggregate_error_pct", "revenue_top_capture", "p_alive_auc",
                "revenue_normalized_gini", "spend_mae"):
        assert ev.metrics[key] == pytest.approx(bg_eval.metrics[key], rel=1e-12), key


def test_clv_score_ranking(bg_eval, cdnow_sample_cal):
    score = bg_eval.predictions["expected_revenue"]
    ev = evaluate(cdnow_sample_cal, predictions=bg_eval.predictions[["expected_purchases"]], score=score)
    assert ev.metrics["clv_top_capture"] == pytest.approx(bg_eval.metrics["revenue_top_capture"])


def test_free_repeat_buyers_follow_the_spend_models_own_policy(cdnow_sample_cal):
    # regression (contracts issue, bug 9): evaluate used to turn the model's nonpositive_spend="error"
    # into "population" silently; now the spend model's own policy applies, whatever the caller
    cal = cdnow_sample_cal.copy()
    who = cal.index[(cal["frequency"] > 0)][0]
    cal.loc[who, "monetary_value"] = 0.0
    bg = clv.BGNBD.from_params(**FHL_BGNBD)
    with pytest.raises(InvalidValueError, match="non-positive mean spend") as e:
        evaluate(cal, bg, clv.GammaGamma.from_params(**FHL_GG))
    assert e.value.examples == [who]
    population = clv.GammaGamma.from_params(**FHL_GG).set_params(nonpositive_spend="population")
    ev = evaluate(cal, bg, population)
    assert ev.predictions.loc[who, "expected_spend"] == pytest.approx(population.expected_spend_new())
    zero = clv.GammaGamma.from_params(**FHL_GG).set_params(nonpositive_spend="zero")
    x = cal.loc[who, "frequency"]
    p, q, v = FHL_GG["p"], FHL_GG["q"], FHL_GG["v"]
    ev = evaluate(cal, bg, zero)
    assert ev.predictions.loc[who, "expected_spend"] == pytest.approx(p * v / (p * x + q - 1))  # mbar = 0


def test_errors(cdnow_sample_cal, pareto_sample):
    with pytest.raises(MissingColumnError, match="frequency_holdout"):
        evaluate(cdnow_sample_cal.drop(columns="frequency_holdout"), pareto_sample)
    with pytest.raises(DataValidationError, match="either"):
        evaluate(cdnow_sample_cal)
    preds = pd.DataFrame({"expected_purchases": [1.0]}, index=cdnow_sample_cal.index[:1])
    with pytest.raises(DataValidationError, match="no value"):
        evaluate(cdnow_sample_cal, predictions=preds)
    with pytest.raises(MissingColumnError, match="expected_purchases"):
        evaluate(cdnow_sample_cal, predictions=preds.rename(columns={"expected_purchases": "x"}))
    with pytest.raises(DataValidationError, match="calibration_holdout"):   # a plain frame cannot say how to read
        evaluate(pd.DataFrame(cdnow_sample_cal), pareto_sample, transactions=clv.datasets.cdnow_transactions(sample=True))


def test_bayesian_predictions_are_posterior_means(cdnow_sample_cal, cdnow_sample_tx):
    az = pytest.importorskip("arviz")
    # a posterior concentrated on the FHL 2005 estimates must give the MLE model's numbers
    post = {k: np.full((2, 3), v) for k, v in FHL_BGNBD.items()}
    bayes = clv.bayes.BGNBD()
    bayes.idata_ = az.from_dict(posterior=post)
    bayes.time_unit_ = "W"
    mle = clv.BGNBD.from_params(**FHL_BGNBD)
    ev_b = evaluate(cdnow_sample_cal, bayes, transactions=cdnow_sample_tx)
    ev_m = evaluate(cdnow_sample_cal, mle, transactions=cdnow_sample_tx)
    assert ev_b.settings["kind"] == "posterior mean over 6 draws" and ev_m.settings["kind"] == "point estimate"
    for key in ("mae", "correlation", "p_alive_auc", "tracking_holdout_expected", "revenue_top_capture"):
        assert ev_b.metrics[key] == pytest.approx(ev_m.metrics[key], rel=1e-10), key
