"""Shared helpers of the simulators."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidValueError


def design(T, n_customers):
    """T as a float array (scalar T needs n_customers)."""
    T = np.asarray(T, dtype=np.float64)
    if T.ndim == 0:
        if n_customers is None:
            raise InvalidValueError("pass n_customers when T is a scalar", column="T")
        T = np.full(int(n_customers), float(T))
    elif n_customers is not None and len(T) != int(n_customers):
        raise InvalidValueError(f"T has {len(T)} values but n_customers={n_customers}", column="T")
    if T.ndim != 1 or not np.all(np.isfinite(T)) or np.any(T < 0):
        raise InvalidValueError("T must be finite and non-negative", column="T")
    return T


def check_positive(**params):
    for name, value in params.items():
        if not (np.isfinite(value) and value > 0):
            raise InvalidValueError(f"parameter {name}={value} must be finite and > 0", column=name)


def nbd_history(rng, lam, T, K):
    """x = min(N(T), K) purchases of a Poisson(lam) process observed on (0, T], the process
    stopping after K purchases; t_x is the x-th of N(T) uniform order statistics times T."""
    N = rng.poisson(lam * T)
    x = np.minimum(N, K)
    t_x = np.zeros_like(T)
    has = x > 0
    t_x[has] = T[has] * rng.beta(x[has], N[has] - x[has] + 1)
    return x.astype(np.float64), t_x


def frame(x, t_x, T):
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T},
                        index=pd.RangeIndex(len(T), name="customer_id"))
