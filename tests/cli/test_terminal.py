"""What a person sees on a terminal (pseudo-terminal via pexpect) and in a pipe.

Server text (ids, channel ids, statuses, Bird's error messages) is printed
literally, never interpreted as rich markup.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings._cli.ui import UI, ItemOutcome, ProgressView
from bird_recordings.emulator import BirdEmulator

from .conftest import Runner, emulator_env
from .test_demo import _spawn_under_pty
from .test_download import available

MARKUP = "[/]x[bold]y[/bold]"


def terminal_env(emu: BirdEmulator) -> dict[str, str]:
    """The environment of a run under a pseudo-terminal."""
    return emulator_env(emu) | {"TERM": "xterm-256color"}


def _bird_error(message: str) -> str:
    return json.dumps({"code": "NotFound", "message": message})


async def test_server_text_with_markup_prints_literally_on_a_terminal(
    emu: BirdEmulator, run: Runner, tmp_path: Path
) -> None:
    rec = emu.add_recording(status="available", channel_id=MARKUP)
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["list", "--limit", "200"], terminal_env(emu), tmp_path
    )
    assert status == 0, output
    assert "MarkupError" not in output
    assert "[/]x[bold]y" in output.replace("\r\n", "")  # literal (the table may fold it)

    emu.faults.status(
        404,
        body=_bird_error(f"gone {MARKUP}"),
        content_type="application/json",
        recording_id=rec.id,
        count=None,
    )
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["download", rec.id, "--out", "out"], terminal_env(emu), tmp_path
    )
    assert status == 1, output
    assert "MarkupError" not in output
    assert "Traceback" not in output
    assert f"gone {MARKUP}" in output


async def test_server_text_with_markup_prints_literally_when_piped(
    emu: BirdEmulator, run: Runner
) -> None:
    rec = emu.add_recording(status="available", channel_id=MARKUP)
    emu.faults.status(
        404,
        body=_bird_error(f"gone {MARKUP}"),
        content_type="application/json",
        recording_id=rec.id,
        count=None,
    )
    result = await run("download", rec.id, "--out", "out")
    assert result.returncode == 1
    assert f"gone {MARKUP}" in result.stdout + result.stderr
    result = await run("list", "--limit", "200")
    assert result.returncode == 0, result.stderr
    assert MARKUP in {line.get("channel_id") for line in result.json_lines()}


# -- progress --------------------------------------------------------------------------------

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def test_totals_include_failed_lookups(
    emu: BirdEmulator, run: Runner, tmp_path: Path
) -> None:
    [rid] = available(emu)[:1]
    status, output = await asyncio.to_thread(
        _spawn_under_pty,
        ["download", rid, UNKNOWN_ID, "--out", "out"],
        terminal_env(emu),
        tmp_path,
    )
    assert status == 1, output
    assert "2/2" in output
    assert "2/1" not in output and "1/0" not in output
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["download", UNKNOWN_ID, "--out", "out"], terminal_env(emu), tmp_path
    )
    assert status == 1, output
    assert "1/1" in output
    assert "1/0" not in output
    # Piped, the same numbers.
    result = await run("download", rid, UNKNOWN_ID, "--out", "piped")
    assert "[1/2] failed" in result.stdout
    assert "[2/2] downloaded" in result.stdout


@pytest.fixture
async def big_emu() -> AsyncIterator[BirdEmulator]:
    """More than one page of recordings (pages are 99)."""
    async with BirdEmulator(recordings=150, seed=3, media_size_bytes=16_384) as emulator:
        yield emulator


async def test_listing_shows_a_running_count_and_rate_limit_waits(
    big_emu: BirdEmulator, tmp_path: Path
) -> None:
    emu = big_emu
    # Each page takes a moment, so "99 listed" is on screen while the next one comes.
    emu.faults.latency(0.4, origin="api", count=None, path_contains="/recordings", method="GET")
    emu.faults.status(429, retry_after=1, count=1, path_contains="/recordings", method="GET")
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["sync", "--out", "archive", "--dry-run"], terminal_env(emu), tmp_path
    )
    assert status == 0, output
    assert "listing recordings… 99 listed" in output
    assert "rate-limited, retrying in 1 s" in output
    assert "retry 1 in" not in output  # the library's INFO log stays off without -v


async def test_rate_limit_waits_are_a_line_when_piped(
    big_emu: BirdEmulator, tmp_path: Path
) -> None:
    big_emu.faults.status(429, retry_after=1, count=1, path_contains="/recordings", method="GET")
    result = await Runner(big_emu, tmp_path)("sync", "--out", "archive", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "rate-limited, retrying in 1 s" in result.stdout.splitlines()
    assert result.stderr == ""


def test_a_finished_transfer_shows_verifying_without_a_rate() -> None:
    ui = UI("rich", stdout=io.StringIO())
    rid = "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd"

    def event(done: int, *, finished: bool = False) -> br.DownloadProgress:
        return br.DownloadProgress(
            recording_id=rid,
            bytes_done=done,
            bytes_total=1000,
            overall_bytes_done=done,
            recordings_done=int(finished),
            recordings_total=1,
            finished=finished,
        )

    with ui.progress("downloading") as view:
        assert isinstance(view, ProgressView)
        view.set_total(1)
        view.update(event(400))
        view.update(event(700))
        running = view.snapshot()  # type: ignore[attr-defined]
        assert "5b74ee9e…" in running
        assert "verifying" not in running
        view.update(event(1000))
        verifying = view.snapshot()  # type: ignore[attr-defined]
        row = next(line for line in verifying.splitlines() if "5b74ee9e" in line)
        assert "verifying" in row
        assert "/s" not in row  # no rate once the bytes are in
        view.update(event(1000, finished=True))
        assert "5b74ee9e" not in view.snapshot()  # type: ignore[attr-defined]
        view.finished(ItemOutcome(recording_id=rid, status="downloaded", size_bytes=1000))
        overall = view.snapshot()  # type: ignore[attr-defined]
        assert "1/1" in overall
        assert "files/s" in overall


async def test_the_overall_line_and_summary_show_files_per_second(
    emu: BirdEmulator, run: Runner, tmp_path: Path
) -> None:
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["download", "--all", "--out", "out"], terminal_env(emu), tmp_path
    )
    assert status == 0, output
    assert "files/s" in output
    result = await run("download", "--all", "--out", "piped", "--json")
    summary = result.json_lines()[-1]["summary"]
    assert summary["files_per_s"] > 0


# -- summaries, metrics, dry run -----------------------------------------------------------


def summary_block(stdout: str, title: str) -> list[str]:
    """The summary's rows (the lines after ``title`` that are indented)."""
    lines = stdout.splitlines()
    start = lines.index(title) + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        rows.append(line.strip())
    return rows


async def test_a_one_item_run_has_a_short_summary(emu: BirdEmulator, run: Runner) -> None:
    [rid] = available(emu)[:1]
    result = await run("download", rid, "--out", "out")
    assert result.returncode == 0, result.stderr
    rows = summary_block(result.stdout, "Download summary")
    labels = [row.rsplit("  ", 1)[0].strip() for row in rows]
    assert labels[:3] == ["recordings seen", "downloaded", "failed"]
    assert len(rows) <= 7, rows
    assert not [label for label in labels if "retries" in label or label == "restarts"]
    assert "files/s" in labels


async def test_metrics_piped_is_json_like_list_and_get(emu: BirdEmulator, run: Runner) -> None:
    for args in (["metrics"], ["metrics", "--json"]):
        result = await run(*args)
        assert result.returncode == 0, result.stderr
        [line] = result.json_lines()
        assert line["counter"] == len(emu.recordings)


def tree(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` with its modification time and content."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


async def test_sync_dry_run_says_what_and_writes_nothing(
    emu: BirdEmulator, run: Runner, tmp_path: Path
) -> None:
    result = await run("sync", "--out", "never", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "never").exists()  # not even created
    assert f"{len(available(emu))} to download" in result.stdout

    assert (await run("sync", "--out", "archive", "--limit", "10")).returncode == 0
    folder = tmp_path / "archive"
    before = tree(folder)
    emu.clear_requests()
    result = await run("sync", "--out", "archive", "--dry-run", "--delete-remote", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.json_lines()
    would = {line["id"] for line in lines if line.get("status") == "would-download"}
    kept = {p.name.removesuffix(".mp3") for p in folder.glob("*.mp3")}
    assert would == set(available(emu)) - kept
    deletions = {line["id"] for line in lines if line.get("status") == "would-delete-remote"}
    assert deletions == set(available(emu))
    assert lines[-1]["dry_run"]["would_download"] == len(would)
    assert tree(folder) == before  # nothing written, not even the manifest
    assert {r.method for r in emu.requests} == {"GET"}  # nothing deleted
    assert not [r for r in emu.requests if r.origin == "storage"]
    assert len(emu.recordings) == 24
