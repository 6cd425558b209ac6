"""Customer features beyond the RFM summary, built from the transaction log.

The value of a customer's *first* purchase is known from day one and is a classic predictor of
later buying (on CDNOW, customers whose first order was large buy more later; see Fader, Hardie &
Lee 2005, "RFM and CLV: using iso-value curves", section 2, where the first purchase is left out
of the spend model exactly because it differs). It serves two uses here: a covariate for the
Bayesian BG/NBD (``clv.bayes.BGNBD(purchase_covariates=[...], dropout_covariates=[...])``) and a
feature of the machine-learning baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.transactions import to_timestamp
from ..errors import DataValidationError, MissingColumnError

__all__ = ["first_purchase_value", "add_first_purchase_value"]


def first_purchase_value(transactions: pd.DataFrame, *, customer_col: str = "customer_id", date_col: str = "date",
                         amount_col: str = "amount", cutoff=None) -> pd.Series:
    """Total amount spent on each customer's first purchase day (Series by customer id).

    Transactions after ``cutoff`` (inclusive last day) are ignored, so the feature can be rebuilt
    as it was known at an earlier date.
    """
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError("transactions must be a pandas DataFrame")
    for col in (customer_col, date_col, amount_col):
        if col not in transactions.columns:
            raise MissingColumnError(f"transactions has no column {col!r}; it has "
                                     f"{list(map(str, transactions.columns))}", column=col)
    day = pd.to_datetime(transactions[date_col]).to_numpy().astype("datetime64[D]")
    frame = pd.DataFrame({"customer_id": transactions[customer_col].to_numpy(), "day": day,
                          "amount": pd.to_numeric(transactions[amount_col], errors="coerce").to_numpy(dtype=np.float64)})
    if cutoff is not None:
        frame = frame[frame["day"] <= np.datetime64(to_timestamp(cutoff, "cutoff").date(), "D")]
    first = frame.groupby("customer_id", sort=False)["day"].transform("min")
    on_first = frame[frame["day"].to_numpy() == first.to_numpy()]
    out = on_first.groupby("customer_id", sort=False)["amount"].sum()
    out.name = "first_purchase_value"
    out.index.name = "customer_id"
    return out


def add_first_purchase_value(summary: pd.DataFrame, transactions: pd.DataFrame, *, name: str = "log_first_value",
                             center: bool = True, customer_col: str = "customer_id", date_col: str = "date",
                             amount_col: str = "amount") -> pd.DataFrame:
    """A copy of ``summary`` with the first purchase value as a (log, centred) covariate column.

    The column ``name`` holds ``log1p(max(value, 0))`` minus its mean over the summary's customers
    when ``center`` (so that a covariate model's baseline parameters describe an average first
    purchase); ``first_purchase_value`` holds the raw amount. The centre is kept in
    ``attrs['first_value_center']``.
    """
    value = first_purchase_value(transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col)
    value = value.reindex(summary.index)
    if value.isna().any():
        missing = summary.index[value.isna().to_numpy()]
        raise DataValidationError(f"{len(missing)} customer(s) of the summary have no transactions in the log, e.g. "
                                  f"{list(missing[:5])}", column=customer_col, n_rows=len(missing),
                                  examples=list(missing[:5]))
    out = summary.copy()
    log_value = np.log1p(np.maximum(value.to_numpy(dtype=np.float64), 0.0))
    c = float(log_value.mean()) if center else 0.0
    out["first_purchase_value"] = value.to_numpy(dtype=np.float64)
    out[name] = log_value - c
    out.attrs = dict(summary.attrs)
    out.attrs["first_value_center"] = c
    return out
