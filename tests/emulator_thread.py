"""A BirdEmulator served from a thread of its own, for tests whose code blocks.

Blocking clients, Celery worker processes and command-line subprocesses reach
it over loopback while the test thread waits on them. Everything that touches
the emulator's state goes through :meth:`EmulatorThread.call`, on its loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from bird_recordings.emulator import BirdEmulator

T = TypeVar("T")

#: Upper bound on starting or stopping the emulator: reaching it fails the test.
TIMEOUT_S = 60.0


class EmulatorThread:
    """The running emulator (``.emu``) and a way to act on it from the test thread."""

    def __init__(self, emu: BirdEmulator, loop: asyncio.AbstractEventLoop) -> None:
        self.emu = emu
        self.loop = loop

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the emulator's loop thread and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(TIMEOUT_S)

    def wait_etags(self) -> None:
        """``await emu.wait_etags()`` on the emulator's loop."""
        asyncio.run_coroutine_threadsafe(self.emu.wait_etags(), self.loop).result(TIMEOUT_S)

    def env(self) -> dict[str, str]:
        """``BIRD_API_URL``, ``BIRD_ACCESS_KEY``, ``BIRD_WORKSPACE_ID`` for a subprocess."""
        return {
            "BIRD_API_URL": self.emu.base_url,
            "BIRD_ACCESS_KEY": self.emu.access_key,
            "BIRD_WORKSPACE_ID": self.emu.workspace_id,
        }


@contextmanager
def emulator_thread(**options: Any) -> Iterator[EmulatorThread]:
    """Start ``BirdEmulator(**options)`` on a new thread; stop it on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator", daemon=True)
    thread.start()
    emu = BirdEmulator(**options)
    try:
        asyncio.run_coroutine_threadsafe(emu.__aenter__(), loop).result(TIMEOUT_S)
        try:
            running = EmulatorThread(emu, loop)
            running.wait_etags()
            yield running
        finally:
            asyncio.run_coroutine_threadsafe(emu.__aexit__(None, None, None), loop).result(
                TIMEOUT_S
            )
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT_S)
        loop.close()
