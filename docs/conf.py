"""Sphinx configuration: MyST pages, autodoc reference, furo theme, no network."""

from __future__ import annotations

from importlib.metadata import version as _version

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
