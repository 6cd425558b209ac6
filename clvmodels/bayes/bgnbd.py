"""Bayesian BG/NBD (Fader, Hardie & Lee 2005), optionally with static customer covariates.

Without covariates the posterior of (r, alpha, a, b) needs only the marginal likelihood (eq. 6):
no per-customer latent variables are sampled, and the likelihood is evaluated on compressed rows
(:func:`._pt_math.bgnbd_total_loglik`), so its cost grows with the number of distinct
(x, t_x, T) rows, not with the number of customers.

Covariates (columns of the summary, named in the constructor) - our choice, documented here:

* purchase rate: ``alpha_i = alpha * exp(-X_i @ purchase_coef)``. Since lambda_i ~ Gamma(r,
  alpha_i), the mean purchase rate r / alpha_i is multiplied by ``exp(X_i @ purchase_coef)``;
  a coefficient of log 2 = 0.693 doubles it, and the shape r (heterogeneity) is shared.
* dropout: ``a_i + b_i = a + b`` (the concentration is shared) and
  ``logit(a_i / (a_i + b_i)) = log(a / b) + X_i @ dropout_coef``: a coefficient shifts the
  log-odds of the mean dropout probability E[p_i].

Both enter the same marginal likelihood with customer-level alpha_i, a_i, b_i (a hierarchical
model whose customer-level rates are integrated out). Use numeric columns (one-hot encode
categories, e.g. ``pd.get_dummies(channel, drop_first=True, dtype=float)``); centring continuous
covariates makes alpha, a, b describe the average customer and helps the sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..math import bgnbd as _math
from . import priors as _priors
from .base import BayesModel, PurchasePredictions

__all__ = ["BGNBD", "simulate_bgnbd"]


class BGNBD(PurchasePredictions, BayesModel):
    """Bayesian BG/NBD.

    Parameters
    ----------
    purchase_covariates, dropout_covariates : column names of the summary (numeric) acting on the
        purchase rate and on the dropout probability (see the module docstring).
    priors : mapping ``{param: {"dist": ..., **kwargs}}`` or a YAML path; overrides
        :meth:`default_priors` per parameter (``r``, ``alpha``, ``a``, ``b``, ``purchase_coef``,
        ``dropout_coef``).
    sampler : ``"nuts"`` (default), ``"advi"`` or ``"map"``.
    nuts_sampler : ``"auto"`` (nutpie when installed, else PyMC), ``"pymc"``, ``"nutpie"``,
        ``"numpyro"``, ``"blackjax"``.
    draws, tune, chains, cores, target_accept, random_seed, progressbar : sampler settings.
    diagnostics : thresholds overriding :data:`~clvmodels.bayes.diagnostics.DEFAULT_THRESHOLDS`.
    advi_iterations, advi_learning_rate : ADVI iterations and Adam step size (sampler="advi";
        mean-field ADVI is fast but understates posterior sds - use it to explore, NUTS to report).

    Examples
    --------
    Settings and priors are visible before fitting; covariates are numeric summary columns:

    >>> import clvmodels as clv
    >>> with_web = clv.bayes.BGNBD(purchase_covariates=["web"], random_seed=1)
    >>> with_web.covariate_columns, with_web.priors_in_force()["purchase_coef"]
    (('web',), {'dist': 'Normal', 'mu': 0.0, 'sigma': 1.0})
    >>> clv.bayes.BGNBD.default_priors()["r"]
    {'dist': 'LogNormal', 'mu': 0.0, 'sigma': 1.5}

    Sampling takes from seconds to minutes (not run here):

    >>> rfm = clv.datasets.cdnow_summary()
    >>> bbg = clv.bayes.BGNBD(draws=1000, chains=4, random_seed=1).fit(rfm)      # doctest: +SKIP
    >>> bbg.summary()                                   # mean, sd, HDI, ESS, R-hat  # doctest: +SKIP
    >>> bbg.p_alive(rfm).mean(("chain", "draw"))       # posterior mean per customer  # doctest: +SKIP
    """

    param_names = ("r", "alpha", "a", "b")
    _default_priors = {"r": _priors.SHAPE, "alpha": _priors.SCALE, "a": _priors.SHAPE, "b": _priors.SHAPE,
                       "purchase_coef": _priors.COEF, "dropout_coef": _priors.COEF}
    math = _math

    def __init__(self, purchase_covariates: Sequence[str] | None = None,
                 dropout_covariates: Sequence[str] | None = None, priors=None, sampler: str = "nuts",
                 nuts_sampler: str = "auto", draws: int = 1000, tune: int = 1000, chains: int = 4,
                 cores: int | None = None, target_accept: float = 0.8, random_seed: int | None = None,
                 progressbar: bool = True, diagnostics: dict | None = None, advi_iterations: int = 20_000,
                 advi_learning_rate: float = 0.02):
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        super().__init__(priors=priors, sampler=sampler, nuts_sampler=nuts_sampler, draws=draws, tune=tune,
                         chains=chains, cores=cores, target_accept=target_accept, random_seed=random_seed,
                         progressbar=progressbar, diagnostics=diagnostics, advi_iterations=advi_iterations,
                         advi_learning_rate=advi_learning_rate)

    # ---- covariates -----------------------------------------------------------------------
    def _cov(self, which: str) -> list[str]:
        cols = getattr(self, f"{which}_covariates")
        if cols is None:
            return []
        if isinstance(cols, str):
            cols = [cols]
        cols = [str(c) for c in cols]
        if len(set(cols)) != len(cols):
            raise ConfigError(f"{which}_covariates has duplicated names: {cols}", key=f"{which}_covariates")
        reserved = set(self.input_columns) | {"monetary_value"}
        clash = [c for c in cols if c in reserved]
        if clash:
            raise ConfigError(f"{which}_covariates cannot use the summary columns {clash}", key=f"{which}_covariates")
        return cols

    def _extra_columns(self) -> list[str]:
        return list(dict.fromkeys(self._cov("purchase") + self._cov("dropout")))

    def _has_covariates(self) -> bool:
        return bool(self._cov("purchase") or self._cov("dropout"))

    def _coords(self) -> dict[str, list[str]]:
        coords = {}
        if self._cov("purchase"):
            coords["purchase_covariate"] = self._cov("purchase")
        if self._cov("dropout"):
            coords["dropout_covariate"] = self._cov("dropout")
        return coords

    def _var_names(self) -> list[str]:
        names = list(self.param_names)
        if self._cov("purchase"):
            names.append("purchase_coef")
        if self._cov("dropout"):
            names.append("dropout_coef")
        return names

    # ---- model ----------------------------------------------------------------------------
    def _add_priors(self, priors):
        rvs = {name: _priors.build_prior(name, priors[name], positive=True) for name in self.param_names}
        if self._cov("purchase"):
            rvs["purchase_coef"] = _priors.build_prior("purchase_coef", priors["purchase_coef"], positive=False,
                                                       dims="purchase_covariate")
        if self._cov("dropout"):
            rvs["dropout_coef"] = _priors.build_prior("dropout_coef", priors["dropout_coef"], positive=False,
                                                      dims="dropout_covariate")
        return rvs

    def _add_likelihood(self, rvs, frame: pd.DataFrame, weights) -> None:
        import pymc as pm

        from . import _pt_math

        x, t_x, T = (frame[c].to_numpy() for c in self.input_columns)
        r, alpha, a, b = (rvs[k] for k in self.param_names)
        if not self._has_covariates():
            rows = _pt_math.BGNBDRows.from_data(x, t_x, T, weights)
            fast = self._python_ops_ok()
            pm.Potential("loglik", _pt_math.bgnbd_total_loglik(r, alpha, a, b, rows, fast=fast))
            self._python_ops_ = fast
            return
        pcols, dcols = self._cov("purchase"), self._cov("dropout")
        rows = _pt_math.BGNBDCovariateRows.from_data(
            x, t_x, T, frame[pcols].to_numpy(dtype=np.float64).reshape(len(frame), len(pcols)),
            frame[dcols].to_numpy(dtype=np.float64).reshape(len(frame), len(dcols)), weights)
        ll = _pt_math.bgnbd_covariate_total_loglik(r, alpha, a, b, rows, rvs.get("purchase_coef"),
                                                   rvs.get("dropout_coef"))
        pm.Potential("loglik", ll)

    # ---- per-customer parameters for predictions ------------------------------------------
    def _customer_params(self, draws, frame):
        r = draws["r"][:, None]
        alpha = draws["alpha"][:, None]
        a = draws["a"][:, None]
        b = draws["b"][:, None]
        pcols, dcols = self._cov("purchase"), self._cov("dropout")
        if pcols:
            Xp = frame[pcols].to_numpy(dtype=np.float64)
            alpha = alpha * np.exp(-(draws["purchase_coef"] @ Xp.T))
        if dcols:
            Xd = frame[dcols].to_numpy(dtype=np.float64)
            eta = np.log(a) - np.log(b) + draws["dropout_coef"] @ Xd.T
            kappa = a + b
            a = kappa / (1.0 + np.exp(-eta))
            b = kappa / (1.0 + np.exp(eta))
        return {"r": r, "alpha": alpha, "a": a, "b": b}

    def _simulate_frequency(self, params, T, rng):
        return _simulate_x(params["r"], params["alpha"], params["a"], params["b"], T, rng)[0]


def _simulate_x(r, alpha, a, b, T, rng):
    """Draw (x, t_x) from the BG/NBD generative story; arguments broadcast together."""
    r, alpha, a, b, T = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (r, alpha, a, b, T)))
    lam = rng.gamma(r, 1.0 / alpha)
    p = np.clip(rng.beta(a, b), 1e-12, 1.0)
    # K: the repeat purchase after which the customer drops out (geometric on 1, 2, ...)
    K = rng.geometric(p)
    N = rng.poisson(lam * T)
    x = np.minimum(K, N)
    t_x = np.zeros_like(T)
    pos = x > 0
    # given N arrivals in (0, T], the x-th is T times the x-th order statistic of N uniforms
    t_x[pos] = T[pos] * rng.beta(x[pos], N[pos] - x[pos] + 1)
    return x.astype(np.float64), t_x


def simulate_bgnbd(T, r, alpha, a, b, *, random_state=None, index=None) -> pd.DataFrame:
    """Simulate an RFM summary (frequency, recency, T) from the BG/NBD.

    ``T`` is an array of observation lengths (one per customer); ``alpha``, ``a``, ``b`` may be
    per-customer arrays (covariate effects). Used for parameter-recovery tests and benchmarks.

    Examples
    --------
    >>> from clvmodels.bayes import simulate_bgnbd
    >>> T = np.full(2357, 38.86)                                   # observed for 38.86 weeks each
    >>> sim = simulate_bgnbd(T, 0.243, 4.414, 0.793, 2.426, random_state=42)
    >>> sim.shape, round(float((sim["frequency"] == 0).mean()), 2)
    ((2357, 3), 0.58)

    Per-customer parameters, e.g. a covariate that doubles the purchase rate (alpha halved) of every
    second customer:

    >>> web = np.arange(2357) % 2 == 1
    >>> sim = simulate_bgnbd(T, 0.243, np.where(web, 4.414 / 2, 4.414), 0.793, 2.426, random_state=42)
    >>> sim.groupby(web)["frequency"].mean().round(2).tolist()
    [1.17, 1.91]
    """
    rng = np.random.default_rng(random_state)
    T = np.asarray(T, dtype=np.float64)
    x, t_x = _simulate_x(r, alpha, a, b, T, rng)
    idx = pd.RangeIndex(len(T), name="customer_id") if index is None else pd.Index(index, name="customer_id")
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": np.broadcast_to(T, x.shape).astype(float)}, index=idx)
