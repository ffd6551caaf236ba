"""The one storage fetch loop, for media and for transcripts.

It executes what :mod:`._storage` decides for each answer of a presigned GET::

    GET storage URL (no Authorization, no cookies, identity encoding)
      200/206 -> body chunks ... broken? -> Range: bytes=<received>- + If-Match
      403 expired -> a new URL from the source, resume at the same byte
      412 / new ETag -> the object changed: start from zero (RESTART marker),
                        or MediaChangedError when that is not allowed (streams)
      404 -> the source explains it;  5xx/SlowDown -> back off, retry
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Final, Protocol

from attrs import define

from . import _protocol as proto
from ._clock import Clock
from ._constants import LOGGER_NAME, MAX_CONSECUTIVE_URL_REFRESHES, MAX_RESTARTS
from ._errors import (
    APIConnectionError,
    BirdRecordingsError,
    IntegrityError,
    MediaChangedError,
    MediaURLExpiredError,
    RangeNotSatisfiableError,
    StorageError,
)
from ._models import MediaURL
from ._redact import redact_url
from ._retry import RetryPolicy, parse_retry_after
from ._storage import Asked, StorageAction, after_break, decide_error, judge_body, request_headers
from ._transport import Transport

__all__ = ["RESTART", "ChunkSink", "Restart", "StorageFetch", "TransferCounters", "UrlSource"]

logger: Final = logging.getLogger(LOGGER_NAME)


@define
class TransferCounters:
    """Work done by storage transfers: resumes, URL refreshes, restarts, retries."""

    resumes: int = 0
    url_refreshes: int = 0
    restarts: int = 0
    storage_retries: int = 0


class Restart:
    """Marker yielded by a fetch: discard what you have; bytes start from zero again."""


RESTART: Final = Restart()


class UrlSource(Protocol):
    """Where a fetch gets a new URL, and who explains a 404 (media or transcript)."""

    def is_fresh(self, media_url: MediaURL) -> bool:
        """True if the URL may be used for the next request."""
        ...

    async def refresh(self, stale: MediaURL) -> MediaURL:
        """A new URL instead of ``stale``."""
        ...

    async def explain_missing(self, error: BirdRecordingsError) -> BirdRecordingsError:
        """The error to raise for a storage 404."""
        ...


class ChunkSink(Protocol):
    """Where :meth:`StorageFetch.events` puts the body instead of yielding it (downloads).

    The per-chunk path is one plain call (:meth:`add`) and, now and then, one
    await (:meth:`flush`): no generator step and no coroutine per chunk.
    """

    def accept(self, expected_md5: str | None) -> None:
        """An answer was accepted; its body (from the current offset) follows."""
        ...

    def add(self, chunk: bytes) -> bool:
        """Queue ``chunk``; True when :meth:`flush` is due."""
        ...

    async def flush(self) -> None:
        """Hand what is queued on (to the writer thread)."""
        ...

    async def restart(self) -> None:
        """Drop everything received so far: bytes start from zero again."""
        ...


class StorageFetch:
    """One object's bytes, across resumes, refreshes and (when allowed) restarts.

    Args:
        label: names the object in messages and logs (``"recording <id>"``).
        allow_restart: a changed object starts over (a :data:`RESTART` marker)
            instead of raising :class:`MediaChangedError`.
        resume: continue a broken body with ``Range`` (else start over: small bodies).
        first_byte, last_byte, if_range: the part of the object wanted (streams).
    """

    def __init__(
        self,
        *,
        transport: Transport,
        retry: RetryPolicy,
        clock: Clock,
        source: UrlSource,
        media_url: MediaURL,
        label: str,
        chunk_size: int,
        allow_restart: bool,
        counters: TransferCounters,
        server_now: Callable[[], datetime],
        recording_id: str | None = None,
        resume: bool = True,
        first_byte: int = 0,
        last_byte: int | None = None,
        if_range: str | None = None,
        probe: bool = False,
    ) -> None:
        self.transport = transport
        self.retry = retry
        self.clock = clock
        self.source = source
        self.media_url = media_url
        self.label = label
        self.recording_id = recording_id
        self.chunk_size = chunk_size
        self.allow_restart = allow_restart
        self.resume = resume
        self.shared_counters = counters
        self.server_now = server_now
        self.user_agent = transport.user_agent
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
        self.counters = TransferCounters()
        self.probe = probe

    # -- state ---------------------------------------------------------------------

    def asked(self) -> Asked:
        """What we know and ask for now (the input of the storage decisions)."""
        return Asked(
            offset=self.offset,
            total=self.total,
            etag=self.etag,
            last_modified=self.last_modified,
            accepted=self.accepted,
            first_byte=self.first_byte,
            last_byte=self.last_byte,
            if_range=self.if_range,
            probe=self.probe,
            allow_restart=self.allow_restart,
        )

    def _apply(self, asked: Asked) -> None:
        self.offset = asked.offset
        self.total = asked.total
        self.etag = asked.etag
        self.last_modified = asked.last_modified
        self.accepted = asked.accepted
        self.first_byte = asked.first_byte
        self.last_byte = asked.last_byte

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

    # -- helpers -------------------------------------------------------------------

    def _count(self, name: str) -> None:
        setattr(self.counters, name, getattr(self.counters, name) + 1)
        setattr(self.shared_counters, name, getattr(self.shared_counters, name) + 1)

    async def _refresh(self, reason: str, consecutive: int) -> int:
        if consecutive >= MAX_CONSECUTIVE_URL_REFRESHES:
            raise MediaURLExpiredError(
                status=403,
                code="AccessDenied",
                message=f"the URL kept failing ({reason}) after {consecutive} refreshes",
                url=self.media_url.url,
                recording_id=self.recording_id,
            )
        logger.info("%s: refreshing the storage URL (%s)", self.label, reason)
        self.media_url = await self.source.refresh(self.media_url)
        self._count("url_refreshes")
        return consecutive + 1

    async def _backoff(self, retries: int, retry_after: float | None, error: Exception) -> int:
        delay = self.retry.delay_s(retries, retry_after, random.random)
        if retries >= self.retry.max_retries or delay is None:
            raise error
        logger.info(
            "%s: %s; retry %d at byte %d in %.2fs",
            self.label,
            error,
            retries + 1,
            self.offset,
            delay,
        )
        self._count("storage_retries")
        await self.clock.sleep(delay)
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
            f"{self.label}: the stored object changed during the transfer "
            f"({why}) after {self.offset} bytes",
            recording_id=self.recording_id,
        )

    def _start_over(self) -> Restart:
        self.offset = 0
        self._count("restarts")
        return RESTART

    # -- the loop ------------------------------------------------------------------

    async def events(self, sink: ChunkSink | None = None) -> AsyncIterator[bytes | Restart]:
        """Yield body chunks (and :data:`RESTART` markers when allowed) until complete.

        With a ``sink``, chunks and restarts go to it and nothing is yielded:
        ``async for _ in fetch.events(sink): ...`` never enters its body.
        """
        retries = 0
        refreshes = 0
        restarts = 0
        fresh = True  # the URL was just resolved (and a URL just issued is used once)
        forbidden_refreshed = False
        while True:
            if not fresh and not self.source.is_fresh(self.media_url):
                refreshes = await self._refresh("expires before the next request", refreshes)
            fresh = False
            url = self.media_url.url
            asked = self.asked()
            next_step = after_break(asked, resume=self.resume)
            if next_step is StorageAction.FAIL:
                raise APIConnectionError(
                    f"{self.label}: the transfer broke off at byte {self.offset} and the "
                    "storage sent no ETag or Last-Modified to resume it safely",
                    url=url,
                )
            if next_step is StorageAction.RESTART:
                logger.info("%s: starting over from byte %d", self.label, self.offset)
                self.total = None
                self.etag = self.last_modified = None
                marker = self._start_over()
                if sink is None:
                    yield marker
                else:
                    await sink.restart()
                asked = self.asked()
            if logger.isEnabledFor(logging.DEBUG):  # redaction only when it is logged
                logger.debug("%s: GET %s from byte %d", self.label, redact_url(url), self.offset)
            try:
                async with self.transport.stream(
                    url, headers=request_headers(asked, self.user_agent)
                ) as response:
                    status = response.status
                    if status in (200, 206):
                        verdict = judge_body(
                            asked, status, response.headers, response.content_length
                        )
                        action = verdict.action
                        if action is StorageAction.BAD_RANGE:
                            raise IntegrityError(
                                f"{self.label}: asked for bytes from {self.offset}, got "
                                f"Content-Range {response.headers.get('Content-Range')!r}",
                                recording_id=self.recording_id,
                            )
                        if action is StorageAction.CHANGED:
                            raise self._changed(
                                "new ETag or size"
                                if status == 206
                                else "the storage sent a different full object"
                            )
                        self._apply(verdict.asked)
                        if action is StorageAction.RESTART:
                            restarts += 1
                            if restarts > MAX_RESTARTS:
                                raise self._changed("it kept changing")
                            marker = self._start_over()
                            if sink is None:
                                yield marker
                            else:
                                await sink.restart()
                            continue
                        if verdict.skip:
                            logger.info(
                                "%s: storage ignored Range; skipping %d bytes already received",
                                self.label,
                                verdict.skip,
                            )
                        self.expected_md5 = proto.md5_from_etag(self.etag, response.headers)
                        if self.probe:
                            return
                        refreshes = 0
                        skip = verdict.skip
                        stop = self.stop  # fixed for this answer
                        if sink is not None:
                            sink.accept(self.expected_md5)
                        chunk_size = self.chunk_size
                        read_chunk = response.read_chunk
                        while chunk := await read_chunk(chunk_size):
                            if skip:
                                if len(chunk) <= skip:
                                    skip -= len(chunk)
                                    continue
                                chunk = chunk[skip:]
                                skip = 0
                            if stop is not None and self.offset + len(chunk) >= stop:
                                # The end of a range (or a storage that ignored it).
                                chunk = chunk[: stop - self.offset]
                                self.offset += len(chunk)
                                if not chunk:
                                    return
                                if sink is None:
                                    yield chunk
                                elif sink.add(chunk):
                                    await sink.flush()
                                return
                            self.offset += len(chunk)
                            retries = 0
                            if sink is None:
                                yield chunk
                            elif sink.add(chunk):
                                await sink.flush()
                        self._check_end(url)
                        return
                    body = await response.read_limited(proto.MAX_ERROR_BODY_BYTES)
                    s3 = proto.parse_s3_error(body)
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), self.clock.now()
                    )
                    content_range = response.headers.get("Content-Range")
                # The failed response is closed here, before any sleep.
                action = decide_error(
                    asked,
                    status,
                    s3,
                    retry=self.retry,
                    url_expires_at=self.media_url.expires_at,
                    server_now=self.server_now(),
                )
                if action is StorageAction.DONE:
                    return
                if action is StorageAction.RANGE_NOT_SATISFIABLE:
                    raise RangeNotSatisfiableError(
                        status=status,
                        code=s3.code,
                        message=s3.message,
                        url=self.media_url.url,
                        recording_id=self.recording_id,
                        size_bytes=proto.parse_unsatisfied_range(content_range),
                    )
                if action is StorageAction.REFRESH_URL or (
                    action is StorageAction.REFRESH_ONCE and not forbidden_refreshed
                ):
                    # A 403 that is not expiry (a bad or revoked signature, say a stale
                    # URL from metadata): one fresh URL may cure it; a second is final.
                    forbidden_refreshed |= action is StorageAction.REFRESH_ONCE
                    refreshes = await self._refresh(
                        f"storage answered {status} {s3.code or ''}".strip(), refreshes
                    )
                    fresh = True
                elif action is StorageAction.RESTART:
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
                        marker = self._start_over()
                        if sink is None:
                            yield marker
                        else:
                            await sink.restart()
                elif action is StorageAction.RETRY:
                    retries = await self._backoff(
                        retries, retry_after, self._storage_error(status, s3)
                    )
                elif action is StorageAction.NOT_FOUND:
                    raise await self.source.explain_missing(self._storage_error(status, s3))
                else:
                    raise self._storage_error(status, s3)
            except APIConnectionError as exc:
                # Reset, early EOF, stall: resume where we are.
                self._count("resumes")
                retries = await self._backoff(retries, None, exc)

    def _check_end(self, url: str) -> None:
        stop = self.stop
        if stop is not None and self.offset < stop:
            raise APIConnectionError(f"the body ended at byte {self.offset} of {stop}", url=url)
        if self.total is not None and self.offset > self.total:
            raise IntegrityError(
                f"{self.label}: received {self.offset} bytes, the storage announced {self.total}",
                recording_id=self.recording_id,
            )
