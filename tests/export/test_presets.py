"""Preset request builders: pure functions, checked without a network."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from clvmodels.export import prepare_table
from clvmodels.export.presets import (
    DEFAULT_BATCH_SIZE,
    HUBSPOT_MAX_BATCH,
    as_text,
    check_preset,
    generic_body,
    hubspot_body,
    salesforce_csv,
    salesforce_job,
)

from .conftest import make_scores


def test_as_text_is_the_shortest_positional_text_that_reads_back_exactly():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(0, 1, 500), rng.gamma(2, 50, 500), 10.0 ** rng.uniform(-12, 12, 500),
                             [0.1, 1 / 3, 2 / 3, 1e-7, 123456789.125, 0.0, -2.5]])
    for v in values:
        text = as_text(float(v))
        assert float(text) == v and "e" not in text.lower()
        digits = text.replace("-", "").replace(".", "").strip("0")
        assert len(digits) <= len(repr(float(v)).split("e")[0].replace("-", "").replace(".", "").strip("0"))
    assert [as_text(x) for x in (True, np.bool_(False), np.int64(-4), "a,b")] == ["true", "false", "-4", "a,b"]


def test_check_preset_fills_defaults_and_refuses_what_a_crm_would_not_take():
    assert check_preset("generic") == {} and check_preset("generic", {}) == {}
    assert check_preset("hubspot", {"id_property": "email"}) == {"id_property": "email", "fields": None}
    assert check_preset("salesforce_bulk", {"object": "Contact", "external_id_field": "Ext__c",
                                            "api_version": "v61.0"})["api_version"] == "61.0"
    bad = [("nope", None, "preset must be one of"),
           ("generic", {"id_property": "x"}, "does not take"),
           ("hubspot", {"id_property": ""}, "needs preset_options"),
           ("hubspot", {"id_property": "a b"}, "HubSpot property name"),
           ("hubspot", {"id_property": "email", "fields": {"clv": "x", "p_alive": "x"}}, "same CRM field"),
           ("hubspot", {"id_property": "email", "fields": {}}, "non-empty"),
           ("salesforce_bulk", {"object": "Contact", "external_id_field": "Ext__c", "fields": {"clv": "a,b"}},
            "Salesforce field API names"),
           ("salesforce_bulk", {"object": "Contact", "external_id_field": "Ext__c", "api_version": 62},
            "api_version")]
    for preset, options, match in bad:
        with pytest.raises(ValueError, match=match):
            check_preset(preset, options)
    assert DEFAULT_BATCH_SIZE["hubspot"] == HUBSPOT_MAX_BATCH == 100


def test_generic_body_is_the_documented_json_batch():
    table = prepare_table(make_scores(25))
    body = generic_body(table, "run-1", 1, 10)
    assert list(body) == ["run_id", "batch", "total_batches", "total_rows", "batch_rows", "checksum", "records"]
    assert (body["batch"], body["total_batches"], body["total_rows"], body["batch_rows"]) == (1, 3, 25, 10)
    assert body["records"] == table.records(10, 20) and body["checksum"] == table.checksum
    assert generic_body(make_scores(0), "run-0", 0, 10)["records"] == []


def test_hubspot_body_sends_every_value_as_text_and_refuses_more_than_100():
    df = make_scores(120, int_ids=True)
    body = hubspot_body(df, "clv_customer_id", 0, 100)
    assert len(body["inputs"]) == 100 and set(body) == {"inputs"}
    first = body["inputs"][0]
    assert first == {"idProperty": "clv_customer_id", "id": str(df.index[0]),
                     "properties": {c: as_text(df[c].iloc[0] if c != "segment" else str(df[c].iloc[0]))
                                    for c in df.columns}}
    assert json.loads(json.dumps(body)) == body
    with pytest.raises(ValueError, match="at most 100"):
        hubspot_body(df, "clv_customer_id", 0, 101)
    only = hubspot_body(df, "id_p", 0, 2, fields={"clv": "clv_12m"})
    assert [set(i["properties"]) for i in only["inputs"]] == [{"clv_12m"}, {"clv_12m"}]


def test_salesforce_csv_reads_back_to_the_table():
    df = make_scores(40)
    df["note"] = ['say "hi", then\nleave' if i % 3 == 0 else "plain" for i in range(40)]
    text = salesforce_csv(df, "Customer_Id__c", 5, 25)
    assert text.endswith("\n") and "\r\n" not in text
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["Customer_Id__c", *df.columns] and len(rows) == 20
    back = pd.DataFrame(rows, columns=header).set_index("Customer_Id__c")
    part = df.iloc[5:25]
    assert back.index.tolist() == part.index.tolist()
    assert [float(x) for x in back["clv"]] == part["clv"].tolist()
    assert [int(x) for x in back["n_purchases"]] == part["n_purchases"].tolist()
    assert back["vip"].tolist() == ["true" if v else "false" for v in part["vip"]]
    assert back["note"].tolist() == part["note"].tolist()
    assert salesforce_job("Contact", "Ext__c") == {"object": "Contact", "externalIdFieldName": "Ext__c",
                                                   "contentType": "CSV", "operation": "upsert",
                                                   "lineEnding": "LF"}
