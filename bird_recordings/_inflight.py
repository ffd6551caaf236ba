"""The tasks doing network work for one client, so that closing it stops them.

aiohttp closes a session's connections when it is closed, but a response
being read at that moment is not woken: the download would wait for the
stall timeout, then retry on a closed session. So every request, download and
stream step runs inside :meth:`InFlight.guard`; :meth:`InFlight.stop` (called
by ``aclose()``) cancels the tasks inside a guard and waits for them, and the
guard turns that cancellation into :class:`ClientClosedError` for the caller.
A cancellation that came from elsewhere (the caller's own timeout) is left
alone. A borrowed session that its owner closes is noticed by polling
``session.closed`` while work is in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from ._errors import ClientClosedError

__all__ = ["InFlight"]

CLOSED_MESSAGE: Final = "this RecordingsClient is closed; create a new one"
STOPPED_MESSAGE: Final = (
    "the client was closed (or its borrowed aiohttp session was closed by its owner) "
    "while this transfer was in flight"
)
# How often a borrowed session is checked for having been closed by its owner.
SESSION_POLL_S: Final = 0.2


class InFlight:
    """Which tasks are inside a guard, how deep; stop them all with :meth:`stop`."""

    def __init__(self, session_closed: Callable[[], bool] | None = None) -> None:
        self._depth: dict[asyncio.Task[Any], int] = {}
        self._stopping: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._changed: asyncio.Event | None = None
        self._session_closed = session_closed
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def is_stopped(self) -> bool:
        """True once :meth:`stop` ran: every new guard raises :class:`ClientClosedError`."""
        return self._closed

    def guard(self) -> _Guard:
        """``async with inflight.guard():`` around work that ``aclose()`` must stop."""
        return _Guard(self)

    def _enter(self) -> asyncio.Task[Any] | None:
        if self._closed:
            raise ClientClosedError(CLOSED_MESSAGE)
        task = asyncio.current_task()
        if task is None:
            return None
        self._depth[task] = self._depth.get(task, 0) + 1
        if self._session_closed is not None and self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(
                self._watch(self._session_closed), name="bird-recordings-session-watch"
            )
        return task

    def _exit(self, task: asyncio.Task[Any]) -> bool:
        """Leave a guard; True if this was the outermost one of a task we cancelled."""
        depth = self._depth[task] - 1
        if depth:
            self._depth[task] = depth
            return False
        del self._depth[task]
        stopped = task in self._stopping
        self._stopping.discard(task)
        if self._changed is not None:
            self._changed.set()
        return stopped

    async def stop(self) -> None:
        """Refuse new work, cancel the tasks inside a guard and wait until they left it."""
        self._closed = True
        current = asyncio.current_task()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not current:
            watchdog.cancel()
        for task in self._depth:
            if task is not current and task not in self._stopping:
                self._stopping.add(task)
                task.cancel(STOPPED_MESSAGE)
        while any(task is not current for task in self._depth):
            self._changed = asyncio.Event()
            await self._changed.wait()
        self._changed = None

    async def _watch(self, session_closed: Callable[[], bool]) -> None:
        # One watcher at a time, ending at the first poll with nothing in flight
        # (not cancelled on every idle moment: that would cost a task per request).
        try:
            while True:
                await asyncio.sleep(SESSION_POLL_S)
                if not self._depth:
                    return
                if session_closed():
                    self._watchdog = None
                    await self.stop()
                    return
        finally:
            if self._watchdog is asyncio.current_task():
                self._watchdog = None


class _Guard:
    __slots__ = ("_inflight", "_task")

    def __init__(self, inflight: InFlight) -> None:
        self._inflight = inflight
        self._task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        self._task = self._inflight._enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._task
        if task is None or not self._inflight._exit(task):
            return
        # We cancelled this task. Take back exactly our cancellation; if someone
        # else cancelled it too, theirs goes on.
        if task.uncancel() > 0:
            return
        if exc is None:
            return  # it finished before the cancellation could land: keep the result
        raise ClientClosedError(STOPPED_MESSAGE) from (
            None if isinstance(exc, asyncio.CancelledError) else exc
        )
