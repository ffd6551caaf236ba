"""Storage conformance: the S3 behaviours of presigned GETs, over real sockets."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
from yarl import URL

from bird_recordings.emulator import BirdEmulator

from .conftest import available_id


def s3_code(text: str) -> str:
    match = re.search(r"<Code>([^<]*)</Code>", text)
    assert match, text
    return match.group(1)


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def rid(emu: BirdEmulator) -> str:
    return available_id(emu)


async def test_full_get_has_s3_headers_and_exact_bytes(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    async with session.get(emu.presign(rid)) as resp:
        assert resp.status == 200
        body = await resp.read()
        headers = resp.headers
    data = emu.media_bytes(rid)
    assert body == data
    assert headers["Content-Length"] == str(len(data))
    assert headers["ETag"] == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Last-Modified"].endswith(" GMT")
    assert headers["Server"] == "AmazonS3"
    assert headers["x-amz-request-id"]


async def test_url_is_reusable_until_expiry(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    url = emu.presign(rid)
    for _ in range(3):
        async with session.get(url) as resp:
            assert resp.status == 200
        emu.advance_clock(199)
    emu.advance_clock(4)  # 601 s after signing
    async with session.get(url) as resp:
        assert resp.status == 403
        text = await resp.text()
        assert resp.content_type == "application/xml"
    assert s3_code(text) == "AccessDenied"
    assert "<Message>Request has expired</Message>" in text
    assert "<X-Amz-Expires>600</X-Amz-Expires>" in text
    assert "<Expires>2023-11-14T22:23:20Z</Expires>" in text
    assert "<ServerTime>2023-11-14T22:23:21Z</ServerTime>" in text
    assert "<RequestId>" in text
    assert "<HostId>" in text


async def test_presign_with_custom_lifetime(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    url = emu.presign(rid, expires_s=2)
    assert "X-Amz-Expires=2&" in url
    async with session.get(url) as resp:
        assert resp.status == 200
    emu.advance_clock(3)
    async with session.get(url) as resp:
        assert resp.status == 403


async def test_short_url_lifetime_of_the_emulator(session: aiohttp.ClientSession) -> None:
    async with BirdEmulator(recordings=3, seed=1, url_expires_s=1) as emu:
        rid = next(iter(emu.recordings))
        assert "X-Amz-Expires=1&" in emu.presign(rid)


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, None),
        ("bytes=-500", -500, None),
        ("bytes=5-99999999", 5, None),
        ("bytes=-99999999", 0, None),
    ],
)
async def test_ranges_answer_206_with_content_range(
    emu: BirdEmulator,
    session: aiohttp.ClientSession,
    rid: str,
    range_header: str,
    start: int,
    end: int | None,
) -> None:
    data = emu.media_bytes(rid)
    size = len(data)
    first = start if start >= 0 else size + start
    last = size - 1 if end is None else end
    async with session.get(emu.presign(rid), headers={"Range": range_header}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert resp.headers["Content-Length"] == str(last - first + 1)
        assert resp.headers["ETag"] == emu.media_etag(rid)
        assert await resp.read() == data[first : last + 1]


@pytest.mark.parametrize("range_header", ["bytes={size}-", "bytes={size}-{size}", "bytes=-0"])
async def test_unsatisfiable_range_is_416_invalid_range(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str, range_header: str
) -> None:
    size = emu.media_size(rid)
    async with session.get(
        emu.presign(rid), headers={"Range": range_header.format(size=size)}
    ) as resp:
        assert resp.status == 416
        assert s3_code(await resp.text()) == "InvalidRange"
        assert resp.headers["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("range_header", ["bytes=0-1,5-6", "bytes=9-3", "items=0-5", "bytes=x-"])
async def test_ranges_s3_ignores_get_the_whole_object(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str, range_header: str
) -> None:
    async with session.get(emu.presign(rid), headers={"Range": range_header}) as resp:
        assert resp.status == 200
        assert await resp.read() == emu.media_bytes(rid)


async def test_if_match(emu: BirdEmulator, session: aiohttp.ClientSession, rid: str) -> None:
    etag = emu.media_etag(rid)
    url = emu.presign(rid)
    async with session.get(url, headers={"If-Match": etag, "Range": "bytes=10-"}) as resp:
        assert resp.status == 206
    async with session.get(url, headers={"If-Match": '"0123"'}) as resp:
        assert resp.status == 412
        assert s3_code(await resp.text()) == "PreconditionFailed"
    emu.replace_media(rid)
    async with session.get(url, headers={"If-Match": etag, "Range": "bytes=10-"}) as resp:
        assert resp.status == 412


async def test_if_range(emu: BirdEmulator, session: aiohttp.ClientSession, rid: str) -> None:
    etag = emu.media_etag(rid)
    url = emu.presign(rid)
    async with session.get(url, headers={"If-Range": etag, "Range": "bytes=10-"}) as resp:
        assert resp.status == 206
        last_modified = resp.headers["Last-Modified"]
    async with session.get(url, headers={"If-Range": last_modified, "Range": "bytes=10-"}) as resp:
        assert resp.status == 206
    emu.replace_media(rid)
    async with session.get(url, headers={"If-Range": etag, "Range": "bytes=10-"}) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] != etag
        assert await resp.read() == emu.media_bytes(rid)


async def test_if_none_match_and_modified_since(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    url = emu.presign(rid)
    async with session.get(url, headers={"If-None-Match": emu.media_etag(rid)}) as resp:
        assert resp.status == 304
        last_modified = resp.headers["Last-Modified"]
    async with session.get(url, headers={"If-Modified-Since": last_modified}) as resp:
        assert resp.status == 304
    async with session.get(
        url, headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    ) as resp:
        assert resp.status == 412


async def test_head_on_a_get_url_is_403_without_body(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    async with session.head(emu.presign(rid)) as resp:
        assert resp.status == 403
        assert await resp.read() == b""


async def test_authorization_header_with_presigned_url_is_400(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    headers = {"Authorization": f"AccessKey {emu.access_key}"}
    async with session.get(emu.presign(rid), headers=headers) as resp:
        assert resp.status == 400
        text = await resp.text()
    assert s3_code(text) == "InvalidArgument"
    assert "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter" in text
    assert emu.access_key not in text


async def test_unsigned_requests_are_refused(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    bare = urlunsplit(urlsplit(emu.presign(rid))._replace(query=""))
    async with session.get(bare) as resp:
        assert resp.status == 403
        assert s3_code(await resp.text()) == "AccessDenied"
    async with session.get(bare, headers={"Authorization": "AccessKey x"}) as resp:
        assert resp.status == 400
        assert s3_code(await resp.text()) == "InvalidArgument"


@pytest.mark.parametrize(
    "changes",
    [
        {"X-Amz-Signature": "0" * 64},
        {"X-Amz-Expires": "700"},
        {"X-Amz-Date": "20231114T221400Z"},
        {"X-Amz-Security-Token": "forged"},
        {"x-id": "PutObject"},
        {"extra": "1"},
    ],
)
async def test_tampered_urls_are_signature_mismatches(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str, changes: dict[str, str]
) -> None:
    async with session.get(with_query(emu.presign(rid), **changes)) as resp:
        assert resp.status == 403
        assert s3_code(await resp.text()) == "SignatureDoesNotMatch"


async def test_other_key_with_same_signature_is_refused(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    other = next(r for r, rec in emu.recordings.items() if r != rid and rec.status == "available")
    url = emu.presign(rid).replace(rid, other)
    async with session.get(url) as resp:
        assert resp.status == 403
        assert s3_code(await resp.text()) == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"X-Amz-Credential": None}, "AuthorizationQueryParametersError"),
        ({"X-Amz-Algorithm": "AWS4-HMAC-SHA1"}, "AuthorizationQueryParametersError"),
        ({"X-Amz-Date": "2023-11-14"}, "AuthorizationQueryParametersError"),
        ({"X-Amz-Expires": "604801"}, "AuthorizationQueryParametersError"),
        (
            {"X-Amz-Credential": "AKIAOTHER/20231114/eu-west-1/s3/aws4_request"},
            "InvalidAccessKeyId",
        ),
    ],
)
async def test_malformed_query_auth(
    emu: BirdEmulator,
    session: aiohttp.ClientSession,
    rid: str,
    changes: dict[str, str | None],
    code: str,
) -> None:
    async with session.get(with_query(emu.presign(rid), **changes)) as resp:
        assert resp.status in (400, 403)
        assert s3_code(await resp.text()) == code


async def test_decoded_colon_in_the_key_still_matches(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    url = emu.presign(rid).replace("%3A", ":")
    async with session.get(URL(url, encoded=True)) as resp:
        assert resp.status == 200
    records = [r for r in emu.requests if r.origin == "storage"]
    assert records[-1].path == f"/workspaceID:{emu.workspace_id}/{rid}.mp3"
    assert records[-1].recording_id == rid


async def test_unknown_key_and_non_available_recording_are_no_such_key(
    emu: BirdEmulator, session: aiohttp.ClientSession
) -> None:
    pending = next(r for r, rec in emu.recordings.items() if rec.status != "available")
    async with session.get(emu.presign(pending)) as resp:
        assert resp.status == 404
        text = await resp.text()
    assert s3_code(text) == "NoSuchKey"
    assert f"<Key>workspaceID:{emu.workspace_id}/{pending}.mp3</Key>" in text


async def test_large_object_streams_without_being_held(
    session: aiohttp.ClientSession,
) -> None:
    async with BirdEmulator(recordings=0, seed=2) as emu:
        rec = emu.add_recording(size_bytes=24 * 1024 * 1024 + 7)
        digest = hashlib.md5(usedforsecurity=False)
        async with session.get(emu.presign(rec.id)) as resp:
            assert resp.status == 200
            async for chunk in resp.content.iter_chunked(1 << 20):
                digest.update(chunk)
            assert resp.headers["ETag"] == f'"{digest.hexdigest()}"'
        assert emu.media_etag(rec.id) == f'"{digest.hexdigest()}"'
        async with session.get(emu.presign(rec.id), headers={"Range": "bytes=-10"}) as resp:
            assert resp.status == 206
            assert len(await resp.read()) == 10


async def test_storage_request_log(
    emu: BirdEmulator, session: aiohttp.ClientSession, rid: str
) -> None:
    emu.clear_requests()
    async with session.get(emu.presign(rid), headers={"Range": "bytes=0-9"}) as resp:
        await resp.read()
    (record,) = emu.requests
    assert record.origin == "storage"
    assert record.status == 206
    assert record.headers["range"] == "bytes=0-9"
    assert record.query["X-Amz-Expires"] == "600"
    assert record.raw_path.startswith("/workspaceID")  # yarl may send %3A as ':'
    assert record.recording_id == rid
