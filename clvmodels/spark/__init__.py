"""Apache Spark: the RFM summary, fitting and scoring of logs too large for one machine.

Three calls (``pip install "clvmodels[spark]"``; pyspark is imported only when one of them runs, and
without it they raise a :class:`~clvmodels.errors.ConfigError` saying how to install it):

* :func:`rfm_summary` / :func:`calibration_holdout` - the summary of a transaction log held in a Spark
  DataFrame, computed by Spark with the rules and values of the pandas engine;
* :func:`fit` (on :func:`compressed_summary`) - identical (frequency, recency, T) rows are counted by
  Spark and only the distinct rows with their counts go to the driver, where the usual model fits on
  them as weights;
* :func:`forecast_clv` / :func:`score` - the fitted model travels to the executors and every partition
  is scored with ``mapInPandas`` by the same code as :func:`clvmodels.forecast_clv`;
* :func:`to_file` / :func:`to_sql` / :func:`to_http` - the scores delivered to a file drop, a SQL table or
  an HTTP endpoint / CRM API by the executors, exactly once per run, without collecting them on the driver.

:mod:`clvmodels.spark.segments` computes value tiers and RFM scores of a Spark table (exactly the definitions of
:mod:`clvmodels.segments`), and :mod:`clvmodels.spark.runs` is ``clv run`` / ``clv score`` / ``clv export`` with
``data.spark_mode: distributed`` (the per-customer data stays in Spark from summary to delivery).

:func:`start_session` starts (or finds) the session to work in; :func:`summary_facts` reads the time unit, dates, options and drop report a Spark summary carries;
:func:`to_pandas` collects a small one as an :class:`~clvmodels.RFMSummary`.
"""

from __future__ import annotations

from ._session import start_session
from .compression import compressed_summary, fit
from .rfm import SparkSummaryFacts, calibration_holdout, rfm_summary, summary_facts, to_pandas
from .export import to_file, to_http, to_sql
from .scoring import forecast_clv, score

__all__ = ["rfm_summary", "calibration_holdout", "summary_facts", "SparkSummaryFacts", "to_pandas",
           "compressed_summary", "fit", "forecast_clv", "score", "to_file", "to_sql", "to_http",
           "start_session"]
