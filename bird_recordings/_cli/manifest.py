"""The ``sync`` manifest: what the archive folder holds, as JSON lines.

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
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import attrs

import bird_recordings as br

from .common import format_time, recording_json

__all__ = ["MANIFEST_NAME", "Entry", "Manifest"]

MANIFEST_NAME: Final = ".bird-recordings-manifest.jsonl"
_HEADER: Final = {"manifest": "bird-recordings", "version": 1}


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
    """The manifest of one archive folder: load, append, compact."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self.entries: dict[str, Entry] = {}
        self._handle: IO[str] | None = None
        self._lines = 0

    def load(self) -> None:
        """Read the manifest if there is one (blocking). Unreadable lines are skipped."""
        self.entries.clear()
        self._lines = 0
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        fields = {a.name for a in attrs.fields(Entry)}
        for line in text.splitlines():
            self._lines += 1
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or "id" not in data:
                    continue
                entry = Entry(**{k: v for k, v in data.items() if k in fields})
            except (ValueError, TypeError):
                continue  # a line cut short by a crash, or from a newer version
            self.entries[entry.id] = entry

    def open(self) -> None:
        """Open for appending (creating the folder and the header if needed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", encoding="utf-8")
        if fresh:
            self._write(_HEADER)

    def _write(self, data: dict[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n")
        self._handle.flush()
        self._lines += 1

    def record(self, entry: Entry) -> None:
        """Append ``entry`` (one small write and a flush)."""
        self.entries[entry.id] = entry
        self._write(entry.to_json())

    def close(self) -> None:
        """Close the append handle."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()

    def compact(self) -> None:
        """Rewrite to one line per id, atomically (temp file, fsync, rename)."""
        self.close()
        if not self.entries and not self.path.exists():
            return
        temp = self.path.with_name(f"{MANIFEST_NAME}.{os.getpid()}.tmp")
        try:
            with temp.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(_HEADER, sort_keys=True) + "\n")
                for entry in sorted(self.entries.values(), key=lambda e: e.path):
                    handle.write(json.dumps(entry.to_json(), sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._lines = len(self.entries) + 1
