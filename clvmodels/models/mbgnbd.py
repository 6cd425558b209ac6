"""MBG/NBD model, fitted by maximum likelihood (Batislam, Denizel & Filiztekin 2007). The math
lives in :mod:`clvmodels.math.mbgnbd`; the class shares everything else with BG/NBD."""

from __future__ import annotations

from ..math import mbgnbd as _math
from .bgnbd import BGNBD

__all__ = ["MBGNBD"]


class MBGNBD(BGNBD):
    """Modified BG/NBD: like :class:`~clvmodels.models.bgnbd.BGNBD` but customers may also drop
    out at time 0, so customers without repeat purchases have P(alive) < 1. Same parameters
    (r, alpha, a, b), same prediction methods.

    Examples
    --------
    >>> import clvmodels as clv
    >>> summary = clv.datasets.cdnow_summary()
    >>> mbg = clv.MBGNBD().fit(summary)
    >>> mbg.params_.round(3).to_dict(), round(mbg.loglik_, 1)
    ({'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}, -9582.1)
    >>> mbg.p_alive(summary.loc[[1, 2, 3]]).round(3).tolist()           # customer 3 (x = 0) may be gone
    [0.706, 0.171, 0.39]
    >>> mbg.expected_purchases(summary.loc[[1, 2, 3]], t=39).round(3).tolist()
    [1.263, 0.189, 0.154]
    """

    math = _math
