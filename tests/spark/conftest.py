"""One local Spark session for the Spark tests (skipped with a reason when pyspark or Java is missing), and a
seeded transaction log with the awkward parts of real ones."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest


def _skip_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'pyspark is not installed (pip install "clvmodels[spark]")'
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        return "no Java runtime for Spark (java not on PATH, JAVA_HOME unset)"
    return None


@pytest.fixture(scope="session")
def spark():
    """``local[2,3]`` (two cores, three attempts per task), two shuffle partitions, no UI, UTC session time zone. Left running at the end, so that
    the docstring examples run later in the same process reuse it."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2,3]")).appName("clvmodels-tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2").config("spark.default.parallelism", "2")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


OFFSETS = np.array(["", "", "+01:00", "-05:00", "Z", "+0530", "+02"])


def awkward_log(seed: int = 0, n_customers: int = 120, n_rows: int = 1200) -> pd.DataFrame:
    """Text ids with leading zeros ('7', '07' and '007' are three customers), text dates with and without UTC
    offsets, same-day repeats, zero amounts, refunds (same day and later, with and without their order id),
    customers whose first purchase comes late; columns customer_id, date, amount, order_id."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:04d}" for i in range(n_customers)], dtype=object)
    ids[:3] = ["7", "07", "007"]
    who = rng.integers(0, n_customers, n_rows)
    start = rng.integers(0, 420, n_customers)                 # some customers start late in the log
    minutes = (start[who] + rng.integers(0, 240, n_rows)) * 1440 + rng.integers(0, 1440, n_rows)
    stamp = np.datetime64("2023-01-01T00:00", "m") + minutes.astype("timedelta64[m]")
    amount = np.round(rng.gamma(2.0, 20.0, n_rows), 2)
    amount[rng.random(n_rows) < 0.03] = 0.0
    log = pd.DataFrame({"customer_id": ids[who], "stamp": stamp, "amount": amount})
    repeat = log.sample(frac=0.15, random_state=seed).assign(amount=lambda f: np.round(f["amount"] / 3, 2))
    log = pd.concat([log, repeat], ignore_index=True)         # same-day (same-minute) repeats
    log["order_id"] = [f"o{k}" for k in range(len(log))]
    # refunds: a share of a purchase, the same day or 1-40 days later, most carrying the order id they refund
    src = log.sample(frac=0.12, random_state=seed + 1)
    refunds = pd.DataFrame({
        "customer_id": src["customer_id"].to_numpy(),
        "stamp": src["stamp"].to_numpy() + (rng.integers(0, 41, len(src)) * 1440
                                            * (rng.random(len(src)) < 0.6)).astype("timedelta64[m]"),
        "amount": -np.round(src["amount"].to_numpy() * rng.choice([0.5, 1.0, 1.2], len(src)), 2),
        "order_id": np.where(rng.random(len(src)) < 0.8, src["order_id"].to_numpy(), None)})
    log = pd.concat([log, refunds], ignore_index=True).sample(frac=1.0, random_state=seed + 2, ignore_index=True)
    text = pd.Series(log["stamp"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(), dtype=object)
    log["date"] = text + OFFSETS[rng.integers(0, len(OFFSETS), len(log))]
    return log[["customer_id", "date", "amount", "order_id"]]
