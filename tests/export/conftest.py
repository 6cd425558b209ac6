"""Fixtures for the export tests: a forecast-like per-customer table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_scores(n: int = 250, seed: int = 0, int_ids: bool = False) -> pd.DataFrame:
    """A table shaped like clv.forecast_clv output plus a segment, with numpy dtypes throughout."""
    rng = np.random.default_rng(seed)
    p_alive = rng.uniform(0.0, 1.0, n)
    purchases = rng.gamma(2.0, 1.5, n) * p_alive
    clv = purchases * rng.gamma(3.0, 20.0, n)
    ids = np.arange(1, n + 1, dtype=np.int64) * 7 if int_ids else np.char.add("c", np.arange(n).astype(str))
    return pd.DataFrame(
        {
            "p_alive": p_alive,
            "churn_probability": 1.0 - p_alive,
            "expected_purchases": purchases,
            "clv": clv,
            "clv_lower": clv * 0.5,
            "clv_upper": clv * 1.5,
            "n_purchases": rng.integers(0, 20, n),
            "vip": clv > np.quantile(clv, 0.9) if n else np.zeros(0, dtype=bool),
            "segment": pd.Categorical(np.where(p_alive > 0.5, "active", "at_risk")),
        },
        index=pd.Index(ids, name="customer_id"),
    )


@pytest.fixture
def scores() -> pd.DataFrame:
    return make_scores()
