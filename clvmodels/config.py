"""Run configuration: a YAML file (or dict) checked against a strict schema.

Unknown keys, wrong types and impossible values stop the run with a :class:`ConfigError` that names
the key path (e.g. ``forecast.discount_rate``). The caller's dict is never modified.

Example (``configs/cdnow.yaml``)::

    name: cdnow
    data:
      source: cdnow              # a bundled data set (cdnow, cdnow_sample) or a CSV / Parquet path
    summary:
      calibration_end: 1997-09-30
      observation_end: 1998-06-30   # after calibration_end: the rest is a holdout for evaluation
      time_unit: W
    models:
      purchase: bgnbd            # bgnbd | mbgnbd | paretonbd
      spend: gammagamma          # or null for purchase-only runs
    forecast:
      horizon: 12                # periods
      period: M
      discount_rate: 0.10        # annual effective
      margin: 0.30
    output:
      dir: runs
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

__all__ = ["RunConfig", "load_config", "BUNDLED_SOURCES"]

BUNDLED_SOURCES = ("cdnow", "cdnow_sample")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    source: str = Field(description="bundled data set name or a CSV / Parquet path")
    customer_col: str = "customer_id"
    date_col: str = "date"
    amount_col: str | None = "amount"
    date_format: str | None = None
    engine: Literal["auto", "pandas", "duckdb"] = "auto"


class SummaryConfig(_Strict):
    calibration_end: dt.date | None = None
    observation_end: dt.date | None = None
    time_unit: Literal["D", "W", "M", "Y"] = "W"
    merge: Literal["D", "W", "M", "Y"] | None = "D"
    returns: Literal["error", "drop", "net"] = "error"
    monetary_includes_first: bool = False

    @model_validator(mode="after")
    def _order(self):
        if self.calibration_end and self.observation_end and self.observation_end <= self.calibration_end:
            raise ValueError("observation_end must be after calibration_end")
        return self


class ModelsConfig(_Strict):
    purchase: Literal["bgnbd", "mbgnbd", "paretonbd"] = "bgnbd"
    spend: Literal["gammagamma"] | None = "gammagamma"
    penalizer: float = Field(0.0, ge=0.0)


class ForecastConfig(_Strict):
    horizon: int = Field(12, gt=0, le=1200)
    period: Literal["D", "W", "M", "Y"] = "M"
    discount_rate: float = Field(0.10, gt=-1.0, le=10.0)
    margin: float = Field(1.0, ge=-10.0, le=10.0)


class OutputConfig(_Strict):
    dir: str = "runs"
    formats: list[Literal["csv", "parquet"]] = ["csv"]


class RunConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    data: DataConfig
    summary: SummaryConfig = SummaryConfig()
    models: ModelsConfig = ModelsConfig()
    forecast: ForecastConfig = ForecastConfig()
    output: OutputConfig = OutputConfig()

    def source_path(self, base: Path | None) -> str | None:
        """Absolute path of a file source (relative paths are resolved against the config's folder)."""
        if self.data.source in BUNDLED_SOURCES:
            return None
        p = Path(self.data.source)
        if not p.is_absolute() and base is not None:
            p = base / p
        return str(p)


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def load_config(source: str | Path | dict[str, Any]) -> tuple[RunConfig, Path | None]:
    """Parse a YAML path or a dict into a :class:`RunConfig`; return it with the config's folder.

    Raises :class:`ConfigError` naming the first offending key (all problems are listed in the message).
    """
    base = None
    if isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist", key=None)
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        base = path.resolve().parent
    if not isinstance(raw, dict):
        raise ConfigError("a run config must be a mapping with keys name, data, summary, models, forecast, output")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_key_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        first = _key_path(exc.errors()[0]["loc"])
        raise ConfigError("invalid run config: " + "; ".join(problems), key=first) from None
    return cfg, base
