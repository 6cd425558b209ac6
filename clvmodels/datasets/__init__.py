"""Bundled datasets (no network).

The files in ``data/`` come from the lifetimes 0.11.3 distribution (MIT licence, copyright
2015 Cameron Davidson-Pilon; see ``data/LICENSE-lifetimes.txt``), which in turn redistributes
the CDNOW data set prepared by Fader & Hardie and the donations data of
Fader, Hardie & Shang (2010):

* ``CDNOW_master.txt`` - every purchase of the 23,570 customers who made their first purchase at
  CDNOW in the first quarter of 1997, 1997-01-01 .. 1998-06-30.
* ``CDNOW_sample.txt`` - the 1/10th systematic sample (2,357 customers) used in
  Fader, Hardie & Lee (2005) "Counting your customers the easy way", with the original master id
  and the sample id (1..2357).
* ``cdnow_customers_summary*.csv`` - the published 39-week calibration summary of the sample
  (x, t_x, T in weeks and the mean repeat spend zbar).
* ``donations.csv`` - the 1995 cohort of 11,104 donors to a US non-profit, six annual repeat
  opportunities 1996-2001 (Fader, Hardie & Shang 2010, BG/BB).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "cdnow_transactions",
    "cdnow_summary",
    "donations",
    "CDNOW_CALIBRATION_END",
    "CDNOW_OBSERVATION_END",
]

CDNOW_START = "1997-01-01"
CDNOW_CALIBRATION_END = "1997-09-30"  # 39 weeks after 1997-01-01 (Fader, Hardie & Lee 2005)
CDNOW_OBSERVATION_END = "1998-06-30"  # end of the 78-week data set


def _path(name: str):
    return resources.files(__name__).joinpath("data", name)


def _read_cdnow(name: str, columns: list[str]) -> pd.DataFrame:
    with _path(name).open("r") as fh:
        raw = pd.read_csv(fh, sep=r"\s+", header=None, names=columns, dtype={"date": str},
                          comment=None, skiprows=0, engine="c")
    return raw


@lru_cache(maxsize=2)
def _cdnow_cached(sample: bool) -> pd.DataFrame:
    if sample:
        raw = _read_cdnow("CDNOW_sample.txt", ["master_id", "customer_id", "date", "quantity", "amount"])
        raw = raw.drop(columns="master_id")
    else:
        with _path("CDNOW_master.txt").open("r") as fh:
            raw = pd.read_csv(fh, sep=r"\s+", header=0, names=["customer_id", "date", "quantity", "amount"],
                              dtype={"date": str})
    out = pd.DataFrame({
        "customer_id": raw["customer_id"].astype(np.int64),
        "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "quantity": raw["quantity"].astype(np.int64),
        "amount": raw["amount"].astype(np.float64),
    })
    return out


def cdnow_transactions(sample: bool = False) -> pd.DataFrame:
    """CDNOW purchase log: columns customer_id (int), date (datetime64), quantity (CDs), amount (USD).

    ``sample=False`` gives the full master log (23,570 customers, 69,659 rows);
    ``sample=True`` the 2,357-customer sample of Fader, Hardie & Lee (2005), with customer ids
    1..2357 matching :func:`cdnow_summary`. A fresh copy is returned on every call.

    Examples
    --------
    The 2,357-customer sample. Customer 1 first bought on 1997-01-01; two repeat purchases fall in
    the 39-week calibration period (to 1997-09-30), the last 30.43 weeks after the first: x = 2,
    t_x = 30.43 in :func:`cdnow_summary`.

    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> len(tx), tx["customer_id"].nunique(), list(tx.columns)
    (6919, 2357, ['customer_id', 'date', 'quantity', 'amount'])
    >>> tx[tx["customer_id"] == 1][["date", "amount"]].astype({"date": str}).values.tolist()
    [['1997-01-01', 29.33], ['1997-01-18', 29.73], ['1997-08-02', 14.96], ['1997-12-12', 26.48]]
    >>> round((tx["date"].iloc[2] - tx["date"].iloc[0]).days / 7, 2)
    30.43
    """
    return _cdnow_cached(bool(sample)).copy()


def cdnow_summary(with_monetary_value: bool = True):
    """The published 39-week calibration summary of the CDNOW sample (Fader, Hardie & Lee 2005).

    An :class:`~clvmodels.RFMSummary` in weeks as of 1997-09-30: index ``customer_id`` (1..2357);
    columns ``frequency`` (x), ``recency`` (t_x, weeks), ``T`` (weeks) and, when
    ``with_monetary_value``, ``monetary_value`` (zbar, mean spend per repeat transaction, 0 for
    customers without repeat purchases).

    Examples
    --------
    >>> s = cdnow_summary()
    >>> len(s), s.time_unit, int((s["frequency"] == 0).sum())
    (2357, 'W', 1411)
    """
    from ..data.summary import RFMSummary

    if with_monetary_value:
        with _path("cdnow_customers_summary_with_transactions.csv").open("r") as fh:
            raw = pd.read_csv(fh)
        out = raw.rename(columns={"ID": "customer_id", "x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    else:
        with _path("cdnow_customers_summary.csv").open("r") as fh:
            raw = pd.read_csv(fh)
        out = raw.rename(columns={"ID": "customer_id"})
    out = out.set_index("customer_id")
    out["frequency"] = out["frequency"].astype(np.int64)
    return RFMSummary.from_frame(out, time_unit="W", observation_end=CDNOW_CALIBRATION_END)


def donations():
    """Donations data of Fader, Hardie & Shang (2010) in BG/BB form.

    An :class:`~clvmodels.RFMSummary` of yearly opportunities (``time_unit='Y'``), one row per
    distinct pattern: ``frequency`` (x, repeat donations in n opportunities), ``recency`` (t_x, the
    opportunity of the last donation, 0 if none), ``n_periods`` (n = 6 opportunities, 1996-2001)
    and ``weight`` (number of donors with that pattern; 11,104 in all).

    Examples
    --------
    >>> d = donations()
    >>> int(d["weight"].sum()), d.time_unit
    (11104, 'Y')
    """
    from ..data.summary import RFMSummary

    with _path("donations.csv").open("r") as fh:
        raw = pd.read_csv(fh)
    out = raw.rename(columns={"periods": "n_periods", "weights": "weight"}).astype(np.int64)
    out.index = pd.RangeIndex(len(out), name="customer_id")
    return RFMSummary.from_frame(out, time_unit="Y", discrete=True)
