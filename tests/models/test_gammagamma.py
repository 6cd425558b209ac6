"""Gamma-Gamma model class on CDNOW (published numbers) and simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import clvmodels as clv
from clvmodels.errors import DataValidationError, NotFittedError
from clvmodels import load_model
from clvmodels.simulate import gammagamma as sim


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


def test_cdnow_published_estimates(cdnow):
    # Fader & Hardie (2013), "The Gamma-Gamma model of monetary value": on the 946 repeat buyers
    # p = 6.25, q = 3.74, gamma = 15.44. Published to 2 decimals; the likelihood optimum is
    # v = 15.4477 (lifetimes 0.11.3 finds the same), so v gets one extra unit of slack.
    m = clv.GammaGamma().fit(cdnow)
    assert m.n_obs_ == 946 and m.converged_
    assert m.params_["p"] == pytest.approx(6.25, abs=0.005)
    assert m.params_["q"] == pytest.approx(3.74, abs=0.005)
    assert m.params_["v"] == pytest.approx(15.44, abs=0.01)


def test_expected_spend_for_everyone(cdnow):
    m = clv.GammaGamma().fit(cdnow)
    s = m.expected_spend(cdnow)
    assert s.name == "expected_spend" and list(s.index) == list(cdnow.index) and np.isfinite(s).all()
    p, q, v = m.params_
    pop = p * v / (q - 1)
    assert m.expected_spend_new() == pytest.approx(pop)
    np.testing.assert_allclose(s[cdnow["frequency"] == 0], pop)
    rb = cdnow[cdnow["frequency"] > 0]
    x, mbar = rb["frequency"], rb["monetary_value"]
    np.testing.assert_allclose(s[rb.index], p * (v + x * mbar) / (p * x + q - 1), rtol=1e-12)


def test_non_positive_spend_of_repeat_buyer_is_named(cdnow):
    bad = cdnow.copy()
    bad.loc[[3, 10], "frequency"] = 2
    bad.loc[[3, 10], "recency"] = 5.0
    bad.loc[[3, 10], "monetary_value"] = 0.0
    with pytest.raises(DataValidationError) as info:
        clv.GammaGamma().fit(bad)
    assert info.value.column == "monetary_value" and set(info.value.examples) == {3, 10}
    assert "3" in str(info.value) and "repeat buyer" in str(info.value)
    with pytest.raises(DataValidationError):
        clv.GammaGamma().fit(cdnow.drop(columns="monetary_value"))


def test_q_bound_and_recovery():
    rng = np.random.default_rng(41)
    x = rng.integers(1, 15, 20_000).astype(float)
    truth = {"p": 4.0, "q": 2.5, "v": 20.0}
    m_val = sim.simulate(**truth, frequency=x, random_state=42)
    d = pd.DataFrame({"frequency": x, "recency": 1.0, "T": 2.0, "monetary_value": m_val})
    m = clv.GammaGamma().fit(d)
    assert m.params_["q"] > 1
    z = (m.params_ - pd.Series(truth)) / m.stderr_
    assert m.converged_ and (z.abs() < 4).all(), z
    # rescaling the currency maps v exactly and leaves p, q unchanged
    cents = clv.GammaGamma().fit(d.assign(monetary_value=d["monetary_value"] * 100))
    assert cents.params_["v"] == pytest.approx(100 * m.params_["v"], rel=1e-6)
    assert cents.params_["p"] == pytest.approx(m.params_["p"], rel=1e-6)


def test_clone_save_load_from_params(cdnow, tmp_path):
    m = clv.GammaGamma().fit(cdnow)
    assert clone(m).get_params() == m.get_params()
    loaded = load_model(m.save(tmp_path / "gg.json"))
    assert isinstance(loaded, clv.GammaGamma)
    pd.testing.assert_series_equal(loaded.expected_spend(cdnow), m.expected_spend(cdnow))
    fp = clv.GammaGamma.from_params(**m.params_.to_dict())
    pd.testing.assert_series_equal(fp.expected_spend(cdnow), m.expected_spend(cdnow))
    assert fp.log_likelihood(cdnow).sum() == pytest.approx(m.loglik_, rel=1e-12)
    with pytest.raises(NotFittedError):
        clv.GammaGamma().expected_spend(cdnow)
    with pytest.raises(DataValidationError):
        clv.GammaGamma.from_params(p=1.0, q=0.9, v=1.0)  # q must exceed 1


# -- repeat buyers whose repeat purchases have no positive value (e.g. free items) -----------------

def _with_free_buyers():
    import clvmodels as clv

    s = clv.datasets.cdnow_summary()
    s.loc[[1, 2], "monetary_value"] = 0.0  # customers 1 (x=2) and 2 (x=1) bought only free items
    return s


def test_nonpositive_spend_policy_error_names_customers():
    import clvmodels as clv
    from clvmodels.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match=r"2 repeat buyer\(s\).*\[1, 2\].*nonpositive_spend"):
        clv.GammaGamma().fit(_with_free_buyers())


@pytest.mark.parametrize("policy", ["zero", "population"])
def test_nonpositive_spend_policies_fit_without_them_and_score_them(policy):
    import clvmodels as clv
    from clvmodels.errors import DataDroppedWarning

    s = _with_free_buyers()
    with pytest.warns(DataDroppedWarning, match="2 repeat buyer"):
        gg = clv.GammaGamma(nonpositive_spend=policy).fit(s)
    reference = clv.GammaGamma().fit(s.drop(index=[1, 2]))
    np.testing.assert_allclose(gg.params_, reference.params_, rtol=1e-8)
    assert gg.n_nonpositive_excluded_ == 2
    p, q, v = gg.params_
    spend = gg.expected_spend(s)
    if policy == "zero":  # conditional mean at an observed mean of 0: p v / (p x + q - 1)
        assert spend.loc[1] == pytest.approx(p * v / (p * 2 + q - 1))
        assert spend.loc[2] == pytest.approx(p * v / (p * 1 + q - 1))
    else:
        assert spend.loc[1] == pytest.approx(p * v / (q - 1)) == spend.loc[2]
    others = s.index.difference([1, 2])
    np.testing.assert_allclose(spend.loc[others], gg.set_params(nonpositive_spend="error").expected_spend(
        s.loc[others]), rtol=1e-14)


def test_nonpositive_spend_policy_unknown():
    import clvmodels as clv
    from clvmodels.errors import ConfigError

    with pytest.raises(ConfigError, match="nonpositive_spend"):
        clv.GammaGamma(nonpositive_spend="ignore").fit(clv.datasets.cdnow_summary())
