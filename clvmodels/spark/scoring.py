"""Scoring a Spark summary partition by partition: :func:`forecast_clv` and :func:`score`.

The fitted models travel to the executors once (a broadcast variable; inside the function with Spark
Connect): an MLE model as its JSON description (:meth:`~clvmodels.models.base.MLEModel.to_dict`, no
pickle), a Bayesian model of :mod:`clvmodels.bayes` as its NetCDF file, any other model pickled by
Spark. Each partition is scored with ``mapInPandas`` by the pandas code itself
(:func:`clvmodels.forecast_clv`, :class:`clvmodels.forecast.predict.Predictor`), Arrow batch by batch,
so results are those of the pandas functions on the same rows.

Intervals do not depend on the partitioning: the parameter draws of an interval are population-level
(the same for every customer), so every batch draws them from the same seed - ``random_state``, or one
seed drawn on the driver when it is None - and a customer's interval is that of
:func:`clvmodels.forecast_clv` with that seed, whichever partition holds the customer.

Before the job, one row of the summary is scored on the driver, so that a bad setting raises its
typed error at once; an error in the data of a later partition surfaces as Spark's task error, whose
message holds the clvmodels error.
"""

from __future__ import annotations

import json
import os
import tempfile
from numbers import Integral

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataValidationError, MissingColumnError
from ._session import pyspark_sql, require_frame, session
from .rfm import summary_facts

__all__ = ["forecast_clv", "score"]

# settings of clvmodels.forecast_clv that name per-customer values: a Series cannot follow the rows
_PER_CUSTOMER = ("margin", "cost_per_order", "cost_per_active_period", "retention_cost")


class _Shipped:
    """A fitted model in the form the executors rebuild it from."""

    def __init__(self, model):
        from ..models.base import MLEModel

        self.cls = type(model)
        if isinstance(model, MLEModel):
            self.kind, self.payload = "mle", json.dumps(model.to_dict())
        elif type(model).__module__.startswith("clvmodels.bayes") and hasattr(model, "save"):
            with tempfile.TemporaryDirectory() as tmp:
                path = model.save(os.path.join(tmp, "model.nc"))
                with open(path, "rb") as fh:
                    self.kind, self.payload = "netcdf", fh.read()
        else:
            self.kind, self.payload = "object", model

    def load(self):
        if self.kind == "mle":
            from ..models.artifacts import model_from_dict

            return model_from_dict(self.cls, json.loads(self.payload))
        if self.kind == "netcdf":
            from ..registry import load_model

            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.nc")
                with open(path, "wb") as fh:
                    fh.write(self.payload)
                return load_model(path)
        return self.payload


class _Cargo:
    """What every partition needs, sent once: a broadcast variable where the session has a SparkContext."""

    def __init__(self, spark, value):
        self.broadcast = None
        try:
            self.broadcast = spark.sparkContext.broadcast(value)
        except (AttributeError, NotImplementedError):  # Spark Connect has no SparkContext: the value
            # travels with the function
            self.value_ = value

    @property
    def value(self):
        return self.broadcast.value if self.broadcast is not None else self.value_


def _seed(random_state) -> int:
    """One integer seed for every partition (drawn here when ``random_state`` is None or a Generator)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**63))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    raise ConfigError(f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}",
                      key="random_state")


def _check_summary(sdf) -> None:
    require_frame(sdf, "sdf")
    if "customer_id" not in sdf.columns:
        raise MissingColumnError(f"sdf is missing column(s) ['customer_id']; it has {list(sdf.columns)}",
                                 column="customer_id")


def _map(sdf, cargo: _Cargo, work, columns: list[str]):
    """``sdf.mapInPandas``: ``work(models, frame)`` (a frame indexed by customer_id) on every Arrow batch,
    output ``customer_id`` then ``columns`` (doubles)."""
    T = pyspark_sql().types
    schema = T.StructType([T.StructField("customer_id", sdf.schema["customer_id"].dataType, True)]
                          + [T.StructField(c, T.DoubleType(), True) for c in columns])

    def run(batches):
        models = [m.load() for m in cargo.value]
        for batch in batches:
            if len(batch) == 0:
                continue
            out = work(models, batch.set_index("customer_id"))
            out = out.reset_index()
            yield out[["customer_id", *columns]]

    return sdf.mapInPandas(run, schema)


def _dry_run(sdf, models, work) -> list[str]:
    """Score one row on the driver (typed errors for bad settings at once); the output columns."""
    first = sdf.limit(1).toPandas()
    if len(first) == 0:
        raise DataValidationError("summary is empty: no rows to work with", n_rows=0)
    return list(work(models, first.set_index("customer_id")).columns)


def forecast_clv(sdf, purchase, spend, *, time_unit: str | None = None, random_state=None, **settings):
    """:func:`clvmodels.forecast_clv` on a Spark summary, partition by partition.

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
        ``customer_id`` and the columns the models read: a summary from
        :func:`clvmodels.spark.rfm_summary` / :func:`~clvmodels.spark.calibration_holdout`, or your own (BG/BB
        reads ``frequency``, ``recency`` and ``n_periods``, a summary of opportunities the summary functions do
        not build), and any columns the settings name (``margin="margin_rate"``).
    purchase, spend : fitted models
        As for :func:`clvmodels.forecast_clv` (``spend`` may also be a number or a column name).
    time_unit : str, optional
        The summary's time unit; default the one it carries (:func:`~clvmodels.spark.summary_facts`).
    random_state : int or numpy.random.Generator, optional
        Seed of the parameter draws of an interval (None: one seed drawn here); the same in every
        partition, so results do not depend on the partitioning.
    **settings
        ``horizon``, ``period``, ``discount_rate``, ``margin``, ``margin_by``, ``cost_per_order``,
        ``cost_per_active_period``, ``retention_cost``, ``interval``, ``n_draws``, ``chunk_size``, ``n_jobs``: as
        in :func:`clvmodels.forecast_clv` (per-customer values as column names, not Series; no cash flows).

    Returns
    -------
    Spark DataFrame
        ``customer_id`` and the columns of :func:`clvmodels.forecast_clv` (``clv_lower``, ``clv_upper``
        when ``interval`` is not None), doubles, lazily computed.

    Examples
    --------
    >>> import clvmodels as clv, clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> sdf = spark.createDataFrame(clv.datasets.cdnow_summary().loc[[1, 2, 3]].reset_index())
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> fc = cs.forecast_clv(sdf, bg, gg, time_unit="W", horizon=12, period="M", discount_rate=0.10, margin=0.3,
    ...                      interval=None)
    >>> [(r.customer_id, round(r.clv, 2)) for r in fc.orderBy("customer_id").collect()]
    [(1, 11.02), (2, 1.41), (3, 2.54)]
    """
    from ..forecast.clv import forecast_clv as pandas_forecast_clv

    _check_summary(sdf)
    if settings.get("return_cash_flows"):
        raise ConfigError("return_cash_flows is not available on Spark: the cash flows of every customer and "
                          "period would not fit the driver; use clvmodels.forecast_clv on a sample",
                          key="return_cash_flows")
    settings.pop("return_cash_flows", None)
    for key in ("spend", *_PER_CUSTOMER):
        value = spend if key == "spend" else settings.get(key)
        if isinstance(value, pd.Series):
            raise ConfigError(f"{key}: a pandas Series cannot follow the rows to the executors; add it as a column "
                              f"of sdf and pass the column name", key=key)
    facts = summary_facts(sdf)
    unit = time_unit or (facts.time_unit if facts is not None else None)
    seed = _seed(random_state)
    spend_model = not isinstance(spend, (str, int, float, np.number))

    def work(models, frame):
        p, s = models[0], (models[1] if spend_model else spend)
        return pandas_forecast_clv(frame, p, s, time_unit=unit, random_state=seed, **settings)

    models = [purchase] + ([spend] if spend_model else [])
    columns = _dry_run(sdf, models, work)
    cargo = _Cargo(session(sdf), [_Shipped(m) for m in models])
    return _map(sdf, cargo, work, columns)


def score(sdf, model, *, t: float | None = None, time_unit: str | None = None, max_draws: int = 200):
    """Per-customer predictions of one fitted model on a Spark summary, partition by partition.

    A purchase model gives ``p_alive`` and, with ``t``, ``expected_purchases`` in the next ``t`` time
    units (opportunities for BG/BB); a spend model (Gamma-Gamma) gives ``expected_spend``. Values are
    those of :class:`clvmodels.forecast.predict.Predictor` and
    :func:`clvmodels.forecast.predict.expected_spend` (point estimates; Bayesian models: the mean over
    at most ``max_draws`` posterior draws).

    Examples
    --------
    >>> import clvmodels as clv, clvmodels.spark as cs
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> sdf = spark.createDataFrame(clv.datasets.cdnow_summary().loc[[1, 2]].reset_index())
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> rows = cs.score(sdf, bg, t=39, time_unit="W").orderBy("customer_id").collect()
    >>> [(r.customer_id, round(r.p_alive, 3), round(r.expected_purchases, 3)) for r in rows]   # FHL (2005): 1.226
    [(1, 0.727, 1.226), (2, 0.212, 0.203)]
    """
    from ..forecast.predict import Predictor, expected_spend

    _check_summary(sdf)
    facts = summary_facts(sdf)
    unit = time_unit or (facts.time_unit if facts is not None else None)
    mine = getattr(model, "time_unit_", None)
    if unit is not None and mine is not None and unit != mine:
        raise DataValidationError(f"the summary is in time unit {unit!r} but {type(model).__name__} was fitted in "
                                  f"{mine!r}; rebuild the summary in {mine!r}", column="T")
    spend_model = hasattr(model, "spend_inputs")
    if t is not None and (spend_model or not np.isfinite(t) or t < 0):
        raise ConfigError("t (the horizon of expected_purchases) must be finite, >= 0, and given for a purchase "
                          f"model only; got t={t!r} for {type(model).__name__}", key="t")

    def work(models, frame):
        m = models[0]
        if spend_model:
            return pd.DataFrame({"expected_spend": expected_spend(m, frame, max_draws)}, index=frame.index)
        pred = Predictor(m, max_draws=max_draws)
        out = {"p_alive": pred.p_alive(frame)}
        if t is not None:
            out["expected_purchases"] = pred.expected_purchases(frame, float(t))
        return pd.DataFrame(out, index=frame.index)

    columns = _dry_run(sdf, [model], work)
    cargo = _Cargo(session(sdf), [_Shipped(model)])
    return _map(sdf, cargo, work, columns)

