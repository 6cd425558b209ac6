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

from ..data.rfm import purchase_log
from ..data.summary import RFMSummary, SummaryOptions
from ..errors import ConfigError, DataValidationError, MissingColumnError

__all__ = ["first_purchase_value", "add_first_purchase_value"]


def first_purchase_value(transactions, options: SummaryOptions, *, cutoff=None) -> pd.Series:
    """Value of each customer's first purchase (Series by customer id, ``first_purchase_value``).

    The purchases are those a summary built with ``options`` counts
    (:func:`clvmodels.data.purchase_log`: the log's columns, merge period, returns policy, dates and
    time zones), so with the default ``merge='D'`` the first purchase is everything bought on the
    first day. Purchases after ``cutoff`` (inclusive last day) are ignored, so the feature can be
    rebuilt as it was known at an earlier date. Pass ``summary.options`` of an
    :class:`~clvmodels.RFMSummary`.

    Examples
    --------
    >>> import pandas as pd, clvmodels as clv
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "date": ["2024-01-01", "2024-01-05", "2024-01-02"],
    ...                    "amount": [12.0, 30.0, 7.5]})
    >>> first_purchase_value(tx, clv.data.SummaryOptions.build()).to_dict()
    {'a': 12.0, 'b': 7.5}
    """
    if not isinstance(options, SummaryOptions):
        raise ConfigError(f"options must be SummaryOptions (e.g. summary.options), got {type(options).__name__}",
                          key="options")
    if options.amount_col is None:
        raise MissingColumnError("the first purchase value needs amounts: the log was read without an amount "
                                 "column (amount_col=None)", column="amount")
    log = purchase_log(transactions, options, cutoff)
    first = log.drop_duplicates("customer_id", keep="first")       # sorted by customer and date
    out = pd.Series(first["amount"].to_numpy(dtype=np.float64), index=pd.Index(first["customer_id"].to_numpy(),
                    name="customer_id"), name="first_purchase_value")
    return out


def add_first_purchase_value(summary: RFMSummary, transactions, *, name: str = "log_first_value",
                             center: bool = True) -> RFMSummary:
    """A copy of ``summary`` with the first purchase value as a (log, centred) covariate column.

    ``summary`` is an :class:`~clvmodels.RFMSummary` built from ``transactions`` (its options say how
    to read the log). The column ``name`` holds ``log1p(max(value, 0))`` minus its mean over the
    summary's customers when ``center`` (so that a covariate model's baseline parameters describe an
    average first purchase); ``first_purchase_value`` holds the raw amount. The centre is noted in
    ``attrs['first_value_center']`` of the result, for you: score new customers with the same centre.

    Examples
    --------
    Customer a's first purchase is both orders of 2024-01-01 (the default ``merge='D'``):

    >>> import pandas as pd, clvmodels as clv
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                    "date": ["2024-01-01", "2024-01-01", "2024-02-10", "2024-01-05", "2024-03-01",
    ...                             "2024-02-20"],
    ...                    "amount": [12.0, 8.0, 30.0, 150.0, 40.0, 5.0]})
    >>> summary = clv.rfm_summary(tx, observation_end="2024-03-31")
    >>> out = add_first_purchase_value(summary, tx)
    >>> out[["frequency", "first_purchase_value", "log_first_value"]].round(3)
                 frequency  first_purchase_value  log_first_value
    customer_id
    a                    1                  20.0           -0.240
    b                    1                 150.0            1.733
    c                    0                   5.0           -1.493
    >>> round(out.attrs["first_value_center"], 4)      # mean of log1p(20), log1p(150), log1p(5)
    3.2845
    """
    if not isinstance(summary, RFMSummary) or summary.options is None:
        raise DataValidationError("add_first_purchase_value needs the RFMSummary built from the log "
                                  "(clvmodels.rfm_summary / calibration_holdout): it knows how to read it")
    cutoff = summary.calibration_end if summary.calibration_end is not None else summary.observation_end
    value = first_purchase_value(transactions, summary.options, cutoff=cutoff).reindex(summary.index)
    if value.isna().any():
        missing = summary.index[value.isna().to_numpy()]
        raise DataValidationError(f"{len(missing)} customer(s) of the summary have no transactions in the log, e.g. "
                                  f"{list(missing[:5])}", column=summary.options.customer_col, n_rows=len(missing),
                                  examples=list(missing[:5]))
    log_value = np.log1p(np.maximum(value.to_numpy(dtype=np.float64), 0.0))
    c = float(log_value.mean()) if center else 0.0
    out = summary.assign(**{"first_purchase_value": value.to_numpy(dtype=np.float64), name: log_value - c})
    out.attrs["first_value_center"] = c
    return out
