"""A scheduled run on data where the maximum-likelihood estimate runs to the edge of the parameter
space (no dropout heterogeneity, every customer with the same mean spend) still delivers point scores,
says why the CLV intervals are left out, and leaves no NaN in any delivered field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import pipeline
from clvmodels.errors import CLVWarning, ConvergenceWarning


def homogeneous_log(n: int = 1500, seed: int = 3) -> pd.DataFrame:
    """Customers who buy at one common rate until the end, each purchase worth the same on average."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        start = rng.integers(0, 300)
        days = np.sort(start + rng.integers(0, 730 - start, 1 + rng.poisson(3)))
        days[0] = start
        for d in days:
            rows.append((f"{i:05d}", pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d)),
                         round(float(rng.gamma(50.0, 1.0)), 2)))
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def test_intervals_are_left_out_with_a_reason_when_no_finite_estimate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    homogeneous_log().to_csv(tmp_path / "log.csv", index=False)
    config = {"name": "flat", "data": {"source": str(tmp_path / "log.csv")},
              "forecast": {"interval": 0.9, "n_draws": 50},
              "export": [{"target": "file", "directory": "drop"}]}
    with pytest.warns(CLVWarning) as record:
        result = pipeline.run(config)
    messages = [str(w.message) for w in record]
    assert any(issubclass(w.category, ConvergenceWarning) and "no finite maximum-likelihood" in str(w.message)
               for w in record)
    assert any("CLV intervals left out" in m and "no finite estimate" in m for m in messages)
    assert "clv_lower" not in result.scores.columns
    delivered = pd.read_csv(next((tmp_path / "drop").glob("*.csv")), dtype={"customer_id": str})
    assert len(delivered) == len(result.scores) and delivered.notna().all().all()
    assert result.manifest["purchase_model"]["converged"] is False
