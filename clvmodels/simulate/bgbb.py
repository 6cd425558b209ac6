"""Simulate customers from the BG/BB (Fader, Hardie & Shang 2010).

Each customer draws p ~ Beta(alpha, beta) and theta ~ Beta(gamma, delta). Before each of the n
transaction opportunities a living customer dies with probability theta; a living customer
transacts with probability p. Observed: x transactions, the last at opportunity t_x (0 if none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError

__all__ = ["simulate"]


def simulate(alpha: float, beta: float, gamma: float, delta: float, n_periods, n_customers: int | None = None,
             random_state=None, aggregate: bool = False) -> pd.DataFrame:
    """A BG/BB summary (index customer_id; columns frequency, recency, n_periods).

    ``n_periods`` is a scalar (with ``n_customers``) or one number of opportunities per
    customer. With ``aggregate`` identical histories are collapsed into a ``weight`` column
    (the layout of :func:`clvmodels.datasets.donations`).

    Examples
    --------
    A donations-like cohort: 11,104 donors, 6 yearly opportunities, the estimates of Fader, Hardie &
    Shang (2010); ``aggregate=True`` counts identical histories in a ``weight`` column, the layout of
    :func:`clvmodels.datasets.donations`:

    >>> from clvmodels.simulate import bgbb
    >>> sim = bgbb.simulate(1.204, 0.750, 0.657, 2.783, 6, n_customers=11104, random_state=1, aggregate=True)
    >>> list(sim.columns), int(sim["weight"].sum())
    (['frequency', 'recency', 'n_periods', 'weight'], 11104)
    >>> share_zero = float(sim.loc[sim["frequency"] == 0, "weight"].sum() / 11104)
    >>> round(share_zero, 2)
    0.31
    >>> from clvmodels.math.bgbb import p_purchases
    >>> round(float(p_purchases(1.204, 0.750, 0.657, 2.783, 0, 6)), 2)       # the model's P(X(6) = 0)
    0.31
    """
    for name, v in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("delta", delta)):
        if not (np.isfinite(v) and v > 0):
            raise InvalidValueError(f"{name} must be finite and > 0, got {v}", column=name)
    n = np.asarray(n_periods, dtype=np.float64)
    if n.ndim == 0:
        if n_customers is None:
            raise InvalidValueError("give n_customers with a scalar n_periods", column="n_customers")
        n = np.full(int(n_customers), float(n))
    if np.any(~np.isfinite(n) | (n < 0) | (n != np.floor(n))):
        raise InvalidValueError("n_periods must be whole numbers >= 0", column="n_periods")
    n = n.astype(np.int64)
    rng = np.random.default_rng(random_state)
    size = n.size
    p = rng.beta(alpha, beta, size)
    theta = rng.beta(gamma, delta, size)
    # opportunities survived: alive at 1..A with A = Geometric(theta) - 1 (death before A+1)
    alive_for = np.minimum(rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1, n)
    x = np.zeros(size, dtype=np.int64)
    t_x = np.zeros(size, dtype=np.int64)
    for t in range(1, int(n.max(initial=0)) + 1):
        buy = (t <= alive_for) & (rng.random(size) < p)
        x += buy
        t_x = np.where(buy, t, t_x)
    out = pd.DataFrame({"frequency": x, "recency": t_x, "n_periods": n}, index=pd.RangeIndex(size, name="customer_id"))
    if aggregate:
        out = (out.groupby(["frequency", "recency", "n_periods"], sort=True).size().rename("weight").reset_index())
    return out
