"""The exception tree and the status table."""

from __future__ import annotations

import pytest

import bird_recordings as br
from bird_recordings._errors import error_class_for_status
from tests.conftest import ACCESS_KEY


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
        (501, br.ServerError),
        (502, br.ServerError),
        (503, br.ServerError),
        (504, br.ServerError),
        (599, br.ServerError),
        (405, br.APIStatusError),
        (409, br.APIStatusError),
        (418, br.APIStatusError),
    ],
)
def test_status_table(status: int, cls: type[br.APIStatusError]) -> None:
    assert error_class_for_status(status) is cls


@pytest.mark.parametrize(
    "cls",
    [
        br.BadRequestError,
        br.AuthenticationError,
        br.PermissionDeniedError,
        br.NotFoundError,
        br.UnprocessableEntityError,
        br.RateLimitError,
        br.ServerError,
    ],
)
def test_status_classes_derive_from_api_status_error(cls: type[br.APIStatusError]) -> None:
    assert issubclass(cls, br.APIStatusError)
    assert issubclass(cls, br.BirdRecordingsError)


def test_tree() -> None:
    assert issubclass(br.APITimeoutError, br.APIConnectionError)
    assert issubclass(br.APITimeoutError, TimeoutError)
    assert issubclass(br.ResponseValidationError, br.BirdRecordingsError)
    assert issubclass(br.ConfigurationError, ValueError)
    assert issubclass(br.ClientClosedError, br.BirdRecordingsError)
    assert not issubclass(br.APIConnectionError, br.APIStatusError)


def test_message_content() -> None:
    err = br.NotFoundError(
        status=404,
        code="NotFound",
        message="recording not found",
        url="https://api.bird.test/workspaces/ws/recordings/r1",
        method="GET",
        recording_id="r1",
    )
    assert str(err) == (
        "HTTP 404 NotFound: recording not found [recording r1] "
        "(GET https://api.bird.test/workspaces/ws/recordings/r1)"
    )
    assert (err.status, err.code, err.message, err.recording_id) == (
        404,
        "NotFound",
        "recording not found",
        "r1",
    )


def test_message_without_code_message_or_url() -> None:
    assert str(br.ServerError(status=502, code=None, message="")) == "HTTP 502"
    assert str(br.ServerError(status=502, code=None, message="Bad gateway")) == (
        "HTTP 502: Bad gateway"
    )


def test_rate_limit_error_carries_retry_after() -> None:
    err = br.RateLimitError(retry_after=7.5, status=429, code="TooManyRequests", message="slow")
    assert err.retry_after == 7.5
    assert err.status == 429
    assert br.RateLimitError(status=429, code=None, message="").retry_after is None


def test_urls_in_errors_are_redacted() -> None:
    url = "https://user:pw@s3.test/o.mp3?X-Amz-Signature=sig123&X-Amz-Security-Token=tok456"
    for err in (
        br.ServerError(status=500, code=None, message="x", url=url),
        br.APIConnectionError("failed", url=url),
        br.APITimeoutError("timed out", url=url),
        br.StorageError(status=403, code="AccessDenied", message="expired", url=url),
    ):
        for text in (str(err), repr(err), str(getattr(err, "url", ""))):
            assert "sig123" not in text
            assert "tok456" not in text
            assert ":pw@" not in text


def test_connection_error_message() -> None:
    assert str(br.APIConnectionError("GET request failed")) == "GET request failed"
    err = br.APIConnectionError("GET request failed", url="https://api.bird.test/x")
    assert str(err) == "GET request failed (https://api.bird.test/x)"


def test_access_key_is_not_part_of_any_error() -> None:
    # Errors are built from status, body and URL; the key is never an input.
    err = br.AuthenticationError(
        status=401,
        code="Unauthorized",
        message="invalid access key",
        url="https://api.bird.test/workspaces/ws/recordings",
        method="GET",
    )
    assert ACCESS_KEY not in str(err)
    assert ACCESS_KEY not in repr(err)
    assert ACCESS_KEY not in repr(vars(err))


def test_recording_not_available_message() -> None:
    err = br.RecordingNotAvailableError("r1", "ongoing")
    assert "r1" in str(err)
    assert "'ongoing'" in str(err)
    assert err.status == "ongoing"


def test_storage_error_message() -> None:
    err = br.StorageError(
        status=404,
        code="NoSuchKey",
        message="The specified key does not exist.",
        url="https://s3.test/o.mp3?X-Amz-Signature=sig999",
        recording_id="r1",
    )
    assert str(err) == (
        "storage answered HTTP 404 NoSuchKey: The specified key does not exist. "
        "[recording r1] (https://s3.test/o.mp3?X-Amz-Signature=REDACTED)"
    )
    assert str(br.StorageError(status=503, code=None, message="")) == "storage answered HTTP 503"
    assert issubclass(br.MediaURLExpiredError, br.StorageError)


def test_integrity_errors() -> None:
    err = br.MediaChangedError("ETag changed", recording_id="r1")
    assert isinstance(err, br.IntegrityError)
    assert err.recording_id == "r1"
    assert str(err) == "ETag changed"
