"""Package-level promises: a light import (no PyMC), the public names, exact units."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import clvmodels as clv
from clvmodels.timeunits import period_discount_rate


def test_import_does_not_load_pymc_or_heavy_modules():
    code = ("import sys, json, clvmodels; "
            "print(json.dumps(sorted(m for m in ('pymc', 'pytensor', 'arviz', 'duckdb', 'matplotlib', 'scipy') "
            "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lazy_names_resolve():
    assert callable(clv.rfm_summary) and callable(clv.calibration_holdout)
    assert clv.datasets.cdnow_summary().shape[0] == 2357
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clv.nope  # noqa: B018


@pytest.mark.parametrize("period", ["D", "W", "M", "Y"])
def test_discount_rate_is_exact(period):
    from clvmodels.timeunits import DAYS_PER_UNIT

    d = period_discount_rate(0.10, period)
    assert (1 + d) ** (365.25 / DAYS_PER_UNIT[period]) == pytest.approx(1.10, rel=1e-14)


def _readme_commands():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = text.split("## The two commands", 1)[1].split("## ", 1)[0]
    return [line.strip() for line in blocks.splitlines() if line.strip().startswith("pip install")]


def test_readme_gives_two_commands_and_ci_runs_the_test_one():
    from pathlib import Path

    commands = _readme_commands()
    assert len(commands) == 2
    main_job, tests = commands
    assert "clv run configs/" in main_job and "pytest" in tests
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().splitlines()
    assert tests in [line.strip() for line in ci]
