"""forecast_clv and the Gamma-Gamma policy for repeat buyers without positive spend."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("policy", ["zero", "population"])
def test_spend_policy_for_repeat_buyers_without_positive_spend(policy):
    """forecast_clv follows GammaGamma(nonpositive_spend=...): the same expected spend as the model."""
    import warnings

    import clvmodels as clv
    from clvmodels.errors import DataDroppedWarning, DataValidationError

    s = clv.datasets.cdnow_summary()
    s.loc[[1, 2], "monetary_value"] = 0.0
    bg = clv.BGNBD().fit(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        gg = clv.GammaGamma(nonpositive_spend=policy).fit(s)
    fc = clv.forecast_clv(s, bg, gg, horizon=3, period="M", discount_rate=0.1, margin=1.0, interval=None,
                          time_unit="W")
    np.testing.assert_allclose(fc["expected_spend"], gg.expected_spend(s), rtol=1e-12)
    with pytest.raises(DataValidationError, match=r"nonpositive_spend.*|\[1, 2\]"):
        clv.forecast_clv(s, bg, gg.set_params(nonpositive_spend="error"), horizon=3, period="M",
                         discount_rate=0.1, margin=1.0, interval=None, time_unit="W")
