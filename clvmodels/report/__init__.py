"""One self-contained HTML page that tells a manager what a run folder holds.

:func:`write_report` reads a run folder (``clv run``'s, or a scoring folder without a holdout) and
writes ``report.html`` into it: figures inline as PNG data URIs, CSS inline, no script to run and
no network reference (a Content-Security-Policy in the page forbids any). Sections:

* **At a glance** - the few numbers to remember;
* **Data** - transactions read, kept and left out (and why) from the drop report, customers,
  as-of date, time unit, fit windows;
* **Fitted models** - estimates with 95% intervals and the fit's diagnostics (MLE: convergence,
  log-likelihood; Bayesian: posterior mean, HDI, R-hat, ESS, divergences), the scoring fit and the
  calibration fit the holdout checked;
* **Holdout check** - weekly and cumulative tracking, conditional expectations, the error table
  (aggregate error, MAE, RMSE, correlation, top-decile capture); "no holdout in this run" without one;
* **Customer lifetime value** - histogram, totals and a few customers' intervals;
* **Value tiers** - customers, share, value and share of value per tier;
* **RFM grid** - customers and mean CLV per (R score, F score);
* **Whale curve and margin destroyers** - historical margin (the run's ``margin`` and
  ``cost_per_order`` on the observed repeat purchases) and predicted margin (CLV);
* **Current vs future value** - historical margin against CLV split at their medians: keep, grow,
  harvest, fix or let go;
* **About this run** - versions, settings, export table, timings, notes.

Every number shown is formatted from the value in the folder's files and also written, unrounded,
into the page's ``<script type="application/json" id="report-data">`` block (``numbers``: key ->
value; each shown number carries the same ``data-key`` and its exact ``data-value``), so a test or
a tool can read the page's numbers back and compare them to ``metrics.json`` and the scores.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import _figures as F
from ._folder import RunFolder, describe_model, read_run_folder
from ._numbers import Numbers

__all__ = ["write_report"]

FORMAT = "clvmodels.report/1"
REPORT_FILE = "report.html"

#: the page's sections, in order: (id, heading)
SECTIONS = (
    ("glance", "At a glance"),
    ("data", "Data: what was read, kept and left out"),
    ("models", "Fitted models"),
    ("holdout", "Holdout check: does the model predict?"),
    ("clv", "Customer lifetime value: distribution and intervals"),
    ("tiers", "Value tiers"),
    ("rfm", "RFM grid"),
    ("whale", "Whale curve and margin destroyers"),
    ("matrix", "Current value vs future value"),
    ("about", "About this run"),
)

NO_HOLDOUT = "No holdout in this run"

_UNITS = {"D": "day", "W": "week", "M": "month", "Y": "year"}
_TIERS = ("VIP", "core", "low", "margin-negative")
QUADRANTS = ("keep", "grow", "harvest", "fix or let go")
_QUADRANT_TEXT = {
    "keep": "high current and high future value: protect and reward",
    "grow": "low current but high future value: invest to develop",
    "harvest": "high current but low future value: serve efficiently, win back if worth it",
    "fix or let go": "low current and low future value: fix the economics or spend nothing",
}


def _unit(code, n: float | None = None) -> str:
    name = _UNITS.get(str(code), str(code))
    return name if n is None or n == 1 else name + "s"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text))


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------
_DROP_ROWS = (
    ("n_rows", "Transactions read", None),
    ("n_rows_after_observation_end", "left out: dated after the observation end", None),
    ("n_rows_dropped_returns", "left out: amount ≤ 0 (returns: drop)", None),
    ("rows_kept", "Transactions kept", None),
    ("n_purchases_dropped_net_nonpositive", "Purchases left out: net amount ≤ 0 after returns (returns: net)", None),
    ("n_customers_dropped", "Customers left with no purchase (not summarised)", None),
    ("n_customers_first_purchase_after_end",
     "Customers whose first purchase is after the calibration end (not in the calibration cohort)", None),
    ("customers", "Customers summarised", None),
)


def _data_section(run: RunFolder, num: Numbers) -> dict:
    m = run.manifest
    columns = [("scoring", "Scoring fit", m.get("summary"))]
    if m.get("evaluation_summary"):
        columns.append(("evaluation", "Holdout check (calibration)", m["evaluation_summary"]))
    columns = [c for c in columns if isinstance(c[2], dict)]
    rows = []
    for field, label, _ in _DROP_ROWS:
        cells = []
        for col, _, facts in columns:
            rep = facts.get("report") or {}
            if field == "rows_kept":
                value = None
                if "n_rows" in rep:
                    value = (rep["n_rows"] - rep.get("n_rows_after_observation_end", 0)
                             - rep.get("n_rows_dropped_returns", 0))
            elif field == "customers":
                value = facts.get("customers")
            else:
                value = rep.get(field)
            cells.append(num(f"data.{col}.{field}", value, "int"))
        rows.append({"label": label, "cells": cells, "indent": label.startswith("left out"),
                     "total": field in ("rows_kept", "customers")})
    examples = []
    for col, title, facts in columns:
        ex = (facts.get("report") or {}).get("dropped_customer_examples") or []
        if ex:
            examples.append({"fit": title, "ids": [str(i) for i in ex]})
    scoring = m.get("scoring") or {}
    summ = m.get("summary") or {}
    opts = summ.get("options") or {}
    facts = [("As-of date (customers scored as of)", scoring.get("as_of")),
             ("Time unit", f"{summ.get('time_unit')} ({_unit(summ.get('time_unit'))})" if summ.get("time_unit")
              else None),
             ("Observation end", summ.get("observation_end"))]
    ev = m.get("evaluation_summary") or {}
    if ev.get("calibration_end"):
        facts.append(("Calibration end (holdout starts after)", ev.get("calibration_end")))
    for key, label in (("fit_window", "Scoring fit window"), ("evaluation_fit_window", "Holdout-check fit window")):
        w = scoring.get(key)
        if isinstance(w, dict):
            facts.append((label, f"{w.get('from')} to {w.get('to')}"))
    if opts:
        facts.append(("Same-day purchases", "merged into one purchase per day" if opts.get("merge") == "D"
                      else f"merge: {opts.get('merge')}"))
        facts.append(("Returns policy", str(opts.get("returns"))))
    spend = m.get("spend_model") or {}
    spend_note = None
    if spend.get("n_nonpositive_excluded"):
        spend_note = {"count": num("data.spend_fit_excluded", spend.get("n_nonpositive_excluded"), "int"),
                      "policy": str(spend.get("nonpositive_spend"))}
    return {"columns": [c[1] for c in columns], "rows": rows, "examples": examples,
            "facts": [(k, v) for k, v in facts if v is not None],
            "customers_scored": num("data.customers_scored", len(run.scores), "int"), "spend_note": spend_note}


def _model_label(run: RunFolder, role: str) -> str | None:
    from .. import registry

    entry = run.manifest.get(f"{role}_model") or {}
    name = entry.get("name")
    if name is None:
        return None
    try:
        return registry.get(name).label
    except Exception:  # noqa: BLE001 - a model not in this version's registry keeps its key
        return str(name)


def _models_section(run: RunFolder, num: Numbers) -> dict:
    fits = []
    titles = {"scoring": "Scoring fit (the models the scores come from)",
              "evaluation": "Calibration fit (the models the holdout check judged)"}
    for fit in ("scoring", "evaluation"):
        found = run.models.get(fit)
        if not found:
            continue
        models = []
        for role, path in found.items():
            d = describe_model(path)
            base = f"models.{fit}.{role}"
            rows = []
            for r in d["rows"]:
                p = _slug(r["parameter"])
                if d["kind"] == "mle":
                    rows.append({"parameter": r["parameter"],
                                 "cells": [num(f"{base}.{p}.estimate", r["estimate"], "sig4"),
                                           num(f"{base}.{p}.stderr", r["stderr"], "sig4"),
                                           num(f"{base}.{p}.lower_95", r["lower"], "sig4"),
                                           num(f"{base}.{p}.upper_95", r["upper"], "sig4")]})
                elif d["map"]:
                    rows.append({"parameter": r["parameter"], "cells": [num(f"{base}.{p}.map", r["mean"], "sig4")]})
                else:
                    flags = []
                    if r["r_hat"] is not None and r["r_hat"] > 1.01:
                        flags.append("R-hat above 1.01")
                    for k in ("ess_bulk", "ess_tail"):
                        if r[k] is not None and r[k] < 400:
                            flags.append(f"{k.replace('_', ' ')} below 400")
                    rows.append({"parameter": r["parameter"], "flags": flags,
                                 "cells": [num(f"{base}.{p}.mean", r["mean"], "sig4"),
                                           num(f"{base}.{p}.sd", r["sd"], "sig4"),
                                           num(f"{base}.{p}.hdi_lower", r["lower"], "sig4"),
                                           num(f"{base}.{p}.hdi_upper", r["upper"], "sig4"),
                                           num(f"{base}.{p}.r_hat", r["r_hat"], "dec3"),
                                           num(f"{base}.{p}.ess_bulk", r["ess_bulk"], "int"),
                                           num(f"{base}.{p}.ess_tail", r["ess_tail"], "int")]})
            diag = []
            if d["kind"] == "mle":
                conv = d.get("converged")
                diag.append(("Converged", "yes" if conv else ("no" if conv is False else "unknown"), None))
                diag.append(("Log-likelihood", None, num(f"{base}.loglik", d.get("loglik"), "dec2")))
                diag.append(("Observations fitted", None, num(f"{base}.n_obs", d.get("n_obs"), "int")))
                info = d.get("fit_info") or {}
                if info.get("n_iter") is not None:
                    diag.append(("Optimizer iterations", None, num(f"{base}.n_iter", info.get("n_iter"), "int")))
                if info.get("message"):
                    diag.append(("Optimizer message", str(info["message"]), None))
            else:
                if d.get("sampler"):
                    diag.append(("Sampler", str(d["sampler"]), None))
                if d.get("chains") is not None:
                    diag.append(("Chains x draws", f"{d['chains']} x {d['draws']}", None))
                if d.get("divergences") is not None:
                    diag.append(("Divergent transitions", None, num(f"{base}.divergences", d["divergences"], "int")))
                bad = [r["parameter"] for r in rows if r.get("flags")]
                if rows and not d["map"]:
                    diag.append(("Diagnostics (R-hat ≤ 1.01, ESS ≥ 400)",
                                 "all parameters pass" if not bad else "check " + ", ".join(bad), None))
            method = (run.manifest.get(f"{role}_model") or {}).get("method")
            kind = "maximum likelihood" if d["kind"] == "mle" else "Bayesian"
            if method and method != "mle":
                kind += f", {method}"
            models.append({"role": role, "label": _model_label(run, role) or d.get("class") or role,
                           "method": kind,
                           "class": d.get("class"), "file": f"models/{'evaluation/' if fit == 'evaluation' else ''}"
                                                             f"{d['file']}",
                           "kind": d["kind"], "map": d.get("map", False), "hdi": d.get("hdi"), "rows": rows,
                           "diagnostics": diag, "error": d.get("error"), "note": d.get("note")})
        fits.append({"id": fit, "title": titles[fit], "models": models})
    return {"fits": fits}


# ---- holdout -----------------------------------------------------------------------------------
def _evaluation(doc: dict):
    """A :class:`~clvmodels.evaluate.HoldoutEvaluation` rebuilt from metrics.json (for the plots)."""
    from ..evaluate import HoldoutEvaluation

    def frame(records, index):
        if not records:
            return None
        f = pd.DataFrame.from_records(records)
        return f.set_index(index) if index in f.columns else f

    tracking = None
    if doc.get("tracking") and doc["tracking"].get("periods"):
        tracking = frame(doc["tracking"]["periods"], "period")
        tracking.attrs["totals"] = dict(doc["tracking"].get("totals") or {})
    cond = frame(doc.get("conditional_expectations"), "frequency")
    if cond is not None:
        cond.index = cond.index.astype(str)
    return HoldoutEvaluation(name=str(doc.get("model") or "Model"), metrics=dict(doc.get("metrics") or {}),
                             conditional_expectations=cond, spend_calibration=frame(doc.get("spend_calibration"),
                                                                                  "group"),
                             tracking=tracking, settings=dict(doc.get("settings") or {}))


def _holdout_rows(settings: dict) -> list[tuple[str, str, str]]:
    share = settings.get("top_share", 0.1)
    top = "top decile" if share == 0.1 else f"top {100 * share:g}%"
    Top = top[0].upper() + top[1:]
    return [
        ("purchases_actual", "Repeat purchases in the holdout: actual", "int"),
        ("purchases_predicted", "Repeat purchases in the holdout: predicted", "dec1"),
        ("aggregate_error_pct", "Aggregate error (predicted vs actual purchases)", "pp1"),
        ("mae", "MAE: mean absolute error per customer (purchases)", "dec3"),
        ("rmse", "RMSE: root mean squared error per customer (purchases)", "dec3"),
        ("correlation", "Correlation of predicted and actual purchases", "dec3"),
        ("purchases_top_capture",
         f"{Top} capture: share of holdout purchases made by the {top} by predicted purchases", "pct1"),
        ("revenue_actual", "Holdout revenue: actual", "money0"),
        ("revenue_predicted", "Holdout revenue: predicted", "money0"),
        ("revenue_error_pct", "Aggregate revenue error", "pp1"),
        ("revenue_top_capture", f"{Top} capture: share of holdout revenue from the {top} by predicted revenue",
         "pct1"),
        ("clv_top_capture", f"{Top} capture: share of holdout revenue from the {top} by CLV", "pct1"),
        ("revenue_top_capture_oracle", f"{Top} capture at best (ranking by the actual revenue)", "pct1"),
        ("spend_bias_pct", "Spend model bias (mean spend per purchase)", "pp1"),
        ("tracking_holdout_error_pct", "Cohort tracking error over the holdout weeks", "pp1"),
    ]


def _holdout_section(run: RunFolder, num: Numbers, figures: list) -> dict:
    if not run.has_holdout:
        return {"available": False}
    from ..evaluate.evaluation import METRIC_DESCRIPTIONS

    doc = run.metrics
    metrics = doc["metrics"]
    settings = doc.get("settings") or {}
    rows = []
    for key, label, kind in _holdout_rows(settings):
        if key in metrics:
            rows.append({"label": label, "metric": key, "description": METRIC_DESCRIPTIONS.get(key, ""),
                         "value": num(f"holdout.{key}", metrics[key], kind)})
    unit = settings.get("time_unit") or (run.manifest.get("summary") or {}).get("time_unit")
    duration = metrics.get("holdout_duration")
    facts = {"model": str(doc.get("model") or ""),
             "customers": num("holdout.n_customers", metrics.get("n_customers"), "int"),
             "duration": num("holdout.holdout_duration", duration, "sig4"),
             "unit": _unit(unit, duration),
             "calibration_end": (run.manifest.get("evaluation_summary") or {}).get("calibration_end")}
    cond_rows = []
    for i, rec in enumerate(doc.get("conditional_expectations") or []):
        cond_rows.append({"frequency": str(rec.get("frequency")),
                          "cells": [num(f"holdout.conditional.{i}.n_customers", rec.get("n_customers"), "int"),
                                    num(f"holdout.conditional.{i}.actual", rec.get("actual"), "dec3"),
                                    num(f"holdout.conditional.{i}.predicted", rec.get("predicted"), "dec3")]})
    ev = _evaluation(doc)
    period = (settings.get("period") or unit)
    adverb = {"D": "Daily", "W": "Weekly", "M": "Monthly", "Y": "Yearly"}.get(str(period), "Per-period")
    if ev.tracking is not None:
        figures.append(F.Figure("tracking", f"{adverb} repeat purchases of the cohort, actual and predicted, "
                                "calibration then holdout", f"{adverb} repeat purchases: actual (solid) and the "
                                "model (dashed); the dotted line is the end of the calibration period.",
                                F.tracking(ev, cumulative=False)))
        figures.append(F.Figure("tracking-cumulative", "Cumulative repeat purchases of the cohort, actual and "
                                "predicted", "Cumulative repeat purchases: the gap at the right end is the "
                                "aggregate forecast error over the holdout.", F.tracking(ev, cumulative=True)))
    if ev.conditional_expectations is not None:
        figures.append(F.Figure("conditional-expectations", "Average holdout purchases by calibration frequency, "
                                "actual and predicted", "Conditional expectations: customers grouped by their "
                                "repeat purchases in the calibration period; average holdout purchases, actual "
                                "and predicted.", F.conditional_expectations(ev)))
    return {"available": True, "facts": facts, "rows": rows, "conditional": cond_rows,
            "tracking_missing": ev.tracking is None}


# ---- value ---------------------------------------------------------------------------------------
def _interval_customers(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """The five most valuable customers and five spread over the ranking (10%, 25%, 50%, 75%, 90%)."""
    ranked = scores.sort_values("clv", ascending=False, kind="stable")
    n = len(ranked)
    pos = list(range(min(5, n)))
    for q in (0.10, 0.25, 0.50, 0.75, 0.90):
        p = int(np.clip(round(q * (n - 1)), 0, n - 1))
        if p not in pos:
            pos.append(p)
    return ranked.iloc[pos], [p + 1 for p in pos]


def _clv_section(run: RunFolder, num: Numbers, figures: list) -> dict:
    s = run.scores
    fc = run.forecast()
    clv = s["clv"].to_numpy(dtype=np.float64)
    stats = {"total": num("clv.total", float(s["clv"].sum()), "money0"),   # as the manifest's totals.clv
             "mean": num("clv.mean", float(clv.mean()), "money2"),
             "median": num("clv.median", float(np.median(clv)), "money2"),
             "p90": num("clv.p90", float(np.quantile(clv, 0.9)), "money2"),
             "max": num("clv.max", float(clv.max()), "money2"),
             "negative": num("clv.n_negative", int((clv < 0).sum()), "int")}
    settings = {"horizon": num("settings.horizon", fc.get("horizon"), "int"),
                "period": _unit(fc.get("period"), fc.get("horizon")),
                "discount_rate": num("settings.discount_rate", fc.get("discount_rate"), "pct1"),
                "margin": num("settings.margin", fc.get("margin"), "pct1"),
                "cost_per_order": num("settings.cost_per_order", fc.get("cost_per_order"), "money2"),
                "interval": num("settings.interval", fc.get("interval"), "pct1") if fc.get("interval") else None}
    figures.append(F.Figure("clv-histogram", "Histogram of customer lifetime value, counts on a log scale",
                            "Distribution of CLV over all customers (log scale of counts): most customers are "
                            "worth little, a few a lot.", F.clv_histogram(clv)))
    has_interval = {"clv_lower", "clv_upper"} <= set(s.columns)
    intervals = []
    picked_ids: list[str] = []
    if has_interval:
        picked, ranks = _interval_customers(s)
        picked_ids = [str(i) for i in picked.index]
        for i, (cid, row) in enumerate(picked.iterrows()):
            intervals.append({"customer_id": str(cid), "rank": num(f"clv.intervals.{i}.rank", ranks[i], "int"),
                              "tier": str(row.get("tier", "")),
                              "cells": [num(f"clv.intervals.{i}.clv", row["clv"], "money2"),
                                        num(f"clv.intervals.{i}.clv_lower", row["clv_lower"], "money2"),
                                        num(f"clv.intervals.{i}.clv_upper", row["clv_upper"], "money2"),
                                        num(f"clv.intervals.{i}.p_alive", row.get("p_alive"), "pct1"),
                                        num(f"clv.intervals.{i}.expected_purchases", row.get("expected_purchases"),
                                            "dec2")]})
        level = fc.get("interval")
        figures.append(F.Figure("clv-intervals", "CLV with its interval for ten customers",
                                "CLV with its interval: the five most valuable customers, then customers at 10%, "
                                "25%, 50%, 75% and 90% of the ranking.",
                                F.clv_intervals(picked, float(level) if level else None)))
    return {"stats": stats, "settings": settings, "has_interval": has_interval, "intervals": intervals,
            "interval_ids": picked_ids}


def _tiers_section(run: RunFolder, num: Numbers) -> dict:
    from ..segments import value_tiers

    s = run.scores
    if "tier" not in s.columns:
        return {"available": False}
    clv = s["clv"].astype(float)
    total = float(s["clv"].sum())
    n = len(s)
    rows = []
    labels = list(_TIERS) + sorted(set(s["tier"].astype(str)) - set(_TIERS))
    for label in labels:
        sel = (s["tier"].astype(str) == label).to_numpy()
        value = float(clv[sel].sum())
        k = int(sel.sum())
        rows.append({"tier": label,
                     "cells": [num(f"tiers.{_slug(label)}.customers", k, "int"),
                               num(f"tiers.{_slug(label)}.share_of_customers", k / n, "pct1"),
                               num(f"tiers.{_slug(label)}.value", value, "money0"),
                               num(f"tiers.{_slug(label)}.share_of_value", value / total if total else None, "pct1"),
                               num(f"tiers.{_slug(label)}.mean_value", value / k if k else None, "money2")]})
    seg = run.segments()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            thr = value_tiers(clv, vip=seg["vip"], core=seg["core"], by=seg["by"]).thresholds
        thresholds = {"vip": num("tiers.threshold.vip", thr["vip"], "money2"),
                      "core": num("tiers.threshold.core", thr["core"], "money2")}
    except Exception:  # noqa: BLE001 - settings the report cannot reproduce: the table still stands
        thresholds = None
    rule = None
    if seg["by"] == "quantile":
        rule = {"vip": f"the top {100 * (1 - seg['vip']):g}% by CLV", "core": f"the rest of the top "
                f"{100 * (1 - seg['core']):g}%"}
    else:
        rule = {"vip": "CLV at or above the VIP amount", "core": "CLV at or above the core amount"}
    return {"available": True, "rows": rows, "thresholds": thresholds, "rule": rule,
            "total": num("clv.total", total, "money0")}


def _rfm_section(run: RunFolder, num: Numbers, figures: list) -> dict:
    s = run.scores
    if not {"r_score", "f_score"} <= set(s.columns):
        return {"available": False}
    r = s["r_score"].astype(int)
    f = s["f_score"].astype(int)
    r_labels = list(range(1, int(r.max()) + 1))
    f_labels = list(range(1, int(f.max()) + 1))
    counts = pd.crosstab(r, f).reindex(index=r_labels, columns=f_labels, fill_value=0)
    means = s.groupby([r, f])["clv"].mean().unstack().reindex(index=r_labels, columns=f_labels)
    rows = []
    for rv in reversed(r_labels):
        cells = []
        for fv in f_labels:
            c = int(counts.loc[rv, fv])
            mv = means.loc[rv, fv]
            cells.append({"count": num(f"rfm.r{rv}.f{fv}.customers", c, "int"),
                          "mean": num(f"rfm.r{rv}.f{fv}.mean_clv", None if c == 0 else float(mv), "money2")})
        rows.append({"r": rv, "cells": cells})
    figures.append(F.Figure("rfm-grid", "Heat maps of customers and mean CLV by R score and F score",
                            "Customers (left) and mean CLV (right) per R score (recency) and F score (frequency); "
                            "scores are quantile bins, 1 = worst.",
                            F.rfm_grid(counts.to_numpy(dtype=float), means.to_numpy(dtype=float), r_labels,
                                       f_labels)))
    return {"available": True, "f_labels": f_labels, "rows": rows,
            "grid": {"r": r_labels, "f": f_labels, "customers": counts.to_numpy().tolist(),
                     "mean_clv": [[None if not np.isfinite(v) else float(v) for v in row]
                                  for row in means.to_numpy(dtype=float)]}}


def _historical(run: RunFolder) -> tuple[pd.Series | None, str | None]:
    from ..segments import historical_margin

    s = run.scores
    if not {"frequency", "monetary_value"} <= set(s.columns):
        return None, "the scores have no frequency / monetary_value columns"
    fc = run.forecast()
    try:
        return historical_margin(s, margin=float(fc.get("margin", 1.0)),
                                 cost_per_order=float(fc.get("cost_per_order", 0.0))), None
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {exc}"


_WHALE_ROWS = (
    ("total_margin", "Total margin", "money0"),
    ("positive_margin", "Margin of the profitable customers", "money0"),
    ("destroyed_margin", "Margin destroyed (sum of the negative margins)", "money0"),
    ("peak_share", "Peak of the curve (share of the total margin)", "pct1"),
    ("customer_share_at_peak", "Customers at the peak (share, best first)", "pct1"),
    ("customer_share_for_100pct", "Share of customers creating 100% of the margin", "pct1"),
    ("n_destroyers", "Margin destroyers (customers with negative margin)", "int"),
    ("share_destroyers", "Margin destroyers (share of customers)", "pct1"),
)
TOP_DESTROYERS = 10


def _whale_section(run: RunFolder, num: Numbers, figures: list, historical: pd.Series | None,
                   why: str | None) -> dict:
    from ..segments import whale_curve

    measures = {}
    if historical is not None:
        measures["historical"] = historical
    measures["predicted"] = run.scores["clv"].astype(float).rename("predicted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curve = whale_curve(**measures)
    names = list(curve.summary.index)
    rows = []
    for key, label, kind in _WHALE_ROWS:
        rows.append({"label": label, "cells": [num(f"whale.{m}.{key}", curve.summary.loc[m, key], kind)
                                               for m in names]})
    destroyers = {}
    for m in names:
        ids = curve.destroyers[m]
        margin = measures[m]
        top = []
        for i, cid in enumerate(ids[:TOP_DESTROYERS]):
            top.append({"customer_id": str(cid), "margin": num(f"whale.{m}.destroyers.{i}.margin",
                                                                float(margin.loc[cid]), "money2")})
        destroyers[m] = {"n": num(f"whale.{m}.n_destroyers", curve.summary.loc[m, "n_destroyers"], "int"),
                         "top": top, "ids": [str(i) for i in ids[:TOP_DESTROYERS]]}
    figures.append(F.Figure("whale-curve", "Whale curve: cumulative share of total margin by share of customers",
                            "Whale curve: customers ranked by margin, best first; the curve rises above 100% on "
                            "the profitable customers and falls back to 100% as the margin destroyers are added.",
                            F.whale(curve)))
    fc = run.forecast()
    return {"measures": names, "rows": rows, "destroyers": destroyers, "historical_missing": why,
            "margin": num("settings.margin", fc.get("margin"), "pct1"),
            "cost_per_order": num("settings.cost_per_order", fc.get("cost_per_order"), "money2")}


def _matrix_section(run: RunFolder, num: Numbers, figures: list, historical: pd.Series | None,
                    why: str | None) -> dict:
    if historical is None:
        return {"available": False, "why": why}
    current = historical.to_numpy(dtype=np.float64)
    future = run.scores["clv"].to_numpy(dtype=np.float64)
    x_split, y_split = float(np.median(current)), float(np.median(future))
    high_now, high_future = current > x_split, future > y_split
    quadrant = np.where(high_now & high_future, "keep", np.where(high_future, "grow",
                        np.where(high_now, "harvest", "fix or let go")))
    n, total = len(future), float(future.sum())
    cells = {}
    for q in QUADRANTS:
        sel = quadrant == q
        k = int(sel.sum())
        value = float(future[sel].sum())
        cells[q] = {"name": q, "text": _QUADRANT_TEXT[q], "slug": _slug(q),
                    "customers": num(f"matrix.{_slug(q)}.customers", k, "int"),
                    "share": num(f"matrix.{_slug(q)}.share_of_customers", k / n, "pct1"),
                    "clv": num(f"matrix.{_slug(q)}.total_clv", value, "money0"),
                    "share_of_clv": num(f"matrix.{_slug(q)}.share_of_clv", value / total if total else None, "pct1"),
                    "historical": num(f"matrix.{_slug(q)}.historical_margin", float(current[sel].sum()), "money0")}
    figures.append(F.Figure("value-matrix", "Scatter of historical margin against predicted CLV, by quadrant",
                            "Each dot a customer: current value (historical margin) against future value (CLV); "
                            "the dotted lines are the medians that split the quadrants.",
                            F.value_matrix(current, future, quadrant, x_split, y_split)))
    return {"available": True, "cells": cells, "order": list(QUADRANTS),
            "zero_current": num("matrix.n_no_historical_margin", int((current == 0).sum()), "int"),
            "x_split": num("matrix.split.historical_margin", x_split, "money2"),
            "y_split": num("matrix.split.clv", y_split, "money2")}


def _about_section(run: RunFolder, num: Numbers) -> dict:
    m = run.manifest
    scoring = m.get("scoring") or {}
    versions = [(k, str(m[k])) for k in ("clvmodels", "python", "numpy", "pandas") if m.get(k)]
    table = m.get("export_table") or {}
    timings = [(k.removesuffix("_s").replace("_", " "), num(f"about.timings.{_slug(k)}", v, "dec1"))
               for k, v in (m.get("timings") or {}).items()]
    files = sorted(p.name if p.is_file() else p.name + "/" for p in run.path.iterdir()
                   if not p.name.startswith(".") and p.name != REPORT_FILE)
    return {"run_id": str(m.get("run_id") or run.path.name), "created": m.get("created_utc"),
            "scored_from": m.get("scored_from"),
            "mode": scoring.get("mode"), "scored_at": scoring.get("scored_at"), "versions": versions,
            "export_rows": num("about.export_rows", table.get("rows"), "int") if table else None,
            "checksum": table.get("checksum"), "timings": timings, "notes": [str(n) for n in m.get("notes") or []],
            "problems": run.problems, "files": files, "scores_file": run.scores_file}


def _glance(run: RunFolder, num: Numbers, ctx: dict) -> list:
    items = [("Customers scored", num("data.customers_scored", len(run.scores), "int"), None),
             ("Total predicted CLV", ctx["clv"]["stats"]["total"],
              f"next {ctx['clv']['settings']['horizon'].text} {ctx['clv']['settings']['period']}, discounted")]
    tiers = ctx["tiers"]
    if tiers.get("available"):
        vip = next((r for r in tiers["rows"] if r["tier"] == "VIP"), None)
        if vip is not None:
            items.append(("Share of CLV from VIPs", vip["cells"][3], f"{vip['cells'][0].text} customers"))
    h = ctx["holdout"]
    if h.get("available"):
        rows = {r["metric"]: r["value"] for r in h["rows"]}
        if "aggregate_error_pct" in rows:
            items.append(("Holdout aggregate error", rows["aggregate_error_pct"], "predicted vs actual purchases"))
        if "mae" in rows:
            items.append(("Holdout MAE", rows["mae"], "purchases per customer"))
    else:
        items.append(("Holdout check", None, NO_HOLDOUT.lower()))
    mat = ctx["matrix"]
    if mat.get("available"):
        items.append(("Customers to keep", mat["cells"]["keep"]["customers"], "high current and future value"))
        items.append(("Customers to grow", mat["cells"]["grow"]["customers"], "low current, high future value"))
    return items


# ------------------------------------------------------------------------------------------------
# page
# ------------------------------------------------------------------------------------------------
def _script_json(data: dict) -> str:
    """JSON for a ``<script type="application/json">`` block: nothing in it can close the element."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _template():
    from jinja2 import Environment, StrictUndefined, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    files = resources.files(__name__).joinpath("templates")
    env.globals["STYLE"] = files.joinpath("style.css").read_text(encoding="utf-8")
    return env.from_string(files.joinpath("report.html.j2").read_text(encoding="utf-8"))


def _render(run: RunFolder) -> str:
    import matplotlib

    num = Numbers()
    figures: list[F.Figure] = []
    with matplotlib.rc_context({"font.size": 9, "axes.titlesize": 10, "figure.dpi": F.DPI}):
        ctx = {"data": _data_section(run, num), "models": _models_section(run, num),
               "holdout": _holdout_section(run, num, figures), "clv": _clv_section(run, num, figures)}
        ctx["tiers"] = _tiers_section(run, num)
        ctx["rfm"] = _rfm_section(run, num, figures)
        historical, why = _historical(run)
        ctx["whale"] = _whale_section(run, num, figures, historical, why)
        ctx["matrix"] = _matrix_section(run, num, figures, historical, why)
    ctx["about"] = _about_section(run, num)
    ctx["glance"] = _glance(run, num, ctx)
    by_name = {f.name: f for f in figures}
    data = {"format": FORMAT, "run_id": ctx["about"]["run_id"], "as_of": (run.manifest.get("scoring") or {}).get("as_of"),
            "holdout": ctx["holdout"]["available"], "sections": [s for s, _ in SECTIONS],
            "figures": [f.name for f in figures], "numbers": num.values, "formats": num.kinds,
            "interval_customers": ctx["clv"]["interval_ids"],
            "destroyers": {m: d["ids"] for m, d in ctx["whale"]["destroyers"].items()},
            "rfm": ctx["rfm"].get("grid")}
    return _template().render(sections=SECTIONS, fig=by_name, NO_HOLDOUT=NO_HOLDOUT, data_json=_script_json(data),
                              as_of=data["as_of"],
                              generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              **ctx)


def write_report(folder) -> Path:
    """Write ``<folder>/report.html``: one self-contained page that explains a run folder.

    Reads only the folder's files (``manifest.json`` and ``scores.csv`` / ``scores.parquet`` are
    needed; ``config.yaml``, ``metrics.json`` and ``models/`` are used when present), so it works on a
    finished folder, on one still being written (the pipeline calls it just before the folder is
    renamed into place) and on scoring folders without a holdout. The page has inline figures and
    CSS only: no script runs, nothing is fetched.

    Parameters
    ----------
    folder : str or Path
        A run folder (``clv run``) or a scoring folder with the same files.

    Returns
    -------
    Path
        The report's path, ``<folder>/report.html`` (written atomically: a reader never sees half a
        page).

    Raises
    ------
    ConfigError
        ``folder`` does not exist or has no readable ``manifest.json`` or scores.

    Notes
    -----
    The page's sections each have an ``<h2>`` heading: at a glance, data (rows read, kept and
    left out, and why), fitted models (estimates with intervals, convergence, log-likelihood; R-hat
    and ESS for Bayesian fits), the holdout check (tracking, conditional expectations, error table;
    "No holdout in this run" when there is none), the CLV distribution and intervals, value tiers,
    the RFM grid, the whale curve with the margin destroyers, and the current-vs-future value matrix.

    Current value is the historical margin of the observed repeat purchases
    (:func:`clvmodels.segments.historical_margin` with the run's ``forecast.margin`` and
    ``forecast.cost_per_order``), future value the predicted CLV. A customer is *high* on a measure
    when it is strictly above the median over all customers (a tie at the median counts as low:
    on CDNOW more than half the customers have no repeat purchase, so high current value means any
    margin at all). Quadrants: keep (high, high), grow (low current, high future), harvest (high
    current, low future), fix or let go (low, low).

    Every number shown carries ``data-key``, ``data-format`` and its exact ``data-value``, and the
    same values are in the JSON block ``<script type="application/json" id="report-data">``.

    Examples
    --------
    The report of a run without a holdout on the bundled CDNOW sample:

    >>> import json, os, tempfile
    >>> from clvmodels.pipeline import run
    >>> os.chdir(tempfile.mkdtemp())
    >>> result = run({"name": "demo", "data": {"source": "cdnow_sample"}, "forecast": {"n_draws": 20}})
    >>> path = write_report(result.folder)
    >>> path.name
    'report.html'
    >>> page = path.read_text()
    >>> "No holdout in this run" in page, "http://" in page or "https://" in page
    (True, False)
    >>> start = page.index('<script type="application/json" id="report-data">')
    >>> data = json.loads(page[page.index(">", start) + 1:page.index("</script>", start)])
    >>> data["numbers"]["data.customers_scored"], data["holdout"]
    (2357, False)
    """
    run = read_run_folder(folder)
    html = _render(run)
    path = run.path / REPORT_FILE
    tmp = run.path / f".{REPORT_FILE}.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path
