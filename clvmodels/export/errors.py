"""Typed errors of the export layer.

All derive from :class:`clvmodels.errors.CLVError`; problems with the table itself are raised as
:class:`clvmodels.errors.DataValidationError` (or its subclasses) before anything is delivered.
"""

from __future__ import annotations

from ..errors import CLVError

__all__ = ["ExportError", "ExportConflictError", "DeliveryError"]


class ExportError(CLVError):
    """A delivery could not be made (bad target, unreadable ledger, database failure, ...).

    Nothing was committed by the call that raised it: a re-run with the same ``run_id`` is safe.
    """


class ExportConflictError(ExportError):
    """The ``run_id`` was already delivered (or partly delivered) with different content.

    Attributes
    ----------
    run_id : the run at fault
    expected : checksum recorded for the earlier delivery
    actual : checksum of the table offered now
    """

    def __init__(self, message: str, *, run_id: str, expected: str, actual: str):
        self.run_id = run_id
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class DeliveryError(ExportError):
    """The receiver refused a batch, or retries ran out.

    Batches acknowledged before the failure stay recorded in the ledger, so a re-run resumes
    after them.

    Attributes
    ----------
    batch : index (0-based) of the batch that failed
    status_code : the HTTP status of the last answer, or None when there was none (connection error)
    """

    def __init__(self, message: str, *, batch: int, status_code: int | None = None):
        self.batch = batch
        self.status_code = status_code
        super().__init__(message)
