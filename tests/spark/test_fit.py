"""Fitting on the rows Spark compressed gives the pandas fit: the same estimates (1e-8), log-likelihood and facts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import clvmodels as clv
import clvmodels.spark as cs
from clvmodels.errors import DataDroppedWarning, MissingColumnError


@pytest.fixture(scope="module")
def cdnow(spark):
    """The CDNOW sample's 39-week summary, by the pandas engine and by Spark (the same log)."""
    tx = clv.datasets.cdnow_transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        want = clv.rfm_summary(tx, observation_end="1997-09-30")
        got = cs.rfm_summary(spark.createDataFrame(tx), observation_end="1997-09-30")
    return want, got


def test_compressed_rows_carry_every_customer_and_the_facts(cdnow):
    want, sdf = cdnow
    small = cs.compressed_summary(sdf)
    assert isinstance(small, clv.RFMSummary) and small.time_unit == "W"
    assert str(small.observation_end.date()) == "1997-09-30" and small.report == want.report
    assert len(small) < len(want) / 2 and small["weight"].sum() == len(want) == 2357
    # every distinct (frequency, recency, T) of the summary, with its number of customers
    counts = want.groupby(["frequency", "recency", "T"]).size()
    back = small.set_index(["frequency", "recency", "T"])["weight"]
    assert back.sort_index().to_dict() == counts.astype(float).sort_index().to_dict()


@pytest.mark.parametrize("make", [clv.BGNBD, clv.ParetoNBD, clv.GammaGamma])
def test_fit_on_compressed_rows_equals_the_pandas_fit(cdnow, make):
    """The same estimates as a fit on every customer of the same summary (collected); and, to the optimiser's
    tolerance, as a fit on the pandas engine's summary (whose monetary values differ in the last bits)."""
    pandas_summary, sdf = cdnow
    got, want = cs.fit(make(), sdf), make().fit(cs.to_pandas(sdf))
    np.testing.assert_allclose(got.params_.to_numpy(), want.params_.to_numpy(), rtol=0, atol=1e-8)
    assert got.loglik_ == pytest.approx(want.loglik_, rel=1e-12)
    assert (got.n_obs_, got.time_unit_, got.data_summary_) == (want.n_obs_, want.time_unit_, want.data_summary_)
    other = make().fit(pandas_summary)
    np.testing.assert_allclose(got.params_.to_numpy(), other.params_.to_numpy(), rtol=1e-6)
    if make is clv.BGNBD:        # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
        np.testing.assert_allclose(got.params_, [0.243, 4.414, 0.793, 2.426], atol=5e-4)


def test_counts_of_identical_customers_are_summed_as_weights(spark):
    donors = clv.datasets.donations()            # one row per pattern, with its number of donors
    sdf = spark.createDataFrame(donors.reset_index())
    got, want = cs.fit(clv.BGBB(), sdf, weights="weight"), clv.BGBB().fit(donors)
    np.testing.assert_allclose(got.params_.to_numpy(), want.params_.to_numpy(), rtol=0, atol=1e-8)
    assert got.n_obs_ == 11104.0
    with pytest.raises(MissingColumnError, match="count"):
        cs.compressed_summary(sdf, weights="count")
