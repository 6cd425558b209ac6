"""Bayesian Pareto/NBD and Gamma-Gamma on the CDNOW sample."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")

import clvmodels as clv  # noqa: E402
from clvmodels.bayes import GammaGamma, ParetoNBD  # noqa: E402

pytestmark = pytest.mark.bayes

# design.md section 5 (Fader, Hardie & Lee 2005): Pareto/NBD MLE on the CDNOW sample
PNBD_MLE = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
# Fader & Hardie (2013) / design.md section 5: Gamma-Gamma on the 946 CDNOW repeat buyers
GG_MLE = {"p": 6.25, "q": 3.74, "v": 15.44}
LEAN = {"ess_bulk_min": 150, "ess_tail_min": 150}


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


@pytest.mark.slow
def test_paretonbd_posterior_around_mle(cdnow):
    m = ParetoNBD(draws=300, tune=300, chains=2, random_seed=11, progressbar=False, diagnostics=LEAN).fit(cdnow)
    post = m.idata_.posterior
    for k, v in PNBD_MLE.items():
        mean, sd = float(post[k].mean()), float(post[k].std())
        # s and beta have long right tails on CDNOW: allow 1.5 sd between the mean and the mode-like MLE
        assert abs(mean - v) <= 1.5 * sd, (k, mean, sd)
    assert (m.diagnostics_["r_hat"] <= 1.02).all()
    pa = m.p_alive(cdnow.iloc[:30], draws_per_chain=10)
    assert pa.shape == (2, 10, 30) and np.all((pa >= 0) & (pa <= 1))
    ppc = m.posterior_predictive_check(n_draws=100, random_seed=2)
    assert ppc["inside"].sum() >= 6


@pytest.mark.slow
def test_gammagamma_posterior_around_mle(cdnow, tmp_path):
    m = GammaGamma(draws=500, tune=500, chains=2, random_seed=5, progressbar=False, diagnostics=LEAN).fit(cdnow)
    assert m.n_obs_ == 946  # the repeat buyers (Fader & Hardie 2013)
    post = m.idata_.posterior
    for k, v in GG_MLE.items():
        mean, sd = float(post[k].mean()), float(post[k].std())
        assert abs(mean - v) <= 1.5 * sd, (k, mean, sd)
    back = clv.bayes.load(m.save(tmp_path / "gg.nc"))
    assert isinstance(back, GammaGamma)
    np.testing.assert_array_equal(back.idata_.posterior["p"].to_numpy(), post["p"].to_numpy())
    pytest.importorskip("clvmodels.math.gammagamma", reason="numpy Gamma-Gamma core not written yet")
    spend = m.expected_spend(cdnow.iloc[:25], draws_per_chain=10)
    assert spend.dims == ("chain", "draw", "customer_id") and np.all(spend > 0)
