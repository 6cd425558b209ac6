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
    """Render up to ``limit`` example ids as ``['a', 'b', ...]`` for error messages.

    numpy scalars print as plain Python values; ids beyond ``limit`` are counted, not listed.

    Examples
    --------
    >>> import numpy as np
    >>> describe_culprits(["a", "b"])
    "['a', 'b']"
    >>> describe_culprits(np.arange(1, 8))          # numpy ints print as 1, not np.int64(1)
    '[1, 2, 3, 4, 5] (and 2 more)'
    """
    ids = list(ids)
    shown = ", ".join(repr(_plain(i)) for i in ids[:limit])
    more = f" (and {len(ids) - limit} more)" if len(ids) > limit else ""
    return f"[{shown}]{more}"


def _plain(value: Any) -> Any:
    # numpy scalars print as np.int64(3) under numpy 2; users want 3
    item = getattr(value, "item", None)
    return item() if callable(item) else value


class CLVError(Exception):
    """Base class of every error clvmodels raises on purpose.

    Catch it to handle any clvmodels error in one place; the subclasses also derive from the
    matching built-in (``ValueError``, ``KeyError``, ``AttributeError``).

    Examples
    --------
    >>> import clvmodels as clv
    >>> try:
    ...     clv.DiscountRate(-0.05)
    ... except CLVError as exc:
    ...     print(type(exc).__name__, "|", exc.key)
    ConfigError | discount_rate
    """


class DataValidationError(CLVError, ValueError):
    """Input data break the data contract.

    Attributes
    ----------
    column : the column (or key) at fault, or None when the problem is the whole frame
    n_rows : how many rows are affected
    examples : up to five example customer ids (or row labels)

    Examples
    --------
    Every data error of clvmodels is one (or a subclass); the attributes point at the culprits:

    >>> import pandas as pd, clvmodels as clv
    >>> tx = pd.DataFrame({"customer_id": ["a", "b"], "date": ["2024-01-01", "2024-01-02"],
    ...                    "amount": [10.0, -2.0]})
    >>> try:
    ...     clv.validate_transactions(tx)
    ... except DataValidationError as exc:
    ...     print(exc.column, exc.n_rows, exc.examples)
    amount 1 ['b']
    """

    def __init__(self, message: str, *, column: str | None = None, n_rows: int | None = None,
                 examples: Iterable[Any] = ()):
        self.column = column
        self.n_rows = n_rows
        self.examples = [_plain(e) for e in list(examples)[:MAX_EXAMPLES]]
        super().__init__(message)


class MissingColumnError(DataValidationError, KeyError):
    """A required column is absent.

    It is also a ``KeyError``, but its message prints as text, not as a quoted key.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels.segments import rfm_scores
    >>> try:
    ...     rfm_scores(pd.DataFrame({"frequency": [1, 2]}))
    ... except MissingColumnError as exc:
    ...     print(exc.column, "|", exc)
    T | rfm_scores: column 'T' is missing; the frame has ['frequency']
    """

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0] if self.args else ""


class InvalidValueError(DataValidationError):
    """A column holds values outside its contract (NaN, negative, unparseable, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels.segments import rfm_scores
    >>> summary = pd.DataFrame({"frequency": [1, 2], "recency": [5.0, 12.0], "T": [10.0, 8.0]},
    ...                        index=pd.Index(["a", "b"], name="customer_id"))
    >>> try:
    ...     rfm_scores(summary)
    ... except InvalidValueError as exc:
    ...     print(exc)
    rfm_scores: 1 customer(s) have recency > T; example customer ids ['b']
    """


class ConfigError(CLVError, ValueError):
    """A setting is invalid (a function argument, or a key of a YAML / dict run configuration).

    ``key`` names the setting at fault.

    Examples
    --------
    >>> from clvmodels.timeunits import check_unit
    >>> try:
    ...     check_unit("fortnight", key="period")
    ... except ConfigError as exc:
    ...     print(exc.key, "|", exc)
    period | period='fortnight' is not a time unit; use one of ['D', 'W', 'M', 'Y']
    """

    def __init__(self, message: str, *, key: str | None = None):
        self.key = key
        super().__init__(message)


class NotFittedError(CLVError, AttributeError):
    """A model was asked to predict before ``fit`` (or ``from_params``).

    Examples
    --------
    >>> import clvmodels as clv
    >>> try:
    ...     clv.BGNBD().check_fitted()
    ... except NotFittedError as exc:
    ...     print(exc)
    This BGNBD is not fitted yet: call fit(summary) or BGNBD.from_params(...) first.
    """


class CLVWarning(UserWarning):
    """Base class of clvmodels warnings.

    Examples
    --------
    Filter every clvmodels warning at once, e.g. to turn them into errors in a pipeline:

    >>> import warnings
    >>> import pandas as pd
    >>> from clvmodels.segments import value_tiers
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", CLVWarning)
    ...     _ = value_tiers(pd.Series([0.0, 0.0], name="clv"))
    >>> [type(w.message).__name__ for w in caught]
    ['CLVWarning']
    """


class ConvergenceWarning(CLVWarning):
    """An optimiser or sampler did not converge; the message says what to try.

    Examples
    --------
    An MLE fit stopped after two iterations (the model still returns, with ``converged_`` False):

    >>> import warnings, clvmodels as clv
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ConvergenceWarning)
    ...     bg = clv.BGNBD(max_iter=2).fit(clv.datasets.cdnow_summary())
    >>> bg.converged_, str(caught[0].message)[:51]
    (False, 'BGNBD fit: the optimiser stopped without converging')
    """


class DataDroppedWarning(CLVWarning):
    """A documented policy removed rows; the message counts them and the result records it.

    Examples
    --------
    A transaction after ``observation_end`` is left out of the summary (and counted in its report):

    >>> import warnings
    >>> import pandas as pd, clvmodels as clv
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "date": ["2024-01-01", "2024-03-01", "2024-01-02"],
    ...                    "amount": [10.0, 20.0, 30.0]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", DataDroppedWarning)
    ...     summary = clv.rfm_summary(tx, observation_end="2024-01-31")
    >>> print(caught[0].message)
    1 transaction(s) after observation_end excluded. Counts are in summary.report.
    >>> summary.report.n_rows_after_observation_end
    1
    """
