"""The temporal gradient-boosting baseline under strong attrition (BG/NBD-simulated logs).

The baseline used to train on a window of length h shorter than the holdout H and scale its
prediction by H / h, as if purchase rates were constant: with customers dropping out it
over-predicted the holdout by tens of percent (+61% and +110% on two apparel-like data sets, where
the BTYD models were within 10-20%). These tests simulate such data, where the truth is known to
be a BG/NBD process, in the two shapes the method handles: a calibration period shorter than
the holdout (the extrapolation covers ages never observed) and a longer one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.evaluate import GradientBoostingBaseline

START = pd.Timestamp("2020-01-06")
# weekly purchase rates Gamma(r=0.8, alpha=8) (mean 0.1 a week), dropout after each repeat
# purchase with p ~ Beta(1.2, 2.5) (mean 0.32: about 3 repeat purchases in a lifetime)
STRONG_ATTRITION = {"r": 0.8, "alpha": 8.0, "a": 1.2, "b": 2.5}


def simulate_bgnbd_log(n: int, *, r: float, alpha: float, a: float, b: float, weeks: float, birth_weeks: float,
                       seed: int) -> pd.DataFrame:
    """Transaction log of a BG/NBD process (Fader, Hardie & Lee 2005, section 2).

    Customer i buys at Poisson rate lambda_i ~ Gamma(r, rate alpha) per week while alive and, after
    each repeat purchase, drops out with probability p_i ~ Beta(a, b). First purchases are uniform
    over the first ``birth_weeks`` weeks; the log stops after ``weeks`` weeks. Amounts: a
    customer-level mean spend ~ Gamma(4, scale 10) and Gamma(8, mean / 8) around it.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    spend = rng.gamma(4.0, 10.0, n)
    t = rng.uniform(0.0, birth_weeks, n)
    who, when = [np.arange(n)], [t.copy()]
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1.0, n) / lam
        alive &= t < weeks
        who.append(np.flatnonzero(alive))
        when.append(t[alive])
        alive &= rng.random(n) >= p
    who, when = np.concatenate(who), np.concatenate(when)
    return pd.DataFrame({"customer_id": who,
                         "date": START + pd.to_timedelta(np.floor(when * 7).astype(np.int64), unit="D"),
                         "amount": np.round(rng.gamma(8.0, spend[who] / 8.0) + 0.01, 2)})


def _split(calibration_weeks: int, holdout_weeks: int, seed: int, n: int = 5000):
    tx = simulate_bgnbd_log(n, **STRONG_ATTRITION, weeks=calibration_weeks + holdout_weeks, birth_weeks=8, seed=seed)
    cal_end = START + pd.Timedelta(days=7 * calibration_weeks - 1)
    obs_end = START + pd.Timedelta(days=7 * (calibration_weeks + holdout_weeks) - 1)
    return tx, clv.calibration_holdout(tx, calibration_end=cal_end, observation_end=obs_end, time_unit="W")


def _aggregate_error(pred, summary) -> float:
    actual = summary["frequency_holdout"].sum()
    return 100.0 * (np.sum(pred) - actual) / actual


def _errors(tx, summary):
    base = GradientBoostingBaseline()
    pred = base.fit_predict(summary, tx)
    bgnbd = clv.BGNBD().fit(summary).expected_purchases(summary, t=summary["duration_holdout"].iloc[0])
    revenue = (summary["frequency_holdout"] * summary["monetary_value_holdout"]).sum()
    revenue_error = 100.0 * (pred["expected_revenue"].sum() - revenue) / revenue
    return base, _aggregate_error(pred["expected_purchases"], summary), _aggregate_error(bgnbd, summary), revenue_error


# Tolerances. Over 12 simulated data sets of each shape (5,000 customers, seeds 0-11) the
# aggregate errors were, in root mean square / worst case:
#   26-week calibration, 52-week holdout: BG/NBD 8% / 21%, this baseline 15% / 25%, the former
#       baseline (H / h scaling) +60% on average, from +5% to +106%;
#   45-week calibration, 39-week holdout: BG/NBD 4% / 6%, this baseline 5% / 12%, the former
#       baseline +37% on average, from +11% to +55%.
# The short calibration leaves the curve's shape loosely determined (the holdout reaches ages
# three times those observed), hence the wider tolerance there.

def test_calibration_shorter_than_holdout():
    tx, summary = _split(26, 52, seed=3)
    base, error, bgnbd_error, revenue_error = _errors(tx, summary)
    assert abs(bgnbd_error) < 20      # measured +8.0%: the data are what BG/NBD describes
    # measured +11.5% (revenue +15%); the former H / h scaling: +71%
    assert abs(error) < 30
    assert abs(revenue_error) < 30
    assert base.window_ < 52 and base.horizon_ratio_ == pytest.approx(52 / base.window_)
    assert base.extrapolation_ < base.horizon_ratio_   # attrition: less than a constant rate would give
    assert base.decay_hazard_ > 0 and base.decay_shape_ > 0


def test_calibration_longer_than_holdout():
    tx, summary = _split(45, 39, seed=3)
    base, error, bgnbd_error, revenue_error = _errors(tx, summary)
    assert abs(bgnbd_error) < 20      # measured +5.3%
    # measured +5.2% (revenue +4%); the former H / h scaling: +53%
    assert abs(error) < 25
    assert abs(revenue_error) < 25
    cal_end = summary.calibration_end
    assert base.training_cutoff_ == cal_end - pd.Timedelta(days=round(base.window_ * 7))
    assert base.window_ < 39 and base.extrapolation_ < base.horizon_ratio_


def test_cumulative_rate_is_the_integral_of_the_rate():
    from scipy.integrate import quad

    from clvmodels.evaluate.baseline import _cumulative_rate

    for hazard, shape in [(0.1, 0.4), (0.05, 1.0), (0.2, 3.0), (0.01, 500.0)]:
        for age in (0.5, 7.0, 80.0):
            exact = quad(lambda u, k=hazard, s=shape: (1 + k * u / s) ** -s, 0, age)[0]
            assert _cumulative_rate(age, hazard, shape) == pytest.approx(exact, rel=1e-9)
    assert _cumulative_rate(-3.0, 0.1, 2.0) == 0.0
    # shape -> infinity: one exponential decay
    assert _cumulative_rate(30.0, 0.05, 1e8) == pytest.approx((1 - np.exp(-1.5)) / 0.05, rel=1e-6)


def test_decay_fit_recovers_a_known_curve():
    from clvmodels.evaluate.baseline import _cumulative_rate, _fit_age_decay

    # repeat purchases by age drawn from a Poisson process with rate 0.02 (1 + k a / s) ** -s per day
    hazard, shape, rate0 = 0.01, 1.5, 0.02
    rng = np.random.default_rng(7)
    n = 20_000
    exposure = rng.integers(100, 400, n)
    mass = _cumulative_rate(exposure, hazard, shape)
    counts = rng.poisson(rate0 * mass)
    who = np.repeat(np.arange(n), counts)
    g = rng.uniform(0.0, 1.0, who.size) * mass[who]          # invert G at uniform shares of G(exposure)
    age = (shape / hazard) * ((1 + (1 - shape) * hazard * g / shape) ** (1 / (1 - shape)) - 1)
    cal_end = pd.Timestamp("2021-12-31")
    birth = cal_end - pd.to_timedelta(exposure, unit="D")
    tx = pd.DataFrame({"customer_id": np.concatenate([np.arange(n), who]),
                       "date": np.concatenate([birth.to_numpy(),
                                               (birth[who] + pd.to_timedelta(np.ceil(age), unit="D")).to_numpy()])})
    tx = tx[tx["date"] <= cal_end]
    summary = clv.calibration_holdout(tx, cal_end, cal_end + pd.Timedelta(days=1), amount_col=None)
    fitted_hazard, fitted_shape = _fit_age_decay(tx, summary, cal_end)
    # what matters is the curve: compare the extrapolated mass over the next year, not the raw parameters
    for a0 in (100.0, 400.0):
        true = _cumulative_rate(a0 + 365, hazard, shape) - _cumulative_rate(a0, hazard, shape)
        got = _cumulative_rate(a0 + 365, fitted_hazard, fitted_shape) - _cumulative_rate(a0, fitted_hazard, fitted_shape)
        true /= _cumulative_rate(a0, hazard, shape)
        got /= _cumulative_rate(a0, fitted_hazard, fitted_shape)
        assert got == pytest.approx(true, rel=0.1)
