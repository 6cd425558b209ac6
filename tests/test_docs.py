"""The documentation site (docs/): every public name has an API page, every config key is in the config
reference, and the site builds offline with no warning and renders in a browser.

Fast tests check the build-time generators (docs/_ext/clvdocs.py) against the live package, walked here
independently. The build itself executes the three notebooks (one samples with PyMC) and takes minutes:
those tests are marked ``slow``, build once per test run (shared by the xdist workers) into a temporary
folder, and skip with the reason when the ``docs`` extra (sphinx, ...) is not installed. The browser check
needs Debian's ``chromium`` (``/usr/bin/chromium``) and skips without it.

The build command is the one documented in docs/README.md:

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import contextlib
import html.parser
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import time
import types
import typing
import zlib
from pathlib import Path

import pytest

import clvmodels

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
# import names of the docs extra (pyproject.toml [project.optional-dependencies] docs)
DOCS_MODULES = ["sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme", "sphinx_copybutton", "pymc", "ipykernel"]
OPTIONAL = {"clvmodels.spark": "pyspark"}   # public modules that need an optional extra (as in test_docstrings)


def _clvdocs():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("clvdocs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no component starting with ``_``."""
    out = ["clvmodels"]
    for info in pkgutil.walk_packages(clvmodels.__path__, "clvmodels."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            out.append(info.name)
    return sorted(out)


def public_names() -> list[tuple[str, str, object]]:
    """(module, name, object) for every name in every public module's ``__all__``."""
    out = []
    for module_name in public_modules():
        if any(module_name.startswith(p) for p in OPTIONAL) and importlib.util.find_spec(
                next(v for p, v in OPTIONAL.items() if module_name.startswith(p))) is None:
            continue
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", None) or []:
            out.append((module_name, name, getattr(module, name)))
    return out


def config_keys(model=None, prefix: str = "") -> list[str]:
    """Every field of RunConfig and its nested models, dotted (``export`` items as ``export.<key>``)."""
    from pydantic import BaseModel

    from clvmodels.config import RunConfig

    model = model or RunConfig
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        stack = [field.annotation]
        while stack:
            tp = stack.pop()
            if inspect.isclass(tp) and issubclass(tp, BaseModel):
                keys += config_keys(tp, prefix + name + ".")
            else:
                stack += [a for a in typing.get_args(tp) if a is not type(None)]
    return keys


# ---------------------------------------------------------------------------------------------
# fast: the generators against the live package
# ---------------------------------------------------------------------------------------------

def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_public_name_is_on_its_module_page():
    clvdocs = _clvdocs()
    table = clvdocs.api_entries()
    expected = public_names()
    assert len(expected) > 300
    assert set(table) >= {m for m, _, _ in expected} and set(table) >= set(public_modules()) - set(
        m for m in public_modules() if any(m.startswith(p) for p in OPTIONAL))
    for module_name in table:
        modules = sorted(table)
        children = [m for m in modules if m.startswith(module_name + ".") and "." not in m[len(module_name) + 1:]]
        page = clvdocs.module_page(module_name, table[module_name], children)
        listed = {e.name: e for e in table[module_name]}
        for mod, name, obj in expected:
            if mod != module_name:
                continue
            assert name in listed, f"{mod}.{name} (in __all__) is missing from the API reference"
            entry = listed[name]
            if isinstance(obj, types.ModuleType):
                assert f"~{obj.__name__}" in page, f"{mod}.{name}: module not listed on the {mod} page"
                continue
            # the page lists it, and the page it links to documents this very object
            assert re.search(rf"~{re.escape(entry.canonical)}(\s|`)", page), f"{mod}.{name} not on the {mod} page"
            assert _resolve(entry.canonical) is obj, f"{mod}.{name} links to {entry.canonical}, another object"


def test_top_level_names_are_documented():
    clvdocs = _clvdocs()
    listed = {e.name for e in clvdocs.api_entries()["clvmodels"]}
    assert set(clvmodels.__all__) <= listed


def test_every_config_key_is_in_the_config_reference():
    clvdocs = _clvdocs()
    text = clvdocs.config_reference_rst()
    keys = config_keys()
    assert {"forecast.discount_rate", "export.preset_options", "export.auth.token_env", "data.source"} <= set(keys)
    for key in keys:
        block = re.search(rf"^\.\. confval:: {re.escape(key)}\n((?:   .*\n|\n)+)", text, re.M)
        assert block, f"config key {key} is not in the config reference"
        body = block.group(1)
        assert ":type:" in body and ":default:" in body, f"{key}: no type or default"
        prose = [line for line in body.splitlines() if line.strip() and not line.strip().startswith(":")]
        assert prose, f"{key}: no description"


def test_schema_defaults_are_the_documented_ones():
    clvdocs = _clvdocs()
    from clvmodels.config import RunConfig

    cfg = RunConfig.model_validate({"name": "x", "data": {"source": "cdnow"}})
    by_key = {k.key: k for k in clvdocs.config_keys()}
    assert by_key["forecast.discount_rate"].default == str(cfg.forecast.discount_rate)
    assert by_key["forecast.horizon"].default == str(cfg.forecast.horizon)
    # the short form a user writes (``purchase: bgnbd``) is documented; the schema reads it as {name: bgnbd}
    assert by_key["models.purchase"].default == cfg.models.purchase.name
    assert by_key["models.spend"].default == cfg.models.spend.name
    assert by_key["name"].default == "required" and by_key["data.source"].default == "required"


# ---------------------------------------------------------------------------------------------
# slow: the build
# ---------------------------------------------------------------------------------------------

def _needs_docs_extra():
    missing = [m for m in DOCS_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the docs build needs the 'docs' extra (pip install \".[docs]\"): {', '.join(missing)} "
                    "not installed")


@contextlib.contextmanager
def _exclusive(lock: Path):
    """Hold an exclusive lock on the file ``lock`` (the xdist workers of a run queue on it)."""
    try:
        import fcntl
    except ImportError:          # no fcntl (Windows): no lock, each worker builds into its own folder
        yield False
        return
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """Build the site once per test run into a temporary folder, with the documented command.

    Under pytest-xdist every worker has its own session: the workers share the run's temporary root and the first
    to need the site builds it while holding a lock; the others wait for it and read the same build (two workers
    building it at once cost ~3 minutes of the suite)."""
    _needs_docs_extra()
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent           # <run>/popen-gwN: <run> is common to the workers of this run
    with _exclusive(shared / "docs-build.lock") as locked:
        out = shared / "docs-build" if locked else tmp_path_factory.mktemp("docs-build")
        done = out / "build.json"
        if not done.is_file():
            out.mkdir(exist_ok=True)
            env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
            env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
            cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d", str(out / "doctrees"),
                   str(DOCS), str(out / "html")]
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
            seconds = time.perf_counter() - start
            (out / "build.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
            done.write_text(json.dumps({"args": cmd, "returncode": proc.returncode, "stdout": proc.stdout,
                                        "stderr": proc.stderr, "seconds": seconds}))
        built = json.loads(done.read_text())
    proc = subprocess.CompletedProcess(built["args"], built["returncode"], built["stdout"], built["stderr"])
    return {"html": out / "html", "proc": proc, "seconds": built["seconds"], "log": out / "build.log"}


def _site(built_site) -> Path:
    proc = built_site["proc"]
    if proc.returncode != 0:
        warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line or "ERROR" in line]
        pytest.fail(f"the docs build failed (exit {proc.returncode}; log {built_site['log']}):\n"
                    + "\n".join(warnings[-40:] or proc.stderr.splitlines()[-40:]))
    return built_site["html"]


@pytest.mark.slow
def test_site_builds_offline_with_no_warning(built_site):
    html_dir = _site(built_site)
    assert "build succeeded" in built_site["proc"].stdout
    assert "warning" not in built_site["proc"].stdout.split("build succeeded")[-1].lower()
    for page in ["index", "getting-started", "tutorials/01_quickstart", "tutorials/02_bayesian_workflow",
                 "tutorials/03_clv_to_crm", "gallery", "reference/config", "api/index", "benchmarks",
                 "math/bgnbd", "guide/crm"]:
        assert (html_dir / f"{page}.html").is_file(), page
    print(f"docs build: {built_site['seconds']:.0f} s")


def _inventory(path: Path) -> dict[str, set[str]]:
    """objects.inv (version 2) as {role: {name, ...}}."""
    raw = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    assert raw.startswith(b"# Sphinx inventory version 2")
    out: dict[str, set[str]] = {}
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        m = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line)
        if m:
            out.setdefault(m.group(2), set()).add(m.group(1))
    return out


@pytest.mark.slow
def test_inventory_holds_every_public_name_and_config_key(built_site):
    inv = _inventory(_site(built_site) / "objects.inv")
    python = set().union(*(names for role, names in inv.items() if role.startswith("py:")))
    missing = []
    for module_name, name, obj in public_names():
        dotted = obj.__name__ if isinstance(obj, types.ModuleType) else f"{module_name}.{name}"
        if dotted not in python:
            missing.append(dotted)
    assert not missing, f"public names without an API page: {missing}"
    assert set(public_modules()) - {m for m in public_modules() if any(m.startswith(p) for p in OPTIONAL)} \
        <= inv.get("py:module", set())
    confvals = inv.get("std:confval", set())
    assert not [k for k in config_keys() if k not in confvals], "config keys missing from the config reference"


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2"):
            self._open.append(tag)
            self.text.setdefault(tag, []).append("")

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self.text[self._open[-1]][-1] += data


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


@pytest.mark.slow
def test_pages_load_only_local_assets(built_site):
    html_dir = _site(built_site)
    remote = re.compile(r"^(https?:)?//", re.I)
    offenders = []
    for page in html_dir.rglob("*.html"):
        for tag, attrs in _parse(page.read_text(encoding="utf-8")).tags:
            url = attrs.get("src") if tag in ("script", "img", "iframe") else (
                attrs.get("href") if tag == "link" else None)
            if url and remote.match(url):
                offenders.append(f"{page.relative_to(html_dir)}: <{tag}> {url}")
    assert not offenders, offenders[:20]
    assert (html_dir / "_static" / "mathjax" / "tex-svg.js").is_file()


def _dump_dom(page: Path, tmp_path: Path) -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to render pages")
    profile = tmp_path / f"chromium-profile-{page.stem}"
    profile.mkdir()
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<html" in proc.stdout.lower(), proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_index_renders_in_chromium(built_site, tmp_path):
    page = _site(built_site) / "index.html"
    dom = _parse(_dump_dom(page, tmp_path))
    h1 = [t.strip() for t in dom.text.get("h1", [])]
    assert any(t.startswith("clvmodels") for t in h1), h1
    assert len(dom.text.get("h2", [])) >= 1
    links = {attrs.get("href", "") for tag, attrs in dom.tags if tag == "a"}
    assert any(href.startswith("getting-started") for href in links)


@pytest.mark.slow
@pytest.mark.parametrize("tutorial", ["tutorials/01_quickstart", "gallery"])
def test_tutorial_renders_with_its_figures(built_site, tmp_path, tutorial):
    page = _site(built_site) / f"{tutorial}.html"
    dom = _parse(_dump_dom(page, tmp_path))
    assert [t for t in dom.text.get("h1", []) if t.strip()], "no h1 heading"
    assert len(dom.text.get("h2", [])) >= 3
    images = [attrs.get("src", "") for tag, attrs in dom.tags if tag == "img"]
    figures = [src for src in images if src and not src.startswith("data:") and "logo" not in src]
    assert len(figures) >= 5, images
    for src in figures:
        path = (page.parent / src.split("#")[0].split("?")[0]).resolve()
        assert path.is_file() and path.stat().st_size > 1000, f"{tutorial}: <img src={src!r}> missing or empty"
    # the notebook's tables reached the page too
    assert any(tag == "table" for tag, _ in dom.tags)


def test_docs_extra_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    extra = re.search(r"^docs = \[(.*?)\]\s*$", text, re.M | re.S)
    assert extra, "pyproject.toml has no docs extra"
    for requirement in ["sphinx", "numpydoc", "myst-nb", "pydata-sphinx-theme", "sphinx-mathjax-offline",
                        "clvmodels[bayes]"]:
        assert f'"{requirement}' in extra.group(1), requirement
