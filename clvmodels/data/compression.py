"""Row compression: identical rows collapsed into weights, in one place.

Fitting (MLE and Bayesian), forecasting and evaluation all work on the *distinct* customer
histories: a million customers have a few hundred thousand distinct (x, t_x, T) rows at most, and
far fewer in weeks. :func:`compress_columns` finds them without sorting the rows (a 64-bit hash of
each row's bit patterns, every merge checked exactly), :func:`compress_rows` does the same for a
2-D array and :func:`unique_rows` gives the first row of each group and the inverse map.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["compress_rows", "compress_columns", "unique_rows"]


def compress_rows(data: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical rows of ``data`` (n, k) into unique rows with summed weights.

    Returns ``(unique_rows, unique_weights, inverse)`` with ``data == unique_rows[inverse]``; the
    unique rows are sorted by their first column (the purchase count, so per-count terms can be
    computed once per run), ties in order of first appearance. See :func:`compress_columns`.

    Examples
    --------
    Four customers' ``(x, t_x, T)`` rows, two of them identical: three distinct histories, the
    repeated one weighted 2, sorted by purchase count; ``inverse`` maps each customer to its row.

    >>> data = np.array([[2, 5.0, 9.0], [0, 0.0, 9.0], [2, 5.0, 9.0], [1, 3.0, 9.0]])
    >>> rows, weights, inverse = compress_rows(data)
    >>> rows.tolist()
    [[0.0, 0.0, 9.0], [1.0, 3.0, 9.0], [2.0, 5.0, 9.0]]
    >>> weights.tolist(), inverse.tolist()
    ([1.0, 1.0, 2.0], [2, 0, 2, 1])
    >>> bool((rows[inverse] == data).all())
    True
    """
    data = np.asarray(data, dtype=np.float64)
    n = len(data)
    data = data.reshape(n, -1)
    cols, unique_weights, inverse = compress_columns([data[:, j] for j in range(data.shape[1])], weights)
    unique_rows = np.column_stack(cols) if cols else np.empty((0, 0))
    return unique_rows, unique_weights, inverse


def _row_hash(cols: Sequence[np.ndarray]) -> np.ndarray:
    """64-bit FNV-style hash of each row's bit patterns (float64 columns, -0.0 already mapped to 0.0)."""
    h = np.full(len(cols[0]), np.uint64(0xCBF29CE484222325))
    tmp = np.empty_like(h)
    with np.errstate(over="ignore"):
        for c in cols:
            h ^= c.view(np.uint64)
            h *= np.uint64(0x100000001B3)
            h ^= np.right_shift(h, np.uint64(29), out=tmp)
    return h


def _first_of_hash(h: np.ndarray) -> np.ndarray | None:
    """For each row, the position of the first row with the same hash; None when all hashes differ.

    A hash table's random accesses dominate the cost at a million rows, so it only sees rows that
    may share their hash: counting rounds spread the remaining rows over 2-4 buckets per row by
    a fresh range of hash bits each time, and a row alone in its bucket cannot share its hash
    (rows with equal hashes share every bucket, so they always survive). With all rows distinct,
    each round keeps about a third; rounds stop below ~32,000 rows, or when most rows survive,
    and are skipped when a strided probe of ~4,000 rows already holds repeats (many duplicates:
    the hash table is fast on them). Count tables stay below 32 MB (glibc maps larger blocks
    fresh on every call, which costs more than the counting on a virtual machine).
    """
    n = h.size
    cand, sub = None, h  # positions (in h) of the rows that may share their hash, and their hashes
    free_bits = 64
    if n > 1 << 15:
        probe = h[:: n >> 12]  # ~4,000 rows: repeats among them mean duplicates are common
        if len(pd.unique(probe)) < len(probe):
            free_bits = 0
    while sub.size > 1 << 15:
        bits = min(sub.size.bit_length() + 1, 22)
        if bits > free_bits:
            break
        free_bits -= bits
        bucket = ((sub >> np.uint64(free_bits)) & np.uint64((1 << bits) - 1)).astype(np.intp)
        shared = np.bincount(bucket, minlength=1 << bits) > 1  # a 1-byte table: cache-friendly lookups
        keep = np.flatnonzero(shared[bucket])
        if keep.size == 0:
            return None
        cand = keep if cand is None else cand[keep]
        survived = keep.size / sub.size
        sub = sub[keep]
        if survived > 0.8:  # mostly duplicates: the hash table is fast on them
            break
    codes, uniq = pd.factorize(sub)  # group ids in order of first appearance
    if len(uniq) == len(sub):
        return None
    running = np.maximum.accumulate(codes)
    firsts = np.flatnonzero(np.r_[True, running[1:] > running[:-1]])  # first row of each group
    if cand is None:
        return firsts[codes]
    first = np.arange(n)
    first[cand] = cand[firsts[codes]]
    return first


def compress_columns(columns: Sequence[np.ndarray], weights: np.ndarray | None = None, want_inverse: bool = True
                     ) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray | None]:
    """Collapse identical rows given as columns: ``(unique_columns, unique_weights, inverse)``.

    Rows are grouped by a 64-bit hash of their bit patterns (sort-free; see :func:`_first_of_hash`)
    and every merged row is verified against its group's first row, with an exact lexicographic
    fallback in the (astronomically unlikely) event of a hash collision. Groups are ordered by the
    first column (a radix sort when it holds small whole numbers), ties in order of first
    appearance (lexicographic after a collision). ``inverse`` (None with ``want_inverse=False``)
    maps rows to groups.

    Examples
    --------
    Frequency and recency of four rows that already carry weights (e.g. counts of customers):
    the two ``(1, 3)`` rows merge and their weights add up.

    >>> frequency = np.array([1.0, 0.0, 1.0, 1.0])
    >>> recency = np.array([3.0, 0.0, 3.0, 2.0])
    >>> (freq_u, rec_u), weights, inverse = compress_columns([frequency, recency], weights=[2.0, 1.0, 1.0, 5.0])
    >>> freq_u.tolist(), rec_u.tolist(), weights.tolist(), inverse.tolist()
    ([0.0, 1.0, 1.0], [0.0, 3.0, 2.0], [1.0, 3.0, 5.0], [1, 0, 1, 2])
    >>> compress_columns([frequency, recency], want_inverse=False)[2] is None   # fitting needs no map back
    True
    """
    cols = [np.asarray(c, dtype=np.float64).ravel() for c in columns]
    cols = [c + 0.0 if np.signbit(c).any() else c for c in cols]  # + 0.0 maps -0.0 to 0.0
    if not cols:
        raise ValueError("compress_columns needs at least one column")
    n = cols[0].size
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    first = _first_of_hash(_row_hash(cols)) if n else None
    inverse = None
    if first is None:  # all rows distinct
        unique, unique_w = cols, (np.ones(n) if w is None else w)
    else:
        is_first = first == np.arange(n)
        dup = np.flatnonzero(~is_first)
        if all(np.array_equal(c[dup], c[first[dup]]) for c in cols):
            group = np.cumsum(is_first) - 1
            inverse = group[first]
            unique = [c[is_first] for c in cols]
        else:  # hash collision: exact grouping by a lexicographic sort
            order = np.lexsort(cols[::-1])
            new = np.zeros(n, dtype=bool)
            new[0] = True
            for c in cols:
                cs = c[order]
                new[1:] |= cs[1:] != cs[:-1]
            inverse = np.empty(n, dtype=np.intp)
            inverse[order] = np.cumsum(new) - 1
            unique = [c[order][new] for c in cols]
        unique_w = np.bincount(inverse, weights=w, minlength=len(unique[0])).astype(np.float64)
    # order the groups by the first column (a radix sort when it holds small whole numbers)
    key = unique[0]
    if key.size > 1 and not np.all(key[1:] >= key[:-1]):
        small = key.min() >= 0 and key.max() < 65536
        key16 = key.astype(np.uint16) if small else None
        if small and np.array_equal(key16, key):  # whole numbers (the uint16 cast truncates)
            order = np.argsort(key16, kind="stable")
        else:
            order = np.argsort(key, kind="stable")
        unique = [c[order] for c in unique]
        unique_w = unique_w[order] if w is not None or first is not None else unique_w  # (all ones)
        if want_inverse:
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            inverse = rank if inverse is None else rank[inverse]
    elif first is None:  # distinct and already in order: never hand back the caller's arrays
        unique, unique_w = [c.copy() for c in unique], unique_w.copy()
    if not want_inverse:
        return tuple(unique), np.asarray(unique_w, dtype=np.float64), None
    inverse = np.arange(n) if inverse is None else inverse
    return tuple(unique), np.asarray(unique_w, dtype=np.float64), inverse


def unique_rows(columns: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the distinct rows: ``first[g]`` is the position of the first row of
    group ``g`` and ``rows == rows[first][inverse]``. ``columns`` is a list of 1-D columns or a 2-D
    array (rows x columns). Groups are ordered as in :func:`compress_columns`.

    Examples
    --------
    >>> first, inverse = unique_rows([np.array([2.0, 0.0, 2.0]), np.array([5.0, 1.0, 5.0])])
    >>> first.tolist(), inverse.tolist()
    ([1, 0], [1, 0, 1])
    """
    if isinstance(columns, np.ndarray) and columns.ndim == 2:
        columns = [columns[:, j] for j in range(columns.shape[1])]
    _, weights, inverse = compress_columns(columns)
    n = len(inverse)
    first = np.full(len(weights), n, dtype=np.intp)
    np.minimum.at(first, inverse, np.arange(n, dtype=np.intp))
    return first, np.asarray(inverse, dtype=np.intp)
