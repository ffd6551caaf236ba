"""Signed voice webhooks, delivered as Bird's Notifications API does.

That is: a JSON envelope, ``messagebird-*`` headers, and retries while the
receiver does not answer 2xx.

Independent of the library's :mod:`bird_recordings.webhooks` on purpose: the
emulator signs by Bird's documented recipe, the library verifies by it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
import attrs

__all__ = ["DEFAULT_WEBHOOK_RETRY_DELAYS_S", "WebhookDelivery", "WebhookSender"]

logger: Final = logging.getLogger("bird_recordings.emulator")

#: Bird retries for 8 hours at growing intervals; the emulator's defaults are short
#: and bounded so tests and demos see the retries at once.
DEFAULT_WEBHOOK_RETRY_DELAYS_S: Final = (0.05, 0.1, 0.2, 0.4, 0.8)
_TIMEOUT_S: Final = 10.0


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One attempt to deliver a webhook, as :attr:`BirdEmulator.webhook_deliveries` logs it.

    ``status`` is the receiver's HTTP status (``None`` when the connection failed,
    then ``error`` says why); ``attempt`` counts from 1; ``request_id`` is the same
    for every attempt of one event (``messagebird-request-id``).
    """

    request_id: str
    event: str
    call_id: str
    call_status: str
    attempt: int
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


def sign(signing_key: str, timestamp: str, url: str, body: bytes) -> str:
    r"""``messagebird-signature``: base64(HMAC-SHA256(key, ts \n url \n SHA256(body)))."""
    message = b"\n".join((timestamp.encode(), url.encode(), hashlib.sha256(body).digest()))
    digest = hmac.new(signing_key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WebhookSender:
    """Delivers events to one URL in background tasks; logs every attempt."""

    def __init__(
        self,
        *,
        url: str,
        signing_key: str,
        retry_delays_s: tuple[float, ...],
        now_s: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.signing_key = signing_key
        self.retry_delays_s = retry_delays_s
        self._now_s = now_s
        self._sleep = sleep
        self.deliveries: list[WebhookDelivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()

    def send(self, event: str, payload: dict[str, Any]) -> str:
        """Schedule the delivery of one event; return its request id."""
        request_id = str(uuid.uuid4())
        body = json.dumps(
            {"service": "channels", "event": event, "payload": payload}, separators=(",", ":")
        ).encode()
        task = asyncio.get_running_loop().create_task(
            self._deliver(request_id, event, payload, body)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return request_id

    async def _deliver(
        self, request_id: str, event: str, payload: dict[str, Any], body: bytes
    ) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S))
        for attempt in range(1, len(self.retry_delays_s) + 2):
            timestamp = str(int(self._now_s()))
            headers = {
                "Content-Type": "application/json",
                "messagebird-signature": sign(self.signing_key, timestamp, self.url, body),
                "messagebird-request-timestamp": timestamp,
                "messagebird-request-id": request_id,
            }
            status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(self.url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            delivery = WebhookDelivery(
                request_id=request_id,
                event=event,
                call_id=str(payload["id"]),
                call_status=str(payload["status"]),
                attempt=attempt,
                status=status,
                error=error,
            )
            self.deliveries.append(delivery)
            self._changed.set()
            if delivery.ok or attempt > len(self.retry_delays_s):
                return
            await self._sleep(self.retry_delays_s[attempt - 1])

    async def join(self) -> None:
        """Wait until every scheduled delivery succeeded or ran out of retries."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Cancel deliveries still retrying and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._session is not None:
            await self._session.close()
            self._session = None
