"""The numba likelihood Op (``_fastlik``) equals the pure PyTensor likelihood and the numpy core."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from clvmodels.bayes import _pt_math as M  # noqa: E402
from clvmodels.bayes._fastlik import SoftplusRowsOp  # noqa: E402
from clvmodels.datasets import cdnow_summary  # noqa: E402
from clvmodels.math import bgnbd as core  # noqa: E402

pytestmark = pytest.mark.bayes

# the CDNOW MLE (Fader, Hardie & Lee 2005, section 4) and points far from it that tuning visits
PARAMS = [(0.243, 4.414, 0.793, 2.426), (1.5, 0.3, 0.2, 0.6), (0.05, 40.0, 3.0, 0.9), (4.0, 0.01, 0.01, 300.0)]


def _heavy_data():
    """CDNOW plus simulated heavy buyers (x up to 1,500) and long histories (T to 10,000)."""
    s = cdnow_summary()
    rng = np.random.default_rng(11)
    n = 3000
    T = rng.uniform(1.0, 10_000.0, n)
    x = rng.integers(0, 1500, n).astype(float)
    t_x = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    w = rng.integers(1, 5, len(s) + n).astype(float)
    return (np.r_[s["frequency"].to_numpy(), x], np.r_[s["recency"].to_numpy(), t_x], np.r_[s["T"].to_numpy(), T], w)


@pytest.fixture(scope="module")
def data():
    return _heavy_data()


@pytest.fixture(scope="module")
def rows(data):
    x, t_x, T, w = data
    return M.BGNBDRows.from_data(x, t_x, T, w)


_compiled: dict = {}


def _value_and_grad(params, rows, fast):
    key = (id(rows), fast)
    if key not in _compiled:
        p = pt.dvector("p")
        ll = M.bgnbd_total_loglik(*(p[i] for i in range(4)), rows, fast=fast)
        _compiled[key] = (rows, pytensor.function([p], [ll, pytensor.grad(ll, p)]))
    return _compiled[key][1](np.asarray(params, dtype=np.float64))


@pytest.mark.parametrize("params", PARAMS)
def test_fast_total_equals_pure_pytensor_and_numpy_core(data, rows, params):
    x, t_x, T, w = data
    v_fast, g_fast = _value_and_grad(params, rows, fast=True)
    v_pure, g_pure = _value_and_grad(params, rows, fast=False)
    assert v_fast == pytest.approx(v_pure, rel=1e-12)
    np.testing.assert_allclose(g_fast, g_pure, rtol=1e-10, atol=1e-10 * np.abs(g_pure).max())
    # the numpy math core (FHL 2005 eq. 6, tested against mpmath in tests/math) row by row
    assert v_fast == pytest.approx(float(np.sum(w * core.loglik(*params, x, t_x, T))), rel=1e-10)


def test_fast_gradient_matches_central_differences(rows):
    params = np.array(PARAMS[0])
    _, g = _value_and_grad(params, rows, fast=True)
    for i in range(4):
        # a step of 1e-4: the differences are then ~1e-7 off (truncation and rounding alike); at 1e-6
        # rounding of the ~8e6 total dominated (2.5e-6 off for r), and the fast kernels' reassociated
        # sums round differently on CPUs with other vector widths
        h = 1e-4 * params[i]
        up, dn = params.copy(), params.copy()
        up[i] += h
        dn[i] -= h
        fd = (_value_and_grad(up, rows, True)[0] - _value_and_grad(dn, rows, True)[0]) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-5)


def test_cdnow_total_matches_paper_with_the_fast_op():
    s = cdnow_summary()
    rows = M.BGNBDRows.from_data(s["frequency"], s["recency"], s["T"])
    value, _ = _value_and_grad(PARAMS[0], rows, fast=True)
    # Fader, Hardie & Lee (2005), section 4: LL = -9582.4 at the MLE
    assert value == pytest.approx(-9582.4, abs=0.05)


def _op_for(rows):
    return SoftplusRowsOp(rows.row_w, rows.row_xi, rows.row_ti, rows.row_Ti, rows.t_values,
                          rows.T_values, rows.x_values)


def test_op_survives_pickling(rows):
    # PyMC's multiprocess sampler pickles the compiled step method, and with it the Op
    op = _op_for(rows)
    clone = pickle.loads(pickle.dumps(op))
    for params in PARAMS:
        v0, g0 = op.evaluate(*params)
        v1, g1 = clone.evaluate(*params)
        assert v0 == v1
        np.testing.assert_array_equal(g0, g1)
    assert op != clone  # distinct rows objects are never merged by graph rewrites


def test_op_is_thread_safe(rows):
    # nutpie calls the log-density from one thread per chain; each thread has its own scratch
    op = _op_for(rows)
    expected = {p: op.evaluate(*p) for p in PARAMS}
    errors = []

    def work(params):
        for _ in range(30):
            v, g = op.evaluate(*params)
            if v != expected[params][0] or not np.array_equal(g, expected[params][1]):
                errors.append(params)

    threads = [threading.Thread(target=work, args=(p,)) for p in PARAMS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_op_rejects_vector_parameters(rows):
    op = _op_for(rows)
    with pytest.raises(TypeError, match="scalar r"):
        op(pt.dvector("r"), 1.0, 1.0, 1.0)


def test_kernels_compile_when_no_cache_directory_is_writable(rows, monkeypatch):
    # a read-only install run by another user has no writable __pycache__ or user cache: numba
    # refuses cache=True there, and the kernels must still compile (in memory)
    import numba.core.caching as caching

    from clvmodels.bayes import _fastlik

    expected = _op_for(rows).evaluate(*PARAMS[1])
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    monkeypatch.setattr(_fastlik, "_kernels", None)
    value, grad = _op_for(rows).evaluate(*PARAMS[1])
    assert value == pytest.approx(expected[0], rel=1e-14)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-12)
    # the fallback dispatchers have numba's no-op cache
    assert all(type(k._cache).__name__ == "NullCache" for k in _fastlik._kernels)
