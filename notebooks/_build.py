"""Build the tutorial notebooks from the cell sources below (stored without outputs).

    python notebooks/_build.py            # rewrite notebooks/*.ipynb
    python notebooks/_build.py OUT_DIR    # write them elsewhere (the tests compare both)

Edit the cells here, not in the .ipynb files, so that the notebooks stay reviewable as code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


QUICKSTART = [
    md("""
# Quickstart: CLV on CDNOW in ten cells

The CDNOW data set (Fader, Hardie & Lee 2005) holds every purchase of the 23,570 customers who first
bought at the online music store CDNOW in the first quarter of 1997, up to June 1998. We will

1. turn the transaction log into an RFM summary,
2. fit the BG/NBD purchase model and the Gamma-Gamma spend model by maximum likelihood,
3. check the forecasts against a 39-week holdout (does it predict?),
4. compare BG/NBD, Pareto/NBD and MBG/NBD with a machine-learning baseline, and
5. compute each customer's discounted CLV with a contribution margin.

Everything runs on a laptop in well under a minute.
"""),
    code("""
import matplotlib.pyplot as plt
import pandas as pd

import clvmodels as clv
from clvmodels import plots

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)
"""),
    md("""
## 1. From transactions to an RFM summary

`calibration_holdout` builds the summary of the calibration period (to 1997-09-30, 39 weeks) and adds what
each customer did in the holdout (to 1998-06-30): `frequency` is the number of *repeat* purchases, `recency`
the time from the first to the last purchase and `T` the customer's age, all in weeks; purchases on the same
day are one purchase.
"""),
    code("""
tx = clv.datasets.cdnow_transactions()
print(tx.shape)
tx.head()
"""),
    code("""
cal = clv.calibration_holdout(tx, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W")
cal.head()
"""),
    code("""
cal[["frequency", "recency", "T", "monetary_value", "frequency_holdout"]].describe().T
"""),
    md("""
## 2. Fit BG/NBD and Gamma-Gamma

The BG/NBD (Fader, Hardie & Lee 2005) describes how often customers buy and when they silently drop out; the
Gamma-Gamma model describes how much they spend per purchase. `summary` shows estimates, standard errors and
95% intervals. One CDNOW customer's repeat purchases were all free: `nonpositive_spend="population"` leaves that
customer out of the spend fit (with a warning) and scores them with the population mean spend.
"""),
    code("""
bg = clv.BGNBD().fit(cal)
bg.summary
"""),
    code("""
gg = clv.GammaGamma(nonpositive_spend="population").fit(cal)
gg.summary
"""),
    code("""
ax = plots.plot_period_transactions(bg, cal)
"""),
    md("""
## 3. Does it predict? The holdout check

`evaluate` compares the model's predictions for weeks 40-78 with what the customers actually did: per-customer
error and correlation, the aggregate error, the conditional expectations by calibration frequency (FHL 2005,
Figure 4), the weekly tracking of the cohort (Figures 2-3), the spend model's calibration and how well the
predicted revenue ranks customers (top-decile capture, Gini).
"""),
    code("""
ev = clv.evaluate.evaluate(cal, bg, gg, transactions=tx, name="BG/NBD")
ev.table[["section", "metric", "value"]].set_index(["section", "metric"]).round(3)
"""),
    code("""
ev.conditional_expectations
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
plots.plot_tracking(ev, ax=axes[0])
plots.plot_tracking(ev, cumulative=True, ax=axes[1])
fig.tight_layout()
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
plots.plot_conditional_expectations(ev, ax=axes[0])
plots.plot_spend_calibration(ev, ax=axes[1])
fig.tight_layout()
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plots.plot_frequency_recency_matrix(bg, summary=cal, t=39, ax=axes[0])
plots.plot_probability_alive_matrix(bg, summary=cal, ax=axes[1])
fig.tight_layout()
"""),
    code("""
# sanity checks that keep this notebook honest when it runs in CI
assert ev.metrics["purchases_actual"] == cal["frequency_holdout"].sum()
assert 0.5 < ev.metrics["correlation"] < 0.9
assert ev.metrics["revenue_top_capture"] > 3 * ev.metrics["revenue_top_share"]
"""),
    md("""
## 4. Which model? Compare on the same split

`compare_models` fits BG/NBD, Pareto/NBD and MBG/NBD on the calibration data, evaluates each on the holdout and
ranks them by their mean rank over the absolute aggregate error, MAE, correlation and top-decile revenue capture.
A gradient-boosting model on RFM features (trained on an earlier window of the calibration period) runs in the
same comparison, so you can see when the probabilistic models win and when they do not.
"""),
    code("""
cmp = clv.evaluate.compare_models(cal, transactions=tx, spend_model=gg)
cmp.table[["kind", "aggregate_error_pct", "mae", "correlation", "revenue_top_capture", "mean_rank"]]
"""),
    code("""
print(cmp.reason)
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plots.plot_conditional_expectations(cmp, ax=axes[0])
plots.plot_revenue_capture(cmp, max_share=0.5, ax=axes[1])
fig.tight_layout()
"""),
    md("""
## 5. CLV with a margin

For the forecast we refit the recommended model on all the data (to 1998-06-30) and value the next 12 months:
contribution margin 30% of revenue, 10% annual discount rate, 90% intervals from the parameters' uncertainty.
"""),
    code("""
rfm = clv.rfm_summary(tx, observation_end="1998-06-30", time_unit="W")
rfm = rfm[~((rfm["frequency"] > 0) & (rfm["monetary_value"] <= 0))]   # forecast_clv needs a positive spend
purchase = type(cmp.models[cmp.recommended])().fit(rfm)
spend = clv.GammaGamma().fit(rfm)
fc = clv.forecast_clv(rfm, purchase, spend, horizon=12, period="M", discount_rate=0.10, margin=0.30,
                      interval=0.9, n_draws=100, random_state=42)
fc.sort_values("clv", ascending=False).head()
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plots.plot_clv_distribution(fc, log=True, ax=axes[0])
plots.plot_clv_intervals(fc, n=20, ax=axes[1])
fig.tight_layout()
"""),
    code("""
print(f"{len(fc):,} customers, total 12-month CLV {fc['clv'].sum():,.0f} USD; "
      f"the top 10% hold {fc['clv'].nlargest(len(fc) // 10).sum() / fc['clv'].sum():.0%} of it")
assert (fc["clv_lower"] <= fc["clv"]).all() and (fc["clv"] <= fc["clv_upper"]).all()
"""),
]


BAYES = [
    md("""
# The Bayesian workflow: priors, sampling, diagnostics, intervals

The MLE fit gives one set of parameters; the Bayesian fit gives a posterior, so every prediction comes with its
uncertainty. This notebook walks through the usual loop on the CDNOW sample (2,357 customers, Fader, Hardie &
Lee 2005): look at the priors, check what they imply, sample, check the sampler, check the fit, then predict
with intervals. It needs the `[bayes]` extra (PyMC, ArviZ). Draws are kept small so it runs in CI; use
`draws=1000, chains=4` for real work.
"""),
    code("""
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import clvmodels as clv
from clvmodels import plots

pd.set_option("display.precision", 3)
tx = clv.datasets.cdnow_transactions(sample=True)
cal = clv.calibration_holdout(tx, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W")
cal.shape
"""),
    md("""
## 1. Priors

Defaults are weakly informative log-normal priors (see `clvmodels.bayes.priors`); any of them can be replaced
from Python or a YAML file. A *prior predictive check* simulates calibration histograms from parameters drawn
from the priors: the observed histogram should be plausible, not necessarily likely.
"""),
    code("""
clv.bayes.BGNBD.default_priors()
"""),
    code("""
model = clv.bayes.BGNBD(draws=300, tune=300, chains=2, random_seed=2024, progressbar=False)
model.prior_predictive_check(cal, n_draws=100, random_seed=1)
"""),
    md("""
## 2. Sampling

NUTS (nutpie when installed) on the BG/NBD likelihood, which is evaluated once per distinct (x, t_x, T) row.
"""),
    code("""
start = time.perf_counter()
model.fit(cal)
print(f"sampled in {time.perf_counter() - start:.1f} s")
"""),
    md("""
## 3. Diagnostics

R-hat close to 1 and large effective sample sizes say the chains agree and mix; divergences would be reported
as warnings and listed in `diagnostic_problems_`. The posterior means sit next to the maximum-likelihood
estimates (with this much data the likelihood dominates the priors).
"""),
    code("""
model.summary()
"""),
    code("""
print("problems:", model.diagnostic_problems_)
mle = clv.BGNBD().fit(cal)
pd.DataFrame({"posterior mean": model.params_, "MLE": mle.params_})
"""),
    code("""
fig = plots.plot_posterior(model)
"""),
    code("""
model.posterior_predictive_check(n_draws=100, random_seed=1)
"""),
    md("""
## 4. Predictions with intervals

Predictions are `xarray.DataArray`s with dimensions `(chain, draw, customer_id)`: one prediction per posterior
draw. Their quantiles are credible intervals of the *expected* value.
"""),
    code("""
some = cal.loc[[1, 2, 18, 1516]]
ep = model.expected_purchases(some, t=39)
pa = model.p_alive(some)
pd.DataFrame({
    "frequency": some["frequency"], "recency": some["recency"], "T": some["T"],
    "expected purchases (mean)": ep.mean(("chain", "draw")).to_numpy(),
    "5%": ep.quantile(0.05, ("chain", "draw")).to_numpy(),
    "95%": ep.quantile(0.95, ("chain", "draw")).to_numpy(),
    "P(alive)": pa.mean(("chain", "draw")).to_numpy(),
})
"""),
    md("""
## 5. Does it predict? Holdout check of the posterior mean

The same `evaluate` as for the MLE models; Bayesian predictions are posterior means.
"""),
    code("""
ev = clv.evaluate.evaluate(cal, model, transactions=tx, name="BG/NBD (Bayes)", max_draws=100)
ev_mle = clv.evaluate.evaluate(cal, mle, transactions=tx, name="BG/NBD (MLE)")
pd.DataFrame({e.name: e.metrics for e in (ev, ev_mle)}).loc[
    ["aggregate_error_pct", "mae", "correlation", "revenue_top_capture", "tracking_holdout_error_pct"]]
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
plots.plot_tracking([ev, ev_mle], cumulative=True, ax=axes[0])
plots.plot_conditional_expectations([ev, ev_mle], ax=axes[1])
fig.tight_layout()
"""),
    md("""
## 6. CLV with intervals

A Bayesian Gamma-Gamma gives spend draws; `forecast_clv` pairs purchase draw *i* with spend draw *i*, so the
interval carries both uncertainties.
"""),
    code("""
spend = clv.bayes.GammaGamma(draws=300, tune=300, chains=2, random_seed=2024, progressbar=False).fit(cal)
fc = clv.forecast_clv(cal, model, spend, horizon=12, period="M", discount_rate=0.10, margin=0.30, interval=0.9,
                      n_draws=100)
fc.sort_values("clv", ascending=False).head()
"""),
    code("""
ax = plots.plot_clv_intervals(fc, n=20)
"""),
    code("""
assert (fc["clv_lower"] <= fc["clv_upper"]).all()
assert abs(model.params_["r"] - mle.params_["r"]) < 0.05
"""),
]


CRM = [
    md("""
# From CLV to CRM: segments, whale curve, export

Scores only help when they reach the people who act on them. This notebook turns a CLV forecast for the full
CDNOW cohort into a CRM table: RFM scores, value tiers, the whale curve of contribution margin, and a delivery
to a file drop that is safe to repeat.
"""),
    code("""
import tempfile

import matplotlib.pyplot as plt
import pandas as pd

import clvmodels as clv
from clvmodels import plots, segments

pd.set_option("display.precision", 2)
pd.set_option("display.width", 120)
"""),
    md("""
## 1. Forecast

Pareto/NBD + Gamma-Gamma on the whole history (to 1998-06-30); 12 monthly periods, 30% margin, a handling cost
of 2 USD per order and a 10% annual discount rate.
"""),
    code("""
tx = clv.datasets.cdnow_transactions()
rfm = clv.rfm_summary(tx, observation_end="1998-06-30", time_unit="W")
rfm = rfm[~((rfm["frequency"] > 0) & (rfm["monetary_value"] <= 0))]   # one customer's repeat purchases were free
purchase = clv.ParetoNBD().fit(rfm)
spend = clv.GammaGamma().fit(rfm)
fc = clv.forecast_clv(rfm, purchase, spend, horizon=12, period="M", discount_rate=0.10, margin=0.30,
                      cost_per_order=2.0, interval=0.9, n_draws=100, random_state=7)
fc.describe().T[["mean", "50%", "max"]]
"""),
    md("""
## 2. RFM scores and value tiers

RFM quintile scores describe the past; value tiers (VIP = top 5% by CLV, core = rest of the top half, low, and
margin-negative) describe the expected future. The cross-tab shows how much of the future value sits in each
past-behaviour cell.
"""),
    code("""
scores = segments.rfm_scores(rfm)
tiers = segments.value_tiers(fc)
tiers.summary
"""),
    code("""
table = scores.join(fc["clv"])
table.groupby(["r_score", "f_score"])["clv"].mean().unstack().round(1)
"""),
    md("""
## 3. The whale curve

Customers ranked by contribution margin, most profitable first: historical (observed repeat purchases) and
predicted (12-month CLV). With a cost per order, some customers destroy margin and the curve bends down at the
end.
"""),
    code("""
hist = segments.historical_margin(rfm, margin=0.30, cost_per_order=2.0)
wc = segments.whale_curve(historical=hist, predicted=fc["clv"])
wc.summary
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plots.plot_whale_curve(wc, ax=axes[0])
plots.plot_clv_distribution(fc, log=True, ax=axes[1])
fig.tight_layout()
"""),
    md("""
## 4. The CRM table and its delivery

One row per customer with the fields a CRM team uses. `to_file` validates the table, writes it atomically with a
manifest and returns a receipt; delivering the same run again is a no-op that says so.
"""),
    code("""
crm = fc[["p_alive", "churn_probability", "expected_purchases", "expected_revenue", "clv", "clv_lower",
          "clv_upper"]].join(tiers.customers[["tier", "rank"]]).join(scores[["rfm_cell", "rfm_total"]])
crm["tier"] = crm["tier"].astype(str)
crm.sort_values("rank").head()
"""),
    code("""
with tempfile.TemporaryDirectory() as drop:
    first = clv.export.to_file(crm, drop, run_id="cdnow-demo")
    again = clv.export.to_file(crm, drop, run_id="cdnow-demo")
    delivered = pd.read_csv(first.details["path"], index_col="customer_id")
print(first.rows, "rows, checksum", first.checksum[:12], "- second delivery skipped:", again.already_delivered)
assert again.already_delivered and len(delivered) == len(crm)
"""),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_bayesian_workflow.ipynb": BAYES,
    "03_clv_to_crm.ipynb": CRM,
}


def build(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name.split('_')[0]}-{i:02d}"   # stable ids: rebuilding gives identical files
        nbformat.validate(nb)
        path = out_dir / name
        nbformat.write(nb, str(path))
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for p in build(target):
        print(p)
