"""Bayesian Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader, Hardie & Lee 2005 note).

The posterior of (r, alpha, s, beta) uses the marginal likelihood (FHL note eqs. 17-19) on
compressed (x, t_x, T) rows with weights, written for PyTensor in
:func:`._pt_math.paretonbd_loglik` (the dropout-time integral by Gauss-Legendre quadrature; tested
equal to :func:`clvmodels.math.paretonbd.loglik`). No per-customer latent variables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..math import paretonbd as _math
from . import priors as _priors
from .base import BayesModel, PurchasePredictions

__all__ = ["ParetoNBD"]


class ParetoNBD(PurchasePredictions, BayesModel):
    """Bayesian Pareto/NBD; settings as :class:`clvmodels.bayes.BGNBD` (without covariates).

    Parameters: r, alpha (purchase rate ~ Gamma(r, alpha)), s, beta (dropout rate ~ Gamma(s, beta)).

    Examples
    --------
    >>> import clvmodels as clv
    >>> pnbd = clv.bayes.ParetoNBD(draws=1000, chains=4, random_seed=1)
    >>> pnbd.default_priors()["s"], pnbd.default_priors()["beta"]
    ({'dist': 'LogNormal', 'mu': 0.0, 'sigma': 1.5}, {'dist': 'LogNormal', 'mu': 0.0, 'sigma': 3.0})
    >>> informed = clv.bayes.ParetoNBD(priors={"s": {"dist": "Gamma", "alpha": 6.0, "beta": 10.0}})
    >>> informed.priors_in_force()["s"]
    {'dist': 'Gamma', 'alpha': 6.0, 'beta': 10.0}
    >>> pnbd.fit(clv.datasets.cdnow_summary())                         # doctest: +SKIP
    >>> pnbd.summary()                                                 # doctest: +SKIP
    """

    param_names = ("r", "alpha", "s", "beta")
    _default_priors = {"r": _priors.SHAPE, "alpha": _priors.SCALE, "s": _priors.SHAPE, "beta": _priors.SCALE}
    math = _math

    def _add_likelihood(self, rvs, frame: pd.DataFrame, weights) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        from ..data.compression import compress_rows
        from . import _pt_math

        data = np.column_stack([frame[c].to_numpy() for c in self.input_columns])
        rows, w, _ = compress_rows(data, weights)
        ll = _pt_math.paretonbd_loglik(rvs["r"], rvs["alpha"], rvs["s"], rvs["beta"], pt.constant(rows[:, 0]),
                                       pt.constant(rows[:, 1]), pt.constant(rows[:, 2]))
        pm.Potential("loglik", pt.sum(pt.constant(w) * ll))

    def _simulate_frequency(self, params, T, rng):
        r, alpha, s, beta, T = np.broadcast_arrays(params["r"], params["alpha"], params["s"], params["beta"],
                                                   np.asarray(T, dtype=np.float64))
        lam = rng.gamma(r, 1.0 / alpha)
        mu = rng.gamma(s, 1.0 / beta)
        life = rng.exponential(1.0 / np.maximum(mu, 1e-300))
        return rng.poisson(lam * np.minimum(life, T)).astype(np.float64)
