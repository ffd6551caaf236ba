"""The media engine: resolve the URL, stream, write, verify.

It streams with Range resume, refreshes the URL on expiry, writes to a
temporary file and renames it, and verifies length and MD5.

Flow of one transfer (:class:`_Transfer`)::

    resolve (Recording.url while fresh, else GET .mp3 -> 307 Location)
      -> GET storage URL (no Authorization, no cookies, identity encoding)
         206/200 -> body chunks ... broken? -> Range: bytes=<received>- + If-Match
         403 expired -> new URL from .mp3, resume at the same byte
         412 / new ETag -> the object changed: start from zero (downloads) or
                           raise MediaChangedError (streams)
         5xx/SlowDown   -> back off, retry
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final

from attrs import define, frozen

from . import _paths
from . import _protocol as proto
from ._bulk import bounded_map, check_concurrency
from ._clock import Clock
from ._constants import (
    DEFAULT_URL_SAFETY_MARGIN_S,
    LOGGER_NAME,
    MAX_CONSECUTIVE_URL_REFRESHES,
    MAX_RESTARTS,
)
from ._errors import (
    APIConnectionError,
    BirdRecordingsError,
    DestinationExistsError,
    IntegrityError,
    InvalidArgumentError,
    InvalidMediaURLError,
    MediaChangedError,
    MediaURLExpiredError,
    NotFoundError,
    RangeNotSatisfiableError,
    RecordingNotAvailableError,
    StorageError,
    as_library_error,
)
from ._files import FileSink, file_md5, settle_allocator
from ._hooks import NO_HOOKS, NO_SPAN, SpanHandle
from ._models import MediaURL, Recording, RecordingStatus
from ._redact import redact_url
from ._retry import RetryPolicy, parse_retry_after
from ._transport import StreamResponse, Transport

if TYPE_CHECKING:
    from ._client import RecordingsClient

__all__ = [
    "DownloadOutcome",
    "DownloadProgress",
    "DownloadResult",
    "MediaEngine",
    "MediaStream",
]

logger: Final = logging.getLogger(LOGGER_NAME)

_URL_CACHE_SIZE: Final = 512
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_EXPIRED_CODES: Final = frozenset({"ExpiredToken", "TokenRefreshRequired"})

RecordingRef = Recording | str


@frozen(kw_only=True)
class DownloadProgress:
    """A progress report, passed to the ``progress`` callback.

    ``bytes_done``/``bytes_total`` are for ``recording_id``; the ``overall_``
    and ``recordings_`` fields cover the whole :meth:`RecordingsClient.download_recordings` call
    (for a single download they equal the per-recording figures).
    ``bytes_total`` is ``None`` until the storage announced a size.

    Bird's listing carries no sizes, so a batch's byte total is learned as it
    goes: ``overall_bytes_known`` sums the sizes announced so far (downloads
    started, files skipped) over ``recordings_sized`` recordings, and
    ``overall_bytes_total`` is that sum once every recording of the batch has a
    known size or has failed without one (``None`` before, and always ``None``
    when ``recordings_total`` is). A recording that fails keeps its share of the
    bytes done and known. :attr:`overall_bytes_estimate` extrapolates early.
    """

    recording_id: str
    bytes_done: int
    bytes_total: int | None
    overall_bytes_done: int
    recordings_done: int
    recordings_total: int | None
    finished: bool = False
    overall_bytes_total: int | None = None
    overall_bytes_known: int = 0
    recordings_sized: int = 0

    @property
    def overall_bytes_estimate(self) -> int | None:
        """The batch's byte total, exact once known, else an estimate.

        The estimate is the mean size so far × ``recordings_total``; ``None``
        while no size or no batch length is known.
        """
        if self.overall_bytes_total is not None:
            return self.overall_bytes_total
        if self.recordings_total is None or self.recordings_sized == 0:
            return None
        return round(self.overall_bytes_known * self.recordings_total / self.recordings_sized)


ProgressCallback = Callable[[DownloadProgress], object]


@frozen(kw_only=True)
class DownloadResult:
    """A finished download: the file is complete and verified at ``path``."""

    recording_id: str
    path: Path
    size_bytes: int
    etag: str | None = None
    #: The MD5 of the file, when it was checked against the ETag (``None`` with
    #: ``verify_md5=False``, or when the ETag is not an MD5: multipart, SSE-KMS).
    md5: str | None = None
    elapsed_s: float = 0.0
    resumes: int = 0
    url_refreshes: int = 0
    restarts: int = 0


@frozen(kw_only=True)
class DownloadOutcome:
    """What happened to one recording of :meth:`RecordingsClient.download_recordings`.

    ``status`` is ``"downloaded"``, ``"skipped"`` (the file was already there
    and matches the stored size/ETag) or ``"failed"`` (see ``error``).
    """

    recording_id: str
    path: Path | None
    size_bytes: int | None = None
    error: BirdRecordingsError | None = None
    skipped: bool = False
    result: DownloadResult | None = None

    @property
    def ok(self) -> bool:
        """True when the file is on disk (downloaded or skipped)."""
        return self.error is None

    @property
    def status(self) -> str:
        """``"downloaded"``, ``"skipped"`` or ``"failed"``."""
        if self.error is not None:
            return "failed"
        return "skipped" if self.skipped else "downloaded"


@define
class _Counters:
    resumes: int = 0
    url_refreshes: int = 0
    restarts: int = 0
    storage_retries: int = 0


class _Restart:
    """Marker yielded by a transfer: discard what you have; bytes start from zero again."""


RESTART: Final = _Restart()


class _Transfer:
    """One object's bytes, across resumes, refreshes and (for files) restarts."""

    def __init__(
        self,
        engine: MediaEngine,
        recording_id: str,
        media_url: MediaURL,
        *,
        chunk_size: int,
        allow_restart: bool,
        first_byte: int = 0,
        last_byte: int | None = None,
        if_range: str | None = None,
    ) -> None:
        self.engine = engine
        self.recording_id = recording_id
        self.media_url = media_url
        self.chunk_size = chunk_size
        self.allow_restart = allow_restart
        self.offset = first_byte
        # A byte range of the object (streams only): the first byte and the last
        # one included (None: to the end). ``if_range`` goes with the first request
        # until storage accepted one; if it does not hold, storage sends the whole
        # object and the range is dropped (RFC 9110 13.1.5).
        self.first_byte = first_byte
        self.last_byte = last_byte
        self.if_range = if_range
        self.accepted = False
        self.total: int | None = None
        self.etag: str | None = None
        # Last-Modified of the first response: the resume validator (If-Range)
        # when the storage sent no strong ETag.
        self.last_modified: str | None = None
        # The MD5 the object's bytes must have: set from each accepted response
        # (None for multipart uploads, SSE-KMS and SSE-C objects, weak ETags).
        self.expected_md5: str | None = None
        self.counters = _Counters()
        self.bytes_transferred = 0
        self.probe_only = False

    # -- helpers -------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity", "User-Agent": self.engine.user_agent}
        if self.probe_only:
            headers["Range"] = "bytes=0-0"
        elif self.offset > 0 or self.last_byte is not None:
            last = "" if self.last_byte is None else str(self.last_byte)
            headers["Range"] = f"bytes={self.offset}-{last}"
            if (etag := self._strong_etag()) is not None:
                # The same object or nothing: S3 answers 412 if it changed.
                headers["If-Match"] = etag
            elif self.if_range and not self.accepted:
                # The caller's validator, until storage accepted a first answer.
                headers["If-Range"] = self.if_range
            elif self.last_modified:
                # RFC 9110 §13.1.5: the rest if unchanged, else the whole new object (200).
                headers["If-Range"] = self.last_modified
        return headers

    def _strong_etag(self) -> str | None:
        # A weak ETag (W/"…") may not be used with If-Match (RFC 9110 §13.1.1).
        etag = self.etag
        return etag if etag and not etag.startswith("W/") else None

    def _can_resume(self) -> bool:
        """True if a Range request can be tied to the version we started with."""
        return self._strong_etag() is not None or bool(self.last_modified)

    @property
    def is_range(self) -> bool:
        """True while a part of the object is wanted, not all of it."""
        return self.first_byte > 0 or self.last_byte is not None

    @property
    def stop(self) -> int | None:
        """One past the last byte wanted (``None`` until the size is known)."""
        if self.total is None:
            return None if self.last_byte is None else self.last_byte + 1
        if self.last_byte is None:
            return self.total
        return min(self.last_byte + 1, self.total)

    def _expiring(self) -> bool:
        return not self.engine.is_fresh(self.media_url)

    async def _refresh(self, reason: str, consecutive: int) -> int:
        if consecutive >= MAX_CONSECUTIVE_URL_REFRESHES:
            raise MediaURLExpiredError(
                status=403,
                code="AccessDenied",
                message=f"the media URL kept failing ({reason}) after {consecutive} refreshes",
                url=self.media_url.url,
                recording_id=self.recording_id,
            )
        logger.info("recording %s: refreshing media URL (%s)", self.recording_id, reason)
        self.media_url = await self.engine.refresh_url(self.recording_id, stale=self.media_url)
        self.counters.url_refreshes += 1
        self.engine.counters.url_refreshes += 1
        return consecutive + 1

    async def _backoff(self, retries: int, retry_after: float | None, error: Exception) -> int:
        policy = self.engine.retry
        delay = policy.delay_s(retries, retry_after, random.random)
        if retries >= policy.max_retries or delay is None:
            raise error
        logger.info(
            "recording %s: %s; retry %d at byte %d in %.2fs",
            self.recording_id,
            error,
            retries + 1,
            self.offset,
            delay,
        )
        self.counters.storage_retries += 1
        self.engine.counters.storage_retries += 1
        await self.engine.clock.sleep(delay)
        return retries + 1

    def _storage_error(
        self, status: int, error: proto.S3Error, cls: type[StorageError] = StorageError
    ) -> StorageError:
        return cls(
            status=status,
            code=error.code,
            message=error.message,
            url=self.media_url.url,
            recording_id=self.recording_id,
        )

    def _changed(self, why: str) -> MediaChangedError:
        return MediaChangedError(
            f"recording {self.recording_id}: the stored object changed during the transfer "
            f"({why}) after {self.offset} bytes",
            recording_id=self.recording_id,
        )

    # -- the loop --------------------------------------------------------------

    async def events(self) -> AsyncIterator[bytes | _Restart]:
        """Yield body chunks (and :data:`RESTART` markers when allowed) until complete."""
        retries = 0
        refreshes = 0
        restarts = 0
        skip = 0
        fresh = False  # a URL just issued by Bird is used at least once
        forbidden_refreshed = False
        while True:
            if not fresh and self._expiring():
                refreshes = await self._refresh("expires before the next request", refreshes)
            fresh = False
            url = self.media_url.url
            if self.accepted and self.offset > 0 and not self.probe_only and not self._can_resume():
                # Without a validator a 206 could come from a newer object: never
                # stitch two versions. A file starts over; a stream cannot.
                if not self.allow_restart:
                    raise APIConnectionError(
                        f"recording {self.recording_id}: the transfer broke off at byte "
                        f"{self.offset} and the storage sent no ETag or Last-Modified to "
                        "resume it safely",
                        url=url,
                    )
                logger.info(
                    "recording %s: no ETag or Last-Modified to resume at byte %d; starting over",
                    self.recording_id,
                    self.offset,
                )
                self.offset = 0
                self.total = None
                self.etag = self.last_modified = None
                self.counters.restarts += 1
                self.engine.counters.restarts += 1
                yield RESTART
            if logger.isEnabledFor(logging.DEBUG):  # redact_url costs ~90 us: only when logged
                logger.debug(
                    "recording %s: GET %s from byte %d",
                    self.recording_id,
                    redact_url(url),
                    self.offset,
                )
            try:
                async with self.engine.transport.stream(url, headers=self._headers()) as response:
                    status = response.status
                    if status in (200, 206):
                        start = self._accept(response)
                        if start == "restart":
                            restarts += 1
                            if restarts > MAX_RESTARTS:
                                raise self._changed("it kept changing")
                            self.offset = 0
                            self.counters.restarts += 1
                            self.engine.counters.restarts += 1
                            yield RESTART
                            continue
                        self.expected_md5 = proto.expected_md5(self.etag, response.headers)
                        if self.probe_only:
                            return
                        skip = start if isinstance(start, int) else 0
                        refreshes = 0
                        async for chunk in response.iter_chunks(self.chunk_size):
                            self.bytes_transferred += len(chunk)
                            if skip:
                                if len(chunk) <= skip:
                                    skip -= len(chunk)
                                    continue
                                chunk = chunk[skip:]
                                skip = 0
                            stop = self.stop
                            if stop is not None and self.offset + len(chunk) >= stop:
                                # The end of a range (or a storage that ignored it).
                                chunk = chunk[: stop - self.offset]
                                self.offset += len(chunk)
                                if chunk:
                                    yield chunk
                                return
                            self.offset += len(chunk)
                            retries = 0
                            yield chunk
                        stop = self.stop
                        if stop is not None and self.offset < stop:
                            raise APIConnectionError(
                                f"the body ended at byte {self.offset} of {stop}", url=url
                            )
                        if self.total is not None and self.offset > self.total:
                            raise IntegrityError(
                                f"recording {self.recording_id}: received {self.offset} bytes, "
                                f"the storage announced {self.total}",
                                recording_id=self.recording_id,
                            )
                        return
                    body = await response.read_limited(proto.MAX_ERROR_BODY_BYTES)
                    s3 = proto.parse_s3_error(body)
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), self.engine.clock.now()
                    )
                    unsatisfiable = status == 416 and not self.accepted and self.is_range
                    if unsatisfiable:
                        raise RangeNotSatisfiableError(
                            status=status,
                            code=s3.code,
                            message=s3.message,
                            url=self.media_url.url,
                            recording_id=self.recording_id,
                            size_bytes=proto.parse_unsatisfied_range(
                                response.headers.get("Content-Range")
                            ),
                        )
                # The failed response is closed here, before any sleep.
                action = self._classify(status, s3)
                if action == "done":
                    return
                if action == "refresh":
                    refreshes = await self._refresh(
                        f"storage answered {status} {s3.code or ''}".strip(), refreshes
                    )
                    fresh = True
                elif action == "restart":
                    self.etag = None
                    self.total = None
                    if self.offset == 0 and restarts > 0:
                        raise self._storage_error(status, s3)
                    restarts += 1
                    if not self.allow_restart and self.offset > 0:
                        raise self._changed(f"storage answered {status}")
                    if restarts > MAX_RESTARTS:
                        raise self._changed("it kept changing")
                    if self.offset > 0:
                        self.offset = 0
                        self.counters.restarts += 1
                        self.engine.counters.restarts += 1
                        yield RESTART
                elif action == "retry":
                    retries = await self._backoff(
                        retries, retry_after, self._storage_error(status, s3)
                    )
                elif action == "not-found":
                    raise await self.engine.not_found_error(
                        self.recording_id, self._storage_error(status, s3)
                    )
                elif action == "forbidden" and not forbidden_refreshed:
                    # A 403 that is not expiry (a bad or revoked signature, say a
                    # stale URL from metadata): one fresh URL may cure it; a second
                    # such 403 is final, never retried in a loop.
                    forbidden_refreshed = True
                    refreshes = await self._refresh(
                        f"storage answered {status} {s3.code or ''}".strip(), refreshes
                    )
                    fresh = True
                else:
                    cls = MediaURLExpiredError if action == "expired" else StorageError
                    raise self._storage_error(status, s3, cls)
            except APIConnectionError as exc:
                # Reset, early EOF, stall: resume where we are.
                self.counters.resumes += 1
                self.engine.counters.resumes += 1
                retries = await self._backoff(retries, None, exc)

    def _accept(self, response: StreamResponse) -> int | str:
        """Check a 200/206 against what we have; return bytes to skip or ``"restart"``."""
        etag = response.headers.get("ETag")
        status = response.status
        first_answer = not self.accepted
        self.accepted = True
        if first_answer and status == 200 and self.if_range and self.is_range:
            # If-Range did not hold: the whole (new) object, as the client asked.
            self.offset = self.first_byte = 0
            self.last_byte = None
        if self.probe_only:
            if status == 206:
                content_range = proto.parse_content_range(response.headers.get("Content-Range"))
                self.total = content_range.total if content_range else None
            else:
                self.total = response.content_length
            self.etag = etag
            return 0
        modified = response.headers.get("Last-Modified")
        # The validators come from the first answer of this version (a ranged stream's
        # first answer starts past byte 0); later answers must match them.
        resuming = not first_answer and self.offset > 0
        if not resuming:
            self.last_modified = modified
        changed = self.etag is not None and etag is not None and etag != self.etag
        if resuming and self._strong_etag() is not None and etag is None:
            changed = True  # nothing ties these bytes to the version we started with
        elif (
            resuming
            and self._strong_etag() is None
            and modified is not None
            and modified != self.last_modified
        ):
            changed = True
        if status == 206:
            content_range = proto.parse_content_range(response.headers.get("Content-Range"))
            if content_range is None or content_range.first != self.offset:
                raise IntegrityError(
                    f"recording {self.recording_id}: asked for bytes from {self.offset}, got "
                    f"Content-Range {response.headers.get('Content-Range')!r}",
                    recording_id=self.recording_id,
                )
            if changed or (
                self.total is not None
                and content_range.total is not None
                and content_range.total != self.total
            ):
                if not self.allow_restart:
                    raise self._changed("new ETag or size")
                self.etag, self.total = etag, None
                return "restart"
            if content_range.total is not None:
                self.total = content_range.total
            self.etag = self.etag or etag
            return 0
        # 200: the whole object. Continue seamlessly only if it is the same one.
        length = response.content_length
        if self.offset > 0:
            same = (
                not changed
                and (etag is not None or (modified is not None and self.etag is None))
                and (self.total is None or length is None or length == self.total)
            )
            if not same:
                if not self.allow_restart:
                    raise self._changed("the storage sent a different full object")
                self.etag, self.total = etag, length
                return "restart"
            logger.info(
                "recording %s: storage ignored Range; skipping %d bytes already received",
                self.recording_id,
                self.offset,
            )
            self.total = length if length is not None else self.total
            return self.offset
        self.etag = etag
        self.total = length
        return 0

    def _classify(self, status: int, s3: proto.S3Error) -> str:
        if status == 416:
            # Nothing left from our offset: done if we have it all, else it shrank.
            if self.total is not None and self.offset == self.total:
                return "done"
            return "restart"
        if status == 412:
            return "restart"
        if proto.is_expired_error(status, s3) or s3.code in _EXPIRED_CODES:
            return "refresh"
        if status == 403:
            left = self.media_url.seconds_left(self.engine.server_now())
            if left is not None and left <= 0:
                return "refresh"
            return "forbidden"
        if status == 404:
            return "not-found"
        if self.engine.retry.is_retryable_status(status):
            return "retry"
        return "fatal"


class MediaStream:
    """An open media stream from :meth:`RecordingsClient.stream_recording`.

    ``size_bytes`` and ``etag`` are known once the ``async with`` block is
    entered (``None`` if the storage did not say). Iterate it for ``bytes``:
    exactly the object (or the asked range of it), in order, across drops and
    URL refreshes; or :meth:`read` it. The connection is released when the
    block exits.

    For a range (``offset``/``end`` of :meth:`RecordingsClient.stream_recording`)
    :attr:`is_partial`, :attr:`first_byte`, :attr:`last_byte` and
    :attr:`content_length` say what an HTTP server answers: ``206`` with
    ``Content-Range: bytes {first_byte}-{last_byte}/{size_bytes}``.
    """

    def __init__(
        self,
        engine: MediaEngine,
        ref: RecordingRef,
        chunk_size: int,
        *,
        offset: int = 0,
        end: int | None = None,
        if_range: str | None = None,
    ) -> None:
        self._engine = engine
        self._ref = ref
        self._chunk_size = chunk_size
        self._offset = offset
        self._end = end
        self._if_range = if_range
        self._transfer: _Transfer | None = None
        self._events: AsyncIterator[bytes | _Restart] | None = None
        self._first: bytes | None = None
        self._exhausted = False
        self._handed_out = 0
        self._span: SpanHandle = NO_SPAN
        self.recording_id = ref.id if isinstance(ref, Recording) else str(ref)

    @property
    def size_bytes(self) -> int | None:
        """The object's size in bytes, when the storage announced it."""
        return self._transfer.total if self._transfer else None

    @property
    def etag(self) -> str | None:
        """The object's ETag, when the storage sent one."""
        return self._transfer.etag if self._transfer else None

    @property
    def bytes_received(self) -> int:
        """Bytes handed out so far."""
        return self._handed_out

    @property
    def is_partial(self) -> bool:
        """True when the stream carries a range of the object, not all of it.

        False when the range was dropped because the ``if_range`` validator no
        longer held (the object changed: the whole new object is streamed).
        """
        return self._transfer.is_range if self._transfer else False

    @property
    def first_byte(self) -> int:
        """Position in the object of the stream's first byte (0 unless a range)."""
        return self._transfer.first_byte if self._transfer else self._offset

    @property
    def last_byte(self) -> int | None:
        """Position of the stream's last byte, included (``None`` while the size is unknown)."""
        stop = self._transfer.stop if self._transfer else None
        return None if stop is None else stop - 1

    @property
    def content_length(self) -> int | None:
        """How many bytes the whole stream carries (``None`` while the size is unknown)."""
        if self._transfer is None or self._transfer.stop is None:
            return None
        return max(self._transfer.stop - self._transfer.first_byte, 0)

    @property
    def expected_md5(self) -> str | None:
        """The hex MD5 the storage vouches for (its ETag), or ``None``.

        ``None`` when the ETag is not the MD5 of the bytes: multipart uploads,
        SSE-KMS or SSE-C objects, weak ETags. Known once the ``async with``
        block is entered; a caller that hashes what it receives compares with it.
        """
        return self._transfer.expected_md5 if self._transfer else None

    async def __aenter__(self) -> MediaStream:
        hooks = self._engine.client._api.hooks
        if hooks is not NO_HOOKS:
            self._span = hooks.start_span(
                "bird_recordings.stream",
                {"bird.recording_id": self.recording_id, "bird.first_byte": self._offset},
            )
        try:
            # aclose() stops an opening in flight (ClientClosedError).
            async with self._engine.transport.inflight.guard():
                return await self._enter()
        except Exception as exc:
            self._end_span(exc)
            raise
        except BaseException:
            self._end_span(None)
            raise

    def _end_span(self, error: BaseException | None) -> None:
        span, self._span = self._span, NO_SPAN
        if span is NO_SPAN:
            return
        if error is not None:
            span.record_error(error)
        span.set_attribute("bird.bytes", self._handed_out)
        if self._transfer is not None:
            span.set_attribute("bird.resumes", self._transfer.counters.resumes)
            span.set_attribute("bird.url_refreshes", self._transfer.counters.url_refreshes)
        span.end()

    async def _enter(self) -> MediaStream:
        recording_id, media_url = await self._engine.resolve(self._ref)
        self._transfer = _Transfer(
            self._engine,
            recording_id,
            media_url,
            chunk_size=self._chunk_size,
            allow_restart=False,
            first_byte=self._offset,
            last_byte=self._end,
            if_range=self._if_range,
        )
        self._events = self._transfer.events()
        try:
            first = await anext(self._events)
        except StopAsyncIteration:
            self._exhausted = True
        except BaseException:
            await self._close()
            raise
        else:
            assert isinstance(first, bytes)
            self._first = first
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._close()
        finally:
            self._end_span(exc if isinstance(exc, Exception) else None)

    async def _close(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()  # type: ignore[attr-defined]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        if self._transfer is None:
            raise RuntimeError(
                "use the stream inside 'async with client.stream_recording(...) as media:'"
            )
        while True:
            chunk = await self._next_chunk()
            if not chunk:
                return
            self._handed_out += len(chunk)
            yield chunk

    async def _next_chunk(self) -> bytes:
        """The next piece of the body; ``b""`` at its end."""
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._exhausted or self._events is None:
            return b""
        while True:
            # Guarded step by step: aclose() stops a read in flight, never the
            # caller's own code between two chunks.
            async with self._engine.transport.inflight.guard():
                try:
                    event = await anext(self._events)
                except StopAsyncIteration:
                    break
            assert isinstance(event, bytes)
            if event:
                return event
        self._exhausted = True
        return b""

    async def read(self, n: int = -1) -> bytes:
        """Read at most ``n`` bytes (``b""`` at the end), like every async stream reader.

        With ``n < 0`` (the default) read the whole remaining body into memory
        (only for small recordings). Fewer than ``n`` bytes come back when that
        is what has arrived: call again until ``b""``.
        """
        if self._transfer is None:
            raise RuntimeError(
                "use the stream inside 'async with client.stream_recording(...) as media:'"
            )
        if n < 0:
            return b"".join([chunk async for chunk in self])
        if n == 0:
            return b""
        chunk = await self._next_chunk()
        if len(chunk) > n:
            chunk, self._first = chunk[:n], chunk[n:]
        self._handed_out += len(chunk)
        return chunk


class MediaEngine:
    """Downloads for one client: URL resolution with single-flight refreshes, streams, files."""

    def __init__(self, client: RecordingsClient) -> None:
        self.client = client
        self.counters = _Counters()
        self.url_safety_margin_s = DEFAULT_URL_SAFETY_MARGIN_S
        self._inflight: dict[str, asyncio.Future[MediaURL]] = {}
        self._latest: OrderedDict[str, MediaURL] = OrderedDict()
        self._executor: ThreadPoolExecutor | None = None

        self.transport: Transport = client._transport
        self.clock: Clock = client.clock
        self.retry: RetryPolicy = client.retry
        self.user_agent: str = client._transport.user_agent

    def executor(self) -> ThreadPoolExecutor:
        """The file I/O threads, created on first use."""
        parent: MediaEngine | None = getattr(self, "_shared_from", None)
        if parent is not None:
            return parent.executor()
        if self._executor is None:
            settle_allocator()
            self._executor = ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="bird-recordings-io"
            )
        return self._executor

    def share(self, parent: MediaEngine) -> None:
        """Use ``parent``'s URL cache, in-flight refreshes and I/O threads (client views).

        The threads stay ``parent``'s: :meth:`close` leaves them to it.
        """
        self._inflight = parent._inflight
        self._latest = parent._latest
        self.counters = parent.counters
        self._shared_from = parent

    def close(self) -> None:
        """Stop the I/O threads (pending work finishes)."""
        if getattr(self, "_shared_from", None) is not None:
            return
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=True)

    # -- URLs --------------------------------------------------------------------

    def server_now(self) -> datetime:
        """Bird's time as best we know it (presigned URLs expire on the server's clock)."""
        return self.client._api.server_now()

    def is_fresh(self, media_url: MediaURL) -> bool:
        """True if the URL will outlive the safety margin (or does not say when it expires).

        The margin is 30 s, or half the URL's lifetime for short-lived URLs, so a
        URL that is valid for only a few seconds is still used while it is new.
        """
        left = media_url.seconds_left(self.server_now())
        if left is None or left >= self.url_safety_margin_s:
            # The lifetime can only shrink the margin: no need to parse the query (~80 us).
            return True
        lifetime = proto.presigned_lifetime_s(media_url.url)
        margin = self.url_safety_margin_s
        if lifetime is not None:
            margin = min(margin, lifetime / 2)
        return left >= margin

    async def resolve(self, ref: RecordingRef) -> tuple[str, MediaURL]:
        """``(recording_id, MediaURL)`` for a Recording or an id; no storage request."""
        recording_id = self._recording_id(ref)
        if isinstance(ref, Recording) and ref.url and self._usable(ref.url):
            cached = proto.media_url_from_string(ref.url, ref.id)
            if cached.expires_at is not None and self.is_fresh(cached):
                return ref.id, cached
        return recording_id, await self.refresh_url(recording_id, stale=None)

    def _usable(self, url: str) -> bool:
        """True if a URL from metadata passes the checks a redirect gets; else ask ``.mp3``."""
        try:
            proto.validate_media_location(
                url,
                api_url=self.client.base_url,
                allow_insecure=self.client.allow_insecure_storage,
            )
        except InvalidMediaURLError:
            return False
        return True

    async def refresh_url(self, recording_id: str, *, stale: MediaURL | None) -> MediaURL:
        """A fresh URL from ``.mp3``; concurrent callers share one request."""
        latest = self._latest.get(recording_id)
        if (
            latest is not None
            and (stale is None or latest.url != stale.url)
            and latest.expires_at is not None
            and self.is_fresh(latest)
        ):
            return latest
        while True:
            future = self._inflight.get(recording_id)
            if future is None:
                return await self._lead_refresh(recording_id)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if future.cancelled() and task is not None and not task.cancelling():
                    continue  # the caller that led the request was cancelled, not us: take over
                raise

    async def _lead_refresh(self, recording_id: str) -> MediaURL:
        """Fetch the URL in this task; callers arriving meanwhile wait on a shared future.

        No task of its own: a task per download cost ~7 % of bulk throughput.
        If this caller is cancelled, the request stops and a waiting caller
        takes over; an error is shared with the callers that were waiting.
        """
        future: asyncio.Future[MediaURL] = asyncio.get_running_loop().create_future()
        self._inflight[recording_id] = future
        try:
            url = await self._fetch_media_url(recording_id)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting
            raise
        except BaseException:  # cancelled (or the process is going down)
            future.cancel()
            raise
        finally:
            if self._inflight.get(recording_id) is future:
                del self._inflight[recording_id]
        future.set_result(url)
        self._latest[recording_id] = url
        self._latest.move_to_end(recording_id)
        while len(self._latest) > _URL_CACHE_SIZE:
            self._latest.popitem(last=False)
        return url

    async def _fetch_media_url(self, recording_id: str) -> MediaURL:
        api = self.client._requester()
        path = proto.recording_path(self.client.workspace_id, recording_id, ".mp3")
        try:
            response = await api.send(
                "GET",
                path,
                ok=(200, *_REDIRECT_STATUSES),
                recording_id=recording_id,
                allow_redirects=False,
            )
        except NotFoundError as exc:
            raise await self.not_found_error(recording_id, exc) from exc
        if response.status == 200:
            # Bird documents a 307 to storage; a body here would mean the API
            # changed (or a proxy answered), and it is not what we verify.
            raise InvalidMediaURLError(
                f"recording {recording_id}: Bird answered the .mp3 request with 200 "
                f"({response.headers.get('Content-Type', 'no Content-Type')}) instead of a "
                "307 redirect to storage"
            )
        location = proto.validate_media_location(
            response.headers.get("Location"),
            api_url=api.url(path),
            recording_id=recording_id,
            allow_insecure=self.client.allow_insecure_storage,
        )
        return proto.media_url_from_string(location, recording_id)

    async def not_found_error(
        self, recording_id: str, error: BirdRecordingsError
    ) -> BirdRecordingsError:
        """Explain a 404 for media: a recording without media, or no recording at all."""
        try:
            recording = await self.client.get_recording(recording_id)
        except NotFoundError as exc:
            return exc  # the recording itself is gone (deleted meanwhile)
        except BirdRecordingsError:
            return error
        if recording.status != RecordingStatus.AVAILABLE:
            return RecordingNotAvailableError(recording_id, str(recording.status))
        return error

    async def get_media_url(self, ref: RecordingRef) -> MediaURL:
        """Public: a presigned URL for the media."""
        return (await self.resolve(ref))[1]

    # -- files ---------------------------------------------------------------------

    @staticmethod
    def _recording_id(ref: RecordingRef) -> str:
        if isinstance(ref, Recording):
            if ref.status != RecordingStatus.AVAILABLE:
                raise RecordingNotAvailableError(ref.id, str(ref.status))
            return ref.id
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidArgumentError(
                f"expected a Recording or a recording id string, got {ref!r}"
            )
        return ref

    def _target(
        self,
        ref: RecordingRef,
        recording_id: str,
        path: str | Path | None,
        *,
        is_folder: bool | None = None,
    ) -> Path:
        # ``is_folder`` known by the caller spares a stat on the event loop per file.
        # The name comes from the server (id, format): one checked component, and
        # the file must stay in the folder (UnsafePathError otherwise).
        if path is not None:
            target = Path(path)
            if "\x00" in str(path):
                return _paths.check_local_path(target, what="download path")
            if is_folder is None:
                is_folder = _paths.names_a_folder(path)
            if not is_folder:
                return _paths.check_local_path(target.absolute(), what="download path")
        folder = Path(path if path is not None else ".").absolute()
        extension = (ref.format or "mp3") if isinstance(ref, Recording) else "mp3"
        name = _paths.file_name(recording_id, extension, what="recording file name")
        return _paths.check_inside(folder, folder / name, what="recording file name")

    async def download(
        self,
        ref: RecordingRef,
        path: str | Path | None,
        *,
        overwrite: bool,
        progress: ProgressCallback | None,
        verify_md5: bool = True,
        fsync: bool = False,
        chunk_size: int | None = None,
        _overall: _Overall | None = None,
    ) -> DownloadResult:
        """:meth:`_download`, in a ``bird_recordings.download`` span when hooks are installed."""
        hooks = self.client._api.hooks
        call = functools.partial(
            self._download,
            ref,
            path,
            overwrite=overwrite,
            progress=progress,
            verify_md5=verify_md5,
            fsync=fsync,
            chunk_size=chunk_size,
            _overall=_overall,
        )
        # aclose() stops it (ClientClosedError) and waits until its file is cleaned up.
        async with self.transport.inflight.guard():
            if hooks is NO_HOOKS:
                return await call()
            recording_id = ref.id if isinstance(ref, Recording) else str(ref)
            with hooks.span(
                "bird_recordings.download", {"bird.recording_id": recording_id}
            ) as span:
                result = await call()
                span.set_attribute("bird.bytes", result.size_bytes)
                span.set_attribute("bird.resumes", result.resumes)
                span.set_attribute("bird.url_refreshes", result.url_refreshes)
                span.set_attribute("bird.restarts", result.restarts)
                return result

    async def _download(
        self,
        ref: RecordingRef,
        path: str | Path | None,
        *,
        overwrite: bool,
        progress: ProgressCallback | None,
        verify_md5: bool,
        fsync: bool,
        chunk_size: int | None,
        _overall: _Overall | None,
    ) -> DownloadResult:
        started = self.clock.monotonic()
        recording_id = self._recording_id(ref)
        # From download_many, ``path`` is already the file's absolute path.
        if _overall is not None and isinstance(path, Path):
            target = path
        else:
            target = self._target(ref, recording_id, path)
        sink = FileSink(
            target,
            executor=self.executor(),
            overwrite=overwrite,
            hash_md5=verify_md5,
            fsync=fsync,
        )
        # DestinationExistsError before any request is sent (the rename re-checks).
        if not overwrite and _overall is None:
            sink.check_target()
        committed = False
        try:
            recording_id, media_url = await self.resolve(ref)
            transfer = _Transfer(
                self,
                recording_id,
                media_url,
                chunk_size=chunk_size or self.client.chunk_size,
                allow_restart=True,
            )
            overall = _overall or _Overall(recordings_total=1)
            report = overall.reporter(recording_id, transfer, progress)
            hash_decided = False
            async for event in transfer.events():
                if isinstance(event, _Restart):
                    await sink.restart()
                    hash_decided = False
                    continue
                if not hash_decided:
                    # Hash only what can be checked: no CPU spent on a multipart
                    # or SSE-KMS ETag, which is not the MD5 of the bytes.
                    hash_decided = True
                    sink.set_hashing(verify_md5 and transfer.expected_md5 is not None)
                await sink.write(event)
                report(False)
            # Written, hashed, checked and renamed in the writer thread. If we are
            # cancelled meanwhile, discard() below waits for that job, so the
            # target ends up complete or untouched and no temp file remains.
            await sink.commit(functools.partial(self._verify, transfer))
            committed = True
        finally:
            if not committed:
                await sink.discard()
        report(True)
        return DownloadResult(
            recording_id=recording_id,
            path=target,
            size_bytes=transfer.offset,
            etag=transfer.etag,
            md5=sink.md5,
            elapsed_s=self.clock.monotonic() - started,
            resumes=transfer.counters.resumes,
            url_refreshes=transfer.counters.url_refreshes,
            restarts=transfer.counters.restarts,
        )

    @staticmethod
    def _verify(transfer: _Transfer, written: int, md5: str | None) -> None:
        """Refuse a file whose size or MD5 is not what the storage promised.

        Runs in the writer thread, before the rename.
        """
        rid = transfer.recording_id
        if transfer.total is not None and transfer.offset != transfer.total:
            raise IntegrityError(
                f"recording {rid}: got {transfer.offset} bytes, expected {transfer.total}",
                recording_id=rid,
            )
        if written != transfer.offset:
            raise IntegrityError(
                f"recording {rid}: wrote {written} bytes of {transfer.offset}",
                recording_id=rid,
            )
        expected = transfer.expected_md5
        if expected and md5 and expected != md5:
            raise IntegrityError(
                f"recording {rid}: MD5 of the received bytes is {md5}, "
                f"the storage ETag says {expected}",
                recording_id=rid,
            )

    async def _matches_existing(self, recording_id: str, media_url: MediaURL, target: Path) -> bool:
        """Probe the stored object (1 byte) and compare size and MD5 with the local file."""
        loop = asyncio.get_running_loop()
        try:
            local_size = (await loop.run_in_executor(self.executor(), target.stat)).st_size
        except OSError:
            return False
        probe = _Transfer(self, recording_id, media_url, chunk_size=1, allow_restart=True)
        probe.probe_only = True
        async for _ in probe.events():
            pass
        if probe.total is None or probe.total != local_size:
            return False
        expected = probe.expected_md5
        if expected is None:
            return True
        return await loop.run_in_executor(self.executor(), file_md5, target) == expected

    async def download_many(
        self,
        source: Iterable[RecordingRef] | AsyncIterable[RecordingRef],
        directory: str | Path,
        *,
        concurrency: int,
        overwrite: bool,
        progress: ProgressCallback | None,
        verify_md5: bool = True,
        fsync: bool = False,
    ) -> AsyncGenerator[DownloadOutcome, None]:
        check_concurrency(concurrency)
        folder = Path(directory).absolute()  # noqa: ASYNC240 - one getcwd per call
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self.executor(), lambda: folder.mkdir(parents=True, exist_ok=True)
            )
        except OSError as exc:
            raise InvalidArgumentError(
                f"cannot use {folder} as the download folder: {exc}"
            ) from exc
        total = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]
        overall = _Overall(recordings_total=total)

        async def one(ref: RecordingRef) -> DownloadOutcome:
            recording_id = ref.id if isinstance(ref, Recording) else str(ref)
            try:
                target = self._target(ref, recording_id, folder, is_folder=True)
                # One stat on the loop (microseconds) beats a thread hop per file.
                if not overwrite and target.exists():
                    async with self.transport.inflight.guard():
                        rid, media_url = await self.resolve(ref)
                        matches = await self._matches_existing(rid, media_url, target)
                    if matches:
                        size = (await loop.run_in_executor(self.executor(), target.stat)).st_size
                        overall.finish(recording_id, size, progress)
                        return DownloadOutcome(
                            recording_id=recording_id, path=target, size_bytes=size, skipped=True
                        )
                    raise DestinationExistsError(
                        f"{target} exists and differs from the stored recording; "
                        "pass overwrite=True to replace it"
                    )
                result = await self.download(
                    ref,
                    target,
                    overwrite=overwrite,
                    progress=progress,
                    verify_md5=verify_md5,
                    fsync=fsync,
                    _overall=overall,
                )
            except Exception as exc:  # noqa: BLE001 - one item's failure is its outcome
                error = as_library_error(exc, f"recording {recording_id}")
                overall.fail(recording_id, progress)
                return DownloadOutcome(recording_id=recording_id, path=None, error=error)
            return DownloadOutcome(
                recording_id=recording_id,
                path=result.path,
                size_bytes=result.size_bytes,
                result=result,
            )

        async with contextlib.aclosing(
            bounded_map(source, one, concurrency=concurrency)
        ) as outcomes:
            async for outcome in outcomes:
                yield outcome


class _Overall:
    """Aggregates progress across a bulk download, byte totals included."""

    def __init__(self, recordings_total: int | None) -> None:
        self.recordings_total = recordings_total
        self.recordings_done = 0
        self.bytes_done = 0
        self.bytes_known = 0
        self.recordings_sized = 0
        # Sized, or failed before a size was known: the batch total is exact when all are.
        self.recordings_settled = 0
        self.sized_in_flight: set[str] = set()

    def _sized(self, recording_id: str, size: int) -> None:
        self.bytes_known += size
        self.recordings_sized += 1
        self.recordings_settled += 1
        self.sized_in_flight.add(recording_id)

    def _progress(
        self, recording_id: str, bytes_done: int, bytes_total: int | None, finished: bool
    ) -> DownloadProgress:
        total = self.recordings_total
        complete = total is not None and self.recordings_settled >= total
        return DownloadProgress(
            recording_id=recording_id,
            bytes_done=bytes_done,
            bytes_total=bytes_total,
            overall_bytes_done=self.bytes_done,
            recordings_done=self.recordings_done,
            recordings_total=total,
            finished=finished,
            overall_bytes_total=self.bytes_known if complete else None,
            overall_bytes_known=self.bytes_known,
            recordings_sized=self.recordings_sized,
        )

    def reporter(
        self, recording_id: str, transfer: _Transfer, progress: ProgressCallback | None
    ) -> Callable[[bool], None]:
        reported = 0
        sized: int | None = None

        def report(finished: bool) -> None:
            nonlocal reported, sized
            delta = transfer.offset - reported
            reported = transfer.offset
            self.bytes_done += delta
            if transfer.total is not None and transfer.total != sized:
                if sized is None:
                    self._sized(recording_id, transfer.total)
                else:  # the object was replaced mid-transfer: its new size counts
                    self.bytes_known += transfer.total - sized
                sized = transfer.total
            if finished:
                self.recordings_done += 1
                self.sized_in_flight.discard(recording_id)
            if progress is not None:
                progress(self._progress(recording_id, transfer.offset, transfer.total, finished))

        return report

    def finish(self, recording_id: str, size: int, progress: ProgressCallback | None) -> None:
        self.recordings_done += 1
        self.bytes_done += size
        self._sized(recording_id, size)
        self.sized_in_flight.discard(recording_id)
        if progress is not None:
            progress(self._progress(recording_id, size, size, True))

    def fail(self, recording_id: str, progress: ProgressCallback | None) -> None:
        self.recordings_done += 1
        if recording_id in self.sized_in_flight:
            self.sized_in_flight.discard(recording_id)
        else:
            self.recordings_settled += 1
        if progress is not None:
            progress(self._progress(recording_id, 0, None, True))
