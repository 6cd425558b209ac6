"""Value tiers and RFM scores of a Spark table, with the definitions of :mod:`clvmodels.segments`.

Both definitions need order statistics over all customers: :func:`clvmodels.segments.value_tiers`
ranks customers by CLV (``rank(method="first")``: ties in the order of the summary, which the other
engines sort by customer id) and cuts at ``numpy.quantile`` (linear interpolation);
:func:`clvmodels.segments.rfm_scores` closes tie-aware bins on the cumulative counts of the sorted
distinct values. Here they are computed **exactly**, without collecting the customers:

* :func:`cumulative` sorts a frame (Spark's range-partitioned sort), persists it, counts each
  partition (one number per partition reaches the driver) and adds the partition's offset to a running
  count inside every partition: an exact 0-based row index and an inclusive cumulative weight, in
  global order - the "sort plus per-partition offsets" way to rank without a single-partition window;
* a quantile is then the linear interpolation (numpy's ``method="linear"`` formula, step by step) of
  the two values at ``floor((n - 1) q)`` and the next index, looked up by index;
* a score bin is closed by one aggregation per bin over the distinct values with their cumulative
  counts (``min`` over the rows past the bin's fair share): ``k <= n_bins`` small jobs per score, and
  a score is then ``1 + (number of bin ends below the value)``, a column expression.

What reaches the driver: the partition counts, ``n_bins`` boundary values per score and two values
per quantile. The results are the same as the pandas functions' (tested equal on messy logs).
"""

from __future__ import annotations

import numpy as np

from ..segments import TIE_DECIMALS, TIER_LABELS
from ._session import functions, pyspark_sql

__all__ = ["value_tiers", "rfm_scores"]

INDEX, CUM = "_clv_index", "_clv_cum"


def cumulative(sdf, order, *, weight: str | None = None, persisted: list | None = None):
    """``sdf`` sorted by ``order`` (Spark column expressions or names) with ``_clv_index`` (0-based position in
    that order, exact) and ``_clv_cum`` (running sum of ``weight``, or of 1, inclusive), and the total weight.

    The sorted frame is persisted so that both passes (partition counts, then running counts with offsets) see the
    same partitions; persisted frames are appended to ``persisted`` for the caller to free."""
    from pyspark import StorageLevel, TaskContext

    T = pyspark_sql().types
    ordered = sdf.orderBy(*order).persist(StorageLevel.MEMORY_AND_DISK)
    if persisted is not None:
        persisted.append(ordered)

    def sizes(batches):
        import pandas as pd

        n, w = 0, 0.0
        for b in batches:
            n += len(b)
            w += float(b[weight].sum()) if weight else float(len(b))
        yield pd.DataFrame({"part": [TaskContext.get().partitionId()], "n": [n], "w": [w]})

    got = ordered.mapInPandas(sizes, "part int, n long, w double").collect()
    counts = {int(r["part"]): (int(r["n"]), float(r["w"])) for r in got}
    offsets, n_done, w_done = {}, 0, 0.0
    for part in sorted(counts):
        offsets[part] = (n_done, w_done)
        n_done += counts[part][0]
        w_done += counts[part][1]
    schema = T.StructType(list(ordered.schema.fields) + [T.StructField(INDEX, T.LongType()),
                                                        T.StructField(CUM, T.DoubleType())])

    def number(batches):
        n, w = offsets.get(TaskContext.get().partitionId(), (0, 0.0))
        for b in batches:
            if len(b) == 0:
                continue
            step = b[weight].to_numpy(np.float64) if weight else np.ones(len(b))
            b = b.assign(**{INDEX: np.arange(n, n + len(b), dtype=np.int64), CUM: w + np.cumsum(step)})
            n, w = n + len(b), float(b[CUM].iloc[-1])
            yield b

    out = ordered.mapInPandas(number, schema).persist(StorageLevel.MEMORY_AND_DISK)
    if persisted is not None:
        persisted.append(out)
    return out, n_done, w_done


def _quantile_plan(n: int, q: float) -> tuple[int, int, np.float64]:
    """numpy's ``method="linear"``: the virtual index ``(n - 1) q``, its floor and the next index (clipped to
    ``[0, n - 1]``) and the weight ``gamma``."""
    virtual = np.float64(n - 1) * np.float64(q)
    prev = int(np.floor(virtual))
    return min(max(prev, 0), n - 1), min(max(prev + 1, 0), n - 1), np.float64(virtual - np.float64(prev))


def _lerp(a: float, b: float, gamma: np.float64) -> float:
    """numpy's ``_lerp`` (the quantile's interpolation), step by step, so the result is numpy's to the bit."""
    a, b = np.float64(a), np.float64(b)
    diff = b - a
    return float(b - diff * (1 - gamma)) if gamma >= 0.5 else float(a + diff * gamma)


def value_tiers(sdf, *, column: str = "clv", vip: float = 0.95, core: float = 0.5, by: str = "quantile",
                tie: str = "customer_id", persisted: list | None = None):
    """``sdf`` with ``tier`` and ``value_rank`` as :func:`clvmodels.segments.value_tiers` gives them (``rank`` there),
    and the thresholds.

    ``value_rank`` is 1 for the highest ``column`` (rounded to ``TIE_DECIMALS`` decimals, as in the pandas definition);
    ties go in ascending ``tie`` order (pandas' ``method="first"``
    on a summary sorted by customer id, as the pandas and DuckDB engines sort it). With ``by="quantile"`` the
    thresholds are ``numpy.quantile`` of the values (linear), computed exactly from two looked-up values each.

    Examples
    --------
    >>> import pandas as pd
    >>> import clvmodels as clv
    >>> import clvmodels.spark as cs
    >>> from clvmodels.spark.segments import value_tiers
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> fc = pd.DataFrame({"clv": [120.0, 35.5, 8.25, 0.0, -4.0]}, index=pd.Index(["007", "012", "019", "020", "031"],
    ...                   name="customer_id"))
    >>> tiers, thresholds = value_tiers(spark.createDataFrame(fc.reset_index()))
    >>> [(r.customer_id, r.tier, r.value_rank) for r in tiers.orderBy("value_rank").collect()]
    [('007', 'VIP', 1), ('012', 'core', 2), ('019', 'core', 3), ('020', 'low', 4), ('031', 'margin-negative', 5)]
    >>> want = clv.segments.value_tiers(fc).customers              # the pandas definition
    >>> want["tier"].tolist(), round(thresholds["vip"], 6) == round(float(fc["clv"].quantile(0.95)), 6)
    (['VIP', 'core', 'core', 'low', 'margin-negative'], True)
    """
    F = functions()
    # the value rounded to TIE_DECIMALS decimals orders and tiers, as in the pandas definition (last-bit noise of the
    # arithmetic is a tie, broken by ``tie``)
    key = F.round(F.col(column), TIE_DECIMALS)
    ranked, n, _ = cumulative(sdf, [key.desc(), F.col(tie).asc()], persisted=persisted)
    if by == "quantile":
        plans = [_quantile_plan(n, q) for q in (vip, core)]
        wanted = sorted({n - 1 - i for p in plans for i in p[:2]})   # the i-th smallest is at position n - 1 - i
        got = {int(r[INDEX]): r["_key"] for r in ranked.where(F.col(INDEX).isin(wanted))
               .select(INDEX, key.alias("_key")).collect()}
        vip_thr, core_thr = (_lerp(got[n - 1 - lo], got[n - 1 - hi], gamma) for lo, hi, gamma in plans)
    else:
        vip_thr, core_thr = (float(np.round(float(v), TIE_DECIMALS)) for v in (vip, core))
    l_vip, l_core, l_low, l_neg = TIER_LABELS
    v = key
    tier = (F.when(v < 0, l_neg).when(v >= vip_thr, l_vip).when(v >= core_thr, l_core).otherwise(l_low))
    out = ranked.withColumn("tier", tier).withColumn("value_rank", (F.col(INDEX) + 1).cast("long"))
    return out.drop(INDEX, CUM), {"vip": vip_thr, "core": core_thr, "margin_negative": 0.0}


def _bin_ends(sdf, value: str, n_bins: int, persisted: list | None) -> list[float]:
    """The last value of each score bin (ascending ``value`` = worst to best), by the rule of
    :func:`clvmodels.segments.rfm_scores`: a bin closes at the first distinct value at which it holds at least
    ``ceil(remaining / open bins)`` customers, leaving one distinct value to each later bin."""
    F = functions()
    distinct = sdf.groupBy(value).agg(F.count(F.lit(1)).cast("double").alias("_w"))
    table, n_distinct, n_total = cumulative(distinct, [F.col(value).asc()], weight="_w", persisted=persisted)
    n = int(round(n_total))
    k = min(n_bins, n_distinct)
    ends, binned = [], 0
    for b in range(k):
        left = k - b
        fair = -(-(n - binned) // left)
        row = (table.where((F.col(CUM) >= binned + fair) | (F.col(INDEX) >= n_distinct - left))
               .agg(F.min(F.struct(INDEX, value, CUM)).alias("m")).first()["m"])
        ends.append(row[value])
        binned = int(round(row[CUM]))
    return ends


def _score_column(F, value_col, ends: list[float]):
    score = F.lit(1)
    for end in ends[:-1]:
        score = score + F.when(value_col > F.lit(end), 1).otherwise(0)
    return score.cast("long")


def rfm_scores(sdf, *, n_bins: int = 5, monetary: str | None = "monetary_value", persisted: list | None = None):
    """``sdf`` with ``recency_gap``, ``r_score``, ``f_score``, ``m_score`` (when ``monetary`` is a column),
    ``rfm_cell`` (``n_bins < 10``) and ``rfm_total``, as :func:`clvmodels.segments.rfm_scores` computes them
    (exactly: see this module's docstring).

    Examples
    --------
    >>> import clvmodels as clv
    >>> import clvmodels.spark as cs
    >>> from clvmodels.spark.segments import rfm_scores
    >>> spark = cs.start_session()     # the active session, or a local one
    >>> rfm = clv.datasets.cdnow_summary().iloc[:40]
    >>> sdf = spark.createDataFrame(rfm.reset_index())
    >>> got = rfm_scores(sdf, n_bins=3, monetary=None).toPandas().set_index("customer_id").sort_index()
    >>> want = clv.segments.rfm_scores(rfm, n_bins=3, monetary=None)  # the pandas definition
    >>> bool((got["rfm_cell"] == want["rfm_cell"].astype(str)).all()), bool((got["rfm_total"] == want["rfm_total"]).all())
    (True, True)
    """
    F = functions()
    work = sdf.withColumn("recency_gap", F.greatest(F.col("T") - F.col("recency"), F.lit(0.0)))
    work = work.withColumn("_r", -F.col("recency_gap")).withColumn("_f", F.col("frequency").cast("double"))
    parts = [("r_score", "_r"), ("f_score", "_f")]
    if monetary is not None and monetary in sdf.columns:
        work = work.withColumn("_m", F.col(monetary).cast("double"))
        parts.append(("m_score", "_m"))
    for name, value in parts:
        ends = _bin_ends(work.select(value), value, n_bins, persisted)
        work = work.withColumn(name, _score_column(F, F.col(value), ends))
    code = F.col("r_score") * 10 + F.col("f_score")
    total = F.col("r_score") + F.col("f_score")
    if len(parts) == 3:
        code, total = code * 10 + F.col("m_score"), total + F.col("m_score")
    if n_bins < 10:
        work = work.withColumn("rfm_cell", code.cast("string"))
    return work.withColumn("rfm_total", total.cast("long")).drop("_r", "_f", "_m")

