"""Simulate Pareto/GGG customers (Platzer & Reutterer 2016): the hierarchical model, drawn customer by
customer, for parameter-recovery tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ._common import check_positive, design

__all__ = ["simulate"]


def simulate(t, gamma, r, alpha, s, beta, T, *, holdout=None, n_customers=None, individual=False,
             random_state=None) -> pd.DataFrame:
    """Draw (frequency, recency, T, litt) under the Pareto/GGG.

    Each customer has k ~ Gamma(t, gamma), lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta) (shape, rate);
    after the first purchase at time 0 the inter-purchase times are Gamma(k, k lambda) (mean 1 / lambda) until
    the lifetime tau ~ Exponential(mu) ends. ``litt`` is the sum of the logs of the observed inter-purchase
    times, as :func:`clvmodels.rfm_summary` (``litt=True``) computes it from a log.

    Parameters
    ----------
    t, gamma, r, alpha, s, beta : float > 0
        The heterogeneity of k, lambda and mu.
    T : float or array
        Observation length(s) after each first purchase.
    holdout : float, optional
        A length; adds ``frequency_holdout``, the purchases in (T, T + holdout].
    n_customers : int, optional
        Needed when ``T`` is a scalar.
    individual : bool
        Also return each customer's true ``k``, ``lambda``, ``mu`` and ``alive`` (alive at T).
    random_state : seed or numpy Generator

    Examples
    --------
    >>> from clvmodels.simulate import paretoggg
    >>> sim = paretoggg.simulate(9.0, 3.0, 1.5, 3.0, 0.6, 30.0, 52.0, n_customers=4000, holdout=26.0,
    ...                          random_state=1)
    >>> sim.columns.tolist()
    ['frequency', 'recency', 'T', 'litt', 'frequency_holdout']
    >>> bool((sim["recency"] <= sim["T"]).all()), bool((sim.loc[sim["frequency"] == 0, "litt"] == 0).all())
    (True, True)
    """
    check_positive(t=t, gamma=gamma, r=r, alpha=alpha, s=s, beta=beta)
    rng = np.random.default_rng(random_state)
    T = design(T, n_customers)
    n = T.size
    h = 0.0 if holdout is None else float(holdout)
    if not (np.isfinite(h) and h >= 0):
        raise InvalidValueError(f"holdout={holdout} must be finite and >= 0", column="holdout")
    k = np.maximum(rng.gamma(t, 1.0 / gamma, size=n), 1e-6)
    lam = np.maximum(rng.gamma(r, 1.0 / alpha, size=n), 1e-12)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    tau = rng.exponential(size=n) / np.maximum(mu, 1e-300)
    x = np.zeros(n, dtype=np.int64)
    x_hold = np.zeros(n, dtype=np.int64)
    t_last = np.zeros(n)
    now = np.zeros(n)
    litt = np.zeros(n)
    active = np.arange(n)
    while active.size:
        gap = rng.gamma(k[active], 1.0 / (k[active] * lam[active]))
        nxt = now[active] + gap
        inside = (nxt <= np.minimum(T[active] + h, tau[active])) & (gap > 0)
        active, gap, nxt = active[inside], gap[inside], nxt[inside]
        now[active] = nxt
        cal = nxt <= T[active]
        c = active[cal]
        x[c] += 1
        t_last[c] = nxt[cal]
        litt[c] += np.log(gap[cal])
        x_hold[active[~cal]] += 1
    out = pd.DataFrame({"frequency": x.astype(np.float64), "recency": t_last, "T": T, "litt": litt},
                       index=pd.RangeIndex(n, name="customer_id"))
    if holdout is not None:
        out["frequency_holdout"] = x_hold.astype(np.float64)
    if individual:
        out["k"], out["lambda"], out["mu"], out["alive"] = k, lam, mu, tau > T
    return out
