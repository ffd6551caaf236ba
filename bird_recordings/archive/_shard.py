"""archive_shard: list one window, store what the sink does not hold yet, report."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from attrs import frozen

from bird_recordings._bulk import bounded_map, check_concurrency
from bird_recordings._converter import format_datetime
from bird_recordings._errors import BirdRecordingsError
from bird_recordings._models import Recording, RecordingStatus

from ._plan import Shard
from ._sinks import ArchiveSink

if TYPE_CHECKING:
    from bird_recordings._client import RecordingsClient

__all__ = ["DEFAULT_ARCHIVE_CONCURRENCY", "RecordingArchived", "ShardReport", "archive_shard"]

#: Recordings of one shard fetched at once.
DEFAULT_ARCHIVE_CONCURRENCY: Final = 8
_PAGE_SIZE: Final = 99  # Bird's maximum: fewest list requests against the GET budget

ArchiveStatus = Literal["archived", "skipped", "failed", "ignored"]


@frozen(kw_only=True)
class RecordingArchived:
    """What happened to one recording of a shard (passed to ``progress``).

    ``status`` is ``"archived"`` (stored now), ``"skipped"`` (the sink already
    held it, verified), ``"failed"`` (see ``error``) or ``"ignored"`` (listed
    but without media, or outside the shard's window).
    """

    recording_id: str
    status: ArchiveStatus
    size_bytes: int = 0
    error: BirdRecordingsError | None = None


@frozen(kw_only=True)
class ShardReport:
    """The outcome of :func:`archive_shard`: counts, bytes, and each failure.

    ``failures`` maps recording ids to a one-line reason (no URL query, no key).
    """

    shard: Shard
    listed: int
    archived: int
    skipped: int
    ignored: int
    bytes_archived: int
    failures: dict[str, str]

    @property
    def failed(self) -> int:
        """How many recordings failed."""
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True when no recording failed."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (Celery results, status objects, ``--json``)."""
        return {
            "shard": self.shard.id,
            "window": self.shard.to_dict(),
            "listed": self.listed,
            "archived": self.archived,
            "skipped": self.skipped,
            "ignored": self.ignored,
            "failed": self.failed,
            "bytesArchived": self.bytes_archived,
            "failures": dict(self.failures),
        }


def worker_name() -> str:
    """``host:pid`` of this process, as status objects name the worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    return format_datetime(datetime.now(UTC))


async def archive_shard(
    client: RecordingsClient,
    shard: Shard,
    sink: ArchiveSink,
    *,
    concurrency: int = DEFAULT_ARCHIVE_CONCURRENCY,
    progress: Callable[[RecordingArchived], object] | None = None,
) -> ShardReport:
    """Archive every recording of ``shard`` into ``sink``; return a :class:`ShardReport`.

    Lists the window (``start_at``/``end_at``, ``status``), then for each
    recording created inside ``[shard.start, shard.end)`` either finds it in
    the sink complete and verified (size and MD5) and skips it, or stores its
    media and metadata. At most ``concurrency`` recordings are in flight; the
    client's rate limit and retries apply. One recording's failure is recorded
    in ``report.failures`` and never stops the others.

    Idempotent: running a shard twice, or again after a crash half-way, ends
    with the same sink contents, and the second run fetches no media it
    already holds. The sink gets a status object for the shard: ``running``
    at the start, ``done`` or ``failed`` (some recordings failed) at the end.

    Raises:
        BirdRecordingsError: listing the window failed after the client's
            retries (the shard's status stays ``running`` until it is run again),
            or the sink could not write the status object (:class:`SinkError`).
        InvalidArgumentError: a bad ``concurrency``.
    """
    check_concurrency(concurrency)
    started = _now()
    await sink.write_status(
        shard.id,
        {
            "shard": shard.id,
            "window": shard.to_dict(),
            "state": "running",
            "worker": worker_name(),
            "startedAt": started,
            "updatedAt": started,
        },
    )
    pager = client.list_recordings(
        start_at=shard.start, end_at=shard.end, status=shard.status, limit=_PAGE_SIZE
    )
    seen: set[str] = set()

    async def one(recording: Recording) -> RecordingArchived:
        rid = recording.id
        if (
            rid in seen
            or recording.status != RecordingStatus.AVAILABLE
            or not shard.contains(recording.created_at)
        ):
            # A boundary recording belongs to the shard whose window holds it.
            return RecordingArchived(recording_id=rid, status="ignored")
        seen.add(rid)
        try:
            held = await sink.holds(recording)
            if held is not None:
                return RecordingArchived(
                    recording_id=rid, status="skipped", size_bytes=held.size_bytes
                )
            stored = await sink.store(client, recording)
        except BirdRecordingsError as exc:
            return RecordingArchived(recording_id=rid, status="failed", error=exc)
        return RecordingArchived(recording_id=rid, status="archived", size_bytes=stored.size_bytes)

    counts = {"archived": 0, "skipped": 0, "ignored": 0}
    listed = 0
    archived_bytes = 0
    failures: dict[str, str] = {}
    async with contextlib.aclosing(bounded_map(pager, one, concurrency=concurrency)) as outcomes:
        async for outcome in outcomes:
            listed += 1
            if outcome.error is not None:
                failures[outcome.recording_id] = f"{type(outcome.error).__name__}: {outcome.error}"
            else:
                counts[outcome.status] += 1
                if outcome.status == "archived":
                    archived_bytes += outcome.size_bytes
            if progress is not None:
                progress(outcome)
    report = ShardReport(
        shard=shard,
        listed=listed,
        archived=counts["archived"],
        skipped=counts["skipped"],
        ignored=counts["ignored"],
        bytes_archived=archived_bytes,
        failures=failures,
    )
    await sink.write_status(
        shard.id,
        {
            **report.to_dict(),
            "state": "done" if report.ok else "failed",
            "worker": worker_name(),
            "startedAt": started,
            "updatedAt": _now(),
        },
    )
    return report
