"""Shared fixtures: seeded synthetic transaction logs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# A Spark session started in the tests (by the spark fixture or a docstring example's cs.start_session(), whichever
# comes first in a worker) allows 3 attempts per task, so tests/spark/test_export.py can fail a task and watch Spark
# retry it in this process (local[N] alone never retries).
os.environ.setdefault("SPARK_MASTER", "local[2,3]")
# The JVMs Spark starts in the tests (the spark fixture's, a docstring example's, `clv run` in a subprocess: spark-submit
# adds SPARK_SUBMIT_OPTS to the driver's command line, silently) compile with the client compiler only and collect
# garbage on one thread: each test runs many small jobs in a short-lived JVM, where the optimising compiler's and G1's
# background threads compete with the tests for the two cores of CI (the Spark tests ran ~35% faster; the results
# are the same, Java's floating point does not depend on the compiler). A SPARK_SUBMIT_OPTS of your own is kept.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

# Property tests draw the same examples on every machine and run (a seed pins the data): a failure found by
# hypothesis' random search once becomes a regression test of its own, and CI never fails on luck. Run
# `pytest --hypothesis-profile=explore` to search afresh.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=500, print_blob=True)
settings.load_profile("ci")


def synthetic_log(n_rows: int, n_customers: int, seed: int = 0, start="2020-01-01", days=730,
                  with_time=False) -> pd.DataFrame:
    """A random transaction log (customer ids as strings, some same-day repeats, positive amounts)."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, n_rows)
    day = rng.integers(0, days, n_rows)
    base = np.datetime64(start, "D") + day
    if with_time:
        ts = base.astype("datetime64[us]") + rng.integers(0, 86_400_000_000, n_rows).astype("timedelta64[us]")
    else:
        ts = base.astype("datetime64[us]")
    return pd.DataFrame({
        "customer_id": np.char.add("c", cust.astype(str)),
        "date": ts,
        "amount": np.round(rng.gamma(2.0, 20.0, n_rows) + 0.01, 2),
    })


@pytest.fixture
def small_log() -> pd.DataFrame:
    return synthetic_log(5_000, 400, seed=1)


@pytest.fixture
def serve():
    """``serve(fake)`` starts a loopback CRM fake of ``tests/export/crm_fakes.py`` on 127.0.0.1 (a ``Running``);
    every fake stops at the end of the test. Used by the pandas and the Spark HTTP sinks' tests."""
    from tests.export.crm_fakes import Running

    running = []

    def start(fake):
        running.append(Running(fake))
        return running[-1]

    yield start
    for r in running:
        r.stop()


def pytest_collection_modifyitems(config, items):
    """The tests of the built documentation site (tests/test_docs.py's ``built_site``, a ~3-minute build) run first.
    Under ``--dist worksteal`` they are then at the head of the first worker's queue, where no idle worker steals
    them: the build starts at once and runs next to the other worker's tests, and no worker ends up waiting for the
    build another is making (it is shared through a lock) or runs it in the last minutes of the suite."""
    items.sort(key=lambda item: "built_site" not in getattr(item, "fixturenames", ()))   # stable: order kept
