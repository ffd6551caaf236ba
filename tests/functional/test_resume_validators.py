"""A resume never stitches two versions of an object, whatever validators storage sends.

A tiny storage server cuts the first body halfway, then replaces the object
before the client comes back. It honours ``If-Match`` and ``If-Range`` as S3
does, and (like a naive server) answers a bare ``Range`` from the *new* object.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import bird_recordings as br
from tests.conftest import FakeClock

pytestmark = pytest.mark.asyncio

WS = "ws-1"
SIZE = 200_000
OLD = bytes([1]) * SIZE
NEW = bytes([2]) * SIZE
CUT_AT = 100_000


class ChangingStorage:
    """Serves ``/media``: version 1 until the first body is cut, version 2 after."""

    def __init__(
        self, *, last_modified: bool, etag: str | None, naive_ranges: bool = False
    ) -> None:
        # naive_ranges: ignore If-Match and send no ETag with a 206 (a broken proxy).
        self.naive_ranges = naive_ranges
        self.version = 1
        self.send_last_modified = last_modified
        self.etag = etag
        self.requests: list[dict[str, str]] = []
        self.base_url = ""

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "audio/mpeg", "Accept-Ranges": "bytes"}
        if self.send_last_modified:
            headers["Last-Modified"] = f"Tue, 01 Dec 2026 10:00:0{self.version} GMT"
        if self.etag is not None:
            headers["ETag"] = self.etag.replace("V", str(self.version))
        return headers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith(".mp3"):
            return web.Response(status=307, headers={"Location": f"{self.base_url}/media"})
        self.requests.append(dict(request.headers))
        body = OLD if self.version == 1 else NEW
        headers = self.headers()
        range_header = request.headers.get("Range")
        if_match = request.headers.get("If-Match")
        if self.naive_ranges and range_header:
            if_match = None
            headers.pop("ETag", None)
        if if_match is not None and if_match != headers.get("ETag"):
            return web.Response(status=412, text="<Error><Code>PreconditionFailed</Code></Error>")
        if_range = request.headers.get("If-Range")
        if range_header and if_range is not None and if_range != headers.get("Last-Modified"):
            range_header = None  # RFC 9110: a changed representation is sent whole
        if range_header:
            first = int(range_header.removeprefix("bytes=").rstrip("-"))
            headers["Content-Range"] = f"bytes {first}-{SIZE - 1}/{SIZE}"
            return web.Response(status=206, body=body[first:], headers=headers)
        if self.version == 1:
            # Cut the first body halfway, then the object is replaced.
            response = web.StreamResponse(headers=headers)
            response.content_length = SIZE
            await response.prepare(request)
            await response.write(body[:CUT_AT])
            self.version = 2
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=body, headers=headers)


@contextlib.asynccontextmanager
async def serving(storage: ChangingStorage) -> AsyncIterator[br.RecordingsClient]:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", storage.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    storage.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with br.RecordingsClient(
            "key", WS, base_url=storage.base_url, clock=FakeClock(), rate_limit=None
        ) as client:
            yield client
    finally:
        await runner.cleanup()


def resumed(storage: ChangingStorage) -> list[dict[str, str]]:
    return [h for h in storage.requests[1:] if "Range" in h]


async def test_without_validators_a_broken_download_starts_over(tmp_path: Path) -> None:
    storage = ChangingStorage(last_modified=False, etag=None)
    async with serving(storage) as client:
        result = await client.download_recording("r1", tmp_path)
    assert result.path.read_bytes() == NEW  # never OLD[:CUT_AT] + NEW[CUT_AT:]
    assert result.restarts == 1
    assert resumed(storage) == []


async def test_last_modified_is_used_with_if_range(tmp_path: Path) -> None:
    storage = ChangingStorage(last_modified=True, etag=None)
    async with serving(storage) as client:
        result = await client.download_recording("r1", tmp_path)
    assert result.path.read_bytes() == NEW
    [resume] = resumed(storage)[:1]
    assert resume["If-Range"] == "Tue, 01 Dec 2026 10:00:01 GMT"
    assert "If-Match" not in resume


async def test_a_weak_etag_is_not_a_resume_validator(tmp_path: Path) -> None:
    storage = ChangingStorage(last_modified=False, etag='W/"vV"')
    async with serving(storage) as client:
        result = await client.download_recording("r1", tmp_path)
    assert result.path.read_bytes() == NEW
    assert all("If-Match" not in h for h in storage.requests)


async def test_a_strong_non_md5_etag_resumes_with_if_match(tmp_path: Path) -> None:
    # A multipart (or SSE-KMS) ETag is not an MD5 of the bytes, but it does
    # name the version: S3 answers 412 to If-Match once the object changed.
    storage = ChangingStorage(last_modified=False, etag='"3858f62230ac3c915f300c664312c11f-V"')
    async with serving(storage) as client:
        result = await client.download_recording("r1", tmp_path)
    assert result.path.read_bytes() == NEW
    assert resumed(storage)[0]["If-Match"].endswith('-1"')


async def test_a_stream_without_validators_fails_instead_of_stitching() -> None:
    storage = ChangingStorage(last_modified=False, etag=None)
    received = bytearray()
    async with serving(storage) as client:
        with pytest.raises(br.APIConnectionError, match="resume it safely"):
            async with client.stream_recording("r1") as media:
                async for chunk in media:
                    received += chunk
    assert bytes(received) == OLD[: len(received)]
    assert resumed(storage) == []


async def test_a_206_that_drops_the_etag_is_not_trusted(tmp_path: Path) -> None:
    # SSE-KMS: the ETag names the version but is no MD5, so a stitch would not be
    # caught at the end; a ranged answer that does not repeat the ETag is refused.
    storage = ChangingStorage(
        last_modified=False, etag='"9b2cf535f27731c974343645a3985328V"', naive_ranges=True
    )
    async with serving(storage) as client:
        result = await client.download_recording("r1", tmp_path, verify_md5=False)
    assert result.path.read_bytes() == NEW
    assert result.restarts == 1
