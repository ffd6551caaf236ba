"""One process of a fleet: fetch metadata, then download media, through one rate limiter.

Run by ``test_shared_budget.py`` (and the fleet benchmark) as
``python -m tests.integrations.fleet_worker '<json settings>'``. It prints JSON
lines on stdout: ``{"done": n, "shared": bool | null}`` as items complete, then
``{"result": {...}}`` last. Warnings of the ``bird_recordings`` logger are
counted, not printed, so the test can assert there was exactly one.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import sys
import tempfile
import time
from typing import Any

import bird_recordings as br


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def run(settings: dict[str, Any]) -> dict[str, Any]:
    """Fetch ``metadata_ids``, then download ``media_ids``; return what happened."""
    warnings = _Count()
    logging.getLogger("bird_recordings").addHandler(warnings)
    limiter: Any = None
    options: dict[str, Any] = {}
    if settings["limiter"] == "redis":
        from bird_recordings.redis import RedisRateLimiter

        limiter = RedisRateLimiter(
            url=settings["redis_url"],
            get_rate=settings.get("rate", 50.0),
            burst=settings.get("burst", 10),
            on_redis_error=settings.get("on_redis_error", "local"),
            expected_processes=settings.get("expected_processes", 1),
            probe_interval_s=settings.get("probe_interval_s", 5.0),
        )
        options["rate_limiter"] = limiter
    else:
        options["rate_limit"] = settings.get("rate", 50.0)
    errors: collections.Counter[str] = collections.Counter()
    done = 0
    every = settings.get("progress_every", 10)

    def progress() -> None:
        nonlocal done
        done += 1
        if done % every == 0:
            _emit({"done": done, "shared": None if limiter is None else limiter.is_shared})

    started = time.monotonic()
    try:
        async with br.RecordingsClient(
            settings["access_key"],
            settings["workspace_id"],
            base_url=settings["base_url"],
            retry=br.RetryPolicy(max_retries=settings.get("max_retries", 10)),
            **options,
        ) as client:
            concurrency = settings.get("concurrency", 8)
            async for outcome in client.get_recordings(
                settings["metadata_ids"], concurrency=concurrency
            ):
                if outcome.error is not None:
                    errors[type(outcome.error).__name__] += 1
                progress()
            with tempfile.TemporaryDirectory() as folder:
                async for download in client.download_recordings(
                    settings["media_ids"], folder, concurrency=min(concurrency, 4)
                ):
                    if download.error is not None:
                        errors[type(download.error).__name__] += 1
                    progress()
            retries = client.retries_performed
    finally:
        if limiter is not None:
            await limiter.aclose()
    return {
        "done": done,
        "errors": dict(errors),
        "warnings": warnings.messages,
        "shared": None if limiter is None else limiter.is_shared,
        "retries": retries,
        "elapsed_s": time.monotonic() - started,
    }


def main() -> None:
    settings = json.loads(sys.argv[1])
    _emit({"result": asyncio.run(run(settings))})


if __name__ == "__main__":
    main()
