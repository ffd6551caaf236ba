"""Serve Bird recordings from FastAPI: metadata, an mp3 proxy, and a redirect.

Run it (the client reads BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID and, optionally,
BIRD_API_URL)::

    pip install bird-recordings fastapi uvicorn
    uvicorn fastapi_app:app

Endpoints:

- ``GET /recordings/{id}``: the recording's metadata as JSON (without its
  presigned URL, which is a credential).
- ``GET /recordings/{id}/audio``: the mp3, streamed through this server with
  ``Content-Type: audio/mpeg`` and ``Content-Length`` when the storage announced
  the size. A browser that goes away stops the upstream transfer and releases
  its connection.
- ``GET /recordings/{id}/audio-url``: a ``307`` redirect to the short-lived
  presigned storage URL, so the browser fetches the bytes itself.

One ``RecordingsClient`` is created in the lifespan and shared by every request:
it holds the connection pool, the rate limiter and the concurrency cap.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

import bird_recordings as br

#: ``Retry-After`` sent with a 503 when Bird rate-limited us without saying for how long.
DEFAULT_RETRY_AFTER_S = 5


class RecordingAudioResponse(StreamingResponse):
    """Streams an open :class:`~bird_recordings.MediaStream`, and closes it however
    the response ends: completed, failed, or cut short by a client that went away.
    """

    def __init__(self, media: br.MediaStream, close: Callable[[], Awaitable[object]]) -> None:
        headers = {"Content-Disposition": f'inline; filename="{media.recording_id}.mp3"'}
        if media.size_bytes is not None:
            headers["Content-Length"] = str(media.size_bytes)
        super().__init__(media, media_type="audio/mpeg", headers=headers)
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Releases the storage connection at once (a disconnect included).
            await self._close()


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map Bird errors to HTTP answers for this server's own clients."""

    async def not_found(request: Request, exc: Exception) -> Response:
        # No such recording, or no media yet (still ongoing, failed…).
        return _error(404, str(exc))

    async def rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, br.RateLimitError)
        wait = DEFAULT_RETRY_AFTER_S if exc.retry_after is None else math.ceil(exc.retry_after)
        return _error(503, "rate limited by Bird; try again later", {"Retry-After": str(wait)})

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(400, str(exc))

    async def timeout(request: Request, exc: Exception) -> Response:
        return _error(504, "Bird did not answer in time")

    async def upstream(request: Request, exc: Exception) -> Response:
        # Anything else (Bird 5xx after retries, storage errors): a bad gateway.
        # The message is safe to show: it never contains a key or a signed URL.
        return _error(502, str(exc))

    app.add_exception_handler(br.NotFoundError, not_found)
    app.add_exception_handler(br.RecordingNotAvailableError, not_found)
    app.add_exception_handler(br.RateLimitError, rate_limited)
    app.add_exception_handler(br.UnprocessableEntityError, bad_request)
    app.add_exception_handler(br.InvalidArgumentError, bad_request)
    app.add_exception_handler(br.APITimeoutError, timeout)
    app.add_exception_handler(br.BirdRecordingsError, upstream)


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


def create_app(**client_options: Any) -> FastAPI:
    """The application. ``client_options`` go to :class:`~bird_recordings.RecordingsClient`
    (by default everything comes from the environment).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with br.RecordingsClient(**client_options) as client:
            app.state.bird = client
            yield

    app = FastAPI(title="Recordings", lifespan=lifespan)
    install_error_handlers(app)

    def bird(request: Request) -> br.RecordingsClient:
        client: br.RecordingsClient = request.app.state.bird
        return client

    @app.get("/recordings/{recording_id}")
    async def get_recording(recording_id: str, request: Request) -> dict[str, Any]:
        return recording_json(await bird(request).get_recording(recording_id))

    @app.get("/recordings/{recording_id}/audio", response_class=StreamingResponse)
    async def get_audio(recording_id: str, request: Request) -> Response:
        stack = contextlib.AsyncExitStack()
        # Entering the stream resolves the URL and starts the transfer, so "not
        # found" or "not available" is raised here and still becomes a 404.
        media = await stack.enter_async_context(bird(request).stream_recording(recording_id))
        return RecordingAudioResponse(media, stack.aclose)

    @app.get("/recordings/{recording_id}/audio-url")
    async def redirect_to_audio(recording_id: str, request: Request) -> Response:
        media_url = await bird(request).get_media_url(recording_id)
        # The URL is presigned and expires within minutes: never cache the redirect.
        return RedirectResponse(
            media_url.url, status_code=307, headers={"Cache-Control": "no-store"}
        )

    return app


app = create_app()
