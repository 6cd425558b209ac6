"""One way to get point predictions out of any fitted model (MLE, Bayesian or user-written).

The evaluation layer needs four things from a purchase model: conditional expected holdout
purchases per customer, P(alive) per customer, and the expected cumulative repeat purchases of a
cohort of *new* customers born at known times (for tracking plots), plus expected spend per
customer from a spend model. MLE models (clvmodels.models) give point predictions; Bayesian models
(clvmodels.bayes) give posterior draws, which are averaged here (posterior mean of the
prediction, not the prediction at the posterior mean).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd

from ..errors import CLVError

__all__ = ["PurchasePredictor", "spend_predictions", "model_name"]

# elements of a (draws x points) block evaluated at once
_BLOCK = 1_000_000
# covariate models: most (draws x customer groups x periods) points for the cohort curve before
# falling back to plug-in parameters; covariates are grouped at this many decimals
_COHORT_BUDGET = 2_000_000
_COV_DECIMALS = 2
# per-customer predictions of Bayesian models: most (draws x distinct customers) points
_POINT_BUDGET = 2_000_000


def model_name(model) -> str:
    return type(model).__name__


def _is_bayes(model) -> bool:
    return hasattr(model, "idata_") and hasattr(model, "_draw_arrays")


def _is_mle(model) -> bool:
    return isinstance(getattr(type(model), "_math", None), ModuleType) and hasattr(model, "_param_names")


def _values(obj, index: pd.Index | None = None) -> np.ndarray:
    """Point values of a model output: Series -> array; xarray (chain, draw, customer) -> mean."""
    dims = getattr(obj, "dims", None)
    if dims is not None and not isinstance(obj, (pd.Series, pd.DataFrame, np.ndarray)):
        sample_dims = [d for d in ("chain", "draw") if d in dims]
        if sample_dims:
            obj = obj.mean(sample_dims)
        return np.asarray(obj.values, dtype=np.float64)
    if isinstance(obj, pd.Series) and index is not None and not obj.index.equals(index):
        obj = obj.reindex(index)
    return np.asarray(obj, dtype=np.float64)


class PurchasePredictor:
    """Point predictions of a fitted purchase model.

    Parameters
    ----------
    model : fitted clvmodels MLE model, fitted clvmodels.bayes model, or any object with
        ``expected_purchases(summary, t)`` / ``p_alive(summary)`` / ``expected_purchases_new(t)``.
    max_draws : Bayesian models only: the posterior is thinned to at most this many draws
        (spread evenly over each chain); predictions are averages over these draws. Work is
        capped at about two million (draw x distinct customer) points per prediction, so very
        many distinct customers (e.g. with continuous covariates) use fewer draws.
    """

    def __init__(self, model, max_draws: int = 200):
        self.model = model
        self.max_draws = int(max_draws)
        self.kind = "bayes" if _is_bayes(model) else ("mle" if _is_mle(model) else "generic")
        self.cohort_method = "point estimate" if self.kind != "bayes" else None

    # ---- per customer ---------------------------------------------------------------------
    def _input_columns(self, summary: pd.DataFrame) -> list[str] | None:
        """Columns the model reads (for compressing identical customers), or None if unknown."""
        cols = getattr(self.model, "_summary_columns", None)
        if cols is None or self.kind == "generic":
            return None
        cols = list(cols)
        if self.kind == "bayes":
            cols += list(self.model._extra_columns())
        if any(c not in summary.columns for c in cols):
            return None
        return cols

    def _per_customer(self, method: str, summary: pd.DataFrame, **kwargs) -> np.ndarray | None:
        """Evaluate ``model.<method>(frame, **kwargs)`` once per distinct customer history."""
        fn = getattr(self.model, method, None)
        if fn is None:
            return None
        cols = self._input_columns(summary)
        if cols is None:
            if self.kind == "bayes":
                kwargs["draws_per_chain"] = self._draws_per_chain()
            return _values(fn(summary, **kwargs), summary.index)
        from ..models.base import compress_rows

        rows, _, inverse = compress_rows(summary[cols].to_numpy(dtype=np.float64))
        if self.kind == "bayes":
            # at most _POINT_BUDGET (draw, customer) evaluations: thin further for many distinct customers
            chains = int(self.model.idata_.posterior.sizes["chain"])
            cap = max(1, _POINT_BUDGET // max(1, len(rows) * chains))
            kwargs["draws_per_chain"] = min(self._draws_per_chain(), cap)
        frame = pd.DataFrame(rows, columns=cols, index=pd.RangeIndex(len(rows), name="customer_id"))
        frame.attrs = dict(getattr(summary, "attrs", {}))
        return _values(fn(frame, **kwargs), frame.index)[inverse]

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        return self._per_customer("expected_purchases", summary, t=t)

    def p_alive(self, summary: pd.DataFrame) -> np.ndarray | None:
        return self._per_customer("p_alive", summary)

    def _draws_per_chain(self) -> int:
        post = self.model.idata_.posterior
        n_chains = int(post.sizes["chain"])
        return max(1, min(int(post.sizes["draw"]), self.max_draws // max(n_chains, 1)))

    # ---- cohort of new customers ----------------------------------------------------------
    def cohort_cumulative(self, births: np.ndarray, times: np.ndarray, summary: pd.DataFrame | None = None
                          ) -> np.ndarray:
        """``sum_i E[X(t_k - b_i)]`` over customers born at ``births`` (model time units) for each
        time ``t_k`` in ``times``; customers not yet born at ``t_k`` contribute 0.

        This is the expected cumulative number of repeat purchases of the cohort up to ``t_k``
        (Fader, Hardie & Lee 2005, section 5, Figure 3). For Bayesian models with covariates the
        customers' own parameters are used (``summary`` must hold the covariate columns, in the
        order of ``births``).
        """
        births = np.asarray(births, dtype=np.float64)
        times = np.asarray(times, dtype=np.float64)
        if self.kind == "mle":
            params = tuple(float(self.model.params_[n]) for n in self.model._param_names)
            fn = self.model._math.expected_purchases_new
            return _cohort_sum(lambda t: fn(*params, t), births, times)
        if self.kind == "bayes":
            return self._bayes_cohort(births, times, summary)
        fn = getattr(self.model, "expected_purchases_new", None)
        if fn is None:
            raise CLVError(f"{model_name(self.model)} has no expected_purchases_new(t): cannot track the cohort")

        def scalar_fn(t: np.ndarray) -> np.ndarray:
            uniq, inv = np.unique(t, return_inverse=True)
            vals = np.array([float(np.mean(_values(fn(float(u))))) for u in uniq])
            return vals[inv]
        return _cohort_sum(scalar_fn, births, times)

    # ---- calibration histogram -------------------------------------------------------------
    def frequency_histogram(self, T: np.ndarray, max_frequency: int) -> np.ndarray:
        """Expected number of customers with 0, 1, ..., ``max_frequency - 1`` and ``max_frequency``+
        repeat purchases in their calibration windows ``T``: ``sum_i P(X(T_i) = k)`` (Fader, Hardie
        & Lee 2005, Figure 1; the open bin is the remainder)."""
        T = np.asarray(T, dtype=np.float64)
        uT, counts = np.unique(T, return_counts=True)
        n = np.arange(max_frequency, dtype=np.float64)[:, None]
        if self.kind == "mle":
            params = tuple(float(self.model.params_[k]) for k in self.model._param_names)
            probs = np.asarray(self.model._math.p_purchases(*params, n, uT[None, :]), dtype=np.float64)
        elif self.kind == "bayes":
            if bool(getattr(self.model, "_has_covariates", lambda: False)()):
                raise CLVError("the period-transaction histogram of a Bayesian model with covariates is not "
                               "available; use posterior_predictive_check() instead")
            draws = self._thinned_draws()
            math = self.model._math()
            params = [draws[k][:, None, None] for k in self.model._param_names]
            probs = np.mean(math.p_purchases(*params, n[None], uT[None, None, :]), axis=0)
        else:
            fn = getattr(self.model, "p_purchases", None)
            if fn is None:
                raise CLVError(f"{model_name(self.model)} has no p_purchases(n, t)")
            probs = np.array([[float(fn(int(k), float(t))) for t in uT] for k in range(max_frequency)])
        expected = probs @ counts.astype(np.float64)
        return np.concatenate([expected, [T.size - expected.sum()]])

    def _thinned_draws(self) -> dict[str, np.ndarray]:
        draws, _, _ = self.model._draw_arrays(self._draws_per_chain())
        return draws

    def _bayes_cohort(self, births, times, summary):
        model = self.model
        draws = self._thinned_draws()
        math = model._math()
        names = model._param_names
        has_cov = bool(getattr(model, "_has_covariates", lambda: False)())
        if not has_cov:
            params = [draws[n][:, None] for n in names]
            self.cohort_method = f"posterior mean over {len(params[0])} draws"

            def fn(t: np.ndarray) -> np.ndarray:
                out = np.empty(t.size)
                step = max(1, _BLOCK // len(params[0]))
                for s in range(0, t.size, step):
                    out[s:s + step] = np.mean(math.expected_purchases_new(*params, t[None, s:s + step]), axis=0)
                return out
            return _cohort_sum(fn, births, times)
        if summary is None or len(summary) != births.size:
            raise CLVError("a Bayesian model with covariates needs the summary (with its covariate columns) "
                           "for cohort tracking, one row per birth time")
        frame = model._validate(summary)
        cov_cols = model._extra_columns()
        S = len(next(iter(draws.values())))
        # customers with the same birth time and (nearly) the same covariates share their expectation
        keys = np.column_stack([births] + [np.round(frame[c].to_numpy(dtype=np.float64), _COV_DECIMALS)
                                           for c in cov_cols])
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        weights = np.bincount(inverse, minlength=first.size).astype(np.float64)
        cov_mean = np.column_stack([np.bincount(inverse, weights=frame[c].to_numpy(dtype=np.float64),
                                                minlength=first.size) / weights for c in cov_cols])
        ufr = pd.DataFrame(cov_mean, columns=cov_cols)
        b = births[first]
        U = first.size
        cust = model._customer_params(draws, ufr)  # name -> (S, U) or (S, 1)
        params = [np.broadcast_to(cust[n], (S, U)) for n in names]
        if S * U * times.size > _COHORT_BUDGET:
            # too many points for the (slow, robust) new-customer mean: use each group's posterior-mean
            # parameters (a plug-in estimate of the posterior mean, documented in the tracking attrs)
            params = [p.mean(axis=0, keepdims=True) for p in params]
            self.cohort_method = "plug-in: posterior-mean parameters per covariate group"
        else:
            self.cohort_method = f"posterior mean over {S} draws"
        total = np.zeros(times.size)
        for k, tk in enumerate(times):
            t = tk - b
            born = t > 0
            if not born.any():
                continue
            vals = math.expected_purchases_new(*[p[:, born] for p in params], t[born][None, :])
            total[k] = float(np.sum(np.mean(vals, axis=0) * weights[born]))
        return total


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


def spend_predictions(model, summary: pd.DataFrame) -> np.ndarray:
    """Expected spend per purchase for each customer (posterior mean for Bayesian models)."""
    fn = getattr(model, "expected_spend", None)
    if fn is None:
        raise CLVError(f"{model_name(model)} has no expected_spend(summary)")
    return _values(fn(summary), summary.index)
