"""Transaction log -> RFM summary, the input of every model.

Conventions (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):

* ``frequency`` (x): number of *repeat* purchase periods: distinct purchase periods minus one.
* ``recency`` (t_x): time from the first to the last purchase, fractional, in ``time_unit``.
* ``T``: time from the first purchase to ``observation_end``, fractional, in ``time_unit``.
* ``monetary_value``: mean value of the repeat purchases (the first purchase excluded), 0 for a
  customer with no repeat purchase; a purchase's value is the sum of the amounts merged into it.

Options, all explicit:

``merge`` - how transactions are merged into one purchase (one "purchase occasion"):
    ``'D'`` (default) all transactions of a customer on the same calendar day are one purchase, as in
    the papers; ``'W'`` the same ISO week (Monday to Sunday); ``'M'`` the same calendar month; ``'Y'``
    the same calendar year; ``None`` only rows with identical timestamps are merged. With ``'D'``,
    ``'W'``, ``'M'``, ``'Y'`` dates count as whole days (time of day is ignored) and a merged purchase
    happens on the first day it contains; with ``None`` exact timestamps are used.
``time_unit`` - ``'D'``, ``'W'``, ``'M'``, ``'Y'``; exact lengths from :mod:`clvmodels.timeunits`.
``monetary_includes_first`` - ``False`` (default, Fader-Hardie) averages repeat purchases only;
    ``True`` averages every purchase including the first.
``returns`` - what to do with amounts <= 0:
    ``'error'`` (default) a negative amount raises :class:`InvalidValueError` naming the customers;
    zero amounts are kept as (free) purchases. ``'drop'`` removes rows with amount <= 0.
    ``'net'`` nets amounts within each merged purchase and removes purchases whose net value is <= 0
    (a return in the same period as its order cancels it).
``after_observation_end`` - ``'exclude'`` (default) leaves out transactions after
    ``observation_end`` and counts them; ``'error'`` raises naming the customers.

Nothing is dropped silently: every row a policy removes is counted in ``summary.attrs['report']``
and announced by a :class:`~clvmodels.errors.DataDroppedWarning`. The summary is sorted by
customer id, so both engines return the same order.

``observation_end`` is the last observed day, inclusive: with day-based merging a transaction at
any time on that day is inside the window, and ``T`` is measured to that day's start (so the
published CDNOW numbers, e.g. T = 38.86 weeks for a 1997-01-01 first purchase and a 1997-09-30
end, come out exactly). Customers whose first purchase is after ``observation_end`` are not in
the summary (they are counted in the report).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataDroppedWarning, InvalidValueError, describe_culprits
from ..timeunits import check_unit, days_per
from .transactions import prepare_transactions, to_timestamp

__all__ = ["rfm_summary", "calibration_holdout", "RFMOptions"]

MERGE_PERIODS = ("D", "W", "M", "Y", None)
RETURNS_POLICIES = ("error", "drop", "net")
AFTER_END_POLICIES = ("exclude", "error")
US_PER_DAY = 86_400_000_000
ENGINES = ("auto", "pandas", "duckdb")


@dataclass(frozen=True)
class RFMOptions:
    """Validated options shared by both engines."""

    time_unit: str = "W"
    merge: str | None = "D"
    monetary_includes_first: bool = False
    returns: str = "error"
    after_observation_end: str = "exclude"

    @classmethod
    def build(cls, time_unit, merge, monetary_includes_first, returns, after_observation_end) -> "RFMOptions":
        unit = check_unit(time_unit, key="time_unit")
        if merge is not None:
            if not isinstance(merge, str) or merge.upper() not in MERGE_PERIODS:
                raise ConfigError(f"merge={merge!r} is not a merge period; use one of {list(MERGE_PERIODS)}",
                                  key="merge")
            merge = merge.upper()
        if returns not in RETURNS_POLICIES:
            raise ConfigError(f"returns={returns!r} is not a returns policy; use one of {list(RETURNS_POLICIES)}",
                              key="returns")
        if after_observation_end not in AFTER_END_POLICIES:
            raise ConfigError(f"after_observation_end={after_observation_end!r}; use one of "
                              f"{list(AFTER_END_POLICIES)}", key="after_observation_end")
        return cls(unit, merge, bool(monetary_includes_first), returns, after_observation_end)

    @property
    def ticks_per_day(self) -> int:
        """Integer time resolution: whole days when merging by calendar period, microseconds otherwise."""
        return 1 if self.merge else US_PER_DAY


@dataclass
class _Report:
    n_rows: int = 0
    n_rows_after_observation_end: int = 0
    n_rows_dropped_returns: int = 0
    n_purchases_dropped_net_nonpositive: int = 0
    n_customers_dropped: int = 0
    dropped_customer_examples: list = field(default_factory=list)
    n_customers_first_purchase_after_end: int = 0

    def as_dict(self, opts: RFMOptions, observation_end, **extra) -> dict:
        out = {k: (list(v) if isinstance(v, list) else int(v)) for k, v in self.__dict__.items()}
        out.update(time_unit=opts.time_unit, merge=opts.merge, returns=opts.returns,
                   monetary_includes_first=opts.monetary_includes_first,
                   observation_end=str(observation_end), **extra)
        return out

    def warn(self, where: str, stacklevel: int) -> None:
        parts = []
        if self.n_rows_after_observation_end:
            parts.append(f"{self.n_rows_after_observation_end} transaction(s) after {where} excluded")
        if self.n_rows_dropped_returns:
            parts.append(f"{self.n_rows_dropped_returns} transaction(s) with amount <= 0 dropped (returns='drop')")
        if self.n_purchases_dropped_net_nonpositive:
            parts.append(f"{self.n_purchases_dropped_net_nonpositive} purchase(s) with net amount <= 0 dropped "
                         "(returns='net')")
        if self.n_customers_dropped:
            parts.append(f"{self.n_customers_dropped} customer(s) left with no purchase and not summarised, "
                         f"e.g. {describe_culprits(self.dropped_customer_examples)}")
        if parts:
            warnings.warn("; ".join(parts) + ". Counts are in summary.attrs['report'].",
                          DataDroppedWarning, stacklevel=stacklevel)


# ----------------------------------------------------------------------------------------------
# time handling


def _ticks(dates: pd.Series, opts: RFMOptions) -> np.ndarray:
    """Integer event times: day numbers (calendar merges) or microseconds since the epoch."""
    values = dates.to_numpy()
    if opts.merge:
        return values.astype("datetime64[D]").astype(np.int64)
    return values.astype("datetime64[us]").astype(np.int64)


def _end_tick(end: pd.Timestamp, opts: RFMOptions) -> int:
    if end.tzinfo is not None:
        end = end.tz_localize(None)
    value = np.datetime64(end.to_datetime64())
    if opts.merge:
        return int(value.astype("datetime64[D]").astype(np.int64))
    return int(value.astype("datetime64[us]").astype(np.int64))


def _buckets(ticks: np.ndarray, opts: RFMOptions) -> np.ndarray:
    """Merge key per row: rows of a customer with equal key are one purchase."""
    if opts.merge in ("D", None):
        return ticks
    if opts.merge == "W":  # 1970-01-01 is a Thursday: +3 aligns week starts to Mondays
        return np.floor_divide(ticks + 3, 7)
    unit = "M" if opts.merge == "M" else "Y"
    return ticks.astype("datetime64[D]").astype(f"datetime64[{unit}]").astype(np.int64)


# ----------------------------------------------------------------------------------------------
# the numpy core (pandas engine)


def _sort_order(codes: np.ndarray, ticks: np.ndarray) -> np.ndarray | None:
    """Permutation sorting rows by (customer code, time); None when already sorted."""
    if len(codes) > 1:
        dc = np.diff(codes)
        if (dc >= 0).all() and ((dc > 0) | (np.diff(ticks) >= 0)).all():
            return None
    tmin = ticks.min()
    span = int(ticks.max() - tmin) + 1
    if span * (int(codes.max()) + 1) < 2**62:
        key = codes.astype(np.int64) * span + (ticks - tmin)
        return np.argsort(key, kind="stable")
    return np.lexsort((ticks, codes))


def _purchases(codes, ticks, buckets, amounts, segment=None):
    """Merge sorted rows into purchases. Returns (code, tick, amount, segment) per purchase."""
    n = len(codes)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(codes[1:], codes[:-1], out=new[1:])
    new[1:] |= buckets[1:] != buckets[:-1]
    if segment is not None:
        new[1:] |= segment[1:] != segment[:-1]
    starts = np.flatnonzero(new)
    p_amount = np.add.reduceat(amounts, starts) if amounts is not None else None
    return codes[starts], ticks[starts], p_amount, (segment[starts] if segment is not None else None)


def _per_customer(p_code, p_tick, p_amount, n_codes):
    """First/last tick, purchase count, total and first purchase amount per customer code present."""
    new = np.empty(len(p_code), dtype=bool)
    new[0] = True
    np.not_equal(p_code[1:], p_code[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(p_code)) - 1
    out = {
        "code": p_code[starts],
        "first": p_tick[starts],
        "last": p_tick[ends],
        "count": ends - starts + 1,
    }
    if p_amount is not None:
        out["total"] = np.add.reduceat(p_amount, starts)
        out["first_amount"] = p_amount[starts]
    return out


def _apply_returns_rows(amounts, keep, opts: RFMOptions, report: _Report, codes, uniques, amount_col):
    """Row-level returns policy ('error' and 'drop'); 'net' works on merged purchases instead."""
    if amounts is None or opts.returns == "net":
        return keep
    if opts.returns == "error":
        neg = (amounts < 0) & keep
        if neg.any():
            culprits = uniques[pd.unique(codes[neg])]
            n = int(neg.sum())
            raise InvalidValueError(
                f"column {amount_col!r}: {n} row(s) have a negative amount and returns='error'; example customer "
                f"ids {describe_culprits(culprits)}; pass returns='drop' or returns='net' to handle returns",
                column=amount_col, n_rows=n, examples=list(culprits[:5]))
        return keep
    drop = (amounts <= 0) & keep
    report.n_rows_dropped_returns = int(drop.sum())
    return keep & ~drop


def _summary_frame(stats, uniques, opts: RFMOptions, end_tick: int) -> pd.DataFrame:
    ticks_per_unit = opts.ticks_per_day * days_per(opts.time_unit)
    frequency = (stats["count"] - 1).astype(np.int64)
    data = {
        "frequency": frequency,
        "recency": (stats["last"] - stats["first"]) / ticks_per_unit,
        "T": (end_tick - stats["first"]) / ticks_per_unit,
    }
    if "total" in stats:
        data["monetary_value"] = _monetary(stats["total"], stats["first_amount"], stats["count"],
                                           opts.monetary_includes_first)
    index = pd.Index(uniques[stats["code"]], name="customer_id")
    return pd.DataFrame(data, index=index)


def _monetary(total, first_amount, count, include_first):
    if include_first:
        return total / count
    repeat = count - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mv = np.where(repeat > 0, (total - first_amount) / np.maximum(repeat, 1), 0.0)
    return mv


# ----------------------------------------------------------------------------------------------
# public functions


def rfm_summary(transactions: pd.DataFrame | str | PathLike, observation_end=None, time_unit: str = "W", *,
                customer_col: str = "customer_id", date_col: str = "date", amount_col: str | None = "amount",
                merge: str | None = "D", monetary_includes_first: bool = False, returns: str = "error",
                after_observation_end: str = "exclude", date_format: str | None = None,
                engine: str = "auto") -> pd.DataFrame:
    """Build the RFM summary (frequency, recency, T, monetary_value) from a transaction log.

    Parameters
    ----------
    transactions : DataFrame, or a path to a CSV / Parquet file (read by DuckDB, out of core).
    observation_end : last observed day (inclusive); default: the last transaction date.
    time_unit : 'D', 'W' (default, as in the papers), 'M' or 'Y' for recency and T.
    customer_col, date_col, amount_col : column names; ``amount_col=None`` for logs without amounts
        (no monetary_value column then).
    merge, monetary_includes_first, returns, after_observation_end : see the module docstring.
    date_format : strptime format for text dates (e.g. ``'%Y%m%d'``); inferred when None.
    engine : 'pandas' (in memory), 'duckdb' (embedded SQL engine; required for paths), or 'auto'
        (DuckDB for paths, pandas for frames). Both give the same summary.

    Returns
    -------
    DataFrame indexed by ``customer_id`` (sorted), columns frequency (int), recency, T,
    monetary_value (float). ``attrs['report']`` counts everything left out by a policy.
    """
    opts = RFMOptions.build(time_unit, merge, monetary_includes_first, returns, after_observation_end)
    end = to_timestamp(observation_end) if observation_end is not None else None
    engine = _pick_engine(transactions, engine)
    if engine == "duckdb":
        from .duckdb_engine import duckdb_summary

        return duckdb_summary(transactions, end, None, opts, customer_col=customer_col, date_col=date_col,
                              amount_col=amount_col, date_format=date_format)
    return _pandas_summary(transactions, end, None, opts, customer_col, date_col, amount_col, date_format)


def calibration_holdout(transactions: pd.DataFrame | str | PathLike, calibration_end, observation_end=None,
                        time_unit: str = "W", *, customer_col: str = "customer_id", date_col: str = "date",
                        amount_col: str | None = "amount", merge: str | None = "D",
                        monetary_includes_first: bool = False, returns: str = "error",
                        after_observation_end: str = "exclude", date_format: str | None = None,
                        engine: str = "auto") -> pd.DataFrame:
    """Calibration summary up to ``calibration_end`` plus what each customer did in the holdout.

    Customers are those with a first purchase on or before ``calibration_end``. Extra columns:
    ``frequency_holdout`` (purchases in (calibration_end, observation_end]), ``monetary_value_holdout``
    (mean value of those purchases, 0 if none) and ``duration_holdout`` (observation_end -
    calibration_end in ``time_unit``, the same for everyone). Options as in :func:`rfm_summary`.
    A purchase period that straddles ``calibration_end`` (merge='W'/'M'/'Y') is split at it.
    """
    opts = RFMOptions.build(time_unit, merge, monetary_includes_first, returns, after_observation_end)
    cal_end = to_timestamp(calibration_end, "calibration_end")
    end = to_timestamp(observation_end) if observation_end is not None else None
    if end is not None and end <= cal_end:
        raise ConfigError(f"observation_end={end.date()} must be after calibration_end={cal_end.date()}",
                          key="observation_end")
    engine = _pick_engine(transactions, engine)
    if engine == "duckdb":
        from .duckdb_engine import duckdb_summary

        return duckdb_summary(transactions, end, cal_end, opts, customer_col=customer_col, date_col=date_col,
                              amount_col=amount_col, date_format=date_format)
    return _pandas_summary(transactions, end, cal_end, opts, customer_col, date_col, amount_col, date_format)


def _pick_engine(transactions, engine: str) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"engine={engine!r}; use one of {list(ENGINES)}", key="engine")
    is_path = isinstance(transactions, (str, PathLike))
    if is_path and engine == "pandas":
        raise ConfigError("engine='pandas' needs a DataFrame; a path is read with engine='duckdb'", key="engine")
    if engine == "auto":
        return "duckdb" if is_path else "pandas"
    return engine


def _pandas_summary(transactions, end, cal_end, opts: RFMOptions, customer_col, date_col, amount_col,
                    date_format) -> pd.DataFrame:
    tx = prepare_transactions(transactions, customer_col=customer_col, date_col=date_col,
                              amount_col=amount_col, date_format=date_format)
    report = _Report(n_rows=len(tx.ids))
    codes, uniques = pd.factorize(tx.ids, sort=True)
    uniques = np.asarray(uniques)
    ticks = _ticks(tx.dates, opts)
    if end is None:
        end_tick = int(ticks.max())
        end = pd.Timestamp(tx.dates.max())
    else:
        end_tick = _end_tick(end, opts)
    after = ticks > end_tick
    if after.any() and opts.after_observation_end == "error":
        culprits = pd.unique(uniques[codes[after]])
        raise InvalidValueError(
            f"column {date_col!r}: {int(after.sum())} row(s) are dated after observation_end={end.date()}; "
            f"example customer ids {describe_culprits(culprits)} (after_observation_end='exclude' leaves them out)",
            column=date_col, n_rows=int(after.sum()), examples=list(culprits[:5]))
    report.n_rows_after_observation_end = int(after.sum())
    keep = ~after
    present_before = np.unique(codes[keep])
    keep = _apply_returns_rows(tx.amounts, keep, opts, report, codes, uniques, amount_col)

    amounts = tx.amounts
    if not keep.all():
        codes, ticks, amounts = codes[keep], ticks[keep], (amounts[keep] if amounts is not None else None)
    segment = None
    if cal_end is not None:
        cal_tick = _end_tick(cal_end, opts)
        segment = (ticks > cal_tick).astype(np.int8)
    if len(codes) == 0:
        return _empty_result(report, uniques, opts, end, amount_col, cal_end)
    order = _sort_order(codes, ticks)
    if order is not None:
        codes, ticks = codes[order], ticks[order]
        amounts = amounts[order] if amounts is not None else None
        segment = segment[order] if segment is not None else None
    p_code, p_tick, p_amount, p_seg = _purchases(codes, ticks, _buckets(ticks, opts), amounts, segment)
    if opts.returns == "net" and p_amount is not None:
        ok = p_amount > 0
        report.n_purchases_dropped_net_nonpositive = int((~ok).sum())
        p_code, p_tick, p_amount = p_code[ok], p_tick[ok], p_amount[ok]
        p_seg = p_seg[ok] if p_seg is not None else None

    if cal_end is None:
        stats = _per_customer(p_code, p_tick, p_amount, len(uniques)) if len(p_code) else None
        result = (_summary_frame(stats, uniques, opts, end_tick) if stats is not None
                  else _empty_frame(amount_col is not None))
    else:
        cal = p_seg == 0
        stats = _per_customer(p_code[cal], p_tick[cal], p_amount[cal] if p_amount is not None else None,
                              len(uniques)) if cal.any() else None
        result = (_summary_frame(stats, uniques, opts, cal_tick) if stats is not None
                  else _empty_frame(amount_col is not None))
        result = _add_holdout(result, stats, p_code[~cal], p_amount[~cal] if p_amount is not None else None,
                              uniques, opts, end_tick - cal_tick)
        # customers whose first purchase falls in the holdout are not in a calibration summary
        cal_codes = stats["code"] if stats is not None else np.array([], dtype=np.int64)
        report.n_customers_first_purchase_after_end = int(len(np.setdiff1d(np.unique(p_code), cal_codes)))
    _note_dropped_customers(report, present_before, np.unique(p_code), uniques)
    return finish(result, report, opts, end, cal_end)


def finish(result: pd.DataFrame, report: _Report, opts: RFMOptions, end: pd.Timestamp, cal_end,
           stacklevel: int = 5) -> pd.DataFrame:
    """Record the report and settings on the summary and warn about anything a policy left out."""
    extra = {"calibration_end": str(cal_end.date())} if cal_end is not None else {}
    result.attrs["report"] = report.as_dict(opts, end.date(), **extra)
    result.attrs["time_unit"] = opts.time_unit
    report.warn("observation_end", stacklevel)
    return result


def _add_holdout(result, stats, h_code, h_amount, uniques, opts, duration_ticks):
    """Count holdout purchases per calibration customer (pandas engine) and attach them."""
    n = len(result)
    freq = np.zeros(n, dtype=np.int64)
    total = np.zeros(n) if h_amount is not None else None
    if stats is not None and len(h_code):
        pos = np.searchsorted(stats["code"], h_code)
        ok = pos < len(stats["code"])
        ok[ok] &= stats["code"][pos[ok]] == h_code[ok]
        np.add.at(freq, pos[ok], 1)
        if total is not None:
            np.add.at(total, pos[ok], h_amount[ok])
    return attach_holdout(result, freq, total, opts, duration_ticks)


def attach_holdout(result, freq, total, opts: RFMOptions, duration_ticks) -> pd.DataFrame:
    """Add frequency_holdout, monetary_value_holdout and duration_holdout (shared by both engines)."""
    ticks_per_unit = opts.ticks_per_day * days_per(opts.time_unit)
    result["frequency_holdout"] = freq.astype(np.int64)
    if total is not None:
        result["monetary_value_holdout"] = np.where(freq > 0, total / np.maximum(freq, 1), 0.0)
    result["duration_holdout"] = float(duration_ticks / ticks_per_unit)
    return result


def _note_dropped_customers(report: _Report, before: np.ndarray, after: np.ndarray, uniques) -> None:
    gone = np.setdiff1d(before, after)
    report.n_customers_dropped = int(len(gone))
    report.dropped_customer_examples = [v.item() if hasattr(v, "item") else v for v in uniques[gone[:5]]]


def _empty_frame(with_monetary: bool) -> pd.DataFrame:
    cols = {"frequency": np.array([], dtype=np.int64), "recency": np.array([]), "T": np.array([])}
    if with_monetary:
        cols["monetary_value"] = np.array([])
    return pd.DataFrame(cols, index=pd.Index([], name="customer_id"))


def _empty_result(report, uniques, opts, end, amount_col, cal_end):
    from ..errors import DataValidationError

    raise DataValidationError(
        f"no transaction is left to summarise: {report.n_rows_after_observation_end} row(s) after "
        f"observation_end={getattr(end, 'date', lambda: end)()}, {report.n_rows_dropped_returns} dropped by "
        f"returns={opts.returns!r}", n_rows=report.n_rows)
