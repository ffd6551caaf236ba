"""Fixtures for the integration examples in ``docs/examples``: an emulator on loopback,
the examples loaded as modules, and an event-driven view of the emulator's request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn

from bird_recordings.emulator import BirdEmulator, RequestRecord

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
#: Upper bound on any wait in these tests; reaching it is a failure, not a delay.
WAIT_S = 15.0


def load_example(name: str) -> ModuleType:
    """Import ``docs/examples/<name>.py`` as a module (once per session)."""
    module_name = f"bird_examples_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class RequestLog(list[RequestRecord]):
    """The emulator's request log, with an event set on every new record.

    An origin appends a record when it has *finished* handling a request, so
    waiting for one is how a test learns, without sleeping, that a transfer ended.
    """

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def append(self, record: RequestRecord) -> None:
        super().append(record)
        self.changed.set()

    async def wait_for(self, predicate: Callable[[RequestRecord], bool]) -> RequestRecord:
        """The first record matching ``predicate``, waiting for it if needed."""
        async with asyncio.timeout(WAIT_S):
            while True:
                for record in self:
                    if predicate(record):
                        return record
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    """An emulator with 12 small recordings and an observable request log."""
    async with BirdEmulator(recordings=12, seed=5, media_size_bytes=(16_384, 98_304)) as emulator:
        emulator.requests = RequestLog()
        yield emulator


@pytest.fixture
def request_log(emu: BirdEmulator) -> RequestLog:
    """``emu.requests`` as a :class:`RequestLog`."""
    assert isinstance(emu.requests, RequestLog)
    return emu.requests


@pytest.fixture
def client_options(emu: BirdEmulator) -> dict[str, Any]:
    """``RecordingsClient`` options that point at ``emu``."""
    return {
        "access_key": emu.access_key,
        "workspace_id": emu.workspace_id,
        "base_url": emu.base_url,
        "rate_limit": None,
    }


@pytest.fixture
def bird_env(emu: BirdEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment variables a user would set, pointing at ``emu``."""
    env = {
        "BIRD_ACCESS_KEY": emu.access_key,
        "BIRD_WORKSPACE_ID": emu.workspace_id,
        "BIRD_API_URL": emu.base_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def available_ids(emu: BirdEmulator) -> list[str]:
    """Ids of the emulator's recordings whose media can be downloaded."""
    return sorted(rid for rid, rec in emu.recordings.items() if rec.is_available)


@contextlib.asynccontextmanager
async def uvicorn_server(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a loopback port; yield its base URL.

    The listening socket is bound before the server starts, so clients can
    connect at once (the kernel queues them until uvicorn accepts): no waiting
    for start-up is needed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
