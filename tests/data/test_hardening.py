"""Issue 16 (hardening), the data layer: both engines agree on every accepted input, or both refuse it
with a typed error naming the column (and the customers, or the line of a file).

Each case runs on the pandas engine, on DuckDB with the same frame and, where a file can hold the input,
on DuckDB with a CSV or Parquet path.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.data.transactions import check_date_format, format_without_offset
from clvmodels.errors import (CLVError, ConfigError, DataDroppedWarning, DataValidationError, InvalidValueError,
                             MissingColumnError)

from .test_engines import assert_same

# -- date_format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M %Z", "%Y-%m-%d %H:%M:%S%Z", "%d/%m/%Y%Z"])
def test_date_format_with_a_trailing_zone_name_is_refused(fmt):
    # '%Z' (a zone name) used to pass: its 'Z' was taken for the literal 'Z' of '...%SZ'
    with pytest.raises(ConfigError, match="%Z") as err:
        check_date_format(fmt)
    assert err.value.key == "date_format"
    with pytest.raises(ConfigError, match="date_format"):
        clv.rfm_summary(pd.DataFrame({"customer_id": [1], "date": ["2024-01-01"], "amount": [1.0]}), date_format=fmt)


@pytest.mark.parametrize("fmt,rest", [("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"),
                                      ("%d/%m/%Y %H:%M %z", "%d/%m/%Y %H:%M"),
                                      ("%Y%m%d%%Z", "%Y%m%d%%"), ("%Y%m%d%%z", "%Y%m%d%%z")])
def test_only_a_trailing_offset_or_literal_z_is_cut_from_the_format(fmt, rest):
    assert format_without_offset(fmt) == rest
    if "%%z" in fmt:  # a literal '%' then 'z': no offset, and not a %z before the end either
        check_date_format(fmt)


# -- customer ids --------------------------------------------------------------------------------

DATES = ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]


def log(ids, dates=DATES, amounts=(10.0, 20.0, 30.0, 40.0)):
    return pd.DataFrame({"customer_id": ids, "date": list(dates)[:len(ids)], "amount": list(amounts)[:len(ids)]})


def outcomes(source, tmp_path=None, files=(), **kw):
    """The summary (or the error) of the pandas engine, DuckDB on the frame, and DuckDB on each file format."""
    out = {}
    for engine in ("pandas", "duckdb"):
        out[engine] = _outcome(lambda: clv.rfm_summary(source, engine=engine, **kw))
    for fmt in files:
        path = tmp_path / f"tx.{fmt}"
        source.to_csv(path, index=False) if fmt == "csv" else source.to_parquet(path, index=False)
        out[fmt] = _outcome(lambda: clv.rfm_summary(str(path), **kw))
    return out


def _outcome(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            return call()
    except CLVError as exc:
        return exc


def assert_all_same(out):
    first = next(iter(out.values()))
    for name, other in out.items():
        if isinstance(first, Exception):
            assert type(other) is type(first), (name, other, first)
            continue
        assert not isinstance(other, Exception), (name, other)
        assert other.index.dtype == first.index.dtype, (name, other.index.dtype, first.index.dtype)
        assert_same(first, other)
    return first


@pytest.mark.parametrize("dtype", ["Int64", "UInt64", "Int32", "Float64"])
def test_nullable_ids_with_a_missing_value_are_refused_by_both_engines(dtype, tmp_path):
    # DuckDB used to make two customers with id 0 of a pd.NA; the pandas engine raised a raw ValueError
    tx = log(pd.array([1, None, 0, 1], dtype=dtype))
    out = outcomes(tx, tmp_path, files=("csv", "parquet"))
    err = assert_all_same(out)
    assert isinstance(err, InvalidValueError)
    assert err.column == "customer_id" and err.n_rows == 1
    assert "1 row(s) have a missing or empty customer id" in str(err)


@pytest.mark.parametrize("dtype,expect", [("Int64", "int64"), ("UInt64", "uint64"), ("Int16", "int16"),
                                          ("Float64", "float64"), ("boolean", "bool")])
def test_nullable_ids_without_missing_values_are_their_numpy_dtype(dtype, expect):
    ids = [True, False, True, False] if dtype == "boolean" else [3, 0, 3, 7]
    s = assert_all_same(outcomes(log(pd.array(ids, dtype=dtype))))
    assert s.index.dtype == expect


@pytest.mark.parametrize("ids", [[2**63 + 5, 2**63 + 7, 2**63 + 5, 2**63 + 7],          # a narrow range above 2**63
                                 [2**64 - 1, 2**63, 1, 2**64 - 1],                       # a wide one
                                 [2**63 + 1, 2**63 + 1, 2**63, 2**63 - 1]])             # across 2**63
def test_uint64_ids_above_2_63_stay_exact_and_distinct(ids, tmp_path):
    # the pandas engine raised OverflowError; DuckDB read a CSV's ids as HUGEINT and returned floats, so
    # 2**63 + 5 and 2**63 + 7 were one customer
    tx = log(np.array(ids, dtype=np.uint64))
    s = assert_all_same(outcomes(tx, tmp_path, files=("csv", "parquet")))
    assert s.index.dtype == np.uint64
    assert s.index.tolist() == sorted(set(ids))
    assert s["frequency"].sum() == len(ids) - len(set(ids))


def test_small_integer_ids_far_apart_are_not_shifted_into_each_other():
    # int8 ids -100 and 100 are 200 apart: the shift by the smallest id overflowed int8 and the pandas
    # engine made a customer -10 out of 100
    tx = log(np.array([-100, 100, 100, 45], dtype=np.int8))
    s = assert_all_same(outcomes(tx))
    assert s.index.tolist() == [-100, 45, 100] and s.loc[100, "frequency"] == 1


@pytest.mark.parametrize("ids,kinds", [([1, "1", 2, 2], "int (3 row(s)), str (1 row(s))"),
                                       ([1, 1.5, 2, 2], "int (3 row(s)), float (1 row(s))"),
                                       (["a", b"a", "b", "b"], "str (3 row(s)), bytes (1 row(s))"),
                                       ([True, 1, 2, 2], "int (3 row(s)), bool (1 row(s))")])
def test_mixed_kinds_of_ids_are_refused_by_both_engines(ids, kinds):
    # pandas kept 1 and '1' apart while DuckDB merged them
    err = assert_all_same(outcomes(log(pd.Series(ids, dtype=object))))
    assert isinstance(err, InvalidValueError) and err.column == "customer_id"
    assert f"mixes kinds of customer ids: {kinds}" in str(err)
    assert len(err.examples) == 2 and err.n_rows == 1


@pytest.mark.parametrize("ids", [[decimal.Decimal("1.5"), decimal.Decimal(2)] * 2,
                                 [uuid.UUID(int=1), uuid.UUID(int=2)] * 2])
def test_ids_of_no_exact_shared_type_are_refused(ids):
    # DuckDB turned Decimal ids into floats (2**60 + 1 and 2**60 would merge), pandas kept them exact
    err = assert_all_same(outcomes(log(pd.Series(ids, dtype=object))))
    assert isinstance(err, InvalidValueError) and "astype(str)" in str(err)


def test_object_columns_of_one_kind_of_number_are_numpy_columns():
    # an object column of ints was int64 in DuckDB but object in pandas
    assert assert_all_same(outcomes(log(pd.Series([3, np.int64(1), 3, 2], dtype=object)))).index.dtype == np.int64
    big = assert_all_same(outcomes(log(pd.Series([2**64 - 1, 1, 2**64 - 1, 2], dtype=object))))
    assert big.index.dtype == np.uint64 and big.index.tolist() == [1, 2, 2**64 - 1]
    assert assert_all_same(outcomes(log(pd.Series([1.5, 2.0, 1.5, 3.0], dtype=object)))).index.dtype == np.float64


@pytest.mark.parametrize("ids", [[2**64 + 1, 1, 2**64 + 1, 2], [2**63 + 1, -1, 2**63 + 1, 2]])
def test_integer_ids_beyond_64_bits_are_refused(ids):
    err = assert_all_same(outcomes(log(pd.Series(ids, dtype=object))))
    assert isinstance(err, InvalidValueError) and err.column == "customer_id"
    assert "beyond 64 bits" in str(err) and err.examples == [ids[0]] and err.n_rows == 2


def test_a_lone_surrogate_id_is_refused_naming_the_column():
    # 'a\udc80' (bytes decoded with errors='surrogateescape') raised a raw UnicodeEncodeError on both engines
    err = assert_all_same(outcomes(log(pd.Series(["a\udc80", "a\udc80", "b", "c"], dtype=object))))
    assert isinstance(err, InvalidValueError) and err.column == "customer_id"
    assert err.n_rows == 2 and err.examples == ["a\udc80"] and "valid Unicode" in str(err)
    python_strings = log(pd.array(["a\udc80", "b", "b", "c"], dtype="string[python]"))
    assert isinstance(assert_all_same(outcomes(python_strings)), InvalidValueError)


# -- ids in a CSV file: typed by all their values ----------------------------------------------------


def write(tmp_path, text: str | bytes, name="tx.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def many_rows(n=30_000, first_id=0):
    # more rows than DuckDB's CSV sniffer samples (20,480): what comes after is not seen when it picks types
    return "".join(f"{first_id + i},2024-01-01,1\n" for i in range(n))


def test_csv_ids_are_text_when_one_is_not_an_integer_however_late(tmp_path):
    # DuckDB typed the ids BIGINT from its sample and failed with a raw ConversionException on 'x7'
    path = write(tmp_path, "customer_id,date,amount\n" + many_rows() + "x7,2024-01-02,5\n")
    s = clv.rfm_summary(path)
    assert pd.api.types.is_string_dtype(s.index.dtype) and len(s) == 30_001 and "x7" in s.index


def test_csv_ids_with_leading_zeros_stay_text_and_distinct(tmp_path):
    tx = pd.DataFrame({"customer_id": ["007", "7", "07", "007"], "date": DATES, "amount": [1.0, 2.0, 3.0, 4.0]})
    s = assert_all_same(outcomes(tx, tmp_path, files=("csv", "parquet")))
    assert s.index.tolist() == ["007", "07", "7"] and s.loc["007", "frequency"] == 1


@pytest.mark.parametrize("ids", [["18446744073709551617", "1"], ["-5", "9223372036854775815"]])
def test_csv_integers_beyond_64_bits_are_kept_as_text(ids, tmp_path):
    # DuckDB read them as HUGEINT (or BIGNUM) and returned floats: close ids became one customer
    rows = "".join(f"{i},2024-01-0{k + 1},1\n" for k, i in enumerate(ids))
    path = write(tmp_path, "customer_id,date,amount\n" + rows)
    s = clv.rfm_summary(path)
    assert sorted(s.index) == sorted(ids)


def test_csv_amounts_are_typed_by_all_rows(tmp_path):
    # whole amounts in DuckDB's sample, then a fraction and a text: the fraction is kept exactly, the text is
    # refused naming its customer (as for a DataFrame), not with a raw ConversionException
    head = "customer_id,date,amount\n" + many_rows(first_id=100)
    s = clv.rfm_summary(write(tmp_path, head + "5,2024-01-01,1\n5,2024-01-08,1.5\n"))
    assert s.loc[5, "monetary_value"] == 1.5
    with pytest.raises(InvalidValueError, match=r"'amount': 1 row\(s\) are not numeric") as err:
        clv.rfm_summary(write(tmp_path, head + "5,2024-01-08,n/a\n"))
    assert err.value.column == "amount" and err.value.examples == [5]


def test_decimal_ids_of_a_parquet_file_are_refused_as_those_of_a_frame(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"customer_id": pa.array([decimal.Decimal("1.50"), decimal.Decimal(2)], pa.decimal128(10, 2)),
                      "date": DATES[:2], "amount": [1.0, 2.0]})
    pq.write_table(table, tmp_path / "tx.parquet")
    for source in (str(tmp_path / "tx.parquet"), pd.read_parquet(tmp_path / "tx.parquet")):
        with pytest.raises(InvalidValueError, match="customer ids must be text|ids must be text") as err:
            clv.rfm_summary(source)
        assert err.value.column == "customer_id"


# -- amounts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("amounts", [(1e308, 1e308, 1e308, 5.0), (4e299, 4e299, 4e299, 5.0)])
def test_amounts_whose_sums_overflow_are_refused(amounts, tmp_path):
    # monetary_value became inf, silently, on both engines
    tx = log([1, 1, 1, 2], amounts=amounts)
    err = assert_all_same(outcomes(tx, tmp_path, files=("csv", "parquet")))
    assert isinstance(err, InvalidValueError) and err.column == "amount"
    assert err.n_rows == 3 and err.examples == [1] and "overflow" in str(err)


def test_large_amounts_that_sum_finitely_are_summarised():
    s = assert_all_same(outcomes(log([1, 1, 1, 2], amounts=(1e200, 3e200, 5e200, 5.0))))
    assert s.loc[1, "monetary_value"] == pytest.approx(4e200)


# -- the columns of a log ----------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["amount", "customer_id"])
def test_a_needed_column_named_twice_is_refused(column, tmp_path):
    # a frame raised a raw AttributeError; a CSV's second 'amount' was silently renamed 'amount_1' by DuckDB
    tx = log([1, 1, 2, 2])
    tx.insert(0, column, tx[column], allow_duplicates=True)
    err = assert_all_same(outcomes(tx))
    assert type(err) is DataValidationError and err.column == column and f"columns named {column!r}" in str(err)
    with pytest.raises(DataValidationError, match=f"names 2 columns {column!r}") as err:
        clv.rfm_summary(write(tmp_path, tx.to_csv(index=False)))
    assert err.value.column == column


@pytest.mark.parametrize("rows,line", [("1,2024-01-01,1\n1,2024-02-01,2,7\n2,2024-03-01,3\n", 3),
                                       ("1,2024-01-01,1\n1,2024-02-01\n2,2024-03-01,3\n", 3),
                                       (many_rows() + "5,2024-01-01,1,9\n", 30_002)])
def test_a_csv_row_with_a_field_too_many_or_too_few_is_refused_naming_its_line(rows, line, tmp_path):
    # DuckDB read a small such file as one column, so the error said all columns were missing
    with pytest.raises(DataValidationError, match=f"Line: {line}") as err:
        clv.rfm_summary(write(tmp_path, "customer_id,date,amount\n" + rows))
    assert "missing column" not in str(err.value) and "Possible" not in str(err.value)


def test_a_csv_that_is_not_utf8_is_refused_naming_its_line(tmp_path):
    # bytes that are not UTF-8 (here 0x80, which Python reads back as the lone surrogate '\udc80')
    for rows, line in ((b"a\x80,2024-01-01,1\nb,2024-01-02,2\n", "Line: 2"),
                       (many_rows().encode() + b"a\x80,2024-01-01,1\n", "Line: 30002")):
        with pytest.raises(DataValidationError, match=line) as err:
            clv.rfm_summary(write(tmp_path, b"customer_id,date,amount\n" + rows))
        assert "utf-8" in str(err.value)


# -- dates outside pandas' nanosecond range ----------------------------------------------------------


@pytest.mark.parametrize("days", [("1677-09-20", "1677-10-01", "1500-01-01"),
                                  ("2262-04-12", "2262-05-01", "2999-12-31")])
def test_dates_outside_the_nanosecond_range_are_accepted_alike(days, tmp_path):
    tx = log([1, 1, 2], dates=days, amounts=(1.0, 2.0, 3.0))
    s = assert_all_same(outcomes(tx, tmp_path, files=("csv",)))
    for dates in (np.array(days, dtype="datetime64[us]"), pd.Series([datetime.datetime.fromisoformat(d) for d in days],
                                                                   dtype=object)):
        assert_same(s, assert_all_same(outcomes(tx.assign(date=dates), tmp_path, files=("parquet",))))
    assert s.observation_end == pd.Timestamp(max(days))


# -- time-zone-aware Parquet in nanoseconds ----------------------------------------------------------


@pytest.mark.parametrize("unit", ["ns", "us", "ms"])
@pytest.mark.parametrize("timezone", [None, "UTC", "Asia/Kolkata"])
def test_tz_aware_parquet_in_nanoseconds_is_read_at_its_zones_wall_time(unit, timezone, tmp_path):
    # pandas writes TIMESTAMPTZ_NS, which slipped past DuckDB's check for TIMESTAMP WITH TIME ZONE and was read
    # in UTC: 23:30 in New York was the next day, T one day off against the DataFrame, without a word
    dates = pd.DatetimeIndex(["2024-01-01 23:30", "2024-01-08 23:30", "2024-01-15 23:30"]).as_unit(unit)
    tx = log([1, 1, 2], dates=dates.tz_localize("America/New_York"), amounts=(1.0, 2.0, 3.0))
    s = assert_all_same(outcomes(tx, tmp_path, files=("parquet",), time_unit="D", timezone=timezone))
    local = tx["date"] if timezone is None else tx["date"].dt.tz_convert(timezone)
    assert_same(s, clv.rfm_summary(tx.assign(date=local.dt.tz_localize(None)), engine="pandas", time_unit="D"))
    assert s.observation_end == local.max().tz_localize(None)


@pytest.mark.parametrize("aware", [False, True])
def test_nanoseconds_are_floored_to_microseconds_alike(aware, tmp_path):
    # DuckDB's cast of TIMESTAMP_NS to TIMESTAMP rounds (…0015 ns -> 2 us), numpy floors (1 us); the pandas engine
    # reported observation_end in nanoseconds, DuckDB in microseconds
    dates = pd.DatetimeIndex(["1960-01-01 23:30:00.000000999", "2024-01-08 00:00", "2024-01-15 00:00:00.000001500"])
    dates = dates.as_unit("ns").tz_localize("Europe/Berlin") if aware else dates.as_unit("ns")
    tx = log([1, 1, 2], dates=dates, amounts=(1.0, 2.0, 3.0))
    s = assert_all_same(outcomes(tx, tmp_path, files=("parquet",), merge=None, time_unit="D"))
    assert s.observation_end == pd.Timestamp("2024-01-15 00:00:00.000001")


# -- a file without a needed column -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("column", ["date", "customer_id", "amount"])
def test_a_file_missing_a_needed_column_names_it(fmt, column, tmp_path):
    # DuckDB's binder message ('Referenced column "date" not found') instead of a MissingColumnError
    tx = log([1, 1, 2]).drop(columns=column)
    err = assert_all_same(outcomes(tx, tmp_path, files=(fmt,)))
    assert type(err) is MissingColumnError and f"missing column(s) [{column!r}]" in str(err)


def test_a_ragged_csv_missing_a_needed_column_names_the_column(tmp_path):
    # DuckDB's sniffer gave up on the ragged row and read columns column0, column1, ...: all three were "missing"
    path = write(tmp_path, "customer_id,amount\n1,2\n1,2,3\n")
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) \['date'\]; they have \['customer_id', "
                                                 r"'amount'\]") as err:
        clv.rfm_summary(path)
    assert err.value.column == "date"


def test_bytes_ids_come_back_as_bytes_from_duckdb():
    # DuckDB returned its BLOB ids as bytearray: equal to the pandas engine's bytes, but unhashable, so
    # summary.loc[b"a"] raised a raw TypeError
    s = assert_all_same(outcomes(log(pd.Series([b"a", b"b", b"a", b"c"], dtype=object))))
    for engine in ("pandas", "duckdb"):
        got = clv.rfm_summary(log(pd.Series([b"a", b"b", b"a", b"c"], dtype=object)), engine=engine)
        assert [type(v) for v in got.index] == [bytes] * 3 and got.loc[b"a", "frequency"] == 1
    assert s.index.tolist() == [b"a", b"b", b"c"]
