"""Run configuration: a YAML file (or dict) checked against a strict schema.

Unknown keys, wrong types and impossible values stop the run with a :class:`ConfigError` that names
the key path (e.g. ``forecast.discount_rate``). The caller's dict is never modified.

Example (``configs/cdnow.yaml``)::

    name: cdnow
    data:
      source: cdnow              # a bundled data set (cdnow, cdnow_sample) or a CSV / Parquet path
    summary:
      calibration_end: 1997-09-30   # a date, or a number of time units after the first transaction
      observation_end: 1998-06-30   # after calibration_end: the rest is a holdout for evaluation
      time_unit: W
    models:
      purchase: bgnbd            # a purchase model of clvmodels.registry: bgnbd | mbgnbd | paretonbd | ...
      spend: gammagamma          # or null: CLV then counts orders (spend 1 per order)
      nonpositive_spend: zero    # repeat buyers whose purchases were all free: error | zero | population
    forecast:
      horizon: 12                # periods
      period: M
      discount_rate: 0.10        # annual effective
      margin: 0.30               # contribution margin rate
      cost_per_order: 0.0
      cost_per_active_period: 0.0
      interval: 0.9              # interval of the expected CLV (parameter uncertainty); null for none
    segments:
      vip: 0.95                  # top 5% by predicted CLV
      core: 0.5
    output:
      dir: runs
    export:                      # optional, delivered exactly once per run
      - target: file
        directory: crm_drop
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from . import registry
from .errors import CLVError, ConfigError
from .export.auth import env_references, expand_env, redact_url  # noqa: F401 - part of this module's API

__all__ = ["RunConfig", "load_config", "apply_overrides", "parse_yaml", "env_references", "expand_env", "redact_url",
           "BUNDLED_SOURCES"]

BUNDLED_SOURCES = ("cdnow", "cdnow_sample")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    source: str = Field(description="bundled data set name (cdnow, cdnow_sample), a CSV / Parquet path (relative "
                                    "to the config file; a folder of Parquet files too), 'sql' (the result of "
                                    "data.query on data.url), or 'table' (data.table of the Spark catalog, engine: "
                                    "spark)")
    url: str | None = Field(None, description="source 'sql' only: a SQLAlchemy URL; write a password as ${VAR} "
                                              "(read from the environment, never written to the run folder)")
    query: str | None = Field(None, description="source 'sql' only: the SELECT whose rows are the transaction log")
    customer_col: str = Field("customer_id", description="column of the transaction log holding the customer id")
    date_col: str = Field("date", description="column holding the transaction date (or timestamp)")
    amount_col: str | None = Field("amount", description="column holding the transaction amount; null for a log "
                                                         "without amounts (then models.spend must be null and CLV counts "
                                                         "orders)")
    date_format: str | None = Field(None, description="strptime format of text dates; default: ISO 8601 only (no "
                                                      "day-first / month-first guessing)")
    engine: Literal["auto", "pandas", "duckdb", "spark"] = Field(
        "auto", description="summary engine: pandas (in memory), duckdb (out of core), spark (Apache Spark reads "
                            "and summarises the log - a CSV / Parquet path or a Spark table - and the per-customer "
                            "summary comes to the driver; needs the spark extra), or auto (DuckDB for a CSV / "
                            "Parquet path, pandas for a data frame such as a bundled data set); all give the same "
                            "summary")
    table: str | None = Field(None, description="source 'table' only: a table (or view) of the Spark catalog "
                                                "holding the transaction log; needs engine: spark")
    spark_conf: dict[str, str] | None = Field(
        None, description="engine 'spark' only: settings of the Spark session the run starts, e.g. {spark.master: "
                          "'local[4]', spark.driver.memory: 8g}; default: the active session, or a local one on "
                          "every core")
    spark_mode: Literal["collect", "distributed"] = Field(
        "collect", description="engine 'spark' only: 'collect' (default) brings the per-customer summary to the driver "
                               "and the run goes on as with the other engines (report.html included); 'distributed' "
                               "keeps the per-customer data in Spark from summary to delivery: fits on the distinct "
                               "histories, the holdout checked on a hash sample of at most 50,000 customers, scores, "
                               "tiers and RFM scores computed and written by Spark, deliveries sent by the executors, "
                               "no report.html (clvmodels.spark.runs)")
    timezone: str | None = Field(
        None, description="IANA zone (e.g. Europe/Berlin) whose local days count: timestamps with a UTC offset or a "
                          "zone are converted to it; naive ones are taken as local. null: each timestamp's own "
                          "local wall time")
    order_col: str | None = Field(
        None, description="summary.returns 'match' only: the column naming the order a row belongs to (a refund "
                          "row carries the id of the order it refunds); null: refunds are matched by date")

    @model_validator(mode="after")
    def _sql(self):
        if self.source == "sql":
            if not self.url or not self.query or not self.query.strip():
                raise ValueError("source 'sql' needs data.url (a SQLAlchemy URL) and data.query (a SELECT)")
            _check_sql_url(self.url)
        elif self.url is not None or self.query is not None:
            raise ValueError("data.url and data.query are for source: sql; source is " + repr(self.source))
        if self.source == "table":
            if self.engine != "spark" or not self.table or not self.table.strip():
                raise ValueError("source 'table' needs engine: spark and data.table (a table of the Spark catalog)")
        elif self.table is not None:
            raise ValueError("data.table is for source: table (with engine: spark); source is " + repr(self.source))
        if self.engine == "spark" and self.source == "sql":
            raise ValueError("engine 'spark' reads a CSV / Parquet path or a Spark table (source: table), not "
                             "source: sql")
        if self.spark_conf is not None and self.engine != "spark":
            raise ValueError("data.spark_conf is for engine: spark; engine is " + repr(self.engine))
        if self.spark_mode != "collect" and self.engine != "spark":
            raise ValueError("data.spark_mode: distributed is for engine: spark; engine is " + repr(self.engine))
        return self

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value):
        from .data.transactions import check_timezone

        try:
            return check_timezone(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


def _date(value, what: str):
    """A YAML date (or ISO text) as a date; numbers and impossible dates are refused here."""
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD)") from None
    raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD){what}")


class SummaryConfig(_Strict):
    calibration_end: dt.date | float | None = Field(
        None, description="end of the calibration period: a date, or a number of time units after the first "
                          "transaction day (CLVTools' estimation split); the rest up to observation_end is a holdout")
    observation_end: dt.date | None = Field(None, description="last observed day; default: the last transaction")
    time_unit: Literal["D", "W", "M", "Y"] = Field("W", description="unit of recency, T and of the model's rate "
                                                                    "parameters: D, W, M (365.25/12 days), Y (365.25 "
                                                                    "days)")
    merge: Literal["D", "W", "M", "Y"] | None = Field("D", description="transactions of a customer in the same "
                                                                       "calendar D(ay), ISO W(eek), M(onth) or Y(ear) "
                                                                       "are one purchase; null merges identical "
                                                                       "timestamps only")
    returns: Literal["error", "drop", "net", "match"] = Field("error", description="amounts <= 0: error (negative "
                                                                                   "amounts raise, zero amounts are free "
                                                                                   "purchases), drop (rows removed) or net "
                                                                                   "(netted within a purchase; purchases "
                                                                                   "netting to <= 0 removed)")
    refund_window: int | None = Field(
        None, ge=0, description="returns 'match' without data.order_col: a refund is netted against the customer's "
                                "latest purchase at most this many days before it (null: 30)")
    monetary_includes_first: bool = Field(False, description="average every purchase including the first (true) or "
                                                             "the repeat purchases only (false, the Fader-Hardie "
                                                             "convention)")

    @field_validator("calibration_end", mode="before")
    @classmethod
    def _calibration_end(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not value > 0:
                raise ValueError(f"{value!r}: a number of periods must be > 0")
            return float(value)
        return _date(value, ", or a number of time units after the first transaction")

    @field_validator("observation_end", mode="before")
    @classmethod
    def _observation_end(cls, value):
        return _date(value, "")

    @model_validator(mode="after")
    def _order(self):
        if (isinstance(self.calibration_end, dt.date) and self.observation_end
                and self.observation_end <= self.calibration_end):
            raise ValueError("observation_end must be after calibration_end")
        return self


class ModelSpec(_Strict):
    """One model of the run: a registry name and how it is fitted."""

    name: str = Field(description="a model of clvmodels.registry")
    method: Literal["mle", "map", "advi", "nuts", "gibbs"] | None = Field(
        None, description="mle (maximum likelihood), or a Bayesian fit: map, advi or nuts (PyMC), or gibbs (the "
                          "Pareto/GGG's own Gibbs sampler, its only method); default: models.method, or the "
                          "model's only method when it has one (paretoggg: gibbs)")
    priors: dict[str, dict[str, Any]] | None = Field(
        None, description="Bayesian priors per parameter, as in the model's default_priors(), e.g. "
                          "{r: {dist: Gamma, alpha: 2, beta: 4}}")
    options: dict[str, Any] | None = Field(
        None, description="settings of the model's own constructor, e.g. {k: 2} (a fixed k) or {max_k: 4} (k chosen "
                          "by likelihood over 1..4) for bgcnbd / mbgcnbd; checked against the model before any work. "
                          "Settings the config gives elsewhere (penalizer, sampler, priors, covariates, "
                          "nonpositive_spend) are refused here")

    @field_validator("priors")
    @classmethod
    def _priors(cls, value):
        if value is None:
            return value
        from .bayes.priors import load_priors

        try:
            return load_priors(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class SamplerConfig(_Strict):
    """The Bayesian sampler's settings. The defaults are NUTS's; ``gibbs`` (the Pareto/GGG) takes ``draws``,
    ``tune``, ``chains`` and ``seed`` too, but uses its own defaults (tuned to clear the diagnostics) for
    each of draws / tune / chains the config does not set; its thinning is ``models.purchase.options.thin``."""

    draws: int = Field(1000, ge=1, description="posterior draws per chain (nuts, gibbs: kept after thinning), or "
                                               "draws from the advi fit; gibbs: its own default unless set")
    tune: int = Field(1000, ge=0, description="nuts: tuning steps per chain; gibbs: warm-up sweeps (its own "
                                              "default unless set)")
    chains: int = Field(4, ge=1, description="nuts, gibbs: chains (gibbs: its own default unless set)")
    target_accept: float = Field(0.8, gt=0.0, lt=1.0, description="nuts: target acceptance rate of the step-size "
                                                                  "adaptation (raise it toward 0.95 when divergences are reported)")
    advi_iterations: int = Field(20_000, ge=1, description="advi: optimisation steps of the variational fit")
    seed: int | None = Field(0, description="random seed of the sampler (and of advi)")


class CovariatesConfig(_Strict):
    purchase: list[str] = Field([], description="columns acting on the purchase rate (Bayesian BG/NBD)")
    dropout: list[str] = Field([], description="columns acting on the dropout probability (Bayesian BG/NBD)")
    file: str | None = Field(None, description="a customer attribute file (CSV / Parquet) holding the columns, "
                                               "joined on data.customer_col; default: the transaction log "
                                               "(each customer's columns must then be constant over its rows)")


class ModelsConfig(_Strict):
    method: Literal["mle", "map", "advi", "nuts", "gibbs"] = Field(
        "mle", description="how the models are fitted by default: mle, map, advi or nuts (gibbs: the Pareto/GGG's "
                           "sampler, which no other model has; give it as models.purchase.method)")
    purchase: str | ModelSpec = Field("bgnbd", validate_default=True, description=f"purchase model: one of {list(registry.keys('purchase'))}"
                                                           ", or {name, method, priors, options}")
    spend: str | ModelSpec | None = Field("gammagamma", validate_default=True, description=f"spend model: one of "
                                          f"{list(registry.keys('spend'))}, or {{name, method, priors, options}}, or null "
                                          "(CLV then counts orders: spend 1 per order)")
    penalizer: float = Field(0.0, ge=0.0, description="mle: L2 penalty on the parameters (0: the plain MLE)")
    nonpositive_spend: Literal["error", "zero", "population"] = Field(
        "error", description="Gamma-Gamma: repeat buyers whose repeat purchases have no positive value: error "
                             "(name them), zero (score at the limit of a mean of 0, fit without them) or population "
                             "(score with the population mean)")
    sampler: SamplerConfig = Field(SamplerConfig(), description="the Bayesian sampler: NUTS chains / draws / "
                                                                "tuning, ADVI iterations, seed")
    covariates: CovariatesConfig = Field(CovariatesConfig(), description="customer covariates of the Bayesian "
                                                                         "BG/NBD (columns acting on purchase rate and dropout)")

    @field_validator("purchase", "spend", mode="before")
    @classmethod
    def _spec(cls, value, info):
        if value is None:
            return None
        role = info.field_name
        spec = ModelSpec(name=value) if isinstance(value, str) else ModelSpec.model_validate(value)
        _registered(spec.name, role)
        methods = registry.get(spec.name).methods
        if spec.method is None and len(methods) == 1:
            # a model with one method (the Pareto/GGG: gibbs) uses it whatever models.method says
            spec = spec.model_copy(update={"method": methods[0]})
        method = spec.method or info.data.get("method", "mle")
        try:
            registry.model_class(spec.name, method)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if spec.priors and method == "mle":
            raise ValueError("priors need a Bayesian method (map, advi, nuts or gibbs), not mle")
        if spec.options:
            _check_options(spec, method, role)
        elif spec.priors:
            # the model's own check of its priors (e.g. the Pareto/GGG's conjugate families), before any work
            try:
                registry.model_class(spec.name, method)(priors=spec.priors).check_settings()
            except (CLVError, ValueError, TypeError) as exc:
                raise ValueError(f"priors: {' '.join(str(exc).split())}") from None
        return spec

    @model_validator(mode="after")
    def _covariates(self):
        cov = self.covariates
        if cov.purchase or cov.dropout:
            spec = self.purchase
            method = spec.method or self.method
            if method == "mle" or "covariates" not in registry.get(spec.name).features:
                raise ValueError("covariates need a purchase model that takes them: a Bayesian bgnbd "
                                 "(models.purchase: {name: bgnbd, method: nuts | advi | map})")
        return self

    def method_of(self, role: str) -> str:
        """The fitting method of the purchase or spend model."""
        spec = getattr(self, role)
        return spec.method or self.method


# constructor settings a run config gives in its own keys, never in models.<role>.options
_SET_ELSEWHERE = {"penalizer_coef": "models.penalizer", "priors": "models.<role>.priors",
                  "nonpositive_spend": "models.nonpositive_spend", "purchase_covariates": "models.covariates",
                  "dropout_covariates": "models.covariates", "sampler": "models.<role>.method",
                  "progressbar": "the CLI (--quiet)", **{k: f"models.sampler.{k}" for k in (
                      "draws", "tune", "chains", "target_accept", "advi_iterations")}, "random_seed": "models.sampler.seed"}


def _check_options(spec: ModelSpec, method: str, role: str) -> None:
    """``spec.options`` are settings of the model class's constructor with values it accepts."""
    import inspect

    cls = registry.model_class(spec.name, method)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self" and p not in _SET_ELSEWHERE]
    for key in spec.options:
        if key in _SET_ELSEWHERE:
            raise ValueError(f"options.{key}: set it with {_SET_ELSEWHERE[key].replace('<role>', role)}, not in options")
        if key not in accepted:
            raise ValueError(f"options.{key}: {cls.__name__} ({method}) has no setting {key!r}; its settings: {accepted}")
    try:
        model = cls(**spec.options, **({"priors": spec.priors} if spec.priors else {}))
        check = getattr(model, "check_settings", None)      # the models' public settings check
        if check is not None:
            check()
    except (CLVError, ValueError, TypeError) as exc:
        raise ValueError(f"options: {' '.join(str(exc).split())}") from None


def _registered(value: str, role: str) -> str:
    if value not in registry.keys(role):
        raise ValueError(f"{value!r} is not a registered {role} model; use one of {list(registry.keys(role))}")
    return value


class ForecastConfig(_Strict):
    horizon: int = Field(12, gt=0, le=1200, description="number of forecast periods")
    period: Literal["D", "W", "M", "Y"] = Field("M", description="length of one forecast period: D, W, M or Y "
                                                                 "(exact lengths of clvmodels.timeunits)")
    discount_rate: float = Field(0.10, ge=0.0, le=10.0, description="annual effective discount rate, converted "
                                                                    "exactly to the period; each period's cash flow is discounted at its "
                                                                    "end")
    margin: float = Field(1.0, ge=-10.0, le=1.0, description="contribution margin as a rate of revenue (negative "
                                                             "for a loss-making line)")
    cost_per_order: float = Field(0.0, ge=0.0, description="cost per expected order, subtracted from its margin")
    cost_per_active_period: float = Field(0.0, ge=0.0, description="cost per period at whose end the customer is "
                                                                   "alive")
    retention_cost: float = Field(0.0, ge=0.0, description="one-off cost per customer, paid now (undiscounted)")
    interval: float | None = Field(0.9, gt=0.0, lt=1.0, description="central interval of the expected CLV under "
                                                                    "parameter uncertainty (clv_lower, clv_upper); null for none")
    n_draws: int = Field(500, ge=2, le=100_000, description="parameter draws for the interval (MLE: from the "
                                                            "asymptotic normal of the log-parameters)")
    random_seed: int = Field(0, description="seed of the parameter draws")


class SegmentsConfig(_Strict):
    vip: float = Field(0.95, allow_inf_nan=False,
                       description="VIP threshold: a quantile (by=quantile) or an amount (by=value)")
    core: float = Field(0.5, allow_inf_nan=False, description="core threshold, below vip (same kind)")
    by: Literal["quantile", "value"] = Field("quantile", description="what vip and core are: quantiles of predicted "
                                                                     "CLV, or amounts (value)")

    @model_validator(mode="after")
    def _thresholds(self):
        if self.by == "quantile":
            for key in ("vip", "core"):
                if not 0.0 <= getattr(self, key) <= 1.0:
                    raise ValueError(f"{key}={getattr(self, key)!r} must be a quantile in [0, 1] with by: quantile")
        if self.vip < self.core:
            raise ValueError(f"vip ({self.vip!r}) must be >= core ({self.core!r})")
        return self


class AuthConfig(_Strict):
    type: Literal["bearer"] = Field("bearer", description="HTTP authentication scheme")
    token_env: str = Field(description="name of the environment variable holding the token (never the token)")


class ExportConfig(_Strict):
    target: Literal["file", "sql", "http"] = Field(description="kind of delivery: file (a drop directory), sql (a "
                                                               "table) or http (an endpoint or CRM API)")
    directory: str | None = Field(None, description="file: the drop directory (relative: to the working "
                                                    "directory of `clv run`, recorded absolute in the run folder)")
    format: Literal["csv", "parquet"] = Field("csv", description="file: csv or parquet")
    url: str | None = Field(None, description="sql: a SQLAlchemy URL; http: the endpoint (Salesforce: the instance)")
    table: str | None = Field(None, description="sql: the target table (created if missing; one set of rows per "
                                                "run_id)")
    batch_size: int | None = Field(None, gt=0, description="http: rows per request (per job for salesforce_bulk); "
                                                           "default: the preset's (generic 1000, hubspot 100, "
                                                           "salesforce_bulk 10000)")
    preset: Literal["generic", "hubspot", "salesforce_bulk"] = Field(
        "generic", description="http: the request shape - generic JSON batches, a HubSpot batch upsert or a "
                               "Salesforce Bulk API 2.0 upsert job")
    preset_options: dict[str, Any] | None = Field(
        None, description="http: hubspot {id_property}; salesforce_bulk {object, external_id_field, api_version}")
    auth: AuthConfig | None = Field(None, description="http: credentials taken from the environment at send time")
    headers: dict[str, str] | None = Field(None, description="http: extra headers; values may name environment "
                                                             "variables as ${VAR} (resolved when sending)")
    fields: dict[str, Any] | None = Field(
        None, description="field mapping {source column: CRM field name | {name, type, round, allowed}}; "
                          "default: every field of the export table under its own name")
    dry_run: bool = Field(False, description="plan the delivery (target, rows, batches, first rows) without "
                                             "sending anything")

    @model_validator(mode="after")
    def _needs(self):
        need = {"file": ["directory"], "sql": ["url", "table"], "http": ["url"]}[self.target]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"target {self.target!r} needs {missing}")
        if self.target != "http" and (self.preset != "generic" or self.auth or self.headers or self.preset_options):
            raise ValueError("preset, preset_options, auth and headers apply to target 'http' only")
        if self.target == "http":
            _check_http_url(self.url)
        if self.target == "sql":
            _check_sql_url(self.url)
        if self.fields is not None:
            from .export.mapping import parse_fields

            try:
                parse_fields(self.fields)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self


class OutputConfig(_Strict):
    dir: str = Field("runs", description="where run folders go (relative to the working directory)")
    formats: list[Literal["csv", "parquet"]] = Field(["csv"], description="formats of the scores table")
    report: bool = Field(True, description="write report.html, the page a manager opens, in every run and "
                                           "scoring folder (a few seconds of plotting)")


class TrackingConfig(_Strict):
    """MLflow tracking of a run (optional: ``pip install "clvmodels[mlflow]"``)."""

    uri: str = Field(description="MLflow tracking URI: a folder path or file: URI (a local file store; MLflow 3 "
                                 "wants MLFLOW_ALLOW_FILE_STORE=true for it), sqlite:///mlflow.db, or an "
                                 "http(s):// tracking server")
    experiment: str = Field("clvmodels", min_length=1, description="the MLflow experiment the run is logged to")
    registered_model: str | None = Field(None, min_length=1,
                                         description="also register the run's pyfunc scorer under this model name")
    tags: dict[str, str] = Field({}, description="tags set on the MLflow run")

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("uri must not be empty")
        return value.strip()


def _absolute_tracking_uri(uri: str, cwd: Path) -> str:
    """A tracking URI naming a relative folder or SQLite file, made absolute against ``cwd``."""
    if uri.startswith("sqlite:"):
        return _absolute_sqlite(uri, cwd)
    if uri.startswith("file:") and not uri.startswith("file://"):
        uri = uri[len("file:"):]
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri):
        return uri
    return (cwd / uri).resolve().as_uri()


#: a run id is the name, '-' and a 23-character UTC stamp; run ids have at most 128 characters
MAX_NAME = 128 - 24


class RunConfig(_Strict):
    """A validated run configuration (the YAML of ``clv run``); every section has its defaults.

    Sections: ``name``, ``data`` (source and columns), ``summary`` (calibration / observation ends,
    time unit, merge and returns rules), ``models`` (registry names), ``scoring``, ``forecast``,
    ``segments``, ``output``, ``export`` (CRM targets) and ``tracking`` (MLflow). See
    ``configs/template.yaml`` for every option.

    Examples
    --------
    >>> cfg = RunConfig.model_validate({"name": "demo", "data": {"source": "cdnow_sample"},
    ...                                 "summary": {"calibration_end": 39, "observation_end": "1998-06-30"}})
    >>> cfg.summary.calibration_end, cfg.models.purchase.name, cfg.forecast.discount_rate, cfg.scoring
    (39.0, 'bgnbd', 0.1, 'full')
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=MAX_NAME,
                      description=f"the run's name: letters, digits, '_', '.', '-', at most {MAX_NAME} characters "
                                  "(the run id, the run folder's name, adds a UTC time stamp)")
    data: DataConfig
    summary: SummaryConfig = SummaryConfig()
    models: ModelsConfig = ModelsConfig()
    scoring: Literal["full", "calibration"] = Field(
        "full", description="with a holdout: 'full' evaluates on the holdout, then refits on all data up to "
                            "observation_end and scores every customer as of that date; 'calibration' scores with "
                            "the calibration fit as of calibration_end (back-testing)")
    forecast: ForecastConfig = ForecastConfig()
    segments: SegmentsConfig = SegmentsConfig()
    output: OutputConfig = OutputConfig()
    export: list[ExportConfig] = []
    tracking: TrackingConfig | None = Field(None, description="log the run to MLflow (params, metrics, the run "
                                                              "folder, a pyfunc scorer)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.data.amount_col is None and self.models.spend is not None:
            raise ValueError("models.spend needs amounts but data.amount_col is null (a log without amounts): set "
                             "models.spend: null, and CLV counts orders (spend 1 per order)")
        if self.data.amount_col is None and self.summary.returns != "error":
            raise ValueError("summary.returns acts on amounts but data.amount_col is null")
        cov = self.models.covariates
        if self.data.spark_mode == "distributed" and (cov.purchase or cov.dropout):
            raise ValueError("data.spark_mode: distributed does not join covariates (models.covariates) in Spark yet; "
                             "use spark_mode: collect")
        if self.data.spark_mode == "distributed" and self.tracking is not None:
            raise ValueError("data.spark_mode: distributed does not log to MLflow (tracking needs the scores on the "
                             "driver); use spark_mode: collect or drop tracking")
        return self

    def with_outputs_resolved(self, cwd: Path | None = None) -> RunConfig:
        """The config with its output locations absolute: ``output.dir``, file drops and SQLite files
        relative to ``cwd`` (the working directory of ``clv run``). The run folder records these, so
        ``clv export`` delivers to the same places from any directory."""
        cwd = Path.cwd() if cwd is None else Path(cwd)
        output = self.output.model_copy(update={"dir": str((cwd / self.output.dir).resolve())})
        targets = []
        for target in self.export:
            if target.target == "file":
                target = target.model_copy(update={"directory": str((cwd / target.directory).resolve())})
            elif target.target == "sql":
                target = target.model_copy(update={"url": _absolute_sqlite(target.url, cwd)})
            targets.append(target)
        tracking = self.tracking
        if tracking is not None:
            tracking = tracking.model_copy(update={"uri": _absolute_tracking_uri(tracking.uri, cwd)})
        return self.model_copy(update={"output": output, "export": targets, "tracking": tracking})

    def with_source_resolved(self, base: Path | None) -> RunConfig:
        """The config with its relative input paths (``data.source``, a SQLite ``data.url``,
        ``models.covariates.file``) resolved against ``base`` (the config file's folder): input paths
        are relative to the config, output paths (output.dir, export directories) to the working
        directory. Bundled data set names stay as they are."""
        cfg = self
        cov = self.models.covariates
        if base is not None and cov.file is not None and not Path(cov.file).is_absolute():
            cov = cov.model_copy(update={"file": str((Path(base) / cov.file).resolve())})
            cfg = self.model_copy(update={"models": self.models.model_copy(update={"covariates": cov})})
        return cfg._with_data_resolved(base)

    def _with_data_resolved(self, base: Path | None) -> RunConfig:
        if self.data.source == "sql":
            if base is None or not self.data.url.startswith("sqlite"):
                return self
            return self.model_copy(update={"data": self.data.model_copy(
                update={"url": _absolute_sqlite(self.data.url, Path(base))})})
        if (self.data.source in BUNDLED_SOURCES + ("table",) or base is None
                or Path(self.data.source).is_absolute()):
            return self
        source = str((Path(base) / self.data.source).resolve())
        return self.model_copy(update={"data": self.data.model_copy(update={"source": source})})


_ANY_REF = re.compile(r"\$\{[^}]*\}")


def _check_http_url(url: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(_ANY_REF.sub("x", url))
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an absolute http:// or https:// URL, got scheme {parts.scheme!r}"
                         + ("" if parts.hostname else " and no host"))
    del port


def _check_sql_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(_ANY_REF.sub("x", url)).get_dialect()
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"url is not a SQLAlchemy URL ({exc})") from None
    except NoSuchModuleError as exc:
        raise ValueError(f"url names an unknown SQL dialect or a driver that is not installed ({exc})") from None
    except ImportError as exc:
        raise ValueError(f"url needs a database driver that is not installed ({exc})") from None


def _absolute_sqlite(url: str, cwd: Path) -> str:
    """A SQLite URL whose database file is relative, made absolute against ``cwd`` (other URLs as given)."""
    if not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or Path(database).is_absolute():
        return url
    return parsed.set(database=str((cwd / database).resolve())).render_as_string(hide_password=False)


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe YAML loader, refusing a key given twice in one mapping (YAML would keep the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"key {key!r} is given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1}); "
                              "YAML would silently keep the last one", key=str(key))
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, where: str = "config"):
    r"""YAML text -> Python objects: safe (no Python objects), and a duplicated key is a ConfigError.

    Examples
    --------
    >>> parse_yaml("name: a\nname: b")
    Traceback (most recent call last):
    ...
    clvmodels.errors.ConfigError: key 'name' is given twice (lines 1 and 2); YAML would silently keep the last one
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)   # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """A copy of the raw config with ``key.path=value`` overrides applied (``clv run --set``).

    Values are read as YAML (``24`` a number, ``null`` None, ``[a, b]`` a list, ``true`` a bool);
    list items are addressed by their index (``export.0.url=...``). The result is validated like a
    config file, so an unknown key or a bad value names its path.

    Examples
    --------
    >>> apply_overrides({"name": "a", "forecast": {"horizon": 12}}, ["forecast.horizon=24", "models.method=nuts"])
    {'name': 'a', 'forecast': {'horizon': 24}, 'models': {'method': 'nuts'}}
    """
    out = copy.deepcopy(raw)
    for item in overrides:
        path, eq, text = item.partition("=")
        if not eq or not path.strip():
            raise ConfigError(f"--set {item!r}: write key.path=value, e.g. forecast.horizon=24", key=path or None)
        keys = path.strip().split(".")
        value = parse_yaml(text, f"--set {path}") if text.strip() else None
        node: Any = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ConfigError(f"--set {path}: {'.'.join(keys[:depth]) or 'the config'} has no item {key!r}",
                                      key=path)
                key = int(key)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {path}: {'.'.join(keys[:depth])} is not a section", key=path)
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and (key not in node or node[key] is None):
                    node[key] = {}
                node = node[key]
    return out


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
                ) -> tuple[RunConfig, Path | None]:
    """Parse a YAML path or a dict into a :class:`RunConfig`; return it with the config's folder.

    A relative ``data.source`` path is resolved against the config file's folder here, once.

    Raises :class:`ConfigError` naming the first offending key (all problems are listed in the message).

    Examples
    --------
    >>> cfg, folder = load_config({"name": "demo", "data": {"source": "cdnow_sample"}})
    >>> cfg.data.source, folder is None
    ('cdnow_sample', True)
    >>> load_config({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"discount_rate": -1}})
    Traceback (most recent call last):
    ...
    clvmodels.errors.ConfigError: invalid run config: forecast.discount_rate: Input should be greater than or equal to 0
    """
    base = None
    if isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file():
            what = "is a directory, not a config file" if path.is_dir() else "does not exist"
            raise ConfigError(f"config file {str(path)!r} {what}", key=None)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the config as UTF-8") from None
        raw = parse_yaml(text, str(path))
        base = path.resolve().parent
    if not isinstance(raw, dict):
        raise ConfigError("a run config must be a mapping with keys name, data, summary, models, forecast, output")
    if overrides:
        raw = apply_overrides(raw, overrides)
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_key_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        first = _key_path(exc.errors()[0]["loc"])
        raise ConfigError("invalid run config: " + "; ".join(problems), key=first) from None
    return cfg.with_source_resolved(base), base
