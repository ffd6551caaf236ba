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
``/recordings/{id}/audio`` (the mp3 with ``Range`` and ``HEAD``) and
``/recordings/{id}/audio-url`` (a 307 to the presigned URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

import bird_recordings as br
from bird_recordings.aiohttp_server import error_middleware, stream_recording_response

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
BIRD: web.AppKey[br.RecordingsClient] = web.AppKey("bird", br.RecordingsClient)


async def get_recording(request: web.Request) -> web.StreamResponse:
    """``GET /recordings/{id}``: metadata, without the presigned URL (a credential)."""
    recording = await request.app[BIRD].get_recording(request.match_info["recording_id"])
    return web.json_response(br.to_dict(recording, exclude=("url", "room_info_url")))


async def get_audio(request: web.Request) -> web.StreamResponse:
    """``GET|HEAD /recordings/{id}/audio``: the mp3, with Range, resumed across cuts."""
    return await stream_recording_response(
        request, request.app[BIRD], request.match_info["recording_id"]
    )


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

    app = web.Application(middlewares=[error_middleware])
    app.cleanup_ctx.append(http_clients)
    app.router.add_get("/recordings/{recording_id}", get_recording)
    app.router.add_get("/recordings/{recording_id}/audio", get_audio)  # HEAD too
    app.router.add_get("/recordings/{recording_id}/audio-url", redirect_to_audio)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=8080)
