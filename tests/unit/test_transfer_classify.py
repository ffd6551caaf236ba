"""How the transfer loop classifies storage answers (no I/O: a stub engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._download import _Transfer
from bird_recordings._protocol import S3Error

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def transfer(*, offset: int = 0, total: int | None = None, expired: bool = False) -> _Transfer:
    engine: Any = SimpleNamespace(
        retry=br.RetryPolicy(), server_now=lambda: NOW, url_safety_margin_s=30.0
    )
    expires = NOW - timedelta(seconds=5) if expired else NOW + timedelta(seconds=500)
    media_url = br.MediaURL(url="https://s3.test/a.mp3", expires_at=expires)
    t = _Transfer(engine, "rec-1", media_url, chunk_size=1024, allow_restart=True)
    t.offset, t.total = offset, total
    return t


def s3(code: str | None, message: str = "") -> S3Error:
    return S3Error(code, message, {})


@pytest.mark.parametrize(
    ("status", "error", "state", "action"),
    [
        # 416 at the end: we already have every byte.
        (416, s3("InvalidRange"), {"offset": 100, "total": 100}, "done"),
        # 416 before the end: the object shrank; start over.
        (416, s3("InvalidRange"), {"offset": 50, "total": 100}, "restart"),
        (416, s3("InvalidRange"), {"offset": 50}, "restart"),
        (412, s3("PreconditionFailed"), {"offset": 50, "total": 100}, "restart"),
        (403, s3("AccessDenied", "Request has expired"), {}, "refresh"),
        (400, s3("ExpiredToken", "The provided token has expired."), {}, "refresh"),
        (403, s3("AccessDenied", "Access Denied"), {"expired": True}, "refresh"),
        (403, s3("SignatureDoesNotMatch"), {}, "forbidden"),
        (404, s3("NoSuchKey"), {}, "not-found"),
        (503, s3("SlowDown"), {}, "retry"),
        (500, s3("InternalError"), {}, "retry"),
        (400, s3("InvalidArgument", "Only one auth mechanism allowed"), {}, "fatal"),
    ],
)
def test_classify(status: int, error: S3Error, state: dict[str, Any], action: str) -> None:
    assert transfer(**state)._classify(status, error) == action
