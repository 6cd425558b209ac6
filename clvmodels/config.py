"""Run configuration: a YAML file (or dict) checked against a strict schema.

Unknown keys, wrong types and impossible values stop the run with a :class:`ConfigError` that names
the key path (e.g. ``forecast.discount_rate``). The caller's dict is never modified.

Example (``configs/cdnow.yaml``)::

    name: cdnow
    data:
      source: cdnow              # a bundled data set (cdnow, cdnow_sample) or a CSV / Parquet path
    summary:
      calibration_end: 1997-09-30   # a date, or a number of time units after the first transaction
      observation_end: 1998-06-30   # after calibration_end: the rest is a holdout for evaluation
      time_unit: W
    models:
      purchase: bgnbd            # a purchase model of clvmodels.registry: bgnbd | mbgnbd | paretonbd
      spend: gammagamma          # or null: CLV then counts orders (spend 1 per order)
      nonpositive_spend: zero    # repeat buyers whose purchases were all free: error | zero | population
    forecast:
      horizon: 12                # periods
      period: M
      discount_rate: 0.10        # annual effective
      margin: 0.30               # contribution margin rate
      cost_per_order: 0.0
      cost_per_active_period: 0.0
      interval: 0.9              # interval of the expected CLV (parameter uncertainty); null for none
    segments:
      vip: 0.95                  # top 5% by predicted CLV
      core: 0.5
    output:
      dir: runs
    export:                      # optional, delivered exactly once per run
      - target: file
        directory: crm_drop
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import registry
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
    timezone: str | None = Field(
        None, description="IANA zone (e.g. Europe/Berlin) whose local days count: timestamps with a UTC offset or a "
                          "zone are converted to it; naive ones are taken as local. null: each timestamp's own "
                          "local wall time")
    order_col: str | None = Field(
        None, description="summary.returns 'match' only: the column naming the order a row belongs to (a refund "
                          "row carries the id of the order it refunds); null: refunds are matched by date")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value):
        from .data.transactions import check_timezone

        try:
            return check_timezone(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


def _date(value, what: str):
    """A YAML date (or ISO text) as a date; numbers and impossible dates are refused here."""
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD)") from None
    raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD){what}")


class SummaryConfig(_Strict):
    calibration_end: dt.date | float | None = Field(
        None, description="end of the calibration period: a date, or a number of time units after the first "
                          "transaction day (CLVTools' estimation split); the rest up to observation_end is a holdout")
    observation_end: dt.date | None = Field(None, description="last observed day; default: the last transaction")
    time_unit: Literal["D", "W", "M", "Y"] = "W"
    merge: Literal["D", "W", "M", "Y"] | None = "D"
    returns: Literal["error", "drop", "net", "match"] = "error"
    refund_window: int | None = Field(
        None, ge=0, description="returns 'match' without data.order_col: a refund is netted against the customer's "
                                "latest purchase at most this many days before it (null: 30)")
    monetary_includes_first: bool = False

    @field_validator("calibration_end", mode="before")
    @classmethod
    def _calibration_end(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not value > 0:
                raise ValueError(f"{value!r}: a number of periods must be > 0")
            return float(value)
        return _date(value, ", or a number of time units after the first transaction")

    @field_validator("observation_end", mode="before")
    @classmethod
    def _observation_end(cls, value):
        return _date(value, "")

    @model_validator(mode="after")
    def _order(self):
        if (isinstance(self.calibration_end, dt.date) and self.observation_end
                and self.observation_end <= self.calibration_end):
            raise ValueError("observation_end must be after calibration_end")
        return self


class ModelsConfig(_Strict):
    purchase: str = Field("bgnbd", description=f"purchase model: one of {list(registry.keys('purchase'))}")
    spend: str | None = Field("gammagamma", description=f"spend model: one of {list(registry.keys('spend'))}, or "
                                                        "null (CLV then counts orders: spend 1 per order)")
    penalizer: float = Field(0.0, ge=0.0)
    nonpositive_spend: Literal["error", "zero", "population"] = "error"

    @field_validator("purchase")
    @classmethod
    def _purchase(cls, value):
        return _registered(value, "purchase")

    @field_validator("spend")
    @classmethod
    def _spend(cls, value):
        return None if value is None else _registered(value, "spend")


def _registered(value: str, role: str) -> str:
    if value not in registry.keys(role):
        raise ValueError(f"{value!r} is not a registered {role} model; use one of {list(registry.keys(role))}")
    return value


class ForecastConfig(_Strict):
    horizon: int = Field(12, gt=0, le=1200)
    period: Literal["D", "W", "M", "Y"] = "M"
    discount_rate: float = Field(0.10, ge=0.0, le=10.0)
    margin: float = Field(1.0, ge=-10.0, le=1.0)
    cost_per_order: float = Field(0.0, ge=0.0)
    cost_per_active_period: float = Field(0.0, ge=0.0)
    retention_cost: float = Field(0.0, ge=0.0)
    interval: float | None = Field(0.9, gt=0.0, lt=1.0)
    n_draws: int = Field(500, ge=2, le=100_000)
    random_seed: int = 0


class SegmentsConfig(_Strict):
    vip: float = Field(0.95, description="VIP threshold: a quantile (by=quantile) or an amount (by=value)")
    core: float = 0.5
    by: Literal["quantile", "value"] = "quantile"


class ExportConfig(_Strict):
    target: Literal["file", "sql", "http"]
    directory: str | None = None        # file
    format: Literal["csv", "parquet"] = "csv"
    url: str | None = None              # sql (SQLAlchemy URL) or http (endpoint)
    table: str | None = None            # sql
    batch_size: int = Field(1000, gt=0)  # http

    @model_validator(mode="after")
    def _needs(self):
        need = {"file": ["directory"], "sql": ["url", "table"], "http": ["url"]}[self.target]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"target {self.target!r} needs {missing}")
        return self


class OutputConfig(_Strict):
    dir: str = "runs"
    formats: list[Literal["csv", "parquet"]] = ["csv"]


class RunConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    data: DataConfig
    summary: SummaryConfig = SummaryConfig()
    models: ModelsConfig = ModelsConfig()
    forecast: ForecastConfig = ForecastConfig()
    segments: SegmentsConfig = SegmentsConfig()
    output: OutputConfig = OutputConfig()
    export: list[ExportConfig] = []

    @model_validator(mode="after")
    def _consistent(self):
        if self.data.amount_col is None and self.models.spend is not None:
            raise ValueError("models.spend needs amounts but data.amount_col is null (a log without amounts): set "
                             "models.spend: null, and CLV counts orders (spend 1 per order)")
        if self.data.amount_col is None and self.summary.returns != "error":
            raise ValueError("summary.returns acts on amounts but data.amount_col is null")
        return self

    def with_source_resolved(self, base: Path | None) -> RunConfig:
        """The config with a relative ``data.source`` file resolved against ``base`` (the config
        file's folder): input paths are relative to the config, output paths (output.dir, export
        directories) to the working directory. Bundled data set names stay as they are."""
        if self.data.source in BUNDLED_SOURCES or base is None or Path(self.data.source).is_absolute():
            return self
        source = str((Path(base) / self.data.source).resolve())
        return self.model_copy(update={"data": self.data.model_copy(update={"source": source})})


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def load_config(source: str | Path | dict[str, Any]) -> tuple[RunConfig, Path | None]:
    """Parse a YAML path or a dict into a :class:`RunConfig`; return it with the config's folder.

    A relative ``data.source`` path is resolved against the config file's folder here, once.

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
    return cfg.with_source_resolved(base), base
