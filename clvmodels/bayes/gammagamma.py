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

from ..errors import DataDroppedWarning, DataValidationError
from . import priors as _priors
from .base import BayesModel

__all__ = ["GammaGamma"]


class GammaGamma(BayesModel):
    """Bayesian Gamma-Gamma spend model; settings as :class:`clvmodels.bayes.BGNBD`.

    Parameters: p (shape of each transaction's spend), q, v (gamma mixing of the scale nu ~
    Gamma(q, v)). Customers with ``frequency == 0`` carry no repeat spend and are not used for
    fitting (the model's definition); repeat buyers with ``monetary_value == 0`` are dropped with a
    :class:`~clvmodels.errors.DataDroppedWarning` (the gamma density needs positive spend).
    """

    _param_names = ("p", "q", "v")
    _default_priors = {"p": _priors.SHAPE, "q": _priors.SHAPE, "v": _priors.MONEY_SCALE}
    _math_module = "clvmodels.math.gammagamma"
    _summary_columns = ("frequency", "recency", "T")
    _require_monetary = True

    def _fit_frame(self, frame: pd.DataFrame, weights):
        rep = frame["frequency"].to_numpy() > 0
        zero = rep & (frame["monetary_value"].to_numpy() <= 0)
        if zero.any():
            warnings.warn(f"GammaGamma: dropped {int(zero.sum())} repeat buyer(s) with monetary_value == 0 "
                          f"(example customer ids {list(frame.index[zero][:5])})", DataDroppedWarning, stacklevel=4)
        keep = rep & ~zero
        if not keep.any():
            raise DataValidationError("GammaGamma needs repeat buyers (frequency > 0) with positive "
                                      "monetary_value; there are none", column="frequency", n_rows=0)
        return frame[keep], (None if weights is None else weights[keep])

    def _add_likelihood(self, rvs, frame: pd.DataFrame, weights) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        from ..models.base import compress_rows
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
        m = self._math()

        def fn(p, part):
            return m.conditional_expected_spend(p["p"], p["q"], p["v"], part["frequency"].to_numpy(),
                                                part["monetary_value"].to_numpy())
        return self._per_customer(fn, summary, "expected_spend", draws_per_chain, chunk_size, dtype)

    def expected_spend_new(self, *, draws_per_chain: int | None = None):
        """Mean spend per transaction of a new customer, p v / (q - 1): DataArray ``(chain, draw)``."""
        m = self._math()
        return self._per_draw(lambda p: m.expected_spend_new(p["p"], p["q"], p["v"]), "expected_spend_new",
                              draws_per_chain)

    def posterior_predictive_check(self, *args, **kwargs):
        raise NotImplementedError("GammaGamma has no frequency histogram; check spend with expected_spend")

    def prior_predictive_check(self, *args, **kwargs):
        raise NotImplementedError("GammaGamma has no frequency histogram; inspect sample_prior() instead")
