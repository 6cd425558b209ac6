"""MBG/NBD model, fitted by maximum likelihood (Batislam, Denizel & Filiztekin 2007). The math
lives in :mod:`clvmodels.math.mbgnbd`; the class shares everything else with BG/NBD."""

from __future__ import annotations

from ..math import bgnbd as _bg_math
from ..math import mbgnbd as _math
from .bgnbd import BGNBD

__all__ = ["MBGNBD"]


class MBGNBD(BGNBD):
    """Modified BG/NBD: like :class:`~clvmodels.models.bgnbd.BGNBD` but customers may also drop
    out at time 0, so customers without repeat purchases have P(alive) < 1. Same parameters
    (r, alpha, a, b), same prediction methods."""

    _math = _math

    def _evaluator(self, data, weights):
        # the BG/NBD-family kernel with the MBG/NBD shift (the dropout coin is also tossed at
        # time 0): value, gradient and Hessian in one pass over rows prepared once
        return _bg_math.FamilyRows(*data, weights, shift=1, blas=True)
