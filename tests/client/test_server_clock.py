"""Bird's clock, learnt from the Date header of API responses (for presigned URL expiry)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, recording_url
from tests.conftest import FakeClock
from tests.fixtures import load


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
    client: br.RecordingsClient,
    aioresponses_compat: Any,
    fake_clock: FakeClock,
    date: str,
    offset: float | None,
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID), payload=load("recording_real.json"), headers={"Date": date}
    )
    api = client._api
    api.server_clock_offset_s = 12.0  # a previous observation
    await client.get_recording(REAL_ID)
    expected = 12.0 if offset is None else offset
    assert api.server_clock_offset_s == expected
    assert api.server_now() == fake_clock.now() + timedelta(seconds=expected)


async def test_no_date_header_keeps_the_local_clock(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    aioresponses_compat.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    await client.get_recording(REAL_ID)
    assert client._api.server_now() == fake_clock.now()
