"""The log-space math core shared by the MLE models and the Bayesian layer.

One module per model (``bgnbd``, ``mbgnbd``, ``paretonbd``, ``bgbb``, ``sbg``, ``gammagamma``),
plus :mod:`special` for guarded special functions. Every function is pure numpy/scipy, vectorised
and broadcasting (parameter draws of shape (D, 1) against customers of shape (N,) give (D, N)),
named after the paper's symbols, and cites the equation it implements. No pandas here.
"""
