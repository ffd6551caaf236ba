"""``RedisRateLimiter`` against a real redis-server: the script's semantics, outages, secrets."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings.redis import RedisRateLimiter
from tests.services import RedisServer

WS = "8bc0f1c4-7a9e-4a49-9f0e-2f5b1c1d2e3f"
OTHER_WS = "50fa2203-66c2-4820-864a-1a8002952f4e"


def test_importing_the_package_does_not_import_redis() -> None:
    code = (
        "import sys, bird_recordings, bird_recordings.emulator; "
        "assert 'redis' not in sys.modules, 'redis was imported'; "
        "assert 'bird_recordings.redis' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
async def limiter(redis_server: RedisServer) -> AsyncIterator[RedisRateLimiter]:
    # 4/s: intervals of 0.25 s, exact in binary and far above Redis' microseconds.
    async with RedisRateLimiter(url=redis_server.url, get_rate=4, post_rate=8, burst=2) as lim:
        yield lim


def shared(limiter: RedisRateLimiter) -> bool:
    """Read through a call: mypy would narrow the property and call later asserts unreachable."""
    return limiter.is_shared


def near(values: list[float], expected: list[float], since: float, tolerance: float = 0.02) -> bool:
    """Waits measured on the Redis clock, each taken a little later than the one before.

    A wait can only shrink by the time that passed since ``since`` (a
    ``time.monotonic()`` taken before the first reservation): on a busy machine
    that is more than the ``tolerance``, so it widens the lower bound only.
    """
    slack = time.monotonic() - since
    return len(values) == len(expected) and all(
        e - tolerance - slack <= v <= e + tolerance for v, e in zip(values, expected, strict=True)
    )


async def test_burst_then_rate(limiter: RedisRateLimiter) -> None:
    started = time.monotonic()
    waits = [await limiter.reserve(WS, "get") for _ in range(5)]
    assert near(waits, [0.0, 0.0, 0.25, 0.5, 0.75], started), waits


async def test_kinds_and_workspaces_are_separate_budgets(limiter: RedisRateLimiter) -> None:
    for _ in range(4):
        await limiter.reserve(WS, "get")
    started = time.monotonic()
    assert near([await limiter.reserve(WS, "post") for _ in range(3)], [0.0, 0.0, 0.125], started)
    started = time.monotonic()
    assert near(
        [await limiter.reserve(OTHER_WS, "get") for _ in range(3)], [0.0, 0.0, 0.25], started
    )


async def test_two_limiters_on_one_redis_share_one_budget(
    limiter: RedisRateLimiter, redis_server: RedisServer
) -> None:
    async with RedisRateLimiter(url=redis_server.url, get_rate=4, burst=2) as other:
        started = time.monotonic()
        waits = [await (limiter if i % 2 else other).reserve(WS, "get") for i in range(4)]
    assert near(waits, [0.0, 0.0, 0.25, 0.5], started), waits


async def test_prefixes_keep_deployments_apart(
    limiter: RedisRateLimiter, redis_server: RedisServer
) -> None:
    for _ in range(4):
        await limiter.reserve(WS, "get")
    async with RedisRateLimiter(url=redis_server.url, get_rate=4, burst=2, prefix="b") as other:
        assert await other.reserve(WS, "get") == 0.0


async def test_a_429_pauses_the_kind_for_everyone_then_paces_without_burst(
    limiter: RedisRateLimiter, redis_server: RedisServer
) -> None:
    async with RedisRateLimiter(url=redis_server.url, get_rate=4, burst=2) as other:
        started = time.monotonic()
        await other.report_rate_limited(WS, "get", 2.0)
        assert 1.9 < await limiter.pause_remaining(WS, "get") <= 2.0
        waits = [await limiter.reserve(WS, "get") for _ in range(3)]
    assert near(waits, [2.0, 2.25, 2.5], started), waits
    assert await limiter.reserve(WS, "post") == 0.0
    assert await limiter.pause_remaining(OTHER_WS, "get") == 0.0


async def test_a_pause_is_extended_never_shortened(limiter: RedisRateLimiter) -> None:
    await limiter.report_rate_limited(WS, "get", 5.0)
    await limiter.report_rate_limited(WS, "get", 1.0)
    assert 4.9 < await limiter.pause_remaining(WS, "get") <= 5.0


async def test_the_script_cache_is_refilled_after_a_flush(
    limiter: RedisRateLimiter, redis_server: RedisServer
) -> None:
    import redis.asyncio as aioredis

    await limiter.reserve(WS, "get")
    async with aioredis.from_url(redis_server.url) as admin:
        await admin.script_flush()
    assert near([await limiter.reserve(WS, "get")], [0.0], time.monotonic())
    assert shared(limiter)


async def test_keys_expire_when_idle(limiter: RedisRateLimiter, redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    await limiter.reserve(WS, "get")
    await limiter.report_rate_limited(WS, "get", 1.0)
    async with aioredis.from_url(redis_server.url) as admin:
        keys = sorted(k.decode() for k in await admin.keys("*") if isinstance(k, bytes))
        assert keys == [
            f"bird-recordings:{{{WS}:get}}:not-before",
            f"bird-recordings:{{{WS}:get}}:tat",
        ]
        ttls = [await admin.pttl(k) for k in keys]
    assert all(0 < ttl <= 3000 for ttl in ttls), ttls


async def test_a_borrowed_client_is_not_closed(redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    async with aioredis.from_url(redis_server.url) as borrowed:
        async with RedisRateLimiter(redis=borrowed) as limiter:
            assert f"127.0.0.1:{redis_server.port}" in repr(limiter)
            await limiter.acquire(WS, "get")
        assert await borrowed.ping()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"url": "redis://x", "redis": object()}, "exactly one"),
        ({"redis": object()}, "redis.asyncio.Redis"),
        ({"url": "redis://x", "get_rate": 0}, "get_rate"),
        ({"url": "redis://x", "burst": 0}, "burst"),
        ({"url": "redis://x", "expected_processes": 0}, "expected_processes"),
        ({"url": "redis://x", "on_redis_error": "ignore"}, "on_redis_error"),
        ({"url": "redis://x", "prefix": ""}, "prefix"),
        ({"url": "http://:pw-123@x/0"}, "not a Redis URL"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(br.ConfigurationError, match=match) as caught:
        RedisRateLimiter(**kwargs)
    assert "pw-123" not in str(caught.value)


def test_the_client_accepts_it_as_its_rate_limiter() -> None:
    limiter = RedisRateLimiter(url="redis://127.0.0.1:1/0")
    client = br.RecordingsClient("key", WS, rate_limiter=limiter)
    assert client.rate_limiter is limiter
    assert isinstance(limiter, br.RateLimiterProtocol)


# -- Redis away ---------------------------------------------------------------------

SECRET = "s3cret-Redis-pass"


async def test_password_never_in_repr_log_or_error(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    async with aioredis.from_url(redis_server.url) as admin:
        await admin.config_set("requirepass", SECRET)
    url = f"redis://:{SECRET}@127.0.0.1:{redis_server.port}/0"
    raising = RedisRateLimiter(url=url, on_redis_error="raise")
    local = RedisRateLimiter(url=url, on_redis_error="local")
    query = RedisRateLimiter(url=f"redis://127.0.0.1:{redis_server.port}/0?password={SECRET}")
    try:
        assert await raising.reserve(WS, "get") == 0.0  # the password works
        for lim in (raising, local, query):
            assert SECRET not in repr(lim)
        redis_server.stop()
        caplog.set_level(logging.DEBUG, logger="bird_recordings")
        with pytest.raises(br.RateLimiterUnavailableError) as caught:
            await raising.acquire(WS, "get")
        assert SECRET not in str(caught.value)
        assert f"127.0.0.1:{redis_server.port}" in str(caught.value)
        await local.acquire(WS, "get")
        assert not shared(local)
        assert caplog.records
        assert all(SECRET not in r.getMessage() for r in caplog.records)
    finally:
        for lim in (raising, local, query):
            await lim.aclose()


async def test_local_falls_back_with_one_warning_and_returns_when_redis_is_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bird_recordings")
    async with RedisRateLimiter(
        url=redis_server.url, get_rate=400, expected_processes=4, probe_interval_s=0.05
    ) as limiter:
        await limiter.acquire(WS, "get")
        assert shared(limiter)
        redis_server.stop()
        for _ in range(20):
            await limiter.acquire(WS, "get")
        assert not shared(limiter)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "100 GET/s" in warnings[0].getMessage()  # 400 / expected_processes
        redis_server.start()
        # Probes are at most every 0.05 s; at 100/s locally, 50 slots take ~0.5 s.
        for _ in range(50):
            await limiter.acquire(WS, "get")
            if shared(limiter):
                break
        assert shared(limiter)
        assert [r.levelno for r in caplog.records].count(logging.WARNING) == 1


async def test_raise_mode_fails_typed_then_works_again(redis_server: RedisServer) -> None:
    async with RedisRateLimiter(url=redis_server.url, on_redis_error="raise") as limiter:
        redis_server.stop()
        with pytest.raises(br.RateLimiterUnavailableError) as caught:
            await limiter.acquire(WS, "get")
        assert isinstance(caught.value, br.BirdRecordingsError)
        assert isinstance(caught.value, ConnectionError)
        with pytest.raises(br.RateLimiterUnavailableError):
            await limiter.report_rate_limited(WS, "get", 1.0)
        redis_server.start()
        await limiter.acquire(WS, "get")
