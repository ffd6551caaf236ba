"""Single-flight: concurrent calls for one key share one call, with no task of their own.

The first caller for a key runs the call in its own task; callers arriving
meanwhile wait on a future and get its result (or its error). If the first
caller is cancelled, its call stops and one of the waiting callers runs the
call itself; a waiting caller that is cancelled leaves the call alone.
(A task per call would cost a task switch per download.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """One call in flight per key; see the module docstring."""

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    def in_flight(self, key: K) -> bool:
        """True while a call for ``key`` is running."""
        return key in self._calls

    def __len__(self) -> int:
        """How many keys have a call running."""
        return len(self._calls)

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """The result of ``call()``, shared with every caller for ``key`` meanwhile."""
        while (future := self._calls.get(key)) is not None:
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if future.cancelled() and task is not None and not task.cancelling():
                    continue  # the leading caller was cancelled, not us: take over
                raise
        # We lead (in this frame: a call's every suspension passes through each
        # frame above it, so the leader has no helper of its own).
        future = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await call()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting
            raise
        except BaseException:  # cancelled (or the process is going down)
            future.cancel()
            raise
        finally:
            if self._calls.get(key) is future:
                del self._calls[key]
        future.set_result(result)
        return result
