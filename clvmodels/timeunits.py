"""Time units and rate conversions, defined once.

Every duration in clvmodels is expressed in one of four units with exact lengths in days:

=====  =====================  =========================================
unit   length in days         note
=====  =====================  =========================================
'D'    1                      calendar day
'W'    7                      week
'M'    365.25 / 12 = 30.4375  average Gregorian-Julian month (a year / 12)
'Y'    365.25                 average year
=====  =====================  =========================================

There are no 30-day months or 4.345-week months anywhere else in the code: every conversion
goes through :data:`DAYS_PER_UNIT`.
"""

from __future__ import annotations

import math

from .errors import ConfigError

__all__ = ["DAYS_PER_UNIT", "TIME_UNITS", "check_unit", "days_per", "convert", "period_discount_rate"]

DAYS_PER_YEAR = 365.25
DAYS_PER_UNIT: dict[str, float] = {
    "D": 1.0,
    "W": 7.0,
    "M": DAYS_PER_YEAR / 12.0,
    "Y": DAYS_PER_YEAR,
}
TIME_UNITS = tuple(DAYS_PER_UNIT)


def check_unit(unit: str, *, key: str = "time_unit") -> str:
    """Return the canonical unit letter or raise :class:`ConfigError` naming ``key``."""
    if not isinstance(unit, str) or unit.upper() not in DAYS_PER_UNIT:
        raise ConfigError(f"{key}={unit!r} is not a time unit; use one of {list(TIME_UNITS)}", key=key)
    return unit.upper()


def days_per(unit: str) -> float:
    """Length of one ``unit`` in days."""
    return DAYS_PER_UNIT[check_unit(unit)]


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a duration ``value`` from ``from_unit`` to ``to_unit`` exactly."""
    return value * days_per(from_unit) / days_per(to_unit)


def period_discount_rate(annual_rate: float, period: str) -> float:
    """Per-period effective rate equivalent to an annual effective ``annual_rate``.

    ``(1 + d_period) ** periods_per_year == 1 + annual_rate`` exactly, with
    ``periods_per_year = 365.25 / days_per(period)``.
    """
    if not (isinstance(annual_rate, (int, float)) and math.isfinite(annual_rate) and annual_rate > -1):
        raise ConfigError(f"discount_rate={annual_rate!r} must be a finite annual rate > -1", key="discount_rate")
    periods_per_year = DAYS_PER_YEAR / days_per(period)
    return math.expm1(math.log1p(annual_rate) / periods_per_year)
