"""What a person sees on a terminal (pseudo-terminal via pexpect) and in a pipe.

Server text (ids, channel ids, statuses, Bird's error messages) is printed
literally, never interpreted as rich markup.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bird_recordings.emulator import BirdEmulator

from .conftest import Runner, emulator_env
from .test_demo import _spawn_under_pty

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
