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

__all__ = ["to_file", "to_sql", "to_http"]

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


# ----------------------------------------------------------------------------------------------
# HTTP: batches cut and sent by the executors, the ledger kept by the driver

BUCKET_COLUMN = "__clv_bucket"


def _bucket_count(rows: int, batch_size: int) -> int:
    """Hash buckets for ``rows`` rows: a bucket's mean size sits four standard deviations below ``batch_size``,
    so that a bucket rarely needs a second, small batch."""
    import math

    target = max(1.0, batch_size - 4.0 * math.sqrt(batch_size))
    return max(1, math.ceil(rows / target))


def _batch_plan(counts: dict[int, int], batch_size: int) -> tuple[dict[int, int], int]:
    """Each bucket's first batch number (buckets in order, ``ceil(count / batch_size)`` batches each) and the
    number of batches."""
    offsets, total = {}, 0
    for bucket in sorted(counts):
        offsets[bucket] = total
        total += -(-int(counts[bucket]) // batch_size)
    return offsets, total


def _send_partition(target, run_id: str, total: int, rows: int, checksum: str, offsets: dict, acked: frozenset,
                    accumulator):
    """The function every partition runs (``mapInPandas``): its buckets' batches, each bucket sorted by customer,
    sent in order; acknowledged batch numbers are added to ``accumulator`` (and yielded with their requests)."""
    def run(batches):
        import pandas as pd

        from ..export.table import prepare_table

        frames = [b for b in batches if len(b)]
        if not frames:
            return
        part = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        size = target.batch_size
        sender = target.sender()
        try:
            for bucket, rows_of in part.groupby(BUCKET_COLUMN, sort=True):
                rows_of = rows_of.drop(columns=BUCKET_COLUMN).sort_values("customer_id", kind="stable")
                table = prepare_table(rows_of.set_index("customer_id"))
                for j, start in enumerate(range(0, table.n_rows, size)):
                    batch = offsets[int(bucket)] + j
                    if batch in acked:
                        continue
                    stop = min(start + size, table.n_rows)
                    before = sender.requests
                    sender.send(table, batch, f"batch {batch} of {total} (bucket {int(bucket)}, {stop - start} rows) "
                                f"of run {run_id!r}", run_id=run_id, total_batches=total, start=start, stop=stop,
                                total_rows=rows, checksum=checksum)
                    accumulator.add(frozenset([batch]))
                    yield pd.DataFrame({"batch": [batch], "requests": [sender.requests - before]})
        finally:
            sender.close()
    return run


def _delivery_failure(exc: BaseException, secrets) -> tuple[str, int | None]:
    """The clvmodels error inside a failed Spark job's message (the executor's traceback), redacted."""
    import re

    from ..export.auth import redact

    text = str(exc)
    found = re.findall(r"clvmodels\.export\.errors\.(?:DeliveryError|ExportError): (.+)", text)
    message = found[-1].strip() if found else " ".join(text.split())[:400]
    batch = re.search(r"batch (\d+) of \d+", message)
    return redact(message, secrets), (int(batch.group(1)) if batch else None)


def to_http(sdf, url: str, run_id: str, *, preset: str = "generic", preset_options=None, ledger_dir=None,
            ledger_path=None, batch_size: int | None = None, headers=None, auth=None, timeout: float = 30.0,
            max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
            max_elapsed: float = 300.0) -> ExportReceipt:
    """Deliver the Spark DataFrame ``sdf`` to an HTTP endpoint or CRM API in batches sent by the executors,
    exactly once per run in the sense of :func:`clvmodels.export.to_http` (its presets, receiver contract,
    retries, redaction and ledger), without collecting the table.

    How it differs from the pandas sink, and why:

    * **Batches.** Rows go to ``B`` hash buckets of ``customer_id`` (Spark's ``xxhash64``; ``B`` chosen from the
      row count so a bucket holds a little less than ``batch_size`` rows on average); a bucket, sorted by
      customer, is cut into batches of at most ``batch_size`` rows, numbered bucket by bucket. The numbering
      depends only on the table, never on its partitioning, so a retried task or a re-run resends a batch under
      the same ``Idempotency-Key`` (``<run_id>:<batch>``) with the same records. Batches are smaller than
      ``batch_size`` on average (about ``batch_size - 4 sqrt(batch_size)`` rows) and arrive in no set order;
      the generic body's ``total_batches`` / ``total_rows`` / ``checksum`` are the run's (the checksum is the
      order-free Spark checksum of :func:`to_file`, ``checksum_kind: spark-xxhash64-sum``).
    * **Ledger.** Kept by the driver (``ledger_dir`` / ``ledger_path`` on the driver's file system): written
      before the Spark job (checksum, batches), then with every batch the executors acknowledged (reported to
      the driver through an accumulator, so a job that fails still records what its finished tasks
      delivered) and its completion. A re-run resumes after the acknowledged batches; an acknowledgement lost
      with a failed task means that batch is sent again under its key, which the receiver's deduplication (or a
      CRM's upsert by id) makes harmless, as for the pandas sink after a crash.
    * **Credentials.** Headers are resolved on the driver (``${VAR}`` / ``auth.token_env`` from its
      environment) and travel to the executors inside the task, as Spark ships any closure: on a cluster, use
      Spark's RPC encryption (``spark.network.crypto.enabled``) for them. They never reach the ledger, the
      receipt or an error message.

    A task whose batch is refused or never acknowledged fails with :class:`~clvmodels.export.DeliveryError`;
    Spark retries the task (``spark.task.maxFailures``) and, once the job fails, this call raises a
    DeliveryError naming the batch, with the ledger holding every batch acknowledged so far.

    Parameters are those of :func:`clvmodels.export.to_http` (``sdf`` a Spark DataFrame with a unique
    ``customer_id`` column in place of the pandas table; no ``client``: each executor makes its own).

    Returns
    -------
    ExportReceipt (``target="http"``) whose ``details`` hold ``ledger``, ``preset``, ``batch_size``,
    ``buckets``, ``batches_total``, ``batches_sent``, ``batches_resumed``, ``requests`` and ``checksum_kind``.

    Examples
    --------
    Bad settings fail on the driver before Spark runs anything:

    >>> import clvmodels.spark as cs
    >>> spark = cs.start_session({"spark.ui.enabled": "false"})
    >>> scores = spark.createDataFrame([("007", 12.5), ("012", 3.25)], ["customer_id", "clv"])
    >>> cs.to_http(scores, "https://crm.example.com/scores", "run-1", ledger_dir=".",
    ...            auth={"type": "bearer", "token_env": "CLV_UNSET_TOKEN_VAR"})
    Traceback (most recent call last):
    ...
    clvmodels.export.errors.ExportError: environment variable 'CLV_UNSET_TOKEN_VAR' (used by header 'Authorization') is not set; ...
    """
    from ..export.errors import DeliveryError
    from ..export.http import HttpTarget

    require_frame(sdf, "sdf")
    run_id = check_run_id(run_id)
    target = HttpTarget.check(url, preset=preset, preset_options=preset_options, batch_size=batch_size,
                              headers=headers, auth=auth, timeout=timeout, max_retries=max_retries, backoff=backoff,
                              max_backoff=max_backoff, max_elapsed=max_elapsed)
    if "run_id" in sdf.columns:
        raise DataValidationError("the table to export has a column 'run_id'; the run id is given by the run_id "
                                  "argument (drop or rename the column)", column="run_id")
    target.check_fields([c for c in sdf.columns if c != "customer_id"])
    path = target.ledger_location(ledger_dir, ledger_path, run_id)
    F = functions()
    rows, checksum = _check(sdf, F)
    buckets = _bucket_count(rows, target.batch_size)
    keyed = sdf.withColumn(BUCKET_COLUMN, F.pmod(F.xxhash64(F.col("customer_id")), F.lit(buckets)).cast("int"))
    counts = {int(r[0]): int(r[1]) for r in keyed.groupBy(BUCKET_COLUMN).count().collect()}
    offsets, total = _batch_plan(counts, target.batch_size)
    empty_run = target.preset == "generic" and rows == 0        # one batch without records tells the receiver
    if empty_run:
        total = 1
    extra = {"checksum_kind": "spark-xxhash64-sum", "batching": "spark-hash-buckets", "buckets": buckets}

    with locked(path.parent):
        state = read_json(path, "HTTP export ledger")
        if state is None:
            state = target.new_ledger(run_id, checksum, rows, total, **extra)
            write_json(path, state)       # the checksum is on disk before the first byte is sent
        else:
            target.check_ledger(state, path, run_id, checksum, rows)

        def receipt(already: bool, sent: int, requests: int) -> ExportReceipt:
            return ExportReceipt(
                run_id=run_id, target="http", destination=target.endpoint, rows=rows, checksum=checksum,
                already_delivered=already, delivered_at=state["completed_at"],
                details={"ledger": str(path), "preset": target.preset, "batch_size": target.batch_size,
                         "buckets": buckets, "batches_total": total, "batches_sent": sent,
                         "batches_resumed": total - sent if not already else 0, "requests": requests,
                         "checksum_kind": "spark-xxhash64-sum"})

        if state.get("completed_at"):
            return receipt(True, 0, 0)
        acked = frozenset(int(b) for b in state.get("acknowledged", []))

        def record(now) -> None:
            state["acknowledged"] = sorted(acked | set(now))
            if len(state["acknowledged"]) >= total:
                state["completed_at"] = utc_now()
            write_json(path, state)

        if empty_run:
            if 0 not in acked:
                from ..export.table import prepare_table

                sender = target.sender()
                try:
                    sender.send(prepare_table(_empty_frame(sdf)), 0, f"batch 0 of 1 (no rows) of run {run_id!r}",
                                run_id=run_id, total_batches=1, total_rows=0, checksum=checksum)
                finally:
                    sender.close()
                record({0})
                return receipt(False, 1, sender.requests)
            record(set())
            return receipt(False, 0, 0)

        spark = sdf.sparkSession
        accumulator = spark.sparkContext.accumulator(frozenset(), _SetParam())
        parallel = max(1, min(buckets, max(spark.sparkContext.defaultParallelism, -(-rows // 200_000))))
        T = pyspark_sql().types
        send = _send_partition(target, run_id, total, rows, checksum, offsets, acked, accumulator)
        job = keyed.repartition(parallel, BUCKET_COLUMN).mapInPandas(
            send, T.StructType([T.StructField("batch", T.LongType()), T.StructField("requests", T.LongType())]))
        try:
            sent = job.collect()
        except Exception as exc:        # the job failed: keep what finished tasks acknowledged, say which batch
            record(accumulator.value)
            message, batch = _delivery_failure(exc, target.secrets)
            done = len(state["acknowledged"])
            raise DeliveryError(f"HTTP delivery of run {run_id!r} from Spark stopped: {message} ({done} of {total} "
                                f"batches acknowledged in ledger {path.name}; fix the cause and run the export again "
                                "to resume)", batch=batch) from None
        record({int(r["batch"]) for r in sent} | set(accumulator.value))
        return receipt(False, len(sent), sum(int(r["requests"]) for r in sent))


def _empty_frame(sdf):
    """The (empty) table ``sdf`` as pandas, indexed by ``customer_id``."""
    return sdf.limit(0).toPandas().set_index("customer_id")


class _SetParam:
    """Accumulates the sets of batch numbers the tasks acknowledged (their union)."""

    def zero(self, value):
        return frozenset()

    def addInPlace(self, a, b):     # noqa: N802 - pyspark's AccumulatorParam protocol
        return frozenset(a) | frozenset(b)
