"""Property: the pandas and DuckDB engines agree on every small log, or both refuse it.

Random logs mix naive text, UTC offsets (across DST changes, differing between rows) and tz-aware
columns (in microseconds, and in nanoseconds as pandas writes them, which Parquet stores as
TIMESTAMPTZ_NS), purchases and refunds with and without order ids; random options cover the merge periods,
the returns policies (drop, net, match by date or by order), the timezone option and calibration /
holdout splits. Customer ids come in every kind a log holds: text, text with leading zeros, int64,
nullable Int64 (with and without a missing id), uint64 (above 2**63 too) and an object column mixing
integers and text. Each log is summarised by the pandas engine, by DuckDB on the same frame, and by
DuckDB on a file (CSV for text dates, Parquet for tz-aware ones; not for mixed ids, which a file cannot
hold): frequency, recency and T must be identical, monetary values equal to 1e-12 relative, the index
dtypes and the drop reports equal - or every engine refuses the log with the same error type.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels.errors import CLVError, DataDroppedWarning, InvalidValueError

from .test_engines import assert_same

START = pd.Timestamp("2024-03-01")   # 70 days: the US (Mar 10) and EU (Mar 31) DST changes inside
OFFSETS = ["+01:00", "+02:00", "-05:00", "-04:00", "Z", "+05:30", "+0930", "-03", "+00:00"]
ZONES = [None, "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"]
# the four customers of a log ("a".."d" in the rows) as ids of each kind; "00" keeps the leading-zero ids text
# in a CSV too (a CSV's ids are integers only when every one is written as a plain integer)
ID_KINDS = {
    "text": pd.array(["a", "b", "c", "d"], dtype="str"),
    "zeros": pd.array(["007", "07", "00", "0042"], dtype="str"),
    "int64": np.array([3, -1, 10**12, 0], dtype=np.int64),
    "Int64": pd.array([3, -1, 10**12, 0], dtype="Int64"),
    "Int64 with NA": pd.array([3, -1, None, 0], dtype="Int64"),
    "uint64": np.array([2**63 + 5, 2**64 - 1, 1, 2**63], dtype=np.uint64),
    "mixed": pd.array([1, "1", 2, "b"], dtype=object),
}


@st.composite
def rows(draw):
    n = draw(st.integers(1, 14))
    out = []
    for _ in range(n):
        when = START + pd.Timedelta(days=draw(st.integers(0, 70)), hours=draw(st.integers(0, 23)),
                                    minutes=draw(st.sampled_from([0, 1, 30, 59])))
        if draw(st.booleans()):
            when += pd.Timedelta(microseconds=draw(st.integers(0, 999_999)))
        nanos = draw(st.sampled_from([0, 0, 1, 499, 500, 999]))  # only in a nanosecond column ('aware ns')
        refund = draw(st.integers(0, 3)) == 0
        cents = draw(st.integers(0 if not refund else 1, 20_000))
        out.append({
            "customer_id": draw(st.sampled_from(["a", "b", "c", "d"])),
            "when": when,
            "nanos": nanos,
            "offset": draw(st.sampled_from([None] + OFFSETS)),
            "sep": draw(st.sampled_from(["T", " "])),
            "amount": (-cents if refund else cents) / 100,
            "order": draw(st.sampled_from([None, "o1", "o2", "o3", "o4"])),
        })
    return out


@st.composite
def options(draw):
    kw = {"time_unit": draw(st.sampled_from(["D", "W"])), "merge": draw(st.sampled_from(["D", "W", "M", None])),
          "returns": draw(st.sampled_from(["drop", "net", "match", "match"])),
          "timezone": draw(st.sampled_from(ZONES)),
          "monetary_includes_first": draw(st.booleans())}
    if kw["returns"] == "match":
        if draw(st.booleans()):
            kw["order_col"] = "order"
        else:
            kw["refund_window"] = draw(st.sampled_from([None, 0, 2, 10]))
    if draw(st.booleans()):
        kw["observation_end"] = str((START + pd.Timedelta(days=draw(st.integers(20, 75)))).date())
    if draw(st.booleans()):
        kw["calibration_end"] = str((START + pd.Timedelta(days=draw(st.integers(5, 19)))).date())
    return kw


def make_log(rows, layout: str, zone: str, ids: str = "text") -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if layout.startswith("aware"):
        dates = pd.DatetimeIndex(frame["when"]).tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
        if layout == "aware ns":  # pandas' own unit: Parquet TIMESTAMPTZ_NS, which DuckDB read in UTC
            dates = dates.as_unit("ns") + pd.to_timedelta(frame["nanos"].to_numpy(), unit="ns")
        else:
            dates = dates.as_unit("us")
    else:
        dates = [r["when"].isoformat(sep=r["sep"]) + (r["offset"] or "") for r in rows]
    which = frame["customer_id"].map({"a": 0, "b": 1, "c": 2, "d": 3}).to_numpy()
    return pd.DataFrame({"customer_id": ID_KINDS[ids].take(which), "date": dates, "amount": frame["amount"],
                         "order": frame["order"]})


def outcome(fn, source, **kw):
    """The summary, or the type of the error that refused the log."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            return fn(source, **kw)
    except CLVError as exc:
        return type(exc)


def three_ways(tx: pd.DataFrame, layout: str, with_file: bool = True, **kw) -> list:
    """The outcomes of the pandas engine, DuckDB on the frame and (``with_file``) DuckDB on a file (CSV for
    text dates, Parquet for tz-aware ones); a calibration / holdout summary when ``kw`` has ``calibration_end``."""
    fn = clv.calibration_holdout if "calibration_end" in kw else clv.rfm_summary
    got = [outcome(fn, tx, engine="pandas", **kw), outcome(fn, tx, engine="duckdb", **kw)]
    if not with_file:
        return got
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("tx.parquet" if layout != "text" else "tx.csv")
        if layout != "text":
            tx.to_parquet(path, index=False)
        else:
            tx.to_csv(path, index=False)
        return got + [outcome(fn, str(path), engine="duckdb", **kw)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows(), kw=options(), layout=st.sampled_from(["text", "text", "aware", "aware ns"]),
       zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
       ids=st.sampled_from(list(ID_KINDS)))
def test_engines_agree_on_random_logs(rows, kw, layout, zone, ids):
    tx = make_log(rows, layout, zone, ids)
    before = tx.copy(deep=True)
    # a file holds one kind of id (a CSV's are all text, then typed by all their values): no file for mixed ids
    got = three_ways(tx, layout, with_file=ids != "mixed", **kw)
    pd.testing.assert_frame_equal(tx, before)
    if isinstance(got[0], type):
        assert got[1:] == [got[0]] * (len(got) - 1), got
        return
    dtype = got[0].index.dtype  # nullable Int64 ids become int64; mixed ids pass only when one kind was drawn
    # a CSV has no types: its integer ids are int64 unless one of the log needs uint64
    small = ids == "uint64" and int(tx["customer_id"].max()) < 2**63
    in_csv = np.dtype(np.int64) if layout == "text" and small else dtype
    for other, want in zip(got[1:], [dtype, in_csv]):
        assert not isinstance(other, type), (other, got[0])
        assert_same(got[0], other)
        assert other.index.dtype == want, (other.index.dtype, want)
    assert got[0].options.timezone == kw["timezone"]
    text = pd.api.types.is_string_dtype(dtype)
    assert {"text": text, "zeros": text, "uint64": dtype == np.uint64, "mixed": text or dtype == np.int64}.get(
        ids, dtype == np.int64), (ids, dtype)


@pytest.mark.parametrize("returns", ["net", "match"])
def test_the_property_sees_refunds_and_offsets(returns):
    # a fixed example of what the property draws, so a broken strategy cannot pass unnoticed
    rows = [{"customer_id": "a", "when": START + pd.Timedelta(days=d, hours=22), "offset": off, "sep": "T",
             "amount": amt, "order": "o1"}
            for d, off, amt in ((0, "-05:00", 10.0), (40, "+02:00", 7.5), (41, "Z", -7.5), (50, None, 3.0))]
    tx = make_log(rows, "text", "UTC")
    assert tx["date"].tolist()[:2] == ["2024-03-01T22:00:00-05:00", "2024-04-10T22:00:00+02:00"]
    s = outcome(clv.rfm_summary, tx, engine="duckdb", returns=returns, timezone="Europe/Berlin")
    assert s.loc["a", "frequency"] == (2 if returns == "net" else 1)


@pytest.mark.parametrize("ids,refused", [("Int64 with NA", True), ("mixed", True), ("uint64", False), ("zeros", False)])
def test_the_property_sees_every_kind_of_id(ids, refused, tmp_path):
    # a fixed example of each kind the property draws: refused alike, or the same ids on every engine
    rows = [{"customer_id": c, "when": START + pd.Timedelta(days=d), "offset": None, "sep": "T", "amount": 5.0,
             "order": None} for c, d in (("a", 0), ("c", 3), ("b", 9), ("a", 12))]
    tx = make_log(rows, "text", "UTC", ids)
    tx.to_csv(tmp_path / "tx.csv", index=False)
    got = [outcome(clv.rfm_summary, tx, engine="pandas"), outcome(clv.rfm_summary, tx, engine="duckdb"),
           outcome(clv.rfm_summary, str(tmp_path / "tx.csv"), engine="duckdb")]
    if refused:
        assert got[:2] == [InvalidValueError] * 2
        return
    assert sorted(got[0].index) == sorted(ID_KINDS[ids][:3])
    for other in got[1:]:
        assert_same(got[0], other)
        assert other.index.dtype == got[0].index.dtype
