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
from clvmodels.errors import ConfigError, MissingColumnError, NotFittedError  # noqa: E402

pytestmark = pytest.mark.bayes

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", section 4 (CDNOW sample)
MLE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# ibid., Figure 3 / design.md section 5: calibration repeat-purchase histogram x = 0..6, 7+
CDNOW_HISTOGRAM = [1411, 439, 214, 100, 62, 38, 29, 64]


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow):
    """4 chains x 1000 draws with the default NUTS (nutpie when installed): one compile per module."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BGNBD(draws=1000, tune=1000, chains=4, random_seed=2357, progressbar=False).fit(cdnow)
    model._fit_warnings = [w for w in caught if issubclass(w.category, SamplingDiagnosticWarning)]
    return model


@pytest.mark.slow
def test_posterior_means_within_one_sd_of_mle(fitted):
    post = fitted.idata_.posterior
    for name, mle in MLE.items():
        mean, sd = float(post[name].mean()), float(post[name].std())
        assert abs(mean - mle) <= sd, f"{name}: posterior mean {mean:.4f} sd {sd:.4f} vs MLE {mle}"


@pytest.mark.slow
def test_convergence_with_four_chains_of_1000(fitted):
    table = fitted.diagnostics_
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["r_hat"] <= 1.01).all(), table
    assert (table["ess_bulk"] >= 400).all(), table
    assert fitted.idata_.posterior.sizes["chain"] == 4 and fitted.idata_.posterior.sizes["draw"] == 1000
    assert fitted.diagnostic_problems_ == [] and fitted._fit_warnings == []
    assert table.attrs["divergences"] == 0


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
    np.testing.assert_array_equal(pa.to_numpy(), small.to_numpy())
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
    # MLE; the posterior mean is close (posterior means sit within one sd of the MLE)
    one = pd.DataFrame({"frequency": [2.0], "recency": [30.43], "T": [38.86]}, index=pd.Index([1], name="customer_id"))
    assert float(fitted.expected_purchases(one, t=39).mean()) == pytest.approx(1.226, rel=0.03)


@pytest.mark.slow
def test_posterior_predictive_check_reproduces_calibration_histogram(fitted):
    ppc = fitted.posterior_predictive_check(n_draws=200, random_seed=1)
    assert list(ppc["observed"]) == CDNOW_HISTOGRAM
    assert ppc["inside"].sum() >= 7, ppc
    # FHL (2005) Figure 3: the model tracks the histogram closely (its largest miss is at x = 2)
    np.testing.assert_allclose(ppc["predicted_mean"].iloc[:2], CDNOW_HISTOGRAM[:2], rtol=0.06)
    np.testing.assert_allclose(ppc["predicted_mean"].sum(), sum(CDNOW_HISTOGRAM))


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
    bad = BGNBD(draws=40, tune=4, chains=2, random_seed=1, progressbar=False)
    with pytest.warns(SamplingDiagnosticWarning) as record:
        bad.fit(cdnow)
    stats = {(w.message.statistic, w.message.parameter) for w in record
             if isinstance(w.message, SamplingDiagnosticWarning)}
    assert ("ess_bulk", "alpha") in stats
    msg = next(str(w.message) for w in record if getattr(w.message, "statistic", None) == "ess_bulk")
    assert "threshold 400" in msg
    assert bad.diagnostic_problems_, "problems are also kept on the model"
