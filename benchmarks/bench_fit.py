"""MLE fits side by side: clvmodels vs lifetimes 0.11.3 (BetaGeoFitter, ModifiedBetaGeoFitter,
GammaGammaFitter) on the CDNOW sample and on 1M simulated BG/NBD customers.

Prints fit times, the lifetimes / clvmodels time ratio, both parameter sets and both
log-likelihoods. Each model's LL is evaluated at its own estimate twice: with clvmodels' math and
with lifetimes' own negative log-likelihood function (mean NLL x N, same convention), so the LL
comparison does not depend on whose code computes it.

Run in the benchmark environment (lifetimes needs pandas < 3; see benchmarks/_lifetimes_env.md):

    /work/venv-bench/bin/python benchmarks/bench_fit.py [--n-large 1000000] [--repeat 3] [--record]

``--record`` writes the results under "## MLE fit (BG/NBD, Gamma-Gamma)" in benchmarks/RESULTS.md
(only that section is replaced; ``--append`` keeps the earlier runs there, to show repeatability). Timings are wall clock on a shared machine: we report the best
of ``--repeat`` runs for each side (lifetimes at 1M: ``--repeat-large`` runs, default 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

import clvmodels as clv
from clvmodels.math import bgnbd as bg_math
from clvmodels.math import gammagamma as gg_math
from clvmodels.math import mbgnbd as mbg_math
from clvmodels.simulate import bgnbd as bg_sim

try:
    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter
except ImportError:  # pragma: no cover - the script is meant for the bench environment
    sys.exit("lifetimes is not installed: see benchmarks/_lifetimes_env.md")

HEADING = "## MLE fit (BG/NBD, Gamma-Gamma)"
RESULTS = Path(__file__).with_name("RESULTS.md")


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def lt_loglik(fitter_cls, params, *data):
    """lifetimes' own log-likelihood at ``params`` (its mean NLL times the number of rows)."""
    n = len(data[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nll = fitter_cls._negative_log_likelihood(np.log(np.asarray(params, dtype=float)), *data, np.ones(n), 0.0)
    return -float(nll) * n


def row(name, t_ours, t_lt, p_ours, p_lt, ll_ours, ll_lt, ll_lt_own):
    rel_ll = abs(ll_ours - ll_lt) / abs(ll_lt)
    rel_p = float(np.max(np.abs(np.asarray(p_ours) / np.asarray(p_lt) - 1)))
    return {"what": name, "clv_s": t_ours, "lt_s": t_lt, "ratio": t_lt / t_ours, "ll_clv": ll_ours,
            "ll_lt": ll_lt, "ll_lt_own": ll_lt_own, "rel_ll": rel_ll, "rel_params": rel_p,
            "p_clv": {k: round(float(v), 5) for k, v in zip(p_ours.index, p_ours.to_numpy())},
            "p_lt": {k: round(float(v), 5) for k, v in zip(p_ours.index, np.asarray(p_lt, dtype=float))}}


def bench_cdnow(repeat):
    s = clv.datasets.cdnow_summary()
    x, t_x, T, m = (s[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    rows = []
    for name, ours_cls, lt_cls, math in (("BG/NBD, CDNOW sample (2,357)", clv.BGNBD, BetaGeoFitter, bg_math),
                                          ("MBG/NBD, CDNOW sample (2,357)", clv.MBGNBD, ModifiedBetaGeoFitter, mbg_math)):
        t_o, ours = best_of(lambda c=ours_cls: c().fit(s), repeat)
        t_l, lt = best_of(lambda c=lt_cls: c().fit(s["frequency"], s["recency"], s["T"]), repeat)
        p_lt = lt.params_[["r", "alpha", "a", "b"]].to_numpy()
        ll_lt = float(np.sum(math.loglik(*p_lt, x, t_x, T)))
        rows.append(row(name, t_o, t_l, ours.params_, p_lt, ours.loglik_, ll_lt, lt_loglik(lt_cls, p_lt, x, t_x, T)))
    rb = s[s["frequency"] > 0]
    t_o, ours = best_of(lambda: clv.GammaGamma().fit(s), repeat)
    t_l, lt = best_of(lambda: GammaGammaFitter().fit(rb["frequency"], rb["monetary_value"]), repeat)
    p_lt = lt.params_[["p", "q", "v"]].to_numpy()
    xr, mr = rb["frequency"].to_numpy(float), rb["monetary_value"].to_numpy(float)
    ll_lt = float(np.sum(gg_math.loglik(*p_lt, xr, mr)))
    rows.append(row("Gamma-Gamma, CDNOW repeat buyers (946)", t_o, t_l, ours.params_, p_lt, ours.loglik_, ll_lt,
                    lt_loglik(GammaGammaFitter, p_lt, xr, mr)))
    return rows


def bench_large(n, repeat, repeat_large, lt_subsample):
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    T = np.random.default_rng(1).uniform(1, 100, n)
    data = bg_sim.simulate(**truth, T=T, random_state=5)
    x, t_x, TT = (data[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    t_o, ours = best_of(lambda: clv.BGNBD().fit(data), repeat)
    lt_data = data if lt_subsample is None else data.sample(lt_subsample, random_state=0)
    t_l, lt = best_of(lambda: BetaGeoFitter().fit(lt_data["frequency"], lt_data["recency"], lt_data["T"]), repeat_large)
    p_lt = lt.params_[["r", "alpha", "a", "b"]].to_numpy()
    ll_lt = float(np.sum(bg_math.loglik(*p_lt, x, t_x, TT)))
    name = f"BG/NBD, {n:,} simulated customers"
    if lt_subsample is not None:
        name += f" (lifetimes on a {lt_subsample:,} sub-sample)"
    return [row(name, t_o, t_l, ours.params_, p_lt, ours.loglik_, ll_lt, lt_loglik(BetaGeoFitter, p_lt, x, t_x, TT))]


def machine():
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GB"
    except ImportError:
        mem = "?"
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (f"{os.cpu_count()} cores, {mem}, {platform.machine()}, load average at start "
            f"{', '.join(f'{v:.1f}' for v in load)}; Python {platform.python_version()}, clvmodels {clv.__version__}, "
            f"lifetimes {lifetimes.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}")


def render(rows, args, machine_line):
    lines = [f"### BG/NBD, MBG/NBD and Gamma-Gamma fits ({dt.date.today().isoformat()})", "",
             f"Machine: {machine_line}. Best of {args.repeat} (lifetimes at {args.n_large:,}: "
             f"{args.repeat_large} run). Command: `/work/venv-bench/bin/python benchmarks/bench_fit.py "
             f"--n-large {args.n_large} --repeat {args.repeat} --record`.", "",
             "| what | clvmodels s | lifetimes s | lifetimes / clvmodels | LL clvmodels | LL lifetimes (at its estimate) "
             "| rel. LL diff | max rel. param diff |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['clv_s']:.3f} | {r['lt_s']:.3f} | {r['ratio']:.1f} | {r['ll_clv']:.4f} | "
                     f"{r['ll_lt']:.4f} | {r['rel_ll']:.1e} | {r['rel_params']:.1e} |")
    lines.append("")
    for r in rows:
        lines.append(f"- {r['what']}: clvmodels {r['p_clv']}; lifetimes {r['p_lt']}; lifetimes' own LL function at "
                     f"its estimate {r['ll_lt_own']:.4f}")
    lines.append("")
    lines.append("clvmodels times include input validation, row compression, the optimisation and the covariance "
                 "(analytic Hessian for BG/NBD and MBG/NBD, numerical for Gamma-Gamma); lifetimes times include its "
                 "own variance matrix. LLs are totals in the papers' "
                 "convention, both evaluated with clvmodels' log-likelihood at each side's estimate (lifetimes' own "
                 "function gives the same value, listed above).")
    return "\n".join(lines) + "\n"


def record(text, append=False):
    content = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if HEADING in content:
        start = content.index(HEADING) + len(HEADING)
        nxt = re.search(r"^## ", content[start:], flags=re.M)
        end = start + nxt.start() if nxt else len(content)
        kept = content[start:end].strip("\n") if append else ""
        body = (kept + "\n\n" if kept else "") + text
        content = content[:start] + "\n\n" + body + "\n" + content[end:]
    else:
        content = content.rstrip("\n") + "\n\n" + HEADING + "\n\n" + text
    RESULTS.write_text(content)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-large", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repeat-large", type=int, default=1, help="lifetimes runs at the large size")
    ap.add_argument("--lt-subsample", type=int, default=None, help="fit lifetimes on a sub-sample (if too slow)")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--append", action="store_true", help="with --record: keep earlier runs in the section")
    args = ap.parse_args(argv)
    machine_line = machine()
    print(machine_line)
    rows = bench_cdnow(args.repeat) + bench_large(args.n_large, args.repeat, args.repeat_large, args.lt_subsample)
    text = render(rows, args, machine_line)
    print(text)
    if args.record:
        record(text, append=args.append)
        print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
