"""Diagnostic and reporting plots (matplotlib).

Every function draws on the ``ax`` it is given (or a new figure) and returns the Axes - or the
Figure for multi-panel plots - without calling ``plt.show()``, so plots work the same in
notebooks, scripts and tests (Agg backend). Styling is left to matplotlib's rc settings.

Model fit and holdout checks (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
Figures 1-4):

* :func:`plot_period_transactions` - calibration histogram of repeat purchases, actual vs model;
* :func:`plot_tracking` - weekly or cumulative repeat purchases of the cohort, actual vs model;
* :func:`plot_conditional_expectations` - holdout purchases by calibration frequency;
* :func:`plot_frequency_recency_matrix` / :func:`plot_probability_alive_matrix` - heat maps of
  expected purchases and P(alive) over (recency, frequency);
* :func:`plot_spend_calibration` - predicted vs actual mean holdout spend;
* :func:`plot_revenue_capture` - share of holdout revenue captured by the top of each model's
  ranking (the lift / Gini view);

Value and uncertainty:

* :func:`plot_posterior` - marginal posteriors of a Bayesian model's parameters;
* :func:`plot_clv_intervals` - per-customer CLV with its interval;
* :func:`plot_clv_distribution` - histogram of CLV;
* :func:`plot_whale_curve` - cumulative margin by customer rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import CLVError, ConfigError, DataValidationError, MissingColumnError

__all__ = [
    "plot_period_transactions",
    "plot_tracking",
    "plot_conditional_expectations",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_spend_calibration",
    "plot_revenue_capture",
    "plot_posterior",
    "plot_clv_intervals",
    "plot_clv_distribution",
    "plot_whale_curve",
]

_ADVERBS = {"D": "Daily", "W": "Weekly", "M": "Monthly", "Y": "Yearly"}
_UNIT_NAMES = {"D": "day", "W": "week", "M": "month", "Y": "year"}


def _axes(ax=None, figsize=(7.0, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _name(model) -> str:
    return type(model).__name__


def _evaluations(obj) -> dict:
    """HoldoutEvaluation / ModelComparison / mapping / list -> {name: HoldoutEvaluation}."""
    from .evaluate import HoldoutEvaluation, ModelComparison

    if isinstance(obj, HoldoutEvaluation):
        return {obj.name: obj}
    if isinstance(obj, ModelComparison):
        return dict(obj.evaluations)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        return {e.name: e for e in obj}
    raise DataValidationError(f"expected a HoldoutEvaluation, a ModelComparison or a list of evaluations, got "
                              f"{type(obj).__name__}")


# ------------------------------------------------------------------------------------------------
# fit and holdout checks
# ------------------------------------------------------------------------------------------------
def plot_period_transactions(model, summary: pd.DataFrame, *, max_frequency: int = 7, ax=None):
    """Number of customers with 0, 1, ..., ``max_frequency``+ repeat purchases in the calibration
    period: actual (from ``summary``) next to the model's expectation ``sum_i P(X(T_i) = k)``
    (Fader, Hardie & Lee 2005, Figure 1). Returns the Axes; ``ax.containers`` holds the two bar
    groups (actual first).

    Examples
    --------
    The published BG/NBD estimates on the CDNOW calibration weeks (FHL 2005, Figure 1):

    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary()
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> ax = plot_period_transactions(bg, summary)
    >>> ax.get_title(), len(ax.containers)
    ('Frequency of repeat purchases: actual vs model', 2)
    >>> [int(bar.get_height()) for bar in ax.containers[0]]      # actual customers with 0, 1, ..., 7+
    [1411, 439, 214, 100, 62, 38, 29, 64]
    >>> [round(float(bar.get_height()), 1) for bar in ax.containers[1]]    # expected by the model
    [1406.5, 460.8, 192.7, 101.3, 59.9, 38.2, 25.6, 72.0]
    >>> plt.close(ax.figure)
    """
    from .evaluate.metrics import frequency_labels
    from .forecast.predict import Predictor

    for col in ("frequency", "T"):
        if col not in summary.columns:
            raise MissingColumnError(f"the summary has no column {col!r}", column=col)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    f = summary["frequency"].to_numpy(dtype=np.float64)
    actual = pd.Series(frequency_labels(f, max_frequency)).value_counts().reindex(labels, fill_value=0).to_numpy()
    expected = Predictor(model).frequency_histogram(summary, max_frequency)
    ax = _axes(ax)
    x = np.arange(len(labels))
    w = 0.4
    ax.bar(x - w / 2, actual, width=w, label="Actual")
    ax.bar(x + w / 2, expected, width=w, label=_name(model))
    ax.set_xticks(x, labels)
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Customers")
    ax.set_title("Frequency of repeat purchases: actual vs model")
    ax.legend()
    return ax


def plot_tracking(evaluation, *, cumulative: bool = False, ax=None):
    """Repeat purchases of the cohort per period (or cumulated), actual vs expected, with a line at
    the end of the calibration period (Fader, Hardie & Lee 2005, Figures 2 and 3).

    ``evaluation``: a :class:`~clvmodels.evaluate.HoldoutEvaluation` made with a transaction log,
    a :class:`~clvmodels.evaluate.ModelComparison` (one expected line per model), or a table from
    :func:`clvmodels.evaluate.tracking`. Lines (``ax.get_lines()``): actual first, then one per
    model, then the dotted vertical line at the calibration end (when the table has holdout periods).

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
    >>> ev = clv.evaluate.evaluate(cal, pnbd, transactions=tx, name="Pareto/NBD")
    >>> ax = plot_tracking(ev, cumulative=True)
    >>> ax.get_title(), [t.get_text() for t in ax.get_legend().get_texts()]
    ('Cumulative repeat purchases: calibration | holdout', ['Actual', 'Pareto/NBD'])
    >>> round(float(ax.get_lines()[0].get_ydata()[-1]))     # 2457 + 1882 repeat purchases in weeks 1-78
    4339
    >>> plot_tracking(ev).get_ylabel()
    'Repeat purchases per week'
    >>> plt.close("all")
    """
    if isinstance(evaluation, pd.DataFrame):
        tables = {"Model": evaluation}
        period = evaluation.attrs.get("totals", {}).get("period")
    else:
        evals = {k: e for k, e in _evaluations(evaluation).items() if e.tracking is not None}
        if not evals:
            raise DataValidationError("no tracking table: evaluate with transactions=... to get one")
        tables = {k: e.tracking for k, e in evals.items()}
        period = next(iter(evals.values())).settings.get("period")
    first = next(iter(tables.values()))
    ax = _axes(ax)
    col_a = "actual_cumulative" if cumulative else "actual"
    col_e = "expected_cumulative" if cumulative else "expected"
    k = first.index.to_numpy()
    ax.plot(k, first[col_a].to_numpy(), color="black", label="Actual")
    for name, tab in tables.items():
        if col_e in tab.columns:
            ax.plot(tab.index.to_numpy(), tab[col_e].to_numpy(), linestyle="--", label=name)
    holdout = first["holdout"].to_numpy()
    if holdout.any():
        boundary = float(k[np.argmax(holdout)]) - 0.5
        ax.axvline(boundary, color="grey", linestyle=":", linewidth=1)
    unit = _UNIT_NAMES.get(period, "period")
    ax.set_xlabel(f"{unit.capitalize()} since the cohort's first purchase")
    ax.set_ylabel("Cumulative repeat purchases" if cumulative else f"Repeat purchases per {unit}")
    ax.set_title(("Cumulative" if cumulative else _ADVERBS.get(period, "Per-period")) +
                 " repeat purchases: calibration | holdout")
    ax.legend()
    return ax


def plot_conditional_expectations(evaluation, *, ax=None):
    """Average holdout purchases by calibration frequency, actual vs each model's prediction
    (Fader, Hardie & Lee 2005, Figure 4). Lines: actual first, then one per model.

    ``evaluation``: a :class:`~clvmodels.evaluate.HoldoutEvaluation`, a
    :class:`~clvmodels.evaluate.ModelComparison`, a list of evaluations or a mapping
    ``{name: evaluation}``. Returns the Axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> pnbd = clv.ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="W")
    >>> evs = [clv.evaluate.evaluate(cal, bg, name="BG/NBD"), clv.evaluate.evaluate(cal, pnbd, name="Pareto/NBD")]
    >>> ax = plot_conditional_expectations(evs)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['Actual', 'BG/NBD', 'Pareto/NBD']
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['0', '1', '2', '3', '4', '5', '6', '7+']
    >>> plt.close(ax.figure)
    """
    evals = _evaluations(evaluation)
    first = next(iter(evals.values())).conditional_expectations
    ax = _axes(ax)
    x = np.arange(len(first))
    ax.plot(x, first["actual"].to_numpy(), color="black", marker="o", label="Actual")
    for name, ev in evals.items():
        ax.plot(x, ev.conditional_expectations["predicted"].to_numpy(), marker="s", linestyle="--", label=name)
    ax.set_xticks(x, list(first.index))
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Average purchases in the holdout")
    ax.set_title("Conditional expectations: holdout purchases by calibration frequency")
    ax.legend()
    return ax


def _rf_grid(model, T, max_frequency, max_recency, kind, t):
    from .forecast.predict import Predictor
    from .protocols import CustomerDrawsModel

    if isinstance(model, CustomerDrawsModel):
        raise ConfigError(f"{type(model).__name__} predicts the customers it was fitted on, from each one's own "
                          "posterior (their inter-purchase times included), not hypothetical (frequency, recency) "
                          "cells: plot its forecasts instead (plot_clv_intervals, plot_clv_distribution)",
                          key="model")

    f = np.arange(max_frequency + 1, dtype=np.float64)
    r = np.arange(int(np.floor(max_recency)) + 1, dtype=np.float64)
    F, R = np.meshgrid(f, r, indexing="ij")
    valid = ((F == 0) & (R == 0)) | ((F > 0) & (R > 0) & (R <= T))
    frame = pd.DataFrame({"frequency": F[valid], "recency": R[valid], "T": np.full(int(valid.sum()), float(T))},
                         index=pd.RangeIndex(int(valid.sum()), name="customer_id"))
    pred = Predictor(model)
    values = pred.expected_purchases(frame, t) if kind == "expected_purchases" else pred.p_alive(frame)
    grid = np.full(F.shape, np.nan)
    grid[valid] = values
    return grid, f, r


def _heatmap(grid, f, r, ax, title, cbar_label, cmap):
    ax = _axes(ax, figsize=(7.0, 5.0))
    im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap,
                   extent=(r[0] - 0.5, r[-1] + 0.5, f[0] - 0.5, f[-1] + 0.5))
    ax.figure.colorbar(im, ax=ax, label=cbar_label)
    ax.set_xlabel("Recency (time from first to last purchase)")
    ax.set_ylabel("Frequency (repeat purchases)")
    ax.set_title(title)
    return ax


def plot_frequency_recency_matrix(model, *, T: float | None = None, max_frequency: int | None = None,
                                  max_recency: float | None = None, t: float = 1.0, summary: pd.DataFrame | None = None,
                                  ax=None, cmap: str = "viridis"):
    """Heat map of the expected purchases in the next ``t`` time units for a customer observed for
    ``T`` with every (recency, frequency) combination (recency in whole time units). Defaults
    from ``summary``: ``T`` its largest T, ``max_frequency`` its 99th percentile of frequency.
    Impossible cells (frequency 0 with recency > 0, recency > T) are left blank. Returns the Axes
    (the image is ``ax.images[0]``, rows = frequency 0..max_frequency, columns = recency
    0..max_recency; the colour bar is a second Axes of the figure).

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> ax = plot_frequency_recency_matrix(bg, T=38.86, max_frequency=10, t=39)
    >>> ax.get_title()
    'Expected purchases in the next 39 time units (T = 38.86)'
    >>> grid = ax.images[0].get_array()
    >>> grid.shape, round(float(grid[2, 30]), 3)   # x=2, recency 30 (FHL 2005's x=2, t_x=30.43: 1.226)
    ((11, 39), 1.217)
    >>> plt.close(ax.figure)
    """
    T, max_frequency, max_recency = _rf_defaults(T, max_frequency, max_recency, summary)
    grid, f, r = _rf_grid(model, T, max_frequency, max_recency, "expected_purchases", t)
    return _heatmap(grid, f, r, ax, f"Expected purchases in the next {t:g} time units (T = {T:.4g})",
                    "Expected purchases", cmap)


def plot_probability_alive_matrix(model, *, T: float | None = None, max_frequency: int | None = None,
                                  max_recency: float | None = None, summary: pd.DataFrame | None = None, ax=None,
                                  cmap: str = "magma"):
    """Heat map of P(alive) over (recency, frequency) for customers observed for ``T`` (see
    :func:`plot_frequency_recency_matrix`). Returns the Axes.

    Examples
    --------
    With a summary, ``T`` is its largest T and ``max_frequency`` its 99th percentile of frequency:

    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> ax = plot_probability_alive_matrix(bg, summary=clv.datasets.cdnow_summary())
    >>> ax.get_title(), ax.images[0].get_array().shape
    ('Probability alive (T = 38.86)', (11, 39))
    >>> grid = ax.images[0].get_array()
    >>> float(grid[0, 0]), bool(grid.mask[0, 5])      # BG/NBD: no repeat purchase -> alive; impossible cell
    (1.0, True)
    >>> plt.close(ax.figure)
    """
    T, max_frequency, max_recency = _rf_defaults(T, max_frequency, max_recency, summary)
    grid, f, r = _rf_grid(model, T, max_frequency, max_recency, "p_alive", 0.0)
    return _heatmap(grid, f, r, ax, f"Probability alive (T = {T:.4g})", "P(alive)", cmap)


def _rf_defaults(T, max_frequency, max_recency, summary):
    if summary is not None:
        if T is None:
            T = float(summary["T"].max())
        if max_frequency is None:
            max_frequency = int(max(1, np.quantile(summary["frequency"].to_numpy(), 0.99)))
    if T is None or max_frequency is None:
        raise DataValidationError("give T and max_frequency, or a summary to take them from")
    if max_recency is None:
        max_recency = T
    if max_recency > T:
        raise DataValidationError(f"max_recency={max_recency} cannot exceed T={T}")
    return float(T), int(max_frequency), float(max_recency)


def plot_spend_calibration(evaluation, *, ax=None):
    """Predicted vs actual mean holdout spend per purchase by calibration frequency (customers
    with repeat purchases in both periods). Bars: actual, then predicted. Returns the Axes.

    ``evaluation`` is made with a spend model on a summary with ``monetary_value_holdout``
    (the first such evaluation of a list or comparison is drawn).

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> ev = clv.evaluate.evaluate(cal, bg, clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44))
    >>> ax = plot_spend_calibration(ev)
    >>> len(ax.containers), [t.get_text() for t in ax.get_legend().get_texts()]
    (2, ['Actual', 'Predicted (GammaGamma)'])
    >>> [round(float(bar.get_height()), 2) for bar in ax.containers[0]][:2]   # customers with 1, 2 repeat purchases
    [37.71, 37.08]
    >>> plt.close(ax.figure)
    """
    evals = _evaluations(evaluation)
    ev = next((e for e in evals.values() if e.spend_calibration is not None), None)
    if ev is None:
        raise DataValidationError("no spend calibration table: evaluate with a spend model and a summary with "
                                  "monetary_value_holdout")
    tab = ev.spend_calibration
    ax = _axes(ax)
    x = np.arange(len(tab))
    w = 0.4
    ax.bar(x - w / 2, tab["actual"].to_numpy(), width=w, label="Actual")
    ax.bar(x + w / 2, tab["predicted"].to_numpy(), width=w, label=f"Predicted ({ev.settings.get('spend_model')})")
    ax.set_xticks(x, list(tab.index))
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Mean spend per holdout purchase")
    ax.set_title("Spend calibration: predicted vs actual holdout spend")
    ax.legend()
    return ax


def plot_revenue_capture(evaluation, *, max_share: float = 1.0, ax=None):
    """Cumulative share of the actual holdout revenue against the share of customers, ranked by
    each model's predicted value, with the oracle ranking (by the actual revenue) and a random
    ranking for reference. Lines: oracle, random, one per model, then the vertical line at the
    evaluation's ``top_share``. Returns the Axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> tx = clv.datasets.cdnow_transactions(sample=True)
    >>> cal = clv.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> ev = clv.evaluate.evaluate(cal, bg, clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44), name="BG/NBD")
    >>> ax = plot_revenue_capture(ev)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['Oracle (actual revenue)', 'Random', 'BG/NBD']
    >>> plt.close(ax.figure)
    """
    from .evaluate.metrics import lorenz_curve

    evals = _evaluations(evaluation)
    first = next(iter(evals.values()))
    pred0 = first.predictions
    if pred0 is None or "actual_revenue" not in pred0.columns:
        raise DataValidationError("no holdout revenue: the summary needs monetary_value_holdout")
    ax = _axes(ax)
    actual = pred0["actual_revenue"].to_numpy()
    oracle = lorenz_curve(actual, actual)
    ax.plot(oracle["customer_share"], oracle["value_share"], color="black", label="Oracle (actual revenue)")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="Random")
    for name, ev in evals.items():
        p = ev.predictions
        score = p["expected_revenue"] if "expected_revenue" in p.columns else p["expected_purchases"]
        curve = lorenz_curve(score.to_numpy(), p["actual_revenue"].to_numpy())
        ax.plot(curve["customer_share"], curve["value_share"], label=name)
    share = first.settings.get("top_share", 0.1)
    ax.axvline(share, color="grey", linewidth=0.8)
    ax.set_xlim(0, max_share)
    ax.set_xlabel("Share of customers (ranked by predicted value)")
    ax.set_ylabel("Share of holdout revenue")
    ax.set_title("Revenue capture (lift) of the predicted ranking")
    ax.legend(loc="lower right")
    return ax


# ------------------------------------------------------------------------------------------------
# value and uncertainty
# ------------------------------------------------------------------------------------------------
def plot_posterior(model, *, var_names: Sequence[str] | None = None, interval: float = 0.94, bins: int = 40,
                   figsize=None):
    """Marginal posterior of each scalar parameter of a fitted Bayesian model: a histogram of the
    draws with the posterior mean (solid line) and the central ``interval`` (dashed lines). One
    panel per parameter (vector parameters such as covariate coefficients: one panel per
    element). Returns the Figure.

    Examples
    --------
    ``model`` is a fitted :mod:`clvmodels.bayes` model; sampling takes a while, so here a
    Gamma-Gamma gets a stand-in posterior (an ArviZ InferenceData, as ``fit`` stores it):

    >>> import arviz as az, numpy as np, matplotlib.pyplot as plt, clvmodels as clv
    >>> gg = clv.bayes.GammaGamma()             # in practice: clv.bayes.GammaGamma().fit(summary)
    >>> rng = np.random.default_rng(0)
    >>> gg.idata_ = az.from_dict(posterior={"p": rng.normal(6.25, 0.3, (2, 200)),
    ...                                     "q": rng.normal(3.74, 0.2, (2, 200)),
    ...                                     "v": rng.normal(15.44, 1.5, (2, 200))})
    >>> fig = plot_posterior(gg, interval=0.9)
    >>> fig._suptitle.get_text(), [ax.get_title() for ax in fig.axes]
    ('Posterior of GammaGamma (90% intervals)', ['p', 'q', 'v'])
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    idata = getattr(model, "idata_", None)
    if idata is None:
        raise CLVError(f"{_name(model)} has no posterior (idata_): fit a clvmodels.bayes model first")
    post = idata.posterior
    names = list(var_names) if var_names is not None else list(model.parameter_draws().draws)
    panels = []
    for name in names:
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            panels.append((name, da.to_numpy().ravel()))
        else:
            flat = da.stack(_elem=extra)
            for j in range(flat.sizes["_elem"]):
                label = flat["_elem"].to_numpy()[j]
                label = label if not isinstance(label, tuple) else ", ".join(map(str, label))
                panels.append((f"{name}[{label}]", flat.isel(_elem=j).to_numpy().ravel()))
    n = len(panels)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (3.4 * ncols, 2.7 * nrows), squeeze=False)
    lo_q, hi_q = (1 - interval) / 2, (1 + interval) / 2
    for ax, (label, values) in zip(axes.ravel(), panels):
        ax.hist(values, bins=bins, density=True, color="C0", alpha=0.7)
        ax.axvline(float(np.mean(values)), color="black")
        for q in np.quantile(values, [lo_q, hi_q]):
            ax.axvline(float(q), color="black", linestyle="--")
        ax.set_title(label)
        ax.set_xlabel("value")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Posterior of {_name(model)} ({interval:.0%} intervals)")
    fig.tight_layout()
    return fig


def plot_clv_intervals(forecast: pd.DataFrame, *, n: int = 30, order: str = "top", random_state=None, ax=None):
    """CLV with its interval (``clv_lower``/``clv_upper`` of :func:`clvmodels.forecast_clv`) for
    ``n`` customers: the highest CLVs (``order='top'``) or a random sample (``'sample'``, sorted
    by CLV). Returns the Axes (one error-bar container; y tick labels are the customer ids, the
    highest CLV at the top).

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary()
    >>> bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    >>> fc = clv.forecast_clv(summary.head(20), bg, gg, horizon=12, period="M", discount_rate=0.1, margin=0.3,
    ...                       n_draws=100, random_state=0)
    >>> ax = plot_clv_intervals(fc, n=5)
    >>> ax.get_title(), [t.get_text() for t in ax.get_yticklabels()]
    ('CLV with 90% intervals', ['6', '17', '11', '19', '9'])
    >>> plt.close(ax.figure)
    """
    for col in ("clv", "clv_lower", "clv_upper"):
        if col not in forecast.columns:
            raise MissingColumnError(f"the forecast has no column {col!r} (forecast_clv with interval=...)", column=col)
    if order == "top":
        sub = forecast.nlargest(n, "clv")
    elif order == "sample":
        rng = np.random.default_rng(random_state)
        pick = rng.choice(len(forecast), size=min(n, len(forecast)), replace=False)
        sub = forecast.iloc[pick].sort_values("clv", ascending=False)
    else:
        raise DataValidationError(f"order must be 'top' or 'sample', got {order!r}")
    ax = _axes(ax)
    y = np.arange(len(sub))[::-1]
    c = sub["clv"].to_numpy()
    err = np.vstack([c - sub["clv_lower"].to_numpy(), sub["clv_upper"].to_numpy() - c])
    ax.errorbar(c, y, xerr=np.maximum(err, 0), fmt="o", markersize=3, capsize=2)
    ax.set_yticks(y, [str(i) for i in sub.index])
    ax.set_xlabel("CLV")
    ax.set_ylabel("Customer")
    level = forecast.attrs.get("interval")
    ax.set_title(f"CLV with {level:.0%} intervals" if isinstance(level, float) else "CLV with intervals")
    return ax


def plot_clv_distribution(clv, *, bins: int = 50, log: bool = False, ax=None):
    """Histogram of CLV (a Series, or a forecast with a ``clv`` column) with the mean and the
    median marked. ``log=True`` uses a log scale for the counts. Returns the Axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, clvmodels as clv
    >>> bg = clv.BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    >>> gg = clv.GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> fc = clv.forecast_clv(clv.datasets.cdnow_summary(), bg, gg, horizon=12, period="M", discount_rate=0.1,
    ...                       margin=0.3, interval=None)
    >>> ax = plot_clv_distribution(fc, bins=30, log=True)
    >>> len(ax.patches), [t.get_text() for t in ax.get_legend().get_texts()]
    (30, ['mean 9.22', 'median 3.11'])
    >>> plt.close(ax.figure)
    """
    values = clv["clv"] if isinstance(clv, pd.DataFrame) else clv
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise DataValidationError("CLV values must be non-empty and finite")
    ax = _axes(ax)
    ax.hist(values, bins=bins, color="C0", alpha=0.8, log=log)
    ax.axvline(float(values.mean()), color="black", label=f"mean {values.mean():,.2f}")
    ax.axvline(float(np.median(values)), color="black", linestyle="--", label=f"median {np.median(values):,.2f}")
    ax.set_xlabel("CLV")
    ax.set_ylabel("Customers")
    ax.set_title("Distribution of customer lifetime value")
    ax.legend()
    return ax


def plot_whale_curve(curve, *, ax=None):
    """Whale curve(s): cumulative share of the total margin against the share of customers ranked
    best first, with the 100% line. ``curve``: a :class:`clvmodels.segments.WhaleCurve`, a
    per-customer margin Series, or a mapping ``{measure: Series}`` (passed to
    :func:`clvmodels.segments.whale_curve`). Lines: one per measure, then the 100% reference.
    Returns the Axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> historical = pd.Series({"a": 24.0, "b": 3.5, "c": 0.0, "d": -2.0})
    >>> predicted = pd.Series({"a": 20.0, "b": 5.0, "c": -1.0, "d": 0.5})
    >>> ax = plot_whale_curve({"historical": historical, "predicted": predicted})
    >>> ax.get_title(), [t.get_text() for t in ax.get_legend().get_texts()]
    ('Whale curve', ['historical (100% from 50% of customers)', 'predicted (100% from 50% of customers)',
                     '100% of the margin'])
    >>> plt.close(ax.figure)
    """
    from .segments import WhaleCurve, whale_curve

    if isinstance(curve, pd.Series):
        curve = whale_curve(curve)
    elif isinstance(curve, Mapping):
        curve = whale_curve(**curve)
    if not isinstance(curve, WhaleCurve):
        raise DataValidationError(f"expected a WhaleCurve or a Series of margins, got {type(curve).__name__}")
    ax = _axes(ax)
    for measure, part in curve.curve.groupby("measure", sort=False):
        x = np.concatenate([[0.0], part["customer_share"].to_numpy()])
        y = np.concatenate([[0.0], part["cumulative_share"].to_numpy()])
        share = curve.summary.loc[measure, "customer_share_for_100pct"]
        ax.plot(x, y, label=f"{measure} (100% from {share:.0%} of customers)")
    ax.axhline(1.0, color="grey", linestyle=":", label="100% of the margin")
    ax.set_xlabel("Share of customers (most profitable first)")
    ax.set_ylabel("Cumulative share of total margin")
    ax.set_title("Whale curve")
    ax.legend(loc="lower right")
    return ax
