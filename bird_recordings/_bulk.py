"""Bounded-concurrency fan-out with per-item outcomes, in completion order.

A fixed pool of worker tasks pulls from the source (a list, any iterable or an
async iterable such as a pager), so 20,000 ids never become 20,000 tasks at
once (creating them all at once would stall the loop). The next item starts as soon as
a worker frees up. Breaking out of the ``async for`` cancels the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from typing import Final, TypeVar

from attrs import frozen

from ._errors import BirdRecordingsError, InvalidArgumentError
from ._models import Recording

__all__ = ["RecordingOutcome", "bounded_map"]

T = TypeVar("T")
R = TypeVar("R")

_DONE: Final = object()


@frozen
class _SourceFailed:
    error: BaseException


async def _as_async(source: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(source, AsyncIterable):
        iterator = aiter(source)
        try:
            async for item in iterator:
                yield item
        finally:
            # Close what we created (a pager's item generator) when the fan-out
            # stops early, so its connection and page fetches end now, not at GC.
            if iterator is not source and hasattr(iterator, "aclose"):
                await iterator.aclose()
    else:
        for item in source:
            yield item


class _Slots:
    """A counting semaphore that hands a freed slot straight to the next waiter.

    ``asyncio.Semaphore`` does the same job with a few more calls per item
    (its ``locked()`` scans the waiters); this runs once per recording.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self._free and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes to it directly
                return
        self._free += 1


class _Mailbox:
    """What the workers hand to the one consumer: a queue with one possible waiter."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[object] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: object) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> object:
        items = self._items
        while not items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return items.popleft()


def check_concurrency(concurrency: int) -> None:
    """Reject a concurrency that is not a positive integer."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be a positive integer, got {concurrency!r}")


async def bounded_map(
    source: Iterable[T] | AsyncIterable[T],
    fn: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
) -> AsyncGenerator[R, None]:
    """Run ``fn`` over ``source`` with at most ``concurrency`` in flight.

    Results are yielded in completion order. ``fn`` is expected to capture its
    own failures in its result; an exception escaping it, or raised by the
    source (a pager whose page request failed), stops the fan-out and is
    re-raised to the consumer after the workers are cancelled.
    """
    check_concurrency(concurrency)
    items = _as_async(source)
    # A plain iterable (a list of ids) is pulled with next(): one call, and no
    # lock, since nothing awaits between taking an item and the next worker's turn.
    plain = None if isinstance(source, AsyncIterable) else iter(source)
    pull_lock = asyncio.Lock()
    # Unbounded, so a worker never blocks while being cancelled; ``slots``
    # bounds what is in flight or finished but not yet consumed.
    results = _Mailbox()
    slots = _Slots(concurrency)

    async def worker() -> None:
        try:
            while True:
                await slots.acquire()
                if plain is not None:
                    item = next(plain, _DONE)
                else:
                    async with pull_lock:
                        item = await anext(items, _DONE)
                if item is _DONE:
                    slots.release()
                    return
                results.put(await fn(item))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, not swallowed
            results.put(_SourceFailed(exc))
        finally:
            results.put(_DONE)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        finished = 0
        while finished < len(workers):
            message = await results.get()
            if message is _DONE:
                finished += 1
            elif isinstance(message, _SourceFailed):
                raise message.error
            else:
                slots.release()
                yield message  # type: ignore[misc]
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await items.aclose()  # type: ignore[attr-defined]


@frozen(kw_only=True)
class RecordingOutcome:
    """What happened to one id of :meth:`RecordingsClient.get_recordings`.

    Exactly one of ``recording`` and ``error`` is set.
    """

    recording_id: str
    recording: Recording | None = None
    error: BirdRecordingsError | None = None

    @property
    def ok(self) -> bool:
        """True when the recording was fetched."""
        return self.error is None
