"""Simulate BG/NBD customers (Fader, Hardie & Lee 2005, sec. 3 assumptions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import check_positive, design, frame, nbd_history

__all__ = ["simulate"]


def simulate(r, alpha, a, b, T, *, n_customers=None, random_state=None) -> pd.DataFrame:
    """Draw (frequency, recency, T) for customers observed over (0, T].

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); purchases are Poisson(lambda) while active and
    the customer drops out after each purchase with probability p, so the number of purchases
    before dropout is K ~ Geometric(p) on {1, 2, ...}. ``T`` is one value per customer (or a scalar
    with ``n_customers``); ``random_state`` is None, a seed or a numpy Generator.

    Examples
    --------
    2,357 customers observed for 38.86 weeks under the CDNOW estimates of Fader, Hardie & Lee
    (2005); the share without repeat purchases is close to the model's P(X(T) = 0):

    >>> from clvmodels.simulate import bgnbd
    >>> sim = bgnbd.simulate(0.243, 4.414, 0.793, 2.426, 38.86, n_customers=2357, random_state=42)
    >>> sim.shape, list(sim.columns), sim.index.name
    ((2357, 3), ['frequency', 'recency', 'T'], 'customer_id')
    >>> round(float((sim["frequency"] == 0).mean()), 2)
    0.58
    >>> from clvmodels.math.bgnbd import p_purchases
    >>> round(float(p_purchases(0.243, 4.414, 0.793, 2.426, 0, 38.86)), 2)
    0.57
    """
    check_positive(r=r, alpha=alpha, a=a, b=b)
    rng = np.random.default_rng(random_state)
    T = design(T, n_customers)
    lam = rng.gamma(r, 1.0 / alpha, size=T.size)
    p = rng.beta(a, b, size=T.size)
    K = rng.geometric(np.clip(p, 1e-300, 1.0))
    x, t_x = nbd_history(rng, lam, T, K)
    return frame(x, t_x, T)
