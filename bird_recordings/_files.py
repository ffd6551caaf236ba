"""Safe local files: write to a temporary file beside the target, then rename.

All file-system calls run on a small thread pool, batched, so the event loop
never blocks on disk I/O or hashing — this library runs inside web servers.
Each hand-off to a thread costs a context switch, so they are few: the
temporary file is created lazily by the first batch, and a file that fits in
one batch (2 MiB) is created, written, hashed, verified and renamed in a single
hand-off. On a slow link a partial batch goes to an idle writer thread early,
so little is left to do after the last byte. hashlib releases the GIL on large
buffers, and a hashing thread offers its core to the loop every 2 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import itertools
import logging
import os
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Final, TypeVar

from ._constants import LOGGER_NAME, TEMP_SUFFIX
from ._errors import DestinationExistsError, FileWriteError

__all__ = [
    "FileExecutor",
    "FileSink",
    "IOThreads",
    "InlineIO",
    "Job",
    "file_md5",
    "settle_allocator",
    "start_job",
    "temp_path_for",
]

logger: Final = logging.getLogger(LOGGER_NAME)
T = TypeVar("T")

WRITE_BATCH_BYTES: Final = 2 * 1024 * 1024
# Adaptive batching (see FileSink.write): a partial batch of at least this much
# goes to an idle writer thread if the last hand-off was this long ago.
EARLY_BATCH_BYTES: Final = 256 * 1024
EARLY_HANDOFF_INTERVAL_S: Final = 0.02

# See settle_allocator(): twice a batch, so one batch filling while another is
# in the writer thread never reaches glibc's trim threshold (twice this size).
_ALLOCATOR_PROBE_BYTES: Final = 2 * WRITE_BATCH_BYTES
_allocator_settled = False


def settle_allocator() -> None:
    """Keep glibc from returning a batch's memory to the OS after every batch.

    Received chunks (~256 KiB ``bytes``) wait in a batch of up to 2 MiB. When
    the batch is freed, glibc's default trim threshold (2 x its mmap threshold,
    which starts at 128 KiB and has grown to the chunk size) is exceeded, the
    heap top is handed back to the kernel, and the next batch faults every page
    in again: about 100,000 page faults per 500 MiB, halving throughput.

    glibc raises both thresholds when a block it had to ``mmap`` is freed
    (the "dynamic mmap threshold" in ``mallopt(3)``). One allocation of twice a
    batch, freed at once, moves them above the batch size for the process —
    the same thing any program that once used a 4 MiB buffer gets. It does not
    override settings (an explicit ``MALLOC_*`` setting turns the adjustment
    off, and glibc then does exactly what it was told), and on other allocators
    it is one short-lived 4 MiB allocation. Done once per process.
    """
    global _allocator_settled
    if not _allocator_settled:
        _allocator_settled = True
        # calloc-backed and freed at once: no pages are touched.
        probe = bytes(_ALLOCATOR_PROBE_BYTES)
        del probe


# Indirection so tests can simulate a full disk without touching the os module.
_write = os.write


_RUN_TOKEN: Final = secrets.token_hex(3)
_sequence = itertools.count()


def temp_path_for(final: Path) -> Path:
    """A hidden, unique temporary name in the target's own directory (same file system).

    Unique per process (pid, a random run token, a counter) without a system
    call per file; ``O_EXCL`` on creation guards against anything else.
    """
    suffix = f"{os.getpid():x}{_RUN_TOKEN}{next(_sequence):x}"
    return final.with_name(f".{final.name}.{suffix}{TEMP_SUFFIX}")


def _write_all(fd: int, chunks: list[bytes], hasher: hashlib._Hash | None) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            written = _write(fd, view)
            view = view[written:]
        if hasher is not None:
            hasher.update(chunk)
            _let_the_loop_run()


# Hashing is the long CPU burst of a writer thread. Where the event loop shares
# a core with it, the OS may let the thread run on for many milliseconds while
# the loop waits. Offering the core every 2 ms of hashing bounds that wait (the
# loop-lag figures are in docs/performance.md); with a core to spare,
# sched_yield() returns at once. Not done for plain writes: there it cost
# throughput and did not bound the lag.
YIELD_EVERY_S: Final = 0.002
_sched_yield: Callable[[], None] | None = getattr(os, "sched_yield", None)
_monotonic = time.monotonic
_thread_state = threading.local()


def _let_the_loop_run() -> None:
    if _sched_yield is None:
        return
    now = _monotonic()
    if now - getattr(_thread_state, "yielded_at", 0.0) >= YIELD_EVERY_S:
        _thread_state.yielded_at = now
        _sched_yield()


def file_md5(path: Path, block: int = EARLY_BATCH_BYTES) -> str:
    """Hex MD5 of a file (blocking: run it in an executor)."""
    hasher = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while data := handle.read(block):
            hasher.update(data)
            _let_the_loop_run()
    return hasher.hexdigest()


def _os_error(action: str, path: Path, exc: OSError) -> FileWriteError:
    reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    error = FileWriteError(f"could not {action} {path}: {reason}")
    error.errno = exc.errno
    return error


class Job:
    """One call running in an I/O thread, awaited on the event loop.

    The hand-off is lean, because a download makes one per 2 MiB batch: a queue
    put in; and back, a ``call_soon_threadsafe`` only if the loop is already
    waiting for the end (or has a callback on it). A batch written while the
    next one fills wakes nobody: the loop finds it done when it comes back
    (no self-pipe write, no extra loop iteration, no context switch).

    Cancelling a task that awaits :meth:`wait` never stops the call: it runs
    to its end, and :meth:`wait` may be awaited again (what ``asyncio.shield``
    gives, without its extra future and callbacks).
    """

    __slots__ = (
        "_args",
        "_callbacks",
        "_done",
        "_error",
        "_fn",
        "_listening",
        "_lock",
        "_loop",
        "_result",
        "_waiter",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        self._loop = loop
        self._fn: Callable[..., Any] | None = fn
        self._args = args
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._callbacks: list[Callable[[], object]] = []
        # Whether the loop must be told of the end; guarded with _done by _lock.
        self._listening = False
        self._lock = threading.Lock()

    def run(self) -> None:
        """Run the call (in the I/O thread); wake the loop only if it waits for the end."""
        fn, args = self._fn, self._args
        self._fn, self._args = None, ()
        result: Any = None
        error: BaseException | None = None
        try:
            if fn is not None:
                result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
        with self._lock:
            self._result = result
            self._error = error
            self._done = True
            listening = self._listening
        if listening:
            # A closed loop (RuntimeError) means nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake)

    def _listen(self) -> bool:
        """Ask to be woken at the end; False if the call has already ended."""
        with self._lock:
            if self._done:
                return False
            self._listening = True
            return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def done(self) -> bool:
        """True once the call has ended."""
        return self._done

    def add_done_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` on the loop when the call ends (at once if it has)."""
        if self._listen():
            self._callbacks.append(callback)
        else:
            callback()

    async def wait(self) -> Any:
        """The call's result, or its exception raised."""
        if not self._done and self._listen():
            waiter = self._waiter = self._loop.create_future()
            await waiter
        if self._error is not None:
            raise self._error
        return self._result


def _run_into(
    future: Future[T], fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Run ``fn`` for a ``concurrent.futures`` future, unless it was cancelled first."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - handed to the future
        future.set_exception(exc)
    else:
        future.set_result(result)


class IOThreads(Executor):
    """A fixed set of I/O threads fed from one queue: a lean ``Executor``.

    ``concurrent.futures.ThreadPoolExecutor`` costs several locks and two
    chained futures per call; :func:`start_job` costs a queue put. The threads
    start on the first call. They are daemon threads, so a client that is never
    closed cannot hold the interpreter open; :meth:`shutdown` (``aclose()``)
    lets queued work finish and joins them. A forked child (a prefork worker
    that inherited a parent's client) starts threads of its own on its first
    call instead of queueing work for threads that do not exist in it.
    """

    def __init__(self, max_workers: int = 2, *, name: str = "bird-recordings-io") -> None:
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut_down = False
        _live_pools.add(self)

    def _after_fork_in_child(self) -> None:
        # Only the forking thread survives a fork: the pool starts afresh.
        self._queue = queue.SimpleQueue()
        self._threads = []
        self._lock = threading.Lock()

    def put(self, work: Callable[[], None]) -> None:
        """Queue ``work()`` (it must not raise) for the next free thread."""
        if self._shut_down:
            raise RuntimeError("cannot schedule new work after shutdown")
        if len(self._threads) < self._max_workers:
            self._start_threads()
        self._queue.put(work)

    def _start_threads(self) -> None:
        with self._lock:
            while len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        get = self._queue.get
        while (work := get()) is not None:
            try:
                work()
            except BaseException:  # pragma: no cover - work reports its own errors
                logger.exception("an I/O thread's work failed")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """``concurrent.futures`` style, for ``loop.run_in_executor``."""
        future: Future[T] = Future()
        self.put(functools.partial(_run_into, future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work; queued work still runs; with ``wait``, join the threads."""
        with self._lock:
            self._shut_down = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


class InlineIO(Executor):
    """No threads: file work runs where it is asked for, on the event loop.

    For ``RecordingsClient(io_threads=0)``: batch jobs on one core, where the
    loop's responsiveness matters less than the hand-offs to a thread cost.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn`` now; its result (or error) in a finished future."""
        future: Future[T] = Future()
        _run_into(future, fn, args, kwargs)
        return future


_live_pools: weakref.WeakSet[IOThreads] = weakref.WeakSet()


def _reset_pools_in_child() -> None:
    for pool in list(_live_pools):
        pool._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pools_in_child)


def start_job(executor: Executor, fn: Callable[..., Any], *args: Any) -> Job:
    """Run ``fn(*args)`` in ``executor``; await :meth:`Job.wait` for its end."""
    job = Job(asyncio.get_running_loop(), fn, args)
    if isinstance(executor, InlineIO):
        job.run()  # done before wait(): nobody listens, so no loop wake-up
    elif isinstance(executor, IOThreads):
        executor.put(job.run)
    else:
        executor.submit(job.run)
    return job


class FileSink:
    """Streams bytes into ``<dir>/.<name>.<random>.part`` and renames it into place.

    ``check_target`` → ``write``… → ``commit`` on success; ``discard`` on any
    failure. At most one batch is in a writer thread at a time, so the file
    descriptor and the hasher are never used by two threads at once, and the
    next batch fills while the previous one is written.
    """

    def __init__(
        self, final: Path, *, executor: Executor, overwrite: bool, hash_md5: bool, fsync: bool
    ) -> None:
        self.final = final
        self.temp = temp_path_for(final)
        self._executor = executor
        self._overwrite = overwrite
        self._hash = hash_md5
        self._fsync = fsync
        self._fd: int | None = None  # set by the writer thread
        self._hasher = hashlib.md5(usedforsecurity=False) if hash_md5 else None
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._pending: Job | None = None
        # Loop time of the last hand-off to the writer thread (or of the first
        # batch that could have gone early).
        self._handed_at: float | None = None
        self._hash_decided = False
        self.bytes_written = 0
        self.md5: str | None = None

    def check_target(self) -> None:
        """Refuse an existing target unless overwriting (one ``stat``, before any request)."""
        if self._overwrite:
            return
        try:
            exists = self.final.exists()
        except OSError as exc:
            raise _os_error("check", self.final, exc) from exc
        if exists:
            raise DestinationExistsError(f"{self.final} exists; pass overwrite=True to replace it")

    # -- writer-thread side ---------------------------------------------------

    def _create(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                return os.open(self.temp, flags, 0o644)
            except FileNotFoundError:
                self.final.parent.mkdir(parents=True, exist_ok=True)
                return os.open(self.temp, flags, 0o644)
        except OSError as exc:
            raise _os_error("create a temporary file for", self.final, exc) from exc

    def _write_batch(self, batch: list[bytes], size: int) -> None:
        """Write one batch (in the writer thread)."""
        self._write_out(batch, size)

    def _write_out(self, batch: list[bytes], size: int) -> int:
        """Write one batch (creating the file first); return the file's descriptor."""
        fd = self._fd
        if fd is None:
            fd = self._fd = self._create()
        try:
            _write_all(fd, batch, self._hasher)
        except OSError as exc:
            raise _os_error("write", self.final, exc) from exc
        self.bytes_written += size
        return fd

    def _finish(
        self, batch: list[bytes], size: int, check: Callable[[int, str | None], None]
    ) -> None:
        fd = self._write_out(batch, size)
        self.md5 = self._hasher.hexdigest() if self._hasher is not None else None
        check(self.bytes_written, self.md5)
        self._fd = None
        try:
            try:
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._move_into_place()
        except DestinationExistsError:
            raise
        except OSError as exc:
            raise _os_error("finish", self.final, exc) from exc

    def _move_into_place(self) -> None:
        if self._overwrite:
            os.replace(self.temp, self.final)
            return
        # No-clobber, race-free: link fails if the name appeared meanwhile.
        try:
            os.link(self.temp, self.final)
        except FileExistsError:
            raise DestinationExistsError(
                f"{self.final} appeared during the download; pass overwrite=True to replace it"
            ) from None
        except OSError:
            # File systems without hard links: fall back to a plain rename.
            if self.final.exists():
                raise DestinationExistsError(f"{self.final} exists") from None
            os.replace(self.temp, self.final)
            return
        os.unlink(self.temp)

    def _truncate(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                os.lseek(self._fd, 0, os.SEEK_SET)
            except OSError as exc:
                raise _os_error("truncate", self.temp, exc) from exc
        self.bytes_written = 0
        if self._hash:
            self._hasher = hashlib.md5(usedforsecurity=False)

    def _cleanup(self) -> None:
        # Best effort, and never an error of its own: on a read-only folder, a
        # parent that is a file or a name too long, unlink fails just as the
        # create did, and the caller must see that first error (FileWriteError),
        # not this one.
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError, ValueError):
            os.unlink(self.temp)

    # -- event-loop side --------------------------------------------------------

    def set_hashing(self, on: bool) -> None:
        """Hash (or not) the bytes from here on; only before the first byte is queued.

        Called once the storage's first answer shows whether its ETag is an MD5
        at all. :meth:`restart` goes back to the constructor's choice.
        """
        if self._batch_bytes or self.bytes_written:
            raise RuntimeError("set_hashing() after bytes were written")
        if not on:
            self._hasher = None
        elif self._hash and self._hasher is None:
            self._hasher = hashlib.md5(usedforsecurity=False)

    def _take_batch(self) -> tuple[list[bytes], int]:
        batch, size = self._batch, self._batch_bytes
        self._batch, self._batch_bytes = [], 0
        return batch, size

    async def _wait_pending(self) -> None:
        pending = self._pending
        if pending is None:
            return
        # If we are cancelled, the job runs on and stays known to discard(),
        # which must not close the file under a thread that is still writing it.
        await pending.wait()
        self._pending = None

    def accept(self, expected_md5: str | None) -> None:
        """The storage's answer is known: hash only if its ETag is an MD5 to check.

        Decided once, before the first byte (again after :meth:`restart`): no
        CPU is spent on a multipart or SSE-KMS ETag, which is not the MD5 of
        the bytes.
        """
        if not self._hash_decided:
            self._hash_decided = True
            self.set_hashing(expected_md5 is not None)

    def add(self, chunk: bytes) -> bool:
        """Queue ``chunk``; True when a batch should go to the writer (:meth:`flush`)."""
        self._batch.append(chunk)
        size = self._batch_bytes = self._batch_bytes + len(chunk)
        if size >= WRITE_BATCH_BYTES:
            return True
        # On a slow link, hand a partial batch to an idle writer thread, so
        # little is left to write and hash after the last byte and each
        # job is short. At full speed batches fill before the interval.
        if size < EARLY_BATCH_BYTES:
            return False
        pending = self._pending
        if pending is not None and not pending.done():
            return False
        now = _monotonic()
        if self._handed_at is None:
            self._handed_at = now  # the clock starts with the first full-size wait
        return now - self._handed_at >= EARLY_HANDOFF_INTERVAL_S

    async def flush(self) -> None:
        """Hand the queued batch to the writer thread (after the previous one is done)."""
        await self._wait_pending()
        batch, size = self._take_batch()
        if not batch:
            return
        self._handed_at = _monotonic()
        self._pending = start_job(self._executor, self._write_batch, batch, size)

    async def write(self, chunk: bytes) -> None:
        """Queue ``chunk``; a full batch is handed to the writer thread."""
        if self.add(chunk):
            await self.flush()

    async def restart(self) -> None:
        """Drop everything written so far (the object changed; start from zero)."""
        self._take_batch()
        self._hash_decided = False
        await self._wait_pending()
        self._pending = start_job(self._executor, self._truncate)
        await self._wait_pending()

    async def commit(self, check: Callable[[int, str | None], None]) -> None:
        """Write the rest, run ``check(bytes_written, md5)`` and rename into place.

        ``check`` runs in the writer thread and raises to refuse the file. If
        the caller is cancelled meanwhile, the job runs to its end (a rename
        cannot be stopped halfway) and :meth:`discard` waits for it: the target
        is then either the complete file or untouched.
        """
        await self._wait_pending()
        batch, size = self._take_batch()
        self._pending = start_job(self._executor, self._finish, batch, size, check)
        await self._wait_pending()

    async def discard(self) -> None:
        """Remove the temporary file; safe to call after any failure, even when cancelled."""
        self._take_batch()
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            try:
                await pending.wait()
            except asyncio.CancelledError:
                # Cancelled again: finish the clean-up when the thread returns.
                pending.add_done_callback(self._cleanup)
                raise
            except Exception:  # noqa: BLE001, S110 - the job's own error is already being raised
                pass
        self._cleanup()


class FileExecutor:
    """The file I/O threads of one client (and its views), created on first use."""

    def __init__(self, max_workers: int = 2) -> None:
        self._max_workers = max_workers
        self._executor: IOThreads | InlineIO | None = None

    def get(self) -> IOThreads | InlineIO:
        """The I/O threads (or :class:`InlineIO` for none), made once; settles the allocator."""
        if self._executor is None:
            settle_allocator()
            self._executor = IOThreads(self._max_workers) if self._max_workers > 0 else InlineIO()
        return self._executor

    def shutdown(self) -> None:
        """Stop the threads (pending work finishes); a later :meth:`get` starts new ones."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
