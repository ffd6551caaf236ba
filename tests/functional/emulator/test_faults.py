"""Every fault, triggered over real sockets: scoping, counting, and what the client sees."""

from __future__ import annotations

import json
import re
import time

import aiohttp
import pytest

from bird_recordings._converter import converter, make_converter
from bird_recordings._models import Recording
from bird_recordings.emulator import BirdEmulator, StatusFault

from .conftest import Api, available_id


async def read_until_error(resp: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    """The body bytes that arrived, and the error that ended the body (if any)."""
    received = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            received += chunk
    except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        return bytes(received), exc
    return bytes(received), None


# Status bursts ---------------------------------------------------------------------


async def test_api_status_burst_is_counted_then_stops(api: Api) -> None:
    fault = api.emu.faults.status(503, count=3)
    seen = []
    for _ in range(5):
        status, body = await api.get_json("/recordings", limit=1)
        seen.append(status)
        if status == 503:
            assert set(body) == {"code", "message"}
    assert seen == [503, 503, 503, 200, 200]
    assert fault.triggered == 3
    assert fault.remaining == 0
    assert fault.is_exhausted


async def test_retry_after_in_seconds_and_as_http_date(api: Api) -> None:
    api.emu.faults.status(429, retry_after=2)
    api.emu.faults.status(429, retry_after=5, retry_after_format="http-date")
    api.emu.faults.status(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    api.emu.faults.status(429, retry_after="http-date")
    values = []
    for _ in range(4):
        async with api.session.get(api.url("/recordings"), headers=api.headers) as resp:
            values.append((resp.status, resp.headers["Retry-After"]))
    assert values == [
        (429, "2"),
        (429, "Tue, 14 Nov 2023 22:13:25 GMT"),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT"),
        (429, "Tue, 14 Nov 2023 22:13:21 GMT"),
    ]


@pytest.mark.parametrize("status", [502, 504])
async def test_gateway_errors_of_the_api_are_html(api: Api, status: int) -> None:
    api.emu.faults.status(status)
    async with api.session.get(api.url("/recordings"), headers=api.headers) as resp:
        assert resp.status == status
        assert resp.content_type == "text/html"
        assert f"<h1>{status} " in await resp.text()


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDown"), (500, "InternalError"), (502, "ServiceUnavailable")]
)
async def test_storage_status_faults_are_s3_xml(
    emu: BirdEmulator, session: aiohttp.ClientSession, status: int, code: str
) -> None:
    fault = emu.faults.status(status, origin="storage", retry_after=1)
    url = emu.presign(available_id(emu))
    async with session.get(url) as resp:
        assert resp.status == status
        assert resp.headers["Retry-After"] == "1"
        assert f"<Code>{code}</Code>" in await resp.text()
    async with session.get(url) as resp:
        assert resp.status == 200
    assert fault.triggered == 1


async def test_custom_body(api: Api) -> None:
    api.emu.faults.status(500, body="oops", content_type="text/plain")
    async with api.session.get(api.url("/recordings"), headers=api.headers) as resp:
        assert resp.status == 500
        assert await resp.text() == "oops"


async def test_faults_are_scoped_by_origin_method_path_and_recording(api: Api) -> None:
    emu = api.emu
    rid = available_id(emu)
    other = next(r for r in emu.recordings if r != rid)
    by_method = emu.faults.status(500, method="DELETE", count=None)
    by_path = emu.faults.status(502, path_contains="recording-metrics", count=None)
    by_id = emu.faults.status(503, recording_id=rid, count=None)
    assert (await api.get_json(f"/recordings/{other}"))[0] == 200
    assert (await api.get_json(f"/recordings/{rid}"))[0] == 503
    async with api.session.get(api.url("/recording-metrics"), headers=api.headers) as resp:
        assert resp.status == 502
    async with api.session.delete(api.url(f"/recordings/{other}"), headers=api.headers) as resp:
        assert resp.status == 500
    async with api.session.get(emu.presign(rid)) as resp:
        assert resp.status == 200  # the API faults do not touch storage
    assert (by_method.triggered, by_path.triggered, by_id.triggered) == (1, 1, 1)
    by_id.cancel()
    assert (await api.get_json(f"/recordings/{rid}"))[0] == 200
    assert list(emu.faults) == [by_method, by_path]
    emu.faults.clear()
    assert len(emu.faults) == 0
    async with api.session.delete(api.url(f"/recordings/{other}"), headers=api.headers) as resp:
        assert resp.status == 204


async def test_any_origin(api: Api) -> None:
    fault = api.emu.faults.status(503, origin="any", count=2)
    assert (await api.get_json("/recordings"))[0] == 503
    async with api.session.get(api.emu.presign(available_id(api.emu))) as resp:
        assert resp.status == 503
        assert "SlowDown" in await resp.text()
    assert fault.triggered == 2


async def test_probability_is_seeded_and_deterministic(clock: list[float]) -> None:
    patterns = []
    for _ in range(2):
        async with BirdEmulator(recordings=3, seed=4, clock=lambda: clock[0]) as emu:
            api = Api(emu, session := aiohttp.ClientSession())
            async with session:
                fault = emu.faults.status(500, count=None, probability=0.5)
                pattern = [(await api.get_json("/recordings"))[0] for _ in range(30)]
            patterns.append(pattern)
            assert fault.triggered == pattern.count(500)
    assert patterns[0] == patterns[1]
    assert 5 < patterns[0].count(500) < 25


def test_fault_arguments_are_checked(emu: BirdEmulator) -> None:
    with pytest.raises(ValueError, match="probability"):
        emu.faults.status(500, probability=2)
    with pytest.raises(ValueError, match="count"):
        emu.faults.status(500, count=-1)
    with pytest.raises(ValueError, match="status"):
        emu.faults.status(42)
    with pytest.raises(ValueError, match="origin"):
        emu.faults.status(500, origin="cdn")  # type: ignore[arg-type]


# Latency ---------------------------------------------------------------------------


async def test_latency(api: Api) -> None:
    fault = api.emu.faults.latency(0.2)
    started = time.monotonic()
    assert (await api.get_json("/recordings"))[0] == 200
    assert time.monotonic() - started >= 0.2
    assert fault.triggered == 1
    storage_fault = api.emu.faults.latency(0.2, origin="storage")
    started = time.monotonic()
    async with api.session.get(api.emu.presign(available_id(api.emu))) as resp:
        assert resp.status == 200
    assert time.monotonic() - started >= 0.2
    assert storage_fault.triggered == 1


# Broken bodies ---------------------------------------------------------------------


async def test_reset_after_k_bytes(emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
    rid = available_id(emu)
    fault = emu.faults.reset(after_bytes=5_000)
    async with session.get(emu.presign(rid)) as resp:
        assert resp.status == 200
        received, error = await read_until_error(resp)
    assert error is not None
    assert received == emu.media_bytes(rid)[:5_000]  # every promised byte, then the RST
    assert fault.triggered == 1
    async with session.get(emu.presign(rid)) as resp:  # count=1: the next one is whole
        assert await resp.read() == emu.media_bytes(rid)


async def test_truncate_after_k_bytes(emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
    rid = available_id(emu)
    emu.faults.truncate(after_bytes=3_000)
    async with session.get(emu.presign(rid)) as resp:
        assert resp.headers["Content-Length"] == str(emu.media_size(rid))
        received, error = await read_until_error(resp)
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert received == emu.media_bytes(rid)[:3_000]


async def test_body_faults_apply_to_ranged_responses_too(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    rid = available_id(emu)
    emu.faults.truncate(after_bytes=100)
    async with session.get(emu.presign(rid), headers={"Range": "bytes=1000-"}) as resp:
        assert resp.status == 206
        received, error = await read_until_error(resp)
    assert error is not None
    assert received == emu.media_bytes(rid)[1000:1100]


async def test_body_fault_needs_a_longer_body(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    rid = available_id(emu)
    fault = emu.faults.truncate(after_bytes=50)
    async with session.get(emu.presign(rid), headers={"Range": "bytes=0-9"}) as resp:
        assert await resp.read() == emu.media_bytes(rid)[:10]
    assert fault.triggered == 0


async def test_stall_then_continue(emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
    rid = available_id(emu)
    emu.faults.stall(after_bytes=2_000, seconds=0.3)
    started = time.monotonic()
    async with session.get(emu.presign(rid)) as resp:
        assert await resp.read() == emu.media_bytes(rid)
    assert time.monotonic() - started >= 0.3


async def test_stall_trips_a_read_timeout(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    rid = available_id(emu)
    emu.faults.stall(after_bytes=2_000, seconds=0.5)
    timeout = aiohttp.ClientTimeout(sock_read=0.1)
    async with session.get(emu.presign(rid), timeout=timeout) as resp:
        received, error = await read_until_error(resp)
    assert isinstance(error, TimeoutError)
    assert received == emu.media_bytes(rid)[:2_000]


async def test_throttle_paces_the_body(emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
    rid = available_id(emu)
    size = emu.media_size(rid)
    fault = emu.faults.throttle((size - 2_000) / 0.3, after_bytes=2_000)
    started = time.monotonic()
    async with session.get(emu.presign(rid)) as resp:
        assert await resp.read() == emu.media_bytes(rid)
    # The paced part alone takes 0.3 s: the emulator sleeps until each slice is due.
    assert time.monotonic() - started >= 0.3
    assert fault.triggered == 1


def test_throttle_refuses_a_rate_that_is_not_positive(emu: BirdEmulator) -> None:
    with pytest.raises(ValueError, match="bytes_per_s"):
        emu.faults.throttle(0)


async def test_api_bodies_can_break_too(api: Api) -> None:
    api.emu.faults.truncate(after_bytes=20, origin="api")
    async with api.session.get(api.url("/recordings"), headers=api.headers) as resp:
        assert resp.status == 200
        received, error = await read_until_error(resp)
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert len(received) == 20


# Payload faults --------------------------------------------------------------------


async def test_malformed_json(api: Api) -> None:
    fault = api.emu.faults.malformed_json(path_contains="/recordings")
    async with api.session.get(api.url("/recordings"), headers=api.headers) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        text = await resp.text()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert fault.triggered == 1
    assert (await api.get_json("/recordings"))[0] == 200


async def test_unknown_fields_and_enum_values(api: Api) -> None:
    api.emu.faults.unknown_fields(count=2)
    rid = available_id(api.emu)
    _, page = await api.get_json("/recordings")
    _, one = await api.get_json(f"/recordings/{rid}")
    assert "emulatorFutureField" in page
    for item in [*page["results"], one]:
        assert item["labels"] == ["vip", "emulated"]
        assert item["origin"] == "ai-agent-record"
        rec = converter.structure(item, Recording)  # the lenient converter copes
        assert not rec.origin.is_known
        with pytest.raises(Exception, match=r"."):
            make_converter(strict=True).structure(item, Recording)
    _, plain = await api.get_json(f"/recordings/{rid}")
    assert "labels" not in plain


# Storage-specific faults -----------------------------------------------------------


async def test_expire_early(emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
    url = emu.presign(available_id(emu))
    fault = emu.faults.expire_early()
    for _ in range(2):
        async with session.get(url) as resp:
            assert resp.status == 403
            text = await resp.text()
        assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in text
        expires = re.search(r"<Expires>([^<]+)</Expires>", text)
        server_time = re.search(r"<ServerTime>([^<]+)</ServerTime>", text)
        assert expires
        assert server_time
        assert expires.group(1) > server_time.group(1)  # "expired" before its time
    assert fault.triggered == 2
    fault.cancel()
    async with session.get(url) as resp:
        assert resp.status == 200


async def test_expire_early_as_expired_token(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    emu.faults.expire_early(count=1, kind="token")
    async with session.get(emu.presign(available_id(emu))) as resp:
        assert resp.status == 400
        assert "<Code>ExpiredToken</Code>" in await resp.text()


async def test_expire_early_does_not_hide_bad_signatures(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    fault = emu.faults.expire_early()
    url = emu.presign(available_id(emu)).replace("X-Amz-Expires=600", "X-Amz-Expires=601")
    async with session.get(url) as resp:
        assert "SignatureDoesNotMatch" in await resp.text()
    assert fault.triggered == 0


async def test_ignore_range(emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
    rid = available_id(emu)
    fault = emu.faults.ignore_range()
    url = emu.presign(rid)
    async with session.get(url) as resp:  # no Range: not consumed
        assert resp.status == 200
    async with session.get(url, headers={"Range": "bytes=100-"}) as resp:
        assert resp.status == 200
        assert "Content-Range" not in resp.headers
        assert await resp.read() == emu.media_bytes(rid)
    async with session.get(url, headers={"Range": "bytes=100-"}) as resp:
        assert resp.status == 206
    assert fault.triggered == 1


async def test_media_replaced_mid_download(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    rid = available_id(emu)
    old_bytes, old_etag = emu.media_bytes(rid), emu.media_etag(rid)
    fault = emu.faults.replace_media(rid, after_bytes=4_096)
    url = emu.presign(rid)
    async with session.get(url) as resp:
        assert resp.headers["ETag"] == old_etag
        received, error = await read_until_error(resp)
    assert error is not None
    assert received == old_bytes[:4_096]
    assert fault.triggered == 1
    new_etag = emu.media_etag(rid)
    assert new_etag != old_etag
    # A careful resume notices: If-Match fails, If-Range sends the whole new object.
    headers = {"Range": "bytes=4096-", "If-Match": old_etag}
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 412
    headers = {"Range": "bytes=4096-", "If-Range": old_etag}
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] == new_etag
        assert await resp.read() == emu.media_bytes(rid)
    assert emu.media_bytes(rid) != old_bytes


async def test_replace_media_fault_only_for_its_recording(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    rid = available_id(emu)
    other = next(r for r, rec in emu.recordings.items() if r != rid and rec.status == "available")
    fault = emu.faults.replace_media(rid, after_bytes=10, size_bytes=30_000)
    async with session.get(emu.presign(other)) as resp:
        assert await resp.read() == emu.media_bytes(other)
    assert fault.triggered == 0
    async with session.get(emu.presign(rid)) as resp:
        await read_until_error(resp)
    assert emu.media_size(rid) == 30_000


def test_faults_are_public_types(emu: BirdEmulator) -> None:
    fault = emu.faults.status(500)
    assert isinstance(fault, StatusFault)
    assert fault.status == 500
    assert "StatusFault" in repr(fault)
