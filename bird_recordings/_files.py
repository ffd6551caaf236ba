"""Safe local files: write to a temporary file beside the target, then rename.

All file-system calls run on a small thread pool, batched (one hop per ~1 MiB,
not per chunk), so the event loop never blocks on disk I/O or hashing —
this library runs inside web servers. hashlib releases the GIL on large
buffers, so MD5 runs in parallel with the network reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
from concurrent.futures import Executor
from pathlib import Path
from typing import Final

from ._constants import TEMP_SUFFIX
from ._errors import DestinationExistsError, FileWriteError

__all__ = ["FileSink", "file_md5", "temp_path_for"]

WRITE_BATCH_BYTES: Final = 1024 * 1024

# Indirection so tests can simulate a full disk without touching the os module.
_write = os.write


def temp_path_for(final: Path) -> Path:
    """A hidden, unique temporary name in the target's own directory (same file system)."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _write_all(fd: int, chunks: list[bytes], hasher: hashlib._Hash | None) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            written = _write(fd, view)
            view = view[written:]
        if hasher is not None:
            hasher.update(chunk)


def file_md5(path: Path, block: int = WRITE_BATCH_BYTES) -> str:
    """Hex MD5 of a file (blocking: run it in an executor)."""
    hasher = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while data := handle.read(block):
            hasher.update(data)
    return hasher.hexdigest()


def _os_error(action: str, path: Path, exc: OSError) -> FileWriteError:
    reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    error = FileWriteError(f"could not {action} {path}: {reason}")
    error.errno = exc.errno
    return error


class FileSink:
    """Streams bytes into ``<dir>/.<name>.<random>.part`` and renames it into place.

    ``open`` → ``write``… → ``commit`` on success; ``discard`` on any failure.
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
        self._fd: int | None = None
        self._hasher = hashlib.md5(usedforsecurity=False) if hash_md5 else None
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._pending: asyncio.Future[None] | None = None
        self.bytes_written = 0

    async def _run(self, fn: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    def _open_sync(self) -> int:
        if not self._overwrite and self.final.exists():
            raise DestinationExistsError(f"{self.final} exists; pass overwrite=True to replace it")
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            return os.open(self.temp, flags, 0o644)
        except OSError as exc:
            raise _os_error("create a temporary file for", self.final, exc) from exc

    async def open(self) -> None:
        """Create the temporary file (refusing an existing target unless overwriting)."""
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(self._executor, self._open_sync)
        try:
            # Shielded: a cancelled await must not lose the fd the thread still creates.
            self._fd = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The thread runs on regardless; remove its file once it is done.
            opening.add_done_callback(self._discard_opened)
            raise

    def _discard_opened(self, opening: asyncio.Future[int]) -> None:
        if opening.cancelled() or opening.exception() is not None:
            return
        os.close(opening.result())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)

    async def write(self, chunk: bytes) -> None:
        """Queue ``chunk``; a full batch is handed to the writer thread."""
        self._batch.append(chunk)
        self._batch_bytes += len(chunk)
        if self._batch_bytes >= WRITE_BATCH_BYTES:
            await self._flush()

    async def _wait_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                await pending
            except OSError as exc:
                raise _os_error("write", self.final, exc) from exc

    async def _flush(self) -> None:
        # One batch in flight while the next one fills: writes overlap with reads.
        await self._wait_pending()
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        self.bytes_written += self._batch_bytes
        self._batch_bytes = 0
        loop = asyncio.get_running_loop()
        assert self._fd is not None
        self._pending = loop.run_in_executor(
            self._executor, _write_all, self._fd, batch, self._hasher
        )

    def _truncate_sync(self) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)

    async def restart(self) -> None:
        """Drop everything written so far (the object changed; start from zero)."""
        self._batch, self._batch_bytes = [], 0
        await self._wait_pending()
        try:
            await self._run(self._truncate_sync)
        except OSError as exc:
            raise _os_error("truncate", self.temp, exc) from exc
        self.bytes_written = 0
        if self._hash:
            self._hasher = hashlib.md5(usedforsecurity=False)

    def _commit_sync(self) -> None:
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
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

    async def flush(self) -> None:
        """Write out everything queued so far."""
        await self._flush()
        await self._wait_pending()

    def md5_hexdigest(self) -> str | None:
        """MD5 of what was written, once :meth:`flush` returned."""
        return self._hasher.hexdigest() if self._hasher is not None else None

    async def commit(self) -> None:
        """Close the temporary file and move it to the final name."""
        await self.flush()
        try:
            await self._run(self._commit_sync)
        except DestinationExistsError:
            raise
        except OSError as exc:
            raise _os_error("finish", self.final, exc) from exc

    def _discard_sync(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)

    async def discard(self) -> None:
        """Remove the temporary file; safe to call after any failure, even when cancelled."""
        self._batch = []
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            try:
                await asyncio.shield(pending)
            except asyncio.CancelledError:
                # Cancelled again: finish the clean-up when the write returns.
                pending.add_done_callback(lambda _: self._discard_sync())
                raise
            except OSError:
                pass
        elif pending is not None and not pending.cancelled():
            pending.exception()  # retrieved, so asyncio does not log it
        self._discard_sync()
