"""The lean per-customer kernels of the engine equal the models' own math (draws x customers)."""

from __future__ import annotations

import numpy as np
import pytest

import clvmodels as clv
from clvmodels.forecast._sources import PurchaseSource, SpendSource, unique_rows
from clvmodels.math import bgnbd, gammagamma, mbgnbd


@pytest.mark.parametrize("cls,math", [(clv.BGNBD, bgnbd), (clv.MBGNBD, mbgnbd)])
def test_p_alive_kernel_matches_model_math(cdnow, cls, math):
    model = cls.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, cov=np.diag([1e-3, 1e-2, 1e-3, 1e-2]))
    src = PurchaseSource(model)
    d = model.sample_params(9, random_state=1)
    x, t_x, T = (cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    per_draw = {k: d[k].to_numpy()[None, :] for k in d.columns}
    ref = math.p_alive(*(per_draw[k] for k in d.columns), x[:, None], t_x[:, None], T[:, None])
    np.testing.assert_allclose(src.p_alive_fast(per_draw, x, t_x, T), ref, rtol=1e-13, atol=1e-300)
    # per-customer parameters (covariate models): the general branch
    per_cust = {k: np.broadcast_to(v, (len(x), 9)).copy() for k, v in per_draw.items()}
    per_cust["alpha"] *= np.linspace(0.5, 2.0, len(x))[:, None]
    ref = math.p_alive(*(per_cust[k] for k in d.columns), x[:, None], t_x[:, None], T[:, None])
    np.testing.assert_allclose(src.p_alive_fast(per_cust, x, t_x, T), ref, rtol=1e-13, atol=1e-300)


def test_spend_kernel_matches_gamma_gamma_math(cdnow, gg):
    src = SpendSource(gg, cdnow)
    d = gg.sample_params(7, random_state=2)
    P = {k: d[k].to_numpy()[None, :] for k in ("p", "q", "v")}
    rows = np.arange(len(cdnow))
    ref = gammagamma.conditional_expected_spend(P["p"], P["q"], P["v"], cdnow["frequency"].to_numpy()[:, None],
                                                cdnow["monetary_value"].to_numpy()[:, None])
    np.testing.assert_allclose(src.expected(P, rows, 7), ref, rtol=1e-14)
    # x = 0: the population mean p v / (q - 1) whatever monetary_value says
    assert np.all(src.key()[cdnow["frequency"].to_numpy() == 0] == 0)


def test_unique_rows_inverse_and_first():
    data = np.array([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0], [0.0, 1.0]])
    first, inv = unique_rows(data)
    np.testing.assert_array_equal(data[first][inv], data)
    assert len(first) == 3
