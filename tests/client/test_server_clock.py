"""Bird's clock, learnt from the Date header of API responses (for presigned URL expiry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bird_recordings._api import APIRequester
from tests.client._support import REAL_ID, recording_url, standalone_requester
from tests.conftest import WORKSPACE, FakeClock
from tests.fixtures import load

PATH = f"/workspaces/{WORKSPACE}/recordings/{REAL_ID}"


@pytest.fixture
async def api(fake_clock: FakeClock) -> AsyncIterator[APIRequester]:
    async with standalone_requester(fake_clock) as requester:
        yield requester


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
