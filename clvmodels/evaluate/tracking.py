"""Aggregate tracking: repeat purchases of the cohort per period, actual vs model.

Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science 24(2),
section 5 (Figures 2 and 3 on the CDNOW sample) judge a model by how well the cohort's weekly
and cumulative *repeat* purchases are tracked over the calibration weeks 1-39 and forecast
over weeks 40-78. The model's curve is ``sum_i E[X(t - t0_i)]``: each customer, born at their
first purchase ``t0_i``, contributes the expected repeat purchases of a *new* customer
(BG/NBD eq. 7; Pareto/NBD: Schmittlein, Morrison & Colombo 1987, eq. 17) from birth to ``t``.

Conventions (those of the BTYD walkthrough, McCarthy & Wadsworth 2014, which reproduce the
paper's numbers): transactions of a customer on the same calendar day are one purchase; the
first purchase day is not a repeat purchase; period ``k`` (1-based) covers the days
``[start + (k-1) L, start + k L)`` with ``L`` the period length in days (7 for weeks; months
and years use the exact lengths of :mod:`clvmodels.timeunits`, so they do not follow calendar
months); ``start`` defaults to the cohort's first purchase day. The model's cumulative curve is
evaluated at each period end (and at the observation end for a partial last period).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.transactions import to_timestamp
from ..errors import ConfigError, DataValidationError, MissingColumnError
from ..timeunits import check_unit, days_per
from ._predict import PurchasePredictor

__all__ = ["repeat_purchase_log", "tracking", "tracking_metrics"]


def _days(dates: pd.Series) -> np.ndarray:
    """Calendar days since 1970-01-01 (int64), time of day dropped."""
    values = pd.to_datetime(dates).to_numpy().astype("datetime64[D]")
    return values.astype(np.int64)


def repeat_purchase_log(transactions: pd.DataFrame, *, customer_col: str = "customer_id", date_col: str = "date",
                        customers=None, cohort_end=None, observation_end=None) -> tuple[pd.DataFrame, pd.Series]:
    """Purchase days of a cohort, split into births and repeat purchases.

    Returns ``(repeats, births)``: ``repeats`` has one row per (customer, day) after the
    customer's first purchase day (columns customer_id, day as datetime64[D]), ``births`` is the
    first purchase day per customer (Series indexed by customer id). The cohort is the
    customers in ``customers`` if given, else those whose first purchase is on or before
    ``cohort_end`` (all customers if None). Days after ``observation_end`` are left out.
    """
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError("transactions must be a pandas DataFrame for tracking")
    for col in (customer_col, date_col):
        if col not in transactions.columns:
            raise MissingColumnError(f"transactions has no column {col!r}; it has {list(map(str, transactions.columns))}",
                                     column=col)
    ids = transactions[customer_col]
    day = _days(transactions[date_col])
    frame = pd.DataFrame({"customer_id": ids.to_numpy(), "day": day}).drop_duplicates()
    first = frame.groupby("customer_id", sort=False)["day"].min()
    if customers is not None:
        wanted = pd.Index(customers)
        first = first.reindex(wanted)
        if first.isna().any():
            missing = wanted[first.isna().to_numpy()]
            raise DataValidationError(f"{len(missing)} customer(s) of the summary have no transactions in the log, "
                                      f"e.g. {list(missing[:5])}", column=customer_col, n_rows=len(missing),
                                      examples=list(missing[:5]))
        first = first.astype(np.int64)
    elif cohort_end is not None:
        first = first[first <= _days(pd.Series([to_timestamp(cohort_end, "calibration_end")]))[0]]
    births = first
    frame = frame[frame["customer_id"].isin(births.index)]
    b = births.reindex(frame["customer_id"]).to_numpy()
    rep = frame[frame["day"].to_numpy() > b]
    if observation_end is not None:
        end_day = _days(pd.Series([to_timestamp(observation_end)]))[0]
        rep = rep[rep["day"] <= end_day]
    rep = rep.assign(day=rep["day"].to_numpy().astype("datetime64[D]"))
    births_dates = pd.Series(births.to_numpy().astype("datetime64[D]"), index=births.index, name="first_purchase")
    return rep.reset_index(drop=True), births_dates


def tracking(model, transactions: pd.DataFrame, *, calibration_end, observation_end, summary: pd.DataFrame | None = None,
             period: str = "W", time_unit: str | None = None, start=None, customer_col: str = "customer_id",
             date_col: str = "date", max_draws: int = 200) -> pd.DataFrame:
    """Actual vs expected repeat purchases of the cohort, per period and cumulated.

    Parameters
    ----------
    model : a fitted purchase model (MLE or Bayesian); ``None`` gives the actual columns only.
    transactions : the transaction log (customer and date columns).
    calibration_end, observation_end : last day (inclusive) of the calibration and holdout periods.
    summary : optional calibration summary; its index defines the cohort (needed for Bayesian
        models with covariates, whose columns it must hold). Default: every customer with a first
        purchase on or before ``calibration_end``.
    period : tracking period, 'D', 'W', 'M' or 'Y'.
    time_unit : the model's time unit (default: ``summary.attrs['time_unit']``, else the model's
        ``time_unit_``, else 'W').
    start : day 0 of period 1 (default: the cohort's first purchase day).

    Returns
    -------
    DataFrame indexed by ``period`` (1, 2, ...) with ``period_start``, ``period_end`` (exclusive),
    ``holdout`` (period starts after ``calibration_end``), ``complete`` (the period lies
    entirely before the observation end), ``actual``, ``actual_cumulative`` and,
    with a model, ``expected`` and ``expected_cumulative``. ``attrs`` hold the exact
    calibration-end and observation-end totals (``attrs['totals']``) used by
    :func:`tracking_metrics`.
    """
    period = check_unit(period, key="period")
    cal_end = to_timestamp(calibration_end, "calibration_end")
    obs_end = to_timestamp(observation_end)
    if obs_end <= cal_end:
        raise ConfigError(f"observation_end={obs_end.date()} must be after calibration_end={cal_end.date()}",
                          key="observation_end")
    if time_unit is None:
        time_unit = (getattr(summary, "attrs", {}) or {}).get("time_unit") if summary is not None else None
        time_unit = time_unit or getattr(model, "time_unit_", None) or "W"
    time_unit = check_unit(time_unit)
    customers = summary.index if summary is not None else None
    repeats, births = repeat_purchase_log(transactions, customer_col=customer_col, date_col=date_col,
                                          customers=customers, cohort_end=None if customers is not None else cal_end,
                                          observation_end=obs_end)
    if len(births) == 0:
        raise DataValidationError("no customer made a first purchase on or before calibration_end", n_rows=0)
    birth_day = _days(births)
    day0 = int(birth_day.min()) if start is None else int(_days(pd.Series([to_timestamp(start, "start")]))[0])
    if start is not None and day0 > int(birth_day.min()):
        raise ConfigError("start must be on or before the cohort's first purchase day", key="start")
    L = days_per(period)
    cal_day = int(_days(pd.Series([cal_end]))[0]) + 1 - day0   # exclusive end, days from day0
    end_day = int(_days(pd.Series([obs_end]))[0]) + 1 - day0
    n_periods = int(math.ceil(end_day / L - 1e-12))
    k = np.arange(1, n_periods + 1)
    p_start = (k - 1) * L
    p_end = np.minimum(k * L, end_day)
    rep_day = _days(repeats["day"]) - day0
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
        predictor = PurchasePredictor(model, max_draws=max_draws)
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
