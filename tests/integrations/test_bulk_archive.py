"""docs/examples/bulk_archive.py: in-process and as a standalone script."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

from .conftest import EXAMPLES, WAIT_S, load_example

bulk_archive = load_example("bulk_archive")


def _ms(value: datetime) -> datetime:
    """As the client sends it: RFC 3339 with milliseconds."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def date_range(emu: BirdEmulator) -> tuple[datetime, datetime, set[str]]:
    """A range that leaves some recordings out, and the available ids inside it.

    The emulator treats ``startAt`` as inclusive and ``endAt`` as exclusive.
    """
    created = sorted(rec.created_at for rec in emu.recordings.values())
    since, until = created[2], created[-3]
    expected = {
        rid
        for rid, rec in emu.recordings.items()
        if rec.is_available and _ms(since) <= rec.created_at < _ms(until)
    }
    assert 0 < len(expected) < sum(rec.is_available for rec in emu.recordings.values())
    return since, until, expected


def assert_archive(emu: BirdEmulator, dest: Path, expected: set[str]) -> None:
    """``dest`` holds exactly the expected recordings, byte for byte, and nothing else."""
    names = sorted(p.name for p in dest.iterdir())
    assert names == sorted(f"{rid}.mp3" for rid in expected)
    for rid in expected:
        digest = hashlib.sha256((dest / f"{rid}.mp3").read_bytes()).hexdigest()
        assert digest == emu.media_digest(rid)


async def test_archive_is_resumable(
    emu: BirdEmulator, client_options: dict[str, Any], tmp_path: Path
) -> None:
    since, until, expected = date_range(emu)
    dest = tmp_path / "archive"
    output = io.StringIO()
    console = Console(file=output, width=120)
    async with br.RecordingsClient(**client_options) as client:
        first = await bulk_archive.archive(
            client, since=since, until=until, dest=dest, concurrency=4, console=console
        )
        assert {o.recording_id for o in first} == expected
        assert {o.status for o in first} == {"downloaded"}
        assert_archive(emu, dest, expected)

        # An interrupted run: one file never made it. Re-running fills the gap only.
        lost = sorted(expected)[0]
        (dest / f"{lost}.mp3").unlink()
        second = await bulk_archive.archive(
            client, since=since, until=until, dest=dest, console=console, show_progress=False
        )
    statuses = {o.recording_id: o.status for o in second}
    assert statuses.pop(lost) == "downloaded"
    assert set(statuses.values()) == {"skipped"}
    assert_archive(emu, dest, expected)
    assert f"already complete {len(expected) - 1}" in output.getvalue()


async def test_failures_are_reported_and_set_the_exit_status(
    emu: BirdEmulator, bird_env: dict[str, str], tmp_path: Path
) -> None:
    since, until, expected = date_range(emu)
    broken = sorted(expected)[0]
    emu.faults.status(403, origin="storage", count=None, recording_id=broken)
    args = bulk_archive.parse_args(
        [
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
            "--dest",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert await bulk_archive.run(args) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{rid}.mp3" for rid in expected - {broken}
    )


async def test_standalone_script(emu: BirdEmulator, tmp_path: Path) -> None:
    since, until, expected = date_range(emu)
    dest = tmp_path / "archive"
    env = {
        **os.environ,
        "BIRD_ACCESS_KEY": emu.access_key,
        "BIRD_WORKSPACE_ID": emu.workspace_id,
        "BIRD_API_URL": emu.base_url,
    }
    command = [sys.executable, str(EXAMPLES / "bulk_archive.py")]
    command += ["--since", since.isoformat(), "--until", until.isoformat(), "--dest", str(dest)]
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(WAIT_S * 4):
        _stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert f"downloaded {len(expected)}, already complete 0, failed 0" in stderr.decode()
    assert_archive(emu, dest, expected)


async def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "bulk_archive.py"),
        "--since",
        "2026-12-01",
        "--until",
        "2026-11-01",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(WAIT_S * 2):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert b"--since must be before --until" in stderr
