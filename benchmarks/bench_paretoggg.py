"""Bayesian Pareto/GGG: clvmodels.bayes.ParetoGGG (own data-augmentation Gibbs sampler in numba) on simulated
regular customers, 1,000 and 10,000 of them.

For each size: the wall time of ``fit`` (sampling, building the InferenceData, diagnostics; numba's one-off
compilation is excluded and reported separately), the minimum bulk ESS over the six population parameters
(t, gamma, r, alpha, s, beta), min bulk ESS per second of wall time, the largest R-hat, and whether each true
parameter lies in its central 95% posterior interval.

Anchor: the only other implementation is the R package BTYDplus (``pggg.mcmc.DrawParameters``), not installed
here. Its published cost is quoted instead: about 1.2 hours for 1,000 customers (the figure of the issue that
asked for this model); no BTYDplus run is part of this benchmark.

Run::

    python benchmarks/bench_paretoggg.py                    # 1,000 and 10,000 customers, prints a table
    python benchmarks/bench_paretoggg.py --record           # ... and appends it to RESULTS.md
    python benchmarks/bench_paretoggg.py --sizes 1000 --draws 500 --thin 1
    python benchmarks/bench_paretoggg.py --cdnow             # ... and the CDNOW sample (real data, the hard case)
    python benchmarks/bench_paretoggg.py --sizes --cdnow-full  # the whole CDNOW log, 23,570 customers (real, large)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from _common import record

SECTION = "## Pareto/GGG (Bayesian, own Gibbs sampler)"
# regular buyers: k ~ Gamma(9, 3) (mean 3), weekly purchase rates ~ Gamma(1.5, 3), dropout ~ Gamma(0.6, 30)
TRUE = {"t": 9.0, "gamma": 3.0, "r": 1.5, "alpha": 3.0, "s": 0.6, "beta": 30.0}
BTYDPLUS_SECONDS_1000 = 1.2 * 3600.0      # published anchor (see the module docstring), 1,000 customers


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"model name\s*:\s*(.+)", fh.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, load average at start {load:.1f}"


def _versions() -> str:
    out = []
    for pkg in ("numpy", "numba", "arviz"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    import clvmodels

    return ", ".join(out + [f"clvmodels {clvmodels.__version__}"])


def cdnow_sample(full: bool = False):
    """The CDNOW sample's calibration summary (39 weeks to 1997-09-30, weeks, with ``litt``): real data, where
    the population parameters are identified weakly (k ~ 1 for nearly everyone, s and beta wide); ``full``: the
    whole CDNOW log's (23,570 customers)."""
    import clvmodels as clv

    tx = clv.datasets.cdnow_transactions(sample=not full)
    return clv.calibration_holdout(tx, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W",
                                   litt=True)


def run_one(n: int, args, data=None) -> dict:
    import arviz as az

    from clvmodels.bayes import ParetoGGG
    from clvmodels.simulate import paretoggg as sim

    real = data is not None
    if not real:
        data = sim.simulate(*TRUE.values(), 52.0, n_customers=n, random_state=args.seed)
    n = len(data)
    model = ParetoGGG(draws=args.draws, tune=args.tune, chains=args.chains, thin=args.thin, cores=args.cores,
                      random_seed=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        model.fit(data)
        wall = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    post = model.idata_.posterior
    ess = az.ess(post[list(TRUE)], method="bulk")
    ess_vals = {k: float(ess[k]) for k in TRUE}
    inside = {}
    for name, true in TRUE.items():
        lo, hi = np.quantile(post[name].to_numpy().ravel(), [0.025, 0.975])
        inside[name] = bool(lo <= true <= hi)
    ess_sorted = sorted(ess_vals.items(), key=lambda kv: kv[1])
    return {"n": n, "data": ("CDNOW sample (calibration)" if n < 5000 else "CDNOW, whole log (calibration)") if real else "simulated", "inside95": None if real else inside,
            "ess_all": {k: round(v) for k, v in ess_sorted}, "wall_s": wall, "cpu_s": cpu, "sampling_s": model.sampling_time_, "ess_min": min(ess_vals.values()),
            "ess_min_param": min(ess_vals, key=ess_vals.get), "ess_per_s": min(ess_vals.values()) / wall,
            "max_rhat": float(model.diagnostics_["r_hat"].max()),
            "thin": "/".join(str(v) for v in model.thin_), "diag_warnings": sum(1 for w in caught if "SamplingDiagnostic" in type(w.message).__name__),
            "means": {k: round(float(post[k].mean()), 3) for k in TRUE},
            "repeat_buyers": float((data["frequency"] > 0).mean())}


def to_markdown(rows: list[dict], compile_s: float, args) -> str:
    thin = "the default thinning (each chain's own, from its pilot)" if args.thin is None else f"thin {args.thin}"
    lines = [f"### Pareto/GGG, {args.chains} chains x {args.draws} draws (+{args.tune} warm-up), {thin} "
             f"({dt.date.today().isoformat()})", "",
             f"Machine: {_machine()}. Versions: {_versions()}.",
             f"Command: `python benchmarks/bench_paretoggg.py {' '.join(sys.argv[1:])}`. Wall time is `fit` (sampling "
             "with chains in parallel threads, InferenceData, diagnostics); numba's one-off compilation "
             f"(about 10 s on a cold cache; here {compile_s:.1f} s, compiled or loaded from numba's disk cache) is excluded. ESS is the minimum bulk ESS "
             "over t, gamma, r, alpha, s, beta.", "",
             "CPU s is the process's user + system time during `fit` (both chains): with the cores to itself, the "
             "wall time of the parallel chains is about CPU s / chains.", "",
             "| data | customers | thin | wall s | CPU s | min bulk ESS (param) | ESS / s (wall) | max R-hat | truth in 95% | "
             "diagnostic warnings | vs BTYDplus (published ~1.2 h / 1,000) | bulk ESS of each | posterior means |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        scaled = BTYDPLUS_SECONDS_1000 * r["n"] / 1000.0
        ratio = f"{scaled / r['wall_s']:,.0f}x faster" + ("" if r["n"] == 1000 else " (anchor scaled linearly)")
        truth = "-" if r["inside95"] is None else f"{sum(r['inside95'].values())}/6"
        lines.append(f"| {r['data']} | {r['n']:,} | {r['thin']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['ess_min']:.0f} ({r['ess_min_param']}) | {r['ess_per_s']:.1f} | {r['max_rhat']:.3f} | "
                     f"{truth} | {r['diag_warnings']} | {ratio} | {r['ess_all']} | {r['means']} |")
    lines += ["", f"Simulated data: true parameters {TRUE}; T = 52 (weeks) for every customer.",
              "- BTYDplus (R) is not installed here: its side is the published figure, not a run on this machine."]
    for note in args.note:
        lines.append(f"- {note}")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000], help="simulated sizes (none: --cdnow only)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--thin", type=int, default=None, help="default: the model's (each chain chooses from its own pilot)")
    ap.add_argument("--cdnow", action="store_true", help="add a row for the CDNOW sample (real data)")
    ap.add_argument("--cdnow-full", action="store_true", help="add a row for the whole CDNOW log (23,570 customers)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20161)
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    ap.add_argument("--note", action="append", default=[], help="a line to add under the table")
    args = ap.parse_args()

    from clvmodels.bayes import _pggg_sampler

    start = time.perf_counter()
    _pggg_sampler.warm_up_compiler()
    compile_s = time.perf_counter() - start
    rows = []
    jobs = ([(n, None) for n in args.sizes] + ([(0, cdnow_sample())] if args.cdnow else [])
            + ([(0, cdnow_sample(full=True))] if args.cdnow_full else []))
    for n, data in jobs:
        res = run_one(n, args, data)
        n = res["n"]
        rows.append(res)
        print(f"n={n:,}: wall {res['wall_s']:.1f} s (CPU {res['cpu_s']:.1f} s), min bulk ESS {res['ess_min']:.0f} ({res['ess_min_param']}), "
              f"ESS/s {res['ess_per_s']:.1f}, max R-hat {res['max_rhat']:.3f}, each {res['ess_all']}", flush=True)
    text = to_markdown(rows, compile_s, args)
    print(text)
    print("Anchor: BTYDplus is not installed; the comparison uses its published figure (~1.2 h for 1,000 customers).")
    if args.record:
        record(SECTION, text)


if __name__ == "__main__":
    main()
