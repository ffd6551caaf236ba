"""Client-wide limits: a cap on concurrent API requests and a rate limiter.

The rate limiter is a GCRA (the continuous form of a token bucket): each
acquisition reserves the next free slot, so waiting callers are served in
order and no background task is needed. Clock and sleep are injected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ._errors import ConfigurationError

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allow at most ``rate`` acquisitions per second, with bursts of ``burst``.

    ``rate=None`` disables limiting. One limiter is shared by every call on a
    client, so concurrent pagers, fan-outs and downloads together respect it.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and not rate > 0:
            raise ConfigurationError(f"rate_limit must be positive or None, got {rate!r}")
        if burst < 1:
            raise ConfigurationError(f"rate_burst must be at least 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tat: float | None = None  # theoretical arrival time of the next request

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r}, burst={self.burst!r})"

    def reserve(self) -> float:
        """Reserve a slot; return how long the caller must wait for it (seconds)."""
        if self.rate is None:
            return 0.0
        interval = 1.0 / self.rate
        now = self._clock()
        tat = now if self._tat is None else max(self._tat, now)
        wait = tat - now - (self.burst - 1) * interval
        self._tat = tat + interval
        return max(0.0, wait)

    async def acquire(self) -> None:
        """Wait until the caller may send its request."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
