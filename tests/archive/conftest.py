"""Fixtures for the archive tests: an emulator with recordings over 30 days, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    """200 small seeded recordings spread over the 30 days before now."""
    async with BirdEmulator(recordings=200, seed=15, media_size_bytes=(2_000, 12_000)) as emulator:
        await emulator.wait_etags()
        yield emulator


@pytest.fixture
async def emu_client(emu: BirdEmulator) -> AsyncIterator[br.RecordingsClient]:
    """A client for ``emu`` without a rate limit."""
    async with br.RecordingsClient(
        emu.access_key, emu.workspace_id, base_url=emu.base_url, rate_limit=None
    ) as client:
        yield client
