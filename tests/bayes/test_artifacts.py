"""One loader for every artifact, and a MAP fit that reports what it has (contracts issue, bug 13)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pymc", reason="Bayesian tests need the [bayes] extra (pymc, arviz)")

import clvmodels as clv  # noqa: E402

pytestmark = pytest.mark.bayes


@pytest.fixture(scope="module")
def map_fit():
    return clv.bayes.BGNBD(sampler="map", random_seed=1, progressbar=False).fit(clv.datasets.cdnow_summary())


def test_load_model_reads_netcdf_and_json(map_fit, tmp_path):
    # clv.load_model("model.nc") used to fail with UnicodeDecodeError: NetCDF needed clv.bayes.load
    nc = map_fit.save(tmp_path / "model.nc")
    loaded = clv.load_model(nc)
    assert type(loaded) is clv.bayes.BGNBD and loaded.time_unit_ == "W"
    np.testing.assert_allclose(loaded.params_.to_numpy(), map_fit.params_.to_numpy(), rtol=1e-12)
    mle = clv.BGNBD().fit(clv.datasets.cdnow_summary())
    assert type(clv.load_model(mle.save(tmp_path / "model.json"))) is clv.BGNBD
    (tmp_path / "junk.nc").write_bytes(b"\x89HDF\r\n\x1a\nnot really")
    with pytest.raises(Exception) as e:
        clv.load_model(tmp_path / "junk.nc")
    assert not isinstance(e.value, UnicodeDecodeError)


def test_map_summary_is_the_mode_without_nan_or_runtime_warnings(map_fit):
    # MAP summary() printed eight numpy RuntimeWarnings and returned sd = NaN (one draw, one chain)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        table = map_fit.summary()
    assert list(table.columns) == ["map"] and list(table.index) == ["r", "alpha", "a", "b"]
    assert np.isfinite(table.to_numpy()).all()
    # the posterior mode of the log-parameters sits next to the MLE (FHL 2005: r=0.243, alpha=4.414)
    assert table.loc["r", "map"] == pytest.approx(0.243, rel=0.05)
    assert table.loc["alpha", "map"] == pytest.approx(4.414, rel=0.05)
