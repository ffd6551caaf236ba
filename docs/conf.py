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
suppress_warnings = ["myst.xref_missing"]

# Every cross-reference must resolve (the nox docs session builds with -n -W).
nitpicky = True
# Targets these docs cannot resolve, each on purpose:
nitpick_ignore_regex = [
    # The standard library and third-party packages: their inventories come through
    # intersphinx, which needs the network, and the docs build must not reach it.
    (r"py:.*", r"(asyncio|collections\.abc|datetime|enum|os|pathlib|time|typing)\..+"),
    (r"py:.*", r"(aiohttp|multidict|opentelemetry|redis|starlette)\..+"),
    # The same, under the module aliases our annotations use (``from aiohttp import web``,
    # ``from opentelemetry import trace``, ``import redis.asyncio as aioredis``).
    (r"py:class", r"(web|trace|aioredis)\..+"),
    # Type variables of generic signatures (``T``, ``P``, a pager's ``Item``/``Page``).
    (r"py:(class|obj)", r"(typing\.)?~?(P|Item|Page)|bird_recordings\.[\w.]+\.(T|F|P|Item|Page)"),
    # The emulator's private classes that its public signatures name (a Faults builder's
    # concrete return type, internal records): the reference documents the public base.
    (r"py:class", r"bird_recordings\.emulator\._\w+\.\w+"),
]
nitpick_ignore = [
    # Third-party and standard names that annotations import under TYPE_CHECKING and
    # autodoc therefore sees bare (see above for why they cannot resolve).
    ("py:class", "Path"),
    ("py:class", "Request"),
    ("py:class", "Response"),
    # The private downloader MediaStream's constructor takes (MediaStream is made by the client).
    ("py:class", "MediaDownloader"),
    # The emulator's clock protocol (anything with ``now()``), private like the rest of
    # bird_recordings.emulator's internals.
    ("py:class", "SupportsNow"),
]


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
