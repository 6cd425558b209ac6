"""MLflow tracking of runs: parameters, metrics, the run folder, and a pyfunc scorer.

A config with a ``tracking:`` section (``uri``, ``experiment``, optional ``registered_model`` and
``tags``) logs each ``clv run`` to MLflow once its run folder is written and delivered:

- **parameters**: the run's config (models and methods, summary and forecast settings) and the
  fitted point estimates (``purchase.r``, ``spend.p``, ...);
- **metrics**: the holdout checks of ``metrics.json``, the CLV totals, the log-likelihood and the
  step timings;
- **artifacts**: the run folder (``run_folder/``; its ``config.yaml`` has no credentials), and
  ``scorer/``, an MLflow ``pyfunc`` model whose ``predict(summary)`` returns the same CRM table as
  ``clv score`` for that RFM summary (the saved models are applied, nothing is fitted).

Everything goes through an :class:`mlflow.MlflowClient` for the configured URI: the process-wide
MLflow tracking URI and active run of a notebook are left as they were. MLflow is an optional
dependency (``pip install "clvmodels[mlflow]"``); a config that asks for tracking without it
stops before any work with a :class:`~clvmodels.errors.ConfigError`.

The URI may name environment variables as ``${VAR}`` (a server's credentials); they are read
when logging and never written. MLflow 3 keeps the local file store (``./mlruns``) in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE=true`` is set; ``sqlite:///mlflow.db`` or a tracking server need no flag.

Examples
--------
>>> import os, tempfile
>>> from clvmodels.pipeline import run
>>> os.chdir(tempfile.mkdtemp()); os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
>>> result = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20},
...               "tracking": {"uri": "mlruns", "experiment": "clv"}})
>>> sorted(result.tracking), result.tracking["experiment"]
(['experiment', 'model_uri', 'run_id', 'uri'], 'clv')
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .errors import ConfigError

__all__ = ["log_run", "check_tracking", "CLVScorer", "tracking_params", "tracking_metrics"]

_SCORER_CODE = Path(__file__).with_name("_mlflow_scorer.py")


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise ConfigError('tracking: MLflow is not installed; pip install "clvmodels[mlflow]" (or remove the '
                          "tracking section)", key="tracking") from None
    return mlflow


@contextlib.contextmanager
def _calm():
    """MLflow's own INFO logging and warnings stay out of a run's output (``--quiet`` is errors only)."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _client(uri: str):
    """A client for ``uri`` (``${VAR}`` references expanded from the environment)."""
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    from .export.auth import expand_env

    with _calm():
        try:
            client = mlflow.MlflowClient(tracking_uri=expand_env(uri, "tracking.uri"))
            client._tracking_client.store  # noqa: B018 - opening the store is the check
        except MlflowException as exc:
            from .export.auth import redact, url_secrets

            secrets = url_secrets(expand_env(uri, "tracking.uri"))
            raise ConfigError(redact(f"tracking.uri {uri!r}: MLflow cannot open it: {exc.message}", secrets),
                              key="tracking.uri") from None
    return client


def check_tracking(tracking) -> None:
    """Preflight of a ``tracking`` section: MLflow is installed and opens the URI (no run is created).

    Examples
    --------
    >>> from clvmodels.config import TrackingConfig
    >>> check_tracking(TrackingConfig(uri="http://127.0.0.1:9/mlflow"))   # a server is only contacted when logging
    """
    if tracking is not None:
        _client(tracking.uri)


def tracking_params(cfg, manifest: dict) -> dict[str, str]:
    """The MLflow parameters of a run: its settings and fitted point estimates, as text.

    Examples
    --------
    >>> from clvmodels.config import load_config
    >>> cfg, _ = load_config({"name": "demo", "data": {"source": "cdnow_sample"}})
    >>> params = tracking_params(cfg, {"purchase_model": {"params": {"r": 0.24}}, "spend_model": None})
    >>> params["models.purchase"], params["forecast.horizon"], params["purchase.r"]
    ('bgnbd', '12', '0.24')
    """
    from .pipeline import redacted_config

    raw = redacted_config(cfg)
    params: dict[str, str] = {"name": cfg.name, "data.source": str(raw["data"]["source"]), "scoring": cfg.scoring}
    for role in ("purchase", "spend"):
        spec = getattr(cfg.models, role)
        params[f"models.{role}"] = "none" if spec is None else spec.name
        if spec is not None:
            params[f"models.{role}.method"] = cfg.models.method_of(role)
    for section in ("summary", "forecast", "segments"):
        for key, value in raw[section].items():
            if not isinstance(value, (dict, list)):
                params[f"{section}.{key}"] = str(value)
    for role in ("purchase", "spend"):
        facts = manifest.get(f"{role}_model") or {}
        for key, value in (facts.get("params") or {}).items():
            params[f"{role}.{key}"] = repr(value) if isinstance(value, float) else str(value)
    return params


def tracking_metrics(manifest: dict, metrics: dict | None) -> dict[str, float]:
    """The MLflow metrics of a run: holdout checks, CLV totals, log-likelihood, step timings (finite
    numbers only; a check a run does not have is absent, never NaN).

    Examples
    --------
    >>> m = tracking_metrics({"totals": {"clv": 10.0}, "customers": 3, "timings": {"fit_s": 0.5},
    ...                       "purchase_model": {"loglik": -4.0}}, {"metrics": {"mae": 0.2, "mape": None}})
    >>> sorted(m.items())
    [('customers', 3.0), ('holdout.mae', 0.2), ('purchase.loglik', -4.0), ('time.fit_s', 0.5), ('total.clv', 10.0)]
    """
    import math

    out: dict[str, Any] = {"customers": manifest.get("customers")}
    out.update({f"holdout.{k}": v for k, v in ((metrics or {}).get("metrics") or {}).items()})
    out.update({f"total.{k}": v for k, v in (manifest.get("totals") or {}).items()})
    out.update({f"time.{k}": v for k, v in (manifest.get("timings") or {}).items()})
    out["purchase.loglik"] = (manifest.get("purchase_model") or {}).get("loglik")
    return {k: float(v) for k, v in out.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def log_run(folder, cfg, manifest: dict, metrics: dict | None) -> dict:
    """Log a written run folder to the config's MLflow tracking URI; return where it went:
    ``{"uri", "experiment", "run_id", "model_uri"}`` (``model_uri`` loads the scorer with
    :func:`mlflow.pyfunc.load_model` from anywhere that can read the artifact store).

    Examples
    --------
    Examples
    --------
    >>> import os, tempfile
    >>> from clvmodels.pipeline import run
    >>> os.chdir(tempfile.mkdtemp()); os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    >>> config = {"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20},
    ...           "tracking": {"uri": "mlruns"}}
    >>> result = run(config)                                  # run() calls log_run once the folder is delivered
    >>> result.tracking["model_uri"].endswith("/scorer"), (result.folder / "tracking.json").exists()
    (True, True)
    """
    tracking = cfg.tracking
    mlflow = _mlflow()
    client = _client(tracking.uri)
    folder = Path(folder)
    with _calm():
        experiment = client.get_experiment_by_name(tracking.experiment)
        experiment_id = (experiment.experiment_id if experiment is not None
                         else client.create_experiment(tracking.experiment))
        tags = {"clvmodels.run_id": manifest["run_id"], "clvmodels.version": __version__, **tracking.tags}
        ml_run = client.create_run(experiment_id, run_name=manifest["run_id"], tags=tags)
        run_id = ml_run.info.run_id
        try:
            from mlflow.entities import Metric, Param

            params = [Param(k, v[:6000]) for k, v in tracking_params(cfg, manifest).items()]
            stamp = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
            values = [Metric(k, v, stamp, 0) for k, v in tracking_metrics(manifest, metrics).items()]
            for i in range(0, max(len(params), len(values)), 100):
                client.log_batch(run_id, metrics=values[i:i + 100], params=params[i:i + 100])
            client.log_artifacts(run_id, str(folder), "run_folder")
            with tempfile.TemporaryDirectory() as tmp:
                bundle = Path(tmp) / "run"
                bundle.mkdir()
                for name in ("config.yaml", "manifest.json"):
                    shutil.copy2(folder / name, bundle / name)
                shutil.copytree(folder / "models", bundle / "models")
                model_dir = Path(tmp) / "scorer"
                mlflow.pyfunc.save_model(str(model_dir), python_model=str(_SCORER_CODE),
                                         artifacts={"run_folder": str(bundle)},
                                         pip_requirements=[f"clvmodels=={__version__}", "mlflow-skinny"])
                client.log_artifacts(run_id, str(model_dir), "scorer")
            model_uri = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/scorer"
            if tracking.registered_model:
                from mlflow.exceptions import MlflowException

                try:
                    client.create_registered_model(tracking.registered_model)
                except MlflowException:
                    pass                                   # it exists: add a version
                client.create_model_version(tracking.registered_model, model_uri, run_id=run_id)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
    return {"uri": tracking.uri, "experiment": tracking.experiment, "run_id": run_id, "model_uri": model_uri}


try:                                    # optional: the module imports without MLflow; using it says what to install
    import mlflow as _mlflow_module
    _PythonModel = _mlflow_module.pyfunc.PythonModel
except ImportError:  # pragma: no cover - CI installs the mlflow extra
    _PythonModel = object


class CLVScorer(_PythonModel):
    """The MLflow ``pyfunc`` model of a run: ``predict(summary)`` applies the run's saved models to an
    RFM summary (a DataFrame indexed by customer id, or with a ``customer_id`` column, with
    ``frequency``, ``recency``, ``T`` and, with a spend model, ``monetary_value``, in the run's time
    unit; or a transaction log) and returns the CRM table of ``clv score`` (index ``customer_id``),
    without fitting. MLflow builds it from ``clvmodels/_mlflow_scorer.py`` and loads the run folder
    bundled with the model; :meth:`from_folder` builds one for a run folder directly.

    Examples
    --------
    >>> import os, tempfile
    >>> from clvmodels.pipeline import run
    >>> from clvmodels.data.rfm import rfm_summary
    >>> from clvmodels.datasets import cdnow_transactions
    >>> os.chdir(tempfile.mkdtemp())
    >>> folder = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20}}).folder
    >>> scorer = CLVScorer.from_folder(folder)
    >>> table = scorer.predict(None, rfm_summary(cdnow_transactions(sample=True), None, "W"))
    >>> len(table), "clv" in table.columns
    (2357, True)
    """

    saved = None

    def load_context(self, context) -> None:
        """MLflow's hook: load the run folder bundled with the model."""
        self._load(context.artifacts["run_folder"])

    def _load(self, folder) -> CLVScorer:
        from .pipeline import load_run

        self.saved = load_run(folder)
        return self

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        """The CRM table for ``model_input`` (``params={"as_of": day}`` for a summary without its date)."""
        from .export.schema import crm_table

        summary = self.saved.summary_of(model_input, (params or {}).get("as_of"))
        return crm_table(self.saved.scores_for(summary))

    @classmethod
    def from_folder(cls, folder) -> CLVScorer:
        """A scorer for a run folder, without MLflow's model store."""
        return cls()._load(folder)
