"""Export targets next to plain pandas writers (which give no exactly-once guarantee).

Times clv.export.to_file (CSV, Parquet) against DataFrame.to_csv / to_parquet, clv.export.to_sql
against DataFrame.to_sql (SQLite file; PostgreSQL too when CLV_TEST_POSTGRES_URL is set, e.g. by
``eval "$(bash .ci/postgres.sh)"``), and clv.export.to_http against a loopback receiver (no anchor:
throughput only). Each clvmodels call includes validation, checksum, fsyncs and the ledger; each
pandas call is the bare write. Fresh destinations for every repetition; best of N.

    python benchmarks/bench_export.py [--rows 200000] [--repeat 3] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from clvmodels import export

HERE = Path(__file__).resolve().parent


def make_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p_alive = rng.uniform(0, 1, n)
    purchases = rng.gamma(2.0, 1.5, n) * p_alive
    clv = purchases * rng.gamma(3.0, 20.0, n)
    return pd.DataFrame({
        "p_alive": p_alive, "churn_probability": 1 - p_alive, "expected_purchases": purchases,
        "clv": clv, "clv_lower": clv * 0.5, "clv_upper": clv * 1.5,
        "segment": pd.Categorical(np.where(p_alive > 0.5, "active", "at_risk")),
    }, index=pd.Index(np.char.add("c", np.arange(n).astype(str)), name="customer_id"))


def best_of(fn, n: int) -> float:
    best = np.inf
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args()
    df = make_table(args.rows)
    n, rep = args.rows, args.repeat
    work = Path(tempfile.mkdtemp(prefix="bench_export_"))
    rows: list[tuple[str, float, float | None]] = []

    def fresh() -> Path:
        d = work / uuid.uuid4().hex
        d.mkdir()
        return d

    t_prep = best_of(lambda: export.prepare_table(df), rep)
    rows.append(("prepare_table (validate + checksum)", t_prep, None))
    rows.append(("file CSV", best_of(lambda: export.to_file(df, fresh(), "r1", "csv"), rep),
                 best_of(lambda: df.to_csv(fresh() / "r1.csv"), rep)))
    rows.append(("file Parquet", best_of(lambda: export.to_file(df, fresh(), "r1", "parquet"), rep),
                 best_of(lambda: df.to_parquet(fresh() / "r1.parquet"), rep)))

    def sqlite_url() -> str:
        return f"sqlite:///{fresh() / 'crm.db'}"

    rows.append(("SQL SQLite", best_of(lambda: export.to_sql(df, sqlite_url(), "clv_scores", "r1"), rep),
                 best_of(lambda: _pandas_sql(df, sqlite_url(), "clv_scores"), rep)))

    pg = os.environ.get("CLV_TEST_POSTGRES_URL")
    if pg:
        engine = sa.create_engine(pg)
        made: list[str] = []

        def name() -> str:
            made.append(f"bench_{uuid.uuid4().hex[:10]}")
            return made[-1]

        try:
            rows.append(("SQL PostgreSQL",
                         best_of(lambda: export.to_sql(df, engine, name(), "r1",
                                                       ledger_table="bench_exports"), rep),
                         best_of(lambda: _pandas_sql(df, engine, name()), rep)))
        finally:
            with engine.begin() as conn:
                for t in [*made, "bench_exports"]:
                    conn.execute(sa.text(f'DROP TABLE IF EXISTS "{t}"'))
            engine.dispose()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/scores"
        rows.append(("HTTP loopback, batch 5,000",
                     best_of(lambda: export.to_http(df, url, "r1", ledger_dir=fresh(), batch_size=5000), rep),
                     None))
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)

    versions = (f"Python {platform.python_version()}, pandas {pd.__version__}, SQLAlchemy {sa.__version__}, "
                f"numpy {np.__version__}")
    lines = [f"### Export targets, {n:,} customers x {df.shape[1]} columns ({dt.date.today().isoformat()})", "",
             f"Machine: {os.cpu_count()} cores, {versions}. Best of {rep}. Command: "
             f"`python benchmarks/bench_export.py --rows {n} --record`"
             + (" with CLV_TEST_POSTGRES_URL set (local PostgreSQL 15)." if pg else "."), "",
             "| what | clvmodels s | pandas s | clvmodels / pandas | clvmodels rows/s |", "|---|---|---|---|---|"]
    for what, ours, theirs in rows:
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        anchor = f"{theirs:.3f}" if theirs else "-"
        lines.append(f"| {what} | {ours:.3f} | {anchor} | {ratio} | {n / ours:,.0f} |")
    lines += ["", "clvmodels includes validation, the table checksum, fsync of data and manifest (file), the "
              "ledger row in the same transaction (SQL), JSON encoding and the ledger rewrite per batch "
              "(HTTP). pandas is the bare write with no delivery guarantee.", ""]
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    if args.record:
        results = HERE / "RESULTS.md"
        with open(results, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


def _pandas_sql(df: pd.DataFrame, url_or_engine, table: str) -> None:
    engine = sa.create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    df.assign(run_id="r1").to_sql(table, engine, if_exists="fail", index=True, chunksize=10_000)
    if isinstance(url_or_engine, str):
        engine.dispose()


if __name__ == "__main__":
    main()
