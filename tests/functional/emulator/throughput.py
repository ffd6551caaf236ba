"""Measure the emulator's throughput on loopback (not a test; run it by hand).

    python tests/functional/emulator/throughput.py [--seconds 5]

The emulator runs as a separate process pinned to CPU 0 and this aiohttp client
to CPU 1, as in ``shared/benchmarking.md``. Figures are the CPU-side ceiling:
loopback has no TLS and no latency. The numbers in ``docs/emulator.md`` come
from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

MiB = 1024 * 1024


def cpu_seconds(pid: str) -> float:
    """User + system CPU time of a process (Linux ``/proc``), 0.0 elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def emulator_process(*args: str) -> AsyncIterator[dict[str, str]]:
    """Start ``python -m bird_recordings.emulator`` on CPU 0; yield its settings."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bird_recordings.emulator",
        "--no-request-log",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(proc.pid, {0})
    env: dict[str, str] = {}
    while len(env) < 3:
        line = (await proc.stdout.readline()).decode()
        if line.startswith("export "):
            name, _, value = line[7:].strip().partition("=")
            env[name] = value
    env["PID"] = str(proc.pid)
    try:
        yield env
    finally:
        proc.terminate()
        await proc.wait()


async def run_for(
    seconds: float, concurrency: int, job: Callable[[int], Awaitable[int]]
) -> tuple[int, int, float]:
    """Run ``job`` from ``concurrency`` workers for ``seconds``; (calls, bytes, elapsed)."""
    calls = 0
    total = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal calls, total
        while time.perf_counter() < deadline:
            n = await job(next(counter))  # not `total += await …`: that loses updates
            total += n
            calls += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls, total, time.perf_counter() - started


async def available_ids(session: aiohttp.ClientSession, env: dict[str, str]) -> list[str]:
    url = f"{env['BIRD_API_URL']}/workspaces/{env['BIRD_WORKSPACE_ID']}/recordings"
    headers = {"Authorization": f"AccessKey {env['BIRD_ACCESS_KEY']}"}
    params = {"limit": "99", "status": "available"}
    ids: list[str] = []
    while True:
        async with session.get(url, headers=headers, params=params) as resp:
            page: dict[str, Any] = await resp.json()
        ids += [item["id"] for item in page["results"]]
        if "nextPageToken" not in page:
            return ids
        params["pageToken"] = page["nextPageToken"]


async def metadata(seconds: float) -> None:
    async with emulator_process("--recordings", "500", "--seed", "1") as env:
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            ids = await available_ids(session, env)
            base = f"{env['BIRD_API_URL']}/workspaces/{env['BIRD_WORKSPACE_ID']}/recordings"
            headers = {"Authorization": f"AccessKey {env['BIRD_ACCESS_KEY']}"}

            async def get_one(i: int) -> int:
                async with session.get(f"{base}/{ids[i % len(ids)]}", headers=headers) as r:
                    return len(await r.read())

            async def list_page(i: int) -> int:
                async with session.get(base, headers=headers, params={"limit": "99"}) as r:
                    return len(await r.read())

            for name, job, conc in (("get", get_one, 32), ("list limit=99", list_page, 8)):
                await run_for(0.5, conc, job)  # warm up
                cpu = cpu_seconds(env["PID"])
                calls, _, elapsed = await run_for(seconds, conc, job)
                cpu = cpu_seconds(env["PID"]) - cpu
                print(
                    f"metadata {name:14s} c={conc:<3d} {calls / elapsed:8.0f} req/s; server CPU "
                    f"{cpu / calls * 1e6:6.0f} us/req (capacity {calls / cpu:6.0f} req/s)"
                )


async def media(seconds: float) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def fetch(url: str) -> int:
            n = 0
            async with session.get(url) as resp:
                assert resp.status == 200, resp.status
                async for chunk in resp.content.iter_chunked(256 * 1024):
                    n += len(chunk)
            return n

        async def presigned(env: dict[str, str], rid: str) -> str:
            url = f"{env['BIRD_API_URL']}/workspaces/{env['BIRD_WORKSPACE_ID']}/recordings/{rid}"
            headers = {"Authorization": f"AccessKey {env['BIRD_ACCESS_KEY']}"}
            async with session.get(url, headers=headers) as resp:
                return str((await resp.json())["url"])

        size = 512 * MiB
        async with emulator_process(
            "--recordings", "3", "--seed", "2", "--media-size", str(size), "--url-expires-s", "3600"
        ) as env:
            rid = (await available_ids(session, env))[0]
            url = await presigned(env, rid)
            for label in ("first GET", "second GET"):
                cpu = cpu_seconds(env["PID"])
                started = time.perf_counter()
                n = await fetch(url)
                elapsed = time.perf_counter() - started
                cpu = cpu_seconds(env["PID"]) - cpu
                rate = n / MiB / elapsed
                print(
                    f"media one {size // MiB} MiB object, {label:10s} {rate:7.0f} MiB/s; "
                    f"server CPU capacity {n / MiB / cpu:6.0f} MiB/s"
                )

        async with emulator_process(
            "--recordings",
            "300",
            "--seed",
            "3",
            "--media-size",
            str(MiB),
            "--url-expires-s",
            "3600",
        ) as env:
            ids = await available_ids(session, env)
            urls = [await presigned(env, rid) for rid in ids]

            async def one(i: int) -> int:
                return await fetch(urls[i % len(urls)])

            cpu = cpu_seconds(env["PID"])
            calls, total, elapsed = await run_for(seconds, 16, one)
            cpu = cpu_seconds(env["PID"]) - cpu
            print(
                f"media 1 MiB objects c=16 {calls / elapsed:6.0f} files/s "
                f"{total / MiB / elapsed:6.0f} MiB/s; server CPU {cpu / calls * 1e3:5.2f} ms/file "
                f"(capacity {total / MiB / cpu:5.0f} MiB/s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    asyncio.run(metadata(args.seconds))
    asyncio.run(media(args.seconds))


if __name__ == "__main__":
    main()
