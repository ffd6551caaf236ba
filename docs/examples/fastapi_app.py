"""Serve Bird recordings from FastAPI: metadata, an mp3 proxy with seeking, a redirect.

Run it (the client reads BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID and, optionally,
BIRD_API_URL)::

    pip install "bird-recordings[starlette]" fastapi uvicorn
    uvicorn fastapi_app:app

- ``GET /recordings/{id}``: the metadata as JSON, typed by a ``TypedDict``
  (without the presigned URL, which is a credential).
- ``GET|HEAD /recordings/{id}/audio``: the mp3 through this server, with
  ``Range`` (an audio player can seek), resumed across storage cuts, released
  when the browser leaves; errors are JSON answers (404, 409, 416, 502…).
- ``GET /recordings/{id}/audio-url``: a ``307`` to the presigned storage URL.

One ``RecordingsClient`` is created in the lifespan and shared by every request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, NotRequired, cast

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

import bird_recordings as br
from bird_recordings.starlette import RecordingResponse, exception_handler


class RecordingOut(TypedDict):
    """What this API answers for a recording (the snake_case names of ``br.to_dict``)."""

    id: str
    status: str
    source: str
    source_id: str
    format: str
    stereo: bool
    created_at: str
    updated_at: str
    duration: NotRequired[int]
    direction: NotRequired[str]
    channel_id: NotRequired[str]
    started_at: NotRequired[str]
    ended_at: NotRequired[str]


def create_app(**client_options: Any) -> FastAPI:
    """The application; ``client_options`` go to :class:`~bird_recordings.RecordingsClient`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with br.RecordingsClient(**client_options) as client:
            app.state.bird = client
            yield

    app = FastAPI(title="Recordings", lifespan=lifespan)
    app.add_exception_handler(br.BirdRecordingsError, exception_handler)

    def bird(request: Request) -> br.RecordingsClient:
        client: br.RecordingsClient = request.app.state.bird
        return client

    @app.get("/recordings/{recording_id}", response_model=RecordingOut)
    async def get_recording(recording_id: str, request: Request) -> RecordingOut:
        recording = await bird(request).get_recording(recording_id)
        return cast(RecordingOut, br.to_dict(recording, exclude=("url", "room_info_url")))

    @app.api_route("/recordings/{recording_id}/audio", methods=["GET", "HEAD"])
    async def get_audio(recording_id: str, request: Request) -> RecordingResponse:
        return RecordingResponse(bird(request), recording_id, request=request)

    @app.get("/recordings/{recording_id}/audio-url")
    async def redirect_to_audio(recording_id: str, request: Request) -> Response:
        media_url = await bird(request).get_media_url(recording_id)
        # Presigned and short-lived: never cache the redirect.
        return RedirectResponse(media_url.url, 307, headers={"Cache-Control": "no-store"})

    return app


app = create_app()
