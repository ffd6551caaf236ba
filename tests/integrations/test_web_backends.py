"""The media helpers inside real servers: FastAPI under uvicorn, aiohttp under AppRunner.

Both serve docs/examples (fastapi_app.py, aiohttp_app.py) against the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from bird_recordings.emulator import BirdEmulator

from .conftest import WAIT_S, RequestLog, available_ids, load_example, uvicorn_server

fastapi_app = load_example("fastapi_app")
aiohttp_app = load_example("aiohttp_app")

#: The HTTP client going away must release the storage stream within this.
RELEASE_S = 1.0


@contextlib.asynccontextmanager
async def aiohttp_server(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` with aiohttp's AppRunner on a loopback port bound up front."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        sock.close()


@pytest.fixture(params=["fastapi", "aiohttp"])
async def base(
    request: pytest.FixtureRequest, client_options: dict[str, Any]
) -> AsyncIterator[str]:
    """The base URL of the example app of one framework, on a real server."""
    options = {**client_options, "chunk_size": 64 * 1024}
    if request.param == "fastapi":
        server = uvicorn_server(fastapi_app.create_app(**options))
    else:
        server = aiohttp_server(aiohttp_app.create_app(**options))
    async with server as url:
        yield url


@pytest.fixture
async def http(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as client:
        yield client


def storage_requests(log: RequestLog, rid: str) -> list[Any]:
    return [r for r in log if r.origin == "storage" and r.recording_id == rid]


async def test_unknown_id_is_a_json_404_never_an_empty_200(
    emu: BirdEmulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(f"/recordings/{uuid.uuid4()}/audio")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"code": "recording_not_found", "message": "no such recording"}
    assert emu.workspace_id not in response.text


async def test_whole_body_with_the_media_headers(
    emu: BirdEmulator, http: httpx.AsyncClient
) -> None:
    rid = available_ids(emu)[0]
    response = await http.get(f"/recordings/{rid}/audio")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == emu.media_etag(rid)
    assert response.headers["content-length"] == str(emu.media_size(rid))
    assert "content-range" not in response.headers
    assert response.content == emu.media_bytes(rid)


async def test_range_from_1000_is_206_with_the_exact_bytes(
    emu: BirdEmulator, http: httpx.AsyncClient, request_log: RequestLog
) -> None:
    rid = available_ids(emu)[1]
    size = emu.media_size(rid)
    response = await http.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"
    assert response.headers["content-length"] == str(size - 1000)
    assert response.content == emu.media_bytes(rid)[1000:]
    assert storage_requests(request_log, rid)[0].headers["Range"] == "bytes=1000-"


async def test_closed_range_and_if_range(emu: BirdEmulator, http: httpx.AsyncClient) -> None:
    rid = available_ids(emu)[2]
    data = emu.media_bytes(rid)
    held = await http.get(
        f"/recordings/{rid}/audio",
        headers={"Range": "bytes=10-19", "If-Range": emu.media_etag(rid)},
    )
    assert held.status_code == 206
    assert held.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert held.content == data[10:20]
    changed = await http.get(
        f"/recordings/{rid}/audio", headers={"Range": "bytes=10-19", "If-Range": '"old"'}
    )
    assert changed.status_code == 200  # the object changed: the whole new one
    assert changed.content == data


async def test_unsatisfiable_range_is_416(emu: BirdEmulator, http: httpx.AsyncClient) -> None:
    rid = available_ids(emu)[3]
    size = emu.media_size(rid)
    response = await http.get(f"/recordings/{rid}/audio", headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.json()["code"] == "range_not_satisfiable"


async def test_multi_range_is_ignored_for_the_whole_body(
    emu: BirdEmulator, http: httpx.AsyncClient
) -> None:
    rid = available_ids(emu)[4]
    response = await http.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=0-1,5-9"})
    assert response.status_code == 200
    assert response.content == emu.media_bytes(rid)


async def test_head_has_the_headers_and_no_body(emu: BirdEmulator, http: httpx.AsyncClient) -> None:
    rid = available_ids(emu)[5]
    size = emu.media_size(rid)
    whole = await http.head(f"/recordings/{rid}/audio")
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(size)
    assert whole.headers["etag"] == emu.media_etag(rid)
    assert whole.content == b""
    part = await http.head(f"/recordings/{rid}/audio", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.headers["content-length"] == str(size - 1000)
    missing = await http.head(f"/recordings/{uuid.uuid4()}/audio")
    assert missing.status_code == 404


async def test_byte_exact_across_a_storage_cut(
    emu: BirdEmulator, http: httpx.AsyncClient, request_log: RequestLog
) -> None:
    rid = emu.add_recording(size_bytes=400_000).id
    emu.faults.reset(after_bytes=150_000, recording_id=rid)
    whole = await http.get(f"/recordings/{rid}/audio")
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == emu.media_digest(rid)
    emu.faults.reset(after_bytes=50_000, recording_id=rid)
    part = await http.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.content == emu.media_bytes(rid)[1000:]
    ranges = [r.headers.get("Range") for r in storage_requests(request_log, rid)]
    assert ranges == [None, "bytes=150000-", "bytes=1000-", "bytes=51000-"]


async def test_storage_is_released_within_a_second_of_the_client_leaving(
    emu: BirdEmulator, http: httpx.AsyncClient, request_log: RequestLog
) -> None:
    size = 16 * 1024 * 1024  # far more than socket buffers hold
    rid = emu.add_recording(size_bytes=size).id
    received = 0
    async with http.stream("GET", f"/recordings/{rid}/audio") as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received >= 512 * 1024:
                break
    # Leaving the block closed the half-read response. The storage origin logs a
    # transfer only once it ended, which happens only if the server closed its
    # upstream stream (a leaked one would stay paused under back-pressure).
    async with asyncio.timeout(RELEASE_S):
        record = await request_log.wait_for(
            lambda r: r.origin == "storage" and r.recording_id == rid
        )
    assert record.status == 200
    assert received < size
    assert len(storage_requests(request_log, rid)) == 1  # not "resumed" behind our back
    again = await http.get(f"/recordings/{available_ids(emu)[0]}/audio")
    assert again.status_code == 200


async def test_twenty_concurrent_clients(emu: BirdEmulator, base: str) -> None:
    ids = available_ids(emu)
    requests = [(ids[i % len(ids)], i * 100) for i in range(20)]

    async def one(rid: str, offset: int) -> tuple[int, bytes, bytes]:
        async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as http:
            response = await http.get(
                f"/recordings/{rid}/audio", headers={"Range": f"bytes={offset}-"}
            )
        return response.status_code, response.content, emu.media_bytes(rid)[offset:]

    results = await asyncio.gather(*(one(rid, offset) for rid, offset in requests))
    assert [status for status, _, _ in results] == [206] * 20
    assert all(got == expected for _, got, expected in results)


async def test_not_available_is_409_and_rate_limit_is_503(
    emu: BirdEmulator, http: httpx.AsyncClient
) -> None:
    ongoing = emu.add_recording(status="ongoing").id
    response = await http.get(f"/recordings/{ongoing}/audio")
    assert response.status_code == 409
    assert response.json() == {
        "code": "recording_not_available",
        "message": "the recording has no media yet (status ongoing)",
    }
    limited = available_ids(emu)[6]
    emu.faults.status(429, retry_after=120, count=None, recording_id=limited)
    response = await http.get(f"/recordings/{limited}/audio")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"


async def test_storage_failure_is_502_without_secrets(
    emu: BirdEmulator, http: httpx.AsyncClient
) -> None:
    rid = available_ids(emu)[7]
    emu.faults.status(400, count=None, recording_id=rid, origin="storage")
    response = await http.get(f"/recordings/{rid}/audio")
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_error"
    for secret in (emu.workspace_id, emu.access_key, "X-Amz", "http"):
        assert secret not in response.text
