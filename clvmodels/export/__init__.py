"""Deliver a per-customer forecast table to a CRM, exactly once per run.

Three targets, one contract::

    import clvmodels as clv

    fc = clv.forecast_clv(...)                  # index customer_id; p_alive, clv, segment, ...
    clv.export.to_file(fc, "/drop", run_id)     # <run_id>.csv + <run_id>.csv.manifest.json
    clv.export.to_sql(fc, "postgresql+psycopg://...", "clv_scores", run_id)   # rows + ledger, 1 transaction
    clv.export.to_http(fc, "https://crm/api/scores", run_id, ledger_dir=run_folder)  # JSON batches

Each call validates the table first (:func:`prepare_table`: index ``customer_id`` unique, every
cell present, numbers finite, JSON-safe types), then returns an :class:`ExportReceipt`
(``run_id``, ``target``, ``rows``, ``checksum``, ``already_delivered``, ...). Delivering the same
``run_id`` again with the same table is a no-op that says so (``already_delivered=True``); with a
different table it raises :class:`ExportConflictError`; a crash part-way never leaves a delivery
that looks complete (see each module's docstring for the order of steps and the consumer's side).
Validate once with :func:`prepare_table` and pass the result to several targets to save time.

``to_sql`` needs SQLAlchemy 2 (and a driver, e.g. ``psycopg`` for PostgreSQL); ``to_http`` needs
httpx. They are imported only when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .auth import redact, resolve_headers
from .errors import DeliveryError, ExportConflictError, ExportError
from .presets import PRESETS
from .receipt import ExportReceipt
from .table import ExportTable, prepare_table

__all__ = ["to_file", "to_sql", "to_http", "prepare_table", "ExportTable", "ExportReceipt",
           "ExportError", "ExportConflictError", "DeliveryError", "PRESETS", "resolve_headers", "redact"]

_LAZY = {"to_file": ".file", "to_sql": ".sql", "to_http": ".http"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clvmodels.export' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
