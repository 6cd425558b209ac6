"""Cohort tracking: the BTYD walkthrough's CDNOW numbers and hand-built logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import ConfigError, DataValidationError
from clvmodels.evaluate import repeat_purchase_log, tracking, tracking_metrics


@pytest.fixture(scope="module")
def sample_track(pareto_sample, cdnow_sample_tx, cdnow_sample_cal):
    return tracking(pareto_sample, cdnow_sample_tx, cdnow_sample_cal)


def test_cdnow_sample_tracking_matches_btyd_walkthrough(sample_track):
    # BTYD walkthrough (McCarthy & Wadsworth 2014, "Buy 'Til You Die - A Walkthrough", section 2.5,
    # Pareto/NBD on the CDNOW sample): cum.tracking[, 20:25] and inc.tracking[, 20:25]
    #   actual   1359 1414 1484 1517 1573 1672      73.00 55.00 70.00 33.00 56.00 99.00
    #   expected 1309 1385 1460 1533 1604 1674      78.31 76.42 74.65 72.98 71.41 69.93
    # (the same numbers are the reference of lifetimes 0.11.3 tests/test_utils.py). Our Pareto/NBD is
    # the MLE on the same data (FHL 2005 r=0.553, alpha=10.578, s=0.606, beta=11.669).
    weeks = sample_track.loc[20:25]
    assert weeks["actual_cumulative"].tolist() == [1359, 1414, 1484, 1517, 1573, 1672]
    assert weeks["actual"].tolist() == [73, 55, 70, 33, 56, 99]
    assert np.round(weeks["expected_cumulative"].to_numpy()).tolist() == [1309, 1385, 1460, 1533, 1604, 1674]
    np.testing.assert_allclose(weeks["expected"].to_numpy(), [78.31, 76.42, 74.65, 72.98, 71.41, 69.93], atol=0.015)


def test_cdnow_sample_tracking_totals(sample_track, cdnow_sample_cal):
    assert len(sample_track) == 78
    assert sample_track["holdout"].sum() == 39 and sample_track["complete"].all()
    assert sample_track.loc[40, "period_start"] == pd.Timestamp("1997-10-01")
    totals = sample_track.attrs["totals"]
    # calibration repeat purchases = sum of x = 2457 (FHL 2005, Figure 1 histogram; design notes section 5)
    assert totals["actual_calibration"] == 2457 == sample_track.loc[39, "actual_cumulative"]
    # holdout repeat purchases from the log agree with the summary's frequency_holdout
    assert totals["actual_holdout"] == cdnow_sample_cal["frequency_holdout"].sum() == 1882
    m = tracking_metrics(sample_track)
    assert m["tracking_holdout_expected"] == pytest.approx(
        sample_track.loc[78, "expected_cumulative"] - sample_track.loc[39, "expected_cumulative"])
    assert m["tracking_holdout_error_pct"] == pytest.approx(100 * (m["tracking_holdout_expected"] - 1882) / 1882)
    assert -10 < m["tracking_holdout_error_pct"] < -5   # the Pareto/NBD under-forecasts weeks 40-78 on CDNOW
    assert m["tracking_period_mae"] > 0 and 0 < m["tracking_period_correlation"] < 1


def _log():
    return pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b", "c", "d"],
        "date": pd.to_datetime(["2020-01-01 08:00", "2020-01-01 17:00", "2020-01-03 00:00", "2020-01-20 00:00",
                                "2020-01-09 00:00", "2020-01-15 00:00", "2020-01-02 00:00", "2020-02-20 00:00"]),
    })


def _cal(cal_end, obs_end, log=None):
    return clv.calibration_holdout(_log() if log is None else log, cal_end, obs_end, amount_col=None)


def test_repeat_purchase_log_merges_days_and_drops_first():
    rep, births = repeat_purchase_log(_log(), _cal("2020-01-31", "2020-02-20"))
    assert births.to_dict() == {"a": pd.Timestamp("2020-01-01"), "b": pd.Timestamp("2020-01-09"),
                                "c": pd.Timestamp("2020-01-02")}   # d is born after the cohort end
    assert sorted(zip(rep["customer_id"], rep["day"].dt.strftime("%m-%d"))) == [("a", "01-03"), ("a", "01-20"),
                                                                                ("b", "01-15")]


def test_tracking_actuals_on_a_hand_built_log():
    track = tracking(None, _log(), _cal("2020-01-14", "2020-01-21"), period="W")
    # weeks from 2020-01-01: [01-01, 01-08), [01-08, 01-15), [01-15, 01-22)
    assert track["actual"].tolist() == [1, 0, 2]
    assert track["holdout"].tolist() == [False, False, True]
    assert track.attrs["totals"]["actual_calibration"] == 1
    assert track.attrs["totals"]["actual_holdout"] == 2
    assert "expected" not in track.columns
    with pytest.raises(DataValidationError, match="no model columns"):
        tracking_metrics(track)


def test_tracking_partial_last_period_and_errors(pareto_sample):
    track = tracking(pareto_sample, _log(), _cal("2020-01-14", "2020-01-24"), period="W")
    assert track["complete"].tolist() == [True, True, True, False]
    # the expected curve is evaluated at the observation end for the partial period
    assert track.attrs["totals"]["expected_holdout"] == pytest.approx(
        track["expected_cumulative"].iloc[-1] - track.attrs["totals"]["expected_calibration"])
    with pytest.raises(ConfigError, match="after calibration_end"):
        _cal("2020-01-14", "2020-01-10")
    with pytest.raises(DataValidationError, match="no purchases in the log") as e:
        tracking(pareto_sample, _log(), _cal("2020-01-14", "2020-01-24").rename(index={"a": "zz"}))
    assert e.value.examples == ["zz"]
    with pytest.raises(DataValidationError, match="calibration_holdout"):   # a summary that cannot say how
        tracking(pareto_sample, _log(), pd.DataFrame(_cal("2020-01-14", "2020-01-24")))


def test_expected_curve_is_the_sum_of_new_customer_expectations(pareto_sample):
    log = _log()
    track = tracking(pareto_sample, log, _cal("2020-01-14", "2020-01-28"), period="W")
    births_days = np.array([0, 8, 1])   # a, b, c relative to 2020-01-01
    t_end = 28 / 7.0                     # end of week 4 in weeks
    direct = sum(pareto_sample.expected_purchases_new(t_end - b / 7.0) for b in births_days)
    assert track["expected_cumulative"].iloc[-1] == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("budget", [None, 0])
def test_cohort_curve_of_a_covariate_model(monkeypatch, budget):
    az = pytest.importorskip("arviz")
    from clvmodels.forecast import predict
    from clvmodels.math import bgnbd

    if budget is not None:   # force the plug-in path (identical here: every draw is the same)
        monkeypatch.setattr(predict, "_COHORT_BUDGET", budget)
    p = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    coef = 0.5
    post = {k: np.full((1, 3), v) for k, v in p.items()}
    post["purchase_coef"] = np.full((1, 3, 1), coef)
    model = clv.bayes.BGNBD(purchase_covariates=["z"])
    model.idata_ = az.from_dict(posterior=post, coords={"purchase_covariate": ["z"]},
                                dims={"purchase_coef": ["purchase_covariate"]})
    model.time_unit_ = "W"
    log = _log()
    summary = _cal("2020-01-14", "2020-01-28").assign(z=[1.0, -1.0, 0.0])    # customers a, b, c
    assert list(summary.index) == ["a", "b", "c"]
    track = tracking(model, log, summary)
    births = np.array([0, 8, 1]) / 7.0
    alpha_i = p["alpha"] * np.exp(-coef * summary["z"].to_numpy())
    direct = sum(float(bgnbd.expected_purchases_new(p["r"], al, p["a"], p["b"], 4.0 - b)) for al, b in zip(alpha_i, births))
    assert track["expected_cumulative"].iloc[-1] == pytest.approx(direct, rel=1e-10)
    method = track.attrs["totals"]["expected_method"]
    assert method.startswith("plug-in") if budget == 0 else method == "posterior mean over 3 draws"


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_tracking_counts_the_purchases_the_summary_counts(tmp_path, engine, pareto_sample):
    # regression (contracts issue, bug 12): tracking parsed the log itself - refund rows counted as
    # purchases (11,751 holdout purchases against 11,088 in the summary on one log). It now reads the
    # log through the data layer with the summary's own options, from a DataFrame or a CSV path.
    rng = np.random.default_rng(8)
    tx = clv.datasets.cdnow_transactions(sample=True)
    refunds = tx.sample(300, random_state=3).assign(amount=lambda d: -d["amount"],
                                                    date=lambda d: d["date"] + pd.Timedelta(days=1))
    tx = pd.concat([tx, refunds]).sample(frac=1.0, random_state=int(rng.integers(1000)))
    source = tx
    if engine == "duckdb":
        tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "tx.csv", index=False)
        source = str(tmp_path / "tx.csv")
    summary = clv.calibration_holdout(source, "1997-09-30", "1998-06-30", returns="drop")
    track = tracking(pareto_sample, source, summary)
    totals = track.attrs["totals"]
    assert totals["actual_holdout"] == summary["frequency_holdout"].sum()
    assert totals["actual_calibration"] == summary["frequency"].sum()


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_late_refund_of_a_calibration_purchase_keeps_the_customer_in_the_cohort(tmp_path, engine, pareto_sample):
    # regression (found trying `clv run` on a messy log): customer 001790's only purchase (2024-06-20) was
    # refunded on 2024-07-07, after calibration_end. The summary keeps that purchase (a refund after the
    # calibration end is never netted against a purchase before it), but the tracking's purchase log netted it,
    # so the customer had no birth and the run stopped with "customer(s) of the summary have no purchases".
    tx = pd.DataFrame({
        "client": ["001790", "001790", "000007", "000007", "000007", "000008", "000008", "000008"],
        "ts": ["2024-06-20T10:15:00+02:00", "2024-07-07T05:28:00+02:00", "2024-03-01T09:00:00+01:00",
               "2024-05-02T09:00:00+02:00", "2024-08-09T18:00:00+02:00", "2024-04-04T12:00:00+02:00",
               "2024-06-29T23:30:00+02:00", "2024-07-01T08:00:00+02:00"],
        "value": [3.55, -3.55, 20.0, 25.0, 30.0, 10.0, 12.0, -12.0],
        "order_id": ["O1", "O1", "O2", "O3", "O4", "O5", "O6", "O6"]})
    source = tx
    if engine == "duckdb":
        tx.to_csv(tmp_path / "tx.csv", index=False)
        source = str(tmp_path / "tx.csv")
    opts = dict(customer_col="client", date_col="ts", amount_col="value", order_col="order_id", returns="match",
                timezone="Europe/Berlin", engine=engine)
    summary = clv.calibration_holdout(source, "2024-06-30", "2024-12-31", **opts)
    assert summary.loc["001790", "frequency"] == 0 and summary.loc["000008", "frequency"] == 1
    repeats, births = repeat_purchase_log(source, summary)
    assert births.index.tolist() == summary.index.tolist()
    assert str(births.loc["001790"].date()) == "2024-06-20"
    # calibration and holdout purchases as the summary counts them (000008's refund of 1 July is a holdout
    # refund with no holdout purchase to cancel: the calibration purchase of 29 June stands)
    counted = repeats.groupby("customer_id").size().reindex(summary.index, fill_value=0)
    assert counted.tolist() == (summary["frequency"] + summary["frequency_holdout"]).astype(int).tolist()
    track = tracking(pareto_sample, source, summary, period="W")
    assert track.attrs["totals"]["actual_holdout"] == summary["frequency_holdout"].sum()
    # the data layer's purchase log, split at the calibration end, is the same on both engines
    log = clv.data.purchase_log(source, summary.options, "2024-12-31", calibration_end="2024-06-30", engine=engine)
    assert log["customer_id"].tolist() == ["000007"] * 3 + ["000008"] * 2 + ["001790"]
