"""to_http presets (generic, HubSpot, Salesforce Bulk API 2.0) against strict loopback fakes.

Real sockets on 127.0.0.1 (no mock of httpx); each fake checks the vendor's documented request
shapes (see tests/export/crm_fakes.py for the pages) and deduplicates as the real receiver does.
Random faults (seeded) at 20% and 50% of requests mix 500s, 429 + Retry-After, dropped
connections and answers after the client's timeout. Small tables, millisecond backoffs and a
0.2 s client timeout keep the file to seconds. Every fake stops at the end of its test.
"""

from __future__ import annotations

import json
import traceback

import httpx
import numpy as np
import pytest

from clvmodels import export
from clvmodels.export import DeliveryError, ExportError
from clvmodels.export import http as http_mod

from .conftest import make_scores
from .crm_fakes import Faults, GenericFake, HubSpotFake, SalesforceFake

PRESETS = ("generic", "hubspot", "salesforce_bulk")
COLUMNS = list(make_scores(3).columns)
HS_OPTIONS = {"id_property": "clv_customer_id"}
SF_OPTIONS = {"object": "CLV_Score__c", "external_id_field": "Customer_Id__c"}
FAST = {"backoff": 0.001, "max_backoff": 0.005, "max_retries": 4, "timeout": 2.0}
SIZES = {"generic": 50, "hubspot": 500, "salesforce_bulk": 60}   # hubspot's 500 is capped to 100
N_ROWS = 230


class SimulatedCrash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def client():
    """One client shared by most tests: to_http's own client costs ~0.1 s of TLS setup per call.
    Its 0.2 s timeout is what the fakes' "timeout" fault outlasts. Tests that omit it exercise
    to_http's own client (and its ``timeout`` argument)."""
    with httpx.Client(timeout=0.2, follow_redirects=False) as c:
        yield c




def make_fake(preset, fields=None, **kw):
    names = set(fields.values()) if fields else set(COLUMNS)
    if preset == "generic":
        return GenericFake(**kw)
    if preset == "hubspot":
        return HubSpotFake(HS_OPTIONS["id_property"], names, **kw)
    return SalesforceFake(SF_OPTIONS["object"], SF_OPTIONS["external_id_field"], names, **kw)


def url_for(preset, running):
    return {"generic": running.base + GenericFake.path, "hubspot": running.base + HubSpotFake.path,
            "salesforce_bulk": running.base}[preset]


def deliver(preset, table, running, tmp_path, run_id="run-1", fields=None, **kw):
    options = {"generic": None, "hubspot": HS_OPTIONS, "salesforce_bulk": SF_OPTIONS}[preset]
    if fields:
        options = {**options, "fields": fields}
    return export.to_http(table, url_for(preset, running), run_id, preset=preset, preset_options=options,
                          ledger_dir=tmp_path, **{"batch_size": SIZES[preset], **FAST, **kw})


def ledger_of(tmp_path):
    (path,) = tmp_path.glob("http-*.json")
    return json.loads(path.read_text())


def same(value, sent, as_text):
    """Whether ``sent`` (what the receiver keeps) carries the table's ``value`` exactly."""
    if not as_text:
        return type(sent) is type(value.item() if hasattr(value, "item") else value) and sent == value
    if isinstance(value, (bool, np.bool_)):
        return sent == ("true" if value else "false")
    if isinstance(value, (float, np.floating)):
        return float(sent) == float(value) and "e" not in sent.lower()   # exact, positional
    if isinstance(value, (int, np.integer)):
        return sent == str(int(value))
    return sent == str(value)


def assert_exactly_once(preset, fake, table, run_id="run-1", fields=None):
    """Every customer once in what the receiver keeps, with the table's values, and nothing else."""
    assert fake.shape_errors == []
    ids = [str(i) for i in table.index]
    if preset == "generic":
        records = fake.records(run_id)
        kept = {str(r["customer_id"]): {k: v for k, v in r.items() if k != "customer_id"} for r in records}
        assert len(records) == len(kept)                 # no customer twice among the kept batches
        assert [r["customer_id"] for r in records] == table.index.tolist()
    else:
        kept = fake.records
        assert fake.conflicts == []                      # a repeat only ever rewrote the same values
    assert sorted(kept) == sorted(ids)
    columns = fields or {c: c for c in table.columns}
    for column, name in columns.items():
        for cid, value in table[column].items():
            assert same(value, kept[str(cid)][name], preset != "generic"), (cid, column, kept[str(cid)][name])
    if fields:
        assert all(set(v) == set(fields.values()) for v in kept.values())


# --- exactly once under random faults ---------------------------------------------------------

@pytest.mark.parametrize("rate", [0.2, 0.5])
@pytest.mark.parametrize("preset", PRESETS)
def test_random_faults_every_customer_arrives_exactly_once(preset, rate, serve, client, tmp_path):
    fake = make_fake(preset, faults=Faults(rate, seed=int(rate * 100) + PRESETS.index(preset)))
    running = serve(fake)
    table = make_scores(N_ROWS)
    runs, acked_before = [], set()
    for _ in range(40):  # re-run after each failure, as an operator (or the pipeline) would
        before = len(fake.log)
        try:
            r = deliver(preset, table, running, tmp_path, run_id="run-f", max_retries=3, client=client)
        except DeliveryError:
            acked_now = set(ledger_of(tmp_path)["acknowledged"])
            assert acked_before <= acked_now                          # never un-acknowledges
            runs.append(("failed", len(fake.log) - before, len(acked_now - acked_before)))
            acked_before = acked_now
            continue
        assert r.details["requests"] == len(fake.log) - before        # the receipt counts every request
        runs.append(("ok", r.details["requests"], r.details["batches_sent"]))
        break
    else:
        pytest.fail(f"not delivered after 40 runs: {runs}")
    total = r.details["batches_total"]
    assert total == -(-N_ROWS // min(SIZES[preset], 100 if preset == "hubspot" else 10**9))
    # the final run resumed: it sent only what earlier runs had not had acknowledged
    assert r.details["batches_sent"] == total - len(acked_before)
    assert r.details["batches_resumed"] == len(acked_before)
    state = ledger_of(tmp_path)
    assert state["completed_at"] and state["acknowledged"] == list(range(total))
    assert_exactly_once(preset, fake, table, "run-f")
    if preset == "hubspot":
        assert max(fake.batch_sizes) == 100
    n = len(fake.log)
    again = deliver(preset, table, running, tmp_path, run_id="run-f", client=client)
    assert again.already_delivered and len(fake.log) == n
    faults = fake.counts()
    line = (f"{preset:15s} rate={rate:.1f}: {total} batches, {len(fake.log)} requests "
            f"({len(fake.log) / total:.1f}/batch) in {len(runs)} run(s) {[x[:2] for x in runs]}; "
            f"faults {dict(sorted(faults.items()))}")
    print(line)


# --- resume after a failure -------------------------------------------------------------------

def _fail_everything_after(n_ok):
    seen = []

    def override(req):
        seen.append(req)
        return "500" if len(seen) > n_ok else None
    return override


@pytest.mark.parametrize("preset", PRESETS)
def test_a_failed_run_resumes_with_fewer_requests(preset, serve, tmp_path, client):
    fake = make_fake(preset)
    running = serve(fake)
    table = make_scores(N_ROWS)
    per_batch = 3 if preset == "salesforce_bulk" else 1
    # two batches get through; then (Salesforce: once batch 2's job exists) every request fails
    fake.override = _fail_everything_after(2 * per_batch + (1 if preset == "salesforce_bulk" else 0))
    with pytest.raises(DeliveryError, match="batch 2 of") as err:
        deliver(preset, table, running, tmp_path, max_retries=2, client=client)
    assert err.value.batch == 2 and err.value.status_code == 500
    state = ledger_of(tmp_path)
    assert state["acknowledged"] == [0, 1] and state["completed_at"] is None
    if preset == "salesforce_bulk":
        open_job = state["jobs"]["2"][-1]
        assert open_job["state"] == "Open"            # recorded as soon as it existed
    first_run = len(fake.log)

    fake.override = None
    r = deliver(preset, table, running, tmp_path, max_retries=2, client=client)
    resumed = fake.log[first_run:]
    total = r.details["batches_total"]
    assert r.details["batches_sent"] == total - 2 and r.details["batches_resumed"] == 2
    assert len(resumed) == r.details["requests"] < total * per_batch   # fewer than a full delivery
    state = ledger_of(tmp_path)
    assert state["completed_at"] and state["acknowledged"] == list(range(total))
    assert_exactly_once(preset, fake, table)
    if preset == "salesforce_bulk":
        # the open job is aborted first, then batch 2 goes again in a new job
        assert (resumed[0].method, resumed[0].path) == ("PATCH", f"{fake.prefix}/{open_job['id']}")
        assert json.loads(resumed[0].body) == {"state": "Aborted"}
        assert fake.jobs[open_job["id"]]["state"] == "Aborted"
        assert [j["state"] for j in state["jobs"]["2"]] == ["Aborted", "UploadComplete"]
        assert len(resumed) == 1 + 3 * (total - 2)


# --- generic ----------------------------------------------------------------------------------

def test_generic_preset_is_the_default_wire_format(serve, tmp_path):
    fake = make_fake("generic")
    running = serve(fake)
    table = make_scores(120)
    explicit = deliver("generic", table, running, tmp_path, run_id="run-a")
    default = export.to_http(table, url_for("generic", running), "run-b", ledger_dir=tmp_path, batch_size=50,
                             **FAST)
    kept = fake.kept
    assert [k for k in kept if k.startswith("run-a")] == ["run-a:0", "run-a:1", "run-a:2"]
    assert [{**kept[f"run-a:{i}"], "run_id": None} for i in range(3)] == \
           [{**kept[f"run-b:{i}"], "run_id": None} for i in range(3)]
    assert explicit.details["preset"] == default.details["preset"] == "generic"
    assert ledger_of_run(tmp_path, "run-a")["preset_options"] == {}
    assert_exactly_once("generic", fake, table, "run-a")


def ledger_of_run(tmp_path, run_id):
    (path,) = tmp_path.glob(f"http-{run_id}-*.json")
    return json.loads(path.read_text())


def test_generic_takes_no_preset_options(tmp_path):
    with pytest.raises(ValueError, match="does not take preset_options"):
        export.to_http(make_scores(3), "http://127.0.0.1:9/x", "run-1", preset_options={"x": 1}, ledger_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- HubSpot ----------------------------------------------------------------------------------

def test_hubspot_shape_and_batch_cap(serve, tmp_path, client):
    fake = make_fake("hubspot")
    running = serve(fake)
    table = make_scores(N_ROWS, int_ids=True)
    r = deliver("hubspot", table, running, tmp_path, batch_size=1000, client=client)
    assert fake.batch_sizes == [100, 100, 30]              # capped at HubSpot's 100 inputs
    assert r.details["batch_size"] == 100 and ledger_of(tmp_path)["batch_size"] == 100
    first = fake.log[0].json()["inputs"][0]
    assert first["idProperty"] == "clv_customer_id" and first["id"] == str(table.index[0])
    assert all(isinstance(v, str) for v in first["properties"].values())
    assert first["properties"]["vip"] in ("true", "false")
    assert all(q.headers["Content-Type"] == "application/json" for q in fake.log)
    assert_exactly_once("hubspot", fake, table)


def test_hubspot_fields_map_columns_to_properties(serve, tmp_path, client):
    fields = {"clv": "clv_12m", "p_alive": "clv_p_alive", "segment": "clv_segment"}
    fake = make_fake("hubspot", fields=fields)
    running = serve(fake)
    table = make_scores(40)
    deliver("hubspot", table, running, tmp_path, fields=fields, client=client)
    assert_exactly_once("hubspot", fake, table, fields=fields)


def test_hubspot_unknown_property_is_a_hard_error_naming_the_batch(serve, tmp_path, client):
    fake = HubSpotFake("clv_customer_id", set(COLUMNS) - {"segment"})
    running = serve(fake)
    with pytest.raises(DeliveryError, match=r"batch 0 of 1 .*HTTP 400.*Property values were not valid") as err:
        deliver("hubspot", make_scores(20), running, tmp_path, client=client)
    assert err.value.status_code == 400 and len(fake.log) == 1   # not retried


def test_hubspot_multi_status_is_not_an_acknowledgement(serve, tmp_path, client):
    class PartlyRejecting(HubSpotFake):
        def apply(self, req):
            super().apply(req)
            return 207, {"status": "COMPLETE", "numErrors": 1, "errors": [{"message": "bad value"}]}, {}

    running = serve(PartlyRejecting("clv_customer_id", set(COLUMNS)))
    with pytest.raises(DeliveryError, match="207 Multi-Status.*bad value"):
        deliver("hubspot", make_scores(20), running, tmp_path, client=client)
    assert ledger_of(tmp_path)["acknowledged"] == []


def test_hubspot_needs_an_id_property_and_sends_nothing_for_an_empty_table(serve, tmp_path, client):
    fake = make_fake("hubspot")
    running = serve(fake)
    with pytest.raises(ValueError, match="id_property"):
        export.to_http(make_scores(5), url_for("hubspot", running), "run-1", preset="hubspot", ledger_dir=tmp_path)
    r = deliver("hubspot", make_scores(0), running, tmp_path, run_id="run-0", client=client)
    assert fake.log == [] and r.details["batches_total"] == 0 and r.delivered_at is not None
    assert ledger_of(tmp_path)["completed_at"]


# --- Salesforce Bulk API 2.0 ------------------------------------------------------------------

def test_salesforce_three_calls_per_batch_in_order(serve, tmp_path, client):
    fake = make_fake("salesforce_bulk")
    running = serve(fake)
    table = make_scores(130)
    r = deliver("salesforce_bulk", table, running, tmp_path, client=client)
    jobs = list(fake.jobs)
    assert len(jobs) == 3 and r.details["requests"] == 9
    expected = []
    for job in jobs:
        expected += [("POST", fake.prefix, "application/json; charset=UTF-8"),
                     ("PUT", f"{fake.prefix}/{job}/batches", "text/csv"),
                     ("PATCH", f"{fake.prefix}/{job}", "application/json; charset=UTF-8")]
    assert [(q.method, q.path, q.headers["Content-Type"]) for q in fake.log] == expected
    assert [json.loads(q.body) for q in fake.log if q.method == "PATCH"] == [{"state": "UploadComplete"}] * 3
    assert json.loads(fake.log[0].body) == {"object": "CLV_Score__c", "externalIdFieldName": "Customer_Id__c",
                                            "contentType": "CSV", "operation": "upsert", "lineEnding": "LF"}
    csv_text = fake.log[1].body.decode()
    assert csv_text.splitlines()[0] == ",".join(["Customer_Id__c", *COLUMNS]) and csv_text.endswith("\n")
    assert len(csv_text.splitlines()) == 61
    state = ledger_of(tmp_path)
    assert {k: [j["id"] for j in v] for k, v in state["jobs"].items()} == {"0": [jobs[0]], "1": [jobs[1]],
                                                                          "2": [jobs[2]]}
    assert all(v[-1]["state"] == "UploadComplete" for v in state["jobs"].values())
    assert state["preset_options"] == {**SF_OPTIONS, "api_version": "62.0", "fields": None}
    assert_exactly_once("salesforce_bulk", fake, table)


def test_salesforce_fields_and_api_version(serve, tmp_path):
    fields = {"clv": "CLV__c", "p_alive": "P_Alive__c", "vip": "VIP__c", "n_purchases": "Purchases__c",
              "segment": "Segment__c"}
    fake = SalesforceFake("CLV_Score__c", "Customer_Id__c", set(fields.values()), api_version="60.0")
    running = serve(fake)
    table = make_scores(25)
    export.to_http(table, running.base + "/", "run-1", preset="salesforce_bulk",
                   preset_options={**SF_OPTIONS, "api_version": "v60.0", "fields": fields}, ledger_dir=tmp_path,
                   **FAST)
    assert fake.log[0].path == "/services/data/v60.0/jobs/ingest"
    assert_exactly_once("salesforce_bulk", fake, table, fields=fields)


def test_salesforce_crash_after_job_creation_aborts_the_job_on_resume(serve, tmp_path, client):
    fake = make_fake("salesforce_bulk")
    running = serve(fake)
    table = make_scores(100)

    class CrashOnUpload(httpx.HTTPTransport):
        def handle_request(self, request):
            if request.method == "PUT":
                raise SimulatedCrash
            return super().handle_request(request)

    with httpx.Client(transport=CrashOnUpload()) as crashing, pytest.raises(SimulatedCrash):
        deliver("salesforce_bulk", table, running, tmp_path, client=crashing)
    (job,) = fake.jobs
    assert ledger_of(tmp_path)["jobs"] == {"0": [{"id": job, "state": "Open"}]}   # on disk before the upload

    deliver("salesforce_bulk", table, running, tmp_path, client=client)
    assert fake.jobs[job]["state"] == "Aborted"
    assert [c[0] for c in fake.calls] == ["create", "abort", "create", "upload", "close", "create", "upload",
                                          "close"]
    assert set(fake.writes.values()) == {1}                # the aborted job wrote nothing
    assert_exactly_once("salesforce_bulk", fake, table)


def test_salesforce_crash_after_upload_complete_repeats_the_upsert_harmlessly(serve, tmp_path, monkeypatch,
                                                                             client):
    fake = make_fake("salesforce_bulk")
    running = serve(fake)
    table = make_scores(100)
    real_write = http_mod.write_json

    def crash_on_first_ack(path, obj):
        if obj.get("acknowledged") == [0]:
            raise SimulatedCrash
        real_write(path, obj)

    monkeypatch.setattr(http_mod, "write_json", crash_on_first_ack)
    with pytest.raises(SimulatedCrash):
        deliver("salesforce_bulk", table, running, tmp_path, client=client)
    monkeypatch.setattr(http_mod, "write_json", real_write)
    (job,) = fake.jobs
    assert fake.jobs[job]["state"] == "JobComplete" and ledger_of(tmp_path)["jobs"]["0"][-1]["state"] == "Open"

    deliver("salesforce_bulk", table, running, tmp_path, client=client)
    # the abort finds the job closed (a 400 that says so is accepted); batch 0 goes again
    abort = next(q for q in fake.log if q.method == "PATCH" and json.loads(q.body) == {"state": "Aborted"})
    assert abort.status == 400
    assert ledger_of(tmp_path)["jobs"]["0"][0] == {"id": job, "state": "Closed"}
    first_batch = [str(i) for i in table.index[:60]]
    assert {fake.writes[i] for i in first_batch} == {2}   # upserted twice, with the same values
    assert_exactly_once("salesforce_bulk", fake, table)


def test_salesforce_refused_upload_aborts_the_job_and_names_the_step(serve, tmp_path, client):
    fake = SalesforceFake("CLV_Score__c", "Customer_Id__c", set(COLUMNS) - {"vip"})
    running = serve(fake)
    with pytest.raises(DeliveryError, match=r"batch 0 of 1 .*\(upload data of job \w+\): HTTP 400") as err:
        deliver("salesforce_bulk", make_scores(30), running, tmp_path, client=client)
    assert err.value.status_code == 400
    fake.shape_errors.clear()  # the refusal was the point
    (job,) = fake.jobs
    assert fake.jobs[job]["state"] == "Aborted" and ledger_of(tmp_path)["jobs"]["0"] == [{"id": job,
                                                                                          "state": "Aborted"}]


def test_salesforce_options_and_url_are_checked(tmp_path):
    table = make_scores(3)
    for options, match in [({"object": "Contact"}, "external_id_field"),
                           ({**SF_OPTIONS, "api_version": "latest"}, "api_version"),
                           ({**SF_OPTIONS, "object": "Contact; DROP"}, "object"),
                           ({**SF_OPTIONS, "fields": {"clv": "Customer_Id__c"}}, "id field"),
                           ({**SF_OPTIONS, "fields": {"nope": "X__c"}}, "does not have")]:
        with pytest.raises(ValueError, match=match):
            export.to_http(table, "https://org.my.salesforce.com", "run-1", preset="salesforce_bulk",
                           preset_options=options, ledger_dir=tmp_path)
    with pytest.raises(ValueError, match="instance URL"):
        export.to_http(table, "https://org.my.salesforce.com/?x=1", "run-1", preset="salesforce_bulk",
                       preset_options=SF_OPTIONS, ledger_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- one ledger, checked across presets ----------------------------------------------------------

def test_a_run_cannot_switch_preset_or_options_midway(serve, tmp_path, client):
    fake = make_fake("hubspot")
    running = serve(fake)
    table = make_scores(150)
    fake.override = _fail_everything_after(1)
    with pytest.raises(DeliveryError):
        deliver("hubspot", table, running, tmp_path, max_retries=0, client=client)
    ledger = next(tmp_path.glob("http-*.json"))
    fake.override = None
    with pytest.raises(ExportError, match="same preset and options"):
        export.to_http(table, url_for("hubspot", running), "run-1", preset="hubspot", ledger_path=ledger,
                       preset_options={"id_property": "email"}, **FAST)
    with pytest.raises(ExportError, match="same preset and options"):
        export.to_http(table, url_for("hubspot", running), "run-1", ledger_path=ledger, batch_size=100, **FAST)
    assert len(fake.log) == 2   # batch 0, then batch 1 refused once; nothing after


# --- credentials ------------------------------------------------------------------------------

TOKEN = "tok-Zq8sF3kLp0x9-bearer"
API_KEY = "key-7Hh2Wq9sPz/+=\"quoted"   # characters that JSON and URLs escape


@pytest.mark.parametrize("preset", PRESETS)
def test_secrets_from_the_environment_are_sent_and_never_written(preset, serve, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", TOKEN)
    monkeypatch.setenv("MY_KEY", API_KEY)
    fake = make_fake(preset, token=TOKEN)
    running = serve(fake)
    table = make_scores(30)
    creds = {"auth": {"type": "bearer", "token_env": "CRM_TOKEN"},
             "headers": {"X-Api-Key": "${MY_KEY}", "X-Trace": "clv-${MY_KEY}-end"}}
    fake.override = lambda req: "echo401"      # a gateway that echoes the request headers
    with pytest.raises(DeliveryError, match="HTTP 401") as err:
        deliver(preset, table, running, tmp_path, **creds)
    sent = fake.log[0].headers
    assert sent["Authorization"] == f"Bearer {TOKEN}" and sent["X-Api-Key"] == API_KEY
    assert sent["X-Trace"] == f"clv-{API_KEY}-end"
    assert "you_sent" in str(err.value) and "***" in str(err.value)   # the echo is quoted, redacted
    written = [str(err.value), repr(err.value), "".join(traceback.format_exception(err.value))]
    written += [p.read_text() for p in tmp_path.iterdir()]

    fake.override = None
    r = deliver(preset, table, running, tmp_path, **creds)
    assert not r.already_delivered and fake.log[-1].status in (200, 201)
    written += [repr(r), str(r), json.dumps(r.to_dict()), repr(export.resolve_headers(**creds))]
    written += [p.read_text() for p in tmp_path.iterdir()]
    for text in written:
        for secret in (TOKEN, API_KEY, json.dumps(API_KEY)[1:-1], "Zq8sF3kLp0x9", "7Hh2Wq9sPz"):
            assert secret not in text
    assert_exactly_once(preset, fake, table)


def test_a_missing_variable_fails_before_anything_is_sent_or_written(serve, tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    monkeypatch.setenv("MY_KEY", API_KEY)
    fake = make_fake("generic")
    running = serve(fake)
    with pytest.raises(ExportError, match="'CRM_TOKEN'") as err:
        deliver("generic", make_scores(5), running, tmp_path, auth={"type": "bearer", "token_env": "CRM_TOKEN"},
                headers={"X-Api-Key": "${MY_KEY}"})
    assert API_KEY not in str(err.value)
    with pytest.raises(ExportError, match=r"'UNSET_CLV_VAR' \(used by header 'X-Other'\)"):
        deliver("generic", make_scores(5), running, tmp_path, headers={"X-Other": "${UNSET_CLV_VAR}"})
    assert fake.log == [] and list(tmp_path.iterdir()) == []


def test_url_credentials_stay_out_of_everything_written(serve, tmp_path):
    fake = make_fake("generic")
    running = serve(fake)
    url = running.base.replace("http://", "http://clvbot:pa55w0rd-x@") + GenericFake.path + "?api_key=qwerty12345"
    fake.override = lambda req: "echo401"
    with pytest.raises(DeliveryError) as err:
        export.to_http(make_scores(5), url, "run-1", ledger_dir=tmp_path, **FAST)
    assert fake.log[0].headers["Authorization"].startswith("Basic ")   # httpx turned user:password into Basic
    fake.override = None
    r = export.to_http(make_scores(5), url, "run-1", ledger_dir=tmp_path, **FAST)
    texts = [str(err.value), repr(r), json.dumps(r.to_dict()), *(p.read_text() for p in tmp_path.iterdir())]
    basic = fake.log[0].headers["Authorization"].split()[1]
    for text in texts:
        assert "pa55w0rd-x" not in text and "qwerty12345" not in text and basic not in text
    assert r.destination == running.base + GenericFake.path

