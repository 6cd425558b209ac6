"""Paired bootstrap of ``compare_models``: time and memory for many customers x many resamples.

Three models' predictions of holdout purchases and revenue for ``--customers`` simulated
customers (Poisson holdout counts, noisy predictions, predictions rounded so that ties occur as
they do for customers with the same history), then ``paired_bootstrap`` with ``--n-boot``
resamples (all nine holdout metrics, incl. the top-decile captures) and ``loglik_bootstrap``
(log-likelihood, AIC, BIC). Peak memory is what numpy allocated on top of the inputs
(tracemalloc). Prints one markdown line; ``--record`` appends it to the "## Model comparison"
section of RESULTS.md.

    python benchmarks/bench_compare.py [--customers 100000] [--n-boot 1000] [--record]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from clvmodels.evaluate.bootstrap import loglik_bootstrap, paired_bootstrap

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADING = "## Model comparison (paired bootstrap)"


def predictions(n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
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


def record(line: str) -> None:
    content = RESULTS.read_text()
    if HEADING not in content:
        content = content.rstrip("\n") + "\n\n" + HEADING + "\n\n" + line + "\n"
    else:
        start = content.index(HEADING) + len(HEADING)
        nxt = re.search(r"^## ", content[start:], flags=re.MULTILINE)
        end = start + nxt.start() if nxt else len(content)
        content = content[:end].rstrip("\n") + "\n" + line + "\n" + ("\n" + content[end:] if nxt else "")
    RESULTS.write_text(content)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args(argv)
    frames = predictions(args.customers)
    boot, seconds, peak = timed(lambda: paired_bootstrap(frames, n_boot=args.n_boot, random_state=0))
    ll = {name: -np.abs(f["expected_purchases"].to_numpy() - f["frequency_holdout"].to_numpy())
          for name, f in frames.items()}
    _, ll_seconds, ll_peak = timed(lambda: loglik_bootstrap(ll, dict.fromkeys(ll, 4), n_boot=args.n_boot,
                                                            random_state=0))
    load = os.getloadavg()[0]
    line = (f"- {time.strftime('%Y-%m-%d')}: {args.customers:,} customers x {args.n_boot} resamples x "
            f"{len(frames)} models, {len(boot.metrics)} holdout metrics: {seconds:.1f} s, peak {peak:.0f} MB "
            f"allocated; log-likelihood / AIC / BIC: {ll_seconds:.1f} s, peak {ll_peak:.0f} MB "
            f"({os.cpu_count()} cores, load {load:.1f}, Python {platform.python_version()}, numpy "
            f"{np.__version__}; `python benchmarks/bench_compare.py --record`).")
    print(line)
    if args.record:
        record(line)
        print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
