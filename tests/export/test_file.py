"""File drop: round trip, manifest, exactly once, crash at every step."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from clvmodels import export
from clvmodels.errors import InvalidValueError
from clvmodels.export import ExportConflictError, ExportError
from clvmodels.export import file as file_mod

from .conftest import make_scores


def _read_csv(path):
    return pd.read_csv(path, index_col="customer_id", keep_default_na=False,
                       dtype={"customer_id": str, "segment": str})


def _expected(scores):
    out = scores.copy()
    out["segment"] = out["segment"].astype(str)
    return out


def test_csv_round_trip_is_exact(scores, tmp_path):
    r = export.to_file(scores, tmp_path, "run-1")
    assert r.target == "file" and r.rows == len(scores) and not r.already_delivered
    assert r.status == "delivered"
    back = _read_csv(tmp_path / "run-1.csv")
    pd.testing.assert_frame_equal(back, _expected(scores), check_exact=True, check_dtype=False,
                                  check_index_type=False, check_column_type=False)
    assert np.array_equal(back["clv"].to_numpy(), scores["clv"].to_numpy())  # bit-exact floats


def test_parquet_round_trip_is_exact(scores, tmp_path):
    export.to_file(scores, tmp_path, "run-1", format="parquet")
    back = pd.read_parquet(tmp_path / "run-1.parquet")
    assert back.index.name == "customer_id"
    pd.testing.assert_frame_equal(back, _expected(scores), check_exact=True, check_dtype=False,
                                  check_index_type=False, check_column_type=False)


def test_manifest_records_run_rows_and_hashes(scores, tmp_path):
    r = export.to_file(scores, tmp_path, "run-1", prefix="clv_")
    data = tmp_path / "clv_run-1.csv"
    manifest = json.loads((tmp_path / "clv_run-1.csv.manifest.json").read_text())
    assert manifest["run_id"] == "run-1" and manifest["rows"] == len(scores)
    assert manifest["file"] == data.name and manifest["format"] == "csv"
    assert manifest["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() == r.details["sha256"]
    assert manifest["bytes"] == data.stat().st_size
    assert manifest["checksum"] == r.checksum == export.prepare_table(scores).checksum
    assert manifest["columns"]["customer_id"] == "text"
    # nothing else in the drop: no temporaries
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clv_run-1.csv", "clv_run-1.csv.manifest.json"]


def test_redelivery_is_a_noop(scores, tmp_path):
    first = export.to_file(scores, tmp_path, "run-1")
    stamp = (tmp_path / "run-1.csv").stat().st_mtime_ns
    again = export.to_file(scores.copy(), tmp_path, "run-1")
    assert again.already_delivered and again.status == "already_delivered"
    assert again.checksum == first.checksum and again.delivered_at == first.delivered_at
    assert (tmp_path / "run-1.csv").stat().st_mtime_ns == stamp


def test_redelivery_after_the_consumer_took_the_file(scores, tmp_path):
    export.to_file(scores, tmp_path, "run-1")
    (tmp_path / "run-1.csv").rename(tmp_path / "consumed.csv")
    again = export.to_file(scores, tmp_path, "run-1")
    assert again.already_delivered and again.details["file_present"] is False
    assert not (tmp_path / "run-1.csv").exists()


def test_conflicting_content_raises(scores, tmp_path):
    first = export.to_file(scores, tmp_path, "run-1")
    changed = scores.copy()
    changed.loc["c0", "clv"] += 1.0
    with pytest.raises(ExportConflictError, match="run-1") as err:
        export.to_file(changed, tmp_path, "run-1")
    assert err.value.expected == first.checksum and err.value.actual != first.checksum
    assert hashlib.sha256((tmp_path / "run-1.csv").read_bytes()).hexdigest() == first.details["sha256"]
    # a new run id is fine
    assert not export.to_file(changed, tmp_path, "run-2").already_delivered


def test_crash_at_replace_leaves_nothing_and_retry_succeeds(scores, tmp_path, monkeypatch):
    real_replace = os.replace

    def crash(*args, **kwargs):
        raise OSError("simulated crash in os.replace")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        export.to_file(scores, tmp_path, "run-1")
    assert list(tmp_path.iterdir()) == []  # no final file, no manifest, no temporary

    monkeypatch.setattr(os, "replace", real_replace)
    r = export.to_file(scores, tmp_path, "run-1")
    assert not r.already_delivered
    assert (tmp_path / "run-1.csv.manifest.json").exists()
    pd.testing.assert_frame_equal(_read_csv(tmp_path / "run-1.csv"), _expected(scores), check_dtype=False,
                                  check_index_type=False, check_column_type=False)


def test_crash_between_data_and_manifest_is_recoverable(scores, tmp_path, monkeypatch):
    calls = []
    real_replace = os.replace

    def replace_data_then_crash(src, dst):
        calls.append(os.fspath(dst))
        if os.fspath(dst).endswith(".manifest.json"):
            raise OSError("simulated crash before the manifest")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_data_then_crash)
    with pytest.raises(OSError, match="before the manifest"):
        export.to_file(scores, tmp_path, "run-1")
    # the data file is complete but unannounced: a consumer waits for the manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1.csv"]
    assert len(calls) == 2

    monkeypatch.setattr(os, "replace", real_replace)
    r = export.to_file(scores, tmp_path, "run-1")
    assert not r.already_delivered
    manifest = json.loads((tmp_path / "run-1.csv.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256((tmp_path / "run-1.csv").read_bytes()).hexdigest()


def test_unannounced_file_of_another_table_is_replaced(scores, tmp_path):
    # an attempt crashed before its manifest: it was never delivered, so a different table may take the run
    (tmp_path / "run-1.csv").write_text("customer_id,x\nold,1\n")
    r = export.to_file(scores, tmp_path, "run-1")
    assert not r.already_delivered and len(_read_csv(tmp_path / "run-1.csv")) == len(scores)


def test_stale_temporaries_of_a_killed_writer_are_removed(scores, tmp_path):
    (tmp_path / ".run-1.csv.0123456789ab.tmp").write_bytes(b"half a fi")
    (tmp_path / ".run-1.csv.manifest.json.ba9876543210.tmp").write_bytes(b"{")
    (tmp_path / ".other.csv.0123456789ab.tmp").write_bytes(b"not ours")
    export.to_file(scores, tmp_path, "run-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.csv.0123456789ab.tmp", "run-1.csv",
                                                         "run-1.csv.manifest.json"]


def test_failure_while_writing_leaves_nothing(scores, tmp_path, monkeypatch):
    def broken_writer(frame, path):
        path.write_bytes(b"customer_id,p_al")
        raise OSError("disk full (simulated)")

    monkeypatch.setitem(file_mod._WRITERS, "csv", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        export.to_file(scores, tmp_path, "run-1")
    assert list(tmp_path.iterdir()) == []


def test_validation_happens_before_anything_is_written(scores, tmp_path):
    scores.loc["c2", "clv"] = np.nan
    with pytest.raises(InvalidValueError, match="'clv'"):
        export.to_file(scores, tmp_path, "run-1")
    assert list(tmp_path.iterdir()) == []


def test_bad_targets(scores, tmp_path):
    with pytest.raises(ExportError, match="not an existing directory"):
        export.to_file(scores, tmp_path / "missing", "run-1")
    with pytest.raises(ValueError, match="format"):
        export.to_file(scores, tmp_path, "run-1", format="xlsx")
    with pytest.raises(ValueError, match="prefix"):
        export.to_file(scores, tmp_path, "run-1", prefix="../")
    (tmp_path / "run-9.csv.manifest.json").write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        export.to_file(scores, tmp_path, "run-9")


def test_csv_and_parquet_of_one_run_are_separate_deliveries(scores, tmp_path):
    a = export.to_file(scores, tmp_path, "run-1", "csv")
    b = export.to_file(scores, tmp_path, "run-1", "parquet")
    assert not a.already_delivered and not b.already_delivered and a.checksum == b.checksum


def test_empty_table(tmp_path):
    r = export.to_file(make_scores(0), tmp_path, "run-0")
    assert r.rows == 0
    assert (tmp_path / "run-0.csv").read_text().startswith("customer_id,p_alive,")


def test_concurrent_deliveries_of_one_run_deliver_once(scores, tmp_path):
    import threading

    results, errors = [], []
    barrier = threading.Barrier(3, timeout=10)

    def worker():
        try:
            barrier.wait()
            results.append(export.to_file(scores, tmp_path, "run-1"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and sorted(r.already_delivered for r in results) == [False, True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1.csv", "run-1.csv.manifest.json"]
