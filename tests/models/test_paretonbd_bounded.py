"""Issue 16, item 15: a Pareto/NBD fit on 2,000 simulated customers "effectively hangs" (a constant-T
cohort 240 s, 1% repeat buyers > 290 s on the numerical-gradient fit) where BG/NBD takes under a second.
The fit must be bounded and say how it ended: converged with a finite log-likelihood, or not converged
with a ConvergenceWarning naming why. (No wall-clock assertions: the bound is the iteration count.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import clvmodels as clv
from clvmodels.errors import ConvergenceWarning
from clvmodels.math import paretonbd as pnbd_math
from clvmodels.models.optimize import RUNAWAY_FACTOR, RUNAWAY_GAIN, LogLik, ParameterTransform, maximize_loglik
from clvmodels.simulate import paretonbd as simulate

MAX_ITER = 200


def _total_loglik(params, summary) -> float:
    x, t_x, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    return float(np.sum(pnbd_math.loglik(*params, x, t_x, T)))


def test_constant_t_cohort_converges_to_a_finite_optimum():
    # 2,000 customers all observed for 39 weeks, drawn from the FHL (2005) CDNOW estimates: a
    # well-posed fit, which the stop on runs towards the edge must leave alone
    data = simulate.simulate(0.553, 10.578, 0.606, 11.669, 39.0, n_customers=2000, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = clv.ParetoNBD(max_iter=MAX_ITER).fit(data)
    assert model.converged_ is True and model.fit_info_["boundary"] == []
    assert model.fit_info_["n_iter"] <= MAX_ITER
    assert np.all(np.isfinite(model.params_)) and np.isfinite(model.loglik_)
    # a maximum: at least the likelihood of the parameters that generated the data, and it is the
    # likelihood of the returned parameters
    assert model.loglik_ >= _total_loglik((0.553, 10.578, 0.606, 11.669), data)
    assert model.loglik_ == pytest.approx(_total_loglik(model.params_.to_numpy(), data), rel=1e-12)
    assert np.all(np.isfinite(model.stderr_))


def _assert_stopped_on_the_ridge(model, record, data):
    """A fit stopped on Pareto/NBD's s, beta -> infinity ridge says so and is usable."""
    message = str(record[0].message)
    assert "same dropout rate s / beta" in message and "kept running towards infinity" in message
    assert model.converged_ is False
    assert {"s", "beta"} <= set(model.fit_info_["boundary"])
    # stopped by the run towards the edge, far before the iteration cap
    assert model.fit_info_["n_iter"] < MAX_ITER / 4
    assert np.all(np.isfinite(model.params_)) and np.isfinite(model.loglik_)
    r, alpha, s, beta = model.params_.to_numpy()
    # (the fit's evaluator and the guarded math agree to ~1e-11 here: terms of size s log(beta) cancel)
    assert model.loglik_ == pytest.approx(_total_loglik((r, alpha, s, beta), data), rel=1e-9)
    # the limiting model is (practically) reached: 100 times further along the ridge the likelihood
    # differs by less than the stopping rule's RUNAWAY_GAIN
    further = _total_loglik((r, alpha, 100.0 * s, 100.0 * beta), data)
    assert abs(further - model.loglik_) < RUNAWAY_GAIN
    # the limiting model still predicts
    assert np.all(np.isfinite(model.expected_purchases(data, 10.0)))
    assert np.all(np.isfinite(model.p_alive(data)))


@pytest.mark.slow   # ~5 s of CPU each: 25-30 evaluations where beta / alpha > 50 (quadrature)
def test_constant_t_cohort_with_little_attrition_stops_on_the_flat_ridge_and_says_so():
    # 2,000 customers all observed for 52 weeks, with a mean lifetime of 330 weeks (s = 0.606,
    # beta = 200): few visible dropouts, and the likelihood rises ever more slowly as s and beta run
    # to infinity together (the numerical-gradient fit ran for minutes on such a cohort)
    data = simulate.simulate(0.553, 10.578, 0.606, 200.0, 52.0, n_customers=2000, random_state=1)
    with pytest.warns(ConvergenceWarning, match="no finite maximum-likelihood estimate") as record:
        model = clv.ParetoNBD(max_iter=MAX_ITER).fit(data)
    _assert_stopped_on_the_ridge(model, record, data)


@pytest.mark.slow   # ~5 s of CPU each: 25-30 evaluations where beta / alpha > 50 (quadrature)
def test_one_percent_repeat_buyers_stop_on_the_flat_ridge_and_say_so():
    # 2,000 customers with ages of 1-39 weeks, 19 of whom (0.95%) bought again: the likelihood keeps
    # rising, ever more slowly, as s and beta run to infinity together (a common dropout rate s / beta)
    T = np.random.default_rng(3).uniform(1, 39, 2000)
    data = simulate.simulate(0.04, 50.0, 0.606, 11.669, T, random_state=3)
    assert (data["frequency"] > 0).sum() == 19
    with pytest.warns(ConvergenceWarning, match="no finite maximum-likelihood estimate") as record:
        model = clv.ParetoNBD(max_iter=MAX_ITER).fit(data)
    _assert_stopped_on_the_ridge(model, record, data)


def test_the_optimiser_stops_a_run_towards_infinity_along_a_flat_likelihood():
    # LL(p) = -1 / p rises for ever as p -> infinity (no maximum); the optimiser stops once p has
    # grown RUNAWAY_FACTOR times over RUNAWAY_WINDOW iterations for a gain below RUNAWAY_GAIN
    def make(cols, w):
        def value_grad(p):
            return -1.0 / p[0], np.array([1.0 / p[0] ** 2])
        return LogLik(value=lambda p: value_grad(p)[0], value_grad=value_grad, total_weight=1.0)

    opt = maximize_loglik(make, (np.zeros(1),), np.ones(1), (np.zeros(1),), np.zeros(1),
                          ParameterTransform([(0.0, np.inf)]), np.ones(1), tol=1e-10, max_iter=1000, names=("p",))
    assert opt.result.success is False and opt.result.runaway == ["p"]
    assert any("p kept running towards infinity" in problem for problem in opt.problems)
    assert opt.result.nit < 1000
    # stopped where p grew RUNAWAY_FACTOR (4) times for a gain 1/p0 - 1/p < RUNAWAY_GAIN: so 3/p < RUNAWAY_GAIN
    assert opt.params[0] >= 1e2 and 1.0 / opt.params[0] < RUNAWAY_GAIN / (RUNAWAY_FACTOR - 1.0)
