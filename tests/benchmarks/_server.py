"""The emulator in its own process, pinned to core 0, driven over stdin/stdout.

``python -m tests.benchmarks._server --seed 1 --recordings 0`` starts a
:class:`~bird_recordings.emulator.BirdEmulator` (request log off), prints one JSON
line with the connection details, then answers one JSON command per stdin line
with one JSON line on stdout until stdin closes:

- ``{"op": "add", "count": n, "size": bytes}`` → ``{"ids": [...]}`` (digests warmed)
- ``{"op": "digests", "ids": [...]}`` → ``{"sha256": {...}, "size": {...}}``
- ``{"op": "faults", "reset": {...} | null, "status": {...} | null,
  "throttle": {"bytes_per_s": n} | null}`` → ``{}``
- ``{"op": "counters"}`` → bytes written per origin, connections, fault hits, CPU
- ``{"op": "reset_counters"}`` → ``{}``

Bytes are counted where they leave the server: every socket transport of this
process's event loop has its ``write`` wrapped, so the count is what the storage
origin handed to the kernel (status line and headers included), independent of
the client under test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import threading
from collections.abc import Callable
from typing import Any

from bird_recordings.emulator import BirdEmulator, ResetFault, StatusFault


class _PortCounters:
    def __init__(self) -> None:
        self.bytes: dict[int, int] = {}
        self.connections: dict[int, int] = {}

    def reset(self) -> None:
        self.bytes.clear()
        self.connections.clear()


COUNTERS = _PortCounters()


class CountingLoop(asyncio.SelectorEventLoop):
    """A selector loop whose socket transports count the bytes written, per local port."""

    def _make_socket_transport(  # type: ignore[no-untyped-def]
        self, sock, protocol, waiter=None, *, extra=None, server=None
    ):
        transport = super()._make_socket_transport(  # type: ignore[misc]
            sock, protocol, waiter, extra=extra, server=server
        )
        try:
            port = int(sock.getsockname()[1])
        except (OSError, IndexError, TypeError):
            return transport
        COUNTERS.connections[port] = COUNTERS.connections.get(port, 0) + 1
        write: Callable[[Any], None] = transport.write

        def counting_write(data: Any) -> None:
            COUNTERS.bytes[port] = COUNTERS.bytes.get(port, 0) + len(data)
            write(data)

        transport.write = counting_write
        return transport


def _random_bytes(rng: random.Random, size: int) -> bytes:
    piece = 16 * 1024 * 1024  # randbytes takes at most 2**31 bits at a time
    return b"".join(rng.randbytes(min(piece, size - at)) for at in range(0, size, piece))


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


class Controller:
    def __init__(self, emu: BirdEmulator) -> None:
        self.emu = emu
        self.reset: ResetFault | None = None
        self.status: StatusFault | None = None
        self.cpu_at_reset = 0.0

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        emu = self.emu
        if op == "add":
            ids = []
            size = int(command["size"])
            rng = random.Random(f"bench:{emu.seed}")
            for _ in range(int(command["count"])):
                # Media held as bytes: serving it is a copy, so the server core
                # keeps ahead of the client (generated media costs ~2 s/GiB).
                rec = emu.add_recording(data=_random_bytes(rng, size))
                # Warm the ETag (MD5) and the sha256 so no run pays for them.
                emu.media_digest(rec.id, "md5")
                emu.media_digest(rec.id, "sha256")
                ids.append(rec.id)
            return {"ids": ids}
        if op == "ids":
            return {"ids": list(emu.recordings)}
        if op == "digests":
            return {
                "sha256": {rid: emu.media_digest(rid, "sha256") for rid in command["ids"]},
                "size": {rid: emu.media_size(rid) for rid in command["ids"]},
            }
        if op == "faults":
            emu.faults.clear()
            self.reset = self.status = None
            if command.get("reset"):
                self.reset = emu.faults.reset(origin="storage", count=None, **command["reset"])
            if command.get("status"):
                self.status = emu.faults.status(**command["status"])
            if command.get("throttle"):
                emu.faults.throttle(origin="storage", count=None, **command["throttle"])
            return {}
        if op == "counters":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            api, storage = _port(emu.base_url), _port(emu.storage_url)
            return {
                "api_bytes": COUNTERS.bytes.get(api, 0),
                "storage_bytes": COUNTERS.bytes.get(storage, 0),
                "api_connections": COUNTERS.connections.get(api, 0),
                "storage_connections": COUNTERS.connections.get(storage, 0),
                "resets_fired": self.reset.triggered if self.reset else 0,
                "status_fired": self.status.triggered if self.status else 0,
                "cpu_s": usage.ru_utime + usage.ru_stime - self.cpu_at_reset,
            }
        if op == "reset_counters":
            COUNTERS.reset()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.cpu_at_reset = usage.ru_utime + usage.ru_stime
            if self.reset is not None:
                self.reset.triggered = 0
            if self.status is not None:
                self.status.triggered = 0
            return {}
        raise ValueError(f"unknown op {op!r}")


async def serve(args: argparse.Namespace) -> None:
    emu = BirdEmulator(recordings=args.recordings, seed=args.seed, log_requests=False)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    async with emu:
        controller = Controller(emu)
        hello = {
            "base_url": emu.base_url,
            "storage_url": emu.storage_url,
            "access_key": emu.access_key,
            "workspace_id": emu.workspace_id,
            "pid": os.getpid(),
        }
        print(json.dumps(hello), flush=True)

        def reply(line: str) -> None:
            try:
                answer = controller.handle(json.loads(line))
            except Exception as exc:  # noqa: BLE001 - reported to the driver
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer), flush=True)

        def read_commands() -> None:
            for line in sys.stdin:
                if line.strip():
                    asyncio.run_coroutine_threadsafe(_call(reply, line), loop).result()
            loop.call_soon_threadsafe(_finish, done)

        threading.Thread(target=read_commands, daemon=True).start()
        await done


def _finish(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


async def _call(fn: Callable[[str], None], line: str) -> None:
    fn(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recordings", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    loop = CountingLoop()
    try:
        loop.run_until_complete(serve(args))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
