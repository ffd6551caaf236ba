"""Serve recordings from Starlette and FastAPI (extra ``bird-recordings[starlette]``).

:class:`RecordingResponse` is a Starlette response that resolves the recording
and opens the storage stream *before* it sends any byte, so every failure that
can be known up front becomes a proper HTTP status with a JSON body; then it
streams the bytes (with ``Range``, ``If-Range`` and ``HEAD``), resumes across
storage cuts, and closes the storage stream as soon as the HTTP client leaves.

The webhook endpoint for Starlette is :func:`webhook_endpoint`.

This is the only module of the library that imports Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Final

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ._constants import LOGGER_NAME
from ._errors import BirdRecordingsError
from ._web import error_answer, log_refusal, media_headers, parse_range

if TYPE_CHECKING:
    from . import RecordingsClient
    from ._download import MediaStream, RecordingRef
    from .webhooks import WebhookReceiver

__all__ = ["RecordingResponse", "error_response", "exception_handler", "webhook_endpoint"]

logger: Final = logging.getLogger(LOGGER_NAME)


class RecordingResponse(Response):
    """Stream a recording's media to the HTTP client (Starlette, FastAPI).

    Return it from a route::

        @app.get("/recordings/{recording_id}/audio")
        async def audio(recording_id: str, request: Request) -> RecordingResponse:
            return RecordingResponse(request.app.state.bird, recording_id, request=request)

    ``recording`` is a recording id or a :class:`~bird_recordings.Recording`.
    The request's ``Range`` (one range) and ``If-Range`` go to storage; the
    answer is ``200`` or ``206`` with ``Content-Range``, ``Content-Length``,
    ``Content-Type: audio/mpeg``, ``ETag`` and ``Accept-Ranges: bytes``; a
    ``HEAD`` request gets the same headers and no body. ``request`` is optional:
    the headers are read from the ASGI scope when the response is sent.

    Before any byte is sent, errors become JSON ``{"code", "message"}`` answers
    that carry no workspace id, URL or key: unknown recording ``404``, no media
    yet ``409``, range beyond the end ``416`` (with ``Content-Range: bytes
    */size``), Bird rate limit ``503`` with ``Retry-After``, timeout ``504``,
    anything else ``502`` (see :func:`error_response`).
    A storage failure after the headers went out (retries spent) aborts the
    connection, so the client sees a short body, never a silently truncated one.

    The storage stream is closed when the response ends, and at once when the
    HTTP client goes away (``http.disconnect``, or a failed send under ASGI 2.4).
    """

    media_type = "audio/mpeg"

    def __init__(
        self,
        client: RecordingsClient,
        recording: RecordingRef,
        *,
        request: Request | None = None,
        chunk_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # No body and no headers of its own yet: both are known only once storage answered.
        self.status_code = 200
        self.background = None
        self.body = b""
        self.raw_headers = []
        self._client = client
        self._recording = recording
        self._request = request
        self._chunk_size = chunk_size
        self._extra = dict(headers or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the recording as the ASGI answer (the Starlette ``Response`` API)."""
        request_headers = self._request.headers if self._request else Headers(scope=scope)
        byte_range = parse_range(request_headers.get("range"))
        if_range = request_headers.get("if-range") if byte_range else None
        async with contextlib.AsyncExitStack() as stack:
            try:
                media = await stack.enter_async_context(
                    self._client.stream_recording(
                        self._recording,
                        chunk_size=self._chunk_size,
                        offset=byte_range.first if byte_range else 0,
                        end=byte_range.last if byte_range else None,
                        if_range=if_range,
                    )
                )
                self.status_code, headers = media_headers(
                    media, self._extra, asked=byte_range, if_range=if_range
                )
            except BirdRecordingsError as exc:
                await error_response(exc)(scope, receive, send)
                return
            # Not init_headers(): with an empty body it would add "content-length: 0"
            # when storage did not announce a size.
            self.raw_headers = [
                (key.lower().encode("latin-1"), value.encode("latin-1"))
                for key, value in headers.items()
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await _pump(media, receive, send)


async def _pump(media: MediaStream, receive: Receive, send: Send) -> None:
    """Send the body; stop (and let the caller close the stream) when the client leaves."""

    async def body() -> None:
        async for chunk in media:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sending = asyncio.ensure_future(body())
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait((sending, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        await asyncio.gather(sending, watching, return_exceptions=True)
    if sending.cancelled():
        logger.debug("recording %s: the HTTP client went away", media.recording_id)
        return
    error = sending.exception()
    if isinstance(error, OSError):  # ASGI 2.4: a send to a closed connection
        logger.debug("recording %s: the HTTP client went away", media.recording_id)
    elif error is not None:
        # Headers are out: the connection must be cut so the client sees a short body.
        logger.warning(
            "recording %s: the transfer failed after %d bytes: %s",
            media.recording_id,
            media.bytes_received,
            error,
        )
        raise error


def webhook_endpoint(
    receiver: WebhookReceiver, *, url: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that takes Bird's webhook deliveries for ``receiver``.

    Mount it with ``app.add_route("/bird/webhooks", webhook_endpoint(receiver),
    methods=["POST"])`` (or ``app.post(...)(...)`` in FastAPI). ``url`` is the
    public URL Bird calls, when a proxy in front changes what the app sees
    (the signature covers the URL); by default the request's own URL.
    See :class:`bird_recordings.webhooks.WebhookReceiver`.
    """

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        answer = await receiver.receive(
            headers=request.headers, url=url or str(request.url), body=body
        )
        return JSONResponse(answer.body, answer.status)

    return endpoint


def error_response(exc: BirdRecordingsError) -> JSONResponse:
    """The JSON answer ``{"code", "message"}`` for a library error.

    The statuses are the table of :class:`RecordingResponse`; the text carries
    no workspace id, URL or key.

    Install it for every route with :func:`exception_handler`.
    """
    answer = error_answer(exc)
    log_refusal(exc, answer)
    return JSONResponse(answer.body, answer.status, headers=answer.headers)


async def exception_handler(request: Request, exc: Exception) -> Response:
    """A Starlette/FastAPI exception handler for :class:`~bird_recordings.BirdRecordingsError`.

    ``app.add_exception_handler(br.BirdRecordingsError, exception_handler)``
    turns errors of metadata routes into the same answers as
    :class:`RecordingResponse` gives (``404`` unknown recording, ``503`` rate
    limited, ``502`` Bird failed…).
    """
    if not isinstance(exc, BirdRecordingsError):
        raise exc
    return error_response(exc)
