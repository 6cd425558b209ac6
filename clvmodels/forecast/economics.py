"""Unit economics of a forecast: contribution margin and costs, per customer.

The economics are applied *after* the spend model, so a customer can be worth less than nothing:

    contribution of period k = (margin * spend - cost_per_order) * E[purchases in period k]
                               - cost_per_active_period * P(alive at the end of period k)

and a one-off ``retention_cost`` is paid now (at time 0, undiscounted).

Each input may be

* a number (the same for every customer);
* the name of a numeric column of the summary;
* a :class:`pandas.Series` keyed by customer_id (every customer of the summary must appear);
* for ``margin`` only: a mapping ``{segment: rate}`` together with ``margin_by=<column>``, the
  summary column holding each customer's segment or product group (every segment that occurs
  must have a rate).

Rules: margins are finite rates <= 1 (negative margins are allowed: loss-making lines); costs are
finite and >= 0. Violations raise :class:`~clvmodels.errors.ConfigError` (a bad setting) or
:class:`~clvmodels.errors.DataValidationError` (bad per-customer values), naming the key and up
to five example customers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd

from ..errors import ConfigError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["Economics", "resolve_economics", "per_customer"]


@dataclass(frozen=True)
class Economics:
    """Per-customer economics, aligned with the summary's rows (float64 arrays).

    Build it with :func:`resolve_economics`, which validates the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> eco = Economics(margin=np.array([0.3, 0.3]), cost_per_order=np.zeros(2),
    ...                 cost_per_active_period=np.array([0.0, 1.0]), retention_cost=np.zeros(2))
    >>> eco.has_active_cost, eco.has_retention_cost
    (True, False)
    >>> eco.describe()
    {'margin': '0.3', 'cost_per_order': '0.0', 'cost_per_active_period': 'per customer', 'retention_cost': '0.0'}
    """

    margin: np.ndarray
    cost_per_order: np.ndarray
    cost_per_active_period: np.ndarray
    retention_cost: np.ndarray

    @property
    def has_active_cost(self) -> bool:
        return bool(np.any(self.cost_per_active_period != 0))

    @property
    def has_retention_cost(self) -> bool:
        return bool(np.any(self.retention_cost != 0))

    def describe(self) -> dict[str, str]:
        """Short description of each input for the output's attrs."""
        def d(v: np.ndarray) -> str:
            if v.size and np.all(v == v[0]):
                return repr(float(v[0]))
            return "per customer"
        return {"margin": d(self.margin), "cost_per_order": d(self.cost_per_order),
                "cost_per_active_period": d(self.cost_per_active_period), "retention_cost": d(self.retention_cost)}


def per_customer(value, key: str, summary: pd.DataFrame, *, lower: float | None = None,
                 upper: float | None = None) -> np.ndarray:
    """Resolve a number / column name / Series keyed by customer_id to an array in summary order.

    Values must be finite and within ``[lower, upper]`` (either bound optional). A bad setting
    raises :class:`~clvmodels.errors.ConfigError`, bad per-customer values (or customers the
    Series lacks) an :class:`~clvmodels.errors.InvalidValueError` naming example customers.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [2, 1, 0], "shipping": [4.5, 3.0, 0.0]},
    ...                        index=pd.Index([1, 2, 3], name="customer_id"))
    >>> per_customer(0.3, "margin", summary, upper=1.0).tolist()
    [0.3, 0.3, 0.3]
    >>> per_customer("shipping", "cost_per_order", summary, lower=0.0).tolist()
    [4.5, 3.0, 0.0]
    >>> per_customer(pd.Series({3: 0.2, 1: 0.4, 2: 0.3}), "margin", summary).tolist()   # aligned by id
    [0.4, 0.3, 0.2]
    >>> try:
    ...     per_customer(pd.Series({1: 0.4}), "margin", summary)
    ... except InvalidValueError as exc:
    ...     print(exc.examples)
    [2, 3]
    """
    index = summary.index
    n = len(index)
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, a column name or a Series keyed by customer_id, "
                          f"got {value!r}", key=key)
    if isinstance(value, Real):
        v = float(value)
        if not np.isfinite(v):
            raise ConfigError(f"{key} must be finite, got {value!r}", key=key)
        if lower is not None and v < lower:
            raise ConfigError(f"{key} must be >= {lower}, got {value!r}", key=key)
        if upper is not None and v > upper:
            raise ConfigError(f"{key} must be <= {upper}, got {value!r}", key=key)
        return np.full(n, v)
    if isinstance(value, str):
        if value not in summary.columns:
            raise MissingColumnError(f"{key}={value!r} names a column that the summary does not have; it has "
                                     f"{list(map(str, summary.columns))}", column=value)
        col = summary[value]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise InvalidValueError(f"{key}: column {value!r} must be numeric, it has dtype {col.dtype}",
                                    column=value, n_rows=n)
        arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
        where = f"column {value!r}"
    elif isinstance(value, pd.Series):
        missing = ~index.isin(value.index)
        if missing.any():
            ids = index[missing]
            raise InvalidValueError(f"{key}: the Series has no value for {int(missing.sum())} customer(s) of the "
                                    f"summary; example customer ids {describe_culprits(ids)}", column=key,
                                    n_rows=int(missing.sum()), examples=list(ids[:5]))
        if not value.index.is_unique:
            raise InvalidValueError(f"{key}: the Series index (customer_id) has duplicates", column=key)
        try:
            arr = value.reindex(index).to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"{key}: the Series must be numeric ({exc})", column=key) from exc
        where = "the Series"
    else:
        raise ConfigError(f"{key} must be a number, a column name or a Series keyed by customer_id, "
                          f"got {type(value).__name__}", key=key)
    _check_values(arr, key, where, index, lower, upper)
    return arr


def _check_values(arr: np.ndarray, key: str, where: str, index: pd.Index, lower, upper) -> None:
    checks = [(~np.isfinite(arr), "are NaN or infinite")]
    with np.errstate(invalid="ignore"):
        if lower is not None:
            checks.append((np.isfinite(arr) & (arr < lower), f"are below {lower}"))
        if upper is not None:
            checks.append((np.isfinite(arr) & (arr > upper), f"are above {upper}"))
    for bad, what in checks:
        if bad.any():
            ids = index[bad]
            raise InvalidValueError(f"{key} ({where}): {int(bad.sum())} value(s) {what}; example customer ids "
                                    f"{describe_culprits(ids)}", column=key, n_rows=int(bad.sum()),
                                    examples=list(ids[:5]))


def _margin_by_segment(mapping: Mapping, margin_by, summary: pd.DataFrame) -> np.ndarray:
    if margin_by is None:
        raise ConfigError("margin is a mapping {segment: rate}: pass margin_by=<summary column holding each "
                          "customer's segment or product group>", key="margin_by")
    if not isinstance(margin_by, str) or margin_by not in summary.columns:
        raise MissingColumnError(f"margin_by={margin_by!r} is not a column of the summary; it has "
                                 f"{list(map(str, summary.columns))}", column=str(margin_by))
    if len(mapping) == 0:
        raise ConfigError("margin mapping is empty: give a rate for every segment", key="margin")
    for seg, rate in mapping.items():
        if isinstance(rate, bool) or not isinstance(rate, Real) or not np.isfinite(float(rate)) or float(rate) > 1:
            raise ConfigError(f"margin[{seg!r}] must be a finite rate <= 1, got {rate!r}", key=f"margin.{seg}")
    segments = summary[margin_by]
    na = segments.isna().to_numpy()
    if na.any():
        ids = summary.index[na]
        raise InvalidValueError(f"margin_by column {margin_by!r}: {int(na.sum())} customer(s) have no segment; "
                                f"example customer ids {describe_culprits(ids)}", column=margin_by,
                                n_rows=int(na.sum()), examples=list(ids[:5]))
    known = segments.isin(list(mapping.keys())).to_numpy()
    if not known.all():
        missing_keys = pd.unique(segments[~known])
        ids = summary.index[~known]
        raise ConfigError(f"margin has no rate for segment(s) {describe_culprits(missing_keys)} of column "
                          f"{margin_by!r} ({int((~known).sum())} customer(s), e.g. {describe_culprits(ids)}); "
                          "add them to the mapping", key="margin")
    return segments.map({k: float(v) for k, v in mapping.items()}).to_numpy(dtype=np.float64)


def resolve_economics(summary: pd.DataFrame, *, margin=1.0, margin_by: str | None = None, cost_per_order=0.0,
                      cost_per_active_period=0.0, retention_cost=0.0) -> Economics:
    """Validate and align the economics with the summary's rows (see the module docstring).

    Examples
    --------
    A margin per product group and a shipping cost per order from a column:

    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [2, 1, 0], "segment": ["books", "music", "music"],
    ...                         "shipping": [4.5, 3.0, 0.0]}, index=pd.Index([1, 2, 3], name="customer_id"))
    >>> eco = resolve_economics(summary, margin={"books": 0.35, "music": 0.25}, margin_by="segment",
    ...                         cost_per_order="shipping")
    >>> eco.margin.tolist(), eco.cost_per_order.tolist(), eco.has_active_cost
    ([0.35, 0.25, 0.25], [4.5, 3.0, 0.0], False)
    >>> try:
    ...     resolve_economics(summary, margin=1.2)
    ... except ConfigError as exc:
    ...     print(exc)
    margin must be <= 1.0, got 1.2
    """
    if isinstance(margin, Mapping):
        m = _margin_by_segment(margin, margin_by, summary)
    else:
        if margin_by is not None:
            raise ConfigError("margin_by is only used with a mapping margin={segment: rate}", key="margin_by")
        m = per_customer(margin, "margin", summary, upper=1.0)
    return Economics(
        margin=m,
        cost_per_order=per_customer(cost_per_order, "cost_per_order", summary, lower=0.0),
        cost_per_active_period=per_customer(cost_per_active_period, "cost_per_active_period", summary, lower=0.0),
        retention_cost=per_customer(retention_cost, "retention_cost", summary, lower=0.0),
    )
