"""Transcriptions: the pure parts and the two loops that do I/O.

The pure parts are locales, paths, formats, poll delays and decoding; the
loops do their I/O through the client's requester and transport.

Polling (:meth:`TranscriptionService.wait`)::

    GET /transcriptions/{id} (rate limited, retried like every GET)
      final?        -> available: return it; failed/absent: TranscriptionFailedError
      not yet       -> sleep min(capped jittered backoff or Retry-After, time left)
      5xx/429/drop  -> (after the requester's own retries) keep polling until the deadline
      deadline      -> TranscriptionTimeoutError (a TimeoutError)

Content (:meth:`TranscriptionService.fetch`)::

    GET /transcriptions/{id}.{fmt}  (Accept: the format's type, no redirects followed)
      200           -> the body is the text
      3xx Location  -> checked like the .mp3 redirect, then a storage GET with no
                       Authorization and no cookies; 403 expired -> ask the API again;
                       5xx/SlowDown/drop -> back off and retry; length and MD5 checked
      404           -> get the transcription to explain: not available yet, failed, or gone

The storage GETs go through the one fetch loop (:class:`~._fetch.StorageFetch`)
that media use. A transcript is small text, so a broken body is fetched again
from the start (``resume=False``) instead of resumed with ``Range``.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from attrs import frozen

from . import _paths
from . import _protocol as proto
from ._api import APIRequester
from ._constants import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_TRANSCRIPTION_LOCALE,
    LOGGER_NAME,
    MAX_TRANSCRIPT_BYTES,
    TRANSCRIPT_FORMATS,
    TRANSCRIPTION_LOCALES,
)
from ._context import ServiceContext
from ._converter import structure
from ._errors import (
    APIConnectionError,
    BirdRecordingsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    RecordingNotAvailableError,
    ResponseValidationError,
    StorageError,
    TranscriptionFailedError,
    TranscriptionNotAvailableError,
    TranscriptionTimeoutError,
)
from ._fetch import Restart, StorageFetch, TransferCounters
from ._files import FileSink
from ._models import MediaURL, Recording, RecordingStatus, Transcription, TranscriptionStatus
from ._retry import parse_retry_after
from ._urls import REDIRECT_STATUSES

__all__ = [
    "TranscriptFormat",
    "TranscriptionDownloadResult",
    "TranscriptionRef",
    "TranscriptionService",
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


def transcription_path(
    workspace_id: str, transcription_id: str | None = None, suffix: str = ""
) -> str:
    """``/workspaces/{ws}/transcriptions[/{id}{suffix}]`` with each segment quoted."""
    path = f"/workspaces/{proto.path_segment(workspace_id, 'workspace_id')}/transcriptions"
    if transcription_id is not None:
        path += f"/{proto.path_segment(transcription_id, 'transcription_id')}{suffix}"
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


@frozen
class _PollFailure:
    """A poll that failed in a way worth polling on: the error and its ``Retry-After``."""

    error: BirdRecordingsError
    retry_after_s: float | None


# --- I/O ---------------------------------------------------------------------------------


class TranscriptionService:
    """Polling and content fetching, through a :class:`ServiceContext`."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    def _requester(self) -> APIRequester:
        self.context.check_open()
        return self.context.requester

    # -- metadata --------------------------------------------------------------------

    async def get(self, transcription_id: str) -> Transcription:
        """One GET of the transcription (retried by the requester; errors raised)."""
        api = self._requester()
        path = transcription_path(self.context.workspace_id, transcription_id)
        response = await api.send("GET", path)
        return decode_transcription(response.body, what=f"transcription {transcription_id}")

    async def poll(self, transcription_id: str) -> Transcription | _PollFailure:
        """One poll: the transcription, or a retryable failure for the poll loop to wait out.

        A retryable status (429, 5xx) is handed back with its ``Retry-After``
        instead of being retried by the requester: the poll loop is the retry.
        """
        api = self._requester()
        path = transcription_path(self.context.workspace_id, transcription_id)
        response = await api.send("GET", path, ok=_POLL_OK)
        if response.status == 200:
            return decode_transcription(response.body, what=f"transcription {transcription_id}")
        error = proto.api_error(
            response.status,
            response.headers,
            api.scrub(response.body[: proto.MAX_ERROR_BODY_BYTES]),
            method="GET",
            url=api.url(path),
            now=api.clock.now(),
        )
        if not self.context.retry.is_retryable_status(response.status):
            raise error
        retry_after = parse_retry_after(response.headers.get("Retry-After"), api.clock.now())
        return _PollFailure(error, retry_after)

    # -- polling ---------------------------------------------------------------------

    async def wait(
        self,
        transcription_id: str,
        *,
        timeout_s: float | None,
        poll_interval_s: float,
        max_poll_interval_s: float,
    ) -> Transcription:
        clock = self.context.clock
        started = clock.monotonic()
        polls = 0
        last: Transcription | None = None
        while True:
            retry_after: float | None = None
            failure: BirdRecordingsError | None = None
            try:
                seen = await self.poll(transcription_id)
            except APIConnectionError as exc:
                # The requester already retried; a long wait outlives a bad minute.
                seen = _PollFailure(exc, None)
            if isinstance(seen, _PollFailure):
                failure, retry_after = seen.error, seen.retry_after_s
                logger.info(
                    "transcription %s: poll failed (%s); polling on", transcription_id, failure
                )
            else:
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
            if timeout_s is not None:
                left = started + timeout_s - clock.monotonic()
                if left <= 0:
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

    async def explain_404(
        self, transcription_id: str, error: BirdRecordingsError
    ) -> BirdRecordingsError:
        """A 404 for content: not available (yet or ever), or no transcription at all."""
        try:
            transcription = await self.get(transcription_id)
        except NotFoundError as exc:
            return exc
        except BirdRecordingsError:
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

    async def locate(self, transcription_id: str, fmt: TranscriptFormat) -> bytes | str:
        """The body (bytes) when Bird answers with it, else the storage URL it redirects to."""
        api = self._requester()
        path = transcription_path(self.context.workspace_id, transcription_id, f".{fmt}")
        try:
            response = await api.send(
                "GET",
                path,
                ok=(200, *REDIRECT_STATUSES),
                allow_redirects=False,
                accept=_ACCEPT[fmt],
                max_body_bytes=MAX_TRANSCRIPT_BYTES,
            )
        except NotFoundError as exc:
            raise await self.explain_404(transcription_id, exc) from exc
        if response.status == 200:
            return response.body
        return proto.validate_media_location(
            response.headers.get("Location"),
            api_url=api.url(path),
            allow_insecure=self.context.allow_insecure_storage,
        )

    async def fetch(self, transcription_id: str, fmt: TranscriptFormat) -> bytes:
        """The transcript's bytes, from the API's body or from storage."""
        # aclose() stops it with ClientClosedError.
        async with self.context.inflight.guard():
            return await self._fetch(transcription_id, fmt)

    async def _fetch(self, transcription_id: str, fmt: TranscriptFormat) -> bytes:
        located = await self.locate(transcription_id, fmt)
        if isinstance(located, bytes):
            return located
        source = _TranscriptSource(self, transcription_id, fmt)
        media_url = proto.media_url_from_string(located)
        retry = self.context.retry
        retries = 0
        while True:
            try:
                return await self._read_storage(transcription_id, source, media_url)
            except _InlineBody as inline:
                return inline.body  # asked again, Bird answered with the text itself
            except IntegrityError as exc:
                # The bytes do not match the ETag's MD5: small text, fetch it again.
                delay = retry.delay_s(retries, None, random.random)
                if retries >= retry.max_retries or delay is None:
                    raise
                logger.info("transcript %s: %s; retry %d", transcription_id, exc, retries + 1)
                retries += 1
                await self.context.clock.sleep(delay)
                media_url = source.latest or media_url

    async def _read_storage(
        self, transcription_id: str, source: _TranscriptSource, media_url: MediaURL
    ) -> bytes:
        """The transcript from storage through the one fetch loop (restarts, not resumes)."""
        context = self.context
        fetch = StorageFetch(
            transport=context.transport,
            retry=context.retry,
            clock=context.clock,
            source=source,
            media_url=media_url,
            label=f"transcript {transcription_id}",
            chunk_size=DEFAULT_CHUNK_SIZE,
            allow_restart=True,
            resume=False,
            counters=TransferCounters(),
            server_now=context.requester.server_now,
        )
        chunks: list[bytes] = []
        size = 0
        async for event in fetch.events():
            if isinstance(event, Restart):
                chunks.clear()
                size = 0
                continue
            if fetch.total is not None and fetch.total > MAX_TRANSCRIPT_BYTES:
                raise StorageError(
                    status=200,
                    code=None,
                    message=(
                        f"the transcript is {fetch.total} bytes, more than {MAX_TRANSCRIPT_BYTES}"
                    ),
                    url=fetch.media_url.url,
                )
            size += len(event)
            if size > MAX_TRANSCRIPT_BYTES:
                raise StorageError(
                    status=200,
                    code=None,
                    message=f"the transcript is larger than {MAX_TRANSCRIPT_BYTES} bytes",
                    url=fetch.media_url.url,
                )
            chunks.append(event)
        body = b"".join(chunks)
        expected = fetch.expected_md5
        if expected is not None:
            actual = hashlib.md5(body, usedforsecurity=False).hexdigest()
            if actual != expected:
                raise IntegrityError(
                    f"transcript {transcription_id}: MD5 of the received bytes is {actual}, "
                    f"the storage ETag says {expected}"
                )
        return body

    async def download(
        self,
        transcription_id: str,
        path: str | Path | None,
        *,
        fmt: TranscriptFormat,
        overwrite: bool,
    ) -> TranscriptionDownloadResult:
        async with self.context.inflight.guard():
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
            executor=self.context.files.get(),
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


class _InlineBody(Exception):  # noqa: N818 - not an error: the answer itself
    """Asked for a new storage URL, Bird answered with the transcript's text instead."""

    def __init__(self, body: bytes) -> None:
        super().__init__("inline transcript body")
        self.body = body


class _TranscriptSource:
    """Where the fetch of a transcript gets a new URL (the API again) and explains a 404."""

    def __init__(
        self, service: TranscriptionService, transcription_id: str, fmt: TranscriptFormat
    ) -> None:
        self.service = service
        self.transcription_id = transcription_id
        self.fmt = fmt
        self.latest: MediaURL | None = None

    def is_fresh(self, media_url: MediaURL) -> bool:
        # Used at once: an expired answer is what asks for a new one.
        return True

    async def refresh(self, stale: MediaURL) -> MediaURL:
        logger.info("transcript %s: storage URL expired; asking again", self.transcription_id)
        located = await self.service.locate(self.transcription_id, self.fmt)
        if isinstance(located, bytes):
            raise _InlineBody(located)
        self.latest = proto.media_url_from_string(located)
        return self.latest

    async def explain_missing(self, error: BirdRecordingsError) -> BirdRecordingsError:
        return await self.service.explain_404(self.transcription_id, error)


def _accept_any(written: int, md5: str | None) -> None:
    """The transcript was verified as it arrived (``fetch``); nothing more to check."""
