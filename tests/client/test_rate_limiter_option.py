"""``RecordingsClient(rate_limiter=...)``: what the client asks of its limiter, and when."""

from __future__ import annotations

from typing import Any

import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, recording_url
from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE, FakeClock
from tests.fixtures import load


class Recorder:
    """A limiter that grants every slot and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def acquire(self, workspace_id: str, kind: str) -> None:
        self.calls.append(("acquire", workspace_id, kind))

    async def report_rate_limited(self, workspace_id: str, kind: str, retry_after_s: float) -> None:
        self.calls.append(("429", workspace_id, kind, retry_after_s))


def client_with(limiter: Any, fake_clock: FakeClock, **kwargs: Any) -> br.RecordingsClient:
    return br.RecordingsClient(
        ACCESS_KEY,
        WORKSPACE,
        base_url=BASE_URL,
        clock=fake_clock,
        rate_limiter=limiter,
        retry=br.RetryPolicy(jitter=0.0),
        **kwargs,
    )


@pytest.mark.parametrize("kwargs", [{"rate_limit": 10}, {"rate_limit": None}, {"rate_burst": 5}])
def test_rate_limiter_with_rate_options_is_a_configuration_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(br.ConfigurationError, match="rate_limiter"):
        br.RecordingsClient(ACCESS_KEY, WORKSPACE, rate_limiter=Recorder(), **kwargs)


def test_an_object_without_the_protocol_is_refused() -> None:
    with pytest.raises(br.ConfigurationError, match="RateLimiterProtocol"):
        br.RecordingsClient(ACCESS_KEY, WORKSPACE, rate_limiter=object())  # type: ignore[arg-type]


def test_the_default_is_a_local_limiter_from_the_rate_options() -> None:
    client = br.RecordingsClient(ACCESS_KEY, WORKSPACE, rate_limit=20, rate_burst=3)
    assert repr(client.rate_limiter) == ("LocalRateLimiter(get_rate=20, post_rate=500.0, burst=3)")


async def test_every_request_acquires_its_kind_for_the_clients_workspace(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    m.delete(recording_url(REAL_ID), status=204)
    m.post(f"{recording_url(REAL_ID)}/transcriptions", status=202, payload=_transcription())
    limiter = Recorder()
    async with client_with(limiter, fake_clock) as client:
        await client.get_recording(REAL_ID)
        await client.delete_recording(REAL_ID)
        await client.create_transcription(REAL_ID)
    assert limiter.calls == [
        ("acquire", WORKSPACE, "get"),
        ("acquire", WORKSPACE, "get"),  # DELETE counts against the GET budget
        ("acquire", WORKSPACE, "post"),
    ]


async def test_each_429_is_reported_with_its_retry_after_and_retries_acquire_again(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    busy = {"code": "TooManyRequests", "message": "slow down"}
    m.get(recording_url(REAL_ID), status=429, payload=busy, headers={"Retry-After": "3"})
    m.get(recording_url(REAL_ID), status=429, payload=busy)  # no Retry-After: the backoff
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    limiter = Recorder()
    async with client_with(limiter, fake_clock) as client:
        await client.get_recording(REAL_ID)
    backoff = br.RetryPolicy(jitter=0.0).backoff_s(1)
    assert limiter.calls == [
        ("acquire", WORKSPACE, "get"),
        ("429", WORKSPACE, "get", 3.0),
        ("acquire", WORKSPACE, "get"),
        ("429", WORKSPACE, "get", backoff),
        ("acquire", WORKSPACE, "get"),
    ]
    assert fake_clock.sleeps == [3.0, backoff]


async def test_a_429_that_is_not_retried_is_still_reported(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    busy = {"code": "TooManyRequests", "message": "slow down"}
    m.get(recording_url(REAL_ID), status=429, payload=busy, headers={"Retry-After": "600"})
    limiter = Recorder()
    async with client_with(limiter, fake_clock) as client:
        with pytest.raises(br.RateLimitError):
            await client.get_recording(REAL_ID)
    # Longer than the policy waits: the call fails, the budget pauses for the cap.
    assert limiter.calls[-1] == ("429", WORKSPACE, "get", br.RetryPolicy().retry_after_max_s)


async def test_the_default_limiters_pause_and_the_retry_wait_do_not_add_up(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    busy = {"code": "TooManyRequests", "message": "slow down"}
    m.get(recording_url(REAL_ID), status=429, payload=busy, headers={"Retry-After": "2"})
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"), repeat=True)
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL, clock=fake_clock, rate_limit=1000
    ) as client:
        await client.get_recording(REAL_ID)
        # The retry sleeps the Retry-After; its acquire then finds the pause over.
        assert fake_clock.sleeps == [2.0]
        fake_clock.sleeps.clear()
        await client.get_recording(REAL_ID)  # after the pause: paced, not paused again
        assert sum(fake_clock.sleeps) < 0.01


def _transcription() -> dict[str, Any]:
    return {
        "id": "0c9e3f5a-4f7e-4b59-9a0e-2a7c1c2d3e4f",
        "recordingId": REAL_ID,
        "status": "accepted",
        "stereo": False,
        "locale": "en-US",
        "createdAt": "2026-11-25T12:00:00Z",
        "updatedAt": "2026-11-25T12:00:00Z",
    }
