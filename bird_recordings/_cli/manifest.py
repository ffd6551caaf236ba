r"""The ``sync`` manifest: what the archive folder holds, as JSON lines.

``<out>/.bird-recordings-manifest.jsonl`` starts with a header line
(``{"manifest": "bird-recordings", "version": 1}``) followed by one entry per
downloaded recording::

    {"id": …, "path": "2024/05/01/….mp3", "size_bytes": …, "etag": "\"…\"",
     "md5": …, "status": "available", "updated_at": "…Z", "fetched_at": "…Z",
     "recording": {…metadata without the presigned URL…},
     "transcript_id": …, "transcript_path": "2024/05/01/….vtt",
     "transcript_format": "vtt", "transcript_size_bytes": …}

The ``transcript_*`` keys are there once ``sync --with-transcripts`` saved the
recording's transcript (``null`` otherwise).

An entry is appended (and flushed) right after its file is renamed into
place, so the manifest never names a file that is not complete; a later line
for the same id wins. A line cut short by a crash is ignored. At the end of a
run the file is compacted to one line per id: written to a temporary file,
fsynced and renamed over the old one, so readers see the old or the new
manifest, never half of one.

The manifest is bookkeeping in a folder other people may write to, so it is
handled defensively: it is never followed through a symbolic link (a manifest
that is one is refused), the compaction's temporary file is created with
:func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``, a random name) in the folder,
and one ``sync`` at a time holds an exclusive :func:`fcntl.flock` on the
folder. Every file-system failure becomes a :class:`CLIError` with exit code 74
(:data:`~.common.EXIT_FILESYSTEM`); a busy folder exits with 75.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs

import bird_recordings as br

from .common import (
    EXIT_FILESYSTEM,
    EXIT_LOCKED,
    CLIError,
    file_system_error,
    format_time,
    recording_json,
)

__all__ = [
    "MANIFEST_NAME",
    "Entry",
    "Manifest",
    "sweep_stale_temp_files",
    "sweep_unless_syncing",
    "write_to_fd",
]

MANIFEST_NAME: Final = ".bird-recordings-manifest.jsonl"
_HEADER: Final = {"manifest": "bird-recordings", "version": 1}
_TEMP_PREFIX: Final = MANIFEST_NAME + "."
_TEMP_SUFFIX: Final = ".tmp"

#: How the manifest writes bytes to a file descriptor. A seam so that tests can
#: simulate a full disk (``ENOSPC``) or a failing one (``EIO``) without filling one.
write_to_fd: Callable[[int, bytes], int] = os.write

# The library's temporary names (see bird_recordings._files.temp_path_for):
# ".<final name>.<hex pid, run token and counter>.part", and this module's own
# compaction file. Nothing else is ever swept.
_STALE_NAMES: Final = (
    re.compile(r"\..+\.[0-9a-f]{7,}\.part"),
    re.compile(re.escape(_TEMP_PREFIX) + r"[A-Za-z0-9_]+" + re.escape(_TEMP_SUFFIX)),
)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = write_to_fd(fd, view)  # type: ignore[arg-type]
        view = view[written:]


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _refuse_symlink(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise file_system_error(f"read {path}", exc) from None
    if stat.S_ISLNK(mode):
        raise CLIError(
            f"{path} is a symbolic link; refusing to follow it (move it away or remove it)",
            EXIT_FILESYSTEM,
        )
    if not stat.S_ISREG(mode):
        raise CLIError(f"{path} is not a regular file", EXIT_FILESYSTEM)


@attrs.frozen(kw_only=True)
class Entry:
    """One archived recording."""

    id: str
    path: str
    size_bytes: int
    etag: str | None
    md5: str | None
    status: str
    updated_at: str
    fetched_at: str
    recording: dict[str, Any] = attrs.field(factory=dict)
    deleted_remote: bool = False
    transcript_id: str | None = None
    transcript_path: str | None = None
    transcript_format: str | None = None
    transcript_size_bytes: int | None = None

    @classmethod
    def from_download(cls, recording: br.Recording, path: str, result: br.DownloadResult) -> Entry:
        """The entry of a finished, verified download."""
        return cls(
            id=recording.id,
            path=path,
            size_bytes=result.size_bytes,
            etag=result.etag,
            md5=result.md5,
            status=str(recording.status),
            updated_at=format_time(recording.updated_at),
            fetched_at=format_time(datetime.now(UTC)),
            recording=recording_json(recording),
        )

    def is_current(self, recording: br.Recording, path: str) -> bool:
        """True when ``recording``'s metadata says nothing changed since this entry."""
        return (
            self.path == path
            and self.status == str(recording.status)
            and self.updated_at == format_time(recording.updated_at)
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON line of this entry."""
        return attrs.asdict(self)


class Manifest:
    """The manifest of one archive folder: lock, load, append, compact.

    Every method is blocking (run it in a thread) and raises :class:`CLIError`
    (exit 74, or 75 for :meth:`lock`) instead of ``OSError``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self.entries: dict[str, Entry] = {}
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._lines = 0

    def lock(self) -> None:
        """Create the folder if needed and take the exclusive lock of this archive.

        The lock is an :func:`fcntl.flock` on the folder itself, not on the
        manifest: compaction replaces the manifest's inode, the folder stays.
        It is released by :meth:`unlock` or when the process ends, however it ends.

        Raises:
            CLIError: another process holds it (exit 75), or the folder cannot
                be created or opened (exit 74).
        """
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise file_system_error(f"create or open {self.folder}", exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CLIError(
                    f"another sync is running into {self.folder} (it holds the lock); "
                    "wait for it to finish, then run again",
                    EXIT_LOCKED,
                ) from None
            raise file_system_error(f"lock {self.folder}", exc) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (closing the folder releases it)."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)

    def load(self) -> None:
        """Read the manifest if there is one. Unreadable lines are skipped.

        Raises:
            CLIError: the manifest is a symbolic link or cannot be read (exit 74).
        """
        self.entries.clear()
        self._lines = 0
        _refuse_symlink(self.path)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise file_system_error(f"read {self.path}", exc) from None
        try:
            with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            raise file_system_error(f"read {self.path}", exc) from None
        fields = {a.name for a in attrs.fields(Entry)}
        for line in text.splitlines():
            self._lines += 1
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or "id" not in data:
                    continue
                entry = Entry(**{k: v for k, v in data.items() if k in fields})
            except (ValueError, TypeError, RecursionError):
                continue  # a line cut short by a crash, or from a newer version
            self.entries[entry.id] = entry

    def open(self) -> None:
        """Open for appending (creating the folder and the header if needed).

        Raises:
            CLIError: the manifest is a symbolic link, or the folder or the file
                cannot be created or written (exit 74).
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_system_error(f"create {self.folder}", exc) from None
        _refuse_symlink(self.path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self._fd = os.open(self.path, flags, 0o644)
            fresh = os.fstat(self._fd).st_size == 0
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # planted between the check and the open
                raise CLIError(
                    f"{self.path} is a symbolic link; refusing to follow it", EXIT_FILESYSTEM
                ) from None
            raise file_system_error(f"write {self.path}", exc) from None
        if fresh:
            self._write(_HEADER)

    def _write(self, data: dict[str, Any]) -> None:
        if self._fd is None:
            raise CLIError(f"the manifest {self.path} is not open", EXIT_FILESYSTEM)
        try:
            _write_all(self._fd, _line(data))
        except OSError as exc:
            raise file_system_error(f"write the manifest {self.path}", exc) from None
        self._lines += 1

    def record(self, entry: Entry) -> None:
        """Append ``entry`` (one small write, no buffering).

        The entry is kept in memory first, so a failed append still reaches the
        compacted manifest if the disk recovers before the run ends.

        Raises:
            CLIError: the write failed (exit 74).
        """
        self.entries[entry.id] = entry
        self._write(entry.to_json())

    def close(self) -> None:
        """Close the append handle."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def compact(self) -> None:
        """Rewrite to one line per id, atomically (temporary file, fsync, rename).

        On failure the previous manifest is left as it was (with every line
        appended so far) and the temporary file is removed.

        Raises:
            CLIError: the manifest is a symbolic link, or a write failed (exit 74).
        """
        self.close()
        _refuse_symlink(self.path)
        if not self.entries and not self.path.exists():
            return
        try:
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=self.folder)
        except OSError as exc:
            raise file_system_error(f"write the manifest in {self.folder}", exc) from None
        try:
            try:
                os.fchmod(fd, 0o644)
                data = [_line(_HEADER)]
                for entry in sorted(self.entries.values(), key=lambda e: e.path):
                    data.append(_line(entry.to_json()))
                _write_all(fd, b"".join(data))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise file_system_error(f"write the manifest {self.path}", exc) from None
        self._lines = len(self.entries) + 1


def sweep_stale_temp_files(folder: Path, *, before: float) -> int:
    """Remove this tool's temporary files under ``folder`` last modified before ``before``.

    Only the library's own temporary names (``.<name>.<hex>.part``) and the
    manifest's compaction file are touched, and only regular files (never
    through a symbolic link). They are what a killed run leaves behind. Returns
    how many were removed; a file that cannot be removed is left alone.
    ``before`` is a :func:`time.time` value (the start of the run).
    """
    removed = 0
    if not folder.is_dir():
        return 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            if not any(p.fullmatch(name) for p in _STALE_NAMES):
                continue
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode) or info.st_mtime >= before:
                    continue
                os.unlink(path)
            except OSError:
                continue
            removed += 1
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return removed


def sweep_unless_syncing(folder: Path, *, before: float) -> int:
    """:func:`sweep_stale_temp_files`, unless a ``sync`` holds ``folder`` right now.

    For ``download``, which takes no lock of its own: a sync running into the
    same folder owns its temporary files, so they are left to it.
    """
    manifest = Manifest(folder)
    try:
        manifest.lock()
    except CLIError:
        return 0
    try:
        return sweep_stale_temp_files(folder, before=before)
    finally:
        manifest.unlock()
