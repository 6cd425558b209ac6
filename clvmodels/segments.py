"""Value segments as customer-value practice uses them: RFM scores, value tiers, the whale curve.

* :func:`rfm_scores` - recency, frequency and monetary scores 1..n_bins (quintiles by default);
* :func:`value_tiers` - VIP / core / low / margin-negative tiers from predicted CLV (or any value
  column), thresholds by quantile or by amount;
* :func:`whale_curve` - cumulative contribution margin by customer rank (historical and/or
  predicted), the share of customers that creates 100% of the margin, the peak of the curve and
  the customers that destroy margin (Kaplan & Cooper 1998, "Cost & Effect", ch. 10, call the
  cumulative profitability curve a whale curve);
* :func:`historical_margin` - contribution margin of the observed repeat purchases of a summary.

Everything returns data (DataFrames and small result objects); plots live elsewhere.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import pandas as pd

from .errors import CLVWarning, ConfigError, InvalidValueError, MissingColumnError, describe_culprits

__all__ = ["rfm_scores", "value_tiers", "ValueTiers", "whale_curve", "WhaleCurve", "historical_margin",
           "TIER_LABELS"]

TIER_LABELS = ("VIP", "core", "low", "margin-negative")
# values equal to this many decimals (a billionth of the currency unit) are ties for tiers and ranks: customers with
# the same history get CLVs that differ in their last bits when the arithmetic runs in another order (another
# engine, chunk or CPU: numpy's vectorised exp / log differ by an ulp between a SIMD body and its tail), and such
# noise must not reorder them or move them across a threshold
TIE_DECIMALS = 9


# --------------------------------------------------------------------------------------------
# RFM scores
# --------------------------------------------------------------------------------------------
def _column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in frame.columns:
        raise MissingColumnError(f"{what}: column {name!r} is missing; the frame has {list(map(str, frame.columns))}",
                                 column=name)
    col = frame[name]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise InvalidValueError(f"{what}: column {name!r} must be numeric, it has dtype {col.dtype}", column=name)
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        ids = frame.index[bad]
        raise InvalidValueError(f"{what}: column {name!r} has {int(bad.sum())} NaN or infinite value(s); example "
                                f"customer ids {describe_culprits(ids)}", column=name, n_rows=int(bad.sum()),
                                examples=list(ids[:5]))
    return values


def _score(values: np.ndarray, n_bins: int, higher_is_better: bool) -> np.ndarray:
    """Scores 1..k, k = min(n_bins, distinct values): tie-aware bins of near-equal customer shares.

    The distinct values are walked from worst to best; a bin closes at the first distinct value
    at which it holds at least ``ceil(remaining customers / remaining bins)`` customers, but early
    enough to leave every remaining bin at least one distinct value. Vectorised over the distinct
    values: one ``searchsorted`` on the cumulative counts per bin (``k`` sequential steps).
    """
    v = values if higher_is_better else -values   # ascending v = worst to best
    uniq, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    n_distinct = len(uniq)
    k = min(n_bins, n_distinct)
    cum = np.cumsum(counts)                     # customers with a value <= the j-th distinct value
    n = int(cum[-1])
    last = np.empty(k, dtype=np.int64)          # index of the last distinct value of each bin
    binned = 0
    for b in range(k):
        left = k - b                            # bins still open, this one included
        fair = -(-(n - binned) // left)         # ceil(remaining customers / remaining bins), exact
        j = int(np.searchsorted(cum, binned + fair, side="left"))
        j = min(j, n_distinct - left)           # leave >= 1 distinct value to each later bin
        last[b] = j
        binned = int(cum[j])
    bin_of_value = np.searchsorted(last, np.arange(n_distinct), side="left") + 1
    return bin_of_value[inverse.reshape(-1)].astype(np.int64)


def rfm_scores(summary: pd.DataFrame, *, n_bins: int = 5, frequency: str = "frequency", recency: str = "recency",
               T: str = "T", monetary: str | None = "monetary_value") -> pd.DataFrame:
    """Recency, frequency and monetary scores (1 = worst, ``n_bins`` = best; quintiles by default).

    Parameters
    ----------
    summary : DataFrame
        One row per customer (the index is the customer id), e.g. the output of
        :func:`clvmodels.rfm_summary`. It is not modified.
    n_bins : int, default 5
        Number of score bins, a whole number in [2, 100] (5 = quintiles).
    frequency, recency, T : str
        Columns of repeat purchases, time of the last purchase and age of the customer.
    monetary : str or None, default "monetary_value"
        Column of the mean spend per repeat purchase; skipped (no ``m_score``) when ``None`` or
        when the column does not exist.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (same order as ``summary``) with ``recency_gap``
        (``T - recency``), ``r_score``, ``f_score``, ``m_score`` (when monetary is scored),
        ``rfm_cell`` (the scores as a string, e.g. ``"545"``; only when ``n_bins < 10``) and
        ``rfm_total`` (the sum of the scores).

    Raises
    ------
    ConfigError
        ``n_bins`` is not a whole number in [2, 100].
    MissingColumnError
        A required column is missing.
    InvalidValueError
        Empty summary, non-numeric or NaN/infinite values, or ``recency > T``.

    Notes
    -----
    What is scored, worst to best:

    * R: the recency gap ``T - recency`` (time since the last purchase; a smaller gap is better);
    * F: ``frequency`` (repeat purchases; more is better);
    * M: ``monetary`` (mean spend per repeat purchase; more is better).

    Each score is computed separately, as tie-aware quantile bins:

    * **Ties.** Customers with exactly the same value always get the same score; a tie is never
      split across bins.
    * **Bins.** With ``N`` customers and ``k = min(n_bins, number of distinct values)`` bins, the
      distinct values are walked from worst to best. The current bin closes at the first distinct
      value at which it holds at least ``ceil(R / b)`` customers, where ``R`` is the number of
      customers not yet in a bin and ``b`` the number of bins still open (this one included), so
      each bin takes its fair share of what is left; it closes earlier if needed to leave at
      least one distinct value to each later bin.
    * **Scores.** The bins are scored ``1..k``, consecutively (no gaps): the worst value gets 1
      and, when there are at least ``n_bins`` distinct values, the best value gets ``n_bins``.
      With fewer distinct values each distinct value is its own bin (scores ``1..k``, ``k <
      n_bins``).
    * Without ties the bins are equal shares (exactly ``N / n_bins`` customers each when
      ``n_bins`` divides ``N``; otherwise sizes differ by at most one, the larger bins first).
      With heavy ties the shares follow the data: on CDNOW 1,411 of 2,357 customers (60%) have
      no repeat purchase, so ``f_score = 1`` holds 60% of the customers and the other customers
      share scores 2..5.

    Examples
    --------
    Four customers without a repeat purchase share the worst scores; the others still use every
    score up to ``n_bins`` (score 2 is not skipped because of the tie):

    >>> import pandas as pd
    >>> from clvmodels.segments import rfm_scores
    >>> summary = pd.DataFrame(
    ...     {"frequency": [0, 0, 0, 0, 1, 3], "recency": [0.0, 0.0, 0.0, 0.0, 6.0, 9.0],
    ...      "T": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0],
    ...      "monetary_value": [0.0, 0.0, 0.0, 0.0, 35.0, 20.0]},
    ...     index=pd.Index(list("abcdef"), name="customer_id"))
    >>> rfm_scores(summary, n_bins=3)  # doctest: +NORMALIZE_WHITESPACE
                 recency_gap  r_score  f_score  m_score rfm_cell  rfm_total
    customer_id
    a                   10.0        1        1        1      111          3
    b                   10.0        1        1        1      111          3
    c                   10.0        1        1        1      111          3
    d                   10.0        1        1        1      111          3
    e                    4.0        2        2        3      223          7
    f                    1.0        3        3        2      332          8
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or not 2 <= int(n_bins) <= 100:
        raise ConfigError(f"n_bins must be a whole number in [2, 100], got {n_bins!r}", key="n_bins")
    if not isinstance(summary, pd.DataFrame) or len(summary) == 0:
        raise InvalidValueError("rfm_scores needs a non-empty summary DataFrame")
    n_bins = int(n_bins)
    f = _column(summary, frequency, "rfm_scores")
    gap = _column(summary, T, "rfm_scores") - _column(summary, recency, "rfm_scores")
    if np.any(gap < -1e-9):
        ids = summary.index[gap < -1e-9]
        raise InvalidValueError(f"rfm_scores: {len(ids)} customer(s) have recency > T; example customer ids "
                                f"{describe_culprits(ids)}", column=recency, n_rows=len(ids), examples=list(ids[:5]))
    out = pd.DataFrame(index=summary.index.rename("customer_id"))
    out["recency_gap"] = np.maximum(gap, 0.0)
    out["r_score"] = _score(out["recency_gap"].to_numpy(), n_bins, higher_is_better=False)
    out["f_score"] = _score(f, n_bins, higher_is_better=True)
    # with single-digit scores (n_bins < 10) the cell "RFM" is the decimal code R*100 + F*10 + M:
    # one int-to-str conversion instead of three plus two string concatenations
    code = out["r_score"] * 10 + out["f_score"]
    total = out["r_score"] + out["f_score"]
    if monetary is not None and monetary in summary.columns:
        out["m_score"] = _score(_column(summary, monetary, "rfm_scores"), n_bins, higher_is_better=True)
        total = total + out["m_score"]
        code = code * 10 + out["m_score"]
    if n_bins < 10:
        out["rfm_cell"] = code.astype(str)
    out["rfm_total"] = total.astype(np.int64)
    out.attrs.update({"n_bins": n_bins, "recency_gap": f"{T} - {recency} (time since the last purchase)"})
    return out


# --------------------------------------------------------------------------------------------
# value tiers
# --------------------------------------------------------------------------------------------
@dataclass
class ValueTiers:
    """Value tiers: one row per customer, a summary per tier and the thresholds used.

    Returned by :func:`value_tiers`. ``customers`` has the value, ``tier`` (an ordered
    categorical) and ``rank``; ``summary`` one row per tier (all four, empty ones included);
    ``thresholds`` the ``vip``, ``core`` and ``margin_negative`` cut-offs in the value's units.

    Examples
    --------
    >>> import pandas as pd
    >>> predicted = pd.Series([120.0, 45.0, 30.0, 12.0, 8.0, 5.0, 2.0, -6.0], name="clv",
    ...                       index=pd.Index(list("abcdefgh"), name="customer_id"))
    >>> tiers = value_tiers(predicted, vip=0.9, core=0.5)
    >>> tiers.summary[["customers", "value", "share_of_value"]].round(3)
                     customers  value  share_of_value
    tier
    VIP                      1  120.0           0.556
    core                     3   87.0           0.403
    low                      3   15.0           0.069
    margin-negative          1   -6.0          -0.028
    >>> {k: round(v, 2) for k, v in tiers.thresholds.items()}     # the 90% and 50% quantiles
    {'vip': 67.5, 'core': 10.0, 'margin_negative': 0.0}
    """

    customers: pd.DataFrame
    summary: pd.DataFrame
    thresholds: dict[str, float]


def value_tiers(clv_frame: pd.DataFrame | pd.Series, *, column: str = "clv", vip: float = 0.95, core: float = 0.5,
                by: str = "quantile", labels: tuple[str, str, str, str] = TIER_LABELS) -> ValueTiers:
    """Assign VIP / core / low / margin-negative tiers from predicted CLV.

    ``by="quantile"`` (default): ``vip`` and ``core`` are quantiles of the value over all customers
    (VIP: the top 5%, core: the rest of the top half); ``by="value"``: they are amounts in the
    value's currency. Tiers, in order of precedence:

    * ``margin-negative``: value < 0 (the customer is expected to destroy margin);
    * ``VIP``: value >= the vip threshold;
    * ``core``: value >= the core threshold;
    * ``low``: the rest (value >= 0).

    Tiers, thresholds and ranks use the value (and ``by="value"`` thresholds) rounded to 9 decimals
    (``TIE_DECIMALS``), so that values
    equal to a billionth of the currency unit are ties: floating-point noise (another engine, chunking or CPU)
    never reorders customers or moves one across a threshold; ties are ranked in the frame's order (the
    pipeline's frames are sorted by customer id). ``customers`` keeps the unrounded value.

    ``labels`` renames the four tiers (same order). Returns :class:`ValueTiers` with
    ``customers`` (value, tier as an ordered categorical, rank 1 = most valuable),
    ``summary`` (per tier: customers, share of customers, total value, share of value, mean) and
    ``thresholds``.

    Examples
    --------
    ``clv_frame`` is typically the output of :func:`clvmodels.forecast_clv`; any value column works:

    >>> import pandas as pd
    >>> fc = pd.DataFrame({"clv": [120.0, 45.0, 30.0, 12.0, 8.0, 5.0, 2.0, -6.0]},
    ...                   index=pd.Index(list("abcdefgh"), name="customer_id"))
    >>> tiers = value_tiers(fc, vip=0.9, core=0.5)
    >>> tiers.customers.head(3)
                   clv  tier  rank
    customer_id
    a            120.0   VIP     1
    b             45.0  core     2
    c             30.0  core     3
    >>> tiers.customers["tier"].value_counts(sort=False).to_dict()
    {'VIP': 1, 'core': 3, 'low': 3, 'margin-negative': 1}

    Thresholds in money instead of quantiles:

    >>> value_tiers(fc, by="value", vip=100, core=20).customers["tier"].tolist()
    ['VIP', 'core', 'core', 'low', 'low', 'low', 'low', 'margin-negative']
    """
    if isinstance(clv_frame, pd.Series):
        values_s = clv_frame
        column = clv_frame.name if clv_frame.name is not None else column
        frame = clv_frame.to_frame(name=column)
    elif isinstance(clv_frame, pd.DataFrame):
        frame = clv_frame
    else:
        raise ConfigError(f"value_tiers needs a DataFrame (e.g. the output of forecast_clv) or a Series, got "
                          f"{type(clv_frame).__name__}", key="clv_frame")
    if len(frame) == 0:
        raise InvalidValueError("value_tiers needs at least one customer")
    values = _column(frame, column, "value_tiers")
    values_s = pd.Series(values, index=frame.index.rename("customer_id"), name=column)
    if by not in ("quantile", "value"):
        raise ConfigError(f"by must be 'quantile' or 'value', got {by!r}", key="by")
    for key, val in (("vip", vip), ("core", core)):
        if isinstance(val, bool) or not isinstance(val, Real) or not np.isfinite(float(val)):
            raise ConfigError(f"{key} must be a finite number, got {val!r}", key=key)
        if by == "quantile" and not 0.0 <= float(val) <= 1.0:
            raise ConfigError(f"{key}={val!r} must be a quantile in [0, 1] with by='quantile'", key=key)
    if float(vip) < float(core):
        raise ConfigError(f"vip ({vip!r}) must be >= core ({core!r})", key="vip")
    if len(labels) != 4 or len(set(labels)) != 4:
        raise ConfigError(f"labels must be 4 distinct names (VIP, core, low, margin-negative), got {labels!r}",
                          key="labels")
    key = np.round(np.asarray(values, dtype=float), TIE_DECIMALS)
    if by == "quantile":
        vip_thr, core_thr = (float(np.quantile(key, q)) for q in (vip, core))
    else:
        vip_thr, core_thr = (float(np.round(float(v), TIE_DECIMALS)) for v in (vip, core))
    l_vip, l_core, l_low, l_neg = labels
    tier = np.where(key < 0, l_neg, np.where(key >= vip_thr, l_vip, np.where(key >= core_thr, l_core, l_low)))
    customers = pd.DataFrame({column: values_s,
                              "tier": pd.Categorical(tier, categories=list(labels), ordered=True),
                              "rank": pd.Series(key, index=values_s.index).rank(ascending=False, method="first")
                              .astype(np.int64)})
    total = float(values.sum())
    grp = customers.groupby("tier", observed=False)[column]
    summary = pd.DataFrame({"customers": grp.size(), "value": grp.sum(), "mean_value": grp.mean()})
    summary["share_of_customers"] = summary["customers"] / len(values)
    summary["share_of_value"] = summary["value"] / total if total != 0 else np.nan
    summary["mean_value"] = summary["mean_value"].fillna(0.0)
    summary = summary[["customers", "share_of_customers", "value", "share_of_value", "mean_value"]]
    if total == 0:
        warnings.warn("value_tiers: the total value is 0, so share_of_value is undefined (NaN)", CLVWarning,
                      stacklevel=2)
    thresholds = {"vip": vip_thr, "core": core_thr, "margin_negative": 0.0}
    if by == "quantile" and core_thr < 0:
        warnings.warn(f"value_tiers: the core threshold (quantile {core}) is negative ({core_thr:.4g}); customers "
                      "below 0 are margin-negative whatever the quantiles", CLVWarning, stacklevel=2)
    customers.attrs.update({"thresholds": thresholds, "by": by, "column": column})
    return ValueTiers(customers=customers, summary=summary, thresholds=thresholds)


# --------------------------------------------------------------------------------------------
# whale curve
# --------------------------------------------------------------------------------------------
@dataclass
class WhaleCurve:
    """Whale curve(s) of contribution margin.

    Attributes
    ----------
    curve : long DataFrame, one row per measure and customer rank: ``measure``, ``rank`` (1 = the
        most profitable), ``customer_id``, ``margin``, ``cumulative_margin``, ``customer_share``
        (rank / N) and ``cumulative_share`` (cumulative margin / total margin).
    summary : one row per measure: ``n_customers``, ``total_margin``, ``positive_margin``,
        ``destroyed_margin`` (sum of the negative margins, <= 0), ``peak_share`` (the curve's peak,
        e.g. 1.5 = 150% of the total), ``customer_share_at_peak``, ``customer_share_for_100pct``
        (the smallest share of customers, best first, whose margin reaches 100% of the total),
        ``n_destroyers`` and ``share_destroyers``.
    destroyers : measure -> customer ids with negative margin, most destructive first.

    Examples
    --------
    >>> import pandas as pd
    >>> margin = pd.Series({"a": 24.0, "b": 3.5, "c": 0.0, "d": -2.0})
    >>> whale = whale_curve(historical=margin)
    >>> whale.curve[["rank", "customer_id", "cumulative_share"]].round(3)
       rank customer_id  cumulative_share
    0     1           a             0.941
    1     2           b             1.078
    2     3           c             1.078
    3     4           d             1.000
    >>> whale.share_for_100pct(), whale.destroyers["historical"].tolist()
    (0.5, ['d'])
    """

    curve: pd.DataFrame
    summary: pd.DataFrame
    destroyers: dict[str, pd.Index] = field(default_factory=dict)

    def share_for_100pct(self, measure: str | None = None) -> float:
        """Share of customers (best first) that creates 100% of the margin of ``measure``."""
        measure = measure or str(self.summary.index[0])
        return float(self.summary.loc[measure, "customer_share_for_100pct"])


def historical_margin(summary: pd.DataFrame, *, margin, cost_per_order=0.0, margin_by: str | None = None) -> pd.Series:
    """Contribution margin of the observed *repeat* purchases of an RFM summary.

    ``margin * frequency * monetary_value - cost_per_order * frequency`` per customer (the
    summary's ``monetary_value`` is the mean spend of the repeat purchases, so the first purchase
    is not included). ``margin``/``cost_per_order``/``margin_by`` accept what
    :func:`clvmodels.forecast.forecast_clv` accepts.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [3, 1, 0, 2], "monetary_value": [40.0, 25.0, 0.0, 10.0]},
    ...                        index=pd.Index(list("abcd"), name="customer_id"))
    >>> historical_margin(summary, margin=0.3, cost_per_order=4.0).to_dict()   # d: 0.3 * 2 * 10 - 2 * 4
    {'a': 24.0, 'b': 3.5, 'c': 0.0, 'd': -2.0}
    """
    from .forecast.economics import resolve_economics

    eco = resolve_economics(summary, margin=margin, margin_by=margin_by, cost_per_order=cost_per_order)
    x = _column(summary, "frequency", "historical_margin")
    mv = _column(summary, "monetary_value", "historical_margin")
    values = eco.margin * x * mv - eco.cost_per_order * x
    return pd.Series(values, index=summary.index.rename("customer_id"), name="historical_margin")


def whale_curve(*args: pd.Series, **measures: pd.Series) -> WhaleCurve:
    """Whale curve(s): cumulative contribution margin by customer rank.

    Pass one or more per-customer margin Series, positionally (named by the Series name) or as
    keywords, e.g. ``whale_curve(historical=historical_margin(rfm, margin=0.3),
    predicted=fc["clv"])``. Customers are ranked by their margin, best first, separately for each
    measure. A whale curve rises above 100% of the total margin (the profitable customers), peaks,
    and falls back to 100% as the margin-destroying customers are added.

    Examples
    --------
    Half of the customers make all of the historical margin; together they make 108% of it,
    before customer d destroys 8%:

    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [3, 1, 0, 2], "monetary_value": [40.0, 25.0, 0.0, 10.0]},
    ...                        index=pd.Index(list("abcd"), name="customer_id"))
    >>> predicted = pd.Series({"a": 20.0, "b": 5.0, "c": -1.0, "d": 0.5})   # e.g. forecast_clv(...)["clv"]
    >>> whale = whale_curve(historical=historical_margin(summary, margin=0.3, cost_per_order=4.0),
    ...                     predicted=predicted)
    >>> whale.summary[["total_margin", "peak_share", "customer_share_for_100pct", "n_destroyers"]].round(3)
                total_margin  peak_share  customer_share_for_100pct  n_destroyers
    measure
    historical          25.5       1.078                        0.5             1
    predicted           24.5       1.041                        0.5             1
    """
    items: dict[str, pd.Series] = {}
    for s in args:
        if not isinstance(s, pd.Series):
            raise ConfigError(f"whale_curve takes pandas Series of margins, got {type(s).__name__}", key="measures")
        name = str(s.name) if s.name is not None else f"measure_{len(items)}"
        items[name] = s
    for name, s in measures.items():
        if not isinstance(s, pd.Series):
            raise ConfigError(f"whale_curve: {name} must be a pandas Series of margins, got {type(s).__name__}",
                              key=name)
        items[name] = s
    if not items:
        raise ConfigError("whale_curve needs at least one Series of per-customer margins", key="measures")
    curves, rows, destroyers = [], {}, {}
    for name, s in items.items():
        if len(s) == 0:
            raise InvalidValueError(f"whale_curve: {name} is empty", column=name)
        values = _column(s.to_frame(name="margin"), "margin", f"whale_curve({name})")
        order = np.argsort(-values, kind="stable")
        v = values[order]
        ids = s.index[order]
        n = len(v)
        cum = np.cumsum(v)
        total = float(cum[-1])
        rank = np.arange(1, n + 1)
        frame = pd.DataFrame({"measure": name, "rank": rank, "customer_id": ids, "margin": v,
                              "cumulative_margin": cum, "customer_share": rank / n})
        if total > 0:
            frame["cumulative_share"] = cum / total
            reach = int(np.argmax(cum >= total * (1 - 1e-12))) + 1
            share_100 = reach / n
            peak = int(np.argmax(cum))
            peak_share, share_at_peak = float(cum[peak] / total), float((peak + 1) / n)
        else:
            warnings.warn(f"whale_curve: the total margin of {name!r} is {total:.4g} <= 0, so shares of the total "
                          "are undefined (NaN); the curve still has cumulative_margin", CLVWarning, stacklevel=2)
            frame["cumulative_share"] = np.nan
            share_100 = peak_share = share_at_peak = np.nan
        neg = v < 0
        destroyers[name] = pd.Index(ids[neg][::-1], name="customer_id")
        rows[name] = {"n_customers": n, "total_margin": total, "positive_margin": float(v[v > 0].sum()),
                      "destroyed_margin": float(v[neg].sum()), "peak_share": peak_share,
                      "customer_share_at_peak": share_at_peak, "customer_share_for_100pct": share_100,
                      "n_destroyers": int(neg.sum()), "share_destroyers": float(neg.sum() / n)}
        curves.append(frame)
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "measure"
    return WhaleCurve(curve=pd.concat(curves, ignore_index=True), summary=summary, destroyers=destroyers)
