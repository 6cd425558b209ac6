"""Simulate customers from the Pareto/NBD (Schmittlein, Morrison & Colombo 1987).

Each customer draws lambda ~ Gamma(r, rate alpha) and mu ~ Gamma(s, rate beta), lives an
exponential(mu) lifetime tau and, while alive, buys as a Poisson process with rate lambda.
Observed over (0, T]: x = purchases in (0, min(tau, T)], t_x = time of the last one (0 if none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError

__all__ = ["simulate"]


def simulate(r: float, alpha: float, s: float, beta: float, T, n_customers: int | None = None,
             random_state=None, return_latent: bool = False) -> pd.DataFrame:
    """An RFM summary (index customer_id 0..N-1; columns frequency, recency, T) drawn from the model.

    ``T`` is a scalar (with ``n_customers``) or one observation length per customer.
    ``random_state``: None, an int seed or a ``numpy.random.Generator``. With ``return_latent``
    the frame also holds ``lambda_``, ``mu`` and ``lifetime``.

    Examples
    --------
    Customers observed for 38.86 weeks under the CDNOW estimates of the Pareto/NBD (Fader, Hardie
    & Lee 2005 note); ``return_latent`` adds each customer's rates and lifetime:

    >>> from clvmodels.simulate import paretonbd
    >>> sim = paretonbd.simulate(0.553, 10.578, 0.606, 11.669, 38.86, n_customers=2357, random_state=42,
    ...                          return_latent=True)
    >>> list(sim.columns)
    ['frequency', 'recency', 'T', 'lambda_', 'mu', 'lifetime']
    >>> round(float((sim["frequency"] == 0).mean()), 2)
    0.6
    >>> from clvmodels.math.paretonbd import p_purchases
    >>> round(float(p_purchases(0.553, 10.578, 0.606, 11.669, 0, 38.86)), 2)
    0.59
    """
    for name, v in (("r", r), ("alpha", alpha), ("s", s), ("beta", beta)):
        if not (np.isfinite(v) and v > 0):
            raise InvalidValueError(f"{name} must be finite and > 0, got {v}", column=name)
    T = np.asarray(T, dtype=np.float64)
    if T.ndim == 0:
        if n_customers is None:
            raise InvalidValueError("give n_customers with a scalar T", column="n_customers")
        T = np.full(int(n_customers), float(T))
    if np.any(~np.isfinite(T) | (T < 0)):
        raise InvalidValueError("T must be finite and >= 0", column="T")
    rng = np.random.default_rng(random_state)
    n = T.size
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    with np.errstate(divide="ignore"):
        tau = rng.exponential(1.0, n) / mu
    active = np.minimum(tau, T)
    x = rng.poisson(lam * active)
    # the last of x uniform points on (0, active) is active * U^(1/x)
    with np.errstate(divide="ignore"):
        last = active * rng.random(n) ** (1.0 / np.maximum(x, 1))
    t_x = np.where(x > 0, last, 0.0)
    out = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": T},
                       index=pd.RangeIndex(n, name="customer_id"))
    if return_latent:
        out["lambda_"], out["mu"], out["lifetime"] = lam, mu, tau
    return out
