"""Shared fixtures of the forecasting tests: CDNOW fits and a stand-in Bayesian posterior."""

from __future__ import annotations

import numpy as np
import pytest

import clvmodels as clv


@pytest.fixture(scope="session")
def cdnow():
    """The published 39-week CDNOW sample summary (2,357 customers), in weeks."""
    return clv.datasets.cdnow_summary()


@pytest.fixture(scope="session")
def bg(cdnow):
    return clv.BGNBD().fit(cdnow)


@pytest.fixture(scope="session")
def gg(cdnow):
    return clv.GammaGamma().fit(cdnow)


@pytest.fixture(scope="session")
def pnbd(cdnow):
    # Fader, Hardie & Lee (2005, "RFM and CLV", and the 2005 Pareto/NBD note): r=0.553,
    # alpha=10.578, s=0.606, beta=11.669 on this sample
    return clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)


class _Var:
    def __init__(self, a):
        self._a = np.asarray(a)

    def to_numpy(self):
        return self._a


class FakePosterior:
    """The part of an xarray posterior that clvmodels.bayes reads (sizes, [name], isel)."""

    def __init__(self, draws: dict[str, np.ndarray]):
        self._d = {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}
        c, d = next(iter(self._d.values())).shape[:2]
        self.sizes = {"chain": c, "draw": d}
        self.attrs = {}

    def __getitem__(self, k):
        if k == "chain":
            return _Var(np.arange(self.sizes["chain"]))
        if k == "draw":
            return _Var(np.arange(self.sizes["draw"]))
        return _Var(self._d[k])

    def isel(self, draw):
        return FakePosterior({k: v[:, draw] for k, v in self._d.items()})


class FakeIData:
    def __init__(self, draws):
        self.posterior = FakePosterior(draws)


def bayes_model(cls, draws: dict[str, np.ndarray], time_unit="W", **kwargs):
    """A clvmodels.bayes model whose posterior holds ``draws`` ({name: (chain, draw[, ...])})."""
    m = cls(**kwargs)
    m.idata_ = FakeIData(draws)
    m.time_unit_ = time_unit
    return m


@pytest.fixture
def make_bayes():
    return bayes_model
