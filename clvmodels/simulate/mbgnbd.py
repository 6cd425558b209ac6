"""Simulate MBG/NBD customers (Batislam, Denizel & Filiztekin 2007)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import check_positive, design, frame, nbd_history

__all__ = ["simulate"]


def simulate(r, alpha, a, b, T, *, n_customers=None, random_state=None) -> pd.DataFrame:
    """Draw (frequency, recency, T) under MBG/NBD: as BG/NBD, but the dropout coin is also tossed
    at time 0, so the number of purchases before dropout is K ~ Geometric(p) - 1 on {0, 1, ...}.

    Examples
    --------
    As for the BG/NBD, with the MBG/NBD's own CDNOW estimates (``clv.MBGNBD().fit``, rounded):

    >>> from clvmodels.simulate import mbgnbd
    >>> sim = mbgnbd.simulate(0.525, 6.183, 0.891, 1.614, 38.86, n_customers=2357, random_state=42)
    >>> sim.shape
    (2357, 3)
    >>> round(float((sim["frequency"] == 0).mean()), 2)
    0.58
    >>> from clvmodels.math.mbgnbd import p_purchases
    >>> round(float(p_purchases(0.525, 6.183, 0.891, 1.614, 0, 38.86)), 2)
    0.58
    """
    check_positive(r=r, alpha=alpha, a=a, b=b)
    rng = np.random.default_rng(random_state)
    T = design(T, n_customers)
    lam = rng.gamma(r, 1.0 / alpha, size=T.size)
    p = rng.beta(a, b, size=T.size)
    K = rng.geometric(np.clip(p, 1e-300, 1.0)) - 1
    x, t_x = nbd_history(rng, lam, T, K)
    return frame(x, t_x, T)
