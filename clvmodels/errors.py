"""Typed errors and warnings raised by clvmodels.

Every error that concerns data names the column (or key) at fault, how many rows are
affected and up to five example customer ids, so a user can find the culprits quickly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "CLVError",
    "DataValidationError",
    "MissingColumnError",
    "InvalidValueError",
    "ConfigError",
    "NotFittedError",
    "ConvergenceWarning",
    "DataDroppedWarning",
    "CLVWarning",
    "describe_culprits",
]

MAX_EXAMPLES = 5


def describe_culprits(ids: Iterable[Any], limit: int = MAX_EXAMPLES) -> str:
    """Render up to ``limit`` example ids as ``'a', 'b', ...`` for error messages."""
    ids = list(ids)
    shown = ", ".join(repr(_plain(i)) for i in ids[:limit])
    more = f" (and {len(ids) - limit} more)" if len(ids) > limit else ""
    return f"[{shown}]{more}"


def _plain(value: Any) -> Any:
    # numpy scalars print as np.int64(3) under numpy 2; users want 3
    item = getattr(value, "item", None)
    return item() if callable(item) else value


class CLVError(Exception):
    """Base class of every error clvmodels raises on purpose."""


class DataValidationError(CLVError, ValueError):
    """Input data break the data contract.

    Attributes
    ----------
    column : the column (or key) at fault, or None when the problem is the whole frame
    n_rows : how many rows are affected
    examples : up to five example customer ids (or row labels)
    """

    def __init__(self, message: str, *, column: str | None = None, n_rows: int | None = None,
                 examples: Iterable[Any] = ()):
        self.column = column
        self.n_rows = n_rows
        self.examples = [_plain(e) for e in list(examples)[:MAX_EXAMPLES]]
        super().__init__(message)


class MissingColumnError(DataValidationError, KeyError):
    """A required column is absent."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0] if self.args else ""


class InvalidValueError(DataValidationError):
    """A column holds values outside its contract (NaN, negative, unparseable, ...)."""


class ConfigError(CLVError, ValueError):
    """A run configuration (YAML or dict) is invalid; the message names the key."""

    def __init__(self, message: str, *, key: str | None = None):
        self.key = key
        super().__init__(message)


class NotFittedError(CLVError, AttributeError):
    """A model was asked to predict before ``fit`` (or ``from_params``)."""


class CLVWarning(UserWarning):
    """Base class of clvmodels warnings."""


class ConvergenceWarning(CLVWarning):
    """An optimiser or sampler did not converge; the message says what to try."""


class DataDroppedWarning(CLVWarning):
    """A documented policy removed rows; the message counts them and the result records it."""
