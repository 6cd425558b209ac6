"""Forecasting layer: churn, expected purchases and spend, contribution margin and discounted CLV.

* :func:`forecast_clv` - finite horizon, period by period, with intervals (``clv.forecast_clv``);
* :func:`residual_clv` - infinite horizon from the closed-form DERT (Pareto/NBD, BG/BB);
* :mod:`.discount` - exact period lengths and discount factors; :mod:`.economics` - margins and costs.
"""

from __future__ import annotations

from .clv import CASH_FLOW_COLUMNS, CLV_COLUMNS, forecast_clv, residual_clv

__all__ = ["forecast_clv", "residual_clv", "CLV_COLUMNS", "CASH_FLOW_COLUMNS"]
