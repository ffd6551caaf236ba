"""archive_shard into a DirectorySink, against the emulator."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bird_recordings as br
from bird_recordings.archive import DirectorySink, Shard, archive_shard, plan_archive
from bird_recordings.emulator import BirdEmulator, RequestRecord


def _available(emu: BirdEmulator) -> set[str]:
    return {rid for rid, rec in emu.recordings.items() if rec.status == "available"}


def _media_gets(emu: BirdEmulator) -> list[RequestRecord]:
    return [r for r in emu.requests if r.origin == "storage" and r.method == "GET"]


def _plan() -> list[Shard]:
    now = datetime.now(UTC)
    return plan_archive(
        now - timedelta(days=31), now + timedelta(minutes=1), shard=timedelta(days=2)
    )


async def test_every_available_recording_is_archived_byte_exact_with_metadata(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    sink = DirectorySink(tmp_path / "archive")
    reports = [await archive_shard(emu_client, shard, sink) for shard in _plan()]
    expected = _available(emu)
    assert sum(r.archived for r in reports) == len(expected)
    assert all(r.ok for r in reports)
    names = {p.name for p in (tmp_path / "archive").iterdir() if not p.name.startswith(".")}
    assert names == {f"{rid}.mp3" for rid in expected} | {f"{rid}.json" for rid in expected}
    for rid in expected:
        body = (tmp_path / "archive" / f"{rid}.mp3").read_bytes()
        assert body == emu.media_bytes(rid)
        meta = json.loads((tmp_path / "archive" / f"{rid}.json").read_bytes())
        assert meta["media"] == {
            "name": f"{rid}.mp3",
            "sizeBytes": len(body),
            "md5": hashlib.md5(body, usedforsecurity=False).hexdigest(),
        }
        assert meta["recording"]["id"] == rid
        assert "url" not in meta["recording"]  # a presigned URL is a credential
    statuses = await sink.read_statuses()
    assert {s["state"] for s in statuses} == {"done"}
    assert len(statuses) == len(_plan())


async def test_running_again_downloads_nothing_and_repairs_what_a_crash_left(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    sink = DirectorySink(tmp_path)
    plan = _plan()
    for shard in plan:
        await archive_shard(emu_client, shard, sink)
    held = sorted(_available(emu))
    # A crash between the two files, and a corrupted file.
    (tmp_path / f"{held[0]}.json").unlink()
    with (tmp_path / f"{held[1]}.mp3").open("r+b") as handle:
        handle.write(b"XX")
    emu.requests.clear()
    reports = [await archive_shard(emu_client, shard, sink) for shard in plan]
    assert sum(r.archived for r in reports) == 2
    assert sum(r.skipped for r in reports) == len(held) - 2
    assert {r.recording_id for r in _media_gets(emu)} == {held[0], held[1]}
    for rid in held[:2]:
        assert (tmp_path / f"{rid}.mp3").read_bytes() == emu.media_bytes(rid)
    emu.requests.clear()
    assert sum([(await archive_shard(emu_client, s, sink)).archived for s in plan]) == 0
    assert _media_gets(emu) == []


async def test_a_recording_added_to_a_past_window_is_picked_up(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    sink = DirectorySink(tmp_path)
    plan = _plan()
    for shard in plan:
        await archive_shard(emu_client, shard, sink)
    past = plan[3]
    late = emu.add_recording(
        status="available", size_bytes=5_000, created_at=past.start + timedelta(hours=1)
    )
    await emu.wait_etags()
    report = await archive_shard(emu_client, past, sink)
    assert report.archived == 1
    assert (tmp_path / f"{late.id}.mp3").read_bytes() == emu.media_bytes(late.id)


async def test_one_failed_recording_is_reported_and_the_rest_archived(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    shard = max(
        _plan(),
        key=lambda s: len(
            [
                r
                for r in emu.recordings.values()
                if r.status == "available" and s.contains(r.created_at)
            ]
        ),
    )
    inside = sorted(
        rid
        for rid, r in emu.recordings.items()
        if r.status == "available" and shard.contains(r.created_at)
    )
    emu.faults.status(404, origin="storage", recording_id=inside[0], count=None)
    sink = DirectorySink(tmp_path)
    report = await archive_shard(emu_client, shard, sink)
    assert set(report.failures) == {inside[0]}
    assert report.archived == len(inside) - 1
    assert not (tmp_path / f"{inside[0]}.mp3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    (status,) = await sink.read_statuses()
    assert status["state"] == "failed"
    assert status["failed"] == 1
