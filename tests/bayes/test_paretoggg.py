"""Bayesian Pareto/GGG (clvmodels.bayes.ParetoGGG): the sampler against an independent posterior computation
(importance sampling with the collapsed likelihood of clvmodels.math.paretoggg), parameter recovery on simulated
regular data, predictions, diagnostics, persistence and typed errors. Seeds pin the data and the chains; the
assertions hold for any correct sampler (truth inside wide posterior intervals, Monte Carlo tolerances from the
measured ESS), not for one CPU's draws."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.bayes.paretoggg import ParetoGGG
from clvmodels.errors import ConfigError, InvalidValueError, MissingColumnError
from clvmodels.math import paretonbd
from clvmodels.math import paretoggg as pmath
from clvmodels.simulate import paretoggg as sim

# regular buyers (k ~ Gamma(9, 3): mean 3, cv 0.33), as in the simulations of Platzer & Reutterer (2016)
TRUTH = {"t": 9.0, "gamma": 3.0, "r": 1.5, "alpha": 3.0, "s": 0.6, "beta": 30.0}


def _fit(data, **kw):
    settings = dict(draws=400, tune=300, chains=2, thin=1, random_seed=11)     # thin=1: the short chains of before
    settings.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clv.errors.ConvergenceWarning)      # short chains: R-hat / ESS warnings
        return ParetoGGG(**settings).fit(data)


@pytest.fixture(scope="module")
def regular():
    data = sim.simulate(*TRUTH.values(), 52.0, n_customers=3000, holdout=26.0, individual=True, random_state=2016)
    model = _fit(data.drop(columns=["frequency_holdout", "k", "lambda", "mu", "alive"]))
    return data, model


# --------------------------------------------------------------------------------------------
# the sampler targets the right posterior
# --------------------------------------------------------------------------------------------
def test_customer_posterior_equals_importance_sampling_with_the_collapsed_likelihood():
    # population parameters pinned by very tight priors: each customer's posterior of (k, lambda, mu) is then
    # prior x the likelihood with the dropout time integrated out, computed here by importance sampling
    # from the prior - nothing of the sampler's augmentation (current gap, dropout time) is used
    pin = {"t": (3.0, 1.0), "r": (2.0, 4.0), "s": (1.5, 30.0)}          # shape, rate of k, lambda, mu
    priors = {"t": {"dist": "LogNormal", "mu": float(np.log(3.0)), "sigma": 1e-4},
              "gamma": {"dist": "Gamma", "alpha": 1e8, "beta": 1e8},
              "r": {"dist": "LogNormal", "mu": float(np.log(2.0)), "sigma": 1e-4},
              "alpha": {"dist": "Gamma", "alpha": 4e8, "beta": 1e8},
              "s": {"dist": "LogNormal", "mu": float(np.log(1.5)), "sigma": 1e-4},
              "beta": {"dist": "Gamma", "alpha": 3e9, "beta": 1e8}}
    # a non-buyer, a regular buyer who just bought, one silent for a long time, an irregular heavy buyer
    data = pd.DataFrame({"frequency": [0.0, 8.0, 8.0, 30.0], "recency": [0.0, 39.5, 16.0, 38.0],
                         "T": [40.0, 40.0, 40.0, 40.0],
                         "litt": [0.0, 8 * np.log(39.5 / 8) - 0.05, 8 * np.log(2.0) - 0.1, 30 * np.log(38 / 30) - 12]},
                        index=pd.Index(["none", "regular", "lapsed", "clumpy"], name="customer_id"))
    model = _fit(data, priors=priors, draws=3000, tune=500, chains=4, random_seed=5)
    post = model.idata_.posterior
    rng = np.random.default_rng(0)
    n = 400_000
    k = rng.gamma(pin["t"][0], 1 / pin["t"][1], n)
    lam = rng.gamma(pin["r"][0], 1 / pin["r"][1], n)
    mu = rng.gamma(pin["s"][0], 1 / pin["s"][1], n)
    for cid, row in data.iterrows():
        ll = pmath.loglik(k, lam, mu, row["frequency"], row["recency"], row["T"], row["litt"])
        w = np.exp(ll - ll.max())
        w /= w.sum()
        assert 1.0 / np.sum(w ** 2) > 2000, cid                          # enough effective importance draws
        pa = pmath.p_alive(k, lam, mu, row["frequency"], row["recency"], row["T"])
        ours_pa = model.p_alive(data.loc[[cid]]).to_numpy().ravel()
        for name, values, ref_values in (("k", post["k"].sel(customer_id=cid), k),
                                         ("lambda", post["lambda"].sel(customer_id=cid), lam),
                                         ("mu", post["mu"].sel(customer_id=cid), mu)):
            ref = float(np.sum(w * ref_values))
            ref_sd = float(np.sqrt(np.sum(w * (ref_values - ref) ** 2)))
            ess = float(az.ess(values.to_numpy().astype(float)))
            err = abs(float(values.mean()) - ref)
            assert err < 5 * ref_sd / np.sqrt(min(ess, 2000)) + 1e-3 * ref_sd, (cid, name, float(values.mean()), ref)
        ref_pa = float(np.sum(w * pa))
        assert abs(ours_pa.mean() - ref_pa) < 0.03, (cid, ours_pa.mean(), ref_pa)


# --------------------------------------------------------------------------------------------
# recovery, predictions, diagnostics
# --------------------------------------------------------------------------------------------
def test_parameters_are_recovered_on_simulated_regular_data(regular):
    data, model = regular
    post = model.idata_.posterior
    for name, true in TRUTH.items():
        draws = post[name].to_numpy().ravel()
        lo, hi = np.quantile(draws, [0.0025, 0.9975])
        assert lo <= true <= hi, (name, true, lo, hi)
    # the customers' regularity: posterior means of k track the true k of customers with many purchases
    k_mean = post["k"].mean(("chain", "draw")).to_pandas()
    many = data["frequency"] >= 10
    assert np.corrcoef(k_mean[many], data.loc[many, "k"])[0, 1] > 0.5
    lam_mean = post["lambda"].mean(("chain", "draw")).to_pandas()
    assert np.corrcoef(np.log(lam_mean[many]), np.log(data.loc[many, "lambda"]))[0, 1] > 0.9


def test_fit_result_has_the_shape_of_the_other_bayesian_models(regular):
    data, model = regular
    post = model.idata_.posterior
    assert set(ParetoGGG.param_names) | {"k", "lambda", "mu"} <= set(post.data_vars)
    assert post["k"].dims == ("chain", "draw", "customer_id") and post["t"].dims == ("chain", "draw")
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 400
    assert post["customer_id"].to_numpy().tolist() == data.index.tolist()
    assert list(model.diagnostics_.index) == list(ParetoGGG.param_names)
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(model.diagnostics_.columns)
    assert np.isfinite(model.diagnostics_.to_numpy()).all()
    table = model.summary()
    assert list(table.index) == list(ParetoGGG.param_names) and "r_hat" in table.columns
    assert list(model.params_.index) == list(ParetoGGG.param_names)
    assert model.sampling_time_ > 0


def test_p_alive_is_a_probability_and_separates_the_alive_from_the_gone(regular):
    data, model = regular
    pa = model.p_alive(draws_per_chain=100)
    assert pa.dims == ("chain", "draw", "customer_id") and pa.sizes["draw"] == 100
    values = pa.to_numpy()
    assert np.all((values >= 0) & (values <= 1))
    mean = pa.mean(("chain", "draw")).to_pandas()
    assert mean[data["alive"]].mean() > 0.8 > 0.3 > mean[~data["alive"]].mean()
    # among repeat buyers with the same number of purchases, a longer silence means less likely alive
    same = data[(data["frequency"] == 10)]
    silence = same["T"] - same["recency"]
    assert np.corrcoef(silence, mean[same.index])[0, 1] < -0.5


def test_expected_and_simulated_future_purchases_match_the_holdout(regular):
    data, model = regular
    exp = model.expected_purchases(t=26.0, draws_per_chain=100, random_seed=1)
    assert exp.dims == ("chain", "draw", "customer_id")
    per_customer = exp.mean(("chain", "draw")).to_pandas()
    actual = data["frequency_holdout"]
    assert abs(per_customer.sum() / actual.sum() - 1) < 0.1
    assert np.corrcoef(per_customer, actual)[0, 1] > 0.85
    sims = model.posterior_predictive(t=26.0, draws_per_chain=100, random_seed=1)
    assert np.all(sims.to_numpy() == np.floor(sims.to_numpy())) and sims.min() >= 0
    assert abs(float(sims.mean(("chain", "draw")).sum()) / actual.sum() - 1) < 0.1
    active = model.p_active(t=26.0, draws_per_chain=100, random_seed=1).mean(("chain", "draw")).to_pandas()
    assert np.all((active >= 0) & (active <= 1))
    assert active[actual > 0].mean() > active[actual == 0].mean()
    table = model.customer_summary(data.iloc[:20], t=26.0, random_seed=1)
    assert list(table.columns) == ["k", "lambda", "mu", "p_alive", "expected_purchases", "purchases_lower",
                                   "purchases_upper"]
    assert (table["purchases_lower"] <= table["purchases_upper"]).all()


def test_customers_outside_the_fit_are_scored_from_the_population_posterior(regular):
    # the fitted histories under new ids go through the new-history path (their own chains given each population
    # draw): they must get what the fit gave those histories, within Monte Carlo error
    data, model = regular
    fitted = data.iloc[:300].drop(columns=["frequency_holdout", "k", "lambda", "mu", "alive"])
    renamed = fitted.rename(index=lambda v: f"new-{v}")
    got = model.p_alive(renamed, draws_per_chain=200).mean(("chain", "draw")).to_numpy()
    want = model.p_alive(fitted, draws_per_chain=200).mean(("chain", "draw")).to_numpy()
    assert abs(got.mean() - want.mean()) < 0.01 and np.corrcoef(got, want)[0, 1] > 0.97
    ep_got = model.expected_purchases(renamed, t=10.0, draws_per_chain=200).mean(("chain", "draw")).to_numpy()
    ep_want = model.expected_purchases(fitted, t=10.0, draws_per_chain=200).mean(("chain", "draw")).to_numpy()
    assert abs(ep_got.sum() / ep_want.sum() - 1) < 0.02 and np.corrcoef(ep_got, ep_want)[0, 1] > 0.99
    # a customer asked twice, with others or alone, gets the same draws (its stream comes from its id)
    one = model.p_alive(renamed.iloc[[5]], draws_per_chain=50).to_numpy().ravel()
    many = model.p_alive(renamed.iloc[:20], draws_per_chain=50).sel(customer_id="new-5").to_numpy().ravel()
    assert np.array_equal(one, many)
    # a history that grew: T five weeks longer without a purchase lowers P(alive) for each of them
    later = fitted.iloc[:50].assign(T=fitted["T"].iloc[:50] + 5.0)
    pa_later = model.p_alive(later, draws_per_chain=200).mean(("chain", "draw")).to_numpy()
    assert (pa_later <= want[:50] + 0.05).all() and pa_later.mean() < want[:50].mean()
    # new histories need litt: a summary without it is a typed error naming the column and the customers
    with pytest.raises(MissingColumnError, match="new-0") as info:
        model.p_alive(renamed.drop(columns="litt"))
    assert info.value.column == "litt"
    model.p_alive(fitted.drop(columns="litt").iloc[:3])          # fitted histories do not need it


def test_same_seed_same_draws_and_netcdf_round_trip(tmp_path):
    data = sim.simulate(*TRUTH.values(), 40.0, n_customers=150, random_state=3)
    a = _fit(data, draws=50, tune=50, random_seed=7)
    b = _fit(data, draws=50, tune=50, random_seed=7)
    np.testing.assert_array_equal(a.idata_.posterior["r"].to_numpy(), b.idata_.posterior["r"].to_numpy())
    np.testing.assert_array_equal(a.idata_.posterior["mu"].to_numpy(), b.idata_.posterior["mu"].to_numpy())
    path = a.save(tmp_path / "pggg.nc")
    assert type(clv.load_model(path)) is ParetoGGG and type(clv.bayes.load(path)) is ParetoGGG
    loaded = ParetoGGG.load(path)
    assert loaded.get_params() == a.get_params()
    pd.testing.assert_series_equal(loaded.params_, a.params_)
    np.testing.assert_allclose(loaded.p_alive(data.iloc[:5]).to_numpy(), a.p_alive(data.iloc[:5]).to_numpy())


def test_chosen_thinning_keeps_the_same_draws_as_that_thinning_set_by_hand():
    # thin=None: each chain thins its pilot rows in place once it has chosen (and again if it doubles the thinning
    # at the end); the draws must be exactly those of a fit with the final thinning given (same seed), and the
    # choice is recorded per chain
    data = sim.simulate(*TRUTH.values(), 40.0, n_customers=400, random_state=5)
    auto = _fit(data, draws=300, tune=200, thin=None, random_seed=3)
    assert len(auto.thin_) == 2 and all(v >= 1 for v in auto.thin_)
    assert auto.idata_.posterior.attrs["clvmodels_thin"] == list(auto.thin_)
    # the check at the end: each chain's own draws hold at least min(250, draws / 4) effective draws of every
    # population parameter (autocorrelation time of the draws <= 4 here), unless the thinning hit its cap
    from clvmodels.bayes import _pggg_sampler as S
    for c, th in enumerate(auto.thin_):
        logs = np.log(np.column_stack([auto.idata_.posterior[p].to_numpy()[c] for p in auto.param_names]))
        assert S.max_autocorr_time(logs) <= 300 / 75 or 2 * th > 100, (c, th)
    for c, th in enumerate(auto.thin_):
        fixed = _fit(data, draws=300, tune=200, thin=th, random_seed=3)
        assert fixed.thin_ == (th, th)
        for name in ("t", "k"):
            np.testing.assert_array_equal(auto.idata_.posterior[name].to_numpy()[c],
                                          fixed.idata_.posterior[name].to_numpy()[c])


def test_autocorrelation_time_of_the_pilot_matches_an_ar1_series():
    # the pilot's estimate of the integrated autocorrelation time: an AR(1) series with coefficient phi has
    # tau = (1 + phi) / (1 - phi) (19 at 0.9, 1 for white noise)
    from scipy.signal import lfilter

    from clvmodels.bayes import _pggg_sampler as S
    rng = np.random.default_rng(4)
    for phi, tau in ((0.9, 19.0), (0.5, 3.0), (0.0, 1.0)):
        v = lfilter([1.0], [1.0, -phi], rng.standard_normal(1_000_000))      # sd of the estimate ~1.6% at 0.9
        assert S.autocorr_time(v) == pytest.approx(tau, rel=0.06)
        # max over columns: the slowest parameter
        both = np.column_stack([rng.standard_normal(v.size), v])
        assert S.max_autocorr_time(both) == pytest.approx(tau, rel=0.06)


def test_population_predictive_check_runs(regular):
    _, model = regular
    table = model.posterior_predictive_check(n_draws=40, random_seed=1)
    assert list(table.columns) == ["observed", "predicted_mean", "predicted_lower", "predicted_upper", "inside"]
    assert table["inside"].sum() >= 4


# --------------------------------------------------------------------------------------------
# the simulator
# --------------------------------------------------------------------------------------------
def test_simulator_at_k_one_is_the_pareto_nbd():
    # k ~ Gamma(1e6, 1e6): k = 1 for everybody, the Pareto/NBD; E[X(T)] of a new customer (Fader, Hardie &
    # Lee 2005 note, eq. for E[X(t)]) at r=0.55, alpha=10.6, s=0.61, beta=11.7 (the CDNOW estimates)
    data = sim.simulate(1e6, 1e6, 0.55, 10.6, 0.61, 11.7, 39.0, n_customers=40_000, random_state=5)
    expected = float(paretonbd.expected_purchases_new(0.55, 10.6, 0.61, 11.7, 39.0))
    sd = data["frequency"].std() / np.sqrt(len(data))
    assert abs(data["frequency"].mean() - expected) < 4 * sd


# --------------------------------------------------------------------------------------------
# typed errors
# --------------------------------------------------------------------------------------------
def test_bad_input_raises_typed_errors_naming_the_culprit():
    data = sim.simulate(*TRUTH.values(), 40.0, n_customers=50, random_state=1)
    with pytest.raises(MissingColumnError, match=r"rfm_summary\(transactions, \.\.\., litt=True\)") as info:
        ParetoGGG().fit(data.drop(columns="litt"))
    assert info.value.column == "litt"
    bad = data.copy()
    first_none = bad.index[bad["frequency"] == 0][0]
    bad.loc[first_none, "litt"] = 1.0
    with pytest.raises(InvalidValueError) as info:
        ParetoGGG().fit(bad)
    assert info.value.column == "litt" and first_none in info.value.examples
    neg = data.copy()
    neg.iloc[3, neg.columns.get_loc("T")] = -1.0
    with pytest.raises(InvalidValueError) as info:
        ParetoGGG().fit(neg)
    assert info.value.column in ("T", "recency")
    with pytest.raises(ConfigError) as info:
        ParetoGGG(draws=0).fit(data)
    assert info.value.key == "draws"
    with pytest.raises(ConfigError) as info:
        ParetoGGG(priors={"alpha": {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0}}).fit(data)
    assert info.value.key == "priors.alpha"
    with pytest.raises(ConfigError) as info:
        ParetoGGG(priors={"k": {"dist": "Gamma", "alpha": 1.0, "beta": 1.0}}).fit(data)
    assert info.value.key == "priors.k"
    with pytest.raises(ConfigError) as info:
        ParetoGGG().fit(data, weights=np.ones(len(data)))
    assert info.value.key == "weights"
    with pytest.raises(clv.errors.NotFittedError):
        ParetoGGG().p_alive()
