"""The sans-I/O protocol functions: plain tables, no event loop."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings import _protocol as proto
from bird_recordings._protocol import (
    ContentRange,
    api_error,
    decode_json,
    expected_md5,
    is_expired_error,
    is_md5_etag,
    list_params,
    parse_content_range,
    parse_s3_error,
    presigned_expiry,
    validate_media_location,
)

WS = "8bc0f1c4-7a9e-4a49-9f0e-2f5b1c1d2e3f"
URL = "https://api.bird.test/workspaces/ws/recordings/r1"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# --- auth and paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "expected"), [("AccessKey", "AccessKey k-1"), ("Bearer", "Bearer k-1")]
)
def test_auth_header(scheme: str, expected: str) -> None:
    assert proto.auth_header("k-1", scheme) == expected


@pytest.mark.parametrize("scheme", ["Basic", "accesskey", ""])
def test_auth_header_rejects_other_schemes(scheme: str) -> None:
    with pytest.raises(br.InvalidArgumentError, match="auth_scheme"):
        proto.auth_header("k-1", scheme)


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ((WS,), f"/workspaces/{WS}/recordings"),
        ((WS, "r1"), f"/workspaces/{WS}/recordings/r1"),
        ((WS, "r1", ".mp3"), f"/workspaces/{WS}/recordings/r1.mp3"),
        (("a/b", "../x"), "/workspaces/a%2Fb/recordings/..%2Fx"),
        (("w s", "r?1#"), "/workspaces/w%20s/recordings/r%3F1%23"),
    ],
)
def test_recording_path(args: tuple[str, ...], path: str) -> None:
    assert proto.recording_path(*args) == path


@pytest.mark.parametrize(("ws", "rid"), [("", None), ("  ", None), (WS, ""), (WS, " ")])
def test_recording_path_rejects_empty_segments(ws: str, rid: str | None) -> None:
    with pytest.raises(br.InvalidArgumentError, match="non-empty"):
        proto.recording_path(ws, rid)


def test_call_and_metrics_paths() -> None:
    assert proto.call_recordings_path(WS, "ch", "call") == (
        f"/workspaces/{WS}/channels/ch/calls/call/recordings"
    )
    assert proto.call_recordings_path(WS, "ch", "call", "r/1") == (
        f"/workspaces/{WS}/channels/ch/calls/call/recordings/r%2F1"
    )
    assert proto.metrics_path(WS) == f"/workspaces/{WS}/recording-metrics"
    with pytest.raises(br.InvalidArgumentError, match="channel_id"):
        proto.call_recordings_path(WS, "", "call")
    with pytest.raises(br.InvalidArgumentError, match="call_id"):
        proto.call_recordings_path(WS, "ch", "")


# --- list parameters -------------------------------------------------------------------


def test_list_params_every_filter() -> None:
    params = list_params(
        limit=50,
        source_id="src",
        channel_id="ch",
        call_id="call-1",
        direction=br.Direction.INCOMING,
        status="available",
        start_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        end_at=datetime(2024, 1, 3, 5, 0, tzinfo=timezone(timedelta(hours=2))),
        from_number="+31970",
        to_number="+35191",
    )
    assert params == {
        "limit": "50",
        "sourceId": "src",
        "channelId": "ch",
        "id": "call-1",
        "direction": "incoming",
        "status": "available",
        "startAt": "2024-01-02T03:04:05.678901Z",  # full precision, not ms
        "endAt": "2024-01-03T03:00:00.000000Z",
        "from": "+31970",
        "to": "+35191",
    }


def test_list_params_none_means_not_sent() -> None:
    assert list_params() == {}
    assert list_params(status=None, limit=None) == {}


def test_list_params_unknown_enum_value_is_sent_as_its_string() -> None:
    assert list_params(status=br.RecordingStatus("archived")) == {"status": "archived"}


@pytest.mark.parametrize("limit", [1, 10, 99])
def test_list_params_limit_in_range(limit: int) -> None:
    assert list_params(limit=limit) == {"limit": str(limit)}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, "between 1 and 99"),
        ({"limit": 100}, "between 1 and 99"),
        ({"limit": -1}, "between 1 and 99"),
        ({"limit": True}, "integer"),
        ({"limit": "10"}, "integer"),
        ({"limit": 10.0}, "integer"),
        ({"start_at": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"end_at": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"start_at": "2024-01-01T00:00:00Z"}, "must be a datetime"),
        (
            {
                "start_at": datetime(2024, 1, 2, tzinfo=UTC),
                "end_at": datetime(2024, 1, 1, tzinfo=UTC),
            },
            "after end_at",
        ),
        ({"source_id": ""}, "must not be empty"),
        ({"from_number": ""}, "must not be empty"),
        ({"status": ""}, "must not be empty"),
    ],
)
def test_list_params_rejects(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(br.InvalidArgumentError, match=match):
        list_params(**kwargs)


@pytest.mark.parametrize(("limit", "ok"), [(None, True), (1, True), (1000, True), (1001, False)])
def test_call_list_params(limit: int | None, ok: bool) -> None:
    if ok:
        assert proto.call_list_params(limit) == ({} if limit is None else {"limit": str(limit)})
    else:
        with pytest.raises(br.InvalidArgumentError, match="between 1 and 1000"):
            proto.call_list_params(limit)


@pytest.mark.parametrize("token", [None, "a", "x" * 8000])
def test_page_token_ok(token: str | None) -> None:
    proto.check_page_token(token)


@pytest.mark.parametrize("token", ["", "x" * 8001, 5])
def test_page_token_rejected(token: Any) -> None:
    with pytest.raises(br.InvalidArgumentError, match="page_token"):
        proto.check_page_token(token)


# --- decoding ------------------------------------------------------------------------


def test_decode_json() -> None:
    assert decode_json(b'{"a": [1, 2]}', what="x") == {"a": [1, 2]}
    assert decode_json(b"[]", what="x") == []


@pytest.mark.parametrize(
    "body", [b"", b"<html>Bad Gateway</html>", b'{"a": ', b"\xff\xfe\x00garbage"]
)
def test_decode_json_rejects_non_json(body: bytes) -> None:
    with pytest.raises(br.ResponseValidationError) as info:
        decode_json(body, what="recording r1")
    assert str(info.value).startswith("recording r1: the response is not JSON")
    assert info.value.errors == ("not JSON @ $",)
    assert info.value.__cause__ is not None


def test_decode_json_error_shows_only_a_short_snippet() -> None:
    with pytest.raises(br.ResponseValidationError) as info:
        decode_json(b"<html>" + b"x" * 10_000, what="page")
    assert len(str(info.value)) < 300


# --- API errors ---------------------------------------------------------------------


def _api_error(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return api_error(status, headers or {}, body, method="GET", url=URL, recording_id="r1", now=NOW)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, br.BadRequestError),
        (401, br.AuthenticationError),
        (403, br.PermissionDeniedError),
        (404, br.NotFoundError),
        (422, br.UnprocessableEntityError),
        (429, br.RateLimitError),
        (500, br.ServerError),
        (503, br.ServerError),
        (418, br.APIStatusError),
    ],
)
def test_api_error_from_bird_json(status: int, cls: type[br.APIStatusError]) -> None:
    body = json.dumps({"code": "SomeCode", "message": "Something happened"}).encode()
    err = _api_error(status, body)
    assert type(err) is cls
    assert err.status == status
    assert err.code == "SomeCode"
    assert err.message == "Something happened"
    assert err.method == "GET"
    assert err.url == URL
    assert err.recording_id == "r1"
    assert "SomeCode" in str(err)
    assert "Something happened" in str(err)


def test_api_error_details() -> None:
    body = json.dumps(
        {"code": "ValidationFailed", "message": "bad", "details": {"limit": ["too big"]}}
    ).encode()
    err = _api_error(422, body)
    assert err.details == {"limit": ["too big"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "<html><body><h1>502 Bad Gateway"),
        (b"upstream connect error", "upstream connect error"),
        (b"", ""),
        (b'["not", "an", "object"]', '["not", "an", "object"]'),
        (b'{"error": "other shape"}', '{"error": "other shape"}'),
        (b"\xff\xfe bytes", " bytes"),
    ],
)
def test_api_error_from_a_non_bird_body(body: bytes, message: str) -> None:
    err = _api_error(502, body)
    assert type(err) is br.ServerError
    assert err.code is None
    assert message in err.message
    assert err.details is None


def test_api_error_snippet_is_shortened_and_whitespace_collapsed() -> None:
    body = b"<html>\n\n   " + b"word " * 5000 + b"</html>"
    err = _api_error(503, body)
    assert len(err.message) <= 301
    assert err.message.endswith("…")
    assert "\n" not in err.message
    assert "  " not in err.message


def test_api_error_message_only() -> None:
    err = _api_error(404, b'{"message": "not found"}')
    assert err.code is None
    assert err.message == "not found"


@pytest.mark.parametrize(
    ("header", "retry_after"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "Wed, 25 Nov 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_api_error_429_retry_after(header: dict[str, str], retry_after: float | None) -> None:
    err = _api_error(429, b'{"code": "TooManyRequests", "message": "slow down"}', header)
    assert isinstance(err, br.RateLimitError)
    assert err.retry_after == retry_after


# --- presigned URLs -------------------------------------------------------------------

SIGNED = (
    "https://b.s3.amazonaws.com/o.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=c&X-Amz-Date=20231024T173426Z&X-Amz-Expires=600"
    "&X-Amz-SignedHeaders=host&X-Amz-Signature=s"
)


@pytest.mark.parametrize(
    ("url", "expiry"),
    [
        (SIGNED, datetime(2023, 10, 24, 17, 44, 26, tzinfo=UTC)),
        (
            "https://b.test/o?x-amz-date=20231024T173426Z&x-amz-expires=60",
            datetime(2023, 10, 24, 17, 35, 26, tzinfo=UTC),
        ),
        (
            "https://b.test/o?Expires=1700000000&Signature=s",
            datetime.fromtimestamp(1700000000, UTC),
        ),
        ("https://b.test/o?X-Amz-Date=20231024T173426Z", None),
        ("https://b.test/o?X-Amz-Expires=600", None),
        ("https://b.test/o?X-Amz-Date=yesterday&X-Amz-Expires=600", None),
        ("https://b.test/o?X-Amz-Date=20231024T173426Z&X-Amz-Expires=ten", None),
        ("https://b.test/o?X-Amz-Date=20231024T173426Z&X-Amz-Expires=99999999999999999", None),
        ("https://b.test/o?Expires=99999999999999999999", None),
        ("https://b.test/o?Expires=-5", None),
        ("https://b.test/o", None),
        ("not a url", None),
        ("http://[::1", None),
    ],
)
def test_presigned_expiry(url: str, expiry: datetime | None) -> None:
    assert presigned_expiry(url) == expiry


def test_media_url_from_string() -> None:
    media = proto.media_url_from_string(SIGNED, "r1")
    assert media.url == SIGNED
    assert media.recording_id == "r1"
    assert media.expires_at == datetime(2023, 10, 24, 17, 44, 26, tzinfo=UTC)
    assert media.seconds_left(datetime(2023, 10, 24, 17, 44, 0, tzinfo=UTC)) == 26
    assert proto.media_url_from_string("https://b.test/o").seconds_left(NOW) is None


@pytest.mark.parametrize(
    ("location", "api_url"),
    [
        (SIGNED, "https://api.bird.com"),
        ("HTTPS://b.test/o.mp3", "https://api.bird.com"),
        ("https://my_bucket.s3.amazonaws.com:443/o.mp3?a=%2F", "https://api.bird.com"),
        ("https://[2001:db8::1]/o.mp3", "https://api.bird.com"),
        ("http://127.0.0.1:9000/o.mp3", "http://127.0.0.1:8000"),
        ("http://storage.cluster.local/o.mp3", "http://api.cluster.local"),
    ],
)
def test_validate_media_location_accepts(location: str, api_url: str) -> None:
    assert validate_media_location(location, api_url=api_url) == location


@pytest.mark.parametrize(
    "location",
    [
        "http://localhost:9000/o.mp3",
        "http://media.localhost/o.mp3",
        "http://127.0.0.1:9000/o.mp3",
        "http://[::1]:9000/o.mp3",
        "http://evil.test/o.mp3",
    ],
)
def test_plain_http_storage_needs_an_http_api_or_the_opt_in(location: str) -> None:
    with pytest.raises(br.InvalidMediaURLError, match="allow_insecure_storage"):
        validate_media_location(location, api_url="https://api.bird.com")
    assert (
        validate_media_location(location, api_url="https://api.bird.com", allow_insecure=True)
        == location
    )


@pytest.mark.parametrize(
    "location",
    [
        "https://b.test\\@evil.test/o.mp3",
        "https://b.test:99999/o.mp3",
        "https://b.test:abc/o.mp3",
        "https://b.test:0/o.mp3",
        "https://b..test/o.mp3",
        "https://.b.test/o.mp3",
        "https://" + "a" * 64 + ".test/o.mp3",
        "https://b.test/o.mp3\r\nX-Injected: 1",
        "https://b.test/o\x00.mp3",
        "https://bücher.test/o.mp3",
        "https://b.test/o.mp3 ",
        "https://[::1/o.mp3",
        "https://[not-an-ip]/o.mp3",
    ],
)
def test_validate_media_location_refuses_malformed_urls_with_our_error(location: str) -> None:
    with pytest.raises(br.InvalidMediaURLError):
        validate_media_location(location, api_url="https://api.bird.com", recording_id="r1")


@pytest.mark.parametrize(
    ("location", "match"),
    [
        (None, "without a Location"),
        ("", "without a Location"),
        ("/relative/o.mp3", "not an absolute URL"),
        ("b.test/o.mp3", "not an absolute URL"),
        ("http://evil.test/o.mp3", "only https"),
        ("http://10.0.0.1/o.mp3", "only https"),
        ("ftp://b.test/o.mp3", "only https"),
        ("file:///etc/passwd", "not an absolute URL"),
        ("http://[::1/o.mp3", "not a URL"),
        ("https://b.test:99999/o.mp3", "not a URL"),
    ],
)
def test_validate_media_location_rejects(location: str | None, match: str) -> None:
    with pytest.raises(br.InvalidMediaURLError, match=match) as info:
        validate_media_location(location, api_url="https://api.bird.com", recording_id="r1")
    assert "r1" in str(info.value)


def test_validate_media_location_redacts_the_refused_url() -> None:
    with pytest.raises(br.InvalidMediaURLError) as info:
        validate_media_location(
            "http://evil.test/o.mp3?X-Amz-Signature=topsecret", api_url="https://api.bird.com"
        )
    assert "topsecret" not in str(info.value)


# --- S3 errors ----------------------------------------------------------------------

EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><X-Amz-Expires>600</X-Amz-Expires>"
    b"<Expires>2023-10-24T17:44:26Z</Expires><ServerTime>2023-10-24T17:50:00Z</ServerTime>"
    b"<RequestId>R</RequestId><HostId>H</HostId></Error>"
)


def test_parse_s3_error_expired() -> None:
    err = parse_s3_error(EXPIRED)
    assert err.code == "AccessDenied"
    assert err.message == "Request has expired"
    assert err.fields["X-Amz-Expires"] == "600"
    assert err.fields["ServerTime"] == "2023-10-24T17:50:00Z"
    assert is_expired_error(403, err)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
            b"</Message><Key>o.mp3</Key></Error>",
            "NoSuchKey",
            "The specified key does not exist.",
        ),
        (b"<Error><Code>SlowDown</Code></Error>", "SlowDown", ""),
        (b"<Error><Message>only a message</Message></Error>", None, "only a message"),
        (b"<html><body>Forbidden</body></html>", None, "<html><body>Forbidden</body></html>"),
        (b"not xml at all", None, "not xml at all"),
        (b"", None, ""),
        (b"<Error><Code>Unclosed", None, "<Error><Code>Unclosed"),
    ],
)
def test_parse_s3_error_table(body: bytes, code: str | None, message: str) -> None:
    err = parse_s3_error(body)
    assert err.code == code
    assert err.message == message


def test_parse_s3_error_nested_elements_are_not_fields() -> None:
    err = parse_s3_error(b"<Error><Code>X</Code><Nested><A>1</A></Nested></Error>")
    assert dict(err.fields) == {"Code": "X"}


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "boom">]><Error><Code>&e;</Code></Error>',
        b'<!ENTITY a "x"><Error/>',
    ],
)
def test_parse_s3_error_refuses_entity_declarations(body: bytes) -> None:
    err = parse_s3_error(body)
    assert err.code is None
    assert err.fields == {}


@pytest.mark.parametrize(
    ("status", "code", "message", "expired"),
    [
        (403, "AccessDenied", "Request has expired", True),
        (403, "AccessDenied", "request has EXPIRED", True),
        (403, "AccessDenied", "Access Denied", False),
        (403, "SignatureDoesNotMatch", "Request has expired", False),
        (400, "AccessDenied", "Request has expired", False),
        (404, "NoSuchKey", "", False),
    ],
)
def test_is_expired_error(status: int, code: str, message: str, expired: bool) -> None:
    assert is_expired_error(status, proto.S3Error(code, message, {})) is expired


# --- Content-Range and ETag -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("bytes 0-99/100", ContentRange(0, 99, 100)),
        ("bytes 100-199/1000", ContentRange(100, 199, 1000)),
        ("bytes 5-5/6", ContentRange(5, 5, 6)),
        ("bytes 0-99/*", ContentRange(0, 99, None)),
        ("BYTES 0-9/10", ContentRange(0, 9, 10)),
        ("  bytes   0-9/10  ", ContentRange(0, 9, 10)),
        ("bytes 10-5/100", None),
        ("bytes 0-100/100", None),
        ("bytes */100", None),
        ("bytes 0-99", None),
        ("items 0-9/10", None),
        ("bytes -5-9/10", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_content_range(value: str | None, parsed: ContentRange | None) -> None:
    assert parse_content_range(value) == parsed


@pytest.mark.parametrize(
    ("etag", "md5"),
    [
        ('"9e107d9d372bb6826bd81d3542a419d6"', "9e107d9d372bb6826bd81d3542a419d6"),
        ("9e107d9d372bb6826bd81d3542a419d6", "9e107d9d372bb6826bd81d3542a419d6"),
        ('"9E107D9D372BB6826BD81D3542A419D6"', "9e107d9d372bb6826bd81d3542a419d6"),
        ('"9e107d9d372bb6826bd81d3542a419d6-12"', None),
        ('W/"9e107d9d372bb6826bd81d3542a419d6"', None),
        ('"9e107d9d372bb6826bd81d3542a419"', None),
        ('"zz107d9d372bb6826bd81d3542a419d6"', None),
        ("", None),
        (None, None),
    ],
)
def test_is_md5_etag(etag: str | None, md5: str | None) -> None:
    assert is_md5_etag(etag) == md5


_HEX = "9e107d9d372bb6826bd81d3542a419d6"


@pytest.mark.parametrize(
    ("headers", "md5"),
    [
        ({}, _HEX),
        ({"x-amz-server-side-encryption": "AES256"}, _HEX),  # SSE-S3: the ETag is the MD5
        ({"x-amz-server-side-encryption": "aws:kms"}, None),
        ({"x-amz-server-side-encryption": "aws:kms:dsse"}, None),
        ({"x-amz-server-side-encryption": " AWS:KMS "}, None),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256"}, None),  # SSE-C
    ],
)
def test_expected_md5_knows_when_the_etag_is_not_the_body_md5(
    headers: dict[str, str], md5: str | None
) -> None:
    assert expected_md5(f'"{_HEX}"', headers) == md5
    assert expected_md5('"abc-3"', headers) is None  # multipart, whatever the encryption


@pytest.mark.parametrize(
    ("url", "lifetime"),
    [
        (SIGNED, 600.0),
        ("https://b.test/o?x-amz-expires=60", 60.0),
        ("https://b.test/o?X-Amz-Expires=ten", None),
        ("https://b.test/o?X-Amz-Expires=-5", None),
        ("https://b.test/o", None),
        ("http://[::1", None),
    ],
)
def test_presigned_lifetime(url: str, lifetime: float | None) -> None:
    assert proto.presigned_lifetime_s(url) == lifetime


@pytest.mark.parametrize("bad", [".", ".."])
def test_dot_segments_are_refused(bad: str) -> None:
    with pytest.raises(br.InvalidArgumentError):
        proto.recording_path("ws", bad)


def test_plain_ids_are_not_requoted_and_others_are() -> None:
    assert proto.recording_path("ws", "5b74ee9e-9d45") == "/workspaces/ws/recordings/5b74ee9e-9d45"
    assert proto.recording_path("ws", "a/b c") == "/workspaces/ws/recordings/a%2Fb%20c"
