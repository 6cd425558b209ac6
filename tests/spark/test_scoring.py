"""Spark scoring is the pandas scoring: forecast_clv for every registry purchase model with Gamma-Gamma, to 1e-10,
intervals included, whatever the partitioning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
import clvmodels.spark as cs
from clvmodels import registry
from clvmodels.errors import ConfigError

SETTINGS = dict(horizon=6, period="M", discount_rate=0.1, margin=0.3, interval=0.8, n_draws=40)


def opportunities_summary(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A BG/BB summary (frequency, recency, n_periods; six yearly opportunities, the donations' patterns) with T
    (the same years) and a monetary value, which Gamma-Gamma reads."""
    donors = clv.datasets.donations()
    rng = np.random.default_rng(seed)
    rows = donors.iloc[rng.choice(len(donors), n, p=donors["weight"] / donors["weight"].sum())]
    out = rows[["frequency", "recency", "n_periods"]].reset_index(drop=True).astype(float)
    out["T"] = out["n_periods"]
    out["monetary_value"] = np.where(out["frequency"] > 0, np.round(rng.gamma(3.0, 15.0, n), 2), 0.0)
    out.index = pd.Index([f"d{i:05d}" for i in range(n)], name="customer_id")
    return out


@pytest.fixture(scope="module")
def data(spark):
    weeks = clv.datasets.cdnow_summary().iloc[:800]
    years = opportunities_summary()
    return {"continuous": (weeks, spark.createDataFrame(weeks.reset_index()).repartition(3), "W"),
            "opportunities": (years, spark.createDataFrame(years.reset_index()).repartition(3), "Y")}


def fitted(key, summary):
    if key == "bgbb":
        return clv.BGBB().fit(clv.datasets.donations())
    needs = registry.get(key).summary_options           # e.g. litt for the (M)BG/CNBD-k: fit on a log's summary
    if needs:
        tx = clv.datasets.cdnow_transactions(sample=True)
        return registry.build(key).fit(clv.rfm_summary(tx, "1997-09-30", "W", **{k: True for k in needs}))
    return registry.build(key).fit(summary)


@pytest.mark.parametrize("key", [k for k in registry.keys("purchase") if registry.get(k).mle is not None])
def test_forecast_clv_equals_the_pandas_forecast(data, key):
    summary, sdf, unit = data[registry.get(key).summary]
    purchase, spend = fitted(key, summary), clv.GammaGamma().fit(summary)
    period = "Y" if unit == "Y" else SETTINGS["period"]
    kw = {**SETTINGS, "period": period, "time_unit": unit, "random_state": 5}
    got = cs.forecast_clv(sdf, purchase, spend, **kw).toPandas().set_index("customer_id")
    want = clv.forecast_clv(summary, purchase, spend, **kw)
    assert list(got.columns) == list(want.columns) and {"clv_lower", "clv_upper"} <= set(got.columns)
    got = got.loc[want.index]
    assert (want["clv_upper"] > want["clv_lower"]).all()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-10, atol=1e-10)


def test_intervals_do_not_depend_on_the_partitioning(spark):
    """With random_state=None one seed is drawn on the driver for every partition: customers with the same
    history get the same interval wherever they are."""
    base = clv.datasets.cdnow_summary().iloc[:150]
    twins = pd.concat([base, base.set_axis(base.index + 10_000)])
    sdf = spark.createDataFrame(twins.reset_index()).repartition(4)
    bg, gg = clv.BGNBD().fit(base), clv.GammaGamma().fit(base)
    got = cs.forecast_clv(sdf, bg, gg, time_unit="W", **SETTINGS).toPandas().set_index("customer_id").sort_index()
    assert got.index.tolist() == twins.index.sort_values().tolist()
    first, second = got.loc[base.index], got.loc[base.index + 10_000]
    np.testing.assert_array_equal(first.to_numpy(), second.to_numpy())
    one = cs.forecast_clv(sdf.repartition(1), bg, gg, time_unit="W", random_state=3, **SETTINGS).toPandas()
    many = cs.forecast_clv(sdf.repartition(5), bg, gg, time_unit="W", random_state=3, **SETTINGS).toPandas()
    one, many = one.set_index("customer_id").sort_index(), many.set_index("customer_id").sort_index()
    np.testing.assert_array_equal(one.to_numpy(), many.to_numpy())


def test_score_equals_the_models_own_predictions(data):
    summary, sdf, _ = data["continuous"]
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    got = cs.score(sdf, bg, t=39, time_unit="W").toPandas().set_index("customer_id").loc[summary.index]
    np.testing.assert_allclose(got["p_alive"], bg.p_alive(summary), rtol=1e-12)
    np.testing.assert_allclose(got["expected_purchases"], bg.expected_purchases(summary, t=39), rtol=1e-12)
    spend = cs.score(sdf, gg, time_unit="W").toPandas().set_index("customer_id").loc[summary.index]
    assert list(spend.columns) == ["expected_spend"]
    np.testing.assert_allclose(spend["expected_spend"], gg.expected_spend(summary), rtol=1e-12)


def test_bad_settings_raise_typed_errors_on_the_driver(data):
    summary, sdf, _ = data["continuous"]
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    with pytest.raises(ConfigError) as exc:
        cs.forecast_clv(sdf, bg, gg, time_unit="W", **{**SETTINGS, "interval": 1.5})
    assert exc.value.key == "interval"
    with pytest.raises(ConfigError, match="time_unit"):                 # a plain DataFrame carries no unit
        cs.forecast_clv(sdf, bg, gg, **SETTINGS)
    with pytest.raises(ConfigError, match="column of sdf"):
        cs.forecast_clv(sdf, bg, gg, time_unit="W", **{**SETTINGS, "margin": pd.Series(0.3, index=summary.index)})
    with pytest.raises(ConfigError, match="return_cash_flows"):
        cs.forecast_clv(sdf, bg, gg, time_unit="W", return_cash_flows=True, **SETTINGS)
