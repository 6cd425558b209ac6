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

``time_unit`` - the unit of ``recency`` and ``T``:
    ``'D'``, ``'W'``, ``'M'``, ``'Y'``; exact lengths from :mod:`clvmodels.timeunits`.

``monetary_includes_first`` - ``False`` (default, Fader-Hardie) averages repeat purchases only;
    ``True`` averages every purchase including the first.

``returns`` - what to do with amounts <= 0:
    ``'error'`` (default) a negative amount raises :class:`InvalidValueError` naming the customers;
    zero amounts are kept as (free) purchases. ``'drop'`` removes rows with amount <= 0.
    ``'net'`` nets amounts within each merged purchase and removes purchases whose net value is <= 0
    (a return in the same period as its order cancels it; a later one is lost).
    ``'match'`` nets each refund against the customer's earlier purchase it belongs to (below).

``after_observation_end`` - ``'exclude'`` (default) leaves out transactions after
    ``observation_end`` and counts them; ``'error'`` raises naming the customers.

``returns='match'``, exactly:

1. Rows with amount >= 0 form the purchases (the ``merge`` rule, split at ``calibration_end``);
   rows with amount < 0 are refunds. Rows after ``observation_end`` are left out first (counted as
   such), so a refund after the end is never applied.
2. With ``order_col`` (a column naming the order a row belongs to; a refund row carries the id of
   the order it refunds) a refund is netted against the purchase holding that order id among the
   same customer's purchase rows (the earliest such purchase if the order spans several), however
   long before. A refund without an order id, or whose order id the customer never bought, matches
   nothing.
3. Without ``order_col``, a refund goes to the same customer's latest purchase on or before it:
   the purchase of the latest merge period (day with ``merge='D'``) up to and including the
   refund's own. It is netted against it if that purchase's first day (its timestamp with
   ``merge=None``) is at most ``refund_window`` days before the refund (default 30; ``0``: the same
   day only; exact 24-hour days with ``merge=None``), and matches nothing otherwise.
4. In a calibration / holdout summary a refund and its purchase must be on the same side of
   ``calibration_end``: a refund after it never touches a calibration purchase (a calibration
   summary must not use information after its end).
5. A purchase's value is its amounts plus the refunds netted against it. A purchase that had a
   refund netted against it and whose value is <= 0 disappears (its customer's frequency falls; a
   customer left with no purchase is not summarised); what a refund exceeds its purchase by is not
   carried over to other purchases. A free purchase without refunds stays.
   "<= 0" means <= 1e-9 x the purchase's gross value, so that float sums in a different order (the
   two engines) decide alike.
6. A refund that matches nothing is dropped. ``summary.report`` counts ``n_refunds_matched``,
   ``n_refunds_unmatched`` (``unmatched_refund_examples``: up to five customers) and
   ``n_purchases_fully_refunded``; a :class:`~clvmodels.errors.DataDroppedWarning` announces the
   unmatched refunds and the purchases gone.

``timezone`` - days are the customer's local days; dates are turned into naive local wall times
    before anything else:

    * ``timezone=None`` (default): a text timestamp ending in a UTC offset after its clock time
      (``2024-03-30T10:00:00+01:00``, ``...Z``, ``...-0500``, ``...+05``) is taken at its own local
      wall time, the offset dropped - so one zone's offsets changing at DST, or offsets differing
      between rows, are no problem: each row is on its own local day. A tz-aware column (pandas
      ``DatetimeTZDtype``, polars ``Datetime`` with a zone, Parquet ``TIMESTAMP WITH TIME ZONE``) is
      taken at the wall time of its own zone (for a Parquet file, the zone its Arrow schema records -
      pandas and pyarrow write it - else UTC).
    * ``timezone='Europe/Berlin'`` (an IANA name): every timestamp with an offset or a zone is
      converted to that zone first, then its wall time is used.
    * Naive timestamps (no offset, no zone) are taken as already local in both cases.
    * ``observation_end`` and ``calibration_end`` are local days too: an aware one is converted the
      same way, a naive one is used as it is.

    Local wall times are used as they are: with ``merge=None`` an interval across a DST change is
    measured on the clock (one hour more or less than elapsed time).

Transactions are a pandas or polars DataFrame (both engines; polars is optional), or a path to a
CSV / Parquet file (DuckDB, out of core).

Both engines accept the same logs, with the same summary, and refuse the same ones, with the same
typed error naming the column and example customers (row positions for missing ids, the line of a
CSV file):

* Customer ids are one kind of value per column: text, integers, floats, booleans or bytes.
  Integers are int64, or uint64 when none is negative (ids above 2**63 stay exact); a nullable
  column (``Int64``, ``UInt64``, ...) without a missing value is its numpy dtype. Refused
  (:class:`~clvmodels.errors.InvalidValueError`): a missing (None, NaN, ``pd.NA``) or empty id; an
  object column mixing kinds (``[1, "1", 2]``: 1 and "1" may or may not be one customer); Decimal or
  UUID ids; integers beyond 64 bits; text that is not valid Unicode (a lone surrogate). A CSV file's
  ids are integers when every one is a plain integer that fits 64 bits, else text (``'007'`` and
  ``'7'`` are two customers).
* Dates may be any day of the years 1-9999 (not only pandas' nanosecond range, 1677-2262); a
  tz-aware Parquet column, nanosecond ``TIMESTAMPTZ_NS`` included, is read in its own zone;
  nanoseconds are floored to microseconds, the resolution of both engines.
* Amounts are finite numbers whose absolute values add up to less than 1e300, so that every sum
  stays finite; larger ones are refused (InvalidValueError: rescale them).
* A needed column named twice (in a frame or a CSV header) is a
  :class:`~clvmodels.errors.DataValidationError`, a missing one a
  :class:`~clvmodels.errors.MissingColumnError` naming the columns there are; a CSV row with a field
  too many or too few, or bytes that are not UTF-8, a DataValidationError naming the line.

Nothing is dropped silently: every row a policy removes is counted in ``summary.report`` (a
:class:`~clvmodels.data.summary.DropReport`) and announced by a
:class:`~clvmodels.errors.DataDroppedWarning`. The summary is an
:class:`~clvmodels.data.summary.RFMSummary` (a DataFrame that also carries its time unit, dates,
options and report), sorted by customer id, so both engines return the same order.

``calibration_end`` may also be a number of periods (``time_unit``) after the first transaction
day, as CLVTools' ``estimation.split``: ``calibration_end=39`` with ``time_unit='W'`` ends the
calibration on the last day of the first 39 weeks (first day + floor(39 x 7) days - 1).

``observation_end`` is the last observed day, inclusive: with day-based merging a transaction at
any time on that day is inside the window, and ``T`` is measured to that day's start (so the
published CDNOW numbers, e.g. T = 38.86 weeks for a 1997-01-01 first purchase and a 1997-09-30
end, come out exactly). Customers whose first purchase is after ``observation_end`` are not in
the summary (they are counted in the report).
"""

from __future__ import annotations

from numbers import Real
from os import PathLike

import pandas as pd

from ..errors import ConfigError
from .summary import RFMSummary, SummaryOptions
from .transactions import local_time, to_timestamp

__all__ = ["rfm_summary", "calibration_holdout", "purchase_log", "ENGINES"]

ENGINES = ("auto", "pandas", "duckdb", "spark")


def rfm_summary(transactions: pd.DataFrame | str | PathLike, observation_end=None, time_unit: str = "W", *,
                customer_col: str = "customer_id", date_col: str = "date", amount_col: str | None = "amount",
                merge: str | None = "D", monetary_includes_first: bool = False, returns: str = "error",
                after_observation_end: str = "exclude", date_format: str | None = None,
                timezone: str | None = None, order_col: str | None = None, refund_window: int | None = None,
                engine: str = "auto", duckdb_config: dict | None = None, litt: bool = False) -> RFMSummary:
    """Build the RFM summary (frequency, recency, T, monetary_value) from a transaction log.

    Parameters
    ----------
    transactions : pandas.DataFrame, polars.DataFrame, str or path-like
        The transaction log: a pandas or polars DataFrame, or a path to a CSV / Parquet file (read
        by DuckDB, out of core). The ids, dates and amounts both engines accept, and the errors of
        those both refuse, are in the module docstring.
    observation_end : str, date, datetime or Timestamp, optional
        Last observed day (inclusive), a local day (see ``timezone``); default: the last
        transaction date.
    time_unit : {'D', 'W', 'M', 'Y'}, default 'W'
        Unit of recency and T; 'W' (the default) as in the papers.
    customer_col, date_col : str
        Column names of the customer id (default 'customer_id') and the date (default 'date').
    amount_col : str or None, default 'amount'
        Column name of the amount; ``amount_col=None`` for logs without amounts (no
        monetary_value column then).
    merge : {'D', 'W', 'M', 'Y'} or None, default 'D'
        Which transactions of a customer are one purchase; see the module docstring.
    monetary_includes_first : bool, default False
        Whether monetary_value averages the first purchase too; see the module docstring.
    returns : {'error', 'drop', 'net', 'match'}, default 'error'
        What to do with amounts <= 0; see the module docstring.
    after_observation_end : {'exclude', 'error'}, default 'exclude'
        What to do with transactions after ``observation_end``; see the module docstring.
    date_format : str, optional
        strptime format for text dates (e.g. ``'%Y%m%d'``); ISO 8601 when None. A UTC offset at the
        end of the text is read on its own (a trailing ``%z`` in the format is ignored).
    timezone : str, optional
        None (default) or an IANA zone name such as ``'Europe/Berlin'``: whose local days count.
        None: every timestamp at its own local wall time (a trailing UTC offset is dropped, a tz-aware
        column is read in its own zone). A name: every timestamp with an offset or a zone is converted
        to that zone first. Naive timestamps are taken as already local in both cases. See the module
        docstring.
    order_col : str, optional
        How ``returns='match'`` matches refunds to purchases: by the order id in ``order_col``, or,
        without it (None), by date. See the module docstring.
    refund_window : int, optional
        ``returns='match'`` by date (no ``order_col``): a refund is matched within ``refund_window``
        days (default 30). See the module docstring.
    engine : {'auto', 'pandas', 'duckdb', 'spark'}, default 'auto'
        'pandas' (in memory), 'duckdb' (embedded SQL engine, out of core; reads paths), 'spark' (Apache
        Spark reads a path, a pandas or a Spark DataFrame and summarises it; the summary is collected to
        the driver; needs the ``spark`` extra and uses the active Spark session, or a local one), or
        'auto' (Spark for a Spark DataFrame, DuckDB for paths, pandas for frames). All give the same
        summary. To keep a huge summary in Spark, use :func:`clvmodels.spark.rfm_summary`.
    duckdb_config : dict, optional
        Settings for the DuckDB engine, e.g. ``{"memory_limit": "512MB", "threads": 2,
        "temp_directory": "/scratch"}``: with a memory limit DuckDB spills to disk (out of core).

    Returns
    -------
    RFMSummary
        Indexed by ``customer_id`` (sorted), columns frequency (int), recency, T and
        monetary_value (float); ``.time_unit``, ``.observation_end``, ``.options`` and ``.report``
        (everything left out by a policy).

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> rfm = clv.rfm_summary(tx, observation_end="1997-09-30", time_unit="W")   # warns: 1,959 rows excluded
    >>> rfm.loc[2, ["frequency", "recency", "T"]].round(2).tolist()
    [1.0, 1.71, 38.86]
    >>> rfm.time_unit, rfm.report.n_rows_after_observation_end
    ('W', 1959)
    """
    opts = _options(time_unit, merge, monetary_includes_first, returns, after_observation_end, customer_col,
                    date_col, amount_col, date_format, timezone, order_col, refund_window, litt)
    end, _ = window_ends(opts, observation_end)
    return _run(transactions, end, None, opts, engine, duckdb_config)


def calibration_holdout(transactions: pd.DataFrame | str | PathLike, calibration_end, observation_end=None,
                        time_unit: str = "W", *, customer_col: str = "customer_id", date_col: str = "date",
                        amount_col: str | None = "amount", merge: str | None = "D",
                        monetary_includes_first: bool = False, returns: str = "error",
                        after_observation_end: str = "exclude", date_format: str | None = None,
                        timezone: str | None = None, order_col: str | None = None,
                        refund_window: int | None = None, engine: str = "auto",
                        duckdb_config: dict | None = None, litt: bool = False) -> RFMSummary:
    """Calibration summary up to ``calibration_end`` plus what each customer did in the holdout.

    Customers are those with a first purchase on or before ``calibration_end``. Extra columns:
    ``frequency_holdout`` (purchases in (calibration_end, observation_end]), ``monetary_value_holdout``
    (mean value of those purchases, 0 if none; only with amounts) and ``duration_holdout``
    (observation_end - calibration_end in ``time_unit``, the same for everyone). Options as in
    :func:`rfm_summary`. A purchase period that straddles ``calibration_end`` (merge='W'/'M'/'Y') is
    split at it. ``calibration_end`` is a date (a local day, as ``observation_end``), or a number of
    ``time_unit`` periods after the first transaction day (see the module docstring). With
    ``returns='match'`` a refund after ``calibration_end`` is never netted against a purchase before it.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> int(cal["frequency_holdout"].sum()), round(cal.holdout_duration, 2)
    (1882, 39.0)
    >>> str(clv.calibration_holdout(tx, calibration_end=39, observation_end="1998-06-30").calibration_end.date())
    '1997-09-30'
    """
    opts = _options(time_unit, merge, monetary_includes_first, returns, after_observation_end, customer_col,
                    date_col, amount_col, date_format, timezone, order_col, refund_window, litt)
    end, cal_end = window_ends(opts, observation_end, calibration_end)
    return _run(transactions, end, cal_end, opts, engine, duckdb_config)


def purchase_log(transactions: pd.DataFrame | str | PathLike, options: SummaryOptions, observation_end=None, *,
                 calibration_end=None, engine: str = "auto", duckdb_config: dict | None = None) -> pd.DataFrame:
    """The purchases a summary counts: one row per purchase occasion of the log, under ``options``.

    The same rules as :func:`rfm_summary` (the log's columns, the merge period, the returns policy,
    dates and time zones: ``options.timezone``), so that whatever is built from it - cohort tracking, features - counts
    the purchases the summary counts. Pass ``summary.options`` of an :class:`RFMSummary`. With
    ``calibration_end``, the purchases are those :func:`calibration_holdout` counts in its two periods: a refund
    after ``calibration_end`` is not netted against a purchase before it (``returns='match'`` or ``'net'``), and
    a merge period straddling it is split there.

    Returns
    -------
    DataFrame
        ``customer_id``, ``date`` (the purchase's first day, or its timestamp with ``merge=None``)
        and, when the log has amounts, ``amount`` (the purchase's value), sorted by customer and date.

    Examples
    --------
    >>> import pandas as pd, clvmodels as clv
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "amount": [10.0, 5.0, 7.0, 3.0],
    ...                    "date": ["2024-01-01 09:00", "2024-01-01 17:00", "2024-01-08", "2024-01-03"]})
    >>> log = purchase_log(tx, clv.data.SummaryOptions.build(merge="D"))
    >>> log["customer_id"].tolist(), log["amount"].tolist()
    (['a', 'a', 'b'], [15.0, 7.0, 3.0])
    """
    if not isinstance(options, SummaryOptions):
        raise ConfigError(f"options must be SummaryOptions (e.g. summary.options), got {type(options).__name__}",
                          key="options")
    end, cal_end = window_ends(options, observation_end, calibration_end)
    picked = _pick_engine(transactions, engine)
    if picked == "spark":
        from ..spark.rfm import collected_purchases

        return collected_purchases(transactions, end, options, cal_end)
    if picked == "duckdb":
        from .duckdb_engine import duckdb_purchases

        return duckdb_purchases(transactions, end, options, cal_end, config=duckdb_config)
    from .pandas_engine import pandas_purchases

    return pandas_purchases(transactions, end, options, cal_end)


def window_ends(options: SummaryOptions, observation_end, calibration_end=None):
    """``(observation_end, calibration_end)`` as every engine takes them: local days (naive; an aware date
    converted to ``options.timezone``), ``calibration_end`` a number of periods when given as one; None stays
    None. A ConfigError names a value that is not a date or an observation end not after the calibration end.

    Examples
    --------
    >>> opts = SummaryOptions.build(timezone="Europe/Berlin")
    >>> window_ends(opts, "2024-03-31T23:30:00Z", 13)
    (Timestamp('2024-04-01 01:30:00'), 13.0)
    """
    cal_end = None
    if calibration_end is not None:
        cal_end = calibration_periods(calibration_end)
        if cal_end is None:
            cal_end = _local_day(calibration_end, "calibration_end", options)
    end = _local_day(observation_end, "observation_end", options)
    if end is not None and isinstance(cal_end, pd.Timestamp) and end <= cal_end:
        raise ConfigError(f"observation_end={end.date()} must be after calibration_end={cal_end.date()}",
                          key="observation_end")
    return end, cal_end


def calibration_periods(value) -> float | None:
    """A ``calibration_end`` given as a number of periods (float), or None for a date.

    Raises :class:`ConfigError` for a number that is not finite and positive.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    n = float(value)
    if not (n > 0 and n < float("inf")):
        raise ConfigError(f"calibration_end={value!r}: a number of periods after the first transaction must be "
                          "finite and > 0 (or give a date)", key="calibration_end")
    return n


def _options(time_unit, merge, monetary_includes_first, returns, after_observation_end, customer_col, date_col,
             amount_col, date_format, timezone, order_col, refund_window, litt=False) -> SummaryOptions:
    # litt=True adds the column ``litt`` (SummaryOptions.litt): per customer, the sum of the logs of the times
    # between consecutive purchases up to the (calibration) end, in time_unit - each purchase at the time the
    # merge rule gives it (its first day, or its timestamp with merge=None) - as BTYDplus' elog2cbs defines it
    # (Platzer & Reutterer 2016); 0 for a customer without repeat purchases. Both engines compute it alike.
    return SummaryOptions.build(time_unit, merge, monetary_includes_first, returns, after_observation_end,
                                customer_col=customer_col, date_col=date_col, amount_col=amount_col,
                                date_format=date_format, timezone=timezone, order_col=order_col,
                                refund_window=refund_window, litt=litt)


def _local_day(value, name: str, opts: SummaryOptions) -> pd.Timestamp | None:
    """A user-given date as a naive local time: an aware one is converted to ``opts.timezone`` (or taken at
    its own wall time), a naive one is already local."""
    if value is None:
        return None
    return local_time(to_timestamp(value, name), opts.timezone)


def _run(transactions, end, cal_end, opts: SummaryOptions, engine: str, duckdb_config) -> RFMSummary:
    picked = _pick_engine(transactions, engine)
    if picked == "duckdb":
        from .duckdb_engine import duckdb_summary

        return duckdb_summary(transactions, end, cal_end, opts, config=duckdb_config)
    if picked == "spark":
        from ..spark.rfm import collected_summary

        return collected_summary(transactions, end, cal_end, opts)
    from .pandas_engine import pandas_summary

    return pandas_summary(transactions, end, cal_end, opts)


def _pick_engine(transactions, engine: str) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"engine={engine!r}; use one of {list(ENGINES)}", key="engine")
    is_path = isinstance(transactions, (str, PathLike))
    is_spark = type(transactions).__module__.startswith("pyspark.")
    if is_path and engine == "pandas":
        raise ConfigError("engine='pandas' needs a DataFrame; a path is read with engine='duckdb'", key="engine")
    if is_spark and engine not in ("auto", "spark"):
        raise ConfigError(f"engine={engine!r} cannot read a Spark DataFrame; use engine='spark' (or 'auto')",
                          key="engine")
    if engine == "auto":
        return "spark" if is_spark else "duckdb" if is_path else "pandas"
    return engine
