"""RecordingsClient: configuration, session lifecycle, thin public methods."""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, overload

import aiohttp

from . import _protocol as proto
from . import _transcriptions as tx
from ._api import APIRequester
from ._bulk import RecordingOutcome, bounded_map, check_concurrency
from ._clock import Clock, SystemClock
from ._constants import (
    AUTH_SCHEMES,
    DEFAULT_API_TIMEOUT_S,
    DEFAULT_AUTH_SCHEME,
    DEFAULT_BASE_URL,
    DEFAULT_BULK_DOWNLOAD_CONCURRENCY,
    DEFAULT_BULK_METADATA_CONCURRENCY,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_CONNECTION_POOL_SIZE,
    DEFAULT_IO_THREADS,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_RATE_BURST,
    DEFAULT_RATE_LIMIT_PER_S,
    DEFAULT_STALL_TIMEOUT_S,
    DEFAULT_TRANSCRIPTION_LOCALE,
    DEFAULT_TRANSCRIPTION_POLL_INITIAL_S,
    DEFAULT_TRANSCRIPTION_POLL_MAX_S,
    DEFAULT_TRANSCRIPTION_TIMEOUT_S,
    ENV_ACCESS_KEY,
    ENV_BASE_URL,
    ENV_WORKSPACE_ID,
    USER_AGENT_PREFIX,
)
from ._context import ServiceContext
from ._download import (
    DownloadOutcome,
    DownloadResult,
    MediaDownloader,
    MediaStream,
    ProgressCallback,
    RecordingRef,
)
from ._errors import (
    ClientClosedError,
    ConfigurationError,
    InvalidArgumentError,
    as_library_error,
)
from ._fetch import TransferCounters
from ._files import FileExecutor
from ._hooks import Hooks
from ._limits import LocalRateLimiter, RateLimiterProtocol
from ._models import (
    CallRecording,
    CallRecordingPage,
    ClientStats,
    Direction,
    MediaURL,
    Recording,
    RecordingPage,
    RecordingStatus,
    StorageMetrics,
    Transcription,
    TranscriptionPage,
)
from ._pagination import AsyncPager
from ._retry import RetryPolicy
from ._transcriptions import (
    TranscriptFormat,
    TranscriptionDownloadResult,
    TranscriptionRef,
    TranscriptionService,
)
from ._transport import SharedTransport, Transport
from ._urls import MediaLocator, UrlResolver
from ._version import __version__

__all__ = ["RecordingsClient"]


def _setting(value: str | None, env: str, argument: str) -> str:
    resolved = value if value is not None else os.environ.get(env)
    if resolved is None or not resolved.strip():
        raise ConfigurationError(
            f"no {argument.replace('_', ' ')}: pass {argument}=... or set the {env} "
            "environment variable"
        )
    return resolved.strip()


def _check_header_value(name: str, value: str) -> None:
    # The key goes in an HTTP header: a control character would end it (or
    # inject another), and HTTP header values are Latin-1.
    if any(not char.isprintable() or ord(char) > 0xFF for char in value):
        raise ConfigurationError(
            f"{name} contains a control or non-Latin-1 character; it cannot be sent in an "
            "HTTP header (check for a stray newline or a copy-paste artefact)"
        )


def _check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number, got {value!r}")


class RecordingsClient:
    """An async client for Bird's Voice Recordings API.

    Use it as ``async with RecordingsClient(...) as client:`` (or call
    :meth:`aclose` yourself). Create one per process and share it: it holds
    the connection pool, the rate limiter and the concurrency cap.

    Args:
        access_key: Bird access key; default ``$BIRD_ACCESS_KEY``.
        workspace_id: Bird workspace id; default ``$BIRD_WORKSPACE_ID``.
        base_url: API origin; default ``$BIRD_API_URL`` or ``https://api.bird.com``.
        session: an ``aiohttp.ClientSession`` to borrow. It is never closed by
            the client and never gets credentials; one with default auth or an
            ``Authorization`` header is refused. Without it the client creates
            and owns its own session.
        retry: the :class:`RetryPolicy` (default ``RetryPolicy()``).
        auth_scheme: ``"AccessKey"`` (Bird's documented scheme) or ``"Bearer"``.
        max_concurrent_requests: cap on API requests in flight at once.
        rate_limit: API requests per second (GET, DELETE) across the client;
            default 50, Bird's documented per-workspace limit. ``None`` disables.
        rate_burst: requests allowed at once before the rate applies.
        rate_limiter: a :class:`RateLimiterProtocol` that holds the budget
            instead, e.g. ``bird_recordings.redis.RedisRateLimiter`` to share
            one budget between processes, or one :class:`LocalRateLimiter`
            shared by several clients. Borrowed: the client never closes it.
            Default: a :class:`LocalRateLimiter` built from ``rate_limit``
            and ``rate_burst`` (POST at Bird's 500/s).
        connect_timeout_s: TCP/TLS connect timeout.
        timeout_s: total timeout of one API request.
        stall_timeout_s: a media transfer fails over when no byte arrives for this long.
        chunk_size: bytes per media chunk.
        pool_size: connections in an owned session's pool, API and storage
            together (default 100, no per-host limit); a request waits for a
            free one when all are in use. Ignored with a borrowed ``session``.
        io_threads: threads that write, hash (MD5) and rename downloaded files,
            so the event loop never waits on the disk or on hashing (default
            2). ``0`` does that work on the event loop itself: only for batch
            jobs (a CLI run, an archive worker) on a single core, where the
            hand-off to a thread costs more than a busy loop does; never in a
            web server.
        trace_configs: ``aiohttp.TraceConfig`` objects for an owned session.
        clock: a :class:`Clock` (tests inject a fake one).
        allow_insecure_storage: follow Bird's redirect to a plain ``http``
            storage URL even though ``base_url`` is ``https`` (off by default:
            such a URL is refused with :class:`InvalidMediaURLError`). With an
            ``http`` ``base_url``, such as the emulator's, ``http`` storage is
            always allowed.

    Raises:
        ConfigurationError: no key or workspace (the message names the
            argument and the environment variable), or an invalid option.

    Example::

        async with RecordingsClient() as client:
            rec = await client.get_recording("5b74ee9e-9d45-473a-82cd-f1f7feea6bbd")
            async for rec in client.list_recordings(status="available"):
                print(rec.id, rec.duration)
    """

    def __init__(
        self,
        access_key: str | None = None,
        workspace_id: str | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        auth_scheme: str = DEFAULT_AUTH_SCHEME,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        rate_limit: float | None = DEFAULT_RATE_LIMIT_PER_S,
        rate_burst: int = DEFAULT_RATE_BURST,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        timeout_s: float = DEFAULT_API_TIMEOUT_S,
        stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        pool_size: int = DEFAULT_CONNECTION_POOL_SIZE,
        io_threads: int = DEFAULT_IO_THREADS,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        clock: Clock | None = None,
        allow_insecure_storage: bool = False,
        rate_limiter: RateLimiterProtocol | None = None,
    ) -> None:
        key = _setting(access_key, ENV_ACCESS_KEY, "access_key")
        _check_header_value("access_key", key)
        self.workspace_id = _setting(workspace_id, ENV_WORKSPACE_ID, "workspace_id")
        resolved_base = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        if not resolved_base.startswith(("https://", "http://")):
            raise ConfigurationError(f"base_url must be an http(s) URL, got {resolved_base!r}")
        self.base_url = resolved_base.rstrip("/")
        for name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("timeout_s", timeout_s),
            ("stall_timeout_s", stall_timeout_s),
        ):
            _check_positive(name, value)
        _check_positive("rate_limit", rate_limit, allow_none=True)
        for name, count in (
            ("max_concurrent_requests", max_concurrent_requests),
            ("rate_burst", rate_burst),
            ("chunk_size", chunk_size),
            ("pool_size", pool_size),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {count!r}")
        if isinstance(io_threads, bool) or not isinstance(io_threads, int) or io_threads < 0:
            raise ConfigurationError(
                f"io_threads must be an integer of 0 or more, got {io_threads!r}"
            )
        if rate_limiter is not None:
            if rate_limit != DEFAULT_RATE_LIMIT_PER_S or rate_burst != DEFAULT_RATE_BURST:
                raise ConfigurationError(
                    "pass either rate_limiter or rate_limit/rate_burst, not both: "
                    "the rate_limiter holds the budget"
                )
            if not isinstance(rate_limiter, RateLimiterProtocol):
                raise ConfigurationError(
                    "rate_limiter must have async acquire() and report_rate_limited() "
                    "(see RateLimiterProtocol)"
                )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy")
        if auth_scheme not in AUTH_SCHEMES:
            raise ConfigurationError(
                f"auth_scheme must be one of {AUTH_SCHEMES}, not {auth_scheme!r}"
            )
        self.retry = retry or RetryPolicy()
        self.allow_insecure_storage = bool(allow_insecure_storage)
        self.clock: Clock = clock or SystemClock()
        self.chunk_size = chunk_size
        self._transport = Transport(
            session=session,
            connect_timeout_s=connect_timeout_s,
            api_timeout_s=timeout_s,
            stall_timeout_s=stall_timeout_s,
            pool_size=pool_size,
            user_agent=f"{USER_AGENT_PREFIX}/{__version__} aiohttp/{aiohttp.__version__}",
            trace_configs=trace_configs,
        )
        self._api = APIRequester(
            transport=self._transport,
            base_url=self.base_url,
            authorization=proto.auth_header(key, auth_scheme),
            retry=self.retry,
            clock=self.clock,
            rate_limiter=rate_limiter
            or LocalRateLimiter(rate_limit, burst=rate_burst, clock=self.clock),
            workspace_id=self.workspace_id,
            max_concurrent_requests=max_concurrent_requests,
        )
        self._closed = False
        self._files = FileExecutor(io_threads)
        self._urls = UrlResolver(
            MediaLocator(self._api, self.workspace_id, allow_insecure=self.allow_insecure_storage),
            server_now=self._api.server_now,
            api_url=self.base_url,
            allow_insecure=self.allow_insecure_storage,
        )
        self._counters = TransferCounters()
        self._start_services()

    def _start_services(self) -> None:
        """Build the services' context from this client's (or view's) collaborators."""
        self._context = ServiceContext(
            workspace_id=self.workspace_id,
            requester=self._api,
            transport=self._transport,
            retry=self.retry,
            clock=self.clock,
            files=self._files,
            urls=self._urls,
            counters=self._counters,
            chunk_size=self.chunk_size,
            allow_insecure_storage=self.allow_insecure_storage,
            check_open=self._ensure_open,
        )
        self._media = MediaDownloader(self._context)
        self._transcriptions = TranscriptionService(self._context)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<RecordingsClient workspace_id={self.workspace_id!r} "
            f"base_url={self.base_url!r} {state}>"
        )

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one is left open). Idempotent.

        Requests, downloads and streams still in flight are stopped first: each
        fails promptly with :class:`ClientClosedError` (a download's temporary
        file is removed), and ``aclose()`` returns once they have ended. Any
        later call raises :class:`ClientClosedError`. The same happens when the
        owner of a borrowed session closes it while a transfer is in flight.
        On a view from :meth:`with_options`, only the view is closed.
        """
        self._closed = True
        try:
            await self._transport.close()
        finally:
            if self._root is None:  # the I/O threads belong to the client, not a view
                self._files.shutdown()

    @property
    def is_closed(self) -> bool:
        """True after :meth:`aclose`."""
        return self._closed

    @property
    def session(self) -> aiohttp.ClientSession:
        """The ``aiohttp.ClientSession`` in use (owned or borrowed)."""
        self._ensure_open()
        return self._transport.session

    @property
    def rate_limiter(self) -> RateLimiterProtocol:
        """The rate limiter every API request of this client goes through."""
        return self._api.rate_limiter

    @property
    def retries_performed(self) -> int:
        """How many API retries this client has made (for reports and tests)."""
        return self._api.retries_performed

    @property
    def stats(self) -> ClientStats:
        """Counters of work done so far (API retries, media resumes, URL refreshes, restarts)."""
        media = self._counters
        return ClientStats(
            api_retries=self._api.retries_performed,
            storage_retries=media.storage_retries,
            resumes=media.resumes,
            url_refreshes=media.url_refreshes,
            restarts=media.restarts,
        )

    def _ensure_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this RecordingsClient is closed; create a new one")
        self._transport.open()

    def _requester(self) -> APIRequester:
        self._ensure_open()
        return self._api

    # -- recordings ----------------------------------------------------------

    async def get_recording(self, recording_id: str) -> Recording:
        """Fetch one recording's metadata.

        Raises:
            NotFoundError: no such recording in the workspace.
            UnprocessableEntityError: the id is not a valid recording id.
            ResponseValidationError: the body does not have the documented shape.
            APIConnectionError, APITimeoutError: after retries.
        """
        api = self._requester()
        path = proto.recording_path(self.workspace_id, recording_id)
        return await api.get_model(
            path, Recording, what=f"recording {recording_id}", recording_id=recording_id
        )

    def list_recordings(
        self,
        *,
        limit: int | None = None,
        source_id: str | None = None,
        channel_id: str | None = None,
        call_id: str | None = None,
        direction: Direction | str | None = None,
        status: RecordingStatus | str | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        page_token: str | None = None,
    ) -> AsyncPager[Recording, RecordingPage]:
        """List recordings, newest pages first as Bird orders them.

        ``limit`` is the page size (1–99). ``start_at``/``end_at`` must be
        timezone-aware. ``call_id`` filters by call (Bird's ``id`` parameter).
        ``page_token`` resumes from a saved ``next_page_token``.

        Returns a pager: ``await`` it for the first :class:`RecordingPage`,
        ``async for`` it for every :class:`Recording`, or iterate
        ``.pages()``. Arguments are checked now (:class:`InvalidArgumentError`);
        requests are sent only when the pager is used.
        """
        params = proto.list_params(
            limit=limit,
            source_id=source_id,
            channel_id=channel_id,
            call_id=call_id,
            direction=direction,
            status=status,
            start_at=start_at,
            end_at=end_at,
            from_number=from_number,
            to_number=to_number,
        )
        proto.check_page_token(page_token)
        path = proto.recording_path(self.workspace_id)

        async def fetch(token: str | None) -> RecordingPage:
            api = self._requester()
            query = dict(params)
            if token:
                query["pageToken"] = token
            return await api.get_model(path, RecordingPage, what="recordings page", params=query)

        return AsyncPager(fetch, page_token=page_token)

    async def delete_recording(self, recording_id: str) -> None:
        """Delete a recording (Bird answers 204). Deleting twice raises :class:`NotFoundError`."""
        api = self._requester()
        path = proto.recording_path(self.workspace_id, recording_id)
        await api.send("DELETE", path, ok=(200, 202, 204), recording_id=recording_id)

    async def get_storage_metrics(self, source_id: str | None = None) -> StorageMetrics:
        """Recording storage of the workspace, optionally for one ``source_id``."""
        api = self._requester()
        params = {"sourceId": source_id} if source_id else None
        return await api.get_model(
            proto.metrics_path(self.workspace_id),
            StorageMetrics,
            what="storage metrics",
            params=params,
        )

    def get_recordings(
        self,
        recording_ids: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int = DEFAULT_BULK_METADATA_CONCURRENCY,
    ) -> AsyncGenerator[RecordingOutcome, None]:
        """Fetch many recordings concurrently; yield one outcome per id as each completes.

        Use ``async with contextlib.aclosing(...)`` around the loop to stop the
        workers at once when you leave it early; otherwise they stop when the
        iterator is garbage collected. One bad id never fails the batch: its
        outcome carries the error (``outcome.error``), the others their
        ``outcome.recording``. The
        client-wide rate limit and concurrency cap still apply.

        Example::

            async for outcome in client.get_recordings(ids, concurrency=32):
                if outcome.error:
                    print(outcome.recording_id, outcome.error)
        """
        check_concurrency(concurrency)
        self._ensure_open()

        async def fetch_one(recording_id: str) -> RecordingOutcome:
            try:
                recording = await self.get_recording(recording_id)
            except Exception as exc:  # noqa: BLE001 - one id's failure is its outcome
                error = as_library_error(exc, f"recording {recording_id!r}")
                return RecordingOutcome(recording_id=str(recording_id), error=error)
            return RecordingOutcome(recording_id=recording_id, recording=recording)

        return bounded_map(recording_ids, fetch_one, concurrency=concurrency)

    # -- recordings of a live call ---------------------------------------------

    def list_call_recordings(
        self, channel_id: str, call_id: str, *, limit: int | None = None
    ) -> AsyncPager[CallRecording, CallRecordingPage]:
        """List the recordings of one call (``limit`` 1–1000).

        Returns the same kind of pager as :meth:`list_recordings`.
        """
        params = proto.call_list_params(limit)
        path = proto.call_recordings_path(self.workspace_id, channel_id, call_id)

        async def fetch(token: str | None) -> CallRecordingPage:
            api = self._requester()
            query = dict(params)
            if token:
                query["pageToken"] = token
            return await api.get_model(
                path, CallRecordingPage, what="call recordings page", params=query
            )

        return AsyncPager(fetch)

    async def get_call_recording(
        self, channel_id: str, call_id: str, recording_id: str
    ) -> CallRecording:
        """Fetch one recording of a live call."""
        api = self._requester()
        path = proto.call_recordings_path(self.workspace_id, channel_id, call_id, recording_id)
        return await api.get_model(
            path, CallRecording, what=f"call recording {recording_id}", recording_id=recording_id
        )

    # -- media ---------------------------------------------------------------

    async def get_media_url(self, recording: RecordingRef) -> MediaURL:
        """A presigned storage URL for the recording's media, with its expiry.

        A :class:`Recording` whose ``url`` is still fresh (expiry minus a safety
        margin is ahead) is used as is, without a request; otherwise Bird's
        ``.mp3`` endpoint is asked for a new one (its 307 ``Location``).

        Raises:
            RecordingNotAvailableError: the status is not ``available``.
            NotFoundError: no such recording.
            InvalidMediaURLError: Bird's redirect is missing or not https.
        """
        self._ensure_open()
        return await self._media.get_media_url(recording)

    def stream_recording(
        self,
        recording: RecordingRef,
        *,
        chunk_size: int | None = None,
        offset: int = 0,
        end: int | None = None,
        if_range: str | None = None,
    ) -> MediaStream:
        """Stream a recording's media without touching the disk.

        Use as ``async with client.stream_recording(rec) as media:`` then
        ``async for chunk in media``. The chunks are exactly the stored object,
        in order: a dropped connection is resumed with a Range request and an
        expired URL is refreshed, invisibly. Errors that prevent the start
        (not available, not found) are raised by ``async with``.

        Raises:
            RecordingNotAvailableError, NotFoundError, StorageError,
            MediaURLExpiredError: as for every media request.
            APIConnectionError: retries spent, or a broken connection with no
                ETag or Last-Modified to resume safely.
            MediaChangedError: the object was replaced mid-stream.
            ClientClosedError: the client was closed while a chunk was awaited.
            RangeNotSatisfiableError: ``offset`` is at or beyond the end (416).

        A part of the object: ``offset`` is the first byte (``Range: bytes=N-``),
        ``end`` the last one included (``bytes=N-M``); a storage cut resumes from
        where the stream is, up to ``end``. ``if_range`` (an ETag or HTTP date, as
        an HTTP client's ``If-Range``) goes to storage with the first request: when
        it no longer holds, the whole object is streamed and ``media.is_partial`` is
        false. See :class:`MediaStream` for the size, ETag and range of the stream.
        """
        self._ensure_open()
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise InvalidArgumentError("chunk_size must be a positive integer")
        for name, value in (("offset", offset), ("end", end)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise InvalidArgumentError(f"{name} must be an integer >= 0, got {value!r}")
        if end is not None and end < offset:
            raise InvalidArgumentError(f"end ({end}) must not be before offset ({offset})")
        return MediaStream(
            self._media,
            recording,
            chunk_size or self.chunk_size,
            offset=offset,
            end=end,
            if_range=if_range,
        )

    async def download_recording(
        self,
        recording: RecordingRef,
        path: str | Path | None = None,
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        verify_md5: bool = True,
        fsync: bool = False,
    ) -> DownloadResult:
        """Download a recording's media to ``path`` (a file, or a folder for ``<id>.mp3``).

        Streams into a hidden temporary file beside the target, verifies the
        length and (for single-part uploads) the MD5 the storage ETag carries,
        then renames it into place. On any failure or cancellation the final
        path is untouched and the temporary file is removed. Missing parent
        folders are created. ``progress`` is called with :class:`DownloadProgress`
        on the event loop (keep it quick). ``fsync=True`` flushes to disk before
        the rename.

        Raises:
            DestinationExistsError: the file exists and ``overwrite`` is false
                (raised before any request).
            RecordingNotAvailableError: status is not ``available``; no file created.
            NotFoundError, StorageError, MediaURLExpiredError, APIConnectionError,
            IntegrityError: size or MD5 mismatch.
            FileWriteError: the disk is full or not writable.
            UnsafePathError: the recording's id or ``format`` would not make one
                safe file name in the folder (raised before any request).
            InvalidMediaURLError: Bird's redirect is malformed, or plain http
                behind an https API without ``allow_insecure_storage``.
            ClientClosedError: the client was closed during the download.
        """
        self._ensure_open()
        return await self._media.download(
            recording,
            path,
            overwrite=overwrite,
            progress=progress,
            verify_md5=verify_md5,
            fsync=fsync,
        )

    def download_recordings(
        self,
        recordings: Iterable[RecordingRef] | AsyncIterable[RecordingRef],
        directory: str | Path,
        *,
        concurrency: int = DEFAULT_BULK_DOWNLOAD_CONCURRENCY,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        verify_md5: bool = True,
        fsync: bool = False,
    ) -> AsyncGenerator[DownloadOutcome, None]:
        """Download many recordings into ``directory``; yield one outcome each as it completes.

        ``recordings`` is ids, :class:`Recording` objects, or a pager such as
        ``client.list_recordings(status="available")``. At most
        ``concurrency`` downloads run at once; the next starts as soon as one
        finishes. A failure never aborts the batch: its outcome has ``error``.
        An existing file that matches the stored size and MD5 is ``skipped``;
        one that differs fails with :class:`DestinationExistsError` unless
        ``overwrite``. Closing the iterator (leave the loop inside
        ``async with contextlib.aclosing(client.download_recordings(...))``)
        cancels the downloads in flight and removes their temporary files at
        once; an iterator merely abandoned is cleaned up when it is garbage
        collected.

        Example::

            async for outcome in client.download_recordings(
                client.list_recordings(status="available"), "archive", concurrency=16
            ):
                print(outcome.recording_id, outcome.status, outcome.error or "")
        """
        self._ensure_open()
        return self._media.download_many(
            recordings,
            directory,
            concurrency=concurrency,
            overwrite=overwrite,
            progress=progress,
            verify_md5=verify_md5,
            fsync=fsync,
        )

    # -- transcriptions ---------------------------------------------------------------

    async def create_transcription(
        self,
        recording: Recording | str,
        locale: str = DEFAULT_TRANSCRIPTION_LOCALE,
        *,
        message_id: str | None = None,
        conversation_id: str | None = None,
    ) -> Transcription:
        """Ask Bird to transcribe a recording; returns the new :class:`Transcription`.

        Bird answers 202 with status ``accepted``; follow it with
        :meth:`wait_for_transcription`. ``locale`` is checked against Bird's
        documented list before anything is sent (case-sensitive, ``"en-US"``,
        ``"en-GB-WLS"``, ``"arb"``…); the error names the nearest valid ones.
        ``message_id``/``conversation_id`` are passed on as Bird's optional
        ``messageId``/``conversationId``.

        This is a POST and is **never retried**: if the connection drops after
        the request was sent (:class:`APIConnectionError`) or Bird answers 5xx,
        the transcription may or may not exist. Before asking again, look for it
        with :meth:`list_transcriptions` (``t.recording_id == recording_id``),
        or you may pay for two.

        Raises:
            InvalidArgumentError: unsupported locale (nothing was sent).
            RecordingNotAvailableError: a :class:`Recording` passed in has no media.
            NotFoundError: no such recording.
            UnprocessableEntityError: Bird refused it (a malformed id, or a
                recording without media).
            APIConnectionError, APITimeoutError, ServerError: see above.
        """
        body = tx.create_body(locale, message_id, conversation_id)
        recording_id = tx.recording_id_for_create(recording)
        api = self._requester()
        what = f"transcription of recording {recording_id}"
        response = await api.send(
            "POST",
            tx.create_path(self.workspace_id, recording_id),
            json_body=body,
            ok=(200, 201, 202),
            recording_id=recording_id,
        )
        return tx.decode_transcription(response.body, what=what)

    async def get_transcription(self, transcription: TranscriptionRef) -> Transcription:
        """Fetch a transcription's current state (a :class:`Transcription` or its id).

        Raises:
            NotFoundError: no such transcription.
            UnprocessableEntityError: the id is malformed.
        """
        self._ensure_open()
        return await self._transcriptions.get(tx.transcription_id_of(transcription))

    async def delete_transcription(self, transcription: TranscriptionRef) -> None:
        """Delete a transcription (a :class:`Transcription` or its id); Bird answers 204.

        ``DELETE /workspaces/{ws}/transcriptions/{id}``. The recording is not
        touched. Deleting twice raises :class:`NotFoundError`. Like
        :meth:`delete_recording`, this is retried on connection errors and 5xx
        (deleting is idempotent: a retry after a lost answer gets 404).

        Example::

            await client.delete_transcription(transcription)

        Raises:
            InvalidArgumentError: the id is empty, ``.``, ``..`` or contains
                ``/`` (nothing was sent).
            NotFoundError: no such transcription.
            UnprocessableEntityError: Bird refused the id (malformed).
        """
        transcription_id = tx.transcription_id_of(transcription)
        if transcription_id in (".", "..") or "/" in transcription_id:
            raise InvalidArgumentError(
                f"transcription_id must be a single id, not {transcription_id!r}"
            )
        api = self._requester()
        path = tx.transcription_path(self.workspace_id, transcription_id)
        await api.send("DELETE", path, ok=(200, 202, 204))

    def list_transcriptions(
        self, *, limit: int | None = None, page_token: str | None = None
    ) -> AsyncPager[Transcription, TranscriptionPage]:
        """List the workspace's transcriptions, paged like :meth:`list_recordings`.

        ``limit`` is the page size (1–99). Bird documents no filter: to find the
        transcriptions of one recording, filter on ``t.recording_id``.

        Example::

            mine = [t async for t in client.list_transcriptions() if t.recording_id == rid]
        """
        params = proto.list_params(limit=limit)
        proto.check_page_token(page_token)
        path = tx.transcription_path(self.workspace_id)

        async def fetch(token: str | None) -> TranscriptionPage:
            api = self._requester()
            query = dict(params)
            if token:
                query["pageToken"] = token
            return await api.get_model(
                path, TranscriptionPage, what="transcriptions page", params=query
            )

        return AsyncPager(fetch, page_token=page_token)

    async def wait_for_transcription(
        self,
        transcription: TranscriptionRef,
        *,
        timeout_s: float | None = DEFAULT_TRANSCRIPTION_TIMEOUT_S,
        poll_interval_s: float = DEFAULT_TRANSCRIPTION_POLL_INITIAL_S,
        max_poll_interval_s: float = DEFAULT_TRANSCRIPTION_POLL_MAX_S,
    ) -> Transcription:
        """Poll until the transcription is ``available``; return it.

        Polls back off from ``poll_interval_s`` to ``max_poll_interval_s``
        (doubling, with jitter), wait at least as long as a ``Retry-After`` Bird
        sends, go through the client's rate limiter, and are timed with the
        client's :class:`Clock`. A poll that fails with a connection error, 5xx
        or 429 (after the usual retries) does not end the wait. ``timeout_s=None``
        waits as long as it takes.

        Raises:
            TranscriptionFailedError: it ended ``failed`` or ``absent`` (nothing
                to transcribe); ``.status`` says which.
            TranscriptionTimeoutError: no final status within ``timeout_s``
                (also a :class:`TimeoutError`); the transcription carries on.
            NotFoundError: no such transcription.
            InvalidArgumentError: a non-positive timing.
        """
        tx.check_wait_options(timeout_s, poll_interval_s, max_poll_interval_s)
        self._ensure_open()
        return await self._transcriptions.wait(
            tx.transcription_id_of(transcription),
            timeout_s=timeout_s,
            poll_interval_s=poll_interval_s,
            max_poll_interval_s=max_poll_interval_s,
        )

    @overload
    async def get_transcription_content(
        self, transcription: TranscriptionRef, format: Literal["txt", "srt", "vtt"] = "txt"
    ) -> str: ...

    @overload
    async def get_transcription_content(
        self, transcription: TranscriptionRef, format: Literal["json"]
    ) -> Any: ...

    async def get_transcription_content(
        self, transcription: TranscriptionRef, format: TranscriptFormat = "txt"
    ) -> Any:
        """The transcript: ``str`` for ``"txt"``, ``"srt"``, ``"vtt"``; parsed JSON for ``"json"``.

        Whether Bird answers with the text or redirects to a presigned storage
        URL, it is fetched the same way as media: the storage request carries
        no ``Authorization``, an expired URL is asked for again, 5xx and broken
        bodies are retried, and the MD5 in the storage ETag is checked. The
        structure of ``"json"`` is not documented by Bird.

        Raises:
            TranscriptionNotAvailableError: still ``accepted``/``ongoing``.
            TranscriptionFailedError: it ended ``failed`` or ``absent``.
            NotFoundError: no such transcription.
            InvalidArgumentError: an unknown ``format``.
            ResponseValidationError: the text is not UTF-8 (or not JSON).
            StorageError, MediaURLExpiredError, IntegrityError, APIConnectionError: as
                for every storage fetch.
        """
        fmt = tx.check_format(format)
        transcription_id = tx.transcription_id_of(transcription)
        self._ensure_open()
        body = await self._transcriptions.fetch(transcription_id, fmt)
        return tx.decode_content(body, fmt, what=f"transcript {transcription_id}.{fmt}")

    async def download_transcription(
        self,
        transcription: TranscriptionRef,
        path: str | Path | None = None,
        *,
        format: TranscriptFormat = "vtt",
        overwrite: bool = False,
    ) -> TranscriptionDownloadResult:
        """Save the transcript to ``path`` (a file, or a folder for ``<id>.<format>``).

        The bytes are written as Bird serves them to a hidden temporary file
        beside the target and renamed into place; on any failure nothing is
        left behind and an existing file is untouched.

        Raises:
            DestinationExistsError: the file exists and ``overwrite`` is false
                (raised before any request).
            TranscriptionNotAvailableError, TranscriptionFailedError,
            NotFoundError, StorageError, FileWriteError: as their names say.
            UnsafePathError: the transcription id would not make one safe file
                name (raised before any request).
        """
        fmt = tx.check_format(format)
        transcription_id = tx.transcription_id_of(transcription)
        self._ensure_open()
        return await self._transcriptions.download(
            transcription_id, path, fmt=fmt, overwrite=overwrite
        )

    # -- per-call options ---------------------------------------------------------

    #: The client a view was made from (``None`` for a client itself).
    _root: RecordingsClient | None = None

    def with_options(
        self, *, timeout_s: float | None = None, retry: RetryPolicy | None = None
    ) -> RecordingsClient:
        """A view of this client with another API timeout and/or retry policy.

        The view shares this client's connection pool, rate limiters,
        concurrency cap and media URL cache, so overrides cost nothing and the
        limits still hold across both. Use it for one call or keep it::

            patient = client.with_options(timeout_s=120, retry=br.RetryPolicy(max_retries=8))
            rec = await patient.get_recording(recording_id)

        ``retry`` applies to API calls and to storage requests of downloads made
        through the view. Closing the view (``aclose`` or ``async with``) only
        marks the view closed: the session stays open for this client and its
        other views. Closing this client closes every view with it; a view then
        raises :class:`ClientClosedError`. ``stats`` of a view count its own API
        retries.

        Raises:
            ConfigurationError: an invalid ``timeout_s`` or ``retry``.
        """
        if timeout_s is not None:
            _check_positive("timeout_s", timeout_s)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy")
        root = self._root or self
        view = copy.copy(self)
        view._root = root
        view.retry = retry or self.retry
        view._closed = False
        view._transport = SharedTransport(
            root._transport,
            api_timeout_s=timeout_s,
            is_closed=lambda: root.is_closed,
        )
        if timeout_s is None:
            view._transport.api_timeout = self._transport.api_timeout
        view._api = self._api.derive(transport=view._transport, retry=view.retry)
        view._urls = root._urls.sharing(
            MediaLocator(view._api, self.workspace_id, allow_insecure=self.allow_insecure_storage),
            server_now=view._api.server_now,
        )
        view._start_services()
        return view

    # -- instrumentation ------------------------------------------------------------

    @property
    def hooks(self) -> Hooks:
        """Where this client reports its API calls, downloads and streams (tracing).

        The default reports nothing. ``bird_recordings.tracing.instrument(client)``
        (extra ``otel``) installs OpenTelemetry spans; a :class:`Hooks` subclass
        can feed another tracer. Views from :meth:`with_options` made afterwards
        inherit it.
        """
        return self._api.hooks

    @hooks.setter
    def hooks(self, hooks: Hooks) -> None:
        if not isinstance(hooks, Hooks):
            raise ConfigurationError("hooks must be a bird_recordings.Hooks")
        self._api.hooks = hooks
