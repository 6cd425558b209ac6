"""Bayesian variants of the CLV models (PyMC 5 + ArviZ).

``import clvmodels`` does not import this package; ``clvmodels.bayes`` is loaded on first access
and imports PyMC only when a model is built or fitted, so ``import clvmodels.bayes`` itself is
light. Public names:

* :class:`BGNBD` (with optional purchase/dropout covariates), :class:`ParetoNBD`,
  :class:`GammaGamma`; :class:`ParetoGGG` (Platzer & Reutterer 2016, with its own numba Gibbs sampler);
* :func:`load` (any saved Bayesian model), :func:`simulate_bgnbd`;
* :class:`SamplingDiagnosticWarning`, :data:`DEFAULT_THRESHOLDS`; :func:`load_priors`.
"""

from __future__ import annotations

from .base import load
from .bgnbd import BGNBD, simulate_bgnbd
from .diagnostics import DEFAULT_THRESHOLDS, SamplingDiagnosticWarning
from .gammagamma import GammaGamma
from .paretoggg import ParetoGGG
from .paretonbd import ParetoNBD
from .priors import load_priors

__all__ = ["BGNBD", "ParetoNBD", "GammaGamma", "ParetoGGG", "load", "simulate_bgnbd", "SamplingDiagnosticWarning",
           "DEFAULT_THRESHOLDS", "load_priors"]
