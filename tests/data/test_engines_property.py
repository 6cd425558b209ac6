"""Property: the pandas and DuckDB engines agree on every small log, or both refuse it.

Random logs mix naive text, UTC offsets (across DST changes, differing between rows) and tz-aware
columns, purchases and refunds with and without order ids; random options cover the merge periods,
the returns policies (drop, net, match by date or by order), the timezone option and calibration /
holdout splits. Each log is summarised by the pandas engine, by DuckDB on the same frame, and by
DuckDB on a file (CSV for text dates, Parquet for tz-aware ones): frequency, recency and T must be
identical, monetary values equal to 1e-12 relative, and the drop reports equal.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels.errors import CLVError, DataDroppedWarning

from .test_engines import assert_same

START = pd.Timestamp("2024-03-01")   # 70 days: the US (Mar 10) and EU (Mar 31) DST changes inside
OFFSETS = ["+01:00", "+02:00", "-05:00", "-04:00", "Z", "+05:30", "+0930", "-03", "+00:00"]
ZONES = [None, "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"]


@st.composite
def rows(draw):
    n = draw(st.integers(1, 14))
    out = []
    for _ in range(n):
        when = START + pd.Timedelta(days=draw(st.integers(0, 70)), hours=draw(st.integers(0, 23)),
                                    minutes=draw(st.sampled_from([0, 1, 30, 59])))
        if draw(st.booleans()):
            when += pd.Timedelta(microseconds=draw(st.integers(0, 999_999)))
        refund = draw(st.integers(0, 3)) == 0
        cents = draw(st.integers(0 if not refund else 1, 20_000))
        out.append({
            "customer_id": draw(st.sampled_from(["a", "b", "c", "d"])),
            "when": when,
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


def make_log(rows, layout: str, zone: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if layout == "aware":
        dates = pd.DatetimeIndex(frame["when"]).tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
    else:
        dates = [r["when"].isoformat(sep=r["sep"]) + (r["offset"] or "") for r in rows]
    return pd.DataFrame({"customer_id": frame["customer_id"], "date": dates, "amount": frame["amount"],
                         "order": frame["order"]})


def outcome(fn, source, **kw):
    """The summary, or the type of the error that refused the log."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            return fn(source, **kw)
    except CLVError as exc:
        return type(exc)


def three_ways(tx: pd.DataFrame, layout: str, **kw) -> list:
    """The outcomes of the pandas engine, DuckDB on the frame and DuckDB on a file (CSV for text dates,
    Parquet for tz-aware ones); a calibration / holdout summary when ``kw`` has ``calibration_end``."""
    fn = clv.calibration_holdout if "calibration_end" in kw else clv.rfm_summary
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("tx.parquet" if layout == "aware" else "tx.csv")
        if layout == "aware":
            tx.to_parquet(path, index=False)
        else:
            tx.to_csv(path, index=False)
        return [outcome(fn, tx, engine="pandas", **kw), outcome(fn, tx, engine="duckdb", **kw),
                outcome(fn, str(path), engine="duckdb", **kw)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows(), kw=options(), layout=st.sampled_from(["text", "text", "aware"]),
       zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]))
def test_engines_agree_on_random_logs(rows, kw, layout, zone):
    tx = make_log(rows, layout, zone)
    before = tx.copy(deep=True)
    got = three_ways(tx, layout, **kw)
    pd.testing.assert_frame_equal(tx, before)
    if isinstance(got[0], type):
        assert got[1:] == [got[0], got[0]], got
        return
    for other in got[1:]:
        assert not isinstance(other, type), (other, got[0])
        assert_same(got[0], other)
    assert got[0].options.timezone == kw["timezone"]


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
