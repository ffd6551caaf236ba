"""Archive a call's recordings when Bird says the call completed (a webhook recipe).

Bird calls ``POST /bird/webhooks`` for every status change of a call (subscribe
to ``voice.inbound``/``voice.outbound`` with this URL and a signing key). When a
call is ``completed``, its recordings are listed, each is awaited until it is
``available`` (Bird may still be processing it; bounded back-off) and downloaded
into the archive folder. The webhook is answered at once; the archiving runs in
the background, and a re-delivered webhook is recognised by its request id.

Run it::

    pip install bird-recordings
    BIRD_SIGNING_KEY=... python webhook_archive.py   # http://127.0.0.1:8080/bird/webhooks

Behind a proxy, pass ``public_url`` (the URL Bird calls): the signature covers it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

import bird_recordings as br
from bird_recordings.aiohttp_server import webhook_handler
from bird_recordings.webhooks import WebhookReceiver

BIRD: web.AppKey[br.RecordingsClient] = web.AppKey("bird", br.RecordingsClient)
RECEIVER: web.AppKey[WebhookReceiver] = web.AppKey("receiver", WebhookReceiver)

logger = logging.getLogger("webhook_archive")

#: Waiting for a recording to become available: first pause, cap, and total budget.
FIRST_DELAY_S = 2.0
MAX_DELAY_S = 30.0
MAX_WAIT_S = 600.0


async def wait_until_available(
    client: br.RecordingsClient,
    channel_id: str,
    call_id: str,
    recording_id: str,
    *,
    clock: br.Clock,
    max_wait_s: float = MAX_WAIT_S,
) -> br.CallRecording | None:
    """Poll one recording of a call until it is ``available``: doubling pauses from
    :data:`FIRST_DELAY_S` up to :data:`MAX_DELAY_S`, at most ``max_wait_s`` in all.
    ``None`` if it ended without media (``failed``/``absent``) or the time ran out.
    """
    deadline = clock.monotonic() + max_wait_s
    delay = FIRST_DELAY_S
    while True:
        recording = await client.get_call_recording(channel_id, call_id, recording_id)
        if recording.status == br.RecordingStatus.AVAILABLE:
            return recording
        if recording.status in (br.RecordingStatus.FAILED, br.RecordingStatus.ABSENT):
            return None
        left = deadline - clock.monotonic()
        if left <= 0:
            return None
        await clock.sleep(min(delay, left))
        delay = min(delay * 2, MAX_DELAY_S)


async def archive_call(
    client: br.RecordingsClient,
    channel_id: str,
    call_id: str,
    folder: Path,
    *,
    clock: br.Clock | None = None,
    max_wait_s: float = MAX_WAIT_S,
) -> list[br.DownloadOutcome]:
    """Download every recording of a call into ``folder`` (which must exist).

    One outcome per recording: downloaded, skipped (the file is there from an
    earlier delivery) or failed (``error``); one failure never stops the others.
    """
    clock = clock or client.clock
    outcomes: list[br.DownloadOutcome] = []
    async for listed in client.list_call_recordings(channel_id, call_id):
        try:
            ready = await wait_until_available(
                client, channel_id, call_id, listed.id, clock=clock, max_wait_s=max_wait_s
            )
            if ready is None:
                raise br.RecordingNotAvailableError(listed.id, "not available in time")
            result = await client.download_recording(ready.id, folder)
        except br.DestinationExistsError:  # archived by an earlier delivery
            outcomes.append(br.DownloadOutcome(recording_id=listed.id, path=None, skipped=True))
        except br.BirdRecordingsError as exc:  # one recording's failure is its own
            logger.warning("call %s: recording %s not archived: %s", call_id, listed.id, exc)
            outcomes.append(br.DownloadOutcome(recording_id=listed.id, path=None, error=exc))
        else:
            outcomes.append(
                br.DownloadOutcome(
                    recording_id=listed.id,
                    path=result.path,
                    size_bytes=result.size_bytes,
                    result=result,
                )
            )
    return outcomes


def create_app(
    folder: Path,
    signing_key: str,
    *,
    public_url: str | None = None,
    clock: br.Clock | None = None,
    **client_options: Any,
) -> web.Application:
    """The webhook server; ``client_options`` go to :class:`~bird_recordings.RecordingsClient`."""
    folder.mkdir(parents=True, exist_ok=True)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with br.RecordingsClient(**client_options) as client:

            async def on_event(event: br.VoiceEvent) -> None:
                call = event.call
                if call.status != br.CallStatus.COMPLETED or call.channel_id is None:
                    return
                outcomes = await archive_call(client, call.channel_id, call.id, folder, clock=clock)
                logger.info("call %s: %d recordings handled", call.id, len(outcomes))

            # The receiver closes first: running archives finish before the client goes.
            async with WebhookReceiver(signing_key, on_event) as receiver:
                app[BIRD] = client
                app[RECEIVER] = receiver
                yield

    app = web.Application()
    app.cleanup_ctx.append(lifecycle)

    async def receive(request: web.Request) -> web.StreamResponse:
        # The receiver exists once the app has started (cleanup_ctx), hence the lookup.
        return await webhook_handler(request.app[RECEIVER], url=public_url)(request)

    app.router.add_post("/bird/webhooks", receive)
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(
        create_app(Path("archive"), os.environ["BIRD_SIGNING_KEY"]), host="127.0.0.1", port=8080
    )
