"""The typed RFM summary: the frame every model reads, with the facts it was built from.

:class:`RFMSummary` is a :class:`pandas.DataFrame` (index ``customer_id``; columns ``frequency``,
``recency``, ``T`` or ``n_periods``, optionally ``monetary_value`` and the holdout columns) that
also carries, as typed attributes:

* ``time_unit`` - the unit of ``recency`` and ``T`` ('D', 'W', 'M', 'Y');
* ``observation_end`` - the last observed day (the summary's "as of" date);
* ``calibration_end`` - the end of the calibration period of a calibration / holdout summary;
* ``options`` - the :class:`SummaryOptions` it was built with (merge, returns, columns, ...);
* ``report`` - the :class:`DropReport` of everything a policy left out.

It is validated once, when built (:meth:`RFMSummary.from_frame`, or by
:func:`clvmodels.rfm_summary` / :func:`clvmodels.calibration_holdout`). Indexing, selecting rows,
``copy`` and ``assign`` keep the type and its facts; a result that no longer has the summary's
columns (or its ``customer_id`` index) is a plain DataFrame. Functions of the other layers read the
time unit and dates from here, never from ``DataFrame.attrs``.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataDroppedWarning, DataValidationError, InvalidValueError, describe_culprits
from ..timeunits import check_unit, days_per

__all__ = ["RFMSummary", "SummaryOptions", "DropReport", "summary_time_unit", "MERGE_PERIODS",
           "RETURNS_POLICIES", "AFTER_END_POLICIES", "US_PER_DAY", "DEFAULT_REFUND_WINDOW", "NET_TOLERANCE"]

MERGE_PERIODS = ("D", "W", "M", "Y", None)
RETURNS_POLICIES = ("error", "drop", "net", "match")
AFTER_END_POLICIES = ("exclude", "error")
US_PER_DAY = 86_400_000_000
# returns='match' without an order column: a refund is netted against a purchase at most this many days before it
DEFAULT_REFUND_WINDOW = 30
# a purchase netted by its returns is gone when net <= NET_TOLERANCE x its gross value (the sum of its amounts
# >= 0): float sums of the same amounts in another order differ by ~1e-16 x gross, so both engines decide alike
NET_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SummaryOptions:
    """How a transaction log was turned into a summary: the rules both engines apply.

    Attributes
    ----------
    time_unit : unit of recency and T ('D', 'W', 'M', 'Y').
    merge : transactions of a customer in the same 'D' day, 'W' ISO week, 'M' month, 'Y' year
        (or with identical timestamps, None) are one purchase.
    monetary_includes_first : average every purchase (True) or the repeat purchases only (False).
    returns : 'error', 'drop', 'net' or 'match' (see :mod:`clvmodels.data.rfm`).
    after_observation_end : 'exclude' or 'error'.
    customer_col, date_col, amount_col, date_format : the transaction log's layout (amount_col None:
        a log without amounts).
    timezone : IANA name (e.g. 'Europe/Berlin') of the zone whose local days count, or None: each
        timestamp's own local wall time (see :mod:`clvmodels.data.rfm`).
    order_col : returns='match' only: the column naming the order a row belongs to (a refund row
        carries the id of the order it refunds), or None to match refunds by date.
    refund_window : returns='match' by date only: a refund is netted against the customer's latest
        purchase at most this many days before it (30 unless given); None otherwise.

    Examples
    --------
    >>> SummaryOptions.build(time_unit="w").time_unit
    'W'
    """

    time_unit: str = "W"
    merge: str | None = "D"
    monetary_includes_first: bool = False
    returns: str = "error"
    after_observation_end: str = "exclude"
    customer_col: str = "customer_id"
    date_col: str = "date"
    amount_col: str | None = "amount"
    date_format: str | None = None
    timezone: str | None = None
    order_col: str | None = None
    refund_window: int | None = None
    # add the column ``litt``: the sum over a customer's repeat purchases of the log of the time since the
    # previous purchase (in time_unit; 0 without repeat purchases), the regularity statistic of the
    # (M)BG/CNBD-k models (BTYDplus elog2cbs); the inter-purchase times are those between merged purchases
    litt: bool = False

    @classmethod
    def build(cls, time_unit: str = "W", merge: str | None = "D", monetary_includes_first: bool = False,
              returns: str = "error", after_observation_end: str = "exclude", *, customer_col: str = "customer_id",
              date_col: str = "date", amount_col: str | None = "amount", date_format: str | None = None,
              timezone: str | None = None, order_col: str | None = None,
              refund_window: int | None = None, litt: bool = False) -> SummaryOptions:
        """Validated options; a bad value raises :class:`ConfigError` naming the option.

        ``refund_window`` is resolved here: with ``returns='match'`` and no ``order_col`` it becomes
        30 (days) unless given; in every other case it must be None (it would have no effect).
        """
        from .transactions import check_date_format, check_timezone

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
        for key, value in (("customer_col", customer_col), ("date_col", date_col)):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{key} must be a column name, got {value!r}", key=key)
        if amount_col is not None and (not isinstance(amount_col, str) or not amount_col):
            raise ConfigError(f"amount_col must be a column name or None (a log without amounts), got "
                              f"{amount_col!r}", key="amount_col")
        check_date_format(date_format)
        timezone = check_timezone(timezone)
        if order_col is not None:
            if not isinstance(order_col, str) or not order_col:
                raise ConfigError(f"order_col must be a column name or None, got {order_col!r}", key="order_col")
            if returns != "match":
                raise ConfigError(f"order_col={order_col!r} names the orders that refunds are matched to: it needs "
                                  f"returns='match' (got returns={returns!r})", key="order_col")
            if order_col in (customer_col, date_col, amount_col):
                raise ConfigError(f"order_col={order_col!r} is already the customer, date or amount column",
                                  key="order_col")
        refund_window = _refund_window(refund_window, returns, order_col)
        if not isinstance(litt, (bool, np.bool_)):
            raise ConfigError(f"litt must be True or False, got {litt!r}", key="litt")
        return cls(unit, merge, bool(monetary_includes_first), returns, after_observation_end, customer_col,
                   date_col, amount_col, date_format, timezone, order_col, refund_window, bool(litt))

    @property
    def ticks_per_day(self) -> int:
        """Integer time resolution: whole days when merging by calendar period, microseconds otherwise."""
        return 1 if self.merge else US_PER_DAY

    @property
    def ticks_per_unit(self) -> float:
        """Integer ticks (days or microseconds) per ``time_unit``."""
        return self.ticks_per_day * days_per(self.time_unit)

    @property
    def refund_window_ticks(self) -> int | None:
        """``refund_window`` in integer ticks (days, or microseconds with ``merge=None``)."""
        return None if self.refund_window is None else int(self.refund_window) * self.ticks_per_day

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)


def _refund_window(value, returns: str, order_col) -> int | None:
    by_date = returns == "match" and order_col is None
    if value is None:
        return DEFAULT_REFUND_WINDOW if by_date else None
    if not by_date:
        why = ("refunds are matched by order id (order_col)" if returns == "match"
               else f"it is used by returns='match' only (got returns={returns!r})")
        raise ConfigError(f"refund_window={value!r} has no effect: {why}", key="refund_window")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"refund_window={value!r} must be a whole number of days >= 0", key="refund_window")
    return int(value)


@dataclass
class DropReport:
    """What the summary left out, and why (every count is a number of rows, purchases or customers).

    ``n_rows`` transactions were read. Left out: ``n_rows_after_observation_end`` (dated after
    the observation end), ``n_rows_dropped_returns`` (``returns='drop'``),
    ``n_purchases_dropped_net_nonpositive`` (``returns='net'``), ``n_customers_dropped`` customers
    left with no purchase (``dropped_customer_examples``), and in a calibration / holdout summary
    ``n_customers_first_purchase_after_end`` customers whose first purchase is after the
    calibration end. With ``returns='match'``: ``n_refunds_matched`` refund rows netted against a
    purchase, ``n_refunds_unmatched`` refund rows that matched no purchase and were dropped
    (``unmatched_refund_examples``: up to five of their customers), and
    ``n_purchases_fully_refunded`` purchases whose value the matched refunds brought to <= 0 (gone).

    Examples
    --------
    A log with a return, a customer whose only row is a return and a row after the observation
    end: the summary counts what it left out in ``summary.report`` and announces it in one
    :class:`~clvmodels.errors.DataDroppedWarning`.

    >>> import warnings, clvmodels as clv
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "d"],
    ...                    "date": ["2024-01-01", "2024-01-08", "2024-01-02", "2024-01-05", "2024-02-20"],
    ...                    "amount": [10.0, -10.0, 5.0, -4.0, 8.0]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     rfm = clv.rfm_summary(tx, observation_end="2024-01-31", returns="drop")
    >>> rfm.index.tolist()
    ['a', 'b']
    >>> {name: count for name, count in rfm.report.as_dict().items() if count}  # doctest: +NORMALIZE_WHITESPACE
    {'n_rows': 5, 'n_rows_after_observation_end': 1, 'n_rows_dropped_returns': 2, 'n_customers_dropped': 1,
     'dropped_customer_examples': ['c']}
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    1 transaction(s) after observation_end excluded; 2 transaction(s) with amount <= 0 dropped (returns='drop');
    1 customer(s) left with no purchase and not summarised, e.g. ['c']. Counts are in summary.report.
    """

    n_rows: int = 0
    n_rows_after_observation_end: int = 0
    n_rows_dropped_returns: int = 0
    n_purchases_dropped_net_nonpositive: int = 0
    n_customers_dropped: int = 0
    dropped_customer_examples: list = field(default_factory=list)
    n_customers_first_purchase_after_end: int = 0
    n_refunds_matched: int = 0
    n_refunds_unmatched: int = 0
    unmatched_refund_examples: list = field(default_factory=list)
    n_purchases_fully_refunded: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Counts as a plain dict (JSON-ready)."""
        return {k: (list(v) if isinstance(v, list) else int(v)) for k, v in dataclasses.asdict(self).items()}

    def warn(self, stacklevel: int) -> None:
        """Announce with a :class:`DataDroppedWarning` whatever a policy left out."""
        parts = []
        if self.n_rows_after_observation_end:
            parts.append(f"{self.n_rows_after_observation_end} transaction(s) after observation_end excluded")
        if self.n_rows_dropped_returns:
            parts.append(f"{self.n_rows_dropped_returns} transaction(s) with amount <= 0 dropped (returns='drop')")
        if self.n_purchases_dropped_net_nonpositive:
            parts.append(f"{self.n_purchases_dropped_net_nonpositive} purchase(s) with net amount <= 0 dropped "
                         "(returns='net')")
        if self.n_refunds_unmatched:
            parts.append(f"{self.n_refunds_unmatched} refund(s) matched no purchase and were dropped (returns='match'; "
                         f"{self.n_refunds_matched} matched), e.g. customers "
                         f"{describe_culprits(self.unmatched_refund_examples)}")
        if self.n_purchases_fully_refunded:
            parts.append(f"{self.n_purchases_fully_refunded} purchase(s) fully refunded and dropped (returns='match')")
        if self.n_customers_dropped:
            parts.append(f"{self.n_customers_dropped} customer(s) left with no purchase and not summarised, "
                         f"e.g. {describe_culprits(self.dropped_customer_examples)}")
        if parts:
            warnings.warn("; ".join(parts) + ". Counts are in summary.report.", DataDroppedWarning,
                          stacklevel=stacklevel)


@dataclass(frozen=True)
class _SummaryFacts:
    time_unit: str | None
    observation_end: pd.Timestamp | None
    calibration_end: pd.Timestamp | None
    options: SummaryOptions | None
    report: DropReport | None


_CORE = ("frequency", "recency")
_TIME = ("T", "n_periods")
HOLDOUT_COLUMNS = ("frequency_holdout", "duration_holdout")


def _is_summary_shaped(frame: pd.DataFrame) -> bool:
    cols = frame.columns
    return (frame.index.name == "customer_id" and not isinstance(frame.index, pd.MultiIndex)
            and all(c in cols for c in _CORE) and any(c in cols for c in _TIME))


def _summary_or_frame(*args, **kwargs):
    frame = pd.DataFrame(*args, **kwargs)
    return RFMSummary(frame) if _is_summary_shaped(frame) else frame


class RFMSummary(pd.DataFrame):
    """An RFM summary that knows its time unit, dates, options and drop report.

    Build one with :func:`clvmodels.rfm_summary`, :func:`clvmodels.calibration_holdout` or, for a
    summary you already have, :meth:`from_frame`. It is a DataFrame: index and select it as usual.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86]},
    ...                      index=pd.Index([1, 2], name="customer_id"))
    >>> s = RFMSummary.from_frame(frame, time_unit="W", observation_end="1997-09-30")
    >>> s.time_unit, str(s.observation_end.date()), len(s[s["frequency"] > 0])
    ('W', '1997-09-30', 1)
    """

    _metadata = ["_facts"]

    @property
    def _constructor(self):
        return _summary_or_frame

    # ---- facts ------------------------------------------------------------------------------
    def _fact(self, name: str):
        facts = _facts_of(self)
        return None if facts is None else getattr(facts, name)

    @property
    def time_unit(self) -> str | None:
        """Unit of recency and T ('D', 'W', 'M', 'Y'), or None when it was never given."""
        return self._fact("time_unit")

    @property
    def observation_end(self) -> pd.Timestamp | None:
        """Last observed day (inclusive): the date the summary describes customers as of."""
        return self._fact("observation_end")

    @property
    def calibration_end(self) -> pd.Timestamp | None:
        """End of the calibration period (calibration / holdout summaries), else None."""
        return self._fact("calibration_end")

    @property
    def options(self) -> SummaryOptions | None:
        """The :class:`SummaryOptions` the summary was built with (None for a summary read from elsewhere)."""
        return self._fact("options")

    @property
    def report(self) -> DropReport:
        """What was left out while building the summary (:class:`DropReport`)."""
        return self._fact("report") or DropReport()

    @property
    def has_holdout(self) -> bool:
        """True for a calibration / holdout summary (holdout columns present)."""
        return all(c in self.columns for c in HOLDOUT_COLUMNS)

    @property
    def holdout_duration(self) -> float | None:
        """Length of the holdout period in ``time_unit`` (None without a holdout)."""
        if not self.has_holdout or len(self) == 0:
            return None
        return float(self["duration_holdout"].iloc[0])

    @property
    def has_monetary(self) -> bool:
        """True when the summary has ``monetary_value`` (the log had amounts)."""
        return "monetary_value" in self.columns

    def describe_facts(self) -> dict[str, Any]:
        """The facts as a JSON-ready dict: time unit, dates, options and the drop report."""
        def day(ts):
            return None if ts is None else str(pd.Timestamp(ts).date())
        options = self.options
        return {"time_unit": self.time_unit, "observation_end": day(self.observation_end),
                "calibration_end": day(self.calibration_end), "customers": int(len(self)),
                "options": None if options is None else options.as_dict(), "report": self.report.as_dict()}

    def with_facts(self, **changes) -> RFMSummary:
        """A copy with some facts replaced (``time_unit``, ``observation_end``, ``calibration_end``,
        ``options``, ``report``)."""
        facts = _facts_of(self) or _SummaryFacts(None, None, None, None, None)
        out = RFMSummary(self.copy())
        object.__setattr__(out, "_facts", dataclasses.replace(facts, **changes))
        return out

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, time_unit: str, observation_end=None, calibration_end=None,
                   options: SummaryOptions | None = None, report: DropReport | None = None,
                   discrete: bool = False) -> RFMSummary:
        """Validate ``frame`` against the data contract and wrap it with its facts (a copy).

        ``frame`` is indexed by unique customer ids and has ``frequency``, ``recency`` and ``T``
        (``n_periods`` with ``discrete=True``, BG/BB opportunities); ``monetary_value`` and the
        holdout columns are checked when present. Other columns (covariates) are kept as they are.
        """
        from .validation import _fail, _numeric, validate_summary

        if not isinstance(frame, pd.DataFrame):
            raise DataValidationError(f"a summary must be a pandas DataFrame, got {type(frame).__name__}")
        unit = check_unit(time_unit, key="time_unit")
        columns = ("frequency", "recency", "n_periods") if discrete else ("frequency", "recency", "T")
        validate_summary(frame, require_monetary="monetary_value" in frame.columns, columns=columns,
                         discrete=discrete, litt="litt" in frame.columns and not discrete)
        for col in ("frequency_holdout", "monetary_value_holdout", "duration_holdout"):
            if col in frame.columns:
                values = _numeric(frame, col, frame.index)
                if (values < 0).any():
                    _fail(InvalidValueError, col, values < 0, frame.index, "are negative")
        out = cls(frame.copy())
        if out.index.name != "customer_id":
            out.index = out.index.rename("customer_id")
        facts = _SummaryFacts(unit, _day(observation_end, "observation_end"),
                              _day(calibration_end, "calibration_end"), options, report)
        object.__setattr__(out, "_facts", facts)
        return out

    @classmethod
    def _assemble(cls, frame: pd.DataFrame, *, options: SummaryOptions, observation_end, calibration_end,
                  report: DropReport) -> RFMSummary:
        """Wrap a frame built by an engine (valid by construction; no second pass over it)."""
        out = cls(frame)
        object.__setattr__(out, "_facts", _SummaryFacts(options.time_unit, _day(observation_end, "observation_end"),
                                                         _day(calibration_end, "calibration_end"), options, report))
        return out

    # ---- pandas plumbing --------------------------------------------------------------------
    def reset_index(self, *args, **kwargs):
        """As :meth:`pandas.DataFrame.reset_index`; the result is a plain DataFrame (no longer keyed by customer)."""
        out = super().reset_index(*args, **kwargs)
        return out if out is None or _is_summary_shaped(out) else pd.DataFrame(out)

    def __finalize__(self, other, method: str | None = None, **kwargs):
        out = super().__finalize__(other, method=method, **kwargs)
        if not isinstance(out, RFMSummary) or _facts_of(out) is not None:
            return out
        sources = []
        if method == "merge":
            sources = [getattr(other, "left", None)]
        elif method == "concat":
            sources = list(getattr(other, "objs", []))
        facts = [_facts_of(s) for s in sources if isinstance(s, RFMSummary) and _facts_of(s) is not None]
        if facts and all(f == facts[0] for f in facts):
            object.__setattr__(out, "_facts", facts[0])
        return out


# ----------------------------------------------------------------------------------------------
# assembling a summary from per-customer statistics (both engines)


def summary_frame(stats, uniques, opts: SummaryOptions, end_tick: int) -> pd.DataFrame:
    """The summary columns from per-customer statistics (both engines): first / last purchase ticks,
    purchase counts and (with amounts) total and first-purchase value."""
    ticks_per_unit = opts.ticks_per_unit
    frequency = (stats["count"] - 1).astype(np.int64)
    data = {
        "frequency": frequency,
        "recency": (stats["last"] - stats["first"]) / ticks_per_unit,
        "T": (end_tick - stats["first"]) / ticks_per_unit,
    }
    if "litt" in stats:
        data["litt"] = stats["litt"]
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


def attach_holdout(result, freq, total, opts: SummaryOptions, duration_ticks) -> pd.DataFrame:
    """Add frequency_holdout, monetary_value_holdout and duration_holdout (shared by both engines)."""
    ticks_per_unit = opts.ticks_per_unit
    result["frequency_holdout"] = freq.astype(np.int64)
    if total is not None:
        result["monetary_value_holdout"] = np.where(freq > 0, total / np.maximum(freq, 1), 0.0)
    result["duration_holdout"] = float(duration_ticks / ticks_per_unit)
    return result


def assemble(result: pd.DataFrame, report: DropReport, opts: SummaryOptions, end: pd.Timestamp, cal_end,
             stacklevel: int = 6) -> RFMSummary:
    """Wrap an engine's frame as an :class:`RFMSummary` and announce anything a policy left out."""
    summary = RFMSummary._assemble(result, options=opts, observation_end=end, calibration_end=cal_end, report=report)
    report.warn(stacklevel)
    return summary


def resolve_calibration_end(cal_end, first, end, opts: SummaryOptions) -> pd.Timestamp:
    """The calibration end as a day: a date stays; a number ``n`` of periods (``opts.time_unit``)
    becomes the last day of the first ``floor(n * days)`` days from the first transaction's day.
    Checks that the observation end comes after it (both engines)."""
    if not isinstance(cal_end, pd.Timestamp):
        days = int(np.floor(float(cal_end) * days_per(opts.time_unit) + 1e-9))
        if days < 1:
            raise ConfigError(f"calibration_end={cal_end!r} periods of {opts.time_unit!r} is shorter than a day",
                              key="calibration_end")
        cal_end = pd.Timestamp(first).normalize() + pd.Timedelta(days=days - 1)
    if end is not None and pd.Timestamp(end) <= cal_end:
        raise ConfigError(f"observation_end={pd.Timestamp(end).date()} must be after "
                          f"calibration_end={cal_end.date()}", key="observation_end")
    return cal_end


def nothing_left(report: DropReport, opts: SummaryOptions, end) -> DataValidationError:
    """The error of a log with no purchase left to summarise (both engines)."""
    day = end.date() if hasattr(end, "date") else end
    returns = {"drop": f"{report.n_rows_dropped_returns} row(s) dropped",
               "net": f"{report.n_purchases_dropped_net_nonpositive} purchase(s) netting to <= 0 dropped",
               "match": f"{report.n_purchases_fully_refunded} purchase(s) fully refunded, "
                        f"{report.n_refunds_unmatched} unmatched refund(s) dropped"}.get(opts.returns)
    return DataValidationError(
        f"no transaction is left to summarise: {report.n_rows_after_observation_end} row(s) after "
        f"observation_end={day}" + (f", {returns} by returns={opts.returns!r}" if returns else ""),
        n_rows=report.n_rows)


def _facts_of(frame) -> _SummaryFacts | None:
    """The facts a summary carries (pandas keeps ``_metadata`` attributes in the instance dict)."""
    return frame.__dict__.get("_facts")


def _day(value, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    from .transactions import to_timestamp

    return to_timestamp(value, name)


def summary_time_unit(summary) -> str | None:
    """The time unit of a summary: ``summary.time_unit`` for an :class:`RFMSummary`, else None.

    Examples
    --------
    A plain DataFrame does not know the unit of its recency and T; functions that need it ask
    the caller instead:

    >>> frame = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86]},
    ...                      index=pd.Index([1, 2], name="customer_id"))
    >>> summary = RFMSummary.from_frame(frame, time_unit="W")
    >>> summary_time_unit(summary), summary_time_unit(frame)
    ('W', None)
    """
    return summary.time_unit if isinstance(summary, RFMSummary) else None
