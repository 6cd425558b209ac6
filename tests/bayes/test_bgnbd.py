"""Bayesian BG/NBD on the CDNOW sample: agreement with the MLE, diagnostics, predictions, NetCDF."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")

import arviz as az  # noqa: E402

import clvmodels as clv  # noqa: E402
from clvmodels.bayes import BGNBD, SamplingDiagnosticWarning  # noqa: E402
from clvmodels.bayes.diagnostics import DEFAULT_THRESHOLDS, run_diagnostics  # noqa: E402
from clvmodels.errors import ConfigError, MissingColumnError, NotFittedError  # noqa: E402

pytestmark = pytest.mark.bayes

# MCMC assertions here hold on any machine and with any NUTS implementation: the seed pins the data,
# not the sampler's floating-point path (nutpie when installed, else PyMC; CPUs differ). So they
# compare the posterior with the MLE in units of posterior sds and check that the diagnostics are
# present, named and finite, never tight R-hat / ESS / divergence thresholds on the fitted chains.

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", section 4 (CDNOW sample)
MLE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# ibid., Figure 3 / design.md section 5: calibration repeat-purchase histogram x = 0..6, 7+
CDNOW_HISTOGRAM = [1411, 439, 214, 100, 62, 38, 29, 64]


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


@pytest.fixture(scope="module")
def mle(cdnow):
    """The maximum-likelihood BG/NBD on the same data."""
    return clv.BGNBD().fit(cdnow)


@pytest.fixture(scope="module")
def fitted(cdnow):
    """4 chains x 1000 draws with the default NUTS (nutpie when installed): one compile per module."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BGNBD(draws=1000, tune=1000, chains=4, random_seed=2357, progressbar=False).fit(cdnow)
    model._fit_warnings = [w for w in caught if issubclass(w.category, SamplingDiagnosticWarning)]
    return model


@pytest.mark.slow
def test_posterior_means_within_two_sds_of_mle(fitted, mle):
    # weak priors, 2,357 customers: the posterior mean sits next to the MLE (about 0.1-0.2 sd away
    # with nutpie and with PyMC's NUTS); 2 sds is a guarantee, not a coin flip on the sampler's path
    post = fitted.idata_.posterior
    for name, published in MLE.items():
        assert float(mle.params_[name]) == pytest.approx(published, abs=1e-3), name  # the paper rounds to 3 dp
        mean, sd, ml = float(post[name].mean()), float(post[name].std()), float(mle.params_[name])
        assert abs(mean - ml) <= 2 * sd, f"{name}: posterior mean {mean:.4f} sd {sd:.4f} vs MLE {ml:.4f}"


@pytest.mark.slow
def test_diagnostics_are_present_named_finite_and_reported(fitted):
    # R-hat / ESS / divergences of one run depend on the sampler's floating-point path: assert that
    # the diagnostics exist for every parameter, are finite, and that every threshold crossed (if
    # any) is kept on the model and warned about - not that this run's chains crossed none
    post = fitted.idata_.posterior
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 1000
    table = fitted.diagnostics_
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(table.columns)
    values = table[["r_hat", "ess_bulk", "ess_tail"]].to_numpy()
    assert np.isfinite(values).all(), table
    assert (table[["ess_bulk", "ess_tail"]] > 0).all().all(), table
    n_div = table.attrs["divergences"]
    assert isinstance(n_div, int) and n_div == int(fitted.idata_.sample_stats["diverging"].sum())
    assert len(table.attrs["bfmi"]) == 4 and np.isfinite(table.attrs["bfmi"]).all()
    # the problems are exactly the thresholds the table crosses, each also emitted as a warning
    expected = {(name, stat) for name, row in table.iterrows()
                for stat, bad in (("r_hat", row.r_hat > DEFAULT_THRESHOLDS["r_hat_max"]),
                                  ("ess_bulk", row.ess_bulk < DEFAULT_THRESHOLDS["ess_bulk_min"]),
                                  ("ess_tail", row.ess_tail < DEFAULT_THRESHOLDS["ess_tail_min"])) if bad}
    problems = {(p.parameter, p.statistic) for p in fitted.diagnostic_problems_}
    assert {p for p in problems if p[0] in table.index} == expected
    assert (("all chains", "divergences") in problems) == (n_div > DEFAULT_THRESHOLDS["max_divergences"])
    warned = {(w.message.parameter, w.message.statistic) for w in fitted._fit_warnings}
    assert warned == problems


@pytest.mark.slow
def test_idata_holds_posterior_stats_observed_and_config(fitted, cdnow):
    idata = fitted.idata_
    assert {"posterior", "sample_stats", "observed_data"} <= set(idata.groups())
    obs = idata.observed_data
    np.testing.assert_array_equal(obs["customer_id"].to_numpy(), cdnow.index.to_numpy())
    np.testing.assert_array_equal(obs["frequency"].to_numpy(), cdnow["frequency"].to_numpy())
    attrs = idata.posterior.attrs
    assert attrs["clvmodels_model"] == "BGNBD" and attrs["clvmodels_version"] == clv.__version__
    assert '"draws": 1000' in attrs["clvmodels_config"]


@pytest.mark.slow
def test_summary_is_the_arviz_table(fitted):
    table = fitted.summary()
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert {"mean", "sd", "ess_bulk", "ess_tail", "r_hat"} <= set(table.columns)
    assert table.loc["r", "mean"] == pytest.approx(float(fitted.idata_.posterior["r"].mean()), abs=1e-3)


@pytest.mark.slow
def test_predictions_are_draws_by_customer_and_chunking_is_invisible(fitted, cdnow):
    sub = cdnow.iloc[::-1].iloc[:300]  # reversed order: outputs must follow the input order
    pa = fitted.p_alive(sub, draws_per_chain=50)
    assert pa.dims == ("chain", "draw", "customer_id") and pa.shape == (4, 50, 300)
    np.testing.assert_array_equal(pa["customer_id"].to_numpy(), sub.index.to_numpy())
    small = fitted.p_alive(sub, draws_per_chain=50, chunk_size=7)
    # same draws, same numpy code: equal up to rounding (other array shapes may take other SIMD
    # code paths of numpy's transcendental functions, which differ in the last bit on some CPUs)
    np.testing.assert_allclose(small.to_numpy(), pa.to_numpy(), rtol=1e-12, atol=0)
    ep = fitted.expected_purchases(sub, t=39, draws_per_chain=50, chunk_size=64)
    assert ep.shape == (4, 50, 300) and np.all(np.isfinite(ep)) and np.all(ep >= 0)
    assert np.all((pa >= 0) & (pa <= 1))
    new = fitted.expected_purchases_new(39.0, draws_per_chain=20)
    assert new.dims == ("chain", "draw") and new.shape == (4, 20)


@pytest.mark.slow
def test_predictions_equal_the_numpy_core_at_each_draw(fitted, cdnow):
    core = pytest.importorskip("clvmodels.math.bgnbd", reason="numpy BG/NBD core not written yet")
    sub = cdnow.iloc[:50]
    ep = fitted.expected_purchases(sub, t=39, draws_per_chain=5)
    post = fitted.idata_.posterior.isel(draw=ep["draw"].to_numpy())
    c, d = 2, 3
    p = {k: float(post[k].isel(chain=c, draw=d)) for k in MLE}
    ref = core.conditional_expected_purchases(p["r"], p["alpha"], p["a"], p["b"], sub["frequency"].to_numpy(),
                                              sub["recency"].to_numpy(), sub["T"].to_numpy(), 39.0)
    np.testing.assert_allclose(ep.isel(chain=c, draw=d).to_numpy(), ref, rtol=1e-12)
    # FHL (2005) section 4: customer x=2, t_x=30.43, T=38.86 -> 1.226 expected purchases in 39 weeks at the
    # MLE; the posterior of that prediction is centred next to it (about 0.1 posterior sd away)
    one = pd.DataFrame({"frequency": [2.0], "recency": [30.43], "T": [38.86]}, index=pd.Index([1], name="customer_id"))
    draws = fitted.expected_purchases(one, t=39)
    assert abs(float(draws.mean()) - 1.226) <= 2 * float(draws.std()), (float(draws.mean()), float(draws.std()))


@pytest.mark.slow
def test_posterior_predictive_check_reproduces_calibration_histogram(fitted, mle, cdnow):
    from clvmodels.math import bgnbd as core

    ppc = fitted.posterior_predictive_check(n_draws=200, random_seed=1)
    assert list(ppc["observed"]) == CDNOW_HISTOGRAM
    # FHL (2005) Figure 3: the model tracks the histogram closely; its largest miss is at x = 2, which
    # sits near the top of the 90% band, so one bin may fall out (every other bin is well inside)
    assert ppc["inside"].sum() >= 7, ppc
    np.testing.assert_allclose(ppc["predicted_mean"].sum(), sum(CDNOW_HISTOGRAM))
    # the replicated histogram is the one the MLE predicts, sum_i P(X(T_i) = x) (FHL 2005 eq. 8): within
    # half a predictive sd in every bin (observed: under 0.15 sd with nutpie and PyMC's NUTS; the
    # Monte Carlo error of a mean of 200 replicates is 0.07 sd)
    p = [float(mle.params_[k]) for k in MLE]
    T = cdnow["T"].to_numpy()
    expected = np.array([core.p_purchases(*p, k, T).sum() for k in range(7)])
    expected = np.r_[expected, len(T) - expected.sum()]
    predictive_sd = (ppc["predicted_upper"] - ppc["predicted_lower"]).to_numpy() / 3.29  # 90% band
    gap = np.abs(ppc["predicted_mean"].to_numpy() - expected)
    assert np.all(gap <= 0.5 * predictive_sd), pd.DataFrame({"gap": gap, "sd": predictive_sd}, index=ppc.index)


@pytest.mark.slow
def test_save_load_round_trip(fitted, cdnow, tmp_path):
    path = fitted.save(tmp_path / "bgnbd.nc")
    back = clv.bayes.load(path)
    assert isinstance(back, BGNBD) and back.draws == 1000 and back.chains == 4
    np.testing.assert_array_equal(back.idata_.posterior["alpha"].to_numpy(), fitted.idata_.posterior["alpha"].to_numpy())
    sub = cdnow.iloc[:40]
    np.testing.assert_allclose(back.p_alive(sub, draws_per_chain=10).to_numpy(),
                               fitted.p_alive(sub, draws_per_chain=10).to_numpy())
    assert BGNBD.load(path).summary().shape[0] == 4


def _tamper(path, tmp_path, **attrs):
    idata = az.from_netcdf(str(path))
    idata.posterior.attrs.update(attrs)
    out = tmp_path / "tampered.nc"
    idata.to_netcdf(str(out))
    return out


@pytest.mark.slow
def test_load_refuses_other_version_or_model(fitted, tmp_path):
    path = fitted.save(tmp_path / "bgnbd.nc")
    with pytest.raises(ConfigError, match="clvmodels 0.0.1") as err:
        BGNBD.load(_tamper(path, tmp_path, clvmodels_version="0.0.1"))
    assert err.value.key == "clvmodels_version"
    with pytest.raises(ConfigError, match="holds a BGNBD model") as err:
        clv.bayes.ParetoNBD.load(path)
    assert err.value.key == "clvmodels_model"
    with pytest.raises(ConfigError):
        BGNBD.load(tmp_path / "missing.nc")


def test_predicting_before_fit_raises(cdnow):
    with pytest.raises(NotFittedError):
        BGNBD().p_alive(cdnow)
    with pytest.raises(NotFittedError):
        BGNBD().summary()


def test_covariate_columns_must_exist(cdnow):
    with pytest.raises(MissingColumnError, match="channel"):
        BGNBD(purchase_covariates=["channel"]).build_model(cdnow)


@pytest.mark.slow
def test_too_few_tune_steps_raise_the_diagnostic_warning(cdnow):
    # bad on any machine: 2 x 40 draws cannot reach the bulk-ESS threshold of 400 (ArviZ caps the
    # ESS of n draws at n log10(n) = 152 here), whatever path the sampler takes
    bad = BGNBD(draws=40, tune=4, chains=2, random_seed=1, progressbar=False)
    with pytest.warns(SamplingDiagnosticWarning) as record:
        bad.fit(cdnow)
    stats = {(w.message.statistic, w.message.parameter) for w in record
             if isinstance(w.message, SamplingDiagnosticWarning)}
    assert ("ess_bulk", "alpha") in stats
    msg = next(str(w.message) for w in record if getattr(w.message, "statistic", None) == "ess_bulk")
    assert "threshold 400" in msg
    assert bad.diagnostic_problems_, "problems are also kept on the model"


def _synthetic_idata(seed=0):
    """Two chains of 500 draws, built to fail every check deterministically: ``coef[web]``'s chains
    are centred 5 sds apart (R-hat ~1.8), ``coef[store]`` is a random walk (ESS ~ a few), 7 divergent
    transitions, and chain 0's energy is a random walk (BFMI ~ 0)."""
    rng = np.random.default_rng(seed)
    n = 500
    good = rng.normal(size=(2, n))
    web = rng.normal(size=(2, n)) + np.array([[0.0], [5.0]])
    store = np.cumsum(rng.normal(size=(2, n)), axis=1)
    diverging = np.zeros((2, n), dtype=bool)
    diverging[1, :7] = True
    energy = np.vstack([np.cumsum(rng.normal(size=n)), rng.normal(size=n)])
    return az.from_dict(posterior={"r": good, "coef": np.stack([web, store], axis=-1)},
                        sample_stats={"diverging": diverging, "energy": energy},
                        coords={"covariate": ["web", "store"]}, dims={"coef": ["covariate"]})


def test_diagnostics_flag_disagreeing_chains_divergences_and_low_bfmi():
    # the warning mechanism on a synthetic posterior whose failures are known in advance
    # (deterministic: no sampler involved)
    with pytest.warns(SamplingDiagnosticWarning) as record:
        table, problems = run_diagnostics(_synthetic_idata(), ["r", "coef"], dict(DEFAULT_THRESHOLDS))
    assert list(table.index) == ["r", "coef[web]", "coef[store]"]
    assert table.loc["coef[web]", "r_hat"] > 1.5
    assert table.loc["coef[store]", "ess_bulk"] < 100
    found = {(p.statistic, p.parameter) for p in problems}
    assert {("r_hat", "coef[web]"), ("ess_bulk", "coef[store]"), ("divergences", "all chains"),
            ("bfmi", "chain 0")} <= found
    warned = {(w.message.statistic, w.message.parameter) for w in record
              if isinstance(w.message, SamplingDiagnosticWarning)}
    assert warned == found
    rhat = next(w.message for w in record if getattr(w.message, "statistic", None) == "r_hat"
                and w.message.parameter == "coef[web]")
    assert rhat.threshold == 1.01 and rhat.value > 1.5
    assert "r_hat of 'coef[web]'" in str(rhat) and "threshold 1.01" in str(rhat)
    assert table.attrs["divergences"] == 7
    assert table.attrs["bfmi"][0] < 0.3 <= table.attrs["bfmi"][1]
