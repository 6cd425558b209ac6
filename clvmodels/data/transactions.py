"""Validate a transaction log held in pandas and turn it into plain arrays.

This is the entrance check for every in-memory transaction log: each problem raises a typed
error naming the column, the number of rows and up to five example customer ids. The output,
:class:`TransactionArrays`, is what the pandas summary engine works on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataValidationError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["TransactionArrays", "prepare_transactions", "to_timestamp", "TZ_OFFSET_PATTERN"]

# a trailing UTC offset such as 'Z', '+02:00', '-0500'
TZ_OFFSET_PATTERN = r"(Z|[+-]\d{2}:?\d{2})$"


@dataclass
class TransactionArrays:
    """A validated transaction log as arrays (row order preserved)."""

    ids: pd.Series            # customer ids (original dtype), index = row position
    dates: pd.Series          # datetime64, timezone-naive (tz-aware input converted to its own wall time)
    amounts: np.ndarray | None
    tz: str | None            # the single timezone of tz-aware input, else None


def _bad(column: str, mask, ids: pd.Series, what: str, cls=InvalidValueError):
    mask = np.asarray(mask, dtype=bool)
    culprits = pd.unique(ids.to_numpy()[mask])
    n = int(mask.sum())
    raise cls(f"column {column!r}: {n} row(s) {what}; example customer ids {describe_culprits(culprits)}",
              column=column, n_rows=n, examples=list(culprits[:5]))


def to_timestamp(value, name: str = "observation_end") -> pd.Timestamp:
    """Parse a user-given date (str, date, datetime, Timestamp) or raise a ConfigError naming it."""
    from ..errors import ConfigError

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


def _parse_dates(col: pd.Series, ids: pd.Series, column: str, date_format: str | None) -> tuple[pd.Series, str | None]:
    missing = col.isna().to_numpy()
    if missing.any():
        _bad(column, missing, ids, "have a missing date")
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        tz = str(col.dtype.tz)
        return col.dt.tz_localize(None), tz
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return col, None
    if pd.api.types.is_numeric_dtype(col.dtype) and date_format is None:
        _bad(column, np.ones(len(col), bool), ids,
             f"are numbers (dtype {col.dtype}), not dates; pass date_format (e.g. '%Y%m%d') to parse them")
    text = col.astype(str)
    if col.dtype == object and not all(isinstance(v, str) for v in col.head(1000)):
        # python datetimes with tzinfo, mixed objects: inspect timezones one by one
        tzs = col.map(lambda v: str(getattr(v, "tzinfo", None) or ""))
    else:
        tzs = text.str.extract(TZ_OFFSET_PATTERN, expand=False).fillna("")
    kinds = tzs.value_counts()
    if len(kinds) > 1:
        minority = tzs.to_numpy() != kinds.index[0]
        _bad(column, minority, ids,
             f"carry a different timezone / UTC offset than the rest ({dict(kinds.head(4))}); "
             "mixed timezones are ambiguous: convert the column to one timezone first")
    # without a format, text must be ISO 8601 - the same rule as the DuckDB engine, and no guessing
    # between day-first and month-first
    parsed = pd.to_datetime(col, errors="coerce", format=date_format or "ISO8601")
    unparsed = parsed.isna().to_numpy()
    if unparsed.any():
        _bad(column, unparsed, ids, "could not be parsed as dates"
             + (f" with date_format={date_format!r}" if date_format else
                " as ISO 8601 (pass date_format, e.g. '%d/%m/%Y', for other layouts)"))
    tz = None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        tz = str(parsed.dtype.tz)
        parsed = parsed.dt.tz_localize(None)
    return parsed, tz


def _positional(col: pd.Series) -> pd.Series:
    """The column indexed by row position; no copy when it already is (the usual RangeIndex)."""
    idx = col.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return col
    return col.reset_index(drop=True)


def prepare_transactions(transactions: pd.DataFrame, *, customer_col: str, date_col: str,
                         amount_col: str | None, date_format: str | None = None) -> TransactionArrays:
    """Validate ids, dates and amounts of a transaction log. Amount signs are checked by the caller's policy."""
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError(f"transactions must be a pandas DataFrame or a CSV/Parquet path, "
                                  f"got {type(transactions).__name__}")
    needed = [customer_col, date_col] + ([amount_col] if amount_col else [])
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise MissingColumnError(f"transactions are missing column(s) {missing}; they have "
                                 f"{list(map(str, transactions.columns))} (set customer_col / date_col / "
                                 "amount_col to name yours)", column=missing[0])
    if len(transactions) == 0:
        raise DataValidationError("transactions are empty: no rows to summarise", n_rows=0)

    ids = _positional(transactions[customer_col])
    # integer ids cannot be missing: skip a pass over the column
    null_id = np.zeros(len(ids), dtype=bool) if ids.dtype.kind in "iu" else ids.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(ids.dtype):
        null_id = null_id | ids.astype(str).str.strip().eq("").to_numpy()
    if null_id.any():
        n = int(null_id.sum())
        rows = np.flatnonzero(null_id)[:5].tolist()
        raise InvalidValueError(f"column {customer_col!r}: {n} row(s) have a missing or empty customer id "
                                f"(row positions {rows})", column=customer_col, n_rows=n, examples=rows)

    dates, tz = _parse_dates(_positional(transactions[date_col]), ids, date_col, date_format)

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
    return TransactionArrays(ids=ids, dates=dates, amounts=amounts, tz=tz)
