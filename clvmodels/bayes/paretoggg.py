"""Bayesian Pareto/GGG (Platzer & Reutterer 2016): Pareto/NBD-style dropout with Gamma-distributed,
possibly regular, inter-purchase times, and gamma heterogeneity of the regularity k, the purchase rate
lambda and the dropout rate mu across customers.

The model (P & R 2016, "Ticking away the moments: timing regularity helps to better predict customer
activity", Marketing Science 35(5)): customer i's inter-purchase times are Gamma(k_i, k_i lambda_i) (mean
1 / lambda_i; k_i = 1 is the Poisson process of the Pareto/NBD, larger k_i more regular), the lifetime after
the first purchase is Exponential(mu_i), and k_i ~ Gamma(t, gamma), lambda_i ~ Gamma(r, alpha),
mu_i ~ Gamma(s, beta) (shape, rate). It reads the summary columns ``frequency``, ``recency``, ``T`` and
``litt`` (the sum of the logs of the inter-purchase times: ``clv.rfm_summary(..., litt=True)``).

The posterior is sampled by the model's own MCMC (:mod:`._pggg_sampler`: data-augmentation Gibbs in
numba, chains in parallel threads), not by PyMC; the result is an ArviZ ``InferenceData`` like the other
Bayesian models', with the six population parameters and every customer's k, lambda, mu (dim
``customer_id``), checked with the same diagnostics (R-hat, bulk/tail ESS of the population parameters).

Predictions are for the fitted customers (the posterior of each customer's k, lambda, mu conditions on
that customer's history): P(alive) in closed form per draw (:func:`clvmodels.math.paretoggg.p_alive`),
future purchases simulated per draw (:func:`clvmodels.math.paretoggg.draw_future_purchases`).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..data.summary import summary_time_unit
from ..data.validation import LITT_COLUMN, validate_summary
from ..errors import ConfigError, ConvergenceWarning, DataValidationError, MissingColumnError, describe_culprits
from ..math import paretoggg as _math
from ..models.base import check_horizon
from .base import BayesModel
from .diagnostics import check_thresholds, run_diagnostics

__all__ = ["ParetoGGG"]

_SHAPE = {"dist": "LogNormal", "mu": 0.0, "sigma": 2.0}
_RATE = {"dist": "Gamma", "alpha": 0.01, "beta": 0.001}
_CHUNK = 4_000_000          # (draws x customers) elements handled at once by the predictions
_UNSEEN_BURN = 50           # sweeps of a new history's chain before its first draw ...
_UNSEEN_BETWEEN = 3         # ... and between draws (customer_chains)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea & Flood 2014): well-mixed 64-bit values from consecutive ones."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _id_seeds(base: np.uint64, ids) -> np.ndarray:
    """One int64 seed per customer id (its text's CRC-32 mixed with ``base``): a customer's stream does not depend on
    who else is asked with it."""
    import zlib

    crc = np.array([zlib.crc32(str(v).encode()) for v in ids], dtype=np.uint64)
    return (_splitmix64(base + crc) >> np.uint64(33)).astype(np.int64)


def _whole(value, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {value!r}", key=key)
    return int(value)


class ParetoGGG(BayesModel):
    """Bayesian Pareto/GGG, sampled by a fast data-augmentation Gibbs sampler (numba).

    Parameters
    ----------
    priors : mapping or YAML path, optional
        Overrides of the default priors, per parameter. The shapes ``t``, ``r``, ``s`` take
        ``{"dist": "LogNormal", "mu": ..., "sigma": ...}``, the rates ``gamma``, ``alpha``, ``beta``
        ``{"dist": "Gamma", "alpha": ..., "beta": ...}`` (conjugate with the sampler's updates).
        Defaults: shapes LogNormal(0, 2) (median 1, 95% in (0.02, 50)); rates Gamma(0.01, 0.001), nearly
        flat on the log scale up to ~1000 (so in any time unit). With thousands of customers the data
        dominate both.
    draws, tune, chains : int
        Kept draws per chain (after thinning), warm-up sweeps, chains (default 2).
    thin : int, optional
        Keep every ``thin``-th sweep. Default (None): each chain chooses its own after warm-up. First from the
        autocorrelation of its first sweeps (at least 250, doubled while they span fewer than 20 autocorrelation
        times): the autocorrelation time of the slowest population parameter times 300 / ``draws``. Then, once
        its draws are complete, from the draws themselves: while they hold fewer than 250 effective draws of a
        population parameter (or a quarter of ``draws``, if fewer), it doubles its thinning, keeping every other
        draw and sampling the rest (at most 100). The result is exactly the draws of that thinning from the start,
        and no sweep is spent on the choice. ``thin_`` holds what each chain used. How much thinning a data set
        needs is not predictable from its size: 1,000 or 10,000 simulated customers take 1-2; the CDNOW sample
        (2,357 real customers whose data identify the dropout heterogeneity weakly) 8-32; the whole CDNOW log
        (23,570) 8, about 4 minutes on 2 cores (``benchmarks/RESULTS.md``, Pareto/GGG). A short pilot alone
        underestimates long autocorrelations, which is what the check at the end catches. If the fit still warns,
        raise ``draws`` or set ``thin``.
    cores : int, optional
        Chains run at the same time (threads; default: the machine's cores, at most ``chains``).
    random_seed : int, optional
        Seeds every chain (the same seed gives the same draws).
    diagnostics : dict, optional
        Thresholds of :mod:`clvmodels.bayes.diagnostics` (R-hat, ESS) checked after the fit.

    Attributes
    ----------
    idata_ : arviz.InferenceData
        ``posterior``: ``t, gamma, r, alpha, s, beta`` (chain, draw) and ``k, lambda, mu`` (chain, draw,
        customer_id); ``observed_data``: the summary fitted.
    diagnostics_, diagnostic_problems_ : R-hat / ESS table of the population parameters, and the
        problems found (each also warned as a ``SamplingDiagnosticWarning``).
    sampling_time_ : float
        Wall seconds of the sampler (compilation excluded: numba compiles once and caches on disk).
    thin_ : tuple of int
        The thinning each chain used (chosen by the chain when ``thin`` is None); also the posterior's
        ``clvmodels_thin`` attribute.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.simulate import paretoggg as sim
    >>> data = sim.simulate(9.0, 3.0, 1.5, 3.0, 0.6, 30.0, 52.0, n_customers=300, random_state=1)
    >>> model = clv.bayes.ParetoGGG(draws=200, tune=200, random_seed=1)
    >>> model.default_priors()["t"], model.default_priors()["beta"]
    ({'dist': 'LogNormal', 'mu': 0.0, 'sigma': 2.0}, {'dist': 'Gamma', 'alpha': 0.01, 'beta': 0.001})
    >>> model.fit(data)                                               # doctest: +SKIP
    >>> model.summary()                # t, gamma, r, alpha, s, beta   # doctest: +SKIP
    >>> model.p_alive().mean(("chain", "draw"))   # per customer_id   # doctest: +SKIP
    >>> model.expected_purchases(t=26).mean(("chain", "draw"))        # doctest: +SKIP
    """

    param_names = ("t", "gamma", "r", "alpha", "s", "beta")
    _default_priors = {"t": _SHAPE, "gamma": _RATE, "r": _SHAPE, "alpha": _RATE, "s": _SHAPE, "beta": _RATE}
    math = _math
    sampler = "gibbs"
    customer_names = ("k", "lambda", "mu")

    def __init__(self, priors=None, draws: int = 1000, tune: int = 500, chains: int = 2, thin: int | None = None,
                 cores: int | None = None, random_seed: int | None = None, diagnostics: dict | None = None):
        self.priors = priors
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.thin = thin
        self.cores = cores
        self.random_seed = random_seed
        self.diagnostics = diagnostics

    # ---- settings ----------------------------------------------------------------------------
    def _check_settings(self) -> dict[str, dict[str, Any]]:
        _whole(self.draws, "draws", 1)
        _whole(self.tune, "tune", 0)
        _whole(self.chains, "chains", 1)
        if self.thin is not None:
            _whole(self.thin, "thin", 1)
        if self.cores is not None:
            _whole(self.cores, "cores", 1)
        check_thresholds(self.diagnostics)
        priors = self.priors_in_force()
        for name, spec in priors.items():
            want = ("LogNormal", ("mu", "sigma")) if name in ("t", "r", "s") else ("Gamma", ("alpha", "beta"))
            if spec.get("dist") != want[0] or set(spec) - {"dist"} != set(want[1]):
                raise ConfigError(f"priors.{name}: {type(self).__name__} takes a {want[0]} prior with "
                                  f"{list(want[1])} for {name!r}, got {spec}", key=f"priors.{name}")
            vals = {k: float(spec[k]) for k in want[1]}
            positive = [k for k in want[1] if not (k == "mu" or vals[k] > 0)]
            if positive or not all(np.isfinite(list(vals.values()))):
                raise ConfigError(f"priors.{name}: {spec} needs finite values with {want[1][-1]} > 0",
                                  key=f"priors.{name}")
        return priors

    # ---- data --------------------------------------------------------------------------------
    def _validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        if isinstance(summary, pd.DataFrame) and LITT_COLUMN not in summary.columns:
            raise MissingColumnError(
                f"{type(self).__name__} needs the column {LITT_COLUMN!r} (the sum of the log inter-purchase times, "
                "the regularity statistic): build the summary with litt=True, e.g. "
                "clv.rfm_summary(transactions, ..., litt=True) or clv.calibration_holdout(..., litt=True)",
                column=LITT_COLUMN)
        return validate_summary(summary, litt=True, columns=self.input_columns)

    def build_model(self, summary: pd.DataFrame, weights=None):
        """Not available: the Pareto/GGG is sampled by its own Gibbs sampler, not a PyMC model."""
        raise NotImplementedError(f"{type(self).__name__} has no PyMC model: its sampler is "
                                  "clvmodels.bayes._pggg_sampler (call fit)")

    # ---- fitting -----------------------------------------------------------------------------
    def fit(self, summary: pd.DataFrame, weights=None) -> ParetoGGG:
        """Sample the posterior given an RFM summary with ``litt``; returns ``self``.

        ``weights`` are not supported (every customer has latent parameters of its own): passing them is
        a ConfigError.

        Examples
        --------
        >>> import clvmodels as clv
        >>> from clvmodels.simulate import paretoggg as sim
        >>> data = sim.simulate(9.0, 3.0, 1.5, 3.0, 0.6, 30.0, 52.0, n_customers=200, random_state=1)
        >>> model = clv.bayes.ParetoGGG(draws=100, tune=100, random_seed=2)
        >>> model.fit(data.drop(columns="litt"))
        Traceback (most recent call last):
            ...
        clvmodels.errors.MissingColumnError: ParetoGGG needs the column 'litt' (the sum of the log ...
        >>> model.fit(data).idata_.posterior["k"].dims                 # doctest: +SKIP
        ('chain', 'draw', 'customer_id')
        """
        import arviz as az

        from . import _pggg_sampler

        priors = self._check_settings()
        if weights is not None:
            raise ConfigError(f"{type(self).__name__} does not take weights: every customer has its own latent "
                              "k, lambda, mu; pass one row per customer", key="weights")
        thresholds = check_thresholds(self.diagnostics)
        frame = self._validate(summary)
        self.time_unit_ = summary_time_unit(summary)
        self.n_obs_ = int(len(frame))
        x, tx, T, litt = (frame[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T", LITT_COLUMN))
        if not np.any(T > 0):
            raise DataValidationError("every customer has T = 0: there is no observation period to learn from",
                                      column="T")
        cores = self.cores if self.cores is not None else (os.cpu_count() or 1)
        chains, draws = int(self.chains), int(self.draws)
        seed_seq = np.random.SeedSequence(self.random_seed)
        _pggg_sampler.warm_up_compiler()
        start = time.perf_counter()
        out = _pggg_sampler.run_chains(x, tx, T, litt, chains=chains, tune=int(self.tune), draws=draws,
                                       thin=int(self.thin) if self.thin is not None else 0, seed_seq=seed_seq,
                                       priors=priors, cores=int(cores))
        self.thin_ = tuple(int(v) for v in out["thin"])
        self.sampling_time_ = time.perf_counter() - start
        ids = frame.index.to_numpy()
        if ids.dtype == object:
            ids = frame.index.astype(str).to_numpy()
        posterior: dict[str, np.ndarray] = {name: out["hyper"][:, :, j] for j, name in enumerate(self.param_names)}
        for name in self.customer_names:
            posterior[name] = out[name]
        idata = az.from_dict(posterior=posterior, coords={"customer_id": ids},
                             dims={name: ["customer_id"] for name in self.customer_names})
        acc = out["acceptance"]
        idata.posterior.attrs["clvmodels_t_gamma_move_acceptance"] = [float(a) for a in acc[:, :2].ravel()]
        idata.posterior.attrs["clvmodels_population_move_acceptance"] = [float(a) for a in acc[:, 2:].ravel()]
        idata.posterior.attrs["clvmodels_sampling_seconds"] = float(self.sampling_time_)
        idata.posterior.attrs["clvmodels_thin"] = list(self.thin_)
        self._attach(idata, frame, None)
        self.idata_ = idata
        self.diagnostics_, self.diagnostic_problems_ = run_diagnostics(
            idata, list(self.param_names), thresholds, warn=True, stacklevel=3)
        return self

    # ---- per-customer draws ------------------------------------------------------------------
    def _locate(self, summary: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
        """The histories asked for (every fitted one when ``summary`` is None) and each one's position in the
        posterior: -1 for a customer the fit did not see, or whose history (frequency, recency, T) differs from the
        fitted one; those are drawn by :meth:`_unseen_draws` (they need ``litt``)."""
        self.check_fitted()
        fitted = self._observed_frame()
        if summary is None:
            return fitted, np.arange(len(fitted))
        has_litt = isinstance(summary, pd.DataFrame) and LITT_COLUMN in summary.columns
        frame = validate_summary(summary, litt=has_litt, columns=self.input_columns)
        self._check_time_unit(summary)
        ids = frame.index
        lookup = fitted.index
        if ids.dtype == object and lookup.dtype != object:
            lookup = lookup.astype(str)
        elif lookup.dtype == object and ids.dtype != object:
            ids = ids.astype(str)
        pos = lookup.get_indexer(ids)
        known = pos >= 0
        fit_part = fitted.iloc[np.where(known, pos, 0)]
        for c in self.input_columns:
            known &= np.isclose(frame[c].to_numpy(), fit_part[c].to_numpy(), rtol=1e-9, atol=1e-9)
        pos = np.where(known, pos, -1)
        if not known.all():
            unseen = frame.index[~known]
            if not has_litt:
                raise MissingColumnError(
                    f"{len(unseen)} customer(s) were not in the summary the model was fitted on or have another "
                    f"history, e.g. {describe_culprits(unseen)}: their posterior needs the summary's "
                    f"'{LITT_COLUMN}' column (build it with litt=True)", column=LITT_COLUMN)
        return frame, pos

    @staticmethod
    def _hyper(post, ci=None, di=None) -> np.ndarray:
        """The population draws (S, 6: t, gamma, r, alpha, s, beta) of ``post``: every (chain, draw) in order, or the
        pairs ``(ci, di)``."""
        from ._pggg_sampler import HYPER_NAMES

        return np.stack([post[h].to_numpy().ravel() if ci is None else post[h].to_numpy()[ci, di]
                         for h in HYPER_NAMES], axis=1)

    def _unseen_draws(self, frame: pd.DataFrame, hyper: np.ndarray, random_state=None):
        """(k, lambda, mu), each (customers, S), for customers whose history the fit did not see, one draw per row
        of ``hyper`` (S, 6: the population draws): each customer's own chain of the sampler's customer-level
        updates with the population held at each draw (:func:`clvmodels.bayes._pggg_sampler.customer_chains`).
        The population posterior is the fitted one: the new histories do not update it (as the maximum-likelihood
        models score new data with their fitted parameters). A customer's stream comes from ``random_state`` (the
        model's ``random_seed`` when None) and the customer id, whoever else is asked with it."""
        from . import _pggg_sampler as S

        x, tx, T, litt = (frame[c].to_numpy(dtype=np.float64) for c in (*self.input_columns, LITT_COLUMN))
        seed = self.random_seed if random_state is None else random_state
        seeds = _id_seeds(np.uint64(np.random.default_rng(seed).integers(2**63)), frame.index)
        hyper = np.ascontiguousarray(hyper, dtype=np.float64)
        out = [np.empty((len(frame), len(hyper))) for _ in range(3)]
        S.customer_chains(seeds, x, tx, T, litt, hyper, _UNSEEN_BURN, _UNSEEN_BETWEEN, S._LO, S._HI, *out)
        return tuple(out)

    def _draws(self, draws_per_chain: int | None):
        post = self.idata_.posterior
        if draws_per_chain is not None:
            k = _whole(draws_per_chain, "draws_per_chain", 1)
            n = int(post.sizes["draw"])
            if k < n:
                post = post.isel(draw=np.unique(np.linspace(0, n - 1, k).round().astype(int)))
        return post

    def _per_customer_draws(self, fn, summary, name: str, draws_per_chain: int | None):
        """``fn(k, lam, mu, x, t_x, T)`` on (S, chunk) arrays -> DataArray (chain, draw, customer_id)."""
        import xarray as xr

        frame, pos = self._locate(summary)
        post = self._draws(draws_per_chain)
        C, D = int(post.sizes["chain"]), int(post.sizes["draw"])
        S, N = C * D, len(frame)
        out = np.empty((S, N))
        x, tx, T = (frame[c].to_numpy(dtype=np.float64) for c in self.input_columns)
        step = max(1, _CHUNK // max(S, 1))
        arrays = {c: post[c] for c in self.customer_names}
        seen = np.flatnonzero(pos >= 0)
        for start in range(0, len(seen), step):
            cols = seen[start:start + step]
            k, lam, mu = (arrays[c].isel(customer_id=pos[cols]).to_numpy().astype(np.float64).reshape(S, -1)
                          for c in self.customer_names)
            out[:, cols] = fn(k, lam, mu, x[None, cols], tx[None, cols], T[None, cols])
        new = np.flatnonzero(pos < 0)
        if new.size:
            hyper = self._hyper(post)
            for start in range(0, new.size, step):
                cols = new[start:start + step]
                k, lam, mu = (a.T for a in self._unseen_draws(frame.iloc[cols], hyper))
                out[:, cols] = fn(k, lam, mu, x[None, cols], tx[None, cols], T[None, cols])
        bad = ~np.isfinite(out)
        if bad.any():
            warnings.warn(f"{name}: {int(bad.sum())} value(s) are not finite", ConvergenceWarning, stacklevel=3)
        return xr.DataArray(out.reshape(C, D, N), dims=("chain", "draw", "customer_id"),
                            coords={"chain": post["chain"].to_numpy(), "draw": post["draw"].to_numpy(),
                                    "customer_id": frame.index.to_numpy()}, name=name)

    # ---- predictions -------------------------------------------------------------------------
    def p_alive(self, summary: pd.DataFrame | None = None, *, draws_per_chain: int | None = None):
        """P(alive at T | history) per draw and customer: DataArray ``(chain, draw, customer_id)``.

        Closed form given each draw's k, lambda, mu (:func:`clvmodels.math.paretoggg.p_alive`); its mean
        over the draws is the posterior P(alive). ``summary``: the fitted customers to predict (all when
        None); customers not fitted, or with another history, are drawn given the fitted population posterior
        (their summary rows need ``litt``).

        Examples
        --------
        >>> import clvmodels as clv
        >>> model = clv.bayes.ParetoGGG(random_seed=1)
        >>> model.p_alive()
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        >>> model.fit(data).p_alive().mean(("chain", "draw"))          # doctest: +SKIP
        """
        return self._per_customer_draws(lambda k, lam, mu, x, tx, T: _math.p_alive(k, lam, mu, x, tx, T),
                                        summary, "p_alive", draws_per_chain)

    def _future(self, summary, t, draws_per_chain, random_seed, n_sims, kind: str):
        t = check_horizon(t, "t")
        n_sims = _whole(n_sims, "n_sims", 1)
        rng = np.random.default_rng(random_seed)

        def fn(k, lam, mu, x, tx, T):
            k, lam, mu, x, tx, T = np.broadcast_arrays(k, lam, mu, x, tx, T)
            pa = _math.p_alive(k, lam, mu, x, tx, T)
            if kind == "draw":
                return _math.draw_future_purchases(k, lam, mu, x, tx, T, t, rng)
            total = np.zeros(k.shape)
            for _ in range(n_sims):
                n = _math.draw_future_purchases(k, lam, mu, x, tx, T, t, rng, alive=True)
                total += n if kind == "expected" else (n > 0)
            return pa * total / n_sims

        return self._per_customer_draws(fn, summary, kind if kind != "draw" else "future_purchases",
                                        draws_per_chain)

    def expected_purchases(self, summary: pd.DataFrame | None = None, t: float = 1.0, *,
                           draws_per_chain: int | None = None, n_sims: int = 1, random_seed=None):
        """Expected purchases in (T, T + t] per draw and customer: DataArray ``(chain, draw, customer_id)``.

        Per draw: P(alive) (closed form) times the mean of ``n_sims`` simulated purchase counts of a
        customer alive at T with that draw's k, lambda, mu (the alive/dead coin is averaged exactly, only
        the purchase times are simulated; there is no closed form for a Gamma renewal process). The mean over
        draws estimates E[X(T, T+t) | history]; its Monte Carlo error shrinks with draws x ``n_sims``. A
        simulated future costs ~1 microsecond per expected purchase: thin with ``draws_per_chain`` for large
        bases.

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().expected_purchases(t=-1)
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        >>> model.fit(data).expected_purchases(t=26).mean(("chain", "draw"))   # doctest: +SKIP
        """
        self.check_fitted()
        return self._future(summary, t, draws_per_chain, random_seed, n_sims, "expected")

    def p_active(self, summary: pd.DataFrame | None = None, t: float = 1.0, *, draws_per_chain: int | None = None,
                 n_sims: int = 1, random_seed=None):
        """P(at least one purchase in (T, T + t]) per draw and customer (P & R 2016's P(active)): P(alive)
        times the share of ``n_sims`` simulated futures of a customer alive at T with a purchase.

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().p_active(t=4)
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        """
        self.check_fitted()
        return self._future(summary, t, draws_per_chain, random_seed, n_sims, "active")

    def posterior_predictive(self, summary: pd.DataFrame | None = None, t: float = 1.0, *,
                             draws_per_chain: int | None = None, random_seed=None):
        """Posterior predictive purchase counts in (T, T + t]: one simulated future per draw and customer,
        DataArray ``(chain, draw, customer_id)`` (alive drawn with P(alive); if alive, the current gap
        conditioned on exceeding T - t_x, later gaps Gamma(k, k lambda), remaining life Exponential(mu)).

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().posterior_predictive(t=4)
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        """
        self.check_fitted()
        return self._future(summary, t, draws_per_chain, random_seed, 1, "draw")

    def customer_summary(self, summary: pd.DataFrame | None = None, t: float = 1.0, *, interval: float = 0.9,
                         n_sims: int = 1, random_seed=None) -> pd.DataFrame:
        """Per-customer table: posterior means of k, lambda, mu, P(alive), expected purchases in (T, T + t]
        with the central ``interval`` of the posterior predictive count.

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().customer_summary(t=4)
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        """
        self.check_fitted()
        if not 0.0 < float(interval) < 1.0:
            raise ConfigError(f"interval must be in (0, 1), got {interval!r}", key="interval")
        frame, pos = self._locate(summary)
        post = self.idata_.posterior
        seen = pos >= 0
        means = np.empty((len(frame), len(self.customer_names)))
        for j, c in enumerate(self.customer_names):
            means[seen, j] = post[c].isel(customer_id=pos[seen]).mean(("chain", "draw")).to_numpy()
        if not seen.all():           # new histories: one run of their chains for all three
            for j, a in enumerate(self._unseen_draws(frame.loc[~seen], self._hyper(post))):
                means[~seen, j] = a.mean(axis=1)
        out = pd.DataFrame(means, index=frame.index, columns=list(self.customer_names))
        out["p_alive"] = self.p_alive(summary).mean(("chain", "draw")).to_numpy()
        rng = np.random.default_rng(random_seed)
        out["expected_purchases"] = self.expected_purchases(summary, t, n_sims=n_sims,
                                                            random_seed=rng).mean(("chain", "draw")).to_numpy()
        pp = self.posterior_predictive(summary, t, random_seed=rng)
        lo, hi = (1 - float(interval)) / 2, (1 + float(interval)) / 2
        q = pp.quantile([lo, hi], ("chain", "draw")).to_numpy()
        out["purchases_lower"], out["purchases_upper"] = q[0], q[1]
        return out

    # ---- the per-customer contract (clvmodels.protocols.CustomerDrawsModel) --------------------
    def _thinned_draws(self, n_draws: int | None):
        """(chain, draw) positions of the draws kept by ``parameter_draws(n_draws)`` (chains stacked)."""
        from ..protocols import thin_index

        post = self.idata_.posterior
        C, D = int(post.sizes["chain"]), int(post.sizes["draw"])
        if n_draws is not None:
            _whole(n_draws, "n_draws", 1)
        idx = thin_index(C * D, n_draws)
        return idx // D, idx % D

    def customer_draws(self, summary: pd.DataFrame, steps, *, n_draws: int | None = None, random_state=None):
        """Per-customer draws for a forecast (:class:`clvmodels.protocols.CustomerDraws`): for the fitted
        customers of ``summary`` and each kept posterior draw (draw j is draw j of ``parameter_draws(n_draws)``),

        * P(alive now): closed form given the draw's k, lambda, mu (:func:`clvmodels.math.paretoggg.p_alive`);
        * given alive now, the expected cumulative purchases at each of ``steps`` (time units after T, sorted):
          one simulated path of purchase times per customer and draw (the current gap conditioned on exceeding
          T - t_x, then Gamma(k, k lambda) gaps) with the exponential lifetime integrated out - a purchase at
          T + u counts e^(-mu u) - so only the gaps are simulated (Rao-Blackwellised; unbiased for the draw's
          expectation);
        * P(alive at T + steps[k] | alive now) = e^(-mu steps[k]) exactly (the memoryless lifetime);
        * P(no purchase up to steps[-1] | alive now) = 1 - 1{S_1 <= steps[-1]} e^(-mu S_1) given the path's
          first purchase S_1.

        The Monte Carlo error of a posterior mean over S draws is at most the posterior predictive sd of the
        count over sqrt(S) (in practice smaller: the lifetime is integrated out). Customers not in the fitted
        summary, or whose frequency / recency / T differ from the fitted ones (a later log), are drawn from the
        fitted population posterior and their own history (:meth:`_unseen_draws`; the summary then needs
        ``litt``); a refit would also let their histories move the population.

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().customer_draws(None, [4.0])
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        """
        from ..errors import InvalidValueError
        from ..protocols import CustomerDraws

        self.check_fitted()
        steps = np.atleast_1d(np.asarray(steps, dtype=np.float64))
        if steps.ndim != 1 or steps.size == 0 or not np.all(np.isfinite(steps)) or np.any(steps <= 0) \
                or np.any(np.diff(steps) < 0):
            raise InvalidValueError(f"steps must be finite, > 0 and sorted, got {steps.tolist()[:5]}", column="steps")
        frame, pos = self._locate(summary)
        ci, di = self._thinned_draws(n_draws)
        S, n, K = len(ci), len(frame), len(steps)
        post = self.idata_.posterior

        seen = pos >= 0
        k, lam, mu = (np.empty((n, S)) for _ in range(3))
        for name, arr in zip(self.customer_names, (k, lam, mu)):
            a = post[name].isel(customer_id=pos[seen]).to_numpy()              # (C, D, n seen)
            arr[seen] = a[ci, di, :].T
        if not seen.all():
            hyper = self._hyper(post, ci, di)
            for arr, got in zip((k, lam, mu), self._unseen_draws(frame.loc[~seen], hyper, random_state)):
                arr[~seen] = got
        x, tx, T = (frame[c].to_numpy(dtype=np.float64)[:, None] for c in self.input_columns)
        pa = _math.p_alive(k, lam, mu, x, tx, T)
        # one stream per customer, from random_state and the customer's place in the fitted summary: a customer's
        # draws are the same whichever block of customers they are asked in
        base = np.uint64(np.random.default_rng(random_state).integers(2**63))
        seeds = (_splitmix64(base + np.asarray(np.maximum(pos, 0), dtype=np.uint64)) >> np.uint64(33)).astype(np.int64)
        if not seen.all():           # a new history: its stream from its id (as in _unseen_draws)
            seeds[~seen] = _id_seeds(base + np.uint64(2**40), frame.index[~seen])
        cum = np.empty((n * S, K))
        nobuy = np.empty(n * S)
        elapsed = np.broadcast_to(T - tx, (n, S))
        _math.kernels().forecast_paths(k.ravel(), (k * lam).ravel(), mu.ravel(), np.ascontiguousarray(elapsed).ravel(),
                                       steps, seeds, cum, nobuy)
        ahead = np.exp(-mu[:, :, None] * steps[None, None, :])
        return CustomerDraws(p_alive=pa, expected_purchases=cum.reshape(n, S, K), alive_ahead=ahead,
                             no_purchase=nobuy.reshape(n, S))

    def _population(self, n_draws: int | None, n_sims: int, rng):
        """Population draws (thinned), each repeated ``n_sims`` times, with one (k, k lambda) per path."""
        ci, di = self._thinned_draws(n_draws)
        post = self.idata_.posterior
        hyp = {name: post[name].to_numpy()[ci, di].astype(np.float64) for name in self.param_names}
        S = len(ci)
        rep = {name: np.repeat(v, n_sims) for name, v in hyp.items()}
        k = np.maximum(rng.gamma(rep["t"], 1.0 / rep["gamma"]), 1e-6)
        lam = np.maximum(rng.gamma(rep["r"], 1.0 / rep["alpha"]), 1e-12)
        return S, k, k * lam, rep["s"], rep["beta"]

    def new_customer_purchases(self, t, *, n_draws: int | None = 200, n_sims: int = 200, random_state=None):
        """E[X(t)]: expected repeat purchases in (0, t] of a new customer (first purchase at 0), per posterior
        draw: ``(S, len(t))``. Per draw, the mean over ``n_sims`` customers drawn from the population (k,
        lambda) with the dropout rate integrated out exactly (a purchase at u counts (beta / (beta + u))^s), so
        only the gaps are simulated; its Monte Carlo error shrinks with draws x ``n_sims`` (the cohort tracking of
        :func:`clvmodels.evaluate.evaluate` averages over the draws).

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().new_customer_purchases([4.0])
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        """
        self.check_fitted()
        n_sims = _whole(n_sims, "n_sims", 1)
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if not np.all(np.isfinite(t) & (t >= 0)):
            raise ConfigError("t must be finite and >= 0", key="t")
        rng = np.random.default_rng(random_state)
        S, k, rate, sh, beta = self._population(n_draws, n_sims, rng)
        times, inv = np.unique(t, return_inverse=True)
        out = np.zeros((S, len(times)))
        fast = _math.kernels()
        fast.seed(int(rng.integers(2**31 - 1)))
        if times[-1] > 0:
            fast.new_customer_paths(k, rate, sh, beta, times, np.repeat(np.arange(S), n_sims), out)
        return (np.cumsum(out, axis=1) / n_sims)[:, inv.ravel()]

    def new_customer_count_probabilities(self, T, max_frequency: int, *, n_draws: int | None = 100,
                                         n_sims: int = 50, random_state=None) -> np.ndarray:
        """P(X(T) = n) for new customers observed for ``T``, n = 0 .. max_frequency - 1 and the open bin
        ``max_frequency``+, per posterior draw: ``(S, len(T), max_frequency + 1)``. Per draw and T, the mean over
        ``n_sims`` customers drawn from the population (k, lambda), the dropout rate integrated out exactly (see
        :meth:`new_customer_purchases`).

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().new_customer_count_probabilities([4.0], 7)
        Traceback (most recent call last):
            ...
        clvmodels.errors.NotFittedError: ParetoGGG is not fitted yet: call fit(summary) or load(path) first
        """
        self.check_fitted()
        n_sims = _whole(n_sims, "n_sims", 1)
        max_frequency = _whole(max_frequency, "max_frequency", 1)
        T = np.atleast_1d(np.asarray(T, dtype=np.float64))
        if not np.all(np.isfinite(T) & (T >= 0)):
            raise ConfigError("T must be finite and >= 0", key="T")
        rng = np.random.default_rng(random_state)
        S, k, rate, sh, beta = self._population(n_draws, n_sims * len(T), rng)
        Tp = np.tile(np.repeat(T, n_sims), S)
        group = np.repeat(np.arange(S * len(T)), n_sims)
        out = np.zeros((S * len(T), max_frequency + 1))
        fast = _math.kernels()
        fast.seed(int(rng.integers(2**31 - 1)))
        fast.new_customer_counts(k, rate, sh, beta, Tp, group, out)
        return (out / n_sims).reshape(S, len(T), max_frequency + 1)

    # ---- predictive checks -------------------------------------------------------------------
    def _simulate_frequency(self, params: dict[str, np.ndarray], T: np.ndarray, rng) -> np.ndarray:
        """Repeat purchases in (0, T] of new customers drawn from the population (draws x customers)."""
        shape = np.broadcast_shapes(params["t"].shape, np.shape(T)[-1:])
        t_, g_, r_, a_, s_, b_ = (np.broadcast_to(params[n], shape) for n in self.param_names)
        T = np.broadcast_to(np.asarray(T, dtype=np.float64), shape)
        k = np.maximum(rng.gamma(t_, 1.0 / g_), 1e-6)
        lam = np.maximum(rng.gamma(r_, 1.0 / a_), 1e-12)
        mu = np.maximum(rng.gamma(s_, 1.0 / b_), 1e-300)
        life = rng.exponential(size=shape) / mu
        counts = np.empty(k.size)
        fast = _math.kernels()
        fast.seed(int(rng.integers(2**31 - 1)))
        fast.future_counts(np.ascontiguousarray(k).ravel(), np.ascontiguousarray(k * lam).ravel(),
                           np.zeros(k.size), np.ascontiguousarray(life).ravel(), np.ascontiguousarray(T).ravel(),
                           counts)
        return counts.reshape(shape)

    def sample_prior(self, summary: pd.DataFrame, n_draws: int = 500, random_seed=None):
        """Not available (the priors are not a PyMC model here); see :meth:`default_priors`.

        Examples
        --------
        >>> import clvmodels as clv
        >>> clv.bayes.ParetoGGG().default_priors()["r"]
        {'dist': 'LogNormal', 'mu': 0.0, 'sigma': 2.0}
        """
        raise NotImplementedError(f"{type(self).__name__} draws no prior samples; its priors are "
                                  f"{self.priors_in_force()}")

    def prior_predictive_check(self, summary: pd.DataFrame, **kwargs):
        """Not available for the Pareto/GGG (see :meth:`sample_prior`)."""
        self.sample_prior(summary)
