r"""Bird's voice webhooks: verify a delivery, parse it, and hand it to your code.

Bird's Notifications API calls your URL when a call changes status
(``voice.inbound``/``voice.outbound`` events). Each delivery is signed:

- ``messagebird-signature``: base64 of HMAC-SHA256, keyed with the subscription's
  signing key, over ``timestamp + "\n" + url + "\n" + SHA256(body)`` (the raw
  32-byte digest of the body);
- ``messagebird-request-timestamp``: the timestamp in that message (Unix seconds);
- ``messagebird-request-id``: the delivery's id. Bird retries a delivery that did
  not get a 2xx for 8 hours, so the same id can arrive more than once.

:func:`verify` checks a delivery; :func:`parse_event` turns its body into a
:class:`VoiceEvent`; :class:`WebhookReceiver` does both, de-duplicates, answers
fast and runs your callback in the background. Mount it with
:func:`bird_recordings.aiohttp_server.webhook_handler` or
:func:`bird_recordings.starlette.webhook_endpoint`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
import typing
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

import cattrs
from attrs import frozen

from ._constants import LOGGER_NAME
from ._converter import converter
from ._errors import InvalidArgumentError, ResponseValidationError, WebhookSignatureError
from ._models import Call, CallStatus, VoiceEvent, VoiceEventType

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "Call",
    "CallStatus",
    "VoiceEvent",
    "VoiceEventType",
    "WebhookAnswer",
    "WebhookReceiver",
    "WebhookSignatureError",
    "parse_event",
    "signature_for",
    "verify",
]

logger: Final = logging.getLogger(LOGGER_NAME)

SIGNATURE_HEADER: Final = "messagebird-signature"
TIMESTAMP_HEADER: Final = "messagebird-request-timestamp"
REQUEST_ID_HEADER: Final = "messagebird-request-id"
#: Deliveries older or newer than this (seconds) are refused: a replay window.
DEFAULT_TOLERANCE_S: Final = 300.0
#: Bird retries for 8 hours; remembering ids a little longer catches every retry.
DEFAULT_DEDUP_TTL_S: Final = 9 * 3600.0
DEFAULT_DEDUP_MAX: Final = 100_000
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
_TIMESTAMP: Final = re.compile(r"^\d{1,12}$")
_MAX_REQUEST_ID: Final = 200


def verify(
    signing_key: str | bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    url: str,
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | datetime | None = None,
) -> None:
    """Check that a delivery was signed by Bird with ``signing_key``, recently.

    ``signature`` and ``timestamp`` are the ``messagebird-signature`` and
    ``messagebird-request-timestamp`` headers, ``url`` the full URL Bird called
    (scheme, host, path and query, as configured in the subscription), ``body``
    the raw request body. ``now`` is the current time (POSIX seconds or an aware
    datetime; default the system clock). The signatures are compared in
    constant time.

    Raises:
        WebhookSignatureError: a header is missing or malformed, the timestamp is
            more than ``tolerance_s`` away from ``now``, or the signature does not
            match. Its ``reason`` names the check; nothing secret is in it.

    Example::

        webhooks.verify(
            key,
            signature=request.headers["messagebird-signature"],
            timestamp=request.headers["messagebird-request-timestamp"],
            url="https://example.com/bird/webhooks",
            body=await request.read(),
        )
    """
    if not signature:
        raise WebhookSignatureError("missing-signature", f"no {SIGNATURE_HEADER} header")
    if not timestamp:
        raise WebhookSignatureError("missing-timestamp", f"no {TIMESTAMP_HEADER} header")
    if not _TIMESTAMP.match(timestamp.strip()):
        raise WebhookSignatureError(
            "bad-timestamp", f"{TIMESTAMP_HEADER} is not a Unix time in seconds"
        )
    if isinstance(now, datetime):
        now_s = now.timestamp()
    else:
        now_s = time.time() if now is None else float(now)
    if abs(now_s - int(timestamp)) > tolerance_s:
        raise WebhookSignatureError(
            "stale-timestamp",
            f"{TIMESTAMP_HEADER} is more than {tolerance_s:g} s away from now",
        )
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSignatureError(
            "bad-base64", f"{SIGNATURE_HEADER} is not valid base64"
        ) from None
    if len(given) != hashlib.sha256().digest_size:
        raise WebhookSignatureError(
            "bad-length", f"{SIGNATURE_HEADER} is not an HMAC-SHA256 signature"
        )
    expected = signature_for(signing_key, timestamp=timestamp.strip(), url=url, body=body)
    if not hmac.compare_digest(given, expected):
        raise WebhookSignatureError(
            "mismatch", "the signature does not match the body, URL and timestamp"
        )


def signature_for(signing_key: str | bytes, *, timestamp: str, url: str, body: bytes) -> bytes:
    """The raw HMAC-SHA256 Bird sends (base64-encoded) in ``messagebird-signature``.

    For your own tests: ``base64.b64encode(signature_for(key, timestamp=ts, url=url,
    body=body))`` is the header Bird would send.
    """
    key = signing_key.encode() if isinstance(signing_key, str) else signing_key
    message = timestamp.encode() + b"\n" + url.encode() + b"\n" + hashlib.sha256(body).digest()
    return hmac.new(key, message, hashlib.sha256).digest()


def parse_event(
    body: bytes | str | Mapping[str, Any], *, request_id: str | None = None
) -> VoiceEvent:
    """Parse a delivery's body (Bird's envelope ``{"service", "event", "payload"}``).

    Only ``event``, ``payload.id`` and ``payload.status`` are required; unknown
    keys and unknown events or statuses are kept. Optional call fields of an
    unexpected type are left ``None`` (the raw ``payload`` has them).

    Raises:
        ResponseValidationError: not JSON, or a required field is missing.
    """
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ResponseValidationError(
                "webhook body is not JSON", errors=(f"not JSON: {exc}",)
            ) from None
    else:
        data = dict(body)
    if not isinstance(data, dict):
        raise ResponseValidationError("webhook body is not a JSON object")
    payload = data.get("payload")
    event = data.get("event")
    if not isinstance(event, str) or not isinstance(payload, dict):
        raise ResponseValidationError(
            "webhook body lacks 'event' or 'payload'", errors=("required: event, payload",)
        )
    call_id, status = payload.get("id"), payload.get("status")
    if not isinstance(call_id, str) or not isinstance(status, str):
        raise ResponseValidationError(
            "webhook payload lacks 'id' or 'status'",
            errors=("required: payload.id, payload.status",),
        )
    fields: dict[str, Any] = {"id": call_id, "status": CallStatus(status)}
    for name, kind in _CALL_FIELDS.items():
        if name in fields:
            continue
        key = _camel(name)
        value = payload.get(key)
        if value is None:
            continue
        try:
            fields[name] = converter.structure(value, kind)
        except (cattrs.BaseValidationError, TypeError, ValueError):
            logger.debug("webhook payload: ignoring %s of unexpected type", key)
    service = data.get("service")
    return VoiceEvent(
        event=VoiceEventType(event),
        call=Call(**fields),
        service=service if isinstance(service, str) else None,
        request_id=request_id,
        payload=payload,
    )


_CALL_FIELDS: Final[dict[str, Any]] = typing.get_type_hints(Call)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@frozen(kw_only=True)
class WebhookAnswer:
    """What to answer Bird: ``status`` and a JSON body ``{"code", "message"}``."""

    status: int
    code: str
    message: str

    @property
    def body(self) -> dict[str, str]:
        """The JSON body."""
        return {"code": self.code, "message": self.message}


EventCallback = Callable[[VoiceEvent], Awaitable[object]]


class WebhookReceiver:
    """Verify, parse, de-duplicate and dispatch Bird's voice webhook deliveries.

    ``callback`` is your ``async def on_event(event: VoiceEvent)``. It runs in
    the background, after the delivery was answered (Bird wants a fast 2xx): its
    tasks are kept referenced, its exceptions logged, and :meth:`aclose` (or
    leaving ``async with``) waits for the running ones. A failing callback is not
    retried: Bird already got its 2xx.

    De-duplication: a delivery whose ``messagebird-request-id`` was accepted in
    the last ``dedup_ttl_s`` seconds (default 9 h: Bird retries for 8) is answered
    200 ``duplicate`` without calling back. The memory is **per process** and
    holds at most ``dedup_max`` ids (oldest forgotten first): with several
    processes or restarts, make the callback idempotent too.

    Answers (see :class:`WebhookAnswer`): ``200 accepted``, ``200 duplicate``,
    ``401 invalid_signature``, ``400 invalid_event``, ``413 too_large``.
    ``clock`` returns POSIX seconds (tests inject one).
    """

    def __init__(
        self,
        signing_key: str | bytes,
        callback: EventCallback,
        *,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        dedup_ttl_s: float = DEFAULT_DEDUP_TTL_S,
        dedup_max: int = DEFAULT_DEDUP_MAX,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_key:
            raise InvalidArgumentError("signing_key must not be empty")
        if dedup_max < 1 or dedup_ttl_s <= 0 or tolerance_s <= 0 or max_body_bytes < 1:
            raise InvalidArgumentError(
                "tolerance_s, dedup_ttl_s, dedup_max and max_body_bytes must be positive"
            )
        self._key = signing_key
        self._callback = callback
        self.tolerance_s = tolerance_s
        self.dedup_ttl_s = dedup_ttl_s
        self.dedup_max = dedup_max
        self.max_body_bytes = max_body_bytes
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.accepted = 0
        """Deliveries accepted (callback scheduled)."""
        self.duplicates = 0
        """Deliveries answered as duplicates."""
        self.rejected = 0
        """Deliveries refused (signature, body)."""
        self.failed = 0
        """Callbacks that raised."""

    def __repr__(self) -> str:
        return f"<WebhookReceiver pending={len(self._tasks)} accepted={self.accepted}>"

    @property
    def pending(self) -> int:
        """Callbacks still running."""
        return len(self._tasks)

    async def receive(self, *, headers: Mapping[str, str], url: str, body: bytes) -> WebhookAnswer:
        """Handle one delivery; return what to answer. Never raises for a bad delivery."""
        lowered = {key.lower(): value for key, value in headers.items()}
        if len(body) > self.max_body_bytes:
            self.rejected += 1
            return WebhookAnswer(status=413, code="too_large", message="body too large")
        try:
            verify(
                self._key,
                signature=lowered.get(SIGNATURE_HEADER),
                timestamp=lowered.get(TIMESTAMP_HEADER),
                url=url,
                body=body,
                tolerance_s=self.tolerance_s,
                now=self._clock(),
            )
        except WebhookSignatureError as exc:
            self.rejected += 1
            logger.warning("webhook refused: %s (%s)", exc, exc.reason)
            return WebhookAnswer(
                status=401, code="invalid_signature", message="signature verification failed"
            )
        request_id = lowered.get(REQUEST_ID_HEADER)
        if request_id is not None:
            request_id = request_id.strip()[:_MAX_REQUEST_ID] or None
        try:
            event = parse_event(body, request_id=request_id)
        except ResponseValidationError as exc:
            self.rejected += 1
            logger.warning("webhook refused: %s", exc)
            return WebhookAnswer(
                status=400, code="invalid_event", message="not a voice event Bird sends"
            )
        if request_id is not None and self._is_duplicate(request_id):
            self.duplicates += 1
            logger.info("webhook %s: duplicate delivery ignored", request_id)
            return WebhookAnswer(status=200, code="duplicate", message="already received")
        self.accepted += 1
        task = asyncio.create_task(self._run(event))
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)
        return WebhookAnswer(status=200, code="accepted", message="accepted")

    def _is_duplicate(self, request_id: str) -> bool:
        now = self._clock()
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.dedup_ttl_s and len(self._seen) < self.dedup_max:
                break
            del self._seen[oldest]
        if request_id in self._seen:
            return True
        self._seen[request_id] = now
        return False

    async def _run(self, event: VoiceEvent) -> None:
        try:
            await self._callback(event)
        except Exception:
            self.failed += 1
            logger.exception(
                "webhook callback failed for call %s (%s %s)",
                event.call.id,
                event.event,
                event.call.status,
            )

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def join(self) -> None:
        """Wait until every callback scheduled so far has finished."""
        await self._idle.wait()

    async def aclose(self, *, timeout_s: float | None = 30.0) -> None:
        """Wait for running callbacks (at most ``timeout_s``), then cancel what is left."""
        if not self._tasks:
            return
        _, still = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in still:
            task.cancel()
        if still:
            logger.warning("webhook receiver closed: %d callbacks cancelled", len(still))
            await asyncio.wait(still)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
