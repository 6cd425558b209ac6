"""The Spark engine of the RFM summary: a transaction log held in a Spark DataFrame, summarised by Spark.

It applies the rules of :mod:`clvmodels.data.rfm` (merge periods, time units, the observation end,
the returns policies, the customer's local days) on the same integer time ticks as the pandas and
DuckDB engines - day numbers when merging by calendar period, microseconds with ``merge=None`` - so
frequency, recency and T are identical and monetary values agree to floating-point summation order.
The SQL follows :mod:`clvmodels.data.duckdb_engine` closely.

How the work is split
---------------------
1. One pass over the log validates it (ids, dates, amounts; the same typed errors and messages as
   the other engines, with up to five example customers in id order) and counts what the
   observation window and the returns policy leave out.
2. The purchase occasions (customer, calibration / holdout segment, merge bucket) and then one row of
   statistics per customer are computed by Spark; that per-customer table is persisted
   (``persist=True``) by the one job that computes the :class:`~clvmodels.data.DropReport`, so later
   actions on the summary read it instead of the log again. ``spark.catalog.clearCache()`` (or
   ``persist=False``) frees it.
3. The summary is a selection from that table: a Spark DataFrame with the columns of the pandas engine,
   ``customer_id`` first, in no particular row order (``.orderBy("customer_id")`` sorts it). The
   facts of an :class:`~clvmodels.RFMSummary` (time unit, dates, options, drop report) travel in the
   metadata of its ``customer_id`` column: :func:`summary_facts` reads them back, :func:`to_pandas`
   collects a (small) summary as an RFMSummary.

Dates and time zones
--------------------
Days are the customer's local days, as in :mod:`clvmodels.data.rfm`: text dates are ISO 8601 (or
``date_format``, a strptime format translated to Spark's datetime pattern); a text timestamp ending
in a UTC offset is taken at its own wall time, or converted to ``timezone`` when one is given; a
``TIMESTAMP_NTZ`` or ``DATE`` column is naive, local already. A Spark ``TIMESTAMP`` column holds
instants without a zone of their own: it is read at its wall time in ``timezone`` when given, else in
the session time zone (``spark.sql.session.timeZone``) - the wall time Spark shows for it. (The pandas
engine reads a tz-aware column in its own zone: for the same instants both agree with
``timezone`` set, or when the session time zone is the column's zone.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd

from ..data.rfm import window_ends
from ..data.summary import (NET_TOLERANCE, US_PER_DAY, DropReport, RFMSummary, SummaryOptions, nothing_left,
                            resolve_calibration_end)
from ..data.transactions import (TZ_OFFSET_PATTERN, format_without_offset, large_amounts, missing_columns_error,
                                 needed_columns)
from ..errors import ConfigError, DataValidationError, InvalidValueError, describe_culprits
from ._session import FACTS_KEY, functions, json_safe, pyspark_sql, read_facts, require_frame, session

__all__ = ["rfm_summary", "calibration_holdout", "summary_facts", "SparkSummaryFacts", "to_pandas"]

_EPOCH_NTZ = "TIMESTAMP_NTZ'1970-01-01 00:00:00'"


# ----------------------------------------------------------------------------------------------
# public functions


def rfm_summary(df, observation_end=None, time_unit: str = "W", *, customer_col: str = "customer_id",
                date_col: str = "date", amount_col: str | None = "amount", merge: str | None = "D",
                monetary_includes_first: bool = False, returns: str = "error", after_observation_end: str = "exclude",
                date_format: str | None = None, timezone: str | None = None, order_col: str | None = None,
                refund_window: int | None = None, persist: bool = True):
    """The RFM summary (frequency, recency, T, monetary_value) of a transaction log in a Spark DataFrame.

    The rules and options are those of :func:`clvmodels.rfm_summary` (see :mod:`clvmodels.data.rfm`);
    the values are those of its pandas engine (see this module's docstring for the split of the work
    and how Spark timestamps are read).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per transaction.
    observation_end, time_unit, customer_col, date_col, amount_col, merge, monetary_includes_first : optional
        As in :func:`clvmodels.rfm_summary`.
    returns, after_observation_end, date_format, timezone, order_col, refund_window : optional
        As in :func:`clvmodels.rfm_summary`.
    persist : bool, default True
        Keep the per-customer table the summary is selected from (MEMORY_AND_DISK), so that the drop
        report and later actions do not read the log again.

    Returns
    -------
    Spark DataFrame
        ``customer_id`` (the type of ``customer_col``), ``frequency`` (long), ``recency``, ``T`` and
        ``monetary_value`` (double; none without amounts); rows in no particular order. Its facts
        (time unit, dates, options, drop report): :func:`summary_facts`. What a policy left out is
        announced by a :class:`~clvmodels.errors.DataDroppedWarning`; bad input raises the typed
        errors of :mod:`clvmodels.errors`, naming the column and example customers.

    Examples
    --------
    >>> import warnings
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> tx = spark.createDataFrame([("007", "2024-01-01", 10.0), ("007", "2024-01-01", 5.0),
    ...                             ("007", "2024-01-15", 20.0), ("042", "2024-01-08", 7.5)],
    ...                            ["customer_id", "date", "amount"])
    >>> rfm = cs.rfm_summary(tx, observation_end="2024-01-29", time_unit="W")
    >>> [tuple(r) for r in rfm.orderBy("customer_id").collect()]
    [('007', 1, 2.0, 4.0, 20.0), ('042', 0, 0.0, 3.0, 0.0)]
    >>> cs.summary_facts(rfm).time_unit, cs.summary_facts(rfm).report.n_rows
    ('W', 4)
    """
    opts = _options(time_unit, merge, monetary_includes_first, returns, after_observation_end, customer_col,
                    date_col, amount_col, date_format, timezone, order_col, refund_window)
    end, _ = window_ends(opts, observation_end)
    return _run(df, end, None, opts, persist)


def calibration_holdout(df, calibration_end, observation_end=None, time_unit: str = "W", *,
                        customer_col: str = "customer_id", date_col: str = "date", amount_col: str | None = "amount",
                        merge: str | None = "D", monetary_includes_first: bool = False, returns: str = "error",
                        after_observation_end: str = "exclude", date_format: str | None = None,
                        timezone: str | None = None, order_col: str | None = None, refund_window: int | None = None,
                        persist: bool = True):
    """Calibration summary up to ``calibration_end`` plus each customer's holdout, from a Spark DataFrame.

    The rules of :func:`clvmodels.calibration_holdout`: customers with a first purchase on or before
    ``calibration_end``; extra columns ``frequency_holdout`` (long), ``monetary_value_holdout`` (with
    amounts) and ``duration_holdout``; ``calibration_end`` a date or a number of ``time_unit`` periods
    after the first transaction day. Options as in :func:`rfm_summary`.

    Examples
    --------
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> tx = spark.createDataFrame([("a", "2024-01-01", 10.0), ("a", "2024-01-10", 20.0),
    ...                             ("a", "2024-02-05", 30.0), ("b", "2024-01-03", 5.0)],
    ...                            ["customer_id", "date", "amount"])
    >>> cal = cs.calibration_holdout(tx, calibration_end="2024-01-28", observation_end="2024-02-25")
    >>> [tuple(r) for r in cal.orderBy("customer_id").select("customer_id", "frequency", "T",
    ...                                                       "frequency_holdout", "duration_holdout").collect()]
    [('a', 1, 3.857142857142857, 1, 4.0), ('b', 0, 3.5714285714285716, 0, 4.0)]
    """
    opts = _options(time_unit, merge, monetary_includes_first, returns, after_observation_end, customer_col,
                    date_col, amount_col, date_format, timezone, order_col, refund_window)
    end, cal_end = window_ends(opts, observation_end, calibration_end)
    return _run(df, end, cal_end, opts, persist)


@dataclass(frozen=True)
class SparkSummaryFacts:
    """The facts of a Spark summary: what an :class:`~clvmodels.RFMSummary` carries as attributes.

    Attributes
    ----------
    time_unit : unit of recency and T.
    observation_end, calibration_end : the summary's dates (calibration_end None without a holdout).
    options : the :class:`~clvmodels.data.SummaryOptions` it was built with.
    report : the :class:`~clvmodels.data.DropReport` of what the policies left out.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels.data import DropReport, SummaryOptions
    >>> facts = SparkSummaryFacts("W", pd.Timestamp("2024-01-29"), None, SummaryOptions.build(), DropReport(n_rows=4))
    >>> SparkSummaryFacts.from_dict(facts.as_dict()) == facts
    True
    """

    time_unit: str
    observation_end: pd.Timestamp | None
    calibration_end: pd.Timestamp | None
    options: SummaryOptions
    report: DropReport

    def as_dict(self) -> dict:
        """JSON-ready (the form stored in the column metadata)."""
        def day(ts):
            return None if ts is None else pd.Timestamp(ts).isoformat()
        return {"time_unit": self.time_unit, "observation_end": day(self.observation_end),
                "calibration_end": day(self.calibration_end), "options": self.options.as_dict(),
                "report": {k: ([json_safe(x) for x in v] if isinstance(v, list) else v)
                           for k, v in self.report.as_dict().items()}}

    @classmethod
    def from_dict(cls, d: dict) -> SparkSummaryFacts:
        """The facts from :meth:`as_dict`'s form."""
        def day(text):
            return None if text is None else pd.Timestamp(text)
        return cls(d["time_unit"], day(d.get("observation_end")), day(d.get("calibration_end")),
                   SummaryOptions(**d["options"]), DropReport(**d.get("report", {})))


def summary_facts(sdf) -> SparkSummaryFacts | None:
    """The facts a summary made by :func:`rfm_summary` / :func:`calibration_holdout` carries (in the
    metadata of its ``customer_id`` column), or None for a DataFrame without them.

    Selections, filters and joins that keep the ``customer_id`` column keep the facts.

    Examples
    --------
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> tx = spark.createDataFrame([(1, "2024-01-01"), (1, "2024-01-08")], ["customer_id", "date"])
    >>> facts = cs.summary_facts(cs.rfm_summary(tx, time_unit="D", amount_col=None))
    >>> facts.time_unit, str(facts.observation_end.date()), facts.options.amount_col
    ('D', '2024-01-08', None)
    >>> cs.summary_facts(tx) is None
    True
    """
    require_frame(sdf, "sdf")
    facts = read_facts(sdf)
    return None if facts is None else SparkSummaryFacts.from_dict(facts)


def to_pandas(sdf) -> RFMSummary:
    """Collect a Spark summary to the driver as an :class:`~clvmodels.RFMSummary` (sorted by customer id,
    with its facts). Everything is collected: meant for small summaries and tests; to fit on a large
    one, see :func:`clvmodels.spark.compressed_summary`.

    Examples
    --------
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> tx = spark.createDataFrame([("a", "2024-01-01", 10.0), ("a", "2024-01-15", 20.0)],
    ...                            ["customer_id", "date", "amount"])
    >>> rfm = cs.to_pandas(cs.rfm_summary(tx, time_unit="W"))
    >>> type(rfm).__name__, rfm.time_unit, float(rfm.loc["a", "recency"])
    ('RFMSummary', 'W', 2.0)
    """
    require_frame(sdf, "sdf")
    facts = summary_facts(sdf)
    if facts is None:
        raise DataValidationError("sdf carries no summary facts (it was not made by clvmodels.spark.rfm_summary "
                                  "or calibration_holdout, or lost its customer_id column's metadata)")
    frame = sdf.toPandas().set_index("customer_id").sort_index()
    return RFMSummary.from_frame(frame, time_unit=facts.time_unit, observation_end=facts.observation_end,
                                 calibration_end=facts.calibration_end, options=facts.options, report=facts.report,
                                 discrete="n_periods" in frame.columns)


# ----------------------------------------------------------------------------------------------
# options and dates


def _options(time_unit, merge, monetary_includes_first, returns, after_observation_end, customer_col, date_col,
             amount_col, date_format, timezone, order_col, refund_window) -> SummaryOptions:
    return SummaryOptions.build(time_unit, merge, monetary_includes_first, returns, after_observation_end,
                                customer_col=customer_col, date_col=date_col, amount_col=amount_col,
                                date_format=date_format, timezone=timezone, order_col=order_col,
                                refund_window=refund_window)


def _tick(ts: pd.Timestamp, opts: SummaryOptions) -> int:
    """The integer tick of a local date: its day number (merging by calendar period) or microseconds."""
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize(None) if ts.tzinfo else ts
    day = ts.normalize()
    days = int((day - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))
    if opts.merge:
        return days
    return days * US_PER_DAY + int((ts - day) // pd.Timedelta(microseconds=1))


# strptime directive -> (Spark pattern when a literal or the end follows, when another directive follows)
_DIRECTIVES = {"Y": ("yyyy", "yyyy"), "m": ("M", "MM"), "d": ("d", "dd"), "H": ("H", "HH"), "M": ("m", "mm"),
               "S": ("s", "ss"), "f": ("SSSSSS", "SSSSSS"), "y": ("yy", "yy"), "b": ("MMM", "MMM"),
               "B": ("MMMM", "MMMM"), "I": ("h", "hh"), "p": ("a", "a"), "j": ("D", "DDD")}


def spark_datetime_pattern(date_format: str) -> str:
    """A strptime format (its trailing offset removed) as a Spark datetime pattern; a ConfigError for a
    directive Spark cannot parse. Literal text is quoted; a field followed by a literal takes one or
    two digits, as strptime does.

    Examples
    --------
    >>> spark_datetime_pattern("%d/%m/%Y %H:%M")
    "d'/'M'/'yyyy' 'H':'m"
    >>> spark_datetime_pattern("%Y%m%d")       # fixed widths between fields; the last one takes 1-2 digits
    'yyyyMMd'
    """
    tokens = re.findall(r"%.|[^%]+|%$", date_format)
    out = []
    for i, tok in enumerate(tokens):
        if tok == "%%" or not tok.startswith("%"):
            text = "%" if tok == "%%" else tok
            out.append("'" + text.replace("'", "''") + "'")
            continue
        spec = _DIRECTIVES.get(tok[1:])
        if spec is None:
            raise ConfigError(f"date_format={date_format!r}: the directive {tok!r} is not supported by the Spark "
                              f"engine (supported: {', '.join('%' + k for k in _DIRECTIVES)})", key="date_format")
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        out.append(spec[1] if nxt is not None and nxt.startswith("%") and nxt != "%%" else spec[0])
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# the log: validated, parsed, counted (pass 1)


@dataclass
class _Log:
    rows: object                 # DataFrame (c, t, a, o): customer, tick, amount (NULL without), order (NULL)
    report: DropReport
    end: pd.Timestamp
    end_tick: int
    cal_end: pd.Timestamp | None
    cal_tick: int | None


class _Checks:
    """Named row conditions counted in one pass; the first that holds for a row raises."""

    def __init__(self):
        self.items = []   # (name, condition, column, message, error class, with examples)

    def add(self, name, cond, column, message, cls=InvalidValueError, examples=True):
        self.items.append((name, cond, column, message, cls, examples))


def _n(F, cond):
    """Rows where ``cond`` holds (NULL counts as false)."""
    return F.sum(F.when(cond, 1).otherwise(0))


def _date_column(F, T, dtype, opts: SummaryOptions, checks: _Checks, zone_of_instants: str):
    """The naive local wall time of the date column (``TIMESTAMP_NTZ``) and the helper columns it reads,
    registering the column's checks."""
    date_col, date_format, timezone = opts.date_col, opts.date_format, opts.timezone
    checks.add("date_missing", F.col("d").isNull(), date_col, "have a missing date")
    if isinstance(dtype, T.TimestampNTZType):
        return F.col("d"), {}
    if isinstance(dtype, T.DateType):
        return F.col("d").cast("timestamp_ntz"), {}
    if isinstance(dtype, T.TimestampType):   # an instant: its wall time in `timezone`, else the session's zone
        utc = F.expr(f"timestampadd(MICROSECOND, unix_micros(d), {_EPOCH_NTZ})")
        return F.convert_timezone(F.lit("UTC"), F.lit(zone_of_instants), utc), {}
    text = F.col("d")
    if not isinstance(dtype, T.StringType):
        if date_format is None or not isinstance(dtype, T.NumericType):
            checks.add("date_type", F.lit(True), date_col,
                       f"are {dtype.simpleString()}, not dates; pass date_format (e.g. '%Y%m%d')"
                       if isinstance(dtype, T.NumericType) else
                       f"are {dtype.simpleString()}, not dates (they could not be parsed as dates)")
            return F.lit(None).cast("timestamp_ntz"), {}
        text = F.col("d").cast("string")
    bare = F.regexp_replace(text, TZ_OFFSET_PATTERN, "$1")
    if date_format:
        pattern = F.lit(spark_datetime_pattern(format_without_offset(date_format)))
        parsed = F.when(F.try_to_timestamp(bare, pattern).isNull(), F.lit(None).cast("timestamp_ntz")) \
            .otherwise(F.to_timestamp_ntz(bare, pattern))
        hint = f" with date_format={date_format!r}"
    else:
        parsed = F.expr("try_cast(_bare AS TIMESTAMP_NTZ)")
        hint = " as ISO 8601 (pass date_format, e.g. '%d/%m/%Y', for other layouts)"
    checks.add("date_parse", F.col("d").isNotNull() & F.col("ts").isNull(), date_col,
               "could not be parsed as dates" + hint)
    helpers = {"_bare": bare, "_off": F.regexp_extract(text, TZ_OFFSET_PATTERN, 2)}
    if timezone is None:
        return parsed, helpers   # naive text is local already; an offset is simply dropped
    # the row's offset -> UTC -> wall time in `timezone`
    digits = "replace(_off, ':', '')"
    sign = "(CASE WHEN substr(_off, 1, 1) = '-' THEN -1 ELSE 1 END)"
    size = f"(CAST(substr({digits}, 2, 2) AS INT) * 60 + coalesce(try_cast(substr({digits}, 4, 2) AS INT), 0))"
    minutes = F.expr(f"CASE WHEN _off IN ('', 'Z') THEN 0 ELSE {sign} * {size} END")
    helpers["_min"] = minutes
    utc = F.expr("timestampadd(MINUTE, -_min, _parsed)")
    shifted = F.convert_timezone(F.lit("UTC"), F.lit(timezone), utc)
    return (F.when(F.col("_off") != "", shifted).otherwise(F.col("_parsed")), {**helpers, "_parsed": parsed})


def _amount_column(F, T, dtype, opts: SummaryOptions, checks: _Checks):
    amount_col = opts.amount_col
    if isinstance(dtype, T.NumericType):
        a = F.col("a_raw").cast("double")
    elif isinstance(dtype, T.StringType):
        a = F.expr("try_cast(a_raw AS DOUBLE)")
        checks.add("amount_type", F.col("a_raw").isNotNull() & F.col("a").isNull(), amount_col,
                   "are not numeric (dtype string)")
    else:
        a = F.lit(None).cast("double")
        checks.add("amount_type", F.lit(True), amount_col, f"are not numeric (dtype {dtype.simpleString()})")
    checks.add("amount_finite", F.col("a").isNull() | F.isnan("a") | (F.abs("a") == float("inf")), amount_col,
               "are NaN or infinite")
    return a


def _tick_expr(F, opts: SummaryOptions):
    if opts.merge:
        return F.expr("unix_date(CAST(ts AS DATE))")
    return F.expr(f"timestampdiff(MICROSECOND, {_EPOCH_NTZ}, ts)")


def _bucket_expr(F, opts: SummaryOptions):
    if opts.merge in ("D", None):
        return F.col("t")
    if opts.merge == "W":    # 1970-01-01 is a Thursday: +3 aligns week starts to Mondays
        return F.floor((F.col("t") + 3) / 7).cast("long")
    day = F.expr("date_from_unix_date(CAST(t AS INT))")
    if opts.merge == "M":
        return (F.year(day) - 1970) * 12 + F.month(day) - 1
    return F.year(day) - 1970


def _load(df, end, cal_end, opts: SummaryOptions) -> _Log:
    """Validate the log in one pass (typed errors naming the column and example customers), parse its
    dates, and count what the observation window and the returns policy leave out."""
    F = functions()
    T = pyspark_sql().types
    order_col = opts.order_col if opts.returns == "match" and opts.amount_col else None
    needed = needed_columns(opts.customer_col, opts.date_col, opts.amount_col, order_col)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise missing_columns_error(missing, df.columns, opts.amount_col)
    types = {f.name: f.dataType for f in df.schema.fields}
    picked = [df[opts.customer_col].alias("c"), df[opts.date_col].alias("d")]
    if opts.amount_col:
        picked.append(df[opts.amount_col].alias("a_raw"))
    if order_col:
        o = df[order_col]
        if isinstance(types[order_col], (T.FloatType, T.DoubleType)):
            o = F.when(F.isnan(o), None).otherwise(o)   # NaN is a missing order id, as in pandas
        picked.append(o.alias("o"))
    raw = df.select(*picked)

    checks = _Checks()
    empty = F.col("c").isNull()
    if isinstance(types[opts.customer_col], T.StringType):
        empty = empty | (F.trim(F.col("c")) == "")
    checks.add("id", empty, opts.customer_col, "have a missing or empty customer id", examples=False)
    zone = opts.timezone or session(df).conf.get("spark.sql.session.timeZone")
    date, helpers = _date_column(F, T, types[opts.date_col], opts, checks, zone)
    for name, expr in helpers.items():
        raw = raw.withColumn(name, expr)
    parsed = raw.withColumn("ts", date)
    if opts.amount_col:
        parsed = parsed.withColumn("a", _amount_column(F, T, types[opts.amount_col], opts, checks))
    else:
        parsed = parsed.withColumn("a", F.lit(None).cast("double"))
    if not order_col:
        parsed = parsed.withColumn("o", F.lit(None))
    parsed = parsed.withColumn("t", _tick_expr(F, opts))

    end_tick = None if end is None else _tick(end, opts)
    window = F.lit(True) if end_tick is None else F.col("t") <= end_tick
    aggs = [F.count(F.lit(1)).alias("n"), F.max("t").alias("max_t"), F.max("ts").alias("max_ts"),
            F.min("ts").alias("min_ts")]
    aggs += [_n(F, cond).alias(name) for name, cond, *_ in checks.items]
    aggs += [_n(F, ~window).alias("after"), _n(F, window & (F.col("a") < 0)).alias("negative"),
             _n(F, window & (F.col("a") <= 0)).alias("nonpositive")]
    if opts.amount_col:       # of every row, as the other engines do: their sums must stay finite
        aggs.append(F.sum(F.abs(F.col("a"))).alias("abs_total"))
    got = parsed.agg(*aggs).collect()[0].asDict()
    if got["n"] == 0:
        raise DataValidationError("transactions are empty: no rows to summarise", n_rows=0)
    for name, cond, column, message, cls, with_examples in checks.items:
        n = int(got[name] or 0)
        if n:
            if not with_examples:
                raise cls(f"column {column!r}: {n} row(s) {message}", column=column, n_rows=n)
            ids = _examples(parsed.where(cond))
            raise cls(f"column {column!r}: {n} row(s) {message}; example customer ids {describe_culprits(ids)}",
                      column=column, n_rows=n, examples=ids)

    too_large = large_amounts(float(got["abs_total"] or 0.0), int(got["n"])) if opts.amount_col else None
    if too_large:
        culprits = parsed.where(F.abs(F.col("a")) >= too_large[0])
        n, ids = culprits.count(), _examples(culprits)
        raise InvalidValueError(f"column {opts.amount_col!r}: {n} row(s) {too_large[1]}; example customer ids "
                                f"{describe_culprits(ids)}", column=opts.amount_col, n_rows=n, examples=ids)

    report = DropReport(n_rows=int(got["n"]))
    if end is None:
        end_tick, end = int(got["max_t"]), pd.Timestamp(got["max_ts"])
    if cal_end is not None:
        cal_end = resolve_calibration_end(cal_end, pd.Timestamp(got["min_ts"]), end, opts)
    n_after = int(got["after"] or 0)
    if n_after and opts.after_observation_end == "error":
        ids = _examples(parsed.where(~window))
        raise InvalidValueError(
            f"column {opts.date_col!r}: {n_after} row(s) are dated after observation_end={end.date()}; example "
            f"customer ids {describe_culprits(ids)} (after_observation_end='exclude' leaves them out)",
            column=opts.date_col, n_rows=n_after, examples=ids)
    report.n_rows_after_observation_end = n_after
    has_amount = opts.amount_col is not None
    negative = int(got["negative"] or 0)
    if has_amount and opts.returns == "error" and negative:
        ids = _examples(parsed.where(window & (F.col("a") < 0)))
        raise InvalidValueError(
            f"column {opts.amount_col!r}: {negative} row(s) have a negative amount and returns='error'; example "
            f"customer ids {describe_culprits(ids)}; pass returns='drop', 'net' or 'match' to handle returns",
            column=opts.amount_col, n_rows=negative, examples=ids)
    if has_amount and opts.returns == "drop":
        report.n_rows_dropped_returns = int(got["nonpositive"] or 0)
    cal_tick = None if cal_end is None else _tick(cal_end, opts)
    rows = parsed.where(F.col("t") <= end_tick).select("c", "t", "a", "o")
    return _Log(rows, report, end, end_tick, cal_end, cal_tick)


def _examples(frame, column: str = "c") -> list:
    """Up to five distinct customer ids of ``frame``, in id order."""
    rows = frame.select(column).where(frame[column].isNotNull()).distinct().orderBy(column).limit(5).collect()
    return [json_safe(r[0]) for r in rows]


# ----------------------------------------------------------------------------------------------
# purchases and per-customer statistics (the plan of pass 2)


def _events(log: _Log, opts: SummaryOptions):
    """One row per purchase occasion of the window (customer c, segment s, first tick t, value a, kept
    as a purchase or not) plus, with returns='match', one row per refund; counters for the report."""
    F = functions()
    rows = log.rows.withColumn("s", (F.col("t") > log.cal_tick).cast("int") if log.cal_tick is not None
                               else F.lit(0)).withColumn("b", _bucket_expr(F, opts))
    has_amount = opts.amount_col is not None
    zero = F.lit(0)
    if has_amount and opts.returns == "match":
        return _match_events(F, rows, opts)
    keep = F.col("a") > 0 if has_amount and opts.returns == "drop" else F.lit(True)
    aggs = [F.min(F.when(keep, F.col("t"))).alias("t"), F.sum(F.when(keep, F.col("a"))).alias("a")]
    net = has_amount and opts.returns == "net"
    if net:
        aggs.append(F.sum(F.greatest(F.col("a"), F.lit(0.0))).alias("gross"))
    occ = rows.groupBy("c", "s", "b").agg(*aggs)
    kept = F.col("t").isNotNull()
    if net:
        kept = kept & (F.col("a") > F.lit(NET_TOLERANCE) * F.col("gross"))
    return occ.select("c", "s", "t", "a", kept.alias("kept"), (~kept).cast("int").alias("x_net"),
                      zero.alias("x_gone"), zero.alias("x_ref_ok"), zero.alias("x_ref_bad"))


def _match_events(F, rows, opts: SummaryOptions):
    """returns='match' (the rules of :mod:`clvmodels.data.rfm`, the SQL of the DuckDB engine): purchases are
    the occasions of the rows with amount >= 0; a refund (amount < 0) goes to the purchase holding its
    order id (the earliest), or to the latest purchase on or before it (merge bucket) within
    ``refund_window``; always of the same customer and segment."""
    W = pyspark_sql().Window
    occ = rows.where(F.col("a") >= 0).groupBy("c", "s", "b").agg(F.min("t").alias("t"), F.sum("a").alias("gross"))
    ref = rows.where(F.col("a") < 0)
    if opts.order_col is None:   # an as-of join: the last purchase bucket at or before the refund's own
        stream = occ.select("c", "s", "b", F.col("t").alias("pt"), F.lit(0).alias("k"),
                            F.lit(None).cast("double").alias("a"), F.lit(None).cast("long").alias("rt")) \
            .unionByName(ref.select("c", "s", "b", F.lit(None).cast("long").alias("pt"), F.lit(1).alias("k"), "a",
                                    F.col("t").cast("long").alias("rt")))
        w = W.partitionBy("c", "s").orderBy("b", "k").rowsBetween(W.unboundedPreceding, W.currentRow)
        stream = stream.withColumn("pb", F.last(F.when(F.col("k") == 0, F.col("b")), ignorenulls=True).over(w)) \
            .withColumn("ptick", F.last(F.when(F.col("k") == 0, F.col("pt")), ignorenulls=True).over(w))
        ok = F.coalesce(F.col("rt") - F.col("ptick") <= opts.refund_window_ticks, F.lit(False))
        refunds = stream.where(F.col("k") == 1).select("c", F.col("s").alias("ps"), "pb", "a", ok.alias("ok"))
    else:
        holder = rows.where((F.col("a") >= 0) & F.col("o").isNotNull()).groupBy("c", "o") \
            .agg(F.min(F.struct("s", "b")).alias("h")) \
            .select("c", "o", F.col("h.s").alias("ps"), F.col("h.b").alias("pb"))
        refunds = ref.join(holder, ["c", "o"], "left") \
            .select("c", "ps", "pb", "a", F.coalesce(F.col("ps") == F.col("s"), F.lit(False)).alias("ok"))
    back = refunds.where("ok").groupBy("c", "ps", "pb").agg(F.sum("a").alias("r")) \
        .withColumnRenamed("ps", "s").withColumnRenamed("pb", "b")
    netted = occ.join(back, ["c", "s", "b"], "left") \
        .select("c", "s", "t", (F.col("gross") + F.coalesce(F.col("r"), F.lit(0.0))).alias("a"), "gross",
                F.col("r").isNotNull().alias("refunded"))
    gone = F.col("refunded") & (F.col("a") <= F.lit(NET_TOLERANCE) * F.col("gross"))
    zero = F.lit(0)
    purchases = netted.select("c", "s", "t", "a", (~gone).alias("kept"), zero.alias("x_net"),
                              gone.cast("int").alias("x_gone"), zero.alias("x_ref_ok"), zero.alias("x_ref_bad"))
    refund_rows = refunds.select("c", F.lit(0).alias("s"), F.lit(None).cast("long").alias("t"),
                                 F.lit(None).cast("double").alias("a"), F.lit(False).alias("kept"), zero.alias("x_net"),
                                 zero.alias("x_gone"), F.col("ok").cast("int").alias("x_ref_ok"),
                                 (~F.col("ok")).cast("int").alias("x_ref_bad"))
    return purchases.unionByName(refund_rows)


def _customer_stats(events):
    """One row per customer with a row in the window: purchase counts, first / last tick and values of the
    calibration purchases, count and value of the holdout ones, and the report's counters."""
    F = functions()
    cal = F.col("kept") & (F.col("s") == 0)
    hold = F.col("kept") & (F.col("s") == 1)
    return events.groupBy("c").agg(
        _n(F, cal).alias("n_cal"), F.min(F.when(cal, F.col("t"))).alias("first"),
        F.max(F.when(cal, F.col("t"))).alias("last"), F.sum(F.when(cal, F.col("a"))).alias("total"),
        F.min_by(F.when(cal, F.col("a")), F.when(cal, F.col("t"))).alias("first_amount"),   # hash-aggregable
        _n(F, hold).alias("n_hold"), F.sum(F.when(hold, F.col("a"))).alias("total_hold"),
        F.sum("x_net").alias("x_net"), F.sum("x_gone").alias("x_gone"), F.sum("x_ref_ok").alias("x_ref_ok"),
        F.sum("x_ref_bad").alias("x_ref_bad"))


def _fill_report(stats, log: _Log, opts: SummaryOptions) -> int:
    """Complete the drop report from the per-customer table (one job); returns the customers summarised."""
    F = functions()
    report = log.report
    got = stats.agg(_n(F, F.col("n_cal") > 0).alias("summarised"),
                    _n(F, F.col("n_cal") + F.col("n_hold") == 0).alias("dropped"),
                    _n(F, (F.col("n_cal") == 0) & (F.col("n_hold") > 0)).alias("late"),
                    F.sum("x_net").alias("x_net"), F.sum("x_gone").alias("x_gone"),
                    F.sum("x_ref_ok").alias("x_ref_ok"), F.sum("x_ref_bad").alias("x_ref_bad")).collect()[0].asDict()
    got = {k: int(v or 0) for k, v in got.items()}
    if opts.amount_col is not None and opts.returns == "net":
        report.n_purchases_dropped_net_nonpositive = got["x_net"]
    if opts.amount_col is not None and opts.returns == "match":
        report.n_refunds_matched, report.n_refunds_unmatched = got["x_ref_ok"], got["x_ref_bad"]
        report.n_purchases_fully_refunded = got["x_gone"]
        if got["x_ref_bad"]:
            report.unmatched_refund_examples = _examples(stats.where(F.col("x_ref_bad") > 0))
    report.n_customers_dropped = got["dropped"]
    if got["dropped"]:
        report.dropped_customer_examples = _examples(stats.where(F.col("n_cal") + F.col("n_hold") == 0))
    if log.cal_end is not None:
        report.n_customers_first_purchase_after_end = got["late"]
    return got["summarised"]


def _summary_columns(F, log: _Log, opts: SummaryOptions, facts: SparkSummaryFacts) -> list:
    per_unit = F.lit(float(opts.ticks_per_unit))
    as_of = log.end_tick if log.cal_tick is None else log.cal_tick
    cols = [F.col("c").alias("customer_id", metadata={FACTS_KEY: json.dumps(facts.as_dict())}),
            (F.col("n_cal") - 1).cast("long").alias("frequency"),
            ((F.col("last") - F.col("first")) / per_unit).alias("recency"),
            ((F.lit(as_of).cast("long") - F.col("first")) / per_unit).alias("T")]
    if opts.amount_col is not None:
        if opts.monetary_includes_first:
            mv = F.col("total") / F.col("n_cal")
        else:
            mv = F.when(F.col("n_cal") > 1, (F.col("total") - F.col("first_amount")) / (F.col("n_cal") - 1)) \
                .otherwise(F.lit(0.0))
        cols.append(mv.cast("double").alias("monetary_value"))
    if log.cal_tick is not None:
        cols.append(F.col("n_hold").cast("long").alias("frequency_holdout"))
        if opts.amount_col is not None:
            cols.append(F.when(F.col("n_hold") > 0, F.col("total_hold") / F.col("n_hold")).otherwise(F.lit(0.0))
                        .cast("double").alias("monetary_value_holdout"))
        cols.append(F.lit(float((log.end_tick - log.cal_tick) / opts.ticks_per_unit)).alias("duration_holdout"))
    return cols


def _run(df, end, cal_end, opts: SummaryOptions, persist: bool, stacklevel: int = 5, persisted: list | None = None):
    require_frame(df)
    F = functions()
    log = _load(df, end, cal_end, opts)
    stats = _customer_stats(_events(log, opts))
    if persist:
        from pyspark import StorageLevel

        stats = stats.persist(StorageLevel.MEMORY_AND_DISK)
        if persisted is not None:
            persisted.append(stats)
    summarised = _fill_report(stats, log, opts)
    if summarised == 0:
        raise nothing_left(log.report, opts, log.end)
    facts = SparkSummaryFacts(opts.time_unit, log.end, log.cal_end, opts, log.report)
    summary = stats.where(F.col("n_cal") > 0).select(*_summary_columns(F, log, opts, facts))
    _warn(log.report, stacklevel)
    return summary


def _warn(report: DropReport, stacklevel: int = 5) -> None:
    # points at the caller of rfm_summary / calibration_holdout: warn <- _warn <- _run <- public function
    report.warn(stacklevel=stacklevel)


def read_transactions(source, spark=None):
    """A transaction log as a Spark DataFrame: a Spark DataFrame as it is, a pandas DataFrame sent to
    Spark, or a path read by Spark (a Parquet file or a folder of them; a CSV file with a header, every
    column read as text so that ids keep their leading zeros and dates are parsed by the summary)."""
    from pathlib import Path

    sql = pyspark_sql()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"transactions: {str(path)!r} does not exist", key="data.source")
        spark = spark or sql.SparkSession.builder.getOrCreate()
        parquet = path.is_dir() or path.suffix.lower() in (".parquet", ".pq")
        if parquet:
            return spark.read.parquet(str(path))
        return spark.read.csv(str(path), header=True, inferSchema=False, enforceSchema=False, mode="FAILFAST")
    if isinstance(source, pd.DataFrame):
        spark = spark or sql.SparkSession.builder.getOrCreate()
        return spark.createDataFrame(source)
    return require_frame(source, "transactions")


def collected_purchases(transactions, end, opts: SummaryOptions, cal_end=None) -> pd.DataFrame:
    """One row per purchase occasion up to ``end`` (the periods split at ``cal_end`` when given), collected to the
    driver (the contract of :func:`clvmodels.data.purchase_log`, as the DuckDB engine returns it)."""
    import numpy as np

    F = functions()
    log = _load(read_transactions(transactions), end, cal_end, opts)
    cols = [F.col("c").alias("customer_id"), F.col("t")] + ([F.col("a")] if opts.amount_col is not None else [])
    got = _events(log, opts).where(F.col("kept")).select(*cols).orderBy("customer_id", "t").toPandas()
    unit = "D" if opts.merge else "us"
    out = pd.DataFrame({"customer_id": got["customer_id"].to_numpy(),
                        "date": got["t"].to_numpy(np.int64).astype(f"datetime64[{unit}]")})
    if opts.amount_col is not None:
        out["amount"] = got["a"].to_numpy(np.float64)
    return out


def collected_summary(transactions, end, cal_end, opts: SummaryOptions) -> RFMSummary:
    """The data layer's ``engine='spark'``: Spark reads and summarises the log (however many rows), and
    the per-customer summary (a few dozen bytes a customer) comes to the driver as an RFMSummary, sorted
    by customer id like the other engines' summaries."""
    if opts.litt:
        raise ConfigError("litt=True (the regularity statistic of the (M)BG/CNBD-k models) is not computed by the "
                          "Spark engine yet; summarise with engine='duckdb' or 'pandas'", key="litt")
    persisted: list = []
    try:
        return to_pandas(_run(read_transactions(transactions), end, cal_end, opts, persist=True, stacklevel=7,
                              persisted=persisted))
    finally:
        for frame in persisted:
            frame.unpersist()
