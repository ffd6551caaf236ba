"""Bird's clock, learnt from the Date header of API responses (for presigned URL expiry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._api import APIRequester
from bird_recordings._transport import Transport
from tests.client._support import REAL_ID, recording_url
from tests.conftest import BASE_URL, WORKSPACE, FakeClock
from tests.fixtures import load

PATH = f"/workspaces/{WORKSPACE}/recordings/{REAL_ID}"


@pytest.fixture
async def api(fake_clock: FakeClock) -> AsyncIterator[APIRequester]:
    """The client's requester, built on its own (the client keeps its requester private)."""
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
            clock=fake_clock,
            rate_limiter=br.LocalRateLimiter(None, None, clock=fake_clock),
            workspace_id=WORKSPACE,
            max_concurrent_requests=4,
        )
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("date", "offset"),
    [
        ("Wed, 25 Nov 2026 12:05:00 GMT", 300.0),
        ("Wed, 25 Nov 2026 11:59:30 GMT", -30.0),
        ("Wed, 25 Nov 2026 14:00:00 +0200", 0.0),
        ("Wed, 25 Nov 2026 12:05:00 -0000", None),  # no zone information: ignored
        ("not a date", None),
        ("", None),
    ],
)
async def test_date_header_sets_the_server_clock_offset(
    api: APIRequester,
    aioresponses_compat: Any,
    fake_clock: FakeClock,
    date: str,
    offset: float | None,
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID), payload=load("recording_real.json"), headers={"Date": date}
    )
    api.server_clock_offset_s = 12.0  # a previous observation
    await api.send("GET", PATH)
    expected = 12.0 if offset is None else offset
    assert api.server_clock_offset_s == expected
    assert api.server_now() == fake_clock.now() + timedelta(seconds=expected)


async def test_no_date_header_keeps_the_local_clock(
    api: APIRequester, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    aioresponses_compat.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    await api.send("GET", PATH)
    assert api.server_now() == fake_clock.now()
