"""Paired bootstrap over customers: intervals for holdout metrics and for differences between models.

A holdout metric such as the MAE is computed on one sample of customers; another sample from the
same population would give another value. The bootstrap draws ``n_boot`` resamples of the
customers (with replacement, as many as there are), recomputes each metric on each resample and
reports the central ``interval`` (e.g. 95%) of the values: a percentile interval (Efron &
Tibshirani 1993, ch. 13).

*Paired*: every model is scored on the same resamples, so the difference between two models is
recomputed resample by resample. Two models that predict much alike have a narrow interval for
their difference even when each metric alone varies a lot from resample to resample; identical
models have a difference of exactly zero in every resample.

What it measures: the noise of the holdout sample for these fitted models. The models are not
refitted in each resample (the parameter uncertainty of the fit is not part of the intervals),
and the intervals of several metrics or models are not adjusted for multiplicity.

Computation: a resample is a vector of counts ``w`` (how often each customer was drawn), so every
metric is a weighted statistic of per-customer values: sums ``x @ w`` for the errors, means,
squares and cross-products (MAE, RMSE, aggregate error, Pearson correlation), and for the top-share
capture the weights summed over the customers' fixed ranking. Resamples are processed in chunks of
at most ``max_elements`` counts (resamples x customers), as matrix products: memory stays bounded
and there is no Python loop over customers (a resample's counts are one ``bincount``). BLAS runs on one thread here: these
products are small, and on a busy machine thread hand-offs made them ten times slower.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..errors import ConfigError, DataValidationError

__all__ = ["BOOTSTRAP_METRICS", "PairedBootstrap", "bootstrap_counts", "loglik_bootstrap", "paired_bootstrap"]

#: metrics the bootstrap recomputes, with their direction: "min" smaller is better, "max" larger,
#: "abs" smaller absolute value (signed errors); see :data:`clvmodels.evaluate.METRIC_DESCRIPTIONS`
BOOTSTRAP_METRICS: dict[str, str] = {
    "aggregate_error_pct": "abs",
    "mae": "min",
    "rmse": "min",
    "correlation": "max",
    "purchases_top_capture": "max",
    "revenue_error_pct": "abs",
    "revenue_mae": "min",
    "revenue_correlation": "max",
    "revenue_top_capture": "max",
    "loglik": "max",
    "aic": "min",
    "bic": "min",
}

#: counts per chunk (resamples x customers): 2**21 float64 counts are 16 MB
DEFAULT_MAX_ELEMENTS = 2 ** 21

TABLE_COLUMNS = ["metric", "model", "value", "lower", "upper", "diff", "diff_lower", "diff_upper", "direction"]


def _check_boot(n_boot: int, interval: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"n_boot must be a whole number >= 1, got {n_boot!r}", key="n_boot")
    if not 0.0 < float(interval) < 1.0:
        raise ConfigError(f"interval must be in (0, 1), e.g. 0.95, got {interval!r}", key="interval")


def bootstrap_counts(n_customers: int, n_boot: int, random_state=None, *,
                     max_elements: int = DEFAULT_MAX_ELEMENTS) -> Iterator[np.ndarray]:
    """Resamples of ``n_customers`` customers as counts, in chunks.

    Each resample draws ``n_customers`` customers with replacement; its column holds how often each
    customer was drawn (the column sums to ``n_customers``). Chunks are float arrays of shape
    ``(n_customers, b)``, one column per resample, with ``b * n_customers <= max_elements`` (at
    least one column), ``n_boot`` columns in all. ``random_state``: None, a seed or a numpy Generator.

    Examples
    --------
    >>> chunks = list(bootstrap_counts(5, n_boot=3, random_state=1, max_elements=10))
    >>> [c.shape for c in chunks], [c.sum(axis=0).tolist() for c in chunks]
    ([(5, 2), (5, 1)], [[5.0, 5.0], [5.0]])
    """
    n = int(n_customers)
    if n < 1:
        raise DataValidationError("no customers to resample", n_rows=0)
    _check_boot(n_boot, 0.5)
    rng = np.random.default_rng(random_state)
    chunk = max(1, min(int(n_boot), int(max_elements) // n))
    done = 0
    while done < n_boot:
        b = min(chunk, int(n_boot) - done)
        idx = rng.integers(0, n, size=(b, n))
        counts = np.empty((n, b))
        for r in range(b):   # one vectorised count per resample (a combined bincount writes all over memory)
            counts[:, r] = np.bincount(idx[r], minlength=n)
        yield counts
        done += b


class _Capture:
    """Top-``share`` capture of several value vectors along one fixed ranking by ``score``, for
    weighted resamples; ties are shared pro rata as in :func:`~clvmodels.evaluate.metrics.top_share_capture`.

    Only the head of the ranking can hold the top share: the customers in tie groups that start
    before ``share * n`` plus a margin of 10 standard deviations of a resample's count there; a
    resample whose count does not reach the cut-off within that head falls back to the whole list.
    """

    def __init__(self, score: np.ndarray, values: Mapping[str, np.ndarray], share: float):
        n = score.size
        self.order = np.argsort(-score, kind="stable")
        s = score[self.order]
        self.starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
        head = share * n + 10.0 * math.sqrt(n * share * (1.0 - share)) + 1.0
        g = int(np.searchsorted(self.starts, head, side="right"))   # groups starting within the head
        self.head = (int(self.starts[g]) if g < self.starts.size else n, g)
        self.sorted_values = {k: np.asarray(v, dtype=np.float64)[self.order] for k, v in values.items()}
        self.share = share

    def _head(self, Wt: np.ndarray, length: int, n_groups: int):
        Ws = Wt[self.order[:length]]
        starts = self.starts[:n_groups]
        sizes = np.add.reduceat(Ws, starts, axis=0) if starts.size < length else Ws
        return Ws, starts, sizes

    def __call__(self, Wt: np.ndarray, N: np.ndarray, totals: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Captures for each column of ``Wt`` (customers x resamples); ``N`` its column sums and
        ``totals[name]`` the values' weighted totals."""
        n = Wt.shape[0]
        k = self.share * N
        length, n_groups = self.head
        Ws, starts, sizes = self._head(Wt, length, n_groups)
        if length < n and np.any(sizes.sum(axis=0) < k):
            length, n_groups = n, self.starts.size
            Ws, starts, sizes = self._head(Wt, length, n_groups)
        before = np.cumsum(sizes, axis=0) - sizes
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(sizes > 0, np.clip((k - before) / sizes, 0.0, 1.0), 0.0)
            out = {}
            for name, v in self.sorted_values.items():
                weighted = Ws * v[:length, None]
                head = np.add.reduceat(weighted, starts, axis=0) if starts.size < length else weighted
                total = totals[name]
                out[name] = np.where(total != 0, (frac * head).sum(axis=0) / total, np.nan)
        return out


class _Engine:
    """All bootstrapped metrics of all models as functions of counts ``Wt`` (customers x resamples):
    one matrix product for the sums, one :class:`_Capture` per distinct ranking."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], share: float):
        self.models = list(frames)
        first = next(iter(frames.values()))
        self.n = len(first)
        actual = first["frequency_holdout"].to_numpy(dtype=np.float64)
        revenue = first["actual_revenue"].to_numpy(dtype=np.float64) if "actual_revenue" in first.columns else None
        cols: list[np.ndarray] = []
        # (model index, prefix, target, first column of the model's sums, first column of the target's sums)
        self.blocks: list[tuple[int, str, str, int, int]] = []
        self.targets: dict[str, int] = {}
        self.tol: dict[object, float] = {}   # variances at or below this are zero: no correlation
        for target, a in (("purchases", actual), ("revenue", revenue)):
            if a is None:
                continue
            ac = a - a.mean()
            self.targets[target] = len(cols)
            self.tol[target] = 1e-12 * float(np.mean(ac * ac)) if np.ptp(a) > 0 else np.inf
            cols += [a, ac, ac * ac]
        self.captures: list[tuple[int, _Capture]] = []
        for j, frame in enumerate(frames.values()):
            p = frame["expected_purchases"].to_numpy(dtype=np.float64)
            pairs = [("", "purchases", p)]
            if revenue is not None and "expected_revenue" in frame.columns:
                pairs.append(("revenue_", "revenue", frame["expected_revenue"].to_numpy(dtype=np.float64)))
            for prefix, target, pred in pairs:
                a = actual if target == "purchases" else revenue
                e = pred - a
                pc = pred - pred.mean()
                self.tol[(j, prefix)] = 1e-12 * float(np.mean(pc * pc)) if np.ptp(pred) > 0 else np.inf
                self.blocks.append((j, prefix, target, len(cols), self.targets[target]))
                cols += [np.abs(e), e * e, e, pc, pc * pc, pc * (a - a.mean())]
            rev_score = pairs[1][2] if len(pairs) > 1 else p
            if revenue is None:
                self.captures.append((j, _Capture(p, {"purchases_top_capture": actual}, share)))
            elif np.array_equal(rev_score, p):
                self.captures.append((j, _Capture(p, {"purchases_top_capture": actual,
                                                      "revenue_top_capture": revenue}, share)))
            else:
                self.captures.append((j, _Capture(p, {"purchases_top_capture": actual}, share)))
                self.captures.append((j, _Capture(rev_score, {"revenue_top_capture": revenue}, share)))
        self.XT = np.ascontiguousarray(np.column_stack(cols).T)
        names = ["aggregate_error_pct", "mae", "rmse", "correlation", "purchases_top_capture"]
        if revenue is not None:
            names += ["revenue_error_pct", "revenue_mae", "revenue_correlation", "revenue_top_capture"]
        self.metrics = names

    def __call__(self, Wt: np.ndarray) -> np.ndarray:
        """``(b, n_metrics, n_models)`` metric values, NaN where a metric is undefined."""
        out = np.full((Wt.shape[1], len(self.metrics), len(self.models)), np.nan)
        S = self.XT @ Wt
        N = Wt.sum(axis=0)
        pos = {m: i for i, m in enumerate(self.metrics)}
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, prefix, target, c, t in self.blocks:
                a_sum, a_mean = S[t], S[t + 1] / N
                a_var = S[t + 2] / N - a_mean ** 2
                agg = "revenue_error_pct" if prefix else "aggregate_error_pct"
                out[:, pos[agg], j] = np.where(a_sum != 0, 100.0 * S[c + 2] / a_sum, np.nan)
                out[:, pos[prefix + "mae"], j] = S[c] / N
                if not prefix:
                    out[:, pos["rmse"], j] = np.sqrt(S[c + 1] / N)
                p_mean = S[c + 3] / N
                p_var = S[c + 4] / N - p_mean ** 2
                cov = S[c + 5] / N - p_mean * a_mean
                ok = (p_var > self.tol[(j, prefix)]) & (a_var > self.tol[target])
                corr = cov / np.sqrt(np.where(ok, p_var * a_var, 1.0))
                out[:, pos[prefix + "correlation"], j] = np.where(ok, np.clip(corr, -1.0, 1.0), np.nan)
            totals = {"purchases_top_capture": S[self.targets["purchases"]]}
            if "revenue" in self.targets:
                totals["revenue_top_capture"] = S[self.targets["revenue"]]
            for j, capture in self.captures:
                for name, values in capture(Wt, N, totals).items():
                    out[:, pos[name], j] = values
        return out


@dataclass(frozen=True)
class PairedBootstrap:
    """Bootstrap replicates of metrics for several models on the same resamples of customers.

    Attributes
    ----------
    metrics : the metrics, in the order of the second axis of ``values`` / ``replicates``
    models : the model names, in the order of the last axis
    values : ``(n_metrics, n_models)`` the metrics on the full sample
    replicates : ``(n_boot, n_metrics, n_models)`` the metrics on each resample
    interval : the central probability of the reported intervals (e.g. 0.95)
    n_customers : customers in the sample

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> actual = rng.poisson(1.0, 500).astype(float)
    >>> frames = {name: pd.DataFrame({"frequency_holdout": actual, "expected_purchases": actual * k + 0.3})
    ...           for name, k in (("good", 0.9), ("poor", 0.5))}
    >>> boot = paired_bootstrap(frames, n_boot=200, random_state=1)
    >>> boot.replicates.shape, boot.metrics[:3]
    ((200, 5, 2), ('aggregate_error_pct', 'mae', 'rmse'))
    >>> lo, hi = boot.interval_of("mae", "poor", reference="good")   # paired difference poor - good
    >>> bool(lo > 0)
    True
    """

    metrics: tuple[str, ...]
    models: tuple[str, ...]
    values: np.ndarray
    replicates: np.ndarray
    interval: float = 0.95
    n_customers: int = 0

    @property
    def n_boot(self) -> int:
        """Number of resamples."""
        return int(self.replicates.shape[0])

    def _index(self, metric: str, model: str) -> tuple[int, int]:
        if metric not in self.metrics:
            raise ConfigError(f"metric {metric!r} was not bootstrapped; have {list(self.metrics)}", key="metric")
        if model not in self.models:
            raise ConfigError(f"model {model!r} is not in the bootstrap; have {list(self.models)}", key="model")
        return self.metrics.index(metric), self.models.index(model)

    def difference(self, metric: str, model: str, reference: str, *,
                   direction: str | None = None) -> tuple[float, np.ndarray]:
        """(full-sample value, replicates) of ``model``'s metric minus ``reference``'s, resample by
        resample; for signed errors (``direction="abs"``, by default that of :data:`BOOTSTRAP_METRICS`)
        the difference of their absolute values. Positive means ``model`` is worse for "min" and
        "abs" metrics and better for "max" ones.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"frequency_holdout": [0.0, 1.0, 3.0], "expected_purchases": [0.2, 1.1, 2.0]})
        >>> boot = paired_bootstrap({"a": frame, "b": frame}, n_boot=5, random_state=0)
        >>> value, reps = boot.difference("mae", "b", reference="a")    # the same model twice
        >>> value, reps.tolist()
        (0.0, [0.0, 0.0, 0.0, 0.0, 0.0])
        """
        i, j = self._index(metric, model)
        _, r = self._index(metric, reference)
        direction = BOOTSTRAP_METRICS.get(metric) if direction is None else direction
        fn = np.abs if direction == "abs" else (lambda x: x)
        value = float(fn(self.values[i, j]) - fn(self.values[i, r]))
        return value, fn(self.replicates[:, i, j]) - fn(self.replicates[:, i, r])

    def _bounds(self, reps: np.ndarray) -> tuple[float, float]:
        reps = reps[np.isfinite(reps)]
        if reps.size == 0:
            return math.nan, math.nan
        alpha = (1.0 - self.interval) / 2.0
        lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
        return float(lo), float(hi)

    def interval_of(self, metric: str, model: str, reference: str | None = None, *,
                    direction: str | None = None) -> tuple[float, float]:
        """Percentile interval of ``model``'s metric, or of its difference to ``reference``
        (:meth:`difference`, with ``direction``) when given.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"frequency_holdout": [0.0, 1.0, 3.0, 0.0],
        ...                       "expected_purchases": [0.2, 1.1, 2.0, 0.4]})
        >>> boot = paired_bootstrap({"a": frame}, n_boot=100, random_state=0)
        >>> lo, hi = boot.interval_of("mae", "a")
        >>> bool(lo <= boot.value("mae", "a") <= hi)
        True
        """
        if reference is not None:
            return self._bounds(self.difference(metric, model, reference, direction=direction)[1])
        i, j = self._index(metric, model)
        return self._bounds(self.replicates[:, i, j])

    def value(self, metric: str, model: str) -> float:
        """The full-sample value of ``model``'s metric.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"frequency_holdout": [0.0, 2.0], "expected_purchases": [0.5, 1.0]})
        >>> paired_bootstrap({"a": frame}, n_boot=10, random_state=0).value("mae", "a")
        0.75
        """
        i, j = self._index(metric, model)
        return float(self.values[i, j])

    def table(self, reference: str | None = None) -> pd.DataFrame:
        """Tidy table: one row per metric and model with ``value`` (full sample), ``lower`` / ``upper``
        (its interval), ``diff`` / ``diff_lower`` / ``diff_upper`` (the paired difference to
        ``reference`` and its interval, see :meth:`difference`; NaN without a reference) and
        ``direction`` (:data:`BOOTSTRAP_METRICS`).

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"frequency_holdout": [0.0, 2.0, 1.0], "expected_purchases": [0.5, 1.0, 1.0]})
        >>> other = frame.assign(expected_purchases=[0.4, 1.0, 1.0])
        >>> tab = paired_bootstrap({"a": frame, "b": other}, n_boot=50, random_state=0).table(reference="a")
        >>> tab[tab["metric"] == "mae"][["model", "value", "diff"]].round(3)
          model  value   diff
        2     a  0.500  0.000
        3     b  0.467 -0.033
        """
        rows = []
        for metric in self.metrics:
            for model in self.models:
                value = self.value(metric, model)
                if not np.isfinite(value):
                    continue
                lo, hi = self.interval_of(metric, model)
                diff = d_lo = d_hi = math.nan
                if reference is not None and np.isfinite(self.value(metric, reference)):
                    diff = self.difference(metric, model, reference)[0]
                    d_lo, d_hi = (0.0, 0.0) if model == reference else self.interval_of(metric, model, reference)
                rows.append([metric, model, value, lo, hi, diff, d_lo, d_hi, BOOTSTRAP_METRICS.get(metric, "")])
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _aligned(predictions: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if not predictions:
        raise ConfigError("no predictions to bootstrap", key="predictions")
    frames = {str(k): v for k, v in predictions.items()}
    first_name, first = next(iter(frames.items()))
    for col in ("frequency_holdout", "expected_purchases"):
        for name, frame in frames.items():
            if col not in frame.columns:
                raise DataValidationError(f"predictions[{name!r}] has no column {col!r}", column=col)
    out = {}
    for name, frame in frames.items():
        if not frame.index.equals(first.index):
            if len(frame) != len(first) or not frame.index.isin(first.index).all():
                raise DataValidationError(f"predictions[{name!r}] and predictions[{first_name!r}] are not for the "
                                          "same customers: a paired bootstrap needs one set of customers")
            frame = frame.reindex(first.index)
        if not np.array_equal(frame["frequency_holdout"].to_numpy(dtype=np.float64),
                              first["frequency_holdout"].to_numpy(dtype=np.float64)):
            raise DataValidationError(f"predictions[{name!r}] has other holdout purchases than "
                                      f"predictions[{first_name!r}]", column="frequency_holdout")
        for col in ("expected_purchases", "expected_revenue"):
            if col in frame.columns and not np.all(np.isfinite(frame[col].to_numpy(dtype=np.float64))):
                raise DataValidationError(f"predictions[{name!r}][{col!r}] has NaN or infinite values", column=col)
        out[name] = frame
    return out


def paired_bootstrap(predictions: Mapping[str, pd.DataFrame], *, n_boot: int = 1000, interval: float = 0.95,
                     random_state=None, top_share: float = 0.1,
                     max_elements: int = DEFAULT_MAX_ELEMENTS) -> PairedBootstrap:
    """Paired bootstrap of the holdout metrics of several models over the same resamples of customers.

    Parameters
    ----------
    predictions : ``{model name: per-customer table}`` as in ``HoldoutEvaluation.predictions``
        (:func:`clvmodels.evaluate.evaluate`): ``frequency_holdout`` (actual holdout purchases) and
        ``expected_purchases``; with ``actual_revenue`` also the revenue metrics (those of the
        predicted revenue need ``expected_revenue``, which is also the ranking score of
        ``revenue_top_capture`` when present, as in :func:`~clvmodels.evaluate.evaluate`). One set
        of customers for every model.
    n_boot : number of resamples.
    interval : central probability of the percentile intervals.
    random_state : None, a seed or a numpy Generator (the same seed gives the same resamples).
    top_share : the share of customers counted as the top (0.1: top decile).
    max_elements : resamples x customers processed at once (memory bound).

    Returns
    -------
    :class:`PairedBootstrap` with the metrics of :data:`BOOTSTRAP_METRICS` that the columns allow:
    aggregate_error_pct, mae, rmse, correlation, purchases_top_capture (and revenue_error_pct,
    revenue_mae, revenue_correlation, revenue_top_capture). Its full-sample values equal those of
    :func:`~clvmodels.evaluate.evaluate`.

    Examples
    --------
    The BG/NBD and Pareto/NBD estimates of Fader, Hardie & Lee (2005) on the CDNOW sample holdout:

    >>> import clvmodels as clv
    >>> from clvmodels.evaluate import evaluate
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
    >>> frames = {"BG/NBD": evaluate(cal, bg).predictions, "Pareto/NBD": evaluate(cal, pnbd).predictions}
    >>> boot = paired_bootstrap(frames, n_boot=500, random_state=0)
    >>> tab = boot.table(reference="Pareto/NBD").set_index(["metric", "model"])
    >>> tab.loc["mae", ["value", "lower", "upper", "diff", "diff_lower", "diff_upper"]].round(3)
                value  lower  upper   diff  diff_lower  diff_upper
    model
    BG/NBD      0.786  0.737  0.843  0.031       0.026       0.037
    Pareto/NBD  0.755  0.704  0.813  0.000       0.000       0.000
    """
    _check_boot(n_boot, interval)
    if not 0.0 < top_share <= 1.0:
        raise ConfigError(f"top_share must be in (0, 1], got {top_share!r}", key="top_share")
    engine = _Engine(_aligned(predictions), float(top_share))
    with threadpool_limits(1, user_api="blas"):
        values = engine(np.ones((engine.n, 1)))[0]
        reps = np.concatenate([engine(W) for W in bootstrap_counts(engine.n, n_boot, random_state,
                                                                    max_elements=max_elements)])
    return PairedBootstrap(tuple(engine.metrics), tuple(engine.models), values, reps, float(interval), engine.n)


def loglik_bootstrap(loglik: Mapping[str, np.ndarray], n_params: Mapping[str, int], *, n_boot: int = 1000,
                     interval: float = 0.95, random_state=None,
                     max_elements: int = DEFAULT_MAX_ELEMENTS) -> PairedBootstrap:
    """Paired bootstrap of the log-likelihood, AIC and BIC of several models over the same resamples.

    ``loglik`` maps each model to its per-customer log-likelihoods (one customer order for all),
    ``n_params`` to its number of estimated parameters ``k``. On a resample with counts ``w``:
    ``loglik = w @ ll``, ``AIC = 2 k - 2 loglik`` (Akaike 1974) and ``BIC = k ln(n) - 2 loglik``
    (Schwarz 1978), ``n`` the number of customers.

    Examples
    --------
    The log-likelihoods of BG/NBD and Pareto/NBD on the CDNOW sample (-9582.4 and -9595.0 in
    Fader, Hardie & Lee 2005):

    >>> import clvmodels as clv
    >>> cal = clv.datasets.cdnow_summary()
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
    >>> ll = {"BG/NBD": bg.log_likelihood(cal).to_numpy(), "Pareto/NBD": pnbd.log_likelihood(cal).to_numpy()}
    >>> boot = loglik_bootstrap(ll, {"BG/NBD": 4, "Pareto/NBD": 4}, n_boot=500, random_state=0)
    >>> round(boot.value("loglik", "BG/NBD"), 1), round(boot.value("bic", "BG/NBD"), 1)
    (-9582.4, 19195.9)
    >>> round(boot.difference("bic", "Pareto/NBD", reference="BG/NBD")[0], 1)     # 2 x 12.55, four parameters each
    25.1
    """
    _check_boot(n_boot, interval)
    if not loglik:
        raise ConfigError("no log-likelihoods to bootstrap", key="loglik")
    models = [str(m) for m in loglik]
    L = np.column_stack([np.asarray(loglik[m], dtype=np.float64).ravel() for m in loglik])
    if not np.all(np.isfinite(L)):
        raise DataValidationError("a per-customer log-likelihood is NaN or infinite")
    n = L.shape[0]
    k = np.array([float(n_params[m]) for m in loglik])

    def criteria(Wt: np.ndarray) -> np.ndarray:
        ll = Wt.T @ L
        return np.stack([ll, 2.0 * k - 2.0 * ll, k * np.log(n) - 2.0 * ll], axis=1)

    with threadpool_limits(1, user_api="blas"):
        values = criteria(np.ones((n, 1)))[0]
        reps = np.concatenate([criteria(W) for W in bootstrap_counts(n, n_boot, random_state,
                                                                      max_elements=max_elements)])
    return PairedBootstrap(("loglik", "aic", "bic"), tuple(models), values, reps, float(interval), n)
