"""Closing the client mid-transfer, and file-system failures: typed, prompt, clean."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from tests.functional.conftest import InstantClock

pytestmark = pytest.mark.asyncio

# Bounds for "promptly": generous for a loaded CI machine, far below the 30 s
# stall timeout a hung transfer would otherwise wait for.
PROMPT_S = 5.0


def available(emu: BirdEmulator) -> list[br.Recording]:
    return [r for r in emu.recordings.values() if r.status == br.RecordingStatus.AVAILABLE]


@pytest.fixture
async def slow_emu() -> AsyncIterator[BirdEmulator]:
    """An emulator whose media trickles after the first KiB (1 KiB/s)."""
    async with BirdEmulator(recordings=6, seed=5, media_size_bytes=65_536) as emulator:
        emulator.faults.throttle(1024, after_bytes=1024, count=None)
        yield emulator


def make_client(
    emu: BirdEmulator, session: aiohttp.ClientSession | None = None
) -> br.RecordingsClient:
    return br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        session=session,
        clock=InstantClock(),
        rate_limit=None,
        stall_timeout_s=60.0,
    )


def progress_event() -> tuple[asyncio.Event, Callable[[br.DownloadProgress], None]]:
    started = asyncio.Event()

    def progress(report: br.DownloadProgress) -> None:
        if report.bytes_done:
            started.set()

    return started, progress


async def test_aclose_stops_a_download_in_flight(slow_emu: BirdEmulator, tmp_path: Path) -> None:
    client = make_client(slow_emu)
    rec = available(slow_emu)[0]
    started, progress = progress_event()
    async with client:
        task = asyncio.create_task(client.download_recording(rec.id, tmp_path, progress=progress))
        await asyncio.wait_for(started.wait(), PROMPT_S)
        await asyncio.wait_for(client.aclose(), PROMPT_S)
        # aclose() returned only after the transfer ended.
        assert task.done()
        with pytest.raises(br.ClientClosedError, match="in flight"):
            await task
        assert list(tmp_path.iterdir()) == []  # the temporary file is gone
        with pytest.raises(br.ClientClosedError):
            await client.get_recording(rec.id)
        with pytest.raises(br.ClientClosedError):
            await client.download_recording(rec.id, tmp_path)


async def test_aclose_stops_a_stream_in_flight(slow_emu: BirdEmulator) -> None:
    client = make_client(slow_emu)
    rec = available(slow_emu)[0]
    first = asyncio.Event()

    async def consume() -> int:
        received = 0
        async with client.stream_recording(rec.id) as media:
            async for chunk in media:
                received += len(chunk)
                first.set()
        return received

    async with client:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), PROMPT_S)
        await asyncio.wait_for(client.aclose(), PROMPT_S)
        with pytest.raises(br.ClientClosedError):
            await asyncio.wait_for(task, PROMPT_S)


async def test_aclose_turns_every_bulk_download_into_a_closed_outcome(
    slow_emu: BirdEmulator, tmp_path: Path
) -> None:
    client = make_client(slow_emu)
    recs = available(slow_emu)
    started, progress = progress_event()
    outcomes: list[br.DownloadOutcome] = []

    async def run() -> None:
        async with contextlib.aclosing(
            client.download_recordings(recs, tmp_path, concurrency=3, progress=progress)
        ) as stream:
            async for outcome in stream:
                outcomes.append(outcome)

    async with client:
        task = asyncio.create_task(run())
        await asyncio.wait_for(started.wait(), PROMPT_S)
        await asyncio.wait_for(client.aclose(), PROMPT_S)
        await asyncio.wait_for(task, PROMPT_S)  # the generator ends, nothing raw escapes
    assert len(outcomes) == len(recs)
    assert all(isinstance(o.error, br.ClientClosedError) for o in outcomes), outcomes
    assert list(tmp_path.iterdir()) == []


async def test_a_borrowed_session_closed_by_its_owner_stops_the_transfer(
    slow_emu: BirdEmulator, tmp_path: Path
) -> None:
    rec = available(slow_emu)[0]
    started, progress = progress_event()
    async with aiohttp.ClientSession() as session:
        client = make_client(slow_emu, session)
        async with client:
            task = asyncio.create_task(
                client.download_recording(rec.id, tmp_path, progress=progress)
            )
            await asyncio.wait_for(started.wait(), PROMPT_S)
            await session.close()
            with pytest.raises(br.ClientClosedError):
                await asyncio.wait_for(task, PROMPT_S)
            with pytest.raises(br.ClientClosedError):
                await client.get_recording(rec.id)
    assert list(tmp_path.iterdir()) == []


async def test_a_caller_timeout_stays_a_cancellation(
    slow_emu: BirdEmulator, tmp_path: Path
) -> None:
    """Only the client's own stop becomes ClientClosedError; the caller's cancel stays one."""
    rec = available(slow_emu)[0]
    started, progress = progress_event()
    async with make_client(slow_emu) as client:
        task = asyncio.create_task(client.download_recording(rec.id, tmp_path, progress=progress))
        await asyncio.wait_for(started.wait(), PROMPT_S)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The client is still usable.
        assert (await client.get_recording(rec.id)).id == rec.id


@pytest.mark.parametrize("layout", ["parent-is-a-file", "long-folder-name"])
async def test_cleanup_never_replaces_the_write_error(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path, layout: str
) -> None:
    rec = available(emu)[0]
    if layout == "parent-is-a-file":
        (tmp_path / "file").write_text("not a folder")
        target = tmp_path / "file" / "x.mp3"
    else:
        target = tmp_path / ("d" * 300) / "x.mp3"
    with pytest.raises(br.FileWriteError) as info:
        await emu_client.download_recording(rec.id, target)
    assert isinstance(info.value.__cause__, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["file"] if layout == "parent-is-a-file" else []
    )
