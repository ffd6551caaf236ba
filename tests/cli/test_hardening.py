"""The command against a hostile or failing file system: symlinks, locks, full disks, SIGTERM.

Issue 12: the manifest is never followed through a symbolic link, one sync at a
time holds a folder, a file-system failure is one line and exit 74 (never a
traceback), SIGTERM stops like Ctrl-C (exit 143), and a run sweeps the
temporary files a killed run left behind.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import bird_recordings._cli.manifest as manifest_module
from bird_recordings._cli.manifest import MANIFEST_NAME, Manifest, sweep_stale_temp_files
from bird_recordings.cli import main
from bird_recordings.emulator import BirdEmulator

from .conftest import RUN_TIMEOUT_S, Runner, emulator_env, start
from .test_download import available, sha256
from .test_sync import assert_archive_complete, manifest_entries

EXIT_FILESYSTEM = 74
EXIT_LOCKED = 75
EXIT_TERMINATED = 143


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "outside" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("do not touch\n")
    return victim


# -- the manifest and symbolic links --------------------------------------------------------


def test_compaction_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    victim = _victim(tmp_path)
    # The names a predictable temporary file would have had (pid-based), planted.
    for name in (f"{MANIFEST_NAME}.{os.getpid()}.tmp", f"{MANIFEST_NAME}.tmp"):
        (folder / name).symlink_to(victim)
    manifest = Manifest(folder)
    manifest.open()
    manifest.compact()
    assert victim.read_text() == "do not touch\n"
    assert not (folder / MANIFEST_NAME).is_symlink()
    lines = (folder / MANIFEST_NAME).read_text().splitlines()
    assert json.loads(lines[0]) == {"manifest": "bird-recordings", "version": 1}


async def test_a_manifest_that_is_a_symlink_is_refused(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    victim = _victim(tmp_path)
    (folder / MANIFEST_NAME).symlink_to(victim)
    result = await run("sync", "--out", "archive")
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    assert "symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert victim.read_text() == "do not touch\n"
    assert not any(r.origin == "storage" for r in emu.requests)  # stopped before any work


# -- one sync per folder -----------------------------------------------------------------


async def test_a_second_sync_into_a_locked_folder_says_so(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    held = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running sync holds
        result = await run("sync", "--out", "archive")
    finally:
        os.close(held)
    assert result.returncode == EXIT_LOCKED, result.stderr
    assert "another sync is running" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / MANIFEST_NAME).exists()
    assert emu.requests == []  # refused before any request
    result = await run("sync", "--out", "archive")  # released: it works again
    assert result.returncode == 0, result.stderr


async def test_two_real_syncs_the_second_is_refused(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    slow = emu.faults.latency(0.25, origin="storage", count=None)
    first = await start(["sync", "--out", "archive", "--concurrency", "2"], run.env(), tmp_path)
    assert first.stdout is not None
    line = await asyncio.wait_for(first.stdout.readline(), RUN_TIMEOUT_S)
    assert line, "the first sync ended early"  # it holds the lock from its first line on
    second = await run("sync", "--out", "archive")
    slow.cancel()
    _, stderr = await asyncio.wait_for(first.communicate(), RUN_TIMEOUT_S)
    assert first.returncode == 0, stderr.decode()
    assert second.returncode == EXIT_LOCKED, second.stderr
    assert "another sync is running" in second.stderr
    assert_archive_complete(emu, tmp_path / "archive")  # nothing lost


# -- file-system failures ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["sync", "download"])
async def test_an_out_that_cannot_be_created_is_one_line(
    run: Runner, emu: BirdEmulator, tmp_path: Path, command: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    extra = ["--all"] if command == "download" else []
    result = await run(command, *extra, "--out", "a-file/archive")
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Not a directory" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
async def test_a_read_only_out_is_one_line(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:  # pragma: no cover - CI runs as a user, this machine as root
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        for args in (["download", "--all"], ["sync"]):
            result = await run(*args, "--out", "ro")
            assert result.returncode == EXIT_FILESYSTEM, result.stderr
            assert "Permission denied" in result.stderr
            assert "Traceback" not in result.stderr
    finally:
        folder.chmod(0o700)


class _FailingWrites:
    """Replaces the manifest's write seam: fail ``times`` writes with ``code``, then write."""

    def __init__(self, code: int, times: int | None, after: int = 0) -> None:
        self.code = code
        self.times = times
        self.after = after
        self.calls = 0

    def __call__(self, fd: int, data: bytes) -> int:
        self.calls += 1
        if self.calls > self.after and (self.times is None or self.times > 0):
            if self.times is not None:
                self.times -= 1
            raise OSError(self.code, os.strerror(self.code))
        return os.write(fd, data)


@pytest.fixture
def in_process(
    emu: BirdEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Run ``main`` in this process (in a thread), pointed at ``emu``, from ``tmp_path``.

    ``main`` configures the library's logger for the command; it is put back
    afterwards so later tests (``caplog``) see the library's records again.
    """
    for key, value in emulator_env(emu).items():
        if key.startswith("BIRD_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    logger = logging.getLogger("bird_recordings")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        yield
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


async def test_a_full_disk_while_appending_keeps_every_entry(
    in_process: None,
    emu: BirdEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The header and two entries go through, the third append hits ENOSPC once;
    # the compaction at the end (the disk has room again) must still name it.
    failing = _FailingWrites(errno.ENOSPC, times=1, after=3)
    monkeypatch.setattr(manifest_module, "write_to_fd", failing)
    code = await asyncio.to_thread(main, ["sync", "--out", "archive", "--concurrency", "1"])
    err = capsys.readouterr().err
    assert code == EXIT_FILESYSTEM, err
    assert "No space left on device" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    folder = tmp_path / "archive"
    on_disk = {p.name.removesuffix(".mp3") for p in folder.glob("*.mp3")}
    entries = manifest_entries(folder)
    assert on_disk <= set(entries)
    assert len(on_disk) >= 3
    for rid in entries:
        assert sha256(folder / f"{rid}.mp3") == emu.media_digest(rid, "sha256")
    assert not [p for p in folder.iterdir() if p.name.endswith((".tmp", ".part"))]


async def test_a_failing_disk_leaves_the_previous_manifest_intact(
    in_process: None,
    emu: BirdEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await asyncio.to_thread(main, ["sync", "--out", "archive", "--limit", "6"]) == 0
    folder = tmp_path / "archive"
    before = (folder / MANIFEST_NAME).read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(manifest_module, "write_to_fd", _FailingWrites(errno.EIO, times=None))
    code = await asyncio.to_thread(main, ["sync", "--out", "archive"])
    err = capsys.readouterr().err
    assert code == EXIT_FILESYSTEM, err
    assert "Input/output error" in err
    assert "Traceback" not in err
    assert (folder / MANIFEST_NAME).read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.endswith((".tmp", ".part"))]


# -- stale temporary files and SIGTERM -----------------------------------------------------


def test_sweep_removes_only_our_old_temporary_files(tmp_path: Path) -> None:
    start_s = time.time()
    old = start_s - 3600
    nested = tmp_path / "2024" / "05"
    nested.mkdir(parents=True)
    ours = [
        tmp_path / ".5b74ee9e.mp3.1a2b3c4d5e6f0.part",
        nested / ".x.mp3.fe12abc3.part",
        tmp_path / f"{MANIFEST_NAME}.k2j_x9ab.tmp",
    ]
    theirs = [
        tmp_path / "notes.part",  # not hidden
        tmp_path / ".keep.part",  # no random part
        tmp_path / ".x.mp3.NOTHEX12.part",
        tmp_path / "5b74ee9e.mp3",
    ]
    for path in ours + theirs:
        path.write_text("x")
        os.utime(path, (old, old))
    fresh = tmp_path / ".y.mp3.abcdef12.part"  # written after the run started: another run's
    fresh.write_text("x")
    os.utime(fresh, (start_s + 5, start_s + 5))
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    target = outside / ".z.mp3.abcdef12.part"
    target.write_text("x")
    os.utime(target, (old, old))
    (tmp_path / "link").symlink_to(outside)  # never followed

    assert sweep_stale_temp_files(tmp_path, before=start_s) == len(ours)
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in [*theirs, fresh, target])


async def test_sigterm_stops_a_sync_cleanly_and_the_next_run_sweeps(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    leftover = folder / ".0123abcd.mp3.5f3e9a1b2c.part"  # what a SIGKILLed run left
    leftover.write_bytes(b"partial")
    long_ago = time.time() - 3600
    os.utime(leftover, (long_ago, long_ago))
    # Slow, throttled storage so the signal lands while transfers are running.
    slow = emu.faults.throttle(64_000, origin="storage", count=None)
    proc = await start(["sync", "--out", "archive", "--concurrency", "2"], run.env(), tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    while len([line for line in seen if line.startswith("[")]) < 2:
        line = await asyncio.wait_for(proc.stdout.readline(), RUN_TIMEOUT_S)
        assert line, "the command ended before it was stopped"
        seen.append(line.decode())
    assert not leftover.exists()  # swept at the start of the run
    proc.send_signal(signal.SIGTERM)
    rest, stderr = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    output = "".join(seen) + rest.decode()
    assert proc.returncode == EXIT_TERMINATED, stderr.decode()
    assert "interrupted" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert "Sync summary" in output
    names = {p.name for p in folder.iterdir()}
    assert not [n for n in names if n.endswith((".part", ".tmp"))]  # cleaned up
    entries = manifest_entries(folder)  # written and consistent
    assert 2 <= len(entries) < len(available(emu))
    for rid in entries:
        assert sha256(folder / f"{rid}.mp3") == emu.media_digest(rid, "sha256")
    slow.cancel()
    result = await run("sync", "--out", "archive")
    assert result.returncode == 0, result.stderr
    assert_archive_complete(emu, folder)


# -- --name templates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["{duration:>9999999999}", "{id!r}", "{id.__class__}", "{id[0]}"]
)
async def test_an_unsafe_name_template_is_refused_before_any_request(
    run: Runner, emu: BirdEmulator, tmp_path: Path, template: str
) -> None:
    result = await run("download", "--all", "--out", "out", "--name", template)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--name" in result.stderr
    assert "Traceback" not in result.stderr
    assert emu.requests == []
    assert not (tmp_path / "out").exists()


async def test_sigterm_stops_a_download_cleanly(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    slow = emu.faults.throttle(64_000, origin="storage", count=None)
    proc = await start(
        ["download", "--all", "--out", "out", "--concurrency", "2"], run.env(), tmp_path
    )
    assert proc.stdout is not None
    line = b""
    while not (line.startswith(b"[") and b"] downloaded" in line):
        line = await asyncio.wait_for(proc.stdout.readline(), RUN_TIMEOUT_S)
        assert line, "the command ended before it was stopped"
    proc.send_signal(signal.SIGTERM)
    rest, stderr = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    slow.cancel()
    assert proc.returncode == EXIT_TERMINATED, stderr.decode()
    assert "Download summary" in rest.decode()
    files = list((tmp_path / "out").iterdir())
    assert not [p for p in files if p.name.endswith(".part")]
    assert 1 <= len(files) < len(available(emu))
    for path in files:
        assert sha256(path) == emu.media_digest(path.stem, "sha256")


def test_download_leaves_a_running_syncs_temporary_files_alone(tmp_path: Path) -> None:
    from bird_recordings._cli.manifest import sweep_unless_syncing

    old = time.time() - 3600
    part = tmp_path / ".x.mp3.abcdef12.part"
    part.write_text("x")
    os.utime(part, (old, old))
    syncing = Manifest(tmp_path)
    syncing.lock()
    try:
        assert sweep_unless_syncing(tmp_path, before=time.time()) == 0
        assert part.exists()
    finally:
        syncing.unlock()
    assert sweep_unless_syncing(tmp_path, before=time.time()) == 1
    assert not part.exists()
