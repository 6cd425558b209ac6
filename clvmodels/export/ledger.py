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
    """Make a rename / creation in ``directory`` durable (a no-op where directories can't be opened).

    Examples
    --------
    >>> import tempfile
    >>> fsync_dir(Path(tempfile.mkdtemp())) is None
    True
    """
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
    """Delete temporaries left next to ``final`` by crashed writers; return how many.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".scores.csv.1a2b3c.tmp").write_text("half written")
    >>> remove_stale_temps(folder / "scores.csv"), list(folder.iterdir())
    (1, [])
    """
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
    r"""Write ``final`` via a temporary file: write, fsync, replace, fsync the directory.

    ``write(tmp)`` creates and fills the temporary path (writers are given a path, not a handle,
    so native writers such as pyarrow's run at full speed). ``before_replace(tmp)`` runs once the
    bytes are durable and before the rename (used to hash them). On any error the temporary is
    removed and the error propagates; ``final`` is then untouched.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> write_atomic(target, lambda tmp: tmp.write_text("customer_id,clv\n7,1.5\n"))
    >>> target.read_text().splitlines()
    ['customer_id,clv', '7,1.5']
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
    """Atomically write ``obj`` as indented UTF-8 JSON (NaN / inf refused).

    Examples
    --------
    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "state.json"
    >>> write_json(path, {"run_id": "r1", "done": True})
    >>> json.loads(path.read_text())
    {'run_id': 'r1', 'done': True}
    """
    data = (json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
    write_atomic(final, lambda tmp: tmp.write_bytes(data))


def read_json(path: Path, what: str) -> dict[str, Any] | None:
    """Read a JSON object written by :func:`write_json`; None when the file does not exist.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> read_json(folder / "ledger.json", "ledger") is None      # no file yet
    True
    >>> write_json(folder / "ledger.json", {"acknowledged": [0, 1]})
    >>> read_json(folder / "ledger.json", "ledger")
    {'acknowledged': [0, 1]}
    """
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
    """Hold an exclusive advisory lock on ``directory`` (released when the block ends).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with locked(folder):            # another process delivering to this folder waits here
    ...     (folder / "a.txt").write_text("x")
    1
    """
    if fcntl is None:  # pragma: no cover - Windows: documented as unlocked
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
