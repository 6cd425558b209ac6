"""pandas and DuckDB engines give the same summary (counts and times exactly, money to summation order)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import DataDroppedWarning

from ..conftest import synthetic_log


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index)
    exact = [c for c in a.columns if not c.startswith("monetary_value")]
    pd.testing.assert_frame_equal(a[exact], b[exact], check_exact=True)
    money = [c for c in a.columns if c.startswith("monetary_value")]
    pd.testing.assert_frame_equal(a[money], b[money], check_exact=False, rtol=1e-12, atol=0)
    assert a.report == b.report
    if hasattr(a, "observation_end"):  # an RFMSummary: its dates too (to the microsecond, both engines' ticks)
        assert (a.observation_end, a.calibration_end) == (b.observation_end, b.calibration_end)


def both(tx, fn=clv.rfm_summary, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        return fn(tx, engine="pandas", **kw), fn(tx, engine="duckdb", **kw)


@pytest.mark.parametrize("kw", [{}, {"merge": "W"}, {"merge": "M", "time_unit": "M"}, {"merge": None, "time_unit": "D"},
                                {"monetary_includes_first": True, "time_unit": "Y"}])
def test_cdnow_master_engines_agree(kw):
    tx = clv.datasets.cdnow_transactions()
    a, b = both(tx, observation_end="1997-09-30", **kw)
    assert len(a) == 23570
    assert_same(a, b)


def test_cdnow_master_calibration_holdout_engines_agree(tmp_path):
    tx = clv.datasets.cdnow_transactions()
    a, b = both(tx, clv.calibration_holdout, calibration_end="1997-09-30", observation_end="1998-06-30")
    assert_same(a, b)
    path = tmp_path / "cdnow.parquet"
    tx.to_parquet(path)
    assert_same(a, clv.calibration_holdout(str(path), "1997-09-30", "1998-06-30"))


@pytest.mark.slow
def test_million_row_log_engines_agree(tmp_path):
    tx = synthetic_log(1_200_000, 150_000, seed=7, with_time=True)
    a, b = both(tx, observation_end="2021-06-30", returns="net", merge="D")
    assert len(a) > 100_000
    assert_same(a, b)
    a2, b2 = both(tx, observation_end="2021-06-30", merge=None, time_unit="D")
    assert_same(a2, b2)
    path = tmp_path / "big.parquet"
    tx.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        assert_same(a, clv.rfm_summary(str(path), observation_end="2021-06-30", returns="net", merge="D"))


def on_every_engine(tx, tmp_path, fn=clv.rfm_summary, **kw):
    """The summary by the pandas engine, DuckDB on the frame and DuckDB on a file; all must agree."""
    aware = isinstance(tx["date"].dtype, pd.DatetimeTZDtype)
    path = tmp_path / ("tx.parquet" if aware else "tx.csv")
    if aware:
        tx.to_parquet(path, index=False)
    else:
        tx.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        out = [fn(tx, engine="pandas", **kw), fn(tx, engine="duckdb", **kw), fn(str(path), **kw)]
    for other in out[1:]:
        assert_same(out[0], other)
    return out[0]
