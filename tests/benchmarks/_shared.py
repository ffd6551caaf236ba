"""The shared rate budget: a fleet of processes on one workspace, and the cost of a Redis slot.

Both scenarios need a ``redis-server`` (started here on a free loopback port,
nothing persisted) and run the emulator in the driver's own process, whose
request log (arrival times on one clock) is the measure:

- ``fleet``: four worker processes (``tests/integrations/fleet_worker.py``)
  fetch metadata and media of one workspace whose emulator enforces Bird's
  50 GET/s. Side ``redis`` shares one ``RedisRateLimiter``; side ``local``
  gives each process its own in-process limiter at 50/s, as before.
- ``slot-cost``: sequential ``get_recording`` calls, and bare ``acquire`` calls,
  through a ``LocalRateLimiter`` and through a ``RedisRateLimiter`` whose rate
  never makes anyone wait: what a slot adds to each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

from ._measure import median, percentile

if TYPE_CHECKING:
    from ._driver import Context, Scenario

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_RATE = 50.0
PROCESSES = 4


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port; yields its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder:
        proc = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.02)  # polling a port that is not listening yet
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def busiest_second(times: list[float]) -> int:
    """The most arrivals within any one-second window."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def _fleet_run(side: str, redis_url: str, sc: Scenario) -> dict[str, Any]:
    async with BirdEmulator(
        recordings=sc.seeded, seed=14, media_size_bytes=16_384, rate_limit=WORKSPACE_RATE
    ) as emu:
        await emu.wait_etags()
        ids = sorted(emu.recordings)[: sc.count]
        available = sorted(r for r, rec in emu.recordings.items() if rec.is_available)
        settings = {
            "base_url": emu.base_url,
            "access_key": emu.access_key,
            "workspace_id": emu.workspace_id,
            "metadata_ids": ids,
            "media_ids": available[: sc.count // 6],
            "limiter": side,
            "redis_url": redis_url,
            "concurrency": sc.concurrency,
            "progress_every": 10**9,
        }
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integrations.fleet_worker",
                json.dumps(settings),
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(PROCESSES)
        ]
        outputs = await asyncio.gather(*(p.communicate() for p in procs))
        wall = time.perf_counter() - started
        results = [json.loads(out.splitlines()[-1])["result"] for out, _ in outputs]
        api = [r for r in emu.requests if r.origin == "api" and r.received_s is not None]
        served = [r.received_s for r in api if r.status != 429 and r.received_s is not None]
        span = max(served) - min(served)
        return {
            "wall_s": wall,
            "requests": len(served),
            "rate": len(served) / span,
            "rate_limited": emu.rate_limited_count,
            "busiest_second": busiest_second(served),
            "retries": sum(r["retries"] for r in results),
            "errors": sum(sum(r["errors"].values()) for r in results),
            "bad_files": 0,
        }


async def _latencies(redis_url: str, sc: Scenario, side: str) -> dict[str, Any]:
    from bird_recordings.redis import RedisRateLimiter

    limiter: Any
    if side == "redis":
        # A rate nobody reaches: every acquire is one round trip, never a wait.
        limiter = RedisRateLimiter(url=redis_url, get_rate=1e9, burst=1000)
    else:
        limiter = br.LocalRateLimiter(get_rate=1e9, burst=1000)
    async with BirdEmulator(recordings=50, seed=3, warm_etags=False) as emu:
        ids = sorted(emu.recordings)
        async with br.RecordingsClient(
            emu.access_key, emu.workspace_id, base_url=emu.base_url, rate_limiter=limiter
        ) as client:
            for rid in ids:  # warm-up: connections, rendered JSON, the script cache
                await client.get_recording(rid)
            request_us: list[float] = []
            started = time.perf_counter()
            for index in range(sc.count):
                t0 = time.perf_counter()
                await client.get_recording(ids[index % len(ids)])
                request_us.append((time.perf_counter() - t0) * 1e6)
            wall = time.perf_counter() - started
        acquire_us: list[float] = []
        for _ in range(sc.count):
            t0 = time.perf_counter()
            await limiter.acquire(emu.workspace_id, "get")
            acquire_us.append((time.perf_counter() - t0) * 1e6)
    if side == "redis":
        await limiter.aclose()
    return {
        "wall_s": wall,
        "requests": sc.count,
        "rate": sc.count / wall,
        "request_us": request_us,
        "acquire_us": acquire_us,
        "errors": 0,
        "bad_files": 0,
    }


def run_shared_scenario(ctx: Context, sc: Scenario, pairs: int) -> dict[str, Any]:
    """Run ``fleet`` or ``slot-cost``; return a report the driver's table prints."""
    sides = ("redis", "local")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with redis_server() as url:
        for index in range(pairs):
            for side in sides if index % 2 == 0 else tuple(reversed(sides)):
                if sc.kind == "fleet":
                    result = asyncio.run(_fleet_run(side, url, sc))
                else:
                    result = asyncio.run(_latencies(url, sc, side))
                runs[side].append(result)
                if ctx.verbose:
                    print(f"  {sc.name:9} {side:9} {result['rate']:.1f} req/s", file=sys.stderr)
    report_sides: dict[str, Any] = {}
    for side, results in runs.items():
        summary: dict[str, Any] = {
            "runs": len(results),
            "rate": median([r["rate"] for r in results]),
            "wall_s": median([r["wall_s"] for r in results]),
            "errors": sum(r["errors"] for r in results),
            "bad_files": 0,
        }
        if sc.kind == "fleet":
            summary["rate_limited"] = sum(r["rate_limited"] for r in results)
            summary["retries"] = sum(r["retries"] for r in results)
            summary["busiest_second"] = max(r["busiest_second"] for r in results)
            summary["note"] = (
                f"{summary['rate_limited']} x 429, {summary['retries']} retries, "
                f"busiest 1 s: {summary['busiest_second']} requests"
            )
        else:
            request_us = [v for r in results for v in r["request_us"]]
            acquire_us = [v for r in results for v in r["acquire_us"]]
            for name, values in (("request", request_us), ("acquire", acquire_us)):
                summary[f"{name}_p50_us"] = percentile(values, 50)
                summary[f"{name}_p99_us"] = percentile(values, 99)
            summary["note"] = (
                f"request p50 {summary['request_p50_us']:.0f} p99 {summary['request_p99_us']:.0f}"
                f" us; acquire p50 {summary['acquire_p50_us']:.1f}"
                f" p99 {summary['acquire_p99_us']:.1f} us"
            )
        report_sides[side] = summary
    targets: list[dict[str, Any]] = []

    def check(name: str, value: float, limit: float, ok: bool) -> None:
        targets.append({"target": name, "value": value, "limit": limit, "met": ok})

    shared = report_sides["redis"]
    if sc.kind == "fleet":
        floor = 0.95 * WORKSPACE_RATE
        check(
            f"fleet: shared rate >= {floor:g} req/s", shared["rate"], floor, shared["rate"] >= floor
        )
        check("fleet: no 429 with the shared budget", shared["rate_limited"], 0,
              shared["rate_limited"] == 0)  # fmt: skip
    else:
        # Paired: each Redis run against the local run next to it (the machine's
        # noise moves both), median [min-max] over the pairs.
        for what in ("request", "acquire"):
            for q in (50, 99):
                added = [
                    percentile(a[f"{what}_us"], q) - percentile(b[f"{what}_us"], q)
                    for a, b in zip(runs["redis"], runs["local"], strict=True)
                ]
                shared[f"added_{what}_p{q}_us"] = median(added)
                shared[f"added_{what}_p{q}_us_range"] = [min(added), max(added)]
        shared["note"] += (
            f"; added per request p50 {shared['added_request_p50_us']:.0f}"
            f" p99 {shared['added_request_p99_us']:.0f} us (paired medians)"
        )
    return {
        "scenario": sc.name,
        "what": sc.what,
        "unit": "req/s",
        "sides": report_sides,
        "ratio": {},
        "ratio_same_work": {},
        "runs": {
            side: [{k: v for k, v in r.items() if not k.endswith("_us")} for r in results]
            for side, results in runs.items()
        },
        "targets": targets,
    }
