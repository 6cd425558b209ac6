"""One data contract, checked once at every entrance.

:func:`validate_summary` checks an RFM summary (what every model consumes);
:func:`validate_transactions` checks a transaction log (what the summary is built from).
Both raise a :class:`~clvmodels.errors.DataValidationError` subclass whose message names the
column, the number of rows at fault and up to five example customer ids. Neither mutates its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import numpy as np
import pandas as pd

from ..errors import DataValidationError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["validate_summary", "validate_transactions", "validate_weights", "validate_covariates", "check_litt",
           "SUMMARY_COLUMNS", "LITT_COLUMN"]

SUMMARY_COLUMNS = ("frequency", "recency", "T")
# the regularity statistic of the (M)BG/CNBD-k models: sum of log inter-purchase times (rfm_summary(..., litt=True))
LITT_COLUMN = "litt"
_LITT_SLACK = 0.05
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
                     name: str = "summary", litt: bool = False) -> pd.DataFrame:
    """Check an RFM summary against the data contract and return a clean float copy.

    Contract: a non-empty DataFrame indexed by unique, non-null customer ids, with finite,
    non-negative ``frequency`` (integer-valued), ``recency`` and ``T``; ``recency <= T``;
    ``recency == 0`` whenever ``frequency == 0``. With ``require_monetary`` the column
    ``monetary_value`` must also be finite and non-negative. With ``discrete`` (BG/BB), recency
    and T count whole opportunities and ``frequency <= T``.

    The returned frame has the same index and row order, float64 columns, and is a copy.

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [2, 0, 1], "recency": [4.0, 0.0, 6.5], "T": [10.0, 3.0, 6.0]},
    ...                        index=pd.Index(["a", "b", "c"], name="customer_id"))
    >>> try:
    ...     validate_summary(summary)
    ... except InvalidValueError as exc:
    ...     print(exc.column, "|", exc)
    recency | column 'recency': 1 row(s) have recency > T; example customer ids ['c']
    >>> clean = validate_summary(summary.drop(index="c"))
    >>> clean  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency     T
    customer_id
    a                  2.0      4.0  10.0
    b                  0.0      0.0   3.0
    >>> clean is summary, clean["frequency"].dtype.name
    (False, 'float64')
    """
    summary = _require_frame(summary, name)
    cols = list(columns) + (["monetary_value"] if require_monetary else [])
    _require_columns(summary, cols + ([LITT_COLUMN] if litt else []), name)
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
        early = freq > rec
        if early.any():
            _fail(InvalidValueError, r_col, early, ids, f"have {r_col} < {f_col} (the last of x repeat transactions "
                  "cannot come before opportunity x)")
    if litt:
        out[LITT_COLUMN] = check_litt(_numeric(summary, LITT_COLUMN, ids), freq, rec, ids)
    return out


def check_litt(litt: np.ndarray, frequency: np.ndarray, recency: np.ndarray, ids: pd.Index) -> np.ndarray:
    """Check the regularity statistic ``litt`` of a summary (validated frequency and recency) and return it.

    ``litt`` is the sum of the logs of a customer's x inter-purchase times (Platzer & Reutterer 2016; BTYDplus'
    ``elog2cbs``), in the summary's time unit. It must be finite (checked by the caller), 0 when frequency is 0
    (no inter-purchase time), and - the x times adding up to the recency - at most ``x log(recency / x)``
    (the arithmetic mean bounds the geometric mean); a slack of 5% of the mean time absorbs rounded recencies,
    while a ``litt`` in a finer time unit than the summary (days for a weekly summary: ``x log 7`` too large)
    fails. A violation raises :class:`~clvmodels.errors.InvalidValueError` naming column ``litt`` and examples.

    Examples
    --------
    >>> ids = pd.Index([1, 2, 3], name="customer_id")
    >>> x, t_x = np.array([2.0, 1.0, 0.0]), np.array([3.0, 1.5, 0.0])
    >>> check_litt(np.array([np.log(1.0) + np.log(2.0), np.log(1.5), 0.0]), x, t_x, ids).round(4).tolist()
    [0.6931, 0.4055, 0.0]
    >>> check_litt(np.array([0.0, np.log(1.5 * 7), 0.0]), x, t_x, ids)      # customer 2's litt in days
    Traceback (most recent call last):
        ...
    clvmodels.errors.InvalidValueError: column 'litt': 1 row(s) exceed frequency * log(recency / frequency) ...
    """
    litt = np.asarray(litt, dtype=np.float64)
    none = (frequency == 0) & (litt != 0)
    if none.any():
        _fail(InvalidValueError, LITT_COLUMN, none, ids, "are not 0 with frequency == 0 (no inter-purchase time)")
    has = (frequency > 0) & (recency > 0)
    bound = np.full(litt.shape, np.inf)
    bound[has] = frequency[has] * (np.log(recency[has] / frequency[has]) + np.log1p(_LITT_SLACK))
    over = litt > bound + 1e-9
    if over.any():
        _fail(InvalidValueError, LITT_COLUMN, over, ids,
              "exceed frequency * log(recency / frequency) (the inter-purchase times add up to the recency; is "
              "litt in the summary's time unit?)")
    return litt


def validate_covariates(summary: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The covariate ``columns`` of ``summary`` as a float frame (same index), checked: present,
    numeric (booleans count as 0/1), finite. Errors name the column and example customers.

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [2, 0], "recency": [4.0, 0.0], "T": [10.0, 3.0],
    ...                         "age": [34, 51], "vip": [True, False], "region": ["north", "south"]},
    ...                        index=pd.Index(["a", "b"], name="customer_id"))
    >>> validate_covariates(summary, ["age", "vip"])  # doctest: +NORMALIZE_WHITESPACE
                  age  vip
    customer_id
    a            34.0  1.0
    b            51.0  0.0

    A text column must be encoded first; the error says how:

    >>> try:  # doctest: +ELLIPSIS
    ...     validate_covariates(summary, ["age", "region"])
    ... except InvalidValueError as exc:
    ...     print(exc.column, "|", exc)
    region | covariate column 'region' has dtype ...; covariates must be numeric (one-hot encode categories, ...)
    """
    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise MissingColumnError(f"summary is missing covariate column(s) {missing}; it has "
                                 f"{list(map(str, summary.columns))}", column=missing[0])
    out = pd.DataFrame(index=summary.index)
    for c in columns:
        col = summary[c]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise InvalidValueError(f"covariate column {c!r} has dtype {col.dtype}; covariates must be numeric "
                                    "(one-hot encode categories, e.g. pd.get_dummies(..., drop_first=True, "
                                    "dtype=float))", column=c, n_rows=len(col))
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            _fail(InvalidValueError, c, bad, summary.index, "are NaN or infinite")
        out[c] = values
    return out


def validate_transactions(transactions, *, customer_col: str = "customer_id", date_col: str = "date",
                          amount_col: str | None = "amount", date_format: str | None = None,
                          returns: str = "error", timezone: str | None = None) -> dict:
    """Check a transaction log (pandas or polars DataFrame, or a CSV / Parquet path) without summarising it.

    The checks are those :func:`clvmodels.rfm_summary` makes at its entrance: the columns exist,
    customer ids are present, dates parse (ISO 8601 unless ``date_format``), amounts are finite
    numbers, and with ``returns='error'`` none is negative (``first_date`` and ``last_date`` are local
    days under ``timezone``, as in :func:`clvmodels.rfm_summary`). The first problem raises a
    :class:`~clvmodels.errors.DataValidationError` subclass naming the column, the number of rows and
    example customer ids.

    Returns
    -------
    dict
        ``rows``, ``customers``, ``first_date`` and ``last_date`` (ISO dates) of the log.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["007", "007", "012"],
    ...                    "date": ["2024-03-01", "2024-03-09", "2024-03-02"], "amount": [20.0, 5.5, 12.0]})
    >>> validate_transactions(tx)
    {'rows': 3, 'customers': 2, 'first_date': '2024-03-01', 'last_date': '2024-03-09'}
    """
    from .summary import SummaryOptions

    opts = SummaryOptions.build(returns=returns, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
                                date_format=date_format, timezone=timezone)
    if not isinstance(transactions, (str, PathLike)):
        from .transactions import prepare_transactions

        tx = prepare_transactions(transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
                                  date_format=date_format, timezone=timezone)
        if tx.amounts is not None and opts.returns == "error":
            neg = tx.amounts < 0
            if neg.any():
                _fail(InvalidValueError, amount_col, neg, pd.Index(tx.ids),
                      "have a negative amount and returns='error'; pass returns='drop', 'net' or 'match' "
                      "to handle returns")
        return {"rows": int(len(tx.ids)), "customers": int(tx.ids.nunique()),
                "first_date": str(tx.dates.min().date()), "last_date": str(tx.dates.max().date())}
    from .duckdb_engine import describe_log

    return describe_log(transactions, opts)


def validate_weights(weights, summary: pd.DataFrame) -> np.ndarray | None:
    """Per-row fitting weights as a float64 array aligned with ``summary``'s rows, or None.

    ``weights``: None, the name of a column of ``summary``, a Series keyed by customer_id
    (reindexed to the summary), or an array-like with one value per row. Weights must be finite
    and non-negative (e.g. counts of identical customers); the error names the offending customers.

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [2, 0], "recency": [4.0, 0.0], "T": [10.0, 3.0], "n": [40, 15]},
    ...                        index=pd.Index(["a", "b"], name="customer_id"))
    >>> validate_weights("n", summary).tolist()
    [40.0, 15.0]
    >>> validate_weights(pd.Series({"b": 3, "a": 1}), summary).tolist()      # aligned by customer id
    [1.0, 3.0]

    A customer missing from a Series gets no weight (NaN), which is refused, naming the customer:

    >>> try:
    ...     validate_weights(pd.Series({"a": 1.0}), summary)
    ... except InvalidValueError as exc:
    ...     print(exc)
    column 'weights': 1 row(s) are negative, NaN or missing; example customer ids ['b']
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in summary.columns:
            raise MissingColumnError(f"weights column {weights!r} not in the summary", column=weights)
        raw = summary[weights].to_numpy()
    elif isinstance(weights, pd.Series):
        raw = weights.reindex(summary.index).to_numpy()
    else:
        raw = np.asarray(weights).ravel()
    if raw.dtype.kind not in "biuf" and any(isinstance(v, (str, bytes, complex)) for v in raw.ravel()):
        text = raw.ravel()[[isinstance(v, (str, bytes, complex)) for v in raw.ravel()]]
        raise InvalidValueError(f"weights must be numbers; got {text[:3].tolist()!r}", column="weights")
    w = raw.astype(np.float64) if raw.dtype.kind in "biuf" else pd.to_numeric(
        pd.Series(raw), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if len(w) != len(summary):
        raise DataValidationError(f"weights has {len(w)} values for {len(summary)} customers", column="weights")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        _fail(InvalidValueError, "weights", bad, summary.index, "are negative, NaN or missing")
    return w
