"""Client-test fixtures on top of the shared ones in tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import bird_recordings as br
from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE, FakeClock


@pytest.fixture
async def no_retry_client(fake_clock: FakeClock) -> AsyncIterator[br.RecordingsClient]:
    """Like ``client`` but never retries: one request per call."""
    async with br.RecordingsClient(
        ACCESS_KEY,
        WORKSPACE,
        base_url=BASE_URL,
        clock=fake_clock,
        rate_limit=None,
        retry=br.RetryPolicy.disabled(),
    ) as c:
        yield c
