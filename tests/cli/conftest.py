"""Fixtures for the command-line tests: an emulator in the test's loop, the real command.

The command runs as ``python -m bird_recordings`` in a subprocess started with
``asyncio.create_subprocess_exec``, so the test's event loop keeps serving the
emulator while the command talks to it. Every run asserts that the access key
appears nowhere in the output.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from bird_recordings.emulator import BirdEmulator

RUN_TIMEOUT_S = 60.0


@attrs.frozen
class Result:
    """A finished command."""

    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        """stdout parsed as JSON lines (every line must parse)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def base_env() -> dict[str, str]:
    """The test process's environment without any Bird settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIRD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("COLUMNS", None)
    return env


def emulator_env(emu: BirdEmulator) -> dict[str, str]:
    """Environment pointing the command at ``emu``."""
    return base_env() | {
        "BIRD_ACCESS_KEY": emu.access_key,
        "BIRD_WORKSPACE_ID": emu.workspace_id,
        "BIRD_API_URL": emu.base_url,
    }


def command(*args: str) -> list[str]:
    """argv of the real command."""
    return [sys.executable, "-m", "bird_recordings", *args]


async def start(
    args: Sequence[str], env: Mapping[str, str], cwd: Path
) -> asyncio.subprocess.Process:
    """Start the command with piped stdout and stderr."""
    return await asyncio.create_subprocess_exec(
        *command(*args),
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


class Runner:
    """Runs the command against one emulator (or none) and checks the key never leaks."""

    def __init__(self, emu: BirdEmulator | None, cwd: Path) -> None:
        self.emu = emu
        self.cwd = cwd
        self.secrets: list[str] = [emu.access_key] if emu is not None else []

    def env(self) -> dict[str, str]:
        """The environment of a run."""
        return emulator_env(self.emu) if self.emu is not None else base_env()

    def check_no_secret(self, *texts: str) -> None:
        """Fail if a secret appears in any of ``texts``."""
        for secret in self.secrets:
            for text in texts:
                assert secret not in text, "the access key leaked into the output"

    async def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        """Run to completion."""
        proc = await start(args, env if env is not None else self.env(), self.cwd)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
        assert proc.returncode is not None
        result = Result(proc.returncode, stdout.decode(), stderr.decode())
        self.check_no_secret(result.stdout, result.stderr)
        return result


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    """An emulator with 24 small seeded recordings (a mix of statuses)."""
    async with BirdEmulator(recordings=24, seed=5, media_size_bytes=(16_384, 196_608)) as emulator:
        yield emulator


@pytest.fixture
def run(emu: BirdEmulator, tmp_path: Path) -> Runner:
    """Run ``bird-recordings`` against ``emu`` in ``tmp_path``."""
    return Runner(emu, tmp_path)
