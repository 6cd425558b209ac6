"""BG/NBD with static covariates: recovery of a purchase-rate effect on simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")

from clvmodels.bayes import BGNBD, simulate_bgnbd  # noqa: E402
from clvmodels.errors import InvalidValueError  # noqa: E402

pytestmark = pytest.mark.bayes

TRUE = {"r": 0.6, "alpha": 6.0, "a": 0.8, "b": 3.0}
LOG2 = float(np.log(2.0))  # web customers buy at twice the rate of the others


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20240501)
    n = 3000
    web = (rng.random(n) < 0.5).astype(float)
    value = rng.normal(size=n)  # a covariate with no effect
    T = rng.uniform(20.0, 52.0, size=n)
    # alpha_i = alpha * exp(-X_i beta): the mean rate r / alpha_i doubles for web customers
    alpha_i = TRUE["alpha"] * np.exp(-LOG2 * web)
    summary = simulate_bgnbd(T, TRUE["r"], alpha_i, TRUE["a"], TRUE["b"], random_state=rng)
    summary["web"] = web
    summary["value"] = value
    return summary


@pytest.fixture(scope="module")
def fitted(simulated):
    return BGNBD(purchase_covariates=["web", "value"], dropout_covariates=["web"], draws=400, tune=400,
                 chains=2, random_seed=7, progressbar=False,
                 diagnostics={"ess_bulk_min": 150, "ess_tail_min": 150}).fit(simulated)


@pytest.mark.slow
def test_posterior_recovers_a_doubled_purchase_rate(fitted):
    coef = fitted.idata_.posterior["purchase_coef"]
    assert list(coef["purchase_covariate"].to_numpy()) == ["web", "value"]
    web = coef.sel(purchase_covariate="web")
    lo, hi = np.quantile(web, [0.025, 0.975])
    assert lo < LOG2 < hi, (lo, hi)
    assert float(web.std()) < 0.15  # informative: clearly separated from 0
    assert lo > 0.3
    multiplier = np.exp(web)
    assert float(multiplier.mean()) == pytest.approx(2.0, abs=0.25)
    value = coef.sel(purchase_covariate="value")
    assert abs(float(value.mean())) < 3 * float(value.std()) + 0.02
    drop = fitted.idata_.posterior["dropout_coef"].sel(dropout_covariate="web")
    assert abs(float(drop.mean())) < 3 * float(drop.std()) + 0.02  # simulated without a dropout effect


@pytest.mark.slow
def test_covariate_diagnostics_name_coefficients(fitted):
    assert "purchase_coef[web]" in fitted.diagnostics_.index
    assert "dropout_coef[web]" in fitted.diagnostics_.index
    assert (fitted.diagnostics_["r_hat"] <= 1.01).all()


@pytest.mark.slow
def test_covariate_predictions_use_customer_rates(fitted, simulated):
    sub = simulated.iloc[:200]
    ep = fitted.expected_purchases_new  # baseline customer (covariates 0)
    assert ep(10.0, draws_per_chain=5).shape == (2, 5)
    pa = fitted.p_alive(sub, draws_per_chain=20)
    assert pa.shape == (2, 20, 200) and np.all((pa >= 0) & (pa <= 1))
    # a web customer and an otherwise identical non-web one: the web one is expected to buy more
    pair = pd.DataFrame({"frequency": [3.0, 3.0], "recency": [30.0, 30.0], "T": [40.0, 40.0], "web": [1.0, 0.0],
                         "value": [0.0, 0.0]}, index=pd.Index(["w", "s"], name="customer_id"))
    e = fitted.expected_purchases(pair, t=20.0).mean(("chain", "draw"))
    assert float(e.sel(customer_id="w")) > float(e.sel(customer_id="s"))


@pytest.mark.slow
def test_posterior_predictive_check_with_covariates(fitted):
    ppc = fitted.posterior_predictive_check(n_draws=100, random_seed=3)
    assert len(ppc) == 8 and ppc["inside"].sum() >= 6, ppc


def test_non_numeric_covariate_is_refused(simulated):
    bad = simulated.assign(channel=np.where(simulated["web"] > 0, "web", "store"))
    with pytest.raises(InvalidValueError, match="one-hot"):
        BGNBD(purchase_covariates=["channel"]).build_model(bad)
