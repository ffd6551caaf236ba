"""What both origins share: the request log, the Date header, and a body writer with faults."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Final, Literal

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ._faults import BodyFault, ReplaceMediaFault, ResetFault, StallFault, ThrottleFault

__all__ = ["CHUNK_BYTES", "HttpDate", "RequestRecord", "recording_id_in", "send_body"]

CHUNK_BYTES: Final = 1024 * 1024
"""Media is written in pieces this large: few, big writes keep loopback fast."""

_UUID_IN_PATH: Final = re.compile(
    r"/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"(?:\.mp3)?/?$"
)

_RECORDING_OF_TRANSCRIPTION: Final = re.compile(
    r"/recordings/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"/transcriptions/?$"
)


def recording_id_in(path: str) -> str | None:
    """The recording id a request path names (``…/{id}``, ``…/{id}.mp3``), if any.

    ``…/recordings/{id}/transcriptions`` names the recording; a transcription's
    own paths (``…/transcriptions/{tid}``) name none.
    """
    if "/transcriptions" in path:
        match = _RECORDING_OF_TRANSCRIPTION.search(path)
        return match.group(1).lower() if match else None
    match = _UUID_IN_PATH.search(path)
    return match.group(1).lower() if match else None


@attrs.frozen
class RequestRecord:
    """One request an origin received, as :attr:`BirdEmulator.requests` logs it.

    ``origin`` is ``"api"`` or ``"storage"``; ``path`` is decoded and
    ``raw_path`` is as sent; ``query`` and ``headers`` are read-only
    multidicts (header lookups ignore case); ``status`` is the status the
    emulator answered (also when a fault then cut the body);
    ``recording_id`` is the id the path names, if any; ``received_s`` is when
    the request arrived, in POSIX seconds on the emulator's clock;
    ``rate_limited`` is true for a 429 of the emulated rate limit (not a fault).
    """

    origin: Literal["api", "storage"]
    method: str
    path: str
    raw_path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    status: int
    recording_id: str | None = None
    received_s: float | None = None
    rate_limited: bool = False

    @classmethod
    def capture(
        cls,
        origin: Literal["api", "storage"],
        request: web.BaseRequest,
        response: web.StreamResponse | None,
        *,
        received_s: float | None = None,
        rate_limited: bool = False,
    ) -> RequestRecord:
        """The record of ``request`` as answered by ``response`` (500 if none was made)."""
        return cls(
            origin=origin,
            method=request.method,
            path=request.path,
            raw_path=request.raw_path,
            query=MultiDictProxy(MultiDict(request.query)),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            status=response.status if response is not None else 500,
            recording_id=recording_id_in(request.path),
            received_s=received_s,
            rate_limited=rate_limited,
        )


class HttpDate:
    """Formats the emulator's clock as an HTTP date, once per second at most."""

    def __init__(self, now_s: Callable[[], float]) -> None:
        self._now_s = now_s
        self._second = -1
        self._text = ""

    def __call__(self, epoch_s: float | None = None) -> str:
        """The HTTP date of ``epoch_s`` (default: the emulator's now)."""
        if epoch_s is not None:
            return formatdate(epoch_s, usegmt=True)
        second = int(self._now_s())
        if second != self._second:
            self._second, self._text = second, formatdate(second, usegmt=True)
        return self._text


def _unsent_bytes(transport: asyncio.Transport) -> int:
    """Bytes the kernel has not yet had acknowledged (Linux ``SIOCOUTQ``), else 0."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        import fcntl
        import termios

        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (ImportError, OSError, AttributeError):
        return 0
    return int(struct.unpack("i", raw)[0])


async def _flush(transport: asyncio.Transport, timeout_s: float = 5.0) -> None:
    """Wait until what was written has reached the peer, so a cut lands where promised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and not transport.is_closing():
        if transport.get_write_buffer_size() == 0 and _unsent_bytes(transport) == 0:
            return
        await asyncio.sleep(0.001)


def _reset(transport: asyncio.Transport) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _send_throttled(
    response: web.StreamResponse, chunks: Iterable[bytes], fault: ThrottleFault
) -> None:
    """Write ``chunks``: the first ``after_bytes`` at once, the rest at ``bytes_per_s``."""
    loop = asyncio.get_running_loop()
    # About 50 writes a second (at most 64 KiB each), so the pace is smooth.
    slice_bytes = max(1, min(64 * 1024, int(fault.bytes_per_s / 50)))
    sent = 0
    paced = 0
    started: float | None = None
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            if sent < fault.after_bytes:
                n = min(len(view), fault.after_bytes - sent)
            else:
                if started is None:
                    started = loop.time()
                n = min(len(view), slice_bytes)
            await response.write(view[:n])
            view = view[n:]
            sent += n
            if started is not None:
                paced += n
                delay = started + paced / fault.bytes_per_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)


async def send_body(
    request: web.BaseRequest,
    response: web.StreamResponse,
    chunks: Iterable[bytes],
    fault: BodyFault | None = None,
    on_cut: Callable[[], None] | None = None,
) -> None:
    """Prepare ``response`` and write ``chunks``, applying a body ``fault`` if one fired.

    A client that goes away mid-body is not an error here: the writer just stops.
    """
    transport = request.transport
    sent = 0
    try:
        # Inside the try: a client that left before the headers went out is
        # not an error either (aiohttp would log a traceback per request).
        await response.prepare(request)
        if isinstance(fault, ThrottleFault):
            await _send_throttled(response, chunks, fault)
            await response.write_eof()
            return
        for piece in chunks:
            chunk = piece
            if (
                fault is not None
                and transport is not None
                and sent + len(chunk) > fault.after_bytes
            ):
                cut = fault.after_bytes - sent
                if cut:
                    await response.write(chunk[:cut])
                    sent += cut
                await _flush(transport)
                if isinstance(fault, StallFault):
                    await asyncio.sleep(fault.seconds)
                    chunk, fault = chunk[cut:], None
                else:
                    if isinstance(fault, ReplaceMediaFault) and on_cut is not None:
                        on_cut()
                    if isinstance(fault, ResetFault):
                        _reset(transport)
                    else:
                        transport.close()
                    return
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
    except ConnectionError:
        return
