"""pytest plugin: ready ``bird_emulator`` and ``bird_client`` fixtures (a ``pytest11`` entry point).

Importing this module is cheap: aiohttp and the emulator load only when a test
uses a fixture. The fixtures need pytest-asyncio; without it, tests that ask
for them are skipped with a message, and nothing else changes. Under
pytest-asyncio's default strict mode an async test needs ``@pytest.mark.asyncio``
(or ``asyncio_mode = "auto"`` in the pytest configuration)::

    @pytest.mark.asyncio
    async def test_lists(bird_client):
        assert (await bird_client.list_recordings(limit=5)).results

Emulator options come from the ``bird_emulator`` marker or from a
``bird_emulator_options`` fixture you override; client options (a retry policy,
a timeout) from a ``bird_client_options`` fixture you override::

    @pytest.mark.bird_emulator(recordings=5, seed=3, url_expires_s=2)
    async def test_download(bird_emulator):
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bird_recordings import RecordingsClient
    from bird_recordings.emulator import BirdEmulator

__all__ = ["bird_client_options", "bird_emulator_options", "pytest_configure"]


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


@pytest.fixture
def bird_client_options() -> dict[str, Any]:
    """Extra keyword arguments for the ``bird_client`` fixture's :class:`RecordingsClient`.

    Empty by default; override it to set, e.g., ``retry`` or ``timeout_s``. The
    emulator's ``base_url``, ``access_key`` and ``workspace_id`` are always added.
    """
    return {}


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

        @pytest_asyncio.fixture(name="bird_client")
        async def bird_client(
            self, bird_emulator: BirdEmulator, bird_client_options: dict[str, Any]
        ) -> AsyncIterator[RecordingsClient]:
            """A :class:`RecordingsClient` wired to ``bird_emulator``, closed after the test."""
            from bird_recordings import RecordingsClient

            async with RecordingsClient(
                **bird_client_options,
                base_url=bird_emulator.base_url,
                access_key=bird_emulator.access_key,
                workspace_id=bird_emulator.workspace_id,
            ) as client:
                yield client

    return _AsyncFixtures()


class _SkippingFixtures:
    """Stands in when pytest-asyncio is missing or disabled."""

    @pytest.fixture(name="bird_emulator")
    def bird_emulator(self, bird_emulator_options: dict[str, Any]) -> None:
        """Skips: the emulator fixture is async and needs pytest-asyncio."""
        pytest.skip("the bird_emulator fixture needs pytest-asyncio (pip install pytest-asyncio)")

    @pytest.fixture(name="bird_client")
    def bird_client(self, bird_client_options: dict[str, Any]) -> None:
        """Skips: the client fixture is async and needs pytest-asyncio."""
        pytest.skip("the bird_client fixture needs pytest-asyncio (pip install pytest-asyncio)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the ``bird_emulator`` marker and the fixture that fits the installed plugins."""
    config.addinivalue_line(
        "markers",
        "bird_emulator(**options): keyword arguments for the bird_emulator fixture's BirdEmulator",
    )
    fixtures = _async_fixtures() if _asyncio_plugin_active(config) else _SkippingFixtures()
    config.pluginmanager.register(fixtures, "bird_recordings.emulator.fixture")
