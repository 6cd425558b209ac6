"""One registry of models: what the config, the pipeline and ``compare_models`` can build.

Each entry names a model once: its config key (``bgnbd``), its label in reports (``BG/NBD``), its
role (a ``purchase`` or a ``spend`` model) and the classes that implement it, by maximum likelihood
and Bayesian, as ``"module:Class"`` strings (nothing is imported until a class is asked for, so
``import clvmodels`` stays light and never imports PyMC). Adding a model is one math module, one
model file and one entry here.

:func:`load_model` reads any saved model - an MLE JSON file or a Bayesian NetCDF file - and picks
its class from this registry.

Examples
--------
>>> from clvmodels import registry
>>> registry.keys("purchase")
('bgnbd', 'mbgnbd', 'paretonbd', 'bgbb', 'bgcnbd', 'mbgcnbd', 'paretoggg')
>>> registry.get("paretonbd").label
'Pareto/NBD'
>>> type(registry.build("bgnbd")).__name__
'BGNBD'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CLVError, ConfigError

__all__ = ["ModelSpec", "MODELS", "METHODS", "PYMC_METHODS", "get", "keys", "model_class", "build", "spec_of", "class_by_name",
           "load_model"]

#: how a model is fitted: maximum likelihood, or a Bayesian sampler / approximation: PyMC's NUTS, ADVI or MAP
#: (the PyMC models), or ``gibbs``, a model's own Gibbs sampler (the Pareto/GGG's data augmentation in numba)
METHODS = ("mle", "nuts", "advi", "map", "gibbs")
#: the Bayesian methods of a PyMC model (the default of :attr:`ModelSpec.bayes_methods`)
PYMC_METHODS = ("nuts", "advi", "map")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes
    ----------
    key : the config name (``models.purchase: bgnbd``).
    label : the name in tables and reports.
    role : ``"purchase"`` or ``"spend"``.
    mle, bayes : ``"module:Class"`` of the maximum-likelihood / Bayesian implementation, or None.
    compare : fitted by default in :func:`clvmodels.compare_models` (when the summary has its
        ``summary_options``; otherwise left out with a note).
    summary : the summary it reads: ``"continuous"`` (frequency, recency, T) or ``"opportunities"``
        (frequency, recency, n_periods).
    summary_options : options of :func:`clvmodels.rfm_summary` its fit needs switched on, each adding a
        column of the same name (``("litt",)`` for the (M)BG/CNBD-k and the Pareto/GGG); the pipeline builds
        its summaries so.
    bayes_methods : the methods its Bayesian implementation is fitted by: PyMC's
        ``("nuts", "advi", "map")``, or ``("gibbs",)`` for a model with its own sampler (the Pareto/GGG).

    Examples
    --------
    >>> spec = get("bgbb")
    >>> spec.label, spec.role, spec.mle, spec.bayes, spec.summary
    ('BG/BB', 'purchase', 'clvmodels.models.bgbb:BGBB', None, 'opportunities')
    >>> get("paretoggg").methods, get("paretonbd").methods
    (('gibbs',), ('mle', 'nuts', 'advi', 'map'))
    """

    key: str
    label: str
    role: str
    mle: str | None
    bayes: str | None = None
    compare: bool = False
    summary: str = "continuous"
    features: tuple[str, ...] = ()
    summary_options: tuple[str, ...] = ()
    bayes_methods: tuple[str, ...] = PYMC_METHODS

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method it can be fitted by (``"mle"`` first when it has a maximum-likelihood fit)."""
        return (("mle",) if self.mle is not None else ()) + (self.bayes_methods if self.bayes is not None else ())


MODELS: dict[str, ModelSpec] = {spec.key: spec for spec in (
    ModelSpec("bgnbd", "BG/NBD", "purchase", "clvmodels.models.bgnbd:BGNBD", "clvmodels.bayes.bgnbd:BGNBD",
              compare=True, features=("covariates",)),
    ModelSpec("mbgnbd", "MBG/NBD", "purchase", "clvmodels.models.mbgnbd:MBGNBD", None, compare=True),
    ModelSpec("paretonbd", "Pareto/NBD", "purchase", "clvmodels.models.paretonbd:ParetoNBD",
              "clvmodels.bayes.paretonbd:ParetoNBD", compare=True),
    ModelSpec("bgbb", "BG/BB", "purchase", "clvmodels.models.bgbb:BGBB", None, summary="opportunities"),
    ModelSpec("bgcnbd", "BG/CNBD-k", "purchase", "clvmodels.models.cnbdk:BGCNBDk", None, compare=True,
              summary_options=("litt",)),
    ModelSpec("mbgcnbd", "MBG/CNBD-k", "purchase", "clvmodels.models.cnbdk:MBGCNBDk", None, compare=True,
              summary_options=("litt",)),
    # Bayesian only, sampled by its own Gibbs sampler; its posterior is per fitted customer (the
    # clvmodels.protocols.CustomerDrawsModel contract), so it predicts the customers it was fitted on
    ModelSpec("paretoggg", "Pareto/GGG", "purchase", None, "clvmodels.bayes.paretoggg:ParetoGGG",
              summary_options=("litt",), bayes_methods=("gibbs",)),
    ModelSpec("gammagamma", "Gamma-Gamma", "spend", "clvmodels.models.gammagamma:GammaGamma",
              "clvmodels.bayes.gammagamma:GammaGamma"),
)}


def keys(role: str | None = None) -> tuple[str, ...]:
    """Registered keys, of one role (``"purchase"`` / ``"spend"``) or all.

    Examples
    --------
    >>> keys()
    ('bgnbd', 'mbgnbd', 'paretonbd', 'bgbb', 'bgcnbd', 'mbgcnbd', 'paretoggg', 'gammagamma')
    >>> keys("spend")
    ('gammagamma',)
    """
    return tuple(k for k, s in MODELS.items() if role is None or s.role == role)


def get(key: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``key``, or a ConfigError listing the registered keys.

    Examples
    --------
    >>> get("paretonbd").label
    'Pareto/NBD'
    >>> try:
    ...     get("bg/nbd")
    ... except ConfigError as exc:
    ...     print(exc)
    unknown model 'bg/nbd'; registered models: ['bgnbd', 'mbgnbd', 'paretonbd', 'bgbb', 'bgcnbd', 'mbgcnbd', 'paretoggg', 'gammagamma']
    """
    spec = MODELS.get(key)
    if spec is None:
        raise ConfigError(f"unknown model {key!r}; registered models: {list(MODELS)}", key="models")
    return spec


def _import(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def model_class(key: str, method: str = "mle") -> type:
    """The class implementing ``key`` with ``method`` ('mle', a PyMC 'nuts' / 'advi' / 'map', or 'gibbs'
    for a model with its own Gibbs sampler): one of the spec's :attr:`ModelSpec.methods`.

    Examples
    --------
    >>> model_class("paretonbd").__module__, model_class("paretonbd", "nuts").__module__
    ('clvmodels.models.paretonbd', 'clvmodels.bayes.paretonbd')
    >>> model_class("paretoggg", "gibbs").__name__
    'ParetoGGG'
    >>> for key, method in (("mbgnbd", "nuts"), ("paretoggg", "mle"), ("paretoggg", "nuts")):
    ...     try:
    ...         model_class(key, method)
    ...     except ConfigError as exc:
    ...         print(exc)
    MBG/NBD has no Bayesian implementation (method='nuts')
    Pareto/GGG has no maximum-likelihood implementation (method='mle'); it is fitted with method='gibbs'
    Pareto/GGG is not fitted by method='nuts': it is sampled by its own Gibbs sampler, method='gibbs'
    """
    spec = get(key)
    if method not in METHODS:
        raise ConfigError(f"method={method!r}; use one of {list(METHODS)}", key="method")
    path = spec.mle if method == "mle" else spec.bayes
    if path is None:
        kind = "maximum-likelihood" if method == "mle" else "Bayesian"
        hint = f"; it is fitted with method={spec.methods[0]!r}" if method == "mle" and spec.methods else ""
        raise ConfigError(f"{spec.label} has no {kind} implementation (method={method!r}){hint}", key="method")
    if method != "mle" and method not in spec.bayes_methods:
        if spec.bayes_methods == ("gibbs",):
            raise ConfigError(f"{spec.label} is not fitted by method={method!r}: it is sampled by its own Gibbs "
                              "sampler, method='gibbs'", key="method")
        raise ConfigError(f"{spec.label} is not fitted by method={method!r}: use one of {list(spec.bayes_methods)}",
                          key="method")
    return _import(path)


def build(key: str, method: str = "mle", **settings: Any):
    """An unfitted model: ``model_class(key, method)(**settings)``; the PyMC methods set ``sampler``.

    Examples
    --------
    >>> build("gammagamma", penalizer_coef=0.01)
    GammaGamma(penalizer_coef=0.01)
    >>> bayes = build("bgnbd", "advi", draws=200)          # nothing is sampled until fit
    >>> type(bayes).__module__, bayes.sampler, bayes.draws
    ('clvmodels.bayes.bgnbd', 'advi', 200)
    >>> build("paretoggg", "gibbs", draws=300).sampler
    'gibbs'
    """
    cls = model_class(key, method)
    if method in PYMC_METHODS:
        settings = {"sampler": method, **settings}
    return cls(**settings)


def spec_of(model: Any) -> ModelSpec | None:
    """The registry entry of a model instance (by its class), or None for a model of your own.

    Examples
    --------
    >>> import clvmodels as clv
    >>> spec_of(clv.ParetoNBD()).key, spec_of(object())
    ('paretonbd', None)
    """
    cls = type(model)
    path = f"{cls.__module__}:{cls.__name__}"
    for spec in MODELS.values():
        if path in (spec.mle, spec.bayes):
            return spec
    return None


def class_by_name(name: str, bayes: bool) -> type | None:
    """The registered class called ``name`` (a Bayesian one with ``bayes``), or None.

    The MLE ``ShiftedBetaGeo`` (not in :data:`MODELS`: not a :class:`~clvmodels.protocols.PurchaseModel`)
    is found too, so saved models of it load.

    Examples
    --------
    >>> class_by_name("BGNBD", bayes=True).__module__
    'clvmodels.bayes.bgnbd'
    >>> class_by_name("ShiftedBetaGeo", bayes=False).__module__, class_by_name("MBGNBD", bayes=True)
    ('clvmodels.models.sbg', None)
    >>> class_by_name("ParetoGGG", bayes=True).__module__
    'clvmodels.bayes.paretoggg'
    """
    for spec in MODELS.values():
        path = spec.bayes if bayes else spec.mle
        if path is not None and path.rpartition(":")[2] == name:
            return _import(path)
    if not bayes and name == "ShiftedBetaGeo":
        return _import("clvmodels.models.sbg:ShiftedBetaGeo")
    return None


def _mle_subclass(name: str) -> type | None:
    """A model class of your own (a subclass of MLEModel defined in this session), by name."""
    from .models.base import MLEModel

    todo = list(MLEModel.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            return cls
        todo.extend(cls.__subclasses__())
    return None


def load_model(path: str | Path):
    """Load any saved model: an MLE model's JSON (``model.save``) or a Bayesian model's NetCDF.

    Examples
    --------
    >>> import tempfile, os, clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> path = os.path.join(tempfile.mkdtemp(), "bg.json")
    >>> _ = bg.save(path)
    >>> clv.load_model(path).params_.round(3).tolist()
    [0.243, 4.414, 0.793, 2.426]
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no saved model at {str(path)!r}", key="path")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith((b"\x89HDF", b"CDF")):     # NetCDF-4 (HDF5) or classic NetCDF: a Bayesian model
        from .bayes.base import load

        return load(path)
    from .models.artifacts import model_from_dict, read_json

    d = read_json(path)
    cls = class_by_name(str(d.get("model")), bayes=False) or _mle_subclass(str(d.get("model")))
    if cls is None:
        raise CLVError(f"{path} holds an unknown model class {d.get('model')!r}")
    return model_from_dict(cls, d)
