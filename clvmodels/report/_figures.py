"""The report's figures: matplotlib, drawn off-screen (no pyplot state), inlined as PNG data URIs.

Where :mod:`clvmodels.plots` has the figure a notebook would draw, it is reused on an Axes of a
standalone :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

DPI = 96

#: quadrant -> colour of the value matrix (colour-blind safe, Okabe & Ito)
QUADRANT_COLOURS = {"keep": "#009E73", "grow": "#0072B2", "harvest": "#E69F00", "fix or let go": "#999999"}


@dataclass(frozen=True)
class Figure:
    """One inline figure: ``name`` (its ``data-figure`` id), alt text, caption and the data URI."""

    name: str
    alt: str
    caption: str
    src: str


def _new(figsize=(7.0, 4.2), ncols=1):
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _uri(fig) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plain_text(label: str) -> str:
    """A label matplotlib draws as given: ``$`` would start mathtext (customer ids are any text)."""
    return str(label).replace("\\", "\\\\").replace("$", r"\$")


def tracking(evaluation, cumulative: bool) -> str:
    from .. import plots

    fig, ax = _new()
    plots.plot_tracking(evaluation, cumulative=cumulative, ax=ax)
    return _uri(fig)


def conditional_expectations(evaluation) -> str:
    from .. import plots

    fig, ax = _new()
    plots.plot_conditional_expectations(evaluation, ax=ax)
    return _uri(fig)


def clv_histogram(clv: np.ndarray) -> str:
    from .. import plots

    fig, ax = _new()
    plots.plot_clv_distribution(clv, bins=60, log=True, ax=ax)
    ax.set_ylabel("Customers (log scale)")
    return _uri(fig)


def clv_intervals(frame: pd.DataFrame, level: float | None) -> str:
    """CLV with its interval for the customers of ``frame`` (highest CLV at the top); symlog axis,
    since the best customers are worth orders of magnitude more than a typical one."""
    from .. import plots

    fig, ax = _new(figsize=(7.0, 0.35 * len(frame) + 1.4))
    sub = frame.copy()
    sub.attrs["interval"] = level
    plots.plot_clv_intervals(sub, n=len(sub), order="top", ax=ax)
    labels = [_plain_text(t.get_text()) for t in ax.get_yticklabels()]
    ax.set_yticks(ax.get_yticks(), labels)
    lo, hi = float(sub["clv_lower"].min()), float(sub["clv_upper"].max())
    if lo > 0:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.5, hi * 1.5)
        ax.set_xlabel("CLV (log scale)")
    else:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(*_symlog_limits(np.array([lo, hi])))
        ax.set_xlabel("CLV (symmetric log scale: linear between -1 and 1)")
    return _uri(fig)


def _symlog_limits(values: np.ndarray) -> tuple[float, float]:
    """Axis limits for a symlog axis (linear in [-1, 1]) that hug the data: matplotlib's own margins
    are taken in the transformed space and can reach far below zero for non-negative data."""
    lo, hi = float(np.min(values)), float(np.max(values))
    lower = lo * 1.5 if lo < -1 else min(lo, 0.0) - 0.5
    upper = hi * 1.5 if hi > 1 else max(hi, 0.0) + 0.5
    return lower, upper


def rfm_grid(counts: np.ndarray, mean_clv: np.ndarray, r_labels, f_labels) -> str:
    """Two heat maps over (F score, R score): customers and mean CLV, each cell annotated."""
    fig, axes = _new(figsize=(10.0, 4.4), ncols=2)
    panels = ((axes[0], counts, "Customers", "Blues", lambda v: f"{int(v):,}"),
              (axes[1], mean_clv, "Mean CLV", "Greens", lambda v: f"{v:,.1f}"))
    for ax, grid, title, cmap, fmt in panels:
        shown = np.ma.masked_invalid(grid.astype(float))
        im = ax.imshow(shown, origin="lower", cmap=cmap, aspect="auto")
        fig.colorbar(im, ax=ax, shrink=0.85)
        finite = grid[np.isfinite(grid)]
        mid = (float(finite.min()) + float(finite.max())) / 2 if finite.size else 0.0
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = grid[i, j]
                if np.isfinite(v):
                    ax.text(j, i, fmt(v), ha="center", va="center", fontsize=8,
                            color="white" if v > mid else "black")
        ax.set_xticks(range(len(f_labels)), [str(v) for v in f_labels])
        ax.set_yticks(range(len(r_labels)), [str(v) for v in r_labels])
        ax.set_xlabel("F score (frequency; higher = more repeat purchases)")
        ax.set_ylabel("R score (recency; higher = bought more recently)")
        ax.set_title(title)
    return _uri(fig)


def whale(curve) -> str:
    from .. import plots

    fig, ax = _new()
    plots.plot_whale_curve(curve, ax=ax)
    ax.yaxis.set_major_formatter(_percent())
    ax.xaxis.set_major_formatter(_percent())
    return _uri(fig)


def _percent():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)


#: the most dots the value matrix draws (a random sample above it: a scatter of millions says no more)
MAX_DOTS = 50_000


def value_matrix(current: np.ndarray, future: np.ndarray, quadrant: np.ndarray, x_split: float,
                 y_split: float) -> str:
    """Historical margin (x) against predicted CLV (y), coloured by quadrant, split lines dotted. Above
    :data:`MAX_DOTS` customers a seeded random sample of that many is drawn (the legend counts all)."""
    fig, ax = _new(figsize=(7.0, 5.2))
    n = len(current)
    shown = np.ones(n, dtype=bool)
    if n > MAX_DOTS:
        shown[:] = False
        shown[np.random.default_rng(0).choice(n, MAX_DOTS, replace=False)] = True
    for name, colour in QUADRANT_COLOURS.items():
        sel = quadrant == name
        ax.scatter(current[sel & shown], future[sel & shown], s=6, alpha=0.5, color=colour, linewidths=0,
                   label=f"{name} ({int(sel.sum()):,})")
    ax.axvline(x_split, color="black", linestyle=":", linewidth=1, zorder=0)
    ax.axhline(y_split, color="black", linestyle=":", linewidth=1, zorder=0)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlim(*_symlog_limits(current))
    ax.set_ylim(*_symlog_limits(future))
    ax.set_xlabel("Current value: historical margin (symmetric log scale)")
    ax.set_ylabel("Future value: predicted CLV (symmetric log scale)")
    ax.set_title("Current vs future value, one dot per customer" if n <= MAX_DOTS else
                 f"Current vs future value, a random {MAX_DOTS:,} of {n:,} customers")
    ax.legend(loc="upper left", markerscale=3, fontsize=8)
    return _uri(fig)
