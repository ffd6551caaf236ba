"""docs/examples/worker.py: a queue of jobs, a few workers, one shared client."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

from .conftest import available_ids, load_example

worker = load_example("worker")


async def test_jobs_share_one_client(
    emu: BirdEmulator, client_options: dict[str, Any], tmp_path: Path
) -> None:
    ids = available_ids(emu)[:6]
    missing = str(uuid.uuid4())
    ongoing = emu.add_recording(status="ongoing").id
    seen: list[Any] = []
    async with br.RecordingsClient(**client_options) as client:
        async with worker.DownloadWorker(
            client, workers=3, max_attempts=2, retry_delay_s=0, on_result=seen.append
        ) as pool:
            for rid in [*ids, missing, ongoing, ids[0]]:
                await pool.submit(worker.DownloadJob(rid, tmp_path))
        # Leaving the block waited for every job, the retry of "ongoing" included.
        assert not client.is_closed
    assert seen == pool.results
    by_id: dict[str, list[Any]] = {}
    for outcome in pool.results:
        by_id.setdefault(outcome.job.recording_id, []).append(outcome)

    for rid in ids:
        digest = hashlib.sha256((tmp_path / f"{rid}.mp3").read_bytes()).hexdigest()
        assert digest == emu.media_digest(rid)
    # The duplicate job found the file already there (or downloaded it first).
    assert len(by_id[ids[0]]) == 2
    assert all(o.error is None for o in by_id[ids[0]])
    assert isinstance(by_id[missing][0].error, br.NotFoundError)
    not_ready = by_id[ongoing][0]
    assert isinstance(not_ready.error, br.RecordingNotAvailableError)
    assert not_ready.job.attempt == 2  # retried once, then given up
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{rid}.mp3" for rid in ids)
