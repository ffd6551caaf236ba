"""Transcriptions end to end: the client against the emulator over real sockets.

The client's clock is a fake whose ``sleep`` also moves the emulator's clock,
so polling to every end state, and timing out, take no real time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from tests.transcript_checks import parse_srt, parse_vtt, vtt_voice

from .conftest import InstantClock

NOT_FOUND_ID = "00000000-0000-4000-8000-000000000000"


class LinkedClock(InstantClock):
    """Instant sleeps that advance the emulator's clock by the same amount."""

    def __init__(self, emu: BirdEmulator) -> None:
        super().__init__()
        self.emu = emu

    async def sleep(self, seconds: float) -> None:
        self.emu.advance_clock(seconds)
        await super().sleep(seconds)


@pytest.fixture
def clock(emu: BirdEmulator) -> LinkedClock:
    return LinkedClock(emu)


@pytest.fixture
async def client(emu: BirdEmulator, clock: LinkedClock) -> AsyncIterator[br.RecordingsClient]:
    async with br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        clock=clock,
        rate_limit=None,
        retry=br.RetryPolicy(max_retries=3),
    ) as c:
        yield c


def new_recording(emu: BirdEmulator) -> br.Recording:
    return emu.add_recording(status="available", transcription=False, size_bytes=60_000)


async def available_transcription(
    emu: BirdEmulator, client: br.RecordingsClient
) -> br.Transcription:
    created = await client.create_transcription(new_recording(emu))
    return await client.wait_for_transcription(created)


# Create, get, list ------------------------------------------------------------------


async def test_create_get_and_list(emu: BirdEmulator, client: br.RecordingsClient) -> None:
    rec = new_recording(emu)
    created = await client.create_transcription(rec, "pt-BR")
    assert isinstance(created, br.Transcription)
    assert created.status == br.TranscriptionStatus.ACCEPTED
    assert created.recording_id == rec.id
    assert created.locale == "pt-BR"
    assert not created.is_final
    by_id = await client.create_transcription(rec.id)
    assert by_id.locale == "en-US"
    assert by_id.id != created.id

    fetched = await client.get_transcription(created.id)
    assert fetched == created
    assert await client.get_transcription(created) == created

    first = await client.list_transcriptions(limit=2)
    assert len(first.results) == 2
    assert first.next_page_token
    everything = [t async for t in client.list_transcriptions(limit=3)]
    assert sorted(t.id for t in everything) == sorted(emu.transcriptions)
    mine = {t.id for t in everything if t.recording_id == rec.id}
    assert mine == {created.id, by_id.id}


async def test_create_passes_optional_ids(emu: BirdEmulator, client: br.RecordingsClient) -> None:
    emu.clear_requests()
    await client.create_transcription(
        new_recording(emu),
        "en-GB-WLS",
        message_id="5b74ee9e-9d45-473a-82cd-f1f7feea6bbd",
        conversation_id="50fa2203-66c2-4820-864a-1a8002952f4e",
    )
    [post] = [r for r in emu.requests if r.method == "POST"]
    assert post.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("locale", ["en-us", "EN-US", "english", "xx-XX", ""])
async def test_invalid_locale_sends_nothing(
    emu: BirdEmulator, client: br.RecordingsClient, locale: str
) -> None:
    rec = new_recording(emu)
    emu.clear_requests()
    with pytest.raises(br.InvalidArgumentError) as caught:
        await client.create_transcription(rec, locale)
    assert emu.requests == []
    if locale.lower() == "en-us":
        assert "'en-US'" in str(caught.value)


async def test_create_errors(emu: BirdEmulator, client: br.RecordingsClient) -> None:
    with pytest.raises(br.NotFoundError):
        await client.create_transcription(NOT_FOUND_ID)
    with pytest.raises(br.UnprocessableEntityError):
        await client.create_transcription("not-a-uuid")
    live = emu.add_recording(status="ongoing")
    with pytest.raises(br.UnprocessableEntityError, match="no media"):
        await client.create_transcription(live.id)
    emu.clear_requests()
    with pytest.raises(br.RecordingNotAvailableError):
        await client.create_transcription(live)
    assert emu.requests == []


async def test_get_errors(client: br.RecordingsClient) -> None:
    with pytest.raises(br.NotFoundError):
        await client.get_transcription(NOT_FOUND_ID)
    with pytest.raises(br.UnprocessableEntityError):
        await client.get_transcription("nope")


async def test_a_dropped_connection_after_the_post_is_not_retried(
    emu: BirdEmulator, client: br.RecordingsClient
) -> None:
    """The ambiguous case the docs describe: Bird created it, the answer was lost."""
    rec = new_recording(emu)
    fault = emu.faults.reset(origin="api", method="POST", after_bytes=10)
    with pytest.raises(br.APIConnectionError):
        await client.create_transcription(rec)
    assert fault.triggered == 1
    assert [r.method for r in emu.requests if r.recording_id == rec.id] == ["POST"]
    # What the caller should do: look before asking again.
    existing = [t async for t in client.list_transcriptions() if t.recording_id == rec.id]
    assert len(existing) == 1


async def test_a_post_answered_503_is_not_retried(
    emu: BirdEmulator, client: br.RecordingsClient
) -> None:
    rec = new_recording(emu)
    emu.faults.status(503, method="POST", count=1)
    with pytest.raises(br.ServerError):
        await client.create_transcription(rec)
    assert client.retries_performed == 0


# Polling to every end state -----------------------------------------------------------


async def test_wait_until_available_backs_off_without_spinning(
    emu: BirdEmulator, client: br.RecordingsClient, clock: LinkedClock
) -> None:
    rec = new_recording(emu)
    created = await client.create_transcription(rec)
    done = await client.wait_for_transcription(created.id)
    assert done.status == "available"
    assert done.is_available
    assert done.url is not None
    signature = done.url.rsplit("X-Amz-Signature=", 1)[1]
    assert signature not in repr(done)
    assert sum(clock.sleeps) >= 9.0  # the emulator's default schedule (2 s + 7 s)
    assert all(s >= 0.5 for s in clock.sleeps)
    assert len(clock.sleeps) <= 6
    # The recording's flag flips once the text exists.
    assert (await client.get_recording(rec.id)).transcription is True


async def test_backoff_is_capped(emu: BirdEmulator, client: br.RecordingsClient) -> None:
    clock = client.clock
    assert isinstance(clock, LinkedClock)
    transcription = emu.add_transcription(new_recording(emu).id, schedule_s=(0, 200))
    await client.wait_for_transcription(transcription.id, poll_interval_s=1, max_poll_interval_s=8)
    assert max(clock.sleeps) <= 8
    assert clock.sleeps[:3] == sorted(clock.sleeps[:3])
    assert sum(clock.sleeps) >= 200


@pytest.mark.parametrize("outcome", ["failed", "absent"])
async def test_wait_ends_with_failed_or_absent(
    emu: BirdEmulator, client: br.RecordingsClient, outcome: str
) -> None:
    rec = new_recording(emu)
    emu.transcription_outcomes[rec.id] = outcome  # type: ignore[assignment]
    created = await client.create_transcription(rec)
    with pytest.raises(br.TranscriptionFailedError) as caught:
        await client.wait_for_transcription(created)
    error = caught.value
    assert error.status == outcome
    assert error.transcription_id == created.id
    assert error.transcription is not None
    assert isinstance(error, br.TranscriptionNotAvailableError)
    assert (await client.get_recording(rec.id)).transcription is False


async def test_wait_times_out_on_the_injected_clock(
    emu: BirdEmulator, client: br.RecordingsClient, clock: LinkedClock
) -> None:
    slow = emu.add_transcription(new_recording(emu).id, schedule_s=(5, 10_000))
    with pytest.raises(br.TranscriptionTimeoutError) as caught:
        await client.wait_for_transcription(slow.id, timeout_s=30)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert isinstance(error, br.BirdRecordingsError)
    assert error.timeout_s == 30
    assert error.transcription is not None
    assert error.transcription.status == "ongoing"
    assert sum(clock.sleeps) == pytest.approx(30)
    # It carried on, unaffected, and can still be waited for.
    assert (await client.get_transcription(slow.id)).status == "ongoing"


async def test_wait_honours_retry_after_and_survives_errors(emu: BirdEmulator) -> None:
    clock = LinkedClock(emu)
    async with br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        clock=clock,
        rate_limit=None,
        retry=br.RetryPolicy.disabled(),
    ) as client:
        created = await client.create_transcription(new_recording(emu))
        fault = emu.faults.status(
            503, method="GET", path_contains="/transcriptions/", retry_after=7, count=2
        )
        done = await client.wait_for_transcription(created.id, poll_interval_s=0.5)
    assert done.is_available
    assert fault.triggered == 2
    assert clock.sleeps[:2] == [7, 7]


async def test_wait_polls_through_the_rate_limiter(emu: BirdEmulator) -> None:
    clock = LinkedClock(emu)
    async with br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        clock=clock,
        rate_limit=0.1,  # one request per 10 s
    ) as client:
        created = await client.create_transcription(new_recording(emu))
        emu.clear_requests()
        await client.wait_for_transcription(created.id, poll_interval_s=0.5)
    gets = [r for r in emu.requests if r.method == "GET"]
    # The limiter (not the 0.5 s backoff) spaced the polls: 10 s each.
    assert len(gets) <= 3
    assert any(s == pytest.approx(10, abs=1.0) for s in clock.sleeps)


async def test_wait_rejects_bad_timings(client: br.RecordingsClient) -> None:
    with pytest.raises(br.InvalidArgumentError):
        await client.wait_for_transcription(NOT_FOUND_ID, timeout_s=0)
    with pytest.raises(br.InvalidArgumentError):
        await client.wait_for_transcription(NOT_FOUND_ID, poll_interval_s=-1)
    with pytest.raises(br.NotFoundError):
        await client.wait_for_transcription(NOT_FOUND_ID)


# Content ---------------------------------------------------------------------------------


@pytest.fixture(params=["body", "redirect"])
def delivery(request: pytest.FixtureRequest, emu: BirdEmulator) -> str:
    emu.transcript_delivery = request.param
    return str(request.param)


async def test_content_in_every_format(
    emu: BirdEmulator, client: br.RecordingsClient, delivery: str
) -> None:
    done = await available_transcription(emu, client)
    emu.clear_requests()
    data = await client.get_transcription_content(done, "json")
    assert isinstance(data, dict)
    segments = data["segments"]
    srt = parse_srt(await client.get_transcription_content(done, "srt"))
    vtt = parse_vtt(await client.get_transcription_content(done.id, "vtt"))
    txt = await client.get_transcription_content(done.id)
    assert len(segments) == len(srt) == len(vtt)
    for segment, (start, end, text), (v_start, v_end, v_text) in zip(
        segments, srt, vtt, strict=True
    ):
        assert (
            (start, end)
            == (v_start, v_end)
            == (
                round(segment["start"] * 1000),
                round(segment["end"] * 1000),
            )
        )
        assert text == f"{segment['speaker']}: {segment['text']}"
        assert vtt_voice(v_text) == (segment["speaker"], segment["text"])
    assert txt == emu.transcript_content(done.id, "txt").decode()
    storage = [r for r in emu.requests if r.origin == "storage"]
    if delivery == "redirect":
        assert len(storage) == 4
        assert not [r for r in storage if "Authorization" in r.headers]
    else:
        assert storage == []


async def test_content_before_available_and_after_failure(
    emu: BirdEmulator, client: br.RecordingsClient
) -> None:
    created = await client.create_transcription(new_recording(emu))
    with pytest.raises(br.TranscriptionNotAvailableError) as caught:
        await client.get_transcription_content(created.id, "vtt")
    assert caught.value.status == "accepted"
    assert not isinstance(caught.value, br.TranscriptionFailedError)
    emu.update_transcription(created.id, status="failed")
    with pytest.raises(br.TranscriptionFailedError):
        await client.get_transcription_content(created.id, "vtt")
    with pytest.raises(br.NotFoundError):
        await client.get_transcription_content(NOT_FOUND_ID, "txt")
    with pytest.raises(br.InvalidArgumentError):
        await client.get_transcription_content(created.id, "pdf")  # type: ignore[call-overload]


async def test_redirect_survives_expiry_5xx_and_broken_bodies(
    emu: BirdEmulator, client: br.RecordingsClient
) -> None:
    emu.transcript_delivery = "redirect"
    done = await available_transcription(emu, client)
    expected = emu.transcript_content(done.id, "srt").decode()
    emu.faults.expire_early(count=1, path_contains="/transcriptions/")
    emu.faults.status(503, origin="storage", count=1, path_contains="/transcriptions/")
    emu.faults.truncate(origin="storage", after_bytes=20, count=1, path_contains=".srt")
    emu.clear_requests()
    assert await client.get_transcription_content(done, "srt") == expected
    api_gets = [r for r in emu.requests if r.origin == "api"]
    assert len(api_gets) == 2  # the first redirect, and a new one after the expiry
    assert [r.status for r in emu.requests if r.origin == "storage"] == [503, 403, 200, 200]


async def test_download_transcription(
    emu: BirdEmulator, client: br.RecordingsClient, delivery: str, tmp_path: Path
) -> None:
    done = await available_transcription(emu, client)
    result = await client.download_transcription(done, tmp_path)
    assert isinstance(result, br.TranscriptionDownloadResult)
    assert result.path == tmp_path / f"{done.id}.vtt"
    assert result.format == "vtt"
    assert result.path.read_bytes() == emu.transcript_content(done.id, "vtt")
    assert result.size_bytes == result.path.stat().st_size
    parse_vtt(result.path.read_text())

    emu.clear_requests()
    with pytest.raises(br.DestinationExistsError):
        await client.download_transcription(done, tmp_path)
    assert emu.requests == []
    again = await client.download_transcription(done, tmp_path, overwrite=True)
    assert again.path == result.path

    named = await client.download_transcription(done.id, tmp_path / "sub" / "t.json", format="json")
    assert json.loads(named.path.read_text())["id"] == done.id
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        [f"{done.id}.vtt", "sub", "t.json"]
    )


async def test_a_failed_download_leaves_nothing(
    emu: BirdEmulator, client: br.RecordingsClient, tmp_path: Path
) -> None:
    created = await client.create_transcription(new_recording(emu))
    with pytest.raises(br.TranscriptionNotAvailableError):
        await client.download_transcription(created, tmp_path)
    emu.transcript_delivery = "redirect"
    done = await client.wait_for_transcription(created)
    emu.faults.status(500, origin="storage", count=None, path_contains="/transcriptions/")
    with pytest.raises(br.StorageError):
        await client.download_transcription(done, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_cancelled_wait_propagates(emu: BirdEmulator, client: br.RecordingsClient) -> None:
    slow = emu.add_transcription(new_recording(emu).id, schedule_s=(10_000, 0))
    task = asyncio.ensure_future(client.wait_for_transcription(slow.id, timeout_s=None))
    for _ in range(50):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# Delete ------------------------------------------------------------------------------


async def test_delete_removes_it_and_a_second_delete_is_404(
    emu: BirdEmulator, client: br.RecordingsClient
) -> None:
    done = await available_transcription(emu, client)
    other = await client.create_transcription(new_recording(emu))
    await client.delete_transcription(done)
    assert done.id not in emu.transcriptions
    assert other.id in emu.transcriptions
    with pytest.raises(br.NotFoundError):
        await client.get_transcription(done.id)
    with pytest.raises(br.NotFoundError):
        await client.get_transcription_content(done.id, "txt")
    with pytest.raises(br.NotFoundError):
        await client.delete_transcription(done.id)
    listed = {t.id async for t in client.list_transcriptions()}
    assert done.id not in listed
    assert other.id in listed
    assert done.recording_id in emu.recordings  # the recording is untouched
    emu.delete_transcription(other.id)  # the emulator's own handle does the same
    assert other.id not in emu.transcriptions
    with pytest.raises(KeyError):
        emu.delete_transcription(other.id)


async def test_delete_of_a_malformed_id_is_refused_by_bird(client: br.RecordingsClient) -> None:
    with pytest.raises(br.UnprocessableEntityError):
        await client.delete_transcription("not-a-uuid")
