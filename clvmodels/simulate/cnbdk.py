"""Simulate BG/CNBD-k and MBG/CNBD-k customers (Reutterer, Platzer & Schroeder 2021; the generator of
BTYDplus' ``xbgcnbd.GenerateData``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ._common import check_positive, design

__all__ = ["simulate"]


def simulate(k, r, alpha, a, b, T, *, dropout_at_zero=False, holdout=None, n_customers=None,
             random_state=None) -> pd.DataFrame:
    """Draw (frequency, recency, T, litt) under the (M)BG/CNBD-k.

    Each customer has lambda ~ Gamma(r, alpha) and p ~ Beta(a, b); repeat purchases follow the first one
    (at time 0) after Erlang-k(lambda) inter-purchase times (Gamma(k) with rate lambda); after each
    purchase - and with ``dropout_at_zero`` (MBG/CNBD-k) also at time 0 - the customer leaves with
    probability p. ``litt`` is the sum of the logs of the observed inter-purchase times, as
    :func:`clvmodels.rfm_summary` (``litt=True``) computes it from a log.

    ``holdout`` (optional): a length; adds ``frequency_holdout``, the purchases in (T, T + holdout].

    Examples
    --------
    >>> from clvmodels.simulate import cnbdk
    >>> sim = cnbdk.simulate(3, 2.0, 6.0, 0.8, 2.5, 52.0, n_customers=5000, dropout_at_zero=True, random_state=1)
    >>> sim.columns.tolist(), sim.shape
    (['frequency', 'recency', 'T', 'litt'], (5000, 4))
    >>> from clvmodels.math.cnbdk import p_purchases
    >>> float((sim["frequency"] == 0).mean()), round(float(p_purchases(3, 2.0, 6.0, 0.8, 2.5, 0, 52.0,
    ...                                                                 dropout_at_zero=True)), 3)
    (0.2826, 0.285)
    """
    if not (np.isfinite(k) and k >= 1 and k == int(k)):
        raise InvalidValueError(f"k={k} must be a whole number >= 1", column="k")
    check_positive(r=r, alpha=alpha, a=a, b=b)
    k = int(k)
    rng = np.random.default_rng(random_state)
    T = design(T, n_customers)
    n = T.size
    h = 0.0 if holdout is None else float(holdout)
    if not (np.isfinite(h) and h >= 0):
        raise InvalidValueError(f"holdout={holdout} must be finite and >= 0", column="holdout")
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = np.clip(rng.beta(a, b, size=n), 1e-300, 1.0)
    # purchases made before leaving: dropout after the D-th repeat purchase (BG), or at time 0 too (MBG)
    D = rng.geometric(p) - (1 if dropout_at_zero else 0)
    x = np.zeros(n, dtype=np.int64)
    x_hold = np.zeros(n, dtype=np.int64)
    t_last = np.zeros(n)
    now = np.zeros(n)
    litt = np.zeros(n)
    made = np.zeros(n, dtype=np.int64)
    active = np.flatnonzero(D > 0)
    while active.size:
        gap = rng.gamma(k, 1.0 / lam[active])
        nxt = now[active] + gap
        inside = nxt <= T[active] + h
        active, gap, nxt = active[inside], gap[inside], nxt[inside]
        now[active] = nxt
        made[active] += 1
        cal = nxt <= T[active]
        c = active[cal]
        x[c] += 1
        t_last[c] = nxt[cal]
        litt[c] += np.log(gap[cal])
        x_hold[active[~cal]] += 1
        active = active[made[active] < D[active]]
    out = pd.DataFrame({"frequency": x.astype(np.float64), "recency": t_last, "T": T, "litt": litt},
                       index=pd.RangeIndex(n, name="customer_id"))
    if holdout is not None:
        out["frequency_holdout"] = x_hold.astype(np.float64)
    return out
