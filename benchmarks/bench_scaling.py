"""Scaling: time and peak memory of the whole job against the number of customers, 10^3 to 10^7.

For each size a transaction log simulated from the models themselves is written as Parquet (BG/NBD
purchases with the CDNOW parameters of Fader, Hardie & Lee 2005, first purchases spread over two years,
Gamma-Gamma amounts with the parameters of Fader & Hardie 2013; about 2.5 transactions a customer),
so that every size has a finite maximum-likelihood estimate, and the same job runs in a fresh child
process per contender:

* **clvmodels** - ``clv.rfm_summary(path, engine="duckdb")`` (weeks), BG/NBD and Gamma-Gamma by
  maximum likelihood, ``clv.forecast_clv`` (12 months, 10% yearly discount, 30% margin, point
  forecasts) of every customer;
* **lifetimes 0.11.3** (the anchor, with ``--anchor-python``; up to ``--anchor-max`` customers, as its
  summary and CLV slow down first) - ``summary_data_from_transaction_data`` on the log read with
  pandas, ``BetaGeoFitter`` and ``GammaGammaFitter``, ``customer_lifetime_value`` (same settings,
  its 4.345-week month).

Reported per size and contender: wall time of each step, the child's peak RSS (VmHWM, read in the
child; imports are done before the timings, ``bench_import.py`` times them), and the total CLV (within
about 3%: lifetimes' weekly summary counts whole calendar weeks (its ``to_period("W")``) where ours
measures days / 7, and its month is 4.345 weeks where ours is 365.25 / 12 days). A PNG (time and peak memory against customers, log-log) goes to
``benchmarks/scaling.png``; the README shows it.

    python benchmarks/bench_scaling.py [--customers 1000 --customers 10000 ...] \\
        [--anchor-python /path/to/python-with-lifetimes] [--anchor-max 1000000] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import record  # noqa: E402
from bench_rfm import OBS_END, _status_kb  # noqa: E402

SECTION = "## Scaling (summary + fit + CLV against customers)"
SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
PLOT = HERE / "scaling.png"
BG = dict(r=0.243, alpha=4.414, a=0.793, b=2.426)      # per week; FHL 2005, CDNOW
GG = dict(p=6.25, q=3.74, v=15.44)                      # Fader & Hardie 2013, CDNOW


def make_log(path: Path, n: int, seed: int = 2026) -> int:
    """A BG/NBD + Gamma-Gamma transaction log of ``n`` customers (days, ending at OBS_END); its row count."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    end = np.datetime64(OBS_END, "D")
    start = end - rng.integers(1, 2 * 365, n)                  # first purchase in the last two years
    T = (end - start).astype(np.float64) / 7.0
    lam = rng.gamma(BG["r"], 1.0 / BG["alpha"], n)
    drop_after = rng.geometric(rng.beta(BG["a"], BG["b"], n))  # repeat purchases made before dropping out
    events = rng.poisson(lam * T)                              # the Poisson process over the whole window
    cust = np.repeat(np.arange(n), events)
    when = rng.random(cust.size) * T[cust]
    order = np.lexsort((when, cust))
    cust, when = cust[order], when[order]
    rank = np.arange(cust.size) - np.repeat(np.cumsum(events) - events, events)
    keep = rank < drop_after[cust]
    ids = np.concatenate([np.arange(n), cust[keep]])
    days = np.concatenate([np.zeros(n), np.floor(when[keep] * 7.0)]).astype("timedelta64[D]")
    nu = rng.gamma(GG["q"], 1.0 / GG["v"], n)
    frame = pd.DataFrame({"customer_id": ids.astype(np.int64) + 100_000,
                          "date": (start[ids] + days).astype("datetime64[us]"),
                          "amount": np.round(rng.gamma(GG["p"], 1.0 / nu[ids]), 2) + 0.01})
    frame.to_parquet(path, index=False)
    return len(frame)


def run_ours(data: str) -> dict:
    sys.path.insert(0, str(HERE.parent))        # this checkout's clvmodels
    import clvmodels as clv

    import duckdb  # noqa: F401  (imports outside the timings, as for lifetimes: bench_import.py times them)

    clv.BGNBD, clv.GammaGamma, clv.forecast_clv                # noqa: B018  (the lazy names, imported now)
    times = {}
    t0 = time.perf_counter()
    summary = clv.rfm_summary(data, observation_end=OBS_END, time_unit="W", engine="duckdb")
    times["summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    times["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = clv.forecast_clv(summary, bg, gg, horizon=12, period="M", discount_rate=0.10, margin=0.30, interval=None)
    total = float(fc["clv"].sum())
    times["clv"] = time.perf_counter() - t0
    return {"times": times, "customers": len(summary), "total_clv": total}


def run_lifetimes(data: str) -> dict:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    times = {}
    t0 = time.perf_counter()
    tx = pd.read_parquet(data)
    summary = summary_data_from_transaction_data(tx, "customer_id", "date", monetary_value_col="amount",
                                                 observation_period_end=OBS_END, freq="W")
    times["summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    rep = summary[summary["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    times["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # lifetimes' monthly discount rate for 10% a year, its month 4.345 weeks
    monthly = 1.1 ** (1 / 12) - 1
    value = gg.customer_lifetime_value(bg, summary["frequency"], summary["recency"], summary["T"],
                                       summary["monetary_value"], time=12, discount_rate=monthly, freq="W")
    total = float(0.30 * value.sum())
    times["clv"] = time.perf_counter() - t0
    return {"times": times, "customers": len(summary), "total_clv": total}


def child(name: str, data: str) -> None:
    warnings.simplefilter("ignore")
    result = run_ours(data) if name == "clvmodels" else run_lifetimes(data)
    result.update(name=name, peak_mb=_status_kb("VmHWM") / 1024)
    print(json.dumps(result))


def _run(python: str, name: str, data: Path) -> dict | None:
    proc = subprocess.run([python, __file__, "--child", name, str(data)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        print(f"{name} failed on {data}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, style in (("clvmodels", "o-"), ("lifetimes", "s--")):
        mine = [r for r in results if r["name"] == name]
        if not mine:
            continue
        n = [r["customers"] for r in mine]
        axes[0].plot(n, [sum(r["times"].values()) for r in mine], style, label=name)
        axes[1].plot(n, [r["peak_mb"] for r in mine], style, label=name)
    for ax, what in zip(axes, ("wall time (s): summary + fit + 12-month CLV", "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("customers (about 2.5 transactions each)")
        ax.set_title(what, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"Scaling on {os.cpu_count()} cores (BG/NBD + Gamma-Gamma)", fontsize=11)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, action="append", help="sizes (repeatable; default 10^3 .. 10^7)")
    ap.add_argument("--anchor-python", help="a python with lifetimes 0.11.3 installed (pandas < 3)")
    ap.add_argument("--anchor-max", type=int, default=1_000_000, help="largest size run with lifetimes")
    ap.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md and write scaling.png")
    ap.add_argument("--child", nargs=2, metavar=("NAME", "DATA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = args.customers or list(SIZES)
    results, lines = [], ["| customers | transactions | library | summary (s) | fit (s) | CLV (s) | total (s) | "
                          "peak RSS (MB) | total CLV |", "|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            data = Path(tmp) / "log.parquet"
            rows = make_log(data, n)
            mine = {"clvmodels": _run(sys.executable, "clvmodels", data)}
            if args.anchor_python and n <= args.anchor_max:
                mine["lifetimes"] = _run(args.anchor_python, "lifetimes", data)
        for name, r in mine.items():
            if r is None:
                lines.append(f"| {n:,} | {rows:,} | {name} | failed | | | | | |")
                continue
            results.append(r)
            t = r["times"]
            lines.append(f"| {r['customers']:,} | {rows:,} | {name} | {t['summary']:.2f} | {t['fit']:.2f} | "
                         f"{t['clv']:.2f} | {sum(t.values()):.2f} | {r['peak_mb']:.0f} | {r['total_clv']:,.0f} |")
        if mine.get("lifetimes") and mine.get("clvmodels"):
            a, b = mine["lifetimes"], mine["clvmodels"]
            ratios.append(f"{n:,}: {sum(a['times'].values()) / sum(b['times'].values()):.1f}x faster, "
                          f"peak memory ratio {a['peak_mb'] / b['peak_mb']:.2f}, total CLV within "
                          f"{abs(a['total_clv'] - b['total_clv']) / abs(b['total_clv']):.1%}")
        print(lines[-1], flush=True)
    import clvmodels

    load = os.getloadavg()[0]
    text = (f"### Scaling, {sizes[0]:,} to {sizes[-1]:,} customers ({time.strftime('%Y-%m-%d')})\n\n"
            f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, load "
            f"{load:.1f} at the end; clvmodels {clvmodels.__version__}, numpy {np.__version__}. Each contender in "
            f"a fresh process on the same simulated Parquet log; peak RSS of that process. "
            f"Job: RFM summary (weeks), BG/NBD + Gamma-Gamma MLE, 12-month CLV point forecast of every customer. "
            f"Command: `python benchmarks/bench_scaling.py "
            f"{' '.join(f'--customers {n}' for n in sizes)} --anchor-python PY --record`. Plot: "
            f"`benchmarks/scaling.png`.\n\n" + "\n".join(lines) + "\n\n"
            + ("lifetimes / clvmodels: " + "; ".join(ratios) + ".\n" if ratios else ""))
    print(text)
    if args.record:
        plot(results)
        record(SECTION, text)


if __name__ == "__main__":
    main()
