"""Discounted customer lifetime value with intervals: :func:`forecast_clv` and :func:`residual_clv`.

How a forecast is computed
--------------------------
For each customer (and each parameter draw) the purchase model gives, per forecast period k = 1..K
of length tau (``period`` converted exactly to the summary's time unit):

* incremental expected purchases ``E[X(T+k tau) - X(T+(k-1) tau) | history]`` (differences of the
  model's conditional expectation), and
* ``P(alive at T + k tau | history)`` (the end of period k),

both as ``P(alive now) x`` a factor that depends on (frequency, T) only (computed by
:meth:`clvmodels.forecast._sources.PurchaseSource.group_evaluator`, with the model's ``alive_factors``
fast path when its math has one), so the period-by-period work is done once per distinct
(frequency, T), not per customer. (For the (M)BG/CNBD-k with k > 1 the factor also depends on the
time since the last purchase, the phase of the Erlang clock: its math says ``ahead_needs_recency``
and the groups are the distinct (frequency, recency, T).) The spend model gives the expected spend per order. Economics
are applied after the spend model (:mod:`clvmodels.forecast.economics`)::

    cash flow of period k = (margin * spend - cost_per_order) * E[purchases in period k]
                            - cost_per_active_period * P(alive at the end of period k)
    clv = sum_k (1 + d)^-k * cash flow of period k  -  retention_cost

with d the per-period rate equivalent to the annual effective ``discount_rate``
(:mod:`clvmodels.forecast.discount`): cash flows follow the model's period-by-period purchases and
survival, never a flat profit per year.

Uncertainty
-----------
``clv_lower``/``clv_upper`` bound the central ``interval`` of the *expected* CLV under parameter
uncertainty (a credible or confidence interval of an expectation), not a prediction interval of
what the customer will actually spend. With Bayesian models each posterior draw gives one CLV
(purchase draw i paired with spend draw i) and the point columns are posterior means. With MLE
models, ``n_draws`` parameter vectors are drawn from the asymptotic normal of the
log-parameters (``sample_params``), purchase and spend draws independently; the point columns
are plug-in values at the MLE.

Memory
------
``max_memory`` (default :data:`DEFAULT_MAX_MEMORY`, 512 MB) bounds the working memory of both
functions, whatever the number of customers, draws and periods: customers are taken in chunks whose
(customers x draws) arrays fit half of the budget (per thread), and every call into the model's math
gets at most as many (rows x draws [x periods]) elements as the other half allows for its
temporaries (the Pareto/NBD quadratures, with ~1,100 nodes per element, work on pieces of their
own). Inputs and results, which grow with the number of customers only, are not counted; nor are
the interpolants of the BG/NBD-family alive factors (:mod:`clvmodels.math._bgfast`), which grow with
draws x frequencies.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd

from .._threads import one_blas_thread
from ..errors import CLVWarning, ConfigError, DataValidationError, describe_culprits
from ..data.compression import unique_rows
from ..data.summary import summary_time_unit
from ..timeunits import as_discount_rate, check_unit
from . import discount as _discount
from ._sources import (ParamDraws, PurchaseSource, SpendSource, draw_parameters, period_weights, purchase_source,
                       reduce_periods)
from .economics import Economics, resolve_economics

__all__ = ["forecast_clv", "residual_clv", "parse_memory", "CLV_COLUMNS", "CASH_FLOW_COLUMNS", "DEFAULT_MAX_MEMORY"]

CLV_COLUMNS = ("p_alive", "churn_probability", "p_alive_at_horizon", "p_no_purchase_in_horizon",
               "expected_purchases", "expected_spend", "expected_revenue", "expected_margin", "clv",
               "clv_lower", "clv_upper")
CASH_FLOW_COLUMNS = ("customer_id", "period", "period_end", "discount_factor", "expected_purchases", "p_alive",
                     "expected_revenue", "order_cost", "active_period_cost", "retention_cost", "expected_margin",
                     "discounted_margin")
DEFAULT_MLE_DRAWS = 1000
# elements of one (customers x draws) or (groups x draws x periods) block of temporaries
_BLOCK = 2_000_000
DEFAULT_MAX_MEMORY = "512MB"
# how a memory budget is spent, per worker thread: half on the (rows x draws [x periods]) arrays a
# chunk holds at once (about _HELD of them), half on the temporaries of one call into the model's
# math (about _MATH arrays of the call's elements: the guarded math's broadcast copies, logs and
# continued fractions; its quadratures work on bounded pieces of their own)
_HELD = 40
_MATH = 96
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000 ** 2, "MB": 1000 ** 2, "G": 1000 ** 3, "GB": 1000 ** 3,
          "KIB": 1024, "MIB": 1024 ** 2, "GIB": 1024 ** 3, "T": 1000 ** 4, "TB": 1000 ** 4, "TIB": 1024 ** 4}
_MIN_MEMORY = 1 << 20
_INTERVAL_KIND = ("uncertainty of the expected value (parameter/posterior uncertainty), not a prediction "
                  "interval for the realised value")
_ALIVE_PERIOD = ("a period in which the customer is alive at its end: cost_per_active_period is charged with "
                 "probability P(alive at the end of period k) and discounted with that period's factor")


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------
def _resolve_time_unit(summary: pd.DataFrame, time_unit, source: PurchaseSource) -> str:
    attr = summary_time_unit(summary)
    if time_unit is not None:
        unit = check_unit(time_unit)
        if attr is not None and check_unit(attr) != unit:
            raise ConfigError(f"time_unit={time_unit!r} contradicts the summary's time unit {attr!r} "
                              "(summary.time_unit)", key="time_unit")
    elif attr is not None:
        unit = check_unit(attr)
    else:
        raise ConfigError("the summary carries no time unit (a plain DataFrame, not a clv.RFMSummary from "
                          "clv.rfm_summary / clv.calibration_holdout): pass time_unit='D'|'W'|'M'|'Y' (for BG/BB: "
                          "the length of one transaction opportunity)", key="time_unit")
    model_unit = source.time_unit()
    if model_unit is not None and check_unit(model_unit) != unit:
        raise DataValidationError(f"the summary is in time unit {unit!r} but {source.name} was fitted in "
                                  f"{model_unit!r}; rebuild the summary in {model_unit!r}", column="T")
    return unit


def _check_interval(interval) -> float | None:
    if interval is None:
        return None
    if isinstance(interval, bool) or not isinstance(interval, Real) or not 0.0 < float(interval) < 1.0:
        raise ConfigError(f"interval must be a probability in (0, 1) (e.g. 0.9) or None, got {interval!r}",
                          key="interval")
    return float(interval)


def _check_count(value, key: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise ConfigError(f"{key} must be a whole number >= {minimum}, got {value!r}", key=key)
    return int(value)


def parse_memory(value, key: str = "max_memory") -> int:
    """A memory size in bytes from a number of bytes or a string such as ``"512MB"``, ``"2 GiB"``
    or ``"800k"`` (decimal units K/M/G/T = 1000^n, binary KiB/MiB/GiB/TiB = 1024^n); None gives
    the default, :data:`DEFAULT_MAX_MEMORY`. At least 1 MB.

    Examples
    --------
    >>> from clvmodels.forecast.clv import parse_memory
    >>> parse_memory("512MB"), parse_memory("1.5 GiB"), parse_memory(10_000_000), parse_memory(None)
    (512000000, 1610612736, 10000000, 512000000)
    """
    import re

    if value is None:
        value = DEFAULT_MAX_MEMORY
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number of bytes or a size such as '512MB', got {value!r}", key=key)
    if isinstance(value, Real):
        out = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = m.group(2).upper() if m else None
        if m is None or unit not in _UNITS:
            raise ConfigError(f"{key} must be a number of bytes or a size such as '512MB', '2GiB', got {value!r}",
                              key=key)
        out = float(m.group(1)) * _UNITS[unit]
    if not np.isfinite(out) or out < _MIN_MEMORY:
        raise ConfigError(f"{key} must be at least 1 MB, got {value!r}", key=key)
    return int(out)


class _Budget:
    """Block sizes (elements) from a memory budget shared by ``n_jobs`` worker threads."""

    def __init__(self, max_memory, n_jobs: int = 1):
        self.bytes = parse_memory(max_memory)
        per_thread = self.bytes // max(1, n_jobs)
        self.held = max(1, per_thread // (2 * 8 * _HELD))     # elements of a chunk's (rows x draws) arrays
        self.math = max(1, per_thread // (2 * 8 * _MATH))     # elements of one call into the math


class _Draws:
    """Parameter columns of the purchase and spend models, paired by index.

    Models with a point estimate (MLE) give the estimate in column 0 and draws from the asymptotic
    normal after it; when a model gives posterior draws (Bayesian), every model is represented by
    the same number of draws (posterior draws thinned evenly, MLE draws without the estimate) and
    point values are means over the draws.
    """

    def __init__(self, ps: PurchaseSource, ss: SpendSource, interval, n_draws, random_state, covariates):
        rng = np.random.default_rng(random_state)
        models = [ps.model] + ([ss.spend] if ss.kind == "model" else [])
        natural = [draw_parameters(m, None, rng) for m in models]
        posterior = [d for d in natural if not d.has_estimate]
        if posterior:
            avail = min(d.n_draws for d in posterior)
            S = avail if n_draws is None else min(n_draws, avail)
            picked = [d.thinned(S) if not d.has_estimate else draw_parameters(m, S, rng)
                      for m, d in zip(models, natural)]
            self.with_point = False
            self.point_kind = "posterior mean over draws"
        else:
            S = 0 if interval is None else (DEFAULT_MLE_DRAWS if n_draws is None else n_draws)
            picked = [draw_parameters(m, S, rng) if S else d for m, d in zip(models, natural)]
            self.with_point = True
            self.point_kind = "plug-in at the maximum-likelihood estimate"
        self.n_draws = S
        self.labels = [("bayes." if d.kind == "posterior" else "") + type(m).__name__ for m, d in zip(models, picked)]
        self.purchase = ParamDraws(ps.model, ps.names, picked[0].stacked(self.with_point), self.with_point, covariates)
        self.spend = (ParamDraws(ss.spend, ss.names, picked[1].stacked(self.with_point), self.with_point)
                      if ss.kind == "model" else None)
        self.S = self.purchase.S
        if self.spend is not None and self.spend.S != self.S:  # pragma: no cover - guarded by construction
            raise ConfigError("purchase and spend draws could not be paired", key="n_draws")
        self.has_interval = interval is not None and self.n_draws >= 2
        # per-customer models simulate: every chunk passes the same seed, and the model keeps one stream per
        # customer (CustomerDrawsModel.customer_draws), so the result does not depend on chunks or threads
        self.entropy = int(rng.integers(2**63)) if ps.per_customer else None
        if interval is not None and self.n_draws < 2:
            raise ConfigError(f"an interval needs at least 2 draws, got {self.n_draws}", key="n_draws")

    def chunk_seed(self, first_row: int) -> int | None:
        """The seed a per-customer model's ``customer_draws`` gets for the chunk starting at ``first_row``: the
        same for every chunk (the model's per-customer streams make chunks independent)."""
        return self.entropy

    def point(self, a: np.ndarray) -> np.ndarray:
        """Point estimate per row of a (rows, S) array."""
        return a[:, 0] if self.with_point else a.mean(axis=1)

    def draws(self, a: np.ndarray) -> np.ndarray:
        return a[:, 1:] if self.with_point else a


def _customer_chunks(order: np.ndarray, size: int):
    for start in range(0, len(order), size):
        yield order[start:start + size]


# --------------------------------------------------------------------------------------------
# forecast_clv
# --------------------------------------------------------------------------------------------
def forecast_clv(summary: pd.DataFrame, purchase, spend, *, horizon: int, period: str, discount_rate: float,
                 margin, margin_by: str | None = None, cost_per_order=0.0, cost_per_active_period=0.0,
                 retention_cost=0.0, time_unit: str | None = None, interval: float | None = 0.9,
                 n_draws: int | None = None, random_state=None, return_cash_flows: bool = False,
                 chunk_size: int | None = None, n_jobs: int = 1, max_memory=None, progress=None):
    """Per-customer churn, expected purchases, revenue, margin and discounted CLV with intervals.

    Parameters
    ----------
    summary : RFM summary indexed by customer_id (``frequency``, ``recency``, ``T``; BG/BB:
        ``frequency``, ``recency``, ``n_periods``), plus ``monetary_value`` for a Gamma-Gamma spend
        model and any columns named by the economics.
    purchase : fitted BGNBD, MBGNBD, ParetoNBD or BGBB, MLE (``clv.BGNBD``) or Bayesian
        (``clv.bayes.BGNBD``, covariates included).
    spend : fitted GammaGamma (MLE or Bayesian), or a fixed spend per order: a number, a column name
        or a Series keyed by customer_id (no spend uncertainty then).
    horizon : number of forecast periods (>= 1).
    period : length of a period, 'D', 'W', 'M' (365.25/12 days) or 'Y' (365.25 days). For BG/BB a
        period must hold a whole number of transaction opportunities.
    discount_rate : a :class:`~clvmodels.DiscountRate`, or a number: the annual effective rate (>= 0);
        converted exactly to the period; cash flows are
        discounted at the end of each period.
    margin : contribution margin rate (<= 1; negative allowed): a number, a column name, a Series by
        customer_id, or a mapping ``{segment: rate}`` with ``margin_by=<column>``.
    cost_per_order : cost-to-serve per order (number, column or Series; >= 0).
    cost_per_active_period : cost per *alive period*, defined as a period at whose end the customer
        is alive: charged with probability P(alive at T + k tau) and discounted with period k's
        factor, so it lowers CLV by exactly ``cost * sum_k (1+d)^-k P(alive at T + k tau)``, the
        discounted expected number of alive periods times the cost.
    retention_cost : one-off cost paid now (undiscounted), e.g. a retention offer.
    time_unit : the summary's time unit, needed when the summary carries none (a plain DataFrame
        rather than a :class:`~clvmodels.RFMSummary`); it must agree with an RFMSummary's
        ``time_unit`` and with the unit the purchase model was fitted in (BG/BB: the length of
        one transaction opportunity).
    interval : central probability of the interval of the expected CLV (default 0.9), or None for
        point forecasts only (MLE models then need no covariance).
    n_draws : parameter draws for the interval: MLE default 1000; Bayesian default all posterior
        draws (fewer are thinned evenly; purchase and spend draws are paired by index).
    random_state : seed or numpy Generator for the MLE parameter draws.
    return_cash_flows : also return the period-by-period cash flows (point estimates) in long format.
    chunk_size : customers per chunk (default: chosen from ``max_memory``).
    n_jobs : threads working on chunks in parallel (numpy releases the GIL in its kernels).
    max_memory : bound on the working memory: bytes, or a size such as ``"512MB"`` or ``"2GiB"``
        (default :data:`DEFAULT_MAX_MEMORY`, 512 MB). Every (customers x draws [x periods])
        temporary is taken in blocks sized from it, whatever the number of customers, draws and
        periods, shared by the ``n_jobs`` threads. It does not cover the summary, the result
        (which grow with the number of customers only) or the cash flows (customers x periods).
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk of distinct customer rows (on the
        calling thread, in order), e.g. to drive a progress bar; ``clv run`` shows it on a terminal.

    Returns
    -------
    DataFrame indexed by customer_id (input order) with columns

    * ``p_alive`` - P(alive now | history). For BG/NBD (and its Bayesian variant) a customer with no
      repeat purchase (frequency 0) is alive with probability 1 by construction (in the BG/NBD
      dropout can only follow a purchase), however long ago the first purchase was; treat
      ``p_alive`` of one-time buyers with care and prefer ``p_no_purchase_in_horizon`` or
      MBG/NBD / Pareto/NBD when one-time buyers matter.
    * ``churn_probability`` - ``1 - p_alive_at_horizon``: probability that the customer is no
      longer alive at the end of the horizon (already lost now, or lost during the horizon).
    * ``p_alive_at_horizon`` - P(alive at the end of the horizon | history).
    * ``p_no_purchase_in_horizon`` - P(no purchase within the horizon | history).
    * ``expected_purchases`` - expected purchases over the horizon (undiscounted).
    * ``expected_spend`` - expected spend per order.
    * ``expected_revenue`` - expected revenue over the horizon (undiscounted).
    * ``expected_margin`` - expected contribution over the horizon (undiscounted): margin x revenue
      - order costs - active-period costs - retention cost.
    * ``clv`` - discounted ``expected_margin``.
    * ``clv_lower``, ``clv_upper`` (when ``interval`` is not None) - the interval of the expected CLV
      under parameter uncertainty (``attrs['interval_kind']``).

    ``frame.attrs`` records the settings (horizon, period, rates, time unit, draws, point kind, the
    definitions). With ``return_cash_flows=True`` returns ``(frame, cash_flows)``; ``cash_flows``
    has one row per customer and period (``CASH_FLOW_COLUMNS``; a period-0 row holds the retention
    cost when there is one) and its ``discounted_margin`` sums to ``clv`` per customer.

    Examples
    --------
    Point forecasts with the published CDNOW estimates (weeks): BG/NBD of Fader, Hardie & Lee
    (2005) and the Gamma-Gamma of their "RFM and CLV" paper.

    >>> import numpy as np, clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary().loc[[1, 2, 3]]     # an RFMSummary in weeks
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> fc = clv.forecast_clv(summary, bg, gg, horizon=39, period="W", discount_rate=0.0, margin=0.3,
    ...                       interval=None)
    >>> fc["expected_purchases"].round(3).tolist()     # customer 1: 1.226, as in FHL (2005)
    [1.226, 0.203, 0.195]

    Twelve months at 10% a year. Customer 3 never bought again, so the BG/NBD calls them alive
    (``p_alive`` 1, see above); ``churn_probability`` is their chance of being lost by the end of
    the horizon:

    >>> fc = clv.forecast_clv(summary, bg, gg, horizon=12, period="M", discount_rate=0.10, margin=0.3,
    ...                       interval=None)
    >>> fc[["p_alive", "churn_probability", "expected_revenue", "clv"]].round(2)
                 p_alive  churn_probability  expected_revenue    clv
    customer_id
    1               0.73               0.47             38.55  11.02
    2               0.21               0.83              4.93   1.41
    3               1.00               0.06              8.90   2.54

    Intervals need parameter uncertainty: a fitted model (its covariance) or a Bayesian one. The
    fit reproduces the published estimates; the cash flows add up to the CLV:

    >>> full = clv.datasets.cdnow_summary()
    >>> bg, gg = clv.BGNBD().fit(full), clv.GammaGamma().fit(full)
    >>> bool(np.allclose(bg.params_, [0.243, 4.414, 0.793, 2.426], atol=1e-3))     # FHL (2005)
    True
    >>> fc, cash = clv.forecast_clv(summary, bg, gg, horizon=12, period="M", discount_rate=0.10, margin=0.3,
    ...                             n_draws=200, random_state=0, return_cash_flows=True)
    >>> fc[["clv", "clv_lower", "clv_upper"]].round(1)
                  clv  clv_lower  clv_upper
    customer_id
    1            11.0       10.3       11.9
    2             1.4        1.1        1.7
    3             2.5        2.3        2.7
    >>> cash.groupby("customer_id")["discounted_margin"].sum().round(2).tolist()
    [11.02, 1.41, 2.54]
    """
    ps = purchase_source(purchase)
    unit = _resolve_time_unit(summary, time_unit, ps)
    frame = ps.validate(summary)
    K = _discount.check_horizon(horizon)
    period = check_unit(period, key="period")
    rate = as_discount_rate(discount_rate)
    interval = _check_interval(interval)
    n_draws = _check_count(n_draws, "n_draws", minimum=2)
    chunk_size = _check_count(chunk_size, "chunk_size")
    eco = resolve_economics(summary, margin=margin, margin_by=margin_by, cost_per_order=cost_per_order,
                            cost_per_active_period=cost_per_active_period, retention_cost=retention_cost)
    ss = SpendSource(spend, summary)
    if ps.discrete:
        steps = _discount.opportunities_per_period(period, unit) * np.arange(1, K + 1, dtype=np.float64)
    else:
        steps = _discount.period_length(period, unit) * np.arange(1, K + 1, dtype=np.float64)
    v = rate.factors(period, K)
    ps.check_customers(frame, steps)
    draws = _Draws(ps, ss, interval, n_draws, random_state, ps.covariate_matrix(frame))

    n_jobs = _check_count(n_jobs, "n_jobs")
    budget = _Budget(max_memory, n_jobs)
    # one BLAS thread per worker when chunks run in n_jobs > 1 threads: threaded BLAS inside threaded
    # chunks oversubscribes the cores (a 3-4x slower matrix product on a busy 2-core machine)
    with one_blas_thread(when=n_jobs > 1):
        out, flows = _run(frame, ps, ss, eco, draws, steps, v, interval, chunk_size, return_cash_flows, n_jobs,
                          budget, progress)
    result = pd.DataFrame(out, index=frame.index.rename("customer_id"))
    result = result[[c for c in CLV_COLUMNS if c in result.columns]]
    result.attrs.update({
        "horizon": K, "period": period, "time_unit": unit, "period_length": float(steps[0]),
        "period_length_unit": "opportunities" if ps.discrete else unit,
        "discount_rate": rate.annual, "period_discount_rate": rate.per_period(period),
        "discount_timing": "end of period", "interval": interval, "interval_kind": _INTERVAL_KIND,
        "n_draws": draws.n_draws, "point_estimate": draws.point_kind, "purchase_model": draws.labels[0],
        "spend_model": draws.labels[1] if len(draws.labels) > 1 else ss.name, "alive_period": _ALIVE_PERIOD,
        "max_memory": budget.bytes,
        **{f"economics.{k}": d for k, d in eco.describe().items()},
        "churn_probability": "1 - P(alive at the end of the horizon | history)",
    })
    one_time = frame[ps.columns[0]].to_numpy() == 0
    if one_time.any() and np.all(result["p_alive"].to_numpy()[one_time] == 1.0):
        result.attrs["note"] = (f"{ps.name}: p_alive = 1 for every customer with frequency 0 (in this model dropout "
                                "can only follow a purchase); see forecast_clv's docstring")
    _check_output(result, "forecast_clv")
    if not return_cash_flows:
        return result
    L = K + (1 if eco.has_retention_cost else 0)
    cash = pd.DataFrame(flows)
    cash["customer_id"] = np.repeat(frame.index.to_numpy(), L)
    cash["period"] = cash["period"].astype(np.int64)
    cash = cash[list(CASH_FLOW_COLUMNS)]
    cash.attrs.update({"point_estimate": draws.point_kind, "period_end_unit": result.attrs["period_length_unit"]})
    _check_output(cash.drop(columns=["customer_id"]), "forecast_clv cash_flows")
    return result, cash


def _run(frame, ps: PurchaseSource, ss: SpendSource, eco: Economics, draws: _Draws, steps, v, interval,
         chunk_size, want_flows: bool, n_jobs: int = 1, budget: _Budget | None = None, progress=None):
    """Compute every output per distinct customer input, chunk by chunk, then expand.

    1. Customers with identical inputs (history, covariates, spend inputs, economics) have
       identical forecasts: only distinct rows are computed.
    2. Distinct rows are sorted by their (x, T, covariates) group, so each chunk touches few
       groups; every "given alive" factor is computed once per group (groups x draws x periods).
    3. Per chunk, P(alive now), spend and the economics are combined draw by draw in
       (customers x draws) blocks sized from the memory budget; the group factors stay
       (groups x draws), so memory never holds customers x draws x periods. Calls into the
       model's math take at most ``budget.math`` elements (``PurchaseSource.block``).
    """
    budget = budget or _Budget(None, n_jobs)
    ps.block = budget.math
    N = len(frame)
    K = len(steps)
    S = draws.S
    xcol, txcol, Tcol = ps.columns
    x_all = frame[xcol].to_numpy(dtype=np.float64)
    tx_all = frame[txcol].to_numpy(dtype=np.float64)
    T_all = frame[Tcol].to_numpy(dtype=np.float64)
    ext_all = ps.covariate_matrix(frame)
    ext_all = np.empty((N, 0)) if ext_all is None else ext_all
    key = np.column_stack([x_all, tx_all, T_all, ext_all, ss.key(), eco.margin, eco.cost_per_order,
                           eco.cost_per_active_period, eco.retention_cost])
    per_customer = ps.per_customer
    if per_customer:
        # every customer has a posterior of their own (Pareto/GGG): no two rows share a forecast
        key = np.column_stack([key, np.arange(N, dtype=np.float64)])
    ufirst, uinv = unique_rows(key)
    U = len(ufirst)
    x, t_x, T, ext = x_all[ufirst], tx_all[ufirst], T_all[ufirst], ext_all[ufirst]
    m_u, co_u = eco.margin[ufirst], eco.cost_per_order[ufirst]
    ca_u, R_u = eco.cost_per_active_period[ufirst], eco.retention_cost[ufirst]
    if per_customer:
        p_ctx = evaluate = None
        order = np.arange(U)
        weights = period_weights(steps, v)
    else:
        p_ctx = ps.p_alive_context(draws.purchase, t_x, T)
        # groups share every "given alive" factor: (x, T, covariates), and t_x when the model's future depends on it
        gfirst, ginv = unique_rows(np.column_stack([x, T] + ([t_x] if ps.recency_ahead else []) + [ext]))
        order = np.argsort(ginv, kind="stable")
        evaluate = ps.group_evaluator(draws.purchase, x[gfirst], T[gfirst], steps, v, n_jobs, full=want_flows)
    if chunk_size is None:
        # a per-customer model returns (customers x draws x periods) arrays for each chunk
        chunk_size = max(1, budget.held // (S * (K if (want_flows or per_customer) else 1)))

    names = ["p_alive", "churn_probability", "p_alive_at_horizon", "p_no_purchase_in_horizon", "expected_purchases",
             "expected_spend", "expected_revenue", "expected_margin", "clv"]
    out = {k: np.empty(U) for k in names}
    if draws.has_interval:
        out["clv_lower"] = np.empty(U)
        out["clv_upper"] = np.empty(U)
    q = None if not draws.has_interval else [(1.0 - interval) / 2.0, (1.0 + interval) / 2.0]
    L = K + (1 if eco.has_retention_cost else 0)
    flows = {c: np.empty(U * L) for c in CASH_FLOW_COLUMNS if c != "customer_id"} if want_flows else None
    has_active, has_ret = eco.has_active_cost, eco.has_retention_cost
    fast = ps.has_fast_factors(draws.purchase)
    group_block = max(1, budget.math // (S * K)) if (want_flows or not fast) else max(1, budget.math // S)

    def process(rows: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):   # non-finite results are reported once, below
            _process(rows)

    def _group_part(rows: np.ndarray):
        """The group path (every model with a ``math``): factors per (x, T) group, P(alive) per distinct row."""
        gids = ginv[rows]
        ug, gpos = np.unique(gids, return_inverse=True)
        rep = ufirst[gfirst[ug]]
        xg, Tg = x_all[rep], T_all[rep]
        txg = tx_all[rep] if ps.recency_ahead else None
        u = len(ug)
        red = {k: np.empty((u, S)) for k in ("Gtot", "Gdisc", "Hend", "Adisc", "Acnt")}
        P0 = np.empty((u, S))
        if want_flows:
            dE_all, H_all = np.empty((u, S, K)), np.empty((u, S, K))
        for g0 in range(0, u, group_block):
            sl = slice(g0, min(u, g0 + group_block))
            rf = rep[sl]
            r_sl, f_sl = evaluate(rf, xg[sl], Tg[sl], want_flows, None if txg is None else txg[sl])
            for k_, a_ in r_sl.items():
                red[k_][sl] = a_
            if want_flows:
                dE_all[sl], H_all[sl] = f_sl
            P0[sl] = ps.no_purchase_ahead(draws.purchase.for_rows(rf), xg[sl], Tg[sl], steps[-1],
                                          None if txg is None else txg[sl])
        Gtot, Gdisc, Hend, Adisc, Acnt = (red[k] for k in ("Gtot", "Gdisc", "Hend", "Adisc", "Acnt"))

        fr = ufirst[rows]
        # P(alive now): one evaluation per distinct (x, t_x, T, covariates) of the chunk
        pkey_first, pkey_inv = unique_rows(np.column_stack([x[rows], t_x[rows], T[rows], ext[rows]]))
        prow = fr[pkey_first]
        Pc = draws.purchase.for_rows(prow)
        pa = ps.p_alive(Pc, x_all[prow], tx_all[prow], T_all[prow], p_ctx)
        pa = np.broadcast_to(pa, (len(prow), S))
        if len(prow) < len(rows) or np.any(pkey_inv != np.arange(len(rows))):
            pa = pa[pkey_inv]   # back to the chunk's row order
        return Gtot, Gdisc, Hend, Adisc, Acnt, P0, pa, gpos, fr, ((dE_all, H_all) if want_flows else None)

    def _process(rows: np.ndarray) -> None:
        # rows index the distinct customers (0..U-1); frame rows are ufirst[rows]
        if per_customer:
            fr = ufirst[rows]
            cd = ps.customer_draws(frame.iloc[fr], steps, S, draws.chunk_seed(rows[0]))
            G, H = cd.expected_purchases, cd.alive_ahead
            red = reduce_periods(G, H, weights)
            Gtot, Gdisc, Hend, Adisc, Acnt = (red[k] for k in ("Gtot", "Gdisc", "Hend", "Adisc", "Acnt"))
            P0 = np.asarray(cd.no_purchase, dtype=np.float64)
            pa = np.asarray(cd.p_alive, dtype=np.float64)
            gpos = np.arange(len(rows))
            if want_flows:
                dE_all, H_all = np.diff(G, axis=2, prepend=0.0), H
        else:
            Gtot, Gdisc, Hend, Adisc, Acnt, P0, pa, gpos, fr, flows_parts = _group_part(rows)
            if want_flows:
                dE_all, H_all = flows_parts
        Ps = draws.spend.for_rows(fr) if draws.spend is not None else None
        spend = ss.expected(Ps, fr, S)

        m, co = m_u[rows][:, None], co_u[rows][:, None]
        # the draws of CLV (needed for the interval, and for the mean when there is no point column)
        unit_margin = spend * m
        unit_margin -= co
        clv = pa * Gdisc[gpos]
        clv *= unit_margin
        if has_active:
            ca = ca_u[rows][:, None]
            alive_disc = pa * Adisc[gpos]
            alive_disc *= ca
            clv -= alive_disc
        if has_ret:
            clv -= R_u[rows][:, None]
        out["clv"][rows] = draws.point(clv)
        if q is not None:
            lo, hi = np.quantile(draws.draws(clv), q, axis=1)
            out["clv_lower"][rows] = lo
            out["clv_upper"][rows] = hi
        # point columns: column 0 only (MLE plug-in) or means over the draws (Bayesian); every
        # mean of a product is a row-wise dot product (no (customers x draws) temporaries)
        c = slice(0, 1) if draws.with_point else slice(None)
        A, sp = pa[:, c], spend[:, c]
        nS = A.shape[1]

        def rowmean(X, Y):
            return np.einsum("is,is->i", X, Y) / nS

        m_pa = A.mean(axis=1)
        Gt = Gtot[:, c][gpos]
        m_E = rowmean(A, Gt)
        m_rev = rowmean(sp * A, Gt)
        m_alive_end = rowmean(A, Hend[:, c][gpos])
        margin_total = m[:, 0] * m_rev - co[:, 0] * m_E
        if has_active:
            margin_total -= ca[:, 0] * rowmean(A, Acnt[:, c][gpos])
        if has_ret:
            margin_total -= R_u[rows]
        out["p_alive"][rows] = m_pa
        out["p_alive_at_horizon"][rows] = m_alive_end
        out["churn_probability"][rows] = 1.0 - m_alive_end
        out["p_no_purchase_in_horizon"][rows] = 1.0 - m_pa + rowmean(A, P0[:, c][gpos])
        out["expected_purchases"][rows] = m_E
        out["expected_spend"][rows] = sp.mean(axis=1)
        out["expected_revenue"][rows] = m_rev
        out["expected_margin"][rows] = margin_total
        if want_flows:
            _fill_flows(flows, rows, pa, spend, dE_all[gpos], H_all[gpos], m, co, ca_u[rows][:, None],
                        R_u[rows][:, None], v, steps, draws, has_ret)

    chunks = list(_customer_chunks(order, chunk_size))
    done = 0

    def finished(rows) -> None:
        nonlocal done
        done += len(rows)
        if progress is not None:
            progress(done, U)

    if n_jobs > 1 and len(chunks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            for rows, _ in zip(chunks, pool.map(process, chunks)):
                finished(rows)
    else:
        for rows in chunks:
            process(rows)
            finished(rows)

    full = {k: a[uinv] for k, a in out.items()}
    if want_flows:
        flows = {k: a.reshape(U, L)[uinv].ravel() for k, a in flows.items()}
    return full, flows


def _fill_flows(flows, rows, pa, spend, dE, H, m, co, ca, R, v, steps, draws: _Draws, with_retention: bool):
    """Point cash flows per customer and period, written at rows ``pos * L + k`` (input order)."""
    K = len(steps)
    L = K + (1 if with_retention else 0)
    if draws.with_point:
        purch = pa[:, :1] * dE[:, 0, :]
        alive = pa[:, :1] * H[:, 0, :]
        rev = (spend[:, :1] * pa[:, :1]) * dE[:, 0, :]
    else:
        S = pa.shape[1]
        purch = np.einsum("is,isk->ik", pa, dE) / S
        alive = np.einsum("is,isk->ik", pa, H) / S
        rev = np.einsum("is,isk->ik", np.ascontiguousarray(spend * pa), dE) / S
    order_cost = co * purch
    active_cost = ca * alive
    contrib = m * rev - order_cost - active_cost
    base = rows[:, None] * L + (np.arange(K)[None, :] + (1 if with_retention else 0))
    idx = base.ravel()
    n = len(rows)
    flows["period"][idx] = np.tile(np.arange(1, K + 1, dtype=np.float64), n)
    flows["period_end"][idx] = np.tile(steps, n)
    flows["discount_factor"][idx] = np.tile(v, n)
    flows["expected_purchases"][idx] = purch.ravel()
    flows["p_alive"][idx] = alive.ravel()
    flows["expected_revenue"][idx] = rev.ravel()
    flows["order_cost"][idx] = order_cost.ravel()
    flows["active_period_cost"][idx] = active_cost.ravel()
    flows["retention_cost"][idx] = 0.0
    flows["expected_margin"][idx] = contrib.ravel()
    flows["discounted_margin"][idx] = (contrib * v[None, :]).ravel()
    if with_retention:
        i0 = rows * L
        r = R[:, 0]
        flows["period"][i0] = 0.0
        flows["period_end"][i0] = 0.0
        flows["discount_factor"][i0] = 1.0
        flows["p_alive"][i0] = draws.point(pa)
        for c in ("expected_purchases", "expected_revenue", "order_cost", "active_period_cost"):
            flows[c][i0] = 0.0
        flows["retention_cost"][i0] = r
        flows["expected_margin"][i0] = -r
        flows["discounted_margin"][i0] = -r


# --------------------------------------------------------------------------------------------
# residual (infinite-horizon) CLV
# --------------------------------------------------------------------------------------------
def residual_clv(summary: pd.DataFrame, purchase, spend, *, discount_rate: float, margin, margin_by=None,
                 cost_per_order=0.0, retention_cost=0.0, time_unit: str | None = None,
                 interval: float | None = 0.9, n_draws: int | None = None, random_state=None,
                 chunk_size: int | None = None, max_memory=None) -> pd.DataFrame:
    """Infinite-horizon (residual) CLV from the closed-form DERT, for Pareto/NBD and BG/BB.

    ``clv = (margin * spend - cost_per_order) * DERT - retention_cost`` with

    * Pareto/NBD: DERT of Fader, Hardie & Lee (2005, "RFM and CLV: Using Iso-Value Curves",
      eq. 2), continuously discounted at ``delta = log(1 + discount_rate) * days_per(time_unit) /
      365.25`` per time unit (the annual effective rate's continuous equivalent);
    * BG/BB: DERT of Fader, Hardie & Shang (2010), at the effective rate per opportunity
      (``time_unit`` = the opportunity length), the transaction at the next opportunity discounted
      once - exactly the limit of :func:`forecast_clv` with period = one opportunity.

    A finite-horizon :func:`forecast_clv` converges to this value as the horizon grows (for the
    Pareto/NBD within the factor ``1 + d`` of one period's discounting, see
    :mod:`clvmodels.forecast.discount`). A cost per active period has no closed form here: use
    :func:`forecast_clv` with a long horizon.

    ``max_memory`` (bytes or a size such as ``"512MB"``; default :data:`DEFAULT_MAX_MEMORY`) bounds
    the working memory as in :func:`forecast_clv`; ``chunk_size`` (customers per chunk) defaults to
    what it allows.

    Returns a DataFrame by customer_id with ``p_alive``, ``dert``, ``expected_spend``, ``clv``
    and (with ``interval``) ``clv_lower``/``clv_upper`` (uncertainty of the expected value, as in
    :func:`forecast_clv`).

    Examples
    --------
    Pareto/NBD and Gamma-Gamma with the published CDNOW estimates (Fader, Hardie & Lee 2005),
    15% a year, a 30% margin:

    >>> import clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary().loc[[1, 2, 3]]
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> res = clv.residual_clv(summary, pnbd, gg, discount_rate=0.15, margin=0.3, interval=None)
    >>> res.round(3)
                 p_alive   dert  expected_spend     clv
    customer_id
    1              0.869  6.515          24.664  48.207
    2              0.168  0.766          18.917   4.347
    3              0.295  0.479          35.219   5.066
    >>> round(res.attrs["dert_rate"], 4)    # FHL's delta for 15% a year, in weeks (printed .0027)
    0.0027

    A long weekly :func:`forecast_clv` approaches it from below:

    >>> long = clv.forecast_clv(summary, pnbd, gg, horizon=52 * 100, period="W", discount_rate=0.15,
    ...                         margin=0.3, interval=None)
    >>> long["clv"].round(3).tolist()
    [48.143, 4.342, 5.059]
    """
    ps = purchase_source(purchase)
    if not ps.has_dert():
        raise ConfigError(f"{ps.name} has no closed-form DERT (Pareto/NBD and BG/BB have one); use forecast_clv "
                          "with a finite horizon", key="purchase")
    unit = _resolve_time_unit(summary, time_unit, ps)
    frame = ps.validate(summary)
    rate = as_discount_rate(discount_rate)
    if rate.annual <= 0:
        raise ConfigError("discount_rate must be > 0 for an infinite horizon (otherwise the sum diverges)",
                          key="discount_rate")
    interval = _check_interval(interval)
    n_draws = _check_count(n_draws, "n_draws", minimum=2)
    chunk_size = _check_count(chunk_size, "chunk_size")
    eco = resolve_economics(summary, margin=margin, margin_by=margin_by, cost_per_order=cost_per_order,
                            retention_cost=retention_cost)
    ss = SpendSource(spend, summary)
    draws = _Draws(ps, ss, interval, n_draws, random_state, ps.covariate_matrix(frame))
    d = rate.per_period(unit) if ps.discrete else rate.continuous_rate(unit)

    N, S = len(frame), draws.S
    xcol, txcol, Tcol = ps.columns
    x, t_x, T = (frame[c].to_numpy(dtype=np.float64) for c in (xcol, txcol, Tcol))
    ext = ps.covariate_matrix(frame)
    ext = np.empty((N, 0)) if ext is None else ext
    budget = _Budget(max_memory)
    ps.block = budget.math
    size = chunk_size or max(1, budget.held // S)
    names = ["p_alive", "dert", "expected_spend", "clv"]
    out = {k: np.empty(N) for k in names}
    if draws.has_interval:
        out["clv_lower"], out["clv_upper"] = np.empty(N), np.empty(N)
        q = [(1.0 - interval) / 2.0, (1.0 + interval) / 2.0]
    p_ctx = ps.p_alive_context(draws.purchase, t_x, T)
    for rows in _customer_chunks(np.arange(N), size):
        ufirst, uinv = unique_rows(np.column_stack([x[rows], t_x[rows], T[rows], ext[rows]]))
        urows = rows[ufirst]
        Pc = draws.purchase.for_rows(urows)
        pa_u = np.broadcast_to(ps.p_alive(Pc, x[urows], t_x[urows], T[urows], p_ctx), (len(urows), S))
        de = np.broadcast_to(ps.dert(Pc, x[urows], t_x[urows], T[urows], d, pa=pa_u), (len(urows), S))[uinv]
        pa = pa_u[uinv]
        Ps = draws.spend.for_rows(rows) if draws.spend is not None else None
        spend_v = ss.expected(Ps, rows, S)
        clv = (eco.margin[rows][:, None] * spend_v - eco.cost_per_order[rows][:, None]) * de
        if eco.has_retention_cost:
            clv = clv - eco.retention_cost[rows][:, None]
        out["p_alive"][rows] = draws.point(pa)
        out["dert"][rows] = draws.point(de)
        out["expected_spend"][rows] = draws.point(spend_v)
        out["clv"][rows] = draws.point(clv)
        if draws.has_interval:
            lo, hi = np.quantile(draws.draws(clv), q, axis=1)
            out["clv_lower"][rows] = lo
            out["clv_upper"][rows] = hi
    result = pd.DataFrame(out, index=frame.index.rename("customer_id"))
    result.attrs.update({
        "horizon": "infinite", "time_unit": unit, "discount_rate": rate.annual,
        "dert_rate": d, "dert_rate_kind": ("effective rate per opportunity" if ps.discrete
                                           else f"continuously compounded rate per {unit!r}"),
        "interval": interval, "interval_kind": _INTERVAL_KIND, "n_draws": draws.n_draws,
        "point_estimate": draws.point_kind, "purchase_model": draws.labels[0],
        "spend_model": draws.labels[1] if len(draws.labels) > 1 else ss.name, "max_memory": budget.bytes,
        **{f"economics.{k}": dd for k, dd in eco.describe().items() if k != "cost_per_active_period"},
    })
    _check_output(result, "residual_clv")
    return result


# --------------------------------------------------------------------------------------------
# output checks
# --------------------------------------------------------------------------------------------
def _check_output(frame: pd.DataFrame, what: str) -> None:
    """Warn (CLVWarning) about non-finite values and intervals that do not contain the point."""
    for col in frame.columns:
        values = frame[col].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            ids = frame.index[bad]
            warnings.warn(f"{what}: column {col!r} has {int(bad.sum())} non-finite value(s) (parameters or data "
                          f"outside the numerically supported range); example rows {describe_culprits(ids)}",
                          CLVWarning, stacklevel=3)
    if {"clv", "clv_lower", "clv_upper"} <= set(frame.columns):
        c, lo, hi = (frame[k].to_numpy() for k in ("clv", "clv_lower", "clv_upper"))
        # immaterial misses are not reported: below 0.1% of the mean |CLV| of the customers (e.g. customers almost
        # surely gone, whose posterior mean of ~0 sits above a 95% quantile of ~0: per-customer posteriors)
        scale = float(np.nanmean(np.abs(c))) if np.isfinite(c).any() else 0.0
        tol = 1e-9 * np.maximum(1.0, np.abs(c)) + 1e-3 * scale
        off = (lo > c + tol) | (c > hi + tol)
        if off.any():
            ids = frame.index[off]
            warnings.warn(f"{what}: for {int(off.sum())} customer(s) the point CLV lies outside its interval "
                          f"(a strongly skewed parameter uncertainty); example customer ids {describe_culprits(ids)}",
                          CLVWarning, stacklevel=3)
