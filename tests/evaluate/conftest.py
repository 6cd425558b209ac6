"""Fixtures of the evaluation tests: the CDNOW sample split as in Fader, Hardie & Lee (2005)."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

import clvmodels as clv  # noqa: E402


@pytest.fixture(scope="session")
def cdnow_sample_tx():
    return clv.datasets.cdnow_transactions(sample=True)


@pytest.fixture(scope="session")
def cdnow_sample_cal(cdnow_sample_tx):
    # 39-week calibration 1997-01-01 .. 1997-09-30, 39-week holdout to 1998-06-30 (FHL 2005, section 5)
    return clv.calibration_holdout(cdnow_sample_tx, calibration_end="1997-09-30", observation_end="1998-06-30",
                                   time_unit="W")


@pytest.fixture(scope="session")
def pareto_sample(cdnow_sample_cal):
    return clv.ParetoNBD().fit(cdnow_sample_cal)
