"""Sending API requests: rate limit, concurrency cap, retry loop, decode.

One :class:`APIRequester` per client; every call of the client — pagers,
fan-outs, downloads resolving their URLs — goes through it, so the limits are
shared.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

from ._clock import Clock
from ._constants import LOGGER_NAME, MAX_API_BODY_BYTES
from ._converter import structure
from ._errors import APIConnectionError, APIStatusError, RateLimitError
from ._hooks import NO_HOOKS, AttributeValue, Hooks, span_around
from ._limits import RateLimiterProtocol, RequestKind
from ._protocol import MAX_ERROR_BODY_BYTES, api_error, decode_json
from ._redact import REDACTED, redact_url
from ._retry import RetryPolicy, parse_retry_after
from ._transport import RawResponse, Transport

__all__ = ["APIRequester"]

T = TypeVar("T")
logger: Final = logging.getLogger(LOGGER_NAME)


class APIRequester:
    """Sends requests to Bird's API with auth, limits and retries."""

    def __init__(
        self,
        *,
        transport: Transport,
        base_url: str,
        authorization: str,
        retry: RetryPolicy,
        clock: Clock,
        rate_limiter: RateLimiterProtocol,
        workspace_id: str,
        max_concurrent_requests: int,
    ) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self._authorization = authorization
        self.retry = retry
        self.clock = clock
        self.rate_limiter = rate_limiter
        self.workspace_id = workspace_id
        self._semaphore = asyncio.Semaphore(max_concurrent_requests)
        self.retries_performed = 0
        # Bird's clock minus ours, from the Date header of the latest response:
        # presigned URL expiry is judged on the server's clock, not a skewed local one.
        self.server_clock_offset_s = 0.0
        self._last_date: str | None = None
        #: Instrumentation (tracing); the default reports nothing.
        self.hooks: Hooks = NO_HOOKS

    def derive(self, *, transport: Transport, retry: RetryPolicy) -> APIRequester:
        """A requester with another transport and retry policy.

        It shares this one's limiters, concurrency cap and hooks (a client view
        from ``with_options``).
        """
        other = APIRequester(
            transport=transport,
            base_url=self.base_url,
            authorization=self._authorization,
            retry=retry,
            clock=self.clock,
            rate_limiter=self.rate_limiter,
            workspace_id=self.workspace_id,
            max_concurrent_requests=1,
        )
        other._semaphore = self._semaphore  # one concurrency cap for all views
        other.server_clock_offset_s = self.server_clock_offset_s
        other.hooks = self.hooks
        return other

    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        """Headers of every API request: auth, JSON, user agent."""
        return {
            "Authorization": self._authorization,
            "Accept": "application/json",
            "User-Agent": self.transport.user_agent,
        }

    def scrub(self, body: bytes) -> bytes:
        """``body`` with our access key replaced (an error page may echo the request)."""
        # A proxy's error page may echo the request headers back: never let our
        # key reach an exception message through it.
        secret = self._authorization.partition(" ")[2].encode()
        return body.replace(secret, REDACTED.encode()) if secret else body

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        ok: tuple[int, ...] = (200,),
        recording_id: str | None = None,
        allow_redirects: bool = True,
        accept: str | None = None,
        max_body_bytes: int = MAX_API_BODY_BYTES,
    ) -> Coroutine[Any, Any, RawResponse]:
        """:meth:`_send` (await it), in a ``bird_recordings.api`` span when hooks are installed.

        Without hooks this returns ``_send``'s coroutine itself: no extra frame
        for every suspension of the request to pass through.
        """
        send = self._send(
            method,
            path,
            params=params,
            json_body=json_body,
            ok=ok,
            recording_id=recording_id,
            allow_redirects=allow_redirects,
            accept=accept,
            max_body_bytes=max_body_bytes,
        )
        if self.hooks is NO_HOOKS:
            return send
        return self._in_span(send, method, path, recording_id)

    async def _in_span(
        self,
        send: Coroutine[Any, Any, RawResponse],
        method: str,
        path: str,
        recording_id: str | None,
    ) -> RawResponse:
        attributes: dict[str, AttributeValue] = {
            "http.request.method": method,
            "url.full": redact_url(self.url(path)),
        }
        if recording_id:
            attributes["bird.recording_id"] = recording_id
        retries_before = self.retries_performed
        with span_around(self.hooks, "bird_recordings.api", attributes, send) as span:
            try:
                response = await send
            except APIStatusError as exc:
                span.set_attribute("http.response.status_code", exc.status)
                raise
            finally:
                span.set_attribute("bird.retries", self.retries_performed - retries_before)
            span.set_attribute("http.response.status_code", response.status)
            return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        ok: tuple[int, ...] = (200,),
        recording_id: str | None = None,
        allow_redirects: bool = True,
        accept: str | None = None,
        max_body_bytes: int = MAX_API_BODY_BYTES,
    ) -> RawResponse:
        """Send with retries; return the response whose status is in ``ok``.

        Raises the :class:`APIStatusError` subclass for any other status, or
        :class:`APIConnectionError` / :class:`APITimeoutError` once retries are
        spent. POST is not retried once it may have reached Bird. ``accept``
        replaces the JSON ``Accept`` header (transcript text, for one). A body
        over ``max_body_bytes`` raises :class:`ResponseValidationError`.
        """
        url = self.url(path)
        # Bird budgets GET and POST per workspace; DELETE is counted with GET.
        kind: RequestKind = "post" if method == "POST" else "get"
        retries = 0
        while True:
            await self.rate_limiter.acquire(self.workspace_id, kind)
            started = self.clock.monotonic()
            try:
                async with self._semaphore:
                    headers = self.headers()
                    if accept is not None:
                        headers["Accept"] = accept
                    response = await self.transport.send(
                        method,
                        url,
                        headers=headers,
                        params=params,
                        json_body=json_body,
                        allow_redirects=allow_redirects,
                        max_body_bytes=max_body_bytes,
                    )
            except APIConnectionError as exc:
                if not self.retry.allows(retries, method):
                    raise
                delay = self.retry.delay_s(retries, None, random.random)
                logger.info(
                    "%s %s failed (%s); retry %d in %.2fs",
                    method,
                    redact_url(url),
                    type(exc).__name__,
                    retries + 1,
                    delay or 0.0,
                )
            else:
                elapsed_ms = (self.clock.monotonic() - started) * 1000
                self._observe_date(response.headers.get("Date"))
                if logger.isEnabledFor(logging.DEBUG):  # redaction only when it is logged
                    logger.debug(
                        "%s %s -> %d (%.1f ms)",
                        method,
                        redact_url(url),
                        response.status,
                        elapsed_ms,
                    )
                if response.status in ok:
                    return response
                error = api_error(
                    response.status,
                    response.headers,
                    self.scrub(response.body[:MAX_ERROR_BODY_BYTES]),
                    method=method,
                    url=url,
                    recording_id=recording_id,
                    now=self.clock.now(),
                )
                if isinstance(error, RateLimitError):
                    # Every 429 pauses the budget (fleet-wide with a shared limiter),
                    # for the wait the retry policy chooses, retried or not.
                    delay = self.retry.delay_s(retries, error.retry_after, random.random)
                    pause = self.retry.retry_after_max_s if delay is None else delay
                    await self.rate_limiter.report_rate_limited(self.workspace_id, kind, pause)
                if not (
                    self.retry.is_retryable_status(response.status)
                    and self.retry.allows(retries, method)
                ):
                    raise error
                # Retry-After is honoured on any retryable status (429 and 503 alike).
                if not isinstance(error, RateLimitError):
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), self.clock.now()
                    )
                    delay = self.retry.delay_s(retries, retry_after, random.random)
                if delay is None:
                    raise error
                logger.info(
                    "%s %s -> %d; retry %d in %.2fs",
                    method,
                    redact_url(url),
                    response.status,
                    retries + 1,
                    delay,
                    # For handlers that show waits (the CLI's "rate-limited" note).
                    extra={"bird_retry_status": response.status, "bird_retry_delay_s": delay},
                )
            retries += 1
            self.retries_performed += 1
            await self.clock.sleep(delay or 0.0)

    def _observe_date(self, value: str | None) -> None:
        # Date has a resolution of one second: parse it once per distinct value.
        if not value or value == self._last_date:
            return
        self._last_date = value
        try:
            server_now = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if server_now.tzinfo is None:
            return
        self.server_clock_offset_s = (server_now - self.clock.now()).total_seconds()

    def server_now(self) -> datetime:
        """Our best estimate of Bird's current time (local clock + observed offset)."""
        return self.clock.now() + timedelta(seconds=self.server_clock_offset_s)

    async def get_model(
        self,
        path: str,
        cls: type[T],
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        recording_id: str | None = None,
    ) -> T:
        """GET ``path`` and structure the JSON body into ``cls``."""
        response = await self.send("GET", path, params=params, recording_id=recording_id)
        return structure(decode_json(response.body, what=what), cls, what=what)
