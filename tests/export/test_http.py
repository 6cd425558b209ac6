"""HTTP target against a real local server (127.0.0.1, port 0) that records requests and fails on cue.

Only loopback traffic; every retry loop is bounded by max_retries; the server stops at the end of
each test (fixture teardown).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from clvmodels import export
from clvmodels.export import DeliveryError, ExportConflictError, ExportError

from .conftest import make_scores

FAST = dict(backoff=0.01, max_backoff=0.05, max_retries=4, timeout=5.0)


class Receiver:
    """What the server saw, and what it should do next: ``plan[batch]`` lists actions per attempt.

    Actions: "ok" (200), "500", "503", "429" (with Retry-After: 0), "400", "drop" (close the
    connection without answering, after reading the request), "slow" (answer 200 after 0.5 s).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []   # every request: key, headers, body, action
        self.plan: dict[int, list[str]] = {}
        self.always: dict[int, str] = {}

    def next_action(self, batch: int) -> str:
        with self.lock:
            if batch in self.always:
                return self.always[batch]
            queue = self.plan.get(batch)
            return queue.pop(0) if queue else "ok"

    def record(self, item: dict) -> None:
        with self.lock:
            self.requests.append(item)

    def keys(self) -> list[str]:
        return [r["key"] for r in self.requests]

    def accepted(self) -> dict[str, dict]:
        """What a deduplicating receiver keeps: the first acknowledged body per Idempotency-Key."""
        out: dict[str, dict] = {}
        for r in self.requests:
            if r["action"] in ("ok", "drop", "slow"):  # processed (a dropped answer still processed it)
                out.setdefault(r["key"], r["body"])
        return out


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot hold a server thread forever

    def do_POST(self):  # noqa: N802 - http.server's naming
        receiver: Receiver = self.server.receiver
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        action = receiver.next_action(body["batch"])
        receiver.record({"key": self.headers.get("Idempotency-Key"), "headers": dict(self.headers),
                         "body": body, "action": action})
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "slow":
            time.sleep(0.5)
            action = "ok"
        status = {"ok": 200, "500": 500, "503": 503, "429": 429, "400": 400}[action]
        payload = json.dumps({"accepted": status == 200, "reason": "bad batch" if status == 400 else ""}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # keep the test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # dropped / timed-out clients are expected here
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # loopback only, never via a proxy
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.receiver = Receiver()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/api/clv?token=secret"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


class SimulatedCrash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


def _ledger(path):
    return json.loads(path.read_text())


def test_batches_bodies_and_keys(server, scores, tmp_path):
    r = export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100,
                       headers={"Authorization": "Bearer t0ken"}, **FAST)
    rec = server.receiver
    assert rec.keys() == ["run-1:0", "run-1:1", "run-1:2"]
    bodies = [q["body"] for q in rec.requests]
    assert [b["batch"] for b in bodies] == [0, 1, 2]
    assert all(b["total_batches"] == 3 and b["run_id"] == "run-1" and b["total_rows"] == 250 for b in bodies)
    assert [len(b["records"]) for b in bodies] == [100, 100, 50] == [b["batch_rows"] for b in bodies]
    records = [x for b in bodies for x in b["records"]]
    assert [x["customer_id"] for x in records] == scores.index.tolist()
    assert [x["clv"] for x in records] == scores["clv"].tolist()  # JSON floats round-trip exactly
    assert records[0]["segment"] == str(scores["segment"].iloc[0]) and isinstance(records[0]["vip"], bool)
    assert all(q["headers"]["Authorization"] == "Bearer t0ken" for q in rec.requests)
    assert all(q["headers"]["Content-Type"] == "application/json" for q in rec.requests)
    assert r.rows == 250 and r.details["batches_sent"] == 3 and r.details["requests"] == 3
    assert not r.already_delivered and r.delivered_at is not None
    # the token in the query string and the header stay out of the receipt and the ledger
    ledger_text = (tmp_path / r.details["ledger"].rsplit("/", 1)[1]).read_text()
    assert "secret" not in r.destination and "secret" not in ledger_text and "t0ken" not in ledger_text
    state = json.loads(ledger_text)
    assert state["acknowledged"] == [0, 1, 2] and state["completed_at"] and state["checksum"] == r.checksum


def test_server_error_on_first_try_of_batch_2_is_retried(server, scores, tmp_path):
    server.receiver.plan = {2: ["500"], 1: ["429"]}
    r = export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=50, **FAST)
    assert server.receiver.keys() == ["run-1:0", "run-1:1", "run-1:1", "run-1:2", "run-1:2",
                                      "run-1:3", "run-1:4"]
    assert r.details["requests"] == 7 and r.details["batches_sent"] == 5


def test_dropped_connection_is_retried_and_the_receiver_dedupes(server, scores, tmp_path):
    server.receiver.plan = {1: ["drop"]}
    export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    keys = server.receiver.keys()
    assert keys == ["run-1:0", "run-1:1", "run-1:1", "run-1:2"]
    # the ambiguous case: batch 1 was processed, its answer lost, and it came again with the same key
    # and the same records, so deduplicating on Idempotency-Key keeps exactly one copy
    repeats = [q["body"] for q in server.receiver.requests if q["key"] == "run-1:1"]
    assert repeats[0] == repeats[1]
    assert sorted(server.receiver.accepted()) == ["run-1:0", "run-1:1", "run-1:2"]


def test_read_timeout_is_retried(server, scores, tmp_path):
    server.receiver.plan = {0: ["slow"]}
    r = export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=250,
                       **{**FAST, "timeout": 0.2})
    assert server.receiver.keys() == ["run-1:0", "run-1:0"] and r.details["requests"] == 2


def test_client_error_raises_naming_the_batch_and_resume_sends_the_rest(server, scores, tmp_path):
    server.receiver.always = {2: "400"}
    with pytest.raises(DeliveryError, match=r"batch 2 of 3 \(rows 200\.\.249\)") as err:
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    assert err.value.batch == 2 and err.value.status_code == 400 and "bad batch" in str(err.value)
    assert server.receiver.keys() == ["run-1:0", "run-1:1", "run-1:2"]  # a 400 is not retried
    (ledger,) = tmp_path.glob("http-run-1-*.json")
    assert _ledger(ledger)["acknowledged"] == [0, 1] and _ledger(ledger)["completed_at"] is None

    server.receiver.always = {}
    r = export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    assert server.receiver.keys()[3:] == ["run-1:2"]  # only the missing batch
    assert r.details["batches_sent"] == 1 and r.details["batches_resumed"] == 2 and not r.already_delivered


def test_resume_after_a_crash_sends_only_missing_batches(server, scores, tmp_path):
    class CrashBefore(httpx.HTTPTransport):
        def handle_request(self, request):
            if request.headers["Idempotency-Key"] == "run-1:3":
                raise SimulatedCrash
            return super().handle_request(request)

    with httpx.Client(transport=CrashBefore()) as client, pytest.raises(SimulatedCrash):
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=40, client=client, **FAST)
    assert server.receiver.keys() == ["run-1:0", "run-1:1", "run-1:2"]

    r = export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=40, **FAST)
    assert server.receiver.keys()[3:] == ["run-1:3", "run-1:4", "run-1:5", "run-1:6"]
    assert len(set(server.receiver.keys())) == len(server.receiver.keys())  # nothing sent twice
    assert r.details["batches_sent"] == 4 and r.details["batches_total"] == 7


def test_crash_between_acknowledgement_and_ledger_resends_one_batch_with_its_key(server, scores, tmp_path,
                                                                                  monkeypatch):
    from clvmodels.export import http as http_mod

    real_write = http_mod.write_json
    writes = []

    def crash_on_third_write(path, obj):
        writes.append(obj)
        if len(writes) == 3:  # 1: ledger created, 2: batch 0 acknowledged, 3: batch 1 acknowledged
            raise SimulatedCrash
        real_write(path, obj)

    monkeypatch.setattr(http_mod, "write_json", crash_on_third_write)
    with pytest.raises(SimulatedCrash):
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    monkeypatch.setattr(http_mod, "write_json", real_write)
    export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    assert server.receiver.keys() == ["run-1:0", "run-1:1", "run-1:1", "run-1:2"]
    assert sorted(server.receiver.accepted()) == ["run-1:0", "run-1:1", "run-1:2"]


def test_redelivery_is_a_noop_without_requests(server, scores, tmp_path):
    first = export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, **FAST)
    n = len(server.receiver.requests)
    again = export.to_http(scores.copy(), server.url, "run-1", ledger_dir=tmp_path, **FAST)
    assert again.already_delivered and again.delivered_at == first.delivered_at
    assert len(server.receiver.requests) == n


def test_changed_table_after_partial_delivery_is_a_conflict(server, scores, tmp_path):
    server.receiver.always = {1: "400"}
    with pytest.raises(DeliveryError):
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    changed = scores.copy()
    changed.loc["c1", "clv"] = 0.0
    n = len(server.receiver.requests)
    with pytest.raises(ExportConflictError, match="partly delivered"):
        export.to_http(changed, server.url, "run-1", ledger_dir=tmp_path, batch_size=100, **FAST)
    assert len(server.receiver.requests) == n


def test_retries_are_bounded(server, scores, tmp_path):
    server.receiver.always = {0: "503"}
    with pytest.raises(DeliveryError, match="not acknowledged after 3 attempts") as err:
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, **{**FAST, "max_retries": 2})
    assert err.value.batch == 0 and err.value.status_code == 503
    assert server.receiver.keys() == ["run-1:0"] * 3


def test_retry_time_is_bounded(server, scores, tmp_path):
    server.receiver.always = {0: "503"}
    began = time.monotonic()
    with pytest.raises(DeliveryError):
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, max_retries=50, backoff=0.2,
                       max_backoff=0.2, max_elapsed=0.5, timeout=5.0)
    # the backoff (0.2 s) would overrun the 0.5 s budget on the third wait: at most 3 requests
    assert 1 < len(server.receiver.requests) <= 3
    assert time.monotonic() - began < 5.0  # a safety bound, not a speed claim


def test_connection_refused_is_retried_then_reported(scores, tmp_path):
    with socket.socket() as s:  # a free loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeliveryError, match="ConnectError") as err:
        export.to_http(scores, f"http://127.0.0.1:{port}/x", "run-1", ledger_dir=tmp_path,
                       **{**FAST, "max_retries": 1})
    assert err.value.status_code is None and err.value.batch == 0


def test_ledger_location_and_batch_size_are_checked(server, scores, tmp_path):
    with pytest.raises(ExportError, match="ledger_dir"):
        export.to_http(scores, server.url, "run-1", **FAST)
    with pytest.raises(ExportError, match="does not exist"):
        export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path / "nope", **FAST)
    ledger = tmp_path / "custom-ledger.json"
    server.receiver.always = {1: "400"}
    with pytest.raises(DeliveryError):
        export.to_http(scores, server.url, "run-1", ledger_path=ledger, batch_size=100, **FAST)
    with pytest.raises(ExportError, match="batch_size=100"):
        export.to_http(scores, server.url, "run-1", ledger_path=ledger, batch_size=50, **FAST)
    with pytest.raises(ExportError, match="belongs to run"):
        export.to_http(scores, server.url, "run-2", ledger_path=ledger, batch_size=100, **FAST)


def test_bad_urls_are_refused(scores, tmp_path):
    for url in ("ftp://example.invalid/x", "not a url", "/relative/path"):
        with pytest.raises(ValueError):
            export.to_http(scores, url, "run-1", ledger_dir=tmp_path)


def test_empty_table_is_one_empty_batch(server, tmp_path):
    export.to_http(make_scores(0), server.url, "run-0", ledger_dir=tmp_path, **FAST)
    (req,) = server.receiver.requests
    assert req["body"]["records"] == [] and req["body"]["total_batches"] == 1


def test_one_run_to_two_endpoints_keeps_two_ledgers(server, scores, tmp_path):
    export.to_http(scores, server.url, "run-1", ledger_dir=tmp_path, **FAST)
    other = server.url.replace("/api/clv", "/api/other")
    r = export.to_http(scores, other, "run-1", ledger_dir=tmp_path, **FAST)
    assert not r.already_delivered and len(list(tmp_path.glob("http-run-1-*.json"))) == 2
