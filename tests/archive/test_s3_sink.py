"""S3Sink against a real moto server and the emulator: streaming, multipart, verification."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiobotocore.config import AioConfig

import bird_recordings as br
from bird_recordings.archive import Shard, SinkError, archive_shard, dated_prefix, plan_archive
from bird_recordings.archive._s3 import MIN_PART_SIZE, S3Sink
from bird_recordings.emulator import BirdEmulator
from tests.services import MotoServer, free_port

_names = itertools.count()


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    """Fewer recordings than the folder tests: every S3 call goes to moto."""
    async with BirdEmulator(recordings=50, seed=16, media_size_bytes=(2_000, 12_000)) as emulator:
        await emulator.wait_etags()
        yield emulator


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    name = f"archive-{next(_names)}-{free_port()}"
    moto_server.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture
async def sink(moto_server: MotoServer, bucket: str) -> AsyncIterator[S3Sink]:
    async with S3Sink(
        bucket, "calls", part_size_bytes=MIN_PART_SIZE, **moto_server.client_kwargs()
    ) as s3sink:
        yield s3sink


def _plan() -> list[Shard]:
    now = datetime.now(UTC)
    return plan_archive(
        now - timedelta(days=31), now + timedelta(minutes=1), shard=timedelta(days=4)
    )


def _objects(s3: Any, bucket: str) -> dict[str, bytes]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return found


def _uploads(s3: Any, bucket: str) -> list[Any]:
    return list(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


async def test_every_recording_lands_in_its_dated_key_byte_exact(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    sink: S3Sink,
    moto_server: MotoServer,
    bucket: str,
) -> None:
    reports = [await archive_shard(emu_client, shard, sink) for shard in _plan()]
    assert all(r.ok for r in reports)
    s3 = moto_server.client()
    objects = _objects(s3, bucket)
    available = {rid: r for rid, r in emu.recordings.items() if r.status == "available"}
    for rid, rec in available.items():
        base = f"calls/{dated_prefix(rec)}/{rid}"
        assert objects.pop(f"{base}.mp3") == emu.media_bytes(rid)
        meta = json.loads(objects.pop(f"{base}.json"))
        assert (
            meta["media"]["md5"]
            == hashlib.md5(emu.media_bytes(rid), usedforsecurity=False).hexdigest()
        )
        assert "url" not in meta["recording"]
    assert all(key.startswith("calls/.archive-status/") for key in objects)
    assert len(objects) == len(_plan())
    emu.requests.clear()
    again = [await archive_shard(emu_client, shard, sink) for shard in _plan()]
    assert sum(r.skipped for r in again) == len(available)
    assert not [r for r in emu.requests if r.origin == "storage"]


async def test_a_large_recording_is_a_multipart_upload_with_bounded_parts(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    sink: S3Sink,
    moto_server: MotoServer,
    bucket: str,
) -> None:
    big = emu.add_recording(status="available", size_bytes=2 * MIN_PART_SIZE + 12_345)
    await emu.wait_etags()
    stored = await sink.store(emu_client, big)
    s3: Any = moto_server.client()
    key = f"calls/{dated_prefix(big)}/{big.id}.mp3"
    head = s3.head_object(Bucket=bucket, Key=key, PartNumber=1)
    assert head["PartsCount"] == 3
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == emu.media_bytes(big.id)
    assert stored.size_bytes == emu.media_size(big.id)
    assert _uploads(s3, bucket) == []
    assert await sink.holds(big) == stored


async def test_a_failure_mid_upload_aborts_it_and_leaves_nothing(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    sink: S3Sink,
    moto_server: MotoServer,
    bucket: str,
) -> None:
    big = emu.add_recording(status="available", size_bytes=2 * MIN_PART_SIZE + 1)
    await emu.wait_etags()
    # The object is replaced after more than one part was uploaded.
    emu.faults.replace_media(big.id, after_bytes=MIN_PART_SIZE + 100_000)
    with pytest.raises(br.MediaChangedError):
        await sink.store(emu_client, big)
    s3 = moto_server.client()
    assert _uploads(s3, bucket) == []
    assert _objects(s3, bucket) == {}
    assert await sink.holds(big) is None


async def test_an_upload_a_dead_process_left_is_aborted_before_the_next(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    sink: S3Sink,
    moto_server: MotoServer,
    bucket: str,
) -> None:
    big = emu.add_recording(status="available", size_bytes=MIN_PART_SIZE + 1)
    await emu.wait_etags()
    s3: Any = moto_server.client()
    key = f"calls/{dated_prefix(big)}/{big.id}.mp3"
    s3.create_multipart_upload(Bucket=bucket, Key=key)
    await sink.store(emu_client, big)
    assert _uploads(s3, bucket) == []
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == emu.media_bytes(big.id)


async def test_a_tampered_object_is_not_held(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    sink: S3Sink,
    moto_server: MotoServer,
    bucket: str,
) -> None:
    rec = next(r for r in emu.recordings.values() if r.status == "available")
    await sink.store(emu_client, rec)
    assert await sink.holds(rec) is not None
    s3: Any = moto_server.client()
    s3.put_object(Bucket=bucket, Key=f"calls/{dated_prefix(rec)}/{rec.id}.mp3", Body=b"short")
    assert await sink.holds(rec) is None


async def test_a_missing_or_unreachable_bucket_is_one_clear_error(
    moto_server: MotoServer,
) -> None:
    async with S3Sink("no-such-bucket-here", **moto_server.client_kwargs()) as missing:
        with pytest.raises(SinkError, match="no such bucket") as caught:
            await missing.check()
        assert caught.value.permanent
    closed = {
        **moto_server.client_kwargs(),
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "config": AioConfig(retries={"max_attempts": 1}),
    }
    async with S3Sink("some-bucket", **closed) as unreachable:
        with pytest.raises(SinkError, match="could not write to the bucket") as caught:
            await unreachable.check()
        assert moto_server.secret_key not in str(caught.value)


@pytest.mark.parametrize("name", ["", "UPPER", "a", "s3://bucket", "x" * 70])
def test_invalid_bucket_names_are_refused(name: str) -> None:
    with pytest.raises(br.InvalidArgumentError):
        S3Sink(name)


def test_repr_shows_no_credentials(moto_server: MotoServer) -> None:
    sink = S3Sink("bucket", "p/", **moto_server.client_kwargs())
    assert repr(sink) == "S3Sink('s3://bucket/p')"
