"""Odd values from the network or the caller end as our typed errors (or are ignored)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import bird_recordings as br
from bird_recordings import _protocol as proto
from bird_recordings._redact import redact_text
from bird_recordings._retry import parse_retry_after

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["²", "٣", "1_0", "１２", "-1", "nan", "inf", "1e3", "Ⅻ"])
def test_retry_after_reads_ascii_digits_only(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_still_reads_seconds_and_dates() -> None:
    assert parse_retry_after("12", NOW) == 12.0
    assert parse_retry_after(" 1.5 ", NOW) == 1.5
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Wed, 25 Nov 99999 12:00:30 GMT", NOW) is None


@pytest.mark.parametrize("value", ["²", "٣٠٠", "1_0"])
def test_presigned_expiry_ignores_non_ascii_digits(value: str) -> None:
    url = f"https://b.test/o?X-Amz-Date=20261125T120000Z&X-Amz-Expires={value}"
    assert proto.presigned_expiry(url) is None
    assert proto.presigned_lifetime_s(url) is None
    assert proto.presigned_expiry(f"https://b.test/o?Expires={value}") is None


def test_content_range_reads_ascii_digits_only() -> None:
    assert proto.parse_content_range("bytes ٠-٩/١٠") is None
    assert proto.parse_content_range("bytes 0-9/10") == proto.ContentRange(0, 9, 10)


def test_deeply_nested_json_is_a_validation_error() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(br.ResponseValidationError, match="nested too deeply"):
        proto.decode_json(body, what="recording r1")
    # An error body that deep still gives an APIStatusError, not a RecursionError.
    error = proto.api_error(500, {}, b"[" * 60_000, method="GET", url="https://a.test/x")
    assert isinstance(error, br.ServerError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": "3"},
        {"max_retries": 1.5},
        {"backoff_initial_s": -0.1},
        {"backoff_max_s": float("nan")},
        {"backoff_multiplier": 0.5},
        {"jitter": 2},
        {"retry_after_max_s": float("inf")},
        {"retry_statuses": [1000]},
        {"retry_statuses": ["503"]},
        {"retry_statuses": 503},
    ],
)
def test_invalid_retry_policy_is_a_configuration_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(br.ConfigurationError):
        br.RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["abc\ndef", "abc\r\nX-Evil: 1", "a\x00b", "a\x7fb", "ключ"])
def test_an_access_key_that_cannot_be_a_header_is_refused_at_construction(key: str) -> None:
    with pytest.raises(br.ConfigurationError) as info:
        br.RecordingsClient(key, "ws")
    assert key not in str(info.value)


SIGNED = (
    "https://bucket.s3.eu-west-1.amazonaws.com/o.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLE%2F20261125%2Feu-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261125T120000Z&X-Amz-Expires=600"
    "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2F%3D&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef"
)
SECRETS = ("ASIAEXAMPLE", "IQoJb3JpZ2luX2VjEXAMPLE", "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    "text",
    [
        f"<html><body>Bad request for {SIGNED}</body></html>",
        SIGNED.replace("&", "&amp;"),
        SIGNED.replace("=", "%3D").replace("&", "%26"),
        f"400, message='Got more than 8190 bytes when reading: Location: {SIGNED}'",
    ],
)
def test_redact_text_hides_signing_parameters_anywhere(text: str) -> None:
    redacted = redact_text(text)
    for secret in SECRETS:
        assert secret not in redacted
    assert "X-Amz-Expires" in redacted


def test_errors_built_from_network_text_are_redacted() -> None:
    page = f"<Error><Code>AccessDenied</Code><Message>denied {SIGNED}</Message></Error>"
    errors: list[Exception] = [
        br.StorageError(status=403, code=None, message=page, url=SIGNED),
        br.APIStatusError(status=502, code=None, message=page, url=SIGNED),
        br.APIConnectionError(f"failed: {SIGNED}", url=SIGNED),
        br.ResponseValidationError(f"bad {SIGNED}", errors=(SIGNED,)),
        br.InvalidMediaURLError(f"bad {SIGNED}"),
        br.IntegrityError(f"bad {SIGNED}"),
        br.UnexpectedError(f"bad {SIGNED}"),
    ]
    for error in errors:
        text = str(error) + repr(vars(error))
        for secret in SECRETS:
            assert secret not in text, type(error).__name__
