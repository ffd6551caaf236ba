"""The bulk download every command shares: plan, bounded worker pool, Ctrl-C, summary.

Files are written by :meth:`bird_recordings.RecordingsClient.download_recording`
(temporary file, verify length and MD5, rename), so a cancelled download never
leaves a partial file under its final name.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import attrs

import bird_recordings as br

from .common import EXIT_INTERRUPTED, EXIT_TERMINATED, CLIError
from .naming import NameTemplate, TemplateError
from .ui import ItemOutcome, ProgressView, Tally, short_reason

__all__ = ["Job", "plan_jobs", "run_interruptible", "run_jobs"]

T = TypeVar("T")


@attrs.frozen
class Job:
    """One recording to download to ``target`` (``relative`` to the output folder)."""

    recording: br.Recording
    relative: PurePosixPath
    target: Path


def plan_jobs(
    recordings: Iterable[br.Recording], names: NameTemplate
) -> tuple[list[Job], list[ItemOutcome]]:
    """Split recordings into jobs and immediate outcomes (not available, bad or clashing name).

    Blocking (it resolves paths): run it in a thread for large listings.
    """
    jobs: list[Job] = []
    outcomes: list[ItemOutcome] = []
    claimed: dict[PurePosixPath, str] = {}
    for rec in recordings:
        if not rec.is_available:
            outcomes.append(
                ItemOutcome(
                    recording_id=rec.id,
                    status="not-available",
                    reason=f"status is {rec.status}",
                )
            )
            continue
        try:
            relative, target = names.target(rec)
        except TemplateError as exc:
            outcomes.append(ItemOutcome(recording_id=rec.id, status="failed", reason=str(exc)))
            continue
        other = claimed.get(relative)
        if other is not None:
            outcomes.append(
                ItemOutcome(
                    recording_id=rec.id,
                    status="failed",
                    reason=f"--name gives {relative} to recording {other} too; add {{id}}",
                )
            )
            continue
        claimed[relative] = rec.id
        jobs.append(Job(rec, relative, target))
    return jobs, outcomes


async def run_jobs(
    client: br.RecordingsClient,
    jobs: Sequence[Job],
    *,
    concurrency: int,
    overwrite: bool,
    view: ProgressView,
    tally: Tally,
    on_result: Callable[[Job, br.DownloadResult], object] | None = None,
) -> None:
    """Download ``jobs`` with at most ``concurrency`` at once, counting into ``tally``.

    ``on_result`` sees each finished download first (the sync manifest records
    it there); every outcome is then counted and shown by ``view``.
    Cancelling this coroutine cancels the downloads in flight; the library
    removes their temporary files.
    """
    pending = iter(jobs)

    async def one(job: Job) -> tuple[ItemOutcome, br.DownloadResult | None]:
        rid = job.recording.id
        shown = job.relative.as_posix()
        try:
            result = await client.download_recording(
                job.recording, job.target, overwrite=overwrite, progress=view.update
            )
        except br.DestinationExistsError:
            outcome = ItemOutcome(
                recording_id=rid,
                status="exists",
                path=shown,
                reason=f"{shown} already exists (--overwrite replaces it)",
            )
            return outcome, None
        except br.RecordingNotAvailableError as exc:
            return ItemOutcome(recording_id=rid, status="not-available", reason=str(exc)), None
        except br.BirdRecordingsError as exc:
            return ItemOutcome(recording_id=rid, status="failed", reason=short_reason(exc)), None
        outcome = ItemOutcome(
            recording_id=rid, status="downloaded", path=shown, size_bytes=result.size_bytes
        )
        return outcome, result

    async def worker() -> None:
        # No await between next() calls, so workers never take the same job.
        for job in pending:
            outcome, result = await one(job)
            if result is not None and on_result is not None:
                on_result(job, result)
            tally.add(outcome)
            view.finished(outcome)

    tally.begin_transfers()
    workers = min(concurrency, len(jobs))
    if workers == 0:
        return
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except* CLIError as failed:  # on_result could not record (the manifest's disk is full)
        raise failed.exceptions[0] from None


async def run_interruptible(work: Coroutine[Any, Any, T]) -> tuple[T | None, int]:
    """Run ``work``; SIGINT (Ctrl-C) or SIGTERM cancels it instead of killing the process.

    Returns ``(result, stopped)``: ``stopped`` is 0 when ``work`` finished, else
    the exit code the signal calls for (130 for SIGINT, 143 for SIGTERM, what a
    shell reports for a process killed by it); ``result`` is ``None`` then.
    Cancelling lets the library remove its temporary files and the caller write
    its manifest and summary. Other exceptions of ``work`` propagate.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    stopped = 0

    def on_signal(code: int) -> None:
        nonlocal stopped
        stopped = stopped or code
        task.cancel()

    installed: list[signal.Signals] = []
    for signum, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)):
        try:
            loop.add_signal_handler(signum, on_signal, code)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
            continue  # Windows, or not the main thread: the default behaviour stays
        installed.append(signum)
    try:
        await asyncio.wait({task})
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for signum in installed:
            loop.remove_signal_handler(signum)
    if task.cancelled():
        if stopped:
            return None, stopped
        raise asyncio.CancelledError
    return task.result(), 0


def count_all(
    tally: Tally, view: ProgressView, outcomes: Iterable[ItemOutcome], *, advance: bool = True
) -> None:
    """Count and show outcomes decided without a download (``advance``: see ProgressView)."""
    for outcome in outcomes:
        tally.add(outcome)
        view.finished(outcome, advance=advance)
