"""A finished download leaves no async generator for the garbage collector.

asyncio finalizes an abandoned async generator through a hook that wakes the
loop (``call_soon_threadsafe``, a self-pipe write): a cost per file in bulk.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

pytestmark = pytest.mark.asyncio


async def test_download_closes_the_body_generator(
    emu: BirdEmulator,
    emu_client: br.RecordingsClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec = emu.add_recording(size_bytes=600_000)
    await emu_client.download_recording(rec.id, tmp_path / "warm.mp3")  # URLs, connections

    hooks = sys.get_asyncgen_hooks()
    assert hooks.finalizer is not None
    finalized: list[str] = []

    def finalizer(agen: AsyncGenerator[Any, Any]) -> None:
        finalized.append(getattr(agen, "__qualname__", repr(agen)))
        assert hooks.finalizer is not None
        hooks.finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    try:
        for n in range(3):
            await emu_client.download_recording(rec.id, tmp_path / f"{n}.mp3")
    finally:
        sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=hooks.finalizer)
    assert finalized == []
    assert (tmp_path / "2.mp3").stat().st_size == 600_000
