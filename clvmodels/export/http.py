"""Deliver the table to an HTTP endpoint or a CRM API in batches, exactly once per run (httpx).

``to_http(table, url, run_id, preset=...)`` cuts the table into batches of ``batch_size`` rows and
sends them in order, one at a time. The **preset** decides what a batch looks like on the wire
(request builders and options: :mod:`clvmodels.export.presets`); everything else -- the ledger,
resume, retries, conflict detection, credentials -- is the same for all of them:

* ``generic`` (default): one ``POST`` per batch to ``url``, headers ``Content-Type:
  application/json`` and ``Idempotency-Key: <run_id>:<batch>``, body::

    {"run_id": "...", "batch": 0, "total_batches": 3, "total_rows": 2500, "batch_rows": 1000,
     "checksum": "<sha256 of the whole table>", "records": [{"customer_id": ..., "clv": ...}, ...]}

  Any 2xx answer acknowledges a batch.
* ``hubspot``: one HubSpot CRM v3 batch upsert ``POST`` per batch of at most 100 rows (larger
  ``batch_size`` values are capped to 100, HubSpot's limit). 200/201 acknowledge the batch; a
  207 Multi-Status (some inputs rejected) is a hard :class:`DeliveryError` quoting HubSpot's errors.
* ``salesforce_bulk``: one Salesforce Bulk API 2.0 upsert job per batch (below).

**Retries.** Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
(``backoff * 2**k`` seconds, at most ``max_backoff``, longer if a ``Retry-After`` header asks,
within the same cap), at most ``max_retries`` failed requests and ``max_elapsed`` seconds per
batch; then :class:`DeliveryError`. Any other answer (3xx: redirects are not followed; 4xx other
than 408/429) is a hard :class:`DeliveryError` naming the batch, its status and the start of the
receiver's answer (secrets removed, see below).

**Ledger.** A local JSON file (``ledger_path``, or ``<ledger_dir>/http-<run_id>-<hash>.json``, the
hash of the URL -- and, for the CRM presets, of the preset and its options; keep it next to the
run) records the table's checksum, the preset and its options, the batch size and every
acknowledged batch (for Salesforce also every job id). It is written atomically after each step.
A re-run with the same ``run_id``:

* resumes after a crash or a failure, sending only batches not yet acknowledged, with the same
  batch boundaries (keep the batch size, preset and options of the ledger);
* is a no-op once every batch was acknowledged (``already_delivered=True``);
* raises :class:`ExportConflictError` if the table changed (even for a partial delivery: the
  receiver already holds batches of the old table), :class:`ExportError` if the preset, its
  options or the batch size changed.

**Salesforce Bulk API 2.0.** Batch ``k`` becomes one ingest job, in three calls under
``{url}/services/data/v{api_version}/jobs/ingest``:

1. ``POST`` with :func:`~clvmodels.export.presets.salesforce_job` (JSON) creates the job; its id
   goes into the ledger at once (``jobs[k]``, state ``Open``);
2. ``PUT {jobId}/batches`` uploads the batch as CSV (``Content-Type: text/csv``; external id field
   first, holding ``customer_id``);
3. ``PATCH {jobId}`` with ``{"state": "UploadComplete"}`` hands the job to Salesforce; the ledger
   then marks the job ``UploadComplete`` and the batch acknowledged, in one write.

Salesforce accepts one upload per job and a lost answer leaves a job's state unknown, so a failed
upload or close is never re-sent to the same job: the job is aborted (``PATCH {"state":
"Aborted"}``; a 404 or a 400/409 saying the job is already closed is accepted) and the batch
starts over with a new job. A re-run does the same with any job the ledger still shows ``Open``
(the process died between creating and closing it). This can upload a batch twice -- e.g. the
close arrived but its answer was lost, so the abort finds the job already closed -- and that is
harmless: an upsert keyed by the external id writes the same values to the same records again. A
lost answer to the *create* call can leave an empty job behind, which holds no data and is never
processed. Acknowledged means Salesforce accepted the job for processing; records it then rejects
(e.g. a value a field does not take) are listed in each job's failed results, and the job ids
are in the ledger for that.

**Credentials.** ``auth={"type": "bearer", "token_env": "CRM_TOKEN"}`` and ``${VAR}`` templates
in ``headers`` are read from the environment when the call starts
(:func:`clvmodels.export.auth.resolve_headers`); a missing variable is an :class:`ExportError`
naming it before anything is sent or written. Secret values -- from the environment, credential-
like literal headers, the URL's ``user:password@`` and query values -- never reach the ledger, the
receipt, an exception message or a repr: the URL is written without credentials and query, and
receiver answers and transport errors are passed through :func:`~clvmodels.export.auth.redact`.

**What the receiver must do (generic).** Deduplicate on ``Idempotency-Key``: store the keys it
has accepted (for as long as a run may be retried) and answer 2xx without applying a batch whose
key it has seen. Two cases make a repeat unavoidable for any sender: the request arrived but the
answer was lost (timeout, dropped connection) and is retried; or the process died after the
receiver acknowledged a batch but before the ledger recorded it, and the re-run sends it again. In
both the repeat carries the same key and the same records. A run is complete for the receiver
when it has accepted batches ``0 .. total_batches-1`` of that ``run_id``; an empty table is sent as
one batch with no records, so the receiver still learns that the run happened. HubSpot and
Salesforce need nothing: both upsert by id, so a repeat rewrites the same values. They have no
notion of a run, so an empty table sends nothing to them (the ledger still completes).

Examples
--------
What a HubSpot delivery would send, without sending it:

>>> import pandas as pd
>>> from clvmodels.export.presets import hubspot_body
>>> scores = pd.DataFrame({"clv": [120.5]}, index=pd.Index([7], name="customer_id"))
>>> hubspot_body(scores, "clv_customer_id")["inputs"][0]
{'idProperty': 'clv_customer_id', 'id': '7', 'properties': {'clv': '120.5'}}
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from .. import __version__
from .auth import ResolvedHeaders, redact, resolve_headers, safe_url, url_secrets
from .errors import DeliveryError, ExportConflictError, ExportError
from .ledger import locked, read_json, remove_stale_temps, write_json
from .presets import (
    DEFAULT_BATCH_SIZE,
    HUBSPOT_MAX_BATCH,
    check_preset,
    generic_batch_body,
    hubspot_body,
    salesforce_csv,
    salesforce_job,
)
from .receipt import ExportReceipt, utc_now
from .table import ExportTable, check_run_column, check_run_id, prepare_table

__all__ = ["RETRY_STATUS", "to_http", "HttpTarget", "BatchSender"]

RETRY_STATUS = frozenset({408, 429, *range(500, 600)})
_ANSWER_EXCERPT = 300
_JOB_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_ALREADY_CLOSED = ("invalidjobstate", "already", "closed", "uploadcomplete", "jobcomplete", "aborted")


def to_http(table: pd.DataFrame | ExportTable, url: str, run_id: str, *, preset: str = "generic",
            preset_options: Mapping[str, Any] | None = None, ledger_dir: str | Path | None = None,
            ledger_path: str | Path | None = None, batch_size: int | None = None,
            headers: Mapping[str, str] | None = None, auth: Mapping[str, Any] | None = None,
            timeout: float = 30.0, max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
            max_elapsed: float = 300.0, client: httpx.Client | None = None) -> ExportReceipt:
    """Send ``table`` to ``url`` in batches under ``run_id``, resumable and exactly once.

    Parameters
    ----------
    table : DataFrame indexed by ``customer_id`` (or a prepared :class:`ExportTable`)
    url : ``http://`` or ``https://`` URL: the endpoint (generic), the batch upsert endpoint
        (hubspot, e.g. ``https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert``) or the
        instance URL (salesforce_bulk, e.g. ``https://yourorg.my.salesforce.com``)
    run_id : identifies the run; part of every Idempotency-Key (generic) and of the ledger
    preset : ``"generic"``, ``"hubspot"`` or ``"salesforce_bulk"`` (module docstring)
    preset_options : options of the preset (:mod:`clvmodels.export.presets`): hubspot
        ``id_property`` (required), ``fields``; salesforce_bulk ``object``, ``external_id_field``
        (required), ``api_version`` (default ``"62.0"``), ``fields``; generic takes none
    ledger_dir : an existing directory for the ledger file (e.g. the run folder), or
    ledger_path : the ledger file itself; one of the two is required
    batch_size : rows per request (generic, hubspot) or per Bulk API job (salesforce_bulk); None
        for the preset's default (1000, 100, 10000); hubspot caps it at 100. Fixed for the life
        of a run's ledger
    headers : extra headers; values may use ``${VAR}`` templates read from the environment.
        Never written to the ledger or receipt
    auth : ``{"type": "bearer", "token_env": "VAR"}`` sends ``Authorization: Bearer <$VAR>``
    timeout : seconds for connecting / reading / writing each request
    max_retries, backoff, max_backoff, max_elapsed : retry policy per batch (module docstring)
    client : an ``httpx.Client`` to use (not closed afterwards), e.g. with TLS or proxy settings

    Returns
    -------
    ExportReceipt
        ``target="http"``; ``details`` holds the ledger path, the preset, batch counts and the
        number of HTTP requests made

    Raises
    ------
    DataValidationError : the table breaks the export contract (nothing is sent)
    ExportConflictError : the ledger records this run with a different table
    DeliveryError : a batch was refused or never acknowledged (``.batch`` names it); batches
        acknowledged before it stay in the ledger and a re-run resumes after them
    ExportError : a missing environment variable, a bad ledger location, a ledger of another
        endpoint, preset, options or batch size
    ValueError : a bad URL, preset, option or retry setting

    Examples
    --------
    Bad settings fail before anything is sent or written:

    >>> import pandas as pd
    >>> scores = pd.DataFrame({"clv": [120.5]}, index=pd.Index(["c1"], name="customer_id"))
    >>> to_http(scores, "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert", "run-1",
    ...         preset="hubspot", ledger_dir=".")
    Traceback (most recent call last):
    ...
    ValueError: preset 'hubspot' needs preset_options ['id_property'] (see clvmodels.export.presets)
    >>> to_http(scores, "https://crm.example.com/scores", "run-1", ledger_dir=".",
    ...         auth={"type": "bearer", "token_env": "CLV_UNSET_TOKEN_VAR"})
    Traceback (most recent call last):
    ...
    clvmodels.export.errors.ExportError: environment variable 'CLV_UNSET_TOKEN_VAR' (used by header 'Authorization') is not set; ...
    """
    run_id = check_run_id(run_id)
    target = HttpTarget.check(url, preset=preset, preset_options=preset_options, batch_size=batch_size,
                              headers=headers, auth=auth, timeout=timeout, max_retries=max_retries, backoff=backoff,
                              max_backoff=max_backoff, max_elapsed=max_elapsed)
    prepared = prepare_table(table)
    check_run_column(prepared, run_id)
    target.check_fields(prepared.names)
    path = target.ledger_location(ledger_dir, ledger_path, run_id)
    batch_size = target.batch_size
    total = target.total_batches(prepared.n_rows)

    with locked(path.parent):
        state = read_json(path, "HTTP export ledger")
        if state is None:
            remove_stale_temps(path)
            state = target.new_ledger(run_id, prepared.checksum, prepared.n_rows, total)
            write_json(path, state)  # the checksum is on disk before the first byte is sent
        else:
            target.check_ledger(state, path, run_id, prepared.checksum, prepared.n_rows)

        def receipt(already: bool, sent: int, attempts: int) -> ExportReceipt:
            return ExportReceipt(
                run_id=run_id, target="http", destination=target.endpoint, rows=prepared.n_rows,
                checksum=prepared.checksum, already_delivered=already, delivered_at=state["completed_at"],
                details={"ledger": str(path), "preset": preset, "batch_size": batch_size,
                         "batches_total": total, "batches_sent": sent,
                         "batches_resumed": total - sent if not already else 0, "requests": attempts})

        if state.get("completed_at"):
            return receipt(True, 0, 0)

        acked = {int(b) for b in state.get("acknowledged", [])}
        sender = target.sender(client, state=state, ledger=path)
        sent = 0
        try:
            for batch in range(total):
                if batch in acked:
                    continue
                start, stop = batch * batch_size, min((batch + 1) * batch_size, prepared.n_rows)
                sender.send(prepared, batch, f"batch {batch} of {total} (rows {start}..{stop - 1}) of run {run_id!r}",
                            run_id=run_id, total_batches=total, start=start, stop=stop)
                sent += 1
                acked.add(batch)
                state["acknowledged"] = sorted(acked)
                if len(acked) == total:
                    state["completed_at"] = utc_now()
                write_json(path, state)
            if len(acked) == total and not state.get("completed_at"):  # an empty table to a CRM
                state["completed_at"] = utc_now()
                write_json(path, state)
        finally:
            sender.close()
        return receipt(False, sent, sender.requests)


@dataclass(frozen=True)
class HttpTarget:
    """A checked HTTP delivery target: endpoint, preset and options, batch size, resolved headers and retry
    policy. What :func:`to_http` and :func:`clvmodels.spark.to_http` share: the checks of their arguments,
    the ledger's location and content, and :class:`BatchSender`.

    Build it with :meth:`check`, which raises what :func:`to_http` documents for bad settings (a missing
    environment variable included) before anything is sent or written.

    Examples
    --------
    >>> t = HttpTarget.check("https://crm.example.com/scores?key=abc", batch_size=500)
    >>> t.endpoint, t.batch_size, t.total_batches(1001), t.total_batches(0)
    ('https://crm.example.com/scores', 500, 3, 1)
    >>> HttpTarget.check("https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert", preset="hubspot",
    ...                  preset_options={"id_property": "clv_id"}, batch_size=5000).batch_size   # HubSpot's cap
    100
    """

    url: str
    endpoint: str
    preset: str
    options: dict[str, Any]
    batch_size: int
    headers: ResolvedHeaders
    secrets: frozenset[str]
    policy: _Policy
    timeout: float
    jobs_url: str | None

    @classmethod
    def check(cls, url: str, *, preset: str = "generic", preset_options: Mapping[str, Any] | None = None,
              batch_size: int | None = None, headers: Mapping[str, str] | None = None,
              auth: Mapping[str, Any] | None = None, timeout: float = 30.0, max_retries: int = 5,
              backoff: float = 0.5, max_backoff: float = 30.0, max_elapsed: float = 300.0) -> HttpTarget:
        endpoint = safe_url(url)
        options = check_preset(preset, preset_options)
        size = _batch_size(preset, batch_size)
        if max_retries < 0 or backoff < 0 or max_backoff < 0 or max_elapsed <= 0 or timeout <= 0:
            raise ValueError("max_retries, backoff and max_backoff must be >= 0; max_elapsed and timeout > 0")
        jobs_url = _salesforce_jobs_url(url, options["api_version"]) if preset == "salesforce_bulk" else None
        resolved = resolve_headers(headers, auth)  # a missing variable fails here: nothing sent or written
        return cls(url, endpoint, preset, options, size, resolved, resolved.secrets | url_secrets(url),
                   _Policy(int(max_retries), float(backoff), float(max_backoff), float(max_elapsed)), float(timeout),
                   jobs_url)

    def check_fields(self, names) -> None:
        """A ValueError when the preset option ``fields`` names a column the table does not have."""
        if self.options.get("fields"):
            unknown = [c for c in self.options["fields"] if c not in list(names)]
            if unknown:
                raise ValueError(f"preset option fields names columns the table does not have: {unknown} "
                                 f"(columns: {list(names)})")

    def total_batches(self, n_rows: int) -> int:
        """Batches of a table of ``n_rows`` rows: a generic receiver hears of an empty run (one batch without
        records); a CRM has no notion of a run (no batch)."""
        total = -(-int(n_rows) // self.batch_size)
        return max(1, total) if self.preset == "generic" else total

    @property
    def url_sha256(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()

    def ledger_location(self, ledger_dir: str | Path | None, ledger_path: str | Path | None, run_id: str) -> Path:
        """The ledger file of ``run_id`` at this target (``ledger_path``, or a name in ``ledger_dir``)."""
        return _ledger_location(ledger_dir, ledger_path, run_id, _ledger_key(self.url, self.preset, self.options))

    def new_ledger(self, run_id: str, checksum: str, rows: int, total: int, **extra: Any) -> dict[str, Any]:
        """The ledger of a delivery that starts now (nothing acknowledged)."""
        state = {"format_version": 1, "run_id": run_id, "endpoint": self.endpoint, "endpoint_sha256": self.url_sha256,
                 "preset": self.preset, "preset_options": self.options, "checksum": checksum, "rows": int(rows),
                 "batch_size": self.batch_size, "total_batches": int(total), "acknowledged": [],
                 "started_at": utc_now(), "completed_at": None, "clvmodels_version": __version__, **extra}
        if self.preset == "salesforce_bulk":
            state["jobs"] = {}
        return state

    def check_ledger(self, state: dict[str, Any], path: Path, run_id: str, checksum: str, rows: int) -> None:
        """Raise unless the delivery the ledger records can be resumed (or found complete) by this call."""
        _check_resumable(state, path, run_id, self.url_sha256, checksum, rows, self.batch_size, self.preset,
                         self.options)

    def sender(self, client: httpx.Client | None = None, *, state: dict[str, Any] | None = None,
               ledger: Path | None = None) -> BatchSender:
        """A :class:`BatchSender` to this target (its own client unless ``client`` is given)."""
        return BatchSender(self, client, state=state, ledger=ledger)


class BatchSender:
    """Delivers batches to an :class:`HttpTarget` one at a time, with :func:`to_http`'s retries, redaction and
    Salesforce job handling. The caller keeps account of what was acknowledged: :func:`to_http` in its ledger
    (given here, the Salesforce job ids are saved to it as they are made), :func:`clvmodels.spark.to_http` on the
    driver from what its executors' senders (without a ledger) report.

    Examples
    --------
    >>> sender = HttpTarget.check("http://127.0.0.1:9/scores", max_retries=0, timeout=1).sender()
    >>> table = prepare_table(pd.DataFrame({"clv": [1.5]}, index=pd.Index(["007"], name="customer_id")))
    >>> try:                                  # port 9 (discard) is closed here: the batch is not acknowledged
    ...     sender.send(table, 0, "batch 0 of run 'r1'", run_id="r1", total_batches=1)
    ... except DeliveryError as exc:
    ...     print(exc.batch, str(exc)[:48])
    0 batch 0 of run 'r1' was not acknowledged after 1
    >>> sender.requests
    1
    >>> sender.close()
    """

    def __init__(self, target: HttpTarget, client: httpx.Client | None = None, *,
                 state: dict[str, Any] | None = None, ledger: Path | None = None):
        self.target = target
        self._own = client is None
        http = httpx.Client(timeout=target.timeout, follow_redirects=False) if client is None else client
        self._sender = _Sender(http, target.headers, target.secrets, target.policy,
                               {} if state is None else state, ledger)
        #: HTTP requests made so far
        self.requests = 0

    def send(self, table: ExportTable, batch: int, what: str, *, run_id: str, total_batches: int,
             start: int = 0, stop: int | None = None, total_rows: int | None = None,
             checksum: str | None = None) -> None:
        """Deliver rows ``start:stop`` of ``table`` as batch ``batch`` (of ``total_batches``, the run's); ``what``
        names it in errors. ``total_rows`` and ``checksum`` are the run's (default: ``table``'s), as the generic
        body tells them. Returns once the receiver acknowledged the batch; :class:`DeliveryError` otherwise."""
        t, stop = self.target, table.n_rows if stop is None else stop
        budget = _Budget(self._sender, what, batch)
        try:
            if t.preset == "generic":
                body = _json(generic_batch_body(run_id, batch, total_batches,
                                                table.n_rows if total_rows is None else int(total_rows),
                                                table.checksum if checksum is None else checksum,
                                                table.records(start, stop)))
                self._sender.until_ok("POST", t.url, body, {"Content-Type": "application/json",
                                                            "Idempotency-Key": f"{run_id}:{batch}"}, budget)
            elif t.preset == "hubspot":
                body = _json(hubspot_body(table, t.options["id_property"], start, stop, t.options["fields"]))
                self._sender.until_ok("POST", t.url, body, {"Content-Type": "application/json",
                                                            "Accept": "application/json"}, budget,
                                      accept=_hubspot_accept)
            else:
                csv = salesforce_csv(table, t.options["external_id_field"], start, stop,
                                     t.options["fields"]).encode("utf-8")
                _salesforce_batch(self._sender, t.jobs_url, t.options, csv, batch, budget)
        finally:
            self.requests += budget.requests

    def close(self) -> None:
        if self._own:
            self._sender.http.close()


@dataclass(frozen=True)
class _Policy:
    max_retries: int
    backoff: float
    max_backoff: float
    max_elapsed: float


class _Sender:
    """Sends requests with the resolved headers and turns answers into redacted outcomes."""

    def __init__(self, http: httpx.Client, headers: ResolvedHeaders, secrets: frozenset[str], policy: _Policy,
                 state: dict[str, Any], path: Path | None):
        self.http = http
        self.headers = headers
        self.secrets = secrets
        self.policy = policy
        self.state = state
        self.path = path
        longest = max((len(s) for s in secrets), default=0)
        self.window = _ANSWER_EXCERPT + 3 * longest + 16   # enough to redact a secret cut by the excerpt

    def save(self) -> None:
        if self.path is not None:      # a sender without a ledger (a Spark executor's) keeps the state in memory
            write_json(self.path, self.state)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def headers_with(self, own: Mapping[str, str]) -> dict[str, str]:
        """The user's headers plus the preset's own ones (which win, whatever the case of the name)."""
        lowered = {k.lower() for k in own}
        return {**{k: v for k, v in self.headers.items() if k.lower() not in lowered}, **own}

    def request(self, method: str, url: str, content: bytes, own: Mapping[str, str],
                budget: _Budget) -> httpx.Response | None:
        """One request. None after a transport failure, already charged to ``budget`` (which raises
        :class:`DeliveryError` once it is spent)."""
        budget.requests += 1
        try:
            return self.http.request(method, url, content=content, headers=self.headers_with(own))
        except httpx.TransportError as exc:  # connect / read / write errors, timeouts, dropped connections
            failure = f"{type(exc).__name__}: {exc}"
        budget.failure(failure, None, None)  # raised outside the except block: no chained httpx error
        return None

    def excerpt(self, response: httpx.Response) -> str:
        text = self.redact(response.text[:self.window])
        return " ".join(text.split())[:_ANSWER_EXCERPT]

    def describe(self, response: httpx.Response) -> str:
        return f"HTTP {response.status_code} {response.reason_phrase}: {self.excerpt(response)!r}"

    def retry_or_refuse(self, response: httpx.Response, budget: _Budget, step: str) -> None:
        """Charge a retryable answer to ``budget``; raise a hard :class:`DeliveryError` for any other."""
        if response.status_code in RETRY_STATUS:
            budget.failure(self.describe(response), response.status_code, _retry_after(response))
            return
        raise budget.refused(response, step)

    def until_ok(self, method: str, url: str, content: bytes, own: Mapping[str, str], budget: _Budget,
                 step: str = "", accept: Callable[[httpx.Response], str | None] | None = None) -> httpx.Response:
        """Send until a 2xx answer (retrying what may be retried); return it."""
        while True:
            response = self.request(method, url, content, own, budget)
            if response is None:
                continue
            if 200 <= response.status_code < 300:
                problem = accept(response) if accept is not None else None
                if problem:
                    raise budget.refused(response, step, problem)
                return response
            self.retry_or_refuse(response, budget, step)


class _Budget:
    """The retry budget of one batch: at most ``max_retries`` failed requests within ``max_elapsed`` s."""

    def __init__(self, sender: _Sender, what: str, batch: int):
        self.sender = sender
        self.policy = sender.policy
        self.what = what
        self.batch = batch
        self.began = time.monotonic()
        self.requests = 0
        self.failures = 0

    def failure(self, last: str, status: int | None, retry_after: float | None) -> None:
        """Record a retryable failure, then wait the backoff; raise :class:`DeliveryError` once spent."""
        p = self.policy
        if self.failures >= p.max_retries:
            raise self._exhausted(last, status)
        delay = min(p.max_backoff, p.backoff * 2.0 ** self.failures)
        if retry_after is not None:
            delay = min(p.max_backoff, max(delay, retry_after))
        if time.monotonic() - self.began + delay > p.max_elapsed:
            raise self._exhausted(last, status)
        self.failures += 1
        time.sleep(delay)

    def _exhausted(self, last: str, status: int | None) -> DeliveryError:
        return DeliveryError(self.sender.redact(
            f"{self.what} was not acknowledged after {self.requests} attempts in "
            f"{time.monotonic() - self.began:.1f} s (last: {last}). Batches before it are acknowledged in "
            f"the ledger; re-run to resume."), batch=self.batch, status_code=status)

    def refused(self, response: httpx.Response, step: str = "", problem: str | None = None) -> DeliveryError:
        reason = problem or f"HTTP {response.status_code} {response.reason_phrase}"
        return DeliveryError(self.sender.redact(
            f"the receiver refused {self.what}{step}: {reason}: {self.sender.excerpt(response)!r}. "
            f"Batches before it are acknowledged in the ledger; fix the cause and re-run to resume."),
            batch=self.batch, status_code=response.status_code)


def _hubspot_accept(response: httpx.Response) -> str | None:
    if response.status_code == 207:
        return ("HTTP 207 Multi-Status: HubSpot rejected some inputs of the batch (the others were "
                "written; a re-run rewrites them with the same values)")
    return None


# --- Salesforce Bulk API 2.0 -------------------------------------------------------------------

def _salesforce_jobs_url(url: str, api_version: str) -> str:
    parsed = httpx.URL(url)
    if parsed.query or parsed.fragment:
        raise ValueError("for salesforce_bulk, url is the instance URL (https://yourorg.my.salesforce.com), "
                         "without query or fragment")
    return f"{url.rstrip('/')}/services/data/v{api_version}/jobs/ingest"


def _salesforce_batch(sender: _Sender, jobs_url: str, options: dict[str, Any], csv: bytes, batch: int,
                      budget: _Budget) -> None:
    """Deliver one batch as one Bulk API 2.0 upsert job (module docstring: create, upload, close)."""
    history: list[dict[str, str]] = sender.state.setdefault("jobs", {}).setdefault(str(batch), [])
    json_headers = {"Content-Type": "application/json; charset=UTF-8", "Accept": "application/json"}
    create = _json(salesforce_job(options["object"], options["external_id_field"]))
    while True:
        if history and history[-1]["state"] == "Open":   # left open by a failed attempt or a crash
            history[-1]["state"] = _abort(sender, jobs_url, history[-1]["id"], json_headers, budget)
            sender.save()
        response = sender.until_ok("POST", jobs_url, create, json_headers, budget, " (create job)")
        job_id = _job_id(response, budget)
        history.append({"id": job_id, "state": "Open"})
        sender.save()  # the job exists: a crash from here on leaves its id for the re-run to abort
        response = sender.request("PUT", f"{jobs_url}/{job_id}/batches", csv,
                                  {"Content-Type": "text/csv", "Accept": "application/json"}, budget)
        if response is None:
            continue
        if not 200 <= response.status_code < 300:
            _retry_or_refuse_job(sender, response, budget, f" (upload data of job {job_id})", jobs_url,
                                 history, json_headers)
            continue
        response = sender.request("PATCH", f"{jobs_url}/{job_id}", _json({"state": "UploadComplete"}),
                                  json_headers, budget)
        if response is None:
            continue
        if not 200 <= response.status_code < 300:
            _retry_or_refuse_job(sender, response, budget, f" (close job {job_id})", jobs_url, history,
                                 json_headers)
            continue
        history[-1]["state"] = "UploadComplete"  # saved with the acknowledgement, in one write
        return


def _retry_or_refuse_job(sender: _Sender, response: httpx.Response, budget: _Budget, step: str, jobs_url: str,
                         history: list[dict[str, str]], json_headers: dict[str, str]) -> None:
    if response.status_code in RETRY_STATUS:
        sender.retry_or_refuse(response, budget, step)   # charged; the loop aborts the job and starts over
        return
    error = budget.refused(response, step)
    try:  # a refused job is never processed; abort it now (once) rather than leave it open
        history[-1]["state"] = _abort(sender, jobs_url, history[-1]["id"], json_headers, budget, once=True)
        sender.save()
    except DeliveryError:
        pass                                             # the re-run aborts it
    raise error


def _abort(sender: _Sender, jobs_url: str, job_id: str, json_headers: dict[str, str], budget: _Budget,
           once: bool = False) -> str:
    """Abort job ``job_id``; return the state to record: ``Aborted`` (now, or already), ``Closed`` when
    Salesforce says the job was already closed (its data is processed: the new upload repeats the same
    upserts) or ``Gone`` when it no longer exists."""
    step = f" (abort job {job_id} left open by an earlier attempt)"
    while True:
        response = sender.request("PATCH", f"{jobs_url}/{job_id}", _json({"state": "Aborted"}), json_headers,
                                  budget)
        if response is None:
            if once:
                raise DeliveryError(f"abort of job {job_id} not confirmed", batch=budget.batch)
            continue
        status = response.status_code
        if 200 <= status < 300:
            return "Aborted"
        if status == 404:
            return "Gone"
        answer = response.text.lower()
        if status in (400, 409) and any(k in answer for k in _ALREADY_CLOSED):
            return "Aborted" if "aborted" in answer else "Closed"
        if once:
            raise budget.refused(response, step)
        sender.retry_or_refuse(response, budget, step)


def _job_id(response: httpx.Response, budget: _Budget) -> str:
    try:
        job_id = response.json().get("id")
    except (ValueError, AttributeError):
        job_id = None
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise budget.refused(response, " (create job)", "the answer holds no job id")
    return job_id


# --- shared helpers ---------------------------------------------------------------------------

def _json(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _batch_size(preset: str, batch_size: int | None) -> int:
    if batch_size is None:
        return DEFAULT_BATCH_SIZE[preset]
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if preset == "hubspot":
        batch_size = min(batch_size, HUBSPOT_MAX_BATCH)
    return batch_size


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date: not worth parsing, the backoff applies
        return None


def _ledger_key(url: str, preset: str, options: dict[str, Any]) -> str:
    if preset == "generic":   # as before presets existed: existing ledgers keep their names
        return url
    return "\n".join([url, preset, json.dumps(options, sort_keys=True)])


def _ledger_location(ledger_dir: str | Path | None, ledger_path: str | Path | None, run_id: str,
                     key: str) -> Path:
    if ledger_path is not None:
        path = Path(ledger_path)
    elif ledger_dir is not None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        path = Path(ledger_dir) / f"http-{run_id}-{digest}.json"
    else:
        raise ExportError("to_http needs ledger_dir (e.g. the run folder) or ledger_path: the ledger "
                          "of acknowledged batches is what makes re-runs resume instead of re-send")
    if not path.parent.is_dir():
        raise ExportError(f"ledger directory {str(path.parent)!r} does not exist")
    return path


def _check_resumable(state: dict[str, Any], path: Path, run_id: str, url_hash: str, checksum: str, rows: int,
                     batch_size: int, preset: str, options: dict[str, Any]) -> None:
    if state.get("run_id") != run_id or state.get("endpoint_sha256") != url_hash:
        raise ExportError(
            f"ledger {path} belongs to run {state.get('run_id')!r} at {state.get('endpoint')!r}, not to "
            f"run {run_id!r} at this URL; give each run and endpoint its own ledger")
    was_preset, was_options = state.get("preset", "generic"), state.get("preset_options", {})
    if was_preset != preset or was_options != options:
        raise ExportError(
            f"ledger {path.name} records run {run_id!r} with preset {was_preset!r} and options "
            f"{was_options!r}; resume it with the same preset and options (this call: {preset!r}, "
            f"{options!r}), or export under a new run_id")
    if state.get("checksum") != checksum:
        delivered = "was delivered" if state.get("completed_at") else "was partly delivered"
        raise ExportConflictError(
            f"run {run_id!r} {delivered} to {state.get('endpoint')!r} with a different table (ledger "
            f"{path.name}: checksum {state.get('checksum')}, {state.get('rows')} rows; this table: "
            f"checksum {checksum}, {rows} rows). A delivered run must not change: "
            f"export under a new run_id.",
            run_id=run_id, expected=str(state.get("checksum")), actual=checksum)
    if state.get("batch_size") != batch_size:
        raise ExportError(
            f"ledger {path.name} was written with batch_size={state.get('batch_size')}; resume run "
            f"{run_id!r} with the same batch_size (the receiver dedupes on run_id:batch, so batch "
            f"boundaries must not move)")
