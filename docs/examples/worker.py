"""Download recordings in the background: a queue, a few workers, one client.

The shape fits any job source — an ``asyncio.Queue`` fed by a web handler or a
webhook, a message broker consumer, a task-queue worker process: the process
creates **one** ``RecordingsClient`` when it starts and every job uses it. A
client per job would open a new connection pool for each (new TCP and TLS
handshakes), would give each job its own rate limiter (so twenty jobs could send
20 × 50 requests per second and collect 429s), and would leak sessions whenever
a job forgot to close its client.

Run it standalone (reads recording ids, one per line, from stdin)::

    export BIRD_ACCESS_KEY=... BIRD_WORKSPACE_ID=...
    printf '%s\\n' 5b74ee9e-9d45-473a-82cd-f1f7feea6bbd | python worker.py recordings/
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs

import bird_recordings as br

logger = logging.getLogger("recordings.worker")

#: Errors worth trying again later; the rest are final for the job.
TRANSIENT_ERRORS = (
    br.RecordingNotAvailableError,  # still ongoing: the media appears once it is available
    br.RateLimitError,
    br.ServerError,
    br.APIConnectionError,
    br.StorageError,
)


@attrs.frozen
class DownloadJob:
    """Download one recording into ``directory``."""

    recording_id: str
    directory: Path
    attempt: int = 1


@attrs.frozen
class JobResult:
    """What became of a job: ``result`` on success, else ``error``."""

    job: DownloadJob
    result: br.DownloadResult | None = None
    error: br.BirdRecordingsError | None = None


class DownloadWorker:
    """``workers`` tasks that take jobs from a queue and download with a shared client.

    Use it as ``async with DownloadWorker(client) as worker:`` then
    ``await worker.submit(job)``; leaving the block waits for every submitted job
    to finish (including retries) and stops the tasks. Finished jobs go to
    ``on_result``. A transient failure is retried up to ``max_attempts`` times,
    ``retry_delay_s`` later, without blocking a worker meanwhile.
    """

    def __init__(
        self,
        client: br.RecordingsClient,
        *,
        workers: int = 4,
        max_attempts: int = 3,
        retry_delay_s: float = 30.0,
        on_result: Callable[[JobResult], object] | None = None,
    ) -> None:
        self.client = client
        self.workers = workers
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.on_result = on_result
        self.results: list[JobResult] = []
        self._queue: asyncio.Queue[DownloadJob] = asyncio.Queue(maxsize=workers * 4)
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> Self:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self._idle.wait()  # every job done, retries included
        finally:
            for task in [*self._tasks, *self._retries]:
                task.cancel()
            await asyncio.gather(*self._tasks, *self._retries, return_exceptions=True)

    async def submit(self, job: DownloadJob) -> None:
        """Queue a job; waits while the queue is full (backpressure)."""
        self._pending += 1
        self._idle.clear()
        await self._queue.put(job)

    def _finish(self, outcome: JobResult) -> None:
        self.results.append(outcome)
        if self.on_result is not None:
            self.on_result(outcome)
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    async def _retry_later(self, job: DownloadJob) -> None:
        await asyncio.sleep(self.retry_delay_s)
        await self._queue.put(attrs.evolve(job, attempt=job.attempt + 1))

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                result = await self.client.download_recording(
                    job.recording_id, job.directory, overwrite=False
                )
            except br.DestinationExistsError:
                # Already downloaded by an earlier run: nothing to do.
                self._finish(JobResult(job=job))
            except TRANSIENT_ERRORS as exc:
                if job.attempt >= self.max_attempts:
                    self._finish(JobResult(job=job, error=exc))
                else:
                    logger.info("%s: %s; retrying later", job.recording_id, exc)
                    task = asyncio.create_task(self._retry_later(job))
                    self._retries.add(task)
                    task.add_done_callback(self._retries.discard)
            except br.BirdRecordingsError as exc:
                self._finish(JobResult(job=job, error=exc))
            else:
                self._finish(JobResult(job=job, result=result))
            finally:
                self._queue.task_done()


async def main(directory: Path) -> int:
    """Download the ids read from stdin into ``directory``; 1 if any failed."""

    def report(outcome: JobResult) -> None:
        if outcome.error is not None:
            print(f"failed {outcome.job.recording_id}: {outcome.error}", file=sys.stderr)
        elif outcome.result is not None:
            print(f"{outcome.result.path} {outcome.result.size_bytes} bytes")
        else:
            print(f"already there: {outcome.job.recording_id}")

    loop = asyncio.get_running_loop()
    # One client for the whole process, shared by every worker and every job.
    async with br.RecordingsClient() as client, DownloadWorker(client, on_result=report) as worker:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if recording_id := line.strip():
                await worker.submit(DownloadJob(recording_id, directory))
        # Leaving the block waits for every job.
    return 0 if all(r.error is None for r in worker.results) else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "recordings"))))
