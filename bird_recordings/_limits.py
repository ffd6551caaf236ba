"""Client-wide limits: the rate-limiter protocol and the in-process limiter.

The rate limiter is a GCRA (the continuous form of a token bucket): each
acquisition reserves the next free slot, so waiting callers are served in
order and no background task is needed. Clock and sleep are injected.

:class:`RateLimiterProtocol` is what :class:`~bird_recordings.RecordingsClient`
talks to; :class:`LocalRateLimiter` (the default) keeps the budget in this
process, ``bird_recordings.redis.RedisRateLimiter`` shares it between processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final, Literal, Protocol, runtime_checkable

from ._clock import Clock
from ._constants import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT_PER_S, POST_RATE_LIMIT_PER_S
from ._errors import ConfigurationError

__all__ = ["REQUEST_KINDS", "LocalRateLimiter", "RateLimiter", "RateLimiterProtocol", "RequestKind"]

RequestKind = Literal["get", "post"]
"""Bird's two budgets: ``"get"`` (GET and DELETE requests) and ``"post"``."""

REQUEST_KINDS: Final[tuple[RequestKind, ...]] = ("get", "post")


@runtime_checkable
class RateLimiterProtocol(Protocol):
    """What a client needs from a rate limiter: pass one as ``RecordingsClient(rate_limiter=...)``.

    Bird budgets each *workspace* separately for GET (50/s; DELETE counts here
    too) and POST (500/s). The client calls :meth:`acquire` before every API
    request (retries included) and :meth:`report_rate_limited` for every 429 it
    receives. ``kind`` is ``"get"`` (GET and DELETE) or ``"post"``. Both get
    the client's workspace id, so one limiter object can
    serve several clients, of one workspace or of many. Storage downloads
    (presigned URLs) are not Bird API requests and never go through it.

    Implementations: :class:`LocalRateLimiter` (one process, the default) and
    ``bird_recordings.redis.RedisRateLimiter`` (every process sharing a Redis).
    Errors an implementation raises escape the client call unchanged, so raise
    :class:`BirdRecordingsError` subclasses only.

    Example (a limiter that only counts)::

        class Counting:
            def __init__(self) -> None:
                self.sent = 0

            async def acquire(self, workspace_id: str, kind: str) -> None:
                self.sent += 1

            async def report_rate_limited(
                self, workspace_id: str, kind: str, retry_after_s: float
            ) -> None:
                pass
    """

    async def acquire(self, workspace_id: str, kind: RequestKind) -> None:
        """Wait until one request of ``kind`` may be sent to ``workspace_id``; take its slot."""
        ...

    async def report_rate_limited(
        self, workspace_id: str, kind: RequestKind, retry_after_s: float
    ) -> None:
        """Bird answered 429: send no ``kind`` request to the workspace for ``retry_after_s``.

        ``retry_after_s`` is Bird's ``Retry-After`` when it sent one, otherwise
        the back-off the client's retry policy chose (capped at its
        ``retry_after_max_s``).
        """
        ...


class RateLimiter:
    """Allow at most ``rate`` acquisitions per second, with bursts of ``burst``.

    ``rate=None`` disables limiting. One budget of one kind; see
    :class:`LocalRateLimiter` for what a client uses.
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

    def reserve(self, not_before: float | None = None) -> float:
        """Reserve a slot; return how long the caller must wait for it (seconds).

        ``not_before`` (same clock) is a pause: no slot before it, and the
        requests after it are paced at the plain rate, without a burst.
        """
        if self.rate is None:
            return 0.0
        interval = 1.0 / self.rate
        now = self._clock()
        tat = now if self._tat is None else max(self._tat, now)
        if not_before is not None and not_before > now:
            tat = max(tat, not_before + (self.burst - 1) * interval)
        wait = tat - now - (self.burst - 1) * interval
        self._tat = tat + interval
        return max(0.0, wait)

    async def acquire(self) -> None:
        """Wait until the caller may send its request."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)


class _Budget:
    """The two budgets of one workspace and their 429 pauses."""

    __slots__ = ("limiters", "not_before")

    def __init__(self, limiters: dict[RequestKind, RateLimiter]) -> None:
        self.limiters = limiters
        self.not_before: dict[RequestKind, float] = {}


class LocalRateLimiter:
    """The in-process :class:`RateLimiterProtocol`: one budget per workspace and kind.

    ``get_rate`` requests per second for GET and DELETE (default 50),
    ``post_rate`` for POST (default 500), each allowing ``burst`` requests at
    once after an idle time; ``None`` disables a kind's limit. A reported 429
    pauses that kind in this process for its Retry-After (a disabled kind is
    not paused: the retry loop still waits in the task that got the 429).

    This is what ``RecordingsClient(rate_limit=..., rate_burst=...)`` builds;
    pass one yourself to share one budget between several clients of this
    process. ``clock`` is a :class:`~bird_recordings.Clock` (tests inject a
    fake one). For several processes use ``bird_recordings.redis.RedisRateLimiter``.

    Raises:
        ConfigurationError: a rate that is not positive, or ``burst < 1``.

    Example::

        limiter = br.LocalRateLimiter(get_rate=25)  # half the workspace's budget
        async with br.RecordingsClient(rate_limiter=limiter) as client: ...
    """

    def __init__(
        self,
        get_rate: float | None = DEFAULT_RATE_LIMIT_PER_S,
        post_rate: float | None = POST_RATE_LIMIT_PER_S,
        *,
        burst: int = DEFAULT_RATE_BURST,
        clock: Clock | None = None,
    ) -> None:
        for name, rate in (("get_rate", get_rate), ("post_rate", post_rate)):
            if rate is not None and (
                isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0
            ):
                raise ConfigurationError(f"{name} must be a positive number or None, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be an integer of at least 1, got {burst!r}")
        self.get_rate = get_rate
        self.post_rate = post_rate
        self.burst = burst
        self._monotonic: Callable[[], float] = (
            clock.monotonic if clock is not None else time.monotonic
        )
        self._sleep: Callable[[float], Awaitable[None]] = (
            clock.sleep if clock is not None else asyncio.sleep
        )
        self._budgets: dict[str, _Budget] = {}

    def __repr__(self) -> str:
        return (
            f"LocalRateLimiter(get_rate={self.get_rate!r}, post_rate={self.post_rate!r}, "
            f"burst={self.burst!r})"
        )

    def _budget(self, workspace_id: str) -> _Budget:
        budget = self._budgets.get(workspace_id)
        if budget is None:
            budget = _Budget(
                {
                    "get": RateLimiter(self.get_rate, burst=self.burst, clock=self._monotonic),
                    "post": RateLimiter(self.post_rate, burst=self.burst, clock=self._monotonic),
                }
            )
            self._budgets[workspace_id] = budget
        return budget

    def reserve(self, workspace_id: str, kind: RequestKind) -> float:
        """Take the next slot of ``kind``; return the seconds to wait for it (no waiting)."""
        budget = self._budget(workspace_id)
        return budget.limiters[kind].reserve(budget.not_before.get(kind))

    async def acquire(self, workspace_id: str, kind: RequestKind) -> None:
        """Wait for the next slot of ``kind`` in ``workspace_id`` (at once when disabled)."""
        wait = self.reserve(workspace_id, kind)
        if wait > 0:
            await self._sleep(wait)

    async def report_rate_limited(
        self, workspace_id: str, kind: RequestKind, retry_after_s: float
    ) -> None:
        """Pause ``kind`` requests to ``workspace_id`` in this process for ``retry_after_s``."""
        self.pause(workspace_id, kind, retry_after_s)

    def pause(self, workspace_id: str, kind: RequestKind, seconds: float) -> None:
        """No ``kind`` request to ``workspace_id`` for ``seconds`` (extends, never shortens)."""
        if not seconds > 0:
            return
        budget = self._budget(workspace_id)
        until = self._monotonic() + seconds
        if until > budget.not_before.get(kind, float("-inf")):
            budget.not_before[kind] = until
