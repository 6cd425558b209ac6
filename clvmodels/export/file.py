"""Deliver the table to a file drop (a directory a CRM watches), exactly once per run.

For ``run_id="r1"`` and ``format="csv"`` the drop receives::

    r1.csv                  the table: header customer_id,<columns>, one row per customer
    r1.csv.manifest.json    the delivery marker: run_id, rows, columns, checksum, sha256, bytes, ...

Order of steps (under an exclusive lock on the directory):

1. if ``r1.csv.manifest.json`` exists, the run was delivered: same checksum -> no-op receipt
   (``already_delivered=True``); different checksum -> :class:`ExportConflictError`;
2. remove hidden temporaries ``.r1.csv.*.tmp`` left by a crashed earlier attempt;
3. write the table to ``.r1.csv.<random>.tmp``, flush, fsync, hash it (sha256);
4. ``os.replace`` it to ``r1.csv``; fsync the directory;
5. write the manifest the same way (temporary, fsync, ``os.replace``, fsync): this is the commit
   point.

A crash during 1-3 leaves nothing visible; during 4-5 it leaves ``r1.csv`` without its manifest.
In every case the next call with the same run_id redoes 2-5 and completes the delivery (the data
file is atomically replaced, so it is never torn). Hence the **consumer contract**: read ``r1.csv``
only once ``r1.csv.manifest.json`` exists, and check the file's sha256 against it. The consumer may
move or delete the data file after reading; it must keep the manifest, which is the record that
the run was delivered (deleting it allows the run to be delivered again).

CSV: UTF-8, ``\\n`` line ends, floats written with the shortest text that round-trips exactly,
booleans ``True``/``False``, empty text as an empty field (read with ``keep_default_na=False``).
Parquet: written by pyarrow with the index as column ``customer_id``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from .. import __version__
from .errors import ExportConflictError, ExportError
from .ledger import locked, read_json, remove_stale_temps, write_atomic, write_json
from .receipt import ExportReceipt, utc_now
from .table import ExportTable, check_run_column, check_run_id, prepare_table

__all__ = ["to_file", "MANIFEST_SUFFIX"]

MANIFEST_SUFFIX = ".manifest.json"
_FORMATS = {"csv": "csv", "parquet": "parquet"}
_PREFIX = re.compile(r"^([A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63})?$")


def to_file(table: pd.DataFrame | ExportTable, directory: str | Path, run_id: str,
            format: str = "csv", *, prefix: str = "") -> ExportReceipt:
    """Write ``table`` into the drop ``directory`` as ``<prefix><run_id>.<format>`` plus its manifest.

    Parameters
    ----------
    table : DataFrame indexed by ``customer_id`` (or a prepared :class:`ExportTable`)
    directory : an existing directory (it is not created: a mistyped drop path should fail loudly)
    run_id : identifies the run; delivering the same run again is a no-op
    format : ``"csv"`` or ``"parquet"``
    prefix : optional file-name prefix, e.g. ``"clv_scores_"``

    Returns
    -------
    ExportReceipt with ``details`` ``path``, ``manifest``, ``sha256`` (of the file's bytes),
    ``bytes`` and ``format``.

    Raises
    ------
    DataValidationError : the table breaks the export contract (nothing is written)
    ExportConflictError : the run was delivered here before with a different table
    ExportError : the directory does not exist or the manifest is unreadable

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> drop = tempfile.mkdtemp()
    >>> table = pd.DataFrame({"clv": [12.5, 3.25]}, index=pd.Index(["007", "012"], name="customer_id"))
    >>> first = to_file(table, drop, "cdnow-2026")
    >>> again = to_file(table, drop, "cdnow-2026")              # the same run again: a no-op that says so
    >>> first.rows, first.already_delivered, again.already_delivered
    (2, False, True)
    >>> open(first.details["path"]).read().splitlines()
    ['customer_id,clv', '007,12.5', '012,3.25']
    """
    run_id = check_run_id(run_id)
    if format not in _FORMATS:
        raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ValueError(f"prefix must be up to 64 characters from A-Z a-z 0-9 _ . + - not starting "
                         f"with '.', got {prefix!r}")
    prepared = prepare_table(table)
    check_run_column(prepared, run_id)
    directory = Path(directory)
    if not directory.is_dir():
        raise ExportError(f"file drop {str(directory)!r} is not an existing directory")

    name = f"{prefix}{run_id}.{_FORMATS[format]}"
    data_path = directory / name
    manifest_path = directory / f"{name}{MANIFEST_SUFFIX}"
    with locked(directory):
        manifest = read_json(manifest_path, "delivery manifest")
        if manifest is not None:
            return _already_delivered(manifest, manifest_path, data_path, prepared, run_id, format)

        remove_stale_temps(data_path)
        remove_stale_temps(manifest_path)
        frame = prepared.to_frame()
        facts: dict[str, object] = {}

        def _hash(tmp: Path) -> None:
            facts["sha256"] = _sha256_file(tmp)
            facts["bytes"] = tmp.stat().st_size

        write_atomic(data_path, lambda tmp: _WRITERS[format](frame, tmp), before_replace=_hash)
        delivered_at = utc_now()
        manifest = {
            "format_version": 1,
            "run_id": run_id,
            "file": name,
            "format": format,
            "rows": prepared.n_rows,
            "columns": prepared.schema,
            "checksum": prepared.checksum,
            "sha256": facts["sha256"],
            "bytes": facts["bytes"],
            "delivered_at": delivered_at,
            "clvmodels_version": __version__,
        }
        write_json(manifest_path, manifest)
    return ExportReceipt(
        run_id=run_id, target="file", destination=str(data_path), rows=prepared.n_rows,
        checksum=prepared.checksum, already_delivered=False, delivered_at=delivered_at,
        details={"path": str(data_path), "manifest": str(manifest_path), "sha256": facts["sha256"],
                 "bytes": facts["bytes"], "format": format})


def _already_delivered(manifest: dict, manifest_path: Path, data_path: Path, prepared: ExportTable,
                       run_id: str, format: str) -> ExportReceipt:
    recorded = manifest.get("checksum")
    if recorded != prepared.checksum:
        raise ExportConflictError(
            f"run {run_id!r} was already delivered to {str(data_path)!r} with a different table "
            f"(manifest {manifest_path.name}: checksum {recorded}, {manifest.get('rows')} rows; this "
            f"table: checksum {prepared.checksum}, {prepared.n_rows} rows). A delivered run must not "
            f"change: export under a new run_id, or remove the manifest if the earlier delivery "
            f"was a mistake.", run_id=run_id, expected=str(recorded), actual=prepared.checksum)
    return ExportReceipt(
        run_id=run_id, target="file", destination=str(data_path), rows=prepared.n_rows,
        checksum=prepared.checksum, already_delivered=True, delivered_at=manifest.get("delivered_at"),
        details={"path": str(data_path), "manifest": str(manifest_path), "sha256": manifest.get("sha256"),
                 "bytes": manifest.get("bytes"), "format": format,
                 # the consumer may have picked the data file up already; the manifest is the record
                 "file_present": data_path.exists()})


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, lineterminator="\n", encoding="utf-8")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, engine="pyarrow", index=True)


_WRITERS = {"csv": _write_csv, "parquet": _write_parquet}


def _sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()
