"""Exactly once whatever happens in between: SIGKILL of `clv export` and of `clv run` mid-delivery,
then a re-run from another working directory. Real targets: a file drop, SQLite, PostgreSQL (when
CLV_TEST_POSTGRES_URL is set, as .ci/run does) and a loopback HTTP receiver that deduplicates on
Idempotency-Key (tests/export/crm_fakes.py)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clvmodels import pipeline

from .export.crm_fakes import GenericFake, Running

pytestmark = pytest.mark.slow
PG_URL = os.environ.get("CLV_TEST_POSTGRES_URL")
N_CUSTOMERS = 2357


class SlowReceiver(GenericFake):
    """The generic receiver, 25 ms per request: a delivery of 24 batches takes long enough to be killed."""

    def apply(self, req):
        time.sleep(0.025)
        return super().apply(req)


@pytest.fixture
def receiver():
    running = Running(SlowReceiver())
    yield running
    running.stop()


def _cli(*args, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-m", "clvmodels.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _config(tmp_path: Path, receiver: Running, table: str, dry_run: bool) -> dict:
    targets = [{"target": "file", "directory": str(tmp_path / "drop")},
               {"target": "sql", "url": f"sqlite:///{tmp_path / 'crm.db'}", "table": table},
               {"target": "http", "url": f"{receiver.base}/api/clv", "batch_size": 100}]
    if PG_URL:
        # the password is given as a ${VAR} reference: inline credentials are never stored in a run
        # folder, so `clv export` could not deliver again with them
        from sqlalchemy.engine import make_url

        url = make_url(PG_URL)
        os.environ["CLV_TEST_PG_PASSWORD"] = url.password or ""
        templated = url.set(password="PASSWORD").render_as_string(hide_password=False).replace(
            ":PASSWORD@", ":${CLV_TEST_PG_PASSWORD}@")
        targets.append({"target": "sql", "url": templated, "table": table})
    for t in targets:
        t["dry_run"] = dry_run
    return {"name": "kill", "data": {"source": "cdnow_sample"},
            "summary": {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"},
            "forecast": {"n_draws": 20, "interval": 0.9}, "output": {"dir": str(tmp_path / "runs")},
            "export": targets}


def _sql_rows(url: str, table: str, run_id: str) -> list[tuple]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            return con.execute(sa.text(f"SELECT customer_id, clv FROM {table} WHERE run_id = :r"),
                               {"r": run_id}).fetchall()
    finally:
        engine.dispose()


def _assert_each_customer_once(folder: Path, tmp_path: Path, receiver: Running, table: str) -> None:
    expected = pd.read_parquet(folder / pipeline.EXPORT_TABLE)
    run_id = folder.name
    assert len(expected) == N_CUSTOMERS
    drop = pd.read_csv(tmp_path / "drop" / f"{run_id}.csv", index_col="customer_id")
    assert (tmp_path / "drop" / f"{run_id}.csv.manifest.json").exists()
    assert drop.index.is_unique and drop.index.equals(expected.index)
    pd.testing.assert_series_equal(drop["clv"], expected["clv"], check_exact=True)
    with sqlite3.connect(tmp_path / "crm.db") as con:
        rows = con.execute(f"SELECT customer_id, clv FROM {table} WHERE run_id = ?", (run_id,)).fetchall()
    assert len(rows) == N_CUSTOMERS and len({r[0] for r in rows}) == N_CUSTOMERS
    assert dict(rows) == expected["clv"].to_dict()
    if PG_URL:
        pg = _sql_rows(PG_URL, table, run_id)
        assert len(pg) == N_CUSTOMERS and dict(pg) == expected["clv"].to_dict()
    kept = receiver.fake.records(run_id)
    ids = [r["customer_id"] for r in kept]
    assert len(ids) == N_CUSTOMERS and len(set(ids)) == N_CUSTOMERS
    assert {r["customer_id"]: r["clv"] for r in kept} == expected["clv"].to_dict()
    assert not receiver.fake.shape_errors


def test_sigkill_of_clv_export_at_random_points_then_a_rerun_elsewhere(tmp_path, receiver):
    table = f"kill_export_{os.getpid()}"
    # a finished run whose deliveries are still to be made (planned only, then switched on)
    result = pipeline.run(_config(tmp_path, receiver, table, dry_run=True))
    folder = result.folder
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    for target in cfg["export"]:
        target["dry_run"] = False
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    rng = random.Random(20261207)
    outcomes = []
    for attempt in range(10):
        cwd = tmp_path / f"cwd{attempt}"
        cwd.mkdir()
        proc = _cli("export", str(folder), cwd=cwd)
        time.sleep(rng.uniform(0.3, 3.5))             # imports take ~1-2 s; the deliveries ~1 s
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append(proc.returncode)
        assert list(cwd.iterdir()) == []               # nothing written where it was started
    assert outcomes.count(-signal.SIGKILL) >= 3, outcomes   # most attempts were really killed
    final = tmp_path / "elsewhere"
    final.mkdir()
    proc = _cli("export", str(folder), cwd=final)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    receipts = json.loads(out)
    assert len(receipts) == len(cfg["export"])
    _assert_each_customer_once(folder, tmp_path, receiver, table)
    again = _cli("export", str(folder), cwd=final)
    out, _ = again.communicate(timeout=300)
    assert all(r["already_delivered"] for r in json.loads(out))


def test_sigkill_of_clv_run_mid_delivery_then_clv_export(tmp_path, receiver):
    # killed while the HTTP receiver has taken a few of the 24 batches: `clv export` completes the
    # run from its folder, every customer once in every target (the HTTP receiver dedups on the key)
    table = f"kill_run_{os.getpid()}"
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(tmp_path, receiver, table, dry_run=False)))
    proc = _cli("run", str(cfg_path), cwd=tmp_path)
    deadline = time.monotonic() + 240
    while len(receiver.fake.kept) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 5 <= len(receiver.fake.kept) < 24
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    final = tmp_path / "later"
    final.mkdir()
    done = _cli("export", str(folder), cwd=final)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    _assert_each_customer_once(folder, tmp_path, receiver, table)
