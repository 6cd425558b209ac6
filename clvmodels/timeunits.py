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

Discount rates are one value type, :class:`DiscountRate`: an annual effective rate, converted
exactly to the effective rate of any period (``(1 + d_period) ** periods_per_year == 1 + annual``)
or to the continuously compounded rate per unit (``log(1 + annual) * days / 365.25``). Every
function that discounts (``forecast_clv``, ``residual_clv``, each model's ``dert`` / ``derl``) takes
one; a plain number there means an annual effective rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from .errors import ConfigError

__all__ = ["DAYS_PER_UNIT", "TIME_UNITS", "check_unit", "days_per", "convert", "period_discount_rate",
           "DiscountRate", "as_discount_rate"]

DAYS_PER_YEAR = 365.25
DAYS_PER_UNIT: dict[str, float] = {
    "D": 1.0,
    "W": 7.0,
    "M": DAYS_PER_YEAR / 12.0,
    "Y": DAYS_PER_YEAR,
}
TIME_UNITS = tuple(DAYS_PER_UNIT)


def check_unit(unit: str, *, key: str = "time_unit") -> str:
    """Return the canonical unit letter or raise :class:`ConfigError` naming ``key``.

    Examples
    --------
    >>> check_unit("w")
    'W'
    >>> try:
    ...     check_unit("fortnight", key="period")
    ... except ConfigError as exc:
    ...     print(exc.key)
    period
    """
    if not isinstance(unit, str) or unit.upper() not in DAYS_PER_UNIT:
        raise ConfigError(f"{key}={unit!r} is not a time unit; use one of {list(TIME_UNITS)}", key=key)
    return unit.upper()


def days_per(unit: str) -> float:
    """Length of one ``unit`` in days.

    Examples
    --------
    >>> days_per("W"), days_per("M"), days_per("Y")     # a month is 365.25 / 12 days
    (7.0, 30.4375, 365.25)
    """
    return DAYS_PER_UNIT[check_unit(unit)]


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a duration ``value`` from ``from_unit`` to ``to_unit`` exactly.

    Examples
    --------
    >>> convert(39, "W", "D")                 # the 39-week CDNOW calibration period
    273.0
    >>> round(convert(1, "Y", "W"), 4)        # 365.25 / 7 weeks, not 52
    52.1786
    """
    return value * days_per(from_unit) / days_per(to_unit)


def period_discount_rate(annual_rate, period: str) -> float:
    """Per-period effective rate equivalent to an annual effective rate (a number or a
    :class:`DiscountRate`): ``(1 + d_period) ** (365.25 / days_per(period)) == 1 + annual``.

    Examples
    --------
    >>> d = period_discount_rate(0.10, "M")
    >>> round(d, 6), round((1 + d) ** 12, 12)       # twelve months compound to the annual 10%
    (0.007974, 1.1)
    """
    return as_discount_rate(annual_rate).per_period(period)


@dataclass(frozen=True)
class DiscountRate:
    """A discount rate: an annual effective rate (>= 0), converted exactly to any period.

    Build it from an annual rate (``DiscountRate(0.10)``), from the effective rate of another
    period (:meth:`per`) or from a continuously compounded rate (:meth:`continuous`). The value is
    validated once, here.

    Examples
    --------
    >>> d = DiscountRate(0.10)
    >>> round(d.per_period("M"), 8), round(d.continuous_rate("W"), 8)
    (0.00797414, 0.00182662)
    >>> round(DiscountRate.per(0.00797414, "M").annual, 6)
    0.1
    """

    annual: float

    def __post_init__(self):
        value = self.annual
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            raise ConfigError(f"discount_rate must be an annual effective rate (a finite number >= 0), got {value!r}",
                              key="discount_rate")
        if float(value) < 0:
            raise ConfigError(f"discount_rate must be >= 0 (got {value!r}); a negative rate would value future money "
                              "above present money", key="discount_rate")
        object.__setattr__(self, "annual", float(value))

    @classmethod
    def per(cls, rate: float, unit: str) -> DiscountRate:
        """The annual equivalent of an effective rate ``rate`` per ``unit`` ('D', 'W', 'M', 'Y')."""
        if isinstance(rate, bool) or not isinstance(rate, Real) or not (math.isfinite(rate) and rate > -1):
            raise ConfigError(f"discount rate {rate!r} per {unit!r} must be a finite number > -1", key="discount_rate")
        return cls(math.expm1(math.log1p(rate) * DAYS_PER_YEAR / days_per(unit)))

    @classmethod
    def continuous(cls, delta: float, unit: str) -> DiscountRate:
        """The annual equivalent of a continuously compounded rate ``delta`` per ``unit``."""
        if isinstance(delta, bool) or not isinstance(delta, Real) or not math.isfinite(delta):
            raise ConfigError(f"continuous discount rate {delta!r} per {unit!r} must be a finite number",
                              key="discount_rate")
        return cls(math.expm1(delta * DAYS_PER_YEAR / days_per(unit)))

    def per_period(self, unit: str) -> float:
        """The effective rate per ``unit``: ``(1 + d) ** (365.25 / days(unit)) == 1 + annual``."""
        return math.expm1(math.log1p(self.annual) * days_per(unit) / DAYS_PER_YEAR)

    def continuous_rate(self, unit: str) -> float:
        """The continuously compounded rate per ``unit``: ``log(1 + annual) * days(unit) / 365.25``."""
        return math.log1p(self.annual) * days_per(unit) / DAYS_PER_YEAR

    def factors(self, period: str, horizon: int):
        """End-of-period discount factors ``(1 + d) ** -k`` for k = 1..horizon (d per ``period``)."""
        import numpy as np

        k = np.arange(1, int(horizon) + 1, dtype=np.float64)
        return np.exp(-k * math.log1p(self.per_period(period)))


def as_discount_rate(value, key: str = "discount_rate") -> DiscountRate:
    """``value`` as a :class:`DiscountRate` (a number is an annual effective rate).

    A :class:`DiscountRate` is returned as it is; an invalid number raises :class:`ConfigError`
    naming ``key``.

    Examples
    --------
    >>> as_discount_rate(0.1)
    DiscountRate(annual=0.1)
    >>> try:
    ...     as_discount_rate(-0.02, key="rate")
    ... except ConfigError as exc:
    ...     print(exc.key)
    rate
    """
    if isinstance(value, DiscountRate):
        return value
    try:
        return DiscountRate(value)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("discount_rate", key, 1), key=key) from None
