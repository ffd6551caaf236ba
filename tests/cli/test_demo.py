"""demo end to end, and rich rendering under a pseudo-terminal."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pexpect

from bird_recordings._cli.demo import DEMO_SEED
from bird_recordings.emulator import BirdEmulator

from .conftest import RUN_TIMEOUT_S, Runner, command, emulator_env
from .test_download import available, sha256


def demo_key() -> str:
    """The access key of the demo's emulator (same seed, same key)."""
    return BirdEmulator(recordings=0, seed=DEMO_SEED).access_key


async def test_demo_end_to_end(tmp_path: Path) -> None:
    run = Runner(None, tmp_path)
    run.secrets.append(demo_key())
    result = await run("demo", "--recordings", "40", "--out", "demo", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.json_lines()
    summary = lines[-1]["summary"]
    files = sorted((tmp_path / "demo").iterdir())
    assert summary["seen"] == 40
    assert summary["downloaded"] == len(files) > 0
    assert summary["not_available"] == 40 - len(files)
    assert summary["failed"] == 0
    assert summary["bytes"] == sum(p.stat().st_size for p in files)
    # The faults were on and were survived.
    assert summary["api_retries"] >= 1
    assert summary["resumes"] >= 1
    assert summary["url_refreshes"] >= 1
    downloaded = {line["id"] for line in lines[:-1] if line["status"] == "downloaded"}
    assert {p.stem for p in files} == downloaded
    # Byte-exact against the same seeded workspace.
    async with BirdEmulator(
        recordings=40, seed=DEMO_SEED, media_size_bytes=(16 * 1024, 2 * 1024 * 1024)
    ) as emu:
        assert sorted(downloaded) == available(emu)
        for path in files:
            assert sha256(path) == emu.media_digest(path.stem, "sha256")


async def test_demo_plain_output_has_the_summary(tmp_path: Path) -> None:
    run = Runner(None, tmp_path)
    run.secrets.append(demo_key())
    result = await run("demo", "--recordings", "12", "--out", "d", "--no-faults")
    assert result.returncode == 0, result.stderr
    for label in ("Demo summary", "recordings seen", "skipped: not available", "throughput"):
        assert label in result.stdout
    assert "verified byte for byte" in result.stdout


def _spawn_under_pty(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    argv = command(*args)
    child = pexpect.spawn(
        argv[0],
        argv[1:],
        env=env,
        cwd=str(cwd),
        dimensions=(40, 140),
        timeout=RUN_TIMEOUT_S,
    )
    child.expect(pexpect.EOF)
    # Bytes, decoded once: a read may end inside a multi-byte character.
    output = bytes(child.before).decode("utf-8")
    child.close()
    return int(child.exitstatus), output


async def test_rich_rendering_on_a_terminal(emu: BirdEmulator, tmp_path: Path) -> None:
    # Slow storage a little so the live progress is drawn at least once.
    emu.faults.latency(0.05, origin="storage", count=None)
    env = emulator_env(emu) | {"TERM": "xterm-256color"}
    # pexpect blocks: run it in a thread so this loop keeps serving the emulator.
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["sync", "--out", "archive", "--concurrency", "4"], env, tmp_path
    )
    assert status == 0, output
    assert emu.access_key not in output
    assert "━" in output  # rich progress bars
    assert "\x1b[" in output  # drawn with terminal control sequences
    assert "Sync summary" in output
    assert "│" in output or "┃" in output  # the summary table's box
    assert "recordings seen" in output
    files = [p for p in (tmp_path / "archive").iterdir() if p.suffix == ".mp3"]
    assert len(files) == len(available(emu))
    digest = hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert digest == emu.media_digest(files[0].stem, "sha256")


async def test_without_rich_a_terminal_gets_plain_lines(emu: BirdEmulator, tmp_path: Path) -> None:
    blocker = tmp_path / "no-rich"
    (blocker / "rich").mkdir(parents=True)
    (blocker / "rich" / "__init__.py").write_text("raise ImportError('rich is not installed')\n")
    env = emulator_env(emu) | {"PYTHONPATH": str(blocker), "TERM": "xterm-256color"}
    status, output = await asyncio.to_thread(
        _spawn_under_pty, ["download", "--all", "--out", "out"], env, tmp_path
    )
    assert status == 0, output
    assert "━" not in output
    assert "Download summary" in output
    # Every listed recording counts in the total; the unavailable ones are skipped.
    assert re.search(rf"\[\d+/{len(emu.recordings)}\] downloaded", output), output
