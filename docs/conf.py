"""Sphinx configuration of the clvmodels documentation.

Build (from the repository root; see docs/README.md):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Offline by design: no intersphinx, no remote assets (MathJax comes from the sphinx-mathjax-offline
package, the theme and its fonts are installed locally). The tutorials (notebooks/*.ipynb, linked
into docs/tutorials/) and the plot gallery are executed at build time by myst-nb; outputs are
cached in docs/_build/.jupyter_cache (next to the output folder) so rebuilds are quick.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# the package itself: installed (pip install ".[docs]") or from the source tree (PYTHONPATH)
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
# the notebook kernels are separate processes: let them import the same clvmodels
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
# figures must reach the notebooks (an inherited MPLBACKEND=Agg would divert them)
os.environ.pop("MPLBACKEND", None)

import clvmodels  # noqa: E402

project = "clvmodels"
author = "the clvmodels authors"
copyright = "the clvmodels authors; MIT licence"
version = release = clvmodels.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",      # MathJax 3 files copied into the build: no CDN
    "numpydoc",
    "myst_nb",
    "sphinx_copybutton",
    "clvdocs",                     # docs/_ext/clvdocs.py: API pages, aliases, config reference
]

templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["clvmodels.css"]
exclude_patterns = ["_build", "README.md", "**.ipynb_checkpoints", "api/modules/*.inc"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
suppress_warnings: list[str] = []

# -- API reference ---------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autoclass_content = "class"
# optional dependencies of public modules that may be absent (see clvdocs.OPTIONAL_IMPORTS)
autodoc_mock_imports = [m for m in ("pyspark",) if __import__("importlib.util").util.find_spec(m) is None]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- MyST / notebooks ------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "cache"            # execute at build time, reuse outputs while the source is unchanged
nb_execution_timeout = 600             # per cell; the Bayesian notebook samples with PyMC
nb_execution_in_temp = True          # run in a temporary folder: nothing is written into docs/
nb_execution_raise_on_error = True     # a failing cell fails the build
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js: dict = {}            # no widget JavaScript from a CDN
nb_render_image_options = {"alt": "figure"}
# stored next to the output folder: docs/_build/.jupyter_cache for the standard command
nb_execution_cache_path = ""

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"clvmodels {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "collapse_navigation": True,        # the sidebar of a page shows its own branch: much faster to write
    "navigation_depth": 2,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
# One page per API object (~300): the left navigation tree is what makes pages slow to write with this
# theme, so object pages go without it (the header, breadcrumbs and module pages lead to them).
html_sidebars = {"index": [], "api/generated/*": []}
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None


# Members a class inherits from pandas, scikit-learn, pydantic or the standard library are theirs to
# document: a class page lists what clvmodels defines (including what it inherits from clvmodels bases).
_FOREIGN_ATTRIBUTES = {"model_config", "model_fields", "model_computed_fields"}


def _skip_foreign_member(app, what, name, obj, skip, options):
    if what not in ("class", "exception") or skip:
        return None
    if name in _FOREIGN_ATTRIBUTES:
        return True
    target = obj
    if isinstance(target, (staticmethod, classmethod)):
        target = target.__func__
    if isinstance(target, property):
        target = target.fget
    if type(target).__name__ == "_tuplegetter":       # a NamedTuple field
        return None
    module = getattr(target, "__module__", None)
    if isinstance(module, str) and not module.startswith("clvmodels") and (
            callable(target) or isinstance(obj, property) or hasattr(type(obj), "__get__")):
        return True
    return None


#: Text replacements in docstrings as they are rendered, for docstrings whose reST cannot be mended in the
#: source (none today: fix the docstring itself).
DOCSTRING_FIXES: dict[str, list[tuple[str, str]]] = {}


def _drop_type_docstring(app, what, name, obj, options, lines):
    """A constant without a doc comment (``clvmodels.__version__``, a tuple of names) would show the
    docstring of its type (``str(object='') -> str``): show nothing instead."""
    if what not in ("data", "attribute") or obj is None or not lines or callable(obj):
        return
    type_doc = (type(obj).__doc__ or "").strip().splitlines()
    if type_doc and lines[0].strip() == type_doc[0].strip():
        lines[:] = []


def _fix_docstring(app, what, name, obj, options, lines):
    fixes = DOCSTRING_FIXES.get(name)
    if not fixes:
        return
    text = "\n".join(lines)
    for old, new in fixes:
        text = text.replace(old, new)
    lines[:] = text.split("\n")


def _modules_by_name():
    """A class attribute holding a module (``BGNBD.math``) is shown as ``<module 'clvmodels.math.bgnbd'>``,
    not with the file path of the machine that built the site (reproducible pages)."""
    import types

    import sphinx.util.inspect as sphinx_inspect

    describe = sphinx_inspect.object_description
    if getattr(describe, "_clvdocs", False):
        return

    def object_description(obj, *args, **kwargs):
        if isinstance(obj, types.ModuleType):
            return f"<module '{obj.__name__}'>"
        return describe(obj, *args, **kwargs)

    object_description._clvdocs = True
    sphinx_inspect.object_description = object_description


def _use_svg_mathjax(app, config):
    # sphinx-mathjax-offline points at tex-chtml.js, whose web fonts a browser may refuse to load from
    # file:// pages; the SVG output draws glyphs itself (same bundle, no font files, no network).
    config.mathjax_path = "mathjax/tex-svg.js"


def setup(app):
    app.connect("config-inited", _use_svg_mathjax, priority=900)
    _modules_by_name()
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("autodoc-process-docstring", _fix_docstring, priority=100)   # before numpydoc (500)
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
