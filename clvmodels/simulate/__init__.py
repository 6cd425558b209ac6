"""Simulators of customer histories under each model (numpy Generators, seeded).

One module per model, e.g. :mod:`clvmodels.simulate.bgnbd`. Each ``simulate`` function takes
the model's parameters and the observation design and returns a summary-shaped DataFrame
(index ``customer_id``), ready for ``fit``; they drive the parameter-recovery tests and the
benchmarks. Import the module you need: ``from clvmodels.simulate import bgnbd``.
"""
