"""A config run with the MBG/CNBD-k (models.purchase: mbgcnbd) on the CDNOW sample: the pipeline builds its
summaries with litt, fits, checks the holdout, refits, scores and saves a model that ``clv score`` reloads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from clvmodels import datasets, pipeline
from clvmodels.registry import load_model


def test_run_with_mbgcnbd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = {"name": "regular", "data": {"source": "cdnow_sample"},
           "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30", "time_unit": "W"},
           "models": {"purchase": "mbgcnbd", "spend": "gammagamma"},
           "forecast": {"horizon": 6, "period": "M", "discount_rate": 0.1, "margin": 0.3, "n_draws": 20},
           "output": {"dir": "runs", "report": False},
           "export": [{"target": "file", "directory": "drop"}]}
    result = pipeline.run(cfg)
    folder = result.folder
    assert "litt" in result.summary.columns and result.summary.options.litt
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["purchase_model"]["name"] == "mbgcnbd" and manifest["purchase_model"]["params"]["k"] == 1
    # the calibration fit the holdout checked is the MBG/CNBD-k of BTYDplus on CDNOW: k = 1, LL -9582.1
    calib = json.loads((folder / "models" / "evaluation" / "purchase.json").read_text())
    assert calib["model"] == "MBGCNBDk" and calib["params"]["k"] == 1 and round(calib["loglik"], 1) == -9582.1
    scores = pd.read_csv(folder / "scores.csv", index_col="customer_id")
    assert len(scores) == 2357 and np.isfinite(scores[["clv", "clv_lower", "clv_upper", "p_alive"]]).all().all()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics    # the holdout check ran
    # clv score: the saved model scores new transactions without refitting
    purchase = load_model(folder / manifest["purchase_model"]["file"])
    assert type(purchase).__name__ == "MBGCNBDk" and purchase.k_ == 1
    tx = datasets.cdnow_transactions(sample=True)
    scored = pipeline.load_run(folder).score(tx[tx["date"] <= "1998-03-31"], write=False)
    assert len(scored.scores) == 2357 and np.isfinite(scored.scores["clv"]).all()


def test_model_options_fix_k_and_are_checked_before_any_work(tmp_path):
    """models.purchase.options reach the model's constructor: {k: 2} fixes k (the fit reports k = 2 where the
    likelihood picks 1 on CDNOW); a setting the model lacks, a bad value, or one the config gives elsewhere is a
    ConfigError naming models.purchase, before any data is read."""
    import pytest

    from clvmodels.config import load_config
    from clvmodels.errors import ConfigError

    base = {"name": "k2", "data": {"source": "cdnow_sample"}, "summary": {"time_unit": "W"},
            "models": {"spend": None}, "forecast": {"horizon": 3, "interval": None}, "output": {"report": False}}
    cfg, _ = load_config({**base, "models": {"purchase": {"name": "bgcnbd", "options": {"k": 2}}, "spend": None}})
    purchase, _ = pipeline.build_models(cfg)
    assert purchase.k == 2 and purchase.max_k == 8
    result = pipeline.run(cfg, write=False)
    assert result.manifest["purchase_model"]["params"]["k"] == 2
    for options, message in (({"kk": 2}, "has no setting 'kk'"), ({"k": 0}, "k"), ({"max_k": 2.5}, "max_k"),
                             ({"penalizer_coef": 0.1}, "set it with models.penalizer")):
        with pytest.raises(ConfigError, match="models.purchase") as err:
            load_config({**base, "models": {"purchase": {"name": "mbgcnbd", "options": options}, "spend": None}})
        assert message in str(err.value)
