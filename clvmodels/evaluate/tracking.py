"""Aggregate tracking: repeat purchases of the cohort per period, actual vs model.

Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science 24(2),
section 5 (Figures 2 and 3 on the CDNOW sample) judge a model by how well the cohort's weekly
and cumulative *repeat* purchases are tracked over the calibration weeks 1-39 and forecast
over weeks 40-78. The model's curve is ``sum_i E[X(t - t0_i)]``: each customer, born at their
first purchase ``t0_i``, contributes the expected repeat purchases of a *new* customer
(BG/NBD eq. 7; Pareto/NBD: Schmittlein, Morrison & Colombo 1987, eq. 17) from birth to ``t``.

Conventions (those of the BTYD walkthrough, McCarthy & Wadsworth 2014, which reproduce the
paper's numbers): purchases are those the summary counts (:func:`clvmodels.data.purchase_log`
under the summary's options: with the default ``merge='D'``, transactions of a customer on the
same calendar day are one purchase; refunds follow the returns policy); the first purchase day
is not a repeat purchase; period ``k`` (1-based) covers the days
``[start + (k-1) L, start + k L)`` with ``L`` the period length in days (7 for weeks; months
and years use the exact lengths of :mod:`clvmodels.timeunits`, so they do not follow calendar
months); ``start`` defaults to the cohort's first purchase day. The model's cumulative curve is
evaluated at each period end (and at the observation end for a partial last period).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.rfm import purchase_log
from ..data.summary import RFMSummary
from ..data.transactions import to_timestamp
from ..errors import ConfigError, DataValidationError
from ..forecast.predict import Predictor
from ..timeunits import check_unit, days_per

__all__ = ["repeat_purchase_log", "tracking", "tracking_metrics"]


def _day_numbers(values) -> np.ndarray:
    """Calendar days since 1970-01-01 (int64) of datetime-like values, time of day dropped."""
    return np.asarray(pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64))


def _facts(summary):
    if not isinstance(summary, RFMSummary) or summary.options is None or summary.calibration_end is None:
        raise DataValidationError("tracking needs the calibration / holdout summary built from the log by "
                                  "clvmodels.calibration_holdout(...): it knows the log's columns, its merge and "
                                  "returns rules, and the calibration and observation ends")
    return summary.options, summary.calibration_end, summary.observation_end


def repeat_purchase_log(transactions, summary, *, until=None) -> tuple[pd.DataFrame, pd.Series]:
    """The cohort's purchases, split into births and repeat purchases, as the summary counts them.

    ``summary`` is the calibration / holdout summary built from ``transactions``
    (:func:`clvmodels.calibration_holdout`): its customers are the cohort, and the purchases are
    those of :func:`clvmodels.data.purchase_log` under its options (same merge period, returns
    policy, dates and time zones), up to its observation end (or ``until``, an earlier day).

    Returns ``(repeats, births)``: ``repeats`` has one row per repeat purchase (columns
    ``customer_id`` and ``day``, a datetime64 column holding whole days: the purchase's first
    day), ``births`` the first purchase day per customer (Series ``first_purchase`` indexed by
    customer id, in the summary's order).

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> repeats, births = repeat_purchase_log(tx, cal)
    >>> len(repeats), len(births)          # repeat purchases in weeks 1-78: 2457 + 1882
    (4339, 2357)
    >>> repeats[repeats["customer_id"] == 1]["day"].dt.strftime("%Y-%m-%d").tolist()
    ['1997-01-18', '1997-08-02', '1997-12-12']
    >>> str(births.loc[1].date())
    '1997-01-01'
    """
    options, cal_end, obs_end = _facts(summary)
    end = obs_end if until is None else until
    # the periods kept apart as the summary keeps them: a refund after the calibration end does not cancel a
    # calibration purchase (else a customer whose only purchase was refunded later has no birth here)
    split = cal_end if isinstance(cal_end, pd.Timestamp) and pd.Timestamp(end) > cal_end else None
    log = purchase_log(transactions, options, end, calibration_end=split)
    day = _day_numbers(log["date"])
    ids = log["customer_id"].to_numpy()
    cohort = pd.Index(summary.index)
    pos = cohort.get_indexer(ids)
    inside = pos >= 0
    first = np.full(len(cohort), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, pos[inside], day[inside])
    missing = first == np.iinfo(np.int64).max
    if missing.any():
        culprits = cohort[missing]
        raise DataValidationError(f"{int(missing.sum())} customer(s) of the summary have no purchases in the log, "
                                  f"e.g. {list(culprits[:5])}: is it the log the summary was built from?",
                                  column=options.customer_col, n_rows=int(missing.sum()), examples=list(culprits[:5]))
    repeat = inside.copy()
    repeat[inside] = day[inside] > first[pos[inside]]
    repeats = pd.DataFrame({"customer_id": ids[repeat], "day": day[repeat].astype("datetime64[D]")})
    births = pd.Series(first.astype("datetime64[D]"), index=cohort, name="first_purchase")
    return repeats, births


def tracking(model, transactions, summary, *, period: str | None = None, start=None,
             max_draws: int = 200) -> pd.DataFrame:
    """Actual vs expected repeat purchases of the cohort, per period and cumulated.

    Parameters
    ----------
    model : a fitted purchase model (:class:`~clvmodels.protocols.PurchaseModel`); ``None``
        gives the actual columns only.
    transactions : the transaction log (DataFrame or CSV / Parquet path) ``summary`` was built from.
    summary : the calibration / holdout summary (:func:`clvmodels.calibration_holdout`): its
        customers are the cohort; its time unit, calibration and observation ends and options
        (columns, merge, returns, time zones) say how to read the log.
    period : tracking period, 'D', 'W', 'M' or 'Y' (default: the summary's time unit).
    start : day 0 of period 1 (default: the cohort's first purchase day).

    Returns
    -------
    DataFrame indexed by ``period`` (1, 2, ...) with ``period_start``, ``period_end`` (exclusive),
    ``holdout`` (period starts after the calibration end), ``complete`` (the period lies
    entirely before the observation end), ``actual``, ``actual_cumulative`` and,
    with a model, ``expected`` and ``expected_cumulative``. ``attrs`` hold the exact
    calibration-end and observation-end totals (``attrs['totals']``) used by
    :func:`tracking_metrics`.

    Examples
    --------
    Weekly repeat purchases of the CDNOW sample cohort with the Pareto/NBD estimates of Fader,
    Hardie & Lee (2005). The actual columns reproduce the BTYD walkthrough (McCarthy & Wadsworth
    2014, weeks 20-25: 73, 55, 70, 33, 56, 99; cumulated 1359 ... 1672); its expected series
    (78.31, 76.42, ...) comes from its own fit, a hair away from these published estimates:

    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
    >>> track = tracking(pnbd, tx, cal)
    >>> len(track), int(track["holdout"].sum())          # 39 calibration and 39 holdout weeks
    (78, 39)
    >>> cols = ["actual", "expected", "actual_cumulative", "expected_cumulative"]
    >>> track.loc[20:25, cols].round({"expected": 1, "expected_cumulative": 0})
            actual  expected  actual_cumulative  expected_cumulative
    period
    20        73.0      78.3             1359.0               1308.0
    21        55.0      76.4             1414.0               1385.0
    22        70.0      74.6             1484.0               1459.0
    23        33.0      73.0             1517.0               1532.0
    24        56.0      71.4             1573.0               1604.0
    25        99.0      69.9             1672.0               1674.0
    """
    options, cal_end, obs_end = _facts(summary)
    time_unit = summary.time_unit
    period = check_unit(period if period is not None else time_unit, key="period")
    repeats, births = repeat_purchase_log(transactions, summary)
    if len(births) == 0:
        raise DataValidationError("no customer made a first purchase on or before calibration_end", n_rows=0)
    birth_day = _day_numbers(births)
    day0 = int(birth_day.min()) if start is None else int(_day_numbers([to_timestamp(start, "start")])[0])
    if start is not None and day0 > int(birth_day.min()):
        raise ConfigError("start must be on or before the cohort's first purchase day", key="start")
    L = days_per(period)
    cal_day = int(_day_numbers([cal_end])[0]) + 1 - day0   # exclusive end, days from day0
    end_day = int(_day_numbers([obs_end])[0]) + 1 - day0
    n_periods = int(math.ceil(end_day / L - 1e-12))
    k = np.arange(1, n_periods + 1)
    p_start = (k - 1) * L
    p_end = np.minimum(k * L, end_day)
    rep_day = _day_numbers(repeats["day"]) - day0
    idx = np.floor(rep_day / L).astype(np.int64)
    actual = np.bincount(idx, minlength=n_periods)[:n_periods].astype(np.float64)
    origin = np.datetime64(day0, "D")
    out = pd.DataFrame({
        "period_start": pd.to_datetime(origin + np.floor(p_start).astype("timedelta64[D]")),
        "period_end": pd.to_datetime(origin + np.ceil(p_end).astype("timedelta64[D]")),
        "holdout": p_start >= cal_day,
        "complete": (p_end - p_start) >= L - 1e-9,
        "actual": actual,
        "actual_cumulative": np.cumsum(actual),
    }, index=pd.Index(k, name="period"))
    totals = {
        "calibration_days": float(cal_day),
        "observation_days": float(end_day),
        "actual_calibration": float(np.count_nonzero(rep_day < cal_day)),
        "actual_holdout": float(np.count_nonzero((rep_day >= cal_day) & (rep_day < end_day))),
        "n_customers": int(len(births)),
        "period": period,
        "time_unit": time_unit,
    }
    if model is not None:
        unit_days = days_per(time_unit)
        b = (birth_day - day0) / unit_days
        times = np.concatenate([p_end, [cal_day, end_day]]) / unit_days
        predictor = Predictor(model, max_draws=max_draws)
        cum = predictor.cohort_cumulative(b, times, summary)
        expected_cum = cum[:n_periods]
        out["expected"] = np.diff(np.concatenate([[0.0], expected_cum]))
        out["expected_cumulative"] = expected_cum
        totals["expected_method"] = predictor.cohort_method
        totals["expected_calibration"] = float(cum[n_periods])
        totals["expected_holdout"] = float(cum[n_periods + 1] - cum[n_periods])
    out.attrs["totals"] = totals
    return out


def tracking_metrics(track: pd.DataFrame) -> dict[str, float]:
    """Summary numbers of a :func:`tracking` table with a model.

    ``tracking_holdout_actual`` / ``_expected`` / ``_error_pct``: repeat purchases of the cohort
    in the holdout window (exact window, not rounded to periods); the same for the calibration
    window (an in-sample check); ``tracking_period_mae`` and ``tracking_period_correlation``:
    per-period error over the periods that lie entirely in the holdout.

    Examples
    --------
    The Pareto/NBD under-forecasts the cohort's 1882 holdout repeat purchases of the CDNOW sample:

    >>> import clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
    >>> m = tracking_metrics(tracking(pnbd, tx, cal))
    >>> {k: round(v, 2) for k, v in m.items() if k.startswith("tracking_holdout")}
    {'tracking_holdout_actual': 1882.0, 'tracking_holdout_expected': 1742.4, 'tracking_holdout_error_pct': -7.42}
    >>> m["tracking_calibration_actual"], round(m["tracking_calibration_expected"], 1)
    (2457.0, 2531.9)
    """
    totals = track.attrs.get("totals", {})
    if "expected" not in track.columns:
        raise DataValidationError("the tracking table has no model columns (call tracking with a model)")
    ah, eh = totals["actual_holdout"], totals["expected_holdout"]
    ac, ec = totals["actual_calibration"], totals["expected_calibration"]
    full = track[(track["holdout"] & track["complete"]).to_numpy()]
    err = (full["expected"] - full["actual"]).to_numpy()
    corr = math.nan
    if len(full) > 1 and full["actual"].std() > 0 and full["expected"].std() > 0:
        corr = float(np.corrcoef(full["expected"], full["actual"])[0, 1])
    return {
        "tracking_holdout_actual": ah,
        "tracking_holdout_expected": eh,
        "tracking_holdout_error_pct": float(100 * (eh - ah) / ah) if ah else math.nan,
        "tracking_calibration_actual": ac,
        "tracking_calibration_expected": ec,
        "tracking_calibration_error_pct": float(100 * (ec - ac) / ac) if ac else math.nan,
        "tracking_period_mae": float(np.abs(err).mean()) if err.size else math.nan,
        "tracking_period_correlation": corr,
    }
