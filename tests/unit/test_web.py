"""The framework-free part of the web helpers: Range parsing and error answers."""

from __future__ import annotations

import pytest

import bird_recordings as br
from bird_recordings._web import ByteRange, error_answer, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=1000-", ByteRange(1000, None)),
        ("bytes=0-", ByteRange(0, None)),
        ("bytes=10-19", ByteRange(10, 19)),
        ("Bytes = 5 - 5", ByteRange(5, 5)),
        (None, None),
        ("", None),
        ("bytes=-500", None),  # suffix: served whole
        ("bytes=0-1,5-9", None),  # multi-range: served whole
        ("bytes=9-3", None),  # invalid: ignored
        ("items=0-5", None),
        ("bytes=abc-", None),
        ("bytes=" + "9" * 30 + "-", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header) == expected


SIGNED = "https://s3.example/ws/x.mp3?X-Amz-Signature=abc"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            br.NotFoundError(status=404, code="NotFound", message="ws 123 has no x"),
            404,
            "recording_not_found",
        ),
        (br.InvalidArgumentError("bad id"), 404, "recording_not_found"),
        (br.RecordingNotAvailableError("r", "ongoing"), 409, "recording_not_available"),
        (
            br.RangeNotSatisfiableError(
                status=416, code="InvalidRange", message="m", url=SIGNED, size_bytes=77
            ),
            416,
            "range_not_satisfiable",
        ),
        (
            br.RateLimitError(status=429, code=None, message="slow", retry_after=2.5),
            503,
            "rate_limited",
        ),
        (br.APITimeoutError("took too long", url=SIGNED), 504, "upstream_timeout"),
        (
            br.StorageError(status=500, code="InternalError", message="m", url=SIGNED),
            502,
            "upstream_error",
        ),
        (br.AuthenticationError(status=401, code="x", message="bad key"), 502, "upstream_error"),
    ],
)
def test_error_answers_carry_no_details(
    error: br.BirdRecordingsError, status: int, code: str
) -> None:
    answer = error_answer(error)
    assert (answer.status, answer.code) == (status, code)
    assert set(answer.body) == {"code", "message"}
    for secret in ("123", "X-Amz", "s3.example", "bad key", "InternalError"):
        assert secret not in answer.message


def test_error_answer_headers() -> None:
    assert error_answer(
        br.RateLimitError(status=429, code=None, message="", retry_after=2.5)
    ).headers == {"Retry-After": "3"}
    assert error_answer(br.RateLimitError(status=429, code=None, message="")).headers == {
        "Retry-After": "5"
    }
    unsatisfiable = br.RangeNotSatisfiableError(status=416, code=None, message="", size_bytes=9)
    assert error_answer(unsatisfiable).headers == {"Content-Range": "bytes */9"}


def test_a_strange_status_is_not_echoed() -> None:
    answer = error_answer(br.RecordingNotAvailableError("r", "<script>"))
    assert "<script>" not in answer.message
