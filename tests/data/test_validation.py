"""One test per validation case: the error type, and a message that names the column and the culprits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import ConfigError, DataValidationError, InvalidValueError, MissingColumnError

# each case runs on a DataFrame (pandas engine), a DataFrame through DuckDB, and a CSV path (SQL checks)
SOURCES = ["pandas", "duckdb", "csv"]


def good_log():
    return pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "d", "e", "f"],
        "date": ["2021-01-01", "2021-01-05", "2021-01-02", "2021-01-03", "2021-01-03", "2021-01-04", "2021-01-09"],
        "amount": [10.0, 12.5, 3.0, 4.0, 5.0, 6.0, 7.0],
    })


def run(tx, source, tmp_path, **kw):
    kw.setdefault("observation_end", "2021-01-31")
    if source == "csv":
        path = tmp_path / "tx.csv"
        tx.to_csv(path, index=False)
        return clv.rfm_summary(str(path), **kw)
    return clv.rfm_summary(tx, engine=source, **kw)


@pytest.mark.parametrize("source", SOURCES)
def test_good_log_passes(source, tmp_path):
    s = run(good_log(), source, tmp_path)
    assert s.loc["a", "frequency"] == 1 and len(s) == 6


@pytest.mark.parametrize("source", SOURCES)
def test_missing_column(source, tmp_path):
    tx = good_log().drop(columns="amount")
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) \['amount'\]") as err:
        run(tx, source, tmp_path)
    assert err.value.column == "amount"


@pytest.mark.parametrize("source", SOURCES + ["parquet"])
@pytest.mark.parametrize("fn", ["rfm_summary", "calibration_holdout"])
def test_missing_amount_column_says_amount_col_none(fn, source, tmp_path):
    # the default amount_col='amount' on a log without amounts: the message shows the way out
    tx = good_log().drop(columns="amount")
    target, engine = tx, source
    if source in ("csv", "parquet"):
        target = tmp_path / f"tx.{source}"
        if source == "csv":
            tx.to_csv(target, index=False)
        else:
            tx.to_parquet(target)
        target, engine = str(target), "duckdb"
    call = getattr(clv, fn)
    args = ("2021-01-03",) if fn == "calibration_holdout" else ()
    with pytest.raises(MissingColumnError, match=r"\['amount'\].*amount_col=None") as err:
        call(target, *args, engine=engine)
    assert err.value.column == "amount"
    s = call(target, *args, engine=engine, amount_col=None)
    assert "monetary_value" not in s.columns


@pytest.mark.parametrize("source", SOURCES)
def test_missing_customer_id(source, tmp_path):
    tx = good_log()
    tx.loc[2, "customer_id"] = None
    with pytest.raises(InvalidValueError, match=r"'customer_id': 1 row\(s\) have a missing or empty customer id"):
        run(tx, source, tmp_path)


@pytest.mark.parametrize("source", ["pandas", "duckdb"])
def test_empty_customer_id(source, tmp_path):
    tx = good_log()
    tx.loc[[1, 3], "customer_id"] = "  "
    with pytest.raises(InvalidValueError, match=r"'customer_id': 2 row\(s\) have a missing or empty") as err:
        run(tx, source, tmp_path)
    assert err.value.examples == [1, 3]  # row positions, since there is no id to show


@pytest.mark.parametrize("source", SOURCES)
def test_unparseable_dates(source, tmp_path):
    tx = good_log()
    tx.loc[[2, 4], "date"] = ["2021-13-45", "yesterday"]
    with pytest.raises(InvalidValueError, match=r"'date': 2 row\(s\) could not be parsed.*'b', 'd'") as err:
        run(tx, source, tmp_path)
    assert err.value.column == "date" and err.value.n_rows == 2 and err.value.examples == ["b", "d"]


@pytest.mark.parametrize("source", SOURCES)
def test_missing_dates(source, tmp_path):
    tx = good_log()
    tx.loc[5, "date"] = None
    with pytest.raises(InvalidValueError, match=r"'date': 1 row\(s\) have a missing date.*'e'"):
        run(tx, source, tmp_path)


@pytest.mark.parametrize("source", SOURCES)
def test_timezone_mixed_offsets_are_each_rows_local_day(source, tmp_path):
    # different UTC offsets are no longer refused: each row counts on its own local day
    tx = good_log()
    tx["date"] = tx["date"] + "T23:00:00+01:00"
    tx.loc[6, "date"] = "2021-01-09T23:00:00-05:00"
    s = run(tx, source, tmp_path, time_unit="D")
    assert s.loc["f", "T"] == 31 - 9 and s.loc["a", "recency"] == 4
    # in UTC the -05:00 evening is the next day, the +01:00 evenings stay on theirs
    utc = run(tx, source, tmp_path, time_unit="D", timezone="UTC")
    assert utc.loc["f", "T"] == 31 - 10 and utc.loc["a", "recency"] == 4


def test_timezone_mixed_python_datetimes_use_their_own_wall_time():
    tx = good_log()
    stamps = [pd.Timestamp(d, tz="UTC") for d in tx["date"]]
    stamps[0] = pd.Timestamp("2021-01-01 08:00", tz="Asia/Tokyo")   # 2020-12-31 23:00 in UTC
    tx["date"] = pd.Series(stamps, dtype=object)
    s = clv.rfm_summary(tx, observation_end="2021-01-31", time_unit="D")
    assert s.loc["a", "recency"] == 4
    utc = clv.rfm_summary(tx, observation_end="2021-01-31", time_unit="D", timezone="UTC")
    assert utc.loc["a", "recency"] == 5


@pytest.mark.parametrize("source", SOURCES)
def test_non_numeric_amounts(source, tmp_path):
    tx = good_log()
    tx["amount"] = tx["amount"].astype(object)
    tx.loc[3, "amount"] = "ten dollars"
    with pytest.raises(InvalidValueError, match=r"'amount': 1 row\(s\) are not numeric.*'c'"):
        run(tx, source, tmp_path)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_amounts(source, bad, tmp_path):
    tx = good_log()
    tx.loc[[0, 6], "amount"] = bad
    with pytest.raises(InvalidValueError, match=r"'amount': 2 row\(s\) are NaN or infinite.*'a', 'f'"):
        run(tx, source, tmp_path)


@pytest.mark.parametrize("source", SOURCES)
def test_negative_amounts_without_returns_policy(source, tmp_path):
    tx = good_log()
    tx.loc[4, "amount"] = -5.0
    with pytest.raises(InvalidValueError, match=r"'amount': 1 row\(s\) have a negative amount.*'d'.*returns="):
        run(tx, source, tmp_path)


@pytest.mark.parametrize("source", SOURCES)
def test_dates_after_observation_end(source, tmp_path):
    tx = good_log()
    tx.loc[[1, 2], "date"] = ["2021-03-01", "2021-02-15"]
    with pytest.raises(InvalidValueError, match=r"'date': 2 row\(s\) are dated after observation_end=2021-01-31.*'a', 'b'"):
        run(tx, source, tmp_path, after_observation_end="error")


@pytest.mark.parametrize("source", SOURCES)
def test_empty_frame(source, tmp_path):
    tx = good_log().iloc[:0]
    with pytest.raises(DataValidationError, match="empty"):
        run(tx, source, tmp_path)


def test_not_a_frame():
    with pytest.raises(DataValidationError, match="DataFrame"):
        clv.rfm_summary([("a", "2021-01-01", 1.0)])


@pytest.mark.parametrize("key,value", [("time_unit", "fortnight"), ("merge", "Q"), ("returns", "ignore"),
                                       ("after_observation_end", "keep"), ("engine", "sqlite")])
def test_bad_options_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key) as err:
        clv.rfm_summary(good_log(), observation_end="2021-01-31", **{key: value})
    assert err.value.key == key


def test_bad_observation_end():
    with pytest.raises(ConfigError, match="observation_end"):
        clv.rfm_summary(good_log(), observation_end="not a date")


# -- the summary contract -----------------------------------------------------------------------

def summary(**overrides):
    s = pd.DataFrame({"frequency": [2, 0, 1], "recency": [30.0, 0.0, 5.0], "T": [38.0, 38.0, 20.0]},
                     index=pd.Index([11, 12, 13], name="customer_id"))
    for col, (row, value) in overrides.items():
        s[col] = s[col].astype(float)
        s.loc[row, col] = value
    return s


def test_summary_recency_after_T():
    with pytest.raises(InvalidValueError, match=r"'recency': 1 row\(s\) have recency > T.*13"):
        clv.validate_summary(summary(recency=(13, 25.0)))


def test_summary_recency_without_repeat_purchase():
    with pytest.raises(InvalidValueError, match=r"'recency': 1 row\(s\) have recency > 0 with frequency == 0.*12"):
        clv.validate_summary(summary(recency=(12, 3.0)))


@pytest.mark.parametrize("col,value,what", [("frequency", -1, "negative"), ("T", np.nan, "NaN or infinite"),
                                            ("frequency", 1.5, "whole numbers")])
def test_summary_bad_values(col, value, what):
    with pytest.raises(InvalidValueError, match=rf"'{col}': 1 row\(s\) .*{what}.*11"):
        clv.validate_summary(summary(**{col: (11, value)}))


def test_summary_duplicate_and_missing_columns():
    s = summary()
    s.index = pd.Index([11, 11, 13], name="customer_id")
    with pytest.raises(InvalidValueError, match=r"2 row\(s\) share a duplicated customer id.*11"):
        clv.validate_summary(s)
    with pytest.raises(MissingColumnError, match="monetary_value"):
        clv.validate_summary(summary(), require_monetary=True)
    with pytest.raises(DataValidationError, match="empty"):
        clv.validate_summary(summary().iloc[:0])


def test_summary_is_copied_not_mutated():
    s = summary()
    out = clv.validate_summary(s)
    out.loc[11, "frequency"] = 99
    assert s.loc[11, "frequency"] == 2


def test_bad_duckdb_config_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="duckdb_config") as err:
        clv.rfm_summary(good_log(), observation_end="2021-01-31", engine="duckdb", duckdb_config={"nonsense": 1})
    assert err.value.key == "duckdb_config"


def test_duckdb_memory_limit_gives_the_same_summary(tmp_path):
    path = tmp_path / "tx.parquet"
    good_log().assign(date=lambda d: pd.to_datetime(d["date"])).to_parquet(path)
    a = clv.rfm_summary(str(path), observation_end="2021-01-31")
    b = clv.rfm_summary(str(path), observation_end="2021-01-31", duckdb_config={"memory_limit": "64MB", "threads": 1})
    pd.testing.assert_frame_equal(a, b)


def test_validate_weights_aligns_and_names_bad_customers():
    from clvmodels.data.validation import validate_weights

    s = pd.DataFrame({"frequency": [0.0, 1.0, 2.0], "recency": [0.0, 1.0, 2.0], "T": [3.0, 3.0, 3.0],
                      "w": [1.0, 2.0, 3.0]}, index=pd.Index(["a", "b", "c"], name="customer_id"))
    assert validate_weights(None, s) is None
    np.testing.assert_array_equal(validate_weights("w", s), [1.0, 2.0, 3.0])
    # a Series is aligned by customer id, not by position
    np.testing.assert_array_equal(validate_weights(pd.Series([3.0, 1.0, 2.0], index=["c", "a", "b"]), s),
                                  [1.0, 2.0, 3.0])
    with pytest.raises(MissingColumnError, match="'weight'"):
        validate_weights("weight", s)
    with pytest.raises(DataValidationError, match="2 values for 3 customers"):
        validate_weights([1.0, 2.0], s)
    with pytest.raises(InvalidValueError, match=r"2 row\(s\) are negative, NaN or missing; example customer ids \['b', 'c'\]") as err:
        validate_weights([1.0, -1.0, np.nan], s)
    assert err.value.column == "weights" and err.value.n_rows == 2
    # a Series missing a customer leaves a NaN weight: refused, naming that customer
    with pytest.raises(InvalidValueError, match=r"1 row\(s\).*\['c'\]"):
        validate_weights(pd.Series([1.0, 1.0], index=["a", "b"]), s)
