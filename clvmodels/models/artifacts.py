"""JSON artifacts of the MLE models: parameters, covariance, settings, fit report and version.

No pickle: a file holds ``{"format": "clvmodels.mle/1", "model": <class name>, "params": {...},
"cov": [[...]], "settings": {...}, "loglik": ..., "time_unit": ..., ...}``. NaN and infinities are
stored as ``null``. :func:`clvmodels.load_model` reads any artifact (these and the Bayesian NetCDF
files) and picks the class from the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CLVError, ConfigError

__all__ = ["FORMAT", "model_to_dict", "model_from_dict", "save_json", "read_json"]

FORMAT = "clvmodels.mle/1"


def _clean(x):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    return x


def model_to_dict(model) -> dict[str, Any]:
    """JSON-ready description of a fitted MLE model (class, version, settings, params, cov, fit report).

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.models.artifacts import model_to_dict
    >>> bb = clv.BGBB.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783, time_unit="Y")
    >>> d = model_to_dict(bb)
    >>> d["format"], d["model"], d["time_unit"], d["cov"]
    ('clvmodels.mle/1', 'BGBB', 'Y', None)
    >>> d["params"]
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    """
    from .. import __version__

    model.check_fitted()
    return {
        "format": FORMAT,
        "model": type(model).__name__,
        "clvmodels_version": __version__,
        "settings": dict(model.get_params(deep=False)),
        "params": {n: float(model.params_[n]) for n in model.param_names},
        "cov": None if model.cov_ is None else [[_clean(float(v)) for v in row] for row in model.cov_.to_numpy()],
        "loglik": _clean(None if model.loglik_ is None else float(model.loglik_)),
        "converged": model.converged_,
        "n_obs": model.n_obs_,
        "time_unit": model.time_unit_,
        "data_summary": model.data_summary_,
        "fit_info": model.fit_info_,
    }


def save_json(model, path) -> Path:
    """Write ``model.to_dict()`` (:func:`model_to_dict`) to ``path`` (no NaN in the file). Returns the path.

    Examples
    --------
    >>> import json
    >>> import clvmodels as clv
    >>> from clvmodels.models.artifacts import save_json
    >>> sbg = clv.ShiftedBetaGeo().fit([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> path = save_json(sbg, "sbg.json")
    >>> saved = json.loads(path.read_text())
    >>> saved["model"], {k: round(v, 3) for k, v in saved["params"].items()}, round(saved["loglik"], 2)
    ('ShiftedBetaGeo', {'alpha': 0.668, 'beta': 3.806}, -1611.16)
    """
    path = Path(path)
    # the model's own to_dict (model_to_dict, plus what a model adds: the (M)BG/CNBD-k's k)
    path.write_text(json.dumps(model.to_dict(), indent=2, allow_nan=False))
    return path


def model_from_dict(cls, d: dict[str, Any]):
    """Rebuild a model of class ``cls`` from :func:`model_to_dict`'s output (refuses another class).

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.models.artifacts import model_from_dict, model_to_dict
    >>> sbg = clv.ShiftedBetaGeo().fit([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> copy = model_from_dict(clv.ShiftedBetaGeo, model_to_dict(sbg))
    >>> copy.params_.round(3).to_dict(), copy.stderr_.round(3).to_dict()
    ({'alpha': 0.668, 'beta': 3.806}, {'alpha': 0.104, 'beta': 0.786})
    >>> model_from_dict(clv.BGNBD, model_to_dict(sbg))
    Traceback (most recent call last):
        ...
    clvmodels.errors.CLVError: the file holds a 'ShiftedBetaGeo' model, not a BGNBD
    """
    if d.get("model") != cls.__name__:
        raise CLVError(f"the file holds a {d.get('model')!r} model, not a {cls.__name__}")
    cov = d.get("cov")
    if cov is not None:
        cov = np.array([[np.nan if v is None else v for v in row] for row in cov], dtype=np.float64)
    # a fit without a finite covariance (its estimate ran to the boundary: no finite MLE) is saved with NaN
    # and loads as it was fitted, rather than being refused as an invalid covariance
    nonfinite = cov is not None and not np.isfinite(cov).all()
    model = cls.from_params(cov=None if nonfinite else cov, time_unit=d.get("time_unit"), **d["params"])
    if nonfinite:
        names = list(model.params_.index)
        model.cov_ = pd.DataFrame(cov, index=names, columns=names)
        model.stderr_ = pd.Series(np.sqrt(np.abs(np.diag(cov))), index=names, name="stderr")
    settings = d.get("settings") or {}
    model.set_params(**{k: v for k, v in settings.items() if k in model.get_params(deep=False)})
    model.loglik_ = d.get("loglik")
    model.converged_ = d.get("converged")
    model.n_obs_ = d.get("n_obs")
    model.data_summary_ = d.get("data_summary")
    model.fit_info_ = d.get("fit_info")
    return model


def read_json(path) -> dict[str, Any]:
    """The dict stored in an MLE artifact; a clear error for a missing file or another format.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.models.artifacts import read_json, save_json
    >>> path = save_json(clv.ShiftedBetaGeo.from_params(alpha=0.668, beta=3.806), "sbg.json")
    >>> read_json(path)["params"]
    {'alpha': 0.668, 'beta': 3.806}
    >>> read_json("missing.json")
    Traceback (most recent call last):
        ...
    clvmodels.errors.ConfigError: no saved model at 'missing.json'
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no saved model at {str(path)!r}", key="path")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CLVError(f"{path} is not a clvmodels model file (not JSON: {exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise CLVError(f"{path} is not a clvmodels model file (format {FORMAT!r} expected)")
    return d
