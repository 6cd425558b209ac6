"""Simulate a cohort from the shifted-beta-geometric model (Fader & Hardie 2007).

Each customer draws a churn probability theta ~ Beta(alpha, beta) and renews at the end of
every period with probability 1 - theta until the first non-renewal.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidValueError

__all__ = ["simulate", "simulate_lifetimes"]


def simulate_lifetimes(alpha: float, beta: float, n_customers: int, random_state=None) -> np.ndarray:
    """Lifetimes T (periods until the first non-renewal, T >= 1), one per customer.

    Examples
    --------
    >>> from clvmodels.simulate import sbg
    >>> sbg.simulate_lifetimes(0.668, 3.806, 8, random_state=1).tolist()      # periods until churn
    [8, 1, 1348, 6, 1, 43, 14, 58]
    """
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not (np.isfinite(v) and v > 0):
            raise InvalidValueError(f"{name} must be finite and > 0, got {v}", column=name)
    rng = np.random.default_rng(random_state)
    theta = rng.beta(alpha, beta, int(n_customers))
    return rng.geometric(np.clip(theta, 1e-300, 1.0))


def simulate(alpha: float, beta: float, n_customers: int, n_periods: int, random_state=None) -> np.ndarray:
    """Survivor counts ``[n_0, n_1, ..., n_k]`` (k = n_periods) of a simulated cohort; n_0 = n_customers.

    Examples
    --------
    A cohort of 1000 customers over 7 periods under the estimates of Fader & Hardie (2007) for the
    "high end" segment, whose observed survivors were 1000, 869, 743, 653, 593, 551, 517, 491:

    >>> from clvmodels.simulate import sbg
    >>> sbg.simulate(0.668, 3.806, 1000, 7, random_state=1).tolist()
    [1000, 863, 763, 676, 617, 574, 532, 495]
    """
    if int(n_periods) < 1:
        raise InvalidValueError("n_periods must be >= 1", column="n_periods")
    T = simulate_lifetimes(alpha, beta, n_customers, random_state)
    t = np.arange(0, int(n_periods) + 1)
    return (T[None, :] > t[:, None]).sum(axis=1)
