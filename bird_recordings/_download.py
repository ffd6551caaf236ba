"""Media: resolve the URL, fetch the bytes, write them, verify them; or stream them.

The bytes come from the one storage loop of :mod:`._fetch`; a download writes them
to a temporary file and renames it into place once length and MD5 are verified.

Flow of one download::

    resolve (Recording.url while fresh, else GET .mp3 -> 307 Location: UrlResolver)
      -> StorageFetch.events(): chunks, resumes, refreshes, RESTART markers
      -> FileSink: batched writes and MD5 in the I/O threads, verify, rename
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
)
from concurrent.futures import Executor
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from attrs import frozen

from . import _paths
from ._bulk import bounded_map, check_concurrency
from ._clock import Clock
from ._constants import (
    LOGGER_NAME,
)
from ._context import ServiceContext
from ._errors import (
    BirdRecordingsError,
    DestinationExistsError,
    IntegrityError,
    InvalidArgumentError,
    RecordingNotAvailableError,
    UnexpectedError,
    as_library_error,
)
from ._fetch import ChunkSink, Restart, StorageFetch
from ._files import FileSink, file_md5
from ._hooks import NO_HOOKS, NO_SPAN, SpanHandle, span_around
from ._models import MediaURL, Recording, RecordingStatus
from ._retry import RetryPolicy
from ._transport import Transport
from ._urls import UrlResolver, explain_missing_media

__all__ = [
    "DownloadOutcome",
    "DownloadProgress",
    "DownloadResult",
    "MediaDownloader",
    "MediaStream",
]

logger: Final = logging.getLogger(LOGGER_NAME)


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


def _chunk(event: bytes | Restart) -> bytes:
    """A stream's chunk (its fetch may not restart, so no marker can come)."""
    if isinstance(event, Restart):
        raise UnexpectedError("a media stream cannot start over")
    return event


class _Reporting:
    """A :class:`FileSink` that also reports progress after every chunk."""

    __slots__ = ("report", "sink")

    def __init__(self, sink: FileSink, report: Callable[[bool], None]) -> None:
        self.sink = sink
        self.report = report

    def accept(self, expected_md5: str | None) -> None:
        self.sink.accept(expected_md5)

    def add(self, chunk: bytes) -> bool:
        due = self.sink.add(chunk)
        self.report(False)
        return due

    async def flush(self) -> None:
        await self.sink.flush()

    async def restart(self) -> None:
        await self.sink.restart()


class _RecordingSource:
    """Where the fetch of one recording's media gets new URLs and explains a 404."""

    __slots__ = ("downloader", "recording_id")

    def __init__(self, downloader: MediaDownloader, recording_id: str) -> None:
        self.downloader = downloader
        self.recording_id = recording_id

    def is_fresh(self, media_url: MediaURL) -> bool:
        return self.downloader.urls.is_fresh(media_url)

    async def refresh(self, stale: MediaURL) -> MediaURL:
        return await self.downloader.urls.refresh(self.recording_id, stale=stale)

    async def explain_missing(self, error: BirdRecordingsError) -> BirdRecordingsError:
        return await self.downloader.not_found_error(self.recording_id, error)


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
        downloader: MediaDownloader,
        ref: RecordingRef,
        chunk_size: int,
        *,
        offset: int = 0,
        end: int | None = None,
        if_range: str | None = None,
    ) -> None:
        self._downloader = downloader
        self._ref = ref
        self._chunk_size = chunk_size
        self._offset = offset
        self._end = end
        self._if_range = if_range
        self._transfer: StorageFetch | None = None
        self._events: AsyncIterator[bytes | Restart] | None = None
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
        hooks = self._downloader.context.hooks
        if hooks is not NO_HOOKS:
            self._span = hooks.start_span(
                "bird_recordings.stream",
                {"bird.recording_id": self.recording_id, "bird.first_byte": self._offset},
            )
        try:
            # aclose() stops an opening in flight (ClientClosedError).
            async with self._downloader.transport.inflight.guard():
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
        recording_id, media_url = await self._downloader.resolve(self._ref)
        self._transfer = self._downloader.fetch(
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
            self._first = _chunk(first)
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
            async with self._downloader.transport.inflight.guard():
                try:
                    event = await anext(self._events)
                except StopAsyncIteration:
                    break
            if chunk := _chunk(event):
                return chunk
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


class MediaDownloader:
    """Media of one client: URL resolution, streams and files, through a :class:`ServiceContext`."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.counters = context.counters
        self.transport: Transport = context.transport
        self.clock: Clock = context.clock
        self.retry: RetryPolicy = context.retry
        self.user_agent: str = context.transport.user_agent
        self.urls: UrlResolver = context.urls

    def executor(self) -> Executor:
        """The file I/O threads."""
        return self.context.files.get()

    # -- URLs --------------------------------------------------------------------

    async def resolve(self, ref: RecordingRef) -> tuple[str, MediaURL]:
        """``(recording_id, MediaURL)`` for a Recording or an id; no storage request."""
        recording_id = self._recording_id(ref)
        metadata = ref if isinstance(ref, Recording) else None
        return recording_id, await self.urls.resolve(recording_id, metadata)

    async def not_found_error(
        self, recording_id: str, error: BirdRecordingsError
    ) -> BirdRecordingsError:
        """Explain a 404 for media: a recording without media, or no recording at all."""
        return await explain_missing_media(
            self.context.requester, self.context.workspace_id, recording_id, error
        )

    async def get_media_url(self, ref: RecordingRef) -> MediaURL:
        """Public: a presigned URL for the media."""
        return (await self.resolve(ref))[1]

    def fetch(
        self,
        recording_id: str,
        media_url: MediaURL,
        *,
        chunk_size: int,
        allow_restart: bool,
        first_byte: int = 0,
        last_byte: int | None = None,
        if_range: str | None = None,
        probe: bool = False,
    ) -> StorageFetch:
        """The storage fetch of one recording's media (not started)."""
        context = self.context
        return StorageFetch(
            transport=context.transport,
            retry=context.retry,
            clock=context.clock,
            source=_RecordingSource(self, recording_id),
            media_url=media_url,
            label=f"recording {recording_id}",
            recording_id=recording_id,
            chunk_size=chunk_size,
            allow_restart=allow_restart,
            counters=context.counters,
            server_now=context.requester.server_now,
            first_byte=first_byte,
            last_byte=last_byte,
            if_range=if_range,
            probe=probe,
        )

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
        if is_folder and isinstance(path, Path) and path.is_absolute():
            folder = path  # download_many's folder: no new Path per file
        elif path is not None:
            target = Path(path)
            if "\x00" in str(path):
                return _paths.check_local_path(target, what="download path")
            if is_folder is None:
                is_folder = _paths.names_a_folder(path)
            if not is_folder:
                return _paths.check_local_path(target.absolute(), what="download path")
            folder = target.absolute()
        else:
            folder = Path().absolute()
        extension = (ref.format or "mp3") if isinstance(ref, Recording) else "mp3"
        name = _paths.file_name(recording_id, extension, what="recording file name")
        return _paths.check_inside(folder, folder / name, what="recording file name")

    def download(
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
    ) -> Coroutine[Any, Any, DownloadResult]:
        """:meth:`_download` (await it), in a ``bird_recordings.download`` span with hooks.

        Without hooks this is ``_download``'s coroutine itself: no extra frame
        for each of the download's suspensions to pass through.
        """
        run = self._download(
            ref,
            path,
            overwrite=overwrite,
            progress=progress,
            verify_md5=verify_md5,
            fsync=fsync,
            chunk_size=chunk_size,
            _overall=_overall,
        )
        if self.context.hooks is NO_HOOKS:
            return run
        return self._in_span(run, ref)

    async def _in_span(
        self, run: Coroutine[Any, Any, DownloadResult], ref: RecordingRef
    ) -> DownloadResult:
        recording_id = ref.id if isinstance(ref, Recording) else str(ref)
        attributes = {"bird.recording_id": recording_id}
        with span_around(self.context.hooks, "bird_recordings.download", attributes, run) as span:
            result = await run
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
        # aclose() stops it (ClientClosedError) and waits until its file is cleaned up.
        async with self.transport.inflight.guard():
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
                media_url = await self.urls.resolve(
                    recording_id, ref if isinstance(ref, Recording) else None
                )
                transfer = self.fetch(
                    recording_id,
                    media_url,
                    chunk_size=chunk_size or self.context.chunk_size,
                    allow_restart=True,
                )
                overall = _overall or _Overall(recordings_total=1)
                report = overall.reporter(recording_id, transfer, progress)
                # Nobody reads the running totals without a callback: report at the end only.
                into: ChunkSink = sink if progress is None else _Reporting(sink, report)
                async for _ in transfer.events(into):
                    pass  # with a sink, every chunk and restart goes to it
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
    def _verify(transfer: StorageFetch, written: int, md5: str | None) -> None:
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
        probe = self.fetch(recording_id, media_url, chunk_size=1, allow_restart=True, probe=True)
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
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
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
        self, recording_id: str, transfer: StorageFetch, progress: ProgressCallback | None
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
