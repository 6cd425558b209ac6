"""RFM summary: the papers' conventions, the documented options, and the report of what is left out."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import DataDroppedWarning, InvalidValueError
from clvmodels.timeunits import DAYS_PER_UNIT

ENGINES = ["pandas", "duckdb"]


def summarise(tx, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        return clv.rfm_summary(tx, **kw)


@pytest.fixture(scope="module")
def cdnow_sample_summary():
    tx = clv.datasets.cdnow_transactions(sample=True)
    return summarise(tx, observation_end="1997-09-30", time_unit="W")


def test_cdnow_sample_histogram_matches_paper(cdnow_sample_summary):
    s = cdnow_sample_summary
    # Fader, Hardie & Lee (2005) "Counting your customers the easy way", 2,357 customers,
    # calibration repeat-purchase histogram x = 0..6, 7+ (their Figure 2 / design.md sec. 5)
    assert len(s) == 2357
    hist = s["frequency"].clip(upper=7).value_counts().sort_index().tolist()
    assert hist == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert int(s["frequency"].sum()) == 2457


def test_cdnow_sample_matches_published_summary(cdnow_sample_summary):
    # published summary (cdnow_customers_summary_with_transactions, FHL 2005 data) is rounded to 2 decimals
    pub = clv.datasets.cdnow_summary()
    s = cdnow_sample_summary.loc[pub.index]
    assert (s["frequency"].to_numpy() == pub["frequency"].to_numpy()).all()
    for col in ["recency", "T", "monetary_value"]:
        assert np.abs(s[col] - pub[col]).max() <= 0.005 + 1e-9, col


def test_cdnow_customer_one(cdnow_sample_summary):
    # customer 1 of the sample: purchases 1997-01-01, 1997-01-18, 1997-08-02 (CDNOW_sample.txt)
    row = cdnow_sample_summary.loc[1]
    assert row["frequency"] == 2
    assert row["recency"] == pytest.approx(213 / 7)
    assert row["T"] == pytest.approx(272 / 7)
    assert row["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)


@pytest.mark.parametrize("unit", ["D", "W", "M", "Y"])
def test_time_units_are_exact(unit, small_log):
    days = summarise(small_log, observation_end="2021-12-31", time_unit="D")
    other = summarise(small_log, observation_end="2021-12-31", time_unit=unit)
    np.testing.assert_allclose(other["T"] * DAYS_PER_UNIT[unit], days["T"], rtol=1e-13)
    np.testing.assert_allclose(other["recency"] * DAYS_PER_UNIT[unit], days["recency"], rtol=1e-13)
    assert DAYS_PER_UNIT["M"] == 365.25 / 12


def log(rows):
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).assign(date=lambda d: pd.to_datetime(d["date"], format="ISO8601"))


TINY = [
    ("a", "2021-01-04 09:00", 10.0),   # Monday
    ("a", "2021-01-04 18:00", 5.0),    # same day: merged with the row above under merge='D'
    ("a", "2021-01-06", 20.0),          # same ISO week
    ("a", "2021-02-10", 40.0),
    ("b", "2021-01-31", 8.0),
    ("b", "2021-02-01", 12.0),          # next day, next month, same ISO week (Sun -> Mon? no: Sun 31, Mon 1)
]


@pytest.mark.parametrize("engine", ENGINES)
def test_merge_periods(engine):
    tx = log(TINY)
    d = summarise(tx, observation_end="2021-02-28", time_unit="D", merge="D", engine=engine)
    assert d.loc["a", "frequency"] == 2           # Jan 4 (15.0), Jan 6, Feb 10
    assert d.loc["a", "recency"] == 37
    assert d.loc["a", "monetary_value"] == pytest.approx(30.0)
    w = summarise(tx, observation_end="2021-02-28", time_unit="D", merge="W", engine=engine)
    assert w.loc["a", "frequency"] == 1           # week of Jan 4 (35.0), week of Feb 8
    assert w.loc["a", "monetary_value"] == pytest.approx(40.0)
    assert w.loc["b", "frequency"] == 1           # Sunday Jan 31 and Monday Feb 1 are different ISO weeks
    m = summarise(tx, observation_end="2021-02-28", time_unit="D", merge="M", engine=engine)
    assert m.loc["a", "frequency"] == 1 and m.loc["b", "frequency"] == 1
    n = summarise(tx, observation_end="2021-02-28", time_unit="D", merge=None, engine=engine)
    assert n.loc["a", "frequency"] == 3           # every distinct timestamp is a purchase
    assert n.loc["a", "T"] == pytest.approx(55 - 9 / 24)  # exact time from 09:00 on Jan 4 to Feb 28 00:00


@pytest.mark.parametrize("engine", ENGINES)
def test_monetary_value_conventions(engine):
    tx = log(TINY)
    fh = summarise(tx, observation_end="2021-02-28", engine=engine)
    allp = summarise(tx, observation_end="2021-02-28", engine=engine, monetary_includes_first=True)
    assert fh.loc["a", "monetary_value"] == pytest.approx((20 + 40) / 2)
    assert allp.loc["a", "monetary_value"] == pytest.approx((15 + 20 + 40) / 3)
    single = log([("z", "2021-01-01", 9.0)])
    assert summarise(single, observation_end="2021-01-10", engine=engine).loc["z", "monetary_value"] == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_without_amounts(engine):
    tx = log(TINY).drop(columns="amount")
    s = summarise(tx, observation_end="2021-02-28", amount_col=None, engine=engine)
    assert list(s.columns) == ["frequency", "recency", "T"]


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_policies(engine):
    rows = TINY + [("a", "2021-02-10", -40.0), ("c", "2021-01-02", -3.0), ("b", "2021-01-15", 0.0)]
    tx = log(rows)
    with pytest.raises(InvalidValueError, match=r"'amount'.*negative.*'a'"):
        clv.rfm_summary(tx, observation_end="2021-02-28", engine=engine)
    with pytest.warns(DataDroppedWarning, match="3 transaction"):
        dropped = clv.rfm_summary(tx, observation_end="2021-02-28", returns="drop", engine=engine)
    assert "c" not in dropped.index
    assert dropped.report.n_rows_dropped_returns == 3
    assert dropped.report.n_customers_dropped == 1
    assert dropped.report.dropped_customer_examples == ["c"]
    with pytest.warns(DataDroppedWarning, match="net amount"):
        net = clv.rfm_summary(tx, observation_end="2021-02-28", returns="net", engine=engine)
    # the Feb 10 order of 'a' is cancelled by its return; b's free Jan 15 row nets to 0 and is dropped
    assert net.loc["a", "frequency"] == 1
    assert net.loc["b", "frequency"] == 1
    assert net.report.n_purchases_dropped_net_nonpositive == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_after_observation_end_is_counted(engine, small_log):
    with pytest.warns(DataDroppedWarning, match="after observation_end"):
        s = clv.rfm_summary(small_log, observation_end="2021-06-30", engine=engine)
    n_after = int((small_log["date"] > "2021-06-30 23:59:59.999999").sum())
    assert s.report.n_rows_after_observation_end == n_after > 0
    first = small_log.groupby("customer_id")["date"].min()
    assert set(s.index) == set(first[first <= "2021-06-30"].index)


def test_default_observation_end_is_last_date(small_log):
    s = summarise(small_log)
    assert s["T"].min() == 0 or (s["T"] >= 0).all()
    assert s.describe_facts()["observation_end"] == str(small_log["date"].max().date())


def test_input_not_mutated(small_log):
    before = small_log.copy(deep=True)
    summarise(small_log, observation_end="2021-06-30")
    pd.testing.assert_frame_equal(small_log, before)


def test_timezone_aware_dates_use_their_wall_time():
    tx = log(TINY)
    aware = tx.assign(date=tx["date"].dt.tz_localize("Europe/Berlin"))
    pd.testing.assert_frame_equal(summarise(aware, observation_end="2021-02-28"),
                                  summarise(tx, observation_end="2021-02-28"), check_like=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_calibration_holdout(engine):
    rows = TINY + [("a", "2021-03-05", 7.0), ("a", "2021-03-20", 9.0), ("b", "2021-04-01", 3.0),
                   ("d", "2021-03-10", 1.0)]  # d starts in the holdout: not a calibration customer
    with pytest.warns(DataDroppedWarning, match="1 transaction"):
        cal = clv.calibration_holdout(log(rows), calibration_end="2021-02-28", observation_end="2021-03-31",
                                      time_unit="D", engine=engine)
    assert list(cal.index) == ["a", "b"]
    assert cal.loc["a", "frequency_holdout"] == 2
    assert cal.loc["a", "monetary_value_holdout"] == pytest.approx(8.0)
    assert cal.loc["b", "frequency_holdout"] == 0          # April 1 is after observation_end
    assert cal.loc["b", "monetary_value_holdout"] == 0.0
    assert (cal["duration_holdout"] == 31).all()
    assert cal.report.n_customers_first_purchase_after_end == 1
    assert cal.report.n_rows_after_observation_end == 1


def test_cdnow_calibration_holdout_matches_rfm():
    tx = clv.datasets.cdnow_transactions(sample=True)
    cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    s = summarise(tx, observation_end="1997-09-30")
    pd.testing.assert_frame_equal(cal[s.columns], s)
    # 39-week holdout (FHL 2005: weeks 40-78)
    assert (cal["duration_holdout"] == 39).all()
    full = summarise(tx, observation_end="1998-06-30")
    # purchases over 78 weeks = calibration purchases + holdout purchases, customer by customer
    np.testing.assert_array_equal(full["frequency"], cal["frequency"] + cal["frequency_holdout"])
