"""BG/NBD model class on CDNOW (published numbers) and simulated data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import clvmodels as clv
from clvmodels.errors import DataValidationError, NotFittedError
from clvmodels import load_model
from clvmodels.simulate import bgnbd as sim


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow):
    return clv.BGNBD().fit(cdnow)


def test_cdnow_published_estimates(fitted):
    # Fader, Hardie & Lee (2005), sec. 5: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426,
    # LL = -9582.4, published to 3 decimals (LL to 1): tolerances = half a unit in the last digit.
    p = fitted.params_
    assert p["r"] == pytest.approx(0.243, abs=5e-4)
    assert p["alpha"] == pytest.approx(4.414, abs=5e-4)
    assert p["a"] == pytest.approx(0.793, abs=5e-4)
    assert p["b"] == pytest.approx(2.426, abs=5e-4)
    assert fitted.loglik_ == pytest.approx(-9582.4, abs=0.05)
    assert fitted.converged_
    assert (fitted.stderr_ > 0).all() and np.allclose(fitted.cov_, fitted.cov_.T)
    assert fitted.n_obs_ == 2357 and fitted.data_summary_ == {"n_customers": 2357, "n_repeat_buyers": 946}


def test_cdnow_customer_expectation(fitted, cdnow):
    # same paper, sec. 5: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in the next 39 weeks
    one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]}, index=pd.Index(["c1"], name="customer_id"))
    value = fitted.expected_purchases(one, t=39)
    assert value.name == "expected_purchases" and list(value.index) == ["c1"]
    assert value["c1"] == pytest.approx(1.226, abs=5e-4)


def test_predictions_keyed_in_input_order(fitted, cdnow):
    shuffled = cdnow.sample(frac=1.0, random_state=3)
    e1 = fitted.expected_purchases(cdnow, 39)
    e2 = fitted.expected_purchases(shuffled, 39)
    assert list(e2.index) == list(shuffled.index)
    pd.testing.assert_series_equal(e1.loc[shuffled.index], e2)
    pa = fitted.p_alive(cdnow)
    assert pa.name == "p_alive" and ((pa > 0) & (pa <= 1)).all()
    assert (pa[cdnow["frequency"] == 0] == 1).all()  # BG/NBD: no repeat purchase, no dropout
    assert cdnow.equals(clv.datasets.cdnow_summary())  # caller's frame untouched


def test_new_customer_predictions(fitted):
    assert isinstance(fitted.expected_purchases_new(39), float)
    s = fitted.expected_purchases_new([1.0, 39.0, 78.0])
    assert list(s.index) == [1.0, 39.0, 78.0] and s.is_monotonic_increasing
    assert fitted.p_purchases(0, 39) == pytest.approx(float(fitted.p_purchases([0, 1], 39).iloc[0]))
    grid = fitted.p_purchases(np.arange(0, 500), [39.0, 78.0])
    assert grid.shape == (500, 2)
    np.testing.assert_allclose(grid.sum(axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose((grid.index.to_numpy()[:, None] * grid).sum(axis=0),
                               fitted.expected_purchases_new([39.0, 78.0]), rtol=1e-8)
    by_t = fitted.p_purchases(2, [10.0, 20.0])
    assert by_t.index.name == "t"


def test_compressed_equals_expanded(cdnow):
    # collapse identical (x, t_x, T) rows into counts and fit with weights
    cols = ["frequency", "recency", "T"]
    compressed = cdnow[cols].groupby(cols, as_index=False).size()
    assert len(compressed) < len(cdnow)
    m_w = clv.BGNBD().fit(compressed.rename_axis("customer_id"), weights="size")
    m_e = clv.BGNBD().fit(cdnow)
    np.testing.assert_allclose(m_w.params_, m_e.params_, rtol=1e-6)
    assert m_w.loglik_ == pytest.approx(m_e.loglik_, rel=1e-12)
    assert m_w.n_obs_ == len(cdnow)


def test_time_unit_change_maps_alpha_exactly(cdnow):
    weeks = clv.BGNBD().fit(cdnow)
    days = clv.BGNBD().fit(cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7))
    assert days.params_["alpha"] == pytest.approx(7 * weeks.params_["alpha"], rel=1e-6)
    for k in ("r", "a", "b"):
        assert days.params_[k] == pytest.approx(weeks.params_[k], rel=1e-6)
    # the density of purchase times changes by 7^-x per customer
    assert days.loglik_ == pytest.approx(weeks.loglik_ - cdnow["frequency"].sum() * np.log(7), rel=1e-10)


@pytest.mark.parametrize("seed", [1, 2])
def test_recovers_simulated_parameters(seed):
    truth = {"r": 0.6, "alpha": 8.0, "a": 0.9, "b": 3.0}
    T = np.random.default_rng(seed).uniform(10, 80, 20_000)
    data = sim.simulate(**truth, T=T, random_state=seed + 100)
    m = clv.BGNBD().fit(data)
    assert m.converged_
    z = (m.params_ - pd.Series(truth)) / m.stderr_
    assert (z.abs() < 4).all(), z


def test_sklearn_clone_save_load_from_params(fitted, cdnow, tmp_path):
    c = clone(clv.BGNBD(penalizer_coef=0.01))
    assert c.get_params()["penalizer_coef"] == 0.01 and not hasattr(c, "params_")
    path = fitted.save(tmp_path / "bg.json")
    d = json.loads(path.read_text())
    assert d["model"] == "BGNBD" and d["clvmodels_version"] == clv.__version__
    assert d["data_summary"]["n_repeat_buyers"] == 946
    for loaded in (clv.BGNBD.load(path), load_model(path), clv.load_model(path)):
        assert isinstance(loaded, clv.BGNBD)
        pd.testing.assert_series_equal(loaded.params_, fitted.params_)
        pd.testing.assert_frame_equal(loaded.cov_, fitted.cov_)
        pd.testing.assert_series_equal(loaded.expected_purchases(cdnow, 39), fitted.expected_purchases(cdnow, 39))
    m = clv.BGNBD.from_params(**fitted.params_.to_dict())
    pd.testing.assert_series_equal(m.expected_purchases(cdnow, 39), fitted.expected_purchases(cdnow, 39))
    pd.testing.assert_series_equal(m.p_alive(cdnow), fitted.p_alive(cdnow))
    assert m.score(cdnow) == pytest.approx(fitted.loglik_ / len(cdnow), rel=1e-12)


def test_sample_params(fitted):
    draws = fitted.sample_params(4000, random_state=1)
    assert draws.shape == (4000, 4) and (draws > 0).all().all()
    np.testing.assert_allclose(draws.median(), fitted.params_, rtol=0.02)
    with pytest.raises(NotFittedError):
        clv.BGNBD.from_params(r=0.2, alpha=4, a=0.8, b=2.4).sample_params(5)


def test_errors_before_fit_and_on_bad_data(cdnow):
    with pytest.raises(NotFittedError):
        clv.BGNBD().expected_purchases(cdnow, 39)
    with pytest.raises(NotFittedError):
        clv.BGNBD().p_purchases(1, 2)
    bad = cdnow.copy()
    bad.loc[5, "recency"] = bad.loc[5, "T"] + 1
    with pytest.raises(DataValidationError) as info:
        clv.BGNBD().fit(bad)
    assert info.value.column == "recency" and 5 in info.value.examples
    m = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    with pytest.raises(DataValidationError):
        m.p_alive(cdnow.drop(columns="T"))
    with pytest.raises(DataValidationError, match="t must be"):
        m.expected_purchases(cdnow, -1)
    with pytest.raises(DataValidationError, match="n must be"):
        m.p_purchases([0, 1.5], 10)


def test_heavy_buyer_prediction_is_finite():
    m = clv.BGNBD.from_params(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)  # daily alpha
    heavy = pd.DataFrame({"frequency": [1500.0, 0.0], "recency": [9990.0, 0.0], "T": [10000.0, 10000.0]},
                         index=pd.Index(["whale", "ghost"], name="customer_id"))
    e = m.expected_purchases(heavy, t=3650)
    assert np.isfinite(e).all() and e["whale"] > 100 and e["ghost"] < 1
