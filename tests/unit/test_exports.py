"""The curated surface: __all__ is sorted, complete and importable."""

from __future__ import annotations

import errno
import inspect
import pickle
import traceback
import typing
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

import bird_recordings as br


def test_all_is_sorted_and_unique() -> None:
    assert list(br.__all__) == sorted(set(br.__all__), key=str)


def test_every_public_name_resolves_and_has_a_docstring() -> None:
    for name in br.__all__:
        obj = getattr(br, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        assert obj.__doc__, f"{name} has no docstring"


def test_no_public_name_is_left_out() -> None:
    public = {
        name
        for name, value in vars(br).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(br.__name__)
    }
    assert public <= set(br.__all__) | {"emulator", "cli"}


def test_public_names_report_the_package_as_their_module() -> None:
    for name in br.__all__:
        if name == "__version__":
            continue
        assert getattr(br, name).__module__ == "bird_recordings", name


@pytest.mark.parametrize(
    "name", [name for name in br.__all__ if isinstance(getattr(br, name), type)]
)
def test_type_hints_of_public_classes_still_resolve(name: str) -> None:
    # get_type_hints evaluates string annotations in the namespace __module__ names;
    # attrs.resolve_types and cattrs (the converter, the emulator's writer) depend on it.
    cls = getattr(br, name)
    hints = typing.get_type_hints(cls)
    assert not any(isinstance(hint, str) for hint in hints.values())
    if attrs.has(cls):
        attrs.resolve_types(cls)


def test_a_traceback_names_the_public_path() -> None:
    try:
        raise br.NotFoundError(status=404, code="NotFound", message="no such recording")
    except br.NotFoundError as exc:
        text = "".join(traceback.format_exception(exc))
    assert "bird_recordings.NotFoundError: HTTP 404 NotFound: no such recording" in text
    assert "_errors" not in text.splitlines()[-1]


_URL = "https://media.example/r.mp3?X-Amz-Signature=secret&X-Amz-Expires=600"
_TRANSCRIPTION = br.Transcription(
    id="t-1",
    recording_id="r-1",
    status=br.TranscriptionStatus("failed"),
    locale="en-US",
    created_at=datetime(2026, 1, 2, tzinfo=UTC),
    updated_at=datetime(2026, 1, 2, 0, 1, tzinfo=UTC),
)
_STATUS = {"code": "Code", "message": "what Bird said", "url": _URL, "recording_id": "r-1"}
#: One instance of every public error class, built as the library builds it.
ERRORS: list[br.BirdRecordingsError] = [
    br.BirdRecordingsError("root"),
    br.ConfigurationError("no access key"),
    br.InvalidArgumentError("limit must be positive"),
    br.ClientClosedError("closed"),
    br.APIConnectionError("connection reset", url=_URL),
    br.APITimeoutError("read timeout", url=_URL),
    br.APIStatusError(status=418, method="GET", details={"why": "teapot"}, **_STATUS),
    br.BadRequestError(status=400, **_STATUS),
    br.AuthenticationError(status=401, **_STATUS),
    br.PermissionDeniedError(status=403, **_STATUS),
    br.NotFoundError(status=404, **_STATUS),
    br.UnprocessableEntityError(status=422, **_STATUS),
    br.RateLimitError(retry_after=2.5, status=429, **_STATUS),
    br.ServerError(status=503, **_STATUS),
    br.ResponseValidationError("bad body", errors=("$.results[0].status",)),
    br.RecordingNotAvailableError("r-1", "pending"),
    br.InvalidMediaURLError("no Location"),
    br.StorageError(status=503, code="SlowDown", message="slow", url=_URL, recording_id="r-1"),
    br.MediaURLExpiredError(status=403, code="AccessDenied", message="expired", url=_URL),
    br.IntegrityError("md5 mismatch", recording_id="r-1"),
    br.MediaChangedError("etag changed", recording_id="r-1"),
    br.DestinationExistsError("r-1.mp3 exists"),
    br.FileWriteError(errno.ENOSPC, "No space left on device", "r-1.mp3"),
    br.TranscriptionNotAvailableError("t-1", "ongoing"),
    br.TranscriptionFailedError("t-1", "failed", transcription=_TRANSCRIPTION),
    br.TranscriptionTimeoutError("t-1", 30.0, transcription=_TRANSCRIPTION),
    br.UnsafePathError("'../x' is not a single file name"),
    br.UnexpectedError("download r-1: ValueError: odd"),
    br.RangeNotSatisfiableError(
        status=416, code="InvalidRange", message="beyond", url=_URL, size_bytes=10
    ),
    br.WebhookSignatureError("stale", "the timestamp is outside the tolerance"),
    br.RateLimiterUnavailableError("the shared rate budget is unreachable"),
]


def test_every_public_error_class_is_in_the_pickle_table() -> None:
    public = {
        obj
        for obj in map(vars(br).get, br.__all__)
        if isinstance(obj, type) and issubclass(obj, br.BirdRecordingsError)
    }
    assert {type(error) for error in ERRORS} == public


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_errors_survive_a_pickle_round_trip(error: br.BirdRecordingsError) -> None:
    # Celery result backends and multiprocessing pickle what a task raised.
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - bytes this test just made
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
    assert "secret" not in str(copy)
    if isinstance(error, OSError):
        assert isinstance(copy, OSError)
        assert (copy.errno, copy.strerror, copy.filename) == (
            error.errno,
            error.strerror,
            error.filename,
        )


def test_every_client_option_is_in_the_docstring_and_the_configuration_page() -> None:
    options = [
        name
        for name, parameter in inspect.signature(br.RecordingsClient).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert "pool_size" in options
    doc = br.RecordingsClient.__doc__ or ""
    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for name in options:
        assert f"    {name}: " in doc, name
        assert f"| `{name}` |" in page, name
