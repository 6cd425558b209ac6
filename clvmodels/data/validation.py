"""One data contract, checked once at every entrance.

:func:`validate_summary` checks an RFM summary (what every model consumes);
:func:`validate_transactions` checks a transaction log (what the summary is built from).
Both raise a :class:`~clvmodels.errors.DataValidationError` subclass whose message names the
column, the number of rows at fault and up to five example customer ids. Neither mutates its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataValidationError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["validate_summary", "validate_transactions", "validate_weights", "SUMMARY_COLUMNS"]

SUMMARY_COLUMNS = ("frequency", "recency", "T")
# recency and T are rounded independently in published summaries (2 decimals); allow that much slack
_RECENCY_TOL = 1e-9


def _fail(cls, column: str | None, mask: np.ndarray, ids: pd.Index, what: str) -> None:
    bad = ids[np.asarray(mask)]
    n = int(np.count_nonzero(mask))
    where = f"column {column!r}: " if column else ""
    raise cls(f"{where}{n} row(s) {what}; example customer ids {describe_culprits(bad)}",
              column=column, n_rows=n, examples=list(bad[:5]))


def _require_frame(data, name: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"{name} must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataValidationError(f"{name} is empty: no rows to work with", n_rows=0)
    return data


def _require_columns(data: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise MissingColumnError(
            f"{name} is missing column(s) {missing}; it has {list(map(str, data.columns))}",
            column=missing[0])


def _numeric(data: pd.DataFrame, column: str, ids: pd.Index) -> np.ndarray:
    col = data[column]
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        coerced = pd.to_numeric(col, errors="coerce")
        bad = coerced.isna().to_numpy() & col.notna().to_numpy()
        if bad.any():
            _fail(InvalidValueError, column, bad, ids, f"are not numeric (dtype {col.dtype})")
        col = coerced
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    nonfinite = ~np.isfinite(values)
    if nonfinite.any():
        _fail(InvalidValueError, column, nonfinite, ids, "are NaN or infinite")
    return values


def validate_summary(summary: pd.DataFrame, *, require_monetary: bool = False,
                     columns: Sequence[str] = SUMMARY_COLUMNS, discrete: bool = False,
                     name: str = "summary") -> pd.DataFrame:
    """Check an RFM summary against the data contract and return a clean float copy.

    Contract: a non-empty DataFrame indexed by unique, non-null customer ids, with finite,
    non-negative ``frequency`` (integer-valued), ``recency`` and ``T``; ``recency <= T``;
    ``recency == 0`` whenever ``frequency == 0``. With ``require_monetary`` the column
    ``monetary_value`` must also be finite and non-negative. With ``discrete`` (BG/BB), recency
    and T count whole opportunities and ``frequency <= T``.

    The returned frame has the same index and row order, float64 columns, and is a copy.
    """
    summary = _require_frame(summary, name)
    cols = list(columns) + (["monetary_value"] if require_monetary else [])
    _require_columns(summary, cols, name)
    ids = summary.index
    if ids.hasnans:
        _fail(InvalidValueError, "customer_id", ids.isna(), ids, "have a missing (NaN) customer id")
    if not ids.is_unique:
        _fail(InvalidValueError, "customer_id", ids.duplicated(keep=False), ids, "share a duplicated customer id")
    out = pd.DataFrame(index=ids)
    for c in cols:
        values = _numeric(summary, c, ids)
        if (values < 0).any():
            _fail(InvalidValueError, c, values < 0, ids, "are negative")
        out[c] = values
    f_col, r_col, t_col = columns[0], columns[1], columns[2]
    freq, rec, T = out[f_col].to_numpy(), out[r_col].to_numpy(), out[t_col].to_numpy()
    nonint = freq != np.floor(freq)
    if nonint.any():
        _fail(InvalidValueError, f_col, nonint, ids, "are not whole numbers of repeat purchases")
    too_late = rec > T * (1 + _RECENCY_TOL) + _RECENCY_TOL
    if too_late.any():
        _fail(InvalidValueError, r_col, too_late, ids, f"have {r_col} > {t_col}")
    ghost = (freq == 0) & (rec > 0)
    if ghost.any():
        _fail(InvalidValueError, r_col, ghost, ids, f"have {r_col} > 0 with {f_col} == 0")
    if discrete:
        for c in (r_col, t_col):
            v = out[c].to_numpy()
            frac = v != np.floor(v)
            if frac.any():
                _fail(InvalidValueError, c, frac, ids, "are not whole numbers of opportunities")
        over = freq > T
        if over.any():
            _fail(InvalidValueError, f_col, over, ids, f"have {f_col} > {t_col} (more repeat transactions than opportunities)")
    return out


def validate_transactions(*args, **kwargs):  # defined in full with the RFM builder
    from .rfm import _validate_transactions

    return _validate_transactions(*args, **kwargs)


def validate_weights(weights, summary: pd.DataFrame) -> np.ndarray | None:
    """Per-row fitting weights as a float64 array aligned with ``summary``'s rows, or None.

    ``weights``: None, the name of a column of ``summary``, a Series keyed by customer_id
    (reindexed to the summary), or an array-like with one value per row. Weights must be finite
    and non-negative (e.g. counts of identical customers); the error names the offending customers.
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in summary.columns:
            raise MissingColumnError(f"weights column {weights!r} not in the summary", column=weights)
        w = summary[weights].to_numpy(dtype=np.float64)
    elif isinstance(weights, pd.Series):
        w = weights.reindex(summary.index).to_numpy(dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != len(summary):
        raise DataValidationError(f"weights has {len(w)} values for {len(summary)} customers", column="weights")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        _fail(InvalidValueError, "weights", bad, summary.index, "are negative, NaN or missing")
    return w
