"""clvmodels.spark.to_http: the executors send the scores to an HTTP receiver or HubSpot, exactly once per run, against
the strict loopback fakes of the pandas sink's tests (real sockets on 127.0.0.1, seeded faults: 500s, 429s, dropped
connections, answers after the client's timeout) and a batch the receiver refuses.

Every customer must be kept once by the receiver with the table's values, the ledger (on the driver) must end complete,
a second call must be a no-op, and a failure must name its batch and leave a ledger that the next call resumes from."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
import clvmodels.spark as cs
from clvmodels.errors import DataValidationError
from clvmodels.export import DeliveryError, ExportConflictError
from tests.export.crm_fakes import Faults, GenericFake, HubSpotFake

FAST = {"backoff": 0.001, "max_backoff": 0.005, "max_retries": 4, "timeout": 0.2}   # the fakes' "timeout" outlasts 0.2 s
SETTINGS = dict(horizon=6, period="M", discount_rate=0.1, margin=0.3, interval=None)
TOKEN = "s3cr3t-token-value"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLV_TEST_CRM_TOKEN", TOKEN)


@pytest.fixture(scope="module")
def scores(spark):
    """600 CDNOW customers (ids as zero-padded text) scored by Spark, cached; and the same table in pandas."""
    summary = clv.datasets.cdnow_summary()
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    part = summary.iloc[:600].copy()
    part.index = pd.Index([f"{i:06d}" for i in part.index], name="customer_id")
    sdf = spark.createDataFrame(part.reset_index()).repartition(3)
    fc = cs.forecast_clv(sdf, bg, gg, **SETTINGS, time_unit="W").cache()
    local = fc.toPandas().set_index("customer_id").sort_index()
    assert len(local) == 600
    return fc, local




def _ledger(tmp_path):
    (path,) = tmp_path.glob("http-*.json")
    return json.loads(path.read_text())


def _deliver(fc, running, tmp_path, run_id="spark-run", **kw):
    url = running.base + GenericFake.path + "?token=" + TOKEN
    return cs.to_http(fc, url, run_id, ledger_dir=tmp_path, batch_size=40,
                      auth={"type": "bearer", "token_env": "CLV_TEST_CRM_TOKEN"}, **{**FAST, **kw})


def _assert_kept_once(fake, local, run_id="spark-run", batch_size=40):
    """The generic receiver kept every customer once, with the table's values, in batches of at most batch_size."""
    assert fake.shape_errors == []
    bodies = [b for b in fake.kept.values() if b["run_id"] == run_id]
    records = [r for b in bodies for r in b["records"]]
    kept = {r["customer_id"]: r for r in records}
    assert len(kept) == len(records) == len(local)                        # nobody twice, nobody missing
    assert sorted(kept) == local.index.tolist()                           # text ids keep their zeros
    assert {b["batch"] for b in bodies} == set(range(bodies[0]["total_batches"]))
    assert all(0 < b["batch_rows"] <= batch_size and b["total_rows"] == len(local) for b in bodies)
    assert len({b["checksum"] for b in bodies}) == 1
    for column in ("clv", "p_alive", "expected_purchases"):
        sent = np.array([kept[c][column] for c in local.index])
        assert np.array_equal(sent, local[column].to_numpy()), column     # JSON carries the doubles exactly


def test_every_customer_arrives_once_through_faults_and_a_refused_batch(spark, scores, serve, tmp_path):
    fc, local = scores
    fake = GenericFake(faults=Faults(0.2, seed=11), token=TOKEN)
    refused = []

    def refuse_batch_3_once(req):             # a hard refusal (401) of batch 3's first arrival: the task fails
        if req.method == "POST" and not refused and req.json().get("batch") == 3:
            refused.append(req)
            return "echo401"
        return None

    fake.override = refuse_batch_3_once
    running = serve(fake)
    calls = []
    for _ in range(4):                        # Spark retries the task; without task retries, the next call resumes
        try:
            receipt = _deliver(fc, running, tmp_path)
        except DeliveryError as exc:
            calls.append(str(exc))
            continue
        break
    else:
        pytest.fail(f"not delivered after 4 calls: {calls}")
    if spark.sparkContext.master.replace(" ", "").endswith(",3]"):
        assert calls == []                    # local[2,3]: the failed task was retried by Spark within one call
    assert refused, "the refusal was never triggered"
    _assert_kept_once(fake, local)
    state = _ledger(tmp_path)
    total = receipt.details["batches_total"]
    assert state["completed_at"] and state["acknowledged"] == list(range(total))
    assert receipt.rows == 600 and state["checksum"] == receipt.checksum
    assert state["batching"] == "spark-hash-buckets" and state["buckets"] == receipt.details["buckets"]
    assert TOKEN not in json.dumps(state) and TOKEN not in json.dumps(receipt.details)
    assert {r.headers.get("Authorization") for r in fake.log} == {f"Bearer {TOKEN}"}
    n = len(fake.log)
    again = _deliver(fc, running, tmp_path)
    assert again.already_delivered and len(fake.log) == n                 # no request for a delivered run
    with pytest.raises(ExportConflictError):
        _deliver(fc.where("customer_id != '000001'"), running, tmp_path)
    assert len(fake.log) == n


def test_a_batch_refused_every_time_is_named_and_a_later_call_resumes(spark, scores, serve, tmp_path):
    fc, local = scores
    fake = GenericFake(token=TOKEN)
    fake.override = lambda req: "echo401" if req.method == "POST" and req.json().get("batch") == 5 else None
    running = serve(fake)
    with pytest.raises(DeliveryError) as failed:
        _deliver(fc, running, tmp_path)
    message = str(failed.value)
    assert failed.value.batch == 5 and "batch 5 of" in message and "401" in message
    assert TOKEN not in message                                           # the echoed header is redacted
    acked = set(_ledger(tmp_path)["acknowledged"])
    assert 5 not in acked and _ledger(tmp_path)["completed_at"] is None
    fake.override = None                                                  # the receiver is fixed
    receipt = _deliver(fc, running, tmp_path)
    assert receipt.details["batches_resumed"] == len(acked)
    assert receipt.details["batches_sent"] == receipt.details["batches_total"] - len(acked)
    _assert_kept_once(fake, local)


def test_hubspot_gets_at_most_100_inputs_a_request_and_every_customer(scores, serve, tmp_path):
    fc, local = scores
    fake = HubSpotFake("clv_customer_id", set(local.columns), faults=Faults(0.2, seed=5))
    running = serve(fake)
    receipt = cs.to_http(fc, running.base + HubSpotFake.path, "spark-hs", preset="hubspot",
                         preset_options={"id_property": "clv_customer_id"}, batch_size=500, ledger_dir=tmp_path, **FAST)
    assert receipt.details["batch_size"] == 100 and receipt.rows == 600
    assert fake.shape_errors == [] and fake.conflicts == [] and max(fake.batch_sizes) <= 100
    assert sorted(fake.records) == local.index.tolist()
    assert all(float(fake.records[c]["clv"]) == v for c, v in local["clv"].items())


def test_a_table_breaking_the_contract_sends_nothing(spark, serve, tmp_path):
    fake = GenericFake()
    running = serve(fake)
    bad = spark.createDataFrame(pd.DataFrame({"customer_id": ["007", "012", "019"], "clv": [1.0, float("nan"), 2.0]}))
    with pytest.raises(DataValidationError) as refused:
        _deliver(bad, running, tmp_path)
    assert refused.value.column == "clv" and "012" in str(refused.value)
    assert fake.log == [] and list(tmp_path.iterdir()) == []


def test_an_empty_table_tells_a_generic_receiver_once(spark, serve, tmp_path):
    fake = GenericFake()
    running = serve(fake)
    empty = spark.createDataFrame([], "customer_id string, clv double")
    receipt = _deliver(empty, running, tmp_path, run_id="empty-run")
    assert receipt.rows == 0 and receipt.details["batches_total"] == 1
    (body,) = fake.kept.values()
    assert body["records"] == [] and body["total_batches"] == 1
    assert _deliver(empty, running, tmp_path, run_id="empty-run").already_delivered
