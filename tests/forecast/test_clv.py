"""forecast_clv / residual_clv: economics, exact units, churn definitions, DERT limits, intervals.

Reference values are computed independently of the forecasting engine: from the model classes'
own predictions (expected_purchases at each period end, p_alive, expected_spend), from mpmath
hypergeometric functions, or from closed forms cited in each test.
"""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels.errors import CLVWarning, ConfigError, DataValidationError, InvalidValueError, MissingColumnError
from clvmodels.forecast import residual_clv
from clvmodels.math import paretonbd as pnbd_math

WEEKS_PER_MONTH = 365.25 / 12 / 7
MONTH = dict(horizon=12, period="M")


def _v(annual: float, K: int, periods_per_year: float = 12.0) -> np.ndarray:
    # end-of-period factors (1 + d)^-k with (1 + d)^periods_per_year = 1 + annual
    return (1.0 + annual) ** (-np.arange(1, K + 1) / periods_per_year)


def _discounted_purchases(model, s, steps, v):
    cum = np.column_stack([model.expected_purchases(s, t).to_numpy() for t in steps])
    inc = np.diff(cum, axis=1, prepend=0.0)
    return inc @ v, cum[:, -1]


# --------------------------------------------------------------------------------------------
# economics: the three identities of the issue
# --------------------------------------------------------------------------------------------
def test_margin_one_no_costs_is_discounted_expected_revenue(cdnow, bg, gg):
    fc = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.10, margin=1.0, interval=None)
    steps = WEEKS_PER_MONTH * np.arange(1, 13)
    disc, total = _discounted_purchases(bg, cdnow, steps, _v(0.10, 12))
    spend = gg.expected_spend(cdnow).to_numpy()
    np.testing.assert_allclose(fc["clv"], spend * disc, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fc["expected_revenue"], spend * total, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fc["expected_purchases"], total, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fc["p_alive"], bg.p_alive(cdnow), rtol=1e-13)


def test_margin_scales_clv_globally_per_customer_and_by_segment(cdnow, bg, gg):
    base = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.10, margin=1.0, interval=None)["clv"]
    fc = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.10, margin=0.37, interval=None)
    np.testing.assert_allclose(fc["clv"], 0.37 * base, rtol=1e-13)
    s = cdnow.copy()
    s["m"] = np.linspace(-0.2, 0.9, len(s))          # negative margins are allowed
    s["segment"] = np.where(s["frequency"] > 2, "loyal", "casual")
    fc_col = clv.forecast_clv(s, bg, gg, **MONTH, discount_rate=0.10, margin="m", interval=None)
    np.testing.assert_allclose(fc_col["clv"], s["m"] * base, rtol=1e-13, atol=1e-15)
    assert (fc_col["clv"] < 0).any()
    fc_seg = clv.forecast_clv(s, bg, gg, **MONTH, discount_rate=0.10, margin={"loyal": 0.4, "casual": 0.25},
                              margin_by="segment", interval=None)
    expect = np.where(s["segment"] == "loyal", 0.4, 0.25) * base
    np.testing.assert_allclose(fc_seg["clv"], expect, rtol=1e-13)
    fc_ser = clv.forecast_clv(s, bg, gg, **MONTH, discount_rate=0.10, margin=s["m"].iloc[::-1], interval=None)
    np.testing.assert_allclose(fc_ser["clv"], fc_col["clv"], rtol=1e-15)


def _bg_alive_at(bg, s, t, rows):
    """P(alive at T+t | history) = P(alive) 2F1(r+x, a; a+b+x; -t/(alpha+T)) (mpmath)."""
    r, al, a, b = (float(bg.params_[k]) for k in ("r", "alpha", "a", "b"))
    pa = bg.p_alive(s).to_numpy()
    out = []
    for i in rows:
        x, T = float(s["frequency"].iloc[i]), float(s["T"].iloc[i])
        out.append(pa[i] * float(mp.hyp2f1(r + x, a, a + b + x, -t / (al + T))))
    return np.array(out)


def test_cost_per_active_period_is_discounted_alive_periods_times_cost(cdnow, bg, gg):
    # An alive period is one at whose end the customer is alive: the cost lowers CLV by exactly
    # cost * sum_k (1+d)^-k P(alive at T + k tau | history).
    kw = dict(**MONTH, discount_rate=0.10, margin=0.3, interval=None)
    c = 0.85
    base = clv.forecast_clv(cdnow, bg, gg, **kw)
    fc = clv.forecast_clv(cdnow, bg, gg, **kw, cost_per_active_period=c)
    rows = list(range(0, 40)) + [int(np.argmax(cdnow["frequency"].to_numpy()))]
    v = _v(0.10, 12)
    alive = np.column_stack([_bg_alive_at(bg, cdnow, WEEKS_PER_MONTH * k, rows) for k in range(1, 13)])
    drop = c * (alive @ v)
    np.testing.assert_allclose((base["clv"] - fc["clv"]).to_numpy()[rows], drop, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose((base["expected_margin"] - fc["expected_margin"]).to_numpy()[rows],
                               c * alive.sum(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fc["p_alive_at_horizon"].to_numpy()[rows], alive[:, -1], rtol=1e-9, atol=1e-13)


def test_cost_per_active_period_pareto_nbd_closed_form(cdnow, pnbd):
    # Pareto/NBD: P(alive at T+t | history) = P(alive) ((beta+T)/(beta+T+t))^s (exponential lifetimes)
    kw = dict(horizon=26, period="W", discount_rate=0.15, margin=0.5, interval=None)
    s = cdnow.iloc[:300]
    base = clv.forecast_clv(s, pnbd, 30.0, **kw)
    fc = clv.forecast_clv(s, pnbd, 30.0, **kw, cost_per_active_period=2.0)
    pa = pnbd.p_alive(s).to_numpy()[:, None]
    T = s["T"].to_numpy()[:, None]
    t = np.arange(1, 27)[None, :]
    alive = pa * ((11.669 + T) / (11.669 + T + t)) ** 0.606
    np.testing.assert_allclose(base["clv"] - fc["clv"], 2.0 * alive @ _v(0.15, 26, 365.25 / 7), rtol=1e-11)


def test_cost_per_order_and_retention_cost(cdnow, bg, gg):
    kw = dict(**MONTH, discount_rate=0.10, margin=0.3, interval=None)
    base = clv.forecast_clv(cdnow, bg, gg, **kw)
    fc = clv.forecast_clv(cdnow, bg, gg, **kw, cost_per_order=4.0, retention_cost=1.5)
    steps = WEEKS_PER_MONTH * np.arange(1, 13)
    disc, total = _discounted_purchases(bg, cdnow, steps, _v(0.10, 12))
    np.testing.assert_allclose(base["clv"] - fc["clv"], 4.0 * disc + 1.5, rtol=1e-10)
    np.testing.assert_allclose(base["expected_margin"] - fc["expected_margin"], 4.0 * total + 1.5, rtol=1e-10)
    assert (fc["clv"] < 0).any()  # economics after the spend model: margin-destroying customers exist


def test_without_discounting_clv_is_the_expected_margin(cdnow, bg, gg):
    fc = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.0, margin=0.3, cost_per_order=1.0,
                          cost_per_active_period=0.2, retention_cost=0.5, interval=None)
    np.testing.assert_allclose(fc["clv"], fc["expected_margin"], rtol=1e-12, atol=1e-12)


def test_cash_flows_follow_the_model_and_sum_to_clv(cdnow, bg, gg):
    s = cdnow.iloc[:50]
    fc, cf = clv.forecast_clv(s, bg, gg, **MONTH, discount_rate=0.10, margin=0.3, cost_per_order=1.0,
                              cost_per_active_period=0.5, retention_cost=2.0, interval=None, return_cash_flows=True)
    assert list(cf.columns) == list(clv.forecast.CASH_FLOW_COLUMNS)
    assert len(cf) == 50 * 13 and (cf.groupby("customer_id").size() == 13).all()
    by = cf.groupby("customer_id", sort=False)
    np.testing.assert_allclose(by["discounted_margin"].sum().reindex(fc.index), fc["clv"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(by["expected_purchases"].sum().reindex(fc.index), fc["expected_purchases"], rtol=1e-12)
    np.testing.assert_allclose(by["expected_margin"].sum().reindex(fc.index), fc["expected_margin"], rtol=1e-12)
    first = cf[cf["period"] == 0]
    assert (first["retention_cost"] == 2.0).all() and (first["discount_factor"] == 1.0).all()
    # not a flat profit per year: expected purchases per period follow the model (they decline)
    one = cf[(cf["customer_id"] == 1) & (cf["period"] > 0)]
    steps = WEEKS_PER_MONTH * np.arange(1, 13)
    cum = np.array([bg.expected_purchases(s.iloc[:1], t).iloc[0] for t in steps])
    np.testing.assert_allclose(one["expected_purchases"], np.diff(cum, prepend=0.0), rtol=1e-10)
    assert np.all(np.diff(one["expected_purchases"].to_numpy()) < 0)
    np.testing.assert_allclose(one["discount_factor"].iloc[-1], 1 / 1.10, rtol=1e-15)


# --------------------------------------------------------------------------------------------
# units
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("period,horizon,weeks", [("W", 52, 52.0), ("Y", 1, 365.25 / 7), ("D", 30, 30 / 7),
                                                   ("M", 3, 3 * WEEKS_PER_MONTH)])
def test_exact_period_lengths(cdnow, bg, period, horizon, weeks):
    s = cdnow.iloc[:200]
    fc = clv.forecast_clv(s, bg, 10.0, horizon=horizon, period=period, discount_rate=0.1, margin=1.0, interval=None)
    np.testing.assert_allclose(fc["expected_purchases"], bg.expected_purchases(s, weeks), rtol=1e-10)


def test_time_unit_of_the_summary_days(bg):
    # the same customers in days: alpha scales with the unit, forecasts do not change
    s_w = clv.datasets.cdnow_summary().iloc[:100]
    s_d = s_w.with_facts(time_unit="D")
    s_d[["recency", "T"]] *= 7.0
    bg_d = clv.BGNBD.from_params(r=bg.params_["r"], alpha=bg.params_["alpha"] * 7.0, a=bg.params_["a"],
                                 b=bg.params_["b"])
    kw = dict(horizon=6, period="M", discount_rate=0.2, margin=1.0, interval=None)
    a = clv.forecast_clv(s_w, bg, 20.0, time_unit="W", **kw)
    b = clv.forecast_clv(s_d, bg_d, 20.0, **kw)
    with pytest.raises(ConfigError, match="contradicts"):
        clv.forecast_clv(s_d, bg_d, 20.0, time_unit="W", **kw)
    np.testing.assert_allclose(a["clv"], b["clv"], rtol=1e-10)
    assert a.attrs["period_discount_rate"] == pytest.approx(1.2 ** (1 / 12) - 1, rel=1e-14)


# --------------------------------------------------------------------------------------------
# churn
# --------------------------------------------------------------------------------------------
def test_churn_definitions_bgnbd(cdnow, bg, gg):
    fc = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.1, margin=0.3, interval=None)
    np.testing.assert_allclose(fc["churn_probability"], 1 - fc["p_alive_at_horizon"], rtol=0, atol=1e-15)
    assert (fc["p_alive_at_horizon"] <= fc["p_alive"] + 1e-15).all()
    assert (fc["p_no_purchase_in_horizon"] >= 1 - fc["p_alive"] - 1e-15).all()
    # BG/NBD one-time buyers: P(alive) = 1 by construction (documented in attrs and docstring)
    x0 = cdnow["frequency"] == 0
    assert (fc.loc[x0, "p_alive"] == 1.0).all()
    assert "frequency 0" in fc.attrs["note"]
    # P(no purchase within t | history) = 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x)
    r, al = bg.params_["r"], bg.params_["alpha"]
    x, T, pa = cdnow["frequency"], cdnow["T"], fc["p_alive"]
    ref = 1 - pa + pa * ((al + T) / (al + T + 12 * WEEKS_PER_MONTH)) ** (r + x)
    np.testing.assert_allclose(fc["p_no_purchase_in_horizon"], ref, rtol=1e-12)


def test_mbgnbd_one_time_buyers_can_be_lost(cdnow):
    mb = clv.MBGNBD().fit(cdnow)
    fc = clv.forecast_clv(cdnow, mb, 10.0, **MONTH, discount_rate=0.1, margin=1.0, interval=None)
    assert (fc.loc[cdnow["frequency"] == 0, "p_alive"] < 1).all()
    np.testing.assert_allclose(fc["expected_purchases"], mb.expected_purchases(cdnow, 12 * WEEKS_PER_MONTH),
                               rtol=1e-10)
    np.testing.assert_allclose(fc["p_alive"], mb.p_alive(cdnow), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# DERT: closed form and the limit of the finite sums
# --------------------------------------------------------------------------------------------
def _dert_by_integral(r, alpha, s, beta, x, t_x, T, delta):
    """int_0^inf e^(-delta t) dE[X(T, T+t)]: E = P(alive) (r+x)/(alpha+T) E[(1 - e^-mu t)/mu | alive],
    so the integrand is P(alive) (r+x)/(alpha+T) E[e^-mu t] e^-delta t (SMC 1987; FHL 2005 note)."""
    pa = mp.mpf(float(pnbd_math.p_alive(r, alpha, s, beta, x, t_x, T)))
    b = mp.mpf(beta + T)
    rate = lambda t: (b / (b + t)) ** s * mp.exp(-delta * t)  # noqa: E731
    return pa * (r + x) / (alpha + T) * mp.quad(rate, [0, 10, 100, 1000, mp.inf])


def test_pareto_nbd_dert_at_fhl_setting_and_finite_sums_converge(cdnow, pnbd):
    # Fader, Hardie & Lee (2005, "RFM and CLV: Using Iso-Value Curves", JMR 42(4)): CDNOW Pareto/NBD
    # estimates r=0.553, alpha=10.578, s=0.606, beta=11.669 and an annual discount rate of 15%
    # (continuously compounded weekly delta = 0.0027; here log(1.15) * 7/365.25 = 0.002679).
    # DERT (their eq. 2) is checked against the integral of its definition; the discounted
    # finite-horizon sums approach it from below within one period's discount factor.
    s = cdnow.iloc[[0, 1, 2, 10, 17, 100]]
    res = residual_clv(s, pnbd, 1.0, discount_rate=0.15, margin=1.0, interval=None)
    delta = np.log(1.15) * 7 / 365.25
    assert res.attrs["dert_rate"] == pytest.approx(delta, rel=1e-15)
    for i, cid in enumerate(s.index):
        x, t_x, T = s.loc[cid, ["frequency", "recency", "T"]]
        ref = _dert_by_integral(0.553, 10.578, 0.606, 11.669, x, t_x, T, delta)
        assert res["dert"].iloc[i] == pytest.approx(float(ref), rel=1e-8)
    np.testing.assert_allclose(res["clv"], res["dert"], rtol=1e-15)
    gaps = {}
    for period, per_year in (("M", 12), ("W", 365.25 / 7)):
        horizon = int(np.ceil(150 * per_year))               # 150 years: (1.15)^-150 ~ 1e-9
        fin = clv.forecast_clv(s, pnbd, 1.0, horizon=horizon, period=period, discount_rate=0.15, margin=1.0,
                               interval=None)["clv"]
        d = 1.15 ** (1 / per_year) - 1
        dert = res["dert"].to_numpy()
        assert np.all(fin.to_numpy() <= dert * (1 + 1e-9))
        assert np.all(fin.to_numpy() >= dert / (1 + d) * (1 - 1e-9))
        gaps[period] = np.max(1 - fin.to_numpy() / dert)
    assert gaps["W"] < gaps["M"] < 0.012


def test_residual_clv_dert_equals_the_models_closed_form(cdnow, pnbd):
    res = residual_clv(cdnow, pnbd, 1.0, discount_rate=0.15, margin=1.0, interval=None)
    np.testing.assert_allclose(res["dert"], pnbd.dert(cdnow, 0.15), rtol=1e-12)
    # the forecast takes P(alive) from the math's p_alive_grid (the 2F1 by its series), the model from
    # p_alive (Gauss's continued fraction): two evaluations of the same number, equal to ~1e-14
    np.testing.assert_allclose(res["p_alive"], pnbd.p_alive(cdnow), rtol=1e-12)


def test_bgbb_dert_is_the_limit_of_the_finite_horizon():
    # BG/BB (Fader, Hardie & Shang 2010) on the donations data (yearly opportunities): with the
    # period equal to one opportunity the end-of-period sum converges to DERT exactly.
    d = clv.datasets.donations()
    bb = clv.BGBB().fit(d)
    s = d.drop(columns="weight")
    res = residual_clv(s, bb, 1.0, discount_rate=0.10, margin=1.0, time_unit="Y", interval=None)
    np.testing.assert_allclose(res["dert"], bb.dert(s, 0.10), rtol=1e-12)
    fin = clv.forecast_clv(s, bb, 1.0, horizon=400, period="Y", discount_rate=0.10, margin=1.0, time_unit="Y",
                           interval=None)
    np.testing.assert_allclose(fin["clv"], res["dert"], rtol=1e-9)
    short = clv.forecast_clv(s, bb, 1.0, horizon=5, period="Y", discount_rate=0.10, margin=1.0, time_unit="Y",
                             interval=None)
    np.testing.assert_allclose(short["expected_purchases"], bb.expected_purchases(s, 5), rtol=1e-12)
    np.testing.assert_allclose(short["p_alive"], bb.p_alive(s), rtol=1e-13)


def test_bgbb_period_must_hold_whole_opportunities():
    d = clv.datasets.donations().drop(columns="weight")
    bb = clv.BGBB.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    with pytest.raises(ConfigError) as e:
        clv.forecast_clv(d, bb, 1.0, horizon=12, period="M", discount_rate=0.1, margin=1.0, time_unit="Y",
                         interval=None)
    assert e.value.key == "period"


def test_residual_clv_needs_a_closed_form_and_a_positive_rate(cdnow, bg, pnbd):
    with pytest.raises(ConfigError):
        residual_clv(cdnow, bg, 1.0, discount_rate=0.1, margin=1.0, interval=None)
    with pytest.raises(ConfigError):
        residual_clv(cdnow, pnbd, 1.0, discount_rate=0.0, margin=1.0, interval=None)


# --------------------------------------------------------------------------------------------
# intervals and draws
# --------------------------------------------------------------------------------------------
def test_interval_contains_point_for_every_customer(cdnow, bg, gg):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CLVWarning)
        fc = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.1, margin=0.3, cost_per_order=0.5,
                              n_draws=300, random_state=7)
    assert ((fc["clv_lower"] <= fc["clv"]) & (fc["clv"] <= fc["clv_upper"])).all()
    assert (fc["clv_upper"] > fc["clv_lower"]).all()
    assert fc.attrs["interval"] == 0.9 and "not a prediction interval" in fc.attrs["interval_kind"]
    assert fc.attrs["n_draws"] == 300 and fc.attrs["point_estimate"].startswith("plug-in")


def test_interval_is_the_quantile_of_per_draw_clv(cdnow, bg, gg):
    # MLE draws: column 0 the MLE, then sample_params draws of both models (independently).
    s = cdnow.iloc[:20]
    fc = clv.forecast_clv(s, bg, gg, **MONTH, discount_rate=0.1, margin=0.3, n_draws=40, random_state=3,
                          interval=0.8)
    rng = np.random.default_rng(3)
    pdraws = bg.sample_params(40, random_state=rng)
    sdraws = gg.sample_params(40, random_state=rng)
    per = []
    for i in range(40):
        b_i = clv.BGNBD.from_params(**pdraws.iloc[i].to_dict())
        g_i = clv.GammaGamma.from_params(**sdraws.iloc[i].to_dict())
        per.append(clv.forecast_clv(s, b_i, g_i, **MONTH, discount_rate=0.1, margin=0.3, interval=None)["clv"])
    per = np.column_stack(per)
    np.testing.assert_allclose(fc["clv_lower"], np.quantile(per, 0.1, axis=1), rtol=1e-9)
    np.testing.assert_allclose(fc["clv_upper"], np.quantile(per, 0.9, axis=1), rtol=1e-9)


def test_interval_width_shrinks_as_data_grow():
    # Simulated BG/NBD customers (CDNOW-like parameters, FHL 2005): the same 60 reference
    # histories forecast with models fitted on 1,000 and on 16,000 customers.
    from clvmodels.simulate import bgnbd as sim

    ref = clv.datasets.cdnow_summary().iloc[:60]
    widths = []
    for n in (1_000, 16_000):
        data = sim.simulate(0.243, 4.414, 0.793, 2.426, 38.86, n_customers=n, random_state=11)
        model = clv.BGNBD().fit(data)
        fc = clv.forecast_clv(ref, model, 30.0, **MONTH, discount_rate=0.1, margin=0.3, time_unit="W",
                              n_draws=400, random_state=5)
        widths.append(((fc["clv_upper"] - fc["clv_lower"]) / fc["clv"]).median())
    assert widths[1] < widths[0] / 2.5   # ~ sqrt(16) = 4 times narrower


def test_bayesian_path_pairs_draws_and_averages(cdnow, bg, gg, make_bayes):
    # 2 chains x 6 draws; purchase draw i is paired with spend draw i; point = posterior mean.
    from clvmodels.bayes import BGNBD as BBG
    from clvmodels.bayes import GammaGamma as BGG

    pd_ = bg.sample_params(12, random_state=1)
    sd_ = gg.sample_params(12, random_state=2)
    bb = make_bayes(BBG, {k: pd_[k].to_numpy().reshape(2, 6) for k in pd_.columns})
    bs = make_bayes(BGG, {k: sd_[k].to_numpy().reshape(2, 6) for k in sd_.columns})
    s = cdnow.iloc[:30]
    kw = dict(**MONTH, discount_rate=0.1, margin=0.3, cost_per_order=0.5, cost_per_active_period=0.2)
    fc = clv.forecast_clv(s, bb, bs, interval=0.5, **kw)
    per = [clv.forecast_clv(s, clv.BGNBD.from_params(**pd_.iloc[i].to_dict()),
                            clv.GammaGamma.from_params(**sd_.iloc[i].to_dict()), interval=None, **kw)
           for i in range(12)]
    for col in ("p_alive", "p_alive_at_horizon", "p_no_purchase_in_horizon", "expected_purchases", "expected_spend",
                "expected_revenue", "expected_margin", "clv"):
        np.testing.assert_allclose(fc[col], np.mean([p[col] for p in per], axis=0), rtol=1e-10, atol=1e-14)
    clvs = np.column_stack([p["clv"] for p in per])
    np.testing.assert_allclose(fc["clv_lower"], np.quantile(clvs, 0.25, axis=1), rtol=1e-10)
    np.testing.assert_allclose(fc["clv_upper"], np.quantile(clvs, 0.75, axis=1), rtol=1e-10)
    assert fc.attrs["point_estimate"] == "posterior mean over draws" and fc.attrs["n_draws"] == 12
    # thinning: 4 evenly spaced draws of the 12
    thin = clv.forecast_clv(s, bb, bs, interval=0.5, n_draws=4, **kw)
    idx = np.unique(np.linspace(0, 11, 4).round().astype(int))
    np.testing.assert_allclose(thin["clv"], clvs[:, idx].mean(axis=1), rtol=1e-10)


def test_bayesian_covariate_model_uses_per_customer_parameters(cdnow, bg, make_bayes):
    # purchase covariate: alpha_i = alpha exp(-coef c_i) (clvmodels.bayes.BGNBD docstring)
    from clvmodels.bayes import BGNBD as BBG

    s = cdnow.iloc[:12].copy()
    s["c"] = np.linspace(-1, 1, len(s))
    p = {k: np.full((1, 3), float(bg.params_[k])) for k in ("r", "alpha", "a", "b")}
    p["purchase_coef"] = np.array([0.4, 0.5, 0.6]).reshape(1, 3, 1)
    bb = make_bayes(BBG, p, purchase_covariates=["c"])
    kw = dict(**MONTH, discount_rate=0.1, margin=1.0)
    fc = clv.forecast_clv(s, bb, 10.0, interval=None, **kw)
    ref = np.zeros(len(s))
    for coef in (0.4, 0.5, 0.6):
        for i in range(len(s)):
            m = clv.BGNBD.from_params(r=bg.params_["r"], alpha=bg.params_["alpha"] * np.exp(-coef * s["c"].iloc[i]),
                                      a=bg.params_["a"], b=bg.params_["b"])
            ref[i] += clv.forecast_clv(s.iloc[[i]], m, 10.0, interval=None, **kw)["clv"].iloc[0] / 3
    np.testing.assert_allclose(fc["clv"], ref, rtol=1e-10)


def test_from_params_without_covariance_needs_interval_none(cdnow, pnbd):
    with pytest.raises(ConfigError) as e:
        clv.forecast_clv(cdnow.iloc[:5], pnbd, 10.0, **MONTH, discount_rate=0.1, margin=0.3)
    assert e.value.key == "interval"


# --------------------------------------------------------------------------------------------
# engine: chunks, threads, order, fast path
# --------------------------------------------------------------------------------------------
def test_chunks_threads_and_input_order_do_not_change_results(cdnow, bg, gg):
    kw = dict(**MONTH, discount_rate=0.1, margin=0.3, cost_per_active_period=0.3, n_draws=30, random_state=4)
    ref = clv.forecast_clv(cdnow, bg, gg, **kw)
    small = clv.forecast_clv(cdnow, bg, gg, chunk_size=37, **kw)
    pd.testing.assert_frame_equal(ref, small, rtol=1e-12)
    threads = clv.forecast_clv(cdnow, bg, gg, chunk_size=200, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(ref, threads, rtol=1e-12)
    shuffled = cdnow.sample(frac=1.0, random_state=1)
    out = clv.forecast_clv(shuffled, bg, gg, **kw)
    assert out.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(out.loc[ref.index], ref, rtol=1e-12)


def test_fast_bg_path_equals_the_models_own_math(cdnow, bg, gg, monkeypatch):
    from clvmodels.forecast import _sources

    kw = dict(**MONTH, discount_rate=0.1, margin=0.3, cost_per_active_period=0.4, n_draws=20, random_state=2)
    fast = clv.forecast_clv(cdnow, bg, gg, **kw)
    monkeypatch.setattr(_sources.PurchaseSource, "has_fast_factors", lambda self, d: False)
    slow = clv.forecast_clv(cdnow.iloc[:400], bg, gg, **kw)
    pd.testing.assert_frame_equal(fast.iloc[:400], slow, rtol=1e-10, atol=1e-12, check_exact=False)


def test_output_is_keyed_finite_and_documented(cdnow, bg, gg):
    fc = clv.forecast_clv(cdnow, bg, gg, **MONTH, discount_rate=0.1, margin=0.3, n_draws=20, random_state=1)
    assert fc.index.name == "customer_id" and fc.index.equals(cdnow.index)
    assert list(fc.columns) == list(clv.forecast.CLV_COLUMNS)
    assert np.isfinite(fc.to_numpy()).all()
    for key in ("horizon", "period", "time_unit", "discount_rate", "interval_kind", "alive_period", "churn_probability"):
        assert key in fc.attrs


def test_non_finite_values_are_reported(cdnow, bg):
    with pytest.warns(CLVWarning, match="non-finite"):
        clv.forecast_clv(cdnow.iloc[:20], bg, 1e308, **MONTH, discount_rate=0.1, margin=1.0, interval=None)


# --------------------------------------------------------------------------------------------
# errors name the key and the customers
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,key", [
    ({"horizon": -1}, "horizon"), ({"horizon": 2.5}, "horizon"), ({"horizon": True}, "horizon"),
    ({"period": "fortnight"}, "period"), ({"discount_rate": -0.1}, "discount_rate"),
    ({"discount_rate": float("nan")}, "discount_rate"), ({"interval": 1.0}, "interval"),
    ({"n_draws": 1}, "n_draws"), ({"margin": 1.5}, "margin"), ({"cost_per_order": -1.0}, "cost_per_order"),
    ({"margin": {"a": 0.3}}, "margin_by"), ({"margin_by": "segment"}, "margin_by"),
])
def test_bad_settings_raise_config_errors_naming_the_key(cdnow, bg, kwargs, key):
    kw = dict(horizon=12, period="M", discount_rate=0.1, margin=0.3, interval=None)
    kw.update(kwargs)
    with pytest.raises(ConfigError) as e:
        clv.forecast_clv(cdnow, bg, 10.0, **kw)
    assert e.value.key == key


def test_bad_data_name_column_and_customers(cdnow, bg, gg):
    s = cdnow.copy()
    kw = dict(horizon=12, period="M", discount_rate=0.1, interval=None)
    with pytest.raises(MissingColumnError, match="no_such"):
        clv.forecast_clv(s, bg, gg, margin="no_such", **kw)
    s["m"] = 0.3
    s.loc[[5, 9], "m"] = np.nan
    with pytest.raises(InvalidValueError) as e:
        clv.forecast_clv(s, bg, gg, margin="m", **kw)
    assert e.value.examples == [5, 9]
    s["seg"] = np.where(s.index % 3 == 0, "gold", "silver")
    with pytest.raises(ConfigError, match="gold") as e:
        clv.forecast_clv(s, bg, gg, margin={"silver": 0.2}, margin_by="seg", **kw)
    assert e.value.key == "margin"
    with pytest.raises(InvalidValueError, match="customer") as e:
        clv.forecast_clv(s, bg, s["m"].fillna(1).iloc[:100], margin=0.3, **kw)
    with pytest.raises(DataValidationError):
        clv.forecast_clv(s.drop(columns="monetary_value"), bg, gg, margin=0.3, **kw)


def test_time_unit_is_required_and_checked(bg):
    s = pd.DataFrame(clv.datasets.cdnow_summary())      # a plain frame: no time unit
    kw = dict(horizon=12, period="M", discount_rate=0.1, margin=0.3, interval=None)
    with pytest.raises(ConfigError) as e:
        clv.forecast_clv(s, bg, 10.0, **kw)
    assert e.value.key == "time_unit"
    s = clv.datasets.cdnow_summary().with_facts(time_unit="D")
    with pytest.raises(ConfigError):
        clv.forecast_clv(s, bg, 10.0, time_unit="W", **kw)
    fitted = clv.BGNBD.from_params(r=0.24, alpha=4.4, a=0.79, b=2.4)
    fitted.time_unit_ = "W"
    with pytest.raises(DataValidationError):
        clv.forecast_clv(s, fitted, 10.0, **kw)


def test_not_a_model(cdnow):
    with pytest.raises(ConfigError):
        clv.forecast_clv(cdnow, object(), 10.0, horizon=3, period="M", discount_rate=0.1, margin=0.3)
    with pytest.raises(ConfigError):
        clv.forecast_clv(cdnow, clv.GammaGamma.from_params(p=6, q=4, v=15), 10.0, horizon=3, period="M",
                         discount_rate=0.1, margin=0.3, interval=None)
