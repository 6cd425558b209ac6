"""Progress of long steps: a live display on a terminal, nothing anywhere else.

The pipeline reports each step that can take more than a second (reading, the summary, each fit,
the evaluation, forecast chunks, each delivery) to a :class:`Progress`. :func:`progress_for`
gives a live `rich <https://rich.readthedocs.io>`_ display when the output is a terminal, and a
:class:`Progress` that does nothing otherwise (cron, pipes, log files, ``--quiet``), so control
characters never end up in a log.

Examples
--------
>>> with progress_for(enabled=False) as progress:
...     with progress.step("summary") as advance:
...         advance()
>>> progress.finished
['summary']
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import IO

__all__ = ["Progress", "progress_for"]


class Progress:
    """Records the steps it is told about; the base class displays nothing.

    ``step(name, total)`` is a context manager yielding ``advance(n=1)``; ``callback(name, total)``
    gives a plain ``(done, total)`` callable for code that reports chunks (the forecasting layer).

    Examples
    --------
    >>> p = Progress()
    >>> with p.step("fit BG/NBD"):
    ...     pass
    >>> p.finished
    ['fit BG/NBD']
    """

    def __init__(self):
        self.finished: list[str] = []
        self.live = False

    @contextlib.contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        yield self._advance(name, total)
        self.finished.append(name)

    def _advance(self, name: str, total: int | None) -> Callable[[int], None]:
        return lambda n=1: None

    def callback(self, name: str) -> Callable[[int, int], None] | None:
        """A ``(done, total)`` callable for chunked work, or None when nothing is displayed."""
        return None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        return None


class _RichProgress(Progress):
    """A live display on a terminal (rich), one line per step, with a bar when the total is known."""

    def __init__(self, stream: IO):
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self.live = True
        self._rich = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=Console(file=stream, force_terminal=True), transient=False)

    @contextlib.contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        task = self._rich.add_task(name, total=total)
        try:
            yield lambda n=1: self._rich.advance(task, n)
        finally:
            self._rich.update(task, completed=total if total is not None else 1, total=total or 1)
            self.finished.append(name)

    def callback(self, name: str) -> Callable[[int, int], None]:
        task = self._rich.add_task(name, total=None)

        def report(done: int, total: int) -> None:
            self._rich.update(task, completed=done, total=total)
        return report

    def __enter__(self) -> Progress:
        self._rich.start()
        return self

    def __exit__(self, *exc) -> None:
        self._rich.stop()


def progress_for(enabled: bool = True, stream: IO | None = None) -> Progress:
    """A live display on ``stream`` (default stderr) when enabled and ``stream`` is a terminal; else a
    :class:`Progress` that shows nothing.

    Examples
    --------
    >>> import io
    >>> progress_for(stream=io.StringIO()).live          # not a terminal: nothing is displayed
    False
    """
    stream = sys.stderr if stream is None else stream
    if enabled and getattr(stream, "isatty", lambda: False)():
        return _RichProgress(stream)
    return Progress()
