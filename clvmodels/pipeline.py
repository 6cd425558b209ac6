"""The main job: data -> summary -> models -> holdout check -> CLV and segments -> run folder -> CRM.

The same public functions a notebook calls, driven by a :class:`~clvmodels.config.RunConfig`.
A run folder ``<output.dir>/<name>-<UTC timestamp>/`` is self-describing:

* ``config.yaml`` - the validated config, every default filled in;
* ``manifest.json`` - package and library versions, timings, the data report (rows left out and why),
  customer counts, fitted parameters;
* ``models/purchase.json``, ``models/spend.json`` - parameters, covariance, log-likelihood (no pickle);
* ``scores.csv`` (and/or ``.parquet``) - one row per customer: P(alive), churn, expected purchases,
  spend, revenue, margin, discounted CLV with its interval, value tier, RFM scores, and the summary;
* ``export_table.parquet`` - the canonical CRM table (:mod:`clvmodels.export.schema`), the exact
  table every delivery sends; its checksum is in the manifest;
* ``metrics.json`` and ``evaluation.csv`` - holdout metrics when the config has a holdout;
* ``exports.json`` - one receipt per CRM delivery (written after the deliveries).

The folder is written under a temporary name and renamed when complete, so a crashed run never
looks like a finished one. Deliveries use the folder name as ``run_id``: each target receives a run
exactly once, and ``clv export RUN_FOLDER`` re-delivers (or resumes) a finished run safely from its
``export_table.parquet``, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import __version__, registry
from .config import RunConfig, load_config
from .data.summary import RFMSummary
from .errors import CLVError, CLVWarning, ConfigError
from .progress import Progress
from .timeunits import days_per

__all__ = ["run", "validate", "deliver", "plan_delivery", "plan_run", "build_summary", "build_models",
           "attach_covariates", "load_run", "score_run", "SavedRun", "RunResult", "EXPORT_TABLE"]

#: the canonical CRM table of a run folder, re-sent by ``clv export``
EXPORT_TABLE = "export_table.parquet"


@dataclass
class RunResult:
    """What a run produced: the folder and the in-memory tables.

    Examples
    --------
    >>> result = run({"name": "demo", "data": {"source": "cdnow_sample"}, "models": {"spend": None},
    ...               "forecast": {"interval": None}}, write=False)
    >>> type(result).__name__, result.folder, len(result.scores), result.summary.time_unit
    ('RunResult', None, 2357, 'W')
    """

    folder: Path | None
    summary: RFMSummary
    scores: pd.DataFrame
    metrics: dict
    manifest: dict = field(default_factory=dict)
    receipts: list = field(default_factory=list)
    #: where the run was logged to MLflow (``uri``, ``experiment``, ``run_id``, ``model_uri``), with ``tracking:``
    tracking: dict | None = None


def _load_transactions(cfg: RunConfig):
    """The config's transaction log: a bundled data set (a DataFrame) or the path of a file."""
    from . import datasets

    if cfg.data.source == "cdnow":
        return datasets.cdnow_transactions()
    if cfg.data.source == "cdnow_sample":
        return datasets.cdnow_transactions(sample=True)
    if cfg.data.source == "sql":
        return _read_sql(cfg)
    if cfg.data.source == "table":
        spark = spark_session(cfg)
        try:
            return spark.table(cfg.data.table)
        except Exception as exc:   # pyspark's AnalysisException (its module differs between Spark versions)
            if type(exc).__name__ != "AnalysisException":
                raise
            message = " ".join(str(exc).split())[:300]
            raise ConfigError(f"data.table: Spark cannot read table {cfg.data.table!r}: {message}",
                              key="data.table") from None
    path = Path(cfg.data.source)
    if not path.exists():
        raise ConfigError(f"data.source: file {str(path)!r} does not exist", key="data.source")
    return str(path)


def _read_sql(cfg: RunConfig) -> pd.DataFrame:
    """The rows of ``data.query`` on ``data.url`` (``${VAR}`` read from the environment). A failure
    names the key and never shows the password."""
    import sqlalchemy

    from .export.auth import expand_env, redact, url_secrets

    url = expand_env(cfg.data.url, "data.url")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            frame = pd.read_sql_query(sqlalchemy.text(cfg.data.query), connection)
    except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None else exc
        message = " ".join(str(getattr(cause, "orig", None) or cause).split())
        raise ConfigError(redact(f"data.query on data.url {cfg.data.url!r} failed: {type(exc).__name__}: {message}",
                                 url_secrets(url)), key="data.query") from None
    finally:
        engine.dispose()
    return frame


def spark_session(cfg: RunConfig):
    """The Spark session of a run with ``data.engine: spark``: the active one, or one started with
    ``data.spark_conf`` (:func:`clvmodels.spark.start_session`). The data layer's Spark engine then uses it."""
    from .spark import start_session

    return start_session(cfg.data.spark_conf, app_name=f"clvmodels {cfg.name}")


def build_summary(cfg: RunConfig, transactions=None) -> RFMSummary:
    """Transactions -> (calibration) summary as the config says; validates all data on the way.

    Examples
    --------
    >>> from clvmodels.config import load_config
    >>> cfg, _ = load_config({"name": "demo", "data": {"source": "cdnow_sample"},
    ...                       "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"}})
    >>> s = build_summary(cfg)
    >>> len(s), s.has_holdout, str(s.calibration_end.date())
    (2357, True, '1997-09-30')
    """
    from .data.rfm import calibration_holdout, rfm_summary

    if cfg.data.engine == "spark":
        spark_session(cfg)
    tx = _load_transactions(cfg) if transactions is None else transactions
    s, common = cfg.summary, _summary_options(cfg)
    if s.calibration_end is not None:
        return calibration_holdout(tx, s.calibration_end, s.observation_end, **common)
    return rfm_summary(tx, s.observation_end, **common)


def _summary_options(cfg: RunConfig) -> dict:
    """The config's data and summary options as keyword arguments of ``rfm_summary``: one place, so
    a run and a later ``clv score`` build their summaries the same way."""
    s, d = cfg.summary, cfg.data
    # columns the purchase model's fit needs beyond (frequency, recency, T), e.g. litt for the (M)BG/CNBD-k
    needs = registry.get(cfg.models.purchase.name).summary_options if cfg.models.purchase is not None else ()
    return dict(time_unit=s.time_unit, customer_col=d.customer_col, date_col=d.date_col,
                amount_col=d.amount_col, merge=s.merge, monetary_includes_first=s.monetary_includes_first,
                returns=s.returns, date_format=d.date_format, engine=d.engine, timezone=d.timezone,
                order_col=d.order_col, refund_window=s.refund_window, **{opt: True for opt in needs})


def validate(config) -> dict:
    """Check a config and its data without fitting anything; return what the summary holds (the
    customers, its time unit and dates, its options and what was left out).

    Examples
    --------
    >>> facts = validate({"name": "demo", "data": {"source": "cdnow_sample"}})
    >>> facts["customers"], facts["time_unit"], facts["observation_end"]
    (2357, 'W', '1998-06-30')
    """
    cfg = _config(config).with_outputs_resolved()
    preflight(cfg)
    return build_summary(cfg).describe_facts()


def preflight(cfg: RunConfig) -> list[str]:
    """Checks of everything outside the data before any work: the data source is a file (or a bundled
    set), output locations are directories (or can be made), every ``${VAR}`` a URL or header names is
    set. Raises :class:`ConfigError` naming the key; returns notes on outputs written outside the
    working directory (allowed, and said: they are also warned about and recorded in the manifest)."""
    from .config import BUNDLED_SOURCES, env_references

    if cfg.data.source == "sql":
        for var in env_references(cfg.data.url):
            if var not in os.environ:
                raise ConfigError(f"data.url names the environment variable ${{{var}}}, which is not set",
                                  key="data.url")
    if cfg.data.engine == "spark" and importlib.util.find_spec("pyspark") is None:
        raise ConfigError('data.engine: spark needs pyspark, which is not installed: pip install "clvmodels[spark]"',
                          key="data.engine")
    if cfg.data.source == "table":
        pass     # a table of the Spark catalog: Spark names it if it is missing
    elif cfg.data.source not in BUNDLED_SOURCES and cfg.data.source != "sql":
        source = Path(cfg.data.source)
        if not source.exists():
            raise ConfigError(f"data.source: file {str(source)!r} does not exist", key="data.source")
        if source.is_dir() and not any(source.glob("*.parquet")):
            raise ConfigError(f"data.source: {str(source)!r} is a directory without Parquet files; give a CSV or "
                              "Parquet file (or a folder of Parquet files)", key="data.source")
    places = [("output.dir", Path(cfg.output.dir))] + [
        (f"export.{i}.directory", Path(t.directory)) for i, t in enumerate(cfg.export) if t.target == "file"]
    notes = []
    cwd = Path.cwd().resolve()
    for key, place in places:
        probe = place
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise ConfigError(f"{key}: {str(probe)!r} is a file, not a directory", key=key)
        if not place.resolve().is_relative_to(cwd):
            notes.append(f"{key} writes to {str(place)!r}, outside the working directory {str(cwd)!r}")
    for i, target in enumerate(cfg.export):
        for where, text in [("url", target.url or "")] + [(f"headers.{h}", v) for h, v in (target.headers or {}).items()]:
            for var in env_references(text):
                if var not in os.environ:
                    raise ConfigError(f"export.{i}.{where} names the environment variable ${{{var}}}, which is not "
                                      "set", key=f"export.{i}.{where}")
        if target.auth is not None and target.auth.token_env not in os.environ:
            raise ConfigError(f"export.{i}.auth.token_env names the environment variable {target.auth.token_env!r}, "
                              "which is not set", key=f"export.{i}.auth.token_env")
    if cfg.tracking is not None:
        from .mlflow_tracking import check_tracking

        check_tracking(cfg.tracking)
    for note in notes:
        warnings.warn(note, CLVWarning, stacklevel=3)
    return notes


def _config(config) -> RunConfig:
    return config if isinstance(config, RunConfig) else load_config(config)[0]


def _score(cfg: RunConfig, summary: pd.DataFrame, purchase, spend, *, intervals: bool = True,
           advance=None) -> pd.DataFrame:
    """Forecast, segment and attach the RFM summary; ``intervals=False`` skips the CLV interval (the
    holdout check ranks by the point CLV only). ``advance(n)`` (a progress step's) is told of the
    customers forecast, chunk by chunk."""
    from .forecast.clv import forecast_clv
    from .segments import rfm_scores, value_tiers

    f = cfg.forecast
    interval = f.interval if intervals else None
    if interval is not None:
        unsure = _no_parameter_uncertainty(purchase, spend)
        if unsure:
            warnings.warn(f"CLV intervals left out of this run's scores: {unsure}. The point forecasts are "
                          "delivered; forecast.interval: null says so in the config, a Bayesian method "
                          "(models.method: map | advi | nuts) or models.penalizer > 0 gives intervals.",
                          CLVWarning, stacklevel=3)
            interval = None
    fc = forecast_clv(summary, purchase, spend if spend is not None else 1.0, horizon=f.horizon, period=f.period,
                      discount_rate=f.discount_rate, margin=f.margin, cost_per_order=f.cost_per_order,
                      cost_per_active_period=f.cost_per_active_period, retention_cost=f.retention_cost,
                      interval=interval, n_draws=f.n_draws, random_state=f.random_seed,
                      progress=None if advance is None else _customers_done(advance, len(summary)))
    tiers = value_tiers(fc, column="clv", vip=cfg.segments.vip, core=cfg.segments.core, by=cfg.segments.by)
    scores = fc.join(tiers.customers[["tier", "rank"]].rename(columns={"rank": "value_rank"}))
    monetary = "monetary_value" if "monetary_value" in summary.columns else None
    scores = scores.join(rfm_scores(summary, monetary=monetary))
    return scores.join(summary[[c for c in summary.columns if c not in scores.columns]])   # the RFM the scores used


def _customers_done(advance, n_customers: int):
    """forecast_clv's ``progress(done, total)`` over distinct rows as customers for a progress step
    of ``n_customers``."""
    told = 0

    def report(done: int, total: int) -> None:
        nonlocal told
        now = n_customers if done >= total else int(n_customers * done / max(total, 1))
        if now > told:
            advance(now - told)
            told = now
    return report


def _no_parameter_uncertainty(*models) -> str:
    """Why the fitted MLE models cannot give parameter draws ('' when they can): an estimate that ran
    to the edge of the parameter space, or a covariance that is not finite."""
    reasons = []
    for model in models:
        if model is None or getattr(model, "idata_", None) is not None or not hasattr(model, "cov_"):
            continue
        boundary = (getattr(model, "fit_info_", None) or {}).get("boundary")
        cov = getattr(model, "cov_", None)
        if boundary:
            reasons.append(f"{type(model).__name__} has no finite estimate ({', '.join(boundary)} ran to the edge)")
        elif cov is None or not np.all(np.isfinite(np.asarray(cov, dtype=np.float64))):
            reasons.append(f"{type(model).__name__} has no finite covariance (standard errors unavailable)")
    return "; ".join(reasons)


def build_models(cfg: RunConfig, progressbar: bool = False) -> tuple:
    """The purchase and spend models of the config (unfitted), from the registry: maximum likelihood
    or Bayesian (map / advi / nuts) with the config's sampler settings, priors and covariates.

    Examples
    --------
    >>> from clvmodels.config import load_config
    >>> cfg, _ = load_config({"name": "a", "data": {"source": "cdnow_sample"},
    ...                       "models": {"purchase": {"name": "paretonbd", "method": "advi"}}})
    >>> [type(m).__module__ + "." + type(m).__name__ for m in build_models(cfg)]
    ['clvmodels.bayes.paretonbd.ParetoNBD', 'clvmodels.models.gammagamma.GammaGamma']
    """
    m = cfg.models
    out = []
    for role in ("purchase", "spend"):
        spec = getattr(m, role)
        if spec is None:
            out.append(None)
            continue
        method = m.method_of(role)
        settings: dict = {}
        if method == "mle":
            settings["penalizer_coef"] = m.penalizer
        elif method == "gibbs":
            # the Pareto/GGG's own sampler: the config's draws / tune / chains when it sets them, else the
            # model's defaults (the NUTS defaults of models.sampler are not its)
            sm = m.sampler
            given = {k: getattr(sm, k) for k in ("draws", "tune", "chains") if k in sm.model_fields_set}
            settings.update(random_seed=sm.seed, priors=spec.priors, **given)
        else:
            sm = m.sampler
            settings.update(draws=sm.draws, tune=sm.tune, chains=sm.chains, target_accept=sm.target_accept,
                            advi_iterations=sm.advi_iterations, random_seed=sm.seed, priors=spec.priors,
                            progressbar=progressbar)
            if role == "purchase" and (m.covariates.purchase or m.covariates.dropout):
                settings.update(purchase_covariates=list(m.covariates.purchase) or None,
                                dropout_covariates=list(m.covariates.dropout) or None)
        if role == "spend":
            settings["nonpositive_spend"] = m.nonpositive_spend
        settings.update(spec.options or {})       # the model's own settings (checked by the config)
        out.append(registry.build(spec.name, method, **settings))
    return tuple(out)


def _fit_models(cfg: RunConfig, summary: RFMSummary, progressbar: bool = False):
    """The config's models fitted on ``summary``."""
    purchase, spend = build_models(cfg, progressbar)
    return purchase.fit(summary), (None if spend is None else spend.fit(summary))


def attach_covariates(cfg: RunConfig, summary: RFMSummary, tx) -> RFMSummary:
    """The summary with the config's covariate columns (``models.covariates``), from the customer
    attribute file joined on the customer id, or from the transaction log (one value per customer).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels.config import load_config
    >>> from clvmodels.data.rfm import rfm_summary
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "region": ["north", "north", "south"],
    ...                    "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-15"]), "amount": [5.0, 7.0, 3.0]})
    >>> cfg, _ = load_config({"name": "demo", "data": {"source": "cdnow_sample"},
    ...                       "models": {"purchase": {"name": "bgnbd", "method": "map"}, "spend": None,
    ...                                  "covariates": {"purchase": ["region"]}}})
    >>> attach_covariates(cfg, rfm_summary(tx, None, "W"), tx)["region"].tolist()
    ['north', 'south']
    """
    cov = cfg.models.covariates
    columns = list(dict.fromkeys(cov.purchase + cov.dropout))
    if not columns or set(columns) <= set(summary.columns):     # none asked for, or a summary that has them
        return summary
    id_col = cfg.data.customer_col
    if cov.file is not None:
        path = Path(cov.file)
        if not path.is_file():
            raise ConfigError(f"models.covariates.file: {str(path)!r} does not exist", key="models.covariates.file")
        table = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
        where = "models.covariates.file"
    else:
        table = tx if isinstance(tx, pd.DataFrame) else (pd.read_parquet(tx) if str(tx).lower().endswith(
            (".parquet", ".pq")) else pd.read_csv(tx))
        where = "the transaction log"
    missing = [c for c in [id_col, *columns] if c not in table.columns]
    if missing:
        raise ConfigError(f"models.covariates: {where} has no column(s) {missing}", key="models.covariates")
    values = table[[id_col, *columns]]
    if values[id_col].dtype != summary.index.dtype:
        values = values.astype({id_col: summary.index.dtype}, errors="ignore")
    per_customer = values.groupby(id_col, sort=False)[columns].nunique(dropna=False)
    varying = per_customer.index[(per_customer > 1).any(axis=1)]
    if len(varying):
        raise ConfigError(f"models.covariates: {len(varying)} customer(s) have more than one value of a covariate in "
                          f"{where}, e.g. {list(varying[:5])}; give one value per customer (a customer attribute "
                          "file)", key="models.covariates")
    first = values.drop_duplicates(id_col).set_index(id_col)[columns]
    joined = first.reindex(summary.index)
    absent = summary.index[joined.isna().any(axis=1).to_numpy()]
    if len(absent):
        raise ConfigError(f"models.covariates: {len(absent)} customer(s) of the summary have no covariate values in "
                          f"{where}, e.g. {list(absent[:5])}", key="models.covariates")
    return summary.assign(**{c: joined[c].to_numpy() for c in columns})


def _full_summary(cfg: RunConfig, tx, calibration: RFMSummary) -> RFMSummary:
    """The summary of all data up to the calibration summary's observation end, same options."""
    from .data.rfm import rfm_summary

    return rfm_summary(tx, calibration.observation_end, **_summary_options(cfg))


def _window(summary: RFMSummary) -> dict:
    """The data window a model was fitted on: first purchase to the summary's end (calibration end
    for a calibration / holdout summary), as ISO days."""
    end = summary.calibration_end if summary.calibration_end is not None else summary.observation_end
    first = end - pd.to_timedelta(float(summary["T"].max()) * days_per(summary.time_unit), unit="D")
    return {"from": str(first.date()), "to": str(end.date()), "customers": int(len(summary))}


def run(config, *, write: bool = True, transactions=None, progress: Progress | None = None) -> RunResult:
    """Run the main job for a config (YAML path, dict or RunConfig); deliver to the CRM targets.

    With a holdout (``summary.calibration_end``) the models are fitted on the calibration period
    and evaluated on the holdout; then (``scoring: full``, the default) refitted on all data up to
    ``observation_end``, and every customer in the log is scored as of that date. Output locations
    are made absolute (against the working directory) and recorded in the run folder.

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> result = run({"name": "demo", "data": {"source": "cdnow_sample"},
    ...               "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"},
    ...               "forecast": {"n_draws": 20}, "export": [{"target": "file", "directory": "crm_drop"}]})
    >>> result.folder.parent.name, result.manifest["scoring"]["as_of"], result.receipts[0]["rows"]
    ('runs', '1998-06-30', 2357)
    >>> round(result.metrics["metrics"]["purchases_actual"])         # the holdout: weeks 40-78 of CDNOW
    1882
    """
    cfg = _config(config).with_outputs_resolved()
    progress = progress or Progress()
    notes = preflight(cfg)
    if write:
        _remove_stale_partials(Path(cfg.output.dir))
    if cfg.data.engine == "spark" and cfg.data.spark_mode == "distributed":   # per-customer data stays in Spark
        from .spark import runs

        return runs.run(cfg, notes, write=write, transactions=transactions, progress=progress)
    run_id = f"{cfg.name}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with progress.step("read the transactions and build the summary"):
        tx = _load_transactions(cfg) if transactions is None else transactions
        summary = attach_covariates(cfg, build_summary(cfg, tx), tx)
    timings["summary_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    purchase, spend = _fit_steps(cfg, summary, progress, "")
    timings["fit_s"] = time.perf_counter() - t0

    metrics, evaluation_table, evaluated = {}, None, None
    if summary.has_holdout:
        from .evaluate import evaluate

        t0 = time.perf_counter()
        with progress.step("evaluate on the holdout"):
            calibration_scores = _score(cfg, summary, purchase, spend, intervals=False)
            ev = evaluate(summary, purchase, spend, transactions=tx, score=calibration_scores["clv"],
                          name=registry.get(cfg.models.purchase.name).label)
        metrics, evaluation_table = json.loads(ev.to_json()), ev.table
        timings["evaluate_s"] = time.perf_counter() - t0
        evaluated = (summary, purchase, spend)
        if cfg.scoring == "full":
            t0 = time.perf_counter()
            with progress.step("summarise all data up to observation_end"):
                summary = attach_covariates(cfg, _full_summary(cfg, tx, summary), tx)
            purchase, spend = _fit_steps(cfg, summary, progress, " on all data")
            timings["refit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with progress.step(f"forecast {len(summary):,} customers", total=len(summary)) as advance:
        scores = _score(cfg, summary, purchase, spend, advance=advance)
    timings["forecast_s"] = time.perf_counter() - t0
    as_of = summary.calibration_end if summary.calibration_end is not None else summary.observation_end
    metadata = {"run_id": run_id, "as_of": str(as_of.date()),
                "scored_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "model_version": f"clvmodels {__version__}: {cfg.models.purchase.name}"
                                 f"{'+' + cfg.models.spend.name if cfg.models.spend else ''} fitted "
                                 f"{_window(summary)['from']}..{_window(summary)['to']}"}
    table = export_table(scores, metadata)
    manifest = {
        "run_id": run_id, "clvmodels": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "scoring": {"mode": cfg.scoring if evaluated else "full", "as_of": metadata["as_of"],
                    "scored_at": metadata["scored_at"], "fit_window": _window(summary),
                    "evaluation_fit_window": None if evaluated is None else _window(evaluated[0])},
        "customers": int(len(summary)), "summary": summary.describe_facts(),
        "evaluation_summary": None if evaluated is None else evaluated[0].describe_facts(),
        "purchase_model": _model_facts(cfg, "purchase", purchase),
        "spend_model": ({**_model_facts(cfg, "spend", spend),
                         "nonpositive_spend": cfg.models.nonpositive_spend,
                         "n_nonpositive_excluded": int(getattr(spend, "n_nonpositive_excluded_", 0))}
                        if spend is not None else None),
        "forecast": cfg.forecast.model_dump(mode="json"),
        "totals": {"clv": float(scores["clv"].sum()), "expected_revenue": float(scores["expected_revenue"].sum()),
                   "margin_negative_customers": int((scores["clv"] < 0).sum())},
        "export_table": {"file": EXPORT_TABLE, "rows": table.n_rows, "checksum": table.checksum,
                         "columns": table.schema},
        "timings": timings,
        "notes": notes,
    }
    if not write:
        return RunResult(None, summary, scores, metrics, manifest)
    with progress.step("write the run folder"):
        folder = _write(cfg, run_id, summary, scores, table, metrics, evaluation_table, manifest, purchase, spend,
                        evaluated)
    receipts = deliver(folder, cfg, progress=progress)
    tracked = None
    if cfg.tracking is not None:
        with progress.step(f"log to MLflow ({cfg.tracking.experiment})"):
            tracked = _track(folder, cfg, manifest, metrics)
    return RunResult(folder, summary, scores, metrics, manifest, receipts, tracked)


def _track(folder: Path, cfg: RunConfig, manifest: dict, metrics: dict) -> dict:
    """Log a finished run to MLflow; record where in ``tracking.json`` of the run folder. A failure
    says that the run folder itself is complete and delivered."""
    from .mlflow_tracking import log_run

    try:
        tracked = log_run(folder, cfg, manifest, metrics)
    except CLVError:
        raise
    except Exception as exc:
        from .export.auth import expand_env, redact, url_secrets

        raise ConfigError(redact(f"run folder {str(folder)!r} is complete and delivered, but logging it to MLflow "
                                 f"at tracking.uri {cfg.tracking.uri!r} failed: {type(exc).__name__}: {exc}",
                                 url_secrets(expand_env(cfg.tracking.uri, "tracking.uri"))),
                          key="tracking.uri") from None
    from .config import redact_url

    tracked = {**tracked, "uri": redact_url(tracked["uri"])}
    _atomic_write(folder / "tracking.json", json.dumps(tracked, indent=2))
    return tracked


def _fit_steps(cfg: RunConfig, summary: RFMSummary, progress: Progress, where: str):
    """Fit the config's models, one progress step each (a sampler shows its own chains' progress)."""
    purchase, spend = build_models(cfg, progressbar=progress.live)
    with progress.step(f"fit {cfg.models.purchase.name} ({cfg.models.method_of('purchase')}){where}"):
        purchase = purchase.fit(summary)
    if spend is not None:
        with progress.step(f"fit {cfg.models.spend.name} ({cfg.models.method_of('spend')}){where}"):
            spend = spend.fit(summary)
    return purchase, spend


def plan_run(config) -> dict:
    """What ``clv run`` would do, checked but not done (``clv run --dry-run``): the config and the data
    are validated (the summary is built), nothing is fitted, written or delivered.

    Examples
    --------
    >>> plan = plan_run({"name": "demo", "data": {"source": "cdnow_sample"},
    ...                  "models": {"purchase": {"name": "paretonbd", "method": "advi"}}})
    >>> plan["summary"]["customers"], plan["models"]["purchase"], plan["output"].endswith("demo-<UTC time stamp>")
    (2357, {'name': 'paretonbd', 'method': 'advi'}, True)
    """
    cfg = _config(config).with_outputs_resolved()
    notes = preflight(cfg)
    facts = build_summary(cfg).describe_facts()
    models = {role: None if getattr(cfg.models, role) is None else
              {"name": getattr(cfg.models, role).name, "method": cfg.models.method_of(role)}
              for role in ("purchase", "spend")}
    holdout = cfg.summary.calibration_end is not None
    from .config import redact_url

    data = cfg.data.source if cfg.data.source != "sql" else {"url": redact_url(cfg.data.url), "query": cfg.data.query}
    return {"name": cfg.name, "data": data, "summary": facts, "models": models,
            "steps": (["build the calibration / holdout summary", "fit the models", "evaluate on the holdout"]
                      + (["refit on all data up to observation_end"] if cfg.scoring == "full" else [])
                      if holdout else ["build the summary", "fit the models"])
            + ["forecast and segment every customer", "write the run folder", "deliver"],
            "scoring": cfg.scoring if holdout else "full", "forecast": cfg.forecast.model_dump(mode="json"),
            "output": str(Path(cfg.output.dir) / f"{cfg.name}-<UTC time stamp>"),
            "export": [{"target": t.target, "destination": _where(t), "dry_run": t.dry_run,
                        "preset": t.preset if t.target == "http" else None} for t in cfg.export],
            "notes": notes}


class SavedRun:
    """A finished run folder: its config, manifest and fitted models, ready to score new data.

    Build it with :func:`load_run`. :meth:`score` rebuilds the summary of a new transaction log with
    the run's recorded options, applies the saved models without fitting, forecasts, segments,
    writes a scoring folder with the run folder's layout and delivers to the run's export targets
    under its own run id.

    Examples
    --------
    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> saved = load_run(run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20}}).folder)
    >>> saved.as_of, saved.config.models.purchase.name, type(saved.purchase).__name__
    ('1998-06-30', 'bgnbd', 'BGNBD')
    """

    def __init__(self, folder: Path, cfg: RunConfig, manifest: dict, purchase, spend):
        self.folder, self.config, self.manifest = folder, cfg, manifest
        self.purchase, self.spend = purchase, spend

    def __repr__(self) -> str:
        return f"SavedRun({self.folder.name!r}: {self.config.models.purchase.name}, as of {self.as_of})"

    @property
    def as_of(self) -> str:
        """The day the run scored its customers as of."""
        return self.manifest["scoring"]["as_of"]

    def summary_of(self, transactions, as_of=None) -> RFMSummary:
        """The summary to score: a transaction log (DataFrame or CSV / Parquet path) is summarised with
        the run's options (columns, time unit, merge, returns, time zone) as of ``as_of`` (default:
        the log's last day); an RFM summary (an :class:`RFMSummary`, or a DataFrame with
        ``frequency``, ``recency`` and ``T`` and no date column) is used as it is, in the run's time
        unit. A summary in another time unit than the run's is a :class:`ConfigError`."""
        from .data.rfm import rfm_summary

        unit = self.config.summary.time_unit
        if isinstance(transactions, RFMSummary):
            if transactions.time_unit != unit:
                raise ConfigError(f"the summary is in time unit {transactions.time_unit!r} but run "
                                  f"{self.folder.name} was fitted in {unit!r}: rebuild it with time_unit={unit!r}",
                                  key="time_unit")
            summary = transactions
        elif (isinstance(transactions, pd.DataFrame) and {"frequency", "recency", "T"} <= set(transactions.columns)
              and self.config.data.date_col not in transactions.columns):
            frame = transactions.set_index("customer_id") if "customer_id" in transactions.columns else transactions
            summary = RFMSummary.from_frame(frame, time_unit=unit, observation_end=as_of)
        else:
            if self.config.data.engine == "spark":
                spark_session(self.config)
            summary = rfm_summary(transactions, as_of, **_summary_options(self.config))
        return attach_covariates(self.config, summary, transactions)

    def scores_for(self, summary: RFMSummary, advance=None) -> pd.DataFrame:
        """Forecast and segment ``summary`` with the saved models (nothing is fitted): the scores
        table of a run, one row per customer (``advance(n)`` is told of the customers forecast)."""
        return _score(self.config, summary, self.purchase, self.spend, advance=advance)

    def score(self, transactions, *, as_of=None, write: bool = True, output_dir=None,
              progress: Progress | None = None) -> RunResult:
        """Score ``transactions`` (a DataFrame or a CSV / Parquet path, or an RFM summary; see
        :meth:`summary_of`) with the saved models.

        Customers the training data never saw are scored like any other (their own history; a
        customer with one purchase gets the model's prediction for a new customer). Returns a
        :class:`RunResult` whose folder (with ``write``) is ``<output_dir>/<run name>-score-<time>``.
        """
        if self.config.data.engine == "spark" and self.config.data.spark_mode == "distributed":
            from .spark import runs

            return runs.score(self, transactions, as_of=as_of, write=write, output_dir=output_dir, progress=progress)
        progress = progress or Progress()
        cfg = self.config if output_dir is None else self.config.model_copy(
            update={"output": self.config.output.model_copy(update={"dir": str(Path(output_dir).resolve())})})
        run_id = f"{cfg.name}-score-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"
        if len(run_id) > 128:
            raise ConfigError(f"the scoring run id {run_id!r} is longer than 128 characters", key="name")
        with progress.step("read the transactions and build the summary"):
            summary = self.summary_of(transactions, as_of)
        if summary.observation_end is None:
            raise ConfigError("the summary does not say which day it is as of: pass as_of (clv score --as-of)",
                              key="as_of")
        with progress.step(f"score {len(summary):,} customers with the saved models", total=len(summary)) as advance:
            scores = self.scores_for(summary, advance)
        metadata = {"run_id": run_id, "as_of": str(summary.observation_end.date()),
                    "scored_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "model_version": f"clvmodels {__version__}: {self.manifest['purchase_model']['name']}"
                                     f" from run {self.folder.name}"}
        table = export_table(scores, metadata)
        manifest = {
            "run_id": run_id, "scored_from": self.folder.name, "clvmodels": __version__,
            "created_utc": metadata["scored_at"],
            "scoring": {"mode": "saved models", "as_of": metadata["as_of"], "scored_at": metadata["scored_at"],
                        "fit_window": self.manifest["scoring"]["fit_window"]},
            "customers": int(len(summary)), "summary": summary.describe_facts(),
            "purchase_model": self.manifest["purchase_model"], "spend_model": self.manifest["spend_model"],
            "forecast": cfg.forecast.model_dump(mode="json"),
            "totals": {"clv": float(scores["clv"].sum()), "expected_revenue": float(scores["expected_revenue"].sum()),
                       "margin_negative_customers": int((scores["clv"] < 0).sum())},
            "export_table": {"file": EXPORT_TABLE, "rows": table.n_rows, "checksum": table.checksum,
                             "columns": table.schema},
        }
        if not write:
            return RunResult(None, summary, scores, {}, manifest)
        Path(cfg.output.dir).mkdir(parents=True, exist_ok=True)
        with progress.step("write the scoring folder"):
            folder = _write(cfg, run_id, summary, scores, table, {}, None, manifest, self.purchase, self.spend, None)
        receipts = deliver(folder, cfg, progress=progress)
        return RunResult(folder, summary, scores, {}, manifest, receipts)


def load_run(folder) -> SavedRun:
    """A finished run folder, ready to score new transactions without refitting.

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> folder = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20}}).folder
    >>> saved = load_run(folder)
    >>> tx = clv_datasets().cdnow_transactions(sample=True)
    >>> result = saved.score(tx[tx["date"] <= "1998-03-31"], write=False)
    >>> result.manifest["scoring"]["as_of"], len(result.scores)
    ('1998-03-31', 2357)
    """
    from .registry import load_model

    folder, cfg = _run_folder(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    purchase = load_model(folder / manifest["purchase_model"]["file"])
    spend = None
    if manifest.get("spend_model"):
        spend = load_model(folder / manifest["spend_model"]["file"])
    return SavedRun(folder, cfg, manifest, purchase, spend)


def clv_datasets():
    """The bundled data sets module (for examples)."""
    from . import datasets

    return datasets


def score_run(folder, transactions, *, as_of=None, output_dir=None, progress: Progress | None = None) -> RunResult:
    """``clv score``: score a log with a finished run's saved models (see :meth:`SavedRun.score`).

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> folder = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20}}).folder
    >>> clv_datasets().cdnow_transactions(sample=True).to_csv("new.csv", index=False)
    >>> result = score_run(folder, "new.csv")
    >>> result.folder.name.startswith("demo-score-"), result.manifest["scored_from"] == folder.name
    (True, True)
    """
    path = Path(transactions)
    if not path.is_file():
        raise ConfigError(f"--transactions: file {str(path)!r} does not exist", key="transactions")
    return load_run(folder).score(str(path.resolve()), as_of=as_of, output_dir=output_dir, progress=progress)


def _model_facts(cfg: RunConfig, role: str, model) -> dict:
    """What the manifest records of a fitted model: name, method, parameters and fit diagnostics."""
    loglik = getattr(model, "loglik_", None)
    problems = getattr(model, "diagnostic_problems_", None)
    converged = getattr(model, "converged_", None)
    if converged is None and problems is not None:
        converged = not problems
    params = {k: float(v) for k, v in model.params_.items()}
    if getattr(model, "k_", None) is not None:     # the (M)BG/CNBD-k's Erlang shape, chosen by likelihood
        params = {"k": int(model.k_), **params}
    return {"name": getattr(cfg.models, role).name, "method": cfg.models.method_of(role),
            "params": params,
            "loglik": None if loglik is None else float(loglik), "converged": None if converged is None else bool(converged),
            "file": f"models/{role}{_suffix(model)}"}


def _suffix(model) -> str:
    """Saved models: MLE models as JSON, Bayesian ones (a posterior) as NetCDF."""
    return ".nc" if getattr(model, "idata_", None) is not None else ".json"


def export_table(scores: pd.DataFrame, metadata: dict | None = None):
    """The canonical CRM table of the scores (:func:`clvmodels.export.schema.crm_table`) with the run
    metadata (``run_id``, ``as_of``, ``scored_at``, ``model_version``) in every row, validated by
    :func:`clvmodels.export.prepare_table`: what every delivery of the run sends (mapped per target)."""
    from .export import prepare_table
    from .export.schema import crm_table

    table = crm_table(scores)
    for key, value in (metadata or {}).items():
        table[key] = value
    return prepare_table(table)


def read_export_table(folder: Path):
    """The run folder's canonical export table, checked against the checksum in its manifest."""
    from .export import ExportError, prepare_table

    folder = Path(folder)
    path = folder / EXPORT_TABLE
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} has no {EXPORT_TABLE}: it is not a finished clvmodels run folder "
                          "(made by clv run)", key="run_folder")
    table = prepare_table(pd.read_parquet(path))
    recorded = json.loads((folder / "manifest.json").read_text())["export_table"]["checksum"]
    if table.checksum != recorded:
        raise ExportError(f"{path} does not match the checksum in its manifest ({recorded}): it was changed after "
                          "the run; refusing to deliver it")
    return table


def _run_folder(folder) -> tuple[Path, RunConfig]:
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise ConfigError(f"run folder {str(folder)!r} does not exist", key="run_folder")
    if not (folder / "config.yaml").is_file() or not (folder / "manifest.json").is_file():
        raise ConfigError(f"{str(folder)!r} is not a clvmodels run folder (no config.yaml / manifest.json)",
                          key="run_folder")
    cfg, _ = load_config(yaml.safe_load((folder / "config.yaml").read_text()))
    return folder, cfg


def _target_table(table, target, index: int):
    """The table one target receives: the canonical table mapped by its ``fields``."""
    from .export import prepare_table
    from .export.mapping import map_table, parse_fields

    fields = parse_fields(target.fields, key=f"export.{index}.fields")
    return table if fields is None else prepare_table(map_table(table.to_frame(), fields))


def _where(target) -> str:
    """Where a target delivers, safe to show (no credentials, no query string)."""
    if target.target == "file":
        return target.directory
    if target.target == "sql":
        from sqlalchemy.engine import make_url

        return make_url(target.url).render_as_string(hide_password=True) + f"#{target.table}"
    from urllib.parse import urlsplit

    parts = urlsplit(target.url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _target_url(target, index: int) -> str:
    """The target's URL with its ``${VAR}`` references filled from the environment."""
    from .config import expand_env, redact_url

    if "***" in target.url and "***" in redact_url(target.url) and target.url == redact_url(target.url):
        raise ConfigError(f"export.{index}.url: this run's config had credentials written inline, which are never "
                          "stored in a run folder; give them as ${VAR} references to the environment "
                          "(e.g. postgresql://me:${DB_PASSWORD}@db/crm) to deliver this run again",
                          key=f"export.{index}.url")
    return expand_env(target.url, f"export.{index}.url")


def plan_delivery(folder, cfg: RunConfig | None = None) -> list[dict]:
    """What delivering the run would send, per target, without sending anything or writing a ledger:
    target, destination (no credentials), preset, rows, batches, fields and the first rows after
    mapping (``clv export --dry-run`` and ``export.dry_run: true``).

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> folder = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20}}).folder
    >>> from clvmodels.config import load_config
    >>> cfg, _ = load_config({"name": "demo", "data": {"source": "cdnow_sample"},
    ...     "export": [{"target": "http", "url": "https://crm.example.com/api", "preset": "hubspot",
    ...                 "preset_options": {"id_property": "clv_id"}}]})
    >>> plan = plan_delivery(folder, cfg)
    >>> plan[0]["destination"], plan[0]["rows"], plan[0]["batches"]            # HubSpot: 100 per request
    ('https://crm.example.com/api', 2357, 24)
    """
    folder, saved = _run_folder(folder)
    cfg = cfg or saved
    table = read_export_table(folder)
    plan = []
    for i, target in enumerate(cfg.export):
        mapped = _target_table(table, target, i)
        batch = None
        if target.target == "http":
            from .export.presets import DEFAULT_BATCH_SIZE, HUBSPOT_MAX_BATCH

            batch = target.batch_size or DEFAULT_BATCH_SIZE[target.preset]
            if target.preset == "hubspot":
                batch = min(batch, HUBSPOT_MAX_BATCH)
        first = mapped.to_frame().head(3).reset_index()
        plan.append({"target": target.target, "destination": _where(target),
                     "preset": target.preset if target.target == "http" else None, "rows": mapped.n_rows,
                     "batches": (max(1, -(-mapped.n_rows // batch)) if batch else 1),
                     "fields": list(mapped.schema), "first_rows": json.loads(first.to_json(orient="records")),
                     "dry_run": True})
    return plan


def deliver(folder: Path, cfg: RunConfig | None = None, *, dry_run: bool = False,
            progress: Progress | None = None) -> list[dict]:
    """Deliver a finished run folder to its export targets, exactly once per target.

    Safe to call again, from any directory (``clv export RUN_FOLDER``): a target that already has
    this run says so, an HTTP delivery that crashed part-way resumes after its last acknowledged
    batch. The table sent is the folder's ``export_table.parquet`` mapped by each target's
    ``fields`` (the same bytes every time); file drops and SQLite files are where the run recorded
    them, ledgers and receipts live in the run folder. Targets with ``dry_run: true`` (or every
    target, with ``dry_run=True``) are only planned (:func:`plan_delivery`).

    Examples
    --------
    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> result = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20},
    ...               "export": [{"target": "file", "directory": "crm_drop"}]})
    >>> [r["already_delivered"] for r in deliver(result.folder)]      # the run delivered itself already
    [True]
    """
    folder, saved = _run_folder(folder)
    cfg = cfg or saved
    if (folder / EXPORT_TABLE).is_dir():      # a folder of data.spark_mode: distributed: delivered from Spark
        from .spark import runs

        return runs.deliver(folder, cfg, dry_run=dry_run, progress=progress)
    if not cfg.export:
        return []
    plans = plan_delivery(folder, cfg)
    table = read_export_table(folder)
    run_id = folder.name
    progress = progress or Progress()
    receipts = []
    for i, target in enumerate(cfg.export):
        if dry_run or target.dry_run:
            receipts.append(plans[i])
            continue
        with progress.step(f"deliver to {target.target} {_where(target)}"):
            receipts.append(_deliver_one(table, target, i, folder, run_id))
    if not dry_run:
        _atomic_write(folder / "exports.json", json.dumps(receipts, indent=2, default=str))
    return receipts


def _deliver_one(table, target, i: int, folder: Path, run_id: str) -> dict:
    """One target's delivery of the run's table (mapped by its fields); the receipt as a dict."""
    from . import export

    mapped = _target_table(table, target, i)
    if target.target == "file":
        directory = Path(target.directory)
        directory.mkdir(parents=True, exist_ok=True)
        receipt = export.to_file(mapped, directory, run_id, target.format)
    elif target.target == "sql":
        receipt = export.to_sql(mapped, _target_url(target, i), target.table, run_id)
    else:
        receipt = export.to_http(mapped, _target_url(target, i), run_id, ledger_dir=folder,
                                 batch_size=target.batch_size, preset=target.preset,
                                 preset_options=target.preset_options, headers=target.headers,
                                 auth=None if target.auth is None else target.auth.model_dump())
    return receipt.to_dict()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write(cfg: RunConfig, run_id: str, summary, scores, table, metrics, evaluation_table, manifest, purchase, spend,
           evaluated) -> Path:
    root = Path(cfg.output.dir)
    final = root / run_id
    tmp = root / f".{run_id}.partial"
    (tmp / "models").mkdir(parents=True, exist_ok=False)
    lock = _hold(tmp)     # while this process writes the folder; a crash releases it (stale, removable)
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(redacted_config(cfg), sort_keys=False))
        checked = evaluated[1:] if evaluated is not None and evaluated[1] is not purchase else None
        save_models(tmp, purchase, spend, checked)
        out = scores.copy()
        if "tier" in out:
            out["tier"] = out["tier"].astype(str)
        for fmt in cfg.output.formats:
            if fmt == "csv":
                out.to_csv(tmp / "scores.csv")
            else:
                out.to_parquet(tmp / "scores.parquet")
        table.to_frame().to_parquet(tmp / EXPORT_TABLE, engine="pyarrow", index=True)
        write_records(tmp, metrics, evaluation_table, manifest)
        if cfg.output.report:
            _report(tmp)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    return final


def save_models(folder: Path, purchase, spend, evaluation: tuple | None = None) -> None:
    """The fitted models into ``folder/models`` of a run folder being written (MLE as JSON, Bayesian as NetCDF);
    ``evaluation`` = (purchase, spend) of the calibration fit the holdout checked, into ``models/evaluation``."""
    purchase.save(folder / "models" / f"purchase{_suffix(purchase)}")
    if spend is not None:
        spend.save(folder / "models" / f"spend{_suffix(spend)}")
    if evaluation is not None:
        (folder / "models" / "evaluation").mkdir()
        evaluation[0].save(folder / "models" / "evaluation" / f"purchase{_suffix(evaluation[0])}")
        if evaluation[1] is not None:
            evaluation[1].save(folder / "models" / "evaluation" / f"spend{_suffix(evaluation[1])}")


def write_records(folder: Path, metrics: dict, evaluation_table, manifest: dict) -> None:
    """``metrics.json`` (when there are metrics), ``evaluation.csv`` (when there is a table) and ``manifest.json``
    of a run folder being written."""
    if metrics:
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if evaluation_table is not None:
        evaluation_table.to_csv(folder / "evaluation.csv", index=False)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))


def _report(folder: Path) -> None:
    """report.html of a folder being written. The scores are what a run is for: a report that cannot
    be drawn is a warning naming the cause (the folder is kept and delivered), not a lost run."""
    from .report import write_report

    try:
        write_report(folder)
    except Exception as exc:                 # noqa: BLE001 - any failure of the page, said and kept going
        (folder / "report.html").unlink(missing_ok=True)
        warnings.warn(f"report.html was not written: {type(exc).__name__}: {exc}", CLVWarning, stacklevel=3)


def _hold(folder: Path) -> int:
    """An exclusive advisory lock on ``folder`` (released when the descriptor closes or the process dies)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:   # pragma: no cover - not POSIX
        pass
    return fd


def _remove_stale_partials(root: Path) -> int:
    """Remove ``.<run>.partial`` folders (and ``.*.tmp`` files) left by runs killed while writing: a
    partial folder whose lock nobody holds. A run still writing holds its lock and is left alone."""
    if not root.is_dir():
        return 0
    removed = 0
    try:
        import fcntl
    except ImportError:   # pragma: no cover - not POSIX: nothing can tell a live run from a dead one
        return 0
    for partial in root.glob(".*.partial"):
        try:
            fd = os.open(partial, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue                      # a live run holds it
        finally:
            os.close(fd)
        shutil.rmtree(partial, ignore_errors=True)
        removed += 1
    for tmp in root.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def redacted_config(cfg: RunConfig) -> dict:
    """The config as written to a run folder: no credential appears. ``${VAR}`` references stay as
    they are (the value is read from the environment when delivering); credentials written inline in
    a URL (``user:password@``, ``?token=...``) or a header are replaced by ``***``."""
    from .config import redact_url

    raw = cfg.model_dump(mode="json")
    if raw["data"].get("url"):
        raw["data"]["url"] = redact_url(raw["data"]["url"])
    if raw.get("tracking"):
        raw["tracking"]["uri"] = redact_url(raw["tracking"]["uri"])
    for target in raw.get("export", []):
        if target.get("url"):
            target["url"] = redact_url(target["url"])
        if target.get("headers"):
            target["headers"] = {k: (v if v.strip().startswith("${") and v.strip().endswith("}") or
                                     "${" in v else "***") for k, v in target["headers"].items()}
    return raw


# the steps a run with data.spark_mode: distributed (clvmodels.spark.runs) shares with this module, by public names
summary_options, load_transactions, score_frame = _summary_options, _load_transactions, _score
no_parameter_uncertainty, model_facts = _no_parameter_uncertainty, _model_facts
run_folder, hold_folder, atomic_write = _run_folder, _hold, _atomic_write
destination, target_url = _where, _target_url
