"""The export contract: validation errors name the column and customers; canonical form and checksum."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clvmodels import export
from clvmodels.errors import DataValidationError, InvalidValueError
from clvmodels.export.table import check_run_id

from .conftest import make_scores


def test_schema_and_json_safe_records(scores):
    t = export.prepare_table(scores)
    assert t.schema == {"customer_id": "text", "p_alive": "float", "churn_probability": "float",
                        "expected_purchases": "float", "clv": "float", "clv_lower": "float",
                        "clv_upper": "float", "n_purchases": "int", "vip": "bool", "segment": "text"}
    rec = t.records(0, 3)
    assert [r["customer_id"] for r in rec] == ["c0", "c1", "c2"]
    # plain Python scalars, not numpy ones (json.dumps would fail on np.int64 / np.bool_)
    assert {type(v) for r in rec for v in r.values()} == {str, float, int, bool}
    json.dumps(t.records(), allow_nan=False)
    assert rec[1]["clv"] == scores["clv"].iloc[1]
    assert rec[2]["segment"] == scores["segment"].iloc[2]


def test_does_not_touch_the_callers_frame(scores):
    before = scores.copy(deep=True)
    export.prepare_table(scores)
    pd.testing.assert_frame_equal(scores, before)


@pytest.mark.parametrize("bad,column", [(np.nan, "clv"), (np.inf, "clv"), (-np.inf, "p_alive")])
def test_non_finite_numbers_name_column_and_customers(scores, bad, column):
    scores.loc[["c3", "c17"], column] = bad
    with pytest.raises(InvalidValueError) as err:
        export.prepare_table(scores)
    e = err.value
    assert e.column == column and e.n_rows == 2 and e.examples == ["c3", "c17"]
    assert column in str(e) and "'c3'" in str(e)


def test_missing_text_is_refused(scores):
    seg = scores["segment"].astype(object)
    seg.iloc[4] = None
    scores["segment"] = seg
    with pytest.raises(InvalidValueError) as err:
        export.prepare_table(scores)
    assert err.value.column == "segment" and err.value.examples == ["c4"]


def test_index_must_be_named_customer_id(scores):
    with pytest.raises(DataValidationError, match="customer_id"):
        export.prepare_table(scores.rename_axis("id"))
    with pytest.raises(DataValidationError, match="MultiIndex"):
        export.prepare_table(scores.set_index("segment", append=True))


def test_duplicate_customers_are_named(scores):
    dup = pd.concat([scores, scores.iloc[[5, 9]]])
    with pytest.raises(InvalidValueError) as err:
        export.prepare_table(dup)
    assert err.value.column == "customer_id" and err.value.n_rows == 4
    assert err.value.examples == ["c5", "c9"]


def test_float_customer_ids_are_refused(scores):
    with pytest.raises(InvalidValueError, match="integers or text"):
        export.prepare_table(scores.set_axis(pd.Index(np.arange(len(scores)) + 0.5, name="customer_id")))


@pytest.mark.parametrize("name", ["customer_id", "bad name", "1st", "x" * 64])
def test_unportable_or_reserved_column_names(scores, name):
    with pytest.raises(DataValidationError) as err:
        export.prepare_table(scores.rename(columns={"clv": name}))
    assert err.value.column == name


def test_a_run_id_column_must_hold_the_delivery_run_id(scores, tmp_path):
    # the run metadata travels in every row; a table of another run is refused before anything is written
    from clvmodels.export.table import check_run_column

    table = export.prepare_table(scores.assign(run_id="r1"))
    check_run_column(table, "r1")
    with pytest.raises(export.ExportError, match="run id 'r2'"):
        export.to_file(table, tmp_path, "r2")
    assert list(tmp_path.iterdir()) == []
    receipt = export.to_file(table, tmp_path, "r1")
    assert receipt.rows == len(scores)


def test_object_columns_with_unsafe_values(scores):
    scores["extra"] = [{"a": 1}] * len(scores)
    with pytest.raises(InvalidValueError, match="dict") as err:
        export.prepare_table(scores)
    assert err.value.column == "extra" and err.value.n_rows == len(scores)


def test_object_columns_of_numbers_and_datetimes_are_converted(scores):
    scores["obj_float"] = pd.Series(scores["clv"].to_numpy().tolist(), index=scores.index, dtype=object)
    scores["scored_at"] = pd.Timestamp("2025-01-31 12:00", tz="UTC")
    t = export.prepare_table(scores)
    assert t.schema["obj_float"] == "float" and t.schema["scored_at"] == "text"
    assert t.records(0, 1)[0]["scored_at"] == "2025-01-31T12:00:00+00:00"


def test_integer_ids_and_unsigned_columns():
    df = make_scores(20, int_ids=True)
    df["u"] = np.arange(20, dtype=np.uint64)
    t = export.prepare_table(df)
    assert t.id_kind == "int" and t.records(0, 1)[0]["customer_id"] == 7
    df.loc[14, "u"] = np.uint64(2**63)
    with pytest.raises(InvalidValueError, match="int64") as err:
        export.prepare_table(df)
    assert err.value.examples == [14]


def test_checksum_depends_on_content_not_on_representation(scores):
    base = export.prepare_table(scores).checksum
    # same content through other dtypes of the same kind: the same checksum
    same = scores.assign(segment=scores["segment"].astype(object),
                         n_purchases=scores["n_purchases"].astype(np.int32))
    assert export.prepare_table(same).checksum == base
    # a value, a row order, a column order or a name change: another checksum
    changed = scores.copy()
    changed.iloc[7, changed.columns.get_loc("clv")] += 1e-9
    assert export.prepare_table(changed).checksum != base
    assert export.prepare_table(scores.iloc[::-1]).checksum != base
    assert export.prepare_table(scores[scores.columns[::-1]]).checksum != base
    assert export.prepare_table(scores.rename(columns={"vip": "top"})).checksum != base
    # -0.0 and 0.0 are one value for a CRM
    z1, z2 = scores.copy(), scores.copy()
    z1.iloc[0, 0], z2.iloc[0, 0] = 0.0, -0.0
    assert export.prepare_table(z1).checksum == export.prepare_table(z2).checksum


def test_empty_table_is_valid():
    t = export.prepare_table(make_scores(0))
    assert t.n_rows == 0 and t.records() == []


@pytest.mark.parametrize("run_id", ["", "../x", "a/b", ".hidden", "-x", "x" * 129, 3, None])
def test_run_id_is_checked(run_id):
    with pytest.raises(ValueError, match="run_id"):
        check_run_id(run_id)


def test_pipeline_run_folder_names_are_valid_run_ids():
    # clvmodels/pipeline.py names run folders <name>-<%Y%m%dT%H%M%S%fZ>
    assert check_run_id("cdnow_v2.1-20250131T120000123456Z")


def test_text_that_is_not_unicode_is_named():
    df = pd.Series(["ok", "a\ud800b"], dtype=object, index=pd.Index(["x", "y"], name="customer_id")).to_frame("s")
    with pytest.raises(InvalidValueError, match="Unicode") as err:
        export.prepare_table(df)
    assert err.value.column == "s" and err.value.examples == ["y"]
