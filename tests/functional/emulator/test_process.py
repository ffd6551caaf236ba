"""The emulator as a process: ``python -m bird_recordings.emulator`` and ``main()``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from bird_recordings.emulator import main
from bird_recordings.emulator._process import build_parser


async def start_process(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bird_recordings.emulator",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.stdout is not None
    env: dict[str, str] = {}
    while len(env) < 3:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, "the emulator exited before printing its settings"
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value
    return proc, env


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_process_serves_then_exits_cleanly_on_signal(sig: signal.Signals) -> None:
    proc, env = await start_process("--port", "0", "--recordings", "7", "--seed", "3")
    try:
        assert env["BIRD_API_URL"].startswith("http://127.0.0.1:")
        url = f"{env['BIRD_API_URL']}/workspaces/{env['BIRD_WORKSPACE_ID']}/recordings"
        headers = {"Authorization": f"AccessKey {env['BIRD_ACCESS_KEY']}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=headers, params={"limit": 99}) as resp,
        ):
            assert resp.status == 200
            assert len((await resp.json())["results"]) == 7
    finally:
        proc.send_signal(sig)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr


async def test_same_seed_gives_same_key_and_workspace() -> None:
    envs = []
    for _ in range(2):
        proc, env = await start_process("--recordings", "1", "--seed", "9")
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 20)
        envs.append((env["BIRD_ACCESS_KEY"], env["BIRD_WORKSPACE_ID"]))
    assert envs[0] == envs[1]


def test_parser_options() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "8080",
            "--storage-port",
            "0",
            "--recordings",
            "50",
            "--seed",
            "1",
            "--url-expires-s",
            "2",
            "--media-size",
            "1000-2000",
        ]
    )
    assert (args.port, args.storage_port, args.recordings, args.seed) == (8080, 0, 50, 1)
    assert args.url_expires_s == 2
    assert args.media_size == (1000, 2000)
    assert build_parser().parse_args(["--media-size", "5000"]).media_size == 5000
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--media-size", "big"])


def test_main_reports_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--media-size", "10"]) == 2
    assert "error:" in capsys.readouterr().err


async def test_rate_limit_option_limits_the_process() -> None:
    proc, env = await start_process("--recordings", "1", "--rate-limit", "1")
    try:
        url = f"{env['BIRD_API_URL']}/workspaces/{env['BIRD_WORKSPACE_ID']}/recordings"
        headers = {"Authorization": f"AccessKey {env['BIRD_ACCESS_KEY']}"}
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # a bucket of one: the second within a second is refused
                async with session.get(url, headers=headers) as resp:
                    statuses.append((resp.status, resp.headers.get("Retry-After")))
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 20)
    assert statuses == [(200, None), (429, "1")]
    assert build_parser().parse_args([]).rate_limit is None
