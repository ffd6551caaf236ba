"""Sphinx configuration: MyST pages, autodoc reference, furo theme, no network."""

from __future__ import annotations

import ast as _ast
from importlib.metadata import version as _version
from pathlib import Path as _Path

import bird_recordings as _br

project = "bird-recordings"
author = "bird-recordings maintainers"
copyright = "2026, bird-recordings maintainers"
release = _version("bird-recordings")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    # The docstrings are Google style (Args:, Raises:, Example::).
    "sphinx.ext.napoleon",
]
# No intersphinx: the docs build must not reach the network.
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "examples/*.md"]
html_theme = "furo"
html_title = "bird-recordings"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
suppress_warnings = ["myst.xref_missing"]


def _restore_defining_modules() -> None:
    """Point public names back at the private module that defines them, for autodoc only.

    ``bird_recordings/__init__.py`` sets their ``__module__`` to ``bird_recordings``
    (for tracebacks); autodoc reads a class's source order and ``#:`` attribute
    comments from the module ``__module__`` names, so it needs the real one.
    """
    package = _Path(_br.__file__).parent
    for path in package.glob("_*.py"):
        for node in _ast.parse(path.read_text()).body:
            defines = isinstance(node, _ast.ClassDef | _ast.FunctionDef | _ast.AsyncFunctionDef)
            if defines and node.name in _br.__all__:
                getattr(_br, node.name).__module__ = f"bird_recordings.{path.stem}"


_restore_defining_modules()
