"""Single-flight and the URL resolver built on it, through their own names.

The first caller sends the ``.mp3`` request in its own task; callers arriving
meanwhile wait for its answer. These tests drive the request by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

import bird_recordings as br
from bird_recordings import _protocol as proto
from bird_recordings._singleflight import SingleFlight
from bird_recordings._urls import LocationCheck, UrlResolver

RID = "0b9e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4"
URL = "https://storage.test/r.mp3?X-Amz-Date=20261125T120000Z&X-Amz-Expires=600&X-Amz-Signature=abc"
NEWER = URL.replace("X-Amz-Signature=abc", "X-Amz-Signature=def")
SIGNED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


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


class ServerTime:
    def __init__(self) -> None:
        self.now = SIGNED_AT + timedelta(seconds=10)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fetch() -> ManualFetch:
    return ManualFetch()


@pytest.fixture
def server_time() -> ServerTime:
    return ServerTime()


@pytest.fixture
def resolver(fetch: ManualFetch, server_time: ServerTime) -> UrlResolver:
    return UrlResolver(fetch, server_now=server_time, api_url="https://api.bird.test")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiting_callers_get_the_first_callers_answer(
    resolver: UrlResolver, fetch: ManualFetch
) -> None:
    tasks = [asyncio.create_task(resolver.refresh(RID, stale=None)) for _ in range(4)]
    await settle()
    assert fetch.calls == 1
    assert resolver.flights.in_flight(RID)
    fetch.gates[0].set_result(proto.media_url_from_string(URL, RID))
    results = await asyncio.gather(*tasks)
    assert {r.url for r in results} == {URL}
    assert len(resolver.flights) == 0


async def test_an_error_is_shared_with_the_waiting_callers(
    resolver: UrlResolver, fetch: ManualFetch
) -> None:
    tasks = [asyncio.create_task(resolver.refresh(RID, stale=None)) for _ in range(3)]
    await settle()
    fetch.gates[0].set_exception(
        br.APIConnectionError("connection reset", url="https://api.test/x")
    )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, br.APIConnectionError) for r in results)
    assert fetch.calls == 1
    assert len(resolver.flights) == 0


async def cancel_one_of_two(
    resolver: UrlResolver, which: str
) -> tuple[asyncio.Task[br.MediaURL], asyncio.Task[br.MediaURL]]:
    """Start a first caller and a waiting one, cancel ``which``; return (cancelled, other)."""
    leader = asyncio.create_task(resolver.refresh(RID, stale=None))
    await settle()
    follower = asyncio.create_task(resolver.refresh(RID, stale=None))
    await settle()
    cancelled, other = (leader, follower) if which == "leader" else (follower, leader)
    cancelled.cancel()
    await settle()
    assert cancelled.cancelled()
    return cancelled, other


async def test_a_cancelled_first_caller_hands_the_request_to_a_waiting_one(
    resolver: UrlResolver, fetch: ManualFetch
) -> None:
    _, follower = await cancel_one_of_two(resolver, "leader")
    # The follower was not cancelled: it sends the request itself.
    assert fetch.calls == 2
    assert not follower.done()
    fetch.gates[1].set_result(proto.media_url_from_string(URL, RID))
    assert (await follower).url == URL
    assert len(resolver.flights) == 0


async def test_a_cancelled_waiting_caller_does_not_disturb_the_request(
    resolver: UrlResolver, fetch: ManualFetch
) -> None:
    _, leader = await cancel_one_of_two(resolver, "follower")
    fetch.gates[0].set_result(proto.media_url_from_string(URL, RID))
    assert (await leader).url == URL
    assert fetch.calls == 1


# --- the resolver's cache ------------------------------------------------------------


async def answer(fetch: ManualFetch, task: asyncio.Task[br.MediaURL], url: str) -> br.MediaURL:
    await settle()
    fetch.gates[-1].set_result(proto.media_url_from_string(url, RID))
    return await task


@pytest.mark.parametrize(
    ("seconds_later", "stale", "asks_again"),
    [
        (60, None, False),  # the latest URL is fresh: no request
        (60, URL, True),  # the caller's URL failed: a new one even if it looks fresh
        (580, None, True),  # within the safety margin of its expiry
        (700, None, True),  # expired
    ],
)
async def test_the_latest_url_is_reused_while_fresh(
    resolver: UrlResolver,
    fetch: ManualFetch,
    server_time: ServerTime,
    seconds_later: int,
    stale: str | None,
    asks_again: bool,
) -> None:
    first = await answer(fetch, asyncio.create_task(resolver.refresh(RID, stale=None)), URL)
    server_time.now = SIGNED_AT + timedelta(seconds=seconds_later)
    task = asyncio.create_task(resolver.refresh(RID, stale=first if stale else None))
    await settle()
    assert fetch.calls == (2 if asks_again else 1)
    if asks_again:
        assert (await answer(fetch, task, NEWER)).url == NEWER
    else:
        assert (await task).url == URL


async def test_callers_of_a_shared_resolver_share_requests_and_cache(
    resolver: UrlResolver, fetch: ManualFetch, server_time: ServerTime
) -> None:
    other_fetch = ManualFetch()
    view = resolver.sharing(other_fetch, server_now=server_time)
    tasks = [
        asyncio.create_task(resolver.refresh(RID, stale=None)),
        asyncio.create_task(view.refresh(RID, stale=None)),
    ]
    await settle()
    fetch.gates[0].set_result(proto.media_url_from_string(URL, RID))
    assert {r.url for r in await asyncio.gather(*tasks)} == {URL}
    assert (await view.refresh(RID, stale=None)).url == URL
    assert (fetch.calls, other_fetch.calls) == (1, 0)


async def test_single_flight_keys_are_independent() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    loop = asyncio.get_running_loop()
    gates: dict[str, asyncio.Future[int]] = {key: loop.create_future() for key in "ab"}

    def call(key: str) -> Callable[[], Awaitable[int]]:
        return lambda: gates[key]

    tasks = [asyncio.create_task(flights.run(key, call(key))) for key in "abab"]
    await settle()
    assert len(flights) == 2
    gates["a"].set_result(1)
    gates["b"].set_result(2)
    assert await asyncio.gather(*tasks) == [1, 2, 1, 2]
    assert len(flights) == 0


@pytest.mark.parametrize(
    ("first", "second", "accepted"),
    [
        # An origin that passed once: the next URL on it only needs plain characters.
        ("https://s3.test/a.mp3?X=1", "https://s3.test/b.mp3?X=2", True),
        ("https://s3.test/a.mp3", "https://s3.test/b c.mp3", False),
        ("https://s3.test/a.mp3", "https://s3.test/b\\.mp3", False),
        # Another origin is checked in full.
        ("https://s3.test/a.mp3", "http://s3.test/b.mp3", False),
        ("https://s3.test/a.mp3", "https://s3.test:0/b.mp3", False),
        ("https://s3.test/a.mp3", "https://bad_host-.test/b.mp3", False),
        ("https://s3.test/a.mp3", "https://user@s3.test/b.mp3", True),
        ("ftp://s3.test/a.mp3", "ftp://s3.test/b.mp3", False),
    ],
)
def test_urls_from_metadata_get_the_redirect_checks(
    resolver: UrlResolver, first: str, second: str, accepted: bool
) -> None:
    resolver.is_acceptable(first)
    assert resolver.is_acceptable(second) is accepted
    # The same answer as a resolver that never saw the first URL.
    fresh = UrlResolver(ManualFetch(), server_now=ServerTime(), api_url="https://api.bird.test")
    assert fresh.is_acceptable(second) is accepted


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("https://s3.test/b c.mp3", "characters a URL may not have"),
        ("http://s3.test/b.mp3", "only https is allowed"),
        (None, "without a Location header"),
    ],
)
def test_a_location_on_a_trusted_origin_still_gets_the_redirect_errors(
    second: str | None, message: str
) -> None:
    check = LocationCheck(api_url="https://api.bird.test", allow_insecure=False)
    assert check("https://s3.test/a.mp3?X=1") == "https://s3.test/a.mp3?X=1"
    assert check("https://s3.test/c.mp3?X=2", recording_id="r") == "https://s3.test/c.mp3?X=2"
    with pytest.raises(br.InvalidMediaURLError, match=message):
        check(second, recording_id="r")
