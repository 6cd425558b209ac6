"""A log of more than a million rows through Spark: the summary equals the DuckDB engine's on the same Parquet
file, the fit on the rows Spark compressed equals the fit on the whole summary, the scores equal the embedded
forecast, and the delivery from the executors carries every customer once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
import clvmodels.spark as cs

from .test_rfm import assert_same

ROWS, CUSTOMERS = 1_000_000, 120_000
SETTINGS = dict(horizon=12, period="M", discount_rate=0.1, margin=0.3, interval=None, time_unit="W")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Zero-padded text ids, second-resolution timestamps over three years with staggered first purchases,
    same-day repeats, zero amounts and 2% refunds (negative rows); written as Parquet (microseconds)."""
    rng = np.random.default_rng(2026)
    who = rng.integers(0, CUSTOMERS, ROWS)
    start = rng.integers(0, 700, CUSTOMERS)[who]
    seconds = (start + rng.exponential(150, ROWS)).clip(max=3 * 365 - 1) * 86_400 + rng.integers(0, 86_400, ROWS)
    # spend varies between customers (Gamma-Gamma's assumption: its MLE is finite, so both fits find the same
    # optimum; amounts alike for everyone would send q, v to infinity and the fits stop wherever they flatten)
    nu = rng.gamma(3.7, 1 / 15.4, CUSTOMERS)[who]
    amount = np.round(rng.gamma(6.25, 1 / nu), 2) + 0.01
    amount[rng.random(ROWS) < 0.01] = 0.0
    refund = rng.random(ROWS) < 0.02
    amount[refund] = -np.round(amount[refund] / 2, 2)
    log = pd.DataFrame({"customer_id": np.char.zfill(who.astype(str), 7),
                        "date": np.datetime64("2021-01-01T00:00:00", "us") + seconds.astype("timedelta64[s]"),
                        "amount": amount})
    path = tmp_path_factory.mktemp("big") / "log.parquet"
    log.to_parquet(path, index=False)
    return path


@pytest.mark.slow
def test_a_million_rows_agree_with_the_embedded_path(spark, big, tmp_path):
    kw = dict(observation_end="2023-12-31", time_unit="W", returns="net")
    want = clv.rfm_summary(str(big), engine="duckdb", **kw)
    assert len(want) > 0.95 * CUSTOMERS and want.report.as_dict()["n_rows"] == ROWS
    sdf = cs.rfm_summary(spark.read.parquet(str(big)), **kw)
    assert_same(cs.to_pandas(sdf), want)

    bg_want, gg_want = clv.BGNBD().fit(want), clv.GammaGamma().fit(want)
    bg, gg = cs.fit(clv.BGNBD(), sdf), cs.fit(clv.GammaGamma(), sdf)
    assert bg.loglik_ == pytest.approx(bg_want.loglik_, rel=1e-10)
    assert gg.loglik_ == pytest.approx(gg_want.loglik_, rel=1e-10)
    np.testing.assert_allclose(bg.params_.to_numpy(), bg_want.params_.to_numpy(), rtol=1e-6)

    scores = cs.forecast_clv(sdf, bg, gg, **SETTINGS)
    receipt = cs.to_file(scores, tmp_path, "big-run")
    got = pd.read_parquet(receipt.details["path"]).set_index("customer_id")
    embedded = clv.forecast_clv(want, bg, gg, **SETTINGS)
    assert receipt.rows == len(embedded) == len(got) and got.index.is_unique
    got = got.loc[embedded.index]
    np.testing.assert_allclose(got.to_numpy(), embedded[got.columns].to_numpy(), rtol=1e-10, atol=1e-12)
