"""Deliver the table to a SQL table, exactly once per run (SQLAlchemy 2.x; SQLite, PostgreSQL, ...).

Two tables, created if missing with explicit column types:

* the **target** table (``table_name``): ``run_id`` VARCHAR(128), ``customer_id`` (BIGINT or
  VARCHAR(255), from the index), then one column per table column (``float`` -> DOUBLE PRECISION,
  ``int`` -> BIGINT, ``bool`` -> BOOLEAN, ``text`` -> TEXT), all NOT NULL, primary key
  ``(run_id, customer_id)``. Rows of every run accumulate; select one run with ``WHERE run_id = ...``.
* the **ledger** (``ledger_table``, default ``clv_exports``): ``run_id``, ``table_name``,
  ``n_rows``, ``checksum`` (sha256 of the canonical table), ``delivered_at`` (UTC),
  ``clvmodels_version``; primary key ``(run_id, table_name)`` so one run may feed several tables.

One transaction inserts the ledger row and all data rows (in chunks of ``chunk_size`` through
``executemany``, no COPY, so it is portable); it commits all or nothing. Before it, the ledger is
read: the same run and table with the same checksum -> a no-op receipt (``already_delivered``);
with another checksum -> :class:`ExportConflictError`. Two processes racing on the same run meet at
the ledger's primary key: the loser rolls back and reports what the winner committed.

The CRM reads a run only through the ledger (``JOIN clv_exports USING (run_id)``) or simply
trusts that rows with a ``run_id`` are complete: they appear together, at commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .. import __version__
from ..errors import InvalidValueError, describe_culprits
from .auth import redact_url
from .errors import ExportConflictError, ExportError
from .receipt import ExportReceipt
from .table import (
    INDEX_NAME,
    ExportTable,
    check_run_column,
    check_run_id,
    prepare_table,
)

__all__ = ["to_sql", "DEFAULT_LEDGER_TABLE"]

DEFAULT_LEDGER_TABLE = "clv_exports"
_VALUE_TYPES: dict[str, Any] = {
    "float": sa.Double,
    "int": sa.BigInteger,
    "bool": sa.Boolean,
    "text": sa.Text,
}
_ID_MAX_CHARS = 255
_ID_TYPES: dict[str, Any] = {"int": sa.BigInteger, "text": lambda: sa.String(_ID_MAX_CHARS)}


class _LostRace(Exception):
    """Another transaction inserted the same ledger key first."""


def to_sql(table: pd.DataFrame | ExportTable, url_or_engine: str | Engine, table_name: str,
           run_id: str, *, schema: str | None = None, ledger_table: str = DEFAULT_LEDGER_TABLE,
           chunk_size: int = 10_000) -> ExportReceipt:
    """Insert ``table`` into ``table_name`` under ``run_id``, with a ledger row, in one transaction.

    Parameters
    ----------
    table : DataFrame indexed by ``customer_id`` (or a prepared :class:`ExportTable`)
    url_or_engine : a SQLAlchemy URL (``sqlite:///scores.db``,
        ``postgresql+psycopg://user:pw@host/db``) or an :class:`~sqlalchemy.engine.Engine`
        (not disposed afterwards)
    table_name : the target table; created if missing, else it must have ``run_id``,
        ``customer_id`` and every column of the table
    run_id : identifies the run; delivering it again is a no-op
    schema : optional database schema of both tables
    ledger_table : name of the ledger table
    chunk_size : rows per ``executemany`` call

    Raises
    ------
    DataValidationError : the table breaks the export contract (nothing is written)
    ExportConflictError : the run was delivered to this table before with a different table
    ExportError : the database refused (the transaction was rolled back; nothing was committed)

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> db = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "crm.db")
    >>> table = pd.DataFrame({"clv": [12.5, 3.25]}, index=pd.Index([7, 12], name="customer_id"))
    >>> first = to_sql(table, db, "clv_scores", "run-1")
    >>> again = to_sql(table, db, "clv_scores", "run-1")       # the ledger says it was delivered: no-op
    >>> first.rows, again.already_delivered
    (2, True)
    """
    run_id = check_run_id(run_id)
    if not isinstance(table_name, str) or not table_name:
        raise ValueError(f"table_name must be a non-empty string, got {table_name!r}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    prepared = prepare_table(table)
    check_run_column(prepared, run_id)
    check_id_length(prepared)
    own_engine = not isinstance(url_or_engine, Engine)
    try:
        engine = sa.create_engine(url_or_engine) if own_engine else url_or_engine
    except (SQLAlchemyError, ImportError) as exc:
        raise ExportError(f"cannot open a database engine for the SQL target: {exc}") from exc
    try:
        return _deliver(prepared, engine, table_name, run_id, schema, ledger_table, int(chunk_size))
    finally:
        if own_engine:
            engine.dispose()


# The helpers below (not in __all__) are shared with the Spark SQL sink (clvmodels.spark.to_sql), which
# delivers into the same tables and ledger.

def check_id_length(prepared: ExportTable) -> None:
    """An InvalidValueError naming the text ids longer than the SQL id column (255 characters)."""
    if prepared.id_kind != "text" or prepared.n_rows == 0:
        return
    lengths = np.fromiter(map(len, prepared.ids), dtype=np.int64, count=prepared.n_rows)
    too_long = lengths > _ID_MAX_CHARS
    if too_long.any():
        culprits = prepared.ids[too_long]
        raise InvalidValueError(
            f"{INDEX_NAME}: {len(culprits)} ids are longer than {_ID_MAX_CHARS} characters, the width of "
            f"the SQL column, e.g. {describe_culprits(culprits)}", column=INDEX_NAME,
            n_rows=len(culprits), examples=culprits)


def table_definitions(prepared: ExportTable, table_name: str, schema: str | None,
                      ledger_table: str) -> tuple[sa.Table, sa.Table]:
    """The target table and the ledger (SQLAlchemy tables, not created) for a table shaped like ``prepared``."""
    md = sa.MetaData(schema=schema)
    target = sa.Table(
        table_name, md,
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column(INDEX_NAME, _ID_TYPES[prepared.id_kind](), primary_key=True),
        *(sa.Column(name, _VALUE_TYPES[kind](), nullable=False)
          for name, kind in zip(prepared.names, prepared.kinds, strict=True) if name != "run_id"),
    )
    ledger = sa.Table(
        ledger_table, md,
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("table_name", sa.String(255), primary_key=True),
        sa.Column("n_rows", sa.BigInteger, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clvmodels_version", sa.String(32), nullable=True),
    )
    return target, ledger


def _deliver(prepared: ExportTable, engine: Engine, table_name: str, run_id: str, schema: str | None,
             ledger_table: str, chunk_size: int) -> ExportReceipt:
    target, ledger = table_definitions(prepared, table_name, schema, ledger_table)
    qualified = f"{schema}.{table_name}" if schema else table_name
    destination = f"{redact_url(engine.url.render_as_string(hide_password=False))}#{qualified}"
    where = sa.and_(ledger.c.run_id == run_id, ledger.c.table_name == qualified)
    details = {"table": qualified, "ledger_table": f"{schema}.{ledger_table}" if schema else ledger_table,
               "chunk_size": chunk_size}

    def receipt(already: bool, delivered_at: Any) -> ExportReceipt:
        return ExportReceipt(run_id=run_id, target="sql", destination=destination, rows=prepared.n_rows,
                             checksum=prepared.checksum, already_delivered=already,
                             delivered_at=iso_utc(delivered_at), details=details)

    def check_ledger(conn: Connection) -> ExportReceipt | None:
        row = conn.execute(sa.select(ledger.c.checksum, ledger.c.n_rows, ledger.c.delivered_at)
                           .where(where)).first()
        if row is None:
            return None
        if row.checksum != prepared.checksum:
            raise ExportConflictError(
                f"run {run_id!r} was already delivered to {qualified!r} with a different table "
                f"(ledger {ledger_table}: checksum {row.checksum}, {row.n_rows} rows; this table: "
                f"checksum {prepared.checksum}, {prepared.n_rows} rows). A delivered run must not "
                f"change: export under a new run_id.",
                run_id=run_id, expected=row.checksum, actual=prepared.checksum)
        return receipt(True, row.delivered_at)

    try:
        with engine.connect() as conn:
            ensure_tables(conn, target, ledger, prepared, qualified)
            delivered_at = dt.datetime.now(dt.timezone.utc)
            try:
                with conn.begin():
                    done = check_ledger(conn)
                    if done is not None:
                        return done
                    try:
                        conn.execute(sa.insert(ledger).values(
                            run_id=run_id, table_name=qualified, n_rows=prepared.n_rows,
                            checksum=prepared.checksum, delivered_at=delivered_at,
                            clvmodels_version=__version__))
                    except IntegrityError:
                        raise _LostRace from None    # leaving the block rolls back
                    n_chunks = 0
                    for start, stop in prepared.chunks(chunk_size):
                        rows = prepared.records(start, stop)
                        for row in rows:
                            row["run_id"] = run_id
                        conn.execute(sa.insert(target), rows)
                        n_chunks += 1
            except _LostRace:
                with conn.begin():
                    done = check_ledger(conn)
                if done is None:  # pragma: no cover - the winner rolled back after our failure
                    raise ExportError(f"run {run_id!r}: a concurrent delivery to {qualified!r} "
                                      f"interfered; retry") from None
                return done
            details["chunks"] = n_chunks
            return receipt(False, delivered_at)
    except IntegrityError as exc:
        raise ExportError(
            f"SQL delivery of run {run_id!r} to {qualified!r} was rolled back: the table already holds "
            f"rows with this run_id that the ledger {ledger_table!r} does not record (inserted by "
            f"hand?); delete them or use a new run_id. Database said: {short_error(exc)}") from exc
    except SQLAlchemyError as exc:
        raise ExportError(
            f"SQL delivery of run {run_id!r} to {qualified!r} failed and was rolled back (nothing "
            f"committed): {short_error(exc)}") from exc


def ensure_tables(conn: Connection, target: sa.Table, ledger: sa.Table, prepared: ExportTable,
                   qualified: str) -> None:
    """Create missing tables (own transaction); check existing ones have the needed columns."""
    for tbl in (ledger, target):
        try:
            with conn.begin():
                tbl.create(conn, checkfirst=True)
        except SQLAlchemyError:
            # another process may have created it between the check and the CREATE
            with conn.begin():
                if not sa.inspect(conn).has_table(tbl.name, schema=tbl.schema):
                    raise
        with conn.begin():
            columns = sa.inspect(conn).get_columns(tbl.name, schema=tbl.schema)
        existing = {c["name"] for c in columns}
        if tbl is target:
            required = [c["name"] for c in columns if c["name"] not in tbl.columns and not c.get("nullable", True)
                        and c.get("default") is None and not c.get("autoincrement") is True]
            if required:
                raise ExportError(
                    f"the existing target table {qualified!r} requires columns {required} (NOT NULL, no default) "
                    f"that this delivery does not have; it sends {[c.name for c in tbl.columns]}. Earlier runs "
                    "delivered another set of fields (e.g. a log with amounts before one without, or CLV "
                    "intervals): deliver to a new table, or map the fields (export.fields) to the table's.")
        missing = [c.name for c in tbl.columns if c.name not in existing]
        if missing:
            what = "target table" if tbl is target else "ledger table"
            name = qualified if tbl is target else tbl.fullname
            raise ExportError(
                f"the existing {what} {name!r} lacks columns {missing}; the export needs "
                f"{[c.name for c in tbl.columns]}. Add them (ALTER TABLE) or export to a new table.")


def iso_utc(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite keeps no time zone; we always store UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def short_error(exc: SQLAlchemyError, limit: int = 400) -> str:
    orig = getattr(exc, "orig", None)
    text = f"{type(orig).__name__}: {orig}" if orig is not None else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."
