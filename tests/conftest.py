"""Shared fixtures.

aioresponses compatibility
--------------------------
aioresponses 0.7.9 builds ``aiohttp.ClientResponse`` without the
``stream_writer`` argument that aiohttp 3.14 requires (upstream
pnuckowski/aioresponses#289), so every mocked request fails with a
``TypeError``. aiohttp 3.14 carries a security fix and we require it, so
:func:`aioresponses_compat` substitutes a ``ClientResponse`` subclass that
supplies a stand-in writer. Drop it when upstream ships a fix. aioresponses
also fails on mocked bodies over 64 KiB: keep mocked bodies small and use the
emulator for anything large.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

import bird_recordings as br

WORKSPACE = "8bc0f1c4-7a9e-4a49-9f0e-2f5b1c1d2e3f"
ACCESS_KEY = "test-access-key-DO-NOT-LEAK-3f9a"
BASE_URL = "https://api.bird.test"


class _NullStreamWriter:
    """Just enough of ``AbstractStreamWriter`` for a mocked response."""

    output_size = 0


class _CompatClientResponse(aiohttp.ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NullStreamWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def aioresponses_compat(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An ``aioresponses`` mock that works on aiohttp 3.14 (see the module docstring)."""
    import aioresponses.core as core

    monkeypatch.setattr(core, "ClientResponse", _CompatClientResponse)
    with core.aioresponses() as mocked:
        yield mocked


class FakeClock(br.Clock):
    """A clock whose ``sleep`` advances time instantly and records each wait."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`FakeClock` starting at 2026-11-25 12:00 UTC."""
    return FakeClock()


@pytest.fixture
async def client(fake_clock: FakeClock) -> AsyncIterator[br.RecordingsClient]:
    """A client for aioresponses tests: fake clock, no jitter, no rate limit."""
    async with br.RecordingsClient(
        ACCESS_KEY,
        WORKSPACE,
        base_url=BASE_URL,
        clock=fake_clock,
        rate_limit=None,
        retry=br.RetryPolicy(jitter=0.0),
    ) as c:
        yield c


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``redis-server`` on a free loopback port (see ``tests/services.py``)."""
    from tests.services import redis_server as start

    with start(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    """A real moto S3 server on a free loopback port (see ``tests/services.py``)."""
    from tests.services import moto_server as start

    with start() as server:
        yield server
