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

__all__ = ["bird_emulator_options", "pytest_configure"]


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


def _asyncio_plugin_active(config: pytest.Config) -> bool:
    return any(
        getattr(plugin, "__name__", "") == "pytest_asyncio.plugin"
        for plugin in config.pluginmanager.get_plugins()
    )


def _async_fixtures() -> object:
    """The real fixture on a plugin object, built only when pytest-asyncio is active."""
    import pytest_asyncio

    class _AsyncFixtures:
        @pytest_asyncio.fixture(name="bird_emulator")
        async def bird_emulator(
            self, bird_emulator_options: dict[str, Any]
        ) -> AsyncIterator[BirdEmulator]:
            """A running :class:`BirdEmulator`, closed after the test."""
            from bird_recordings.emulator import BirdEmulator

            async with BirdEmulator(**bird_emulator_options) as emu:
                yield emu

    return _AsyncFixtures()


class _SkippingFixtures:
    """Stands in when pytest-asyncio is missing or disabled."""

    @pytest.fixture(name="bird_emulator")
    def bird_emulator(self, bird_emulator_options: dict[str, Any]) -> None:
        """Skips: the emulator fixture is async and needs pytest-asyncio."""
        pytest.skip("the bird_emulator fixture needs pytest-asyncio (pip install pytest-asyncio)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the ``bird_emulator`` marker and the fixture that fits the installed plugins."""
    config.addinivalue_line(
        "markers",
        "bird_emulator(**options): keyword arguments for the bird_emulator fixture's BirdEmulator",
    )
    fixtures = _async_fixtures() if _asyncio_plugin_active(config) else _SkippingFixtures()
    config.pluginmanager.register(fixtures, "bird_recordings.emulator.fixture")
