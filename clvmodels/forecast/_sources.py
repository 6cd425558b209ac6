"""Adapters between fitted models (MLE or Bayesian) and the forecasting engine.

A *source* turns a fitted model into parameter columns: one column per parameter draw (and, for
MLE models, the point estimate in column 0), laid out as ``(rows, S)`` arrays so that the math
functions broadcast customers/groups on the first axis, draws on the second and periods on a
third. Nothing here imports PyMC; Bayesian models are recognised by their interface
(``idata_`` and ``_math_module``).

Purchase families and their "given alive now" factors are documented in :mod:`._future`.
"""

from __future__ import annotations

import importlib
from numbers import Real
from types import ModuleType

import numpy as np
import pandas as pd

from ..data.validation import validate_summary
from ..errors import CLVError, ConfigError, DataValidationError, NotFittedError, describe_culprits
from . import _future
from .economics import per_customer

__all__ = ["ParamDraws", "PurchaseSource", "SpendSource", "purchase_source", "unique_rows"]

PURCHASE_FAMILIES = ("bgnbd", "mbgnbd", "paretonbd", "bgbb")
SPEND_FAMILIES = ("gammagamma",)


def _family(model) -> tuple[str, str, ModuleType]:
    """(kind, family, math module) of a fitted model, or raise naming what is wrong."""
    if isinstance(getattr(type(model), "_math_module", None), str) and hasattr(model, "_draw_arrays"):
        if getattr(model, "idata_", None) is None:
            raise NotFittedError(f"{type(model).__name__} is not fitted yet: call fit(summary) or load(path) first")
        module = importlib.import_module(type(model)._math_module)
        return "bayes", module.__name__.rsplit(".", 1)[-1], module
    module = getattr(type(model), "_math", None)
    if isinstance(module, ModuleType) and hasattr(model, "_param_names"):
        if getattr(model, "params_", None) is None:
            raise NotFittedError(f"This {type(model).__name__} is not fitted yet: call fit(summary) or "
                                 f"{type(model).__name__}.from_params(...) first.")
        return "mle", module.__name__.rsplit(".", 1)[-1], module
    raise ConfigError(f"{type(model).__name__} is not a clvmodels model (MLE or Bayesian)", key="model")


class ParamDraws:
    """Parameter columns of one model: ``(rows, S)`` arrays for a block of summary rows.

    ``point`` is True when column 0 holds the MLE point estimate and columns 1.. the draws.
    """

    def __init__(self, model, kind: str, names: tuple[str, ...], draws: dict[str, np.ndarray], point: bool):
        self.model = model
        self.kind = kind
        self.names = names
        self.draws = draws  # name -> (S, ...) (S first, as the Bayesian layer stores them)
        self.point = point
        self.S = len(next(iter(draws.values())))

    def for_rows(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.kind == "bayes":
            params = self.model._customer_params(self.draws, frame)
            return {k: np.ascontiguousarray(np.asarray(params[k], dtype=np.float64).T) for k in self.names}
        return {k: self.draws[k][None, :] for k in self.names}


def _mle_draws(model, names, n_draws: int, rng, with_point: bool) -> dict[str, np.ndarray]:
    """Columns of MLE parameters: [point estimate,] then ``n_draws`` draws of the asymptotic normal
    of the log-parameters (``model.sample_params``)."""
    point = np.array([float(model.params_[k]) for k in names])
    if not n_draws:
        return {k: point[i:i + 1] for i, k in enumerate(names)}
    try:
        sample = model.sample_params(int(n_draws), random_state=rng)
    except NotFittedError as exc:
        raise ConfigError(f"{type(model).__name__} has no covariance, so parameter uncertainty is unknown "
                          f"({exc}); fit the model, pass cov= to from_params, or use interval=None",
                          key="interval") from exc
    except CLVError as exc:
        raise ConfigError(f"cannot draw parameters of {type(model).__name__}: {exc} Use interval=None for point "
                          "forecasts only.", key="interval") from exc
    head = [[point[i]] if with_point else [] for i in range(len(names))]
    return {k: np.concatenate([head[i], sample[k].to_numpy(dtype=np.float64)]) for i, k in enumerate(names)}


def _bayes_draws(model, idx: np.ndarray | None) -> dict[str, np.ndarray]:
    draws, _, _ = model._draw_arrays(None)
    if idx is not None:
        draws = {k: v[idx] for k, v in draws.items()}
    return {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}


def bayes_n_draws(model) -> int:
    post = model.idata_.posterior
    return int(post.sizes["chain"]) * int(post.sizes["draw"])


def thin_index(available: int, wanted: int) -> np.ndarray | None:
    """Evenly spaced indices of ``wanted`` out of ``available`` draws (None: take all)."""
    if wanted >= available:
        return None
    return np.unique(np.linspace(0, available - 1, wanted).round().astype(np.int64))


# --------------------------------------------------------------------------------------------
# purchase models
# --------------------------------------------------------------------------------------------
class PurchaseSource:
    """A fitted purchase model seen through the forecasting engine."""

    def __init__(self, model):
        self.model = model
        self.kind, self.family, self.math = _family(model)
        if self.family not in PURCHASE_FAMILIES:
            raise ConfigError(f"purchase={type(model).__name__} is not a purchase model; use one of BGNBD, "
                              "MBGNBD, ParetoNBD, BGBB (MLE or Bayesian)", key="purchase")
        self.names = tuple(model._param_names)
        self.columns = tuple(model._summary_columns)  # (x, t_x, T) or (x, t_x, n)
        self.discrete = self.family == "bgbb"
        self.name = f"{'bayes.' if self.kind == 'bayes' else ''}{type(model).__name__}"

    # ---- data ------------------------------------------------------------------------------
    def extra_columns(self) -> list[str]:
        fn = getattr(self.model, "_extra_columns", None)
        return list(fn()) if callable(fn) else []

    def validate(self, summary: pd.DataFrame) -> pd.DataFrame:
        frame = self.model._validate(summary)
        for c in self.extra_columns():
            if c not in frame.columns:
                frame[c] = summary[c].to_numpy(dtype=np.float64)
        return frame

    def time_unit(self) -> str | None:
        return getattr(self.model, "time_unit_", None)

    # ---- draws -----------------------------------------------------------------------------
    def available_draws(self) -> int | None:
        return bayes_n_draws(self.model) if self.kind == "bayes" else None

    def params(self, n_draws: int, rng, *, with_point: bool, idx: np.ndarray | None = None) -> ParamDraws:
        if self.kind == "bayes":
            return ParamDraws(self.model, "bayes", self.names, _bayes_draws(self.model, idx), point=False)
        draws = _mle_draws(self.model, self.names, n_draws, rng, with_point)
        return ParamDraws(self.model, "mle", self.names, draws, point=with_point)

    # ---- math ------------------------------------------------------------------------------
    def _args(self, P: dict[str, np.ndarray], extra_dims: int = 0) -> list[np.ndarray]:
        return [P[k].reshape(P[k].shape + (1,) * extra_dims) for k in self.names]

    def p_alive(self, P, x, t_x, T) -> np.ndarray:
        """P(alive now | history): (rows, S)."""
        with np.errstate(all="ignore"):
            return np.asarray(self.math.p_alive(*self._args(P), x[:, None], t_x[:, None], T[:, None]),
                              dtype=np.float64)

    def alive_expected(self, P, x, T, steps: np.ndarray) -> np.ndarray:
        """E[X(T, T+t) | alive now, x, T] at t = steps (model units or opportunities): (rows, S, K).

        Computed as the ratio of the model's own conditional expectation and P(alive), which does
        not depend on the recency; both are evaluated at t_x = T (a valid history for every model,
        and the cheapest: e.g. no Pareto/NBD integral term).
        """
        xs, tr, Ts = x[:, None, None], T[:, None, None], T[:, None, None]
        args = self._args(P, 1)
        with np.errstate(all="ignore"):
            cond = np.asarray(self.math.conditional_expected_purchases(*args, xs, tr, Ts, steps[None, None, :]),
                              dtype=np.float64)
            pa = np.asarray(self.math.p_alive(*args, xs, tr, Ts), dtype=np.float64)
        return cond / pa

    def alive_ahead(self, P, x, T, steps: np.ndarray) -> np.ndarray:
        """P(alive at the end of each step | alive now, x, T): (rows, S, K)."""
        g = P
        xs, Ts, ts = x[:, None, None], T[:, None, None], steps[None, None, :]
        e = lambda k: g[k][:, :, None]  # noqa: E731
        if self.family in ("bgnbd", "mbgnbd"):
            return _future.bg_p_alive_ahead(e("r"), e("alpha"), e("a"), e("b"), xs, Ts, ts,
                                            extra_coin=self.family == "mbgnbd")
        if self.family == "paretonbd":
            return np.broadcast_to(_future.pnbd_p_alive_ahead(e("s"), e("beta"), Ts, ts),
                                   (len(x), self._s(P), len(steps)))
        # BG/BB: alive at opportunity n + step (p_alive is already "alive at n+1")
        return np.broadcast_to(_future.bgbb_p_alive_ahead(e("gamma"), e("delta"), Ts, ts),
                               (len(x), self._s(P), len(steps)))

    def no_purchase_ahead(self, P, x, T, step: float) -> np.ndarray:
        """P(no purchase within ``step`` | alive now, x, T): (rows, S)."""
        g = P
        xs, Ts = x[:, None], T[:, None]
        if self.family in ("bgnbd", "mbgnbd"):
            out = _future.bg_p_no_purchase_ahead(g["r"], g["alpha"], xs, Ts, step)
        elif self.family == "paretonbd":
            out = _future.pnbd_p_no_purchase_ahead(g["r"], g["alpha"], g["s"], g["beta"], xs, Ts, step)
        else:
            out = _future.bgbb_p_no_purchase_ahead(g["alpha"], g["beta"], g["gamma"], g["delta"], xs, Ts, int(step))
        return np.broadcast_to(out, (len(x), self._s(P)))

    @staticmethod
    def _s(P) -> int:
        return max(v.shape[1] for v in P.values())

    # ---- fast paths --------------------------------------------------------------------------
    def _fast_bg(self, draws: ParamDraws) -> bool:
        per_draw = draws.kind == "mle" or not self.extra_columns()
        return self.family in ("bgnbd", "mbgnbd") and per_draw

    def group_evaluator(self, draws: ParamDraws, x_all: np.ndarray, T_all: np.ndarray, steps: np.ndarray,
                        v: np.ndarray, n_jobs: int = 1, full: bool = False):
        """A function ``(frame_rows, x, T, full) -> (reduced, full_arrays)`` of groups (sorted by x,
        then T). ``reduced`` maps Gtot, Gdisc, Hend, Adisc, Acnt to (groups, S) arrays:

        * Gtot = E[X(T, T+t_K) | alive now], Gdisc = sum_k v_k (G_k - G_(k-1)) (discounted
          purchases), with G_k = E[X(T, T+t_k) | alive now];
        * Hend = H_K, Adisc = sum_k v_k H_k, Acnt = sum_k H_k, with H_k = P(alive at T+t_k | alive now).

        ``full_arrays`` (only with ``full=True``) is (dE, H), each (groups, S, K). BG/NBD and
        MBG/NBD with per-draw parameters use :class:`._bgfast.BGAliveFactors` (series +
        Chebyshev, error-controlled); everything else the model's own math.
        """
        K = len(steps)
        w_disc = v - np.r_[v[1:], 0.0]          # sum_k v_k (G_k - G_(k-1)) = sum_k (v_k - v_(k+1)) G_k
        e_K = np.zeros(K)
        e_K[-1] = 1.0
        weights = {"Gtot": ("G", e_K), "Gdisc": ("G", w_disc), "Hend": ("H", e_K), "Adisc": ("H", v),
                   "Acnt": ("H", np.ones(K))}

        def reduce(G, H):
            return {name: (G if which == "G" else H) @ w for name, (which, w) in weights.items()}

        if self._fast_bg(draws):
            from ._bgfast import BGAliveFactors

            d = draws.draws
            fac = BGAliveFactors(d["r"], d["alpha"], d["a"], d["b"], 1 if self.family == "mbgnbd" else 0,
                                 x_all, T_all, steps, weights, keep_full=full)
            fac.prepare(n_jobs)

            def fast(rows_frame, xg, Tg, full):
                if not full:
                    return fac.reduced(xg, Tg, weights), None
                G, H = fac(xg, Tg, want_h=True)
                return reduce(G, H), (np.diff(G, axis=2, prepend=0.0), H)
            return fast

        def generic(rows_frame, xg, Tg, full):
            Pg = draws.for_rows(rows_frame)
            G = self.alive_expected(Pg, xg, Tg, steps)
            H = self.alive_ahead(Pg, xg, Tg, steps)
            return reduce(G, H), ((np.diff(G, axis=2, prepend=0.0), H) if full else None)
        return generic

    def p_alive_fast(self, P, x, t_x, T) -> np.ndarray:
        """P(alive now) (rows, S): lean in-place BG/NBD / MBG/NBD formula (tested equal to the
        model's ``p_alive``), the model's own function otherwise."""
        if self.family not in ("bgnbd", "mbgnbd"):
            return self.p_alive(P, x, t_x, T)
        r, alpha, a, b = (P[k] for k in self.names)
        shift = 0.0 if self.family == "mbgnbd" else -1.0   # a/(b+x) (MBG) or a/(b+x-1) (BG)
        n, S = len(x), self._s(P)
        # y = log(a) - log(b+x+shift) + (r+x) log1p((T-t_x)/(alpha+t_x)); P(alive) = 1/(1+e^y)
        y = alpha + t_x[:, None]
        if y.shape != (n, S):
            y = np.broadcast_to(y, (n, S)).copy()
        np.divide((T - t_x)[:, None], y, out=y)
        np.log1p(y, out=y)
        if r.shape[0] == 1 and a.shape[0] == 1 and b.shape[0] == 1:
            # per-draw parameters: the x-only factors once per distinct x (few), then gathered
            ux, xi = np.unique(x, return_inverse=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                lb = np.log(a) - np.log(b + (ux + shift)[:, None])      # (distinct x, S)
            y *= (r + ux[:, None])[xi]
            y += lb[xi]
        else:
            tmp = np.multiply(y, x[:, None])
            y *= r
            y += tmp
            with np.errstate(divide="ignore", invalid="ignore"):
                np.add(b, (x + shift)[:, None], out=tmp)
                np.log(tmp, out=tmp)
            y -= tmp
            y += np.log(a)
        with np.errstate(over="ignore"):   # 1 / (1 + e^y): e^y = inf gives exactly 0
            np.exp(y, out=y)
        y += 1.0
        np.reciprocal(y, out=y)
        if self.family == "bgnbd":
            y[x == 0] = 1.0
        return y

    # ---- infinite horizon ------------------------------------------------------------------
    def has_dert(self) -> bool:
        return self.family in ("paretonbd", "bgbb") and hasattr(self.math, "dert")

    def dert(self, P, x, t_x, T, rate: float, pa: np.ndarray | None = None) -> np.ndarray:
        """DERT (rows, S) from the model's closed form.

        Pareto/NBD (FHL 2005, "RFM and CLV", eq. 2) factorises as P(alive) (r+x)/(alpha+T)
        E[1/(mu+delta) | alive at T], and the last factor depends on T only: it is taken from the
        model's ``dert`` once per distinct T (at x = 0, t_x = T, where P(alive) = 1 exactly), and
        ``pa`` (P(alive) of the rows, when already known) is reused.
        """
        with np.errstate(all="ignore"):
            if self.family != "paretonbd" or any(v.shape[0] != 1 for v in P.values()):
                return np.asarray(self.math.dert(*self._args(P), x[:, None], t_x[:, None], T[:, None], rate),
                                  dtype=np.float64)
            r, alpha, s, beta = (P[k] for k in self.names)
            uT, ti = np.unique(T, return_inverse=True)
            ref = np.asarray(self.math.dert(r, alpha, s, beta, 0.0, uT[:, None], uT[:, None], rate), dtype=np.float64)
            mu_part = ref * (alpha + uT[:, None]) / r                      # E[1/(mu+delta) | alive], (distinct T, S)
            if pa is None:
                pa = self.p_alive(P, x, t_x, T)
            return pa * (r + x[:, None]) / (alpha + T[:, None]) * mu_part[ti]


def purchase_source(model) -> PurchaseSource:
    if model is None:
        raise ConfigError("purchase= is required: a fitted BGNBD, MBGNBD, ParetoNBD or BGBB model", key="purchase")
    return PurchaseSource(model)


# --------------------------------------------------------------------------------------------
# spend
# --------------------------------------------------------------------------------------------
class SpendSource:
    """Expected spend per order: a Gamma-Gamma model (MLE or Bayesian) or fixed values."""

    def __init__(self, spend, summary: pd.DataFrame):
        self.spend = spend
        if isinstance(spend, (Real, str, pd.Series)) and not isinstance(spend, bool):
            self.kind = "fixed"
            self.family = "fixed"
            self.values = per_customer(spend, "spend", summary, lower=0.0)
            self.name = "fixed" if not isinstance(spend, str) else f"column {spend!r}"
            self.names: tuple[str, ...] = ()
            return
        if spend is None:
            raise ConfigError("spend= is required: a fitted GammaGamma model, a number (spend per order), a "
                              "column name or a Series keyed by customer_id", key="spend")
        self.kind, self.family, self.math = _family(spend)
        if self.family not in SPEND_FAMILIES:
            raise ConfigError(f"spend={type(spend).__name__} is not a spend model; use GammaGamma (MLE or "
                              "Bayesian), a number, a column name or a Series", key="spend")
        self.names = tuple(spend._param_names)
        self.name = f"{'bayes.' if self.kind == 'bayes' else ''}{type(spend).__name__}"
        frame = validate_summary(summary, require_monetary=True)
        self.x = frame["frequency"].to_numpy(dtype=np.float64)
        self.mbar = frame["monetary_value"].to_numpy(dtype=np.float64)
        bad = (self.x > 0) & (self.mbar <= 0)
        # the spend model's own policy for repeat buyers without positive spend (GammaGamma docstring)
        policy = getattr(spend, "nonpositive_spend", "error")
        if bad.any() and policy == "zero":        # conditional mean at an observed mean of 0
            self.mbar = np.where(bad, 0.0, self.mbar)
        elif bad.any() and policy == "population":  # no spend information: population mean
            self.x = np.where(bad, 0.0, self.x)
        elif bad.any():
            ids = frame.index[bad]
            raise DataValidationError(
                f"column 'monetary_value': {int(bad.sum())} repeat buyer(s) have monetary_value <= 0, which the "
                f"Gamma-Gamma model cannot score; example customer ids {describe_culprits(ids)} "
                "(GammaGamma(nonpositive_spend='zero' or 'population') scores them)", column="monetary_value",
                n_rows=int(bad.sum()), examples=list(ids[:5]))

    def time_unit(self) -> str | None:
        return None

    def available_draws(self) -> int | None:
        return bayes_n_draws(self.spend) if self.kind == "bayes" else None

    def params(self, n_draws: int, rng, *, with_point: bool, idx: np.ndarray | None = None) -> ParamDraws | None:
        if self.kind == "fixed":
            return None
        if self.kind == "bayes":
            return ParamDraws(self.spend, "bayes", self.names, _bayes_draws(self.spend, idx), point=False)
        draws = _mle_draws(self.spend, self.names, n_draws, rng, with_point)
        return ParamDraws(self.spend, "mle", self.names, draws, point=with_point)

    def key(self) -> np.ndarray:
        """Per-customer inputs of the spend model (customers with equal keys spend alike)."""
        if self.kind == "fixed":
            return self.values
        return np.where(self.x > 0, self.mbar, 0.0)   # Gamma-Gamma ignores mbar when x = 0

    def expected(self, P: dict[str, np.ndarray] | None, rows: np.ndarray, S: int) -> np.ndarray:
        """Expected spend per order: (len(rows), S) (fixed values broadcast over draws).

        Gamma-Gamma: ``p (v + x mbar) / (p x + q - 1)`` (Fader, Hardie & Lee 2005, "RFM and CLV",
        eq. 5), written in place (tested equal to :func:`clvmodels.math.gammagamma.conditional_expected_spend`).
        """
        if self.kind == "fixed":
            return np.broadcast_to(self.values[rows][:, None], (len(rows), S))
        p, q, v = (P[k] for k in self.names)
        x = self.x[rows]
        xm = (x * np.where(x > 0, self.mbar[rows], 0.0))[:, None]
        if p.shape[0] == 1 and q.shape[0] == 1:
            # the denominator depends on (x, draw) only: once per distinct x, then gathered
            ux, xi = np.unique(x, return_inverse=True)
            inv_den = 1.0 / (p * ux[:, None] + (q - 1.0))                      # (distinct x, S)
            num = v + xm
            num *= p
            num *= inv_den[xi]
        else:
            num = np.multiply(p, xm)
            num += p * v
            den = np.multiply(p, x[:, None])
            den += q - 1.0
            num /= den
        return np.broadcast_to(num, (len(rows), S))


def unique_rows(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index of each unique row, inverse) of a 2-D float array."""
    order = np.lexsort(data.T[::-1])
    srt = data[order]
    new = np.ones(len(data), dtype=bool)
    if len(data) > 1:
        new[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    group = np.cumsum(new) - 1
    inverse = np.empty(len(data), dtype=np.intp)
    inverse[order] = group
    first = order[new]
    return first, inverse

