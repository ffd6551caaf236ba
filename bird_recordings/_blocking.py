"""BlockingRecordingsClient: the async client on an event-loop thread of its own.

For code that is not async (Celery tasks, Django views, scripts). Only the
standard library's ``threading`` and ``asyncio`` are used: each blocking call
submits the coroutine to the instance's loop with
``asyncio.run_coroutine_threadsafe`` and waits for its result; async iterators
are pulled one item per round trip.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
)
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Self, TypeVar

from ._client import RecordingsClient
from ._errors import ClientClosedError, InvalidArgumentError
from ._models import (
    CallRecording,
    ClientStats,
    MediaURL,
    Recording,
    StorageMetrics,
    Transcription,
)

if TYPE_CHECKING:
    from ._bulk import RecordingOutcome
    from ._download import DownloadOutcome, DownloadResult, MediaStream, RecordingRef
    from ._transcriptions import TranscriptionDownloadResult, TranscriptionRef

__all__ = ["BlockingMediaStream", "BlockingRecordingsClient"]

T = TypeVar("T")
P = ParamSpec("P")


class BlockingRecordingsClient:
    """The methods of :class:`RecordingsClient`, as blocking calls.

    The instance owns one daemon thread running one event loop, and one
    :class:`RecordingsClient` living on it (its connection pool, rate limiter
    and retries). Every method blocks the calling thread until the loop has
    the answer; methods that return async iterators in the async client return
    plain iterators here. Several threads may call one instance at once.

    Create **one per process** and share it (in Celery: at
    ``worker_process_init``, see :mod:`bird_recordings.celery`); never one per
    call. An instance is bound to the process that created it: after a
    ``fork`` the child must create its own. Close it with :meth:`close` or a
    ``with`` block.

    The arguments are those of :class:`RecordingsClient` (a borrowed
    ``session`` is not accepted: it would belong to another loop), plus
    ``rate_limiter_factory``: a function called on the loop thread whose result
    becomes the client's ``rate_limiter`` (a shared Redis budget must be
    created on the loop that uses it); the instance owns that limiter and
    closes it (``aclose()``) in :meth:`close`.

    Raises:
        ConfigurationError: as :class:`RecordingsClient`.

    Example::

        with BlockingRecordingsClient() as client:
            for rec in client.list_recordings(status="available"):
                client.download_recording(rec, "recordings/")
    """

    def __init__(
        self,
        *args: Any,
        rate_limiter_factory: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("session") is not None:
            raise InvalidArgumentError(
                "BlockingRecordingsClient creates its own session on its own loop"
            )
        self._pid = os.getpid()
        self._closed = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="bird-recordings-loop", daemon=True
        )
        self._thread.start()

        self._owned: list[Any] = []

        async def create() -> RecordingsClient:
            if rate_limiter_factory is not None:
                # Built on the loop thread: a Redis limiter's connections belong to this loop.
                limiter = rate_limiter_factory()
                self._owned.append(limiter)
                kwargs["rate_limiter"] = limiter
            return RecordingsClient(*args, **kwargs)

        try:
            self._client = self._submit(create())
        except BaseException:
            self._submit(self._close_owned())
            self._stop_loop()
            raise

    async def _close_owned(self) -> None:
        owned, self._owned = self._owned, []
        for thing in owned:
            close = getattr(thing, "aclose", None)
            if close is not None:
                await close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<BlockingRecordingsClient workspace_id={self._client.workspace_id!r} "
            f"base_url={self._client.base_url!r} {state}>"
        )

    # -- the loop thread ---------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.get_ident() == self._thread.ident:
            coro.close()
            raise InvalidArgumentError(
                "a BlockingRecordingsClient method was called from its own event-loop thread "
                "(a progress callback?); use the async client there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            # Ctrl-C (or any exception) in the waiting thread: stop the work too.
            future.cancel()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed or os.getpid() != self._pid:
            coro.close()
            if os.getpid() != self._pid:
                raise ClientClosedError(
                    "this BlockingRecordingsClient was created in another process "
                    "(before a fork); create one in this process"
                )
            raise ClientClosedError("this BlockingRecordingsClient is closed; create a new one")
        return self._submit(coro)

    def _iterate(self, source: AsyncIterator[T] | Any) -> Generator[T, None, None]:
        iterator: AsyncIterator[T] = aiter(source)

        async def step() -> tuple[bool, T | None]:
            try:
                return True, await anext(iterator)
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                more, item = self._call(step())
                if not more:
                    return
                yield item  # type: ignore[misc]
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None and not self._closed and os.getpid() == self._pid:
                self._submit(close())

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._closed:
            raise ClientClosedError("this BlockingRecordingsClient is closed; create a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and stop its loop thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if os.getpid() != self._pid:
            return  # the thread does not exist in a forked child
        try:
            try:
                self._submit(self._client.aclose())
            finally:
                self._submit(self._close_owned())
        finally:
            self._stop_loop()

    @property
    def is_closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def async_client(self) -> RecordingsClient:
        """The :class:`RecordingsClient` on the loop thread (use it only through :meth:`run`)."""
        return self._client

    @property
    def workspace_id(self) -> str:
        """The workspace the client works on."""
        return self._client.workspace_id

    @property
    def stats(self) -> ClientStats:
        """As :attr:`RecordingsClient.stats`."""
        return self._client.stats

    def run(
        self,
        fn: Callable[Concatenate[RecordingsClient, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``await fn(async_client, *args, **kwargs)`` on the loop thread; return its result.

        The seam for async code that takes a client, such as
        :func:`bird_recordings.archive.archive_shard`::

            report = client.run(archive_shard, shard, sink)
        """

        async def call() -> T:
            return await fn(self._client, *args, **kwargs)

        return self._call(call())

    # -- recordings ------------------------------------------------------------------------

    def get_recording(self, recording_id: str) -> Recording:
        """As :meth:`RecordingsClient.get_recording`."""
        return self._call(self._client.get_recording(recording_id))

    def list_recordings(self, **filters: Any) -> Generator[Recording, None, None]:
        """As :meth:`RecordingsClient.list_recordings`, iterating every recording of every page.

        Arguments are checked now; pages are requested as you iterate.
        """
        return self._iterate(self._client.list_recordings(**filters))

    def delete_recording(self, recording_id: str) -> None:
        """As :meth:`RecordingsClient.delete_recording`."""
        self._call(self._client.delete_recording(recording_id))

    def get_storage_metrics(self, source_id: str | None = None) -> StorageMetrics:
        """As :meth:`RecordingsClient.get_storage_metrics`."""
        return self._call(self._client.get_storage_metrics(source_id))

    def get_recordings(
        self, recording_ids: Iterable[str], **options: Any
    ) -> Generator[RecordingOutcome, None, None]:
        """As :meth:`RecordingsClient.get_recordings`: outcomes as they complete."""
        return self._iterate(self._client.get_recordings(list(recording_ids), **options))

    def list_call_recordings(
        self, channel_id: str, call_id: str, *, limit: int | None = None
    ) -> Generator[CallRecording, None, None]:
        """As :meth:`RecordingsClient.list_call_recordings`."""
        return self._iterate(self._client.list_call_recordings(channel_id, call_id, limit=limit))

    def get_call_recording(self, channel_id: str, call_id: str, recording_id: str) -> CallRecording:
        """As :meth:`RecordingsClient.get_call_recording`."""
        return self._call(self._client.get_call_recording(channel_id, call_id, recording_id))

    # -- media --------------------------------------------------------------------------------

    def get_media_url(self, recording: RecordingRef) -> MediaURL:
        """As :meth:`RecordingsClient.get_media_url`."""
        return self._call(self._client.get_media_url(recording))

    def stream_recording(
        self, recording: RecordingRef, *, chunk_size: int | None = None
    ) -> BlockingMediaStream:
        """As :meth:`RecordingsClient.stream_recording`: ``with`` it, then iterate it."""
        return BlockingMediaStream(
            self, self._client.stream_recording(recording, chunk_size=chunk_size)
        )

    def download_recording(
        self, recording: RecordingRef, path: str | Path | None = None, **options: Any
    ) -> DownloadResult:
        """As :meth:`RecordingsClient.download_recording` (``progress`` runs on the loop thread)."""
        return self._call(self._client.download_recording(recording, path, **options))

    def download_recordings(
        self, recordings: Iterable[RecordingRef], directory: str | Path, **options: Any
    ) -> Generator[DownloadOutcome, None, None]:
        """As :meth:`RecordingsClient.download_recordings`: outcomes as they complete.

        Leaving the loop early and closing the iterator (``iterator.close()``,
        or it being garbage collected) cancels the downloads in flight.
        """
        return self._iterate(
            self._client.download_recordings(list(recordings), directory, **options)
        )

    # -- transcriptions ------------------------------------------------------------------------

    def create_transcription(
        self, recording: Recording | str, locale: str = "en-US", **options: Any
    ) -> Transcription:
        """As :meth:`RecordingsClient.create_transcription` (never retried: see there)."""
        return self._call(self._client.create_transcription(recording, locale, **options))

    def get_transcription(self, transcription: TranscriptionRef) -> Transcription:
        """As :meth:`RecordingsClient.get_transcription`."""
        return self._call(self._client.get_transcription(transcription))

    def list_transcriptions(self, **options: Any) -> Generator[Transcription, None, None]:
        """As :meth:`RecordingsClient.list_transcriptions`, every transcription of every page."""
        return self._iterate(self._client.list_transcriptions(**options))

    def wait_for_transcription(
        self, transcription: TranscriptionRef, **options: Any
    ) -> Transcription:
        """As :meth:`RecordingsClient.wait_for_transcription` (blocks while polling)."""
        return self._call(self._client.wait_for_transcription(transcription, **options))

    def get_transcription_content(
        self, transcription: TranscriptionRef, format: Any = "txt"
    ) -> Any:
        """As :meth:`RecordingsClient.get_transcription_content`."""
        return self._call(self._client.get_transcription_content(transcription, format))

    def download_transcription(
        self, transcription: TranscriptionRef, path: str | Path | None = None, **options: Any
    ) -> TranscriptionDownloadResult:
        """As :meth:`RecordingsClient.download_transcription`."""
        return self._call(self._client.download_transcription(transcription, path, **options))


class BlockingMediaStream:
    """A media stream for blocking code: ``with client.stream_recording(rec) as media:``.

    Iterate it for ``bytes`` chunks, exactly as :class:`MediaStream`.
    """

    def __init__(self, owner: BlockingRecordingsClient, stream: MediaStream) -> None:
        self._owner = owner
        self._stream = stream

    @property
    def size_bytes(self) -> int | None:
        """The object's size, once entered."""
        return self._stream.size_bytes

    @property
    def etag(self) -> str | None:
        """The object's ETag, once entered."""
        return self._stream.etag

    def __enter__(self) -> Self:
        self._owner._call(self._stream.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._call(self._stream.__aexit__(exc_type, exc, tb))

    def __iter__(self) -> Generator[bytes, None, None]:
        return self._owner._iterate(self._stream)

    def read(self) -> bytes:
        """The whole remaining body (only for small recordings)."""
        return b"".join(self)
