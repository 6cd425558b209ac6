"""Import cost of clvmodels, next to the anchors, each in fresh interpreters (best of N).

`import clvmodels` must stay under one second and must not import PyMC (the Bayesian layer loads
lazily). Reported: wall time of `python -c "import X"` minus that of `python -c "pass"`, and the
heavy modules each import pulls in.

    python benchmarks/bench_import.py --record
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAVY = ("pymc", "pytensor", "arviz", "scipy", "pandas", "duckdb", "matplotlib", "sklearn")


def best_of(code: str, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def loaded(module: str) -> list[str]:
    code = f"import sys, json, {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=7)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    base = best_of("pass", args.n)
    rows = []
    for label, code, mod in [
        ("import clvmodels", "import clvmodels", "clvmodels"),
        ("import clvmodels; clv.rfm_summary (first use)", "import clvmodels as c; c.rfm_summary", "clvmodels"),
        ("import clvmodels; clv.BGNBD (first use)", "import clvmodels as c; c.BGNBD", "clvmodels"),
        ("import lifetimes", "import lifetimes", "lifetimes"),
    ]:
        try:
            t = best_of(code, args.n) - base
        except subprocess.CalledProcessError:
            rows.append(f"| `{label}` | not installed | |")
            continue
        heavy = loaded(mod) if code.startswith("import") and ";" not in code else []
        rows.append(f"| `{label}` | {t:.3f} | {', '.join(heavy) or '-'} |")
    text = (f"\n### Import time ({time.strftime('%Y-%m-%d')})\n\nMachine: {os.cpu_count()} cores, Python "
            f"{platform.python_version()}. Best of {args.n} fresh interpreters, interpreter start-up "
            f"({base:.3f} s) subtracted. Command: `python benchmarks/bench_import.py --record`.\n\n"
            "| what | seconds | heavy modules loaded by the bare import |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    sys.stdout.write(text)
    if args.record:
        with open(HERE / "RESULTS.md", "a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
