"""Spark in local mode vs the DuckDB engine: summary + fit + score of a synthetic Parquet log.

The same three steps on the same file, each contender in its own fresh child process:

1. the RFM summary of the log (``clv.rfm_summary(path, engine="duckdb")`` / ``clvmodels.spark.rfm_summary``
   on ``spark.read.parquet(path)``);
2. BG/NBD and Gamma-Gamma by maximum likelihood (on the pandas summary / on the rows Spark compressed);
3. a 12-month CLV of every customer (``clv.forecast_clv`` / ``clvmodels.spark.forecast_clv``, point
   forecasts), summed so that every customer is scored.

Reported per contender: wall time of each step (Spark's session start-up apart), the peak RSS of the
Python driver process and, for Spark, of its JVM (in local mode the JVM is driver and executors at once;
the Python workers scoring the partitions are not counted), the rows collected to the driver for the fit,
and checks that both give the same customers, estimates and total CLV.

    python benchmarks/bench_spark.py --rows 1000000 --rows 10000000 --record
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
from bench_scaling import make_log  # noqa: E402  (a log simulated from BG/NBD + Gamma-Gamma: finite MLEs)

FORECAST = dict(horizon=12, period="M", discount_rate=0.10, margin=0.30, interval=None)


def _jvm_peak_kb(spark) -> int:
    """VmHWM of the JVM that pyspark launched (local mode: driver and executors), 0 when unknown."""
    try:
        pid = spark.sparkContext._gateway.proc.pid
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (AttributeError, OSError):
        pass
    return 0


def run_duckdb(data: str) -> dict:
    import clvmodels as clv

    times = {}
    t0 = time.perf_counter()
    summary = clv.rfm_summary(data, observation_end=OBS_END, time_unit="W", engine="duckdb")
    times["summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bg, gg = clv.BGNBD().fit(summary), clv.GammaGamma().fit(summary)
    times["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    total = float(clv.forecast_clv(summary, bg, gg, **FORECAST)["clv"].sum())
    times["score"] = time.perf_counter() - t0
    return {"times": times, "customers": len(summary), "collected": f"{len(summary):,} (all)", "total_clv": total,
            "loglik": [bg.loglik_, gg.loglik_], "jvm_peak_mb": 0.0}


def run_spark(data: str, driver_memory: str) -> dict:
    import clvmodels as clv
    import clvmodels.spark as cs

    times = {}
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", driver_memory)
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    times["start"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = cs.rfm_summary(spark.read.parquet(data), observation_end=OBS_END, time_unit="W")
    times["summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows_bg = cs.compressed_summary(summary)                    # what cs.fit(model, summary) does
    rows_gg = cs.compressed_summary(summary, ["frequency", "recency", "T", "monetary_value"])
    bg = clv.BGNBD().fit(rows_bg, weights="weight")
    gg = clv.GammaGamma().fit(rows_gg, weights="weight")
    times["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = cs.forecast_clv(summary, bg, gg, **FORECAST)
    got = fc.agg(F.count("clv").alias("n"), F.sum("clv").alias("total")).collect()[0]
    times["score"] = time.perf_counter() - t0
    out = {"times": times, "customers": int(got["n"]), "collected": f"{len(rows_bg):,} + {len(rows_gg):,}",
           "total_clv": float(got["total"]), "loglik": [bg.loglik_, gg.loglik_],
           "jvm_peak_mb": _jvm_peak_kb(spark) / 1024}
    spark.stop()
    return out


def child(name: str, data: str, driver_memory: str) -> None:
    warnings.simplefilter("ignore")
    result = run_duckdb(data) if name == "duckdb" else run_spark(data, driver_memory)
    result.update(name=name, peak_mb=_status_kb("VmHWM") / 1024)
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, action="append", help="log sizes (repeatable; default 1,000,000)")
    ap.add_argument("--driver-memory", default="2g", help="spark.driver.memory of the local session")
    ap.add_argument("--record", action="store_true", help="append the results to benchmarks/RESULTS.md")
    ap.add_argument("--child", nargs=3, metavar=("NAME", "DATA", "MEMORY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import pandas as pd
    import pyspark

    import clvmodels

    lines = ["| rows | customers | engine | start (s) | summary (s) | fit (s) | score (s) | total (s) | "
             "driver peak RSS (MB) | JVM peak RSS (MB) | rows on the driver for the fits (BG/NBD + Gamma-Gamma) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    checks = []
    for rows in args.rows or [1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "log.parquet"
            # about 2.36 transactions a customer; timestamps in microseconds (Spark reads no nanosecond Parquet)
            rows = make_log(data, max(1, round(rows / 2.36)))
            results = {}
            for name in ("duckdb", "spark"):
                proc = subprocess.run([sys.executable, __file__, "--child", name, str(data), args.driver_memory],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.stderr.write(proc.stderr[-5000:])
                    raise SystemExit(f"{name} failed on {rows:,} rows")
                results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, r in results.items():
            t = r["times"]
            total = t["summary"] + t["fit"] + t["score"]
            jvm = f"{r['jvm_peak_mb']:.0f}" if name == "spark" else "-"
            lines.append(f"| {rows:,} | {r['customers']:,} | {name} | {t.get('start', 0.0):.1f} | {t['summary']:.1f} | "
                         f"{t['fit']:.1f} | {t['score']:.1f} | {total:.1f} | {r['peak_mb']:.0f} | {jvm} | "
                         f"{r['collected']} |")
        d, s = results["duckdb"], results["spark"]
        ll = np.max(np.abs(np.subtract(d["loglik"], s["loglik"])) / np.abs(d["loglik"]))
        clv_diff = abs(d["total_clv"] - s["total_clv"]) / abs(d["total_clv"])
        checks.append(f"{rows:,} rows: same customers {d['customers'] == s['customers']}, log-likelihoods of the fits "
                      f"agree to {ll:.1e}, total CLV to {clv_diff:.1e} (relative)")
    header = (f"\n### Spark (local[2]) vs DuckDB: summary + fit + score ({time.strftime('%Y-%m-%d')})\n\n"
              f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
              f"Java {_java_version()}; clvmodels {clvmodels.__version__}, pyspark {pyspark.__version__}, "
              f"pandas {pd.__version__}, numpy {np.__version__}. Each engine runs in a fresh process on the same "
              f"Parquet log (simulated from BG/NBD + Gamma-Gamma with the CDNOW parameters, about 2.4 rows a customer, as in "
              f"bench_scaling.py); start is Spark's session start-up (not in the total). Fit: "
              f"BG/NBD + Gamma-Gamma (Spark: on compressed rows); score: 12-month CLV of every customer. Command: "
              f"`python benchmarks/bench_spark.py {' '.join(f'--rows {r}' for r in args.rows or [1_000_000])} "
              f"--record`.\n\n")
    text = header + "\n".join(lines) + "\n\nChecks: " + "; ".join(checks) + ".\n"
    sys.stdout.write(text)
    if args.record:
        record("## Spark (local mode) vs DuckDB", text.strip())


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
        return out.split('"')[1] if '"' in out else out.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


if __name__ == "__main__":
    main()
