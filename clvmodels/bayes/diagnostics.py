"""Sampler diagnostics, checked after every NUTS fit and surfaced as typed warnings.

Checks (thresholds are settings of every Bayesian model, ``diagnostics={...}``):

* ``r_hat_max`` (1.01): rank-normalised split R-hat of Vehtari et al. (2021), per parameter;
* ``ess_bulk_min`` / ``ess_tail_min`` (400 each): bulk and tail effective sample size;
* ``max_divergences`` (0): divergent transitions, over all chains;
* ``bfmi_min`` (0.3): Bayesian fraction of missing information, per chain (Betancourt 2016).

Every failed check emits one :class:`SamplingDiagnosticWarning` that names the parameter (or
chain), the statistic, its value and the threshold crossed; the same facts are kept on the model
as ``diagnostics_`` (a DataFrame per parameter) and ``diagnostic_problems_`` (a list).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, ConvergenceWarning

__all__ = ["SamplingDiagnosticWarning", "DEFAULT_THRESHOLDS", "DiagnosticProblem", "check_thresholds",
           "run_diagnostics"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "r_hat_max": 1.01,
    "ess_bulk_min": 400.0,
    "ess_tail_min": 400.0,
    "max_divergences": 0.0,
    "bfmi_min": 0.3,
}


class SamplingDiagnosticWarning(ConvergenceWarning):
    """A sampler diagnostic crossed its threshold.

    Attributes: ``parameter`` (e.g. ``'alpha'`` or ``'purchase_coef[channel_web]'``; ``'chain 2'`` for
    BFMI; ``'all chains'`` for divergences), ``statistic`` (``'r_hat'``, ``'ess_bulk'``,
    ``'ess_tail'``, ``'divergences'``, ``'bfmi'``), ``value`` and ``threshold``.

    Examples
    --------
    >>> import warnings
    >>> from clvmodels.bayes.diagnostics import SamplingDiagnosticWarning
    >>> w = SamplingDiagnosticWarning("r_hat of 'alpha' is 1.05, above the threshold 1.01", parameter="alpha",
    ...                               statistic="r_hat", value=1.05, threshold=1.01)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(w)
    >>> found = caught[0].message
    >>> found.parameter, found.statistic, found.value, found.threshold
    ('alpha', 'r_hat', 1.05, 1.01)
    >>> import clvmodels as clv
    >>> issubclass(SamplingDiagnosticWarning, clv.errors.ConvergenceWarning)     # filter either
    True
    """

    def __init__(self, message: str, *, parameter: str, statistic: str, value: float, threshold: float):
        super().__init__(message)
        self.parameter = parameter
        self.statistic = statistic
        self.value = value
        self.threshold = threshold


@dataclass(frozen=True)
class DiagnosticProblem:
    """One failed check of :func:`run_diagnostics`: the ``parameter`` (or chain) concerned, the
    ``statistic``, its ``value``, the ``threshold`` crossed and the warning's ``message``.

    Examples
    --------
    One failed check, as listed in a model's ``diagnostic_problems_`` (and warned about):

    >>> from clvmodels.bayes.diagnostics import DiagnosticProblem
    >>> p = DiagnosticProblem("chain 2", "bfmi", 0.21, 0.3, "bfmi of 'chain 2' is 0.21, below the threshold 0.3")
    >>> p.parameter, p.statistic, p.value < p.threshold
    ('chain 2', 'bfmi', True)
    """

    parameter: str
    statistic: str
    value: float
    threshold: float
    message: str


_ADVICE = {
    "r_hat": "chains disagree: increase tune/draws, or check the priors and the data",
    "ess_bulk": "too few effective draws for means/sds: increase draws (or tune)",
    "ess_tail": "too few effective draws for intervals: increase draws (or tune)",
    "divergences": "the sampler hit regions it cannot explore: raise target_accept (e.g. 0.95) or tighten priors",
    "bfmi": "the momentum resampling explores energy poorly: increase tune or reparameterise",
}


def check_thresholds(thresholds: dict[str, Any] | None) -> dict[str, float]:
    """Defaults updated with the user's; unknown keys are a :class:`ConfigError`.

    Examples
    --------
    >>> from clvmodels.bayes.diagnostics import check_thresholds
    >>> check_thresholds({"r_hat_max": 1.05, "max_divergences": 5})
    {'r_hat_max': 1.05, 'ess_bulk_min': 400.0, 'ess_tail_min': 400.0, 'max_divergences': 5.0, 'bfmi_min': 0.3}
    >>> check_thresholds({"rhat": 1.05})
    Traceback (most recent call last):
        ...
    clvmodels.errors.ConfigError: unknown diagnostic threshold 'rhat'; known: ['bfmi_min', ..., 'r_hat_max']
    """
    out = dict(DEFAULT_THRESHOLDS)
    for k, v in (thresholds or {}).items():
        if k not in DEFAULT_THRESHOLDS:
            raise ConfigError(f"unknown diagnostic threshold {k!r}; known: {sorted(DEFAULT_THRESHOLDS)}",
                              key=f"diagnostics.{k}")
        try:
            out[k] = float(v)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"diagnostic threshold {k!r} must be a number, got {v!r}",
                              key=f"diagnostics.{k}") from err
    return out


def _label(var: str, sel: dict[str, Any]) -> str:
    if not sel:
        return var
    return f"{var}[{', '.join(str(v) for v in sel.values())}]"


def run_diagnostics(idata, var_names: list[str], thresholds: dict[str, float], *, warn: bool = True,
                    stacklevel: int = 3) -> tuple[pd.DataFrame, list[DiagnosticProblem]]:
    """Compute R-hat, bulk/tail ESS, divergences and BFMI; warn for every threshold crossed.

    Returns ``(table, problems)``: one row per scalar parameter (columns r_hat, ess_bulk, ess_tail)
    and the list of problems (also emitted as warnings when ``warn``).

    Examples
    --------
    The thresholds checked by default (``diagnostics={...}`` of a model overrides them):

    >>> from clvmodels.bayes.diagnostics import DEFAULT_THRESHOLDS, run_diagnostics
    >>> DEFAULT_THRESHOLDS
    {'r_hat_max': 1.01, 'ess_bulk_min': 400.0, 'ess_tail_min': 400.0, 'max_divergences': 0.0, 'bfmi_min': 0.3}

    On an ArviZ InferenceData (importing ArviZ takes seconds, so not run here): two chains that
    disagree on ``alpha`` give a large R-hat, a warning and a problem:

    >>> import arviz as az                                             # doctest: +SKIP
    >>> rng = np.random.default_rng(0)                                 # doctest: +SKIP
    >>> alpha = rng.normal(size=(2, 500)) + np.array([[0.0], [3.0]])     # doctest: +SKIP
    >>> idata = az.from_dict(posterior={"alpha": alpha, "r": rng.normal(size=(2, 500))})   # doctest: +SKIP
    >>> table, problems = run_diagnostics(idata, ["r", "alpha"], DEFAULT_THRESHOLDS)   # doctest: +SKIP
    >>> [(p.parameter, p.statistic) for p in problems]                 # doctest: +SKIP
    [('alpha', 'r_hat'), ('alpha', 'ess_bulk'), ('alpha', 'ess_tail')]
    """
    import arviz as az

    post = idata.posterior[var_names]
    rhat = az.rhat(post)
    ess_b = az.ess(post, method="bulk")
    ess_t = az.ess(post, method="tail")
    rows = []
    for var in var_names:
        da = rhat[var]
        if da.ndim == 0:
            sels = [{}]
        else:
            stacked = da.stack(_flat=da.dims)
            sels = [dict(zip(da.dims, (v if isinstance(v, tuple) else (v,)))) for v in stacked["_flat"].values]
        for sel in sels:
            rows.append({
                "parameter": _label(var, sel),
                "r_hat": float(rhat[var].sel(sel)),
                "ess_bulk": float(ess_b[var].sel(sel)),
                "ess_tail": float(ess_t[var].sel(sel)),
            })
    table = pd.DataFrame(rows).set_index("parameter")
    problems: list[DiagnosticProblem] = []
    n_chains = int(post.sizes["chain"])

    def add(param: str, stat: str, value: float, thr: float, rel: str) -> None:
        msg = (f"{stat} of {param!r} is {value:.4g}, {rel} the threshold {thr:g}: {_ADVICE[stat]}")
        problems.append(DiagnosticProblem(param, stat, value, thr, msg))

    for param, row in table.iterrows():
        if n_chains > 1 or np.isfinite(row.r_hat):
            if not np.isfinite(row.r_hat) or row.r_hat > thresholds["r_hat_max"]:
                add(str(param), "r_hat", row.r_hat, thresholds["r_hat_max"], "above")
        if not np.isfinite(row.ess_bulk) or row.ess_bulk < thresholds["ess_bulk_min"]:
            add(str(param), "ess_bulk", row.ess_bulk, thresholds["ess_bulk_min"], "below")
        if not np.isfinite(row.ess_tail) or row.ess_tail < thresholds["ess_tail_min"]:
            add(str(param), "ess_tail", row.ess_tail, thresholds["ess_tail_min"], "below")
    stats = getattr(idata, "sample_stats", None)
    n_div = 0
    if stats is not None and "diverging" in stats:
        n_div = int(np.asarray(stats["diverging"]).sum())
        if n_div > thresholds["max_divergences"]:
            add("all chains", "divergences", float(n_div), thresholds["max_divergences"], "above")
    bfmi = np.full(n_chains, np.nan)
    if stats is not None and "energy" in stats:
        bfmi = np.atleast_1d(np.asarray(az.bfmi(idata), dtype=float))
        for c, val in enumerate(bfmi):
            if val < thresholds["bfmi_min"]:
                add(f"chain {c}", "bfmi", float(val), thresholds["bfmi_min"], "below")
    table.attrs["divergences"] = n_div
    table.attrs["bfmi"] = [float(v) for v in bfmi]
    if warn:
        for p in problems:
            warnings.warn(SamplingDiagnosticWarning(p.message, parameter=p.parameter, statistic=p.statistic,
                                                    value=p.value, threshold=p.threshold), stacklevel=stacklevel)
    return table, problems
