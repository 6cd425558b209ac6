"""The Spark engine gives the pandas engine's summary: frequency, recency and T exactly, money to 1e-12, the same
drop report and warnings, the same typed errors naming the column and the culprits."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
import clvmodels.spark as cs
from clvmodels.errors import ConfigError, DataDroppedWarning, InvalidValueError, MissingColumnError

from .conftest import awkward_log

EXACT = ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")


def assert_same(got: clv.RFMSummary, want: clv.RFMSummary) -> None:
    assert list(got.columns) == list(want.columns)
    assert got.index.tolist() == want.index.tolist()
    exact = [c for c in got.columns if c in EXACT]
    pd.testing.assert_frame_equal(got[exact], want[exact], check_exact=True, check_dtype=False)
    assert (got["frequency"].dtype, got.index.dtype.kind) == (want["frequency"].dtype, want.index.dtype.kind)
    money = [c for c in got.columns if c.startswith("monetary_value")]
    pd.testing.assert_frame_equal(got[money], want[money], check_exact=False, rtol=1e-12, atol=1e-12)
    assert got.report.as_dict() == want.report.as_dict()
    assert (got.time_unit, got.observation_end, got.calibration_end, got.options) == \
        (want.time_unit, want.observation_end, want.calibration_end, want.options)


def run_both(spark, frame, fn_pandas, fn_spark, **kw):
    with warnings.catch_warnings(record=True) as seen_pandas:
        warnings.simplefilter("always", DataDroppedWarning)
        want = fn_pandas(frame, engine="pandas", **kw)
    with warnings.catch_warnings(record=True) as seen_spark:
        warnings.simplefilter("always", DataDroppedWarning)
        got = fn_spark(spark.createDataFrame(frame), **kw)
    seen_spark = [w for w in seen_spark if w.category is DataDroppedWarning]
    seen_pandas = [w for w in seen_pandas if w.category is DataDroppedWarning]
    assert [str(w.message) for w in seen_spark] == [str(w.message) for w in seen_pandas]
    assert all(w.filename == __file__ for w in seen_spark)      # the warning points at the caller
    return cs.to_pandas(got), want


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return awkward_log(seed=3)


def _naive(log):      # the text's own wall time, as a naive datetime column
    return log.assign(date=pd.to_datetime(log["date"].str[:19], format="ISO8601"))


def _aware(log):      # instants (the offsets applied; naive text read as UTC)
    return log.assign(date=pd.to_datetime(log["date"], format="ISO8601", utc=True))


def _day_first(log):  # dd/mm/yyyy HH:MM text without offsets
    return log.assign(date=pd.to_datetime(log["date"].str[:19], format="ISO8601").dt.strftime("%d/%m/%Y %H:%M"))


CASES = {
    "text-offsets-net-berlin": (None, dict(returns="net", timezone="Europe/Berlin")),
    "naive-timestamps-drop-week-merge": (_naive, dict(returns="drop", merge="W", time_unit="M")),
    "match-by-date-exact-times": (None, dict(returns="match", merge=None, time_unit="D", monetary_includes_first=True,
                                             refund_window=10)),
    "match-by-order": (None, dict(returns="match", order_col="order_id")),
    "no-amounts-date-format-month-merge-default-end": (_day_first, dict(amount_col=None, merge="M", time_unit="Y",
                                                                         date_format="%d/%m/%Y %H:%M",
                                                                         observation_end=None)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rfm_summary_agrees_with_the_pandas_engine(spark, log, case):
    shape, kw = CASES[case]
    frame = log if shape is None else shape(log)
    columns = ["customer_id", "date"] + ([] if kw.get("amount_col", "amount") is None else ["amount"]) \
        + (["order_id"] if "order_col" in kw else [])
    got, want = run_both(spark, frame[columns], clv.rfm_summary, cs.rfm_summary,
                         **{"observation_end": "2024-03-31", **kw})
    assert len(want) > 100 and {"7", "07", "007"} <= set(want.index)
    assert_same(got, want)


def test_calibration_holdout_agrees_with_the_pandas_engine(spark, log):
    kw = dict(calibration_end="2023-09-30", observation_end="2024-03-31", returns="net", timezone="America/New_York")
    got, want = run_both(spark, log[["customer_id", "date", "amount"]], clv.calibration_holdout,
                         cs.calibration_holdout, **kw)
    assert want.report.n_customers_first_purchase_after_end > 0 and want["frequency_holdout"].sum() > 0
    assert_same(got, want)


def test_calibration_holdout_on_instants_in_a_zone_and_end_in_periods(spark, log):
    """A Spark TIMESTAMP column is read at its wall time in ``timezone``; calibration_end as a number of periods;
    refunds after the calibration end never touch a calibration purchase."""
    kw = dict(calibration_end=26, returns="match", merge="W", timezone="Asia/Tokyo")
    got, want = run_both(spark, _aware(log)[["customer_id", "date", "amount"]], clv.calibration_holdout,
                         cs.calibration_holdout, **kw)
    assert want.report.n_refunds_matched > 0 and want.report.n_purchases_fully_refunded > 0
    assert_same(got, want)


def _one_culprit_log():
    return pd.DataFrame({"customer_id": ["001", "001", "002", "003"],
                         "date": ["2024-01-01", "2024-01-05", "2024-01-03", "2024-01-04"],
                         "amount": [10.0, 5.0, 7.0, 1.0]})


ERRORS = {   # a change that breaks one rule for customer '002' -> the column the error must name
    "empty-id": (lambda f: f.assign(customer_id=["001", "001", " ", "003"]), {}, "customer_id"),
    "bad-date": (lambda f: f.assign(date=["2024-01-01", "2024-01-05", "03/01/2024", "2024-01-04"]), {}, "date"),
    "text-amount": (lambda f: f.assign(amount=["10", "5", "seven", "1"]), {}, "amount"),
    "negative-amount": (lambda f: f.assign(amount=[10.0, 5.0, -7.0, 1.0]), {}, "amount"),
    "after-observation-end": (lambda f: f.assign(date=["2024-01-01", "2024-01-05", "2024-02-03", "2024-01-04"]),
                              {"observation_end": "2024-01-31", "after_observation_end": "error"}, "date"),
    # amounts whose sums would overflow (hardening issue, item 11): refused naming the customer, not summed to inf
    "amounts-past-1e300": (lambda f: f.assign(amount=[10.0, 5.0, 1.5e308, 1.0]), {}, "amount"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_typed_and_name_the_column_and_the_customer(spark, case):
    change, kw, column = ERRORS[case]
    frame = change(_one_culprit_log())
    with pytest.raises(InvalidValueError) as want:
        clv.rfm_summary(frame, engine="pandas", **kw)
    with pytest.raises(InvalidValueError) as got:
        cs.rfm_summary(spark.createDataFrame(frame), **kw)
    assert got.value.column == column and got.value.n_rows == 1
    if case == "empty-id":        # no customer to name (pandas names the row position instead)
        assert str(got.value) == f"column {column!r}: 1 row(s) have a missing or empty customer id"
    else:
        assert got.value.examples == ["002"]
        # the same message, but for the dtype's name (pandas 'str' or 'object', Spark 'string')
        assert str(got.value) == str(want.value).replace(f"(dtype {frame['amount'].dtype})", "(dtype string)")


def test_missing_columns_and_bad_options_raise_before_any_job(spark):
    tx = spark.createDataFrame(_one_culprit_log().drop(columns=["amount"]))
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) \['amount'\].*amount_col=None") as exc:
        cs.rfm_summary(tx)
    assert exc.value.column == "amount"
    with pytest.raises(ConfigError, match="%a"):
        cs.rfm_summary(tx, amount_col=None, date_format="%a %d %b %Y")
    with pytest.raises(ConfigError, match="must be after calibration_end"):
        cs.calibration_holdout(tx, calibration_end="2024-01-31", observation_end="2024-01-01", amount_col=None)


def test_without_pyspark_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)      # import pyspark.sql now fails
    with pytest.raises(ConfigError, match=r'pip install "clvmodels\[spark\]"'):
        cs.rfm_summary(object())


def test_strptime_formats_become_spark_patterns():
    assert cs.rfm.spark_datetime_pattern("%Y%m%d%H%M") == "yyyyMMddHHm"       # a field before the end takes 1-2 digits
    assert cs.rfm.spark_datetime_pattern("%d.%m.%y at %I%p") == "d'.'M'.'yy' at 'hha"
    assert cs.rfm.spark_datetime_pattern("%Y-%m-%d %H:%M:%S.%f") == "yyyy'-'M'-'d' 'H':'m':'s'.'SSSSSS"
    assert cs.rfm.spark_datetime_pattern("%Y'%m") == "yyyy''''M"


def test_facts_survive_selection_and_are_missing_elsewhere(spark):
    tx = spark.createDataFrame(_one_culprit_log())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        rfm = cs.rfm_summary(tx, observation_end="2024-01-31", time_unit="D")
    facts = cs.summary_facts(rfm.where("frequency > 0").select("customer_id", "T"))
    assert (facts.time_unit, str(facts.observation_end.date()), facts.report.n_rows) == ("D", "2024-01-31", 4)
    assert cs.summary_facts(tx) is None
    assert np.isclose(cs.to_pandas(rfm).loc["001", "T"], 30.0)
