"""Helpers shared by the benchmark scripts: time a child process, record a report in RESULTS.md.

The scripts run as ``python benchmarks/<name>.py``, so this module is importable as ``_common``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def timed_child(cmd: list[str], cwd: Path | None = None) -> tuple[str, float, float]:
    """Run ``cmd``; return its stdout, wall seconds and peak RSS in MB (``os.wait4``: the child's own)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({os.waitstatus_to_exitcode(status)}):\n{err}")
    return out, wall, usage.ru_maxrss / 1024.0


def record(section: str, report: str) -> None:
    """Append ``report`` at the end of ``section`` (created if missing) of benchmarks/RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if section not in text:
        text = text.rstrip() + f"\n\n{section}\n\n"
    head, _, tail = text.partition(section)
    nxt = tail.find("\n## ")
    body, rest = (tail, "") if nxt < 0 else (tail[:nxt], tail[nxt:])
    RESULTS.write_text(head + section + body.rstrip() + "\n\n" + report + rest)
