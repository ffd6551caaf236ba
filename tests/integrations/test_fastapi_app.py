"""docs/examples/fastapi_app.py under uvicorn on loopback, against the emulator."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx

from bird_recordings.emulator import BirdEmulator

from .conftest import RequestLog, available_ids, load_example, uvicorn_server

fastapi_app = load_example("fastapi_app")


async def test_metadata_without_presigned_url(
    emu: BirdEmulator, client_options: dict[str, Any]
) -> None:
    rid = available_ids(emu)[0]
    async with (
        uvicorn_server(fastapi_app.create_app(**client_options)) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
    ):
        response = await http.get(f"/recordings/{rid}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == rid
    assert body["status"] == "available"
    assert body["created_at"].startswith(str(emu.recordings[rid].created_at.year))
    assert "url" not in body
    assert "X-Amz-Signature" not in response.text


async def test_audio_proxy_streams_the_exact_object(
    emu: BirdEmulator, client_options: dict[str, Any], request_log: RequestLog
) -> None:
    rid = available_ids(emu)[1]
    # A reset midway: the library resumes, the browser sees one seamless body.
    emu.faults.reset(after_bytes=10_000, recording_id=rid)
    async with (
        uvicorn_server(fastapi_app.create_app(**client_options)) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
    ):
        response = await http.get(f"/recordings/{rid}/audio")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["content-length"] == str(emu.media_size(rid))
    assert hashlib.sha256(response.content).hexdigest() == emu.media_digest(rid)
    storage = [r for r in request_log if r.origin == "storage"]
    assert len(storage) == 2  # the first request and its resume
    assert storage[1].headers["Range"] == "bytes=10000-"
    assert all("Authorization" not in r.headers for r in storage)


async def test_client_disconnect_releases_the_upstream_stream(
    emu: BirdEmulator, client_options: dict[str, Any], request_log: RequestLog
) -> None:
    size = 16 * 1024 * 1024  # far more than socket buffers hold
    rid = emu.add_recording(size_bytes=size).id
    app = fastapi_app.create_app(**client_options, chunk_size=64 * 1024)
    async with uvicorn_server(app) as base, httpx.AsyncClient(base_url=base, timeout=15) as http:
        async with http.stream("GET", f"/recordings/{rid}/audio") as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(size)
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received >= 512 * 1024:
                    break
        # Leaving the block closes the half-read response: the browser went away.
        # The storage origin logs the transfer only once it ended, which happens
        # only if the proxy closed its upstream connection (a leaked one would
        # stay paused under back-pressure until the timeout fails this test).
        record = await request_log.wait_for(
            lambda r: r.origin == "storage" and r.recording_id == rid
        )
        assert record.status == 200
        # The server still works, and the upstream was not "resumed" behind our back.
        again = await http.get(f"/recordings/{available_ids(emu)[0]}")
        assert again.status_code == 200
    assert received < size
    assert [r.recording_id for r in request_log if r.origin == "storage"].count(rid) == 1


async def test_redirect_to_presigned_url(emu: BirdEmulator, client_options: dict[str, Any]) -> None:
    rid = available_ids(emu)[2]
    async with (
        uvicorn_server(fastapi_app.create_app(**client_options)) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
    ):
        response = await http.get(f"/recordings/{rid}/audio-url")
        assert response.status_code == 307
        assert response.headers["cache-control"] == "no-store"
        location = response.headers["location"]
        assert location.startswith(emu.storage_url)
        media = await http.get(location)  # what the browser does next
    assert media.status_code == 200
    assert media.content == emu.media_bytes(rid)


async def test_bird_errors_become_http_answers(
    emu: BirdEmulator, client_options: dict[str, Any]
) -> None:
    missing = str(uuid.uuid4())
    ongoing = emu.add_recording(status="ongoing").id
    limited = available_ids(emu)[3]
    # Longer than RetryPolicy.retry_after_max_s: the client gives up at once.
    emu.faults.status(429, retry_after=120, count=None, recording_id=limited)
    async with (
        uvicorn_server(fastapi_app.create_app(**client_options)) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
    ):
        assert (await http.get(f"/recordings/{missing}")).status_code == 404
        assert (await http.get(f"/recordings/{missing}/audio")).status_code == 404
        assert (await http.get(f"/recordings/{missing}/audio-url")).status_code == 404
        not_ready = await http.get(f"/recordings/{ongoing}/audio")
        assert not_ready.status_code == 409
        assert not_ready.json()["code"] == "recording_not_available"
        assert "ongoing" in not_ready.json()["message"]
        assert (await http.get(f"/recordings/{ongoing}/audio-url")).status_code == 409
        rate_limited = await http.get(f"/recordings/{limited}")
        assert rate_limited.status_code == 503
        assert rate_limited.headers["retry-after"] == "120"
        assert (await http.get(f"/recordings/{limited}/audio")).status_code == 503
    assert emu.access_key not in not_ready.text
