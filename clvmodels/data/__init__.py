"""The data layer: a transaction log in, a validated RFM summary out.

* :func:`rfm_summary`, :func:`calibration_holdout` - the summary (pandas engine in memory, DuckDB
  engine out of core), an :class:`RFMSummary` that carries its time unit, dates, options and drop
  report; :func:`purchase_log` - the purchases it counts, one row each;
* :func:`validate_transactions`, :func:`validate_summary` - the entrance checks, with typed errors
  that name the column, the number of rows and example customers;
* :mod:`.compression` - identical rows collapsed into weights (used by every layer).
"""

from __future__ import annotations

from .compression import compress_columns, compress_rows, unique_rows
from .rfm import calibration_holdout, purchase_log, rfm_summary
from .summary import DropReport, RFMSummary, SummaryOptions
from .validation import validate_covariates, validate_summary, validate_transactions, validate_weights

__all__ = ["rfm_summary", "calibration_holdout", "purchase_log", "RFMSummary", "SummaryOptions", "DropReport",
           "validate_transactions", "validate_summary", "validate_weights", "validate_covariates",
           "compress_rows", "compress_columns", "unique_rows"]
