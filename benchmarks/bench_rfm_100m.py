"""100M transactions on one machine: the DuckDB engine's RFM summary within a memory limit.

Writes a synthetic Parquet data set with DuckDB itself (``--rows`` transactions, default 100M, of
``--customers`` customers, default 5M: integer ids, timestamps over three years, amounts with 2% refunds
as negative rows) in ``--dir`` (kept for later runs), then times in a fresh child process
``clv.rfm_summary(path, engine="duckdb", returns="net", duckdb_config={"memory_limit": ..., "threads": 2,
"temp_directory": ...})``: wall time and the child's peak RSS (``os.wait4``), which includes the
interpreter and the returned 5M-row summary. DuckDB spills to ``temp_directory`` when the limit is
reached. The anchor, lifetimes' ``summary_data_from_transaction_data``, needs the whole log in pandas
(100M rows: several GB before it starts); it is run with ``--anchor-python`` on ``--anchor-rows`` rows
(default 10M) only, and its time is given per row next to ours.

    python benchmarks/bench_rfm_100m.py [--rows 100000000] [--customers 5000000] [--memory-limit 3GB]
        [--dir /var/tmp/clv-100m] [--anchor-python PY] [--anchor-rows 10000000] [--record]

DuckDB's own progress bar shows with ``duckdb_config={"enable_progress_bar": True}`` on a terminal
(``--progress`` here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

from _common import record, timed_child

HERE = Path(__file__).resolve().parent
SECTION = "## 100M transactions (DuckDB, memory-limited)"

CHILD = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
import clvmodels as clv
path, limit, tmp, progress = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
t = time.perf_counter()
s = clv.rfm_summary(path, None, "W", returns="net", engine="duckdb", date_col="ts",
                    duckdb_config={"memory_limit": limit, "threads": 2, "temp_directory": tmp,
                                   "enable_progress_bar": progress})
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "customers": len(s), "repeat_buyers": int((s["frequency"] > 0).sum()),
                  "mean_frequency": float(s["frequency"].mean()), "report": s.report.as_dict()}, default=str))
'''

ANCHOR = r'''
import json, sys, time
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
tx = pd.read_parquet(sys.argv[1])
tx = tx[tx["amount"] > 0]
t = time.perf_counter()
s = summary_data_from_transaction_data(tx, "customer_id", "ts", monetary_value_col="amount", freq="W")
print(json.dumps({"wall_s": time.perf_counter() - t, "customers": len(s)}))
'''


def generate(path: Path, rows: int, customers: int) -> None:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": "3GB", "threads": 2, "temp_directory": str(path.parent / "tmp")})
    # hash-scattered customers; each row's day uniform over three years, time of day uniform; 2% refunds
    con.execute(f"""
        COPY (
            SELECT (hash(i) % {customers})::BIGINT AS customer_id,
                   TIMESTAMP '2022-01-01' + to_microseconds((hash(i * 7 + 1) % (1096 * 86400))::BIGINT
                                                            * 1000000) AS ts,
                   CASE WHEN hash(i * 13 + 5) % 50 = 0 THEN -5.0
                        ELSE round(1 + (hash(i * 3 + 2) % 20000) / 100.0, 2) END AS amount
            FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    con.close()


def timed(cmd: list[str]) -> tuple[dict, float, float]:
    """The child's last stdout line as JSON, its wall seconds and peak RSS (MB)."""
    out, wall, rss = timed_child(cmd)
    return json.loads(out.strip().splitlines()[-1]), wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--customers", type=int, default=5_000_000)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--dir", default="/var/tmp/clv-100m")
    ap.add_argument("--anchor-python", default=None)
    ap.add_argument("--anchor-rows", type=int, default=10_000_000)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    folder = Path(args.dir)
    data = folder / f"tx_{args.rows}_{args.customers}.parquet"
    if not data.exists():
        t = time.perf_counter()
        generate(data, args.rows, args.customers)
        print(f"wrote {data} ({data.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s")
    spill = folder / "spill"
    spill.mkdir(exist_ok=True)
    ours, wall, rss = timed([sys.executable, "-c", CHILD, str(data), args.memory_limit, str(spill),
                             "1" if args.progress else "0"])
    rows = [("clvmodels rfm_summary, DuckDB engine, returns='net'", args.rows, ours["wall_s"], wall, rss,
             ours["customers"])]
    if args.anchor_python:
        small = folder / f"tx_{args.anchor_rows}_{args.customers}.parquet"
        if not small.exists():
            generate(small, args.anchor_rows, args.customers)
        anchor, awall, arss = timed([args.anchor_python, "-c", ANCHOR, str(small)])
        rows.append(("lifetimes summary_data_from_transaction_data (pandas, purchases only)", args.anchor_rows,
                     anchor["wall_s"], awall, arss, anchor["customers"]))
    stamp = dt.date.today().isoformat()
    load = os.getloadavg()[0]
    lines = [f"### {args.rows:,} transactions, {args.customers:,} customer ids, memory_limit {args.memory_limit} "
             f"({stamp})", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the end; "
             f"Python {platform.python_version()}; data: {data.stat().st_size / 1e9:.2f} GB Parquet (DuckDB-written).",
             "", "| run | rows | summary (s) | process wall (s) | peak RSS (MB) | customers | rows / s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, n, s, w, r, c in rows:
        lines.append(f"| {label} | {n:,} | {s:.1f} | {w:.1f} | {r:.0f} | {c:,} | {n / s:,.0f} |")
    lines.append("")
    lines.append(f"Data report of ours: {json.dumps(ours['report'], default=str)[:400]}")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.record:
        record(SECTION, report)


if __name__ == "__main__":
    main()
