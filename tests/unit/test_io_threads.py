"""The lean I/O threads and the jobs a FileSink hands them."""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from collections.abc import Iterator

import pytest

from bird_recordings._files import IOThreads, Job, start_job


@pytest.fixture
def threads() -> Iterator[IOThreads]:
    pool = IOThreads(2, name="test-io")
    yield pool
    pool.shutdown(wait=True)


async def test_a_job_returns_its_result_from_an_io_thread(threads: IOThreads) -> None:
    job = start_job(threads, lambda a, b: (a + b, threading.current_thread().name), 2, 3)
    total, name = await job.wait()
    assert total == 5
    assert name.startswith("test-io_")
    assert job.done()


async def test_a_job_raises_its_error(threads: IOThreads) -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    job = start_job(threads, fail)
    with pytest.raises(OSError, match="No space"):
        await job.wait()


async def test_cancelling_the_waiter_leaves_the_job_running(threads: IOThreads) -> None:
    release = threading.Event()
    ran: list[str] = []

    def slow() -> str:
        release.wait(timeout=10)
        ran.append("done")
        return "result"

    job = start_job(threads, slow)
    waiter = asyncio.ensure_future(job.wait())
    await asyncio.sleep(0)  # the waiter is now waiting
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not job.done()
    ended: list[bool] = []
    job.add_done_callback(lambda: ended.append(True))
    release.set()
    assert await job.wait() == "result"  # awaited again after the cancellation
    assert ran == ["done"]
    assert ended == [True]
    job.add_done_callback(lambda: ended.append(False))  # already done: called at once
    assert ended == [True, False]


async def test_run_in_executor_works_on_the_io_threads(threads: IOThreads) -> None:
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(threads, pow, 2, 10) == 1024
    with pytest.raises(ZeroDivisionError):
        await loop.run_in_executor(threads, divmod, 1, 0)


def test_shutdown_runs_queued_work_joins_and_refuses_more() -> None:
    pool = IOThreads(2, name="shutdown-check")
    done: list[int] = []
    futures = [pool.submit(done.append, n) for n in range(50)]
    pool.shutdown(wait=True)
    assert sorted(done) == list(range(50))
    assert all(f.done() for f in futures)
    assert not [t for t in threading.enumerate() if t.name.startswith("shutdown-check_")]
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(done.append, 99)


def test_the_threads_never_hold_the_interpreter_open() -> None:
    pool = IOThreads(1, name="daemon-check")
    try:
        pool.submit(int).result(timeout=10)
        [thread] = [t for t in threading.enumerate() if t.name.startswith("daemon-check_")]
        assert thread.daemon
    finally:
        pool.shutdown(wait=True)


class RecordingLoop:
    """Stands in for the loop a Job reports to: records the wake-ups asked for."""

    def __init__(self) -> None:
        self.wakeups: list[object] = []

    def call_soon_threadsafe(self, callback: object, *args: object) -> None:
        self.wakeups.append(callback)


def test_a_job_nobody_waits_for_wakes_nobody() -> None:
    # A batch written while the next one fills must not cost a loop wake-up.
    loop = RecordingLoop()
    job = Job(loop, pow, (2, 3))  # type: ignore[arg-type]
    job.run()
    assert job.done()
    assert loop.wakeups == []


def test_a_job_with_a_listener_wakes_the_loop_once() -> None:
    loop = RecordingLoop()
    job = Job(loop, pow, (2, 3))  # type: ignore[arg-type]
    ended: list[bool] = []
    job.add_done_callback(lambda: ended.append(True))
    job.run()
    assert len(loop.wakeups) == 1
    assert ended == []  # it runs on the loop, when the loop gets to the wake-up


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_starts_threads_of_its_own() -> None:
    # A prefork worker may inherit a client whose threads ran in the parent:
    # only the forking thread exists in the child, so work must not wait for them.
    pool = IOThreads(1, name="fork-check")
    try:
        assert pool.submit(int, "1").result(timeout=10) == 1  # threads up in the parent
        read, write = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() beside threads
            pid = os.fork()
        if pid == 0:  # the child: answer through the pipe, never return into pytest
            try:
                done = pool.submit(int, "2").result(timeout=10) == 2
                os.write(write, b"ok" if done else b"no")
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 2)
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == b"ok"
    finally:
        pool.shutdown(wait=True)
