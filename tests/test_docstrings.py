"""Docstrings users can run: every public function and class has a numpydoc docstring with a
short example, and every example in the package runs (doctest) and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import matplotlib
import pytest

import clvmodels

matplotlib.use("Agg")

OPTIONAL = {"clvmodels.spark": "pyspark"}   # modules that need an optional extra


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no private component."""
    out = ["clvmodels"]
    for info in pkgutil.walk_packages(clvmodels.__path__, "clvmodels."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        out.append(info.name)
    return sorted(out)


def _importable(name: str):
    for prefix, extra in OPTIONAL.items():
        if name.startswith(prefix):
            pytest.importorskip(extra, reason=f"{name} needs the optional {extra}")
    return importlib.import_module(name)


def public_api() -> dict[str, object]:
    """Functions and classes named in the ``__all__`` of a public module, by qualified name."""
    api = {}
    for name in public_modules():
        if any(name.startswith(p) for p in OPTIONAL) and importlib.util.find_spec(OPTIONAL[
                next(p for p in OPTIONAL if name.startswith(p))]) is None:
            continue
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                api.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return api


API = public_api()


@pytest.mark.parametrize("qualname", sorted(API))
def test_public_name_has_a_runnable_example(qualname):
    doc = inspect.getdoc(API[qualname]) or ""
    assert doc.strip(), f"{qualname} has no docstring"
    assert "Examples\n--------" in doc and ">>>" in doc, f"{qualname}: no 'Examples' section with a >>> example"


@pytest.mark.parametrize("module_name", public_modules())
def test_examples_run(module_name, tmp_path, monkeypatch):
    module = _importable(module_name)
    monkeypatch.chdir(tmp_path)          # examples that write files write here
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    for test in tests:
        if not test.name.startswith(module_name):
            continue
        # an example is checked where it is written, not where it is re-exported
        obj_module = getattr(test, "filename", None)
        if obj_module and not obj_module.endswith((module_name.replace(".", "/") + ".py",
                                                   module_name.replace(".", "/") + "/__init__.py")):
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing example(s) in {module_name} (see the output above)"
