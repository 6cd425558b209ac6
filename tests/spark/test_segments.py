"""clvmodels.spark.segments gives the value tiers, ranks and RFM scores of clvmodels.segments, exactly (ties, heavy
ties and continuous values on a table in several partitions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels import segments
from clvmodels.spark import segments as ss


def test_tiers_ranks_and_rfm_scores_equal_the_pandas_definitions(spark):
    rng = np.random.default_rng(7)
    n = 400
    freq = rng.integers(0, 4, n)                                   # heavy ties (f_score), ties in clv (rank order)
    T = np.round(rng.uniform(10, 50, n), 3)
    frame = pd.DataFrame({"customer_id": [f"{i:04d}" for i in range(n)], "clv": np.round(rng.normal(5, 8, n), 0),
                          "frequency": freq, "recency": np.where(freq > 0, np.round(T * rng.random(n), 3), 0.0),
                          "T": T, "monetary_value": np.where(freq > 0, rng.gamma(2, 10, n), 0.0)})
    sdf = spark.createDataFrame(frame).repartition(3)
    persisted: list = []
    tiered, thresholds = ss.value_tiers(sdf, vip=0.9, core=0.4, persisted=persisted)
    got = ss.rfm_scores(tiered, persisted=persisted).toPandas().set_index("customer_id").sort_index()
    for f in persisted:
        f.unpersist()
    want = segments.value_tiers(frame.set_index("customer_id"), vip=0.9, core=0.4)
    assert thresholds == want.thresholds                           # numpy.quantile, bit for bit
    assert (got["value_rank"] == want.customers["rank"]).all()
    assert (got["tier"] == want.customers["tier"].astype(str)).all()
    rfm = segments.rfm_scores(frame.set_index("customer_id"))
    for col in rfm.columns:
        assert (got[col] == rfm[col]).all(), col


def test_last_bit_noise_in_clv_neither_reorders_nor_moves_tiers(spark):
    # the same CLVs computed in another order (another engine, chunk or CPU) differ in their last bits: Spark's
    # ranks and tiers of the noisy values are the pandas ones of the clean values (ties broken by customer id)
    rng = np.random.default_rng(3)
    n = 300
    clean = np.repeat(np.round(rng.gamma(2, 3, n // 3), 6), 3)         # triples of customers with one value
    noisy = clean.copy()
    flip = rng.random(n) < 0.5
    noisy[flip] = np.nextafter(noisy[flip], np.where(rng.random(flip.sum()) < 0.5, -np.inf, np.inf))
    assert (noisy != clean).sum() > 100
    ids = [f"{i:04d}" for i in range(n)]
    sdf = spark.createDataFrame(pd.DataFrame({"customer_id": ids, "clv": noisy})).repartition(3)
    persisted: list = []
    tiered, _ = ss.value_tiers(sdf, vip=0.9, core=0.5, persisted=persisted)
    got = tiered.toPandas().set_index("customer_id").sort_index()
    for f in persisted:
        f.unpersist()
    want = segments.value_tiers(pd.DataFrame({"clv": clean}, index=pd.Index(ids, name="customer_id")), vip=0.9,
                                core=0.5).customers
    assert (got["value_rank"] == want["rank"]).all()
    assert (got["tier"] == want["tier"].astype(str)).all()
