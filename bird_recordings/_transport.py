"""The only module that calls aiohttp.

It owns or borrows the ``ClientSession``, sends requests, and translates every
aiohttp and socket error into ours at one boundary (:func:`map_errors`) —
around the request *and* around body iteration, so a socket dying in the
middle of an mp3 reaches the caller as our exception, never aiohttp's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Final

import aiohttp
import yarl
from attrs import frozen
from multidict import CIMultiDictProxy

from ._constants import DEFAULT_CHUNK_SIZE, LOGGER_NAME
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    BirdRecordingsError,
    ClientClosedError,
    ConfigurationError,
    InvalidArgumentError,
    InvalidMediaURLError,
    ResponseValidationError,
    UnexpectedError,
)
from ._inflight import InFlight
from ._redact import redact_url

__all__ = [
    "OpenStream",
    "RawResponse",
    "SharedTransport",
    "StreamResponse",
    "Transport",
    "map_errors",
]

logger: Final = logging.getLogger(LOGGER_NAME)


# What the boundary translates; anything else (our own errors, CancelledError,
# programming errors) passes through untouched.
_FOREIGN: Final = (aiohttp.ClientError, OSError, TimeoutError)


def translate(exc: BaseException, url: str, what: str) -> BirdRecordingsError:
    """Our exception for an aiohttp/OS error; raise it ``from exc``."""
    if isinstance(exc, aiohttp.InvalidURL):
        if what.startswith("media"):
            return InvalidMediaURLError(f"{what}: invalid URL: {redact_url(url)}")
        return InvalidArgumentError(f"invalid URL: {redact_url(url)}")
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return APITimeoutError(f"{what} timed out", url=url)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(f"{what}: the response body broke off ({exc})", url=url)
    if isinstance(exc, aiohttp.ClientError):
        return APIConnectionError(f"{what} failed: {type(exc).__name__}: {exc}", url=url)
    return APIConnectionError(f"{what} failed: {exc}", url=url)


@contextmanager
def map_errors(url: str, what: str = "request") -> Iterator[None]:
    """Translate aiohttp/OS errors raised inside the block into ours, chained.

    ``CancelledError`` passes through untouched; our own errors are re-raised.
    Hot paths (each API request, each body chunk) inline the same
    ``except _FOREIGN`` + :func:`translate` instead of entering this.
    """
    try:
        yield
    except BirdRecordingsError:
        raise
    except _FOREIGN as exc:
        raise translate(exc, url, what) from exc


@frozen
class RawResponse:
    """A complete small response: status, headers, body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamResponse:
    """A streaming response whose body reads are error-mapped and watched for stalls.

    Use only inside :meth:`Transport.stream`; the connection is released when
    that context exits.

    A stall is a read that waits ``stall_timeout_s`` without a byte. aiohttp's
    own ``sock_read`` timeout re-arms a loop timer on every chunk received; a
    body is watched instead by one timer that re-arms itself only when it fires
    early (about once per ``stall_timeout_s``), and a read costs one clock
    reading. A reader that is merely slow to come back for the next chunk is
    not a stall: only the time a read spends waiting counts.
    """

    __slots__ = (
        "_content",
        "_handle",
        "_loop",
        "_response",
        "_stall_s",
        "_url",
        "_waiting_since",
        "headers",
        "status",
    )

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self._response = response
        self._content = response.content
        self._url = url
        self.status: int = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self._handle: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None
        self._stall_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def content_length(self) -> int | None:
        """``Content-Length`` as the server announced it."""
        return self._response.content_length

    def watch_stalls(self, stall_timeout_s: float | None) -> None:
        """Fail a read that waits ``stall_timeout_s`` for a byte (from the headers on)."""
        connection = self._response.connection
        if not stall_timeout_s or connection is None or connection.protocol is None:
            return  # no limit, or the whole body has arrived with the headers
        # aiohttp's per-chunk timer is turned off for the rest of this response
        # (set per request, so a pooled connection's next request is unaffected;
        # aiohttp does the same for websockets); its last armed timer still
        # covers the first body bytes.
        connection.protocol.read_timeout = None
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stall_s = stall_timeout_s
        self._handle = loop.call_later(stall_timeout_s, self._check_stall)

    def _check_stall(self) -> None:
        loop = self._loop
        if loop is None:  # pragma: no cover - only armed with a loop
            return
        since = self._waiting_since
        now = _monotonic()
        if since is None or now - since < self._stall_s:
            # Early (or nobody is waiting): look again when a read now waiting would stall.
            wait = self._stall_s if since is None else since + self._stall_s - now
            self._handle = loop.call_later(wait, self._check_stall)
            return
        self._handle = None
        self._content.set_exception(
            aiohttp.ServerTimeoutError(f"no byte received for {self._stall_s:g} s (stall timeout)")
        )

    def stop_watching(self) -> None:
        """Cancel the stall timer (the response is being released)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    async def read_chunk(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> bytes:
        """The next piece of the body, at most ``chunk_size`` bytes; ``b""`` at its end."""
        self._waiting_since = _monotonic()
        try:
            return await self._content.read(chunk_size)
        except _FOREIGN as exc:
            raise translate(exc, self._url, "media download") from exc
        finally:
            self._waiting_since = None

    async def read_limited(self, limit: int) -> bytes:
        """Read at most ``limit`` bytes of the body (for error messages)."""
        self._waiting_since = _monotonic()
        try:
            with map_errors(self._url, "reading an error body"):
                return await self._content.read(limit)
        finally:
            self._waiting_since = None


# The stall watch measures intervals on its own clock (one C call per read).
_monotonic: Final = time.monotonic


class Transport:
    """Holds the ``aiohttp.ClientSession`` and sends requests through it.

    A session passed in is borrowed: it is used as it is and never closed. A
    session we create is created inside the running loop on :meth:`open` and
    closed by :meth:`close`. Credentials are never put on the session: they go
    on each API request only.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        connect_timeout_s: float,
        api_timeout_s: float,
        stall_timeout_s: float,
        pool_size: int,
        user_agent: str,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
    ) -> None:
        if session is not None:
            _check_borrowed_session(session)
        self._session = session
        self.owns_session = session is None
        # Requests and transfers in flight, stopped by close(); a borrowed session
        # is watched, since its owner may close it under us.
        self.inflight = InFlight(None if session is None else self._borrowed_session_closed)
        self._pool_size = pool_size
        self._trace_configs = list(trace_configs or ())
        self.user_agent = user_agent
        # No sock_read: it could never fire before ``total`` of the same length, and
        # aiohttp re-arms its timer on every chunk.
        self.api_timeout = aiohttp.ClientTimeout(
            total=api_timeout_s, sock_connect=connect_timeout_s
        )
        # Media: no total limit (a 2 GiB file on a slow link must finish); a
        # stall — no bytes for stall_timeout_s — is what fails.
        self.media_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=stall_timeout_s
        )
        # After the headers a body is watched by StreamResponse (one lazy timer).
        self.stall_timeout_s = stall_timeout_s

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session in use (created by :meth:`open` when owned)."""
        if self._session is None:
            raise RuntimeError("transport is not open")
        return self._session

    @property
    def is_open(self) -> bool:
        """True once a session is available."""
        return self._session is not None

    def open(self) -> None:
        """Create the owned session; must run inside the event loop that will use it."""
        if self._session is not None:
            return
        asyncio.get_running_loop()
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=self._trace_configs or None,
            read_bufsize=2**18,
        )

    def _borrowed_session_closed(self) -> bool:
        return self._session is not None and self._session.closed

    async def close(self) -> None:
        """Stop the work in flight, then close the session if we own it.

        The work in flight fails with :class:`ClientClosedError`; a borrowed
        session is left alone.
        """
        await self.inflight.stop()
        if self.owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        allow_redirects: bool = True,
        max_body_bytes: int | None = None,
    ) -> RawResponse:
        """Send one API request and read its whole (small) body."""
        # One frame, guard included: every suspension of a request resumes each
        # frame above it, so layers cost calls on every request.
        async with self.inflight.guard():
            try:
                async with self.session.request(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    json=json_body,
                    allow_redirects=allow_redirects,
                    timeout=self.api_timeout,
                    # A borrowed session may raise on 4xx/5xx; statuses are ours to judge.
                    raise_for_status=False,
                ) as response:
                    if max_body_bytes is None:
                        body = await response.read()
                    else:
                        body = await _read_at_most(response, max_body_bytes, method, url)
                    return RawResponse(response.status, response.headers, body)
            except _FOREIGN as exc:
                raise translate(exc, url, f"{method} request") from exc
            except BirdRecordingsError:
                raise
            except (ValueError, UnicodeError, RuntimeError) as exc:
                # A URL aiohttp/yarl cannot encode, or a session closed under us.
                raise _setup_error(self._session, exc, url, f"{method} request") from exc

    def stream(self, url: str, *, headers: Mapping[str, str]) -> OpenStream:
        """``async with transport.stream(url, headers=...) as response:`` GET as a stream.

        The connection is released on exit. The URL is sent as given
        (``encoded=True``): a presigned URL's signature covers its exact query
        string.
        """
        return OpenStream(self, url, headers)


class OpenStream:
    """The context of :meth:`Transport.stream` (a class: one per download, no generator)."""

    __slots__ = ("_headers", "_response", "_stream", "_transport", "_url")

    def __init__(self, transport: Transport, url: str, headers: Mapping[str, str]) -> None:
        self._transport = transport
        self._url = url
        self._headers = headers
        self._response: aiohttp.ClientResponse | None = None
        self._stream: StreamResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        transport, url = self._transport, self._url
        try:
            context = transport.session.get(
                yarl.URL(url, encoded=True),
                headers=self._headers,
                allow_redirects=False,
                timeout=transport.media_timeout,
                auto_decompress=False,
                raise_for_status=False,
            )
            response = await context.__aenter__()
        except _FOREIGN as exc:
            raise translate(exc, url, "media request") from exc
        except BirdRecordingsError:
            raise
        except (ValueError, UnicodeError, RuntimeError) as exc:
            raise _setup_error(transport._session, exc, url, "media request") from exc
        self._response = response
        stream = self._stream = StreamResponse(response, url)
        stream.watch_stalls(transport.stall_timeout_s)
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        response, stream = self._response, self._stream
        self._response = self._stream = None
        if stream is not None:
            stream.stop_watching()
        if response is not None:
            # A fully read body releases the connection to the pool; an abandoned
            # one closes it rather than draining a large remainder.
            if response.content.at_eof():
                response.release()
            else:
                response.close()


async def _read_at_most(
    response: aiohttp.ClientResponse, limit: int, method: str, url: str
) -> bytes:
    """The whole body, or :class:`ResponseValidationError` as soon as it exceeds ``limit``."""
    announced = response.content_length
    if announced is None or announced <= limit:
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.readany():
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
        else:
            return b"".join(chunks)
    raise ResponseValidationError(
        f"{method} {redact_url(url)}: the response body is larger than {limit} bytes",
        errors=(f"body larger than {limit} bytes @ $",),
    )


def _setup_error(
    session: aiohttp.ClientSession | None, exc: Exception, url: str, what: str
) -> BirdRecordingsError:
    """Ours for an error raised while aiohttp prepared a request."""
    if session is None or session.closed:
        return ClientClosedError(
            f"{what}: the aiohttp session is closed (the client, or the owner of a "
            "borrowed session, closed it)"
        )
    if isinstance(exc, RuntimeError):
        return UnexpectedError(f"{what} failed: {type(exc).__name__}: {exc} ({redact_url(url)})")
    if what.startswith("media"):
        return InvalidMediaURLError(
            f"{what}: cannot send a request to {redact_url(url)} ({type(exc).__name__})"
        )
    return InvalidArgumentError(f"{what}: invalid URL {redact_url(url)} ({type(exc).__name__})")


def _check_borrowed_session(session: aiohttp.ClientSession) -> None:
    """Refuse a borrowed session that would send credentials to every origin."""
    if session.auth is not None or any(key.lower() == "authorization" for key in session.headers):
        raise ConfigurationError(
            "the borrowed aiohttp.ClientSession carries default credentials (auth= or an "
            "Authorization header); they would be sent to the storage origin too. "
            "Pass a session without them: the client adds Bird's key to each API request."
        )


class SharedTransport(Transport):
    """A :class:`Transport` on another one's session, with its own API timeout.

    It shares the parent's connection pool; closing it leaves the session
    alone. For client views.
    """

    def __init__(
        self, parent: Transport, *, api_timeout_s: float | None, is_closed: Callable[[], bool]
    ) -> None:
        self.__dict__.update(parent.__dict__)
        self._parent = parent
        self._is_closed = is_closed
        self.owns_session = False
        if api_timeout_s is not None:
            self.api_timeout = aiohttp.ClientTimeout(
                total=api_timeout_s, sock_connect=parent.api_timeout.sock_connect
            )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The parent's session."""
        return self._parent.session

    @property
    def is_open(self) -> bool:
        """True while the parent's session is available."""
        return self._parent.is_open

    def open(self) -> None:
        """Open the parent's session; refused once the parent client is closed."""
        if self._is_closed():
            raise ClientClosedError(
                "the RecordingsClient this view was made from is closed; create a new one"
            )
        self._parent.open()

    async def close(self) -> None:
        """Nothing: the session belongs to the parent."""
