"""Time, injectable: one object answers "what time is it" and "wait this long".

Tests pass a fake whose ``sleep`` advances time instantly, so retry, rate-limit
and expiry logic is exercised without real waiting.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

__all__ = ["Clock", "SystemClock"]


class Clock:
    """The interface: ``monotonic()``, ``now()`` (aware UTC) and ``await sleep(s)``."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for intervals)."""
        raise NotImplementedError

    def now(self) -> datetime:
        """The wall-clock time, aware UTC (for URL expiry and HTTP dates)."""
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        raise NotImplementedError


class SystemClock(Clock):
    """The real clock: :func:`time.monotonic`, :func:`datetime.now` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"
