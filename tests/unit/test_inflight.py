"""InFlight: only the client's own stop becomes ClientClosedError."""

from __future__ import annotations

import asyncio

import pytest

import bird_recordings as br
from bird_recordings._inflight import InFlight

pytestmark = pytest.mark.asyncio


async def guarded(inflight: InFlight, entered: asyncio.Event, nested: bool = False) -> str:
    async with inflight.guard():
        if nested:
            async with inflight.guard():
                entered.set()
                await asyncio.Event().wait()
        entered.set()
        await asyncio.Event().wait()
    return "unreachable"


@pytest.mark.parametrize("nested", [False, True])
async def test_stop_turns_its_cancellation_into_client_closed(nested: bool) -> None:
    inflight = InFlight()
    entered = asyncio.Event()
    task = asyncio.create_task(guarded(inflight, entered, nested))
    await entered.wait()
    await asyncio.wait_for(inflight.stop(), 5)
    assert task.done()
    with pytest.raises(br.ClientClosedError):
        await task
    assert task.cancelling() == 0
    with pytest.raises(br.ClientClosedError):
        async with inflight.guard():
            pass


async def test_a_cancellation_from_elsewhere_is_kept() -> None:
    inflight = InFlight()
    entered = asyncio.Event()
    task = asyncio.create_task(guarded(inflight, entered))
    await entered.wait()
    task.cancel()  # the caller's own timeout, say, at the same moment
    await asyncio.wait_for(inflight.stop(), 5)
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stop_from_inside_a_guard_does_not_wait_for_itself() -> None:
    inflight = InFlight()
    async with inflight.guard():
        await inflight.stop()  # returns: nothing else is in flight
    assert inflight.is_stopped


async def test_a_closed_session_is_noticed_while_work_is_in_flight() -> None:
    closed = False
    inflight = InFlight(lambda: closed)
    entered = asyncio.Event()
    task = asyncio.create_task(guarded(inflight, entered))
    await entered.wait()
    closed = True
    with pytest.raises(br.ClientClosedError):
        await asyncio.wait_for(task, 5)
