"""bounded_map: completion order, the concurrency bound, errors, early exit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator
from contextlib import aclosing
from typing import TypeVar, cast

import pytest

import bird_recordings as br
from bird_recordings._bulk import _Slots, bounded_map

T = TypeVar("T")


def closable(results: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """bounded_map is an async generator; say so for ``aclosing``."""
    return cast(AsyncGenerator[T, None], results)


async def collect(source: AsyncIterable[T], into: list[T]) -> None:
    async for item in source:
        into.append(item)


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run (no wall-clock wait)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_results_come_in_completion_order() -> None:
    gates = {i: asyncio.Event() for i in range(4)}

    async def fn(i: int) -> int:
        await gates[i].wait()
        return i

    results: list[int] = []

    async def consume() -> None:
        async for r in bounded_map(range(4), fn, concurrency=4):
            results.append(r)

    task = asyncio.create_task(consume())
    for i in (2, 0, 3, 1):
        gates[i].set()
        await settle()
        assert results[-1] == i
    await task
    assert results == [2, 0, 3, 1]


async def test_concurrency_bound_is_reached_and_never_exceeded() -> None:
    in_flight = 0
    peak = 0

    async def fn(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(i % 3 + 1):
            await asyncio.sleep(0)
        in_flight -= 1
        return i

    results = [r async for r in bounded_map(range(50), fn, concurrency=5)]
    assert sorted(results) == list(range(50))
    assert peak == 5


async def test_unconsumed_results_hold_their_slot() -> None:
    started: list[int] = []

    async def fn(i: int) -> int:
        started.append(i)
        return i

    async with aclosing(closable(bounded_map(range(10), fn, concurrency=3))) as results:
        first = await anext(results)
        await settle()
        # One result consumed, three more finished but waiting: nothing else starts.
        assert first == 0
        assert len(started) == 4
        rest = [r async for r in results]
    assert sorted([first, *rest]) == list(range(10))


async def test_accepts_async_iterables() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(5):
            await asyncio.sleep(0)
            yield i

    async def double(i: int) -> int:
        return 2 * i

    assert sorted([r async for r in bounded_map(source(), double, concurrency=2)]) == [
        0,
        2,
        4,
        6,
        8,
    ]


async def test_empty_source() -> None:
    async def fn(i: int) -> int:
        raise AssertionError("never called")

    assert [r async for r in bounded_map([], fn, concurrency=3)] == []


class BoomError(Exception):
    pass


async def test_async_source_exception_propagates_and_workers_stop() -> None:
    cancelled: list[int] = []

    async def source() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise BoomError("page 2 failed")

    async def fn(i: int) -> int:
        try:
            await asyncio.Event().wait() if i == 1 else None
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    got: list[int] = []
    with pytest.raises(BoomError, match="page 2 failed"):
        await collect(bounded_map(source(), fn, concurrency=4), got)
    assert got == [2]
    assert cancelled == [1]  # the worker still busy was cancelled, not leaked


async def test_sync_source_exception_propagates() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise BoomError("bad iterable")

    async def fn(i: int) -> int:
        return i

    with pytest.raises(BoomError, match="bad iterable"):
        [r async for r in bounded_map(source(), fn, concurrency=2)]


async def test_exception_escaping_fn_propagates() -> None:
    async def fn(i: int) -> int:
        if i == 3:
            raise BoomError("fn failed")
        return i

    with pytest.raises(BoomError, match="fn failed"):
        [r async for r in bounded_map(range(10), fn, concurrency=2)]


async def test_breaking_early_cancels_workers() -> None:
    cancelled: list[int] = []

    async def source() -> AsyncIterator[int]:
        for i in range(100):
            yield i

    async def fn(i: int) -> int:
        if i == 0:
            return 0
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    async with aclosing(closable(bounded_map(source(), fn, concurrency=4))) as results:
        async for r in results:
            assert r == 0
            break
    # aclose() has returned: the workers are cancelled and awaited.
    # Item 0's result held a slot until consumed, so items 1-3 were in flight.
    assert sorted(cancelled) == [1, 2, 3]
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


async def test_stopping_early_closes_the_iterator_it_created_from_an_async_iterable() -> None:
    closed: list[str] = []

    class Listing:
        """Like a pager: each ``async for`` creates a new generator."""

        def __aiter__(self) -> AsyncIterator[int]:
            return self._items()

        async def _items(self) -> AsyncIterator[int]:
            try:
                for i in range(100):
                    yield i
            finally:
                closed.append("items")

    async def fn(i: int) -> int:
        return i

    async with aclosing(closable(bounded_map(Listing(), fn, concurrency=2))) as results:
        async for _ in results:
            break
    assert closed == ["items"]


async def test_stopping_early_leaves_a_callers_own_async_generator_open() -> None:
    async def mine() -> AsyncGenerator[int, None]:
        for i in range(100):
            yield i

    async def fn(i: int) -> int:
        return i

    source = mine()
    async with aclosing(closable(bounded_map(source, fn, concurrency=2))) as results:
        async for _ in results:
            break
    # Still the caller's: it goes on where the fan-out stopped pulling.
    following = await anext(source)
    assert 0 < following < 100
    await source.aclose()


async def test_cancelling_the_consumer_cancels_the_workers() -> None:
    cancelled: list[int] = []
    started = asyncio.Event()

    async def fn(i: int) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    async def consume() -> None:
        async for _ in bounded_map(range(10), fn, concurrency=3):
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [0, 1, 2]


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5, "4"])
async def test_invalid_concurrency(concurrency: object) -> None:
    async def fn(i: int) -> int:
        return i

    with pytest.raises(br.InvalidArgumentError, match="concurrency"):
        [r async for r in bounded_map(range(3), fn, concurrency=concurrency)]  # type: ignore[arg-type]


def test_recording_outcome() -> None:
    err = br.NotFoundError(status=404, code=None, message="nope")
    assert br.RecordingOutcome(recording_id="r1", error=err).ok is False
    assert br.RecordingOutcome(recording_id="r1").ok is True


async def test_a_slot_handed_to_a_cancelled_waiter_goes_to_the_next() -> None:
    slots = _Slots(1)
    await slots.acquire()
    first = asyncio.ensure_future(slots.acquire())
    second = asyncio.ensure_future(slots.acquire())
    await settle()
    slots.release()  # handed to `first`...
    first.cancel()  # ...which is cancelled before it resumes
    await settle()
    assert first.cancelled()
    assert second.done() and not second.cancelled()  # the slot went on, not lost


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    slots = _Slots(1)
    await slots.acquire()
    gone = asyncio.ensure_future(slots.acquire())
    await settle()
    gone.cancel()
    await settle()
    slots.release()  # nobody waits now: the slot is free again
    await asyncio.wait_for(slots.acquire(), timeout=5)
