"""The per-row part of the compressed BG/NBD likelihood as one PyTensor Op with a numba kernel.

:func:`._pt_math.bgnbd_total_loglik` leaves a single term per distinct repeat-buyer row
(x, t_x, T) (Fader, Hardie & Lee 2005, eq. 6, arranged as in that function)::

    S(r, alpha, a, b) = sum_rows w * softplus(z),
    z = log((b + x - 1) / a) + (r + x) * (log(alpha + t_x) - log(alpha + T))

At a million customers that is ~180,000 rows, and evaluating S and its gradient dominates every
NUTS step. Built from PyTensor elementwise ops, S and its reverse-mode gradient take ~8 passes over
the rows each. This module computes S and its four partial derivatives together:

* ``log(alpha + t)``, ``1 / (alpha + t)`` are tabulated per distinct time value and
  ``log(b + x - 1)``, ``1 / (b + x - 1)`` per distinct x; one numba pass gathers them into ``z``;
* numpy's vectorised ``exp`` / ``log1p`` give ``e = exp(-|z|)`` and ``log1p(e)``
  (``softplus(z) = max(z, 0) + log1p(e)``, ``sigmoid(z) = 1/(1+e)`` or ``e/(1+e)``);
* a second numba pass accumulates S and the weighted ``sigmoid(z) * dz/d(.)`` sums (gathering
  the tables again rather than storing ``dz/d(.)`` per row):
  ``dS/dr = sum w s (log(alpha+t_x) - log(alpha+T))``,
  ``dS/dalpha = sum w s (r+x) (1/(alpha+t_x) - 1/(alpha+T))``, ``dS/da = -sum w s / a``,
  ``dS/db = sum w s / (b + x - 1)``.

:class:`SoftplusRowsOp` exposes this as an Op with outputs ``(S, grad)``; its ``grad`` method
reuses the second output, so a logp-and-gradient function runs the kernel once. It is tested
equal (value and gradient) to the pure PyTensor expression and to the numpy math core in
``tests/bayes/test_fastlik.py``. The Op has a Python ``perform`` only (C and Python linkers:
PyMC's NUTS, ADVI, MAP, and nutpie through :mod:`._nutpie`); the JAX-based samplers (numpyro,
blackjax) keep the pure PyTensor expression.
"""

from __future__ import annotations

import threading

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

__all__ = ["SoftplusRowsOp", "softplus_rows"]

_kernels = None


def _get_kernels():
    """Compile (once per process; cached on disk by numba) the tables and the two row passes."""
    global _kernels
    if _kernels is not None:
        return _kernels
    import math

    import numba

    # reassociation lets LLVM vectorise the sums; no "nnan"/"ninf", so non-finite values propagate
    fm = {"reassoc", "contract", "arcp"}

    def jit(fn):
        # the on-disk cache needs a writable __pycache__ or user cache directory (not a given in a
        # read-only install run by another user): without one, compile in memory on first use
        try:
            return numba.njit(nogil=True, cache=True, fastmath=fm)(fn)
        except RuntimeError:
            return numba.njit(nogil=True, cache=False, fastmath=fm)(fn)

    @jit
    def log_and_inverse(shift, values):
        n = values.shape[0]
        logs = np.empty(n)
        inverses = np.empty(n)
        for i in range(n):
            v = shift + values[i]
            logs[i] = math.log(v)
            inverses[i] = 1.0 / v
        return logs, inverses

    @jit
    def tables(alpha, a, b, t_values, T_values, x_values):
        nx = x_values.shape[0]
        lt, it = log_and_inverse(alpha, t_values)
        lT, iT = log_and_inverse(alpha, T_values)
        log_a = math.log(a)
        lbx = np.empty(nx)
        ibx = np.empty(nx)
        for i in range(nx):
            v = b + max(x_values[i], 1.0) - 1.0
            lbx[i] = math.log(v) - log_a
            ibx[i] = 1.0 / v
        return lt, it, lT, iT, lbx, ibx

    @jit
    def gather(r, x_values, row_xi, row_ti, row_Ti, lt, lT, lbx, z, e):
        for k in range(row_xi.shape[0]):
            xi = row_xi[k]
            zk = lbx[xi] + (r + x_values[xi]) * (lt[row_ti[k]] - lT[row_Ti[k]])
            z[k] = zk
            e[k] = -abs(zk)

    @jit
    def accumulate(r, a, z, e, log1p_e, x_values, row_w, row_xi, row_ti, row_Ti, lt, it, lT, iT, ibx):
        total = 0.0
        g_r = 0.0
        g_alpha = 0.0
        g_s = 0.0
        g_b = 0.0
        for k in range(z.shape[0]):
            zk = z[k]
            ek = e[k]
            w = row_w[k]
            pos = zk > 0.0
            total += w * ((zk if pos else 0.0) + log1p_e[k])
            ws = w * (1.0 if pos else ek) / (1.0 + ek)          # w * sigmoid(z)
            ti = row_ti[k]
            Ti = row_Ti[k]
            xi = row_xi[k]
            g_r += ws * (lt[ti] - lT[Ti])
            g_alpha += ws * (r + x_values[xi]) * (it[ti] - iT[Ti])
            g_s += ws
            g_b += ws * ibx[xi]
        return total, g_r, g_alpha, -g_s / a, g_b

    _kernels = (tables, gather, accumulate)
    return _kernels


def _small_index(idx, n_values: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n_values):
        raise ValueError(f"row index out of range [0, {n_values})")
    dtype = np.uint16 if n_values <= np.iinfo(np.uint16).max else np.uint32
    return np.ascontiguousarray(idx, dtype=dtype)


class SoftplusRowsOp(Op):
    """``(S, dS/d(r, alpha, a, b))`` for fixed compressed rows (see the module docstring).

    The rows are held by the Op (not graph inputs), so two Ops are equal only if they are the
    same object; instances pickle with their arrays (PyMC's multiprocess sampling). A row is its
    weight and three indices into the distinct x, t_x and T values, stored in the smallest
    unsigned integer type that holds them (memory traffic, not arithmetic, limits the passes when
    two chains share the cores).
    """

    __props__ = ()
    _fields = ("row_w", "row_xi", "row_ti", "row_Ti", "t_values", "T_values", "x_values")

    def __init__(self, row_w, row_xi, row_ti, row_Ti, t_values, T_values, x_values):
        self.row_w = np.ascontiguousarray(row_w, dtype=np.float64)
        self.row_xi = _small_index(row_xi, len(x_values))
        self.row_ti = _small_index(row_ti, len(t_values))
        self.row_Ti = _small_index(row_Ti, len(T_values))
        self.t_values = np.ascontiguousarray(t_values, dtype=np.float64)
        self.T_values = np.ascontiguousarray(T_values, dtype=np.float64)
        self.x_values = np.ascontiguousarray(x_values, dtype=np.float64)
        self._local = threading.local()

    # identity semantics: different rows must never be merged by PyTensor's rewrites
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __getstate__(self):
        return {k: getattr(self, k) for k in self._fields}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def make_node(self, r, alpha, a, b):
        inputs = [pt.as_tensor_variable(v, dtype="float64") for v in (r, alpha, a, b)]
        for name, v in zip(("r", "alpha", "a", "b"), inputs):
            if v.type.ndim != 0:
                raise TypeError(f"SoftplusRowsOp needs a scalar {name}, got ndim={v.type.ndim}")
        return Apply(self, inputs, [pt.dscalar(), pt.dvector()])

    def _scratch(self):
        buf = getattr(self._local, "buf", None)
        if buf is None:
            n = self.row_w.shape[0]
            buf = self._local.buf = tuple(np.empty(n) for _ in range(3))
        return buf

    def evaluate(self, r, alpha, a, b):
        """``(S, np.array([dS/dr, dS/dalpha, dS/da, dS/db]))`` at scalar parameters."""
        r, alpha, a, b = float(r), float(alpha), float(a), float(b)
        tables, gather, accumulate = _get_kernels()
        z, e, log1p_e = self._scratch()
        lt, it, lT, iT, lbx, ibx = tables(alpha, a, b, self.t_values, self.T_values, self.x_values)
        gather(r, self.x_values, self.row_xi, self.row_ti, self.row_Ti, lt, lT, lbx, z, e)
        np.exp(e, out=e)
        np.log1p(e, out=log1p_e)
        total, g_r, g_alpha, g_a, g_b = accumulate(r, a, z, e, log1p_e, self.x_values, self.row_w, self.row_xi,
                                                   self.row_ti, self.row_Ti, lt, it, lT, iT, ibx)
        return total, np.array([g_r, g_alpha, g_a, g_b])

    def perform(self, node, inputs, outputs):
        total, grad = self.evaluate(*inputs)
        outputs[0][0] = np.asarray(total, dtype=np.float64)
        outputs[1][0] = grad

    def grad(self, inputs, output_grads):
        g_total, g_grad = output_grads
        if not isinstance(g_grad.type, DisconnectedType):
            # second derivatives are never needed by the samplers
            return [grad_not_implemented(self, i, inputs[i]) for i in range(4)]
        grad = self(*inputs)[1]
        return [g_total * grad[i] for i in range(4)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(), (4,)]


def softplus_rows(r, alpha, a, b, rows):
    """``sum_rows w * softplus(z)`` for :class:`._pt_math.BGNBDRows` (symbolic, scalar params)."""
    op = SoftplusRowsOp(rows.row_w, rows.row_xi, rows.row_ti, rows.row_Ti, rows.t_values,
                        rows.T_values, rows.x_values)
    return op(r, alpha, a, b)[0]
