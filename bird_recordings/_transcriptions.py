"""Transcriptions: the pure parts and the two loops that do I/O.

The pure parts are locales, paths, formats, poll delays and decoding; the
loops do their I/O through the client's requester and transport.

Polling (:meth:`TranscriptionEngine.wait`)::

    GET /transcriptions/{id} (rate limited, retried like every GET)
      final?        -> available: return it; failed/absent: TranscriptionFailedError
      not yet       -> sleep min(capped jittered backoff or Retry-After, time left)
      5xx/429/drop  -> (after the requester's own retries) keep polling until the deadline
      deadline      -> TranscriptionTimeoutError (a TimeoutError)

Content (:meth:`TranscriptionEngine.fetch`)::

    GET /transcriptions/{id}.{fmt}  (Accept: the format's type, no redirects followed)
      200           -> the body is the text
      3xx Location  -> checked like the .mp3 redirect, then a storage GET with no
                       Authorization and no cookies; 403 expired -> ask the API again;
                       5xx/SlowDown/drop -> back off and retry; length and MD5 checked
      404           -> get the transcription to explain: not available yet, failed, or gone

A transcript is small text, so a broken storage body is fetched again from the
start instead of resumed with ``Range`` (what :mod:`._download` does for media).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote

from attrs import frozen

from . import _paths
from . import _protocol as proto
from ._constants import (
    DEFAULT_TRANSCRIPTION_LOCALE,
    LOGGER_NAME,
    MAX_CONSECUTIVE_URL_REFRESHES,
    MAX_TRANSCRIPT_BYTES,
    TRANSCRIPT_FORMATS,
    TRANSCRIPTION_LOCALES,
)
from ._converter import structure
from ._errors import (
    APIConnectionError,
    APIStatusError,
    BirdRecordingsError,
    IntegrityError,
    InvalidArgumentError,
    MediaURLExpiredError,
    NotFoundError,
    RecordingNotAvailableError,
    ResponseValidationError,
    StorageError,
    TranscriptionFailedError,
    TranscriptionNotAvailableError,
    TranscriptionTimeoutError,
)
from ._files import FileSink
from ._models import Recording, RecordingStatus, Transcription, TranscriptionStatus
from ._redact import redact_url
from ._retry import parse_retry_after
from ._transport import StreamResponse

if TYPE_CHECKING:
    from ._client import RecordingsClient

__all__ = [
    "TranscriptFormat",
    "TranscriptionDownloadResult",
    "TranscriptionEngine",
    "TranscriptionRef",
    "check_format",
    "check_locale",
    "create_body",
    "decode_content",
    "poll_delay_s",
    "transcription_path",
]

logger: Final = logging.getLogger(LOGGER_NAME)

TranscriptFormat = Literal["json", "srt", "vtt", "txt"]
TranscriptionRef = Transcription | str

_REDIRECT_STATUSES: Final = (301, 302, 303, 307, 308)
_EXPIRED_CODES: Final = frozenset({"ExpiredToken", "TokenRefreshRequired"})
_ACCEPT: Final = {
    "json": "application/json",
    "srt": "application/x-subrip, text/plain;q=0.9, */*;q=0.1",
    "vtt": "text/vtt, text/plain;q=0.9, */*;q=0.1",
    "txt": "text/plain, */*;q=0.1",
}
_FINAL_FAILURES: Final = frozenset({TranscriptionStatus.FAILED, TranscriptionStatus.ABSENT})
# Statuses a poll takes back from the requester instead of having it retry them.
_POLL_OK: Final = (200, 408, 429, 500, 502, 503, 504)


# --- pure ---------------------------------------------------------------------------


def check_locale(locale: str) -> str:
    """Return ``locale`` if Bird documents it for transcriptions, else raise.

    The check is case-sensitive, as Bird spells locales (``en-US``, ``en-GB-WLS``,
    ``arb``). The error names the nearest valid locales.

    Raises:
        InvalidArgumentError: not a supported locale (nothing was sent).
    """
    if isinstance(locale, str) and locale in TRANSCRIPTION_LOCALES:
        return locale
    if not isinstance(locale, str) or not locale.strip():
        raise InvalidArgumentError(
            f"locale must be a transcription locale such as {DEFAULT_TRANSCRIPTION_LOCALE!r}, "
            f"got {locale!r}"
        )
    by_lower = {known.lower(): known for known in sorted(TRANSCRIPTION_LOCALES)}
    wanted = locale.strip().replace("_", "-").lower()
    close = [by_lower[wanted]] if wanted in by_lower else []
    close += [
        by_lower[m]
        for m in difflib.get_close_matches(wanted, list(by_lower), n=3, cutoff=0.5)
        if by_lower[m] not in close
    ]
    hint = f"; did you mean {' or '.join(repr(c) for c in close[:3])}?" if close else ""
    raise InvalidArgumentError(
        f"{locale!r} is not a transcription locale Bird supports{hint} "
        "(locales are case-sensitive, spelled as Bird documents them)"
    )


def check_format(fmt: str) -> TranscriptFormat:
    """Return ``fmt`` if it is ``json``, ``srt``, ``vtt`` or ``txt``; else InvalidArgumentError."""
    if fmt not in TRANSCRIPT_FORMATS:
        raise InvalidArgumentError(
            f"format must be one of {', '.join(TRANSCRIPT_FORMATS)}, not {fmt!r}"
        )
    return fmt  # type: ignore[return-value]


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def transcription_path(
    workspace_id: str, transcription_id: str | None = None, suffix: str = ""
) -> str:
    """``/workspaces/{ws}/transcriptions[/{id}{suffix}]`` with each segment quoted."""
    path = f"/workspaces/{_segment(workspace_id, 'workspace_id')}/transcriptions"
    if transcription_id is not None:
        path += f"/{_segment(transcription_id, 'transcription_id')}{suffix}"
    return path


def create_path(workspace_id: str, recording_id: str) -> str:
    """``/workspaces/{ws}/recordings/{id}/transcriptions``."""
    return proto.recording_path(workspace_id, recording_id, "/transcriptions")


def create_body(
    locale: str, message_id: str | None = None, conversation_id: str | None = None
) -> dict[str, str]:
    """The JSON body of ``POST …/transcriptions``, validated (optional ids only when given)."""
    body = {"locale": check_locale(locale)}
    for key, value in (("messageId", message_id), ("conversationId", conversation_id)):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InvalidArgumentError(f"{key} must be a non-empty string, got {value!r}")
        body[key] = value
    return body


def poll_delay_s(
    polls_done: int,
    *,
    initial_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next poll: capped exponential backoff with "equal jitter".

    ``min(max_s, initial_s * 2**n)`` times a random factor in ``[0.5, 1)``, so
    two pollers drift apart but a wait is never below half the nominal delay
    (never zero: a poller cannot spin). A server's ``Retry-After`` is a floor.
    """
    base = min(max_s, initial_s * 2.0 ** min(polls_done, 32))
    delay = base * (0.5 + 0.5 * rand())
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


def decode_content(body: bytes, fmt: TranscriptFormat, *, what: str) -> str | object:
    """The transcript as ``str`` (txt, srt, vtt) or parsed JSON (``json``).

    A UTF-8 byte order mark is dropped. Raises :class:`ResponseValidationError`
    when the bytes are not UTF-8 (or not JSON for ``json``).
    """
    if fmt == "json":
        return proto.decode_json(body, what=what)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResponseValidationError(
            f"{what}: the {fmt} text is not UTF-8 ({exc.reason} at byte {exc.start})",
            errors=("not UTF-8 @ $",),
        ) from exc


def decode_transcription(body: bytes, *, what: str) -> Transcription:
    """A :class:`Transcription` from a JSON body, or :class:`ResponseValidationError`."""
    return structure(proto.decode_json(body, what=what), Transcription, what=what)


def transcription_id_of(ref: TranscriptionRef) -> str:
    """The id of a :class:`Transcription` or an id string."""
    if isinstance(ref, Transcription):
        return ref.id
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidArgumentError(
            f"expected a Transcription or a transcription id string, got {ref!r}"
        )
    return ref


def recording_id_for_create(ref: Recording | str) -> str:
    """The recording id to transcribe; a :class:`Recording` without media is refused."""
    if isinstance(ref, Recording):
        if ref.status != RecordingStatus.AVAILABLE:
            raise RecordingNotAvailableError(ref.id, str(ref.status))
        return ref.id
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidArgumentError(f"expected a Recording or a recording id string, got {ref!r}")
    return ref


def check_wait_options(
    timeout_s: float | None, poll_interval_s: float, max_poll_interval_s: float
) -> None:
    """Reject non-positive timings before any request."""
    for name, value in (
        ("timeout_s", timeout_s),
        ("poll_interval_s", poll_interval_s),
        ("max_poll_interval_s", max_poll_interval_s),
    ):
        if value is None and name == "timeout_s":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
    if max_poll_interval_s < poll_interval_s:
        raise InvalidArgumentError("max_poll_interval_s must not be below poll_interval_s")


def transcript_target(transcription_id: str, path: str | Path | None, fmt: str) -> Path:
    """The file to write: ``path``, or ``<path>/<id>.<fmt>`` when it is a folder.

    Raises :class:`UnsafePathError` when the id would not make one safe file
    name, or the file would land outside the folder.
    """
    if path is not None:
        target = Path(path)
        if "\x00" in str(path):
            return _paths.check_local_path(target, what="transcript path")
        if not _paths.names_a_folder(path):
            return _paths.check_local_path(target.absolute(), what="transcript path")
    folder = Path(path if path is not None else ".").absolute()
    name = _paths.file_name(transcription_id, fmt, what="transcript file name")
    return _paths.check_inside(folder, folder / name, what="transcript file name")


@frozen(kw_only=True)
class TranscriptionDownloadResult:
    """A transcript written to disk by :meth:`RecordingsClient.download_transcription`.

    ``path`` is the final file, ``size_bytes`` its length, ``format`` one of
    ``json``, ``srt``, ``vtt``, ``txt`` and ``md5`` the hex MD5 of the bytes.
    """

    transcription_id: str
    path: Path
    size_bytes: int
    format: str
    md5: str | None = None


# --- I/O ---------------------------------------------------------------------------------


class TranscriptionEngine:
    """Polling and content fetching for one client (shares its requester, transport, clock)."""

    def __init__(self, client: RecordingsClient) -> None:
        self.client = client

    # -- metadata --------------------------------------------------------------------

    async def get(
        self, transcription_id: str, *, polling: bool = False
    ) -> tuple[Transcription | None, float | None, APIStatusError | None]:
        """``(transcription, Retry-After seconds, error)`` of one GET.

        Normally a retryable status is retried by the requester and any error
        raised. When ``polling``, a retryable status (429, 5xx) is handed back
        as ``error`` with its ``Retry-After`` instead: the poll loop is the retry.
        """
        api = self.client._requester()
        path = transcription_path(self.client.workspace_id, transcription_id)
        what = f"transcription {transcription_id}"
        ok = _POLL_OK if polling else (200,)
        response = await api.send("GET", path, ok=ok)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), api.clock.now())
        if response.status != 200:
            error = proto.api_error(
                response.status,
                response.headers,
                api._scrub(response.body[: proto.MAX_ERROR_BODY_BYTES]),
                method="GET",
                url=api.url(path),
                now=api.clock.now(),
            )
            if not self.client.retry.is_retryable_status(response.status):
                raise error
            return None, retry_after, error
        return decode_transcription(response.body, what=what), retry_after, None

    # -- polling ---------------------------------------------------------------------

    async def wait(
        self,
        transcription_id: str,
        *,
        timeout_s: float | None,
        poll_interval_s: float,
        max_poll_interval_s: float,
    ) -> Transcription:
        clock = self.client.clock
        deadline = None if timeout_s is None else clock.monotonic() + timeout_s
        polls = 0
        last: Transcription | None = None
        while True:
            retry_after: float | None = None
            failure: BirdRecordingsError | None = None
            try:
                seen, retry_after, failure = await self.get(transcription_id, polling=True)
            except APIConnectionError as exc:
                # The requester already retried; a long wait outlives a bad minute.
                failure = exc
            if failure is not None:
                logger.info(
                    "transcription %s: poll failed (%s); polling on", transcription_id, failure
                )
            else:
                assert seen is not None
                last = seen
                if last.status == TranscriptionStatus.AVAILABLE:
                    return last
                if last.status in _FINAL_FAILURES:
                    raise TranscriptionFailedError(
                        transcription_id, str(last.status), transcription=last
                    )
            delay = poll_delay_s(
                polls,
                initial_s=poll_interval_s,
                max_s=max_poll_interval_s,
                retry_after_s=retry_after,
            )
            polls += 1
            if deadline is not None:
                left = deadline - clock.monotonic()
                if left <= 0:
                    assert timeout_s is not None
                    raise TranscriptionTimeoutError(
                        transcription_id, timeout_s, transcription=last
                    ) from failure
                # One last look at the deadline rather than sleeping past it.
                delay = min(delay, left)
            logger.debug(
                "transcription %s: %s; next poll in %.2fs",
                transcription_id,
                last.status if last else "no status yet",
                delay,
            )
            await clock.sleep(delay)

    # -- content ---------------------------------------------------------------------

    async def _explain_404(
        self, transcription_id: str, error: BirdRecordingsError
    ) -> BirdRecordingsError:
        """A 404 for content: not available (yet or ever), or no transcription at all."""
        try:
            transcription, _, _ = await self.get(transcription_id)
        except NotFoundError as exc:
            return exc
        except BirdRecordingsError:
            return error
        if transcription is None:
            return error
        if transcription.status in _FINAL_FAILURES:
            return TranscriptionFailedError(
                transcription_id, str(transcription.status), transcription=transcription
            )
        if transcription.status != TranscriptionStatus.AVAILABLE:
            return TranscriptionNotAvailableError(
                transcription_id, str(transcription.status), transcription=transcription
            )
        return error

    async def _locate(self, transcription_id: str, fmt: TranscriptFormat) -> bytes | str:
        """The body (bytes) when Bird answers with it, else the storage URL it redirects to."""
        api = self.client._requester()
        path = transcription_path(self.client.workspace_id, transcription_id, f".{fmt}")
        try:
            response = await api.send(
                "GET",
                path,
                ok=(200, *_REDIRECT_STATUSES),
                allow_redirects=False,
                accept=_ACCEPT[fmt],
                max_body_bytes=MAX_TRANSCRIPT_BYTES,
            )
        except NotFoundError as exc:
            raise await self._explain_404(transcription_id, exc) from exc
        if response.status == 200:
            return response.body
        return proto.validate_media_location(
            response.headers.get("Location"),
            api_url=api.url(path),
            allow_insecure=self.client.allow_insecure_storage,
        )

    async def fetch(self, transcription_id: str, fmt: TranscriptFormat) -> bytes:
        """The transcript's bytes, from the API's body or from storage."""
        # aclose() stops it with ClientClosedError.
        async with self.client._transport.inflight.guard():
            return await self._fetch(transcription_id, fmt)

    async def _fetch(self, transcription_id: str, fmt: TranscriptFormat) -> bytes:
        located = await self._locate(transcription_id, fmt)
        if isinstance(located, bytes):
            return located
        url = located
        transport = self.client._transport
        retry = self.client.retry
        clock = self.client.clock
        headers = {"Accept-Encoding": "identity", "User-Agent": transport.user_agent}
        retries = 0
        refreshes = 0
        while True:
            try:
                async with transport.stream(url, headers=headers) as response:
                    status = response.status
                    if status == 200:
                        body = await self._read(response, url)
                        self._verify(transcription_id, body, response.headers)
                        return body
                    error_body = await response.read_limited(proto.MAX_ERROR_BODY_BYTES)
                    s3 = proto.parse_s3_error(error_body)
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), clock.now()
                    )
            except (APIConnectionError, IntegrityError) as exc:
                # Small text: fetch it again from the start.
                delay = retry.delay_s(retries, None, random.random)
                if retries >= retry.max_retries or delay is None:
                    raise
                logger.info("transcript %s: %s; retry %d", transcription_id, exc, retries + 1)
                retries += 1
                await clock.sleep(delay)
                continue
            error = StorageError(status=status, code=s3.code, message=s3.message, url=url)
            if proto.is_expired_error(status, s3) or s3.code in _EXPIRED_CODES:
                if refreshes >= MAX_CONSECUTIVE_URL_REFRESHES:
                    raise MediaURLExpiredError(
                        status=status, code=s3.code, message=s3.message, url=url
                    )
                refreshes += 1
                logger.info("transcript %s: storage URL expired; asking again", transcription_id)
                located = await self._locate(transcription_id, fmt)
                if isinstance(located, bytes):
                    return located
                url = located
                continue
            if status == 404:
                raise await self._explain_404(transcription_id, error)
            delay = retry.delay_s(retries, retry_after, random.random)
            if (
                not retry.is_retryable_status(status)
                or retries >= retry.max_retries
                or delay is None
            ):
                raise error
            logger.info(
                "transcript %s: storage answered %d; retry %d in %.2fs (%s)",
                transcription_id,
                status,
                retries + 1,
                delay,
                redact_url(url),
            )
            retries += 1
            await clock.sleep(delay)

    @staticmethod
    async def _read(response: StreamResponse, url: str) -> bytes:
        length = response.content_length
        if length is not None and length > MAX_TRANSCRIPT_BYTES:
            raise StorageError(
                status=response.status,
                code=None,
                message=f"the transcript is {length} bytes, more than {MAX_TRANSCRIPT_BYTES}",
                url=url,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.iter_chunks():
            size += len(chunk)
            if size > MAX_TRANSCRIPT_BYTES:
                raise StorageError(
                    status=response.status,
                    code=None,
                    message=f"the transcript is larger than {MAX_TRANSCRIPT_BYTES} bytes",
                    url=url,
                )
            chunks.append(chunk)
        body = b"".join(chunks)
        if length is not None and len(body) != length:
            raise APIConnectionError(f"the body ended at byte {len(body)} of {length}", url=url)
        return body

    @staticmethod
    def _verify(transcription_id: str, body: bytes, headers: Mapping[str, str]) -> None:
        expected = proto.expected_md5(headers.get("ETag"), headers)
        if expected is None:
            return
        actual = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if actual != expected:
            raise IntegrityError(
                f"transcript {transcription_id}: MD5 of the received bytes is {actual}, "
                f"the storage ETag says {expected}"
            )

    async def download(
        self,
        transcription_id: str,
        path: str | Path | None,
        *,
        fmt: TranscriptFormat,
        overwrite: bool,
    ) -> TranscriptionDownloadResult:
        async with self.client._transport.inflight.guard():
            return await self._download(transcription_id, path, fmt=fmt, overwrite=overwrite)

    async def _download(
        self,
        transcription_id: str,
        path: str | Path | None,
        *,
        fmt: TranscriptFormat,
        overwrite: bool,
    ) -> TranscriptionDownloadResult:
        target = transcript_target(transcription_id, path, fmt)
        sink = FileSink(
            target,
            executor=self.client._media.executor(),
            overwrite=overwrite,
            hash_md5=True,
            fsync=False,
        )
        # Refuses an existing target (DestinationExistsError) before any request.
        sink.check_target()
        committed = False
        try:
            body = await self.fetch(transcription_id, fmt)
            await sink.write(body)
            await sink.commit(_accept_any)
            committed = True
        finally:
            if not committed:
                await sink.discard()
        return TranscriptionDownloadResult(
            transcription_id=transcription_id,
            path=target,
            size_bytes=len(body),
            format=fmt,
            md5=sink.md5,
        )


def _accept_any(written: int, md5: str | None) -> None:
    """The transcript was verified as it arrived (``fetch``); nothing more to check."""
