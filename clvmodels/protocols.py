"""The contract between fitted models and the layers that use them.

Forecasting (:func:`clvmodels.forecast_clv`), evaluation (:func:`clvmodels.evaluate.evaluate`,
:func:`clvmodels.compare_models`), plots and the config-driven pipeline ask a model only what is
written here. The MLE models (:mod:`clvmodels.models`) and the Bayesian ones (:mod:`clvmodels.bayes`)
implement it, and so can a model of your own: nothing else of the model is read.

A purchase model
----------------
* ``param_names`` - its population parameters, in the order its math functions take them;
* ``input_columns`` - the three summary columns its math reads: ``("frequency", "recency", "T")``,
  or ``("frequency", "recency", "n_periods")`` for models of discrete opportunities;
* ``covariate_columns`` - further numeric summary columns it reads per customer (often ``()``);
* ``time_axis`` - ``"continuous"`` (recency and T in a time unit) or ``"opportunities"``;
* ``time_unit_`` - the time unit of the summary it was fitted on, or None when unknown;
* ``math`` - a namespace (a module, or any object) of vectorised numpy functions, parameters first
  (each an array broadcasting against the data), described by :class:`PurchaseMath`;
* ``check_fitted()`` - raises :class:`~clvmodels.errors.NotFittedError` before ``fit``;
* ``parameter_draws(n_draws, random_state)`` - a :class:`ParameterDraws`;
* ``customer_parameters(params, covariates)`` - maps population parameters to each customer's
  (identity without covariates).

A purchase model with per-customer posteriors
---------------------------------------------
Some models have no population-level formula for a customer's future: the Pareto/GGG
(:class:`clvmodels.bayes.ParetoGGG`) samples every fitted customer's own latent k, lambda, mu, and
its future purchases (a Gamma renewal process) have no closed form. Such a model implements
:class:`CustomerDrawsModel` instead of ``math``: ``param_names``, ``input_columns``, ``time_axis``,
``covariate_columns``, ``time_unit_``, ``check_fitted()``, ``parameter_draws(...)`` as above, and

* ``customer_draws(summary, steps, *, n_draws=None, random_state=None)`` - a :class:`CustomerDraws`
  for the customers of ``summary`` (a block of rows: the forecast calls it chunk by chunk, so its
  memory stays within ``forecast_clv``'s ``max_memory``): per customer and draw, P(alive now), and
  given alive now the expected cumulative purchases and P(alive) at each ``steps`` (the forecast's
  period ends, in the model's time unit), and P(no purchase up to the last step). Draw ``j`` is draw
  ``j`` of ``parameter_draws(n_draws)`` (both thinned by :func:`thin_index`), so a Bayesian spend
  model's draws pair with it as with any other model. Customers it cannot predict (for the
  Pareto/GGG: not in the fitted summary, or with another history) are a
  :class:`~clvmodels.errors.DataValidationError` naming them.

Optionally, for the population curves of the evaluation and the plots:
``new_customer_purchases(t, *, n_draws=None, random_state=None)`` (``(S, len(t))``: E[X(t)] of a
customer born at 0, per draw) and ``new_customer_count_probabilities(T, max_frequency, *,
n_draws=None, random_state=None)`` (``(S, len(T), max_frequency + 1)``: P(X(T) = n), the last bin
open). :func:`require_purchase_model` accepts either kind; :func:`clvmodels.forecast_clv`,
:func:`clvmodels.evaluate.evaluate` and the plots ask a :class:`CustomerDrawsModel` through these
methods and never read its ``math``.

A spend model
-------------
``param_names``, ``input_columns`` (e.g. ``("frequency", "monetary_value")``), ``math`` (a
:class:`SpendMath`), ``check_fitted()``, ``parameter_draws(...)`` and ``spend_inputs(frame)``: the
per-customer inputs of ``math.conditional_expected_spend`` after the model's own rules (e.g. what
Gamma-Gamma does with repeat buyers whose purchases were free).

Shapes
------
Population parameters are arrays with the draws on the first axis, ``(S,)`` for a scalar parameter
(``(S, k)`` for a vector such as covariate coefficients). :meth:`PurchaseModel.customer_parameters`
returns, per name in ``param_names``, an array that broadcasts to ``(n_customers, S)``: ``(1, S)``
when every customer shares the parameters. The math functions are called with those arrays and
the data as ``(n_customers, 1)`` columns (or ``(n, 1, 1)`` with a third axis for periods).

Examples
--------
>>> import clvmodels as clv
>>> from clvmodels.protocols import PurchaseModel, SpendModel
>>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
>>> isinstance(bg, PurchaseModel), isinstance(clv.GammaGamma(), SpendModel)
(True, True)
>>> draws = bg.parameter_draws()
>>> draws.n_draws, round(float(draws.estimate["r"]), 3)
(0, 0.243)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["PurchaseModel", "SpendModel", "PurchaseMath", "SpendMath", "ParameterDraws", "TIME_AXES",
           "CustomerDraws", "CustomerDrawsModel", "thin_index", "require_purchase_model", "require_spend_model"]

TIME_AXES = ("continuous", "opportunities")


def thin_index(total: int, n: int | None) -> np.ndarray:
    """Positions of at most ``n`` of ``total`` draws, evenly spaced (all when ``n`` is None or not smaller):
    how :meth:`ParameterDraws.thinned` and :meth:`CustomerDrawsModel.customer_draws` pick draws.

    Examples
    --------
    >>> thin_index(5, 3).tolist(), thin_index(3, None).tolist()
    ([0, 2, 4], [0, 1, 2])
    """
    if n is None or n >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, int(n)).round().astype(np.int64))


@dataclass(frozen=True)
class ParameterDraws:
    """Population parameters of a fitted model: a point estimate and/or draws.

    Attributes
    ----------
    draws : name -> array with ``S`` draws on the first axis (``S`` may be 0). Posterior draws of
        a Bayesian model, or draws from the asymptotic normal of an MLE model's log-parameters.
    estimate : name -> the point estimate (MLE), or None (Bayesian models: the point of a
        prediction is its posterior mean over the draws).
    kind : ``"mle"``, ``"posterior"`` or a name of your own; reported, never branched on.

    Examples
    --------
    >>> import numpy as np
    >>> d = ParameterDraws({"p": np.array([1.0, 2.0, 3.0])}, estimate=None, kind="posterior")
    >>> d.n_draws, d.stacked()["p"].tolist(), d.thinned(2).draws["p"].tolist()
    (3, [1.0, 2.0, 3.0], [1.0, 3.0])
    """

    draws: Mapping[str, np.ndarray]
    estimate: Mapping[str, np.ndarray] | None = None
    kind: str = "mle"

    @property
    def n_draws(self) -> int:
        """Number of draws ``S`` (0: a point estimate only)."""
        return int(len(next(iter(self.draws.values())))) if self.draws else 0

    @property
    def has_estimate(self) -> bool:
        return self.estimate is not None

    def stacked(self, with_estimate: bool = False) -> dict[str, np.ndarray]:
        """name -> ``(S', ...)`` float arrays: the draws, preceded by the estimate when asked."""
        out = {}
        for name, values in self.draws.items():
            arr = np.asarray(values, dtype=np.float64)
            if with_estimate:
                if self.estimate is None:
                    raise ValueError("these parameters have no point estimate (posterior draws)")
                est = np.asarray(self.estimate[name], dtype=np.float64)[None, ...]
                arr = np.concatenate([est, arr.reshape((len(arr),) + est.shape[1:])], axis=0)
            out[name] = arr
        return out

    def thinned(self, n: int | None) -> ParameterDraws:
        """At most ``n`` draws, evenly spaced (all when ``n`` is None or not smaller)."""
        S = self.n_draws
        if n is None or n >= S:
            return self
        idx = thin_index(S, n)
        return ParameterDraws({k: np.asarray(v)[idx] for k, v in self.draws.items()}, self.estimate, self.kind)


@runtime_checkable
class PurchaseMath(Protocol):
    """The vectorised functions a purchase model's forecasts need (parameters first, in
    ``param_names`` order; every argument an array that broadcasts with the others).

    Required: ``p_alive(*params, x, t_x, T)``; ``conditional_expected_purchases(*params, x, t_x, T, t)``
    (expected purchases in (T, T+t] given the history); ``expected_purchases_new(*params, t)``
    (E[X(t)] of a customer born at 0); ``p_alive_ahead(*params, x, T, t)`` (P(alive at T+t | alive
    at T, x, T)); ``p_no_purchase_ahead(*params, x, T, t)`` (P(no purchase in (T, T+t] | alive at T,
    x, T)). For models of opportunities ``T`` is ``n_periods`` and ``t`` a whole number of
    opportunities.

    Optional: ``p_purchases(*params, n, t)`` (P(X(t) = n), new customer; the period-transaction
    histogram), ``dert(*params, x, t_x, T, rate)`` (discounted expected residual transactions;
    ``rate`` is the continuously compounded rate per time unit, or the effective rate per
    opportunity), and fast paths ``p_alive_grid``, ``alive_factors``, ``dert_grid`` (see
    :mod:`clvmodels.math.bgnbd`, :mod:`clvmodels.math.paretonbd`) and ``ahead_given_alive(*params, x, T, t)``
    (the pair (E[X(T, T+t) | alive at T], P(alive at T+t | alive at T)) in one call, see
    :mod:`clvmodels.math.cnbdk`).

    Optional flag ``ahead_needs_recency`` (default False): True when the future of a customer alive
    now depends on the time since the last purchase, not only on (x, T) - the (M)BG/CNBD-k with k > 1,
    whose Erlang clock has a phase (:mod:`clvmodels.math.cnbdk`). ``p_alive_ahead`` and
    ``p_no_purchase_ahead`` then take ``t_x=`` (keyword), and the forecast evaluates every "given
    alive" quantity at each customer's own recency.

    Examples
    --------
    A model's ``math`` is a namespace of plain numpy functions, parameters first:

    >>> import clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> isinstance(bg.math, PurchaseMath)
    True
    >>> params = bg.params_.tolist()                 # r, alpha, a, b (param_names order)
    >>> # x=2, t_x=30.43, T=38.86: 1.226 purchases in the next 39 weeks (Fader, Hardie & Lee 2005)
    >>> round(float(bg.math.conditional_expected_purchases(*params, 2, 30.43, 38.86, 39)), 3)
    1.226
    >>> round(float(bg.math.p_alive(*params, 2, 30.43, 38.86)), 3)
    0.727
    """

    def p_alive(self, *args: Any) -> Any: ...
    def conditional_expected_purchases(self, *args: Any) -> Any: ...
    def expected_purchases_new(self, *args: Any) -> Any: ...
    def p_alive_ahead(self, *args: Any) -> Any: ...
    def p_no_purchase_ahead(self, *args: Any) -> Any: ...


@runtime_checkable
class SpendMath(Protocol):
    """``conditional_expected_spend(*params, *inputs)`` (expected spend per purchase given the
    inputs of :meth:`SpendModel.spend_inputs`) and ``expected_spend_new(*params)``.

    Examples
    --------
    >>> import clvmodels as clv
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> isinstance(gg.math, SpendMath)
    True
    >>> p, q, v = gg.params_.tolist()
    >>> # two repeat purchases of 22.35 on average (customer 1 of CDNOW), and a new customer: p v / (q - 1)
    >>> spend = gg.math.conditional_expected_spend(p, q, v, 2, 22.35), gg.math.expected_spend_new(p, q, v)
    >>> [round(float(s), 2) for s in spend]
    [24.66, 35.22]
    """

    def conditional_expected_spend(self, *args: Any) -> Any: ...
    def expected_spend_new(self, *args: Any) -> Any: ...


@runtime_checkable
class PurchaseModel(Protocol):
    """A fitted purchase model as the other layers see it (see the module docstring).

    The check is structural (``isinstance`` works on any object with the right attributes), so a
    model of your own qualifies without subclassing anything. ``isinstance`` only sees attribute
    names, not what ``math`` can do: the MLE spend models pass it too (they share the base class).
    :func:`require_purchase_model` also checks ``math`` against :class:`PurchaseMath`.

    Examples
    --------
    >>> import clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> gg = clv.GammaGamma()
    >>> isinstance(bg, PurchaseModel), isinstance(gg, PurchaseModel), isinstance(gg.math, PurchaseMath)
    (True, True, False)
    >>> bg.param_names, bg.input_columns, bg.time_axis, bg.time_unit_
    (('r', 'alpha', 'a', 'b'), ('frequency', 'recency', 'T'), 'continuous', 'W')
    """

    param_names: tuple[str, ...]
    input_columns: tuple[str, ...]
    time_axis: str
    math: Any

    @property
    def covariate_columns(self) -> tuple[str, ...]: ...

    def check_fitted(self) -> None: ...

    def parameter_draws(self, n_draws: int | None = None, random_state: Any = None) -> ParameterDraws: ...

    def customer_parameters(self, params: Mapping[str, np.ndarray],
                            covariates: np.ndarray | None = None) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class CustomerDraws:
    """Per-customer draws of what a forecast needs, for a block of ``n`` customers, ``S`` draws and ``K``
    steps (:meth:`CustomerDrawsModel.customer_draws`).

    Attributes
    ----------
    p_alive : (n, S) P(alive now | history, draw).
    expected_purchases : (n, S, K) E[X(T, T + steps[k]) | alive now, draw], cumulative (non-decreasing in k).
    alive_ahead : (n, S, K) P(alive at T + steps[k] | alive now, draw).
    no_purchase : (n, S) P(no purchase in (T, T + steps[-1]] | alive now, draw).

    Examples
    --------
    >>> import numpy as np
    >>> d = CustomerDraws(np.ones((2, 3)), np.zeros((2, 3, 4)), np.ones((2, 3, 4)), np.ones((2, 3)))
    >>> d.n_customers, d.n_draws, d.n_steps
    (2, 3, 4)
    """

    p_alive: np.ndarray
    expected_purchases: np.ndarray
    alive_ahead: np.ndarray
    no_purchase: np.ndarray

    @property
    def n_customers(self) -> int:
        return int(self.p_alive.shape[0])

    @property
    def n_draws(self) -> int:
        return int(self.p_alive.shape[1])

    @property
    def n_steps(self) -> int:
        return int(self.expected_purchases.shape[2])


@runtime_checkable
class CustomerDrawsModel(Protocol):
    """A fitted purchase model whose predictions come per customer and draw (see the module docstring):
    the Pareto/GGG. The check is structural, like :class:`PurchaseModel`'s.

    Examples
    --------
    >>> import clvmodels as clv
    >>> isinstance(clv.bayes.ParetoGGG(), CustomerDrawsModel), isinstance(clv.BGNBD(), CustomerDrawsModel)
    (True, False)
    """

    param_names: tuple[str, ...]
    input_columns: tuple[str, ...]
    time_axis: str

    @property
    def covariate_columns(self) -> tuple[str, ...]: ...

    def check_fitted(self) -> None: ...

    def parameter_draws(self, n_draws: int | None = None, random_state: Any = None) -> ParameterDraws: ...

    def customer_draws(self, summary: pd.DataFrame, steps: np.ndarray, *, n_draws: int | None = None,
                       random_state: Any = None) -> CustomerDraws: ...


@runtime_checkable
class SpendModel(Protocol):
    """A fitted spend model as the other layers see it (see the module docstring).

    Examples
    --------
    >>> import clvmodels as clv
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> isinstance(gg, SpendModel), gg.input_columns
    (True, ('frequency', 'monetary_value'))
    >>> x, m = gg.spend_inputs(clv.datasets.cdnow_summary().loc[[1, 2, 3]])   # the inputs of math
    >>> x.tolist(), m.tolist()
    ([2.0, 1.0, 0.0], [22.35, 11.77, 0.0])
    """

    param_names: tuple[str, ...]
    input_columns: tuple[str, ...]
    math: Any

    def check_fitted(self) -> None: ...

    def parameter_draws(self, n_draws: int | None = None, random_state: Any = None) -> ParameterDraws: ...

    def spend_inputs(self, frame: pd.DataFrame) -> tuple[np.ndarray, ...]: ...


def require_purchase_model(model: Any, key: str = "purchase") -> PurchaseModel:
    """``model`` if it implements :class:`PurchaseModel` or :class:`CustomerDrawsModel` (and is fitted), else a
    ConfigError naming ``key``.

    An unfitted model raises :class:`~clvmodels.errors.NotFittedError` (from its ``check_fitted``).

    Examples
    --------
    >>> import clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> require_purchase_model(bg) is bg
    True
    >>> try:
    ...     require_purchase_model(clv.GammaGamma(), key="models.purchase")
    ... except clv.errors.ConfigError as exc:
    ...     print(exc.key, "|", str(exc)[:60])
    models.purchase | models.purchase=GammaGamma is not a purchase model: it needs
    """
    from .errors import ConfigError

    per_customer = isinstance(model, CustomerDrawsModel)
    if not per_customer and (not isinstance(model, PurchaseModel) or not isinstance(model.math, PurchaseMath)):
        raise ConfigError(f"{key}={type(model).__name__} is not a purchase model: it needs param_names, "
                          "input_columns, time_axis, covariate_columns, math (p_alive, "
                          "conditional_expected_purchases, expected_purchases_new, p_alive_ahead, "
                          "p_no_purchase_ahead), check_fitted, parameter_draws and customer_parameters "
                          "(clvmodels.protocols.PurchaseModel), or customer_draws instead of math and "
                          "customer_parameters (clvmodels.protocols.CustomerDrawsModel)", key=key)
    if model.time_axis not in TIME_AXES:
        raise ConfigError(f"{type(model).__name__}.time_axis={model.time_axis!r}; use one of {list(TIME_AXES)}",
                          key=key)
    model.check_fitted()
    return model


def require_spend_model(model: Any, key: str = "spend") -> SpendModel:
    """``model`` if it implements :class:`SpendModel` (and is fitted), else a ConfigError naming ``key``.

    An unfitted model raises :class:`~clvmodels.errors.NotFittedError` (from its ``check_fitted``).

    Examples
    --------
    >>> import clvmodels as clv
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> require_spend_model(gg) is gg
    True
    >>> try:
    ...     require_spend_model(clv.GammaGamma())
    ... except clv.errors.NotFittedError as exc:
    ...     print(exc)
    This GammaGamma is not fitted yet: call fit(summary) or GammaGamma.from_params(...) first.
    """
    from .errors import ConfigError

    if not isinstance(model, SpendModel) or not isinstance(model.math, SpendMath):
        raise ConfigError(f"{key}={type(model).__name__} is not a spend model: it needs param_names, "
                          "input_columns, math (conditional_expected_spend, expected_spend_new), check_fitted, "
                          "parameter_draws and spend_inputs (clvmodels.protocols.SpendModel)", key=key)
    model.check_fitted()
    return model
