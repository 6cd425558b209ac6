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

    Examples
    --------
    >>> from clvmodels.export import ExportError
    >>> issubclass(ExportError, Exception) and str(ExportError("drop folder is missing"))
    'drop folder is missing'
    """


class ExportConflictError(ExportError):
    """The ``run_id`` was already delivered (or partly delivered) with different content.

    Attributes
    ----------
    run_id : the run at fault
    expected : checksum recorded for the earlier delivery
    actual : checksum of the table offered now

    Examples
    --------
    >>> import pandas as pd, tempfile, clvmodels as clv
    >>> drop = tempfile.mkdtemp()
    >>> t = pd.DataFrame({"clv": [1.0]}, index=pd.Index([7], name="customer_id"))
    >>> _ = clv.export.to_file(t, drop, "run-1")
    >>> try:
    ...     clv.export.to_file(t.assign(clv=2.0), drop, "run-1")     # the same run, other values
    ... except clv.export.ExportConflictError as e:
    ...     print(e.run_id, e.expected != e.actual)
    run-1 True
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

    Examples
    --------
    >>> from clvmodels.export import DeliveryError
    >>> e = DeliveryError("batch 3 was refused: HTTP 400", batch=3, status_code=400)
    >>> e.batch, e.status_code
    (3, 400)
    """

    def __init__(self, message: str, *, batch: int, status_code: int | None = None):
        self.batch = batch
        self.status_code = status_code
        super().__init__(message)
