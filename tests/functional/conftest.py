"""Fixtures for functional tests: a real emulator on loopback and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from tests.conftest import FakeClock


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    """An emulator with 20 small seeded recordings."""
    async with BirdEmulator(recordings=20, seed=11, media_size_bytes=(16_384, 131_072)) as emulator:
        yield emulator


class InstantClock(FakeClock):
    """Real wall time (so URL expiry matches the emulator), instant sleeps."""

    def now(self):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime, timedelta

        return datetime.now(UTC) + timedelta(seconds=self._mono - 1000.0)


@pytest.fixture
def instant_clock() -> InstantClock:
    """Backoff sleeps return at once and are recorded in ``.sleeps``."""
    return InstantClock()


@pytest.fixture
async def emu_client(
    emu: BirdEmulator, instant_clock: InstantClock
) -> AsyncIterator[br.RecordingsClient]:
    """A client for ``emu``: instant backoff, short stall timeout, no rate limit."""
    async with br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        clock=instant_clock,
        rate_limit=None,
        stall_timeout_s=5.0,
        retry=br.RetryPolicy(max_retries=6),
    ) as client:
        yield client
