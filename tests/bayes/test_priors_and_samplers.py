"""Priors (defaults, Python and YAML overrides, prior predictive checks), settings, MAP and ADVI."""

from __future__ import annotations

import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")

import importlib.util  # noqa: E402

import clvmodels as clv  # noqa: E402
from clvmodels.bayes import BGNBD, GammaGamma, ParetoNBD  # noqa: E402
from clvmodels.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.bayes

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", section 4 (CDNOW sample)
MLE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


def test_default_priors_are_visible_and_documented():
    pri = BGNBD.default_priors()
    assert pri["r"] == {"dist": "LogNormal", "mu": 0.0, "sigma": 1.5}
    assert pri["alpha"]["dist"] == "LogNormal" and pri["alpha"]["sigma"] == 3.0
    assert set(ParetoNBD.default_priors()) == {"r", "alpha", "s", "beta"}
    assert set(GammaGamma.default_priors()) == {"p", "q", "v"}
    pri["r"]["sigma"] = 99.0  # a copy: the class defaults do not change
    assert BGNBD.default_priors()["r"]["sigma"] == 1.5
    import clvmodels.bayes.priors as priors_module

    assert "LogNormal(mu=0, sigma=1.5)" in priors_module.__doc__


def test_prior_override_from_python(cdnow):
    model = BGNBD(priors={"r": {"dist": "Gamma", "alpha": 2.0, "beta": 4.0}}).build_model(cdnow)
    assert "gamma" in type(model["r"].owner.op).__name__.lower()
    assert "lognormal" in type(model["alpha"].owner.op).__name__.lower()


def test_prior_override_from_yaml(cdnow, tmp_path):
    path = tmp_path / "priors.yaml"
    path.write_text("priors:\n  alpha: {dist: LogNormal, mu: 1.5, sigma: 0.5}\n  b: {dist: HalfNormal, sigma: 5}\n")
    model = BGNBD(priors=str(path))
    assert model.priors_in_force()["alpha"] == {"dist": "LogNormal", "mu": 1.5, "sigma": 0.5}
    assert model.priors_in_force()["r"] == BGNBD.default_priors()["r"]
    pm_model = model.build_model(cdnow)
    assert "halfnormal" in type(pm_model["b"].owner.op).__name__.lower()


@pytest.mark.parametrize("priors, key", [
    ({"rr": {"dist": "Gamma", "alpha": 1, "beta": 1}}, "priors.rr"),
    ({"r": {"dist": "Normal", "mu": 0, "sigma": 1}}, "priors.r.dist"),
    ({"r": {"dist": "Gamma", "shape_typo": 1}}, "priors.r"),
    ({"r": 3.0}, "priors.r"),
])
def test_bad_priors_name_the_key(cdnow, priors, key):
    with pytest.raises(ConfigError) as err:
        BGNBD(priors=priors).build_model(cdnow)
    assert err.value.key == key


@pytest.mark.parametrize("setting, key", [
    ({"sampler": "gibbs"}, "sampler"), ({"draws": 0}, "draws"), ({"tune": -1}, "tune"),
    ({"target_accept": 1.5}, "target_accept"), ({"diagnostics": {"rhat": 1.1}}, "diagnostics.rhat"),
    ({"nuts_sampler": "stan"}, "nuts_sampler"),
])
def test_bad_settings_name_the_key(cdnow, setting, key):
    with pytest.raises(ConfigError) as err:
        BGNBD(**setting).fit(cdnow)
    assert err.value.key == key


@pytest.mark.skipif(importlib.util.find_spec("jax") is not None, reason="jax installed: numpyro may run")
def test_numpyro_without_jax_is_a_clear_error(cdnow):
    with pytest.raises(ConfigError, match="numpyro") as err:
        BGNBD(nuts_sampler="numpyro").fit(cdnow)
    assert err.value.key == "nuts_sampler"


def test_prior_predictive_check(cdnow):
    ppc = BGNBD().prior_predictive_check(cdnow, n_draws=100, random_seed=1)
    assert list(ppc.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert ppc["observed"].sum() == len(cdnow)
    # weak priors: the central 90% of prior predictive histograms is wide around the observed one
    assert (ppc["predicted_upper"] - ppc["predicted_lower"]).iloc[0] > 500
    assert ppc["inside"].all()


def test_map_is_close_to_the_mle(cdnow):
    m = BGNBD(sampler="map", progressbar=False).fit(cdnow)
    assert m.idata_.posterior.sizes["chain"] == 1 and m.idata_.posterior.sizes["draw"] == 1
    assert m.diagnostics_ is None
    # the mode of the log-parameters under weak priors: next to the MLE (a, b have posterior sds of
    # ~25-30% of their values on CDNOW, so the priors move them a little more than r and alpha)
    for k, v in MLE.items():
        assert m.params_[k] == pytest.approx(v, rel=0.03 if k in ("r", "alpha") else 0.1), k


@pytest.mark.slow
def test_advi_fast_path(cdnow):
    m = BGNBD(sampler="advi", draws=500, random_seed=3, progressbar=False, advi_iterations=10_000).fit(cdnow)
    assert m.idata_.posterior.sizes["draw"] == 500
    assert m.advi_converged_  # stopped early on a flat loss, well before advi_iterations
    assert m.params_["r"] == pytest.approx(MLE["r"], rel=0.1)
    assert m.params_["alpha"] == pytest.approx(MLE["alpha"], rel=0.15)
