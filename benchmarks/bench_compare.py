"""Model comparison: holdout accuracy of every model with paired-bootstrap intervals, and the bootstrap's cost.

Part ``accuracy`` (issue 14, "must show"): ``compare_models`` on

* **CDNOW** - the 2,357-customer sample and the 23,570-customer master, split as in Fader, Hardie & Lee
  (2005): calibration 1997-01-01 .. 1997-09-30, holdout to 1998-06-30 (39 + 39 weeks), weekly unit, a
  Gamma-Gamma spend model (``nonpositive_spend="population"`` for the master's one repeat buyer without
  positive spend) and the temporal gradient-boosting baseline;
* **simulated regular data** - transaction logs of the BG/CNBD-k process (Platzer & Reutterer 2016;
  Reutterer, Platzer & Schroeder 2021): inter-purchase times Erlang-k with mean ``1 / lambda``,
  ``lambda ~ Gamma(r, alpha)`` (r = 0.85, alpha = 4 per week: the same purchase rates for every k; in the
  parametrization of ``clvmodels.simulate.cnbdk`` and the models, alpha = 4 / k), dropout after each repeat
  purchase with ``p ~ Beta(0.8, 2.4)``; first purchases uniform over the first 12 weeks, 39 + 39 weeks,
  ``k = 1`` (the BG/NBD itself: a control), 2 and 3, 5,000 customers each.

Summaries are built with ``litt=True``, so the registry's comparison models include BG/CNBD-k and MBG/CNBD-k
(k chosen by likelihood over 1..8).

For each data set: MAE, RMSE, aggregate error, correlation and top-decile capture of every model with 95%
paired-bootstrap intervals over customers (1,000 seeded resamples), the paired difference to the recommended
model, the verdict (``clearly better`` / ``not distinguishable`` / ``trade-off``), and what the two
holdout-free criteria recommend: BIC on the calibration data, and a time split inside the calibration period.

*Which models*: the registry's comparison models (``clvmodels.registry``, ``compare=True``: BG/NBD, MBG/NBD,
Pareto/NBD, BG/CNBD-k, MBG/CNBD-k), so a model registered with ``compare=True`` later is in the next run with
no change here. ``--models`` picks registry keys instead, ``key:method`` for a Bayesian one (e.g. Pareto/GGG:
``--models bgnbd,bgcnbd,mbgcnbd,paretoggg:gibbs``, with its sampler's defaults); ``--bayes-draws`` sets the draws
of the PyMC ones.

Part ``timing``: ``paired_bootstrap`` (nine holdout metrics) and ``loglik_bootstrap`` (log-likelihood,
AIC, BIC) for ``--customers`` simulated customers x ``--n-boot`` resamples x three models; peak memory is
what Python allocated on top of the inputs (tracemalloc).

On short windows (the time split's first half, and the k = 3 logs) the Pareto/NBD often has no finite MLE
(s, beta -> infinity); the fit stops once they run off, and the notes under each table say so.
``--time-split`` picks the data sets that get the time-split criterion (default all).

Usage::

    python benchmarks/bench_compare.py [--part accuracy|timing|both] [--data cdnow-sample,cdnow,regular]
                                       [--models KEY[:METHOD],...] [--time-split all|none|PREFIX]
                                       [--n-boot 1000] [--customers 100000] [--record]

``--record`` appends the report to the "## Model comparison" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

import clvmodels as clv
from _common import record
from clvmodels import registry
from clvmodels.evaluate import GradientBoostingBaseline, compare_models
from clvmodels.evaluate.bootstrap import loglik_bootstrap, paired_bootstrap

SECTION = "## Model comparison (compare_models)"
CAL_END, OBS_END = "1997-09-30", "1998-06-30"
START = pd.Timestamp("2020-01-06")
# BG/CNBD-k parameters of the simulated logs (weekly): one purchase every ~5 weeks on average, mean p = 0.25
REGULAR = {"r": 0.85, "alpha": 4.0, "a": 0.8, "b": 2.4}
SHOWN = (("mae", "MAE"), ("rmse", "RMSE"), ("aggregate_error_pct", "aggregate error"),
         ("correlation", "correlation"), ("capture", "top-decile capture"))


# ---- data -------------------------------------------------------------------------------------------
def simulate_regular_log(n: int, k: int, *, r: float, alpha: float, a: float, b: float, weeks: float = 78.0,
                         birth_weeks: float = 12.0, seed: int = 0) -> pd.DataFrame:
    """Transaction log of the BG/CNBD-k process: Erlang-k inter-purchase times of mean ``1 / lambda``
    (``Gamma(k, rate k lambda)``), a dropout chance ``p`` after each repeat purchase; days from ``START``."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    birth = rng.uniform(0.0, birth_weeks, n)
    t = birth.copy()
    who, when = [np.arange(n)], [birth]
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.gamma(k, 1.0, n) / (k * lam)
        alive &= t < weeks
        who.append(np.flatnonzero(alive))
        when.append(t[alive])
        alive &= rng.uniform(size=n) >= p
    who, when = np.concatenate(who), np.concatenate(when)
    return pd.DataFrame({"customer_id": who, "date": START + pd.to_timedelta(np.floor(when * 7).astype(np.int64),
                                                                             unit="D")})


def datasets(which: list[str]):
    """(name, transactions, calibration / holdout summary, spend model or None) per data set."""
    for key in which:
        if key in ("cdnow-sample", "cdnow"):
            tx = clv.datasets.cdnow_transactions(sample=key == "cdnow-sample")
            cal = clv.calibration_holdout(tx, calibration_end=CAL_END, observation_end=OBS_END, time_unit="W",
                                          litt=True)
            name = f"CDNOW {'sample' if key == 'cdnow-sample' else 'master'} ({len(cal):,} customers)"
            yield name, tx, cal, clv.GammaGamma(nonpositive_spend="population")
        elif key == "regular":
            for k in (1, 2, 3):
                tx = simulate_regular_log(5000, k, **REGULAR, seed=10 + k)
                end_cal = START + pd.Timedelta(days=39 * 7 - 1)
                end_obs = START + pd.Timedelta(days=78 * 7 - 1)
                cal = clv.calibration_holdout(tx, calibration_end=end_cal, observation_end=end_obs, amount_col=None,
                                              time_unit="W", litt=True)
                label = "k = 1, exponential: BG/NBD data" if k == 1 else f"k = {k}, regular"
                yield f"Simulated BG/CNBD-k ({label}; {len(cal):,} customers)", tx, cal, None
        else:
            raise SystemExit(f"unknown data set {key!r}: use cdnow-sample, cdnow, regular")


def models_from(spec: str | None, draws: int) -> dict | None:
    """``{label: unfitted estimator}`` from ``key[:method],...`` (None: compare_models' registry default)."""
    if not spec:
        return None
    out = {}
    for item in spec.split(","):
        key, _, method = item.strip().partition(":")
        method = method or "mle"
        if method == "mle":
            settings = {}
        elif method == "gibbs":       # the Pareto/GGG's own sampler: its defaults (draws, warm-up, thinning), seeded
            settings = {"random_seed": 2024}
        else:
            settings = {"draws": draws, "tune": draws, "chains": 2, "cores": 1, "random_seed": 2024,
                        "progressbar": False}
        label = registry.get(key).label + ("" if method == "mle" else f" ({method})")
        out[label] = registry.build(key, method, **settings)
    return out


# ---- the accuracy report -------------------------------------------------------------------------------
def _fmt(metric: str, v: float, diff: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    if metric.endswith("_pct"):
        return f"{v:+.1f}" + (" pt" if diff else "%")
    if "capture" in metric:
        return f"{100 * v:+.1f} pt" if diff else f"{100 * v:.1f}%"
    return f"{v:+.4f}" if diff else f"{v:.4f}"


def _cell(iv: pd.DataFrame, metric: str, model: str, diff: bool = False) -> str:
    row = iv[(iv["metric"] == metric) & (iv["model"] == model)]
    if row.empty:
        return "-"
    row = row.iloc[0]
    v, lo, hi = (row["diff"], row["diff_lower"], row["diff_upper"]) if diff else (row["value"], row["lower"],
                                                                                  row["upper"])
    bounds = "" if not (np.isfinite(lo) and np.isfinite(hi)) else \
        f" [{_fmt(metric, lo, diff).replace(' pt', '')}, {_fmt(metric, hi, diff)}]"
    return _fmt(metric, v, diff) + bounds


def _verdict_line(what: str, cmp) -> str:
    rec = cmp.recommendation
    verdict = "clear" if rec.clear else "not clear"
    versus = ", ".join(f"{k}: {v}" for k, v in rec.versus.items()) or "-"
    support = "" if rec.support is None else f"; first in {100 * rec.support:.0f}% of the resamples"
    return f"- {what}: **{rec.model}** ({verdict}; versus {versus}{support})."


def accuracy(name, tx, cal, spend, models, n_boot: int, time_split: bool = True) -> tuple[str, dict]:
    capture = "revenue_top_capture" if spend is not None else "purchases_top_capture"
    shown = [(capture if m == "capture" else m, label) for m, label in SHOWN]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clv.errors.DataDroppedWarning)
        cmp = compare_models(cal, models, transactions=tx, spend_model=spend, n_boot=n_boot, random_state=0,
                             baseline=GradientBoostingBaseline(strategy="temporal"), criterion="holdout")
        seconds = time.perf_counter() - t0
        # the holdout-free criteria: BIC of the same fits (a summary without its holdout columns) ...
        plain = pd.DataFrame(cal[[c for c in ("frequency", "recency", "T", "litt") if c in cal.columns]])
        t0 = time.perf_counter()
        try:
            by_bic = compare_models(plain, {k: cmp.models[k] for k in cmp.models if cmp.table.loc[k, "kind"]
                                            == "probabilistic"}, criterion="bic", n_boot=n_boot, random_state=0)
        except clv.errors.ConfigError as exc:        # e.g. --models paretoggg:gibbs alone: no likelihood maximum
            by_bic, bic_why = None, str(exc)
        bic_s = time.perf_counter() - t0
        # ... and a split inside the calibration period (every model refitted on its first half)
        split, split_s = None, np.nan
        if time_split:
            t0 = time.perf_counter()
            split = compare_models(cal, models, transactions=tx, spend_model=spend, criterion="time_split",
                                   baseline=False, n_boot=n_boot, random_state=0)
            split_s = time.perf_counter() - t0
    iv = cmp.intervals
    lines = [f"#### {name}", "",
             f"Holdout: {int(cmp.evaluations[cmp.recommended].metrics['purchases_actual']):,} repeat purchases; "
             f"95% intervals from {n_boot} paired resamples of the customers (seed 0).", "",
             "| model | " + " | ".join(label for _, label in shown) + " | BIC |",
             "|---|" + "---|" * (len(shown) + 1)]
    for model in cmp.table.index:
        bic = np.nan if by_bic is None else by_bic.table["bic"].get(model, np.nan)
        k = getattr(cmp.models.get(model), "k_", None)
        label = model if k is None else f"{model} (k = {k})"
        lines.append(f"| {label} | " + " | ".join(_cell(iv, m, model) for m, _ in shown) +
                     f" | {'-' if not np.isfinite(bic) else f'{bic:,.1f}'} |")
    lines += ["", f"Difference to the recommended model ({cmp.recommended}), model - {cmp.recommended}, with 95% "
              "paired interval (aggregate error: difference of the absolute errors, in points; negative MAE / RMSE / "
              "error differences and positive correlation / capture differences favour the model); verdict of the "
              "recommended model against it:", "",
              "| model | " + " | ".join(label for _, label in shown) + " | verdict |",
              "|---|" + "---|" * (len(shown) + 1)]
    for model in cmp.table.index:
        if model == cmp.recommended:
            continue
        verdict = cmp.recommendation.versus.get(model, "baseline: not recommended")
        lines.append(f"| {model} | " + " | ".join(_cell(iv, m, model, diff=True) for m, _ in shown) +
                     f" | {verdict} |")
    lines += ["", "Recommendations:", "",
              _verdict_line("on the holdout (mean rank over |aggregate error|, MAE, correlation, top-decile "
                            "capture)", cmp),
              (_verdict_line("without a holdout, by BIC on the calibration data", by_bic) if by_bic is not None else
               f"- without a holdout, by BIC on the calibration data: not available ({bic_why})"),
              (_verdict_line(f"without a holdout, on a time split inside the calibration period (cut "
                             f"{split.time_split['calibration_end']})", split) if split is not None else
               "- without a holdout, on a time split inside the calibration period: not run (--time-split)."),
              "", f"Statement on the holdout: {cmp.reason}", ""]
    notes = [n for c in (cmp, by_bic, split) if c is not None for n in c.notes
             if "did not converge" in n or "undefined" in n or "not scored" in n or "not fitted" in n]
    lines += [f"- note: {n}" for n in dict.fromkeys(notes)] + ([""] if notes else [])
    lines += [f"Wall time: holdout comparison {seconds:.1f} s (fits, evaluation, tracking, baseline, bootstrap), "
              f"BIC {bic_s:.1f} s" + (f", time split {split_s:.1f} s." if split is not None else "."), ""]
    result = {"data": name, "holdout": cmp.recommended, "holdout_clear": cmp.recommendation.clear,
              "bic": None if by_bic is None else by_bic.recommended, "time_split": None if split is None else split.recommended}
    return "\n".join(lines), result


# ---- the timing report -----------------------------------------------------------------------------------
def predictions(n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Three models' holdout predictions for ``n`` simulated customers (rounded: ties as for equal histories)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 2.0, n)
    actual = rng.poisson(rate).astype(np.float64)
    spend = rng.gamma(4.0, 10.0, n)
    frames = {}
    for k, name in enumerate(("model A", "model B", "model C")):
        pred = np.round(rate * rng.lognormal(0.0, 0.2 + 0.1 * k, n), 2)
        frames[name] = pd.DataFrame({"frequency_holdout": actual, "expected_purchases": pred,
                                     "actual_revenue": actual * spend, "expected_revenue": pred * spend})
    return frames


def timed(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return out, seconds, peak


def timing(customers: int, n_boot: int) -> str:
    frames = predictions(customers)
    boot, seconds, peak = timed(lambda: paired_bootstrap(frames, n_boot=n_boot, random_state=0))
    ll = {name: -np.abs(f["expected_purchases"].to_numpy() - f["frequency_holdout"].to_numpy())
          for name, f in frames.items()}
    _, ll_seconds, ll_peak = timed(lambda: loglik_bootstrap(ll, dict.fromkeys(ll, 4), n_boot=n_boot,
                                                            random_state=0))
    return (f"- Paired bootstrap, {customers:,} customers x {n_boot} resamples x {len(frames)} models, "
            f"{len(boot.metrics)} holdout metrics: {seconds:.1f} s, peak {peak:.0f} MB allocated; log-likelihood / "
            f"AIC / BIC: {ll_seconds:.1f} s, peak {ll_peak:.0f} MB.")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("accuracy", "timing", "both"), default="both")
    ap.add_argument("--data", default="cdnow-sample,cdnow,regular")
    ap.add_argument("--models", default=None, help="registry keys, key:method for Bayesian ones (default: the "
                                                    "registry's comparison models)")
    ap.add_argument("--bayes-draws", type=int, default=500)
    ap.add_argument("--time-split", default="all", help="data sets with the time-split criterion: all, none, or a "
                    "prefix of the data set's name such as cdnow")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--customers", type=int, default=100_000, help="timing part: customers")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args(argv)
    cmd = "python benchmarks/bench_compare.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load = os.getloadavg()[0]
    models = models_from(args.models, args.bayes_draws)
    labels = list(models) if models else [registry.get(k).label for k in registry.keys("purchase")
                                          if registry.get(k).compare]
    head = [f"### compare_models: holdout accuracy with paired-bootstrap intervals ({time.strftime('%Y-%m-%d')})", "",
            f"Machine: {os.cpu_count()} cores (load {load:.1f} at the start), Python {platform.python_version()}, "
            f"numpy {np.__version__}, pandas {pd.__version__}, clvmodels {clv.__version__}. Command: `{cmd.strip()}`. "
            f"Models: {'the registry comparison models' if not args.models else args.models} "
            f"({', '.join(labels)}) next to the temporal gradient-boosting baseline.", ""]
    sys.stdout.write("\n".join(head) + "\n")
    sys.stdout.flush()
    parts = []
    if args.part in ("accuracy", "both"):
        for name, tx, cal, spend in datasets([d.strip() for d in args.data.split(",") if d.strip()]):
            use_split = args.time_split == "all" or (args.time_split != "none" and
                                                     name.lower().startswith(args.time_split.lower()))
            text, _ = accuracy(name, tx, cal, spend, models, args.n_boot, time_split=use_split)
            parts.append(text)
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
    if args.part in ("timing", "both"):
        line = timing(args.customers, args.n_boot)
        parts += ["#### Cost of the bootstrap", "", line, ""]
        sys.stdout.write(line + "\n")
    if args.record:
        record(SECTION, "\n".join(head + parts).rstrip() + "\n")
        print("recorded in benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
