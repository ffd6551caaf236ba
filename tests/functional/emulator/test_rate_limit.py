"""The emulator's per-workspace rate limit, on a frozen clock, over real sockets."""

from __future__ import annotations

import aiohttp

from bird_recordings.emulator import BirdEmulator

from .conftest import FIXED_NOW


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> float:
        return self.now


async def _statuses(
    session: aiohttp.ClientSession, emu: BirdEmulator, method: str, path: str, n: int
) -> list[tuple[int, str | None]]:
    headers = {"Authorization": f"AccessKey {emu.access_key}"}
    url = f"{emu.base_url}/workspaces/{emu.workspace_id}{path}"
    seen = []
    for _ in range(n):
        body = {"locale": "en-US"} if method == "POST" else None
        async with session.request(method, url, headers=headers, json=body) as resp:
            await resp.read()
            seen.append((resp.status, resp.headers.get("Retry-After")))
    return seen


async def test_gets_over_the_bucket_get_429_with_retry_after_and_are_counted() -> None:
    clock = Clock()
    async with (
        BirdEmulator(recordings=3, clock=clock, rate_limit=4, warm_etags=False) as emu,
        aiohttp.ClientSession() as session,
    ):
        seen = await _statuses(session, emu, "GET", "/recordings", 6)
        assert seen == [(200, None)] * 4 + [(429, "1")] * 2
        assert emu.rate_limited_count == 2
        limited = [r for r in emu.requests if r.rate_limited]
        assert [r.status for r in limited] == [429, 429]
        assert all(r.received_s == FIXED_NOW for r in emu.requests)
        clock.now += 0.25  # one token back, exactly
        assert await _statuses(session, emu, "GET", "/recordings", 2) == [(200, None), (429, "1")]


async def test_post_has_its_own_bucket_and_delete_counts_as_get() -> None:
    clock = Clock()
    async with (
        BirdEmulator(
            recordings=3, clock=clock, rate_limit=1, post_rate_limit=2, warm_etags=False
        ) as emu,
        aiohttp.ClientSession() as session,
    ):
        rid = next(iter(emu.recordings))
        assert [s for s, _ in await _statuses(session, emu, "DELETE", f"/recordings/{rid}", 1)] == [
            204
        ]
        assert [s for s, _ in await _statuses(session, emu, "GET", "/recordings", 1)] == [429]
        posts = await _statuses(session, emu, "POST", "/recordings/nope/transcriptions", 3)
        # The POST bucket is untouched by GETs: two pass (422, a bad id), the third is limited.
        assert [s for s, _ in posts] == [422, 422, 429]


async def test_rejected_requests_do_not_use_tokens_and_buckets_refill_to_the_burst() -> None:
    clock = Clock()
    async with (
        BirdEmulator(recordings=3, clock=clock, rate_limit=10, rate_limit_burst=2) as emu,
        aiohttp.ClientSession() as session,
    ):
        assert [s for s, _ in await _statuses(session, emu, "GET", "/recordings", 4)] == [
            200,
            200,
            429,
            429,
        ]
        clock.now += 60  # a long idle time banks no more than the burst
        assert [s for s, _ in await _statuses(session, emu, "GET", "/recordings", 3)] == [
            200,
            200,
            429,
        ]


async def test_without_rate_limit_nothing_is_limited() -> None:
    async with BirdEmulator(recordings=3) as emu, aiohttp.ClientSession() as session:
        assert {s for s, _ in await _statuses(session, emu, "GET", "/recordings", 60)} == {200}
        assert emu.rate_limited_count == 0


async def test_an_unknown_workspace_is_404_and_not_limited() -> None:
    clock = Clock()
    async with (
        BirdEmulator(recordings=1, clock=clock, rate_limit=1, warm_etags=False) as emu,
        aiohttp.ClientSession() as session,
    ):
        headers = {"Authorization": f"AccessKey {emu.access_key}"}
        url = f"{emu.base_url}/workspaces/00000000-0000-4000-8000-000000000000/recordings"
        for _ in range(3):
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 404
        assert emu.rate_limited_count == 0
        assert [s for s, _ in await _statuses(session, emu, "GET", "/recordings", 2)] == [200, 429]
