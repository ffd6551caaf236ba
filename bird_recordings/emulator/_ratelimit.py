"""Bird's per-workspace rate limit, emulated: one token bucket per workspace and kind.

Bird documents 50 GET/s and 500 POST/s per workspace but not its algorithm or
headers. The emulator's choice (documented in ``docs/emulator.md``): a token
bucket per workspace id and kind (POST, or anything else: GET, DELETE)
holding one second's worth of requests, refilled continuously and shared by
every connection; a request that finds it empty is answered 429 with
``Retry-After`` in whole seconds (at least 1) and is not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["RateLimits"]


class _Bucket:
    __slots__ = ("capacity", "last_s", "rate", "tokens")

    def __init__(self, rate: float, capacity: float, now_s: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last_s = now_s

    def take(self, now_s: float) -> float:
        """Take a token: 0 when one was there, else the seconds until the next one."""
        if now_s > self.last_s:
            self.tokens = min(self.capacity, self.tokens + (now_s - self.last_s) * self.rate)
            self.last_s = now_s
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimits:
    """The buckets of every workspace: GET (and DELETE) at ``get_rate``, POST at ``post_rate``."""

    def __init__(
        self,
        get_rate: float | None,
        post_rate: float | None,
        now_s: Callable[[], float],
        burst: float | None = None,
    ) -> None:
        for name, rate in (("rate_limit", get_rate), ("post_rate_limit", post_rate)):
            if rate is not None and not rate > 0:
                raise ValueError(f"{name} must be positive or None")
        if burst is not None and not burst >= 1:
            raise ValueError("rate_limit_burst must be at least 1")
        self._rates = {"get": get_rate, "post": post_rate}
        self._burst = burst
        self._now_s = now_s
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.rejected = 0

    def retry_after(self, workspace_id: str, method: str) -> int | None:
        """``None`` if the request may go on, else its ``Retry-After`` (whole seconds, >= 1)."""
        kind = "post" if method == "POST" else "get"
        rate = self._rates[kind]
        if rate is None:
            return None
        now_s = self._now_s()
        bucket = self._buckets.get((workspace_id, kind))
        if bucket is None:
            capacity = self._burst if self._burst is not None else max(1.0, rate)
            bucket = self._buckets[(workspace_id, kind)] = _Bucket(rate, capacity, now_s)
        wait = bucket.take(now_s)
        if wait <= 0:
            return None
        self.rejected += 1
        return max(1, math.ceil(wait))
