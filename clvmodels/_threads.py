"""BLAS thread limits shared by the MLE fit and the forecasts (threadpoolctl, scoped to a call)."""

from __future__ import annotations

import contextlib

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_CONTROLLERS: list[ThreadpoolController] = []  # created at the first use, then reused


def one_blas_thread(when: bool = True):
    """Context limiting BLAS to one thread (a null context when ``when`` is false).

    The controller is built once: building one scans the loaded libraries (~3 ms, a sixth of a
    CDNOW fit); its ``limit`` afterwards costs ~10 us. (BLAS libraries loaded after the first use
    are not seen; numpy's and scipy's are loaded by then.)
    """
    if not when:
        return contextlib.nullcontext()
    if not _CONTROLLERS:
        _CONTROLLERS.append(ThreadpoolController())
    return _CONTROLLERS[0].limit(limits=1, user_api="blas")
