"""Asyncio client for Bird's Voice Recordings API."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bird-recordings")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
