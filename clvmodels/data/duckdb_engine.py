"""The DuckDB engine of the RFM summary: embedded, out of core, for CSV / Parquet paths and frames.

It follows the same rules as the pandas engine (see :mod:`clvmodels.data.rfm`) and returns the
same summary: counts and times are computed on the same integer ticks, so they are identical;
monetary values agree to floating-point summation order (~1e-15 relative).

Validation of a path happens in SQL, before any aggregation, with the same typed errors and
messages as for a DataFrame. Text dates must be ISO 8601 (``1997-01-01``, ``1997-01-01 10:00:00``,
optionally ending in a UTC offset after the clock time) unless ``date_format`` (strptime) is given.
Dates become the customer's local wall time as in the pandas engine (:mod:`.transactions`): text
offsets are dropped (or, with ``timezone``, converted to it); a ``TIMESTAMP WITH TIME ZONE`` column
of a Parquet file is read at the wall time of the zone recorded in the file's Arrow schema (pandas
and pyarrow write it; UTC when the file records none), or of ``timezone`` when given. Frames
(pandas, polars) are validated and parsed by the pandas checks and handed to DuckDB through Arrow.
"""

from __future__ import annotations

import os
import re
from os import PathLike, fspath

import duckdb
import numpy as np
import pandas as pd

from ..errors import ConfigError, DataValidationError, InvalidValueError, describe_culprits
from .summary import (NET_TOLERANCE, DropReport, RFMSummary, SummaryOptions, assemble, attach_holdout,
                      nothing_left, resolve_calibration_end, summary_frame)
from .transactions import (TZ_OFFSET_PATTERN, format_without_offset, large_amounts, missing_columns_error,
                           needed_columns, offset_minutes, prepare_transactions)

__all__ = ["duckdb_summary"]


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class _Source:
    """A DuckDB connection holding a view ``tx(c, ts, a, o)``: customer id, naive local timestamp, amount,
    order id (NULL without an order column)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, transactions, opts: SummaryOptions):
        self.con = con
        self.opts = opts
        self.customer_col, self.date_col, self.amount_col = opts.customer_col, opts.date_col, opts.amount_col
        self.order_col = opts.order_col if opts.returns == "match" and opts.amount_col else None
        if isinstance(transactions, (str, PathLike)):
            self._from_path(fspath(transactions))
        else:
            self._from_frame(transactions)

    # -- DataFrames (pandas, polars): validated by the pandas checks, then handed to DuckDB through Arrow
    def _from_frame(self, frame):
        o = self.opts
        tx = prepare_transactions(frame, customer_col=self.customer_col, date_col=self.date_col,
                                  amount_col=self.amount_col, date_format=o.date_format, timezone=o.timezone,
                                  order_col=self.order_col)
        slim = pd.DataFrame({"c": tx.ids, "ts": tx.dates.astype("datetime64[us]")})
        slim["a"] = tx.amounts if tx.amounts is not None else np.nan
        order = "NULL"
        if tx.orders is not None:  # order ids as codes: equal ids equal, missing ids (NaN, None) NULL
            codes, _ = pd.factorize(tx.orders, use_na_sentinel=True)
            slim["o"] = pd.arrays.IntegerArray(codes.astype(np.int64), codes < 0)
            order = "o"
        self.con.register("tx_frame", slim)
        self.con.execute(f"CREATE VIEW tx AS SELECT c, ts, a, {order} AS o FROM tx_frame")

    # -- paths: read lazily, validate in SQL
    def _from_path(self, path: str):
        lower = path.lower()
        if os.path.isdir(path):   # a folder of Parquet files (as Spark, Hive or pyarrow datasets write them)
            reader = f"read_parquet({_lit(os.path.join(path, '**', '*.parquet'))})"
        elif lower.endswith((".parquet", ".pq")):
            reader = f"read_parquet({_lit(path)})"
        elif lower.endswith((".csv", ".txt", ".tsv", ".csv.gz")):
            reader = self._csv_reader(path)
        else:
            raise DataValidationError(f"cannot tell the format of {path!r}: use a .csv or .parquet file")
        self.path = path
        if self.opts.timezone is not None:  # a frame is converted by pandas; a file by DuckDB's ICU zones
            _check_zone_known(self.con, self.opts.timezone)
        try:
            self.con.execute(f"CREATE VIEW raw AS SELECT * FROM {reader}")
            cols = dict(self.con.execute("SELECT column_name, column_type FROM (DESCRIBE raw)").fetchall())
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from None
        needed = needed_columns(self.customer_col, self.date_col, self.amount_col, self.order_col)
        missing = [c for c in needed if c not in cols]
        if missing:
            raise missing_columns_error(missing, list(cols), self.amount_col)
        try:  # the checks read every needed column of every row: a file's faults surface here, with their line
            self._check_path(cols, csv=reader.startswith("read_csv"))
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from None

    def _check_path(self, cols: dict, csv: bool):
        c, d = _q(self.customer_col), _q(self.date_col)
        c_expr = self._check_ids(c, cols[self.customer_col], text_from_csv=csv)
        ts_expr = self._date_expr(d, cols[self.date_col])
        a_expr = "CAST(NULL AS DOUBLE)"
        if self.amount_col:
            a_expr = self._amount_expr(_q(self.amount_col), cols[self.amount_col])
        o_expr = "NULL"
        if self.order_col:
            o = _q(self.order_col)
            is_float = cols[self.order_col].upper() in ("FLOAT", "DOUBLE", "REAL")
            o_expr = f"CASE WHEN isnan({o}) THEN NULL ELSE {o} END" if is_float else o
            self.con.execute(f"SELECT count({o}) FROM raw").fetchone()
        self.con.execute(f"CREATE VIEW tx AS SELECT {c_expr} AS c, {ts_expr} AS ts, {a_expr} AS a, {o_expr} AS o "
                         "FROM raw")

    def _csv_reader(self, path: str) -> str:
        """``read_csv`` of the file with the customer, date and order columns read as text: dates are parsed
        by our rules, ids typed by all their values (:meth:`_check_ids`), not by DuckDB's sample of the rows."""
        reader = f"read_csv({_lit(path)})"
        try:
            header = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from None
        needed = needed_columns(self.customer_col, self.date_col, self.amount_col, self.order_col)
        if any(c not in header for c in needed):
            as_written = self._csv_as_written(path, header[0] if len(header) == 1 else _first_line(path), needed)
            if as_written:
                return as_written
        elif any(f"{c}_1" in header for c in needed):
            self._check_header_names(path, needed)
        text = [c for c in needed if c in header]
        if not text:
            return reader
        types = ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in text)
        return f"read_csv({_lit(path)}, types={{{types}}})"

    def _csv_as_written(self, path: str, line: str | None, needed: list) -> str | None:
        """A file whose header DuckDB did not find (its sniffer found no dialect every row fits, e.g. a row
        with an extra field, and read one column named after the header line, or columns column0, ...):
        read it with the delimiter that splits the header line into the needed columns, which names the line
        at fault. A header that splits into some of them but lacks others is a MissingColumnError naming the
        columns it has. None when no delimiter splits it into any needed column."""
        import csv

        if not line:
            return None
        for delim in (",", ";", "\t", "|"):
            fields = next(csv.reader([line], delimiter=delim))
            if len(fields) > 1 and any(c in fields for c in needed):
                break
        else:
            return None
        missing = [c for c in needed if c not in fields]
        if missing:
            raise missing_columns_error(missing, fields, self.amount_col)
        if len(set(fields)) < len(fields):
            self._check_header_names(path, needed, fields)
        columns = ", ".join(f"{_lit(f)}: 'VARCHAR'" for f in fields)
        reader = (f"read_csv({_lit(path)}, auto_detect=false, header=true, delim={_lit(delim)}, quote='\"', "
                  f"escape='\"', columns={{{columns}}})")
        try:
            self.con.execute(f"SELECT count(*) FROM {reader}").fetchone()
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from None
        return reader

    def _check_header_names(self, path: str, needed: list, names: list | None = None):
        """A CSV header naming a needed column twice (DuckDB would rename the second 'amount' 'amount_1') is
        refused, as a frame with two such columns is."""
        if names is None:
            try:
                names = list(self.con.execute(f"SELECT * FROM read_csv({_lit(path)}, header=false, "
                                              "all_varchar=true) LIMIT 1").fetchone())
            except duckdb.Error as exc:
                raise _unreadable(path, exc) from None
        for c in needed:
            if names.count(c) > 1:
                raise DataValidationError(f"the header of {path!r} names {names.count(c)} columns {c!r}: rename or "
                                          "drop the extra one(s), so that it is clear which one to use", column=c)

    def _culprits(self, where: str, column: str, what: str, cls=InvalidValueError):
        n = self.con.execute(f"SELECT count(*) FROM raw WHERE {where}").fetchone()[0]
        if n:
            ids = [r[0] for r in self.con.execute(
                f"SELECT DISTINCT {self.c_expr} FROM raw WHERE {where} LIMIT 5").fetchall()]
            raise cls(f"column {column!r}: {n} row(s) {what}; example customer ids {describe_culprits(ids)}",
                      column=column, n_rows=int(n), examples=ids)

    def _check_ids(self, c: str, ctype: str, text_from_csv: bool) -> str:
        """Count the rows (refusing an empty log) and check the ids in one pass; the SQL of the ids.

        A missing (NULL, NaN) or empty id is refused. Ids a CSV file holds (read as text) are integers when
        every one is an integer written plainly (no sign, leading zero, space or fraction) that fits int64,
        or uint64 when none is negative (the types of a DataFrame's integer ids); otherwise they stay text,
        so '007' and '7' are two customers. A typed file's ids keep their type; decimals are refused as a
        DataFrame's Decimal ids are.
        """
        t = ctype.upper()
        if t.startswith("DECIMAL"):
            self.c_expr = c
            self._culprits("true", self.customer_col, f"have {ctype} customer ids; ids must be text, integers, floats, "
                           "booleans or bytes (write them as integers or text)")
        empty = f"{c} IS NULL"
        if t in ("FLOAT", "DOUBLE", "REAL"):
            empty += f" OR isnan({c})"
        elif "CHAR" in t:
            empty += f" OR trim({c}) = ''"
        stats = [f"count(*) FILTER ({empty})"]
        if text_from_csv and t == "VARCHAR":
            h = f"TRY_CAST({c} AS HUGEINT)"
            stats += [f"count(*) FILTER (CAST({h} AS VARCHAR) = {c})", f"min({h})", f"max({h})"]
        elif t in ("HUGEINT", "UHUGEINT"):
            stats += ["count(*)", f"min({c})", f"max({c})"]
        n_rows, n_empty, *ints = self.con.execute(f"SELECT count(*), {', '.join(stats)} FROM raw").fetchone()
        if n_rows == 0:
            raise DataValidationError("transactions are empty: no rows to summarise", n_rows=0)
        if n_empty:
            raise InvalidValueError(f"column {self.customer_col!r}: {n_empty} row(s) have a missing or empty "
                                    "customer id", column=self.customer_col, n_rows=int(n_empty))
        self.n_rows, self.c_expr = int(n_rows), c
        if ints and ints[0] == n_rows:
            lo, hi = ints[1], ints[2]
            if -2**63 <= lo and hi < 2**63:
                self.c_expr = f"CAST({c} AS BIGINT)"
            elif 0 <= lo and hi < 2**64:
                self.c_expr = f"CAST({c} AS UBIGINT)"
            elif not text_from_csv:
                wide = f"{c} < {-2**63} OR {c} >= {2**63 if lo < 0 else 2**64}"
                self._culprits(wide, self.customer_col, "have an integer customer id beyond 64 bits (ids must fit "
                               "int64, or uint64 when none is negative)")
        return self.c_expr

    def _date_expr(self, d: str, dtype: str) -> str:
        dtype = dtype.upper()
        date_format, timezone = self.opts.date_format, self.opts.timezone
        self._culprits(f"{d} IS NULL", self.date_col, "have a missing date")
        if "WITH TIME ZONE" in dtype or dtype.startswith("TIMESTAMPTZ"):
            # an instant (TIMESTAMPTZ_NS too: pandas writes nanoseconds): its wall time in `timezone`, else in
            # the zone the file records for the column
            return _microseconds(_wall_sql(d, timezone or _parquet_zone(self.path, self.date_col), self.con), dtype)
        if dtype.startswith(("TIMESTAMP", "DATE")):
            return _microseconds(d, dtype)
        if dtype != "VARCHAR":
            if date_format is None:
                self._culprits("true", self.date_col, f"are {dtype}, not dates; pass date_format (e.g. '%Y%m%d')")
            d = f"CAST({d} AS VARCHAR)"
        pattern = _lit(TZ_OFFSET_PATTERN)
        n_offset = self.con.execute(f"SELECT count(*) FROM raw WHERE regexp_matches({d}, {pattern})").fetchone()[0]
        bare = f"regexp_replace({d}, {pattern}, '\\1')" if n_offset else d
        if date_format:
            parsed = f"try_strptime({bare}, {_lit(format_without_offset(date_format))})"
            hint = f" with date_format={date_format!r}"
        else:
            parsed = f"TRY_CAST(replace({bare}, 'T', ' ') AS TIMESTAMP)"
            hint = " as ISO 8601 (pass date_format, e.g. '%d/%m/%Y', for other layouts)"
        self._culprits(f"{parsed} IS NULL", self.date_col, "could not be parsed as dates" + hint)
        if timezone is None or not n_offset:
            return parsed  # naive text is local already; with timezone=None an offset is simply dropped
        # the row's offset -> UTC -> wall time in `timezone` (the offsets of the log, read in Python)
        offset = f"regexp_extract({d}, {pattern}, 2)"
        kinds = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT {offset} FROM raw WHERE regexp_matches({d}, {pattern})").fetchall()]
        minutes = " ".join(f"WHEN {_lit(k)} THEN {offset_minutes(k)}" for k in kinds)
        utc = f"({parsed} - to_minutes(CASE {offset} {minutes} END))"
        return (f"(CASE WHEN regexp_matches({d}, {pattern}) THEN timezone({_lit(timezone)}, timezone('UTC', {utc})) "
                f"ELSE {parsed} END)")

    def _amount_expr(self, a: str, atype: str) -> str:
        t = atype.upper()
        if t == "BOOLEAN":
            self._culprits("true", self.amount_col, f"are not numeric (dtype {atype})")
        expr = f"TRY_CAST({a} AS DOUBLE)" if t == "VARCHAR" else f"CAST({a} AS DOUBLE)"
        nonnumeric = f"{a} IS NOT NULL AND {expr} IS NULL" if t == "VARCHAR" else "false"
        nonfinite = f"{expr} IS NULL OR isnan({expr}) OR isinf({expr})"
        n_nonnumeric, n_nonfinite, total = self.con.execute(
            f"SELECT count(*) FILTER ({nonnumeric}), count(*) FILTER ({nonfinite}), "
            f"sum(abs({expr})) FILTER (NOT ({nonfinite})) FROM raw").fetchone()
        if n_nonnumeric:
            self._culprits(nonnumeric, self.amount_col, f"are not numeric (dtype {atype})")
        if n_nonfinite:
            self._culprits(nonfinite, self.amount_col, "are NaN or infinite")
        too_large = large_amounts(total, self.n_rows)
        if too_large:
            self._culprits(f"abs({expr}) >= {too_large[0]!r}", self.amount_col, too_large[1])
        return expr


def _ids(values) -> np.ndarray:
    """Customer ids fetched from DuckDB as the pandas engine holds them: BLOB ids come back as bytearray
    (unhashable: ``summary.loc[b'a']`` would fail), they are bytes again."""
    values = np.asarray(values)
    if values.dtype == object and len(values) and isinstance(values[0], bytearray):
        return np.array([bytes(v) for v in values], dtype=object)
    return values


def _first_line(path: str) -> str | None:
    """The first line of a CSV file (of the first file of a glob; gzip too), or None when it cannot be read."""
    import glob
    import gzip

    try:
        first = sorted(glob.glob(path))[0] if any(ch in path for ch in "*?[") else path
        opener = gzip.open if first.lower().endswith(".gz") else open
        with opener(first, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            return fh.readline().rstrip("\r\n")
    except (OSError, IndexError, EOFError):
        return None


def _unreadable(path: str, exc: Exception) -> DataValidationError:
    """A file DuckDB could not read, as a DataValidationError: the first lines of DuckDB's message, which name
    the line at fault (and the column, when one value is at fault), without its advice on DuckDB's options."""
    lines = []
    for line in str(exc).splitlines():
        if not line.strip() or line.startswith(("Possible", "* ", "  file =")):
            if lines:
                break
            continue
        lines.append(line.strip())
    text = "; ".join(lines)
    column = re.search(r'converting column "([^"]+)"', text)
    return DataValidationError(f"could not read transactions from {path!r}: {text}",
                               column=column.group(1) if column else None)


def _check_zone_known(con, zone: str) -> None:
    """DuckDB (ICU) must know the IANA zone that zoneinfo accepted, or the engines could not agree."""
    known = con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [zone]).fetchall()[0][0]
    if not known:
        raise ConfigError(f"timezone={zone!r} is not known to DuckDB's time zone database; use another IANA name "
                          "for the same zone, or engine='pandas'", key="timezone")


def _parquet_zone(path: str, column: str) -> str:
    """The zone a Parquet file records for a tz-aware column (its Arrow schema), 'UTC' when it records none."""
    import glob

    import pyarrow.dataset as ds

    try:
        source = sorted(glob.glob(path)) if any(ch in path for ch in "*?[") else path
        tz = ds.dataset(source, format="parquet").schema.field(column).type.tz
    except Exception:  # no Arrow schema to read: the instants are UTC
        tz = None
    return tz or "UTC"


def _microseconds(expr: str, dtype: str) -> str:
    """SQL: a TIMESTAMP in microseconds, the resolution of both engines. Nanoseconds are floored, as numpy
    floors them (a cast to TIMESTAMP would round them, a microsecond later than the pandas engine)."""
    if "_NS" in dtype:
        return f"make_timestamp(epoch_us({expr}))"
    return f"CAST({expr} AS TIMESTAMP)"


def _wall_sql(expr: str, zone: str, con) -> str:
    """SQL: the naive wall time in ``zone`` (IANA name, or a fixed offset such as '+01:00') of a
    TIMESTAMP WITH TIME ZONE."""
    import re

    utc = f"timezone('UTC', {expr})"
    fixed = re.fullmatch(r"(?:UTC|GMT)?([+-]\d{2}(?::?\d{2})?)", zone)
    if fixed:
        return f"({utc} + to_minutes({offset_minutes(fixed.group(1))}))"
    if zone.upper() in ("UTC", "Z", "ETC/UTC"):
        return utc
    _check_zone_known(con, zone)
    return f"timezone({_lit(zone)}, {expr})"


def _tick_sql(opts: SummaryOptions) -> str:
    if opts.merge:
        return "(CAST(ts AS DATE) - DATE '1970-01-01')"
    return "epoch_us(ts)"


def _bucket_sql(opts: SummaryOptions) -> str:
    if opts.merge in ("D", None):
        return "t"
    if opts.merge == "W":
        return "CAST(floor((t + 3) / 7.0) AS BIGINT)"
    if opts.merge == "M":
        return "((year(DATE '1970-01-01' + CAST(t AS INTEGER)) - 1970) * 12 + month(DATE '1970-01-01' + CAST(t AS INTEGER)) - 1)"
    return "(year(DATE '1970-01-01' + CAST(t AS INTEGER)) - 1970)"


def _end_tick_sql(end: pd.Timestamp, opts: SummaryOptions) -> int:
    value = np.datetime64(end.tz_localize(None).to_datetime64() if end.tzinfo else end.to_datetime64())
    unit = "datetime64[D]" if opts.merge else "datetime64[us]"
    return int(value.astype(unit).astype(np.int64))


def duckdb_summary(transactions, end, cal_end, opts: SummaryOptions, *, config: dict | None = None) -> RFMSummary:
    """RFM (and holdout) summary computed by DuckDB. Same contract as :func:`clvmodels.rfm_summary`.

    ``config`` goes to ``duckdb.connect`` (e.g. memory_limit, threads, temp_directory).

    Examples
    --------
    A CSV file is read and validated by DuckDB, out of core; the summary is the pandas engine's:

    >>> import os, tempfile
    >>> from clvmodels.data.pandas_engine import pandas_summary
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                    "date": ["2024-01-01", "2024-01-08", "2024-01-29", "2024-01-15"],
    ...                    "amount": [10.0, 20.0, 30.0, 5.0]})
    >>> path = os.path.join(tempfile.mkdtemp(), "transactions.csv")
    >>> tx.to_csv(path, index=False)
    >>> opts = SummaryOptions.build(time_unit="W")
    >>> rfm = duckdb_summary(path, None, None, opts, config={"threads": 1, "memory_limit": "256MB"})
    >>> rfm  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency    T  monetary_value
    customer_id
    a                    2      4.0  4.0            25.0
    b                    0      0.0  2.0             0.0
    >>> rfm.equals(pandas_summary(tx, None, None, opts))
    True
    """
    con = _connect(config)
    try:
        return _run(con, transactions, end, cal_end, opts)
    finally:
        con.close()


def describe_log(transactions, opts: SummaryOptions, config: dict | None = None) -> dict:
    """Validate a log with the engine's entrance checks; rows, customers, first and last date."""
    con = _connect(config)
    try:
        _Source(con, transactions, opts)
        if opts.amount_col is not None and opts.returns == "error":
            _check_negative(con, "tx", "true", opts)
        rows, customers, first, last = con.execute(
            "SELECT count(*), count(DISTINCT c), min(ts), max(ts) FROM tx").fetchone()
        return {"rows": int(rows), "customers": int(customers), "first_date": str(pd.Timestamp(first).date()),
                "last_date": str(pd.Timestamp(last).date())}
    finally:
        con.close()


#: settings DuckDB only takes per connection (``SET``), not in ``duckdb.connect(config=...)``
_SESSION_SETTINGS = ("enable_progress_bar", "enable_progress_bar_print", "progress_bar_time")


def _connect(config: dict | None):
    """A connection with ``config``: global settings at connect, session ones (the progress bar) by SET."""
    config = dict(config or {})
    session = {k: config.pop(k) for k in _SESSION_SETTINGS if k in config}
    try:
        con = duckdb.connect(":memory:", config=config)
        for key, value in session.items():
            con.execute(f"SET {key} = ?", [value])
        return con
    except duckdb.Error as exc:
        raise ConfigError(f"duckdb_config={ {**config, **session}!r} was refused by DuckDB: {exc}",
                          key="duckdb_config") from None


def _check_negative(con, table: str, window: str, opts: SummaryOptions) -> None:
    """returns='error': a negative amount among the rows of ``table`` inside ``window`` raises."""
    neg = con.execute(f"SELECT count(*) FROM {table} WHERE {window} AND a < 0").fetchone()[0]
    if neg:
        ids = [r[0] for r in con.execute(
            f"SELECT DISTINCT c FROM {table} WHERE {window} AND a < 0 ORDER BY c LIMIT 5").fetchall()]
        raise InvalidValueError(
            f"column {opts.amount_col!r}: {neg} row(s) have a negative amount and returns='error'; example customer "
            f"ids {describe_culprits(ids)}; pass returns='drop', 'net' or 'match' to handle returns",
            column=opts.amount_col, n_rows=int(neg), examples=ids)


def _purchases_table(con, transactions, end, cal_end, opts: SummaryOptions):
    """Validate the log and build the temp table ``purchases(c, s, t, a)``: one row per purchase
    occasion (segment s: 0 calibration, 1 holdout), after the window and the returns policy.
    Returns ``(report, end, end_tick, cal_end, cal_tick)``."""
    date_col, amount_col = opts.date_col, opts.amount_col
    _Source(con, transactions, opts)
    con.execute(f"CREATE VIEW ticks AS SELECT c, {_tick_sql(opts)} AS t, a, o FROM tx")
    report = DropReport(n_rows=con.execute("SELECT count(*) FROM tx").fetchone()[0])
    if end is None:
        end_tick = con.execute("SELECT max(t) FROM ticks").fetchone()[0]
        end = pd.Timestamp(con.execute("SELECT max(ts) FROM tx").fetchone()[0])
    else:
        end_tick = _end_tick_sql(end, opts)
    if cal_end is not None:
        cal_end = resolve_calibration_end(cal_end, con.execute("SELECT min(ts) FROM tx").fetchone()[0], end, opts)

    n_after = con.execute(f"SELECT count(*) FROM ticks WHERE t > {end_tick}").fetchone()[0]
    if n_after and opts.after_observation_end == "error":
        ids = [r[0] for r in con.execute(f"SELECT DISTINCT c FROM ticks WHERE t > {end_tick} ORDER BY c LIMIT 5").fetchall()]
        raise InvalidValueError(
            f"column {date_col!r}: {n_after} row(s) are dated after observation_end={end.date()}; example customer "
            f"ids {describe_culprits(ids)} (after_observation_end='exclude' leaves them out)",
            column=date_col, n_rows=int(n_after), examples=ids)
    report.n_rows_after_observation_end = int(n_after)
    window = f"t <= {end_tick}"
    has_amount = amount_col is not None
    if has_amount and opts.returns == "error":
        _check_negative(con, "ticks", window, opts)
    keep = window
    if has_amount and opts.returns == "drop":
        report.n_rows_dropped_returns = int(con.execute(
            f"SELECT count(*) FROM ticks WHERE {window} AND a <= 0").fetchone()[0])
        keep = f"{window} AND a > 0"

    cal_tick = _end_tick_sql(cal_end, opts) if cal_end is not None else end_tick
    segment = f"CAST(t > {cal_tick} AS INTEGER)" if cal_end is not None else "0"
    if has_amount and opts.returns == "match":
        _match_refunds(con, f"SELECT c, t, a, o, {segment} AS s, {_bucket_sql(opts)} AS b FROM ticks WHERE {keep}",
                       opts, report)
    else:
        having = (f"HAVING sum(a) > {NET_TOLERANCE!r} * sum(greatest(a, 0))" if has_amount and opts.returns == "net"
                  else "")
        con.execute(f"""
            CREATE TEMP TABLE purchases AS
            SELECT c, s, min(t) AS t, sum(a) AS a
            FROM (SELECT c, t, a, {segment} AS s, {_bucket_sql(opts)} AS b FROM ticks WHERE {keep})
            GROUP BY c, s, b {having}""")
        if having:
            n_all = con.execute(f"""SELECT count(*) FROM (SELECT 1 FROM (
                                        SELECT c, {segment} AS s, {_bucket_sql(opts)} AS b FROM ticks WHERE {keep})
                                    GROUP BY c, s, b)""").fetchone()[0]
            n_kept = con.execute("SELECT count(*) FROM purchases").fetchone()[0]
            report.n_purchases_dropped_net_nonpositive = int(n_all - n_kept)

    gone = con.execute(f"""SELECT c FROM (SELECT DISTINCT c FROM ticks WHERE {window})
                           EXCEPT SELECT DISTINCT c FROM purchases ORDER BY c""").fetchnumpy()["c"]
    report.n_customers_dropped = int(len(gone))
    report.dropped_customer_examples = [v.item() if hasattr(v, "item") else v for v in _ids(gone[:5])]
    return report, end, end_tick, cal_end, cal_tick


def _match_refunds(con, rows_sql: str, opts: SummaryOptions, report: DropReport) -> None:
    """returns='match' in SQL (the rules of the pandas engine's ``_match_refunds``): purchases are the
    occasions of the rows with amount >= 0; each refund row (amount < 0) goes to the purchase holding
    its order id (the earliest), or to the latest purchase on or before it (merge bucket, ASOF join)
    within ``refund_window``; always of the same customer and segment. Builds ``purchases``."""
    con.execute(f"CREATE TEMP TABLE match_rows AS {rows_sql}")
    con.execute("""CREATE TEMP TABLE occasions AS
                   SELECT c, s, b, min(t) AS t, sum(a) AS gross FROM match_rows WHERE a >= 0 GROUP BY c, s, b""")
    if opts.order_col is None:
        con.execute(f"""CREATE TEMP TABLE refunds AS
            SELECT r.c, r.a, p.s AS ps, p.b AS pb, coalesce(r.t - p.t <= {opts.refund_window_ticks}, false) AS ok
            FROM (SELECT * FROM match_rows WHERE a < 0) r
            ASOF LEFT JOIN occasions p ON r.c = p.c AND r.s = p.s AND r.b >= p.b""")
    else:
        con.execute("""CREATE TEMP TABLE refunds AS
            WITH holder AS (
                SELECT c, o, s, b FROM (
                    SELECT c, o, s, b, row_number() OVER (PARTITION BY c, o ORDER BY s, b) AS k
                    FROM (SELECT DISTINCT c, o, s, b FROM match_rows WHERE a >= 0 AND o IS NOT NULL))
                WHERE k = 1)
            SELECT r.c, r.a, h.s AS ps, h.b AS pb, coalesce(h.s = r.s, false) AS ok
            FROM (SELECT * FROM match_rows WHERE a < 0) r LEFT JOIN holder h ON r.c = h.c AND r.o = h.o""")
    con.execute("""CREATE TEMP TABLE netted AS
        WITH back AS (SELECT c, ps AS s, pb AS b, sum(a) AS r FROM refunds WHERE ok GROUP BY c, ps, pb)
        SELECT p.c, p.s, p.t, p.gross + coalesce(q.r, 0.0) AS a, p.gross, q.r IS NOT NULL AS refunded
        FROM occasions p LEFT JOIN back q USING (c, s, b)""")
    gone = f"refunded AND a <= {NET_TOLERANCE!r} * gross"
    con.execute(f"CREATE TEMP TABLE purchases AS SELECT c, s, t, a FROM netted WHERE NOT ({gone})")
    matched, unmatched = con.execute("SELECT count(*) FILTER (ok), count(*) FILTER (NOT ok) FROM refunds").fetchone()
    report.n_refunds_matched, report.n_refunds_unmatched = int(matched), int(unmatched)
    examples = con.execute("SELECT DISTINCT c FROM refunds WHERE NOT ok ORDER BY c LIMIT 5").fetchnumpy()["c"]
    report.unmatched_refund_examples = [v.item() if hasattr(v, "item") else v for v in _ids(examples)]
    report.n_purchases_fully_refunded = int(con.execute(f"SELECT count(*) FROM netted WHERE {gone}").fetchone()[0])


def duckdb_purchases(transactions, end, opts: SummaryOptions, cal_end=None, *,
                     config: dict | None = None) -> pd.DataFrame:
    """One row per purchase occasion up to ``end``, the periods split at ``cal_end`` when given (the contract of
    :func:`clvmodels.data.purchase_log`)."""
    con = _connect(config)
    try:
        _purchases_table(con, transactions, end, cal_end, opts)
        unit = "D" if opts.merge else "us"
        got = con.execute("SELECT c, t, a FROM purchases ORDER BY c, t").fetchnumpy()
        out = pd.DataFrame({"customer_id": _ids(got["c"]),
                            "date": np.asarray(got["t"]).astype(np.int64).astype(f"datetime64[{unit}]")})
        if opts.amount_col is not None:
            out["amount"] = np.asarray(got["a"], dtype=np.float64)
        return out
    finally:
        con.close()


def _run(con, transactions, end, cal_end, opts: SummaryOptions):
    report, end, end_tick, cal_end, cal_tick = _purchases_table(con, transactions, end, cal_end, opts)
    has_amount = opts.amount_col is not None
    cal = con.execute("""
        SELECT c, min(t) AS first, max(t) AS last, count(*) AS count, sum(a) AS total, arg_min(a, t) AS first_amount
        FROM purchases WHERE s = 0 GROUP BY c ORDER BY c""").fetchnumpy()
    if len(cal["c"]) == 0:
        raise nothing_left(report, opts, end)
    ids = _ids(cal.pop("c"))
    stats = {k: np.asarray(v) for k, v in cal.items()}
    stats["code"] = np.arange(len(ids))
    if not has_amount:
        stats.pop("total")
        stats.pop("first_amount")
    if opts.litt:
        stats["litt"] = _litt(con, opts)
    result = summary_frame(stats, ids, opts, cal_tick)
    if cal_end is not None:
        hold = con.execute("""
            SELECT k.c, coalesce(h.n, 0) AS n, coalesce(h.total, 0.0) AS total
            FROM (SELECT DISTINCT c FROM purchases WHERE s = 0) k
            LEFT JOIN (SELECT c, count(*) AS n, sum(a) AS total FROM purchases WHERE s = 1 GROUP BY c) h USING (c)
            ORDER BY k.c""").fetchnumpy()
        result = attach_holdout(result, np.asarray(hold["n"]), np.asarray(hold["total"]) if has_amount else None,
                                opts, end_tick - cal_tick)
        report.n_customers_first_purchase_after_end = int(con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT c FROM purchases EXCEPT SELECT DISTINCT c FROM purchases WHERE s = 0)"
        ).fetchone()[0])
    return assemble(result, report, opts, end, cal_end, stacklevel=7)


def _litt(con, opts: SummaryOptions) -> np.ndarray:
    """Per calibration customer (ordered by id), the sum of log(time between consecutive purchases) in the time
    unit (BTYDplus' ``litt``; 0 for one purchase), from the table ``purchases`` (one row per purchase, at its
    first tick), as the pandas engine's ``_litt``.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TEMP TABLE purchases AS SELECT * FROM (VALUES (1, 0, 0), (1, 0, 7), (1, 0, 21), "
    ...                 "(1, 1, 30), (2, 0, 3)) v(c, s, t)")
    >>> _litt(con, SummaryOptions.build(time_unit="W")).round(6).tolist()     # log(1) + log(2); the holdout left out
    [0.693147, 0.0]
    """
    got = con.execute(f"""
        SELECT k.c, coalesce(l.litt, 0.0) AS litt
        FROM (SELECT DISTINCT c FROM purchases WHERE s = 0) k
        LEFT JOIN (SELECT c, sum(ln((t - prev) / {float(opts.ticks_per_unit)!r})) AS litt
                   FROM (SELECT c, t, lag(t) OVER (PARTITION BY c ORDER BY t) AS prev FROM purchases WHERE s = 0)
                   WHERE prev IS NOT NULL GROUP BY c) l USING (c)
        ORDER BY k.c""").fetchnumpy()
    return np.asarray(got["litt"], dtype=np.float64)
