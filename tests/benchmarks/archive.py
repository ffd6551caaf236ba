"""Archive benchmarks: ``python -m tests.benchmarks.archive [--size-mib N] [--pairs N]``.

``--fleet N``: two Celery prefork workers (redis-server broker) archive a
30-day plan of N recordings from the emulator, which enforces ``--rate-limit``
GET/s, into a folder; the workers share that budget through Redis. Reports
archived files/s, API GETs/s and the 429s the emulator answered.

``sinks``: one large recording (1 GiB by default) archived by ``DirectorySink``
and by ``S3Sink`` (into a moto server), interleaved A B A B. Each run is a
fresh client process, so its peak RSS (``VmHWM``) is its own: the figure that
must stay flat is the peak minus the RSS before the transfer.

The emulator and moto run in their own processes on loopback (no TLS, no
latency: a CPU-side ceiling). Results go to stdout as JSON lines, then a
summary; paste them into docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._measure import MIB, rss_mib

_ROOT = Path(__file__).resolve().parents[2]


def _hwm_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the server process: one large recording -------------------------------------------


async def _serve(size: int) -> None:
    from bird_recordings.emulator import BirdEmulator

    async with BirdEmulator(recordings=0, seed=3, log_requests=False) as emu:
        rec = emu.add_recording(status="available", size_bytes=size)
        await emu.wait_etags()
        print(
            json.dumps(
                {
                    "BIRD_API_URL": emu.base_url,
                    "BIRD_ACCESS_KEY": emu.access_key,
                    "BIRD_WORKSPACE_ID": emu.workspace_id,
                    "recording": rec.id,
                }
            ),
            flush=True,
        )
        await asyncio.to_thread(sys.stdin.read)  # until the driver closes our stdin


# -- one measured client run ----------------------------------------------------------------


async def _client(kind: str, recording_id: str, target: str, endpoint: str) -> None:
    import bird_recordings as br
    from bird_recordings.archive import DirectorySink
    from bird_recordings.archive._s3 import S3Sink

    sink: Any
    if kind == "s3":
        sink = S3Sink(
            target,
            "bench",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
        )
    else:
        sink = DirectorySink(target)
    async with br.RecordingsClient(rate_limit=None) as client:
        rec = await client.get_recording(recording_id)
        await sink.check()
        before = rss_mib()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        stored = await sink.store(client, rec)
        elapsed = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    await sink.aclose()
    print(
        json.dumps(
            {
                "kind": kind,
                "seconds": elapsed,
                "bytes": stored.size_bytes,
                "mib_per_s": stored.size_bytes / MIB / elapsed,
                # CPU of this client: low against a long wall time means the server is the limit.
                "client_cpu_s": round(
                    cpu_after.ru_utime
                    - cpu_before.ru_utime
                    + cpu_after.ru_stime
                    - cpu_before.ru_stime,
                    2,
                ),
                "rss_before_mib": round(before, 1),
                "peak_rss_mib": round(_hwm_mib(), 1),
                "growth_mib": round(_hwm_mib() - before, 1),
            }
        ),
        flush=True,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sinks(size_mib: int, pairs: int) -> dict[str, Any]:
    import boto3

    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.archive", "--serve", str(size_mib * MIB)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    port = _free_port()
    moto = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    runs: list[dict[str, Any]] = []
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        client_env = {**env, **{k: v for k, v in info.items() if k.startswith("BIRD_")}}
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="bench", aws_secret_access_key="bench-secret",
        )  # fmt: skip
        for attempt in range(100):
            try:
                s3.list_buckets()
                break
            except Exception:  # noqa: BLE001 - moto is still starting
                time.sleep(0.1 * (attempt < 99))
        with tempfile.TemporaryDirectory(prefix="bird-archive-bench-") as work:
            for pair in range(pairs):
                for kind in ("directory", "s3"):
                    if kind == "s3":
                        target = f"bench-{pair}"
                        s3.create_bucket(Bucket=target)
                    else:
                        target = str(Path(work) / f"run-{pair}")
                    done = subprocess.run(
                        [sys.executable, "-m", "tests.benchmarks.archive", "--client", kind,
                         info["recording"], target, endpoint],
                        env=client_env, capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    run = json.loads(done.stdout.strip().splitlines()[-1])
                    print(json.dumps(run), flush=True)
                    runs.append(run)
                    if kind == "s3":
                        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target):
                            for entry in page.get("Contents", []):
                                s3.delete_object(Bucket=target, Key=entry["Key"])
                    else:
                        for path in Path(target).rglob("*"):
                            if path.is_file():
                                path.unlink()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(30)
        moto.terminate()
        moto.wait(30)

    def pick(kind: str, key: str) -> list[float]:
        return [r[key] for r in runs if r["kind"] == kind]

    ratios = [
        s3["mib_per_s"] / d["mib_per_s"]
        for d, s3 in zip(
            [r for r in runs if r["kind"] == "directory"],
            [r for r in runs if r["kind"] == "s3"],
            strict=True,
        )
    ]
    return {
        "size_mib": size_mib,
        "pairs": pairs,
        "directory_mib_per_s": statistics.median(pick("directory", "mib_per_s")),
        "s3_mib_per_s": statistics.median(pick("s3", "mib_per_s")),
        "s3_over_directory": {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        },
        "directory_growth_mib_max": max(pick("directory", "growth_mib")),
        "s3_growth_mib_max": max(pick("s3", "growth_mib")),
        "s3_peak_rss_mib_max": max(pick("s3", "peak_rss_mib")),
        "directory_peak_rss_mib_max": max(pick("directory", "peak_rss_mib")),
    }


def _fleet(recordings: int, rate_limit: float, url_expires_s: int = 600) -> dict[str, Any]:
    """Two prefork workers archive a 30-day plan into a folder; files/s against the GET limit."""
    from datetime import UTC, datetime, timedelta

    from celery import group

    from bird_recordings.archive import plan_archive
    from tests.archive.celery_app import app
    from tests.emulator_thread import emulator_thread
    from tests.services import CeleryWorkers, RedisServer

    with tempfile.TemporaryDirectory(prefix="bird-fleet-bench-") as work:
        redis = RedisServer(Path(work) / "redis")
        redis.start()
        try:
            with emulator_thread(
                recordings=recordings,
                seed=8,
                media_size_bytes=(8_000, 32_000),
                rate_limit=rate_limit,
                url_expires_s=url_expires_s,
                log_requests=True,
            ) as running:
                app.conf.update(broker_url=redis.url, result_backend=redis.url)
                workers = CeleryWorkers(
                    "tests.archive.celery_app",
                    redis.url,
                    env={
                        **running.env(),
                        # One budget for the fleet, shared through Redis (a separate db).
                        "BIRD_ARCHIVE_REDIS_URL": redis.url.rsplit("/", 1)[0] + "/1",
                        "BIRD_ARCHIVE_RATE_LIMIT": str(rate_limit),
                        "BIRD_ARCHIVE_PROCESSES": "2",
                    },
                )
                try:
                    workers.start(app.control)
                    now = datetime.now(UTC)
                    plan = plan_archive(now - timedelta(days=31), now + timedelta(minutes=5))
                    running.call(running.emu.requests.clear)
                    started = time.perf_counter()
                    job = group(
                        app.signature(
                            "bird_recordings.archive_shard",
                            args=(s.to_dict(), str(Path(work) / "archive")),
                        )
                        for s in plan
                    )
                    reports = job.apply_async().get(timeout=3600)
                    elapsed = time.perf_counter() - started
                    requests = running.call(lambda: list(running.emu.requests))
                finally:
                    workers.stop()
                    app.close()
        finally:
            redis.stop()
    archived = sum(r["archived"] for r in reports)
    api = [r for r in requests if r.origin == "api"]
    return {
        "recordings_archived": archived,
        "shards": len(plan),
        "seconds": round(elapsed, 2),
        "files_per_s": round(archived / elapsed, 1),
        "rate_limit_get_per_s": rate_limit,
        "api_requests": len(api),
        "api_get_per_s": round(len(api) / elapsed, 1),
        "storage_gets": sum(1 for r in requests if r.origin == "storage"),
        "responses_429": sum(1 for r in requests if r.status == 429),
        "emulator_rate_limit_get_per_s": rate_limit,
        "url_expires_s": url_expires_s,
        "files_per_s_over_limit": round(archived / elapsed / rate_limit, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.archive")
    parser.add_argument("--size-mib", type=int, default=1024, help="recording size (1024)")
    parser.add_argument("--pairs", type=int, default=3, help="A/B pairs (3)")
    parser.add_argument(
        "--fleet", type=int, metavar="RECORDINGS", help="run the fleet benchmark instead"
    )
    parser.add_argument("--rate-limit", type=float, default=50.0, help="GET/s of the fleet (50)")
    parser.add_argument(
        "--url-expires-s",
        type=int,
        default=600,
        help="lifetime of presigned URLs; 1 makes every file cost an API GET (600)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    if args.client:
        asyncio.run(_client(*args.client))
        return 0
    if args.fleet:
        print(
            json.dumps({"fleet": _fleet(args.fleet, args.rate_limit, args.url_expires_s)}, indent=2)
        )
        return 0
    summary = _sinks(args.size_mib, args.pairs)
    print(json.dumps({"summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
