"""Bayesian Gamma-Gamma model of monetary value (Fader, Hardie & Lee 2005, "RFM and CLV";
Fader & Hardie 2013, "The Gamma-Gamma model of monetary value").

Fitted on repeat buyers (frequency > 0): their mean repeat spend ``monetary_value`` over
``frequency`` transactions. The likelihood (:func:`._pt_math.gammagamma_loglik`, Fader & Hardie
2013 eq. 3) is evaluated on compressed (x, mbar) rows with weights.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..data.validation import validate_summary
from ..errors import DataDroppedWarning, DataValidationError, describe_culprits
from ..models.gammagamma import nonpositive_repeat_buyers, spend_inputs
from ..math import gammagamma as _math
from . import priors as _priors
from .base import BayesModel

__all__ = ["GammaGamma"]


class GammaGamma(BayesModel):
    """Bayesian Gamma-Gamma spend model; settings as :class:`clvmodels.bayes.BGNBD`.

    Parameters: p (shape of each transaction's spend), q, v (gamma mixing of the scale nu ~
    Gamma(q, v)). Customers with ``frequency == 0`` carry no repeat spend and are not used for
    fitting (the model's definition). Repeat buyers whose ``monetary_value`` is not positive (the
    gamma density needs positive spend) follow ``nonpositive_spend``, exactly as in the MLE
    :class:`clvmodels.GammaGamma`: ``"error"`` (default) names them; ``"zero"`` / ``"population"``
    leave them out of the fit (announced by a :class:`~clvmodels.errors.DataDroppedWarning`) and
    score them at an observed mean of 0 / with the population mean.

    Examples
    --------
    >>> import clvmodels as clv
    >>> gg = clv.bayes.GammaGamma(nonpositive_spend="population", random_seed=1)
    >>> gg.input_columns, gg.default_priors()["v"]
    (('frequency', 'monetary_value'), {'dist': 'LogNormal', 'mu': 0.0, 'sigma': 5.0})
    >>> summary = clv.datasets.cdnow_summary()
    >>> gg.fit(summary)                                                # doctest: +SKIP
    >>> gg.expected_spend(summary.loc[[1, 2, 3]]).mean(("chain", "draw"))   # doctest: +SKIP
    """

    param_names = ("p", "q", "v")
    _default_priors = {"p": _priors.SHAPE, "q": _priors.SHAPE, "v": _priors.MONEY_SCALE}
    math = _math
    input_columns = ("frequency", "monetary_value")
    _require_monetary = True

    def __init__(self, nonpositive_spend: str = "error", priors=None, sampler: str = "nuts",
                 nuts_sampler: str = "auto", draws: int = 1000, tune: int = 1000, chains: int = 4,
                 cores: int | None = None, target_accept: float = 0.8, random_seed: int | None = None,
                 progressbar: bool = True, diagnostics: dict | None = None, advi_iterations: int = 20_000,
                 advi_learning_rate: float = 0.02):
        self.nonpositive_spend = nonpositive_spend
        super().__init__(priors=priors, sampler=sampler, nuts_sampler=nuts_sampler, draws=draws, tune=tune,
                         chains=chains, cores=cores, target_accept=target_accept, random_seed=random_seed,
                         progressbar=progressbar, diagnostics=diagnostics, advi_iterations=advi_iterations,
                         advi_learning_rate=advi_learning_rate)

    def _validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        return validate_summary(summary, require_monetary=True)

    def spend_inputs(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(x, mbar)`` per customer for ``math.conditional_expected_spend`` after the
        ``nonpositive_spend`` policy (the spend-model protocol, :mod:`clvmodels.protocols`)."""
        return spend_inputs(self._validate(frame), self.nonpositive_spend)

    def _fit_frame(self, frame: pd.DataFrame, weights):
        rep = frame["frequency"].to_numpy() > 0
        zero = nonpositive_repeat_buyers(frame, self.nonpositive_spend)
        if zero.any():
            warnings.warn(f"GammaGamma: {int(zero.sum())} repeat buyer(s) with monetary_value <= 0 left out of the "
                          f"fit (nonpositive_spend={self.nonpositive_spend!r}), e.g. "
                          f"{describe_culprits(frame.index[zero])}", DataDroppedWarning, stacklevel=4)
        self.n_nonpositive_excluded_ = int(zero.sum())
        keep = rep & ~zero
        if not keep.any():
            raise DataValidationError("GammaGamma needs repeat buyers (frequency > 0) with positive "
                                      "monetary_value; there are none", column="frequency", n_rows=0)
        return frame[keep], (None if weights is None else weights[keep])

    def _add_likelihood(self, rvs, frame: pd.DataFrame, weights) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        from ..data.compression import compress_rows
        from . import _pt_math

        data = np.column_stack([frame["frequency"].to_numpy(), frame["monetary_value"].to_numpy()])
        rows, w, _ = compress_rows(data, weights)
        ll = _pt_math.gammagamma_loglik(rvs["p"], rvs["q"], rvs["v"], pt.constant(rows[:, 0]),
                                        pt.constant(rows[:, 1]))
        pm.Potential("loglik", pt.sum(pt.constant(w) * ll))

    def expected_spend(self, summary: pd.DataFrame, *, draws_per_chain: int | None = None,
                       chunk_size: int | None = None, dtype=np.float64):
        """E[M | x, mbar] per draw and customer (Fader, Hardie & Lee 2005 "RFM and CLV", eq. 5; the
        population mean for x = 0): DataArray ``(chain, draw, customer_id)``."""
        self.check_fitted()
        m = self.math

        def fn(p, part):
            return m.conditional_expected_spend(p["p"], p["q"], p["v"], *spend_inputs(part, self.nonpositive_spend))
        return self._per_customer(fn, summary, "expected_spend", draws_per_chain, chunk_size, dtype)

    def expected_spend_new(self, *, draws_per_chain: int | None = None):
        """Mean spend per transaction of a new customer, p v / (q - 1): DataArray ``(chain, draw)``."""
        self.check_fitted()
        m = self.math
        return self._per_draw(lambda p: m.expected_spend_new(p["p"], p["q"], p["v"]), "expected_spend_new",
                              draws_per_chain)

    def posterior_predictive_check(self, *args, **kwargs):
        raise NotImplementedError("GammaGamma has no frequency histogram; check spend with expected_spend")

    def prior_predictive_check(self, *args, **kwargs):
        raise NotImplementedError("GammaGamma has no frequency histogram; inspect sample_prior() instead")
