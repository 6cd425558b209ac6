"""clvmodels: probabilistic customer lifetime value.

Public names are imported lazily (PEP 562) so that ``import clvmodels`` is light and never
imports PyMC; ``clvmodels.bayes`` loads PyMC only when first touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    # data layer
    "rfm_summary": ".data.rfm",
    "calibration_holdout": ".data.rfm",
    "RFMSummary": ".data.summary",
    "validate_transactions": ".data.validation",
    "validate_summary": ".data.validation",
    # MLE models
    "BGNBD": ".models.bgnbd",
    "MBGNBD": ".models.mbgnbd",
    "ParetoNBD": ".models.paretonbd",
    "BGBB": ".models.bgbb",
    "BGCNBDk": ".models.cnbdk",
    "MBGCNBDk": ".models.cnbdk",
    "ShiftedBetaGeo": ".models.sbg",
    "GammaGamma": ".models.gammagamma",
    "load_model": ".registry",
    "DiscountRate": ".timeunits",
    "PurchaseModel": ".protocols",
    "SpendModel": ".protocols",
    # forecasting
    "forecast_clv": ".forecast.clv",
    "residual_clv": ".forecast.clv",
    "compare_models": ".evaluate.compare",
    "load_run": ".pipeline",
}
_SUBMODULES = {"datasets", "errors", "timeunits", "bayes", "data", "models", "forecast", "evaluate",
               "plots", "segments", "export", "cli", "config", "pipeline", "simulate", "protocols", "registry"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'clvmodels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from . import bayes, datasets, errors, timeunits  # noqa: F401
    from .data.rfm import calibration_holdout, rfm_summary  # noqa: F401
