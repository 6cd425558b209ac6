"""Adapters between fitted models and the forecasting engine, through the model protocol only.

A *source* turns a fitted model (:class:`clvmodels.protocols.PurchaseModel` /
:class:`~clvmodels.protocols.SpendModel`: MLE, Bayesian, or your own) into parameter columns: one
column per parameter draw (and, for models with a point estimate, the estimate in column 0), laid
out as ``(rows, S)`` arrays so that the math functions broadcast customers/groups on the first axis,
draws on the second and periods on a third. Everything about the future of a customer comes from
the model's ``math`` namespace; its optional fast paths (``p_alive_grid``, ``alive_factors``,
``dert_grid``, ``conditional_expected_spend_grid``) are used when present. A model with per-customer
posteriors (:class:`clvmodels.protocols.CustomerDrawsModel`, the Pareto/GGG) has no ``math`` the
engine can use: :meth:`PurchaseSource.customer_draws` asks the model itself, block by block.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd

from ..data.validation import LITT_COLUMN, validate_covariates, validate_summary
from ..errors import CLVError, ConfigError, NotFittedError
from ..protocols import CustomerDraws, CustomerDrawsModel, ParameterDraws, require_purchase_model, require_spend_model
from .economics import per_customer

__all__ = ["ParamDraws", "PurchaseSource", "SpendSource", "purchase_source", "draw_parameters", "period_weights",
           "reduce_periods"]


def period_weights(steps: np.ndarray, v: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """The weights over the K periods that reduce the cumulative expected purchases G_k and P(alive) H_k
    (both given alive now) to what a forecast keeps: Gtot = G_K, Gdisc = sum_k v_k (G_k - G_(k-1)),
    Hend = H_K, Adisc = sum_k v_k H_k, Acnt = sum_k H_k."""
    K = len(steps)
    w_disc = v - np.r_[v[1:], 0.0]          # sum_k v_k (G_k - G_(k-1)) = sum_k (v_k - v_(k+1)) G_k
    e_K = np.zeros(K)
    e_K[-1] = 1.0
    return {"Gtot": ("G", e_K), "Gdisc": ("G", w_disc), "Hend": ("H", e_K), "Adisc": ("H", v),
            "Acnt": ("H", np.ones(K))}


def reduce_periods(G: np.ndarray, H: np.ndarray, weights) -> dict[str, np.ndarray]:
    """(rows, S, K) arrays G, H -> name -> (rows, S) by :func:`period_weights`."""
    return {name: (G if which == "G" else H) @ w for name, (which, w) in weights.items()}


class ParamDraws:
    """Parameter columns of one model: ``(rows, S)`` arrays for a block of customers.

    ``point`` is True when column 0 holds the point estimate and columns 1.. the draws.
    ``covariates`` (N, k) holds the customers' covariates (models with covariates only).
    """

    def __init__(self, model, names: tuple[str, ...], params: dict[str, np.ndarray], point: bool,
                 covariates: np.ndarray | None = None):
        self.model = model
        self.names = names
        self.params = params          # name -> (S, ...)
        self.point = point
        self.covariates = covariates
        self.S = len(next(iter(params.values())))
        self.per_draw = covariates is None or covariates.shape[1] == 0
        # without covariates every customer shares the population parameters (the protocol's identity)
        self._shared = ({k: np.asarray(params[k], dtype=np.float64).reshape(1, -1) for k in names}
                        if self.per_draw else None)

    def for_rows(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """name -> parameters of the customers ``rows``: (1, S) when shared, (len(rows), S) otherwise."""
        if self.per_draw:
            return self._shared
        out = self.model.customer_parameters(self.params, self.covariates[rows])
        return {k: np.ascontiguousarray(np.broadcast_to(out[k], (len(rows), self.S))) for k in self.names}


def draw_parameters(model, n_draws: int | None, rng) -> ParameterDraws:
    """``model.parameter_draws(n_draws, rng)`` with a ConfigError (key ``interval``) when the model
    cannot draw (e.g. an MLE model built from parameters without a covariance)."""
    try:
        return model.parameter_draws(n_draws, rng)
    except NotFittedError as exc:
        if getattr(model, "params_", None) is None and getattr(model, "idata_", None) is None:
            raise
        raise ConfigError(f"{type(model).__name__} has no covariance, so parameter uncertainty is unknown "
                          f"({exc}); fit the model, pass cov= to from_params, or use interval=None",
                          key="interval") from exc
    except CLVError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot draw parameters of {type(model).__name__}: {exc} Use interval=None for point "
                          "forecasts only.", key="interval") from exc


def _label(model, draws: ParameterDraws) -> str:
    return ("bayes." if draws.kind == "posterior" else "") + type(model).__name__


# --------------------------------------------------------------------------------------------
# purchase models
# --------------------------------------------------------------------------------------------
class PurchaseSource:
    """A fitted purchase model seen through the forecasting engine."""

    def __init__(self, model):
        self.model = require_purchase_model(model)
        # per-customer posteriors (the Pareto/GGG): forecasts come from model.customer_draws, not from math
        self.per_customer = isinstance(model, CustomerDrawsModel)
        self.math = getattr(model, "math", None)
        self.names = tuple(model.param_names)
        self.columns = tuple(model.input_columns)   # (x, t_x, T) or (x, t_x, n)
        self.covariates = tuple(model.covariate_columns)
        self.discrete = model.time_axis == "opportunities"
        self.name = type(model).__name__
        # the future of a customer alive now depends on the time since the last purchase (Erlang-k timing of
        # the (M)BG/CNBD-k): the "given alive" factors are then computed per (x, t_x, T), with t_x passed on
        self.recency_ahead = bool(getattr(self.math, "ahead_needs_recency", False))
        # elements (rows x draws [x periods]) of one call into the model's math: the caller sets it
        # from its memory budget (forecast_clv's max_memory); the math's own temporaries scale with it
        self.block = 2_000_000

    def _by_rows(self, fn, n: int, per_row: int, shape: tuple) -> np.ndarray:
        """``fn(rows_slice)`` for slices of ``range(n)`` holding at most ``self.block`` elements
        (``per_row`` elements a row), assembled into an array of ``shape`` (rows first)."""
        step = max(1, self.block // max(1, per_row))
        if n <= step:
            return np.asarray(fn(slice(0, n)), dtype=np.float64)
        out = np.empty(shape)
        for i in range(0, n, step):
            sl = slice(i, min(n, i + step))
            out[sl] = fn(sl)
        return out

    @staticmethod
    def _rows(P, sl):
        """Parameters of the rows ``sl``: per-draw (1, S) arrays are shared, (n, S) arrays sliced."""
        return {k: (v if v.shape[0] == 1 else v[sl]) for k, v in P.items()}

    def _accepts_block(self, fn) -> bool:
        import inspect

        try:
            return "block" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return False

    # ---- data ------------------------------------------------------------------------------
    def validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Validated float frame of the model's input and covariate columns (same rows and order); a per-customer
        model also gets ``litt`` when the summary has it (the Pareto/GGG draws histories it did not fit from it)."""
        litt = self.per_customer and isinstance(summary, pd.DataFrame) and LITT_COLUMN in summary.columns
        frame = validate_summary(summary, litt=litt, columns=self.columns, discrete=self.discrete)
        if self.covariates:
            frame = frame.join(validate_covariates(summary, self.covariates))
        return frame

    def covariate_matrix(self, frame: pd.DataFrame) -> np.ndarray | None:
        if not self.covariates:
            return None
        return frame[list(self.covariates)].to_numpy(dtype=np.float64)

    def time_unit(self) -> str | None:
        return getattr(self.model, "time_unit_", None)

    # ---- per-customer models ------------------------------------------------------------------
    def customer_draws(self, frame: pd.DataFrame, steps: np.ndarray, n_draws: int | None, seed) -> CustomerDraws:
        """The model's :class:`~clvmodels.protocols.CustomerDraws` for the customers of ``frame`` (a block),
        checked for shape and finiteness (a model of your own gets a clear error, not a broadcast)."""
        out = self.model.customer_draws(frame, steps, n_draws=n_draws, random_state=seed)
        n, K = len(frame), len(steps)
        S = out.p_alive.shape[1] if np.ndim(out.p_alive) == 2 else -1
        shapes = {"p_alive": (n, S), "expected_purchases": (n, S, K), "alive_ahead": (n, S, K),
                  "no_purchase": (n, S)}
        for name, shape in shapes.items():
            got = np.shape(getattr(out, name))
            if got != shape or (n_draws is not None and S != n_draws):
                raise CLVError(f"{self.name}.customer_draws returned {name} of shape {got}; expected {shape} "
                               f"({n} customers, {n_draws} draws, {K} steps)")
        return out

    def check_customers(self, frame: pd.DataFrame, steps: np.ndarray) -> None:
        """Ask the model for one draw of every customer at the last step (cheap): a customer it cannot
        predict raises its typed error, naming them all, before any work."""
        if self.per_customer and len(frame):
            self.model.customer_draws(frame, steps[-1:], n_draws=1, random_state=0)

    # ---- math ------------------------------------------------------------------------------
    def _args(self, P: dict[str, np.ndarray], extra_dims: int = 0) -> list[np.ndarray]:
        return [P[k].reshape(P[k].shape + (1,) * extra_dims) for k in self.names]

    @staticmethod
    def _s(P) -> int:
        return max(v.shape[1] for v in P.values())

    def p_alive_context(self, draws: ParamDraws, t_x: np.ndarray, T: np.ndarray):
        """The math's ``p_alive_context`` for per-draw parameters (shared by every later
        :meth:`p_alive` call of a forecast: e.g. Pareto/NBD interpolants per frequency), or None."""
        make = getattr(self.math, "p_alive_context", None)
        if make is None or not draws.per_draw or len(t_x) == 0:
            return None
        return make(*(draws.params[k] for k in self.names), t_x, T)

    def p_alive(self, P, x, t_x, T, context=None) -> np.ndarray:
        """P(alive now | history): (rows, S) (the math's ``p_alive_grid`` when it has one), at most
        ``self.block`` elements per call into the math; ``context`` from :meth:`p_alive_context`."""
        grid = getattr(self.math, "p_alive_grid", None)
        n, S = len(x), self._s(P)
        with np.errstate(all="ignore"):
            if grid is not None and self._accepts_block(grid):
                kw = {"context": context} if context is not None else {}
                return np.asarray(grid(*self._args(P), x, t_x, T, block=self.block, **kw), dtype=np.float64)

            def part(sl):
                Q = self._rows(P, sl)
                if grid is not None:
                    return grid(*self._args(Q), x[sl], t_x[sl], T[sl])
                out = self.math.p_alive(*self._args(Q), x[sl, None], t_x[sl, None], T[sl, None])
                return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(x[sl]), S))
            return np.broadcast_to(self._by_rows(part, n, S, (n, S)), (n, S))

    def alive_expected(self, P, x, T, steps: np.ndarray, t_x: np.ndarray | None = None) -> np.ndarray:
        """E[X(T, T+t) | alive now, x, T] at t = steps (model units or opportunities): (rows, S, K).

        Computed as the ratio of the model's own conditional expectation and P(alive). For most models
        it does not depend on the recency, and both are evaluated at t_x = T (a valid history for every
        model, and the cheapest: e.g. no Pareto/NBD integral term); a model whose math says
        ``ahead_needs_recency`` gets the customers' own ``t_x``.
        """
        n, S, K = len(x), self._s(P), len(steps)

        def part(sl):
            xs, Ts = x[sl, None, None], T[sl, None, None]
            tr = Ts if t_x is None else t_x[sl, None, None]
            args = self._args(self._rows(P, sl), 1)
            with np.errstate(all="ignore"):
                cond = np.asarray(self.math.conditional_expected_purchases(*args, xs, tr, Ts, steps[None, None, :]),
                                  dtype=np.float64)
                pa = np.asarray(self.math.p_alive(*args, xs, tr, Ts), dtype=np.float64)
            return np.broadcast_to(cond / pa, (len(xs), S, K))
        return self._by_rows(part, n, S * K, (n, S, K))

    def alive_ahead(self, P, x, T, steps: np.ndarray, t_x: np.ndarray | None = None) -> np.ndarray:
        """P(alive at the end of each step | alive now, x, T [, t_x]): (rows, S, K)."""
        n, S, K = len(x), self._s(P), len(steps)

        def part(sl):
            kw = {} if t_x is None else {"t_x": t_x[sl, None, None]}
            with np.errstate(all="ignore"):
                out = self.math.p_alive_ahead(*self._args(self._rows(P, sl), 1), x[sl, None, None], T[sl, None, None],
                                              steps[None, None, :], **kw)
            return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(x[sl]), S, K))
        return self._by_rows(part, n, S * K, (n, S, K))

    def alive_expected_and_ahead(self, P, x, T, steps: np.ndarray, t_x: np.ndarray | None = None):
        """:meth:`alive_expected` and :meth:`alive_ahead` from the math's one-pass ``ahead_given_alive``
        (optional fast path: the (M)BG/CNBD-k sums one series for both): two (rows, S, K) arrays, at most
        ``self.block`` elements per call into the math."""
        n, S, K = len(x), self._s(P), len(steps)
        G_all, H_all = np.empty((n, S, K)), np.empty((n, S, K))
        step = max(1, self.block // max(1, S * K))
        for i in range(0, n, step):
            sl = slice(i, min(n, i + step))
            kw = {} if t_x is None else {"t_x": t_x[sl, None, None]}
            with np.errstate(all="ignore"):
                G, H = self.math.ahead_given_alive(*self._args(self._rows(P, sl), 1), x[sl, None, None],
                                                   T[sl, None, None], steps[None, None, :], **kw)
            G_all[sl] = np.broadcast_to(np.asarray(G, dtype=np.float64), (sl.stop - sl.start, S, K))
            H_all[sl] = np.broadcast_to(np.asarray(H, dtype=np.float64), (sl.stop - sl.start, S, K))
        return G_all, H_all

    def no_purchase_ahead(self, P, x, T, step: float, t_x: np.ndarray | None = None) -> np.ndarray:
        """P(no purchase within ``step`` | alive now, x, T [, t_x]): (rows, S)."""
        n, S = len(x), self._s(P)

        def part(sl):
            kw = {} if t_x is None else {"t_x": t_x[sl, None]}
            with np.errstate(all="ignore"):
                out = self.math.p_no_purchase_ahead(*self._args(self._rows(P, sl)), x[sl, None], T[sl, None], step,
                                                    **kw)
            return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(x[sl]), S))
        return self._by_rows(part, n, S, (n, S))

    # ---- fast paths --------------------------------------------------------------------------
    def has_fast_factors(self, draws: ParamDraws) -> bool:
        return not self.per_customer and draws.per_draw and hasattr(self.math, "alive_factors")

    def group_evaluator(self, draws: ParamDraws, x_all: np.ndarray, T_all: np.ndarray, steps: np.ndarray,
                        v: np.ndarray, n_jobs: int = 1, full: bool = False):
        """A function ``(rows, x, T, full, t_x=None) -> (reduced, full_arrays)`` of groups (``rows``: one
        customer of each group, for its parameters; ``t_x`` the groups' recency when
        :attr:`recency_ahead`, else None). ``reduced`` maps Gtot, Gdisc, Hend, Adisc, Acnt to (groups, S)
        arrays:

        * Gtot = E[X(T, T+t_K) | alive now], Gdisc = sum_k v_k (G_k - G_(k-1)) (discounted
          purchases), with G_k = E[X(T, T+t_k) | alive now];
        * Hend = H_K, Adisc = sum_k v_k H_k, Acnt = sum_k H_k, with H_k = P(alive at T+t_k | alive now).

        ``full_arrays`` (only with ``full=True``) is (dE, H), each (groups, S, K). With per-draw
        parameters and a math namespace offering ``alive_factors`` (BG/NBD, MBG/NBD: series +
        Chebyshev, error-controlled) that is used; everything else uses the model's own math.
        """
        weights = period_weights(steps, v)

        def reduce(G, H):
            return reduce_periods(G, H, weights)

        if self.has_fast_factors(draws):
            d = draws.params
            kw = {"block": self.block} if self._accepts_block(self.math.alive_factors) else {}
            fac = self.math.alive_factors(*(d[k] for k in self.names), x_all, T_all, steps, weights, keep_full=full,
                                          **kw)
            fac.prepare(n_jobs)

            def fast(rows, xg, Tg, full, txg=None):
                if not full:
                    return fac.reduced(xg, Tg, weights), None
                G, H = fac(xg, Tg, want_h=True)
                return reduce(G, H), (np.diff(G, axis=2, prepend=0.0), H)
            return fast

        def generic(rows, xg, Tg, full, txg=None):
            Pg = draws.for_rows(rows)
            if hasattr(self.math, "ahead_given_alive"):
                G, H = self.alive_expected_and_ahead(Pg, xg, Tg, steps, txg)
            else:
                G = self.alive_expected(Pg, xg, Tg, steps, txg)
                H = self.alive_ahead(Pg, xg, Tg, steps, txg)
            return reduce(G, H), ((np.diff(G, axis=2, prepend=0.0), H) if full else None)
        return generic

    # ---- infinite horizon ------------------------------------------------------------------
    def has_dert(self) -> bool:
        return not self.per_customer and hasattr(self.math, "dert")

    def dert(self, P, x, t_x, T, rate: float, pa: np.ndarray | None = None) -> np.ndarray:
        """DERT (rows, S) from the model's closed form (its ``dert_grid`` with per-draw parameters
        when it has one, reusing ``pa``, P(alive) of the rows)."""
        grid = getattr(self.math, "dert_grid", None)
        n, S = len(x), self._s(P)
        with np.errstate(all="ignore"):
            if grid is not None and all(v.shape[0] == 1 for v in P.values()):
                kw = {"block": self.block} if self._accepts_block(grid) else {}
                return np.asarray(grid(*self._args(P), x, t_x, T, rate, pa, **kw), dtype=np.float64)

            def part(sl):
                out = self.math.dert(*self._args(self._rows(P, sl)), x[sl, None], t_x[sl, None], T[sl, None], rate)
                return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(x[sl]), S))
            return self._by_rows(part, n, S, (n, S))


def purchase_source(model) -> PurchaseSource:
    if model is None:
        raise ConfigError("purchase= is required: a fitted purchase model (BGNBD, MBGNBD, ParetoNBD, BGBB, a "
                          "Bayesian one, or any clvmodels.protocols.PurchaseModel)", key="purchase")
    return PurchaseSource(model)


# --------------------------------------------------------------------------------------------
# spend
# --------------------------------------------------------------------------------------------
class SpendSource:
    """Expected spend per order: a spend model (MLE, Bayesian or your own) or fixed values."""

    def __init__(self, spend, summary: pd.DataFrame):
        self.spend = spend
        if isinstance(spend, (Real, str, pd.Series)) and not isinstance(spend, bool):
            self.kind = "fixed"
            self.values = per_customer(spend, "spend", summary, lower=0.0)
            self.name = "fixed" if not isinstance(spend, str) else f"column {spend!r}"
            self.names: tuple[str, ...] = ()
            return
        if spend is None:
            raise ConfigError("spend= is required: a fitted spend model (GammaGamma, MLE or Bayesian), a number "
                              "(spend per order), a column name or a Series keyed by customer_id", key="spend")
        self.kind = "model"
        self.model = require_spend_model(spend)
        self.math = spend.math
        self.names = tuple(spend.param_names)
        self.name = type(spend).__name__
        self.inputs = tuple(np.asarray(a, dtype=np.float64) for a in spend.spend_inputs(summary))

    def label(self, draws: ParameterDraws | None) -> str:
        return self.name if draws is None else _label(self.spend, draws)

    def key(self) -> np.ndarray:
        """Per-customer inputs of the spend model (customers with equal keys spend alike): (N, k)."""
        if self.kind == "fixed":
            return self.values[:, None]
        return np.column_stack(self.inputs)

    def expected(self, P: dict[str, np.ndarray] | None, rows: np.ndarray, S: int) -> np.ndarray:
        """Expected spend per order: (len(rows), S) (fixed values broadcast over draws)."""
        if self.kind == "fixed":
            return np.broadcast_to(self.values[rows][:, None], (len(rows), S))
        args = [P[k] for k in self.names]
        inputs = [a[rows] for a in self.inputs]
        grid = getattr(self.math, "conditional_expected_spend_grid", None)
        with np.errstate(all="ignore"):
            if grid is not None:
                out = grid(*args, *inputs)
            else:
                out = self.math.conditional_expected_spend(*args, *(a[:, None] for a in inputs))
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(rows), S))
