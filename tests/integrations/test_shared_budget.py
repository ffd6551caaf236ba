"""Four OS processes, one workspace, one budget: the emulator enforces Bird's 50 GET/s.

Each process is ``tests/integrations/fleet_worker.py`` (a real interpreter with
its own event loop and client); the emulator runs in the test's loop and its
request log (arrival time on one clock, status, recording id) is the evidence.
A real ``redis-server`` holds the shared budget.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bird_recordings.emulator import BirdEmulator, RequestRecord
from tests.services import RedisServer

from .conftest import ROOT

pytestmark = pytest.mark.slow

RATE = 50
#: The fleet's budget: slots are exact on Redis' clock, but each request reaches
#: the server a few milliseconds after its slot (a busy loop, a busy core), so a
#: strict one-second window can catch a request or two more than the slots
#: allow. 2/s of headroom absorbs that (docs/many-processes.md, "Sizing").
FLEET_RATE = 48
BURST = 5
PROCESSES = 4
#: Upper bound on one fleet run; reaching it is a failure, not a delay.
FLEET_TIMEOUT_S = 120.0


class Fleet:
    """Worker processes and what they said so far (their latest progress line each)."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.latest: list[dict[str, Any]] = []
        self.results: list[dict[str, Any] | None] = []
        self.stderr: list[bytes] = []
        self.changed = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, settings: list[dict[str, Any]]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error"}
        for index, one in enumerate(settings):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integrations.fleet_worker",
                json.dumps(one),
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            self.procs.append(proc)
            self.latest.append({"done": 0, "shared": None})
            self.results.append(None)
            self.stderr.append(b"")
            self._readers.append(asyncio.create_task(self._read(index, proc)))

    async def _read(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        assert proc.stderr is not None
        errors = asyncio.create_task(proc.stderr.read())
        async for raw in proc.stdout:
            line = json.loads(raw)
            if "result" in line:
                self.results[index] = line["result"]
            else:
                self.latest[index] = line
            self.changed.set()
        self.stderr[index] = await errors
        await proc.wait()
        self.changed.set()

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait for progress lines until ``condition()`` holds (bounded)."""
        try:
            async with asyncio.timeout(FLEET_TIMEOUT_S):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting until {what}: {self.latest}") from None

    def total_done(self) -> int:
        return sum(line["done"] for line in self.latest)

    async def finish(self) -> list[dict[str, Any]]:
        """Wait for every worker to exit; return their results (failing on a crash)."""
        async with asyncio.timeout(FLEET_TIMEOUT_S):
            await asyncio.gather(*self._readers)
        for proc, result, err in zip(self.procs, self.results, self.stderr, strict=True):
            assert proc.returncode == 0, err.decode(errors="replace")
            assert result is not None, err.decode(errors="replace")
        return [r for r in self.results if r is not None]

    async def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        for proc in self.procs:
            await proc.wait()


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    running = Fleet()
    try:
        yield running
    finally:
        await running.kill()


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    """One workspace enforcing Bird's 50 GET/s, with 320 small recordings."""
    async with BirdEmulator(
        recordings=320, seed=14, media_size_bytes=16_384, rate_limit=RATE
    ) as emulator:
        await emulator.wait_etags()
        yield emulator


def settings_for(
    emu: BirdEmulator,
    *,
    metadata: int,
    media: int,
    disjoint: bool = False,
    **extra: Any,
) -> list[dict[str, Any]]:
    """Per-process settings: ``metadata`` ids and ``media`` available ids each."""
    ids = sorted(emu.recordings)
    available = sorted(rid for rid, rec in emu.recordings.items() if rec.is_available)
    out = []
    for index in range(PROCESSES):
        if disjoint:
            mine = ids[index * metadata : (index + 1) * metadata]
            assert len(mine) == metadata
        else:
            mine = ids[:metadata]
        out.append(
            {
                "base_url": emu.base_url,
                "access_key": emu.access_key,
                "workspace_id": emu.workspace_id,
                "metadata_ids": mine,
                "media_ids": available[:media],
                "burst": BURST,
                "rate": FLEET_RATE if extra.get("limiter") == "redis" else RATE,
                **extra,
            }
        )
    return out


def api_log(emu: BirdEmulator) -> list[RequestRecord]:
    return [r for r in emu.requests if r.origin == "api"]


def busiest_second(records: list[RequestRecord]) -> int:
    """The most requests that arrived within any one-second window."""
    times = sorted(r.received_s for r in records if r.received_s is not None)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_with_redis_four_processes_stay_within_the_workspace_limit(
    emu: BirdEmulator, fleet: Fleet, redis_server: RedisServer
) -> None:
    await fleet.start(
        settings_for(emu, metadata=300, media=50, limiter="redis", redis_url=redis_server.url)
    )
    results = await fleet.finish()
    assert all(r["errors"] == {} and r["done"] == 350 for r in results), results
    records = api_log(emu)
    assert len(records) == PROCESSES * 350  # nothing retried: nothing refused
    assert emu.rate_limited_count == 0
    assert all(r["retries"] == 0 for r in results)
    assert busiest_second(records) <= RATE + BURST


async def test_with_per_process_limiters_the_workspace_answers_429(
    emu: BirdEmulator, fleet: Fleet
) -> None:
    # What the shared budget solves: each process keeps to 50/s, together 200/s.
    await fleet.start(settings_for(emu, metadata=40, media=5, limiter="local"))
    results = await fleet.finish()
    assert emu.rate_limited_count > 0
    assert any(r.rate_limited for r in api_log(emu))
    assert sum(r["retries"] for r in results) > 0


async def test_redis_stopped_mid_run_local_carries_on_raise_fails_typed(
    emu: BirdEmulator, fleet: Fleet, redis_server: RedisServer
) -> None:
    settings = settings_for(
        emu,
        metadata=80,
        media=0,
        limiter="redis",
        redis_url=redis_server.url,
        expected_processes=PROCESSES,
        probe_interval_s=0.2,
        progress_every=5,
    )
    settings[2]["on_redis_error"] = settings[3]["on_redis_error"] = "raise"
    await fleet.start(settings)
    await fleet.wait_until(lambda: fleet.total_done() >= 40, "40 items are done")
    await asyncio.to_thread(redis_server.stop)
    await fleet.wait_until(
        lambda: all(line["shared"] is False for line in fleet.latest[:2]),
        "both local processes fell back",
    )
    at_fallback = [line["done"] for line in fleet.latest[:2]]
    await fleet.wait_until(
        lambda: all(
            line["done"] >= before + 10
            for line, before in zip(fleet.latest[:2], at_fallback, strict=True)
        ),
        "the local processes made progress without Redis",
    )
    await asyncio.to_thread(redis_server.start)
    await fleet.wait_until(
        lambda: (
            any(line["shared"] is True and line["done"] > 0 for line in fleet.latest[:2])
            and all(line["shared"] is not False for line in fleet.latest[:2])
        ),
        "the local processes use Redis again",
    )
    results = await fleet.finish()
    local, raising = results[:2], results[2:]
    for result in local:
        assert result["errors"] == {}
        assert result["done"] == 80
        assert result["shared"] is True
        assert len(result["warnings"]) == 1, result["warnings"]
        assert f"{FLEET_RATE / PROCESSES:g} GET/s" in result["warnings"][0]
    for result in raising:
        assert set(result["errors"]) == {"RateLimiterUnavailableError"}, result["errors"]
        assert result["warnings"] == []


async def test_a_429_for_one_process_pauses_all_four(
    emu: BirdEmulator, fleet: Fleet, redis_server: RedisServer
) -> None:
    settings = settings_for(
        emu,
        metadata=60,
        media=0,
        disjoint=True,
        limiter="redis",
        redis_url=redis_server.url,
        progress_every=5,
    )
    owner = {rid: index for index, one in enumerate(settings) for rid in one["metadata_ids"]}
    await fleet.start(settings)
    # Every process is running (one that started early may be well ahead).
    await fleet.wait_until(
        lambda: all(line["done"] >= 5 for line in fleet.latest), "every process is running"
    )
    fault = emu.faults.status(429, retry_after=2, count=1, method="GET")
    results = await fleet.finish()
    assert all(r["errors"] == {} for r in results), results
    assert fault.triggered == 1
    records = api_log(emu)
    refused = next(r for r in records if r.status == 429)
    assert refused.received_s is not None
    t0 = refused.received_s
    after = sorted(
        (r.received_s, owner.get(r.recording_id or "", -1))
        for r in records
        if r.received_s is not None and r.received_s >= t0
    )
    # The process that got the 429 writes the pause into Redis a moment later (a
    # round trip, or longer on a busy core); requests already past their slot may
    # still arrive. Then nobody sends until the pause ends: the one long silence.
    gaps = [(b[0] - a[0], a[0] - t0) for a, b in itertools.pairwise(after)]
    silence, starts_after = max(gaps)
    assert silence >= 1.5, gaps[:20]
    assert starts_after < 1.0, (silence, starts_after)
    resumed = {who for at, who in after if at > t0 + starts_after + silence - 0.001}
    assert resumed == set(range(PROCESSES)), resumed  # all four carried on after the pause
    assert emu.rate_limited_count == 0  # the only 429 was the injected one
