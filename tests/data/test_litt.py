"""The regularity statistic ``litt`` (rfm_summary(..., litt=True)): the sum of the logs of a customer's
inter-purchase times, as BTYDplus' ``elog2cbs`` defines it (Platzer & Reutterer 2016), on both engines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels.data import purchase_log
from clvmodels.errors import DataDroppedWarning, InvalidValueError, MissingColumnError

from .test_engines_property import make_log, options, rows, three_ways


def _both(tx, fn=clv.rfm_summary, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        return fn(tx, engine="pandas", litt=True, **kw), fn(tx, engine="duckdb", litt=True, **kw)


def _agree(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index) and list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a["litt"], b["litt"], rtol=1e-12, atol=1e-12)
    rest = [c for c in a.columns if c != "litt" and not c.startswith("monetary_value")]
    pd.testing.assert_frame_equal(a[rest], b[rest], check_exact=True)


def _reference(log: pd.DataFrame, unit_days: float) -> pd.Series:
    """litt from the purchase log, written directly: per customer, log of the differences of purchase dates."""
    out = {}
    for cid, g in log.groupby("customer_id", sort=True):
        days = np.sort((g["date"] - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy() / 86_400.0)
        out[cid] = float(np.sum(np.log(np.diff(days) / unit_days)))
    return pd.Series(out)


def test_hand_computed_example_and_merge_rule():
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "a", "b", "c", "c"],
                       "date": ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-08", "2024-01-22", "2024-01-23",
                                "2024-01-05", "2024-01-02", "2024-01-30"],
                       "amount": [1.0] * 8})
    for engine in ("pandas", "duckdb"):
        days = clv.rfm_summary(tx, "2024-02-01", "D", litt=True, engine=engine)
        # a: purchases on days 0, 7, 21, 22 (the two rows of Jan 1 are one purchase): log 7 + log 14 + log 1
        assert days.loc["a", "frequency"] == 3
        assert days.loc["a", "litt"] == pytest.approx(np.log(7) + np.log(14), rel=1e-15)
        assert days.loc["b", "litt"] == 0.0 and days.loc["c", "litt"] == pytest.approx(np.log(28), rel=1e-15)
        weeks = clv.rfm_summary(tx, "2024-02-01", "W", litt=True, engine=engine)
        np.testing.assert_allclose(weeks["litt"], days["litt"] - days["frequency"] * np.log(7), rtol=1e-14)
        # merge by ISO week: purchases at the first day of each week bought in (Jan 1, 8, 22) -> log 1 + log 2
        by_week = clv.rfm_summary(tx, "2024-02-01", "W", merge="W", litt=True, engine=engine)
        assert by_week.loc["a", "frequency"] == 2
        assert by_week.loc["a", "litt"] == pytest.approx(np.log(2), abs=1e-15)
        # exact timestamps: 9 hours between the first two purchases of Jan 1
        exact = clv.rfm_summary(tx, "2024-02-01", "D", merge=None, litt=True, engine=engine)
        first_gaps = np.log(9 / 24) + np.log(7 - 18 / 24) + np.log(14) + np.log(1)
        assert exact.loc["a", "frequency"] == 4 and exact.loc["a", "litt"] == pytest.approx(first_gaps, rel=1e-13)
    assert "litt" not in clv.rfm_summary(tx, "2024-02-01", "D").columns     # only when asked for


def test_calibration_uses_only_calibration_purchases():
    tx = pd.DataFrame({"customer_id": ["a"] * 4, "date": ["2024-01-01", "2024-01-03", "2024-01-07", "2024-01-20"],
                       "amount": [1.0] * 4})
    for engine in ("pandas", "duckdb"):
        cal = clv.calibration_holdout(tx, "2024-01-10", "2024-01-31", "D", litt=True, engine=engine)
        assert cal.loc["a", "frequency_holdout"] == 1
        assert cal.loc["a", "litt"] == pytest.approx(np.log(2) + np.log(4), rel=1e-15)


@pytest.mark.parametrize("kw", [{}, {"merge": "W"}, {"merge": "M", "time_unit": "M"}, {"merge": None, "time_unit": "D"},
                                {"time_unit": "Y", "returns": "drop"}])
def test_cdnow_master_engines_agree(kw):
    a, b = _both(clv.datasets.cdnow_transactions(), observation_end="1997-09-30", **kw)
    assert len(a) >= 23500 and (a.loc[a["frequency"] == 0, "litt"] == 0).all()
    assert np.isfinite(a["litt"]).all()
    _agree(a, b)


def test_cdnow_calibration_matches_the_purchase_log_and_a_parquet_file(tmp_path):
    tx = clv.datasets.cdnow_transactions(sample=True)
    a, b = _both(tx, clv.calibration_holdout, calibration_end="1997-09-30", observation_end="1998-06-30")
    _agree(a, b)
    path = tmp_path / "cdnow.parquet"
    tx.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        _agree(a, clv.calibration_holdout(str(path), "1997-09-30", "1998-06-30", litt=True))
    # the same statistic written directly from the purchases the summary counts (up to calibration_end)
    log = purchase_log(tx, a.options, observation_end="1997-09-30")
    ref = _reference(log, 7.0).reindex(a.index)
    np.testing.assert_allclose(a["litt"], ref, rtol=1e-12, atol=1e-12)
    # customer 1 of CDNOW: purchases on 1997-01-01, 01-18 and 08-02
    assert a.loc[1, "litt"] == pytest.approx(np.log(17 / 7) + np.log(196 / 7), rel=1e-14)


def test_options_record_litt_and_rebuild_the_summary():
    tx = clv.datasets.cdnow_transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        s = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30", litt=True)
        assert s.options.litt is True and s.describe_facts()["options"]["litt"] is True
        again = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30", **s.options.as_dict())
    pd.testing.assert_frame_equal(again, s)
    with pytest.raises(clv.errors.ConfigError, match="litt"):
        clv.rfm_summary(tx, litt="yes")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows(), kw=options(), layout=st.sampled_from(["text", "aware"]),
       zone=st.sampled_from(["Europe/Berlin", "America/New_York", "UTC"]))
def test_engines_agree_on_random_logs(rows, kw, layout, zone):
    got = three_ways(make_log(rows, layout, zone), layout, litt=True, **kw)
    if isinstance(got[0], type):
        assert got[1:] == [got[0], got[0]], got
        return
    for other in got[1:]:
        _agree(got[0], other)
    s = got[0]
    assert np.isfinite(s["litt"]).all() and (s.loc[s["frequency"] == 0, "litt"] == 0).all()
    # validated like any summary: the bound holds by construction
    clv.RFMSummary.from_frame(pd.DataFrame(s), time_unit=s.time_unit)


def test_validation_names_the_column():
    frame = pd.DataFrame({"frequency": [2, 0, 1], "recency": [3.0, 0.0, 1.5], "T": [4.0, 4.0, 4.0],
                          "litt": [np.log(2.0), 0.0, np.log(1.5)]}, index=pd.Index([1, 2, 3], name="customer_id"))
    ok = clv.RFMSummary.from_frame(frame, time_unit="W")
    assert ok["litt"].tolist() == frame["litt"].tolist()
    checked = clv.validate_summary(frame, litt=True)
    assert list(checked.columns) == ["frequency", "recency", "T", "litt"]
    bad = {"nan": [np.nan, 0.0, 0.0], "zero buyer": [0.0, 0.5, 0.0], "too large": [np.log(2.0), 0.0, np.log(1.5 * 7)]}
    for what, values in bad.items():
        with pytest.raises(InvalidValueError) as e:
            clv.RFMSummary.from_frame(frame.assign(litt=values), time_unit="W")
        assert e.value.column == "litt", what
    with pytest.raises(MissingColumnError, match="litt"):
        clv.validate_summary(frame.drop(columns="litt"), litt=True)
