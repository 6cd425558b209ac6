"""Fitting on a Spark summary: identical rows counted by Spark, only the distinct rows go to the driver.

Every model's likelihood is a sum over customers of a term that depends on the customer's row only,
so customers with identical rows can be fitted as one row with a weight (the models'
``fit(summary, weights=...)``, :mod:`clvmodels.data.compression`). Spark groups the rows and counts
them; the driver receives one row per distinct history. In weeks or days a million customers have a
few hundred thousand distinct (frequency, recency, T) rows at most, usually far fewer: the collected
size is bounded by the number of distinct rows, not of customers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.summary import RFMSummary
from ..errors import ConfigError, MissingColumnError
from ._session import functions, require_frame
from .rfm import summary_facts

__all__ = ["compressed_summary", "fit"]

_CORE = ("frequency", "recency")


def _default_columns(columns_present: Sequence[str]) -> tuple[str, ...]:
    time = "n_periods" if "n_periods" in columns_present and "T" not in columns_present else "T"
    return (*_CORE, time)


def compressed_summary(sdf, columns: Sequence[str] | None = None, *, weights: str | None = None,
                       time_unit: str | None = None) -> pd.DataFrame:
    """The distinct rows of a Spark summary with their counts, collected as a weighted pandas summary.

    Spark groups the rows by ``columns`` and counts them (or sums the ``weights`` column); only the
    distinct rows and their counts are collected to the driver, so the collected size is bounded by
    the number of distinct rows, not of customers. Fit a model on it with
    ``model.fit(summary, weights="weight")``: the same fit as on every customer (:func:`fit` does both).

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
        The summary (from :func:`clvmodels.spark.rfm_summary`, or your own).
    columns : sequence of str, optional
        The columns that make a row; default ``frequency``, ``recency`` and ``T`` (``n_periods`` for a
        summary of opportunities). Add ``monetary_value`` for a spend model: a continuous value, so then
        about one row per repeat buyer is collected.
    weights : str, optional
        A column of ``sdf`` holding counts of identical customers to sum (e.g. ``"weight"``); by
        default rows are counted.
    time_unit : str, optional
        The unit of recency and T; default the summary's (:func:`clvmodels.spark.summary_facts`).

    Returns
    -------
    RFMSummary (or a plain DataFrame when no time unit is known)
        One row per distinct history, with a ``weight`` column and the facts of ``sdf``, indexed 0..k-1
        (named ``customer_id`` as the summary contract wants; the rows are histories, not customers).
        Rows come in the order of their first customer id (else sorted by the columns), the order in
        which a fit on the summary sorted by customer id meets them, so that the fit sums the same
        terms in the same order and gives the same estimates.

    Examples
    --------
    >>> import clvmodels as clv, clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> cdnow = clv.datasets.cdnow_summary().reset_index()
    >>> sdf = spark.createDataFrame(cdnow[["customer_id", "frequency", "recency", "T"]])
    >>> small = cs.compressed_summary(sdf, time_unit="W")
    >>> len(cdnow), len(small), int(small["weight"].sum())
    (2357, 1016, 2357)
    >>> clv.BGNBD().fit(small, weights="weight").params_.round(3).tolist()      # FHL (2005)
    [0.243, 4.414, 0.793, 2.426]
    """
    require_frame(sdf, "sdf")
    F = functions()
    cols = tuple(columns) if columns is not None else _default_columns(sdf.columns)
    needed = list(cols) + ([weights] if weights else [])
    missing = [c for c in needed if c not in sdf.columns]
    if missing:
        raise MissingColumnError(f"sdf is missing column(s) {missing}; it has {list(sdf.columns)}",
                                 column=missing[0])
    if "weight" in cols:
        raise ConfigError("columns must not include 'weight' (the counts are returned in it); pass weights='weight' "
                          "to sum a column of counts", key="columns")
    count = F.sum(F.col(weights).cast("double")) if weights else F.count(F.lit(1)).cast("double")
    aggs = [count.alias("weight")]
    by_first = "customer_id" in sdf.columns and "customer_id" not in cols
    if by_first:   # the order of a summary sorted by customer id: the fit then sums its rows in the same order
        aggs.append(F.min("customer_id").alias("_first"))
    frame = sdf.groupBy(*cols).agg(*aggs).toPandas()
    frame = frame.sort_values(["_first"] if by_first else list(cols), kind="stable", ignore_index=True)
    frame = frame.drop(columns=["_first"]) if by_first else frame
    frame.index = pd.RangeIndex(len(frame), name="customer_id")
    frame["weight"] = frame["weight"].to_numpy(dtype=np.float64)
    facts = summary_facts(sdf)
    unit = time_unit or (facts.time_unit if facts is not None else None)
    shaped = all(c in frame.columns for c in _CORE) and ("T" in frame.columns or "n_periods" in frame.columns)
    if unit is None or not shaped:
        return frame
    kwargs = {} if facts is None else {"observation_end": facts.observation_end,
                                       "calibration_end": facts.calibration_end, "options": facts.options,
                                       "report": facts.report}
    return RFMSummary.from_frame(frame, time_unit=unit, discrete="T" not in frame.columns, **kwargs)


def fit(model, sdf, *, weights: str | None = None, time_unit: str | None = None):
    """Fit ``model`` (any MLE or Bayesian model of :mod:`clvmodels.registry`) on a Spark summary.

    The rows are compressed by Spark on the summary's core columns plus the model's inputs
    (:func:`compressed_summary`; e.g. ``monetary_value`` for Gamma-Gamma), then
    ``model.fit(summary, weights="weight")`` runs on the driver. Returns the fitted model.

    Examples
    --------
    >>> import clvmodels as clv, clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> sdf = spark.createDataFrame(clv.datasets.cdnow_summary().reset_index())
    >>> gg = cs.fit(clv.GammaGamma(), sdf, time_unit="W")            # Fader & Hardie (2013): 6.25, 3.74, 15.44
    >>> gg.params_.round(2).tolist(), gg.n_obs_
    ([6.25, 3.74, 15.45], 946.0)
    """
    inputs = tuple(getattr(model, "input_columns", ()))
    if not inputs:
        raise ConfigError(f"{type(model).__name__} declares no input_columns: it is not a clvmodels model",
                          key="model")
    core = _default_columns(sdf.columns) if inputs[0] == "frequency" and "n_periods" not in inputs else ()
    columns = tuple(dict.fromkeys([*core, *inputs]))
    summary = compressed_summary(sdf, columns, weights=weights, time_unit=time_unit)
    return model.fit(summary, weights="weight")
