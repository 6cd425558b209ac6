"""Point predictions of any fitted model, through the model protocol.

The evaluation layer and the plots ask a purchase model for per-customer expected purchases and
P(alive), the cohort curve of new customers and the period-transaction histogram, and a spend model
for the expected spend per purchase. :class:`Predictor` answers for every model that implements
:class:`clvmodels.protocols.PurchaseModel` the same way: with the point estimate when the model has
one (MLE), otherwise as the mean over its posterior draws (thinned to ``max_draws``): the posterior
mean of the prediction, not the prediction at the posterior mean. Customers with identical inputs
are computed once. A model with per-customer posteriors (:class:`clvmodels.protocols.CustomerDrawsModel`,
the Pareto/GGG) is asked through its ``customer_draws`` (customers in blocks of at most ~2 million
customer x draw points, seeded: the same call gives the same numbers) and its optional
``new_customer_purchases`` / ``new_customer_count_probabilities`` for the cohort curves.

Examples
--------
>>> import clvmodels as clv
>>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
>>> summary = clv.datasets.cdnow_summary().loc[[1, 2]]
>>> Predictor(bg).expected_purchases(summary, t=39).round(3).tolist()   # customer 1: 1.226 in FHL (2005)
[1.226, 0.203]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.compression import unique_rows
from ..errors import CLVError
from ..protocols import require_spend_model
from ._sources import ParamDraws, PurchaseSource

__all__ = ["Predictor", "expected_spend"]

# elements of a (draws x points) block evaluated at once
_BLOCK = 1_000_000
# covariate models: most (draws x customer groups x periods) points for the cohort curve before
# falling back to plug-in parameters; covariates are grouped at this many decimals
_COHORT_BUDGET = 2_000_000
_COV_DECIMALS = 2
# per-customer predictions with draws: most (draws x distinct customers) points
_POINT_BUDGET = 2_000_000


def _point_params(model, max_draws: int | None):
    """(params name -> (S, ...), description): the estimate (S = 1) or the thinned draws."""
    natural = model.parameter_draws(None)
    if natural.has_estimate:
        return {k: np.asarray(v, dtype=np.float64)[None, ...] for k, v in natural.estimate.items()}, "point estimate"
    thinned = natural.thinned(max_draws)
    return thinned.stacked(), f"posterior mean over {thinned.n_draws} draws"


class Predictor:
    """Point predictions of a fitted purchase model (see the module docstring).

    Parameters
    ----------
    model : a fitted :class:`~clvmodels.protocols.PurchaseModel` (MLE, Bayesian or your own).
    max_draws : models with draws (Bayesian): predictions average over at most this many draws,
        evenly spaced; per-customer work is capped at about two million (draw x distinct
        customer) points, so very many distinct customers (continuous covariates) use fewer.

    Examples
    --------
    >>> import clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> summary = clv.datasets.cdnow_summary()
    >>> pred = Predictor(bg)
    >>> pred.method, pred.p_alive(summary.loc[[1, 2, 3]]).round(3).tolist()
    ('point estimate', [0.727, 0.212, 1.0])

    Expected customers with 0, 1, ..., 6 and 7+ calibration repeat purchases (FHL 2005, Figure 1;
    the actual counts are 1411, 439, 214, 100, 62, 38, 29, 64):

    >>> pred.frequency_histogram(summary, max_frequency=7).round(1).tolist()
    [1406.5, 460.8, 192.7, 101.3, 59.9, 38.2, 25.6, 72.0]

    Cumulative expected repeat purchases of two customers born at weeks 0 and 10:

    >>> pred.cohort_cumulative([0.0, 10.0], [10.0, 20.0, 39.0]).round(3).tolist()
    [0.432, 1.177, 2.172]
    """

    def __init__(self, model, max_draws: int = 200, random_state=0):
        self.source = PurchaseSource(model)
        self.model = model
        self.max_draws = int(max_draws)
        self.params, self.method = _point_params(model, self.max_draws)
        self.S = len(next(iter(self.params.values())))
        self.cohort_method = self.method
        self.random_state = random_state      # per-customer models simulate (seeded: repeatable)

    def _customer_draws_mean(self, summary: pd.DataFrame, t: float, what: str) -> np.ndarray:
        """Posterior mean of P(alive) or of E[X(T, T+t)] per customer from ``model.customer_draws``."""
        ps = self.source
        frame = ps.validate(summary)
        steps = np.array([max(float(t), 1e-12)])
        ps.check_customers(frame, steps)
        out = np.empty(len(frame))
        step = max(1, _POINT_BUDGET // self.S)
        for s in range(0, len(frame), step):
            cd = ps.customer_draws(frame.iloc[s:s + step], steps, self.S, self.random_state)
            if what == "p_alive":
                out[s:s + step] = cd.p_alive.mean(axis=1)
            else:
                out[s:s + step] = (cd.p_alive * cd.expected_purchases[:, :, -1]).mean(axis=1) if t > 0 else 0.0
        return out

    # ---- per customer ---------------------------------------------------------------------
    def _per_customer(self, fn, summary: pd.DataFrame) -> np.ndarray:
        """``fn(P, x, t_x, T)`` (arrays (U, S) / (1, S) and (U, 1) data) averaged over draws, once per
        distinct customer input, back in the summary's row order."""
        ps = self.source
        frame = ps.validate(summary)
        x, t_x, T = (frame[c].to_numpy(dtype=np.float64) for c in ps.columns)
        cov = ps.covariate_matrix(frame)
        cols = [x, t_x, T] + ([] if cov is None else [cov[:, j] for j in range(cov.shape[1])])
        first, inverse = unique_rows(cols)
        params = self.params
        if self.S > 1 and self.S * len(first) > _POINT_BUDGET:
            keep = max(1, _POINT_BUDGET // len(first))
            idx = np.unique(np.linspace(0, self.S - 1, keep).round().astype(np.int64))
            params = {k: v[idx] for k, v in params.items()}
        draws = ParamDraws(self.model, ps.names, params, point=False, covariates=cov)
        out = np.empty(len(first))
        step = max(1, _BLOCK // len(next(iter(params.values()))))
        for s in range(0, len(first), step):
            rows = first[s:s + step]
            P = draws.for_rows(rows)
            with np.errstate(all="ignore"):
                values = np.asarray(fn(P, x[rows][:, None], t_x[rows][:, None], T[rows][:, None]), dtype=np.float64)
            out[s:s + step] = np.broadcast_to(values, (len(rows), values.shape[-1])).mean(axis=1)
        return out[inverse]

    def _args(self, P):
        return [P[k] for k in self.source.names]

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        """E[X(T, T+t) | history] per customer (rows of ``summary``)."""
        if self.source.per_customer:
            return self._customer_draws_mean(summary, t, "expected_purchases")
        math = self.source.math
        return self._per_customer(lambda P, x, tx, T: math.conditional_expected_purchases(*self._args(P), x, tx, T, t),
                                  summary)

    def p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """P(alive now | history) per customer."""
        if self.source.per_customer:
            return self._customer_draws_mean(summary, 1.0, "p_alive")
        math = self.source.math
        return self._per_customer(lambda P, x, tx, T: math.p_alive(*self._args(P), x, tx, T), summary)

    # ---- cohort of new customers ----------------------------------------------------------
    def cohort_cumulative(self, births: np.ndarray, times: np.ndarray, summary: pd.DataFrame | None = None
                          ) -> np.ndarray:
        """``sum_i E[X(t_k - b_i)]`` over customers born at ``births`` (model time units) for each
        time ``t_k`` in ``times``; customers not yet born at ``t_k`` contribute 0.

        This is the expected cumulative number of repeat purchases of the cohort up to ``t_k``
        (Fader, Hardie & Lee 2005, section 5, Figure 3). For models with covariates the customers'
        own parameters are used (``summary`` must hold the covariate columns, in the order of
        ``births``).
        """
        births = np.asarray(births, dtype=np.float64)
        times = np.asarray(times, dtype=np.float64)
        ps = self.source
        math = ps.math
        if ps.per_customer:
            curve = getattr(self.model, "new_customer_purchases", None)
            if curve is None:
                raise CLVError(f"{type(self.model).__name__} has no new_customer_purchases(t): no cohort tracking")

            def fn_new(t: np.ndarray) -> np.ndarray:
                return np.asarray(curve(t, n_draws=self.max_draws, random_state=self.random_state),
                                  dtype=np.float64).mean(axis=0)
            self.cohort_method = "posterior mean over draws, new customers simulated (dropout integrated out)"
            return _cohort_sum(fn_new, births, times)
        if not ps.covariates:
            P = self.model.customer_parameters(self.params, None)
            args = [P[k] for k in ps.names]      # (1, S)

            def fn(t: np.ndarray) -> np.ndarray:
                out = np.empty(t.size)
                step = max(1, _BLOCK // self.S)
                for s in range(0, t.size, step):
                    vals = math.expected_purchases_new(*(a.T for a in args), t[None, s:s + step])
                    out[s:s + step] = np.mean(vals, axis=0)
                return out
            return _cohort_sum(fn, births, times)
        if summary is None or len(summary) != births.size:
            raise CLVError("a model with covariates needs the summary (with its covariate columns) for cohort "
                           "tracking, one row per birth time")
        frame = ps.validate(summary)
        cov = ps.covariate_matrix(frame)
        keys = np.column_stack([births] + [np.round(cov[:, j], _COV_DECIMALS) for j in range(cov.shape[1])])
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        weights = np.bincount(inverse, minlength=first.size).astype(np.float64)
        cov_mean = np.column_stack([np.bincount(inverse, weights=cov[:, j], minlength=first.size) / weights
                                    for j in range(cov.shape[1])])
        b = births[first]
        U = first.size
        cust = self.model.customer_parameters(self.params, cov_mean)       # name -> (U, S) or (1, S)
        params = [np.broadcast_to(cust[n], (U, self.S)).T for n in ps.names]   # (S, U)
        if self.S * U * times.size > _COHORT_BUDGET:
            # too many points: each group's mean parameters (a plug-in estimate of the mean)
            params = [p.mean(axis=0, keepdims=True) for p in params]
            self.cohort_method = "plug-in: mean parameters per covariate group"
        total = np.zeros(times.size)
        for k, tk in enumerate(times):
            t = tk - b
            born = t > 0
            if not born.any():
                continue
            vals = math.expected_purchases_new(*[p[:, born] for p in params], t[born][None, :])
            total[k] = float(np.sum(np.mean(vals, axis=0) * weights[born]))
        return total

    # ---- calibration histogram -------------------------------------------------------------
    def frequency_histogram(self, summary: pd.DataFrame, max_frequency: int) -> np.ndarray:
        """Expected number of customers with 0, 1, ..., ``max_frequency - 1`` and ``max_frequency``+
        repeat purchases in their calibration windows: ``sum_i P(X(T_i) = k)`` (Fader, Hardie & Lee
        2005, Figure 1; the open bin is the remainder)."""
        ps = self.source
        if ps.per_customer:
            probs_fn = getattr(self.model, "new_customer_count_probabilities", None)
            if probs_fn is None:
                raise CLVError(f"{type(self.model).__name__} has no new_customer_count_probabilities: no period "
                               "histogram")
            T = ps.validate(summary)[ps.columns[2]].to_numpy(dtype=np.float64)
            uT, counts = np.unique(T, return_counts=True)
            probs = np.asarray(probs_fn(uT, max_frequency, random_state=self.random_state), dtype=np.float64)
            return counts.astype(np.float64) @ probs.mean(axis=0)
        fn = getattr(ps.math, "p_purchases", None)
        if fn is None:
            raise CLVError(f"{type(self.model).__name__}'s math has no p_purchases(n, t): no period histogram")
        frame = ps.validate(summary)
        T = frame[ps.columns[2]].to_numpy(dtype=np.float64)
        cov = ps.covariate_matrix(frame)
        cols = [T] + ([] if cov is None else [cov[:, j] for j in range(cov.shape[1])])
        first, inverse = unique_rows(cols)
        counts = np.bincount(inverse, minlength=len(first)).astype(np.float64)
        n = np.arange(max_frequency, dtype=np.float64)
        draws = ParamDraws(self.model, ps.names, self.params, point=False, covariates=cov)
        expected = np.zeros(max_frequency)
        step = max(1, _BLOCK // (self.S * max_frequency))
        for s in range(0, len(first), step):
            rows = first[s:s + step]
            P = draws.for_rows(rows)
            with np.errstate(all="ignore"):
                probs = np.asarray(fn(*(P[k][:, :, None] for k in ps.names), n[None, None, :],
                                      T[rows][:, None, None]), dtype=np.float64)
            probs = np.broadcast_to(probs, (len(rows), probs.shape[1], max_frequency)).mean(axis=1)
            expected += counts[s:s + step] @ probs
        return np.concatenate([expected, [T.size - expected.sum()]])


def _cohort_sum(fn, births: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``sum_i fn(t_k - b_i)`` over the births born before t_k, with identical births grouped and
    each distinct age ``t_k - b_i`` evaluated once (births and period ends on whole days give at
    most one age per day of the observation window)."""
    ub, counts = np.unique(births, return_counts=True)
    t = times[:, None] - ub[None, :]
    born = t > 0
    out = np.zeros(t.shape)
    if born.any():
        ages = t[born]
        _, first, inv = np.unique(np.round(ages, 9), return_index=True, return_inverse=True)
        out[born] = np.asarray(fn(ages[first]), dtype=np.float64)[inv]
    return out @ counts.astype(np.float64)


def expected_spend(model, summary: pd.DataFrame, max_draws: int = 200) -> np.ndarray:
    """Expected spend per purchase for each customer of ``summary`` from a fitted spend model
    (:class:`~clvmodels.protocols.SpendModel`): at the estimate, or the mean over its draws.

    Examples
    --------
    >>> import clvmodels as clv
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> expected_spend(gg, clv.datasets.cdnow_summary().loc[[1, 2]]).round(2).tolist()
    [24.66, 18.92]
    """
    require_spend_model(model)
    params, _ = _point_params(model, max_draws)
    inputs = [np.asarray(a, dtype=np.float64)[:, None] for a in model.spend_inputs(summary)]
    with np.errstate(all="ignore"):
        values = model.math.conditional_expected_spend(*(params[k][None, :] for k in model.param_names), *inputs)
    return np.asarray(np.broadcast_to(values, (len(inputs[0]), values.shape[-1])).mean(axis=1), dtype=np.float64)
