"""Days are the customer's local days: UTC offsets, tz-aware columns and Parquet, the timezone option.

Every case runs on the pandas engine, the DuckDB engine on the same frame, and the DuckDB engine on a
file (CSV for text dates, Parquet for tz-aware timestamps), and is checked against a summary of
hand-made naive local dates.
"""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.config import load_config
from clvmodels.errors import ConfigError, DataDroppedWarning, InvalidValueError
from clvmodels.pipeline import build_summary

from .test_engines import assert_same, on_every_engine

ZONES = [None, "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"]


def summarise(tx, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        return clv.rfm_summary(tx, **kw)


def dst_log() -> pd.DataFrame:
    """Berlin local times written with their offset, across the 2024-03-31 change (+01:00 -> +02:00)."""
    return pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c"],
        "date": ["2024-03-30T10:00:00+01:00", "2024-04-02T10:00:00+02:00", "2024-04-06T23:30:00+02:00",
                 "2024-03-25T00:15:00+01:00", "2024-04-01T00:15:00+02:00", "2024-04-03T12:00:00+02:00"],
        "amount": [10.0, 20.0, 30.0, 5.0, 6.0, 7.0],
    })


def mixed_log() -> pd.DataFrame:
    """Customers in several zones, each writing their own offset (and one naive, local, row)."""
    return pd.DataFrame({
        "customer_id": ["ny", "ny", "ny", "de", "de", "in", "in", "z"],
        "date": ["2024-03-09T22:30:00-05:00", "2024-03-11T22:30:00-04:00", "2024-04-01T23:59:59-04:00",
                 "2024-03-30T00:30:00+01:00", "2024-04-01T00:30:00+02:00", "2024-03-31T04:00:00+0530",
                 "2024-04-02 05:45:00.250000+05:30", "2024-04-01T12:00:00Z"],
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    })


def expected_local(text: pd.Series, timezone: str | None) -> pd.Series:
    """Naive local wall times made by hand: the text's own clock time, or the instant in ``timezone``."""
    if timezone is None:
        bare = text.str.replace(r"\s*(Z|[+-]\d{2}:?\d{2})$", "", regex=True)
        return pd.to_datetime(bare, format="ISO8601")
    return pd.to_datetime(text, format="ISO8601", utc=True).dt.tz_convert(timezone).dt.tz_localize(None)


# ---------------------------------------------------------------------------------------------
# bug 1a: offsets of one zone across a DST change, and offsets that differ between rows


def test_offsets_across_dst_are_one_zone_not_mixed(tmp_path):
    tx = dst_log()
    s = on_every_engine(tx, tmp_path, time_unit="D")
    # local days: a buys on Mar 30, Apr 2 and Apr 6; b on Mar 25 and Apr 1
    assert s.loc["a", "frequency"] == 2 and s.loc["a", "recency"] == 7 and s.loc["a", "T"] == 7
    assert s.loc["b", "recency"] == 7
    assert str(s.observation_end.date()) == "2024-04-06"


@pytest.mark.parametrize("timezone", ZONES)
@pytest.mark.parametrize("make", [dst_log, mixed_log], ids=["dst", "mixed"])
@pytest.mark.parametrize("kw", [{"time_unit": "D"}, {"merge": None, "time_unit": "D"}, {"merge": "W"}])
def test_offset_text_gives_the_local_days(make, timezone, kw, tmp_path):
    tx = make()
    got = on_every_engine(tx, tmp_path, timezone=timezone, **kw)
    want = summarise(tx.assign(date=expected_local(tx["date"], timezone)), engine="pandas", **kw)
    assert_same(got, want)
    assert got.options.timezone == timezone


def test_timezone_moves_an_evening_to_the_next_day(tmp_path):
    tx = pd.DataFrame({"customer_id": ["x", "x"], "amount": [1.0, 2.0],
                       "date": ["2024-06-01T20:00:00-04:00", "2024-06-03T20:00:00-04:00"]})
    local = on_every_engine(tx, tmp_path, time_unit="D", observation_end="2024-06-10")
    berlin = on_every_engine(tx, tmp_path, time_unit="D", observation_end="2024-06-10", timezone="Europe/Berlin")
    assert local.loc["x", "T"] == 9 and berlin.loc["x", "T"] == 8   # June 2, 02:00 in Berlin
    assert local.loc["x", "recency"] == berlin.loc["x", "recency"] == 2


def test_naive_rows_are_taken_as_local_in_the_timezone(tmp_path):
    tx = pd.DataFrame({"customer_id": ["x", "x"], "amount": [1.0, 2.0],
                       "date": ["2024-06-01 23:00:00", "2024-06-03T23:00:00+00:00"]})
    s = on_every_engine(tx, tmp_path, time_unit="D", timezone="Europe/Berlin")
    # the naive row stays on June 1; the UTC row is June 4, 01:00 in Berlin
    assert s.loc["x", "recency"] == 3


def test_date_format_with_trailing_offset(tmp_path):
    tx = pd.DataFrame({"customer_id": ["x", "x"], "amount": [1.0, 2.0],
                       "date": ["01/06/2024 23:00 +0100", "03/06/2024 23:00 -0500"]})
    s = on_every_engine(tx, tmp_path, time_unit="D", date_format="%d/%m/%Y %H:%M %z")
    assert s.loc["x", "recency"] == 2
    utc = on_every_engine(tx, tmp_path, time_unit="D", date_format="%d/%m/%Y %H:%M %z", timezone="UTC")
    assert utc.loc["x", "recency"] == 3


def test_unrecognised_offset_is_refused_by_both_engines(tmp_path):
    # an offset after a bare hour is not an ISO time with an offset: both engines refuse the row
    tx = pd.DataFrame({"customer_id": ["x", "y"], "amount": [1.0, 2.0],
                       "date": ["2024-06-01T10:00:00+01:00", "2024-06-01T10+01:00"]})
    path = tmp_path / "tx.csv"
    tx.to_csv(path, index=False)
    for source, engine in ((tx, "pandas"), (tx, "duckdb"), (str(path), "duckdb")):
        with pytest.raises(InvalidValueError, match=r"'date': 1 row\(s\) could not be parsed.*'y'"):
            clv.rfm_summary(source, engine=engine)


# ---------------------------------------------------------------------------------------------
# tz-aware columns: DataFrames and Parquet files (bug 1c)


def aware_log(zone) -> pd.DataFrame:
    wall = pd.to_datetime(["2024-03-30 10:00", "2024-04-02 10:00", "2024-04-06 23:30", "2024-03-25 00:15",
                           "2024-04-01 00:15", "2024-10-27 02:30"])
    return pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
                         "date": wall.tz_localize(zone, ambiguous=True),
                         "amount": [10.0, 20.0, 30.0, 5.0, 6.0, 7.0]})


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC"])
@pytest.mark.parametrize("timezone", ZONES)
def test_tz_aware_frames_and_parquet_agree(zone, timezone, tmp_path):
    tx = aware_log(zone)
    got = on_every_engine(tx, tmp_path, time_unit="D", timezone=timezone)
    col = tx["date"] if timezone is None else tx["date"].dt.tz_convert(timezone)
    want = summarise(tx.assign(date=col.dt.tz_localize(None)), engine="pandas", time_unit="D")
    assert_same(got, want)


def test_tz_aware_parquet_is_read_at_its_zones_wall_time(tmp_path):
    # was: "stored as TIMESTAMP WITH TIME ZONE; convert it ..." from DuckDB only
    tx = aware_log("America/New_York")
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    s = summarise(str(path), time_unit="D")
    assert s.loc["a", "recency"] == 7
    assert str(s.observation_end.date()) == "2024-10-27"


def test_fixed_offset_columns(tmp_path):
    tx = aware_log("UTC").assign(date=lambda d: d["date"].dt.tz_convert("+05:30"))
    got = on_every_engine(tx, tmp_path, time_unit="D", merge=None)
    want = summarise(tx.assign(date=tx["date"].dt.tz_localize(None)), engine="pandas", time_unit="D", merge=None)
    assert_same(got, want)


def test_parquet_of_text_offsets(tmp_path):
    tx = mixed_log()
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    for timezone in (None, "Europe/Berlin"):
        assert_same(summarise(str(path), time_unit="D", timezone=timezone),
                    summarise(tx, time_unit="D", timezone=timezone, engine="pandas"))


def test_tz_aware_frame_is_not_modified():
    tx = aware_log("Europe/Berlin")
    before = tx.copy(deep=True)
    summarise(tx, timezone="UTC", engine="pandas")
    summarise(tx, timezone="UTC", engine="duckdb")
    pd.testing.assert_frame_equal(tx, before)


# ---------------------------------------------------------------------------------------------
# the user's dates are local days; calibration summaries; purchase_log


def test_observation_and_calibration_ends_are_local_days(tmp_path):
    tx = dst_log()
    # an aware end is taken in the summary's zone: 2024-04-03T23:00Z is April 4 in Berlin
    end = pd.Timestamp("2024-04-03T23:00:00Z")
    local = on_every_engine(tx, tmp_path, time_unit="D", observation_end=end)
    berlin = on_every_engine(tx, tmp_path, time_unit="D", observation_end=end, timezone="Europe/Berlin")
    assert str(local.observation_end.date()) == "2024-04-03" and local.observation_end.tzinfo is None
    assert str(berlin.observation_end.date()) == "2024-04-04"
    cal = on_every_engine(tx, tmp_path, clv.calibration_holdout, time_unit="D", timezone="Europe/Berlin",
                          calibration_end="2024-03-31T22:30:00+00:00", observation_end="2024-04-06")
    assert str(cal.calibration_end.date()) == "2024-04-01"
    assert cal.loc["b", "frequency"] == 1 and cal.loc["a", "frequency_holdout"] == 2


def test_purchase_log_uses_the_timezone(tmp_path):
    tx = dst_log()
    opts = clv.data.SummaryOptions.build(time_unit="D", timezone="America/New_York")
    logs = [clv.data.purchase_log(tx, opts, engine=e) for e in ("pandas", "duckdb")]
    pd.testing.assert_frame_equal(logs[0], logs[1])
    b = logs[0][logs[0]["customer_id"] == "b"]["date"].dt.strftime("%Y-%m-%d").tolist()
    assert b == ["2024-03-24", "2024-03-31"]   # 00:15 in Berlin is the evening before in New York


@pytest.mark.parametrize("bad", ["Mars/Olympus", "+01:00", "", 3])
def test_bad_timezone_names_the_key(bad):
    with pytest.raises(ConfigError, match="timezone") as err:
        clv.rfm_summary(dst_log(), timezone=bad)
    assert err.value.key == "timezone"


def test_config_timezone_reaches_the_summary():
    cfg, _ = load_config({"name": "t", "data": {"source": "cdnow", "timezone": "America/New_York"},
                          "summary": {"time_unit": "D"}})
    s = build_summary(cfg, dst_log())
    assert s.options.timezone == "America/New_York"
    # Berlin 00:15 is the evening before in New York: b buys on March 24 and 31
    assert s.loc["b", "recency"] == 7 and str(s.observation_end.date()) == "2024-04-06"
    assert s.loc["c", "T"] == 4 - 1
    with pytest.raises(ConfigError, match="Nowhere/Town") as err:
        load_config({"name": "t", "data": {"source": "cdnow", "timezone": "Nowhere/Town"}})
    assert err.value.key == "data.timezone"


def test_messages_print_plain_numbers(tmp_path):
    tx = dst_log()
    tx.loc[[1, 2], "date"] = ["not a date", "2024-13-01"]
    for engine in ("pandas", "duckdb"):
        with pytest.raises(InvalidValueError) as err:
            clv.rfm_summary(tx, engine=engine)
        assert "np." not in str(err.value) and "2 row(s)" in str(err.value)
    with pytest.warns(DataDroppedWarning) as caught:
        clv.rfm_summary(dst_log(), observation_end="2024-04-01")
    assert "np." not in str(caught[0].message)


# ---------------------------------------------------------------------------------------------
# polars (optional)


def test_polars_frames_in_both_engines(tmp_path):
    pl = pytest.importorskip("polars", reason="polars is optional (the [test] extra installs it)")
    for tx in (dst_log(), aware_log("Europe/Berlin")):
        frame = pl.from_pandas(tx)
        for timezone in (None, "UTC"):
            want = summarise(tx, engine="pandas", time_unit="D", timezone=timezone)
            for engine in ("pandas", "duckdb"):
                assert_same(summarise(frame, engine=engine, time_unit="D", timezone=timezone), want)
            assert_same(summarise(frame.lazy(), time_unit="D", timezone=timezone), want)


def test_polars_native_types_and_missing_columns():
    pl = pytest.importorskip("polars", reason="polars is optional (the [test] extra installs it)")
    frame = pl.DataFrame({
        "cust": [1, 1, 2],
        "when": pl.Series([dt.datetime(2024, 3, 30, 10), dt.datetime(2024, 4, 2, 1),
                           dt.datetime(2024, 4, 1)]).dt.replace_time_zone("Europe/Berlin"),
        "spend": [1.5, 2.5, 3.0],
    })
    kw = dict(customer_col="cust", date_col="when", amount_col="spend", time_unit="D", timezone="UTC")
    a, b = summarise(frame, engine="pandas", **kw), summarise(frame, engine="duckdb", **kw)
    assert_same(a, b)
    assert a.loc[1, "recency"] == 3 - 1   # April 2, 01:00 Berlin is April 1 in UTC
    with pytest.raises(clv.errors.MissingColumnError, match=r"\['amount'\].*amount_col=None"):
        clv.rfm_summary(frame.drop("spend"), customer_col="cust", date_col="when")
