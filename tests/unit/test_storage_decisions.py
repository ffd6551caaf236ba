"""The storage decisions: plain tables, no event loop, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._protocol import S3Error
from bird_recordings._storage import (
    Asked,
    StorageAction,
    after_break,
    decide_error,
    judge_body,
    request_headers,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
A = StorageAction
ETAG = '"0123456789abcdef0123456789abcdef"'
OTHER = '"fedcba9876543210fedcba9876543210"'
LM = "Wed, 25 Nov 2026 11:00:00 GMT"


def s3(code: str | None, message: str = "") -> S3Error:
    return S3Error(code, message, {})


@pytest.mark.parametrize(
    ("status", "error", "asked", "expired", "action"),
    [
        # 416 at the end: we already have every byte.
        (416, s3("InvalidRange"), {"offset": 100, "total": 100, "accepted": True}, False, A.DONE),
        # 416 before the end: the object shrank; start over.
        (416, s3("InvalidRange"), {"offset": 50, "total": 100, "accepted": True}, False, A.RESTART),
        (416, s3("InvalidRange"), {"offset": 50, "accepted": True}, False, A.RESTART),
        # 416 to the caller's own range before any answer: past the end.
        (416, s3("InvalidRange"), {"offset": 50, "first_byte": 50}, False, A.RANGE_NOT_SATISFIABLE),
        (416, s3("InvalidRange"), {"last_byte": 9}, False, A.RANGE_NOT_SATISFIABLE),
        (412, s3("PreconditionFailed"), {"offset": 50, "total": 100}, False, A.RESTART),
        (403, s3("AccessDenied", "Request has expired"), {}, False, A.REFRESH_URL),
        (400, s3("ExpiredToken", "The provided token has expired."), {}, False, A.REFRESH_URL),
        (400, s3("TokenRefreshRequired"), {}, False, A.REFRESH_URL),
        # A plain 403 once the URL's own expiry has passed (server time): expired.
        (403, s3("AccessDenied", "Access Denied"), {}, True, A.REFRESH_URL),
        (403, s3("SignatureDoesNotMatch"), {}, False, A.REFRESH_ONCE),
        (404, s3("NoSuchKey"), {}, False, A.NOT_FOUND),
        (503, s3("SlowDown"), {}, False, A.RETRY),
        (500, s3("InternalError"), {}, False, A.RETRY),
        (429, s3(None), {}, False, A.RETRY),
        (400, s3("InvalidArgument", "Only one auth mechanism allowed"), {}, False, A.FAIL),
        (301, s3("PermanentRedirect"), {}, False, A.FAIL),
    ],
)
def test_decide_error(
    status: int, error: S3Error, asked: dict[str, Any], expired: bool, action: StorageAction
) -> None:
    expires = NOW - timedelta(seconds=5) if expired else NOW + timedelta(seconds=500)
    got = decide_error(
        Asked(**asked),
        status,
        error,
        retry=br.RetryPolicy(),
        url_expires_at=expires,
        server_now=NOW,
    )
    assert got is action


def test_a_policy_without_5xx_fails_a_5xx() -> None:
    policy = br.RetryPolicy(retry_statuses={429})
    assert (
        decide_error(
            Asked(), 503, s3("SlowDown"), retry=policy, url_expires_at=None, server_now=NOW
        )
        is A.FAIL
    )


@pytest.mark.parametrize(
    ("asked", "headers"),
    [
        ({}, {}),
        ({"probe": True}, {"Range": "bytes=0-0"}),
        ({"offset": 10, "etag": ETAG}, {"Range": "bytes=10-", "If-Match": ETAG}),
        # A weak ETag may not go in If-Match: Last-Modified with If-Range instead.
        (
            {"offset": 10, "etag": "W/" + ETAG, "last_modified": LM},
            {"Range": "bytes=10-", "If-Range": LM},
        ),
        (
            {"offset": 10, "last_byte": 19, "if_range": ETAG},
            {"Range": "bytes=10-19", "If-Range": ETAG},
        ),
        # The caller's If-Range only until storage accepted an answer.
        (
            {"offset": 15, "last_byte": 19, "if_range": ETAG, "accepted": True},
            {"Range": "bytes=15-19"},
        ),
        ({"offset": 0, "last_byte": 0}, {"Range": "bytes=0-0"}),
    ],
)
def test_request_headers(asked: dict[str, Any], headers: dict[str, str]) -> None:
    expected = {"Accept-Encoding": "identity", "User-Agent": "ua", **headers}
    assert request_headers(Asked(**asked), "ua") == expected


@pytest.mark.parametrize(
    ("asked", "resume", "action"),
    [
        ({}, True, A.RETRY),  # nothing received yet
        ({"offset": 10, "accepted": True, "etag": ETAG}, True, A.RETRY),
        ({"offset": 10, "accepted": True, "last_modified": LM}, True, A.RETRY),
        # Nothing ties a Range to the version we started with.
        ({"offset": 10, "accepted": True}, True, A.RESTART),
        ({"offset": 10, "accepted": True, "etag": "W/" + ETAG}, True, A.RESTART),
        ({"offset": 10, "accepted": True, "allow_restart": False}, True, A.FAIL),
        # Small bodies start over rather than resume.
        ({"offset": 10, "accepted": True, "etag": ETAG}, False, A.RESTART),
        ({"offset": 10, "accepted": True, "probe": True}, True, A.RETRY),
    ],
)
def test_after_break(asked: dict[str, Any], resume: bool, action: StorageAction) -> None:
    assert after_break(Asked(**asked), resume=resume) is action


@pytest.mark.parametrize(
    ("asked", "status", "headers", "length", "action", "skip", "known"),
    [
        # The first answer: its validators and size are what we now know.
        (
            {},
            200,
            {"ETag": ETAG, "Last-Modified": LM},
            100,
            A.ACCEPT,
            0,
            {"etag": ETAG, "total": 100, "last_modified": LM},
        ),
        # A resume answered 206 at our offset: go on.
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "total": 100},
            206,
            {"ETag": ETAG, "Content-Range": "bytes 40-99/100"},
            60,
            A.ACCEPT,
            0,
            {"offset": 40, "total": 100},
        ),
        # ...at another offset: refused.
        (
            {"offset": 40, "accepted": True, "etag": ETAG},
            206,
            {"ETag": ETAG, "Content-Range": "bytes 0-99/100"},
            100,
            A.BAD_RANGE,
            0,
            {},
        ),
        (
            {"offset": 40, "accepted": True, "etag": ETAG},
            206,
            {"ETag": ETAG},
            60,
            A.BAD_RANGE,
            0,
            {},
        ),
        # A new ETag or size: start over, or CHANGED when that is not allowed.
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "total": 100},
            206,
            {"ETag": OTHER, "Content-Range": "bytes 40-99/100"},
            60,
            A.RESTART,
            0,
            {"etag": OTHER, "total": None},
        ),
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "total": 100},
            206,
            {"ETag": ETAG, "Content-Range": "bytes 40-119/120"},
            80,
            A.RESTART,
            0,
            {},
        ),
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "allow_restart": False},
            206,
            {"ETag": OTHER, "Content-Range": "bytes 40-99/100"},
            60,
            A.CHANGED,
            0,
            {},
        ),
        # A resume whose answer lost its ETag is not tied to our version.
        (
            {"offset": 40, "accepted": True, "etag": ETAG},
            206,
            {"Content-Range": "bytes 40-99/100"},
            60,
            A.RESTART,
            0,
            {},
        ),
        # Last-Modified as the validator: a different one is another object.
        (
            {"offset": 40, "accepted": True, "last_modified": LM},
            206,
            {"Last-Modified": "x", "Content-Range": "bytes 40-99/100"},
            60,
            A.RESTART,
            0,
            {},
        ),
        # Storage ignored Range and sent the same whole object: skip what we have.
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "total": 100},
            200,
            {"ETag": ETAG},
            100,
            A.ACCEPT,
            40,
            {"total": 100},
        ),
        # ...a different whole object: start over with its size.
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "total": 100},
            200,
            {"ETag": OTHER},
            120,
            A.RESTART,
            0,
            {"etag": OTHER, "total": 120},
        ),
        (
            {"offset": 40, "accepted": True, "etag": ETAG, "allow_restart": False},
            200,
            {"ETag": OTHER},
            100,
            A.CHANGED,
            0,
            {},
        ),
        # If-Range did not hold: the whole new object, the range dropped.
        (
            {"offset": 10, "first_byte": 10, "last_byte": 19, "if_range": ETAG},
            200,
            {"ETag": OTHER},
            100,
            A.ACCEPT,
            0,
            {"offset": 0, "first_byte": 0, "last_byte": None, "total": 100},
        ),
        # A probe: the size from Content-Range, no body wanted.
        (
            {"probe": True},
            206,
            {"ETag": ETAG, "Content-Range": "bytes 0-0/100"},
            1,
            A.ACCEPT,
            0,
            {"total": 100, "etag": ETAG},
        ),
    ],
)
def test_judge_body(
    asked: dict[str, Any],
    status: int,
    headers: dict[str, str],
    length: int | None,
    action: StorageAction,
    skip: int,
    known: dict[str, Any],
) -> None:
    verdict = judge_body(Asked(**asked), status, headers, length)
    assert verdict.action is action
    assert verdict.skip == skip
    assert verdict.asked.accepted
    for name, value in known.items():
        assert getattr(verdict.asked, name) == value, name
