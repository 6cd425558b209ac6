"""MBG/NBD model, fitted by maximum likelihood (Batislam, Denizel & Filiztekin 2007). The math
lives in :mod:`clvmodels.math.mbgnbd`; the class shares everything else with BG/NBD."""

from __future__ import annotations

from ..math import mbgnbd as _math
from .bgnbd import BGNBD

__all__ = ["MBGNBD"]


class MBGNBD(BGNBD):
    """Modified BG/NBD: like :class:`~clvmodels.models.bgnbd.BGNBD` but customers may also drop
    out at time 0, so customers without repeat purchases have P(alive) < 1. Same parameters
    (r, alpha, a, b), same prediction methods."""

    math = _math
