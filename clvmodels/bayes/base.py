"""Shared machinery of the Bayesian models: settings, samplers, diagnostics, predictions, NetCDF.

A Bayesian model is a thin class that declares its parameters, its default priors, the columns it
reads and its likelihood (a PyTensor expression from :mod:`._pt_math` added as a ``pm.Potential``
on compressed rows with weights). Everything else lives here:

* ``fit(summary, weights=None)`` validates the summary, builds the PyMC model (``model_``), samples
  with the configured sampler, attaches the observed summary and the config to ``idata_`` and runs
  the diagnostics (NUTS only), returning ``self``;
* samplers: ``"nuts"`` (``nuts_sampler="auto"`` picks nutpie when installed, else PyMC's own;
  ``"pymc"``, ``"nutpie"``, ``"numpyro"``, ``"blackjax"`` force one; nutpie adapts a low-rank
  mass matrix, PyMC a dense one), ``"advi"`` (mean-field variational fit with Adam that stops when
  its loss is flat: a fast path that understates posterior sds) and ``"map"`` (the posterior mode
  of the log-parameters, Jacobian included);
* posterior predictions per customer as ``xarray.DataArray`` with dims ``(chain, draw,
  customer_id)``, computed with the numpy math core in chunks of customers;
* ``save(path)`` / ``load(path)``: NetCDF holding the posterior, the sample stats, the observed
  summary and the config (JSON) with the package version; loading refuses a different version or
  model class.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..data.summary import summary_time_unit
from ..data.validation import validate_summary, validate_weights
from ..errors import (ConfigError, ConvergenceWarning, DataValidationError, InvalidValueError, MissingColumnError,
                      NotFittedError, describe_culprits)
from ..models.base import check_horizon
from ..protocols import ParameterDraws
from . import priors as _priors
from .diagnostics import check_thresholds, run_diagnostics

__all__ = ["BayesModel", "PurchasePredictions", "load", "FORMAT"]

FORMAT = "clvmodels.bayes/1"
_SAMPLERS = ("nuts", "advi", "map")
_NUTS_SAMPLERS = ("auto", "pymc", "nutpie", "numpyro", "blackjax")
# elements of one (draws x customers) block of temporaries in chunked predictions
_CHUNK_ELEMENTS = 2_000_000


def _package_version() -> str:
    from .. import __version__

    return __version__


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class BayesModel(BaseEstimator):
    """Base class of the Bayesian models (not used directly).

    Examples
    --------
    Every Bayesian model is a BayesModel: settings are constructor arguments (sklearn style), the
    priors are visible before fitting, and nothing is computed (or imported from PyMC) until ``fit``:

    >>> import clvmodels as clv
    >>> from clvmodels.bayes.base import BayesModel
    >>> model = clv.bayes.ParetoNBD(sampler="map", random_seed=1)
    >>> isinstance(model, BayesModel), model.param_names, model.get_params()["sampler"]
    (True, ('r', 'alpha', 's', 'beta'), 'map')
    >>> model.priors_in_force()["alpha"]
    {'dist': 'LogNormal', 'mu': 0.0, 'sigma': 3.0}
    >>> model.params_
    Traceback (most recent call last):
        ...
    clvmodels.errors.NotFittedError: ParetoNBD is not fitted yet: call fit(summary) or load(path) first

    Fitting samples with PyMC (seconds to minutes, so not run here); ``sampler="map"`` gives the
    posterior mode only, ``"advi"`` a fast variational approximation:

    >>> model.fit(clv.datasets.cdnow_summary())                        # doctest: +SKIP
    >>> model.summary()                  # column "map": the posterior mode  # doctest: +SKIP
    >>> model.save("pnbd.nc")                                          # doctest: +SKIP
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    _default_priors: ClassVar[dict[str, dict[str, Any]]] = {}
    math: ClassVar[Any] = None
    time_axis: ClassVar[str] = "continuous"
    input_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    _require_monetary: ClassVar[bool] = False

    def __init__(self, priors=None, sampler: str = "nuts", nuts_sampler: str = "auto", draws: int = 1000,
                 tune: int = 1000, chains: int = 4, cores: int | None = None, target_accept: float = 0.8,
                 random_seed: int | None = None, progressbar: bool = True, diagnostics: dict | None = None,
                 advi_iterations: int = 20_000, advi_learning_rate: float = 0.02):
        self.priors = priors
        self.sampler = sampler
        self.nuts_sampler = nuts_sampler
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.cores = cores
        self.target_accept = target_accept
        self.random_seed = random_seed
        self.progressbar = progressbar
        self.diagnostics = diagnostics
        self.advi_iterations = advi_iterations
        self.advi_learning_rate = advi_learning_rate

    # ---- priors ---------------------------------------------------------------------------
    @classmethod
    def default_priors(cls) -> dict[str, dict[str, Any]]:
        """The documented default priors, ``{parameter: {"dist": ..., **kwargs}}`` (a copy)."""
        return {k: dict(v) for k, v in cls._default_priors.items()}

    def priors_in_force(self) -> dict[str, dict[str, Any]]:
        """The priors in force: the defaults updated with ``priors`` (a mapping or a YAML path)."""
        return _priors.merge_priors(self.default_priors(), _priors.load_priors(self.priors), type(self).__name__)

    # ---- settings -------------------------------------------------------------------------
    def check_settings(self) -> None:
        """Raise the typed error a fit would raise for a bad setting, without fitting (e.g. a config check).

        Examples
        --------
        >>> import clvmodels as clv
        >>> try:
        ...     clv.bayes.BGNBD(chains=0).check_settings()
        ... except clv.errors.ConfigError as exc:
        ...     print(exc)
        chains must be a positive integer, got 0
        """
        self._check_settings()

    def _check_settings(self) -> None:
        if self.sampler not in _SAMPLERS:
            raise ConfigError(f"sampler must be one of {list(_SAMPLERS)}, got {self.sampler!r}", key="sampler")
        if self.nuts_sampler not in _NUTS_SAMPLERS:
            raise ConfigError(f"nuts_sampler must be one of {list(_NUTS_SAMPLERS)}, got {self.nuts_sampler!r}",
                              key="nuts_sampler")
        for key in ("draws", "chains", "advi_iterations"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{key} must be a positive integer, got {v!r}", key=key)
        if not isinstance(self.tune, (int, np.integer)) or isinstance(self.tune, bool) or self.tune < 0:
            raise ConfigError(f"tune must be a non-negative integer, got {self.tune!r}", key="tune")
        if not float(self.advi_learning_rate) > 0.0:
            raise ConfigError(f"advi_learning_rate must be > 0, got {self.advi_learning_rate!r}",
                              key="advi_learning_rate")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise ConfigError(f"target_accept must be in (0, 1), got {self.target_accept!r}", key="target_accept")
        check_thresholds(self.diagnostics)

    def _resolve_nuts_sampler(self) -> str:
        name = self.nuts_sampler
        if name == "auto":
            return "nutpie" if _has_module("nutpie") else "pymc"
        needs = {"nutpie": ("nutpie",), "numpyro": ("numpyro", "jax"), "blackjax": ("blackjax", "jax")}
        missing = [m for m in needs.get(name, ()) if not _has_module(m)]
        if missing:
            raise ConfigError(f"nuts_sampler={name!r} needs {missing} installed (pip install {' '.join(missing)}); "
                              "use nuts_sampler='auto' or 'pymc'", key="nuts_sampler")
        return name

    # ---- data -----------------------------------------------------------------------------
    def _extra_columns(self) -> list[str]:
        """Columns beyond the summary contract that the model reads (covariates)."""
        return []

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        """Numeric summary columns the model reads per customer (its covariates; often none)."""
        return tuple(self._extra_columns())

    def _validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        frame = validate_summary(summary, require_monetary=self._require_monetary, columns=self.input_columns)
        extra = self._extra_columns()
        if extra:
            missing = [c for c in extra if c not in summary.columns]
            if missing:
                raise MissingColumnError(f"summary is missing covariate column(s) {missing} named in the "
                                         f"constructor; it has {list(map(str, summary.columns))}", column=missing[0])
            for c in extra:
                col = summary[c]
                if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                    raise InvalidValueError(f"covariate column {c!r} has dtype {col.dtype}; covariates must be "
                                            "numeric (one-hot encode categories, e.g. pd.get_dummies(..., "
                                            "drop_first=True, dtype=float))", column=c, n_rows=len(col))
                values = col.to_numpy(dtype=np.float64, na_value=np.nan)
                bad = ~np.isfinite(values)
                if bad.any():
                    ids = summary.index[bad]
                    raise InvalidValueError(f"column {c!r}: {int(bad.sum())} row(s) are NaN or infinite; example "
                                            f"customer ids {describe_culprits(ids)}", column=c,
                                            n_rows=int(bad.sum()), examples=list(ids[:5]))
                frame[c] = values
        return frame

    @staticmethod
    def _weights(frame: pd.DataFrame, summary: pd.DataFrame, weights) -> np.ndarray | None:
        # the validated frame keeps the summary's rows and order
        return validate_weights(weights, summary)

    # ---- model building (subclasses) --------------------------------------------------------
    def _coords(self) -> dict[str, list[str]]:
        return {}

    def _var_names(self) -> list[str]:
        return list(self.param_names)

    def _add_priors(self, priors: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        out = {}
        for name in self.param_names:
            out[name] = _priors.build_prior(name, priors[name], positive=True)
        return out

    def _add_likelihood(self, rvs: dict[str, Any], frame: pd.DataFrame, weights: np.ndarray | None) -> None:
        raise NotImplementedError

    def _python_ops_ok(self) -> bool:
        """Whether the likelihood may use Ops with a Python ``perform`` (the fast numba kernels of
        :mod:`._fastlik`): every sampler except the JAX-based NUTS samplers (numpyro, blackjax)."""
        return not (self.sampler == "nuts" and self._resolve_nuts_sampler() in ("numpyro", "blackjax"))

    def _fit_frame(self, frame: pd.DataFrame, weights: np.ndarray | None):
        """Rows used for fitting (Gamma-Gamma keeps repeat buyers); returns (frame, weights)."""
        return frame, weights

    def build_model(self, summary: pd.DataFrame, weights=None):
        """The PyMC model for ``summary`` (validated, compressed); ``fit`` samples from it."""
        import pymc as pm

        frame = self._validate(summary)
        w = self._weights(frame, summary, weights)
        frame, w = self._fit_frame(frame, w)
        return self._build(frame, w, pm)

    def _build(self, frame, w, pm):
        self._python_ops_ = False
        priors = self.priors_in_force()
        with pm.Model(coords=self._coords()) as model:
            rvs = self._add_priors(priors)
            self._add_likelihood(rvs, frame, w)
        return model

    # ---- fitting --------------------------------------------------------------------------
    def fit(self, summary: pd.DataFrame, weights=None) -> BayesModel:
        """Sample the posterior given an RFM summary; returns ``self``.

        ``weights``: optional per-row non-negative weights (array, Series keyed by customer_id, or
        a column name), e.g. counts of identical customers. Learned attributes: ``idata_``,
        ``model_``, ``diagnostics_`` (NUTS), ``diagnostic_problems_``, ``n_obs_``, ``time_unit_``.
        """
        import pymc as pm

        self._check_settings()
        thresholds = check_thresholds(self.diagnostics)
        frame = self._validate(summary)
        w = self._weights(frame, summary, weights)
        fit_frame, fit_w = self._fit_frame(frame, w)
        self.time_unit_ = summary_time_unit(summary)
        self.model_ = self._build(fit_frame, fit_w, pm)
        self.n_obs_ = int(len(fit_frame))
        idata = self._run_sampler(self.model_, pm)
        self._attach(idata, frame, w)
        self.idata_ = idata
        self.diagnostics_ = None
        self.diagnostic_problems_ = []
        if self.sampler == "nuts":
            self.diagnostics_, self.diagnostic_problems_ = run_diagnostics(
                idata, self._var_names(), thresholds, warn=True, stacklevel=3)
        return self

    def _run_sampler(self, model, pm):
        if self.sampler == "nuts":
            which = self._resolve_nuts_sampler()
            kwargs: dict[str, Any] = dict(draws=int(self.draws), tune=int(self.tune), chains=int(self.chains),
                                          target_accept=float(self.target_accept), random_seed=self.random_seed,
                                          progressbar=bool(self.progressbar), nuts_sampler=which,
                                          compute_convergence_checks=False, return_inferencedata=True, model=model)
            if which == "nutpie":
                # low-rank mass-matrix adaptation learns the strong r-alpha / a-b correlations
                nkw: dict[str, Any] = {"low_rank_modified_mass_matrix": True}
                if self.cores is not None:
                    nkw["cores"] = int(self.cores)
                if getattr(self, "_python_ops_", False):
                    # the fast likelihood Op runs under the C linker, not nutpie's numba backend
                    from ._nutpie import sample_nutpie_pyfunc

                    seed = None if self.random_seed is None else int(
                        np.random.default_rng(self.random_seed).integers(2**31))
                    return sample_nutpie_pyfunc(model, self._var_names(), draws=self.draws, tune=self.tune,
                                                chains=self.chains, target_accept=self.target_accept, seed=seed,
                                                progressbar=self.progressbar, **nkw)
                kwargs["nuts_sampler_kwargs"] = nkw
            elif which == "pymc":
                # dense mass-matrix adaptation (the r-alpha and a-b correlations); no jitter: on CDNOW a
                # jittered start left one of four chains stuck (R-hat 1.6), the prior medians do not
                kwargs["init"] = "adapt_full"
                if self.cores is not None:
                    kwargs["cores"] = int(self.cores)
            return pm.sample(**kwargs)
        if self.sampler == "advi":
            return self._run_advi(model, pm)
        return self._run_map(model, pm)

    def _run_advi(self, model, pm):
        def stop_when_flat(approx, loss_hist, i):
            # every 1000 steps: stop once the mean loss of the last 1000 steps is within noise of the
            # 1000 before (the same test that decides advi_converged_ below)
            if i >= 2000 and i % 1000 == 0 and _loss_flat(np.asarray(loss_hist[:i], dtype=np.float64)):
                raise StopIteration(f"ADVI loss flat after {i} steps")

        with model:
            approx = pm.fit(n=int(self.advi_iterations), method="advi", random_seed=self.random_seed,
                            progressbar=bool(self.progressbar), callbacks=[stop_when_flat],
                            obj_optimizer=pm.adam(learning_rate=float(self.advi_learning_rate)))
            idata = approx.sample(int(self.draws), random_seed=self.random_seed, return_inferencedata=True)
        hist = np.asarray(approx.hist, dtype=np.float64)
        self.advi_converged_ = _loss_flat(hist)
        if not np.all(np.isfinite(hist[-100:])):
            self.advi_converged_ = False
            warnings.warn("ADVI's loss is not finite at the end of the fit: the approximation is unreliable; use "
                          "sampler='nuts'", ConvergenceWarning, stacklevel=4)
        elif not self.advi_converged_:
            warnings.warn(f"ADVI has not converged after advi_iterations={self.advi_iterations}: the loss still "
                          "drifts over the last iterations; increase advi_iterations or use sampler='nuts'",
                          ConvergenceWarning, stacklevel=4)
        return idata

    def _run_map(self, model, pm):
        """Posterior mode in the sampler's unconstrained space (log-parameters, Jacobian included):
        with the weak LogNormal priors this is the mode of log r, log alpha, ..., which sits next to
        the MLE (the natural-scale mode of ``pm.find_MAP`` is pulled towards 0 by the 1/x of
        the LogNormal density)."""
        import arviz as az
        from pymc.blocking import DictToArrayBijection, RaveledVars
        from scipy import optimize

        start = model.initial_point(random_seed=self.random_seed)
        x0 = DictToArrayBijection.map(start)
        logp_fn = model.compile_logp(jacobian=True)
        dlogp_fn = model.compile_dlogp(jacobian=True)

        def point(x):
            return DictToArrayBijection.rmap(RaveledVars(x, x0.point_map_info), start)

        def fun(x):
            p = point(x)
            return -float(logp_fn(p)), -DictToArrayBijection.map(
                dict(zip([v.name for v in model.value_vars], _split(dlogp_fn(p), model, p)))).data

        res = optimize.minimize(fun, x0.data, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
        if not res.success or not np.isfinite(res.fun):
            warnings.warn(f"MAP optimisation did not converge ({res.message}); use sampler='nuts'",
                          ConvergenceWarning, stacklevel=4)
        self.map_result_ = res
        values = model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars,
                                  on_unused_input="ignore")(point(res.x))
        names = [v.name for v in model.unobserved_value_vars]
        by_name = dict(zip(names, values))
        post, dims = {}, {}
        for name in self._var_names():
            post[name] = np.asarray(by_name[name], dtype=np.float64)[None, None, ...]
            d = model.named_vars_to_dims.get(name)
            if d:
                dims[name] = list(d)
        return az.from_dict(posterior=post, coords={k: list(v) for k, v in model.coords.items()}, dims=dims)

    # ---- idata housekeeping ---------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        params = self.get_params(deep=False)
        if isinstance(params.get("priors"), (str, Path)):
            params["priors"] = _priors.load_priors(params["priors"])
        return {"model": type(self).__name__, "format": FORMAT, "params": params,
                "priors_in_force": self.priors_in_force(), "time_unit": getattr(self, "time_unit_", None),
                "n_obs": getattr(self, "n_obs_", None)}

    def _attach(self, idata, frame: pd.DataFrame, w: np.ndarray | None) -> None:
        import xarray as xr

        ids = frame.index
        id_values = ids.to_numpy()
        if id_values.dtype == object:
            id_values = ids.astype(str).to_numpy()
        data = {c: ("customer_id", frame[c].to_numpy(dtype=np.float64)) for c in frame.columns}
        if w is not None:
            data["weight"] = ("customer_id", np.asarray(w, dtype=np.float64))
        ds = xr.Dataset(data, coords={"customer_id": id_values})
        if "observed_data" in idata.groups():
            del idata["observed_data"]
        idata.add_groups({"observed_data": ds})
        attrs = {"clvmodels_model": type(self).__name__, "clvmodels_version": _package_version(),
                 "clvmodels_format": FORMAT, "clvmodels_config": json.dumps(self._config(), default=_json_default),
                 "clvmodels_sampler": self.sampler if self.sampler != "nuts" else f"nuts:{self._resolve_nuts_sampler()}"}
        idata.posterior.attrs.update(attrs)

    def check_fitted(self) -> None:
        if getattr(self, "idata_", None) is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(summary) or load(path) first")

    # ---- reporting ------------------------------------------------------------------------
    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """The ArviZ summary table (mean, sd, HDI, MCSE, bulk/tail ESS, R-hat) of the parameters.

        A MAP fit (``sampler="map"``) has one point and no spread: the table then has one column,
        ``map`` (the posterior mode), rather than NaN standard deviations and diagnostics.
        """
        import arviz as az

        self.check_fitted()
        kwargs.setdefault("var_names", self._var_names())
        post = self.idata_.posterior
        if self.sampler == "map" or int(post.sizes["chain"]) * int(post.sizes["draw"]) == 1:
            rows = {}
            for name in kwargs["var_names"]:
                da = post[name].isel(chain=0, draw=0)
                if da.ndim == 0:
                    rows[name] = float(da)
                else:
                    flat = da.stack(_elem=list(da.dims)) if da.ndim > 1 else da
                    for label, value in zip(flat[flat.dims[0]].to_numpy(), flat.to_numpy()):
                        rows[f"{name}[{label}]"] = float(value)
            return pd.DataFrame({"map": pd.Series(rows)})
        return az.summary(self.idata_, **kwargs)

    @property
    def params_(self) -> pd.Series:
        """Posterior means of the scalar parameters (a pandas Series)."""
        self.check_fitted()
        post = self.idata_.posterior
        return pd.Series({k: float(post[k].mean()) for k in self.param_names}, name="posterior_mean")

    # ---- posterior draws ------------------------------------------------------------------
    def _draw_arrays(self, draws_per_chain: int | None) -> tuple[dict[str, np.ndarray], Any, Any]:
        """{name: array (chain*draw, ...)} and the chain/draw coordinates kept."""
        self.check_fitted()
        post = self.idata_.posterior
        if draws_per_chain is not None:
            n = int(post.sizes["draw"])
            k = int(draws_per_chain)
            if k < 1:
                raise ConfigError(f"draws_per_chain must be >= 1, got {draws_per_chain!r}", key="draws_per_chain")
            if k < n:
                post = post.isel(draw=np.unique(np.linspace(0, n - 1, k).round().astype(int)))
        out = {}
        for name in self._var_names():
            v = post[name].to_numpy().astype(np.float64)
            out[name] = v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])
        return out, post["chain"].to_numpy(), post["draw"].to_numpy()

    def _customer_params(self, draws: dict[str, np.ndarray], frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Parameters as (S, 1) arrays, or (S, n) per customer for covariate models."""
        return {k: draws[k][:, None] for k in self.param_names}

    # ---- the model protocol (clvmodels.protocols) -----------------------------------------
    def parameter_draws(self, n_draws: int | None = None, random_state=None) -> ParameterDraws:
        """The posterior draws (chains stacked: chain 0's draws first), thinned evenly to at most
        ``n_draws`` (all when None); ``random_state`` is not used (the draws are fixed)."""
        draws, _, _ = self._draw_arrays(None)
        out = ParameterDraws(draws, None, "posterior")
        return out.thinned(None if n_draws is None else int(n_draws))

    def customer_parameters(self, params: Mapping[str, np.ndarray], covariates=None) -> dict[str, np.ndarray]:
        """Each customer's parameters as ``(n, S)`` arrays (``(1, S)`` without covariates) for the
        draws ``params`` and the ``covariates`` (n, k) in :attr:`covariate_columns` order."""
        cols = list(self.covariate_columns)
        n = 0 if covariates is None else len(covariates)
        frame = pd.DataFrame(np.asarray(covariates, dtype=np.float64).reshape(n, len(cols)) if cols else
                             np.empty((n, 0)), columns=cols)
        out = self._customer_params({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, frame)
        return {k: np.ascontiguousarray(np.asarray(out[k], dtype=np.float64).T) for k in self.param_names}

    def _per_customer(self, fn: Callable[..., np.ndarray], summary: pd.DataFrame, name: str,
                      draws_per_chain: int | None, chunk_size: int | None, dtype) -> Any:
        """Evaluate ``fn(params, frame_chunk)`` -> (S, chunk) over chunks of customers."""
        import xarray as xr

        frame = self._validate(summary)
        self._check_time_unit(summary)
        draws, chains, draw_idx = self._draw_arrays(draws_per_chain)
        S = len(next(iter(draws.values())))
        N = len(frame)
        if chunk_size is None:
            chunk_size = max(1, _CHUNK_ELEMENTS // max(S, 1))
        chunk_size = int(chunk_size)
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size!r}", key="chunk_size")
        out = np.empty((S, N), dtype=dtype)
        for start in range(0, N, chunk_size):
            part = frame.iloc[start:start + chunk_size]
            params = self._customer_params(draws, part)
            values = np.asarray(fn(params, part), dtype=np.float64)
            out[:, start:start + len(part)] = np.broadcast_to(values, (S, len(part)))
        bad = ~np.isfinite(out)
        if bad.any():
            warnings.warn(f"{name}: {int(bad.sum())} value(s) are not finite", ConvergenceWarning, stacklevel=3)
        ids = frame.index
        return xr.DataArray(out.reshape(len(chains), len(draw_idx), N), dims=("chain", "draw", "customer_id"),
                            coords={"chain": chains, "draw": draw_idx, "customer_id": ids.to_numpy()}, name=name)

    def _per_draw(self, fn: Callable[..., np.ndarray], name: str, draws_per_chain: int | None) -> Any:
        import xarray as xr

        draws, chains, draw_idx = self._draw_arrays(draws_per_chain)
        params = {k: draws[k] for k in self.param_names}
        values = np.asarray(fn(params), dtype=np.float64)
        return xr.DataArray(values.reshape(len(chains), len(draw_idx)), dims=("chain", "draw"),
                            coords={"chain": chains, "draw": draw_idx}, name=name)

    def _check_time_unit(self, summary: pd.DataFrame) -> None:
        unit = summary_time_unit(summary)
        mine = getattr(self, "time_unit_", None)
        if unit is not None and mine is not None and unit != mine:
            raise DataValidationError(f"the summary is in time unit {unit!r} but the model was fitted in "
                                      f"{mine!r}; rebuild the summary in {mine!r}", column="T")

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the InferenceData (posterior, sample stats, observed summary, config, version) to NetCDF."""
        self.check_fitted()
        path = Path(path)
        self.idata_.to_netcdf(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> BayesModel:
        """Read a model written by :meth:`save`; refuses another model class or package version."""
        import arviz as az

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no saved model at {str(path)!r}", key="path")
        idata = az.from_netcdf(str(path))
        attrs = dict(idata.posterior.attrs)
        saved_model = attrs.get("clvmodels_model")
        if saved_model is None or attrs.get("clvmodels_format") != FORMAT:
            raise ConfigError(f"{str(path)!r} is not a clvmodels Bayesian model file (format {FORMAT})",
                              key="clvmodels_format")
        from ..registry import class_by_name

        target = cls if cls is not BayesModel else class_by_name(str(saved_model), bayes=True)
        if target is None or saved_model != target.__name__:
            raise ConfigError(f"{str(path)!r} holds a {saved_model} model, not a {cls.__name__}",
                              key="clvmodels_model")
        version = attrs.get("clvmodels_version")
        if version != _package_version():
            raise ConfigError(f"{str(path)!r} was saved by clvmodels {version}, this is clvmodels "
                              f"{_package_version()}: refit the model (posteriors are not migrated across "
                              "versions)", key="clvmodels_version")
        config = json.loads(attrs["clvmodels_config"])
        params = config.get("params", {})
        accepted = set(inspect.signature(target.__init__).parameters) - {"self"}
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ConfigError(f"{str(path)!r} has settings {unknown} that {target.__name__} does not know",
                              key=f"params.{unknown[0]}")
        model = target(**params)
        model.idata_ = idata
        model.time_unit_ = config.get("time_unit")
        model.n_obs_ = config.get("n_obs")
        model.diagnostics_ = None
        model.diagnostic_problems_ = []
        return model

    # ---- predictive checks ----------------------------------------------------------------
    def _simulate_frequency(self, params: dict[str, np.ndarray], T: np.ndarray, rng) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no frequency simulator")

    def _histogram_check(self, draws: dict[str, np.ndarray], frame: pd.DataFrame, max_x: int, interval: float,
                         rng) -> pd.DataFrame:
        S = len(next(iter(draws.values())))
        T = frame[self.input_columns[2]].to_numpy()
        counts = np.zeros((S, max_x + 1))
        chunk = max(1, _CHUNK_ELEMENTS // max(S, 1))
        for start in range(0, len(frame), chunk):
            part = frame.iloc[start:start + chunk]
            params = self._customer_params(draws, part)
            x = self._simulate_frequency(params, T[start:start + chunk], rng)
            x = np.minimum(x, max_x).astype(np.intp)
            for k in range(max_x + 1):
                counts[:, k] += (x == k).sum(axis=1)
        obs = np.minimum(frame[self.input_columns[0]].to_numpy(), max_x).astype(np.intp)
        observed = np.bincount(obs, minlength=max_x + 1)[: max_x + 1]
        lo, hi = (1 - interval) / 2, (1 + interval) / 2
        labels = [str(k) for k in range(max_x)] + [f"{max_x}+"]
        out = pd.DataFrame({
            "observed": observed.astype(float),
            "predicted_mean": counts.mean(axis=0),
            "predicted_lower": np.quantile(counts, lo, axis=0),
            "predicted_upper": np.quantile(counts, hi, axis=0),
        }, index=pd.Index(labels, name="frequency"))
        out["inside"] = (out["observed"] >= out["predicted_lower"]) & (out["observed"] <= out["predicted_upper"])
        return out

    def posterior_predictive_check(self, summary: pd.DataFrame | None = None, *, max_x: int = 7,
                                   n_draws: int = 200, interval: float = 0.9, random_seed=None) -> pd.DataFrame:
        """Calibration histogram (customers with 0, 1, ..., max_x+ repeat purchases): observed vs
        replicated data simulated from ``n_draws`` posterior draws with each customer's own T.

        Returns a DataFrame indexed by frequency bin with ``observed``, ``predicted_mean``,
        ``predicted_lower``/``predicted_upper`` (central ``interval``) and ``inside``.
        """
        self.check_fitted()
        frame = self._observed_frame() if summary is None else self._validate(summary)
        rng = np.random.default_rng(random_seed)
        draws, _, _ = self._draw_arrays(None)
        S = len(next(iter(draws.values())))
        pick = rng.choice(S, size=min(int(n_draws), S), replace=False)
        draws = {k: v[pick] for k, v in draws.items()}
        return self._histogram_check(draws, frame, int(max_x), float(interval), rng)

    def sample_prior(self, summary: pd.DataFrame, n_draws: int = 500, random_seed=None):
        """Draws from the priors (an InferenceData with a ``prior`` group), from the PyMC model."""
        import pymc as pm

        model = self.build_model(summary)
        with model, warnings.catch_warnings():
            # only the priors are drawn here: the likelihood Potential is meant to be left out
            warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
            return pm.sample_prior_predictive(draws=int(n_draws), random_seed=random_seed,
                                              var_names=self._var_names())

    def prior_predictive_check(self, summary: pd.DataFrame, *, max_x: int = 7, n_draws: int = 200,
                               interval: float = 0.9, random_seed=None) -> pd.DataFrame:
        """Like :meth:`posterior_predictive_check` with parameters drawn from the priors instead: does
        the prior put the observed calibration histogram within reach? (Needs no fit.)"""
        frame = self._validate(summary)
        prior = self.sample_prior(summary, n_draws=n_draws, random_seed=random_seed).prior
        draws = {}
        for name in self._var_names():
            v = prior[name].to_numpy().astype(np.float64)
            draws[name] = v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])
        rng = np.random.default_rng(random_seed)
        return self._histogram_check(draws, frame, int(max_x), float(interval), rng)

    def _observed_frame(self) -> pd.DataFrame:
        ds = self.idata_.observed_data
        cols = [c for c in ds.data_vars if c != "weight"]
        return pd.DataFrame({c: ds[c].to_numpy() for c in cols},
                            index=pd.Index(ds["customer_id"].to_numpy(), name="customer_id"))


class PurchasePredictions:
    """Per-draw predictions of the purchase models (BG/NBD, Pareto/NBD), mixed into a
    :class:`BayesModel` whose ``param_names`` are in the order of its math core's signature.

    Each evaluates the numpy math core (the same functions the MLE models use, with the papers'
    equations cited there) at every posterior draw, in chunks of customers.

    Examples
    --------
    The purchase models (BG/NBD, Pareto/NBD) share these per-draw predictions; Gamma-Gamma predicts
    spend instead:

    >>> import clvmodels as clv
    >>> from clvmodels.bayes.base import PurchasePredictions
    >>> [issubclass(m, PurchasePredictions) for m in (clv.bayes.BGNBD, clv.bayes.ParetoNBD, clv.bayes.GammaGamma)]
    [True, True, False]

    On a fitted model (sampling is too slow to run here), each returns an ``xarray.DataArray`` with
    dims (chain, draw, customer_id), or (chain, draw) for a new customer:

    >>> summary = clv.datasets.cdnow_summary()
    >>> bg = clv.bayes.BGNBD(draws=500, chains=2, random_seed=1).fit(summary)     # doctest: +SKIP
    >>> bg.expected_purchases(summary.loc[[1, 2]], t=39).mean(("chain", "draw"))   # doctest: +SKIP
    >>> bg.p_alive(summary, draws_per_chain=100).quantile([0.05, 0.95], ("chain", "draw"))   # doctest: +SKIP
    >>> bg.expected_purchases_new(39).mean()                                      # doctest: +SKIP
    """

    def expected_purchases(self, summary: pd.DataFrame, t: float, *, draws_per_chain: int | None = None,
                           chunk_size: int | None = None, dtype=np.float64):
        """E[X(T, T+t) | x, t_x, T] per draw and customer: DataArray ``(chain, draw, customer_id)``."""
        self.check_fitted()
        t = check_horizon(t, "t")
        m = self.math
        names = self.param_names
        f, rec, TT = self.input_columns

        def fn(p, part):
            return m.conditional_expected_purchases(*(p[k] for k in names), part[f].to_numpy(),
                                                    part[rec].to_numpy(), part[TT].to_numpy(), t)
        return self._per_customer(fn, summary, "expected_purchases", draws_per_chain, chunk_size, dtype)

    def p_alive(self, summary: pd.DataFrame, *, draws_per_chain: int | None = None,
                chunk_size: int | None = None, dtype=np.float64):
        """P(alive at T | x, t_x, T) per draw and customer: DataArray ``(chain, draw, customer_id)``."""
        self.check_fitted()
        m = self.math
        names = self.param_names
        f, rec, TT = self.input_columns

        def fn(p, part):
            return m.p_alive(*(p[k] for k in names), part[f].to_numpy(), part[rec].to_numpy(),
                             part[TT].to_numpy())
        return self._per_customer(fn, summary, "p_alive", draws_per_chain, chunk_size, dtype)

    def expected_purchases_new(self, t: float, *, draws_per_chain: int | None = None):
        """E[X(t)] for a new customer (with covariates: a customer whose covariates are all 0):
        DataArray ``(chain, draw)``."""
        self.check_fitted()
        t = check_horizon(t, "t")
        m = self.math
        names = self.param_names
        return self._per_draw(lambda p: m.expected_purchases_new(*(p[k] for k in names), t),
                              "expected_purchases_new", draws_per_chain)


def _split(flat_grad, model, point) -> list[np.ndarray]:
    """Split a flat gradient (value-variable order) into arrays shaped like each value variable."""
    out, i = [], 0
    for v in model.value_vars:
        size = int(np.prod(np.shape(point[v.name]), dtype=int))
        out.append(np.asarray(flat_grad[i:i + size]).reshape(np.shape(point[v.name])))
        i += size
    return out


def _loss_flat(hist: np.ndarray, window: int = 1000) -> bool:
    """True when the mean ADVI loss of the last ``window`` iterations is within noise (3 standard
    errors, or 1e-4 relative) of the mean of the ``window`` before."""
    if len(hist) < 2 * window:
        return False
    last, prev = hist[-window:], hist[-2 * window:-window]
    diff = abs(last.mean() - prev.mean())
    noise = 3.0 * np.sqrt(last.var() / window + prev.var() / window)
    return bool(diff <= max(noise, 1e-4 * abs(last.mean())))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in the model config")


def load(path: str | Path) -> BayesModel:
    """Load any Bayesian model saved with ``save`` (the class is read from the file).

    Examples
    --------
    The format tag a saved model (NetCDF) carries; loading reads the class from the file and refuses
    another package version:

    >>> from clvmodels.bayes.base import FORMAT, load
    >>> FORMAT
    'clvmodels.bayes/1'
    >>> model = load("bgnbd.nc")                                       # doctest: +SKIP
    """
    return BayesModel.load(path)
