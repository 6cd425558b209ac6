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
