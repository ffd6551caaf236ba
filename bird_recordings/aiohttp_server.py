"""Serve recordings from an ``aiohttp.web`` application.

:func:`stream_recording_response` resolves the recording and opens the storage
stream *before* it sends any byte, so every failure that can be known up front
becomes a proper HTTP status with a JSON body; then it streams the bytes (with
``Range``, ``If-Range`` and ``HEAD``), resumes across storage cuts, and closes the
storage stream as soon as the HTTP client leaves.

:func:`webhook_handler` takes Bird's webhook deliveries.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Final

from aiohttp import web

from ._constants import LOGGER_NAME
from ._errors import BirdRecordingsError
from ._web import error_answer, log_refusal, media_headers, parse_range

if TYPE_CHECKING:
    from . import RecordingsClient
    from ._download import RecordingRef
    from .webhooks import WebhookReceiver

__all__ = ["error_middleware", "error_response", "stream_recording_response", "webhook_handler"]

logger: Final = logging.getLogger(LOGGER_NAME)

#: Set on a request once a media answer's headers are out: an error after that can no
#: longer become an HTTP answer (aiohttp cuts the connection instead).
_STARTED: Final = web.RequestKey("bird_recordings.started", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(exc: BirdRecordingsError) -> web.Response:
    """The JSON answer ``{"code", "message"}`` for a library error.

    The text carries no workspace id, URL or key (``404`` unknown recording,
    ``409`` no media yet, ``416`` range beyond the end, ``503`` rate limited,
    ``504`` timeout, ``502`` anything else).
    """
    answer = error_answer(exc)
    log_refusal(exc, answer)
    return web.json_response(answer.body, status=answer.status, headers=answer.headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn a library error from any handler into :func:`error_response`.

    Applies to :class:`~bird_recordings.BirdRecordingsError` while no response
    has started: ``web.Application(middlewares=[error_middleware])``.
    """
    try:
        return await handler(request)
    except BirdRecordingsError as exc:
        if request.get(_STARTED):
            raise
        return error_response(exc)


async def stream_recording_response(
    request: web.Request,
    client: RecordingsClient,
    recording: RecordingRef,
    *,
    chunk_size: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Answer ``request`` with a recording's media and return the finished response.

    Use it as the whole handler::

        async def audio(request: web.Request) -> web.StreamResponse:
            return await stream_recording_response(
                request, request.app[BIRD], request.match_info["recording_id"]
            )

    ``recording`` is a recording id or a :class:`~bird_recordings.Recording`.
    The request's ``Range`` (one range) and ``If-Range`` go to storage; the answer
    is ``200`` or ``206`` with ``Content-Range``, ``Content-Length``,
    ``Content-Type: audio/mpeg``, ``ETag`` and ``Accept-Ranges: bytes``; ``HEAD``
    gets the headers and no body. ``headers`` are added to a media answer.

    Before any byte is sent, errors become JSON ``{"code", "message"}`` answers
    without workspace id, URL or key: ``404`` unknown recording, ``409`` no media
    yet, ``416`` range beyond the end, ``503`` rate limited (``Retry-After``),
    ``504`` timeout, ``502`` anything else. A storage failure after the headers
    went out (retries spent) is raised, so aiohttp cuts the connection and the
    client sees a short body. The storage stream is closed when the client goes
    away (the next write fails).
    """
    byte_range = parse_range(request.headers.get("Range"))
    if_range = request.headers.get("If-Range") if byte_range else None
    async with contextlib.AsyncExitStack() as stack:
        try:
            media = await stack.enter_async_context(
                client.stream_recording(
                    recording,
                    chunk_size=chunk_size,
                    offset=byte_range.first if byte_range else 0,
                    end=byte_range.last if byte_range else None,
                    if_range=if_range,
                )
            )
            status, media_head = media_headers(media, headers, asked=byte_range, if_range=if_range)
        except BirdRecordingsError as exc:
            return error_response(exc)
        response = web.StreamResponse(status=status, headers=media_head)
        await response.prepare(request)
        request[_STARTED] = True
        if request.method == "HEAD":
            return response
        try:
            async for chunk in media:
                await response.write(chunk)
        except ConnectionError:
            # The HTTP client went away; leaving the block closes the storage stream.
            logger.debug("recording %s: the HTTP client went away", media.recording_id)
            return response
        except BirdRecordingsError as exc:
            logger.warning(
                "recording %s: the transfer failed after %d bytes: %s",
                media.recording_id,
                media.bytes_received,
                exc,
            )
            raise
        await response.write_eof()
        return response


def webhook_handler(
    receiver: WebhookReceiver, *, url: str | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler that takes Bird's webhook deliveries for ``receiver``.

    Add it with ``app.router.add_post("/bird/webhooks", webhook_handler(receiver))``.
    ``url`` is the public URL Bird calls, when a proxy in front changes what the
    app sees (the signature covers the URL); by default the request's own URL.
    See :class:`bird_recordings.webhooks.WebhookReceiver`.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = await receiver.receive(
            headers=request.headers, url=url or str(request.url), body=body
        )
        return web.json_response(answer.body, status=answer.status)

    return handler
