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
    unit, count = np.datetime_data(values.dtype)
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit] // count
    raw = values.view(np.int64)
    if opts.merge:  # day numbers fit int32 (half the memory); floor division is right before 1970 too
        return (raw // (86_400 * per_second)).astype(np.int32)
    if per_second <= 10**6:
        return raw * (10**6 // per_second)
    return raw // (per_second // 10**6)


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


def _factorize_ids(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 and sorted unique ids. Compact integer ids skip hashing (a bitmap and a cumsum)."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * len(values) + 1_000_000:
            # non-negative ids index the bitmap directly (no shifted copy of the column)
            base = 0 if lo >= 0 and hi <= 4 * len(values) + 1_000_000 else lo
            offset = values if base == 0 else (values - base)
            seen = np.zeros(hi - base + 1, dtype=bool)
            seen[offset] = True
            rank = np.cumsum(seen, dtype=np.int64) - 1
            return rank[offset], (np.flatnonzero(seen) + base).astype(values.dtype)
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(uniques)


def _purchase_keys(codes, buckets, seg):
    """One integer per row naming its purchase: (customer, segment, merge bucket). Returns (key, span).

    ``key // span`` is ``code * 2 + segment`` when there is a segment (calibration 0 / holdout 1),
    else the customer code. The key is int32 when it fits (half the memory, twice the sort speed);
    exact timestamps over long periods are rank-compressed first so it cannot overflow int64.
    """
    compound = codes if seg is None else codes * 2 + seg
    bmin = int(buckets.min())
    span = int(buckets.max()) - bmin + 1
    n_compound = int(compound.max()) + 1
    if n_compound * span >= 2**62:
        _, buckets = np.unique(buckets, return_inverse=True)
        bmin, span = 0, int(buckets.max()) + 1
    dtype = np.int32 if n_compound * span < 2**31 and abs(bmin) < 2**31 else np.int64
    key = compound.astype(dtype)
    key *= span
    key -= bmin  # before adding the buckets, so no intermediate value leaves the key's range
    np.add(key, buckets, out=key, casting="unsafe")
    return key, span


def _count_purchases(codes, buckets, seg, n_codes):
    """Distinct purchases per customer (calibration, holdout) from one in-place sort of the keys."""
    key, span = _purchase_keys(codes, buckets, seg)
    key.sort()
    new = np.empty(len(key), dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    compound = key[new] // span
    del key, new
    if seg is None:
        return np.bincount(compound, minlength=n_codes), None
    hold = (compound & 1).astype(bool)
    compound >>= 1
    return (np.bincount(compound[~hold], minlength=n_codes), np.bincount(compound[hold], minlength=n_codes))


def _net_filter(codes, ticks, amounts, seg, opts: RFMOptions, report: _Report):
    """returns='net': remove the rows of purchases whose amounts sum to <= 0."""
    key, _ = _purchase_keys(codes, _buckets(ticks, opts), seg)
    _, inverse = np.unique(key, return_inverse=True)
    net = np.bincount(inverse, weights=amounts)
    report.n_purchases_dropped_net_nonpositive = int((net <= 0).sum())
    return (net > 0)[inverse]


def _aggregate(codes, ticks, amounts, n_codes, opts: RFMOptions, seg=None) -> dict:
    """Per-customer statistics without sorting the rows.

    First purchase = earliest tick; a merged purchase happens at the earliest tick of its bucket, so
    the last purchase is the earliest tick of the last bucket. Purchase counts come from a sort of
    one int64 key per row; everything else is O(n) scatter (ufunc.at, bincount).
    """
    buckets = _buckets(ticks, opts)
    count, count_h = _count_purchases(codes, buckets, seg, n_codes)
    hold_total = None
    if seg is not None:
        cal = ~seg.astype(bool)
        if amounts is not None:
            hold_total = np.bincount(codes[~cal], weights=amounts[~cal], minlength=n_codes)
        codes, ticks, buckets = codes[cal], ticks[cal], (buckets[cal] if buckets is not ticks else None)
        buckets = ticks if buckets is None else buckets
        amounts = amounts[cal] if amounts is not None else None
    # accumulators in the ticks' own dtype: ufunc.at leaves its fast path when dtypes differ (10x slower)
    lo, hi = np.iinfo(ticks.dtype).min, np.iinfo(ticks.dtype).max
    first = np.full(n_codes, hi, dtype=ticks.dtype)
    np.minimum.at(first, codes, ticks)
    if opts.merge in ("D", None):
        last = np.full(n_codes, lo, dtype=ticks.dtype)
        np.maximum.at(last, codes, ticks)
    else:
        last_bucket = np.full(n_codes, np.iinfo(buckets.dtype).min, dtype=buckets.dtype)
        np.maximum.at(last_bucket, codes, buckets)
        in_last = buckets == last_bucket[codes]
        last = np.full(n_codes, hi, dtype=ticks.dtype)
        np.minimum.at(last, codes[in_last], ticks[in_last])
    present = np.flatnonzero(count)
    stats = {"code": present, "first": first[present].astype(np.int64), "last": last[present].astype(np.int64),
             "count": count[present]}
    if amounts is not None:
        first_bucket = np.zeros(n_codes, dtype=np.int64)
        first_bucket[present] = _buckets(first[present], opts)
        in_first = buckets == first_bucket[codes]
        stats["total"] = np.bincount(codes, weights=amounts, minlength=n_codes)[present]
        stats["first_amount"] = np.bincount(codes[in_first], weights=amounts[in_first], minlength=n_codes)[present]
    if seg is not None:
        stats["count_holdout"] = count_h[present]
        if hold_total is not None:
            stats["total_holdout"] = hold_total[present]
    return stats


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
                engine: str = "auto", duckdb_config: dict | None = None) -> pd.DataFrame:
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
    duckdb_config : settings for the DuckDB engine, e.g. ``{"memory_limit": "512MB", "threads": 2,
        "temp_directory": "/scratch"}``: with a memory limit DuckDB spills to disk (out of core).

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
                              amount_col=amount_col, date_format=date_format, config=duckdb_config)
    return _pandas_summary(transactions, end, None, opts, customer_col, date_col, amount_col, date_format)


def calibration_holdout(transactions: pd.DataFrame | str | PathLike, calibration_end, observation_end=None,
                        time_unit: str = "W", *, customer_col: str = "customer_id", date_col: str = "date",
                        amount_col: str | None = "amount", merge: str | None = "D",
                        monetary_includes_first: bool = False, returns: str = "error",
                        after_observation_end: str = "exclude", date_format: str | None = None,
                        engine: str = "auto", duckdb_config: dict | None = None) -> pd.DataFrame:
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
                              amount_col=amount_col, date_format=date_format, config=duckdb_config)
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
    codes, uniques = _factorize_ids(tx.ids)
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
    present_before = _present(codes if keep.all() else codes[keep], len(uniques))
    keep = _apply_returns_rows(tx.amounts, keep, opts, report, codes, uniques, amount_col)

    amounts = tx.amounts
    if not keep.all():
        codes, ticks, amounts = codes[keep], ticks[keep], (amounts[keep] if amounts is not None else None)
    if len(codes) == 0:
        return _empty_result(report, uniques, opts, end, amount_col, cal_end)
    seg = None
    if cal_end is not None:
        cal_tick = _end_tick(cal_end, opts)
        seg = (ticks > cal_tick).astype(np.int64)
    if opts.returns == "net" and amounts is not None:
        ok = _net_filter(codes, ticks, amounts, seg, opts, report)
        codes, ticks, amounts = codes[ok], ticks[ok], amounts[ok]
        seg = seg[ok] if seg is not None else None
    stats = _aggregate(codes, ticks, amounts, len(uniques), opts, seg) if len(codes) else None
    if stats is None or len(stats["code"]) == 0:
        return _empty_result(report, uniques, opts, end, amount_col, cal_end)
    result = _summary_frame(stats, uniques, opts, end_tick if cal_end is None else cal_tick)
    if cal_end is not None:
        result = attach_holdout(result, stats["count_holdout"], stats.get("total_holdout"), opts, end_tick - cal_tick)
        # customers whose first purchase falls in the holdout are not in a calibration summary
        report.n_customers_first_purchase_after_end = int((_present(codes, len(uniques))
                                                           & ~_present(stats["code"], len(uniques))).sum())
    _note_dropped_customers(report, present_before, _present(codes, len(uniques)), uniques)
    return finish(result, report, opts, end, cal_end)


def finish(result: pd.DataFrame, report: _Report, opts: RFMOptions, end: pd.Timestamp, cal_end,
           stacklevel: int = 5) -> pd.DataFrame:
    """Record the report and settings on the summary and warn about anything a policy left out."""
    extra = {"calibration_end": str(cal_end.date())} if cal_end is not None else {}
    result.attrs["report"] = report.as_dict(opts, end.date(), **extra)
    result.attrs["time_unit"] = opts.time_unit
    report.warn("observation_end", stacklevel)
    return result


def attach_holdout(result, freq, total, opts: RFMOptions, duration_ticks) -> pd.DataFrame:
    """Add frequency_holdout, monetary_value_holdout and duration_holdout (shared by both engines)."""
    ticks_per_unit = opts.ticks_per_day * days_per(opts.time_unit)
    result["frequency_holdout"] = freq.astype(np.int64)
    if total is not None:
        result["monetary_value_holdout"] = np.where(freq > 0, total / np.maximum(freq, 1), 0.0)
    result["duration_holdout"] = float(duration_ticks / ticks_per_unit)
    return result


def _present(codes: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask over customer codes 0..n-1: which occur in ``codes`` (O(n), no sorting)."""
    mask = np.zeros(n, dtype=bool)
    mask[codes] = True
    return mask


def _note_dropped_customers(report: _Report, before: np.ndarray, after: np.ndarray, uniques) -> None:
    gone = np.flatnonzero(before & ~after)
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
