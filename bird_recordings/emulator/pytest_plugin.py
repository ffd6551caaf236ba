"""pytest plugin: a ready ``bird_emulator`` fixture (registered as a ``pytest11`` entry point).

Importing this module is cheap: aiohttp and the emulator load only when a test
uses the fixture. The fixture needs pytest-asyncio; without it, tests that ask
for it are skipped with a message, and nothing else changes.

Options come from the ``bird_emulator`` marker or from a ``bird_emulator_options``
fixture you override::

    @pytest.mark.bird_emulator(recordings=5, seed=3, url_expires_s=2)
    async def test_download(bird_emulator):
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bird_recordings.emulator import BirdEmulator

__all__ = ["bird_emulator", "bird_emulator_options"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``bird_emulator`` marker (the project runs with ``--strict-markers``)."""
    config.addinivalue_line(
        "markers",
        "bird_emulator(**options): keyword arguments for the bird_emulator fixture's BirdEmulator",
    )


@pytest.fixture
def bird_emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments for :class:`BirdEmulator`; the ``bird_emulator`` marker's win."""
    options: dict[str, Any] = {"recordings": 20, "seed": 0}
    marker = request.node.get_closest_marker("bird_emulator")
    if marker is not None:
        if marker.args:
            raise TypeError("bird_emulator marker takes keyword arguments only")
        options.update(marker.kwargs)
    return options


async def _running_emulator(
    bird_emulator_options: dict[str, Any],
) -> AsyncIterator[BirdEmulator]:
    """A running :class:`BirdEmulator`, closed after the test."""
    from bird_recordings.emulator import BirdEmulator

    async with BirdEmulator(**bird_emulator_options) as emu:
        yield emu


def _needs_pytest_asyncio(bird_emulator_options: dict[str, Any]) -> None:
    """A running :class:`BirdEmulator` (needs pytest-asyncio, which is missing)."""
    pytest.skip("the bird_emulator fixture needs pytest-asyncio (pip install pytest-asyncio)")


bird_emulator: Any
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised in a subprocess test
    bird_emulator = pytest.fixture(_needs_pytest_asyncio, name="bird_emulator")
else:
    bird_emulator = pytest_asyncio.fixture(_running_emulator, name="bird_emulator")
