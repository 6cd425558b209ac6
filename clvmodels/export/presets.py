"""Request shapes of the HTTP presets: the generic JSON batch, HubSpot batch upsert, Salesforce Bulk API 2.0.

:func:`clvmodels.export.to_http` delivers one table in batches under one run id with the same
exactly-once machinery (ledger, resume, retries, conflict detection) whatever the preset; a preset
only decides what a batch looks like on the wire. The builders here are pure (no network): use
them to inspect exactly what would be sent.

``generic`` (default)
    One ``POST`` per batch to the URL, JSON (:func:`generic_body`), with an ``Idempotency-Key``
    header; numbers travel as JSON numbers. No options.

``hubspot``
    HubSpot CRM v3 batch upsert: ``POST`` to the URL the caller gives, e.g.
    ``https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert``, with
    ``{"inputs": [{"idProperty": ..., "id": "<customer id>", "properties": {...}}, ...]}``
    (:func:`hubspot_body`). Every value is sent as text, as HubSpot's API takes property values.
    At most :data:`HUBSPOT_MAX_BATCH` (100) inputs per request, HubSpot's limit for its batch
    endpoints: a larger ``batch_size`` is capped to 100 (the ledger records the capped size).
    Options: ``id_property`` (required: a HubSpot property with unique values that holds the
    customer id, e.g. a custom ``clv_customer_id``), ``fields`` (optional, see below).

``salesforce_bulk``
    Salesforce Bulk API 2.0 upsert, one ingest job per batch: create the job
    (:func:`salesforce_job`), upload the CSV (:func:`salesforce_csv`), mark it ``UploadComplete``.
    The URL is the instance URL (``https://yourorg.my.salesforce.com``). Options: ``object``
    (required, e.g. ``Contact`` or ``CLV_Score__c``), ``external_id_field`` (required: an External
    ID field of that object that holds the customer id, e.g. ``Customer_Id__c``), ``api_version``
    (default :data:`SALESFORCE_API_VERSION`), ``fields`` (optional).

``fields`` (hubspot, salesforce_bulk)
    ``{table column: CRM field name}``: send only these columns, under these names (CRM fields
    rarely share the table's names: ``clv`` may be ``clv_12m`` in HubSpot or ``CLV__c`` in
    Salesforce). Default: every column under its own name.

Values as text (HubSpot, Salesforce): floats in the shortest text that reads back to the same
float, written positionally (``0.00001``, never ``1e-05``, which not every CRM number parser
takes); integers in decimal; booleans ``true`` / ``false``; text as is (CSV-quoted where needed).
See :func:`as_text`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .table import ExportTable, prepare_table

__all__ = ["DEFAULT_BATCH_SIZE", "HUBSPOT_MAX_BATCH", "PRESETS", "SALESFORCE_API_VERSION", "as_text", "check_preset",
           "generic_body", "generic_batch_body", "hubspot_body", "salesforce_csv", "salesforce_job"]

PRESETS = ("generic", "hubspot", "salesforce_bulk")
#: HubSpot's CRM batch endpoints take at most 100 inputs per request.
HUBSPOT_MAX_BATCH = 100
#: Salesforce API version used unless ``preset_options["api_version"]`` says otherwise.
SALESFORCE_API_VERSION = "62.0"
#: Batch size used when ``to_http`` is given ``batch_size=None``: records per request (generic,
#: hubspot) or per Bulk API job (salesforce_bulk; fewer, larger jobs spare Salesforce's daily
#: job and batch allocations).
DEFAULT_BATCH_SIZE = {"generic": 1000, "hubspot": HUBSPOT_MAX_BATCH, "salesforce_bulk": 10_000}

_OPTIONS = {
    "generic": ({}, ()),
    "hubspot": ({"id_property": None, "fields": None}, ("id_property",)),
    "salesforce_bulk": ({"object": None, "external_id_field": None, "api_version": SALESFORCE_API_VERSION,
                         "fields": None}, ("object", "external_id_field")),
}
_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")      # API names: Contact, ns__Score__c
_SF_VERSION = re.compile(r"^v?(\d{2,3}\.\d)$")
_HUBSPOT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def check_preset(preset: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``preset`` and its ``options``; return the options with defaults filled in.

    The result is JSON-safe and holds no secret: ``to_http`` records it in the ledger, and a
    resumed run must use the same preset and options.

    Raises
    ------
    ValueError
        an unknown preset, an unknown or missing option, or a name the CRM would not accept

    Examples
    --------
    >>> check_preset("salesforce_bulk", {"object": "Contact", "external_id_field": "Customer_Id__c"})
    {'object': 'Contact', 'external_id_field': 'Customer_Id__c', 'api_version': '62.0', 'fields': None}
    >>> check_preset("hubspot", {})
    Traceback (most recent call last):
    ...
    ValueError: preset 'hubspot' needs preset_options ['id_property'] ...
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {preset!r}")
    if options is not None and not isinstance(options, Mapping):
        raise ValueError(f"preset_options must be a mapping, got {type(options).__name__}")
    defaults, required = _OPTIONS[preset]
    given = dict(options or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = sorted(defaults) or "none"
        raise ValueError(f"preset {preset!r} does not take preset_options {unknown} (it takes: {known})")
    missing = [k for k in required if given.get(k) in (None, "")]
    if missing:
        raise ValueError(f"preset {preset!r} needs preset_options {missing} (see clvmodels.export.presets)")
    out = {**defaults, **given}
    if preset == "hubspot":
        _check_name(out["id_property"], "id_property", _HUBSPOT_NAME, "a HubSpot property name")
        out["fields"] = _check_fields(out["fields"], _HUBSPOT_NAME, "HubSpot property names",
                                      reserved=out["id_property"])
    elif preset == "salesforce_bulk":
        _check_name(out["object"], "object", _SF_NAME, "a Salesforce object API name")
        _check_name(out["external_id_field"], "external_id_field", _SF_NAME, "a Salesforce field API name")
        version = _SF_VERSION.match(str(out["api_version"]))
        if version is None:
            raise ValueError(f"api_version must look like '62.0', got {out['api_version']!r}")
        out["api_version"] = version.group(1)
        out["fields"] = _check_fields(out["fields"], _SF_NAME, "Salesforce field API names",
                                      reserved=out["external_id_field"])
    return out


def _check_name(value: Any, option: str, pattern: re.Pattern, what: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"preset option {option} must be {what} ({pattern.pattern}), got {value!r}")


def _check_fields(fields: Any, pattern: re.Pattern, what: str, reserved: str) -> dict[str, str] | None:
    if fields is None:
        return None
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError("preset option fields must be a non-empty mapping {table column: CRM field}")
    out = {}
    for column, name in fields.items():
        if not isinstance(column, str):
            raise TypeError(f"fields: table column names are text, got {column!r}")
        if not isinstance(name, str) or not pattern.match(name):
            raise ValueError(f"fields: {column!r} maps to {name!r}, which is not one of the {what} "
                             f"({pattern.pattern})")
        out[column] = name
    names = list(out.values())
    if len(set(names)) != len(names):
        raise ValueError(f"fields: two columns map to the same CRM field ({sorted(names)})")
    if reserved in names:
        raise ValueError(f"fields: {reserved!r} is the id field; customer_id fills it")
    return out


def _columns(table: ExportTable, fields: Mapping[str, str] | None) -> list[tuple[str, str, np.ndarray]]:
    """(CRM name, kind, values) of the columns to send, in table order."""
    if fields is None:
        return list(zip(table.names, table.kinds, table.arrays, strict=True))
    missing = [c for c in fields if c not in table.names]
    if missing:
        raise ValueError(f"fields names columns the table does not have: {missing} (columns: {list(table.names)})")
    return [(fields[n], k, a) for n, k, a in zip(table.names, table.kinds, table.arrays, strict=True) if n in fields]


def as_text(value: Any) -> str:
    """A table value as CRM text: shortest round-trip float (positional), int, ``true``/``false``, text.

    Examples
    --------
    >>> [as_text(v) for v in (0.1, 1e-05, 2.0, 1234567.5, 7, True, "at_risk")]
    ['0.1', '0.00001', '2', '1234567.5', '7', 'true', 'at_risk']
    >>> float(as_text(0.1 + 0.2)) == 0.1 + 0.2
    True
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return np.format_float_positional(float(value), unique=True, trim="-")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _texts(kind: str, arr: np.ndarray) -> list[str]:
    if kind == "float":
        return [np.format_float_positional(v, unique=True, trim="-") for v in arr.tolist()]
    if kind == "bool":
        return ["true" if v else "false" for v in arr.tolist()]
    if kind == "int":
        return [str(v) for v in arr.tolist()]
    return list(arr.tolist())


def generic_body(table: pd.DataFrame | ExportTable, run_id: str, batch: int, batch_size: int) -> dict[str, Any]:
    """The JSON body of batch ``batch`` (0-based) of the generic preset (see :mod:`clvmodels.export.http`).

    Examples
    --------
    >>> t = pd.DataFrame({"clv": [12.5, 3.0], "vip": [True, False]},
    ...                  index=pd.Index(["c1", "c2"], name="customer_id"))
    >>> body = generic_body(t, "run-1", 0, 1000)
    >>> body["records"], body["total_batches"]
    ([{'customer_id': 'c1', 'clv': 12.5, 'vip': True}, {'customer_id': 'c2', 'clv': 3.0, 'vip': False}], 1)
    """
    table = prepare_table(table)
    total = max(1, -(-table.n_rows // batch_size))
    start, stop = batch * batch_size, min((batch + 1) * batch_size, table.n_rows)
    return generic_batch_body(run_id, batch, total, table.n_rows, table.checksum, table.records(start, stop))


def generic_batch_body(run_id: str, batch: int, total_batches: int, total_rows: int, checksum: str,
                       records: list[dict[str, Any]]) -> dict[str, Any]:
    """The generic preset's body from its parts: for a sender that cuts the batches itself (the Spark sink
    cuts them per partition, :func:`clvmodels.spark.to_http`).

    Examples
    --------
    >>> generic_batch_body("run-1", 2, 3, 2001, "abc", [{"customer_id": "c9", "clv": 1.0}])["batch_rows"]
    1
    """
    return {"run_id": run_id, "batch": batch, "total_batches": total_batches, "total_rows": total_rows,
            "batch_rows": len(records), "checksum": checksum, "records": records}


def hubspot_body(table: pd.DataFrame | ExportTable, id_property: str, start: int = 0, stop: int | None = None,
                 fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The HubSpot batch upsert body for rows ``start:stop`` (at most :data:`HUBSPOT_MAX_BATCH`).

    Examples
    --------
    >>> t = pd.DataFrame({"clv": [12.5, 3.0], "segment": ["active", "at_risk"]},
    ...                  index=pd.Index([101, 102], name="customer_id"))
    >>> hubspot_body(t, "clv_customer_id", fields={"clv": "clv_12m"})
    {'inputs': [{'idProperty': 'clv_customer_id', 'id': '101', 'properties': {'clv_12m': '12.5'}}, {'idProperty': 'clv_customer_id', 'id': '102', 'properties': {'clv_12m': '3'}}]}
    """
    table = prepare_table(table)
    stop = table.n_rows if stop is None else min(stop, table.n_rows)
    if stop - start > HUBSPOT_MAX_BATCH:
        raise ValueError(f"HubSpot takes at most {HUBSPOT_MAX_BATCH} inputs per request, got {stop - start}")
    cols = _columns(table, fields)
    names = [c[0] for c in cols]
    values = [_texts(kind, arr[start:stop]) for _, kind, arr in cols]
    ids = [as_text(v) for v in table.ids[start:stop].tolist()]
    return {"inputs": [{"idProperty": id_property, "id": cid, "properties": dict(zip(names, row, strict=True))}
                       for cid, row in zip(ids, zip(*values, strict=True) if values else [()] * len(ids),
                                           strict=True)]}


def salesforce_job(object: str, external_id_field: str) -> dict[str, str]:
    """The JSON body that creates a Bulk API 2.0 upsert ingest job (``POST .../jobs/ingest``).

    Examples
    --------
    >>> salesforce_job("Contact", "Customer_Id__c")
    {'object': 'Contact', 'externalIdFieldName': 'Customer_Id__c', 'contentType': 'CSV', 'operation': 'upsert', 'lineEnding': 'LF'}
    """
    return {"object": object, "externalIdFieldName": external_id_field, "contentType": "CSV",
            "operation": "upsert", "lineEnding": "LF"}


def salesforce_csv(table: pd.DataFrame | ExportTable, external_id_field: str, start: int = 0,
                   stop: int | None = None, fields: Mapping[str, str] | None = None) -> str:
    """The CSV of rows ``start:stop`` for a Bulk API 2.0 upsert job: header of field names, the
    external id field (holding ``customer_id``) first, comma-separated, LF line endings, UTF-8.

    Examples
    --------
    >>> t = pd.DataFrame({"clv": [12.5, 0.00001], "segment": ["active", "a, b"]},
    ...                  index=pd.Index(["c1", "c2"], name="customer_id"))
    >>> print(salesforce_csv(t, "Customer_Id__c", fields={"clv": "CLV__c", "segment": "Segment__c"}), end="")
    Customer_Id__c,CLV__c,Segment__c
    c1,12.5,active
    c2,0.00001,"a, b"
    """
    table = prepare_table(table)
    stop = table.n_rows if stop is None else min(stop, table.n_rows)
    cols = _columns(table, fields)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([external_id_field, *(c[0] for c in cols)])
    ids = [as_text(v) for v in table.ids[start:stop].tolist()]
    values = [_texts(kind, arr[start:stop]) for _, kind, arr in cols]
    writer.writerows(zip(ids, *values, strict=True))
    return buf.getvalue()

