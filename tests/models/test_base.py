"""The estimation base (clvmodels.models.base) on a tiny model declared only for these tests.

The toy model is the NBD (Poisson purchases with gamma-distributed rates, no dropout):
per-customer likelihood of x purchases at given times in (0, T] is
Gamma(r+x)/Gamma(r) * alpha^r / (alpha+T)^(r+x) (Ehrenberg 1959; Fader, Hardie & Lee 2005 eq. 6
with p = 0). Its MLE has a closed-form check: at the optimum, r/alpha equals the weighted ratio
implied by the score equations, and the fitted rate mean matches sum(x)/sum(T) only approximately,
so we check against a brute-force scipy optimisation instead.
"""

from __future__ import annotations

import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special
from sklearn.base import clone

from clvmodels.errors import CLVError, ConvergenceWarning, DataValidationError, NotFittedError
from clvmodels import load_model
from clvmodels.data.summary import RFMSummary
from clvmodels.models.base import MLEModel


def _nbd_loglik(r, alpha, x, T):
    return special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)


class ToyNBD(MLEModel):
    math = types.SimpleNamespace(loglik=_nbd_loglik)
    param_names = ("r", "alpha")
    input_columns = ("frequency", "T")
    _scale_columns = ("T",)
    _scale_params = ("alpha",)
    _validate_kwargs = {"columns": ("frequency", "recency", "T")}

    def expected_rate(self):
        r, alpha = self._params_tuple()
        return r / alpha


def _summary(n=3000, seed=1, r=0.7, alpha=20.0):
    rng = np.random.default_rng(seed)
    T = rng.choice([10.0, 20.0, 30.0, 40.0], size=n)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    x = rng.poisson(lam * T).astype(float)
    recency = np.where(x > 0, T * rng.uniform(0.5, 1.0, size=n), 0.0)
    return pd.DataFrame({"frequency": x, "recency": recency, "T": T},
                        index=pd.Index(np.arange(100, 100 + n), name="customer_id"))


def test_fit_matches_direct_optimisation():
    s = _summary()
    m = ToyNBD().fit(s)
    x, T = s["frequency"].to_numpy(), s["T"].to_numpy()
    nll = lambda th: -np.sum(_nbd_loglik(np.exp(th[0]), np.exp(th[1]), x, T))  # noqa: E731
    ref = optimize.minimize(nll, [0.0, 2.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12,
                                                                             "maxiter": 5000})
    np.testing.assert_allclose(m.params_.to_numpy(), np.exp(ref.x), rtol=1e-5)
    np.testing.assert_allclose(m.loglik_, -ref.fun, rtol=1e-10)
    assert m.converged_ and m.n_obs_ == len(s)
    assert m.fit_info_["n_unique_rows"] < len(s)
    # time axis rescaling is invisible: fitting the same data in days gives alpha * 7 exactly-ish
    s_days = s.assign(recency=s["recency"] * 7, T=s["T"] * 7)
    m_days = ToyNBD().fit(s_days)
    np.testing.assert_allclose(m_days.params_["alpha"], 7 * m.params_["alpha"], rtol=1e-6)
    np.testing.assert_allclose(m_days.params_["r"], m.params_["r"], rtol=1e-6)


def test_hessian_stderr_agree_with_analytic_fisher():
    s = _summary(n=4000, seed=3)
    m = ToyNBD().fit(s)
    r, a = m.params_.to_numpy()
    x, T = s["frequency"].to_numpy(), s["T"].to_numpy()
    # analytic second derivatives of the NBD log-likelihood
    hrr = np.sum(special.polygamma(1, r + x) - special.polygamma(1, r))
    hra = np.sum(1 / a - 1 / (a + T))
    haa = np.sum(-r / a**2 + (r + x) / (a + T) ** 2)
    cov = np.linalg.inv(-np.array([[hrr, hra], [hra, haa]]))
    np.testing.assert_allclose(m.cov_.to_numpy(), cov, rtol=1e-4)
    np.testing.assert_allclose(m.stderr_.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-4)
    assert (m.cov_.to_numpy() == m.cov_.to_numpy().T).all()


def test_weights_equal_expanded_rows():
    s = _summary(n=600, seed=5)
    w = np.random.default_rng(2).integers(1, 4, size=len(s))
    expanded = s.loc[s.index.repeat(w)].reset_index(drop=True)
    m_w = ToyNBD().fit(s, weights=w)
    m_e = ToyNBD().fit(expanded)
    np.testing.assert_allclose(m_w.params_, m_e.params_, rtol=1e-7)
    np.testing.assert_allclose(m_w.loglik_, m_e.loglik_, rtol=1e-10)
    assert m_w.n_obs_ == len(expanded)
    # weights by column name and as a Series keyed by customer id (in another order)
    m_c = ToyNBD().fit(s.assign(weight=w), weights="weight")
    m_s = ToyNBD().fit(s, weights=pd.Series(w, index=s.index).iloc[::-1])
    np.testing.assert_allclose(m_c.params_, m_w.params_, rtol=1e-12)
    np.testing.assert_allclose(m_s.params_, m_w.params_, rtol=1e-12)


def test_bad_weights_and_data_named():
    s = _summary(n=50)
    with pytest.raises(DataValidationError, match="weights"):
        ToyNBD().fit(s, weights=np.r_[-1.0, np.ones(49)])
    with pytest.raises(DataValidationError):
        ToyNBD().fit(s, weights=np.ones(3))
    bad = s.copy()
    bad.iloc[3, bad.columns.get_loc("T")] = -1.0
    with pytest.raises(DataValidationError) as info:
        ToyNBD().fit(bad)
    assert info.value.column == "T" and 103 in info.value.examples


def test_not_fitted_and_from_params():
    with pytest.raises(NotFittedError):
        ToyNBD().expected_rate()
    with pytest.raises(NotFittedError):
        ToyNBD().log_likelihood(_summary(n=10))
    m = ToyNBD.from_params(r=0.5, alpha=10.0)
    assert m.expected_rate() == pytest.approx(0.05)
    with pytest.raises(NotFittedError, match="covariance"):
        m.sample_params(10)
    with pytest.raises(CLVError):
        ToyNBD.from_params(r=0.5)
    with pytest.raises(DataValidationError):
        ToyNBD.from_params(r=-0.5, alpha=1.0)


def test_from_params_scores_equal_fitted():
    s = _summary(n=500)
    m = ToyNBD().fit(s)
    m2 = ToyNBD.from_params(**m.params_.to_dict())
    pd.testing.assert_series_equal(m.log_likelihood(s), m2.log_likelihood(s))
    assert m.log_likelihood(s).sum() == pytest.approx(m.loglik_, rel=1e-12)
    assert list(m.log_likelihood(s).index) == list(s.index)


def test_clone_and_params():
    m = ToyNBD(penalizer_coef=0.1, initial_params={"r": 2.0})
    c = clone(m)
    assert c.get_params() == m.get_params()
    c.set_params(penalizer_coef=0.0)
    assert c.penalizer_coef == 0.0 and m.penalizer_coef == 0.1
    fitted = ToyNBD().fit(_summary(n=200))
    assert not hasattr(clone(fitted), "params_") or clone(fitted).__dict__.get("params_") is None


def test_penalizer_shrinks():
    s = _summary(n=500)
    plain = ToyNBD().fit(s)
    pen = ToyNBD(penalizer_coef=1e-3).fit(s)
    assert np.sum(pen.params_**2) < np.sum(plain.params_**2)
    assert pen.loglik_ < plain.loglik_


def test_save_load_roundtrip(tmp_path):
    s = RFMSummary.from_frame(_summary(n=500), time_unit="W")
    m = ToyNBD(penalizer_coef=0.0).fit(s)
    path = m.save(tmp_path / "toy.json")
    d = json.loads(path.read_text())
    assert d["model"] == "ToyNBD" and d["time_unit"] == "W" and d["data_summary"]["n_customers"] == 500
    for loaded in (ToyNBD.load(path), load_model(path)):
        assert type(loaded) is ToyNBD
        pd.testing.assert_series_equal(loaded.params_, m.params_)
        pd.testing.assert_frame_equal(loaded.cov_, m.cov_)
        assert loaded.loglik_ == m.loglik_ and loaded.time_unit_ == "W"
        pd.testing.assert_series_equal(loaded.log_likelihood(s), m.log_likelihood(s))
    # a summary in another unit is refused
    other = s.with_facts(time_unit="D")
    with pytest.raises(DataValidationError, match="time unit"):
        m.log_likelihood(other)
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(CLVError):
        load_model(tmp_path / "junk.json")


def test_sample_params_matches_covariance():
    m = ToyNBD().fit(_summary(n=3000))
    draws = m.sample_params(20000, random_state=np.random.default_rng(4))
    assert list(draws.columns) == ["r", "alpha"] and (draws > 0).all().all()
    np.testing.assert_allclose(draws.mean(), m.params_, rtol=0.02)
    np.testing.assert_allclose(draws.cov().to_numpy(), m.cov_.to_numpy(), rtol=0.1)
    again = m.sample_params(5, random_state=7)
    pd.testing.assert_frame_equal(again, m.sample_params(5, random_state=7))


def test_convergence_warning_on_degenerate_data():
    # no purchases at all: r/alpha -> 0, the estimate runs to the edge
    s = _summary(n=100)
    s["frequency"] = 0.0
    s["recency"] = 0.0
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = ToyNBD().fit(s)
    assert any(issubclass(w.category, ConvergenceWarning) and "time unit" in str(w.message) for w in rec)
    assert m.converged_ is False


def test_grid_helper_shapes():
    f = lambda n, t: n + t  # noqa: E731
    assert MLEModel._grid(f, 1, 2, "v", "n", "t") == 3.0
    s = MLEModel._grid(f, [0, 1, 2], 5, "v", "n", "t")
    assert isinstance(s, pd.Series) and s.index.name == "n" and list(s) == [5, 6, 7]
    s = MLEModel._grid(f, 1, [5, 6], "v", "n", "t")
    assert s.index.name == "t" and list(s) == [6, 7]
    df = MLEModel._grid(f, [0, 1], [5, 6, 7], "v", "n", "t")
    assert df.shape == (2, 3) and df.loc[1, 7] == 8


def _nbd_loglik_and_grad(r, alpha, x, T):
    ll = _nbd_loglik(r, alpha, x, T)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - np.log(alpha + T)
    d_alpha = r / alpha - (r + x) / (alpha + T)
    return ll, np.stack(np.broadcast_arrays(d_r, d_alpha))


class ToyNBDGrad(ToyNBD):
    math = types.SimpleNamespace(loglik=_nbd_loglik, loglik_and_grad=_nbd_loglik_and_grad)


def test_large_data_uses_newton_polish_and_matches_lbfgs():
    # above 50,000 distinct rows the base warm-starts on a sub-sample and polishes with Newton
    # steps (analytic-gradient models); the optimum must match a direct optimisation
    s = _summary(n=60_000, seed=9)
    s["T"] = s["T"] + np.random.default_rng(1).uniform(0, 1, len(s))  # make rows distinct
    big = ToyNBDGrad().fit(s)
    assert big.converged_ and "Newton" in big.fit_info_["message"]
    small = ToyNBD().fit(s)  # no gradient: L-BFGS with numerical derivatives
    np.testing.assert_allclose(big.params_, small.params_, rtol=1e-5)
    np.testing.assert_allclose(big.stderr_, small.stderr_, rtol=1e-4)
    objective = lambda th: -np.sum(_nbd_loglik(np.exp(th[0]), np.exp(th[1]), s["frequency"].to_numpy(),  # noqa: E731
                                               s["T"].to_numpy()))
    ref = optimize.minimize(objective, [0.0, 2.0], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-9, "maxiter": 5000})
    np.testing.assert_allclose(big.params_.to_numpy(), np.exp(ref.x), rtol=1e-5)


def test_large_bgnbd_fit_newton_with_analytic_hessian_matches_full_lbfgs():
    # > 50,000 distinct rows: sub-sample warm start, then Newton steps with the kernel's exact
    # Hessian (clvmodels.math.bgnbd.FamilyRows); same optimum as L-BFGS on all rows (started
    # elsewhere through initial_params, which skips the warm start), and the covariance equals
    # the inverse of a central-difference Hessian of the per-row log-likelihood.
    import clvmodels as clv
    from clvmodels.math import bgnbd as bg_math
    from clvmodels.simulate import bgnbd as bg_sim

    T = np.random.default_rng(4).uniform(1, 100, 60_000)
    s = bg_sim.simulate(r=0.5, alpha=6.0, a=0.8, b=2.5, T=T, random_state=6)
    newton = clv.BGNBD().fit(s)
    assert newton.converged_ and newton.fit_info_["message"] == "Newton polish converged"
    lbfgs = clv.BGNBD(initial_params={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}).fit(s)
    assert lbfgs.converged_ and "Newton" not in lbfgs.fit_info_["message"]
    np.testing.assert_allclose(newton.params_, lbfgs.params_, rtol=1e-6)
    assert newton.loglik_ == pytest.approx(lbfgs.loglik_, rel=1e-13)
    x, t_x, TT = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    assert newton.loglik_ == pytest.approx(float(np.sum(bg_math.loglik(*newton.params_, x, t_x, TT))), rel=1e-13)
    p0 = newton.params_.to_numpy()
    H = np.empty((4, 4))
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-5 * p0[k]
        H[:, k] = (bg_math.loglik_and_grad(*(p0 + h), x, t_x, TT)[1].sum(axis=1)
                   - bg_math.loglik_and_grad(*(p0 - h), x, t_x, TT)[1].sum(axis=1)) / (2 * h[k])
    cov = np.linalg.inv(-0.5 * (H + H.T))
    np.testing.assert_allclose(newton.cov_.to_numpy(), cov, rtol=1e-6)
    np.testing.assert_allclose(lbfgs.cov_.to_numpy(), cov, rtol=1e-6)


def test_unconfirmed_newton_step_that_misses_is_polished_further(monkeypatch):
    # a Newton step below _DEFER_STEP is taken without evaluating the new point; the final LL pass
    # checks the gradient there. With a huge threshold the very first step is deferred from far
    # away, the check fails, and Newton continues with evaluations: same optimum as usual.
    import clvmodels as clv
    from clvmodels.models import optimize as base
    from clvmodels.simulate import bgnbd as bg_sim

    T = np.random.default_rng(5).uniform(1, 100, 60_000)
    s = bg_sim.simulate(r=0.5, alpha=6.0, a=0.8, b=2.5, T=T, random_state=7)
    usual = clv.BGNBD().fit(s)
    monkeypatch.setattr(base, "_DEFER_STEP", 10.0)
    forced = clv.BGNBD().fit(s)
    assert forced.converged_ and forced.fit_info_["message"] == "Newton polish converged"
    np.testing.assert_allclose(forced.params_, usual.params_, rtol=1e-7)
    assert forced.loglik_ == pytest.approx(usual.loglik_, rel=1e-14)
    np.testing.assert_allclose(forced.cov_, usual.cov_, rtol=1e-6)
