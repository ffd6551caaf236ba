"""Bird's voice webhooks end to end: the emulator completes a call and delivers a signed
webhook; docs/examples/webhook_archive.py (aiohttp under AppRunner) verifies it, answers,
waits for the recordings to be processed and archives them. Also the Starlette endpoint
under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from fastapi import FastAPI

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from bird_recordings.starlette import webhook_endpoint
from bird_recordings.webhooks import WebhookReceiver
from tests.conftest import FakeClock

from .conftest import WAIT_S, load_example, uvicorn_server

webhook_archive = load_example("webhook_archive")

KEY = "emulator-signing-key"


@contextlib.asynccontextmanager
async def serve(app: web.Application, sock: socket.socket) -> AsyncIterator[None]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield
    finally:
        await runner.cleanup()


def bound_socket() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/bird/webhooks"


class ProcessingClock(FakeClock):
    """Bird finishes processing the call's recordings while the recipe waits."""

    def __init__(self) -> None:
        super().__init__()
        self.on_sleep: list[Any] = []

    async def sleep(self, seconds: float) -> None:
        for action in self.on_sleep:
            action()
        self.on_sleep.clear()
        await super().sleep(seconds)


def options(emu: BirdEmulator) -> dict[str, Any]:
    return {
        "access_key": emu.access_key,
        "workspace_id": emu.workspace_id,
        "base_url": emu.base_url,
        "rate_limit": None,
    }


async def test_a_completed_call_is_archived(tmp_path: Path) -> None:
    sock, url = bound_socket()
    clock = ProcessingClock()
    async with BirdEmulator(recordings=0, seed=9, webhook_url=url, signing_key=KEY) as emu:
        app = webhook_archive.create_app(tmp_path, KEY, clock=clock, **options(emu))
        async with serve(app, sock):
            call = emu.complete_call(recordings=2, recording_status="completed")

            def processed() -> None:
                for rid in call.recording_ids:
                    emu.update_recording(rid, status="available")

            clock.on_sleep.append(processed)
            async with asyncio.timeout(WAIT_S):
                await emu.wait_webhooks()
                await app[webhook_archive.RECEIVER].join()
    assert [(d.attempt, d.status) for d in emu.webhook_deliveries] == [(1, 200)]
    assert emu.webhook_deliveries[0].event == "voice.outbound"
    assert emu.webhook_deliveries[0].call_id == call.id
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{rid}.mp3" for rid in call.recording_ids
    )
    for rid in call.recording_ids:
        assert (tmp_path / f"{rid}.mp3").read_bytes() == emu.media_bytes(rid)
    assert clock.sleeps == [webhook_archive.FIRST_DELAY_S]  # waited once, with back-off


async def test_other_statuses_archive_nothing(tmp_path: Path) -> None:
    sock, url = bound_socket()
    async with BirdEmulator(recordings=0, seed=9, webhook_url=url, signing_key=KEY) as emu:
        app = webhook_archive.create_app(tmp_path, KEY, **options(emu))
        async with serve(app, sock):
            emu.complete_call(status="no-answer", direction="inbound")
            async with asyncio.timeout(WAIT_S):
                await emu.wait_webhooks()
                await app[webhook_archive.RECEIVER].join()
        assert app[webhook_archive.RECEIVER].accepted == 1
    assert emu.webhook_deliveries[0].event == "voice.inbound"
    assert list(tmp_path.iterdir()) == []


async def test_a_wrong_signing_key_is_refused_and_bird_retries(tmp_path: Path) -> None:
    sock, url = bound_socket()
    async with BirdEmulator(
        recordings=0,
        seed=9,
        webhook_url=url,
        signing_key="not-the-key",
        webhook_retry_delays_s=(0.01, 0.02),
    ) as emu:
        app = webhook_archive.create_app(tmp_path, KEY, **options(emu))
        async with serve(app, sock):
            emu.complete_call()
            async with asyncio.timeout(WAIT_S):
                await emu.wait_webhooks()
        assert app[webhook_archive.RECEIVER].rejected == 3
    deliveries = emu.webhook_deliveries
    assert [(d.attempt, d.status) for d in deliveries] == [(1, 401), (2, 401), (3, 401)]
    assert len({d.request_id for d in deliveries}) == 1  # one event, retried
    assert list(tmp_path.iterdir()) == []


async def test_the_emulator_retries_until_a_2xx(tmp_path: Path) -> None:
    sock, url = bound_socket()
    answers = [503, 500, 204]
    received: list[dict[str, str]] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        received.append(dict(request.headers))
        await request.read()
        return web.Response(status=answers.pop(0))

    app = web.Application()
    app.router.add_post("/bird/webhooks", flaky)
    async with (
        BirdEmulator(
            recordings=0,
            seed=9,
            webhook_url=url,
            signing_key=KEY,
            webhook_retry_delays_s=(0.01, 0.01, 0.01),
        ) as emu,
        serve(app, sock),
    ):
        emu.complete_call()
        async with asyncio.timeout(WAIT_S):
            await emu.wait_webhooks()
    assert [(d.attempt, d.status, d.ok) for d in emu.webhook_deliveries] == [
        (1, 503, False),
        (2, 500, False),
        (3, 204, True),
    ]
    assert len({h["messagebird-request-id"] for h in received}) == 1
    assert all(h["messagebird-signature"] for h in received)


async def test_the_starlette_endpoint_under_uvicorn() -> None:
    seen: list[br.VoiceEvent] = []

    async def on_event(event: br.VoiceEvent) -> None:
        seen.append(event)

    async with WebhookReceiver(KEY, on_event) as receiver:
        app = FastAPI()
        app.add_route("/bird/webhooks", webhook_endpoint(receiver), methods=["POST"])
        async with uvicorn_server(app) as base:
            hook = f"{base}/bird/webhooks"
            async with (
                BirdEmulator(recordings=0, seed=9, webhook_url=hook, signing_key=KEY) as emu,
                BirdEmulator(
                    recordings=0,
                    seed=10,
                    webhook_url=hook,
                    signing_key="wrong",
                    webhook_retry_delays_s=(),
                ) as impostor,
            ):
                call = emu.complete_call(direction="inbound")
                impostor.complete_call()
                async with asyncio.timeout(WAIT_S):
                    await emu.wait_webhooks()
                    await impostor.wait_webhooks()
                    await receiver.join()
    assert [(d.attempt, d.status) for d in emu.webhook_deliveries] == [(1, 200)]
    assert [(d.attempt, d.status) for d in impostor.webhook_deliveries] == [(1, 401)]
    assert [(e.event, e.call.id, e.call.status) for e in seen] == [
        ("voice.inbound", call.id, "completed")
    ]
    assert seen[0].request_id == call.webhook_request_id
