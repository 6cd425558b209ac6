"""Deliver a Spark result to a file drop, exactly once per run, without collecting it.

:func:`to_file` is the Spark side of :func:`clvmodels.export.to_file`: the executors write the table
(Parquet or CSV part files) through Spark's output committer, and a manifest written by the driver
afterwards marks the delivery complete. Nothing but a few aggregates reaches the driver, so the table
may be larger than the driver's memory.

For ``run_id="r1"`` and ``format="parquet"`` the drop receives::

    r1.parquet/                 a folder of part files (plus Spark's ``_SUCCESS`` marker)
    r1.parquet.manifest.json    run_id, rows, columns, checksum, part files and their sizes, ...

Order of steps (under an exclusive lock on the directory, as for the pandas sink):

1. the table is checked by Spark (one pass of aggregates): ``customer_id`` present and unique, no
   empty cell, every number finite; a breach is a :class:`~clvmodels.errors.DataValidationError`
   naming the column and a few customers, and nothing is written;
2. if the manifest exists, the run was delivered: the same checksum gives an ``already_delivered``
   receipt, another a :class:`~clvmodels.export.ExportConflictError`;
3. Spark writes the folder (mode ``overwrite``: the leftovers of a crashed earlier attempt go). A task
   that fails is retried by Spark (``spark.task.maxFailures``); its output committer keeps exactly
   one attempt's file per partition, so a retried partition never duplicates rows;
4. the manifest is written atomically (temporary file, fsync, rename): the commit point.

The **consumer contract** is that of :mod:`clvmodels.export.file`: read ``r1.parquet/`` only once its
manifest exists. The checksum is order-free: the sha256 of the row count and the sum of Spark's 64-bit
``xxhash64`` of every row (exact, as a decimal), so the same table gives the same checksum whatever its
partitioning and order; it is not the pandas sink's checksum (``checksum_kind: spark-xxhash64-sum``).

:func:`to_sql` does the same for a SQL table (the tables and the ledger of :mod:`clvmodels.export.sql`):
every partition inserts its rows into a staging table together with a row naming the partition, in one
transaction on the executor, so a retried or speculative attempt of a partition that committed inserts
nothing; the driver then moves the run's staged rows into the target table and writes the ledger row in
one transaction, inside the database. The CRM sees a run's rows all at once, at that commit, as with the
pandas sink.

``directory`` must be a path the driver and every executor see as the same place (local mode, or a
shared mount on a cluster): the lock and the manifest are written by the driver with the local file
system.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import __version__
from ..errors import DataValidationError, MissingColumnError
from ..export.errors import ExportConflictError, ExportError
from ..export.ledger import locked, read_json, write_json
from ..export.receipt import ExportReceipt, utc_now
from ..export.table import check_run_id
from ._session import functions, json_safe, pyspark_sql, require_frame

__all__ = ["to_file", "to_sql"]

MANIFEST_SUFFIX = ".manifest.json"
_FORMATS = ("parquet", "csv")
_NUMERIC = ("double", "float")
_EXAMPLES = 5


def _check(sdf, F) -> tuple[int, str]:
    """Validate ``sdf`` in one aggregation; its row count and order-free checksum."""
    if "customer_id" not in sdf.columns:
        raise MissingColumnError(f"the table to export is missing column(s) ['customer_id']; it has "
                                 f"{list(sdf.columns)}", column="customer_id")
    if len(set(sdf.columns)) != len(sdf.columns):
        twice = sorted({c for c in sdf.columns if sdf.columns.count(c) > 1})
        raise DataValidationError(f"the table to export has duplicated columns {twice}", column=twice[0])
    kinds = dict(sdf.dtypes)
    aggs = [F.count(F.lit(1)).alias("_rows"), F.countDistinct("customer_id").alias("_ids"),
            F.sum(F.xxhash64(*[F.col(c) for c in sdf.columns]).cast("decimal(38,0)")).alias("_hash")]
    for i, c in enumerate(sdf.columns):
        bad = F.col(c).isNull()
        if kinds[c] in _NUMERIC:
            bad = bad | F.isnan(F.col(c)) | (F.abs(F.col(c)) == float("inf"))
        aggs.append(F.sum(F.when(bad, 1).otherwise(0)).alias(f"_bad{i}"))
    got = sdf.agg(*aggs).collect()[0]
    rows = int(got["_rows"])
    for i, c in enumerate(sdf.columns):
        n_bad = int(got[f"_bad{i}"] or 0)
        if n_bad:
            bad = F.col(c).isNull()
            if kinds[c] in _NUMERIC:
                bad = bad | F.isnan(F.col(c)) | (F.abs(F.col(c)) == float("inf"))
            who = [json_safe(r[0]) for r in sdf.where(bad).select("customer_id").limit(_EXAMPLES).collect()]
            what = "empty or non-finite" if kinds[c] in _NUMERIC else "empty"
            raise DataValidationError(f"column {c!r} of the table to export has {n_bad} {what} cell(s), e.g. "
                                      f"customers {who}: nothing was written", column=c, n_rows=n_bad,
                                      examples=who)
    if int(got["_ids"]) != rows:
        twice = [json_safe(r[0]) for r in sdf.groupBy("customer_id").count().where(F.col("count") > 1)
                 .select("customer_id").limit(_EXAMPLES).collect()]
        raise DataValidationError(f"customer_id of the table to export is not unique ({rows - int(got['_ids'])} "
                                  f"repeated rows), e.g. customers {twice}: nothing was written",
                                  column="customer_id", n_rows=rows - int(got["_ids"]), examples=twice)
    digest = f"spark-xxhash64-sum:{rows}:{got['_hash'] or 0}"
    return rows, hashlib.sha256(digest.encode()).hexdigest()


def to_file(sdf, directory: str | Path, run_id: str, format: str = "parquet", *, prefix: str = "") -> ExportReceipt:
    """Write the Spark DataFrame ``sdf`` into the drop ``directory`` as ``<prefix><run_id>.<format>/``
    (a folder of part files written by the executors) plus its manifest; exactly once per run.

    Parameters
    ----------
    sdf : Spark DataFrame with a unique ``customer_id`` column, e.g. :func:`clvmodels.spark.forecast_clv`'s
    directory : an existing directory seen alike by the driver and the executors (not created)
    run_id : identifies the run; delivering the same run again is a no-op that says so
    format : ``"parquet"`` (default) or ``"csv"`` (with a header line in every part file)
    prefix : optional name prefix, e.g. ``"clv_scores_"``

    Returns
    -------
    ExportReceipt (``target="file"``) with ``details`` ``path``, ``manifest``, ``format``, ``parts``
    (part file names and bytes) and ``checksum_kind``.

    Raises
    ------
    DataValidationError : no or repeated ``customer_id``, empty or non-finite cells (nothing is written)
    ExportConflictError : the run was delivered here before with a different table
    ExportError : the directory does not exist

    Examples
    --------
    >>> import tempfile
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session({"spark.ui.enabled": "false"})
    >>> scores = spark.createDataFrame([("007", 12.5), ("012", 3.25)], ["customer_id", "clv"])
    >>> drop = tempfile.mkdtemp()
    >>> first = cs.to_file(scores, drop, "cdnow-2026")
    >>> again = cs.to_file(scores, drop, "cdnow-2026")            # the same run again: a no-op that says so
    >>> first.rows, first.already_delivered, again.already_delivered
    (2, False, True)
    >>> sorted(r.customer_id for r in spark.read.parquet(first.details["path"]).collect())
    ['007', '012']
    """
    require_frame(sdf, "sdf")
    run_id = check_run_id(run_id)
    if format not in _FORMATS:
        raise ValueError(f"format must be 'parquet' or 'csv', got {format!r}")
    if not isinstance(prefix, str) or prefix.startswith(".") or "/" in prefix or len(prefix) > 64:
        raise ValueError(f"prefix must be up to 64 characters, without '/' and not starting with '.', got {prefix!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise ExportError(f"file drop {str(directory)!r} is not an existing directory")
    F = functions()
    rows, checksum = _check(sdf, F)
    name = f"{prefix}{run_id}.{format}"
    path = directory / name
    manifest_path = directory / f"{name}{MANIFEST_SUFFIX}"
    with locked(directory):
        manifest = read_json(manifest_path, "delivery manifest")
        if manifest is not None:
            if manifest.get("checksum") != checksum:
                raise ExportConflictError(
                    f"run {run_id!r} was delivered to {str(path)!r} before with a different table "
                    f"(checksum {manifest.get('checksum')!r}, now {checksum!r}); use a new run_id",
                    run_id=run_id, expected=str(manifest.get("checksum")), actual=checksum)
            return _receipt(manifest, path, manifest_path, rows, checksum, already=True)
        writer = sdf.write.mode("overwrite")
        if format == "csv":
            writer.option("header", True).csv(str(path))
        else:
            writer.parquet(str(path))
        parts = sorted((p.name, p.stat().st_size) for p in path.iterdir()
                       if p.is_file() and not p.name.startswith((".", "_")))
        manifest = {"format_version": 1, "run_id": run_id, "file": name, "format": format, "rows": rows,
                    "columns": [[c, t] for c, t in sdf.dtypes], "checksum": checksum,
                    "checksum_kind": "spark-xxhash64-sum", "parts": [list(p) for p in parts],
                    "delivered_at": utc_now(), "clvmodels_version": __version__, "writer": "spark"}
        write_json(manifest_path, manifest)
    return _receipt(manifest, path, manifest_path, rows, checksum, already=False)


def _receipt(manifest: dict, path: Path, manifest_path: Path, rows: int, checksum: str, *,
             already: bool) -> ExportReceipt:
    return ExportReceipt(
        run_id=manifest["run_id"], target="file", destination=str(path), rows=rows, checksum=checksum,
        already_delivered=already, delivered_at=manifest.get("delivered_at"),
        details={"path": str(path), "manifest": str(manifest_path), "format": manifest.get("format"),
                 "parts": manifest.get("parts", []), "checksum_kind": "spark-xxhash64-sum"})



# ----------------------------------------------------------------------------------------------
# SQL: staged by the executors, moved into the target by the driver in one transaction

STAGING_SUFFIX, PARTS_SUFFIX = "__clv_staging", "__clv_parts"


def _sample_table(sdf):
    """An :class:`~clvmodels.export.ExportTable` of one row of ``sdf``: the column kinds of the SQL tables."""
    from ..export.table import prepare_table

    first = sdf.limit(1).toPandas()
    if len(first) == 0:
        raise DataValidationError("the table to export is empty: nothing to deliver", n_rows=0)
    return prepare_table(first.set_index("customer_id"))


def _sql_tables(sample, table_name: str, schema: str | None, ledger_table: str):
    import sqlalchemy as sa

    from ..export.sql import table_definitions

    target, ledger = table_definitions(sample, table_name, schema, ledger_table)
    md = target.metadata
    staging = sa.Table(f"{table_name}{STAGING_SUFFIX}", md, sa.Column("part", sa.Integer, nullable=False),
                       *(sa.Column(c.name, c.type, nullable=False) for c in target.columns))
    parts = sa.Table(f"{table_name}{PARTS_SUFFIX}", md, sa.Column("run_id", sa.String(128), primary_key=True),
                     sa.Column("part", sa.Integer, primary_key=True), sa.Column("n_rows", sa.BigInteger, nullable=False),
                     sa.Column("checksum", sa.String(64), nullable=False))
    return target, ledger, staging, parts


def _engine(url: str):
    import sqlalchemy as sa

    # executors write to the same SQLite file at once: wait for its lock rather than fail at once
    extra = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    return sa.create_engine(url, **extra)


def _stage_partition(url, table_name, schema, ledger_table, sample_kinds, run_id, checksum, chunk_size):
    """The function every partition runs (``mapInPandas``): its rows into the staging table and a row for the
    partition, in one transaction; nothing when an attempt of the partition committed before. Yields the
    partition's row count."""
    def run(batches):
        import pandas as pd
        import sqlalchemy as sa
        from pyspark import TaskContext

        part = TaskContext.get().partitionId()
        engine = _engine(url)
        _, _, staging, parts = _sql_tables(_Kinds(*sample_kinds), table_name, schema, ledger_table)
        n = 0
        try:
            with engine.begin() as conn:
                done = conn.execute(sa.select(parts.c.n_rows).where(
                    parts.c.run_id == run_id, parts.c.part == part, parts.c.checksum == checksum)).first()
                if done is not None:
                    yield pd.DataFrame({"n": [int(done.n_rows)]})
                    return
                for batch in batches:
                    for start in range(0, len(batch), chunk_size):
                        rows = batch.iloc[start:start + chunk_size].to_dict("records")
                        for row in rows:
                            row["run_id"], row["part"] = run_id, part
                        if rows:
                            conn.execute(sa.insert(staging), rows)
                    n += len(batch)
                conn.execute(sa.insert(parts).values(run_id=run_id, part=part, n_rows=n, checksum=checksum))
        except sa.exc.IntegrityError:          # another attempt of this partition committed first
            with engine.connect() as conn:
                done = conn.execute(sa.select(parts.c.n_rows).where(
                    parts.c.run_id == run_id, parts.c.part == part)).first()
            if done is None:
                raise
            n = int(done.n_rows)
        finally:
            engine.dispose()
        yield pd.DataFrame({"n": [n]})
    return run


class _Kinds:
    """The three facts of an ExportTable the SQL table definitions read."""

    def __init__(self, names, kinds, id_kind):
        self.names, self.kinds, self.id_kind = list(names), list(kinds), id_kind


def to_sql(sdf, url: str, table_name: str, run_id: str, *, schema: str | None = None,
           ledger_table: str = "clv_exports", chunk_size: int = 5_000) -> ExportReceipt:
    """Deliver the Spark DataFrame ``sdf`` to the SQL table ``table_name`` under ``run_id``, exactly once, from
    the executors (the tables and ledger of :func:`clvmodels.export.to_sql`; see this module's docstring).

    Parameters
    ----------
    sdf : Spark DataFrame with a unique ``customer_id`` column, e.g. :func:`clvmodels.spark.forecast_clv`'s
    url : a SQLAlchemy URL the driver and every executor can reach (``${VAR}`` references are read from the
        driver's environment; the expanded URL travels to the executors with the task)
    table_name, schema, ledger_table : as :func:`clvmodels.export.to_sql`; the staging tables are
        ``<table_name>__clv_staging`` and ``<table_name>__clv_parts`` (created if missing, emptied of the run
        once it is delivered)
    chunk_size : rows per insert on an executor

    SQLite (one writer at a time) is staged by a single task; other databases by every partition at once.

    Returns
    -------
    ExportReceipt (``target="sql"``) with ``details`` ``table``, ``ledger_table``, ``partitions`` and
    ``checksum_kind``.

    Raises
    ------
    DataValidationError : no or repeated ``customer_id``, empty or non-finite cells (nothing is written)
    ExportConflictError : the run was delivered to this table before with a different table
    ExportError : the database refused (the driver's transaction was rolled back: the run is not delivered)

    Examples
    --------
    >>> import os, tempfile
    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session({"spark.ui.enabled": "false"})
    >>> scores = spark.createDataFrame([("007", 12.5), ("012", 3.25)], ["customer_id", "clv"])
    >>> db = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "crm.db")
    >>> first = cs.to_sql(scores, db, "clv_scores", "run-1")
    >>> again = cs.to_sql(scores, db, "clv_scores", "run-1")      # the ledger says it was delivered: no-op
    >>> first.rows, first.already_delivered, again.already_delivered
    (2, False, True)
    """
    import datetime as dt

    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from ..export.auth import expand_env, redact_url
    from ..export.sql import check_id_length, ensure_tables, iso_utc, short_error

    require_frame(sdf, "sdf")
    run_id = check_run_id(run_id)
    if not isinstance(table_name, str) or not table_name:
        raise ValueError(f"table_name must be a non-empty string, got {table_name!r}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    F = functions()
    rows, checksum = _check(sdf, F)
    sample = _sample_table(sdf)
    if sample.id_kind == "text":
        long_ids = sdf.where(F.length("customer_id") > 255)
        if long_ids.limit(1).count():
            check_id_length(_sample_table(long_ids))
    url = expand_env(url, "url")
    kinds = (tuple(sample.names), tuple(sample.kinds), sample.id_kind)
    target, ledger, staging, parts = _sql_tables(_Kinds(*kinds), table_name, schema, ledger_table)
    qualified = f"{schema}.{table_name}" if schema else table_name
    where = sa.and_(ledger.c.run_id == run_id, ledger.c.table_name == qualified)
    engine = _engine(url)
    destination = f"{redact_url(engine.url.render_as_string(hide_password=False))}#{qualified}"
    details = {"table": qualified, "ledger_table": f"{schema}.{ledger_table}" if schema else ledger_table,
               "checksum_kind": "spark-xxhash64-sum"}

    def receipt(already: bool, delivered_at) -> ExportReceipt:
        return ExportReceipt(run_id=run_id, target="sql", destination=destination, rows=rows, checksum=checksum,
                             already_delivered=already, delivered_at=iso_utc(delivered_at), details=details)

    def delivered(conn):
        row = conn.execute(sa.select(ledger.c.checksum, ledger.c.n_rows, ledger.c.delivered_at).where(where)).first()
        if row is None:
            return None
        if row.checksum != checksum:
            raise ExportConflictError(
                f"run {run_id!r} was already delivered to {qualified!r} with a different table (ledger "
                f"{ledger_table}: checksum {row.checksum}, {row.n_rows} rows; this table: checksum {checksum}, "
                f"{rows} rows). A delivered run must not change: export under a new run_id.",
                run_id=run_id, expected=row.checksum, actual=checksum)
        return receipt(True, row.delivered_at)

    try:
        with engine.connect() as conn:
            ensure_tables(conn, target, ledger, sample, qualified)
            with conn.begin():
                for tbl in (staging, parts):
                    tbl.create(conn, checkfirst=True)
                done = delivered(conn)
                if done is not None:
                    return done
                # what a crashed attempt with another table left staged is not this table's
                stale = sa.and_(parts.c.run_id == run_id, parts.c.checksum != checksum)
                if conn.execute(sa.select(sa.func.count()).select_from(parts).where(stale)).scalar():
                    conn.execute(sa.delete(staging).where(staging.c.run_id == run_id))
                    conn.execute(sa.delete(parts).where(parts.c.run_id == run_id))
        T = pyspark_sql().types
        stage = _stage_partition(url, table_name, schema, ledger_table, kinds, run_id, checksum, int(chunk_size))
        # SQLite has one writer at a time: its partitions are staged by one task, not by transactions waiting on
        # (or deadlocking over) the file's lock
        rows_in = sdf.coalesce(1) if engine.dialect.name == "sqlite" else sdf
        staged = rows_in.mapInPandas(stage, T.StructType([T.StructField("n", T.LongType())]))
        counts = [int(r["n"]) for r in staged.collect()]
        details["partitions"] = len(counts)
        delivered_at = dt.datetime.now(dt.timezone.utc)
        with engine.connect() as conn, conn.begin():
            done = delivered(conn)
            if done is not None:
                return done
            n_staged = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(parts.c.n_rows), 0)).where(
                parts.c.run_id == run_id, parts.c.checksum == checksum)).scalar()
            if int(n_staged) != rows:
                raise ExportError(f"run {run_id!r}: {int(n_staged)} rows are staged for {qualified!r}, the table has "
                                  f"{rows}; nothing was delivered (run the export again)")
            conn.execute(sa.insert(ledger).values(run_id=run_id, table_name=qualified, n_rows=rows,
                                                  checksum=checksum, delivered_at=delivered_at,
                                                  clvmodels_version=__version__))
            moved = [c.name for c in target.columns]
            conn.execute(sa.insert(target).from_select(
                moved, sa.select(*[staging.c[c] for c in moved]).where(staging.c.run_id == run_id)))
            conn.execute(sa.delete(staging).where(staging.c.run_id == run_id))
            conn.execute(sa.delete(parts).where(parts.c.run_id == run_id))
        return receipt(False, delivered_at)
    except SQLAlchemyError as exc:
        raise ExportError(f"SQL delivery of run {run_id!r} to {qualified!r} from Spark failed (the run is not "
                          f"delivered; run it again): {short_error(exc)}") from exc
    finally:
        engine.dispose()
