"""One rate budget for every process: a rate limiter shared through Redis.

Install with ``pip install 'bird-recordings[redis]'`` (redis-py ``redis.asyncio``).
Bird limits each *workspace* (50 GET/s, 500 POST/s), not each process: a fleet
of web workers, Celery workers or pods that each keep their own budget sends
N times too much and lives on 429s. :class:`RedisRateLimiter` keeps the budget
in Redis, where every process takes its slots from the same schedule:

- GCRA (the generic cell rate algorithm redis-cell implements) in one Lua
  script: a slot is reserved atomically in one round trip, and the time comes
  from Redis (``TIME``), so hosts whose clocks disagree share one timeline;
- a 429 any process gets becomes a "not before" time in Redis that every
  process waits out, instead of each finding the 429 for itself;
- when Redis cannot be reached, ``on_redis_error="local"`` falls back to an
  in-process budget of ``rate / expected_processes`` (one warning in the log)
  and returns to Redis when it answers again; ``"raise"`` raises
  :class:`~bird_recordings.RateLimiterUnavailableError` instead.

See the "Many processes, one budget" page of the docs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self
from urllib.parse import urlsplit

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "bird_recordings.redis needs redis-py: pip install 'bird-recordings[redis]'"
    ) from exc

from ._constants import DEFAULT_RATE_LIMIT_PER_S, LOGGER_NAME, POST_RATE_LIMIT_PER_S
from ._errors import ConfigurationError, RateLimiterUnavailableError
from ._limits import LocalRateLimiter, RequestKind
from ._redact import REDACTED

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from ._clock import Clock

__all__ = ["DEFAULT_SHARED_BURST", "PAUSE_SCRIPT", "RESERVE_SCRIPT", "RedisRateLimiter"]

logger: Final = logging.getLogger(LOGGER_NAME)

DEFAULT_SHARED_BURST: Final = 10
"""Requests of one kind the whole fleet may send at once after an idle time."""

#: GCRA reservation. Times are integer microseconds on the Redis clock.
#: KEYS[1]: the theoretical arrival time (TAT) of the next request of the budget;
#: KEYS[2]: the budget's "not before" time, set by a 429.
#: ARGV[1]: the emission interval (1e6 / rate); ARGV[2]: the burst.
#: Returns the microseconds the caller must wait; the slot is taken either way.
RESERVE_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local allowance = (tonumber(ARGV[2]) - 1) * interval
local raw = redis.call('GET', KEYS[1])
local tat = raw and tonumber(raw) or now
if tat < now then tat = now end
raw = redis.call('GET', KEYS[2])
local not_before = raw and tonumber(raw) or 0
if not_before > now and not_before + allowance > tat then
  -- after a 429 the budget restarts empty: paced at the plain rate, no burst
  tat = not_before + allowance
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1)
local wait = tat - allowance - now
if wait < 0 then wait = 0 end
return wait
"""

#: Extend the budget's pause. KEYS[1]: the "not before" key; ARGV[1]: the pause in
#: microseconds (0 only reads it). Returns the microseconds of pause left (0: none).
PAUSE_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(ARGV[1])
local raw = redis.call('GET', KEYS[1])
local not_before = raw and tonumber(raw) or 0
if pause > 0 and now + pause > not_before then
  not_before = now + pause
  redis.call('SET', KEYS[1], string.format('%.0f', not_before),
             'PX', math.ceil(pause / 1000) + 1)
end
if not_before > now then return not_before - now end
return 0
"""

_US: Final = 1_000_000


def _where(url: str) -> str:
    """``scheme://host:port/db`` of a Redis URL: no user, no password, no query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    user = f"{REDACTED}@" if "@" in parts.netloc else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _password_of_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    found = parts.password
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key.lower() == "password" and value:
            found = value
    return found


class RedisRateLimiter:
    """A :class:`~bird_recordings.RateLimiterProtocol` whose budget lives in Redis.

    Every process (and every client in it) that uses the same Redis, ``prefix``
    and workspace shares one budget per request kind: ``get_rate`` requests
    per second for GET and DELETE, ``post_rate`` for POST, each with bursts of
    ``burst``. The workspace comes from the client that asks (its
    ``workspace_id``), so one limiter serves every client of a process, even
    of several workspaces, and cannot be keyed on a workspace the client does
    not use. Keys: ``{prefix}:{<workspace>:<kind>}:tat`` and ``…:not-before``;
    they expire on their own when idle.

    Args:
        url: ``redis://[:password@]host:6379/0`` (``rediss://`` for TLS); the
            limiter creates, owns and closes that connection pool.
        redis: a ``redis.asyncio.Redis`` to borrow instead (never closed here).
        get_rate, post_rate: the workspace's requests per second (Bird: 50, 500).
        burst: requests of one kind the fleet may send at once after an idle
            time (default 10). In any window of ``T`` seconds the fleet sends at
            most ``rate * T + burst``.
        prefix: the start of every key, to keep apart deployments that share a Redis.
        on_redis_error: ``"local"`` (default): when Redis cannot be reached, keep
            going with an in-process budget of ``rate / expected_processes``,
            log one warning (logger ``bird_recordings``) and use Redis again
            once it answers (tried at most every ``probe_interval_s``);
            ``"raise"``: every request fails with
            :class:`~bird_recordings.RateLimiterUnavailableError` until it is back.
        expected_processes: how many processes share the budget, for the
            fallback's rate. Default 1: a fleet that loses Redis then sends up to
            N times the rate and relies on 429 retries, as without this limiter.
        probe_interval_s: how often a process that fell back tries Redis again.
        redis_timeout_s: connect and command timeout of an owned connection pool.
        clock: a :class:`~bird_recordings.Clock` for waiting (tests inject one).

    Raises:
        ConfigurationError: neither or both of ``url`` and ``redis``, or a bad option.

    The URL's password never appears in a repr, a log line or an error.
    Create the limiter inside the event loop that uses it (redis-py's
    connections belong to one loop), close it with ``await limiter.aclose()``
    or ``async with``; a client never closes a limiter it was given.

    Example::

        from bird_recordings.redis import RedisRateLimiter

        async with RedisRateLimiter(url="redis://redis:6379/0", expected_processes=4) as limiter:
            async with br.RecordingsClient(rate_limiter=limiter) as client:
                ...
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        redis: aioredis.Redis | None = None,
        get_rate: float = DEFAULT_RATE_LIMIT_PER_S,
        post_rate: float = POST_RATE_LIMIT_PER_S,
        burst: int = DEFAULT_SHARED_BURST,
        prefix: str = "bird-recordings",
        on_redis_error: Literal["local", "raise"] = "local",
        expected_processes: int = 1,
        probe_interval_s: float = 5.0,
        redis_timeout_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if (url is None) == (redis is None):
            raise ConfigurationError("pass exactly one of url=... and redis=...")
        for name, value in (
            ("get_rate", get_rate),
            ("post_rate", post_rate),
            ("probe_interval_s", probe_interval_s),
            ("redis_timeout_s", redis_timeout_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        for name, count in (("burst", burst), ("expected_processes", expected_processes)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {count!r}")
        if on_redis_error not in ("local", "raise"):
            raise ConfigurationError(
                f"on_redis_error must be 'local' or 'raise', not {on_redis_error!r}"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError("prefix must be a non-empty string")
        self.get_rate = float(get_rate)
        self.post_rate = float(post_rate)
        self.burst = burst
        self.prefix = prefix
        self.on_redis_error = on_redis_error
        self.expected_processes = expected_processes
        self.probe_interval_s = float(probe_interval_s)
        if url is not None:
            if not isinstance(url, str):
                raise ConfigurationError("url must be a string such as redis://host:6379/0")
            self._where = _where(url)
            self._password = _password_of_url(url)
            try:
                self._redis = aioredis.from_url(
                    url,
                    socket_connect_timeout=redis_timeout_s,
                    socket_timeout=redis_timeout_s,
                    # One immediate retry re-opens a connection the server closed;
                    # an outage is handled here, not by sleeping inside redis-py.
                    retry=Retry(NoBackoff(), 1),
                )
            except ValueError:
                raise ConfigurationError(f"not a Redis URL: {self._where}") from None
            self._owns_redis = True
        else:
            if redis is None or not hasattr(redis, "register_script"):
                raise ConfigurationError("redis must be a redis.asyncio.Redis client")
            kwargs: dict[str, Any] = dict(
                getattr(getattr(redis, "connection_pool", None), "connection_kwargs", {})
            )
            host = kwargs.get("host", kwargs.get("path", "?"))
            port = f":{kwargs['port']}" if "port" in kwargs else ""
            self._where = f"redis://{host}{port}/{kwargs.get('db', 0)}"
            self._password = kwargs.get("password")
            self._redis = redis
            self._owns_redis = False
        self._reserve_script: AsyncScript = self._redis.register_script(RESERVE_SCRIPT)
        self._pause_script: AsyncScript = self._redis.register_script(PAUSE_SCRIPT)
        self._local = LocalRateLimiter(
            self.get_rate / expected_processes,
            self.post_rate / expected_processes,
            burst=max(1, burst // expected_processes),
            clock=clock,
        )
        self._monotonic: Callable[[], float] = (
            clock.monotonic if clock is not None else time.monotonic
        )
        self._sleep: Callable[[float], Awaitable[None]] = (
            clock.sleep if clock is not None else asyncio.sleep
        )
        self._shared = True
        self._next_probe = 0.0
        self._closed = False

    def __repr__(self) -> str:
        state = "shared" if self._shared else "local fallback"
        return (
            f"<RedisRateLimiter {self._where} get_rate={self.get_rate:g} "
            f"post_rate={self.post_rate:g} burst={self.burst} prefix={self.prefix!r} "
            f"on_redis_error={self.on_redis_error!r} {state}>"
        )

    # -- lifecycle -------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool made from ``url`` (a borrowed client stays open)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_redis:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def is_shared(self) -> bool:
        """False while this process runs on its local fallback budget (Redis unreachable)."""
        return self._shared

    # -- the protocol ----------------------------------------------------------

    async def acquire(self, workspace_id: str, kind: RequestKind) -> None:
        """Wait for this process's slot in the workspace's shared ``kind`` budget.

        A slot that falls inside a pause another process set while this one
        waited (a 429) is given up for a new one after the pause.

        Raises:
            RateLimiterUnavailableError: Redis is unreachable and
                ``on_redis_error="raise"``.
        """
        while True:
            shared = await self._reserve_shared(workspace_id, kind)
            if shared is None:
                await self._local.acquire(workspace_id, kind)
                return
            if shared <= 0:
                return
            await self._sleep(shared)
            left = await self._pause_shared(workspace_id, kind, 0.0)
            if not left:  # no pause (or Redis just went away: the slot is ours)
                return

    async def report_rate_limited(
        self, workspace_id: str, kind: RequestKind, retry_after_s: float
    ) -> None:
        """Pause the workspace's ``kind`` budget for every process for ``retry_after_s``.

        The pause is the later of the current one and now + ``retry_after_s``
        on the Redis clock.

        Raises:
            RateLimiterUnavailableError: Redis is unreachable and
                ``on_redis_error="raise"``.
        """
        self._local.pause(workspace_id, kind, retry_after_s)
        await self._pause_shared(workspace_id, kind, retry_after_s)

    # -- seams for tests and tools ---------------------------------------------

    async def reserve(self, workspace_id: str, kind: RequestKind) -> float:
        """Take the next shared slot without waiting; return the seconds until it.

        Falls back (or raises) like :meth:`acquire` when Redis is unreachable,
        returning the local budget's wait then.
        """
        shared = await self._reserve_shared(workspace_id, kind)
        if shared is None:
            return self._local.reserve(workspace_id, kind)
        return shared

    async def pause_remaining(self, workspace_id: str, kind: RequestKind) -> float:
        """Seconds left of the workspace's shared ``kind`` pause (0: none, or Redis away)."""
        return await self._pause_shared(workspace_id, kind, 0.0) or 0.0

    # -- Redis -----------------------------------------------------------------

    def _keys(self, workspace_id: str, kind: RequestKind) -> list[str]:
        # One hash tag per budget: both keys of a script live in one cluster slot.
        tag = f"{self.prefix}:{{{workspace_id}:{kind}}}"
        return [f"{tag}:tat", f"{tag}:not-before"]

    async def _reserve_shared(self, workspace_id: str, kind: RequestKind) -> float | None:
        rate = self.get_rate if kind == "get" else self.post_rate
        keys = self._keys(workspace_id, kind)
        waited = await self._call(self._reserve_script, keys, [_US / rate, self.burst])
        return None if waited is None else waited / _US

    async def _pause_shared(
        self, workspace_id: str, kind: RequestKind, seconds: float
    ) -> float | None:
        key = self._keys(workspace_id, kind)[1]
        left = await self._call(self._pause_script, [key], [math.ceil(max(0.0, seconds) * _US)])
        return None if left is None else left / _US

    async def _call(self, script: AsyncScript, keys: list[str], args: list[float]) -> int | None:
        """Run a script; ``None`` means "use the local budget" (Redis away, mode local)."""
        if not self._shared and self.on_redis_error == "local":
            now = self._monotonic()
            if now < self._next_probe:
                return None
            self._next_probe = now + self.probe_interval_s  # one probe at a time
        try:
            result = await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._unavailable(exc)
            return None
        if not self._shared:
            self._shared = True
            logger.info("shared rate budget: Redis at %s answers again", self._where)
        return int(result)

    def _unavailable(self, exc: BaseException) -> None:
        detail = f"{type(exc).__name__}: {exc}"
        if self._password:
            detail = detail.replace(self._password, REDACTED)
        if self.on_redis_error == "raise":
            raise RateLimiterUnavailableError(
                f"the shared rate budget is unavailable: Redis at {self._where} failed ({detail})"
            ) from exc
        if self._shared:
            self._shared = False
            self._next_probe = self._monotonic() + self.probe_interval_s
            logger.warning(
                "shared rate budget: Redis at %s failed (%s); this process now limits itself "
                "to %g GET/s and %g POST/s (the rates / expected_processes=%d) until it is back",
                self._where,
                detail,
                self._local.get_rate,
                self._local.post_rate,
                self.expected_processes,
            )
