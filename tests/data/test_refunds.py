"""returns='match': late refunds netted against the customer's earlier purchases (both engines).

Every case runs on the pandas engine, DuckDB on the same frame and DuckDB on a CSV file; all three
must give the same summary and the same drop report.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.config import load_config
from clvmodels.errors import ConfigError, DataDroppedWarning, MissingColumnError
from clvmodels.pipeline import build_summary

from .test_engines import assert_same
from .test_engines import on_every_engine as engines_agree

ROWS = [  # customer, date, amount, order
    ("a", "2024-01-01", 50.0, "o1"),
    ("a", "2024-01-10", 30.0, "o2"),
    ("a", "2024-01-15", -30.0, "o2"),    # refunds the whole Jan 10 order 5 days later
    ("a", "2024-02-01", 20.0, "o3"),
    ("a", "2024-02-20", -5.0, "o1"),     # part of the Jan 1 order, after a later purchase
    ("b", "2024-01-03", 10.0, "o4"),
    ("b", "2024-03-20", -10.0, "o4"),    # 77 days later
    ("c", "2024-01-05", -4.0, None),     # a refund of nothing we know
    ("d", "2024-01-02", 8.0, "o5"),
    ("d", "2024-01-02", 12.0, "o6"),
    ("d", "2024-01-04", -12.0, "o6"),    # one of two orders of the same day
    ("d", "2024-01-20", 9.0, "o7"),
]


def log(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount", "order"])


def on_every_engine(tx, tmp_path, fn=clv.rfm_summary, **kw):
    """The shared engine-agreement check, with returns='match' and days unless said otherwise."""
    kw.setdefault("returns", "match")
    kw.setdefault("time_unit", "D")
    return engines_agree(tx, tmp_path, fn, **kw)


def test_late_refund_is_netted_against_the_purchase_before_it(tmp_path):
    s = on_every_engine(log(), tmp_path, observation_end="2024-03-31")
    # a: Jan 10 fully refunded (gone), Feb 1 netted to 15 by the Feb 20 refund: purchases Jan 1, Feb 1
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "recency"] == 31
    assert s.loc["a", "monetary_value"] == pytest.approx(15.0)
    # d: the Jan 2 purchase (8 + 12) is netted to 8 by the refund two days later
    assert s.loc["d", "monetary_value"] == pytest.approx(9.0)
    assert "c" not in s.index
    r = s.report
    assert (r.n_refunds_matched, r.n_refunds_unmatched, r.n_purchases_fully_refunded) == (3, 2, 1)
    assert r.unmatched_refund_examples == ["b", "c"]
    assert r.n_customers_dropped == 1 and r.dropped_customer_examples == ["c"]
    # 'net' only nets within the day: the late refunds were lost and a's value overstated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        net = clv.rfm_summary(log(), observation_end="2024-03-31", time_unit="D", returns="net")
    assert net.loc["a", "frequency"] == 2 and net.loc["a", "monetary_value"] == pytest.approx(25.0)


def test_match_is_announced_and_counted():
    with pytest.warns(DataDroppedWarning, match=r"2 refund\(s\) matched no purchase.*'b', 'c'.*1 purchase\(s\) "
                                               r"fully refunded") as caught:
        clv.rfm_summary(log(), observation_end="2024-03-31", returns="match")
    assert "np." not in str(caught[0].message)


def test_refunds_matched_by_order_id(tmp_path):
    s = on_every_engine(log(), tmp_path, observation_end="2024-03-31", order_col="order")
    # a's Feb 20 refund now goes to order o1 (Jan 1: 50 -> 45), not to the Feb 1 purchase
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "monetary_value"] == pytest.approx(20.0)
    # b's refund names its order: matched however late, the only purchase is gone with it
    assert "b" not in s.index
    r = s.report
    assert (r.n_refunds_matched, r.n_refunds_unmatched, r.n_purchases_fully_refunded) == (4, 1, 2)
    assert r.unmatched_refund_examples == ["c"]


def test_order_ids_are_matched_within_the_customer(tmp_path):
    rows = [("a", "2024-01-01", 10.0, 1), ("b", "2024-01-02", 20.0, 2), ("b", "2024-01-09", 5.0, 3),
            ("b", "2024-01-05", -20.0, 1),   # order 1 is a's, not b's
            ("a", "2024-01-08", 4.0, 4), ("a", "2024-01-09", -4.0, np.nan)]  # no order id: unmatched
    s = on_every_engine(log(rows), tmp_path, order_col="order")
    assert s.report.n_refunds_unmatched == 2 and s.report.n_refunds_matched == 0
    assert s.loc["b", "frequency"] == 1 and s.loc["a", "frequency"] == 1


@pytest.mark.parametrize("window, matched", [(0, 0), (13, 0), (14, 1), (None, 1)])
def test_refund_window_is_inclusive_in_days(window, matched, tmp_path):
    rows = [("a", "2024-01-01 18:00", 10.0, None), ("a", "2024-01-15 09:00", -10.0, None),
            ("a", "2024-02-01", 3.0, None)]
    s = on_every_engine(log(rows), tmp_path, refund_window=window)
    assert s.report.n_refunds_matched == matched
    assert s.options.refund_window == (30 if window is None else window)
    assert s.loc["a", "frequency"] == 1 - matched


def test_refund_window_with_exact_timestamps(tmp_path):
    # merge=None: the window is exact, 1 day = 24 hours after the purchase's time
    rows = [("a", "2024-01-01 18:00", 10.0, None), ("a", "2024-01-02 18:00", -4.0, None),
            ("a", "2024-01-02 19:00", -1.0, None), ("a", "2024-01-05", 7.0, None)]
    s = on_every_engine(log(rows), tmp_path, refund_window=1, merge=None)
    assert s.report.n_refunds_matched == 1 and s.report.n_refunds_unmatched == 1
    assert s.loc["a", "frequency"] == 1


def test_refund_goes_to_the_occasion_of_its_merge_period(tmp_path):
    # merge='W': a Tuesday refund of the same ISO week as a Thursday purchase nets within that purchase
    rows = [("a", "2024-01-02", 3.0, None), ("a", "2024-01-09", -5.0, None), ("a", "2024-01-11", 5.0, None),
            ("a", "2024-01-20", 7.0, None)]
    s = on_every_engine(log(rows), tmp_path, merge="W")
    assert s.report.n_purchases_fully_refunded == 1
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "monetary_value"] == pytest.approx(7.0)


def test_free_purchases_without_refunds_stay(tmp_path):
    rows = [("a", "2024-01-01", 0.0, None), ("a", "2024-01-05", 4.0, None), ("a", "2024-01-06", -4.0, None)]
    s = on_every_engine(log(rows), tmp_path)
    assert s.loc["a", "frequency"] == 0 and s.report.n_purchases_fully_refunded == 1


def test_calibration_never_uses_refunds_after_its_end(tmp_path):
    rows = [("a", "2024-01-01", 10.0, "o1"), ("a", "2024-01-28", 20.0, "o2"),
            ("a", "2024-02-03", -20.0, "o2"),   # after the calibration end: not netted against Jan 28
            ("a", "2024-02-10", 6.0, "o3"), ("a", "2024-02-12", -2.0, "o3")]  # holdout refund of a holdout order
    for kw in ({}, {"order_col": "order"}):
        cal = on_every_engine(log(rows), tmp_path, clv.calibration_holdout, calibration_end="2024-01-31",
                              observation_end="2024-02-29", **kw)
        assert cal.loc["a", "frequency"] == 1 and cal.loc["a", "monetary_value"] == pytest.approx(20.0)
        assert cal.loc["a", "frequency_holdout"] == 1
        assert cal.loc["a", "monetary_value_holdout"] == pytest.approx(4.0)
        assert cal.report.n_refunds_unmatched == 1 and cal.report.n_refunds_matched == 1
    # the full period nets it (by date: the Feb 3 refund goes to Jan 28, 6 days before)
    full = on_every_engine(log(rows), tmp_path, observation_end="2024-02-29")
    assert full.loc["a", "frequency"] == 1 and full.report.n_purchases_fully_refunded == 1


def test_purchase_log_counts_what_the_summary_counts(tmp_path):
    opts = clv.data.SummaryOptions.build(returns="match", order_col="order")
    path = tmp_path / "tx.csv"
    log().to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        logs = [clv.data.purchase_log(src, opts, "2024-03-31", engine=e)
                for src, e in ((log(), "pandas"), (log(), "duckdb"), (str(path), "duckdb"))]
    for other in logs[1:]:
        pd.testing.assert_frame_equal(logs[0], other)
    a = logs[0][logs[0]["customer_id"] == "a"]
    assert a["amount"].tolist() == [45.0, 20.0]


def test_input_not_modified():
    tx = log()
    before = tx.copy(deep=True)
    for engine in ("pandas", "duckdb"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            clv.rfm_summary(tx, returns="match", order_col="order", engine=engine)
    pd.testing.assert_frame_equal(tx, before)


@pytest.mark.parametrize("kw, key", [
    ({"returns": "net", "order_col": "order"}, "order_col"),
    ({"returns": "match", "order_col": "order", "refund_window": 10}, "refund_window"),
    ({"returns": "drop", "refund_window": 10}, "refund_window"),
    ({"returns": "match", "refund_window": -1}, "refund_window"),
    ({"returns": "match", "refund_window": 2.5}, "refund_window"),
    ({"returns": "match", "refund_window": True}, "refund_window"),
    ({"returns": "match", "order_col": "customer_id"}, "order_col"),
    ({"returns": "refund"}, "returns"),
])
def test_bad_match_options_name_the_key(kw, key):
    with pytest.raises(ConfigError) as err:
        clv.rfm_summary(log(), **kw)
    assert err.value.key == key


@pytest.mark.parametrize("source", ["pandas", "duckdb", "csv"])
def test_missing_order_column(source, tmp_path):
    tx = log().drop(columns="order")
    target = tx
    if source == "csv":
        target = tmp_path / "tx.csv"
        tx.to_csv(target, index=False)
        target = str(target)
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) \['order'\]") as err:
        clv.rfm_summary(target, returns="match", order_col="order",
                        engine="duckdb" if source == "csv" else source)
    assert err.value.column == "order"


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_net_to_float_zero_is_zero(engine):
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point: still a purchase of nothing, gone on both engines
    tx = log([("a", "2024-01-01", 0.1, None), ("a", "2024-01-01", 0.2, None), ("a", "2024-01-01", -0.3, None),
              ("a", "2024-01-02", 1.0, None), ("a", "2024-01-03", 2.0, None)])
    with pytest.warns(DataDroppedWarning):
        s = clv.rfm_summary(tx, returns="net", engine=engine)
    assert s.loc["a", "frequency"] == 1 and s.report.n_purchases_dropped_net_nonpositive == 1
    tx["date"] = ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]  # a refund a day later
    with pytest.warns(DataDroppedWarning):
        m = clv.rfm_summary(tx, returns="match", engine=engine)
    assert m.loc["a", "frequency"] == 1 and m.report.n_purchases_fully_refunded == 1


def test_config_match_reaches_the_summary():
    cfg, _ = load_config({"name": "t", "data": {"source": "cdnow", "order_col": "order"},
                          "summary": {"returns": "match", "time_unit": "D", "observation_end": "2024-03-31"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        s = build_summary(cfg, log())
    assert s.options.order_col == "order" and s.report.n_refunds_matched == 4
    cfg, _ = load_config({"name": "t", "data": {"source": "cdnow"},
                          "summary": {"returns": "match", "refund_window": 90, "observation_end": "2024-03-31"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        s = build_summary(cfg, log())
    assert s.options.refund_window == 90 and "b" not in s.index
    with pytest.raises(ConfigError) as err:
        load_config({"name": "t", "data": {"source": "cdnow"}, "summary": {"refund_window": -3}})
    assert err.value.key == "summary.refund_window"


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_everything_refunded_is_an_error_that_says_why(engine):
    tx = log([("a", "2024-01-01", 5.0, None), ("a", "2024-01-03", -5.0, None), ("b", "2024-01-02", -1.0, None)])
    with pytest.raises(clv.errors.DataValidationError,
                       match=r"1 purchase\(s\) fully refunded, 1 unmatched refund\(s\) dropped by returns='match'"):
        clv.rfm_summary(tx, returns="match", engine=engine)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_without_amounts_the_order_column_is_not_needed(engine):
    tx = log().drop(columns=["amount", "order"])
    s = clv.rfm_summary(tx, amount_col=None, returns="match", order_col="order", engine=engine)
    assert s.loc["a", "frequency"] == 4 and "monetary_value" not in s.columns


def test_options_rebuild_the_same_summary():
    # the temporal baseline rebuilds a summary from summary.options: every option must be a keyword
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        for kw in ({"order_col": "order"}, {}, {"refund_window": 5}):
            s = clv.calibration_holdout(log(), "2024-01-31", "2024-03-31", returns="match", timezone="UTC", **kw)
            again = clv.calibration_holdout(log(), "2024-01-31", "2024-03-31", **s.options.as_dict())
            assert_same(s, again)
            assert again.options == s.options
