"""docs/examples/aiohttp_app.py on aiohttp's TestServer (a real loopback socket)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bird_recordings.emulator import BirdEmulator

from .conftest import RequestLog, available_ids, load_example

aiohttp_app = load_example("aiohttp_app")


@pytest.fixture
async def http(client_options: dict[str, Any]) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the example app, served on 127.0.0.1."""
    app = aiohttp_app.create_app(**client_options, chunk_size=64 * 1024)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_metadata(emu: BirdEmulator, http: TestClient[Any, Any]) -> None:
    rid = available_ids(emu)[0]
    response = await http.get(f"/recordings/{rid}")
    assert response.status == 200
    body = await response.json()
    assert body["id"] == rid
    assert "url" not in body


async def test_audio_proxy(
    emu: BirdEmulator, http: TestClient[Any, Any], request_log: RequestLog
) -> None:
    rid = available_ids(emu)[1]
    emu.faults.reset(after_bytes=5_000, recording_id=rid)
    response = await http.get(f"/recordings/{rid}/audio")
    assert response.status == 200
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["Content-Length"] == str(emu.media_size(rid))
    assert hashlib.sha256(await response.read()).hexdigest() == emu.media_digest(rid)
    assert all("Authorization" not in r.headers for r in request_log if r.origin == "storage")


async def test_client_disconnect_releases_the_upstream_stream(
    emu: BirdEmulator, http: TestClient[Any, Any], request_log: RequestLog
) -> None:
    size = 16 * 1024 * 1024
    rid = emu.add_recording(size_bytes=size).id
    response = await http.get(f"/recordings/{rid}/audio")
    assert response.status == 200
    received = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        received += len(chunk)
        if received >= 512 * 1024:
            break
    response.close()  # the browser goes away mid-body
    record = await request_log.wait_for(lambda r: r.origin == "storage" and r.recording_id == rid)
    assert record.status == 200
    assert [r.recording_id for r in request_log if r.origin == "storage"].count(rid) == 1
    assert (await http.get(f"/recordings/{available_ids(emu)[0]}")).status == 200


async def test_redirect(emu: BirdEmulator, http: TestClient[Any, Any]) -> None:
    rid = available_ids(emu)[2]
    response = await http.get(f"/recordings/{rid}/audio-url", allow_redirects=False)
    assert response.status == 307
    assert response.headers["Cache-Control"] == "no-store"
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(response.headers["Location"]) as media,
    ):
        assert await media.read() == emu.media_bytes(rid)


async def test_errors(emu: BirdEmulator, http: TestClient[Any, Any]) -> None:
    missing = str(uuid.uuid4())
    ongoing = emu.add_recording(status="ongoing").id
    limited = available_ids(emu)[3]
    emu.faults.status(429, retry_after=120, count=None, recording_id=limited)
    assert (await http.get(f"/recordings/{missing}")).status == 404
    assert (await http.get(f"/recordings/{missing}/audio")).status == 404
    not_ready = await http.get(f"/recordings/{ongoing}/audio")
    assert not_ready.status == 409
    assert (await not_ready.json())["code"] == "recording_not_available"
    assert (await http.get(f"/recordings/{ongoing}/audio-url")).status == 409
    limited_response = await http.get(f"/recordings/{limited}/audio")
    assert limited_response.status == 503
    assert limited_response.headers["Retry-After"] == "120"


async def test_the_server_session_is_borrowed(http: TestClient[Any, Any]) -> None:
    app = http.app
    assert app is not None
    session = app[aiohttp_app.SESSION]
    bird = app[aiohttp_app.BIRD]
    assert bird.session is session  # one pool for the whole server
    assert "Authorization" not in session.headers
    await bird.aclose()  # what cleanup_ctx does first on shutdown
    assert bird.is_closed
    assert not session.closed  # borrowed: the server closes it, after the client
