"""SQL target: rows + ledger in one transaction, exactly once; SQLite always, PostgreSQL when available.

PostgreSQL runs when CLV_TEST_POSTGRES_URL is set, e.g. by ``eval "$(bash .ci/postgres.sh)"``.
Each PostgreSQL test uses tables with a random suffix and drops them afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from clvmodels import export
from clvmodels.errors import InvalidValueError
from clvmodels.export import ExportConflictError, ExportError

from .conftest import make_scores

PG_URL = os.environ.get("CLV_TEST_POSTGRES_URL")
_NO_PG = ("CLV_TEST_POSTGRES_URL is not set; run `eval \"$(bash .ci/postgres.sh)\"` (root, Debian) "
          "for a local PostgreSQL")


@dataclass
class DB:
    url: str
    engine: sa.Engine
    table: str
    ledger: str

    def deliver(self, table, run_id, **kw):
        kw.setdefault("ledger_table", self.ledger)
        return export.to_sql(table, kw.pop("target", self.url), self.table, run_id, **kw)

    def read_run(self, run_id: str, table: str | None = None) -> pd.DataFrame:
        tbl = sa.Table(table or self.table, sa.MetaData(), autoload_with=self.engine)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tbl).where(tbl.c.run_id == run_id)).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows])
        return frame.drop(columns="run_id").set_index("customer_id") if len(frame) else frame

    def ledger_rows(self) -> list[dict]:
        if not sa.inspect(self.engine).has_table(self.ledger):
            return []
        tbl = sa.Table(self.ledger, sa.MetaData(), autoload_with=self.engine)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(tbl)).mappings().all()]

    def count(self, table: str | None = None) -> int:
        if not sa.inspect(self.engine).has_table(table or self.table):
            return 0
        with self.engine.connect() as conn:
            return conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table or self.table}"')).scalar_one()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason=_NO_PG))])
def db(request, tmp_path):
    if request.param == "sqlite":
        url, suffix = f"sqlite:///{tmp_path / 'crm.db'}", ""
    else:
        url, suffix = PG_URL, "_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(url)
    made = DB(url, engine, f"clv_scores{suffix}", f"clv_exports{suffix}")
    extra = f"clv_other{suffix}"
    yield made
    if request.param == "postgresql":
        with engine.begin() as conn:
            for name in (made.table, made.ledger, extra):
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


def _expected(scores: pd.DataFrame) -> pd.DataFrame:
    out = scores.copy()
    out["segment"] = out["segment"].astype(str)
    return out


def test_round_trip_and_ledger(db, scores):
    r = db.deliver(scores, "run-1", chunk_size=64)
    assert r.target == "sql" and r.rows == len(scores) and not r.already_delivered
    assert r.details["chunks"] == 4  # 250 rows / 64
    back = db.read_run("run-1").loc[scores.index, scores.columns]
    pd.testing.assert_frame_equal(back, _expected(scores), check_exact=True, check_dtype=False,
                                  check_index_type=False, check_column_type=False)
    assert back["vip"].map(type).eq(bool).all()
    (row,) = db.ledger_rows()
    assert row["run_id"] == "run-1" and row["table_name"] == db.table
    assert row["n_rows"] == len(scores) and row["checksum"] == r.checksum


def test_password_is_not_in_the_receipt(db, scores):
    r = db.deliver(scores, "run-1")
    assert r.destination.endswith("#" + db.table)
    if "@" in db.url:
        assert ":***@" in r.destination and f":{sa.make_url(db.url).password}@" not in r.destination


def test_redelivery_is_a_noop(db, scores):
    first = db.deliver(scores, "run-1")
    again = db.deliver(scores.copy(), "run-1", target=db.engine)  # an Engine works as well as a URL
    assert again.already_delivered and again.checksum == first.checksum
    assert again.delivered_at == first.delivered_at
    assert db.count() == len(scores) and len(db.ledger_rows()) == 1


def test_conflicting_content_raises_and_changes_nothing(db, scores):
    first = db.deliver(scores, "run-1")
    changed = scores.copy()
    changed.loc["c9", "p_alive"] = 0.123
    with pytest.raises(ExportConflictError, match="run-1") as err:
        db.deliver(changed, "run-1")
    assert err.value.expected == first.checksum
    assert db.read_run("run-1").loc["c9", "p_alive"] == scores.loc["c9", "p_alive"]
    assert db.count() == len(scores)


def test_failure_mid_insert_rolls_back_rows_and_ledger(db, scores):
    inserts = []

    def fail_second_chunk(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT") and db.table in statement:
            inserts.append(statement)
            if len(inserts) == 2:
                raise RuntimeError("simulated crash during the second chunk")

    sa.event.listen(db.engine, "before_cursor_execute", fail_second_chunk)
    try:
        with pytest.raises(RuntimeError, match="second chunk"):
            db.deliver(scores, "run-1", target=db.engine, chunk_size=100)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", fail_second_chunk)
    assert len(inserts) == 2
    assert db.count() == 0 and db.ledger_rows() == []  # the first chunk and the ledger row are gone
    r = db.deliver(scores, "run-1", chunk_size=100)  # a retry delivers everything
    assert not r.already_delivered and db.count() == len(scores) and len(db.ledger_rows()) == 1


def test_database_error_mid_insert_rolls_back(db, scores):
    db.deliver(scores, "run-0")
    # a row for run-1 that the ledger does not know: the second chunk hits the primary key
    with db.engine.begin() as conn:
        tbl = sa.Table(db.table, sa.MetaData(), autoload_with=conn)
        conn.execute(sa.insert(tbl), [{**export.prepare_table(scores).records(150, 151)[0], "run_id": "run-1"}])
    with pytest.raises(ExportError, match="does not record") as err:
        db.deliver(scores, "run-1", chunk_size=100)
    assert isinstance(err.value.__cause__, sa.exc.IntegrityError)
    assert len(db.read_run("run-1")) == 1 and [r["run_id"] for r in db.ledger_rows()] == ["run-0"]


def test_runs_accumulate_and_one_run_may_feed_two_tables(db, scores):
    db.deliver(scores, "run-1")
    db.deliver(make_scores(40, seed=3), "run-2")
    other = db.table.replace("clv_scores", "clv_other")
    export.to_sql(scores, db.url, other, "run-1", ledger_table=db.ledger)
    assert db.count() == len(scores) + 40 and db.count(other) == len(scores)
    assert sorted((r["run_id"], r["table_name"]) for r in db.ledger_rows()) == [
        ("run-1", other), ("run-1", db.table), ("run-2", db.table)]


def test_integer_customer_ids(db):
    df = make_scores(30, int_ids=True)
    db.deliver(df, "run-1")
    cols = {c["name"]: c["type"] for c in sa.inspect(db.engine).get_columns(db.table)}
    assert isinstance(cols["customer_id"], sa.BigInteger)
    assert isinstance(cols["clv"], sa.Float) and isinstance(cols["segment"], sa.Text)
    back = db.read_run("run-1")
    assert sorted(back.index.tolist()) == df.index.tolist()


def test_existing_table_without_a_needed_column(db, scores):
    with db.engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{db.table}" (run_id VARCHAR(128), customer_id TEXT, clv FLOAT)'))
    with pytest.raises(ExportError, match="lacks columns") as err:
        db.deliver(scores, "run-1")
    assert "p_alive" in str(err.value) and db.ledger_rows() == []


def test_concurrent_deliveries_of_one_run_deliver_once(db, scores):
    results, errors = [], []
    barrier = threading.Barrier(2, timeout=10)

    def worker():
        try:
            barrier.wait()
            results.append(db.deliver(scores, "run-1"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(r.already_delivered for r in results) == [False, True]
    assert db.count() == len(scores) and len(db.ledger_rows()) == 1


def test_nothing_is_created_for_an_invalid_table(db, scores):
    scores.loc["c1", "clv"] = np.inf
    with pytest.raises(InvalidValueError, match="'clv'"):
        db.deliver(scores, "run-1")
    assert not sa.inspect(db.engine).has_table(db.table)


def test_unreachable_database_is_an_export_error(scores, tmp_path):
    with pytest.raises(ExportError, match="rolled back"):
        export.to_sql(scores, f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", "t", "run-1")


def test_overlong_text_ids_are_named_before_anything_is_written(scores, tmp_path):
    long_id = "x" * 256
    df = scores.rename(index={"c3": long_id})
    with pytest.raises(InvalidValueError, match="255") as err:
        export.to_sql(df, f"sqlite:///{tmp_path / 'crm.db'}", "t", "run-1")
    assert err.value.examples == [long_id] and not (tmp_path / "crm.db").exists()


def test_a_table_made_by_runs_with_more_fields_is_named_not_misread(db, scores):
    """A later run that lacks a field earlier runs delivered (a log without amounts after one with):
    the error names the table's required columns, instead of the database's NOT NULL message read as
    'rows inserted by hand'. Nothing of the run is committed."""
    db.deliver(scores, "run-with-amounts")
    dropped = scores.columns[-1]
    with pytest.raises(ExportError, match=rf"requires columns \['{dropped}'\]"):
        db.deliver(scores.drop(columns=[dropped]), "run-without-amounts")
    assert [r["run_id"] for r in db.ledger_rows()] == ["run-with-amounts"]
    assert db.count() == len(scores)
