"""The export contract: validate a per-customer table once and freeze it in a canonical form.

Every target (file, SQL, HTTP) delivers the same :class:`ExportTable`, so the same table has the
same checksum whichever way it travels, and a re-delivery can be recognised by that checksum.

Contract
--------
* the index is named ``customer_id``, is not a MultiIndex, holds integers or text, no missing
  value and no duplicate;
* column names are strings matching ``[A-Za-z_][A-Za-z0-9_]{0,62}`` (portable as SQL identifiers,
  CSV headers and JSON keys), unique, and not ``customer_id`` (the index); a ``run_id`` column,
  when there is one, holds text and, at delivery, the delivery's own run id in every row
  (:func:`check_run_column`);
* every cell is present; numbers are finite (no NaN, no +-inf);
* column kinds after conversion: ``float`` (float64), ``int`` (int64), ``bool`` and ``text``
  (UTF-8 strings; categoricals become their labels; datetimes become ISO-8601 text).
  numpy scalars never leak: records hold plain Python ``float`` / ``int`` / ``bool`` / ``str``.

Checksum
--------
``sha256`` over a versioned tag, then for the index and each column in order its name, kind and
row count, then its values: float64 / int64 little-endian bytes (``-0.0`` normalised to ``0.0``),
bools as one byte, text as the int64 code-point lengths followed by the UTF-8 of the
concatenated strings.
It depends on names, column order, row order, kinds and values, never on the target format.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataValidationError, InvalidValueError, describe_culprits

__all__ = ["ExportTable", "prepare_table", "check_run_id", "check_run_column", "INDEX_NAME", "RESERVED_COLUMNS"]

INDEX_NAME = "customer_id"
RESERVED_COLUMNS = frozenset({"customer_id"})
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# file-name safe on every OS, no leading dot (hidden files), no path separators
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$")
_CHECKSUM_TAG = b"clvmodels.export.table/1\n"
_INT64_MAX = np.iinfo(np.int64).max


def check_run_id(run_id: Any) -> str:
    """Return ``run_id`` if it is a usable run identifier, else raise :class:`ValueError`.

    1-128 characters from ``A-Z a-z 0-9 _ . + -``, not starting with ``.``, ``+`` or ``-``
    (a pipeline run folder name such as ``cdnow-20250101T000000000000Z`` qualifies).

    Examples
    --------
    >>> check_run_id("cdnow-20261207T010101000000Z")
    'cdnow-20261207T010101000000Z'
    >>> check_run_id("../elsewhere")
    Traceback (most recent call last):
    ...
    ValueError: run_id must be 1-128 characters from A-Z a-z 0-9 _ . + - not starting with '.', '+' or '-' (e.g. the run folder name); got '../elsewhere'
    """
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ValueError(
            f"run_id must be 1-128 characters from A-Z a-z 0-9 _ . + - not starting with '.', '+' "
            f"or '-' (e.g. the run folder name); got {run_id!r}")
    return run_id


@dataclass(frozen=True, eq=False)
class ExportTable:
    """A validated, canonical per-customer table (see the module docstring for the contract).

    Build it with :func:`prepare_table`; every ``to_*`` function accepts it in place of a
    DataFrame, which saves validating the same table once per target.

    Examples
    --------
    >>> import pandas as pd
    >>> t = prepare_table(pd.DataFrame({"clv": [1.5], "tier": ["VIP"]}, index=pd.Index(["007"], name="customer_id")))
    >>> t.schema, t.records()
    ({'customer_id': 'text', 'clv': 'float', 'tier': 'text'}, [{'customer_id': '007', 'clv': 1.5, 'tier': 'VIP'}])
    """

    ids: np.ndarray                      # int64 or object array of str
    id_kind: str                         # "int" | "text"
    names: tuple[str, ...]
    kinds: tuple[str, ...]               # "float" | "int" | "bool" | "text", one per column
    arrays: tuple[np.ndarray, ...]
    checksum: str

    @property
    def n_rows(self) -> int:
        return int(self.ids.shape[0])

    def __len__(self) -> int:
        return self.n_rows

    @property
    def schema(self) -> dict[str, str]:
        """``{name: kind}`` for the index (``customer_id``) and every column, in order."""
        return {INDEX_NAME: self.id_kind, **dict(zip(self.names, self.kinds, strict=True))}

    def records(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Rows ``start:stop`` as JSON-safe dicts ``{"customer_id": ..., column: value, ...}``."""
        stop = self.n_rows if stop is None else min(stop, self.n_rows)
        keys = (INDEX_NAME, *self.names)
        cols = [self.ids[start:stop].tolist(), *(a[start:stop].tolist() for a in self.arrays)]
        # rows and keys have equal lengths by construction; strict checks would cost ~30% here
        return [dict(zip(keys, row, strict=False)) for row in zip(*cols, strict=False)]

    def chunks(self, size: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` bounds of consecutive chunks of at most ``size`` rows."""
        for start in range(0, self.n_rows, size):
            yield start, min(start + size, self.n_rows)

    def to_frame(self) -> pd.DataFrame:
        """The canonical table as a DataFrame (index ``customer_id``), for file writers."""
        index = pd.Index(self.ids, name=INDEX_NAME, dtype=self.ids.dtype)
        data = {name: pd.Series(arr, index=index, dtype=arr.dtype, copy=False)
                for name, arr in zip(self.names, self.arrays, strict=True)}
        return pd.DataFrame(data, index=index, columns=list(self.names))


def prepare_table(table: pd.DataFrame | ExportTable) -> ExportTable:
    """Validate ``table`` against the export contract and return its canonical form.

    The caller's DataFrame is never modified.

    Raises
    ------
    DataValidationError
        the index is not a unique ``customer_id`` index, or a column name is unusable
        (``column`` names it);
    InvalidValueError
        a column holds missing, non-finite or non-JSON-safe values; the error names the column,
        counts the rows and gives up to five example customer ids.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> scores = pd.DataFrame({"clv": [1.0, np.nan]}, index=pd.Index([7, 8], name="customer_id"))
    >>> prepare_table(scores)
    Traceback (most recent call last):
    ...
    clvmodels.errors.InvalidValueError: column 'clv': 1 rows are missing (NaN/None/NaT); every cell must be present, e.g. customer_id [8]; fix or drop them before exporting
    >>> len(prepare_table(scores.fillna(0.0)).checksum)
    64
    """
    if isinstance(table, ExportTable):
        return table
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame indexed by customer_id, got {type(table).__name__}")
    index = table.index
    if isinstance(index, pd.MultiIndex):
        raise DataValidationError(
            f"the table must be indexed by {INDEX_NAME!r} alone, not a MultiIndex {list(index.names)}",
            column=INDEX_NAME)
    if index.name != INDEX_NAME:
        raise DataValidationError(
            f"the table's index must be named {INDEX_NAME!r}, found {index.name!r} "
            f"(use df.set_index('customer_id') or df.rename_axis('customer_id'))", column=INDEX_NAME)
    _check_names(table.columns)

    ids_all = np.asarray(index, dtype=object)
    id_kind, ids = _canonical(INDEX_NAME, index, ids_all)
    if id_kind not in ("int", "text"):
        raise InvalidValueError(
            f"{INDEX_NAME} must hold integers or text, found {id_kind} values",
            column=INDEX_NAME, n_rows=len(index), examples=ids_all[:5])
    dup = index.duplicated(keep=False)
    if dup.any():
        culprits = pd.unique(ids_all[dup])
        raise InvalidValueError(
            f"{INDEX_NAME} must be unique: {len(culprits)} ids occur more than once, e.g. "
            f"{describe_culprits(culprits)}", column=INDEX_NAME, n_rows=int(dup.sum()), examples=culprits)

    names, kinds, arrays = [], [], []
    for name in table.columns:
        kind, arr = _canonical(name, table[name], ids_all)
        names.append(name)
        kinds.append(kind)
        arrays.append(arr)
    checksum = _checksum(ids_all, [(INDEX_NAME, id_kind, ids), *zip(names, kinds, arrays, strict=True)])
    return ExportTable(ids=ids, id_kind=id_kind, names=tuple(names), kinds=tuple(kinds),
                       arrays=tuple(arrays), checksum=checksum)


def check_run_column(table: ExportTable, run_id: str) -> None:
    """A ``run_id`` column, when the table has one, must hold text equal to ``run_id`` in every row
    (the run metadata of a run's export table); else :class:`~clvmodels.export.ExportError`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = prepare_table(pd.DataFrame({"run_id": ["r1", "r1"]}, index=pd.Index([1, 2], name="customer_id")))
    >>> check_run_column(t, "r1") is None
    True
    """
    from .errors import ExportError

    if "run_id" not in table.names:
        return
    i = table.names.index("run_id")
    values = table.arrays[i]
    if table.kinds[i] != "text" or not np.all(values == run_id):
        raise ExportError(f"the table's run_id column does not hold the delivery's run id {run_id!r} in every row "
                          f"(it holds e.g. {list(pd.unique(values))[:3]}): deliver a run under its own id")


def _check_names(columns: pd.Index) -> None:
    bad = [c for c in columns if not isinstance(c, str) or not _COLUMN_NAME.match(c)]
    if bad:
        raise DataValidationError(
            f"column names must match [A-Za-z_][A-Za-z0-9_]{{0,62}} to be portable to CSV, SQL "
            f"and JSON; unusable: {bad[:5]!r}", column=str(bad[0]))
    reserved = [c for c in columns if c in RESERVED_COLUMNS]
    if reserved:
        raise DataValidationError(
            f"column {reserved[0]!r} is reserved by the export layer (customer_id is the index); rename it",
            column=reserved[0])
    dup = columns[columns.duplicated()]
    if len(dup):
        raise DataValidationError(f"duplicate column names: {list(dup)!r}", column=str(dup[0]))


def _fail(column: str, what: str, mask: np.ndarray, ids: np.ndarray) -> InvalidValueError:
    culprits = ids[mask]
    return InvalidValueError(
        f"column {column!r}: {len(culprits)} rows {what}, e.g. customer_id "
        f"{describe_culprits(culprits)}; fix or drop them before exporting",
        column=column, n_rows=len(culprits), examples=culprits)


def _canonical(name: str, values: pd.Series | pd.Index, ids: np.ndarray) -> tuple[str, np.ndarray]:
    """(kind, canonical numpy array) of one column, or a typed error naming it."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = pd.Series(np.asarray(values, dtype=object))
        dtype = values.dtype
    missing = np.asarray(pd.isna(values), dtype=bool)
    if missing.any():
        raise _fail(name, "are missing (NaN/None/NaT); every cell must be present", missing, ids)
    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return "bool", np.asarray(values, dtype=bool)
    if api.is_integer_dtype(dtype):
        if api.is_unsigned_integer_dtype(dtype):
            too_big = np.asarray(values, dtype=np.uint64) > _INT64_MAX
            if too_big.any():
                raise _fail(name, "exceed the int64 range", too_big, ids)
        return "int", np.asarray(values, dtype=np.int64)
    if api.is_float_dtype(dtype):
        arr = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise _fail(name, "are not finite (inf or -inf)", bad, ids)
        return "float", arr + 0.0              # -0.0 -> 0.0, and a fresh array
    if api.is_datetime64_any_dtype(dtype):
        return "text", np.array([ts.isoformat() for ts in pd.Series(values)], dtype=object)
    if api.is_string_dtype(dtype) or api.is_object_dtype(dtype):
        arr = np.asarray(values, dtype=object)
        inferred = api.infer_dtype(arr, skipna=False)
        if inferred in ("string", "empty"):
            # plain str (not numpy.str_ or other subclasses) so records serialise everywhere
            return "text", np.array([v if type(v) is str else str(v) for v in arr], dtype=object)
        if inferred == "boolean":
            return "bool", arr.astype(bool)
        if inferred == "integer":
            try:
                return "int", arr.astype(np.int64)
            except OverflowError:
                big = np.array([abs(v) > _INT64_MAX for v in arr], dtype=bool)
                raise _fail(name, "exceed the int64 range", big, ids) from None
        if inferred in ("floating", "mixed-integer-float", "decimal"):
            return _canonical(name, pd.Series(arr.astype(np.float64)), ids)
        if inferred in ("datetime", "datetime64", "date"):
            return "text", np.array([v.isoformat() for v in arr], dtype=object)
        odd = np.array([not isinstance(v, str) for v in arr], dtype=bool)
        kinds = sorted({type(v).__name__ for v in arr[odd]})
        raise _fail(name, f"hold values that are not JSON-safe scalars ({', '.join(kinds)})", odd, ids)
    raise InvalidValueError(
        f"column {name!r} has dtype {dtype}, which the export layer does not carry (use numbers, "
        f"booleans, text, categoricals or datetimes)", column=name, n_rows=len(values), examples=ids[:5])


def _checksum(ids: np.ndarray, columns: list[tuple[str, str, np.ndarray]]) -> str:
    h = hashlib.sha256(_CHECKSUM_TAG)
    for name, kind, arr in columns:
        h.update(f"{name}\t{kind}\t{arr.shape[0]}\n".encode())
        if kind == "float":
            h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
        elif kind == "int":
            h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        elif kind == "bool":
            h.update(arr.astype(np.uint8).tobytes())
        else:
            # code-point lengths + the UTF-8 of the concatenation: injective, and one encode call
            try:
                joined = "".join(arr).encode("utf-8")
            except UnicodeEncodeError:
                bad = np.array([not _utf8_ok(v) for v in arr], dtype=bool)
                raise _fail(name, "hold text that is not valid Unicode (lone surrogates)", bad, ids) from None
            h.update(np.fromiter(map(len, arr), dtype="<i8", count=len(arr)).tobytes())
            h.update(joined)
    return h.hexdigest()


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

