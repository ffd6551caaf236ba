"""sync: idempotent archive, zero media requests when up to date, resumable after Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import timedelta
from pathlib import Path

from bird_recordings.emulator import BirdEmulator

from .conftest import RUN_TIMEOUT_S, Runner, start
from .test_download import available, sha256

MANIFEST = ".bird-recordings-manifest.jsonl"


def manifest_entries(folder: Path) -> dict[str, dict[str, object]]:
    """The manifest's entries by id (the header line skipped)."""
    lines = (folder / MANIFEST).read_text().splitlines()
    assert json.loads(lines[0]) == {"manifest": "bird-recordings", "version": 1}
    entries = [json.loads(line) for line in lines[1:]]
    return {str(e["id"]): e for e in entries}


def assert_archive_complete(emu: BirdEmulator, folder: Path) -> None:
    """Every available recording is on disk, byte-exact, and in the manifest."""
    entries = manifest_entries(folder)
    assert sorted(entries) == available(emu)
    for rid in available(emu):
        assert sha256(folder / f"{rid}.mp3") == emu.media_digest(rid, "sha256")
        assert entries[rid]["size_bytes"] == emu.media_size(rid)
    names = {p.name for p in folder.iterdir()}
    assert names == {MANIFEST} | {f"{rid}.mp3" for rid in available(emu)}


def storage_requests(emu: BirdEmulator) -> list[str]:
    """Paths of the media requests the emulator received."""
    return [r.path for r in emu.requests if r.origin == "storage"]


async def test_second_sync_makes_no_media_requests(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    result = await run("sync", "--out", "archive")
    assert result.returncode == 0, result.stderr
    assert_archive_complete(emu, tmp_path / "archive")
    assert storage_requests(emu)

    emu.clear_requests()
    result = await run("sync", "--out", "archive", "--json")
    assert result.returncode == 0, result.stderr
    summary = result.json_lines()[-1]["summary"]
    assert summary["downloaded"] == 0
    assert summary["up_to_date"] == len(available(emu))
    assert storage_requests(emu) == []
    assert {r.origin for r in emu.requests} == {"api"}
    assert_archive_complete(emu, tmp_path / "archive")


async def test_sync_fetches_only_what_changed_or_is_missing(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    assert (await run("sync", "--out", "archive")).returncode == 0
    changed, removed = available(emu)[:2]
    emu.replace_media(changed, size_bytes=20_000)
    rec = emu.recordings[changed]
    emu.update_recording(changed, updated_at=rec.updated_at + timedelta(seconds=5))
    (folder / f"{removed}.mp3").unlink()

    emu.clear_requests()
    result = await run("sync", "--out", "archive", "--json")
    assert result.returncode == 0, result.stderr
    downloaded = sorted(
        line["id"] for line in result.json_lines() if line.get("status") == "downloaded"
    )
    assert downloaded == sorted([changed, removed])
    assert {r.recording_id for r in emu.requests if r.origin == "storage"} == {changed, removed}
    assert_archive_complete(emu, folder)


async def test_interrupted_sync_resumes_and_completes(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    # Slow storage, so Ctrl-C lands while downloads are in flight.
    slow = emu.faults.latency(0.25, origin="storage", count=None)
    proc = await start(["sync", "--out", "archive", "--concurrency", "2"], run.env(), tmp_path)
    assert proc.stdout is not None
    assert proc.stderr is not None
    seen: list[str] = []
    while len([line for line in seen if line.startswith("[")]) < 3:
        line = await asyncio.wait_for(proc.stdout.readline(), RUN_TIMEOUT_S)
        assert line, "the command ended before it was interrupted"
        seen.append(line.decode())
    proc.send_signal(signal.SIGINT)
    rest, stderr = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    output = "".join(seen) + rest.decode()
    run.check_no_secret(output, stderr.decode())
    assert proc.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode()
    assert "Sync summary" in output  # the summary is still printed

    # Consistent: every manifest entry is a complete file and nothing partial
    # remains. A Ctrl-C that lands between a file's rename and its manifest line
    # leaves a complete file the manifest does not name yet; the rerun fetches it.
    entries = manifest_entries(folder)
    files = {p.name for p in folder.iterdir()} - {MANIFEST}
    assert {f"{rid}.mp3" for rid in entries} <= files
    assert len(files) - len(entries) <= 2  # at most the downloads in flight
    assert 3 <= len(entries) < len(available(emu))
    for name in files:
        rid = name.removesuffix(".mp3")
        assert sha256(folder / name) == emu.media_digest(rid, "sha256")

    slow.cancel()
    emu.clear_requests()
    result = await run("sync", "--out", "archive", "--json")
    assert result.returncode == 0, result.stderr
    summary = result.json_lines()[-1]["summary"]
    assert summary["up_to_date"] == len(entries)
    assert summary["downloaded"] == len(available(emu)) - len(entries)
    # Only the missing recordings were fetched.
    fetched = {r.recording_id for r in emu.requests if r.origin == "storage"}
    assert fetched.isdisjoint(entries)
    assert_archive_complete(emu, folder)


async def test_sync_delete_remote_after_verification(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    result = await run("sync", "--out", "archive", "--delete-remote")  # no --yes, no terminal
    assert result.returncode == 2
    assert len(emu.recordings) == 24
    ids = available(emu)
    result = await run("sync", "--out", "archive", "--delete-remote", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json_lines()[-1]["summary"]["deleted_remote"] == len(ids)
    assert not set(ids) & set(emu.recordings)
    entries = manifest_entries(tmp_path / "archive")
    assert all(entries[rid]["deleted_remote"] for rid in ids)
    for rid in ids:
        assert (tmp_path / "archive" / f"{rid}.mp3").exists()
