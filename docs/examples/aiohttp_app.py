"""Serve Bird recordings from an aiohttp server that shares its ClientSession.

Run it (the client reads BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID and, optionally,
BIRD_API_URL)::

    pip install bird-recordings
    python aiohttp_app.py            # http://127.0.0.1:8080

The server owns one ``aiohttp.ClientSession`` for all its outgoing HTTP (other
APIs, webhooks…) and lends it to the ``RecordingsClient``: one connection pool
for the whole process. The client *borrows* the session: it never closes it and
never puts Bird's key on it (the key goes on each Bird request only). Both are
set up and torn down in ``cleanup_ctx``, the client first out.

Endpoints are those of ``fastapi_app.py``: ``/recordings/{id}`` (metadata),
``/recordings/{id}/audio`` (the mp3, streamed with ``web.StreamResponse``) and
``/recordings/{id}/audio-url`` (a 307 to the presigned URL).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
from aiohttp import web

import bird_recordings as br

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
BIRD: web.AppKey[br.RecordingsClient] = web.AppKey("bird", br.RecordingsClient)

#: ``Retry-After`` sent with a 503 when Bird rate-limited us without saying for how long.
DEFAULT_RETRY_AFTER_S = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: Set on a request once its response headers are out: an error after that can
#: no longer become an HTTP error answer, and aiohttp drops the connection instead.
STREAMING: web.RequestKey[bool] = web.RequestKey("streaming", bool)


def error_response(exc: br.BirdRecordingsError) -> web.Response:
    """The HTTP answer for a Bird error."""
    if isinstance(exc, br.NotFoundError | br.RecordingNotAvailableError):
        # No such recording, or no media yet (still ongoing, failed…).
        return web.json_response({"detail": str(exc)}, status=404)
    if isinstance(exc, br.RateLimitError):
        wait = DEFAULT_RETRY_AFTER_S if exc.retry_after is None else math.ceil(exc.retry_after)
        return web.json_response(
            {"detail": "rate limited by Bird; try again later"},
            status=503,
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, br.UnprocessableEntityError | br.InvalidArgumentError):
        return web.json_response({"detail": str(exc)}, status=400)
    if isinstance(exc, br.APITimeoutError):
        return web.json_response({"detail": "Bird did not answer in time"}, status=504)
    # Anything else (Bird 5xx after retries, storage errors): a bad gateway. The
    # message is safe to show: it never contains a key or a signed URL.
    return web.json_response({"detail": str(exc)}, status=502)


@web.middleware
async def bird_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map Bird errors to HTTP answers, while that is still possible."""
    try:
        return await handler(request)
    except br.BirdRecordingsError as exc:
        if request.get(STREAMING):
            raise
        return error_response(exc)


def recording_json(recording: br.Recording) -> dict[str, Any]:
    """The recording as JSON-ready data, without its presigned URLs."""
    data = attrs.asdict(
        recording,
        filter=lambda attribute, _: attribute.name not in ("url", "room_info_url"),
    )
    for key, value in data.items():
        if hasattr(value, "isoformat"):
            data[key] = value.isoformat()
    return data


async def get_recording(request: web.Request) -> web.StreamResponse:
    """``GET /recordings/{id}``: metadata."""
    recording = await request.app[BIRD].get_recording(request.match_info["recording_id"])
    return web.json_response(recording_json(recording))


async def get_audio(request: web.Request) -> web.StreamResponse:
    """``GET /recordings/{id}/audio``: the mp3, proxied chunk by chunk."""
    recording_id = request.match_info["recording_id"]
    # Errors before the first byte (not found, not available) reach the middleware.
    async with request.app[BIRD].stream_recording(recording_id) as media:
        response = web.StreamResponse(
            headers={
                "Content-Type": "audio/mpeg",
                "Content-Disposition": f'inline; filename="{recording_id}.mp3"',
            }
        )
        if media.size_bytes is not None:
            response.content_length = media.size_bytes
        await response.prepare(request)
        request[STREAMING] = True
        # A client that goes away makes write() raise (or cancels this handler);
        # either way the ``async with`` exits and the storage connection is released.
        async for chunk in media:
            await response.write(chunk)
        await response.write_eof()
        return response


async def redirect_to_audio(request: web.Request) -> web.StreamResponse:
    """``GET /recordings/{id}/audio-url``: a 307 to the presigned storage URL."""
    media_url = await request.app[BIRD].get_media_url(request.match_info["recording_id"])
    raise web.HTTPTemporaryRedirect(media_url.url, headers={"Cache-Control": "no-store"})


def create_app(**client_options: Any) -> web.Application:
    """The application. ``client_options`` go to :class:`~bird_recordings.RecordingsClient`
    (by default everything comes from the environment).
    """

    async def http_clients(app: web.Application) -> AsyncIterator[None]:
        # The server's own session, for everything it calls; lent to the Bird client.
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            async with br.RecordingsClient(session=session, **client_options) as client:
                app[BIRD] = client
                yield
            # Here the Bird client is closed and the session is still open:
            # it was borrowed. ``async with ClientSession`` closes it next.

    app = web.Application(middlewares=[bird_errors])
    app.cleanup_ctx.append(http_clients)
    app.router.add_get("/recordings/{recording_id}", get_recording)
    app.router.add_get("/recordings/{recording_id}/audio", get_audio)
    app.router.add_get("/recordings/{recording_id}/audio-url", redirect_to_audio)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=8080)
