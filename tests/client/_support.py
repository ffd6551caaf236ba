"""Helpers shared by the aioresponses-based client tests."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any, Final

from yarl import URL

import bird_recordings as br
from bird_recordings._api import APIRequester
from bird_recordings._clock import Clock
from bird_recordings._transport import Transport
from tests.conftest import BASE_URL, WORKSPACE

RECORDINGS_URL: Final = f"{BASE_URL}/workspaces/{WORKSPACE}/recordings"
METRICS_URL: Final = f"{BASE_URL}/workspaces/{WORKSPACE}/recording-metrics"
REAL_ID: Final = "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd"
# Any query string: aioresponses matches the URL with its query merged in.
LIST_PATTERN: Final = re.compile(re.escape(RECORDINGS_URL) + r"(\?.*)?$")


def recording_url(recording_id: str) -> str:
    return f"{RECORDINGS_URL}/{recording_id}"


def sent(mocked: Any) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request the mock saw: (method, URL with query, request kwargs).

    Requests are grouped per URL in first-seen order, in order within a URL.
    """
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


def count(mocked: Any) -> int:
    return sum(len(calls) for calls in mocked.requests.values())


@contextlib.asynccontextmanager
async def standalone_requester(clock: Clock) -> AsyncIterator[APIRequester]:
    """An ``APIRequester`` of its own (the client keeps its requester private).

    For the tests of what only the requester does: POST retries, the server clock.
    No jitter, no rate limit, ``clock`` for every wait.
    """
    transport = Transport(
        session=None,
        connect_timeout_s=5,
        api_timeout_s=5,
        stall_timeout_s=5,
        pool_size=4,
        user_agent="tests",
    )
    transport.open()
    try:
        yield APIRequester(
            transport=transport,
            base_url=BASE_URL,
            authorization="AccessKey k",
            retry=br.RetryPolicy(jitter=0),
            clock=clock,
            rate_limiter=br.LocalRateLimiter(None, None, clock=clock),
            workspace_id=WORKSPACE,
            max_concurrent_requests=4,
        )
    finally:
        await transport.close()
