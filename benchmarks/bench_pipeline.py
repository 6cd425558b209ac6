"""The production path end to end: ``clv run configs/cdnow.yaml`` and ``clv score`` on 1M customers.

Each command runs in a fresh child process; the script records its wall time and the child's peak
RSS (``os.wait4``), best and median of ``--repeat`` runs:

* ``clv run configs/cdnow.yaml`` - the main job on the CDNOW master log (23,570 customers): summary,
  BG/NBD + Gamma-Gamma fits, holdout evaluation, refit on all data, 12-month CLV with 90% intervals
  (500 draws), segments, run folder with report.html, CSV drop.
* ``clv score RUN --transactions log.parquet`` - a synthetic log of ``--customers`` customers (default
  1,000,000; simulated from BG/NBD over two years, text ids, amounts) scored with the saved models
  of a run trained on its first 50,000 customers: summary, forecast with intervals, segments, scoring
  folder with report.html, Parquet drop. No fit.
* the anchor, lifetimes 0.11.3 (``--anchor-python``, a Python with lifetimes and pandas < 3), doing
  the comparable core of each: for the main job, calibration/holdout summary, BetaGeoFitter and
  GammaGammaFitter fits, holdout conditional expectations and a 12-month CLV (no intervals, report,
  refit, segments or delivery); for scoring, the summary of the same 1M log and the CLV of every
  customer with fixed parameters (no fit). Less work than ours in both cases.

    python benchmarks/bench_pipeline.py [--customers 1000000] [--repeat 3]
        [--anchor-python /path/to/python-with-lifetimes] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import record, timed_child

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTION = "## Production path (clv run, clv score)"

ANCHOR_MAIN = r'''
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import calibration_and_holdout_data
from clvmodels.datasets import cdnow_transactions
tx = cdnow_transactions()
cal = calibration_and_holdout_data(tx, "customer_id", "date", calibration_period_end="1997-09-30",
                                   observation_period_end="1998-06-30", freq="W", monetary_value_col="amount")
bg = BetaGeoFitter().fit(cal["frequency_cal"], cal["recency_cal"], cal["T_cal"])
bg.conditional_expected_number_of_purchases_up_to_time(cal["duration_holdout"], cal["frequency_cal"],
                                                       cal["recency_cal"], cal["T_cal"])
rep = cal[(cal["frequency_cal"] > 0) & (cal["monetary_value_cal"] > 0)]
gg = GammaGammaFitter().fit(rep["frequency_cal"], rep["monetary_value_cal"])
clv = gg.customer_lifetime_value(bg, cal["frequency_cal"], cal["recency_cal"], cal["T_cal"],
                                 cal["monetary_value_cal"], time=12, discount_rate=0.01, freq="W")
print(len(clv))
'''

ANCHOR_SCORE = r'''
import sys
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
tx = pd.read_parquet(sys.argv[1])
s = summary_data_from_transaction_data(tx, "customer_id", "date", monetary_value_col="amount", freq="W")
bg = BetaGeoFitter()
bg.params_ = pd.Series(dict(r=0.243, alpha=4.414, a=0.793, b=2.426))
bg.predict = bg.conditional_expected_number_of_purchases_up_to_time      # what fit() would set
gg = GammaGammaFitter()
gg.params_ = pd.Series(dict(p=6.25, q=3.74, v=15.44))
clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"], time=12,
                                 discount_rate=0.01, freq="W")
print(len(clv))
'''


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    _, wall, rss = timed_child(cmd, cwd)
    return wall, rss


def make_log(n: int, path: Path, seed: int = 2026) -> int:
    """A synthetic log from the BG/NBD process (CDNOW-like parameters, Fader, Hardie & Lee 2005: r=0.243,
    alpha=4.414 per week, a=0.793, b=2.426): n customers whose first purchase falls over two years,
    exponential inter-purchase times, dropout after each repeat purchase; text ids, Gamma amounts."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    k = 40                                                    # at most k repeat purchases per customer
    start = rng.integers(0, 700, n)
    T = (730 - start) / 7.0                                   # weeks observed after the first purchase
    lam = rng.gamma(0.243, 1 / 4.414, n)
    p = rng.beta(0.793, 2.426, n)
    alive_for = rng.geometric(p)                              # purchases until dropout (the last one drops)
    times = np.cumsum(rng.exponential(1.0, (n, k)) / lam[:, None], axis=1)
    keep = (times < T[:, None]) & (np.arange(k)[None, :] < (alive_for - 1)[:, None])
    cust_rep, idx = np.nonzero(keep)
    cust = np.r_[np.arange(n), cust_rep]
    day = np.r_[start, start[cust_rep] + np.floor(times[cust_rep, idx] * 7).astype(np.int64)]
    order = np.argsort(cust, kind="stable")
    cust, day = cust[order], day[order]
    frame = pd.DataFrame({"customer_id": np.char.add("C", np.char.zfill(cust.astype(str), 7)),
                          "date": (np.datetime64("2024-01-01") + day.astype("timedelta64[D]")).astype("datetime64[us]"),
                          "amount": np.round(rng.gamma(2.0, 25.0, cust.size) + 1.0, 2)})
    frame.to_parquet(path, index=False)
    return len(frame)


def summarize(label: str, runs: list[tuple[float, float]]) -> dict:
    walls = [w for w, _ in runs]
    return {"label": label, "best_s": min(walls), "median_s": statistics.median(walls),
            "peak_rss_mb": max(r for _, r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--anchor-python", default=None)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    clv = shutil.which("clv") or f"{sys.executable} -m clvmodels.cli"
    clv_cmd = clv.split()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = [timed([*clv_cmd, "run", str(ROOT / "configs" / "cdnow.yaml"), "--quiet", "--output-dir",
                       str(work / f"main{i}"), "--set", f"export.0.directory={work / f'drop{i}'}"], work)
                for i in range(args.repeat)]
        rows.append(summarize("clv run configs/cdnow.yaml (23,570 customers)", runs))
        if args.anchor_python:
            runs = [timed([args.anchor_python, "-c", ANCHOR_MAIN], work) for _ in range(args.repeat)]
            rows.append(summarize("lifetimes: the main job's core (no intervals/report/refit/delivery)", runs))

        log = work / "log.parquet"
        n_rows = make_log(args.customers, log)
        train = work / "train.parquet"
        import pandas as pd

        first = pd.read_parquet(log)
        first[first["customer_id"] < "C0050000"].to_parquet(train, index=False)
        config = work / "train.yaml"
        config.write_text(f"""name: train
data: {{source: {train}}}
summary: {{time_unit: W}}
forecast: {{horizon: 12, period: M, margin: 0.3, interval: 0.9, n_draws: 200}}
output: {{dir: {work / 'trained'}, formats: [parquet]}}
export: [{{target: file, directory: {work / 'score_drop'}, format: parquet}}]
""")
        subprocess.run([*clv_cmd, "run", str(config), "--quiet"], check=True, cwd=work, stdout=subprocess.DEVNULL)
        (folder,) = (work / "trained").glob("train-*")
        runs = [timed([*clv_cmd, "score", str(folder), "--transactions", str(log), "--quiet", "--output-dir",
                       str(work / f"scored{i}")], work) for i in range(args.repeat)]
        rows.append(summarize(f"clv score, {args.customers:,} customers ({n_rows:,} rows), intervals", runs))
        if args.anchor_python:
            runs = [timed([args.anchor_python, "-c", ANCHOR_SCORE, str(log)], work) for _ in range(args.repeat)]
            rows.append(summarize(f"lifetimes: summary + CLV of the same {args.customers:,} customers, no "
                                  "intervals", runs))

    stamp = dt.date.today().isoformat()
    lines = [f"### clv run and clv score, best / median of {args.repeat} ({stamp})", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             "each command in a fresh process (imports included); peak RSS of that process.", "",
             "| command | best (s) | median (s) | peak RSS (MB) |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['best_s']:.1f} | {r['median_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.record:
        record(SECTION, report)


if __name__ == "__main__":
    main()
