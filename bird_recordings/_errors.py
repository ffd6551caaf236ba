"""The exception tree, and the one table from HTTP status to exception class.

Every exception the library raises derives from :class:`BirdRecordingsError`.
Foreign exceptions (aiohttp, OSError, cattrs) are always chained with ``from``.
Messages carry what a person needs to act (status, Bird's ``code``/``message``,
the recording id, a redacted URL) and never a credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._redact import redact_text, redact_url

if TYPE_CHECKING:
    from ._models import Transcription

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BirdRecordingsError",
    "ClientClosedError",
    "ConfigurationError",
    "DestinationExistsError",
    "FileWriteError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidMediaURLError",
    "MediaChangedError",
    "MediaURLExpiredError",
    "NotFoundError",
    "PermissionDeniedError",
    "RangeNotSatisfiableError",
    "RateLimitError",
    "RateLimiterUnavailableError",
    "RecordingNotAvailableError",
    "ResponseValidationError",
    "ServerError",
    "StorageError",
    "TranscriptionFailedError",
    "TranscriptionNotAvailableError",
    "TranscriptionTimeoutError",
    "UnexpectedError",
    "UnprocessableEntityError",
    "UnsafePathError",
    "WebhookSignatureError",
    "as_library_error",
    "error_class_for_status",
]


class BirdRecordingsError(Exception):
    """Root of every exception raised by ``bird_recordings``.

    Every subclass pickles (for multiprocessing, Celery result backends): the
    copy has the same message and attributes; ``__cause__`` is not carried,
    as with any pickled exception.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # The default (cls, self.args) calls __init__ again, which most of our
        # classes cannot take: their arguments are keyword-only attributes.
        # OSError (TimeoutError too) keeps errno, strerror and filename outside
        # args and __dict__: its own reduce lists them as constructor arguments.
        new_args = OSError.__reduce__(self)[1] if isinstance(self, OSError) else self.args
        return (_unpickle_error, (type(self), new_args, self.__dict__))


def _unpickle_error(
    cls: type[BirdRecordingsError], new_args: tuple[object, ...], state: dict[str, object]
) -> BirdRecordingsError:
    """Rebuild a pickled error without calling its ``__init__``."""
    error = cls.__new__(cls, *new_args)
    if isinstance(error, OSError):
        # Sets errno/strerror/filename and args (a no-op when __new__ already did).
        OSError.__init__(error, *new_args)
    else:
        error.args = new_args
    error.__dict__.update(state)
    return error


class ConfigurationError(BirdRecordingsError, ValueError):
    """The client was configured wrongly (missing key or workspace, bad option)."""


class InvalidArgumentError(BirdRecordingsError, ValueError):
    """An argument to a call is out of range or of the wrong kind; nothing was sent."""


class ClientClosedError(BirdRecordingsError, RuntimeError):
    """The client was used after :meth:`RecordingsClient.aclose`.

    Also raised by a download or stream that was in flight when the client was
    closed (or when the borrowed ``aiohttp.ClientSession`` was closed by its
    owner): the transfer stops, its temporary file is removed.
    """


class UnsafePathError(BirdRecordingsError, ValueError):
    """A local file name is not one safe path component, or would leave the folder.

    The name was built from a recording id, a ``format`` or a caller's path.

    Refused: separators, ``.``/``..``, control characters, NUL, names too long
    for the temporary file beside them, and a symbolic link that leads out of
    the folder. Nothing was requested or written for that item.
    """


class UnexpectedError(BirdRecordingsError):
    """A failure the library did not foresee (a bug, or an input no check caught).

    Bulk calls report it as the item's outcome instead of ending the batch; the
    original exception is ``__cause__``. Please report it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))


class APIConnectionError(BirdRecordingsError):
    """The request did not complete: DNS, connect, reset, or a broken body.

    ``url`` is redacted. The original aiohttp or OS error is ``__cause__``.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = redact_url(url) if url is not None else None
        message = redact_text(message)
        super().__init__(f"{message} ({self.url})" if self.url else message)


class APITimeoutError(APIConnectionError, TimeoutError):
    """A connect, read or stall timeout. Also a :class:`TimeoutError`."""


class APIStatusError(BirdRecordingsError):
    """Bird's API answered with an error status.

    Attributes: ``status`` (int), ``code`` and ``message`` (from Bird's
    ``{"code", "message"}`` body when it is JSON, else ``code`` is ``None`` and
    ``message`` is the start of the raw text), ``details`` (Bird's optional
    ``details``), ``method``, ``url`` (redacted) and ``recording_id`` when known.
    """

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        message: str,
        url: str | None = None,
        method: str | None = None,
        recording_id: str | None = None,
        details: object = None,
    ) -> None:
        self.status = status
        self.code = redact_text(code) if code is not None else None
        self.message = redact_text(message)
        self.url = redact_url(url) if url is not None else None
        self.method = method
        self.recording_id = recording_id
        self.details = details
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"HTTP {self.status}"
        if self.code:
            head += f" {self.code}"
        text = f"{head}: {self.message}" if self.message else head
        if self.recording_id:
            text += f" [recording {self.recording_id}]"
        if self.url:
            text += f" ({self.method} {self.url})" if self.method else f" ({self.url})"
        return text


class BadRequestError(APIStatusError):
    """400: the request was malformed."""


class AuthenticationError(APIStatusError):
    """401: the access key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks the role for this workspace or call."""


class NotFoundError(APIStatusError):
    """404: no such workspace, recording or call."""


class UnprocessableEntityError(APIStatusError):
    """422: Bird's validation failed (for example a malformed id or limit)."""


class RateLimitError(APIStatusError):
    """429: the request was not processed. ``retry_after`` is seconds, when Bird said."""

    def __init__(self, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)  # type: ignore[arg-type]


class RateLimiterUnavailableError(BirdRecordingsError, ConnectionError):
    """The shared rate budget's store (Redis) cannot be reached; nothing was sent.

    Raised by ``bird_recordings.redis.RedisRateLimiter(on_redis_error="raise")``
    instead of sending requests that nobody counted. The store's own error is
    ``__cause__``; the message names the store with its password redacted.
    Also a :class:`ConnectionError`.
    """


class ServerError(APIStatusError):
    """5xx: Bird or a proxy in front of it failed; safe to retry later."""


class ResponseValidationError(BirdRecordingsError, ValueError):
    """A response body did not have the documented shape (or was too large or too deep).

    ``errors`` lists each problem with its field path (``$.results[3].status``).
    """

    def __init__(self, message: str, *, errors: tuple[str, ...] = ()) -> None:
        self.errors = tuple(redact_text(error) for error in errors)
        super().__init__(redact_text(message))


class RecordingNotAvailableError(BirdRecordingsError):
    """The recording has no media yet (its status is not ``available``).

    Raised before any media request; no file is created.
    """

    def __init__(self, recording_id: str, status: str | None) -> None:
        self.recording_id = recording_id
        self.status = status
        super().__init__(
            f"recording {recording_id} has no media: status is {status!r}, "
            "media exists only for status 'available'"
        )


class InvalidMediaURLError(BirdRecordingsError):
    """Bird's ``.mp3`` endpoint did not redirect to a usable storage URL.

    Also raised for a plain ``http`` storage URL when the API is ``https`` and
    ``allow_insecure_storage`` is off.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))


class StorageError(BirdRecordingsError):
    """The storage origin (S3) refused or failed a media request.

    ``status``, ``code`` (S3's error code such as ``NoSuchKey`` or ``SlowDown``),
    ``message``, ``url`` (redacted) and ``recording_id``.
    """

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        message: str,
        url: str | None = None,
        recording_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = redact_text(code) if code is not None else None
        self.message = message = redact_text(message)
        self.url = redact_url(url) if url is not None else None
        self.recording_id = recording_id
        text = f"storage answered HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if recording_id:
            text += f" [recording {recording_id}]"
        if self.url:
            text += f" ({self.url})"
        super().__init__(text)


class MediaURLExpiredError(StorageError):
    """The presigned URL expired and refreshing it did not help (refreshes exhausted)."""


class IntegrityError(BirdRecordingsError):
    """The bytes received do not match the size or MD5 the storage promised."""

    def __init__(self, message: str, *, recording_id: str | None = None) -> None:
        self.recording_id = recording_id
        super().__init__(redact_text(message))


class MediaChangedError(IntegrityError):
    """The stored object changed while it was being streamed.

    :meth:`RecordingsClient.download_recording` restarts from zero instead and
    never raises this for a single change; a stream cannot take back bytes it
    already handed out, so :meth:`RecordingsClient.stream_recording` raises it.
    """


class DestinationExistsError(BirdRecordingsError, FileExistsError):
    """The target file exists and ``overwrite`` is false; nothing was downloaded."""


class FileWriteError(BirdRecordingsError, OSError):
    """The local file could not be written (disk full, permissions…).

    The OSError is ``__cause__``; the final path is untouched and no temporary
    file is left behind.
    """


class TranscriptionNotAvailableError(BirdRecordingsError):
    """The transcription has no text (its status is not ``available``).

    ``transcription_id``, ``status`` (the status Bird reported) and
    ``transcription`` (the :class:`Transcription` as last seen, when known).
    Raised by :meth:`RecordingsClient.get_transcription_content` and
    :meth:`RecordingsClient.download_transcription` while it is still
    ``accepted`` or ``ongoing``; wait with
    :meth:`RecordingsClient.wait_for_transcription` first.
    """

    def __init__(
        self,
        transcription_id: str,
        status: str | None,
        *,
        transcription: Transcription | None = None,
        message: str | None = None,
    ) -> None:
        self.transcription_id = transcription_id
        self.status = status
        self.transcription = transcription
        super().__init__(
            message
            or f"transcription {transcription_id} has no text: status is {status!r}, "
            "text exists only for status 'available'"
        )


class TranscriptionFailedError(TranscriptionNotAvailableError):
    """The transcription ended without text: status ``failed`` or ``absent``.

    ``absent`` means there was nothing to transcribe, such as a recording
    without speech.

    Check ``status`` to tell the two apart. Requesting a new transcription of
    the same recording is the only remedy; for ``absent`` it will likely end
    the same way.
    """

    def __init__(
        self,
        transcription_id: str,
        status: str | None,
        *,
        transcription: Transcription | None = None,
    ) -> None:
        reason = "found nothing to transcribe" if status == "absent" else "failed"
        super().__init__(
            transcription_id,
            status,
            transcription=transcription,
            message=f"transcription {transcription_id} {reason} (status {status!r})",
        )


class TranscriptionTimeoutError(BirdRecordingsError, TimeoutError):
    """:meth:`RecordingsClient.wait_for_transcription` gave up: no final status in time.

    Also a :class:`TimeoutError`. ``transcription_id``, ``timeout_s`` and
    ``transcription`` (the last status seen, ``None`` if no poll succeeded).
    The transcription is not cancelled: wait again, or poll it later.
    """

    def __init__(
        self,
        transcription_id: str,
        timeout_s: float,
        *,
        transcription: Transcription | None = None,
    ) -> None:
        self.transcription_id = transcription_id
        self.timeout_s = timeout_s
        self.transcription = transcription
        last = f"last status {str(transcription.status)!r}" if transcription else "no status seen"
        super().__init__(
            f"transcription {transcription_id} did not finish within {timeout_s:g} s ({last})"
        )


_STATUS_ERRORS: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an API error status (5xx → :class:`ServerError`)."""
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, APIStatusError)


def as_library_error(exc: Exception, what: str) -> BirdRecordingsError:
    """``exc`` itself if it is ours, else ours wrapping it (``__cause__`` is ``exc``).

    For the places that promise one outcome per item (bulk calls): an
    ``OSError`` becomes :class:`FileWriteError`, anything else
    :class:`UnexpectedError`, with a redacted message.
    """
    if isinstance(exc, BirdRecordingsError):
        return exc
    error: BirdRecordingsError
    if isinstance(exc, OSError):
        error = FileWriteError(f"{what}: {redact_text(exc.strerror or str(exc))}")
        error.errno = exc.errno
    else:
        error = UnexpectedError(f"{what}: {type(exc).__name__}: {redact_text(str(exc))}")
    error.__cause__ = exc
    return error


class RangeNotSatisfiableError(StorageError):
    """The byte range asked of a stream lies beyond the object (storage answered 416).

    The range was asked of :meth:`RecordingsClient.stream_recording`.

    ``size_bytes`` is the object's size when storage said it (``Content-Range:
    bytes */<size>``), else ``None``.
    """

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        message: str,
        url: str | None = None,
        recording_id: str | None = None,
        size_bytes: int | None = None,
    ) -> None:
        self.size_bytes = size_bytes
        super().__init__(
            status=status, code=code, message=message, url=url, recording_id=recording_id
        )


class WebhookSignatureError(BirdRecordingsError):
    """A webhook delivery failed verification (:func:`bird_recordings.webhooks.verify`).

    ``reason`` says which check failed (``missing-signature``, ``missing-timestamp``,
    ``bad-timestamp``, ``stale-timestamp``, ``bad-base64``, ``bad-length``,
    ``mismatch``); neither it nor the message reveals the key or the expected
    signature.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
