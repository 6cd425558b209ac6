"""Deliver the table to an HTTP endpoint in JSON batches, exactly once per run (httpx).

Each batch is one ``POST`` to ``url`` with headers ``Content-Type: application/json`` and
``Idempotency-Key: <run_id>:<batch>`` and the body::

    {"run_id": "...", "batch": 0, "total_batches": 3, "total_rows": 2500, "batch_rows": 1000,
     "checksum": "<sha256 of the whole table>", "records": [{"customer_id": ..., "clv": ...}, ...]}

Batches go in order, one at a time. Any 2xx answer acknowledges a batch. Connection errors,
timeouts, 408, 429 and 5xx are retried with exponential backoff (``backoff * 2**k`` seconds, at
most ``max_backoff``, longer if a ``Retry-After`` header asks, within the same cap), at most
``max_retries`` times and within ``max_elapsed`` seconds per batch; then :class:`DeliveryError`.
Any other answer (3xx: redirects are not followed; 4xx other than 408/429) is a hard
:class:`DeliveryError` naming the batch, its status and the start of the receiver's answer.

**Ledger.** A local JSON file (``ledger_path``, or ``<ledger_dir>/http-<run_id>-<url hash>.json``;
keep it next to the run) records the table's checksum, the batch size and every acknowledged batch.
It is written atomically after each acknowledgement. A re-run with the same ``run_id``:

* resumes after a crash or a failure, sending only batches not yet acknowledged, with the same
  batch boundaries (the batch size of the ledger must be kept);
* is a no-op once every batch was acknowledged (``already_delivered=True``);
* raises :class:`ExportConflictError` if the table changed (even for a partial delivery: the
  receiver already holds batches of the old table).

**What the receiver must do.** Deduplicate on ``Idempotency-Key``: store the keys it has accepted
(for as long as a run may be retried) and answer 2xx without applying a batch whose key it has
seen. Two cases make a repeat unavoidable for any sender: the request arrived but the answer was
lost (timeout, dropped connection) and is retried; or the process died after the receiver
acknowledged a batch but before the ledger recorded it, and the re-run sends it again. In both the
repeat carries the same key and the same records. A run is complete for the receiver when it has
accepted batches ``0 .. total_batches-1`` of that ``run_id``; an empty table is sent as one batch
with no records, so the receiver still learns that the run happened.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from .. import __version__
from .errors import DeliveryError, ExportConflictError, ExportError
from .ledger import locked, read_json, remove_stale_temps, write_json
from .receipt import ExportReceipt, utc_now
from .table import ExportTable, check_run_id, prepare_table

__all__ = ["to_http", "RETRY_STATUS"]

RETRY_STATUS = frozenset({408, 429, *range(500, 600)})
_ANSWER_EXCERPT = 300


def to_http(table: pd.DataFrame | ExportTable, url: str, run_id: str, *,
            ledger_dir: str | Path | None = None, ledger_path: str | Path | None = None,
            batch_size: int = 1000, headers: dict[str, str] | None = None, timeout: float = 30.0,
            max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
            max_elapsed: float = 300.0, client: httpx.Client | None = None) -> ExportReceipt:
    """POST ``table`` to ``url`` in JSON batches under ``run_id``, resumable and exactly once.

    Parameters
    ----------
    table : DataFrame indexed by ``customer_id`` (or a prepared :class:`ExportTable`)
    url : ``http://`` or ``https://`` endpoint
    run_id : identifies the run; part of every Idempotency-Key
    ledger_dir : an existing directory for the ledger file (e.g. the run folder), or
    ledger_path : the ledger file itself; one of the two is required
    batch_size : records per request (fixed for the life of a run's ledger)
    headers : extra headers (e.g. ``Authorization``); never written to the ledger or receipt
    timeout : seconds for connecting / reading / writing each request
    max_retries, backoff, max_backoff, max_elapsed : retry policy per batch (see module docstring)
    client : an ``httpx.Client`` to use (not closed afterwards), e.g. with TLS or proxy settings

    Raises
    ------
    DataValidationError : the table breaks the export contract (nothing is sent)
    ExportConflictError : the ledger records this run with a different table
    DeliveryError : a batch was refused or never acknowledged (``.batch`` names it); batches
        acknowledged before it stay in the ledger and a re-run resumes after them
    ExportError : bad ledger location, a ledger from another endpoint or batch size
    """
    run_id = check_run_id(run_id)
    endpoint = _check_url(url)
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_retries < 0 or backoff < 0 or max_backoff < 0 or max_elapsed <= 0 or timeout <= 0:
        raise ValueError("max_retries, backoff and max_backoff must be >= 0; max_elapsed and timeout > 0")
    prepared = prepare_table(table)
    path = _ledger_location(ledger_dir, ledger_path, run_id, url)
    total = max(1, math.ceil(prepared.n_rows / batch_size))
    url_hash = hashlib.sha256(url.encode()).hexdigest()

    with locked(path.parent):
        state = read_json(path, "HTTP export ledger")
        if state is None:
            remove_stale_temps(path)
            state = {
                "format_version": 1, "run_id": run_id, "endpoint": endpoint, "endpoint_sha256": url_hash,
                "checksum": prepared.checksum, "rows": prepared.n_rows, "batch_size": batch_size,
                "total_batches": total, "acknowledged": [], "started_at": utc_now(),
                "completed_at": None, "clvmodels_version": __version__,
            }
            write_json(path, state)  # the checksum is on disk before the first byte is sent
        else:
            _check_resumable(state, path, run_id, url_hash, prepared, batch_size)

        def receipt(already: bool, sent: int, attempts: int) -> ExportReceipt:
            return ExportReceipt(
                run_id=run_id, target="http", destination=endpoint, rows=prepared.n_rows,
                checksum=prepared.checksum, already_delivered=already, delivered_at=state["completed_at"],
                details={"ledger": str(path), "batch_size": batch_size, "batches_total": total,
                         "batches_sent": sent, "batches_resumed": total - sent if not already else 0,
                         "requests": attempts})

        if state.get("completed_at"):
            return receipt(True, 0, 0)

        acked = {int(b) for b in state.get("acknowledged", [])}
        own_client = client is None
        http = httpx.Client(timeout=timeout, follow_redirects=False) if own_client else client
        sent = requests = 0
        try:
            for batch in range(total):
                if batch in acked:
                    continue
                start, stop = batch * batch_size, min((batch + 1) * batch_size, prepared.n_rows)
                body = json.dumps({
                    "run_id": run_id, "batch": batch, "total_batches": total,
                    "total_rows": prepared.n_rows, "batch_rows": stop - start,
                    "checksum": prepared.checksum, "records": prepared.records(start, stop),
                }, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                send_headers = {**(headers or {}), "Content-Type": "application/json",
                                "Idempotency-Key": f"{run_id}:{batch}"}
                requests += _send(http, url, body, send_headers, batch, total, (start, stop), run_id,
                                  max_retries, backoff, max_backoff, max_elapsed)
                sent += 1
                acked.add(batch)
                state["acknowledged"] = sorted(acked)
                if len(acked) == total:
                    state["completed_at"] = utc_now()
                write_json(path, state)
        finally:
            if own_client:
                http.close()
        return receipt(False, sent, requests)


def _send(http: httpx.Client, url: str, body: bytes, headers: dict[str, str], batch: int, total: int,
          rows: tuple[int, int], run_id: str, max_retries: int, backoff: float, max_backoff: float,
          max_elapsed: float) -> int:
    """POST one batch until acknowledged; return the number of requests it took."""
    what = f"batch {batch} of {total} (rows {rows[0]}..{rows[1] - 1}) of run {run_id!r}"
    began = time.monotonic()
    last, status = "no attempt", None
    for attempt in range(max_retries + 1):
        retry_after = None
        try:
            response = http.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:  # connect / read / write errors, timeouts, dropped connections
            last, status = f"{type(exc).__name__}: {exc}", None
        else:
            status = response.status_code
            if 200 <= status < 300:
                return attempt + 1
            excerpt = " ".join(response.text[:_ANSWER_EXCERPT].split())
            if status not in RETRY_STATUS:
                raise DeliveryError(
                    f"the receiver refused {what}: HTTP {status} {response.reason_phrase}: {excerpt!r}. "
                    f"Batches before it are acknowledged in the ledger; fix the cause and re-run to "
                    f"resume.", batch=batch, status_code=status)
            last = f"HTTP {status} {response.reason_phrase}: {excerpt!r}"
            retry_after = _retry_after(response)
        if attempt == max_retries:
            break
        delay = min(max_backoff, backoff * 2.0 ** attempt)
        if retry_after is not None:
            delay = min(max_backoff, max(delay, retry_after))
        if time.monotonic() - began + delay > max_elapsed:
            break
        time.sleep(delay)
    raise DeliveryError(
        f"{what} was not acknowledged after {attempt + 1} attempts in "
        f"{time.monotonic() - began:.1f} s (last: {last}). Batches before it are acknowledged in "
        f"the ledger; re-run to resume.", batch=batch, status_code=status)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date: not worth parsing, the backoff applies
        return None


def _check_url(url: str) -> str:
    """Validate ``url``; return it without credentials and query (safe to write down)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("url must be an absolute http:// or https:// URL")
    port = f":{parsed.port}" if parsed.port else ""
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def _ledger_location(ledger_dir: str | Path | None, ledger_path: str | Path | None, run_id: str,
                     url: str) -> Path:
    if ledger_path is not None:
        path = Path(ledger_path)
    elif ledger_dir is not None:
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        path = Path(ledger_dir) / f"http-{run_id}-{digest}.json"
    else:
        raise ExportError("to_http needs ledger_dir (e.g. the run folder) or ledger_path: the ledger "
                          "of acknowledged batches is what makes re-runs resume instead of re-send")
    if not path.parent.is_dir():
        raise ExportError(f"ledger directory {str(path.parent)!r} does not exist")
    return path


def _check_resumable(state: dict[str, Any], path: Path, run_id: str, url_hash: str, prepared: ExportTable,
                     batch_size: int) -> None:
    if state.get("run_id") != run_id or state.get("endpoint_sha256") != url_hash:
        raise ExportError(
            f"ledger {path} belongs to run {state.get('run_id')!r} at {state.get('endpoint')!r}, not to "
            f"run {run_id!r} at this URL; give each run and endpoint its own ledger")
    if state.get("checksum") != prepared.checksum:
        delivered = "was delivered" if state.get("completed_at") else "was partly delivered"
        raise ExportConflictError(
            f"run {run_id!r} {delivered} to {state.get('endpoint')!r} with a different table (ledger "
            f"{path.name}: checksum {state.get('checksum')}, {state.get('rows')} rows; this table: "
            f"checksum {prepared.checksum}, {prepared.n_rows} rows). A delivered run must not change: "
            f"export under a new run_id.",
            run_id=run_id, expected=str(state.get("checksum")), actual=prepared.checksum)
    if state.get("batch_size") != batch_size:
        raise ExportError(
            f"ledger {path.name} was written with batch_size={state.get('batch_size')}; resume run "
            f"{run_id!r} with the same batch_size (the receiver dedupes on run_id:batch, so batch "
            f"boundaries must not move)")
