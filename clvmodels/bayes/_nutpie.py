"""Run nutpie on a PyMC model whose log-density is compiled by PyTensor's C backend.

``pm.sample(nuts_sampler="nutpie")`` compiles the model with PyTensor's numba backend. Our fast
BG/NBD likelihood (:mod:`._fastlik`) is an Op with a Python ``perform`` (it calls its own numba
kernels), which the numba backend can only run in object mode; it also spends 10-60 s compiling
large graphs. Here the log-density and its gradient on the unconstrained (transformed) parameter
vector are compiled with the default C linker instead and handed to nutpie as a Python function
(``nutpie.compiled_pyfunc.from_pyfunc``). Each sampler thread gets its own copy of the compiled
function; the kernels release the GIL, so chains run in parallel.

The initial points follow nutpie's default for PyMC models (support point with a U(-1, 1)
jitter on the unconstrained scale), and the returned ``InferenceData`` has the same posterior
variables and nutpie sample stats as ``pm.sample(nuts_sampler="nutpie")``.
"""

from __future__ import annotations

import threading
import time
from math import prod
from typing import Any

import numpy as np

__all__ = ["sample_nutpie_pyfunc"]


def _compile(model, var_names: list[str]):
    import nutpie
    import pytensor
    import pytensor.tensor as pt
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile as compile_pymc

    free = list(model.free_RVs)
    value_vars = [model.rvs_to_values[v] for v in free]
    ip_fn = make_initial_point_fn(model=model, jitter_rvs=set(free), return_transformed=True)
    point0 = ip_fn(0)
    names = [v.name for v in value_vars]
    shapes = [tuple(np.shape(point0[n])) for n in names]
    sizes = [prod(s) for s in shapes]
    n_dim = int(sum(sizes))
    joined = pt.TensorType("float64", shape=(n_dim,))(name="_unconstrained_point")
    starts = np.cumsum([0, *sizes])
    replace = {vv: joined[int(lo):int(hi)].reshape(shape).astype(vv.dtype)
               for vv, lo, hi, shape in zip(value_vars, starts[:-1], starts[1:], shapes)}

    logp = model.logp()
    grad = pt.concatenate([pt.as_tensor(g).ravel() for g in pytensor.gradient.grad(logp, value_vars)])
    logp, grad = pytensor.clone_replace([logp, grad], replace)
    with model:
        logp_fn = compile_pymc((joined,), (logp, grad))

    outputs = model.replace_rvs_by_values([model[name] for name in var_names])
    outputs = pytensor.clone_replace(outputs, replace)
    with model:
        expand_fn = compile_pymc((joined,), outputs, on_unused_input="ignore")
    out_shapes = [tuple(np.shape(v)) for v in expand_fn(np.zeros(n_dim))]

    lock = threading.Lock()

    def make_logp_fn():
        with lock:
            fn = logp_fn.copy()

        def logp_and_grad(x, **_shared):
            value, g = fn(x)
            return float(value), np.asarray(g, dtype=np.float64, order="C")

        return logp_and_grad

    def make_expand_fn(seed1, seed2, chain):
        with lock:
            fn = expand_fn.copy()

        def expand(x, **_shared):
            return {name: np.asarray(v, dtype=np.float64, order="C").reshape(shape)
                    for name, v, shape in zip(var_names, fn(x), out_shapes)}

        return expand

    def initial_point(seed):
        with lock:
            pt_ = ip_fn(seed)
        return np.concatenate([np.asarray(pt_[n], dtype=np.float64).ravel() for n in names])

    coords = {k: list(v) for k, v in model.coords.items()}
    dims = {name: tuple(model.named_vars_to_dims[name]) for name in var_names if model.named_vars_to_dims.get(name)}
    return nutpie.compiled_pyfunc.from_pyfunc(
        ndim=n_dim, make_logp_fn=make_logp_fn, make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")] * len(var_names), expanded_shapes=out_shapes,
        expanded_names=list(var_names), coords=coords, dims=dims, make_initial_point_fn=initial_point)


def sample_nutpie_pyfunc(model, var_names: list[str], *, draws: int, tune: int, chains: int, target_accept: float,
                         seed: int | None, progressbar: bool, **kwargs: Any):
    """``nutpie.sample`` on ``model`` compiled with the C linker; returns ``arviz.InferenceData``."""
    import nutpie

    compiled = _compile(model, var_names)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    t0 = time.time()
    idata = nutpie.sample(compiled, draws=int(draws), tune=int(tune), chains=int(chains),
                          target_accept=float(target_accept), seed=int(seed), progress_bar=bool(progressbar),
                          **kwargs)
    idata.posterior.attrs["sampling_time"] = time.time() - t0
    idata.posterior.attrs["tuning_steps"] = int(tune)
    return idata
