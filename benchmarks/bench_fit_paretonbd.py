"""Pareto/NBD and BG/BB fits next to lifetimes 0.11.3, plus the heavy-buyer likelihood.

Times (best of N) the maximum-likelihood fit of clv.ParetoNBD on the CDNOW sample summary and
clv.BGBB on the donations data against lifetimes' ParetoNBDFitter / BetaGeoBetaBinomFitter in the
same process, prints estimates, log-likelihoods and time ratios, and counts how many heavy-buyer
likelihood values (x = 1,500 purchases, T = 10,000 days, parameters 1e-3..1e3) each library
returns finite and correct (mpmath at 50 digits as the judge).

Scale (``--scale``): Pareto/NBD fits on simulated customers (CDNOW-like parameters of the FHL
note, first purchases spread over a daily grid): 100,000 customers observed up to 39 weeks, a
long-history log (21,166 customers, up to 180 weeks, summarised in days, like the real log of the
"Scale" issue) and 1,000,000 customers (ours only unless ``--lt-million``). Each size is timed
``--repeat`` times for clvmodels and ``--lt-repeat`` times for lifetimes, with the 1-minute load
average before each run (the machine has 2 cores shared with other work).

    python benchmarks/bench_fit_paretonbd.py [--record] [--scale] [--repeat 3] [--lt-repeat 1]

lifetimes needs pandas < 3: run in an environment made with `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
import warnings

import numpy as np

import clvmodels as clv
from _common import record
from clvmodels.math import paretonbd as pnbd

SECTION = "## Pareto/NBD, BG/BB (MLE fits next to lifetimes)"


def best_of(fn, n: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def heavy_buyer_grid(t_x):
    x, T = 1500.0, 10_000.0
    grid = np.array(list(itertools.product([1e-3, 1.0, 1e3], repeat=4)))
    return grid, x, t_x, T


def mpmath_loglik(r, alpha, s, beta, x, t_x, T):
    import mpmath as mp

    with mp.workdps(50):
        r, alpha, s, beta, x, t_x, T = (mp.mpf(float(v)) for v in (r, alpha, s, beta, x, t_x, T))
        a = r + s + x
        if alpha >= beta:
            F = lambda tau: mp.hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + tau)) / (alpha + tau) ** a  # noqa: E731
        else:
            F = lambda tau: mp.hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + tau)) / (beta + tau) ** a  # noqa: E731
        L = (mp.exp(mp.loggamma(r + x) - mp.loggamma(r)) * alpha ** r * beta ** s
             * ((alpha + T) ** (-(r + x)) * (beta + T) ** (-s) + s * (F(t_x) - F(T)) / a))
        return float(mp.log(L))


PNBD_WEEKS = (0.553, 10.578, 0.606, 11.669)   # FHL note, CDNOW, weeks


def simulate_summary(n: int, weeks: float, unit: str, seed: int):
    """Pareto/NBD customers with first purchases 1..weeks*7 days ago (summary in weeks or days)."""
    from clvmodels.simulate import paretonbd as sim

    rng = np.random.default_rng(seed)
    days = rng.integers(1, int(weeks * 7) + 1, n).astype(float)
    k = 1.0 if unit == "W" else 7.0
    r, alpha, s, beta = PNBD_WEEKS
    T = days / 7.0 * k
    frame = sim.simulate(r, alpha * k, s, beta * k, T, random_state=rng)
    return clv.RFMSummary.from_frame(frame, time_unit=unit)


def timed_runs(fn, n: int):
    """[(seconds, load average before)], result of the last run."""
    runs, out = [], None
    for _ in range(n):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        out = fn()
        runs.append((time.perf_counter() - t0, load))
    return runs, out


def fit_lifetimes(summary):
    """lifetimes' ParetoNBDFitter on an RFM summary (its warnings silenced)."""
    from lifetimes import ParetoNBDFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ParetoNBDFitter().fit(summary["frequency"], summary["recency"], summary["T"])


def scale_rows(args, have_lifetimes: bool) -> list[dict]:
    cases = [("100,000 simulated customers, T up to 39 weeks (weeks)", 100_000, 39, "W", True),
             ("long history: 21,166 simulated customers, T up to 180 weeks (days)", 21_166, 180, "D", True),
             ("1,000,000 simulated customers, T up to 39 weeks (weeks)", 1_000_000, 39, "W", args.lt_million)]
    rows = []
    for what, n, weeks, unit, with_lt in cases:
        summary = simulate_summary(n, weeks, unit, seed=n + weeks)
        x, t_x, T = (summary[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
        clv.ParetoNBD().fit(summary.iloc[:2000])                  # imports and first-call costs out of the timing
        runs, ours = timed_runs(lambda: clv.ParetoNBD().fit(summary), args.repeat)
        line = {"what": f"Pareto/NBD fit, {what}", "ours_runs": runs, "ours_ll": ours.loglik_,
                "ours_p": {k: round(float(v), 5) for k, v in ours.params_.items()}, "converged": ours.converged_,
                "max_x": float(x.max())}
        if have_lifetimes and with_lt:
            lt_runs, lt = timed_runs(lambda: fit_lifetimes(summary), args.lt_repeat)
            p = lt.params_
            ll_lt = float(pnbd.loglik(p["r"], p["alpha"], p["s"], p["beta"], x, t_x, T).sum())
            line.update(lt_runs=lt_runs, lt_ll=ll_lt, lt_p={k: round(float(v), 5) for k, v in p.items()})
        rows.append(line)
        sys.stdout.write(f"{line}\n")
        sys.stdout.flush()
    return rows


def render_scale(rows: list[dict], args, lt_version: str) -> list[str]:
    def fmt(runs):
        return ", ".join(f"{t:.2f} (load {ld:.1f})" for t, ld in runs)

    text = [f"\n### Pareto/NBD fit at scale ({time.strftime('%Y-%m-%d')})\n",
            f"Machine: {os.cpu_count()} cores (shared: other engineers' tests ran at the same time), "
            f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, lifetimes {lt_version}. "
            f"clvmodels {args.repeat} runs, lifetimes {args.lt_repeat} per size; each time with the 1-minute load "
            "average just before it. Command: `python benchmarks/bench_fit_paretonbd.py --scale --record`.\n",
            "| what | clvmodels s: best (all runs, load) | lifetimes s (load) | lifetimes / clvmodels (best) | "
            "LL clvmodels | LL lifetimes (at its estimate) | rel. LL diff |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        best = min(t for t, _ in r["ours_runs"])
        if "lt_runs" in r:
            lt_best = min(t for t, _ in r["lt_runs"])
            rel = (r["ours_ll"] - r["lt_ll"]) / abs(r["lt_ll"])
            text.append(f"| {r['what']} | {best:.2f} ({fmt(r['ours_runs'])}) | {fmt(r['lt_runs'])} | "
                        f"{lt_best / best:.1f} | {r['ours_ll']:.4f} | {r['lt_ll']:.4f} | {rel:+.1e} |")
        else:
            text.append(f"| {r['what']} | {best:.2f} ({fmt(r['ours_runs'])}) | - | - | {r['ours_ll']:.4f} | - | - |")
    text.append("")
    for r in rows:
        text.append(f"- {r['what']}: clvmodels {r['ours_p']} (converged {r['converged']}, largest frequency "
                    f"{r['max_x']:.0f})" + (f"; lifetimes {r['lt_p']}" if "lt_p" in r else ""))
    text.append("")
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--scale", action="store_true", help="only the Pareto/NBD fits at scale")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lt-repeat", type=int, default=1)
    ap.add_argument("--lt-million", action="store_true", help="also time lifetimes on 1,000,000 customers")
    args = ap.parse_args()
    if args.scale:
        try:
            import lifetimes
            lt_version = lifetimes.__version__
        except ImportError:
            lifetimes, lt_version = None, "not installed"
        out = "\n".join(render_scale(scale_rows(args, lifetimes is not None), args, lt_version))
        sys.stdout.write(out + "\n")
        if args.record:
            record(SECTION, out.strip("\n") + "\n")
        return

    try:
        import lifetimes
        from lifetimes import BetaGeoBetaBinomFitter, ParetoNBDFitter
    except ImportError:
        lifetimes = None

    cd = clv.datasets.cdnow_summary()
    don = clv.datasets.donations()
    rows = []

    t_ours, ours = best_of(lambda: clv.ParetoNBD().fit(cd), args.n)
    line = {"what": "Pareto/NBD fit, CDNOW sample (2,357)", "ours_s": t_ours, "ours_ll": ours.loglik_,
            "ours_p": ours.params_.round(3).to_dict()}
    if lifetimes is not None:
        t_lt, lt = best_of(lambda: fit_lifetimes(cd), args.n)
        p = lt.params_
        ll_lt = float(pnbd.loglik(p["r"], p["alpha"], p["s"], p["beta"], cd["frequency"], cd["recency"], cd["T"]).sum())
        line.update(lt_s=t_lt, lt_ll=ll_lt, lt_p={k: round(float(v), 3) for k, v in p.items()})
    rows.append(line)

    t_ours, ours = best_of(lambda: clv.BGBB().fit(don), args.n)
    line = {"what": "BG/BB fit, donations (11,104 donors, 22 patterns)", "ours_s": t_ours, "ours_ll": ours.loglik_,
            "ours_p": ours.params_.round(3).to_dict()}
    if lifetimes is not None:
        def fit_bb():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return BetaGeoBetaBinomFitter().fit(don["frequency"], don["recency"], don["n_periods"],
                                                    weights=don["weight"])
        t_lt, lt = best_of(fit_bb, args.n)
        p = lt.params_
        from clvmodels.math import bgbb
        ll_lt = float((don["weight"] * bgbb.loglik(p["alpha"], p["beta"], p["gamma"], p["delta"], don["frequency"],
                                                    don["recency"], don["n_periods"])).sum())
        line.update(lt_s=t_lt, lt_ll=ll_lt, lt_p={k: round(float(v), 3) for k, v in p.items()})
    rows.append(line)

    # heavy buyer: how many of 81 likelihood values are finite and within 1e-8 of mpmath
    heavy = []
    for tx in (9990.0, 10.0):
        grid, x, t_x, T = heavy_buyer_grid(tx)
        ref = np.array([mpmath_loglik(*p, x, t_x, T) for p in grid])
        ours_ll = pnbd.loglik(*grid.T, x, t_x, T)
        ok_ours = int(np.sum(np.isfinite(ours_ll) & (np.abs(ours_ll - ref) <= 1e-8 * np.maximum(1, np.abs(ref)))))
        ok_lt = None
        if lifetimes is not None:
            vals = []
            for p in grid:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    try:
                        v = float(np.asarray(ParetoNBDFitter._conditional_log_likelihood(
                            tuple(p), np.array([x]), np.array([t_x]), np.array([T])))[0])
                    except (ValueError, OverflowError, FloatingPointError, ZeroDivisionError):
                        v = np.nan
                vals.append(v)
            vals = np.array(vals)
            ok_lt = int(np.sum(np.isfinite(vals) & (np.abs(vals - ref) <= 1e-8 * np.maximum(1, np.abs(ref)))))
        heavy.append((tx, ok_ours, ok_lt))

    lt_version = getattr(lifetimes, "__version__", "not installed") if lifetimes is not None else "not installed"
    text = [f"\n### Pareto/NBD and BG/BB fits ({time.strftime('%Y-%m-%d')})\n",
            f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
            f"lifetimes {lt_version}. Best of {args.n}. Command: `python benchmarks/bench_fit_paretonbd.py --record`.\n",
            "| what | clvmodels s | lifetimes s | lifetimes / clvmodels | LL clvmodels | LL lifetimes (at its estimate) |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        if "lt_s" in r:
            text.append(f"| {r['what']} | {r['ours_s']:.3f} | {r['lt_s']:.3f} | {r['lt_s'] / r['ours_s']:.1f} | "
                        f"{r['ours_ll']:.3f} | {r['lt_ll']:.3f} |")
        else:
            text.append(f"| {r['what']} | {r['ours_s']:.3f} | - | - | {r['ours_ll']:.3f} | - |")
    text.append("")
    for r in rows:
        text.append(f"- {r['what']}: clvmodels {r['ours_p']}" + (f"; lifetimes {r['lt_p']}" if "lt_p" in r else ""))
    for tx, ok_ours, ok_lt in heavy:
        text.append(f"- Heavy buyer (x=1,500, t_x={tx:,.0f}, T=10,000, 81 parameter sets in 1e-3..1e3): log-likelihood "
                    f"finite and within 1e-8 of mpmath: clvmodels {ok_ours}/81"
                    + (f", lifetimes {ok_lt}/81" if ok_lt is not None else "") + ".")
    text.append("")
    out = "\n".join(text)
    sys.stdout.write(out + "\n")
    if args.record:
        record(SECTION, out.strip("\n") + "\n")


if __name__ == "__main__":
    main()
