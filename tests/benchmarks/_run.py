"""One measured side of one scenario, in a fresh process: ``python -m tests.benchmarks._run JOB``.

``JOB`` is a JSON file written by the driver. The process pins itself to the
client core, sets up outside the measured block (imports, ids, web app), runs
the workload inside :class:`~._measure.Measurement` and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

import bird_recordings as br

from ._measure import Measurement, percentile, pin
from ._raw import RawClient, worker_pool

Workload = Callable[[], Awaitable[dict[str, Any]]]


def library_workload(job: dict[str, Any]) -> tuple[Workload, Callable[[], Awaitable[None]]]:
    client = br.RecordingsClient(
        job["access_key"],
        job["workspace_id"],
        base_url=job["base_url"],
        rate_limit=None,
        # The --diagnose sides: file writes, MD5 and renames on the loop.
        io_threads=0 if job["side"].endswith("-inline") else 2,
    )
    kind = job["kind"]
    ids: list[str] = job.get("ids", [])
    directory = Path(job.get("directory", "."))
    verify_md5 = bool(job.get("verify_md5", True))

    async def download() -> dict[str, Any]:
        if len(ids) == 1:
            result = await client.download_recording(
                ids[0], directory / f"{ids[0]}.mp3", overwrite=True, verify_md5=verify_md5
            )
            return {"bytes": result.size_bytes, "files": 1, "errors": 0}
        total = files = errors = 0
        async for outcome in client.download_recordings(
            ids,
            directory,
            concurrency=job["concurrency"],
            overwrite=True,
            verify_md5=verify_md5,
        ):
            if outcome.error is not None:
                errors += 1
                print(f"error: {outcome.error}", file=sys.stderr)
            else:
                files += 1
                total += outcome.size_bytes or 0
        return {"bytes": total, "files": files, "errors": errors}

    async def get() -> dict[str, Any]:
        # The batch API users call for many ids (its own bounded worker pool).
        requests = errors = 0
        async for outcome in client.get_recordings(ids, concurrency=job["concurrency"]):
            requests += 1
            if outcome.error is not None:
                errors += 1
                print(f"error: {outcome.error}", file=sys.stderr)
        return {"requests": requests - errors, "errors": errors}

    async def list_all() -> dict[str, Any]:
        count = 0
        pages = 0
        async for page in client.list_recordings(limit=job["limit"]).pages():
            count += len(page.results)
            pages += 1
        return {"items": count, "requests": pages, "errors": 0}

    workloads: dict[str, Workload] = {"download": download, "get": get, "list": list_all}
    return workloads[kind], client.aclose


def raw_workload(job: dict[str, Any]) -> tuple[Workload, Callable[[], Awaitable[None]]]:
    raw = RawClient(job["base_url"], job["access_key"], job["workspace_id"])
    kind = job["kind"]
    ids: list[str] = job.get("ids", [])
    directory = Path(job.get("directory", "."))

    async def download() -> dict[str, Any]:
        md5 = bool(job.get("verify_md5", False))

        async def one(rid: str) -> int:
            return await raw.download(rid, directory, md5=md5)

        sizes = await worker_pool(ids, one, job.get("concurrency", 1))
        return {"bytes": sum(int(s) for s in sizes), "files": len(sizes), "errors": 0}  # type: ignore[call-overload]

    async def get() -> dict[str, Any]:
        results = await worker_pool(ids, raw.get_recording, job["concurrency"])
        return {"requests": len(results), "errors": len(ids) - len(results)}

    async def list_all() -> dict[str, Any]:
        count = await raw.list_all(job["limit"])
        return {"items": count, "requests": -(-count // job["limit"]), "errors": 0}

    workloads: dict[str, Workload] = {"download": download, "get": get, "list": list_all}
    return workloads[kind], raw.close


async def _embedded(job: dict[str, Any], workload: Workload | None) -> dict[str, Any]:
    """Serve a small web app in this loop, load it from another process, run ``workload``."""
    hits = 0

    async def ping(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({"ok": True, "hits": hits})

    app = web.Application()
    app.router.add_get("/ping", ping)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    embedded = job["embedded"]
    load = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.benchmarks._loadgen",
        f"http://127.0.0.1:{port}/ping",
        str(embedded["rate_hz"]),
        str(embedded.get("load_cpu", "")),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert load.stdin is not None
    assert load.stdout is not None
    try:
        ready = await load.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"load generator failed to start: {ready!r}")
        measurement = Measurement()
        load.stdin.write(b"start\n")
        await load.stdin.drain()
        async with measurement.measure():
            if workload is None:
                await asyncio.sleep(embedded["idle_s"])
                out: dict[str, Any] = {"errors": 0}
            else:
                out = await workload()
        load.stdin.write(b"stop\n")
        await load.stdin.drain()
        samples: list[float] = json.loads(await load.stdout.readline())
    finally:
        if load.returncode is None:
            load.stdin.close()
            await load.wait()
        await runner.cleanup()
    out.update(measurement.result)
    out.update(
        web_requests=len(samples),
        web_p50_ms=percentile(samples, 50),
        web_p99_ms=percentile(samples, 99),
        web_max_ms=max(samples, default=0.0),
    )
    return out


async def run(job: dict[str, Any]) -> dict[str, Any]:
    side = job["side"]
    if side == "idle":
        return await _embedded(job, None)
    factory = library_workload if side.startswith("lib") else raw_workload
    workload, close = factory(job)
    if job.get("embedded"):
        try:
            return await _embedded(job, workload)
        finally:
            await close()
    measurement = Measurement()
    try:
        async with measurement.measure():
            out = await workload()
            await close()  # part of the work: the library joins its writer threads here
    except BaseException:
        await close()
        raise
    out.update(measurement.result)
    return out


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    pin(job.get("cpu"))
    result = asyncio.run(run(job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
