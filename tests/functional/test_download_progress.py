"""Byte totals of a batch in ``DownloadProgress``: learned as sizes are announced."""

from __future__ import annotations

from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

pytestmark = pytest.mark.asyncio


def available_ids(emu: BirdEmulator) -> list[str]:
    return [r.id for r in emu.recordings.values() if r.status == br.RecordingStatus.AVAILABLE]


async def test_a_batch_total_is_exact_once_every_size_is_known(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    ids = available_ids(emu)[:6]
    missing = "00000000-0000-4000-8000-000000000000"
    expected = sum(emu.media_size(rid) for rid in ids)
    events: list[br.DownloadProgress] = []
    outcomes = [
        o
        async for o in emu_client.download_recordings(
            [*ids, missing], tmp_path, concurrency=2, progress=events.append
        )
    ]
    assert sum(o.ok for o in outcomes) == len(ids)

    # Two at a time: the first reports know at most two sizes, so no exact total yet,
    # but an estimate from the mean size so far.
    first = events[0]
    assert first.overall_bytes_total is None
    assert 1 <= first.recordings_sized <= 2
    assert first.overall_bytes_known == sum(
        emu.media_size(rid) for rid in {e.recording_id for e in events[:1]}
    )
    assert first.overall_bytes_estimate == round(
        first.overall_bytes_known * (len(ids) + 1) / first.recordings_sized
    )

    known = [e.overall_bytes_known for e in events]
    assert known == sorted(known)
    totals = {e.overall_bytes_total for e in events} - {None}
    assert totals == {expected}
    # Once exact, it stays exact; the missing id settles without a size.
    exact_from = next(i for i, e in enumerate(events) if e.overall_bytes_total is not None)
    assert all(e.overall_bytes_total == expected for e in events[exact_from:])
    last = events[-1]
    assert last.recordings_sized == len(ids)
    assert last.overall_bytes_done == last.overall_bytes_known == expected
    assert last.overall_bytes_estimate == expected
    assert last.recordings_done == last.recordings_total == len(ids) + 1


async def test_skipped_files_count_towards_the_total(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    ids = available_ids(emu)[:4]
    _ = [o async for o in emu_client.download_recordings(ids, tmp_path)]
    events: list[br.DownloadProgress] = []
    again = [o async for o in emu_client.download_recordings(ids, tmp_path, progress=events.append)]
    assert {o.status for o in again} == {"skipped"}
    assert events[-1].overall_bytes_total == sum(emu.media_size(rid) for rid in ids)
    assert events[-1].overall_bytes_done == events[-1].overall_bytes_total


async def test_a_pager_has_no_exact_total(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    events: list[br.DownloadProgress] = []
    outcomes = [
        o
        async for o in emu_client.download_recordings(
            emu_client.list_recordings(status="available"), tmp_path, progress=events.append
        )
    ]
    assert all(e.overall_bytes_total is None and e.overall_bytes_estimate is None for e in events)
    assert events[-1].overall_bytes_known == sum(o.size_bytes or 0 for o in outcomes)
    assert events[-1].recordings_sized == len(outcomes)


async def test_a_single_download_reports_its_size_as_the_total(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rid = available_ids(emu)[0]
    events: list[br.DownloadProgress] = []
    result = await emu_client.download_recording(rid, tmp_path, progress=events.append)
    assert events
    assert all(e.overall_bytes_total == e.bytes_total == result.size_bytes for e in events)


async def test_an_object_replaced_mid_transfer_counts_with_its_new_size(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rid = available_ids(emu)[0]
    old_size = emu.media_size(rid)
    emu.faults.replace_media(rid, after_bytes=8_192, size_bytes=old_size + 5_000)
    events: list[br.DownloadProgress] = []
    result = await emu_client.download_recording(rid, tmp_path, progress=events.append)
    assert result.restarts == 1
    assert result.size_bytes == old_size + 5_000
    assert events[0].overall_bytes_known == old_size
    assert events[-1].overall_bytes_known == events[-1].overall_bytes_total == old_size + 5_000
    assert events[-1].recordings_sized == 1
