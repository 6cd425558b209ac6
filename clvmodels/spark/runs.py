"""``clv run`` / ``clv score`` / ``clv export`` with the per-customer data kept in Spark (``data.spark_mode: distributed``).

The default Spark path of a run config (``data.engine: spark``, ``spark_mode: collect``) has Spark read and summarise
the log, then collects the per-customer summary to the driver. With ``spark_mode: distributed`` nothing
per-customer is collected from summary to delivery:

1. **Summary**: :func:`clvmodels.spark.calibration_holdout` (with ``summary.calibration_end``) and
   :func:`clvmodels.spark.rfm_summary`, Spark DataFrames.
2. **Fits**: :func:`clvmodels.spark.fit` - only the distinct (frequency, recency, T[, monetary_value]) rows and
   their counts reach the driver.
3. **Holdout evaluation on a bounded sample**: the :data:`EVALUATION_SAMPLE` customers of the calibration summary
   with the smallest ``xxhash64(customer_id)`` (a deterministic sample, the same in every run on the same data; all
   customers when there are fewer) are collected and evaluated by :func:`clvmodels.evaluate.evaluate` with the
   models fitted on every customer. ``metrics.json`` and the manifest record it as a sample (``evaluation.sample``:
   customers evaluated, customers in the calibration summary, how they were chosen). The purchase-tracking curve,
   which needs every transaction, is left out.
4. **Scores**: :func:`clvmodels.spark.forecast_clv`, then value tiers and RFM scores by
   :mod:`clvmodels.spark.segments` (exact: the same values as :mod:`clvmodels.segments`), the summary's columns,
   and the CRM table with the run metadata (``run_id``, ``as_of``, ``scored_at``, ``model_version``) - the columns
   and types of :func:`clvmodels.pipeline.export_table`.
5. **Run folder**: ``config.yaml``, ``manifest.json`` (``engine: spark-distributed``), ``models/``,
   ``metrics.json`` / ``evaluation.csv`` (the sample's), and ``scores.parquet/`` (or ``scores.csv/``) and
   ``export_table.parquet/`` as folders of part files written by the executors. The export table's checksum is
   the order-free Spark checksum of :func:`clvmodels.spark.to_file`. ``report.html`` is left out (its plots need
   every customer on the driver): the manifest's ``left_out`` says so.
6. **Delivery**: the folder's ``export_table.parquet/`` (checked against the manifest's checksum) mapped by each
   target's ``fields`` (on the executors) and sent with :func:`clvmodels.spark.to_file` / ``to_sql`` / ``to_http``
   (HTTP ledger in the run folder); receipts in ``exports.json``. ``clv export RUN_FOLDER`` does the same again (a
   no-op for a delivered target). HTTP records carry no ``run_id`` field (the run id travels in the body and the
   idempotency key).

What reaches the driver, all bounded independently of the number of customers: the distinct histories of the
fits, the evaluation sample, partition counts and a few boundary values of the ranks and quantiles, one row of
the summary for the scoring dry run, and aggregates (row counts, checksums, totals). :data:`COLLECTED` records the
row counts of the collections the path makes, for tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import __version__, pipeline as pl, registry
from ..errors import CLVWarning, ConfigError
from ..export.errors import ExportError
from ..timeunits import days_per
from ._session import functions

# run / score / deliver are what clvmodels.pipeline.run, SavedRun.score and deliver (and so clv run / score / export)
# call for a distributed config or folder: users reach them there, with the examples of those functions
__all__ = ["is_distributed_folder", "EVALUATION_SAMPLE", "COLLECTED", "ENGINE"]

#: customers of the calibration summary evaluated on the driver (the deterministic hash sample)
EVALUATION_SAMPLE = 50_000
#: the manifest's ``engine`` of a run folder made by this path
ENGINE = "spark-distributed"
#: (what, rows) of every per-row collection this path made in the process (fits, sample): bounded sizes
COLLECTED: list[tuple[str, int]] = []
SCORES_FOLDER = "scores"


def is_distributed_folder(folder: Path) -> bool:
    """Whether a run folder was written by this path (its export table is a folder of part files).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> is_distributed_folder(folder)
    False
    >>> (folder / "export_table.parquet").mkdir()               # what the executors write: a folder of part files
    >>> is_distributed_folder(folder)
    True
    """
    return (Path(folder) / pl.EXPORT_TABLE).is_dir()


def _options(cfg) -> dict:
    opts = pl.summary_options(cfg)
    opts.pop("engine", None)
    if opts.pop("litt", False):
        raise ConfigError(f"data.spark_mode: distributed cannot fit {cfg.models.purchase.name}: its summary statistic "
                          "(litt) is not computed by Spark; use spark_mode: collect with engine: duckdb",
                          key="data.spark_mode")
    return opts


def _fit_one(model, sdf):
    """:func:`clvmodels.spark.fit`, recording the number of distinct rows collected."""
    from .compression import _default_columns, compressed_summary

    inputs = tuple(model.input_columns)
    core = _default_columns(sdf.columns) if inputs[0] == "frequency" and "n_periods" not in inputs else ()
    rows = compressed_summary(sdf, tuple(dict.fromkeys([*core, *inputs])))
    COLLECTED.append((f"fit {type(model).__name__}", len(rows)))
    return model.fit(rows, weights="weight")


def _fit(cfg, sdf, progress, where: str):
    purchase, spend = pl.build_models(cfg, progressbar=progress.live)
    with progress.step(f"fit {cfg.models.purchase.name} on the distinct histories Spark counted{where}"):
        purchase = _fit_one(purchase, sdf)
    if spend is not None:
        with progress.step(f"fit {cfg.models.spend.name} on the distinct histories Spark counted{where}"):
            spend = _fit_one(spend, sdf)
    return purchase, spend


def _window(sdf, facts) -> dict:
    F = functions()
    got = sdf.agg(F.max("T").alias("T"), F.count(F.lit(1)).alias("n")).first()
    end = facts.calibration_end if facts.calibration_end is not None else facts.observation_end
    first = end - pd.to_timedelta(float(got["T"]) * days_per(facts.time_unit), unit="D")
    return {"from": str(first.date()), "to": str(pd.Timestamp(end).date()), "customers": int(got["n"])}


def _facts_dict(facts, customers: int) -> dict:
    d = facts.as_dict()
    day = (lambda v: None if v is None else str(pd.Timestamp(v).date()))
    return {**d, "observation_end": day(d.get("observation_end")), "calibration_end": day(d.get("calibration_end")),
            "customers": customers}


def _evaluate(cfg, cal, purchase, spend):
    """The holdout metrics on the deterministic hash sample of the calibration summary (see the module docstring)."""
    from ..evaluate import evaluate
    from .rfm import to_pandas

    F = functions()
    n_cal = cal.count()
    picked = (cal.withColumn("_h", F.xxhash64("customer_id")).orderBy("_h", "customer_id")
              .limit(EVALUATION_SAMPLE).drop("_h"))
    sample = to_pandas(picked)
    COLLECTED.append(("evaluation sample", len(sample)))
    scores = pl.score_frame(cfg, sample, purchase, spend, intervals=False)
    ev = evaluate(sample, purchase, spend, score=scores["clv"], name=registry.get(cfg.models.purchase.name).label)
    metrics = json.loads(ev.to_json())
    metrics["sample"] = {"customers": len(sample), "of": int(n_cal), "complete": len(sample) == n_cal,
                         "how": f"the {EVALUATION_SAMPLE:,} customers with the smallest xxhash64(customer_id) "
                                "(all customers when fewer); no purchase tracking (it needs every transaction)"}
    return metrics, ev.table


def _scores(cfg, summary, purchase, spend, persisted: list):
    """The scores table in Spark: forecast, value tiers, RFM scores and the summary's columns, in the pandas
    run's column order."""
    from .scoring import forecast_clv
    from .segments import rfm_scores, value_tiers

    F = functions()
    f = cfg.forecast
    interval = f.interval
    if interval is not None:
        unsure = pl.no_parameter_uncertainty(purchase, spend)
        if unsure:
            warnings.warn(f"CLV intervals left out of this run's scores: {unsure}. The point forecasts are "
                          "delivered; forecast.interval: null says so in the config.", CLVWarning, stacklevel=4)
            interval = None
    fc = forecast_clv(summary, purchase, spend if spend is not None else 1.0, horizon=f.horizon, period=f.period,
                      discount_rate=f.discount_rate, margin=f.margin, cost_per_order=f.cost_per_order,
                      cost_per_active_period=f.cost_per_active_period, retention_cost=f.retention_cost,
                      interval=interval, n_draws=f.n_draws, random_state=f.random_seed)
    fc_cols = [c for c in fc.columns if c != "customer_id"]
    joined = fc.join(summary, "customer_id")
    tiered, thresholds = value_tiers(joined, column="clv", vip=cfg.segments.vip, core=cfg.segments.core,
                                     by=cfg.segments.by, persisted=persisted)
    monetary = "monetary_value" if "monetary_value" in summary.columns else None
    scored = rfm_scores(tiered, monetary=monetary, persisted=persisted)
    rfm_cols = ["recency_gap", "r_score", "f_score"] + (["m_score"] if monetary else []) + ["rfm_cell", "rfm_total"]
    rest = [c for c in summary.columns if c not in fc_cols and c != "customer_id"]
    order = ["customer_id", *fc_cols, "tier", "value_rank", *rfm_cols, *rest]
    return scored.select(*[F.col(c) for c in order]), thresholds


def _export_table(scores, metadata: dict):
    """The CRM table of :func:`clvmodels.pipeline.export_table` as Spark columns: the schema's fields the scores
    hold, in order, then the run metadata as text."""
    from ..export.schema import CRM_COLUMNS, crm_table  # noqa: F401 - crm_table: the pandas twin

    F = functions()
    missing = [c.name for c in CRM_COLUMNS if c.required and c.name not in scores.columns]
    if missing:
        raise ExportError(f"the scores lack the CRM field(s) {missing}")
    cols = [F.col("customer_id")]
    for c in CRM_COLUMNS:
        if c.name in scores.columns:
            cols.append(F.col(c.name).cast("string") if c.kind == "text" else F.col(c.name))
    cols += [F.lit(str(v)).alias(k) for k, v in metadata.items()]
    return scores.select(*cols)


def _totals(scores) -> dict:
    F = functions()
    got = scores.agg(F.sum("clv").alias("clv"), F.sum("expected_revenue").alias("rev"),
                     F.sum(F.when(F.col("clv") < 0, 1).otherwise(0)).alias("neg")).first()
    return {"clv": float(got["clv"]), "expected_revenue": float(got["rev"]), "margin_negative_customers": int(got["neg"])}


def _write_folder(cfg, run_id: str, scores, table, metrics, evaluation_table, manifest, purchase, spend,
                  evaluated) -> Path:
    """The run folder, written under a temporary name and renamed when complete (as the pandas run's)."""
    from .export import _check

    root = Path(cfg.output.dir)
    final, tmp = root / run_id, root / f".{run_id}.partial"
    (tmp / "models").mkdir(parents=True, exist_ok=False)
    lock = pl.hold_folder(tmp)
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(pl.redacted_config(cfg), sort_keys=False))
        pl.save_models(tmp, purchase, spend, evaluated)
        for fmt in cfg.output.formats:
            writer = scores.write.mode("overwrite")
            if fmt == "csv":
                writer.option("header", True).csv(str(tmp / f"{SCORES_FOLDER}.csv"))
            else:
                writer.parquet(str(tmp / f"{SCORES_FOLDER}.parquet"))
        table.write.mode("overwrite").parquet(str(tmp / pl.EXPORT_TABLE))
        written = table.sparkSession.read.parquet(str(tmp / pl.EXPORT_TABLE))
        rows, checksum = _check(written, functions())
        manifest["export_table"] = {"file": pl.EXPORT_TABLE, "format": "parquet folder (Spark part files)",
                                    "rows": rows, "checksum": checksum, "checksum_kind": "spark-xxhash64-sum",
                                    "columns": [[c, t] for c, t in written.dtypes]}
        manifest["customers"] = rows
        pl.write_records(tmp, metrics, evaluation_table, manifest)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    return final


def _left_out(cfg) -> list[str]:
    out = []
    if cfg.output.report:
        out.append("report.html: its plots need every customer on the driver (data.spark_mode: distributed)")
    return out


def _finish(cfg, run_id, summary, facts, purchase, spend, metadata, manifest, metrics, evaluation_table, evaluated,
            *, write: bool, progress, persisted: list, fit_window: dict):
    with progress.step("forecast and segment every customer in Spark"):
        scores, thresholds = _scores(cfg, summary, purchase, spend, persisted)
        table = _export_table(scores, metadata)
        manifest["totals"] = _totals(scores)
    manifest["segments"] = {"thresholds": thresholds}
    manifest["summary"] = _facts_dict(facts, fit_window["customers"])
    manifest["left_out"] = _left_out(cfg)
    if not write:
        manifest["customers"] = fit_window["customers"]
        return pl.RunResult(None, summary, scores, metrics, manifest)
    with progress.step("write the run folder (Spark writes the scores)"):
        folder = _write_folder(cfg, run_id, scores, table, metrics, evaluation_table, manifest, purchase, spend,
                               evaluated)
    receipts = deliver(folder, cfg, progress=progress)
    scores = scores.sparkSession.read.parquet(str(folder / pl.EXPORT_TABLE))
    return pl.RunResult(folder, summary, scores, metrics, manifest, receipts)


def _unpersist(frames: list) -> None:
    for frame in frames:
        frame.unpersist()


def run(cfg, notes: list, *, write: bool = True, transactions=None, progress=None) -> pl.RunResult:
    """:func:`clvmodels.pipeline.run` for a config with ``data.spark_mode: distributed`` (see this module's
    docstring). ``RunResult.summary`` and ``.scores`` are Spark DataFrames (``scores``: the run folder's export
    table when written)."""
    from . import rfm as srfm

    progress = progress or pl.Progress()
    if cfg.tracking is not None:
        raise ConfigError("tracking: MLflow logging is not available with data.spark_mode: distributed (the logged "
                          "scorer and report need the scores on the driver)", key="tracking")
    run_id = f"{cfg.name}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"
    spark = pl.spark_session(cfg)
    opts = _options(cfg)
    timings: dict[str, float] = {}
    persisted: list = []
    try:
        t0 = time.perf_counter()
        with progress.step("read the transactions and build the summary in Spark"):
            tx = srfm.read_transactions(pl.load_transactions(cfg) if transactions is None else transactions, spark)
            s = cfg.summary
            if s.calibration_end is not None:
                summary = srfm.calibration_holdout(tx, s.calibration_end, s.observation_end, **opts)
            else:
                summary = srfm.rfm_summary(tx, s.observation_end, **opts)
        timings["summary_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        purchase, spend = _fit(cfg, summary, progress, "")
        timings["fit_s"] = time.perf_counter() - t0
        facts = srfm.summary_facts(summary)
        metrics, evaluation_table, evaluated, eval_facts, eval_window = {}, None, None, None, None
        if facts.calibration_end is not None:
            t0 = time.perf_counter()
            with progress.step(f"evaluate on the holdout (a sample of at most {EVALUATION_SAMPLE:,} customers)"):
                metrics, evaluation_table = _evaluate(cfg, summary, purchase, spend)
            timings["evaluate_s"] = time.perf_counter() - t0
            eval_window = _window(summary, facts)
            eval_facts = _facts_dict(facts, eval_window["customers"])
            if cfg.scoring == "full":
                evaluated = (purchase, spend)
                t0 = time.perf_counter()
                with progress.step("summarise all data up to observation_end in Spark"):
                    summary = srfm.rfm_summary(tx, facts.observation_end, **opts)
                    facts = srfm.summary_facts(summary)
                purchase, spend = _fit(cfg, summary, progress, " on all data")
                timings["refit_s"] = time.perf_counter() - t0
            else:
                summary = summary.drop(*[c for c in summary.columns if c.endswith("_holdout")])
        window = _window(summary, facts)
        as_of = facts.calibration_end if facts.calibration_end is not None else facts.observation_end
        metadata = {"run_id": run_id, "as_of": str(pd.Timestamp(as_of).date()),
                    "scored_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "model_version": f"clvmodels {__version__}: {cfg.models.purchase.name}"
                                     f"{'+' + cfg.models.spend.name if cfg.models.spend else ''} fitted "
                                     f"{window['from']}..{window['to']}"}
        manifest = {
            "run_id": run_id, "engine": ENGINE, "clvmodels": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__, "pyspark": spark.version,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "scoring": {"mode": cfg.scoring if eval_facts else "full", "as_of": metadata["as_of"],
                        "scored_at": metadata["scored_at"], "fit_window": window, "evaluation_fit_window": eval_window},
            "evaluation_summary": eval_facts,
            "evaluation": None if not metrics else {"sample": metrics["sample"]},
            "purchase_model": pl.model_facts(cfg, "purchase", purchase),
            "spend_model": ({**pl.model_facts(cfg, "spend", spend), "nonpositive_spend": cfg.models.nonpositive_spend,
                             "n_nonpositive_excluded": int(getattr(spend, "n_nonpositive_excluded_", 0))}
                            if spend is not None else None),
            "forecast": cfg.forecast.model_dump(mode="json"), "timings": timings, "notes": notes,
        }
        if cfg.scoring != "full":
            evaluated = None
        return _finish(cfg, run_id, summary, facts, purchase, spend, metadata, manifest, metrics, evaluation_table,
                       evaluated, write=write, progress=progress, persisted=persisted, fit_window=window)
    finally:
        if write:
            _unpersist(persisted)


def score(saved, transactions, *, as_of=None, write: bool = True, output_dir=None, progress=None) -> pl.RunResult:
    """:meth:`clvmodels.pipeline.SavedRun.score` for a run with ``data.spark_mode: distributed``: Spark summarises
    ``transactions`` (a CSV / Parquet path, or a Spark DataFrame) with the run's options and scores it with the
    saved models; the scoring folder has the run folder's layout and is delivered to the run's targets."""
    from . import rfm as srfm

    progress = progress or pl.Progress()
    cfg = saved.config if output_dir is None else saved.config.model_copy(
        update={"output": saved.config.output.model_copy(update={"dir": str(Path(output_dir).resolve())})})
    run_id = f"{cfg.name}-score-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"
    spark = pl.spark_session(cfg)
    persisted: list = []
    try:
        with progress.step("read the transactions and build the summary in Spark"):
            summary = srfm.rfm_summary(srfm.read_transactions(transactions, spark), as_of, **_options(cfg))
            facts = srfm.summary_facts(summary)
        window = _window(summary, facts)
        metadata = {"run_id": run_id, "as_of": str(pd.Timestamp(facts.observation_end).date()),
                    "scored_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "model_version": f"clvmodels {__version__}: {saved.manifest['purchase_model']['name']}"
                                     f" from run {saved.folder.name}"}
        manifest = {"run_id": run_id, "engine": ENGINE, "scored_from": saved.folder.name, "clvmodels": __version__,
                    "created_utc": metadata["scored_at"],
                    "scoring": {"mode": "saved models", "as_of": metadata["as_of"], "scored_at": metadata["scored_at"],
                                "fit_window": saved.manifest["scoring"]["fit_window"]},
                    "purchase_model": saved.manifest["purchase_model"], "spend_model": saved.manifest["spend_model"],
                    "forecast": cfg.forecast.model_dump(mode="json")}
        if write:
            Path(cfg.output.dir).mkdir(parents=True, exist_ok=True)
        return _finish(cfg, run_id, summary, facts, saved.purchase, saved.spend, metadata, manifest, {}, None, None,
                       write=write, progress=progress, persisted=persisted, fit_window=window)
    finally:
        if write:
            _unpersist(persisted)


def _mapped(table, target, index: int):
    """The export table mapped by the target's ``fields`` (:func:`clvmodels.export.mapping.map_table` on every
    Arrow batch, on the executors); the table itself without ``fields``."""
    from ..export.mapping import map_table, parse_fields
    from ._session import pyspark_sql

    fields = parse_fields(target.fields, key=f"export.{index}.fields")
    if fields is None:
        return table
    first = map_table(table.limit(1).toPandas().set_index("customer_id"), fields).reset_index()
    schema = table.sparkSession.createDataFrame(first).schema
    T = pyspark_sql().types
    schema = T.StructType([T.StructField(f.name, table.schema["customer_id"].dataType if f.name == "customer_id"
                                         else f.dataType, True) for f in schema.fields])

    def work(batches):
        for batch in batches:
            if len(batch):
                yield map_table(batch.set_index("customer_id"), fields).reset_index()

    return table.mapInPandas(work, schema)


def deliver(folder, cfg=None, *, dry_run: bool = False, progress=None) -> list[dict]:
    """:func:`clvmodels.pipeline.deliver` for a folder of this path: its ``export_table.parquet/`` read by Spark,
    checked against the manifest's checksum, mapped and sent by the executors; receipts in ``exports.json``."""
    from . import export as sx

    folder, saved = pl.run_folder(folder)
    cfg = cfg or saved
    if not cfg.export:
        return []
    manifest = json.loads((folder / "manifest.json").read_text())
    spark = pl.spark_session(cfg)
    table = spark.read.parquet(str(folder / pl.EXPORT_TABLE))
    rows, checksum = sx._check(table, functions())
    if checksum != manifest["export_table"]["checksum"]:
        raise ExportError(f"{folder / pl.EXPORT_TABLE} does not match the checksum in its manifest: it was changed "
                          "after the run; refusing to deliver it")
    run_id = folder.name
    progress = progress or pl.Progress()
    receipts = []
    for i, target in enumerate(cfg.export):
        if dry_run or target.dry_run:
            receipts.append({"target": target.target, "destination": pl.destination(target), "rows": rows, "dry_run": True})
            continue
        with progress.step(f"deliver to {target.target} {pl.destination(target)} from Spark"):
            mapped = _mapped(table, target, i)
            if target.target == "file":
                directory = Path(target.directory)
                directory.mkdir(parents=True, exist_ok=True)
                receipt = sx.to_file(mapped, directory, run_id, target.format)
            elif target.target == "sql":
                receipt = sx.to_sql(mapped, pl.target_url(target, i), target.table, run_id)
            else:
                mapped = mapped.drop("run_id") if "run_id" in mapped.columns else mapped
                receipt = sx.to_http(mapped, pl.target_url(target, i), run_id, ledger_dir=folder,
                                     batch_size=target.batch_size, preset=target.preset,
                                     preset_options=target.preset_options, headers=target.headers,
                                     auth=None if target.auth is None else target.auth.model_dump())
        receipts.append(receipt.to_dict())
    if not dry_run:
        pl.atomic_write(folder / "exports.json", json.dumps(receipts, indent=2, default=str))
    return receipts
