"""The installed version of the package (``0.0.0`` when run from a source tree)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("bird-recordings")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
