"""Reading a run folder for the report: only its files, nothing recomputed that the files hold."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError

#: read_csv options that give back every float exactly as written (the numbers shown must equal the
#: file's): pandas 3 parses exactly by default and deprecates the option older versions need
EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


@dataclass
class RunFolder:
    """What the report reads from a run folder (``None`` where a file is absent)."""

    path: Path
    manifest: dict
    config: dict | None
    metrics: dict | None
    scores: pd.DataFrame
    scores_file: str
    models: dict[str, dict[str, Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    # ---- settings, from the config (what the run used) or else the manifest -------------------
    def forecast(self) -> dict:
        out = dict(self.manifest.get("forecast") or {})
        if self.config and isinstance(self.config.get("forecast"), dict):
            for k, v in self.config["forecast"].items():
                out.setdefault(k, v)
        return out

    def segments(self) -> dict:
        seg = (self.config or {}).get("segments") or {}
        return {"vip": seg.get("vip", 0.95), "core": seg.get("core", 0.5), "by": seg.get("by", "quantile")}

    @property
    def has_holdout(self) -> bool:
        return bool(self.metrics) and isinstance(self.metrics.get("metrics"), dict)


def _json(path: Path, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.name} could not be read ({exc}); its sections are left out")
        return None


def _yaml(path: Path, problems: list[str]) -> dict | None:
    if not path.is_file():
        return None
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path.name} could not be read ({exc}); defaults are shown where it would have said")
        return None
    return doc if isinstance(doc, dict) else None


def _scores(folder: Path) -> tuple[pd.DataFrame, str]:
    """The scores table, customer ids kept as the text the run wrote (never parsed as numbers)."""
    parquet, csv = folder / "scores.parquet", folder / "scores.csv"
    if parquet.is_file():
        frame = pd.read_parquet(parquet)
        if frame.index.name != "customer_id" and "customer_id" in frame.columns:
            frame = frame.set_index("customer_id")
        name = parquet.name
    elif csv.is_file():
        frame = pd.read_csv(csv, dtype={"customer_id": str, "tier": str, "rfm_cell": str},
                            keep_default_na=False, na_values=[""], **EXACT_FLOATS)
        frame = frame.set_index("customer_id")
        name = csv.name
    else:
        raise ConfigError(f"{str(folder)!r} has no scores.parquet or scores.csv: it is not a clvmodels run folder "
                          "with scores (made by clv run)", key="run_folder")
    if "clv" not in frame.columns:
        raise ConfigError(f"{name} in {str(folder)!r} has no clv column: it is not a clvmodels scores table",
                          key="run_folder")
    frame.index = pd.Index(frame.index.astype(str).to_numpy(dtype=object), name="customer_id", dtype=object)
    return frame, name


def _models(folder: Path) -> dict[str, dict[str, Path]]:
    """``{"scoring": {"purchase": path, "spend": path}, "evaluation": {...}}`` of the saved models."""
    out: dict[str, dict[str, Path]] = {}
    for fit, where in (("scoring", folder / "models"), ("evaluation", folder / "models" / "evaluation")):
        found = {}
        for role in ("purchase", "spend"):
            for ext in ("json", "nc"):
                p = where / f"{role}.{ext}"
                if p.is_file():
                    found[role] = p
                    break
        if found:
            out[fit] = found
    return out


def read_run_folder(folder) -> RunFolder:
    """Read the files of a run folder that the report uses; needs manifest.json and the scores."""
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"run folder {str(path)!r} does not exist", key="run_folder")
    problems: list[str] = []
    manifest = _json(path / "manifest.json", problems)
    if not isinstance(manifest, dict):
        raise ConfigError(f"{str(path)!r} is not a clvmodels run folder (no readable manifest.json)",
                          key="run_folder")
    config = _yaml(path / "config.yaml", problems)
    metrics = _json(path / "metrics.json", problems)
    if metrics is not None and not isinstance(metrics, dict):
        problems.append("metrics.json does not hold an evaluation; the holdout section is left out")
        metrics = None
    scores, scores_file = _scores(path)
    return RunFolder(path=path, manifest=manifest, config=config, metrics=metrics, scores=scores,
                     scores_file=scores_file, models=_models(path), problems=problems)


# ---- saved models --------------------------------------------------------------------------------
def _finite_or_none(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def describe_model(path: Path) -> dict:
    """A saved model as rows of estimates with intervals and its diagnostics.

    MLE (JSON): estimate, standard error and the Wald 95% interval of ``model.summary``; converged,
    log-likelihood, observations, iterations. Bayesian (NetCDF): posterior mean, sd, HDI, R-hat and
    bulk / tail ESS of ``model.summary()``; sampler, chains, draws and divergences.
    """
    head = path.read_bytes()[:8]
    if head.startswith((b"\x89HDF", b"CDF")):
        return _describe_bayes(path)
    return _describe_mle(path)


def _describe_mle(path: Path) -> dict:
    from ..registry import load_model

    raw = json.loads(path.read_text(encoding="utf-8"))
    out = {"kind": "mle", "file": path.name, "class": raw.get("model"), "time_unit": raw.get("time_unit"),
           "loglik": _finite_or_none(raw.get("loglik")), "converged": raw.get("converged"),
           "n_obs": _finite_or_none(raw.get("n_obs")), "fit_info": raw.get("fit_info") or {}, "rows": [],
           "error": None}
    try:
        model = load_model(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = model.summary
    except Exception as exc:  # noqa: BLE001 - a model the report cannot load is reported, not fatal
        out["error"] = f"{type(exc).__name__}: {exc}"
        table = pd.DataFrame({"estimate": pd.Series(raw.get("params") or {}, dtype=float)})
    for name, row in table.iterrows():
        out["rows"].append({"parameter": str(name), "estimate": _finite_or_none(row.get("estimate")),
                            "stderr": _finite_or_none(row.get("stderr")),
                            "lower": _finite_or_none(row.get("lower_95")), "upper": _finite_or_none(row.get("upper_95"))})
    return out


def _bayes_table(path: Path) -> tuple[pd.DataFrame, Any, str | None]:
    """The posterior summary: ``load_model(path).summary()``; when the model class cannot be loaded
    (another package version), ArviZ's summary of the file's scalar parameters."""
    from ..registry import load_model

    try:
        model = load_model(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.summary(round_to="none"), model.idata_, None
    except Exception as exc:  # noqa: BLE001
        note = f"{type(exc).__name__}: {exc}"
    import arviz as az

    idata = az.from_netcdf(str(path))
    names = [k for k, v in idata.posterior.data_vars.items() if set(v.dims) <= {"chain", "draw"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.summary(idata, var_names=names, round_to="none"), idata, f"read with ArviZ ({note})"


def _describe_bayes(path: Path) -> dict:
    out = {"kind": "bayes", "file": path.name, "class": None, "rows": [], "error": None, "note": None,
           "hdi": None, "sampler": None, "chains": None, "draws": None, "divergences": None, "map": False}
    try:
        table, idata, note = _bayes_table(path)
    except Exception as exc:  # noqa: BLE001 - e.g. ArviZ not installed (the [bayes] extra)
        out["error"] = f"{type(exc).__name__}: {exc} (install clvmodels[bayes] to read Bayesian models)"
        return out
    out["note"] = note
    attrs = dict(idata.posterior.attrs)
    out["class"] = attrs.get("clvmodels_model")
    out["sampler"] = attrs.get("clvmodels_sampler")
    out["chains"] = int(idata.posterior.sizes.get("chain", 0))
    out["draws"] = int(idata.posterior.sizes.get("draw", 0))
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        out["divergences"] = int(np.asarray(idata.sample_stats["diverging"]).sum())
    if "map" in table.columns and "mean" not in table.columns:
        out["map"] = True
        for name, row in table.iterrows():
            out["rows"].append({"parameter": str(name), "mean": _finite_or_none(row["map"])})
        return out
    hdi = [c for c in table.columns if str(c).startswith("hdi_")]
    out["hdi"] = [str(c)[4:] for c in hdi] if len(hdi) == 2 else None
    for name, row in table.iterrows():
        out["rows"].append({"parameter": str(name), "mean": _finite_or_none(row.get("mean")),
                            "sd": _finite_or_none(row.get("sd")),
                            "lower": _finite_or_none(row[hdi[0]]) if len(hdi) == 2 else None,
                            "upper": _finite_or_none(row[hdi[1]]) if len(hdi) == 2 else None,
                            "r_hat": _finite_or_none(row.get("r_hat")),
                            "ess_bulk": _finite_or_none(row.get("ess_bulk")),
                            "ess_tail": _finite_or_none(row.get("ess_tail"))})
    return out
