"""`import clvmodels` (and even `import clvmodels.bayes`) must not import PyMC."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_pymc():
    code = ("import sys, clvmodels, clvmodels.bayes; "
            "assert clvmodels.bayes.BGNBD.__name__ == 'BGNBD'; "
            "heavy = [m for m in ('pymc', 'pytensor', 'arviz', 'nutpie') if m in sys.modules]; "
            "assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
