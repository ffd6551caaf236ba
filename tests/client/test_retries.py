"""Retry sequences through the real retry loop, with the fake clock recording each wait."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest

import bird_recordings as br
from bird_recordings._api import APIRequester
from tests.client._support import (
    REAL_ID,
    RECORDINGS_URL,
    count,
    recording_url,
    standalone_requester,
)
from tests.conftest import BASE_URL, WORKSPACE, FakeClock
from tests.fixtures import load

UNAVAILABLE = {"code": "ServiceUnavailable", "message": "try later"}


def ok(m: Any) -> None:
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))


def unavailable(m: Any, times: int = 1, status: int = 503) -> None:
    for _ in range(times):
        m.get(recording_url(REAL_ID), status=status, payload=UNAVAILABLE)


async def test_503_503_200_succeeds_after_backoff(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    unavailable(m, 2)
    ok(m)
    rec = await client.get_recording(REAL_ID)
    assert rec.id == REAL_ID
    assert count(m) == 3
    assert fake_clock.sleeps == [0.5, 1.0]
    assert client.retries_performed == 2
    assert client.stats.api_retries == 2


@pytest.mark.parametrize("status", [500, 502, 504, 408])
async def test_other_retryable_statuses(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock, status: int
) -> None:
    unavailable(aioresponses_compat, 1, status)
    ok(aioresponses_compat)
    assert (await client.get_recording(REAL_ID)).id == REAL_ID
    assert fake_clock.sleeps == [0.5]


async def test_backoff_is_capped(fake_clock: FakeClock, aioresponses_compat: Any) -> None:
    unavailable(aioresponses_compat, 6)
    ok(aioresponses_compat)
    policy = br.RetryPolicy(max_retries=6, backoff_max_s=3, jitter=0)
    async with br.RecordingsClient(
        "k", WORKSPACE, base_url=BASE_URL, clock=fake_clock, rate_limit=None, retry=policy
    ) as client:
        await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_jitter_uses_random(
    fake_clock: FakeClock, aioresponses_compat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.5)
    unavailable(aioresponses_compat, 2)
    ok(aioresponses_compat)
    async with br.RecordingsClient(
        "k", WORKSPACE, base_url=BASE_URL, clock=fake_clock, rate_limit=None
    ) as client:  # default policy: full jitter
        await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [0.25, 0.5]


async def test_429_retry_after_seconds_is_honoured(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=429, headers={"Retry-After": "3"}, payload={})
    ok(m)
    await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [3.0]


async def test_429_retry_after_http_date_is_honoured(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    when = format_datetime(fake_clock.now().replace(second=7), usegmt=True)
    assert when == "Wed, 25 Nov 2026 12:00:07 GMT"
    m.get(recording_url(REAL_ID), status=429, headers={"Retry-After": when}, payload={})
    ok(m)
    await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [7.0]


async def test_429_without_retry_after_backs_off(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=429, payload={"code": "TooManyRequests", "message": ""})
    ok(m)
    await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [0.5]


async def test_retry_after_above_the_cap_is_raised_at_once(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=429, headers={"Retry-After": "120"}, payload={})
    ok(m)  # never reached
    with pytest.raises(br.RateLimitError) as info:
        await client.get_recording(REAL_ID)
    assert info.value.retry_after == 120.0
    assert count(m) == 1
    assert fake_clock.sleeps == []


async def test_retry_after_on_a_503_is_honoured(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    # bird-api.md: honour Retry-After whenever present, not only on 429.
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=503, headers={"Retry-After": "30"}, payload={})
    ok(m)
    await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [30.0]


async def test_a_503_without_retry_after_uses_backoff(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=503, payload={})
    ok(m)
    await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [0.5]


async def test_connection_error_is_retried(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), exception=aiohttp.ClientConnectionError("reset by peer"))
    m.get(recording_url(REAL_ID), exception=aiohttp.ServerDisconnectedError())
    ok(m)
    assert (await client.get_recording(REAL_ID)).id == REAL_ID
    assert fake_clock.sleeps == [0.5, 1.0]
    assert client.retries_performed == 2


async def test_timeout_is_retried(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), exception=TimeoutError())
    ok(m)
    assert (await client.get_recording(REAL_ID)).id == REAL_ID
    assert fake_clock.sleeps == [0.5]


async def test_exhausted_5xx_raises_server_error(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    unavailable(aioresponses_compat, 5)
    with pytest.raises(br.ServerError) as info:
        await client.get_recording(REAL_ID)
    assert info.value.status == 503
    assert info.value.code == "ServiceUnavailable"
    assert count(aioresponses_compat) == 5  # 1 + max_retries=4
    assert fake_clock.sleeps == [0.5, 1.0, 2.0, 4.0]


async def test_exhausted_429_raises_rate_limit_error(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    for _ in range(5):
        aioresponses_compat.get(
            recording_url(REAL_ID), status=429, headers={"Retry-After": "1"}, payload={}
        )
    with pytest.raises(br.RateLimitError):
        await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == [1.0, 1.0, 1.0, 1.0]


async def test_exhausted_connection_errors_raise_chained_connection_error(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    for _ in range(5):
        aioresponses_compat.get(
            recording_url(REAL_ID), exception=aiohttp.ClientConnectionError("refused")
        )
    with pytest.raises(br.APIConnectionError) as info:
        await client.get_recording(REAL_ID)
    err = info.value
    assert type(err) is br.APIConnectionError
    assert isinstance(err.__cause__, aiohttp.ClientConnectionError)
    assert "refused" in str(err)
    assert err.url == recording_url(REAL_ID)
    assert count(aioresponses_compat) == 5
    assert len(fake_clock.sleeps) == 4


async def test_exhausted_timeouts_raise_api_timeout_error(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    for _ in range(5):
        aioresponses_compat.get(recording_url(REAL_ID), exception=TimeoutError())
    with pytest.raises(br.APITimeoutError) as info:
        await client.get_recording(REAL_ID)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_no_retries_when_disabled(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    aioresponses_compat.get(recording_url(REAL_ID), exception=aiohttp.ClientConnectionError())
    with pytest.raises(br.APIConnectionError):
        await no_retry_client.get_recording(REAL_ID)
    assert count(aioresponses_compat) == 1
    assert fake_clock.sleeps == []


async def test_404_is_not_retried(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=404, payload={"code": "NotFound", "message": "gone"})
    ok(m)
    with pytest.raises(br.NotFoundError):
        await client.get_recording(REAL_ID)
    assert count(m) == 1
    assert fake_clock.sleeps == []


async def test_delete_is_retried(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.delete(recording_url(REAL_ID), status=502, body="bad gateway")
    m.delete(recording_url(REAL_ID), status=204)
    await client.delete_recording(REAL_ID)
    assert fake_clock.sleeps == [0.5]


async def test_a_failed_page_is_retried_mid_iteration(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(RECORDINGS_URL, payload=load("recordings_page_1.json"))
    m.get(f"{RECORDINGS_URL}?pageToken=cGFnZS0y", status=503, body="")
    m.get(f"{RECORDINGS_URL}?pageToken=cGFnZS0y", payload=load("recordings_page_3.json"))
    ids = [rec.id async for rec in client.list_recordings()]
    assert len(ids) == 3
    assert fake_clock.sleeps == [0.5]


async def test_retries_are_logged_without_secrets(
    client: br.RecordingsClient,
    aioresponses_compat: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unavailable(aioresponses_compat, 1)
    ok(aioresponses_compat)
    with caplog.at_level(logging.INFO, logger="bird_recordings"):
        await client.get_recording(REAL_ID)
    assert any("-> 503; retry 1 in 0.50s" in r.getMessage() for r in caplog.records)


# --- POST, through APIRequester directly (there is no public POST yet) ----------------------


@pytest.fixture
async def requester(fake_clock: FakeClock) -> AsyncIterator[APIRequester]:
    async with standalone_requester(fake_clock) as requester:
        yield requester


TRANSCRIBE_URL = f"{recording_url(REAL_ID)}/transcriptions"
TRANSCRIBE_PATH = f"/workspaces/{WORKSPACE}/recordings/{REAL_ID}/transcriptions"


async def test_post_503_is_not_retried(
    requester: APIRequester, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.post(TRANSCRIBE_URL, status=503, payload=UNAVAILABLE)
    m.post(TRANSCRIBE_URL, status=202, payload={})
    with pytest.raises(br.ServerError):
        await requester.send("POST", TRANSCRIBE_PATH, json_body={"locale": "en-US"}, ok=(202,))
    assert count(m) == 1
    assert fake_clock.sleeps == []
    assert requester.retries_performed == 0


async def test_post_connection_error_is_not_retried(
    requester: APIRequester, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.post(TRANSCRIBE_URL, exception=aiohttp.ServerDisconnectedError())
    m.post(TRANSCRIBE_URL, status=202, payload={})
    with pytest.raises(br.APIConnectionError):
        await requester.send("POST", TRANSCRIBE_PATH, json_body={"locale": "en-US"}, ok=(202,))
    assert count(m) == 1
    assert fake_clock.sleeps == []


async def test_post_sends_json_and_succeeds(
    requester: APIRequester, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.post(TRANSCRIBE_URL, status=202, payload={"id": "t1"})
    response = await requester.send(
        "POST", TRANSCRIBE_PATH, json_body={"locale": "en-US"}, ok=(202,)
    )
    assert response.status == 202
    [call] = m.requests[("POST", next(iter(m.requests))[1])]
    assert call.kwargs["json"] == {"locale": "en-US"}
    assert call.kwargs["headers"]["Authorization"] == "AccessKey k"


async def test_get_through_the_requester_is_retried(
    requester: APIRequester, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    unavailable(m, 1)
    ok(m)
    response = await requester.send("GET", f"/workspaces/{WORKSPACE}/recordings/{REAL_ID}")
    assert response.status == 200
    assert fake_clock.sleeps == [0.5]
