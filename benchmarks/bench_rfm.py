"""RFM summary: clvmodels (pandas and DuckDB engines) vs lifetimes' summary_data_from_transaction_data.

One script, same data, each contender in its own fresh child process so that peak memory (ru_maxrss)
is its own. Reported per contender: wall time of the summary call, peak RSS of the process, and the
RSS increase over the process's state just before the call (the loaded log), plus ratios against
lifetimes, and a check that all contenders give the same summary.

Needs the [bench] extra (lifetimes 0.11.3 runs only on pandas < 3):

    python -m venv /tmp/bench && . /tmp/bench/bin/activate && pip install -e ".[bench]"
    python benchmarks/bench_rfm.py --rows 10_000_000 --record
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
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OBS_END = "2021-12-31"


def make_log(path: Path, rows: int, customers: int, seed: int = 2026) -> None:
    import pandas as pd

    rng = np.random.default_rng(seed)
    # customers buy at gamma-distributed rates from a staggered start (like a cohort log)
    cust = rng.integers(0, customers, rows)
    start = rng.integers(0, 365, customers)[cust]
    day = np.minimum(start + rng.exponential(200, rows).astype(np.int64), 2 * 365 + 364)
    df = pd.DataFrame({
        "customer_id": cust.astype(np.int64) + 100_000,
        "date": (np.datetime64("2020-01-01", "D") + day).astype("datetime64[ns]"),
        "amount": np.round(rng.gamma(2.0, 25.0, rows) + 0.5, 2),
    })
    df.to_parquet(path, index=False)


def _status_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (high-water mark) of this process image. ru_maxrss is not used: Linux
    carries the forked parent's high-water mark over exec, which would charge the parent's data to
    every child."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(name: str, data: str, out: str) -> None:
    import pandas as pd

    tx = None if name.startswith("clvmodels-duckdb-path") else pd.read_parquet(data)
    if name == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data

        def call():
            return summary_data_from_transaction_data(tx, "customer_id", "date", "amount",
                                                      observation_period_end=OBS_END, freq="D")
    else:
        import warnings

        import clvmodels as clv

        warnings.simplefilter("ignore")
        engine = "pandas" if name == "clvmodels-pandas" else "duckdb"
        config = {"memory_limit": "256MB"} if name.endswith("256MB") else None
        source = data if tx is None else tx
        clv.rfm_summary  # resolve the lazy import outside the timed call, as lifetimes' import is

        def call():
            return clv.rfm_summary(source, observation_end=OBS_END, time_unit="D", engine=engine,
                                   duckdb_config=config)

    base = _status_kb("VmRSS")
    t0 = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    result = result[["frequency", "recency", "T", "monetary_value"]].astype(float)
    result.index = result.index.astype(np.int64)
    result.to_parquet(out)
    print(json.dumps({"name": name, "seconds": seconds, "peak_mb": peak / 1024, "delta_mb": (peak - base) / 1024,
                      "customers": len(result)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--record", action="store_true", help="append the results to benchmarks/RESULTS.md")
    ap.add_argument("--child", nargs=3, metavar=("NAME", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import pandas as pd

    names = ["lifetimes", "clvmodels-pandas", "clvmodels-duckdb-frame", "clvmodels-duckdb-path",
             "clvmodels-duckdb-path-256MB"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "log.parquet"
        make_log(data, args.rows, args.customers)
        results, frames = {}, {}
        for name in names:
            out = Path(tmp) / f"{name}.parquet"
            proc = subprocess.run([sys.executable, __file__, "--child", name, str(data), str(out)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                raise SystemExit(f"{name} failed")
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            frames[name] = pd.read_parquet(out)
    ref = frames["lifetimes"]
    agree = {}
    for name in names[1:]:
        f = frames[name].loc[ref.index]
        agree[name] = float(max((f[c] - ref[c]).abs().max() for c in ref.columns))
    lt = results["lifetimes"]
    lines = ["| contender | time (s) | peak RSS (MB) | RSS added by the call (MB) | speed-up vs lifetimes | "
             "peak vs lifetimes | max abs diff vs lifetimes |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        r = results[name]
        lines.append(f"| {name} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {r['delta_mb']:.0f} | "
                     f"{lt['seconds'] / r['seconds']:.1f}x | {r['peak_mb'] / lt['peak_mb']:.2f} | "
                     f"{agree.get(name, 0.0):.2e} |")
    import clvmodels

    header = (f"\n### RFM summary, {args.rows:,} transactions, {results['lifetimes']['customers']:,} customers "
              f"({time.strftime('%Y-%m-%d')})\n\n"
              f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
              f"clvmodels {clvmodels.__version__}, pandas {pd.__version__}, numpy {np.__version__}, "
              f"lifetimes 0.11.3. Each contender runs in a fresh process; time is the summary call only "
              f"(the log is loaded from Parquet before, except for the DuckDB path engine, which reads the file "
              f"itself). Command: `python benchmarks/bench_rfm.py --rows {args.rows} --record`.\n\n")
    text = header + "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.record:
        with open(HERE / "RESULTS.md", "a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
