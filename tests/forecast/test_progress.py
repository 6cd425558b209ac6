"""forecast_clv reports its progress chunk by chunk (``progress(done, total)``), without changing a number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv


@pytest.fixture(scope="module")
def fitted():
    summary = clv.datasets.cdnow_summary()
    return summary, clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_is_told_after_every_chunk_and_ends_at_the_total(fitted, n_jobs):
    summary, bg, gg = fitted
    kw = dict(horizon=6, period="M", discount_rate=0.1, margin=0.3, interval=0.9, n_draws=20, random_state=1)
    calls = []
    got = clv.forecast_clv(summary, bg, gg, chunk_size=200, n_jobs=n_jobs, progress=lambda d, t: calls.append((d, t)),
                           **kw)
    done = [d for d, _ in calls]
    totals = {t for _, t in calls}
    assert len(calls) >= 3 and len(totals) == 1          # several chunks, one total: the distinct customer rows
    (total,) = totals
    assert total <= len(summary) and done[-1] == total
    assert all(b > a for a, b in zip(done, done[1:]))   # strictly increasing, told on the calling thread in order
    want = clv.forecast_clv(summary, bg, gg, chunk_size=200, n_jobs=n_jobs, **kw)
    pd.testing.assert_frame_equal(got, want)
    assert np.isfinite(got["clv"]).all()
