"""Holdout evaluation on CDNOW: clvmodels' models next to lifetimes 0.11.3, same split, same metrics.

Split (Fader, Hardie & Lee 2005): calibration 1997-01-01 .. 1997-09-30 (39 weeks), holdout
1997-10-01 .. 1998-06-30 (39 weeks), weekly time unit, purchases merged per day. Both libraries
fit on the same calibration summary; lifetimes' predictions go through the same
``clvmodels.evaluate.evaluate`` so every number is computed the same way.

Models
------
clvmodels: BG/NBD, Pareto/NBD, MBG/NBD (MLE) with a Gamma-Gamma spend model, ranked by
``compare_models`` (mean rank over |aggregate error|, MAE, correlation, top-decile capture of
holdout revenue); with ``--bayes`` also the Bayesian BG/NBD with the first purchase's value as a
covariate of the purchase rate and of the dropout, and the Bayesian Pareto/NBD (NUTS; needs the
[bayes] extra). The gradient-boosting baseline is shown both deployable (temporal) and as an
optimistic cross-fitted reference.
lifetimes: BetaGeoFitter, ParetoNBDFitter, ModifiedBetaGeoFitter, GammaGammaFitter.

Usage (lifetimes needs pandas < 3; see benchmarks/_lifetimes_env.md)::

    python benchmarks/bench_holdout.py [--data full|sample|both] [--bayes] [--record] [--json out.json]

``--record`` writes the markdown into the "## Holdout evaluation (CDNOW)" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import clvmodels as clv
from clvmodels.evaluate import GradientBoostingBaseline, compare_models, evaluate
from clvmodels.protocols import ParameterDraws

HERE = Path(__file__).resolve().parent
SECTION = "## Holdout evaluation (CDNOW)"
CAL_END, OBS_END = "1997-09-30", "1998-06-30"
CRITERIA = ("aggregate_error_pct", "mae", "correlation", "revenue_top_capture")
SHOW = ("aggregate_error_pct", "mae", "rmse", "correlation", "revenue_top_capture", "revenue_spearman",
        "revenue_normalized_gini", "p_alive_auc", "tracking_holdout_error_pct", "revenue_error_pct")

try:
    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
except ImportError:  # pragma: no cover - depends on the environment
    lifetimes = None


def _flat(fn, *arrays):
    """Call a lifetimes function on flattened arrays and give the result the broadcast shape."""
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))
    return np.asarray(fn(*(a.ravel() for a in arrays)), dtype=float).reshape(arrays[0].shape)


def _not_used(*args):
    raise NotImplementedError("not needed by the holdout evaluation")


class LifetimesPurchase:
    """A lifetimes fitter behind clvmodels' model protocol: its *own* predictions (no parameters
    pass through: one dummy parameter column), so evaluate() computes every metric alike."""

    param_names = ("lifetimes",)
    input_columns = ("frequency", "recency", "T")
    covariate_columns = ()
    time_axis = "continuous"

    def __init__(self, fitter):
        self.fitter = fitter
        self.time_unit_ = "W"
        f = fitter
        self.math = type("LifetimesMath", (), {
            "p_alive": staticmethod(lambda _, x, tx, T: _flat(f.conditional_probability_alive, x, tx, T)),
            "conditional_expected_purchases": staticmethod(lambda _, x, tx, T, t: _flat(
                lambda a, b, c: f.conditional_expected_number_of_purchases_up_to_time(t, a, b, c), x, tx, T)),
            "expected_purchases_new": staticmethod(lambda _, t: _flat(f.expected_number_of_purchases_up_to_time,
                                                                      np.broadcast_arrays(_, t)[1])),
            "p_alive_ahead": staticmethod(_not_used), "p_no_purchase_ahead": staticmethod(_not_used)})()

    def check_fitted(self):
        pass

    def parameter_draws(self, n_draws=None, random_state=None):
        return ParameterDraws({"lifetimes": np.empty(0)}, {"lifetimes": np.asarray(0.0)}, "lifetimes")

    def customer_parameters(self, params, covariates=None):
        return {"lifetimes": np.asarray(params["lifetimes"], dtype=float).reshape(1, -1)}


class LifetimesSpend:
    """A lifetimes GammaGammaFitter behind the spend protocol; repeat buyers without positive spend
    get the population mean (lifetimes cannot fit them)."""

    param_names = ("lifetimes",)
    input_columns = ("frequency", "monetary_value")

    def __init__(self, fitter):
        f = fitter
        self.math = type("LifetimesSpendMath", (), {
            "conditional_expected_spend": staticmethod(lambda _, x, m: _flat(f.conditional_expected_average_profit,
                                                                             x, m)),
            "expected_spend_new": staticmethod(_not_used)})()

    def check_fitted(self):
        pass

    def parameter_draws(self, n_draws=None, random_state=None):
        return ParameterDraws({"lifetimes": np.empty(0)}, {"lifetimes": np.asarray(0.0)}, "lifetimes")

    def spend_inputs(self, frame):
        x = frame["frequency"].to_numpy(dtype=float)
        m = frame["monetary_value"].to_numpy(dtype=float)
        x = np.where((x > 0) & (m <= 0), 0.0, x)
        return x, np.where(x > 0, m, 1.0)


def _split(sample: bool):
    tx = clv.datasets.cdnow_transactions(sample=sample)
    cal = clv.calibration_holdout(tx, calibration_end=CAL_END, observation_end=OBS_END, time_unit="W")
    return tx, cal


def _ours(tx, cal, bayes: bool, draws: int):
    models = {"BG/NBD": clv.BGNBD(), "Pareto/NBD": clv.ParetoNBD(), "MBG/NBD": clv.MBGNBD()}
    summary = cal
    if bayes:
        summary = clv.evaluate.add_first_purchase_value(cal, tx)
        common = dict(draws=draws, tune=draws, chains=2, cores=1, random_seed=2024, progressbar=False)
        models["BG/NBD + first purchase value (Bayes)"] = clv.bayes.BGNBD(
            purchase_covariates=["log_first_value"], dropout_covariates=["log_first_value"], **common)
        models["Pareto/NBD (Bayes)"] = clv.bayes.ParetoNBD(**common)
    t0 = time.perf_counter()
    cmp = compare_models(summary, models, transactions=tx, baseline=GradientBoostingBaseline(strategy="temporal"),
                         spend_model=clv.GammaGamma(nonpositive_spend="population"))
    seconds = time.perf_counter() - t0
    cross = GradientBoostingBaseline(strategy="crossfit")
    preds = cross.fit_predict(summary, tx)
    cross_ev = evaluate(summary, predictions=preds, name="Gradient boosting (crossfit, optimistic)")
    return cmp, cross_ev, seconds


def _lifetimes(tx, cal):
    f, r, T = (cal[c].to_numpy() for c in ("frequency", "recency", "T"))
    rep = cal[(cal["frequency"] > 0) & (cal["monetary_value"] > 0)]
    t0 = time.perf_counter()
    gg = GammaGammaFitter(penalizer_coef=0.0).fit(rep["frequency"], rep["monetary_value"])
    gg_s = time.perf_counter() - t0
    spend = LifetimesSpend(gg)
    out, fit_s = {}, {}
    for label, cls in (("BG/NBD", BetaGeoFitter), ("Pareto/NBD", ParetoNBDFitter), ("MBG/NBD", ModifiedBetaGeoFitter)):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = cls(penalizer_coef=0.0).fit(f, r, T)
        fit_s[label] = time.perf_counter() - t0 + gg_s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[label] = evaluate(cal, LifetimesPurchase(fitter), spend, transactions=tx, name=f"lifetimes {label}")
        out[label].settings["params"] = {k: float(v) for k, v in fitter.params_.items()}
    return out, fit_s


def _mean_rank(evals: dict) -> pd.Series:
    tab = pd.DataFrame({k: {c: e.metrics.get(c, np.nan) for c in CRITERIA} for k, e in evals.items()}).T
    keys = {"aggregate_error_pct": tab["aggregate_error_pct"].abs(), "mae": tab["mae"],
            "correlation": -tab["correlation"], "revenue_top_capture": -tab["revenue_top_capture"]}
    return pd.DataFrame({c: k.rank(method="min") for c, k in keys.items()}).mean(axis=1).sort_values()


# differences smaller than this are ties (optimiser noise between two fits of the same model)
TIE = {"aggregate_error_pct": 0.01, "mae": 1e-4, "correlation": 1e-4, "revenue_top_capture": 1e-4}


def _verdict(metric, ours, theirs) -> str:
    if metric == "aggregate_error_pct":
        ours, theirs = -abs(ours), -abs(theirs)
    elif metric == "mae":
        ours, theirs = -ours, -theirs
    if abs(ours - theirs) <= TIE[metric]:
        return "tie"
    return "yes" if ours > theirs else "no"


def _fmt(metric, v):
    if v is None or not np.isfinite(v):
        return "-"
    if metric.endswith("_pct"):
        return f"{v:+.2f}%"
    if "capture" in metric:
        return f"{100 * v:.2f}%"
    return f"{v:.4f}"


def run_one(sample: bool, bayes: bool, draws: int) -> tuple[str, dict]:
    name = "CDNOW sample (2,357 customers)" if sample else "CDNOW master (23,570 customers)"
    tx, cal = _split(sample)
    cmp, cross_ev, ours_s = _ours(tx, cal, bayes, draws)
    lines = [f"#### {name}", ""]
    rows = []
    for label, ev in cmp.evaluations.items():
        rows.append((f"clvmodels {label}", ev.metrics, cmp.table.loc[label, "fit_seconds"]))
    rows.append((cross_ev.name, cross_ev.metrics, np.nan))
    lt_best = None
    result: dict = {"data": name, "recommended": cmp.recommended, "reason": cmp.reason,
                    "ours": {k: v.metrics for k, v in cmp.evaluations.items()}}
    if lifetimes is not None:
        lt, lt_s = _lifetimes(tx, cal)
        for label, ev in lt.items():
            rows.append((ev.name, ev.metrics, lt_s[label]))
        ranks = _mean_rank(lt)
        lt_best = ranks.index[0]
        result["lifetimes"] = {k: v.metrics for k, v in lt.items()}
        result["lifetimes_params"] = {k: v.settings["params"] for k, v in lt.items()}
        result["lifetimes_best"] = lt_best
    header = "| model | " + " | ".join(SHOW) + " | fit s |"
    lines += [header, "|" + "---|" * (len(SHOW) + 2)]
    for label, m, s in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(c, m.get(c, np.nan)) for c in SHOW) +
                     f" | {'-' if not np.isfinite(s) else f'{s:.2f}'} |")
    lines += ["", f"Recommended by `compare_models`: **{cmp.recommended}**. {cmp.reason}", ""]
    if lt_best is not None:
        ours = cmp.evaluations[cmp.recommended].metrics
        theirs = lt[lt_best].metrics
        verdict = {c: _verdict(c, ours[c], theirs[c]) for c in CRITERIA}
        result["beats_lifetimes_best"] = verdict
        lines.append(f"Target check - recommended ({cmp.recommended}) vs lifetimes' best classic model "
                     f"({lt_best}, best mean rank among lifetimes' BG/NBD, Pareto/NBD, MBG/NBD):")
        lines.append("")
        lines.append("| criterion | clvmodels recommended | lifetimes best | clvmodels better? |")
        lines.append("|---|---|---|---|")
        for c in CRITERIA:
            lines.append(f"| {c} | {_fmt(c, ours[c])} | {_fmt(c, theirs[c])} | {verdict[c]} |")
        lines.append("")
        for label in ("BG/NBD", "Pareto/NBD", "MBG/NBD"):
            if label in cmp.models:
                ours_p = {k: round(float(v), 4) for k, v in cmp.models[label].params_.items()}
                lt_p = {k: round(v, 4) for k, v in result["lifetimes_params"][label].items()}
                lines.append(f"- {label} parameters: clvmodels {ours_p}; lifetimes {lt_p}")
        lines.append("")
    if cmp.notes:
        lines += [f"- note: {n}" for n in cmp.notes] + [""]
    lines.append(f"clvmodels compare_models wall time (fits, evaluation, tracking, baseline): {ours_s:.1f} s.")
    lines.append("")
    return "\n".join(lines), result


def _record(text: str) -> None:
    path = HERE / "RESULTS.md"
    content = path.read_text() if path.exists() else "# Benchmark results\n"
    if SECTION not in content:
        content = content.rstrip("\n") + f"\n\n{SECTION}\n"
    start = content.index(SECTION) + len(SECTION)
    nxt = re.search(r"^## ", content[start:], flags=re.M)
    end = start + nxt.start() if nxt else len(content)
    body = content[start:end].rstrip("\n")
    content = content[:start] + body + "\n" + text.rstrip("\n") + "\n\n" + content[end:].lstrip("\n")
    path.write_text(content)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=("full", "sample", "both"), default="both")
    ap.add_argument("--bayes", action="store_true", help="add the Bayesian candidates (needs pymc)")
    ap.add_argument("--draws", type=int, default=500, help="NUTS draws (and tuning steps) per chain")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    which = {"full": [False], "sample": [True], "both": [True, False]}[args.data]
    lt_version = getattr(lifetimes, "__version__", "not installed") if lifetimes is not None else "not installed"
    cmd = "python benchmarks/bench_holdout.py" + (f" --data {args.data}" if args.data != "both" else "") + \
        (f" --bayes --draws {args.draws}" if args.bayes else "") + " --record"
    head = [f"### Holdout metrics, clvmodels vs lifetimes ({time.strftime('%Y-%m-%d')})", "",
            f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
            f"pandas {pd.__version__}, clvmodels {clv.__version__}, lifetimes {lt_version}. Command: `{cmd}`. "
            f"Split: calibration to {CAL_END} (39 weeks), holdout to {OBS_END} (39 weeks), weekly unit. All "
            "metrics by `clvmodels.evaluate.evaluate` (lifetimes' predictions fed through it). "
            "aggregate_error_pct: sum of conditional expectations vs actual holdout purchases; "
            "tracking_holdout_error_pct: the unconditional cohort forecast (FHL 2005 Figure 3) vs actual; "
            "revenue_top_capture: share of holdout revenue held by the top 10% ranked by predicted revenue "
            "(expected purchases x Gamma-Gamma spend).", ""]
    sys.stdout.write("\n".join(head) + "\n")
    sys.stdout.flush()
    parts, results = [], []
    for sample in which:
        text, res = run_one(sample, args.bayes, args.draws)
        parts.append(text)
        results.append(res)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    out = "\n".join(head + parts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    if args.record:
        _record(out)


if __name__ == "__main__":
    main()
