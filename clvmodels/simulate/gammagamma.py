"""Simulate Gamma-Gamma mean spend (Fader & Hardie 2013)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidValueError
from ._common import check_positive

__all__ = ["simulate"]


def simulate(p, q, v, frequency, *, random_state=None) -> np.ndarray:
    """Mean spend per repeat transaction for customers with ``frequency`` repeat transactions.

    nu ~ Gamma(q, rate v) per customer; each transaction ~ Gamma(p, rate nu), so the sum of x
    transactions is Gamma(p x, rate nu). Returns an array aligned with ``frequency``: the mean
    of the x transactions, and 0 where x = 0 (the summary convention).

    Examples
    --------
    Mean spend of customers with 0, 1, 2 and 5 repeat transactions (0 where there is none), with
    the estimates of Fader & Hardie (2013):

    >>> from clvmodels.simulate import gammagamma
    >>> gammagamma.simulate(6.25, 3.74, 15.44, [0, 1, 2, 5], random_state=1).round(2).tolist()
    [0.0, 26.09, 17.65, 33.24]
    >>> spend = gammagamma.simulate(6.25, 3.74, 15.44, np.ones(200_000), random_state=1)
    >>> round(float(spend.mean()), 1)                            # the population mean p v / (q - 1) = 35.22
    35.3
    """
    check_positive(p=p, q=q, v=v)
    x = np.asarray(frequency, dtype=np.float64)
    if np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x != np.floor(x)):
        raise InvalidValueError("frequency must hold non-negative whole numbers", column="frequency")
    rng = np.random.default_rng(random_state)
    nu = rng.gamma(q, 1.0 / v, size=x.shape)
    out = np.zeros(x.shape)
    has = x > 0
    out[has] = rng.gamma(p * x[has], 1.0 / nu[has]) / x[has]
    return out
