"""Crash-safe local state: atomic writes, directory fsync, advisory locks, JSON ledgers.

Every file this layer writes goes to a hidden temporary name in the destination's own directory
(``.<name>.<random>.tmp``), is flushed and fsynced, then ``os.replace``-d over the final name and
the directory is fsynced. A reader therefore sees either the old file or the complete new one,
never a torn one; a crash leaves at most a stale ``.tmp`` file, which the next delivery of the same
name removes.

Locks are POSIX ``flock`` advisory locks on the destination directory (no-ops where ``fcntl`` is
missing, e.g. Windows, and unreliable on some network file systems): they keep two processes from
delivering the same run to the same place at the same time. They leave no lock file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import ExportError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["write_atomic", "fsync_dir", "locked", "remove_stale_temps", "read_json", "write_json"]

_TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    """Make a rename / creation in ``directory`` durable (a no-op where directories can't be opened)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    """A fresh hidden temporary path next to ``final``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(6)}{_TMP_SUFFIX}")


def remove_stale_temps(final: Path) -> int:
    """Delete temporaries left next to ``final`` by crashed writers; return how many."""
    n = 0
    for stale in final.parent.glob(f".{_glob_escape(final.name)}.*{_TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            n += 1
    return n


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def write_atomic(final: Path, write: Callable[[Path], None],
                 before_replace: Callable[[Path], None] | None = None) -> None:
    """Write ``final`` via a temporary file: write, fsync, replace, fsync the directory.

    ``write(tmp)`` creates and fills the temporary path (writers are given a path, not a handle,
    so native writers such as pyarrow's run at full speed). ``before_replace(tmp)`` runs once the
    bytes are durable and before the rename (used to hash them). On any error the temporary is
    removed and the error propagates; ``final`` is then untouched.
    """
    tmp = temp_name(final)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(final.parent)


def write_json(final: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented UTF-8 JSON (NaN / inf refused)."""
    data = (json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
    write_atomic(final, lambda tmp: tmp.write_bytes(data))


def read_json(path: Path, what: str) -> dict[str, Any] | None:
    """Read a JSON object written by :func:`write_json`; None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(
            f"{what} {path} is not valid JSON ({exc}); it was not written by clvmodels or was "
            f"edited by hand. Inspect it, then move it away to deliver again.") from None
    if not isinstance(obj, dict):
        raise ExportError(f"{what} {path} does not hold a JSON object")
    return obj


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``directory`` (released when the block ends)."""
    if fcntl is None:  # pragma: no cover - Windows: documented as unlocked
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
