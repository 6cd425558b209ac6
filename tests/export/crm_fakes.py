"""Loopback fakes of the three receivers to_http speaks to, strict about request shapes, with faults.

Each fake is a real HTTP server on 127.0.0.1 (port 0) in a thread. It checks every request
against the shape the vendor documents (a wrong shape is answered 400 *and* recorded in
``shape_errors``, which the tests assert empty) and keeps what the real receiver would keep:

* :class:`GenericFake`: the first processed body per ``Idempotency-Key`` (dedup on the key);
* :class:`HubSpotFake`: records upserted by ``id`` (a repeat overwrites; a repeat with other
  values is recorded in ``conflicts``);
* :class:`SalesforceFake`: ingest jobs (Open -> UploadComplete -> processed, or Aborted) and the
  records their CSV upserted by external id. One upload per job, as Salesforce.

Shapes checked against the vendors' public docs:

* HubSpot CRM v3 batch upsert, body ``{"inputs": [{"idProperty", "id", "properties"}]}``:
  https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
  (``POST https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert``; the current 2026-03
  page, same body: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/upsert-contacts).
  100 inputs per request, HubSpot's batch limit as stated by HubSpot's community moderators:
  https://community.hubspot.com/t5/APIs-Integrations/Limit-for-contact-batch-API/m-p/1196389
* Salesforce Bulk API 2.0:
  create job (``POST /services/data/vXX.X/jobs/ingest``, JSON with object, externalIdFieldName,
  contentType CSV, operation upsert, lineEnding LF):
  https://developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html ;
  upload job data (``PUT .../jobs/ingest/jobID/batches``, ``text/csv``, answer 201 Created):
  https://developer.salesforce.com/docs/platform/api-asynch/guide/upload-job-data.html ;
  upload complete (``PATCH .../jobs/ingest/jobID``, ``{"state": "UploadComplete"}``):
  https://developer.salesforce.com/docs/platform/api-asynch/guide/close-job.html ;
  abort (``{"state": "Aborted"}``): https://developer.salesforce.com/docs/platform/api-asynch/guide/abort-job.html ;
  the whole upsert flow: https://developer.salesforce.com/docs/platform/api-asynch/guide/walkthrough-upsert.html ;
  job states: https://developer.salesforce.com/docs/platform/api-asynch/guide/bulk-api-2-job-states.md

Faults (:class:`Faults`): each request, before it is processed, draws an action from a seeded
RNG: with probability ``rate`` one of ``500`` (not processed), ``429`` (not processed,
``Retry-After: 1``), ``drop`` (processed, then the connection is closed without an answer) and
``timeout`` (processed, answered only after the client's timeout); else ``ok``. ``override`` (a
callable on the request) can force an action, e.g. ``echo401`` (answer 401 echoing the request
headers, as some gateways do).
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_ACTIONS = ("500", "429", "drop", "timeout")


@dataclass
class Faults:
    rate: float = 0.0
    seed: int = 0
    actions: tuple[str, ...] = FAULT_ACTIONS
    rng: random.Random = field(init=False)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def draw(self) -> str:
        # two draws per request whatever the outcome, so the sequence does not depend on the rate
        hit, pick = self.rng.random(), self.rng.choice(self.actions)
        return pick if hit < self.rate else "ok"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    action: str = "ok"
    status: int | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


class Fake:
    """Common machinery: the request log, faults, the lock; subclasses implement ``apply``."""

    client_timeout = 0.2

    def __init__(self, faults: Faults | None = None, token: str | None = None):
        self.lock = threading.RLock()
        self.log: list[Request] = []
        self.shape_errors: list[str] = []
        self.faults = faults or Faults()
        self.override: Callable[[Request], str | None] | None = None
        self.token = token             # when set, requests must carry "Authorization: Bearer <token>"

    # -- to be implemented --------------------------------------------------------------------
    def apply(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------
    def shape(self, ok: bool, what: str) -> None:
        if not ok:
            self.shape_errors.append(what)
            raise Reply(400, {"message": f"bad request shape: {what}"})

    def counts(self) -> Counter:
        return Counter(r.action for r in self.log)

    def handle(self, req: Request) -> tuple[str, int, bytes, dict[str, str]]:
        with self.lock:
            action = (self.override(req) if self.override else None) or self.faults.draw()
            req.action = action
            self.log.append(req)
            if action == "500":
                status, body, headers = 500, {"message": "internal error"}, {}
            elif action == "429":
                status, body, headers = 429, {"message": "slow down"}, {"Retry-After": "1"}
            elif action == "echo401":
                status, body, headers = 401, {"message": "unauthorized", "you_sent": req.headers}, {}
            elif self.token is not None and req.headers.get("Authorization") != f"Bearer {self.token}":
                status, body, headers = 401, {"message": "missing or wrong bearer token"}, {}
            else:
                try:
                    status, body, headers = self.apply(req)
                except Reply as r:
                    status, body, headers = r.status, r.body, r.headers
            req.status = status
        payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        return action, status, payload, headers


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot hold a server thread forever

    def _serve(self):
        fake: Fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        req = Request(self.command, self.path, dict(self.headers.items()), body)
        action, status, payload, headers = fake.handle(req)
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "timeout":
            time.sleep(fake.client_timeout + 0.15)  # the client has given up by now
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client hung up (timeout action)
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format, *args):  # keep the test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # dropped / timed-out clients are expected here
        pass


class Running:
    """A fake served on 127.0.0.1; ``base`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, fake: Fake):
        self.fake = fake
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = fake
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


# --- generic ------------------------------------------------------------------------------------

class GenericFake(Fake):
    """Deduplicates on Idempotency-Key: keeps the first processed body per key."""

    path = "/api/clv"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.kept: dict[str, dict] = {}
        self.duplicates = 0

    def apply(self, req):
        self.shape(req.method == "POST" and req.path.split("?")[0] == self.path, f"{req.method} {req.path}")
        self.shape(req.headers.get("Content-Type") == "application/json", "Content-Type")
        body = req.json()
        keys = {"run_id", "batch", "total_batches", "total_rows", "batch_rows", "checksum", "records"}
        self.shape(set(body) == keys, f"body keys {sorted(body)}")
        key = req.headers.get("Idempotency-Key")
        self.shape(key == f"{body['run_id']}:{body['batch']}", f"Idempotency-Key {key!r}")
        self.shape(len(body["records"]) == body["batch_rows"], "batch_rows")
        if key in self.kept:
            self.duplicates += 1
            self.shape(self.kept[key] == body, f"a repeat of {key} with another body")
        else:
            self.kept[key] = body
        return 200, {"accepted": True}, {}

    def records(self, run_id: str) -> list[dict]:
        """Every record the receiver keeps for ``run_id`` (one list; a repeat would show twice)."""
        return [r for k, b in sorted(self.kept.items()) if b["run_id"] == run_id for r in b["records"]]


# --- HubSpot ------------------------------------------------------------------------------------

class HubSpotFake(Fake):
    """CRM v3 batch upsert by a unique property: a repeat overwrites with the same values."""

    path = "/crm/v3/objects/contacts/batch/upsert"

    def __init__(self, id_property: str, properties: set[str], **kw):
        super().__init__(**kw)
        self.id_property = id_property
        self.properties = set(properties)   # the portal's properties: others are refused, as HubSpot does
        self.records: dict[str, dict[str, str]] = {}
        self.writes: Counter = Counter()
        self.conflicts: list[str] = []
        self.batch_sizes: list[int] = []

    def apply(self, req):
        self.shape(req.method == "POST" and req.path == self.path, f"{req.method} {req.path}")
        self.shape(req.headers.get("Content-Type") == "application/json", "Content-Type")
        self.shape("Idempotency-Key" not in req.headers, "unexpected Idempotency-Key")
        body = req.json()
        self.shape(isinstance(body, dict) and set(body) == {"inputs"}, "body must be {'inputs': [...]}")
        inputs = body["inputs"]
        self.shape(isinstance(inputs, list) and 1 <= len(inputs) <= 100, f"{len(inputs)} inputs (1..100)")
        for item in inputs:
            self.shape(set(item) == {"idProperty", "id", "properties"}, f"input keys {sorted(item)}")
            self.shape(item["idProperty"] == self.id_property, f"idProperty {item['idProperty']!r}")
            self.shape(isinstance(item["id"], str) and item["id"] != "", f"id {item['id']!r} must be text")
            props = item["properties"]
            self.shape(isinstance(props, dict) and all(isinstance(v, str) for v in props.values()),
                       "property values must be text")
            unknown = set(props) - self.properties
            if unknown:
                raise Reply(400, {"status": "error", "category": "VALIDATION_ERROR",
                                  "message": f"Property values were not valid: {sorted(unknown)}"})
        ids = [i["id"] for i in inputs]
        self.shape(len(set(ids)) == len(ids), "duplicate ids in one batch")
        self.batch_sizes.append(len(inputs))
        for item in inputs:
            old = self.records.get(item["id"])
            if old is not None and old != item["properties"]:
                self.conflicts.append(item["id"])
            self.records[item["id"]] = dict(item["properties"])
            self.writes[item["id"]] += 1
        return 200, {"status": "COMPLETE", "results": [{"id": str(n), "properties": i["properties"]}
                                                       for n, i in enumerate(inputs)]}, {}


# --- Salesforce Bulk API 2.0 --------------------------------------------------------------------

class SalesforceFake(Fake):
    """Bulk API 2.0 ingest: jobs upsert their CSV by external id when closed; aborted jobs never do."""

    def __init__(self, sobject: str, external_id_field: str, fields: set[str], api_version: str = "62.0", **kw):
        super().__init__(**kw)
        self.sobject, self.external_id_field, self.fields = sobject, external_id_field, set(fields)
        self.prefix = f"/services/data/v{api_version}/jobs/ingest"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, str]] = {}
        self.writes: Counter = Counter()
        self.conflicts: list[str] = []
        self.calls: list[tuple[str, str]] = []     # (step, job id) of every processed call, in order
        self._next = 0

    def apply(self, req):
        path = req.path
        if req.method == "POST" and path == self.prefix:
            return self._create(req)
        m = re.fullmatch(re.escape(self.prefix) + r"/([A-Za-z0-9]+)/batches", path)
        if m and req.method == "PUT":
            return self._upload(req, m.group(1))
        m = re.fullmatch(re.escape(self.prefix) + r"/([A-Za-z0-9]+)/?", path)
        if m and req.method == "PATCH":
            return self._patch(req, m.group(1))
        self.shape(False, f"{req.method} {path}")
        return None  # unreachable

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise Reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        return job

    def _create(self, req):
        self.shape(req.headers.get("Content-Type", "").startswith("application/json"), "create: Content-Type")
        body = req.json()
        want = {"object": self.sobject, "externalIdFieldName": self.external_id_field, "contentType": "CSV",
                "operation": "upsert", "lineEnding": "LF"}
        self.shape(body == want, f"create job body {body!r}")
        self._next += 1
        job_id = f"7505f{self._next:010d}"
        self.jobs[job_id] = {"state": "Open", "csv": None}
        self.calls.append(("create", job_id))
        return 200, {"id": job_id, "operation": "upsert", "object": self.sobject, "state": "Open",
                     "externalIdFieldName": self.external_id_field, "contentType": "CSV", "lineEnding": "LF",
                     "apiVersion": 62.0, "contentUrl": f"{self.prefix.lstrip('/')}/{job_id}/batches"}, {}

    def _upload(self, req, job_id):
        self.shape(req.headers.get("Content-Type") == "text/csv", "upload: Content-Type must be text/csv")
        job = self._job(job_id)
        if job["state"] != "Open":
            raise Reply(400, [{"errorCode": "INVALIDJOBSTATE", "message": f"Job state {job['state']} takes no data"}])
        if job["csv"] is not None:
            raise Reply(400, [{"errorCode": "INVALIDJOBSTATE",
                               "message": f"Found multiple contents for job: <{job_id}>, please 'Close' / "
                                          f"'Abort' / 'Delete' the current Job then create a new Job"}])
        text = req.body.decode("utf-8")
        self.shape("\r\n" not in text, "lineEnding LF: no CRLF line ends")
        rows = list(csv.reader(io.StringIO(text)))
        self.shape(len(rows) >= 2, "CSV with a header and at least one row")
        header = rows[0]
        self.shape(header[0] == self.external_id_field, f"first column {header[0]!r} is not the external id")
        self.shape(set(header[1:]) <= self.fields and len(set(header)) == len(header), f"CSV header {header}")
        self.shape(all(len(r) == len(header) for r in rows[1:]), "ragged CSV")
        job["csv"] = rows
        self.calls.append(("upload", job_id))
        return 201, None, {}

    def _patch(self, req, job_id):
        self.shape(req.headers.get("Content-Type", "").startswith("application/json"), "patch: Content-Type")
        body = req.json()
        self.shape(body in ({"state": "UploadComplete"}, {"state": "Aborted"}), f"patch body {body!r}")
        job = self._job(job_id)
        if job["state"] != "Open":
            raise Reply(400, [{"errorCode": "INVALIDJOBSTATE",
                               "message": f"Job is already closed (state {job['state']})"}])
        if body["state"] == "Aborted":
            job["state"], job["csv"] = "Aborted", None   # uploaded data of an aborted job is deleted
            self.calls.append(("abort", job_id))
            return 200, {"id": job_id, "state": "Aborted"}, {}
        if job["csv"] is None:
            raise Reply(400, [{"errorCode": "INVALIDJOBSTATE", "message": "No data uploaded for this job"}])
        job["state"] = "JobComplete"   # processed at once: upsert every row by external id
        header, *rows = job["csv"]
        ids = [r[0] for r in rows]
        self.shape(len(set(ids)) == len(ids), "duplicate external ids in one job")
        for row in rows:
            values = dict(zip(header[1:], row[1:], strict=True))
            old = self.records.get(row[0])
            if old is not None and old != values:
                self.conflicts.append(row[0])
            self.records[row[0]] = values
            self.writes[row[0]] += 1
        self.calls.append(("close", job_id))
        return 200, {"id": job_id, "state": "UploadComplete"}, {}
