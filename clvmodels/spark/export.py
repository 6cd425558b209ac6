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
manifest exists. The checksum is order-free: the row count and the sum of Spark's 64-bit ``xxhash64``
of every row (exact, as a decimal), so the same table gives the same checksum whatever its
partitioning and order; it is not the pandas sink's sha256 (prefix ``spark-xxhash64-sum``).

``directory`` must be a path the driver and every executor see as the same place (local mode, or a
shared mount on a cluster): the lock and the manifest are written by the driver with the local file
system.
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..errors import DataValidationError, MissingColumnError
from ..export.errors import ExportConflictError, ExportError
from ..export.ledger import locked, read_json, write_json
from ..export.receipt import ExportReceipt, utc_now
from ..export.table import check_run_id
from ._session import functions, json_safe, require_frame

__all__ = ["to_file"]

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
    return rows, f"spark-xxhash64-sum:{rows}:{got['_hash'] or 0}"


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
    >>> spark = cs.start_session({"spark.master": "local[1]", "spark.ui.enabled": "false"})
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

