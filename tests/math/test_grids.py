"""The in-place (customers x draws) fast paths of the math modules equal the plain formulas."""

from __future__ import annotations

import numpy as np
import pytest

import clvmodels as clv
from clvmodels.math import bgnbd, gammagamma, mbgnbd, paretonbd


@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.cdnow_summary()


@pytest.mark.parametrize("math", [bgnbd, mbgnbd])
def test_p_alive_grid_matches_p_alive(cdnow, math):
    model = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, cov=np.diag([1e-3, 1e-2, 1e-3, 1e-2]))
    d = model.sample_params(9, random_state=1)
    x, t_x, T = (cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    per_draw = {k: d[k].to_numpy()[None, :] for k in d.columns}
    ref = math.p_alive(*(per_draw[k] for k in d.columns), x[:, None], t_x[:, None], T[:, None])
    np.testing.assert_allclose(math.p_alive_grid(*(per_draw[k] for k in d.columns), x, t_x, T), ref,
                               rtol=1e-13, atol=1e-300)
    # per-customer parameters (covariate models): the general branch
    per_cust = {k: np.broadcast_to(v, (len(x), 9)).copy() for k, v in per_draw.items()}
    per_cust["alpha"] *= np.linspace(0.5, 2.0, len(x))[:, None]
    ref = math.p_alive(*(per_cust[k] for k in d.columns), x[:, None], t_x[:, None], T[:, None])
    np.testing.assert_allclose(math.p_alive_grid(*(per_cust[k] for k in d.columns), x, t_x, T), ref,
                               rtol=1e-13, atol=1e-300)


def test_spend_grid_matches_conditional_expected_spend(cdnow):
    gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44, cov=np.diag([0.5, 0.1, 1.0]))
    d = gg.sample_params(7, random_state=2)
    P = {k: d[k].to_numpy()[None, :] for k in ("p", "q", "v")}
    x, m = cdnow["frequency"].to_numpy(float), cdnow["monetary_value"].to_numpy(float)
    ref = gammagamma.conditional_expected_spend(P["p"], P["q"], P["v"], x[:, None], m[:, None])
    np.testing.assert_allclose(gammagamma.conditional_expected_spend_grid(P["p"], P["q"], P["v"], x, m), ref,
                               rtol=1e-14)
    per_cust = {k: np.broadcast_to(v, (len(x), 7)).copy() for k, v in P.items()}
    np.testing.assert_allclose(gammagamma.conditional_expected_spend_grid(*per_cust.values(), x, m), ref, rtol=1e-14)


def test_pareto_dert_grid_matches_dert(cdnow):
    r, alpha, s, beta = (np.array([[v, v * 1.01]]) for v in (0.553, 10.578, 0.606, 11.669))
    x, t_x, T = (cdnow[c].to_numpy(dtype=float)[:300] for c in ("frequency", "recency", "T"))
    delta = np.log(1.15) / 52
    ref = paretonbd.dert(r, alpha, s, beta, x[:, None], t_x[:, None], T[:, None], delta)
    np.testing.assert_allclose(paretonbd.dert_grid(r, alpha, s, beta, x, t_x, T, delta), ref, rtol=1e-10)
