"""The media engine against the emulator over real sockets: byte-exact under faults."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from tests.functional.conftest import InstantClock

pytestmark = pytest.mark.asyncio


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def available(emu: BirdEmulator) -> list[br.Recording]:
    return [r for r in emu.recordings.values() if r.status == br.RecordingStatus.AVAILABLE]


def storage_requests(emu: BirdEmulator) -> list[Any]:
    return [r for r in emu.requests if r.origin == "storage"]


def mp3_requests(emu: BirdEmulator) -> list[Any]:
    return [r for r in emu.requests if r.origin == "api" and r.path.endswith(".mp3")]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_download_by_id_is_byte_exact(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = available(emu)[0]
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert result.path == tmp_path / f"{rec.id}.mp3"
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert result.size_bytes == emu.media_size(rec.id) == result.path.stat().st_size
    assert result.md5 == emu.media_etag(rec.id).strip('"')
    assert len(mp3_requests(emu)) == 1
    assert leftovers(tmp_path) == [f"{rec.id}.mp3"]


async def test_fresh_recording_url_saves_the_api_call(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = await emu_client.get_recording(available(emu)[1].id)
    assert rec.url
    media_url = await emu_client.get_media_url(rec)
    assert media_url.url == rec.url and media_url.expires_at is not None
    await emu_client.download_recording(rec, tmp_path / "x.mp3")
    assert mp3_requests(emu) == []
    assert sha256(tmp_path / "x.mp3") == emu.media_digest(rec.id, "sha256")


async def test_authorization_and_cookies_never_reach_storage(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    await emu_client.download_recording(available(emu)[0].id, tmp_path)
    requests = storage_requests(emu)
    assert requests
    for request in requests:
        names = {k.lower() for k in request.headers}
        assert "authorization" not in names and "cookie" not in names
        assert request.headers.get("Accept-Encoding") == "identity"
    api = [r for r in emu.requests if r.origin == "api"]
    assert all(r.headers["Authorization"] == f"AccessKey {emu.access_key}" for r in api)


async def test_large_file_is_byte_exact(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=200 * 1024 * 1024 + 12_345)
    emu.faults.reset(after_bytes=77 * 1024 * 1024, recording_id=rec.id)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert result.size_bytes == 200 * 1024 * 1024 + 12_345
    assert result.resumes == 1
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fraction=st.floats(min_value=0.0, max_value=0.999))
async def test_reset_at_any_offset_resumes_byte_exact(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path, fraction: float
) -> None:
    rec = emu.add_recording(size_bytes=300_000)
    offset = int(300_000 * fraction)
    fault = emu.faults.reset(after_bytes=offset, recording_id=rec.id)
    target = tmp_path / f"{rec.id}.mp3"
    result = await emu_client.download_recording(rec.id, target)
    assert fault.triggered == 1
    assert sha256(target) == emu.media_digest(rec.id, "sha256")
    assert result.size_bytes == 300_000
    ranges = [r.headers.get("Range") for r in storage_requests(emu) if rec.id in r.path]
    assert ranges[-1] is None or ranges[-1].startswith("bytes=")
    target.unlink()


async def test_several_resets_in_one_download_resume_with_range_and_if_match(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=1_000_000)
    emu.faults.reset(after_bytes=100_000, recording_id=rec.id, count=3)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert result.resumes == 3
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    resumed = [r for r in storage_requests(emu) if r.headers.get("Range")]
    assert [r.headers["Range"] for r in resumed] == [
        "bytes=100000-",
        "bytes=200000-",
        "bytes=300000-",
    ]
    assert all(r.headers.get("If-Match") == emu.media_etag(rec.id) for r in resumed)
    # Resume, don't replay: nothing was transferred twice.
    assert emu_client.stats.resumes == 3


async def test_early_eof_with_lying_content_length_resumes(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=500_000)
    emu.faults.truncate(after_bytes=123_457, recording_id=rec.id)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert result.resumes == 1
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")


@pytest.mark.parametrize(
    "after_bytes",
    [
        pytest.param(200_000, id="mid-body"),
        # Headers arrive, then silence: the stall timeout covers the first body byte.
        pytest.param(0, id="before-the-first-byte"),
    ],
)
async def test_stalled_body_is_detected_and_resumed(
    emu: BirdEmulator, tmp_path: Path, after_bytes: int
) -> None:
    rec = emu.add_recording(size_bytes=400_000)
    emu.faults.stall(after_bytes=after_bytes, seconds=30, recording_id=rec.id)
    async with br.RecordingsClient(
        emu.access_key, emu.workspace_id, base_url=emu.base_url, stall_timeout_s=0.3
    ) as client:
        result = await client.download_recording(rec.id, tmp_path)
    assert result.resumes == 1
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")


async def test_a_slow_reader_is_not_a_stall(emu: BirdEmulator) -> None:
    # Only time spent waiting for bytes counts: a caller that takes longer than
    # the stall timeout between two reads keeps its one connection.
    rec = emu.add_recording(size_bytes=2_000_000)
    async with (
        br.RecordingsClient(
            emu.access_key, emu.workspace_id, base_url=emu.base_url, stall_timeout_s=0.2
        ) as client,
        client.stream_recording(rec.id) as media,
    ):
        first = await media.read(65_536)
        await asyncio.sleep(0.7)  # the caller's own pace, not a wait for an event
        rest = await media.read()
    body = first + rest
    assert hashlib.sha256(body).hexdigest() == emu.media_digest(rec.id, "sha256")
    assert len(storage_requests(emu)) == 1


async def test_a_slow_link_longer_than_the_stall_timeout_finishes(
    emu: BirdEmulator, instant_clock: Any, tmp_path: Path
) -> None:
    # The stall timeout bounds the silence between bytes, never the whole
    # transfer: ~1 s of steady bytes with a 0.3 s stall timeout must finish.
    rec = emu.add_recording(size_bytes=100_000)
    emu.faults.throttle(100_000, after_bytes=1_000)
    async with br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        clock=instant_clock,
        rate_limit=None,
        stall_timeout_s=0.3,
    ) as client:
        started = asyncio.get_running_loop().time()
        result = await client.download_recording(rec.id, tmp_path)
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed > 0.6  # several stall timeouts long, so the test means something
    assert result.resumes == 0
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")


async def test_expired_recording_url_is_not_used(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = await emu_client.get_recording(available(emu)[0].id)
    assert rec.url
    stale_date = "20200101T000000Z"
    query_date = next(p for p in rec.url.split("&") if p.startswith("X-Amz-Date="))
    stale = attrs.evolve(rec, url=rec.url.replace(query_date, f"X-Amz-Date={stale_date}"))
    emu.requests.clear()
    result = await emu_client.download_recording(stale, tmp_path)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert len(mp3_requests(emu)) == 1
    assert all(stale_date not in str(r.query) for r in storage_requests(emu))
    assert result.url_refreshes == 0


async def test_url_expiring_between_reset_and_resume_is_refreshed(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=600_000)
    emu.faults.reset(after_bytes=250_000, recording_id=rec.id)
    # The first download request uses its URL; when the reset is resumed
    # the URL has expired on the server's clock.
    emu.faults.expire_early(count=1, recording_id=rec.id)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert result.url_refreshes >= 1
    assert len(mp3_requests(emu)) == 1 + result.url_refreshes


async def test_expiry_mid_download_via_clock_refreshes_and_resumes(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=600_000)
    await emu_client.get_recording(rec.id)
    fault = emu.faults.reset(after_bytes=300_000, recording_id=rec.id)
    seen = asyncio.Event()

    def progress(event: br.DownloadProgress) -> None:
        if fault.triggered and not seen.is_set():
            seen.set()
            emu.advance_clock(700)  # every URL issued so far is now past X-Amz-Expires

    result = await emu_client.download_recording(rec.id, tmp_path, progress=progress)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    statuses = [r.status for r in storage_requests(emu)]
    assert 403 in statuses
    assert result.url_refreshes == 1
    last = storage_requests(emu)[-1]
    assert last.status == 206 and last.headers["Range"] == "bytes=300000-"


async def test_urls_that_keep_dying_fail_with_a_bounded_number_of_refreshes(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = available(emu)[0]
    emu.faults.expire_early(count=None, recording_id=rec.id)
    with pytest.raises(br.MediaURLExpiredError) as info:
        await emu_client.download_recording(rec.id, tmp_path)
    assert info.value.recording_id == rec.id
    assert len(mp3_requests(emu)) <= 6
    assert leftovers(tmp_path) == []
    assert "X-Amz-Signature=REDACTED" in str(info.value) or "Signature" not in str(info.value)


async def test_object_replaced_mid_download_restarts_and_equals_the_new_object(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=500_000)
    old_etag = emu.media_etag(rec.id)
    emu.faults.replace_media(rec.id, after_bytes=200_000)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert emu.media_etag(rec.id) != old_etag
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert result.etag == emu.media_etag(rec.id)
    assert result.restarts == 1


async def test_storage_answering_200_to_a_range_request_is_handled(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=400_000)
    emu.faults.reset(after_bytes=150_000, recording_id=rec.id)
    emu.faults.ignore_range(count=1)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert [r.status for r in storage_requests(emu)][-1] == 200


async def test_slowdown_bursts_are_retried_with_backoff(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    instant_clock: Any,
    tmp_path: Path,
) -> None:
    rec = available(emu)[0]
    emu.faults.status(503, origin="storage", count=3)
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert [r.status for r in storage_requests(emu)] == [503, 503, 503, 200]
    assert len(instant_clock.sleeps) == 3
    assert emu_client.stats.storage_retries == 3


async def test_persistent_storage_errors_raise_storage_error(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = available(emu)[0]
    emu.faults.status(500, origin="storage", count=None)
    with pytest.raises(br.StorageError) as info:
        await emu_client.download_recording(rec.id, tmp_path)
    assert info.value.status == 500 and info.value.code == "InternalError"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("by", ["id", "recording"])
async def test_recording_not_available_creates_nothing(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path, by: str
) -> None:
    rec = emu.add_recording(status="ongoing")
    ref: br.Recording | str = rec if by == "recording" else rec.id
    with pytest.raises(br.RecordingNotAvailableError) as info:
        await emu_client.download_recording(ref, tmp_path)
    assert info.value.status == "ongoing"
    assert leftovers(tmp_path) == []
    assert storage_requests(emu) == []


async def test_unknown_id_raises_not_found_and_creates_nothing(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(br.NotFoundError):
        await emu_client.download_recording(missing, tmp_path)
    assert leftovers(tmp_path) == []


async def test_existing_file_is_refused_before_any_request(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = available(emu)[0]
    target = tmp_path / "keep.mp3"
    target.write_bytes(b"precious")
    emu.requests.clear()
    with pytest.raises(br.DestinationExistsError):
        await emu_client.download_recording(rec.id, target)
    assert target.read_bytes() == b"precious"
    assert emu.requests == []
    result = await emu_client.download_recording(rec.id, target, overwrite=True)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")


async def test_cancellation_midway_leaves_nothing_behind(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=3_000_000)
    emu.faults.stall(after_bytes=1_500_000, seconds=60, recording_id=rec.id)
    started = asyncio.Event()

    def progress(event: br.DownloadProgress) -> None:
        if event.bytes_done >= 1_000_000:
            started.set()

    task = asyncio.create_task(emu_client.download_recording(rec.id, tmp_path, progress=progress))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(tmp_path) == []


async def test_disk_full_raises_file_write_error_and_leaves_nothing(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bird_recordings._files as files

    rec = emu.add_recording(size_bytes=3_000_000)
    written = 0
    real_write = files._write

    def full_disk(fd: int, data: Any) -> int:
        nonlocal written
        if written > 1_000_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        written += len(data)
        return real_write(fd, data)

    monkeypatch.setattr(files, "_write", full_disk)
    with pytest.raises(br.FileWriteError) as info:
        await emu_client.download_recording(rec.id, tmp_path)
    assert "disk is full" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert leftovers(tmp_path) == []


async def test_no_secret_in_debug_logs(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = emu.add_recording(size_bytes=300_000)
    emu.faults.reset(after_bytes=100_000, recording_id=rec.id)
    emu.faults.expire_early(count=1, recording_id=rec.id)
    emu.faults.status(429, origin="api", count=1, retry_after=1)
    await emu_client.download_recording(rec.id, tmp_path)
    text = caplog.text
    assert "retry" in text.lower()
    assert emu.access_key not in text
    for request in storage_requests(emu):
        for key in ("X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"):
            value = request.query.get(key)
            assert value and value not in text


async def test_stream_is_byte_exact_across_resets(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=700_000)
    emu.faults.reset(after_bytes=111_111, recording_id=rec.id, count=2)
    hasher = hashlib.sha256()
    async with emu_client.stream_recording(rec.id, chunk_size=65_536) as media:
        assert media.size_bytes == 700_000
        assert media.etag == emu.media_etag(rec.id)
        async for chunk in media:
            assert len(chunk) <= 65_536
            hasher.update(chunk)
    assert hasher.hexdigest() == emu.media_digest(rec.id, "sha256")


async def test_stream_raises_media_changed_when_the_object_is_replaced(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=500_000)
    emu.faults.replace_media(rec.id, after_bytes=100_000)
    with pytest.raises(br.MediaChangedError):
        async with emu_client.stream_recording(rec.id) as media:
            async for _ in media:
                pass


async def test_stream_errors_surface_at_enter(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(status="failed")
    with pytest.raises(br.RecordingNotAvailableError):
        async with emu_client.stream_recording(rec.id):
            pass


async def test_bulk_download_with_seeded_faults_is_byte_exact(tmp_path: Path) -> None:
    from tests.conftest import FakeClock

    async with BirdEmulator(recordings=0, seed=3, media_size_bytes=(8_192, 65_536)) as emu:
        ids = [emu.add_recording(status="available").id for _ in range(300)]
        missing = "00000000-0000-4000-8000-0000000000aa"
        emu.faults.reset(after_bytes=4_096, probability=0.1, count=None)
        emu.faults.status(503, origin="storage", probability=0.05, count=None)
        emu.faults.status(429, origin="api", count=5, retry_after=1)
        async with br.RecordingsClient(
            emu.access_key,
            emu.workspace_id,
            base_url=emu.base_url,
            rate_limit=None,
            clock=FakeClock(),
            retry=br.RetryPolicy(max_retries=8),
        ) as client:
            outcomes = [
                o
                async for o in client.download_recordings([*ids, missing], tmp_path, concurrency=16)
            ]
    by_id = {o.recording_id: o for o in outcomes}
    assert len(outcomes) == 301
    assert isinstance(by_id[missing].error, br.NotFoundError)
    for rid in ids:
        outcome = by_id[rid]
        assert outcome.error is None, outcome.error
        assert outcome.path is not None
        assert sha256(outcome.path) == emu.media_digest(rid, "sha256")
    assert sorted(leftovers(tmp_path)) == sorted(f"{rid}.mp3" for rid in ids)


async def test_bulk_from_a_pager_skips_matching_files_and_reports_not_available(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    pager = emu_client.list_recordings()
    first = [o async for o in emu_client.download_recordings(pager, tmp_path)]
    statuses = {o.status for o in first}
    assert "downloaded" in statuses
    failed = [o for o in first if o.error is not None]
    assert all(isinstance(o.error, br.RecordingNotAvailableError) for o in failed)
    assert len(first) == len(emu.recordings)
    events: list[br.DownloadProgress] = []
    second = [
        o
        async for o in emu_client.download_recordings(
            [r for r in emu.recordings.values() if r.status == "available"],
            tmp_path,
            progress=events.append,
        )
    ]
    assert {o.status for o in second} == {"skipped"}
    assert events[-1].recordings_done == len(second) == events[-1].recordings_total
    # A local file that differs is never clobbered without overwrite=True.
    victim = second[0].path
    assert victim is not None
    victim.write_bytes(b"corrupt")
    third = [o async for o in emu_client.download_recordings([second[0].recording_id], tmp_path)]
    assert isinstance(third[0].error, br.DestinationExistsError)
    assert victim.read_bytes() == b"corrupt"


async def test_breaking_out_of_bulk_cancels_and_cleans_up(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    quick = emu.add_recording(size_bytes=10_000).id
    stuck = [emu.add_recording(size_bytes=2_000_000).id for _ in range(3)]
    for rid in stuck:
        emu.faults.stall(after_bytes=500_000, seconds=60, recording_id=rid)
    outcomes = []
    downloads = emu_client.download_recordings([*stuck, quick], tmp_path, concurrency=4)
    async with contextlib.aclosing(downloads):
        async for outcome in downloads:
            outcomes.append(outcome)
            break
    assert [o.recording_id for o in outcomes] == [quick]
    assert leftovers(tmp_path) == [f"{quick}.mp3"]


async def test_stream_must_be_entered_before_iterating(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    media = emu_client.stream_recording(available(emu)[0].id)
    with pytest.raises(RuntimeError, match="async with"):
        async for _ in media:
            pass
    assert storage_requests(emu) == []


async def test_recording_deleted_after_resolution_raises_not_found(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = await emu_client.get_recording(available(emu)[0].id)
    await emu_client.delete_recording(rec.id)
    with pytest.raises(br.NotFoundError):
        await emu_client.download_recording(rec, tmp_path)
    assert leftovers(tmp_path) == []


async def test_concurrent_consumers_share_one_resolution_and_one_refresh(
    emu: BirdEmulator, emu_client: br.RecordingsClient, instant_clock: InstantClock
) -> None:
    rec = emu.add_recording(size_bytes=200_000)
    urls = await asyncio.gather(*(emu_client.get_media_url(rec.id) for _ in range(5)))
    assert len({u.url for u in urls}) == 1
    assert len(mp3_requests(emu)) == 1
    # Five consumers whose URL expired at once ask for one refresh between them.
    instant_clock.advance(3600)
    refreshed = await asyncio.gather(*(emu_client.get_media_url(rec.id) for _ in range(5)))
    assert len({u.url for u in refreshed}) == 1
    assert len(mp3_requests(emu)) == 2


async def test_a_bad_signature_is_cured_by_one_refresh(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = await emu_client.get_recording(available(emu)[0].id)
    assert rec.url
    signature = next(p for p in rec.url.split("&") if p.startswith("X-Amz-Signature="))
    tampered = attrs.evolve(rec, url=rec.url.replace(signature, "X-Amz-Signature=" + "0" * 64))
    emu.requests.clear()
    result = await emu_client.download_recording(tampered, tmp_path)
    assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
    assert [r.status for r in storage_requests(emu)] == [403, 200]
    assert result.url_refreshes == 1


async def test_a_persistent_non_expiry_403_is_not_retried_forever(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = available(emu)[0]
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
        "<Message>Access Denied</Message></Error>"
    )
    emu.faults.status(403, origin="storage", count=None, body=body, content_type="application/xml")
    with pytest.raises(br.StorageError) as info:
        await emu_client.download_recording(rec.id, tmp_path)
    assert not isinstance(info.value, br.MediaURLExpiredError)
    assert info.value.status == 403
    assert info.value.code == "AccessDenied"
    assert len(storage_requests(emu)) == 2
    assert leftovers(tmp_path) == []


async def test_a_borrowed_session_that_raises_for_status_does_not_change_behaviour(
    emu: BirdEmulator, tmp_path: Path
) -> None:
    import aiohttp

    rec = available(emu)[0]
    emu.faults.status(503, origin="storage", count=1)
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        br.RecordingsClient(
            emu.access_key,
            emu.workspace_id,
            base_url=emu.base_url,
            session=session,
            retry=br.RetryPolicy(backoff_initial_s=0.0),
        ) as client,
    ):
        with pytest.raises(br.NotFoundError):
            await client.get_recording("00000000-0000-4000-8000-000000000000")
        result = await client.download_recording(rec.id, tmp_path)
        assert sha256(result.path) == emu.media_digest(rec.id, "sha256")
        assert client.stats.storage_retries == 1
        assert not session.closed


async def test_a_folder_with_a_nul_is_a_typed_error(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rec = emu.add_recording(size_bytes=1_000)
    with pytest.raises(br.InvalidArgumentError, match="download folder"):
        async for _ in emu_client.download_recordings([rec.id], tmp_path / "bad\x00dir"):
            pass


@pytest.mark.parametrize("io_threads", [0, 1])
async def test_io_threads_zero_or_one_write_and_verify_the_same_files(
    emu: BirdEmulator, tmp_path: Path, io_threads: int
) -> None:
    recs = [emu.add_recording(size_bytes=size) for size in (1_000, 300_000, 5_000_000)]
    emu.faults.truncate(after_bytes=2_500_000, recording_id=recs[2].id)  # a resume too
    before = {t.name for t in threading.enumerate()}
    async with br.RecordingsClient(
        emu.access_key, emu.workspace_id, base_url=emu.base_url, io_threads=io_threads
    ) as client:
        outcomes = [o async for o in client.download_recordings([r.id for r in recs], tmp_path)]
        started = {t.name for t in threading.enumerate()} - before
    assert all(o.ok and o.result is not None and o.result.md5 for o in outcomes)
    for rec in recs:
        assert sha256(tmp_path / f"{rec.id}.mp3") == emu.media_digest(rec.id, "sha256")
    io = sorted(name for name in started if name.startswith("bird-recordings-io"))
    assert io == [f"bird-recordings-io_{n}" for n in range(io_threads)]
    assert leftovers(tmp_path) == sorted(f"{rec.id}.mp3" for rec in recs)
