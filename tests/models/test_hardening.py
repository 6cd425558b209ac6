"""Hostile inputs to the models (issue 16, items 13, 14 and 16): each is a typed clvmodels error naming
what is wrong, or a fit that says it has no finite estimate; never a raw TypeError / ValueError /
LinAlgError / ZeroDivisionError and never a silent NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import CLVError, ConfigError, ConvergenceWarning, InvalidValueError
from clvmodels.models.optimize import LogLik, Objective, ParameterTransform, maximize_loglik


@pytest.fixture(scope="module")
def summary():
    return clv.calibration_holdout(clv.datasets.cdnow_transactions(sample=True), "1997-09-30", "1998-06-30",
                                   time_unit="W")


@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf"), "0.1", None])
def test_a_bad_penalizer_is_refused_before_fitting(summary, value):
    with pytest.raises(ConfigError, match="penalizer_coef") as info:
        clv.BGNBD(penalizer_coef=value).fit(summary)
    assert info.value.key == "penalizer_coef"


@pytest.mark.parametrize("setting", [{"tol": 0.0}, {"max_iter": 0}, {"max_iter": 2.5}])
def test_bad_optimiser_settings_are_refused(summary, setting):
    with pytest.raises(ConfigError, match=next(iter(setting))):
        clv.BGNBD(**setting).fit(summary)


def test_one_customer_has_no_finite_estimate_and_the_fit_says_so(summary):
    one = summary[summary["frequency"] > 0].iloc[[0]]
    with pytest.warns(ConvergenceWarning, match="no finite maximum-likelihood estimate"):
        bg = clv.BGNBD().fit(one)
    assert bg.converged_ is False and bg.fit_info_["boundary"]
    with pytest.raises(CLVError, match="no finite maximum-likelihood estimate"):
        bg.sample_params(10)


def no_attrition_log() -> pd.DataFrame:
    # every customer buys at a constant rate until the end: BG/NBD's dropout a / (a + b) is 0 in the limit
    rng = np.random.default_rng(7)
    n = 3000
    T = rng.uniform(20, 104, n)
    x = rng.poisson(0.2 * T)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T},
                        index=pd.Index(np.arange(n), name="customer_id"))


def test_a_log_without_attrition_runs_a_and_b_to_infinity_and_is_said():
    data = no_attrition_log()
    with pytest.warns(ConvergenceWarning, match="ran towards infinity or 0") as record:
        bg = clv.BGNBD().fit(data)
    assert bg.converged_ is False
    assert set(bg.fit_info_["boundary"]) & {"a", "b"}
    assert "same dropout" in str(record[0].message)
    assert np.all(np.isfinite(bg.expected_purchases(data, 10.0)))   # the limiting model still predicts


def test_a_fit_without_finite_covariance_is_saved_and_loaded_as_fitted(tmp_path):
    """A run whose MLE ran to the boundary saves its NaN covariance; ``clv score`` must load that model again
    (it once refused it as 'cov must be finite and symmetric')."""
    data = no_attrition_log()
    with pytest.warns(ConvergenceWarning):
        bg = clv.BGNBD().fit(data)
    assert not np.isfinite(bg.cov_.to_numpy()).all()
    bg.save(tmp_path / "bg.json")
    back = clv.load_model(tmp_path / "bg.json")
    assert back.converged_ is False and back.fit_info_["boundary"] == bg.fit_info_["boundary"]
    pd.testing.assert_series_equal(back.params_, bg.params_)
    assert back.cov_.shape == (4, 4) and not np.isfinite(back.cov_.to_numpy()).all()
    np.testing.assert_allclose(back.expected_purchases(data, 10.0), bg.expected_purchases(data, 10.0), rtol=1e-12)
    with pytest.raises(CLVError):       # no parameter draws from a fit without a finite covariance
        back.sample_params(10, random_state=0)


def test_a_well_posed_fit_reports_no_boundary(summary):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        bg = clv.BGNBD().fit(summary)
    assert bg.converged_ is True and bg.fit_info_["boundary"] == []


def test_an_evaluator_that_divides_by_zero_is_a_rejected_step():
    """A log-likelihood that raises ZeroDivisionError near an edge (as Python-float arithmetic in a
    math kernel does when a parameter underflows to 0) makes the optimiser step back, not crash."""
    def make(cols, w):
        (x,) = cols

        def value_grad(p):
            if p[0] < 0.05:
                raise ZeroDivisionError("float division by zero")
            return float(np.sum(w * (x * np.log(p[0]) - p[0]))), np.array([np.sum(w * (x / p[0] - 1.0))])
        return LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=float(w.sum()))
    data, w = (np.array([0.0, 0.0, 0.0, 1.0]),), np.ones(4)
    tr = ParameterTransform([(0.0, np.inf)])
    objective = Objective(make(data, w), np.ones(1), tr)
    assert objective(tr.to_theta(np.array([0.01])))[0] == np.inf
    opt = maximize_loglik(make, data, w, data, tr.to_theta(np.array([1.0])), tr, np.ones(1), tol=1e-10, max_iter=200)
    assert opt.params[0] == pytest.approx(0.25, rel=1e-6)


@pytest.mark.parametrize("params, match", [
    (dict(r=1 + 1j, alpha=4.4, a=0.8, b=2.4), "r must be one real number"),
    (dict(r=np.array([0.2, 0.3]), alpha=4.4, a=0.8, b=2.4), "r must be one real number"),
    (dict(r="0.2", alpha=4.4, a=0.8, b=2.4), "r must be one real number"),
    (dict(r=None, alpha=4.4, a=0.8, b=2.4), "r must be one real number"),
    (dict(r=-0.2, alpha=4.4, a=0.8, b=2.4), "r=-0.2 must lie strictly inside"),
])
def test_from_params_refuses_what_is_not_a_parameter(params, match):
    with pytest.raises(InvalidValueError, match=match):
        clv.BGNBD.from_params(**params)


@pytest.mark.parametrize("cov, match", [
    (np.eye(3), "4 x 4 real matrix"),
    (np.full((4, 4), np.nan), "finite and symmetric"),
    (np.triu(np.ones((4, 4))), "finite and symmetric"),
    (-np.eye(4), "not positive semi-definite"),
    (np.array([["a"] * 4] * 4), "4 x 4 real matrix"),
])
def test_from_params_refuses_what_is_not_a_covariance(cov, match):
    with pytest.raises(InvalidValueError, match=match):
        clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, cov=cov)


def test_a_valid_covariance_draws(summary):
    bg = clv.BGNBD().fit(summary)
    again = clv.BGNBD.from_params(**bg.params_.to_dict(), cov=bg.cov_)      # a DataFrame, any order works
    assert again.sample_params(5, random_state=1).shape == (5, 4)


@pytest.mark.parametrize("model", [clv.BGNBD, clv.MBGNBD])
@pytest.mark.parametrize("t, match", [(np.array([1.0, 2.0]), "one number"), (-1.0, "non-negative"),
                                      (float("nan"), "non-negative"), ("39", "real numbers")])
def test_a_horizon_is_one_non_negative_number(summary, model, t, match):
    fitted = model.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    with pytest.raises(InvalidValueError, match=match):
        fitted.expected_purchases(summary, t)


def test_text_weights_and_text_survivor_counts_are_refused(summary):
    with pytest.raises(InvalidValueError, match="weights must be numbers"):
        clv.BGNBD().fit(summary.assign(w="a"), weights="w")
    with pytest.raises(InvalidValueError, match="survivor counts must be numbers"):
        clv.ShiftedBetaGeo().fit(["1000", "869", "743"])
    with pytest.raises(InvalidValueError, match="survivor counts must be numbers"):
        clv.ShiftedBetaGeo().fit(pd.Series(["1000", "869", "743"]))


def test_load_model_on_a_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="no saved model"):
        clv.registry.load_model(tmp_path / "missing.json")


@pytest.mark.parametrize("spec, match", [
    ({"dist": "HalfNormal", "sigma": -1}, "sigma=-1 must be > 0"),
    ({"dist": "Gamma", "alpha": 2, "beta": 0}, "beta=0 must be > 0"),
    ({"dist": "LogNormal", "mu": float("nan"), "sigma": 1}, "mu=nan must be a finite number"),
    ({"dist": "LogNormal", "mu": "zero", "sigma": 1}, "must be a finite number"),
    ({"dist": "Uniform", "lower": 2, "upper": 1}, "must be below upper"),
])
def test_a_bad_prior_is_refused_without_importing_pymc(spec, match):
    from clvmodels.bayes.priors import load_priors

    with pytest.raises(ConfigError, match=match):
        load_priors({"r": spec})


def test_a_bad_prior_in_a_config_names_its_key():
    from clvmodels.config import load_config

    with pytest.raises(ConfigError, match="models.purchase.priors") as info:
        load_config({"name": "x", "data": {"source": "cdnow_sample"},
                     "models": {"purchase": {"name": "bgnbd", "method": "map",
                                             "priors": {"r": {"dist": "HalfNormal", "sigma": -1}}}}})
    assert "sigma=-1" in str(info.value)


@pytest.mark.bayes
def test_bayesian_horizons_are_checked_like_the_mle_ones(summary):
    pytest.importorskip("pymc")
    bg = clv.bayes.BGNBD(sampler="map").fit(summary)
    for t, match in ((-1.0, "non-negative"), (float("nan"), "non-negative"), (np.array([1.0, 2.0]), "one number")):
        with pytest.raises(InvalidValueError, match=match):
            bg.expected_purchases(summary, t)
        with pytest.raises(InvalidValueError, match=match):
            bg.expected_purchases_new(t)
