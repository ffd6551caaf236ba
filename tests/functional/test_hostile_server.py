"""A hostile or merely odd server: typed outcomes, no escape from the folder, no leaks.

The emulator is faithful to Bird and S3; the answers here are ones it would
never give, so a tiny aiohttp server plays both origins. Which answer a
recording gets is chosen by its id.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web

import bird_recordings as br
from bird_recordings._converter import structure
from tests.conftest import FakeClock
from tests.fixtures import load

pytestmark = pytest.mark.asyncio

WS = "ws-1"
KEY = "hostile-test-key"
MEDIA = b"ID3" + bytes(range(256)) * 40
SECRET = "sigDEADBEEFcafe0123456789"
SIGNED_QUERY = (
    f"X-Amz-Credential=ASIASECRETCRED%2F20261125&X-Amz-Date=20261125T120000Z"
    f"&X-Amz-Expires=600&X-Amz-Signature={SECRET}"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Hostile:
    """Both origins on one loopback port; ``routes`` maps a recording id to its .mp3 answer."""

    def __init__(self) -> None:
        self.base_url = ""
        self.mp3: dict[str, Handler] = {}
        self.meta: dict[str, Handler] = {}
        self.requests: list[str] = []

    def origin(self) -> str:
        return self.base_url

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = unquote(request.raw_path.partition("?")[0])
        self.requests.append(path)
        if path.startswith("/media/"):
            return await self.media(request, path.removeprefix("/media/"))
        prefix = f"/workspaces/{WS}/recordings/"
        if path.startswith(prefix):
            rest = path.removeprefix(prefix)
            if rest.endswith(".mp3"):
                rid = rest.removesuffix(".mp3")
                handler = self.mp3.get(rid)
                if handler is not None:
                    return await handler(request)
                return self.redirect("/media/good")
            handler = self.meta.get(rest)
            if handler is not None:
                return await handler(request)
        return web.json_response({"code": "NotFound", "message": "no"}, status=404)

    def redirect(self, location: str) -> web.Response:
        if location.startswith("/"):
            location = self.base_url + location
        return web.Response(status=307, headers={"Location": location})

    async def media(self, request: web.Request, name: str) -> web.StreamResponse:
        if name == "good":
            return web.Response(body=MEDIA, headers={"Content-Type": "audio/mpeg"})
        if name == "busy":
            return web.Response(status=503, headers={"Retry-After": "²"}, text="busy")
        if name == "echo":
            # An HTML error page that echoes the request URL, signature included.
            page = f"<html><body><h1>400 Bad Request</h1><p>{request.url}</p></body></html>"
            return web.Response(status=400, text=page, content_type="text/html")
        raise AssertionError(name)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(hostile: Hostile) -> AsyncIterator[br.RecordingsClient]:
    async with br.RecordingsClient(
        KEY,
        WS,
        base_url=hostile.base_url,
        clock=FakeClock(),
        rate_limit=None,
        retry=br.RetryPolicy(max_retries=1),
    ) as client:
        yield client


def recording(rid: str, **changes: Any) -> br.Recording:
    payload = load("recording_real.json")
    payload.update({"id": rid, "url": None, **changes})
    return structure(payload, br.Recording, what="r")


async def collect(outcomes: AsyncIterator[br.DownloadOutcome]) -> dict[str, br.DownloadOutcome]:
    async with contextlib.aclosing(outcomes) as stream:  # type: ignore[type-var]
        return {o.recording_id: o async for o in stream}


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def test_hostile_names_fail_alone_and_nothing_is_written_outside(
    hostile: Hostile, client: br.RecordingsClient, tmp_path: Path
) -> None:
    folder = tmp_path / "a" / "b" / "out"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.mp3"
    victim.write_bytes(b"keep me")
    (folder / "planted.mp3").symlink_to(victim)
    refs: list[br.Recording | str] = [
        recording("good-1"),
        recording("fmt-1", format="mp3/../../../escape"),
        recording("fmt-2", format=str(tmp_path / "abs")),
        recording("../../../escape"),
        recording("nul\x00id"),
        recording("x" * 250),
        recording("planted"),
        "dots/../../escape",
        "good-2",
    ]
    outcomes = await collect(client.download_recordings(refs, folder, concurrency=3))
    assert len(outcomes) == len(refs)
    assert outcomes["good-1"].ok and outcomes["good-2"].ok
    assert (folder / "good-1.mp3").read_bytes() == MEDIA
    for rid, outcome in outcomes.items():
        if rid.startswith("good"):
            continue
        assert isinstance(outcome.error, br.UnsafePathError), (rid, outcome.error)
    assert victim.read_bytes() == b"keep me"
    assert tree(tmp_path) == sorted(
        [
            "a",
            "a/b",
            "a/b/out",
            "a/b/out/good-1.mp3",
            "a/b/out/good-2.mp3",
            "a/b/out/planted.mp3",
            "victim.mp3",
        ]
    )
    # Nothing was requested for the refused names.
    assert not [p for p in hostile.requests if "escape" in p or "nul" in p]


async def test_single_download_refuses_a_hostile_format(
    client: br.RecordingsClient, tmp_path: Path
) -> None:
    with pytest.raises(br.UnsafePathError):
        await client.download_recording(recording("r1", format="../../x"), tmp_path)
    assert tree(tmp_path) == []


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}\\@evil.test/media/good",
        "http://127.0.0.1:99999/media/good",
        "http://127.0.0.1:abc/media/good",
        "http://a..b/media/good",
        "http://127.0.0.1:{port}/media/good?Expires={soon}&X-Amz-Expires=%C2%B2",
    ],
)
async def test_odd_redirects_are_one_items_typed_outcome(
    hostile: Hostile, client: br.RecordingsClient, tmp_path: Path, location: str
) -> None:
    port = hostile.base_url.rpartition(":")[2]
    target = location.format(port=port, soon=int(time.time()) + 5)

    async def odd(_: web.Request) -> web.StreamResponse:
        return hostile.redirect(target)

    hostile.mp3["odd"] = odd
    outcomes = await collect(client.download_recordings(["odd", "good-1"], tmp_path))
    assert outcomes["good-1"].ok
    odd_outcome = outcomes["odd"]
    if "Expires" in target:
        assert odd_outcome.ok  # an unreadable expiry is ignored, not fatal
    else:
        assert isinstance(odd_outcome.error, br.InvalidMediaURLError), odd_outcome.error


async def test_unicode_retry_after_from_api_and_storage_is_ignored(
    hostile: Hostile, client: br.RecordingsClient, tmp_path: Path
) -> None:
    async def busy(_: web.Request) -> web.StreamResponse:
        return web.Response(status=503, headers={"Retry-After": "²"}, text="busy")

    async def to_busy_storage(_: web.Request) -> web.StreamResponse:
        return hostile.redirect("/media/busy")

    hostile.mp3["api-busy"] = busy
    hostile.mp3["storage-busy"] = to_busy_storage
    outcomes = await collect(
        client.download_recordings(["api-busy", "storage-busy", "good-1"], tmp_path)
    )
    assert outcomes["good-1"].ok
    assert isinstance(outcomes["api-busy"].error, br.ServerError)
    assert isinstance(outcomes["storage-busy"].error, br.StorageError)
    assert outcomes["storage-busy"].error.status == 503


async def test_deep_and_huge_json_bodies_are_validation_errors(
    hostile: Hostile, client: br.RecordingsClient
) -> None:
    async def deep(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")

    async def huge(_: web.Request) -> web.StreamResponse:
        # Chunked: no Content-Length to refuse up front; the cap applies while reading.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(_)
        await response.write(b'{"id": "huge", "pad": "')
        block = b"a" * (1024 * 1024)
        with contextlib.suppress(ConnectionError):
            for _i in range(12):
                await response.write(block)
            await response.write(b'"}')
        return response

    async def announced(_: web.Request) -> web.StreamResponse:
        # Content-Length says 9 MiB: refused before the body is read.
        return web.Response(body=b" " * (9 * 1024 * 1024), content_type="application/json")

    hostile.meta["deep"] = deep
    hostile.meta["huge"] = huge
    hostile.meta["announced"] = announced
    async with contextlib.aclosing(
        client.get_recordings(["deep", "huge", "announced", "missing"], concurrency=4)
    ) as stream:
        outcomes = {o.recording_id: o async for o in stream}
    assert isinstance(outcomes["deep"].error, br.ResponseValidationError)
    for rid in ("huge", "announced"):
        assert isinstance(outcomes[rid].error, br.ResponseValidationError)
        assert "larger than 8388608 bytes" in str(outcomes[rid].error)
    assert isinstance(outcomes["missing"].error, br.NotFoundError)


async def test_a_storage_error_page_echoing_the_url_is_redacted(
    hostile: Hostile, client: br.RecordingsClient, tmp_path: Path
) -> None:
    async def to_echo(_: web.Request) -> web.StreamResponse:
        return hostile.redirect(f"/media/echo?{SIGNED_QUERY}")

    hostile.mp3["echo"] = to_echo
    with pytest.raises(br.StorageError) as info:
        await client.download_recording("echo", tmp_path)
    text = str(info.value) + repr(vars(info.value))
    assert "400 Bad Request" in text  # the page is still quoted
    assert SECRET not in text and "ASIASECRETCRED" not in text


async def test_an_oversized_location_header_does_not_leak_the_signature(
    hostile: Hostile, client: br.RecordingsClient, tmp_path: Path
) -> None:
    async def long_location(_: web.Request) -> web.StreamResponse:
        return hostile.redirect(f"/media/good?{SIGNED_QUERY}&pad={'A' * 9000}")

    hostile.mp3["long"] = long_location
    with pytest.raises(br.APIConnectionError) as info:
        await client.download_recording("long", tmp_path)
    chain = [info.value, *(e for e in [info.value.__cause__] if e is not None)]
    assert "8190" in str(info.value)  # aiohttp's reason is kept...
    assert SECRET not in str(info.value)  # ...without the signature it quoted
    assert "ASIASECRETCRED" not in str(info.value)
    assert len(chain) == 2


async def test_a_malformed_url_in_metadata_is_not_used(
    hostile: Hostile, client: br.RecordingsClient, tmp_path: Path
) -> None:
    signed_now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    bad = f"http://127.0.0.1:99999/media/good?X-Amz-Date={signed_now}&X-Amz-Expires=600"
    result = await client.download_recording(recording("meta-url", url=bad), tmp_path)
    assert result.path.read_bytes() == MEDIA
    assert f"/workspaces/{WS}/recordings/meta-url.mp3" in hostile.requests  # asked Bird instead
