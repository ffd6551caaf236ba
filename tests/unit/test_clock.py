"""The real clock behind the injectable Clock interface."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

import bird_recordings as br


async def test_system_clock() -> None:
    clock = br.SystemClock()
    first = clock.monotonic()
    now = clock.now()
    assert now.tzinfo is UTC
    await clock.sleep(0)
    assert clock.monotonic() >= first
    assert clock.now() - now < timedelta(seconds=5)
    assert repr(clock) == "SystemClock()"


async def test_clock_interface_is_abstract() -> None:
    clock = br.Clock()
    with pytest.raises(NotImplementedError):
        clock.monotonic()
    with pytest.raises(NotImplementedError):
        clock.now()
    with pytest.raises(NotImplementedError):
        await clock.sleep(0)
