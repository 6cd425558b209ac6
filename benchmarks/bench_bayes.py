"""Bayesian BG/NBD: clvmodels.bayes.BGNBD next to pymc-marketing's BetaGeoModel.

Both fit the same simulated customers (BG/NBD with CDNOW-like parameters, summary in whole days,
T uniform on 1..365 days) with the same chains, draws and tune. For each we record the wall time
of ``fit`` (model build + compile + tune + draws) and the minimum bulk ESS over r, alpha, a, b,
and report min bulk ESS per second of wall time. Then clvmodels alone on 1,000,000 customers.

Run (needs the [bayes] extra plus pymc-marketing; see the [bench] extra)::

    python benchmarks/bench_bayes.py                       # 100k side by side + 1M, prints a table
    python benchmarks/bench_bayes.py --record              # ... and appends it to RESULTS.md
    python benchmarks/bench_bayes.py --which ours,million  # skip the (slow) anchor

``--anchor-sampler nutpie`` also runs pymc-marketing with nutpie, to separate what comes from the
sampler from what comes from the likelihood.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Bayesian (NUTS)"
# CDNOW-like parameters (Fader, Hardie & Lee 2005) with alpha converted from weeks to days
TRUE = {"r": 0.243, "alpha": 4.414 * 7.0, "a": 0.793, "b": 2.426}
PARAMS = ("r", "alpha", "a", "b")


def simulate(n: int, seed: int) -> pd.DataFrame:
    from clvmodels.bayes import simulate_bgnbd

    rng = np.random.default_rng(seed)
    T = rng.integers(1, 366, size=n).astype(float)
    df = simulate_bgnbd(T, TRUE["r"], TRUE["alpha"], TRUE["a"], TRUE["b"], random_state=rng)
    df["recency"] = np.minimum(np.floor(df["recency"]), df["T"])  # whole days, as an RFM summary in 'D'
    return df


def _min_ess(idata) -> tuple[float, dict]:
    import arviz as az

    names = [p for p in PARAMS if p in idata.posterior]
    ess = az.ess(idata, var_names=names, method="bulk")
    vals = {k: float(ess[k]) for k in names}
    return min(vals.values()), vals


def _means(idata) -> dict:
    return {k: round(float(idata.posterior[k].mean()), 4) for k in PARAMS if k in idata.posterior}


def run_ours(df: pd.DataFrame, chains: int, draws: int, tune: int, seed: int, cores: int,
             sampler: str = "nuts", nuts_sampler: str = "auto") -> dict:
    import clvmodels as clv

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = clv.bayes.BGNBD(chains=chains, draws=draws, tune=tune, random_seed=seed, progressbar=False,
                                sampler=sampler, cores=cores, nuts_sampler=nuts_sampler).fit(df)
    wall = time.perf_counter() - t0
    out = {"wall_s": wall, "means": _means(model.idata_)}
    if sampler == "nuts":
        ess_min, ess = _min_ess(model.idata_)
        out.update(ess_min=ess_min, ess=ess, ess_per_s=ess_min / wall,
                   sampler=model.idata_.posterior.attrs.get("clvmodels_sampler"),
                   max_rhat=float(model.diagnostics_["r_hat"].max()),
                   divergences=int(model.diagnostics_.attrs["divergences"]),
                   diag_warnings=len([w for w in caught if "Diagnostic" in w.category.__name__]))
        steps = model.idata_.sample_stats.get("n_steps")
        if steps is not None:
            out["mean_leapfrog_steps"] = float(steps.mean())
    return out


def run_anchor(df: pd.DataFrame, chains: int, draws: int, tune: int, seed: int, cores: int,
               nuts_sampler: str) -> dict:
    from pymc_marketing.clv import BetaGeoModel

    data = df.reset_index()[["customer_id", "frequency", "recency", "T"]]
    t0 = time.perf_counter()
    model = BetaGeoModel()
    kwargs = dict(chains=chains, draws=draws, tune=tune, random_seed=seed, progressbar=False)
    if nuts_sampler != "pymc":
        kwargs["nuts_sampler"] = nuts_sampler
        kwargs["nuts_sampler_kwargs"] = {"cores": cores}
    else:
        # PyMC's default is cpu_count() // 2 = 1 process on a 2-core machine: give it the same cores as ours
        kwargs["cores"] = cores
    idata = model.fit(data=data, **kwargs)
    wall = time.perf_counter() - t0
    ess_min, ess = _min_ess(idata)
    return {"wall_s": wall, "ess_min": ess_min, "ess": ess, "ess_per_s": ess_min / wall, "means": _means(idata),
            "sampler": nuts_sampler}


def _versions() -> str:
    out = []
    for pkg in ("clvmodels", "pymc", "pytensor", "nutpie", "arviz", "numpy", "pymc-marketing"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


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


def to_markdown(res: dict, args) -> str:
    lines = [f"### BG/NBD NUTS, {args.n:,} simulated customers, {args.chains} chains x {args.draws} draws "
             f"(+{args.tune} tune) ({dt.date.today().isoformat()})", "",
             f"Machine: {_machine()}. Versions: {_versions()}.",
             f"Command: `python benchmarks/bench_bayes.py {' '.join(sys.argv[1:])}`. Wall time is the whole "
             "`fit` (build, compile, tune, draws); ESS is the minimum bulk ESS over r, alpha, a, b.", "",
             "| run | wall s | min bulk ESS | ESS / s | ratio to pymc-marketing | posterior means |",
             "|---|---|---|---|---|---|"]
    base = res.get("anchor", {}).get("ess_per_s")
    for key, label in (("ours", "clvmodels BGNBD (" + str(res.get("ours", {}).get("sampler")) + ")"),
                       ("ours_pymc", "clvmodels BGNBD (nuts:pymc)"),
                       ("anchor", "pymc-marketing BetaGeoModel (PyMC NUTS)"),
                       ("anchor_nutpie", "pymc-marketing BetaGeoModel (nutpie)"),
                       ("million", f"clvmodels BGNBD, 1,000,000 customers ({res.get('million', {}).get('sampler')})"),
                       ("million_advi", "clvmodels BGNBD sampler='advi', 1,000,000 customers")):
        r = res.get(key)
        if not r:
            continue
        ess = r.get("ess_min")
        eps = r.get("ess_per_s")
        ratio = f"{eps / base:.1f}x" if (eps and base) else "-"
        lines.append(f"| {label} | {r['wall_s']:.1f} | {ess:.0f} | {eps:.1f} | {ratio} | {r['means']} |"
                     if ess is not None else f"| {label} | {r['wall_s']:.1f} | - | - | - | {r['means']} |")
    lines.append("")
    lines.append(f"True parameters: {TRUE}.")
    for note in args.note:
        lines.append(f"- {note}")
    for key in ("ours", "ours_pymc", "million"):
        r = res.get(key)
        if r and "max_rhat" in r:
            lines.append(f"- {key}: max R-hat {r['max_rhat']:.4f}, divergences {r['divergences']}, "
                         f"diagnostic warnings {r['diag_warnings']}, mean leapfrog steps per draw "
                         f"{r.get('mean_leapfrog_steps', float('nan')):.2f}")
    lines.append("")
    return "\n".join(lines)


def record(text: str) -> None:
    body = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in body:
        body = body.rstrip("\n") + f"\n\n{SECTION}\n\n"
    head, _, tail = body.partition(SECTION)
    nxt = tail.find("\n## ")
    if nxt == -1:
        tail = tail.rstrip("\n") + "\n\n" + text + "\n"
    else:
        tail = tail[:nxt].rstrip("\n") + "\n\n" + text + "\n" + tail[nxt:]
    RESULTS.write_text(head + SECTION + tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--cores", type=int, default=2, help="cores for both libraries (chains run in parallel)")
    ap.add_argument("--which", default="ours,anchor,million",
                    help="comma list of ours, ours_pymc, anchor, anchor_nutpie, million, million_advi")
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    ap.add_argument("--json", type=Path, help="also write raw results as JSON here")
    ap.add_argument("--note", action="append", default=[], help="a line to add under the table")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="merge results of an earlier run of this script (its --json file), e.g. a long anchor run")
    args = ap.parse_args()
    which = set(args.which.split(","))
    res: dict = {}
    for path in args.merge:
        res.update(json.loads(path.read_text()))
    df = simulate(args.n, args.seed)
    print(f"{args.n:,} customers, {int((df['frequency'] > 0).sum()):,} repeat buyers", flush=True)
    if "ours" in which:
        res["ours"] = run_ours(df, args.chains, args.draws, args.tune, args.seed, args.cores)
        print("ours", json.dumps(res["ours"]), flush=True)
    if "ours_pymc" in which:
        res["ours_pymc"] = run_ours(df, args.chains, args.draws, args.tune, args.seed, args.cores, nuts_sampler="pymc")
        print("ours_pymc", json.dumps(res["ours_pymc"]), flush=True)
    if "anchor" in which:
        res["anchor"] = run_anchor(df, args.chains, args.draws, args.tune, args.seed, args.cores, "pymc")
        print("anchor", json.dumps(res["anchor"]), flush=True)
    if "anchor_nutpie" in which:
        res["anchor_nutpie"] = run_anchor(df, args.chains, args.draws, args.tune, args.seed, args.cores, "nutpie")
        print("anchor_nutpie", json.dumps(res["anchor_nutpie"]), flush=True)
    if "million" in which or "million_advi" in which:
        big = simulate(1_000_000, args.seed + 1)
        if "million" in which:
            res["million"] = run_ours(big, args.chains, args.draws, args.tune, args.seed, args.cores)
            print("million", json.dumps(res["million"]), flush=True)
        if "million_advi" in which:
            res["million_advi"] = run_ours(big, args.chains, args.draws, args.tune, args.seed, args.cores, sampler="advi")
            print("million_advi", json.dumps(res["million_advi"]), flush=True)
    if "ours" in res and "anchor" in res:
        print(f"ESS/s ratio clvmodels / pymc-marketing: {res['ours']['ess_per_s'] / res['anchor']['ess_per_s']:.1f}x")
    text = to_markdown(res, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
