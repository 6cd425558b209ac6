"""What a delivery returns: a small, JSON-friendly receipt."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ExportReceipt", "utc_now"]


def utc_now() -> str:
    """The current UTC time as ISO-8601 text with microseconds (``...+00:00``).

    Examples
    --------
    >>> stamp = utc_now()
    >>> stamp.endswith("+00:00") and stamp[4] == "-" and "T" in stamp
    True
    """
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class ExportReceipt:
    """The outcome of one ``to_file`` / ``to_sql`` / ``to_http`` call.

    Attributes
    ----------
    run_id : the run that was delivered
    target : ``"file"``, ``"sql"`` or ``"http"``
    destination : where it went (file path, ``url#table``, endpoint URL), passwords and query
        strings removed
    rows : number of customers delivered
    checksum : sha256 of the canonical table (same for every target, see
        :mod:`clvmodels.export.table`)
    already_delivered : True when this call found the run already delivered with the same
        checksum and sent nothing
    delivered_at : ISO-8601 UTC time of the delivery (of the earlier one when already delivered)
    details : target-specific facts (file sha256 and manifest path, ledger path, batch counts...)

    Examples
    --------
    >>> r = ExportReceipt(run_id="r1", target="file", destination="/drop/r1.csv", rows=2, checksum="ab12",
    ...                   already_delivered=False, delivered_at="2026-12-07T01:00:00Z")
    >>> r.status, r.to_dict()["rows"]
    ('delivered', 2)
    """

    run_id: str
    target: str
    destination: str
    rows: int
    checksum: str
    already_delivered: bool
    delivered_at: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``"already_delivered"`` or ``"delivered"`` (delivered by this call)."""
        return "already_delivered" if self.already_delivered else "delivered"

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for a run manifest), ``status`` included."""
        return {**asdict(self), "status": self.status}
