"""FileSink's memory behaviour: batches must not be faulted in again after every batch."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bird_recordings import _files

# A batch's life in FileSink: ~256 KiB chunks gathered to 2 MiB, then freed together.
_BATCHES = textwrap.dedent(
    """
    import resource, sys
    from bird_recordings import _files
    if sys.argv[1] == "settled":
        _files.settle_allocator()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(64):  # 128 MiB through 2 MiB batches
        batch = [bytes(bytearray(256 * 1024)) for _ in range(8)]
        del batch
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    env = {"PATH": "", "PYTHONPATH": ":".join(sys.path)}  # no MALLOC_* tuning inherited
    out = subprocess.run(
        [sys.executable, "-c", _BATCHES, mode], capture_output=True, text=True, check=True, env=env
    )
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_settled_allocator_keeps_batch_memory_instead_of_refaulting_it() -> None:
    # 128 MiB is 32,768 pages: unsettled, glibc trims the heap after each batch
    # and faults nearly every page again; settled, the same pages are reused.
    unsettled = _faults("plain")
    settled = _faults("settled")
    assert unsettled > 16_000
    assert settled < 4_000


# -- adaptive batches ---------------------------------------------------------------

CHUNK = 256 * 1024


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the batches handed to the writer thread, in order."""
    sizes: list[int] = []
    original = _files.FileSink._write_out

    def record(self: _files.FileSink, batch: list[bytes], size: int) -> int:
        sizes.append(size)
        return original(self, batch, size)

    monkeypatch.setattr(_files.FileSink, "_write_out", record)
    return sizes


def sink_for(tmp_path: Path, executor: ThreadPoolExecutor) -> _files.FileSink:
    return _files.FileSink(
        tmp_path / "r.mp3", executor=executor, overwrite=False, hash_md5=True, fsync=False
    )


async def test_fast_data_goes_to_the_writer_in_full_batches(
    tmp_path: Path, handed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "EARLY_HANDOFF_INTERVAL_S", 3600.0)  # data outpaces it
    with ThreadPoolExecutor(1) as executor:
        sink = sink_for(tmp_path, executor)
        for _ in range(16):
            await sink.write(bytes(CHUNK))
        await sink.commit(lambda written, md5: None)
    assert handed[:2] == [_files.WRITE_BATCH_BYTES, _files.WRITE_BATCH_BYTES]
    assert (tmp_path / "r.mp3").stat().st_size == 16 * CHUNK


async def test_slow_data_goes_to_an_idle_writer_early(
    tmp_path: Path, handed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if every chunk came after the interval: an idle writer gets it at once,
    # so only the last chunk is left to write and hash after the last byte.
    monkeypatch.setattr(_files, "EARLY_HANDOFF_INTERVAL_S", 0.0)
    with ThreadPoolExecutor(1) as executor:
        sink = sink_for(tmp_path, executor)
        await sink.write(bytes(CHUNK // 2))  # below the early minimum: kept
        assert handed == []
        await sink.write(bytes(CHUNK // 2))
        await sink._wait_pending()
        assert handed == [CHUNK]
        await sink.write(bytes(CHUNK))
        await sink.commit(lambda written, md5: None)
    assert handed == [CHUNK, CHUNK, 0]
    assert sink.md5 == hashlib.md5(bytes(2 * CHUNK), usedforsecurity=False).hexdigest()


# -- the hashing thread offers its core to the loop ------------------------------------


def test_hashing_yields_the_core_every_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    yields: list[float] = []
    monkeypatch.setattr(_files, "_monotonic", lambda: now[0])
    monkeypatch.setattr(_files, "_sched_yield", lambda: yields.append(now[0]))
    monkeypatch.setattr(_files, "_thread_state", threading.local())
    hasher = hashlib.md5(usedforsecurity=False)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        for step in (0.0, 0.001, 0.0005, 0.001, 0.003):
            now[0] += step
            _files._write_all(fd, [b"x" * 10], hasher)
        _files._write_all(fd, [b"y" * 10] * 3, None)  # plain writes never yield
    finally:
        os.close(fd)
    # The first hashed chunk yields; after that, only once 2 ms have passed.
    assert yields == pytest.approx([100.0, 100.0025, 100.0055])
