"""clv.ShiftedBetaGeo: Fader & Hardie (2007) cohorts, several cohorts, recovery, JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from clvmodels.errors import ConfigError, DataValidationError, InvalidValueError, NotFittedError
from clvmodels.math import sbg as sbg_math
from clvmodels import load_model
from clvmodels.models.sbg import ShiftedBetaGeo
from clvmodels.simulate.sbg import simulate

# Fader & Hardie (2007), "How to Project Customer Retention", J. Interactive Marketing 21(1):
# survivors per year 0-7 (calibration period) of the "regular" and "high end" cohorts and the
# published estimates high end alpha=0.668, beta=3.806; regular alpha=0.704, beta=1.182
# (high-end customers renew more).
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


@pytest.mark.parametrize("survivors,alpha,beta", [(HIGH_END, 0.668, 3.806), (REGULAR, 0.704, 1.182)])
def test_reproduces_fader_hardie_2007(survivors, alpha, beta):
    m = ShiftedBetaGeo().fit(survivors)
    assert m.params_["alpha"] == pytest.approx(alpha, abs=1e-3)
    assert m.params_["beta"] == pytest.approx(beta, abs=1e-3)
    assert m.converged_ and np.all(m.stderr_ > 0)
    assert m.loglik_ == pytest.approx(sbg_math.loglik(*m.params_, survivors), rel=1e-14)
    assert m.n_obs_ == 1000
    # loose sanity check of the in-sample fit (our own bound, not a published number): the
    # fitted survivor curve stays within 4% of the observed counts
    fitted = m.expected_survivors(range(8), initial=1000)
    assert np.max(np.abs(fitted.to_numpy() / np.array(survivors) - 1)) < 0.04


def test_predictions_by_period():
    m = ShiftedBetaGeo.from_params(alpha=0.668, beta=3.806)
    s = m.survival(range(13))
    assert s.index.name == "period" and list(s.index) == list(range(13)) and s.iloc[0] == 1.0
    r = m.retention([1, 2, 3])
    np.testing.assert_allclose(r, [(3.806 + t - 1) / (0.668 + 3.806 + t - 1) for t in (1, 2, 3)], rtol=1e-14)
    assert isinstance(m.survival(5), float)
    assert m.p_churn_at(range(1, 4)).sum() == pytest.approx(1 - m.survival(3), rel=1e-12)
    d = m.derl([0, 1, 5], discount_rate=0.1)
    assert d.index.name == "n_renewals" and d.is_monotonic_increasing  # survivors are the loyal ones
    with pytest.raises(InvalidValueError):
        m.retention(0)
    with pytest.raises(ConfigError, match="discount_rate"):
        m.derl(1, discount_rate=-0.1)


def test_several_cohorts_share_parameters():
    frame = pd.DataFrame([HIGH_END, REGULAR[:6] + [np.nan, np.nan]], index=["high_end", "young"])
    m = ShiftedBetaGeo().fit(frame)
    assert m.data_summary_ == {"n_customers": 2000.0, "n_cohorts": 2, "n_periods": 7}

    def nll(theta):
        a, b = np.exp(theta)
        return -(sbg_math.loglik(a, b, HIGH_END) + sbg_math.loglik(a, b, REGULAR[:6]))

    res = optimize.minimize(nll, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    np.testing.assert_allclose(m.params_, np.exp(res.x), rtol=1e-5)
    assert m.loglik_ == pytest.approx(-res.fun, rel=1e-10)
    # two identical cohorts = one cohort with the counts doubled = the same estimate
    twice = ShiftedBetaGeo().fit(pd.DataFrame([HIGH_END, HIGH_END]))
    doubled = ShiftedBetaGeo().fit([2 * v for v in HIGH_END])
    single = ShiftedBetaGeo().fit(HIGH_END)
    np.testing.assert_allclose(twice.params_, single.params_, rtol=1e-6)
    np.testing.assert_allclose(doubled.params_, single.params_, rtol=1e-6)
    assert twice.loglik_ == pytest.approx(2 * single.loglik_, rel=1e-10)


def test_bad_survivors():
    with pytest.raises(InvalidValueError, match="increase"):
        ShiftedBetaGeo().fit([1000, 900, 950])
    with pytest.raises(InvalidValueError):
        ShiftedBetaGeo().fit([1000])
    with pytest.raises(InvalidValueError, match="gaps"):
        ShiftedBetaGeo().fit(pd.DataFrame([[1000, np.nan, 800]]))
    with pytest.raises(DataValidationError):
        ShiftedBetaGeo().fit([0, 0, 0])
    with pytest.raises(NotFittedError):
        ShiftedBetaGeo().survival(3)


def test_parameter_recovery_from_simulated_cohort():
    truth = (0.7, 3.8)
    surv = simulate(*truth, n_customers=50_000, n_periods=10, random_state=5)
    assert surv[0] == 50_000 and np.all(np.diff(surv) <= 0)
    m = ShiftedBetaGeo().fit(surv)
    for name, value in zip(("alpha", "beta"), truth):
        assert abs(m.params_[name] - value) < 4 * m.stderr_[name], name


def test_save_load_roundtrip(tmp_path):
    m = ShiftedBetaGeo().fit(REGULAR)
    back = load_model(m.save(tmp_path / "sbg.json"))
    assert isinstance(back, ShiftedBetaGeo)
    pd.testing.assert_series_equal(back.params_, m.params_)
    pd.testing.assert_series_equal(back.survival(range(10)), m.survival(range(10)))
    assert back.loglik_ == m.loglik_
    assert back.sample_params(5, random_state=1).shape == (5, 2)
