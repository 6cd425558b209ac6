"""Row compression (clvmodels.data.compression): exact grouping, weights, order, hash collisions."""

from __future__ import annotations

import numpy as np
import pytest

from clvmodels.data.compression import compress_rows, unique_rows


def test_compress_rows_roundtrip():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 3, size=(500, 3)).astype(float)
    w = rng.uniform(0.5, 2.0, size=500)
    rows, uw, inv = compress_rows(data, w)
    np.testing.assert_array_equal(rows[inv], data)
    assert len(rows) == len(np.unique(data, axis=0))
    np.testing.assert_allclose(uw.sum(), w.sum())
    np.testing.assert_allclose(np.bincount(inv, weights=w), uw)


def test_compress_rows_groups_sorted_by_first_column_and_handles_signed_zero():
    data = np.array([[2.0, 1.0], [0.0, -0.0], [2.0, 1.0], [0.0, 0.0], [1.0, 5.0]])
    rows, w, inv = compress_rows(data)
    np.testing.assert_array_equal(rows, [[0.0, 0.0], [1.0, 5.0], [2.0, 1.0]])
    np.testing.assert_array_equal(w, [2.0, 1.0, 2.0])
    np.testing.assert_array_equal(rows[inv], data + 0.0)


@pytest.mark.parametrize("n", [500, 120_000])  # 120,000 rows: the bucket pre-pass of the hash grouping
def test_compress_columns_groups_exactly_and_survives_hash_collisions(n, monkeypatch):
    from clvmodels.data import compression as base

    rng = np.random.default_rng(3)
    data = np.column_stack([rng.integers(0, 4, n), rng.integers(0, 40, n), rng.uniform(size=n)]).astype(float)
    data[: n // 2, 2] = np.round(data[: n // 2, 2], 1)  # half the rows have many duplicates
    w = rng.uniform(0.5, 2.0, n)
    expected_rows, expected_inv = np.unique(data, axis=0, return_inverse=True)
    expected_w = np.bincount(expected_inv.ravel(), weights=w)
    for hashing in ("real", "all collide"):
        if hashing == "all collide":
            monkeypatch.setattr(base, "_row_hash", lambda cols: np.zeros(len(cols[0]), dtype=np.uint64))
        cols, uw, inv = base.compress_columns([data[:, j] for j in range(3)], w)
        rows = np.column_stack(cols)
        np.testing.assert_array_equal(rows[inv], data)
        assert (np.diff(rows[:, 0]) >= 0).all()
        order = np.lexsort(rows.T[::-1])
        np.testing.assert_array_equal(rows[order], expected_rows)
        np.testing.assert_allclose(uw[order], expected_w, rtol=1e-12)
        cols2, uw2, inv2 = base.compress_columns([data[:, j] for j in range(3)], w, want_inverse=False)
        assert inv2 is None and all(np.array_equal(a, b) for a, b in zip(cols, cols2))
    # all rows distinct: every row is its own group, sorted by the first column
    distinct = np.column_stack([rng.integers(0, 4, n), rng.uniform(size=n)])
    rows, uw, inv = compress_rows(distinct)
    assert len(rows) == n and (uw == 1).all()
    np.testing.assert_array_equal(rows[inv], distinct)


def test_unique_rows_inverse_and_first():
    data = np.array([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0], [0.0, 1.0]])
    first, inv = unique_rows(data)
    np.testing.assert_array_equal(data[first][inv], data)
    assert len(first) == 3 and all(first[inv[i]] <= i for i in range(len(data)))
