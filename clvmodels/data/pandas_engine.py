"""The pandas engine of the RFM summary: a transaction log held in memory, summarised with numpy.

It applies the rules of :mod:`clvmodels.data.rfm` on integer time ticks (day numbers when merging by
calendar period, microseconds otherwise), without sorting the rows: purchase counts come from one
sort of an integer key per row, everything else from O(n) scatter operations. The DuckDB engine
(:mod:`.duckdb_engine`) computes the same statistics in SQL; both hand them to
:func:`.summary.summary_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InvalidValueError, describe_culprits
from .summary import (NET_TOLERANCE, DropReport, RFMSummary, SummaryOptions, assemble, attach_holdout,
                      nothing_left, resolve_calibration_end, summary_frame)
from .transactions import prepare_transactions

__all__ = ["pandas_summary", "pandas_purchases"]


# ----------------------------------------------------------------------------------------------
# time handling


def _ticks(dates: pd.Series, opts: SummaryOptions) -> np.ndarray:
    """Integer event times: day numbers (calendar merges) or microseconds since the epoch."""
    values = dates.to_numpy()
    unit, count = np.datetime_data(values.dtype)
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit] // count
    raw = values.view(np.int64)
    if opts.merge:  # day numbers fit int32 (half the memory); floor division is right before 1970 too
        return (raw // (86_400 * per_second)).astype(np.int32)
    if per_second <= 10**6:
        return raw * (10**6 // per_second)
    return raw // (per_second // 10**6)


def _end_tick(end: pd.Timestamp, opts: SummaryOptions) -> int:
    if end.tzinfo is not None:
        end = end.tz_localize(None)
    value = np.datetime64(end.to_datetime64())
    if opts.merge:
        return int(value.astype("datetime64[D]").astype(np.int64))
    return int(value.astype("datetime64[us]").astype(np.int64))


def _buckets(ticks: np.ndarray, opts: SummaryOptions) -> np.ndarray:
    """Merge key per row: rows of a customer with equal key are one purchase."""
    if opts.merge in ("D", None):
        return ticks
    if opts.merge == "W":  # 1970-01-01 is a Thursday: +3 aligns week starts to Mondays
        return np.floor_divide(ticks + 3, 7)
    unit = "M" if opts.merge == "M" else "Y"
    return ticks.astype("datetime64[D]").astype(f"datetime64[{unit}]").astype(np.int64)


# ----------------------------------------------------------------------------------------------
# the numpy core (pandas engine)


def _factorize_ids(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 and sorted unique ids. Compact integer ids skip hashing (a bitmap and a cumsum)."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * len(values) + 1_000_000:
            # non-negative ids index the bitmap directly (no shifted copy of the column); shifted ones are
            # shifted in 64 bits (int8 ids -100 and 100 are 200 apart) and uint64 ones in uint64 (above 2**63)
            base = 0 if lo >= 0 and hi <= 4 * len(values) + 1_000_000 else lo
            wide = np.uint64 if values.dtype == np.uint64 else np.int64
            offset = values if base == 0 else (values.astype(wide, copy=False) - wide(base))
            seen = np.zeros(hi - base + 1, dtype=bool)
            seen[offset] = True
            rank = np.cumsum(seen, dtype=np.int64) - 1
            return rank[offset], (np.flatnonzero(seen).astype(wide) + wide(base)).astype(values.dtype)
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(uniques)


def _purchase_keys(codes, buckets, seg):
    """One integer per row naming its purchase: (customer, segment, merge bucket). Returns (key, span).

    ``key // span`` is ``code * 2 + segment`` when there is a segment (calibration 0 / holdout 1),
    else the customer code. The key is int32 when it fits (half the memory, twice the sort speed);
    exact timestamps over long periods are rank-compressed first so it cannot overflow int64.
    """
    compound = codes if seg is None else codes * 2 + seg
    bmin = int(buckets.min())
    span = int(buckets.max()) - bmin + 1
    n_compound = int(compound.max()) + 1
    if n_compound * span >= 2**62:
        _, buckets = np.unique(buckets, return_inverse=True)
        bmin, span = 0, int(buckets.max()) + 1
    dtype = np.int32 if n_compound * span < 2**31 and abs(bmin) < 2**31 else np.int64
    key = compound.astype(dtype)
    key *= span
    key -= bmin  # before adding the buckets, so no intermediate value leaves the key's range
    np.add(key, buckets, out=key, casting="unsafe")
    return key, span


def _count_purchases(codes, buckets, seg, n_codes):
    """Distinct purchases per customer (calibration, holdout) from one in-place sort of the keys."""
    key, span = _purchase_keys(codes, buckets, seg)
    key.sort()
    new = np.empty(len(key), dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    compound = key[new] // span
    del key, new
    if seg is None:
        return np.bincount(compound, minlength=n_codes), None
    hold = (compound & 1).astype(bool)
    compound >>= 1
    return (np.bincount(compound[~hold], minlength=n_codes), np.bincount(compound[hold], minlength=n_codes))


def _net_filter(codes, ticks, amounts, seg, opts: SummaryOptions, report: DropReport):
    """returns='net': remove the rows of purchases whose amounts sum to <= 0 (NET_TOLERANCE x gross)."""
    key, _ = _purchase_keys(codes, _buckets(ticks, opts), seg)
    _, inverse = np.unique(key, return_inverse=True)
    net = np.bincount(inverse, weights=amounts)
    neg = amounts < 0  # gross = net - the returns: one more pass over the (few) return rows only
    gross = net - np.bincount(inverse[neg], weights=amounts[neg], minlength=len(net))
    keep = net > NET_TOLERANCE * gross
    report.n_purchases_dropped_net_nonpositive = int((~keep).sum())
    return keep[inverse]


def _match_refunds(codes, ticks, amounts, seg, orders, opts: SummaryOptions, report: DropReport, uniques):
    """returns='match': net every refund row (amount < 0) against one purchase of its customer.

    Purchases are the occasions formed by the rows with amount >= 0 (merge rule, split at the
    calibration end). A refund goes to the purchase holding its order id (``orders``; the earliest
    such purchase), or without orders to the customer's latest purchase on or before it (merge
    bucket) whose first tick is at most ``refund_window`` days before it; in both cases in the same
    segment (calibration / holdout). Refunds that match nothing are dropped and counted; a purchase
    whose refunds bring its value to <= 0 (NET_TOLERANCE x gross) is dropped and counted.

    Returns the purchases as rows ``(codes, ticks, amounts, seg)``: one row per purchase left, at its
    first tick, with its net value (the summary of these rows is that of the log).
    """
    refund = amounts < 0
    key, span = _purchase_keys(codes, _buckets(ticks, opts), seg)  # one key mapping for purchases and refunds
    buy = ~refund
    occ_keys, occ_of_buy = np.unique(key[buy], return_inverse=True)
    n_occ = len(occ_keys)
    occ_tick = np.full(n_occ, np.iinfo(ticks.dtype).max, dtype=ticks.dtype)
    np.minimum.at(occ_tick, occ_of_buy, ticks[buy])
    rows = np.flatnonzero(refund)
    r_key = key[rows]
    if orders is None:  # the latest purchase on or before the refund, within the window
        pos = np.searchsorted(occ_keys, r_key, side="right") - 1
        ok = pos >= 0
    else:  # the earliest purchase holding the refund's (customer, order)
        ocode, _ = pd.factorize(orders, use_na_sentinel=True)
        pair = codes.astype(np.int64) * (int(ocode.max()) + 1) + ocode
        has = ocode >= 0
        b_pair, b_occ = pair[buy & has], occ_of_buy[has[buy]]
        order = np.lexsort((b_occ, b_pair))
        b_pair, b_occ = b_pair[order], b_occ[order]
        first = np.ones(len(b_pair), dtype=bool)
        np.not_equal(b_pair[1:], b_pair[:-1], out=first[1:])
        u_pair, u_occ = b_pair[first], b_occ[first]
        j = np.searchsorted(u_pair, pair[rows])
        ok = has[rows] & (j < len(u_pair))
        ok[ok] = u_pair[j[ok]] == pair[rows][ok]
        pos = np.full(len(rows), -1, dtype=np.int64)
        pos[ok] = u_occ[j[ok]]
    # the same customer and the same segment (a calibration summary uses nothing after its end)
    ok[ok] = occ_keys[pos[ok]] // span == r_key[ok] // span
    if orders is None:
        lag = ticks[rows[ok]].astype(np.int64) - occ_tick[pos[ok]].astype(np.int64)
        ok[ok] = lag <= opts.refund_window_ticks
    pos = np.where(ok, pos, 0)
    ok = np.asarray(ok, dtype=bool)
    gross = np.bincount(occ_of_buy, weights=amounts[buy], minlength=n_occ)
    net = gross + np.bincount(pos[ok], weights=amounts[rows[ok]], minlength=n_occ)
    refunded = np.bincount(pos[ok], minlength=n_occ) > 0
    gone = refunded & (net <= NET_TOLERANCE * gross)
    report.n_refunds_matched = int(ok.sum())
    report.n_refunds_unmatched = int(len(rows) - ok.sum())
    unmatched = np.unique(codes[rows[~ok]])[:5]
    report.unmatched_refund_examples = [v.item() if hasattr(v, "item") else v for v in uniques[unmatched]]
    report.n_purchases_fully_refunded = int(gone.sum())
    left = ~gone
    compound = occ_keys[left] // span
    if seg is None:
        return compound.astype(np.int64), occ_tick[left], net[left], None
    return (compound >> 1).astype(np.int64), occ_tick[left], net[left], (compound & 1).astype(np.int64)


def _aggregate(codes, ticks, amounts, n_codes, opts: SummaryOptions, seg=None) -> dict:
    """Per-customer statistics without sorting the rows.

    First purchase = earliest tick; a merged purchase happens at the earliest tick of its bucket, so
    the last purchase is the earliest tick of the last bucket. Purchase counts come from a sort of
    one int64 key per row; everything else is O(n) scatter (ufunc.at, bincount).
    """
    buckets = _buckets(ticks, opts)
    count, count_h = _count_purchases(codes, buckets, seg, n_codes)
    hold_total = None
    if seg is not None:
        cal = ~seg.astype(bool)
        if amounts is not None:
            hold_total = np.bincount(codes[~cal], weights=amounts[~cal], minlength=n_codes)
        codes, ticks, buckets = codes[cal], ticks[cal], (buckets[cal] if buckets is not ticks else None)
        buckets = ticks if buckets is None else buckets
        amounts = amounts[cal] if amounts is not None else None
    # accumulators in the ticks' own dtype: ufunc.at leaves its fast path when dtypes differ (10x slower)
    lo, hi = np.iinfo(ticks.dtype).min, np.iinfo(ticks.dtype).max
    first = np.full(n_codes, hi, dtype=ticks.dtype)
    np.minimum.at(first, codes, ticks)
    if opts.merge in ("D", None):
        last = np.full(n_codes, lo, dtype=ticks.dtype)
        np.maximum.at(last, codes, ticks)
    else:
        last_bucket = np.full(n_codes, np.iinfo(buckets.dtype).min, dtype=buckets.dtype)
        np.maximum.at(last_bucket, codes, buckets)
        in_last = buckets == last_bucket[codes]
        last = np.full(n_codes, hi, dtype=ticks.dtype)
        np.minimum.at(last, codes[in_last], ticks[in_last])
    present = np.flatnonzero(count)
    stats = {"code": present, "first": first[present].astype(np.int64), "last": last[present].astype(np.int64),
             "count": count[present]}
    if amounts is not None:
        first_bucket = np.zeros(n_codes, dtype=np.int64)
        first_bucket[present] = _buckets(first[present], opts)
        in_first = buckets == first_bucket[codes]
        stats["total"] = np.bincount(codes, weights=amounts, minlength=n_codes)[present]
        stats["first_amount"] = np.bincount(codes[in_first], weights=amounts[in_first], minlength=n_codes)[present]
    if opts.litt:
        stats["litt"] = _litt(codes, ticks, buckets, n_codes, opts.ticks_per_unit)[present]
    if seg is not None:
        stats["count_holdout"] = count_h[present]
        if hold_total is not None:
            stats["total_holdout"] = hold_total[present]
    return stats


def _purchase_firsts(codes, ticks, buckets, seg=None):
    """The earliest row of each purchase (customer, [segment,] merge bucket), in (customer, time) order:
    ``(order, starts)`` with ``order[starts]`` those rows and ``starts`` where each purchase begins in ``order``."""
    key, _ = _purchase_keys(codes, buckets, seg)
    order = np.lexsort((ticks, key))
    key_s = key[order]
    starts = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]])
    return order, starts


def _litt(codes, ticks, buckets, n_codes, ticks_per_unit) -> np.ndarray:
    """Per customer code, the sum of log(time between consecutive purchases) in the time unit (``litt`` of
    BTYDplus' ``elog2cbs``; 0 for one purchase). A purchase is at its earliest tick, so merged rows count once.

    Examples
    --------
    Customer 0 buys on days 0, 7 and 21 (twice that day), customer 1 once; weeks (7 days a unit):

    >>> codes, ticks = np.array([0, 0, 0, 0, 1]), np.array([0, 7, 21, 21, 3])
    >>> _litt(codes, ticks, ticks, 2, 7.0).round(6).tolist()          # log(1) + log(2)
    [0.693147, 0.0]
    """
    if len(codes) == 0:
        return np.zeros(n_codes)
    order, starts = _purchase_firsts(codes, ticks, buckets)
    first = order[starts]
    pc, pt = codes[first], ticks[first].astype(np.int64)
    same = pc[1:] == pc[:-1]
    gaps = (pt[1:] - pt[:-1])[same] / ticks_per_unit
    return np.bincount(pc[1:][same], weights=np.log(gaps), minlength=n_codes)


def _apply_returns_rows(amounts, keep, opts: SummaryOptions, report: DropReport, codes, uniques, amount_col):
    """Row-level returns policy ('error' and 'drop'); 'net' and 'match' work on merged purchases instead."""
    if amounts is None or opts.returns in ("net", "match"):
        return keep
    if opts.returns == "error":
        neg = (amounts < 0) & keep
        if neg.any():
            culprits = uniques[pd.unique(codes[neg])]
            n = int(neg.sum())
            raise InvalidValueError(
                f"column {amount_col!r}: {n} row(s) have a negative amount and returns='error'; example customer "
                f"ids {describe_culprits(culprits)}; pass returns='drop', 'net' or 'match' to handle returns",
                column=amount_col, n_rows=n, examples=list(culprits[:5]))
        return keep
    drop = (amounts <= 0) & keep
    report.n_rows_dropped_returns = int(drop.sum())
    return keep & ~drop



@dataclass
class _Kept:
    """The rows a summary is built from, after the observation window and the returns policy."""

    codes: np.ndarray
    ticks: np.ndarray
    amounts: np.ndarray | None
    uniques: np.ndarray
    seg: np.ndarray | None
    report: DropReport
    end: pd.Timestamp
    end_tick: int
    cal_end: pd.Timestamp | None
    cal_tick: int | None
    present_before: np.ndarray


def _keep_rows(transactions: pd.DataFrame, end, cal_end, opts: SummaryOptions) -> _Kept:
    """Validate the log, apply the observation window and the returns policy (both outputs of the
    engine - the summary and the purchase log - start here)."""
    customer_col, date_col, amount_col = opts.customer_col, opts.date_col, opts.amount_col
    tx = prepare_transactions(transactions, customer_col=customer_col, date_col=date_col,
                              amount_col=amount_col, date_format=opts.date_format, timezone=opts.timezone,
                              order_col=opts.order_col if opts.returns == "match" and amount_col else None)
    report = DropReport(n_rows=len(tx.ids))
    codes, uniques = _factorize_ids(tx.ids)
    ticks = _ticks(tx.dates, opts)
    if end is None:
        end_tick = int(ticks.max())
        end = pd.Timestamp(tx.dates.max()).floor("us")  # the ticks' resolution, as the DuckDB engine's
    else:
        end_tick = _end_tick(end, opts)
    if cal_end is not None:
        cal_end = resolve_calibration_end(cal_end, tx.dates.min(), end, opts)
    after = ticks > end_tick
    if after.any() and opts.after_observation_end == "error":
        culprits = pd.unique(uniques[codes[after]])
        raise InvalidValueError(
            f"column {date_col!r}: {int(after.sum())} row(s) are dated after observation_end={end.date()}; "
            f"example customer ids {describe_culprits(culprits)} (after_observation_end='exclude' leaves them out)",
            column=date_col, n_rows=int(after.sum()), examples=list(culprits[:5]))
    report.n_rows_after_observation_end = int(after.sum())
    keep = ~after
    present_before = _present(codes if keep.all() else codes[keep], len(uniques))
    keep = _apply_returns_rows(tx.amounts, keep, opts, report, codes, uniques, amount_col)

    amounts, orders = tx.amounts, tx.orders
    if not keep.all():
        codes, ticks, amounts = codes[keep], ticks[keep], (amounts[keep] if amounts is not None else None)
        orders = orders[keep] if orders is not None else None
    if len(codes) == 0:
        raise nothing_left(report, opts, end)
    seg = cal_tick = None
    if cal_end is not None:
        cal_tick = _end_tick(cal_end, opts)
        seg = (ticks > cal_tick).astype(np.int64)
    if opts.returns == "net" and amounts is not None:
        ok = _net_filter(codes, ticks, amounts, seg, opts, report)
        codes, ticks, amounts = codes[ok], ticks[ok], amounts[ok]
        seg = seg[ok] if seg is not None else None
    elif opts.returns == "match" and amounts is not None:
        codes, ticks, amounts, seg = _match_refunds(codes, ticks, amounts, seg, orders, opts, report, uniques)
    if len(codes) == 0:
        raise nothing_left(report, opts, end)
    return _Kept(codes, ticks, amounts, uniques, seg, report, end, end_tick, cal_end, cal_tick, present_before)


def pandas_summary(transactions: pd.DataFrame, end, cal_end, opts: SummaryOptions) -> RFMSummary:
    """RFM (and holdout) summary of an in-memory log; the contract of :func:`clvmodels.rfm_summary`.

    ``end`` and ``cal_end`` are naive local Timestamps (or None: the last transaction date, no
    holdout), ``opts`` the validated :class:`~.summary.SummaryOptions`; :func:`clvmodels.rfm_summary`
    and :func:`clvmodels.calibration_holdout` prepare them and call this for a DataFrame.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                    "date": ["2024-01-01", "2024-01-08", "2024-01-29", "2024-01-15"],
    ...                    "amount": [10.0, 20.0, 30.0, 5.0]})
    >>> rfm = pandas_summary(tx, None, None, SummaryOptions.build(time_unit="W"))
    >>> rfm  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency    T  monetary_value
    customer_id
    a                    2      4.0  4.0            25.0
    b                    0      0.0  2.0             0.0
    >>> str(rfm.observation_end.date())
    '2024-01-29'

    With a calibration end, customer b (first purchase after it) is left out and counted:

    >>> cal = pandas_summary(tx, pd.Timestamp("2024-01-31"), pd.Timestamp("2024-01-14"), SummaryOptions.build())
    >>> cal[["frequency", "frequency_holdout"]]  # doctest: +NORMALIZE_WHITESPACE
                 frequency  frequency_holdout
    customer_id
    a                    1                  1
    >>> cal.report.n_customers_first_purchase_after_end
    1
    """
    k = _keep_rows(transactions, end, cal_end, opts)
    codes, uniques, report = k.codes, k.uniques, k.report
    stats = _aggregate(codes, k.ticks, k.amounts, len(uniques), opts, k.seg)
    if len(stats["code"]) == 0:
        raise nothing_left(report, opts, k.end)
    result = summary_frame(stats, uniques, opts, k.end_tick if k.cal_end is None else k.cal_tick)
    if k.cal_end is not None:
        result = attach_holdout(result, stats["count_holdout"], stats.get("total_holdout"), opts,
                                k.end_tick - k.cal_tick)
        # customers whose first purchase falls in the holdout are not in a calibration summary
        report.n_customers_first_purchase_after_end = int((_present(codes, len(uniques))
                                                           & ~_present(stats["code"], len(uniques))).sum())
    _note_dropped_customers(report, k.present_before, _present(codes, len(uniques)), uniques)
    return assemble(result, report, opts, k.end, k.cal_end)


def pandas_purchases(transactions: pd.DataFrame, end, opts: SummaryOptions, cal_end=None) -> pd.DataFrame:
    """One row per purchase occasion (after the summary's merge and returns rules) up to ``end``:
    ``customer_id``, ``date`` (the purchase's first day or timestamp) and, with amounts, ``amount``
    (its value), sorted by customer and date; with ``cal_end`` the calibration and holdout periods are kept
    apart as :func:`clvmodels.calibration_holdout` keeps them. The contract of :func:`clvmodels.data.purchase_log`.

    Examples
    --------
    With ``merge='W'`` the two transactions of customer a in the ISO week of Monday 2024-01-01
    are one purchase, dated on its first day, worth their sum:

    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                    "date": ["2024-01-01 09:00", "2024-01-03 18:00", "2024-01-10", "2024-01-15"],
    ...                    "amount": [10.0, 20.0, 30.0, 5.0]})
    >>> pandas_purchases(tx, None, SummaryOptions.build(merge="W"))  # doctest: +NORMALIZE_WHITESPACE
      customer_id       date  amount
    0           a 2024-01-01    30.0
    1           a 2024-01-10    30.0
    2           b 2024-01-15     5.0
    """
    k = _keep_rows(transactions, end, cal_end, opts)
    order, starts = _purchase_firsts(k.codes, k.ticks, _buckets(k.ticks, opts), k.seg)
    first = order[starts]                       # earliest row of each purchase (ticks sorted within a key)
    unit = "D" if opts.merge else "us"
    out = pd.DataFrame({"customer_id": k.uniques[k.codes[first]],
                        "date": k.ticks[first].astype(np.int64).astype(f"datetime64[{unit}]")})
    if k.amounts is not None:
        out["amount"] = np.add.reduceat(k.amounts[order], starts)
    return out


def _present(codes: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask over customer codes 0..n-1: which occur in ``codes`` (O(n), no sorting)."""
    mask = np.zeros(n, dtype=bool)
    mask[codes] = True
    return mask


def _note_dropped_customers(report: DropReport, before: np.ndarray, after: np.ndarray, uniques) -> None:
    gone = np.flatnonzero(before & ~after)
    report.n_customers_dropped = int(len(gone))
    report.dropped_customer_examples = [v.item() if hasattr(v, "item") else v for v in uniques[gone[:5]]]
