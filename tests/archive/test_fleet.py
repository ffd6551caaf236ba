"""The archive on a real fleet: redis-server, two Celery prefork workers, the emulator, moto.

Everything runs on loopback, started and stopped here. The emulator serves
~2,000 recordings over 30 days from a thread of this process; the workers
reach it (and moto) over TCP.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from bird_recordings.archive import Shard, dated_prefix, plan_archive
from tests.emulator_thread import EmulatorThread, emulator_thread
from tests.services import START_TIMEOUT_S, CeleryWorkers, MotoServer, free_port, redis_server

pytestmark = pytest.mark.slow

TASK = "bird_recordings.archive_shard"
RESULT_TIMEOUT_S = 120.0


@frozen
class Fleet:
    app: Any
    running: EmulatorThread
    workers: CeleryWorkers
    moto: MotoServer
    broker: str
    budget: str


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, moto_server: MotoServer) -> Iterator[Fleet]:
    with (
        redis_server(tmp_path_factory.mktemp("redis")) as redis,
        redis_server(tmp_path_factory.mktemp("budget")) as budget,
        emulator_thread(
            recordings=2_000, seed=21, media_size_bytes=(1_000, 4_000), rate_limit=50
        ) as running,
    ):
        from tests.archive.celery_app import app

        app.conf.update(broker_url=redis.url, result_backend=redis.url)
        workers = CeleryWorkers(
            "tests.archive.celery_app",
            redis.url,
            env={
                **running.env(),
                **moto_server.env(),
                # One budget for the fleet, Bird's 50 GET/s, shared through Redis.
                "BIRD_ARCHIVE_REDIS_URL": budget.url,
                "BIRD_ARCHIVE_RATE_LIMIT": "50",
                "BIRD_ARCHIVE_PROCESSES": "2",
            },
        )
        try:
            workers.start(app.control)
            yield Fleet(app, running, workers, moto_server, redis.url, budget.url)
        finally:
            workers.stop()
            app.close()


def _plan() -> list[Shard]:
    now = datetime.now(UTC)
    return plan_archive(
        now - timedelta(days=31), now + timedelta(minutes=5), shard=timedelta(days=1)
    )


def _submit(fleet: Fleet, plan: list[Shard], target: str) -> list[dict[str, Any]]:
    from celery import group

    job = group(fleet.app.signature(TASK, args=(s.to_dict(), target)) for s in plan)
    results: list[dict[str, Any]] = job.apply_async().get(timeout=RESULT_TIMEOUT_S)
    return results


def _available(running: EmulatorThread) -> dict[str, Any]:
    return running.call(
        lambda: {rid: r for rid, r in running.emu.recordings.items() if r.status == "available"}
    )


def _storage_gets(running: EmulatorThread) -> list[str]:
    return running.call(
        lambda: [str(r.recording_id) for r in running.emu.requests if r.origin == "storage"]
    )


def _script_calls(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".")
    }


def test_every_recording_once_then_nothing_then_the_late_one(fleet: Fleet, tmp_path: Path) -> None:
    running = fleet.running
    plan = _plan()
    available = _available(running)
    assert len(available) > 1_000
    running.call(running.emu.requests.clear)

    reports = _submit(fleet, plan, str(tmp_path))

    assert sum(r["archived"] for r in reports) == len(available)  # once each, none twice
    assert not running.call(lambda: [r for r in running.emu.requests if r.status == 429])
    assert running.call(lambda: running.emu.rate_limited_count) == 0
    # The workers drew on the shared budget: its Lua script ran on the budget's Redis.
    assert _script_calls(fleet.budget) > 0
    assert sum(r["failed"] for r in reports) == 0
    gets = _storage_gets(running)
    assert sorted(gets) == sorted(available)  # one GET per recording, no retries
    tree = _tree(tmp_path)
    assert set(tree) == {f"{rid}.mp3" for rid in available} | {f"{rid}.json" for rid in available}
    for rid in available:
        body = tree[f"{rid}.mp3"]
        assert body == running.emu.media_bytes(rid)
        meta = json.loads(tree[f"{rid}.json"])
        assert meta["media"]["md5"] == hashlib.md5(body, usedforsecurity=False).hexdigest()

    running.call(running.emu.requests.clear)
    again = _submit(fleet, plan, str(tmp_path))
    assert sum(r["archived"] for r in again) == 0
    assert sum(r["skipped"] for r in again) == len(available)
    assert _storage_gets(running) == []  # the second submission downloads nothing

    past = plan[10]
    late = running.call(
        lambda: running.emu.add_recording(
            status="available", size_bytes=3_000, created_at=past.start + timedelta(minutes=7)
        )
    )
    running.wait_etags()
    (report,) = _submit(fleet, [past], str(tmp_path))
    assert report["archived"] == 1
    assert (tmp_path / f"{late.id}.mp3").read_bytes() == running.emu.media_bytes(late.id)


def _wait_for(condition: Any, what: str, timeout_s: float = START_TIMEOUT_S) -> Any:
    """Poll an external server (moto, a status object) until ``condition()`` is truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # nothing to wait on: the state lives in another process
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_shard_is_redelivered_and_leaves_no_debris(fleet: Fleet) -> None:
    running = fleet.running
    s3: Any = fleet.moto.client()
    bucket = f"fleet-{free_port()}"
    s3.create_bucket(Bucket=bucket)
    shard = _plan()[5]
    big = running.call(
        lambda: running.emu.add_recording(
            status="available",
            size_bytes=20 * 1024 * 1024 + 321,
            created_at=shard.start + timedelta(hours=2),
        )
    )
    running.wait_etags()
    # The first transfer of the big one is slow, so the kill lands mid-upload.
    running.call(
        lambda: running.emu.faults.throttle(
            2 * 1024 * 1024, after_bytes=9 * 1024 * 1024, recording_id=big.id, count=1
        )
    )
    result = fleet.app.signature(TASK, args=(shard.to_dict(), f"s3://{bucket}/calls")).apply_async()

    _wait_for(lambda: s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "a multipart upload")
    status_key = f"calls/.archive-status/{shard.id}.json"
    status = json.loads(s3.get_object(Bucket=bucket, Key=status_key)["Body"].read())
    assert status["state"] == "running"
    pid = int(status["worker"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)

    report = result.get(timeout=RESULT_TIMEOUT_S)

    assert report["failed"] == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    inside = {
        rid: rec for rid, rec in _available(running).items() if shard.contains(rec.created_at)
    }
    keys = {
        e["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="calls/")
        for e in page.get("Contents", [])
        if not e["Key"].startswith("calls/.archive-status/")
    }
    expected = set()
    for rid, rec in inside.items():
        base = f"calls/{dated_prefix(rec)}/{rid}"
        expected |= {f"{base}.mp3", f"{base}.json"}
    assert keys == expected  # no partial, stray or duplicate objects
    for rid, rec in inside.items():
        body = s3.get_object(Bucket=bucket, Key=f"calls/{dated_prefix(rec)}/{rid}.mp3")["Body"]
        assert body.read() == running.emu.media_bytes(rid)
    final = json.loads(s3.get_object(Bucket=bucket, Key=status_key)["Body"].read())
    assert final["state"] == "done"
    assert final["worker"] != status["worker"]


def test_archive_run_without_a_broker_gives_the_same_sink_as_the_fleet(
    fleet: Fleet, tmp_path: Path
) -> None:
    import subprocess
    import sys

    running = fleet.running
    plan = _plan()
    by_fleet, by_run = tmp_path / "fleet", tmp_path / "run"
    _submit(fleet, plan, str(by_fleet))
    since, until = plan[0].start.isoformat(), plan[-1].end.isoformat()
    env = {**os.environ, **running.env(), "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [
            sys.executable, "-m", "bird_recordings", "archive", "run", "--quiet",
            "--since", since, "--until", until, "--shard", "1d", "--to", str(by_run),
        ],
        env=env,
        capture_output=True,
        timeout=RESULT_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _tree(by_run) == _tree(by_fleet)
    assert len(_tree(by_run)) == 2 * len(_available(running))


def test_a_sink_that_refuses_for_good_fails_the_task_without_retries(fleet: Fleet) -> None:
    shard = _plan()[3]
    result = fleet.app.signature(
        TASK, args=(shard.to_dict(), f"s3://no-such-bucket-{free_port()}/x")
    ).apply_async()
    result.get(timeout=RESULT_TIMEOUT_S, propagate=False)
    assert result.state == "FAILURE"
    assert type(result.result).__name__ == "SinkError"
    assert "NoSuchBucket" in str(result.result)


def test_archive_submit_enqueues_the_plan_and_status_follows_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    import subprocess
    import sys

    running = fleet.running
    plan = _plan()[:8]
    env = {**os.environ, **running.env(), "PYTHONPATH": str(Path(__file__).parents[2])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bird_recordings", "archive", *args],
            env=env, capture_output=True, text=True, timeout=RESULT_TIMEOUT_S, check=False,
        )  # fmt: skip

    window = ("--since", plan[0].start.isoformat(), "--until", plan[-1].end.isoformat())
    submitted = cli("submit", *window, "--shard", "1d", "--to", str(tmp_path),
                    "--broker", fleet.broker, "--json")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert [line["shard"] for line in map(json.loads, submitted.stdout.splitlines())] == [
        s.id for s in plan
    ]

    def finished() -> dict[str, Any] | None:
        status = cli("status", "--to", str(tmp_path), "--json")
        counts: dict[str, Any] = json.loads(status.stdout)
        return counts if counts["done"] == len(plan) else None

    counts = _wait_for(finished, "the submitted shards", RESULT_TIMEOUT_S)
    inside = [
        r for r in _available(running).values() if any(s.contains(r.created_at) for s in plan)
    ]
    assert counts["queued"] == counts["running"] == counts["failed"] == 0
    assert counts["archived"] == len(inside)
    assert len(_tree(tmp_path)) == 2 * len(inside)
