"""Priors: documented, visible defaults, overridable per parameter from Python or YAML.

A prior is a plain mapping ``{"dist": <PyMC distribution name>, **its keyword arguments}``, e.g.
``{"dist": "LogNormal", "mu": 0.0, "sigma": 1.5}``, so that the same text works in Python, in a
YAML file and in the config stored with a fitted model.

Default priors (weakly informative; what ``Model.default_priors()`` returns)
-----------------------------------------------------------------------------
Shape parameters (BG/NBD r, a, b; Pareto/NBD r, s; Gamma-Gamma p, q):
    ``LogNormal(mu=0, sigma=1.5)``: median 1, 95% of the mass in (0.05, 19). Published fits
    (CDNOW r=0.24, a=0.79, b=2.43, s=0.61, p=6.25, q=3.74) sit well inside.
Scale parameters (BG/NBD alpha, Pareto/NBD alpha and beta; time in the summary's unit):
    ``LogNormal(mu=0, sigma=3)``: 95% in (0.003, 360), covering days, weeks, months and years.
Gamma-Gamma v (a scale in currency units):
    ``LogNormal(mu=0, sigma=5)``: 95% in (5e-5, 18000).
Covariate coefficients (log rate multipliers / log-odds shifts, one per covariate):
    ``Normal(mu=0, sigma=1)``: a covariate that multiplies the purchase rate by 7 is 2 sd out.

With thousands of customers the likelihood dominates all of these; they matter for small data,
where they keep the sampler away from the 0/infinity edges the MLE can run into.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["POSITIVE_DISTS", "REAL_DISTS", "load_priors", "merge_priors", "build_prior", "SHAPE", "SCALE",
           "COEF", "MONEY_SCALE"]

SHAPE = {"dist": "LogNormal", "mu": 0.0, "sigma": 1.5}
SCALE = {"dist": "LogNormal", "mu": 0.0, "sigma": 3.0}
MONEY_SCALE = {"dist": "LogNormal", "mu": 0.0, "sigma": 5.0}
COEF = {"dist": "Normal", "mu": 0.0, "sigma": 1.0}

# distributions allowed for positive parameters and for real-valued coefficients
POSITIVE_DISTS = ("LogNormal", "Gamma", "HalfNormal", "HalfCauchy", "HalfStudentT", "Exponential",
                  "Weibull", "InverseGamma", "HalfFlat")
REAL_DISTS = ("Normal", "StudentT", "Laplace", "Cauchy", "Flat")


def load_priors(source: str | Path | Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Priors from a mapping, a YAML file, or None (-> {}).

    A YAML file holds either the mapping itself or ``{"priors": mapping}``::

        priors:
          r: {dist: Gamma, alpha: 2.0, beta: 4.0}
          alpha: {dist: LogNormal, mu: 1.0, sigma: 1.0}

    Examples
    --------
    >>> from clvmodels.bayes.priors import load_priors
    >>> load_priors({"r": {"dist": "Gamma", "alpha": 2.0, "beta": 4.0}})
    {'r': {'dist': 'Gamma', 'alpha': 2.0, 'beta': 4.0}}
    >>> from pathlib import Path
    >>> _ = Path("priors.yaml").write_text("alpha: {dist: LogNormal, mu: 1.0, sigma: 1.0}")
    >>> load_priors("priors.yaml")
    {'alpha': {'dist': 'LogNormal', 'mu': 1.0, 'sigma': 1.0}}
    >>> load_priors(None)
    {}
    >>> load_priors({"r": 0.5})
    Traceback (most recent call last):
        ...
    clvmodels.errors.ConfigError: prior for 'r' must be a mapping with a 'dist' key (e.g. ...), got 0.5
    """
    if source is None:
        return {}
    if isinstance(source, (str, Path)):
        import yaml

        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"priors file {str(path)!r} does not exist", key="priors")
        with path.open("r", encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh) or {}
        if isinstance(loaded, Mapping) and "priors" in loaded and isinstance(loaded["priors"], Mapping):
            loaded = loaded["priors"]
        source = loaded
    if not isinstance(source, Mapping):
        raise ConfigError(f"priors must be a mapping of parameter -> {{dist: ..., ...}}, got "
                          f"{type(source).__name__}", key="priors")
    return {str(k): _check_spec(str(k), v) for k, v in source.items()}


def _check_spec(name: str, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, Mapping) or "dist" not in spec:
        raise ConfigError(f"prior for {name!r} must be a mapping with a 'dist' key (e.g. "
                          f"{{'dist': 'LogNormal', 'mu': 0, 'sigma': 1}}), got {spec!r}", key=f"priors.{name}")
    out = dict(spec)
    if not isinstance(out["dist"], str):
        raise ConfigError(f"prior for {name!r}: 'dist' must be a PyMC distribution name", key=f"priors.{name}.dist")
    for key, value in out.items():
        if key == "dist":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"prior for {name!r}: {key}={value!r} must be a finite number",
                              key=f"priors.{name}.{key}")
        if key in _POSITIVE_ARGS and value <= 0:
            raise ConfigError(f"prior for {name!r}: {key}={value!r} must be > 0 (a scale or shape of "
                              f"{out['dist']})", key=f"priors.{name}.{key}")
    if "lower" in out and "upper" in out and not out["lower"] < out["upper"]:
        raise ConfigError(f"prior for {name!r}: lower={out['lower']!r} must be below upper={out['upper']!r}",
                          key=f"priors.{name}")
    return out


#: distribution arguments that are scales or shapes (PyMC needs them > 0)
_POSITIVE_ARGS = frozenset({"sigma", "tau", "lam", "beta", "alpha", "nu", "b", "kappa"})


def merge_priors(defaults: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Mapping[str, Any]],
                 model: str) -> dict[str, dict[str, Any]]:
    """Defaults with the user's per-parameter overrides; unknown parameter names are an error.

    Examples
    --------
    >>> from clvmodels.bayes.priors import SCALE, SHAPE, merge_priors
    >>> defaults = {"r": SHAPE, "alpha": SCALE}
    >>> merge_priors(defaults, {"r": {"dist": "Gamma", "alpha": 2.0, "beta": 4.0}}, "BGNBD")
    {'r': {'dist': 'Gamma', 'alpha': 2.0, 'beta': 4.0}, 'alpha': {'dist': 'LogNormal', 'mu': 0.0, 'sigma': 3.0}}
    >>> merge_priors(defaults, {"s": SHAPE}, "BGNBD")
    Traceback (most recent call last):
        ...
    clvmodels.errors.ConfigError: BGNBD has no parameter(s) ['s']; priors can be set for ['alpha', 'r']
    """
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ConfigError(f"{model} has no parameter(s) {unknown}; priors can be set for {sorted(defaults)}",
                          key=f"priors.{unknown[0]}")
    merged = copy.deepcopy({k: dict(v) for k, v in defaults.items()})
    for k, v in overrides.items():
        merged[k] = dict(v)
    return merged


def build_prior(name: str, spec: Mapping[str, Any], *, positive: bool, **kwargs: Any):
    """Create the PyMC random variable ``name`` from ``spec`` inside the current model context.

    Examples
    --------
    Which distributions a parameter may get (``positive`` parameters need a positive support):

    >>> from clvmodels.bayes.priors import POSITIVE_DISTS, REAL_DISTS, SHAPE, build_prior
    >>> "LogNormal" in POSITIVE_DISTS, "Normal" in POSITIVE_DISTS, "Normal" in REAL_DISTS
    (True, False, True)

    Inside a PyMC model (importing PyMC takes seconds, so not run here):

    >>> import pymc as pm                                              # doctest: +SKIP
    >>> with pm.Model():                                               # doctest: +SKIP
    ...     r = build_prior("r", SHAPE, positive=True)                 # LogNormal(mu=0, sigma=1.5)
    ...     coef = build_prior("purchase_coef", {"dist": "Normal", "mu": 0, "sigma": 1}, positive=False)
    """
    import pymc as pm

    allowed = POSITIVE_DISTS if positive else REAL_DISTS
    dist_name = spec["dist"]
    if dist_name not in allowed:
        kind = "a positive" if positive else "a real-valued"
        raise ConfigError(f"prior for {name!r}: {dist_name!r} is not allowed for {kind} parameter; "
                          f"choose one of {list(allowed)}", key=f"priors.{name}.dist")
    dist = getattr(pm, dist_name)
    params = {k: v for k, v in spec.items() if k != "dist"}
    try:
        return dist(name, **params, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"prior for {name!r}: {dist_name}({params}) is invalid: {err}",
                          key=f"priors.{name}") from err
