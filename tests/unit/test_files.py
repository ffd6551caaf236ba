"""FileSink's memory behaviour: batches must not be faulted in again after every batch."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

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
