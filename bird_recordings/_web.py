"""What the web-server helpers share, framework-free.

That is: the client's ``Range``, the headers of a media answer, and the HTTP
answer for each library error.

Pure functions over plain values; :mod:`bird_recordings.starlette` and
:mod:`bird_recordings.aiohttp_server` are the thin adapters.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from attrs import frozen

from ._constants import LOGGER_NAME
from ._errors import (
    APITimeoutError,
    BirdRecordingsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    RangeNotSatisfiableError,
    RateLimitError,
    RecordingNotAvailableError,
    UnprocessableEntityError,
)

if TYPE_CHECKING:
    from ._download import MediaStream

__all__ = [
    "ByteRange",
    "ErrorAnswer",
    "error_answer",
    "media_headers",
    "parse_range",
]

logger: Final = logging.getLogger(LOGGER_NAME)

#: ``Retry-After`` sent with a 503 when Bird rate-limited us without saying for how long.
DEFAULT_RETRY_AFTER_S: Final = 5
_SINGLE_RANGE: Final = re.compile(r"^\s*bytes\s*=\s*(\d{1,19})\s*-\s*(\d{0,19})\s*$", re.IGNORECASE)
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_SAFE_STATUS: Final = re.compile(r"^[a-z-]{1,32}$")


@frozen
class ByteRange:
    """One ``bytes=first-[last]`` range; ``last`` is included, ``None`` for "to the end"."""

    first: int
    last: int | None


def parse_range(header: str | None) -> ByteRange | None:
    """The single range of a ``Range`` header, or ``None`` to serve the whole object.

    Absent, malformed, multi-range (``bytes=0-1,5-9``) and suffix (``bytes=-500``)
    headers are ignored, as RFC 9110 section 14.2 allows a server to do: the answer is
    ``200`` with the whole body.
    """
    if not header:
        return None
    match = _SINGLE_RANGE.match(header)
    if match is None:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else None
    if last is not None and last < first:
        return None  # invalid range-spec: ignore the header (RFC 9110 14.1.1)
    return ByteRange(first, last)


@frozen(kw_only=True)
class ErrorAnswer:
    """The HTTP answer for a library error: status, a JSON ``{"code", "message"}``, headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str]

    @property
    def body(self) -> dict[str, str]:
        """The JSON body."""
        return {"code": self.code, "message": self.message}


def error_answer(exc: BirdRecordingsError) -> ErrorAnswer:
    """Map an error raised before any byte was sent to an HTTP answer.

    The messages are our own: no workspace id, URL, key or Bird error text
    reaches the HTTP client (the full, redacted error is logged instead).

    ============================  ======  ===========================
    error                         status  code
    ============================  ======  ===========================
    NotFoundError                 404     ``recording_not_found``
    InvalidArgument/Unprocessable 404     ``recording_not_found``
    RecordingNotAvailableError    409     ``recording_not_available``
    RangeNotSatisfiableError      416     ``range_not_satisfiable``
    RateLimitError                503     ``rate_limited``
    APITimeoutError               504     ``upstream_timeout``
    any other                     502     ``upstream_error``
    ============================  ======  ===========================
    """
    if isinstance(exc, NotFoundError | InvalidArgumentError | UnprocessableEntityError):
        return ErrorAnswer(
            status=404, code="recording_not_found", message="no such recording", headers={}
        )
    if isinstance(exc, RecordingNotAvailableError):
        status = str(exc.status or "")
        detail = f" (status {status})" if _SAFE_STATUS.match(status) else ""
        return ErrorAnswer(
            status=409,
            code="recording_not_available",
            message=f"the recording has no media yet{detail}",
            headers={},
        )
    if isinstance(exc, RangeNotSatisfiableError):
        headers = {} if exc.size_bytes is None else {"Content-Range": f"bytes */{exc.size_bytes}"}
        return ErrorAnswer(
            status=416,
            code="range_not_satisfiable",
            message="the requested range is beyond the end of the recording",
            headers=headers,
        )
    if isinstance(exc, RateLimitError):
        wait = DEFAULT_RETRY_AFTER_S if exc.retry_after is None else math.ceil(exc.retry_after)
        return ErrorAnswer(
            status=503,
            code="rate_limited",
            message="rate limited by Bird; try again later",
            headers={"Retry-After": str(max(wait, 0))},
        )
    if isinstance(exc, APITimeoutError):
        return ErrorAnswer(
            status=504, code="upstream_timeout", message="Bird did not answer in time", headers={}
        )
    return ErrorAnswer(
        status=502,
        code="upstream_error",
        message="the recording could not be fetched from Bird",
        headers={},
    )


def log_refusal(exc: BirdRecordingsError, answer: ErrorAnswer) -> None:
    """Log why a media request was refused (the error text is already redacted)."""
    level = logging.INFO if answer.status < 500 else logging.WARNING
    logger.log(level, "media request answered %d %s: %s", answer.status, answer.code, exc)


def media_headers(
    media: MediaStream,
    extra: Mapping[str, str] | None = None,
    *,
    asked: ByteRange | None = None,
    if_range: str | None = None,
) -> tuple[int, dict[str, str]]:
    """The status (200 or 206) and headers of an answer carrying an open stream.

    ``Content-Type: audio/mpeg``, ``Accept-Ranges: bytes``, ``Content-Length``,
    ``ETag`` (when storage sent them), ``Content-Range`` for a range, and an
    inline ``Content-Disposition`` naming ``<recording id>.mp3``; ``extra``
    headers last. ``asked`` and ``if_range`` are what the HTTP client sent.

    Raises:
        IntegrityError: a range whose extent storage did not say.
    """
    headers = {"Content-Type": "audio/mpeg", "Accept-Ranges": "bytes"}
    if _SAFE_ID.match(media.recording_id):
        headers["Content-Disposition"] = f'inline; filename="{media.recording_id}.mp3"'
    if media.content_length is not None:
        headers["Content-Length"] = str(media.content_length)
    if media.etag and media.etag.isprintable():
        headers["ETag"] = media.etag
    status = 200
    last = media.last_byte
    # ``bytes=0-`` (what browsers send for media) asks for everything; it still gets a
    # 206 so the player knows it can seek, unless If-Range names another version.
    whole_as_range = (
        asked is not None
        and asked.first == 0
        and asked.last is None
        and (if_range is None or if_range == media.etag)
    )
    if media.is_partial or whole_as_range:
        if last is None:
            # S3 always says (Content-Range or Content-Length); a range of unknown
            # extent cannot be described to the HTTP client.
            raise IntegrityError(
                f"recording {media.recording_id}: storage did not say the size of the range",
                recording_id=media.recording_id,
            )
        total = "*" if media.size_bytes is None else str(media.size_bytes)
        headers["Content-Range"] = f"bytes {media.first_byte}-{last}/{total}"
        status = 206
    if extra:
        headers.update(extra)
    return status, headers
