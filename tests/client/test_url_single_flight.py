"""Concurrent URL resolutions for one recording share one request, without a task.

The first caller sends the ``.mp3`` request in its own task; callers arriving
meanwhile wait for its answer. These tests drive the request by hand.
"""

from __future__ import annotations

import asyncio

import pytest

import bird_recordings as br
from bird_recordings import _protocol as proto

RID = "0b9e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4"
URL = "https://storage.test/r.mp3?X-Amz-Date=20261125T120000Z&X-Amz-Expires=600&X-Amz-Signature=abc"


class ManualFetch:
    """Stands in for the ``.mp3`` request: each call waits until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.gates: list[asyncio.Future[br.MediaURL]] = []

    async def __call__(self, recording_id: str) -> br.MediaURL:
        self.calls += 1
        gate: asyncio.Future[br.MediaURL] = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        return await gate


@pytest.fixture
def fetch(client: br.RecordingsClient, monkeypatch: pytest.MonkeyPatch) -> ManualFetch:
    manual = ManualFetch()
    monkeypatch.setattr(client._media, "_fetch_media_url", manual)
    return manual


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiting_callers_get_the_first_callers_answer(
    client: br.RecordingsClient, fetch: ManualFetch
) -> None:
    engine = client._media
    tasks = [asyncio.create_task(engine.refresh_url(RID, stale=None)) for _ in range(4)]
    await settle()
    assert fetch.calls == 1
    fetch.gates[0].set_result(proto.media_url_from_string(URL, RID))
    results = await asyncio.gather(*tasks)
    assert {r.url for r in results} == {URL}
    assert engine._inflight == {}


async def test_an_error_is_shared_with_the_waiting_callers(
    client: br.RecordingsClient, fetch: ManualFetch
) -> None:
    engine = client._media
    tasks = [asyncio.create_task(engine.refresh_url(RID, stale=None)) for _ in range(3)]
    await settle()
    fetch.gates[0].set_exception(
        br.APIConnectionError("connection reset", url="https://api.test/x")
    )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, br.APIConnectionError) for r in results)
    assert fetch.calls == 1
    assert engine._inflight == {}


async def cancel_one_of_two(
    client: br.RecordingsClient, which: str
) -> tuple[asyncio.Task[br.MediaURL], asyncio.Task[br.MediaURL]]:
    """Start a first caller and a waiting one, cancel ``which``; return (cancelled, other)."""
    engine = client._media
    leader = asyncio.create_task(engine.refresh_url(RID, stale=None))
    await settle()
    follower = asyncio.create_task(engine.refresh_url(RID, stale=None))
    await settle()
    cancelled, other = (leader, follower) if which == "leader" else (follower, leader)
    cancelled.cancel()
    await settle()
    assert cancelled.cancelled()
    return cancelled, other


async def test_a_cancelled_first_caller_hands_the_request_to_a_waiting_one(
    client: br.RecordingsClient, fetch: ManualFetch
) -> None:
    _, follower = await cancel_one_of_two(client, "leader")
    # The follower was not cancelled: it sends the request itself.
    assert fetch.calls == 2
    assert not follower.done()
    fetch.gates[1].set_result(proto.media_url_from_string(URL, RID))
    assert (await follower).url == URL
    assert client._media._inflight == {}


async def test_a_cancelled_waiting_caller_does_not_disturb_the_request(
    client: br.RecordingsClient, fetch: ManualFetch
) -> None:
    _, leader = await cancel_one_of_two(client, "follower")
    fetch.gates[0].set_result(proto.media_url_from_string(URL, RID))
    assert (await leader).url == URL
    assert fetch.calls == 1
