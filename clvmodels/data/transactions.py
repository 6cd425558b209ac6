"""Validate a transaction log held in pandas (or polars) and turn it into plain arrays.

This is the entrance check for every in-memory transaction log: each problem raises a typed
error naming the column, the number of rows and up to five example customer ids. The output,
:class:`TransactionArrays`, is what the pandas summary engine works on.

Dates become the customer's local wall time, naive (see :mod:`clvmodels.data.rfm`): with
``timezone=None`` a timestamp that carries a UTC offset is taken at its own local wall time (the
offset is dropped) and a tz-aware column at its zone's wall time; with ``timezone='Area/City'``
every aware timestamp or offset is first converted to that zone. Naive timestamps are taken as
already local. The DuckDB engine applies the same rules in SQL (:mod:`.duckdb_engine`).
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, DataValidationError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["TransactionArrays", "prepare_transactions", "to_timestamp", "local_time", "check_timezone",
           "check_date_format", "TZ_OFFSET_PATTERN", "format_without_offset", "offset_minutes", "as_pandas_frame",
           "missing_columns_error"]

# a UTC offset ('Z', '+02:00', '-0500', '+01') after a clock time hh:mm[:ss[.ffffff]] at the end of the
# text: group 1 is the clock time, group 2 the offset. The time anchor keeps a date such as
# '2024-03-30' from being read as an offset. RE2 syntax, the same in pyarrow (pandas engine) and DuckDB.
TZ_OFFSET_PATTERN = r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)$"
_NAMED_OFFSET_PATTERN = r"(?P<clock>\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)$"
# a strptime format as tokens: a directive ('%d', '%%') or one literal character
_FORMAT_TOKEN = re.compile(r"%.?|[^%]", re.DOTALL)

# amounts whose absolute values add up to more than this are refused (both engines): every sum the summary
# takes (a purchase's value, a customer's total, a mean, a difference of two) then stays finite
AMOUNT_TOTAL_LIMIT = 1e300


def check_timezone(timezone, key: str = "timezone") -> str | None:
    """``timezone`` as given if it is None or an IANA zone name ('Europe/Berlin', 'UTC'); else a ConfigError.

    Examples
    --------
    >>> check_timezone("Europe/Berlin"), check_timezone(None)
    ('Europe/Berlin', None)

    An abbreviation or a city alone is not an IANA name; the error names the setting (``key``):

    >>> try:  # doctest: +NORMALIZE_WHITESPACE
    ...     check_timezone("Berlin", key="data.timezone")
    ... except ConfigError as exc:
    ...     print(exc.key, "|", exc)
    data.timezone | data.timezone='Berlin' is not an IANA time zone name
    (e.g. 'Europe/Berlin', 'America/New_York', 'UTC')
    """
    if timezone is None:
        return None
    if not isinstance(timezone, str) or not timezone.strip():
        raise ConfigError(f"{key}={timezone!r} must be an IANA time zone name such as 'Europe/Berlin', or None",
                          key=key)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"{key}={timezone!r} is not an IANA time zone name (e.g. 'Europe/Berlin', "
                          "'America/New_York', 'UTC')", key=key) from None
    return timezone


def check_date_format(date_format) -> None:
    """A strptime format may end with ``%z`` (the offset is read on its own); ``%Z`` and a ``%z`` that is not
    at the end are refused with a ConfigError.

    Examples
    --------
    >>> check_date_format("%d/%m/%Y %H:%M%z") is None       # a trailing offset is fine
    True
    >>> try:  # doctest: +NORMALIZE_WHITESPACE
    ...     check_date_format("%z %Y-%m-%d")
    ... except ConfigError as exc:
    ...     print(exc)
    date_format='%z %Y-%m-%d': a UTC offset is read from the end of the text after the clock time
    (e.g. '...10:00:00+01:00'); %Z (zone names) and a %z before the end are not supported

    A zone name (``%Z``) is refused at the end too; a literal ``Z`` (``...%SZ``) is an offset:

    >>> try:
    ...     check_date_format("%Y-%m-%d %H:%M %Z")
    ... except ConfigError as exc:
    ...     print(exc.key)
    date_format
    >>> check_date_format("%Y-%m-%dT%H:%M:%SZ") is None
    True
    """
    if date_format is None:
        return
    if not isinstance(date_format, str) or not date_format:
        raise ConfigError(f"date_format must be a strptime format such as '%Y%m%d', got {date_format!r}",
                          key="date_format")
    rest = _FORMAT_TOKEN.findall(format_without_offset(date_format))
    if "%z" in rest or "%Z" in rest:
        raise ConfigError(f"date_format={date_format!r}: a UTC offset is read from the end of the text after the "
                          "clock time (e.g. '...10:00:00+01:00'); %Z (zone names) and a %z before the end are not "
                          "supported", key="date_format")


def format_without_offset(date_format: str | None) -> str | None:
    """The format the text is parsed with once its trailing offset is cut off (a trailing ``%z`` or literal
    ``Z`` dropped).

    Examples
    --------
    '2024-03-30 10:00:00+01:00' loses its '+01:00' (read by :data:`TZ_OFFSET_PATTERN`), so the
    rest is parsed without the ``%z``:

    >>> format_without_offset("%Y-%m-%d %H:%M:%S%z"), format_without_offset("%Y-%m-%dT%H:%M:%SZ")
    ('%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S')
    >>> format_without_offset("%d/%m/%Y"), format_without_offset(None)
    ('%d/%m/%Y', None)
    """
    if date_format is None:
        return None
    tokens = _FORMAT_TOKEN.findall(date_format)  # '%Z' is a directive, not a '%' before a literal 'Z'
    if tokens and tokens[-1] in ("%z", "Z"):
        tokens.pop()
        while tokens and tokens[-1].isspace():
            tokens.pop()
    return "".join(tokens)


def offset_minutes(text: str) -> int:
    """Minutes east of UTC of an offset matched by :data:`TZ_OFFSET_PATTERN` ('Z', '+01:00', '-0530', '+01').

    Examples
    --------
    >>> [offset_minutes(text) for text in ("Z", "+01:00", "-0530", "+01")]
    [0, 60, -330, 60]
    """
    if text == "Z":
        return 0
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return -minutes if text[0] == "-" else minutes


def local_time(ts: pd.Timestamp, timezone: str | None) -> pd.Timestamp:
    """A user-given date or time as a naive local time: an aware one converted to ``timezone`` (or kept
    at its own wall time when ``timezone`` is None), a naive one as it is.

    Examples
    --------
    Noon UTC in Berlin, the day before and the day of the switch to summer time (CET +01:00 to
    CEST +02:00 on 2024-03-31):

    >>> str(local_time(pd.Timestamp("2024-03-30 12:00", tz="UTC"), "Europe/Berlin"))
    '2024-03-30 13:00:00'
    >>> str(local_time(pd.Timestamp("2024-03-31 12:00", tz="UTC"), "Europe/Berlin"))
    '2024-03-31 14:00:00'

    Without a zone an offset is dropped (its own wall time); a naive time is taken as local already:

    >>> str(local_time(pd.Timestamp("2024-03-31T10:00:00+05:00"), None))
    '2024-03-31 10:00:00'
    >>> str(local_time(pd.Timestamp("2024-03-31 10:00"), "Europe/Berlin"))
    '2024-03-31 10:00:00'
    """
    if ts.tzinfo is None:
        return ts
    if timezone is not None:
        ts = ts.tz_convert(timezone)
    return ts.tz_localize(None)


@dataclass
class TransactionArrays:
    """A validated transaction log as arrays (row order preserved).

    Examples
    --------
    What :func:`prepare_transactions` hands to the pandas engine: ids as they were, dates as naive
    local wall times, amounts as float64 (``orders`` only with an order column):

    >>> log = pd.DataFrame({"customer_id": [7, 7, 12], "date": ["2024-03-01", "2024-03-09 18:30", "2024-03-02"],
    ...                     "amount": [20, 5, 12]})
    >>> tx = prepare_transactions(log, customer_col="customer_id", date_col="date", amount_col="amount")
    >>> tx.ids.tolist(), tx.dates.astype(str).tolist()
    ([7, 7, 12], ['2024-03-01 00:00:00', '2024-03-09 18:30:00', '2024-03-02 00:00:00'])
    >>> tx.amounts.tolist(), tx.orders is None
    ([20.0, 5.0, 12.0], True)
    """

    ids: pd.Series            # customer ids (original dtype), index = row position
    dates: pd.Series          # datetime64, naive: the local wall time (see the module docstring)
    amounts: np.ndarray | None
    orders: pd.Series | None = None   # the order column (returns='match' with order_col), index = row position


def _bad(column: str, mask, ids: pd.Series, what: str, cls=InvalidValueError):
    mask = np.asarray(mask, dtype=bool)
    culprits = pd.unique(ids.to_numpy()[mask])
    n = int(mask.sum())
    raise cls(f"column {column!r}: {n} row(s) {what}; example customer ids {describe_culprits(culprits)}",
              column=column, n_rows=n, examples=list(culprits[:5]))


def to_timestamp(value, name: str = "observation_end") -> pd.Timestamp:
    """Parse a user-given date (str, date, datetime, Timestamp) or raise a ConfigError naming it.

    Examples
    --------
    >>> import datetime
    >>> to_timestamp("1997-09-30"), to_timestamp(datetime.date(1997, 9, 30))
    (Timestamp('1997-09-30 00:00:00'), Timestamp('1997-09-30 00:00:00'))

    A number is refused, with a hint where a number means something else:

    >>> try:  # doctest: +NORMALIZE_WHITESPACE
    ...     to_timestamp(39, "calibration_end")
    ... except ConfigError as exc:
    ...     print(exc.key, "|", exc)
    calibration_end | calibration_end=39 is a number, not a date: give a date such as '1997-09-30'
    (calibration_end also takes a number of periods after the first transaction)
    """
    if isinstance(value, (bool, int, float, np.number)):
        hint = (" (calibration_end also takes a number of periods after the first transaction)"
                if name == "calibration_end" else "")
        raise ConfigError(f"{name}={value!r} is a number, not a date: give a date such as '1997-09-30'{hint}",
                          key=name)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={value!r} is not a date: {exc}", key=name) from None
    if ts is pd.NaT or pd.isna(ts):
        raise ConfigError(f"{name}={value!r} is not a date", key=name)
    return ts


# ----------------------------------------------------------------------------------------------
# dates -> naive local wall time


def _wall(dates: pd.Series, timezone: str | None) -> pd.Series:
    """A tz-aware datetime column as naive wall time: in ``timezone``, or in its own zone when None."""
    if timezone is not None:
        dates = dates.dt.tz_convert(timezone)
    return dates.dt.tz_localize(None)


def _shift_to_zone(wall: pd.Series, minutes: np.ndarray, timezone: str) -> pd.Series:
    """Local wall times with a UTC offset of ``minutes`` -> naive wall times in ``timezone``."""
    utc = wall - pd.to_timedelta(minutes, unit="m")
    return _wall(utc.dt.tz_localize("UTC"), timezone)


def _parse_text(text: pd.Series, ids: pd.Series, column: str, date_format: str | None,
                timezone: str | None) -> pd.Series:
    """ISO 8601 (or ``date_format``) text, optionally ending in a UTC offset, as naive local times."""
    arr = pa.array(text, type=pa.large_string(), from_pandas=True)
    has_offset = pc.match_substring_regex(arr, TZ_OFFSET_PATTERN)
    n_offset = pc.sum(has_offset).as_py() or 0
    fmt = format_without_offset(date_format) or "ISO8601"
    if n_offset:
        bare = pc.replace_substring_regex(arr, TZ_OFFSET_PATTERN, r"\1")
        text = pd.Series(pd.arrays.ArrowExtensionArray(bare), index=text.index)
    # without a format, text must be ISO 8601 - the same rule as the DuckDB engine, and no guessing
    # between day-first and month-first
    try:
        parsed = pd.to_datetime(text, errors="coerce", format=fmt)
    except (ValueError, TypeError):  # pandas read offsets the pattern does not know (mixed with naive rows)
        parsed = None
    if parsed is None or isinstance(parsed.dtype, pd.DatetimeTZDtype):
        # an offset the pattern does not recognise (e.g. after a bare hour) is refused, as by DuckDB: find
        # the rows, value by value (only on the way to an error, unless every row is naive after all)
        parsed = _parse_each(text, fmt)
    unparsed = parsed.isna().to_numpy()
    if unparsed.any() and parsed.dtype == "datetime64[ns]":  # pandas < 3: years beyond 1677-2262 came back NaT
        parsed, unparsed = _outside_nanoseconds(text, parsed, unparsed, fmt)
    if unparsed.any():
        _bad(column, unparsed, ids, "could not be parsed as dates"
             + (f" with date_format={date_format!r}" if date_format else
                " as ISO 8601 (pass date_format, e.g. '%d/%m/%Y', for other layouts)"))
    if timezone is not None and n_offset:
        aware = has_offset.to_numpy(zero_copy_only=False)
        offsets = pc.extract_regex(arr.filter(has_offset), _NAMED_OFFSET_PATTERN).field("offset")
        codes, kinds = pd.factorize(offsets.to_numpy(zero_copy_only=False))
        minutes = np.array([offset_minutes(k) for k in kinds], dtype=np.int64)[codes]
        parsed = parsed.copy()
        parsed[aware] = _shift_to_zone(parsed[aware], minutes, timezone)
    return parsed


def _parse_each(text: pd.Series, fmt: str) -> pd.Series:
    """Text parsed value by value: NaT for a value that does not parse or parses to an aware time."""
    def one(value):
        try:
            ts = pd.to_datetime(value, format=fmt)
        except (ValueError, TypeError, OverflowError):
            return _stdlib_date(value, fmt)
        return None if ts.tzinfo is not None else ts.to_pydatetime(warn=False)

    codes, uniques = pd.factorize(text)
    values = np.array([one(v) for v in uniques], dtype="datetime64[us]")
    return pd.Series(values[codes], index=text.index)


# the datetime64[ns] range of pandas < 3, which parses text to nanoseconds (pandas 3: microseconds)
_NS_RANGE = (_dt.datetime(1677, 9, 21, 0, 12, 44), _dt.datetime(2262, 4, 11, 23, 47, 16))


def _stdlib_date(value, fmt: str) -> _dt.datetime | None:
    """A date pandas < 3 cannot hold in nanoseconds (before 1677-09-21 or after 2262-04-11), parsed by the
    standard library; None for anything else (a value pandas refused for another reason stays refused)."""
    try:
        parsed = _dt.datetime.fromisoformat(value) if fmt == "ISO8601" else _dt.datetime.strptime(value, fmt)
    except (TypeError, ValueError):
        return None
    inside = _NS_RANGE[0] <= parsed <= _NS_RANGE[1]
    return None if parsed.tzinfo is not None or inside else parsed


def _outside_nanoseconds(text: pd.Series, parsed: pd.Series, unparsed: np.ndarray, fmt: str):
    """Dates pandas < 3 left NaT because they fall outside its nanosecond range, parsed in microseconds (the
    resolution of both engines): every valid date of years 1-9999 is accepted, as DuckDB accepts it."""
    rows = np.flatnonzero(unparsed)
    late = np.array([_stdlib_date(v, fmt) for v in text.to_numpy()[rows]], dtype="datetime64[us]")
    found = ~np.isnat(late)
    if not found.any():
        return parsed, unparsed
    values = parsed.to_numpy().astype("datetime64[us]")
    values[rows[found]] = late[found]
    unparsed = unparsed.copy()
    unparsed[rows[found]] = False
    return pd.Series(values, index=parsed.index), unparsed


def _parse_objects(col: pd.Series, ids: pd.Series, column: str, date_format: str | None,
                   timezone: str | None) -> pd.Series:
    """An object column of python datetimes / dates (aware, naive, in any zones) and perhaps text."""
    zone = ZoneInfo(timezone) if timezone is not None else None

    def wall(v):
        if isinstance(v, _dt.datetime):
            if v.tzinfo is not None:
                return (v.astimezone(zone) if zone is not None else v).replace(tzinfo=None)
            return v
        if isinstance(v, _dt.date):
            return _dt.datetime(v.year, v.month, v.day)
        return v

    values = [wall(v) for v in col.to_numpy()]
    if any(isinstance(v, str) for v in values):
        text = pd.Series([v.isoformat() if isinstance(v, _dt.datetime) else str(v) for v in values],
                         index=col.index, dtype=object)
        return _parse_text(text, ids, column, date_format, timezone)
    odd = np.array([not isinstance(v, _dt.datetime) for v in values])
    if odd.any():
        _bad(column, odd, ids, "could not be parsed as dates (they are neither dates nor text)")
    # microseconds, not pandas < 3's nanoseconds: any year 1-9999
    return pd.Series(np.array(values, dtype="datetime64[us]"), index=col.index)


def _parse_dates(col: pd.Series, ids: pd.Series, column: str, date_format: str | None,
                 timezone: str | None = None) -> pd.Series:
    missing = col.isna().to_numpy()
    if missing.any():
        _bad(column, missing, ids, "have a missing date")
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return _wall(col, timezone)
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return col
    if pd.api.types.is_numeric_dtype(col.dtype) and date_format is None:
        _bad(column, np.ones(len(col), bool), ids,
             f"are numbers (dtype {col.dtype}), not dates; pass date_format (e.g. '%Y%m%d') to parse them")
    if col.dtype == object and pd.api.types.infer_dtype(col, skipna=False) != "string":
        return _parse_objects(col, ids, column, date_format, timezone)
    if not pd.api.types.is_string_dtype(col.dtype):
        col = col.astype(str)
    return _parse_text(col, ids, column, date_format, timezone)


def _positional(col: pd.Series) -> pd.Series:
    """The column indexed by row position; no copy when it already is (the usual RangeIndex)."""
    idx = col.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return col
    return col.reset_index(drop=True)


def large_amounts(total: float, n_rows: int) -> tuple[float, str] | None:
    """None when amounts whose absolute values add up to ``total`` can be summed (below
    :data:`AMOUNT_TOTAL_LIMIT`), else ``(threshold, what)``: rows with ``|amount| >= threshold`` are the
    culprits (there is at least one) and ``what`` says what is wrong with them. Both engines ask this.

    Examples
    --------
    >>> large_amounts(1234.5, n_rows=3) is None
    True
    >>> threshold, what = large_amounts(float("inf"), n_rows=2)     # two amounts of 1e308 overflow a sum
    >>> threshold
    5e+299
    >>> print(what)  # doctest: +NORMALIZE_WHITESPACE
    have amounts so large that their sums overflow (the absolute amounts add up to inf, the limit is 1e+300);
    rescale them (e.g. to thousands)
    """
    if total < AMOUNT_TOTAL_LIMIT:
        return None
    return AMOUNT_TOTAL_LIMIT / n_rows, (f"have amounts so large that their sums overflow (the absolute amounts add "
                                         f"up to {total:.3g}, the limit is {AMOUNT_TOTAL_LIMIT:.0e}); rescale them "
                                         "(e.g. to thousands)")


# ----------------------------------------------------------------------------------------------
# customer ids: one exact type, the same for both engines


def _customer_ids(ids: pd.Series, column: str) -> pd.Series:
    """The customer id column checked, in one exact type (both engines summarise these ids).

    * A missing id (None, NaN, ``pd.NA``) or an empty text is refused (row positions: there is no id).
    * An object column holds one kind of value - text, integers, floats, booleans or bytes - or is refused:
      ``1`` and ``'1'`` may or may not be the same customer, and a Decimal or a UUID has no exact type both
      engines share (convert the column, e.g. ``.astype(str)``).
    * Integers are int64, or uint64 when none is negative and some exceed int64; wider integers are
      refused (give them as text). Nullable columns (``Int64``, ``UInt64``, ``Float64``, ``boolean``)
      without missing values become their numpy dtype.
    * Text must be valid Unicode: a lone surrogate (``'a\\udc80'``, from bytes decoded with
      ``errors='surrogateescape'``) is refused.
    """
    dtype = ids.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return ids  # numpy integers and booleans cannot be missing: no pass over the column
    null = ids.isna().to_numpy()
    text = isinstance(dtype, pd.StringDtype)
    if dtype == object:
        kind = pd.api.types.infer_dtype(ids, skipna=True)
        text = kind == "string"
        if kind not in ("string", "integer", "floating", "boolean", "bytes", "empty"):
            _mixed_ids(ids, null, column, kind)
        if kind in ("integer", "floating", "boolean") and not null.any():
            ids = _exact_numbers(ids, column, kind)
    elif isinstance(ids.array, (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)):
        if not null.any():
            ids = pd.Series(ids.to_numpy(dtype=dtype.numpy_dtype), index=ids.index)
    if text:
        empty = _empty_text(ids, null, column)
    elif not pd.api.types.is_numeric_dtype(ids.dtype) and not pd.api.types.is_bool_dtype(ids.dtype):
        empty = ids.astype(str).str.strip().eq("").to_numpy()
    else:
        empty = null
    bad = null | empty
    if bad.any():
        n = int(bad.sum())
        rows = np.flatnonzero(bad)[:5].tolist()
        raise InvalidValueError(f"column {column!r}: {n} row(s) have a missing or empty customer id "
                                f"(row positions {rows})", column=column, n_rows=n, examples=rows)
    return ids


def _empty_text(ids: pd.Series, null: np.ndarray, column: str) -> np.ndarray:
    """Rows whose text id is empty or blank; refuses text that is not valid Unicode (lone surrogates)."""
    try:
        arr = pa.array(ids, type=pa.large_string(), from_pandas=True)
    except UnicodeEncodeError:
        def valid(v):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
            return True

        invalid = np.array([not null[i] and not valid(v) for i, v in enumerate(ids.to_numpy())])
        _bad(column, invalid, ids, "have a customer id that is not valid Unicode text (a lone surrogate such as "
             "'\\udc80', left by bytes decoded with errors='surrogateescape'; decode the ids with the file's "
             "encoding)")
    return pc.equal(pc.utf8_trim_whitespace(arr), "").fill_null(False).to_numpy(zero_copy_only=False)


def _exact_numbers(ids: pd.Series, column: str, kind: str) -> pd.Series:
    """An object column of one kind of number as a numpy column: int64 / uint64, float64 or bool."""
    values = ids.to_numpy()
    if kind == "floating":
        return pd.Series(values.astype(np.float64), index=ids.index)
    if kind == "boolean":
        return pd.Series(values.astype(bool), index=ids.index)
    lo, hi = int(values.min()), int(values.max())
    if lo >= -2**63 and hi < 2**63:
        return pd.Series(values.astype(np.int64), index=ids.index)
    if lo >= 0 and hi < 2**64:
        return pd.Series(values.astype(np.uint64), index=ids.index)
    wide = np.array([not -2**63 <= int(v) < 2**63 for v in values])
    _bad(column, wide, ids, "have an integer customer id beyond 64 bits (ids must fit int64, or uint64 when none "
         "is negative); give the ids as text, e.g. .astype(str)")


def _mixed_ids(ids: pd.Series, null: np.ndarray, column: str, kind: str) -> None:
    """Refuse an object id column that mixes kinds of values (1 and '1') or holds values of no exact shared type."""
    values = ids.to_numpy()[~null]
    names = pd.Series([type(v).__name__ for v in values])
    counts = names.value_counts()
    first = [values[names.eq(name).to_numpy().argmax()] for name in counts.index]
    kinds = ", ".join(f"{name} ({n} row(s))" for name, n in counts.items())
    if len(counts) > 1:
        what = (f"mixes kinds of customer ids: {kinds}; 1 and '1' may or may not be the same customer, so convert "
                "the column to one kind (e.g. .astype(str))")
        n = int(len(values) - counts.iloc[0])
    else:
        what = (f"holds {kinds} customer ids; ids must be text, integers, floats, booleans or bytes "
                "(convert the column, e.g. .astype(str))")
        n = int(len(values))
    raise InvalidValueError(f"column {column!r} {what}; example customer ids {describe_culprits(first)}",
                            column=column, n_rows=n, examples=list(first[:5]))


# ----------------------------------------------------------------------------------------------
# the frame itself


def missing_columns_error(missing: list, have: list, amount_col: str | None) -> MissingColumnError:
    """The error of a log that lacks needed columns (both engines): it names them, the columns the log
    has, and the way out (``amount_col=None`` for a log without amounts).

    Examples
    --------
    A log without amounts, read with the default ``amount_col='amount'``:

    >>> try:  # doctest: +NORMALIZE_WHITESPACE
    ...     raise missing_columns_error(["amount"], ["customer_id", "date"], amount_col="amount")
    ... except MissingColumnError as exc:
    ...     print(exc.column, "|", exc)
    amount | transactions are missing column(s) ['amount']; they have ['customer_id', 'date'] (set customer_col /
    date_col / amount_col / order_col to name yours; a log without amounts needs amount_col=None (no monetary_value
    then))
    """
    hint = "set customer_col / date_col / amount_col / order_col to name yours"
    if amount_col is not None and amount_col in missing:
        hint += "; a log without amounts needs amount_col=None (no monetary_value then)"
    return MissingColumnError(f"transactions are missing column(s) {missing}; they have {list(map(str, have))} "
                              f"({hint})", column=missing[0])


def needed_columns(customer_col: str, date_col: str, amount_col: str | None, order_col: str | None) -> list:
    return [c for c in (customer_col, date_col, amount_col, order_col) if c]


def as_pandas_frame(transactions, columns: list, amount_col: str | None):
    """A polars DataFrame / LazyFrame as a pandas DataFrame of the needed ``columns`` (other inputs as they
    are). polars is optional: it is never imported here, only recognised when the caller has it.

    Examples
    --------
    Only the needed columns cross over to pandas (a LazyFrame is collected after the selection):

    >>> import polars as pl
    >>> log = pl.DataFrame({"cust": [1, 1, 2], "day": ["2024-01-02", "2024-01-09", "2024-01-05"],
    ...                     "value": [5.0, 7.5, 2.0], "note": ["gift", "", "promo"]})
    >>> frame = as_pandas_frame(log.lazy(), ["cust", "day", "value"], amount_col="value")
    >>> type(frame).__name__, frame.columns.tolist(), frame["value"].tolist()
    ('DataFrame', ['cust', 'day', 'value'], [5.0, 7.5, 2.0])
    >>> as_pandas_frame(frame, ["cust", "day"], amount_col=None) is frame     # pandas: as it is
    True
    """
    pl = sys.modules.get("polars")
    if pl is None or not isinstance(transactions, (pl.DataFrame, pl.LazyFrame)):
        return transactions
    lazy = isinstance(transactions, pl.LazyFrame)
    have = list(transactions.collect_schema().names()) if lazy else list(transactions.columns)
    missing = [c for c in columns if c not in have]
    if missing:
        raise missing_columns_error(missing, have, amount_col)
    selected = transactions.select(list(dict.fromkeys(columns)))
    if lazy:
        selected = selected.collect()
    if selected.height == 0:
        raise DataValidationError("transactions are empty: no rows to summarise", n_rows=0)
    return selected.to_pandas()


def prepare_transactions(transactions: pd.DataFrame, *, customer_col: str, date_col: str,
                         amount_col: str | None, date_format: str | None = None, timezone: str | None = None,
                         order_col: str | None = None) -> TransactionArrays:
    """Validate ids, dates and amounts of a transaction log. Amount signs are checked by the caller's policy.

    Dates come out as naive local wall times (see the module docstring); the frame is never modified.

    Examples
    --------
    Timestamps with UTC offsets, counted in Berlin's local days: 23:30 UTC on 2024-03-30 is
    00:30 on the 31st in Berlin (CET, +01:00), 23:30 UTC on the 31st is 01:30 on April 1st (CEST,
    +02:00 since that night):

    >>> log = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...                     "date": ["2024-03-30T23:30:00Z", "2024-03-31T23:30:00Z", "2024-03-31T09:00:00+02:00"],
    ...                     "amount": [10.0, 4.5, 3.0]})
    >>> tx = prepare_transactions(log, customer_col="customer_id", date_col="date", amount_col="amount",
    ...                           timezone="Europe/Berlin")
    >>> tx.dates.astype(str).tolist()
    ['2024-03-31 00:30:00', '2024-04-01 01:30:00', '2024-03-31 09:00:00']

    A date that is not ISO 8601 raises an error naming the column, the count and the customers:

    >>> log.loc[2, "date"] = "31/03/2024"
    >>> try:  # doctest: +NORMALIZE_WHITESPACE
    ...     prepare_transactions(log, customer_col="customer_id", date_col="date", amount_col="amount")
    ... except InvalidValueError as exc:
    ...     print(exc.column, exc.n_rows, exc.examples, "|", exc)
    date 1 ['b'] | column 'date': 1 row(s) could not be parsed as dates as ISO 8601 (pass date_format, e.g.
    '%d/%m/%Y', for other layouts); example customer ids ['b']
    """
    needed = needed_columns(customer_col, date_col, amount_col, order_col)
    transactions = as_pandas_frame(transactions, needed, amount_col)
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError(f"transactions must be a pandas or polars DataFrame or a CSV/Parquet path, "
                                  f"got {type(transactions).__name__}")
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise missing_columns_error(missing, list(transactions.columns), amount_col)
    if len(transactions) == 0:
        raise DataValidationError("transactions are empty: no rows to summarise", n_rows=0)

    duplicated = [c for c in dict.fromkeys(needed) if int((transactions.columns == c).sum()) > 1]
    if duplicated:
        raise DataValidationError(f"transactions have {int((transactions.columns == duplicated[0]).sum())} columns "
                                  f"named {duplicated[0]!r}: rename or drop the extra one(s), so that it is clear "
                                  "which one to use", column=duplicated[0])
    ids = _customer_ids(_positional(transactions[customer_col]), customer_col)
    dates = _parse_dates(_positional(transactions[date_col]), ids, date_col, date_format, timezone)

    amounts = None
    if amount_col:
        col = _positional(transactions[amount_col])
        if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            coerced = pd.to_numeric(col, errors="coerce")
            nonnum = coerced.isna().to_numpy() & col.notna().to_numpy()
            if pd.api.types.is_bool_dtype(col.dtype):
                nonnum = np.ones(len(col), bool)
            if nonnum.any():
                _bad(amount_col, nonnum, ids, f"are not numeric (dtype {col.dtype})")
            col = coerced
        if col.dtype == np.float64:
            amounts = col.to_numpy()  # no copy: the log is never modified
        else:
            amounts = col.to_numpy(dtype=np.float64, na_value=np.nan)
        nonfinite = ~np.isfinite(amounts)
        if nonfinite.any():
            _bad(amount_col, nonfinite, ids, "are NaN or infinite")
        magnitude = np.abs(amounts)
        with np.errstate(over="ignore"):  # an infinite total is the finding, not a reason to warn
            total = float(magnitude.sum())
        too_large = large_amounts(total, len(amounts))
        if too_large:
            _bad(amount_col, magnitude >= too_large[0], ids, too_large[1])
    orders = _positional(transactions[order_col]) if order_col else None
    return TransactionArrays(ids=ids, dates=dates, amounts=amounts, orders=orders)
