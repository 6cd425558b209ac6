"""Exact units for forecasting: period lengths, discount factors and rates.

Every conversion goes through :mod:`clvmodels.timeunits` (a month is 365.25/12 days, a year
365.25 days); there are no 30-day months or 4.345-week months here.

Conventions
-----------
* A forecast covers ``horizon`` periods of length ``period`` ('D', 'W', 'M' or 'Y'), starting at
  the end of the customer's observation (T). Period k covers ``(T + (k-1) tau, T + k tau]`` with
  ``tau`` the period length in the summary's time unit.
* ``discount_rate`` is an *annual effective* rate. The per-period rate is
  ``d = (1 + discount_rate) ** (days_per(period) / 365.25) - 1`` and the cash flow of period k is
  discounted at the end of the period: factor ``(1 + d) ** -k``.
* The closed-form DERT of the Pareto/NBD (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 2)
  discounts continuously at ``delta = log(1 + discount_rate) * days_per(time_unit) / 365.25`` per
  time unit, the same money value of time. Since each purchase in period k happens at a time u
  with ``(1+d)^-k <= exp(-delta u) <= (1+d)^-(k-1)``, the end-of-period sum over infinitely many
  periods lies in ``[DERT / (1+d), DERT]`` and tends to DERT as the period shrinks.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from ..errors import ConfigError
from ..timeunits import DAYS_PER_YEAR, check_unit, convert, days_per, period_discount_rate

__all__ = [
    "check_horizon",
    "check_discount_rate",
    "period_length",
    "discount_factors",
    "continuous_rate",
    "opportunities_per_period",
]


def check_horizon(horizon) -> int:
    """The horizon as a positive whole number of periods, or :class:`ConfigError` naming ``horizon``.

    Examples
    --------
    >>> check_horizon(12), check_horizon(12.0)
    (12, 12)
    >>> try:
    ...     check_horizon(2.5)
    ... except ConfigError as exc:
    ...     print(exc)
    horizon must be a whole number of periods >= 1, got 2.5
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (Integral, Real)):
        raise ConfigError(f"horizon must be a whole number of periods >= 1, got {horizon!r}", key="horizon")
    value = float(horizon)
    if not (math.isfinite(value) and value >= 1 and value == math.floor(value)):
        raise ConfigError(f"horizon must be a whole number of periods >= 1, got {horizon!r}", key="horizon")
    return int(value)


def check_discount_rate(discount_rate) -> float:
    """An annual effective rate >= 0 as a float, or :class:`ConfigError` naming ``discount_rate``.

    Negative rates are refused (they would value future money above present money), as are
    booleans, NaN and infinity.

    Examples
    --------
    >>> check_discount_rate(0.1)
    0.1
    >>> try:
    ...     check_discount_rate(-0.5)
    ... except ConfigError as exc:
    ...     print(exc.key)
    discount_rate
    """
    if isinstance(discount_rate, bool) or not isinstance(discount_rate, Real):
        raise ConfigError(f"discount_rate must be an annual effective rate (a number > -1), got {discount_rate!r}",
                          key="discount_rate")
    value = float(discount_rate)
    if not (math.isfinite(value) and value > -1.0):
        raise ConfigError(f"discount_rate must be a finite annual effective rate > -1, got {discount_rate!r}",
                          key="discount_rate")
    if value < 0:
        raise ConfigError(f"discount_rate must be >= 0 (got {discount_rate!r}); a negative rate would value "
                          "future money above present money", key="discount_rate")
    return value


def period_length(period: str, time_unit: str) -> float:
    """Length of one forecast ``period`` in the summary's ``time_unit`` (exact).

    Examples
    --------
    >>> round(period_length("M", "W"), 4)       # a month of 365.25 / 12 days, in weeks
    4.3482
    >>> period_length("Y", "D")
    365.25
    """
    return convert(1.0, check_unit(period, key="period"), check_unit(time_unit))


def discount_factors(discount_rate: float, period: str, horizon: int) -> np.ndarray:
    """End-of-period discount factors ``(1 + d) ** -k`` for k = 1..horizon (d per period).

    ``discount_rate`` is the annual effective rate; ``d`` its exact equivalent per ``period``.

    Examples
    --------
    >>> discount_factors(0.10, "Y", 3).round(4).tolist()
    [0.9091, 0.8264, 0.7513]
    >>> round(float(discount_factors(0.10, "M", 12)[-1]), 4)    # twelve months discount like one year
    0.9091
    """
    rate = check_discount_rate(discount_rate)
    horizon = check_horizon(horizon)
    d = period_discount_rate(rate, check_unit(period, key="period"))
    k = np.arange(1, horizon + 1, dtype=np.float64)
    return np.exp(-k * math.log1p(d))


def continuous_rate(discount_rate: float, time_unit: str) -> float:
    """Continuously compounded rate per ``time_unit`` equivalent to an annual effective rate:
    ``log(1 + discount_rate) * days_per(time_unit) / 365.25`` (FHL 2005's delta).

    Examples
    --------
    >>> round(continuous_rate(0.15, "W"), 4)    # 15% a year in weeks: FHL (2005, "RFM and CLV") print .0027
    0.0027
    """
    rate = check_discount_rate(discount_rate)
    return math.log1p(rate) * days_per(time_unit) / DAYS_PER_YEAR


def opportunities_per_period(period: str, time_unit: str) -> int:
    """Number of BG/BB transaction opportunities (each one ``time_unit`` long) per forecast period.

    BG/BB forecasts move in whole opportunities: a forecast period must hold a whole number of
    them (e.g. yearly opportunities with period='Y', monthly opportunities with period='Y' -> 12).

    Examples
    --------
    >>> opportunities_per_period("Y", "M"), opportunities_per_period("Y", "Y")
    (12, 1)
    >>> try:
    ...     opportunities_per_period("W", "M")
    ... except ConfigError as exc:
    ...     print(exc.key)
    period
    """
    m = period_length(period, time_unit)
    k = round(m)
    if k < 1 or abs(m - k) > 1e-9 * max(1.0, m):
        raise ConfigError(f"a BG/BB forecast period must hold a whole number of transaction opportunities: "
                          f"period={period!r} is {m:g} opportunities of length {time_unit!r}; choose a period "
                          f"that is a multiple of {time_unit!r}", key="period")
    return int(k)
