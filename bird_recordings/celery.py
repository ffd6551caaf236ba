"""Celery integration (extra ``bird-recordings[celery]``): archive one shard per task.

Import this module in your Celery app (``include=["bird_recordings.celery"]`` or
``import bird_recordings.celery``) to register the task
``bird_recordings.archive_shard``. It is declared with ``acks_late=True`` and
``reject_on_worker_lost=True``: a shard whose worker process dies (OOM, SIGKILL,
a node going away) goes back to the queue and runs again, and the shard is
idempotent, so running it twice is safe. Transient errors (connection,
5xx, 429, a recording that failed) retry with exponential back-off and jitter;
a sink that refuses us for good (no bucket, access denied) fails at once.

Each worker *process* gets one :class:`~bird_recordings.BlockingRecordingsClient`,
created at ``worker_process_init`` (after the prefork) and closed at
``worker_process_shutdown`` (with its Redis limiter); sinks are cached per
process the same way.

Configuration, from the worker's environment:

``BIRD_ACCESS_KEY``, ``BIRD_WORKSPACE_ID``, ``BIRD_API_URL``
    as for :class:`~bird_recordings.RecordingsClient`.
``BIRD_ARCHIVE_REDIS_URL``
    ``redis://host:6379/0``: every worker process shares the workspace's GET
    budget through this Redis (:class:`~bird_recordings.redis.RedisRateLimiter`,
    needs the ``redis`` package, which ``celery[redis]`` brings), so N workers
    stay inside Bird's limit together. It may be the broker's Redis.
``BIRD_ARCHIVE_RATE_LIMIT``
    GET requests per second: with ``BIRD_ARCHIVE_REDIS_URL``, for the whole
    fleet (default 50, Bird's per-workspace limit); without it, for this
    process alone (with N worker processes set it to 50/N).
``BIRD_ARCHIVE_PROCESSES``
    how many processes share the Redis budget (default 1): if Redis goes away,
    each falls back to a budget of rate / processes of its own.
``BIRD_ARCHIVE_CONCURRENCY``
    recordings of one shard fetched at once (default 8).
``AWS_*``
    the usual AWS chain for ``s3://`` sinks (``AWS_ENDPOINT_URL_S3`` for an
    S3-compatible endpoint).

Or call :func:`set_client_factory` in your app module to build the client yourself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Final

from celery import shared_task, signals

from bird_recordings._blocking import BlockingRecordingsClient
from bird_recordings._constants import LOGGER_NAME
from bird_recordings._errors import (
    APIConnectionError,
    BirdRecordingsError,
    InvalidArgumentError,
    RateLimitError,
    ServerError,
    StorageError,
)
from bird_recordings.archive import ArchiveSink, Shard, SinkError, archive_shard, open_sink

__all__ = [
    "ENV_CONCURRENCY",
    "ENV_PROCESSES",
    "ENV_RATE_LIMIT",
    "ENV_REDIS_URL",
    "TASK_NAME",
    "ShardIncompleteError",
    "TransientArchiveError",
    "archive_shard_task",
    "close_worker_client",
    "set_client_factory",
    "worker_client",
]

logger: Final = logging.getLogger(f"{LOGGER_NAME}.celery")

#: The registered task name (for ``send_task`` from code that does not import this module).
TASK_NAME: Final = "bird_recordings.archive_shard"
ENV_RATE_LIMIT: Final = "BIRD_ARCHIVE_RATE_LIMIT"
ENV_REDIS_URL: Final = "BIRD_ARCHIVE_REDIS_URL"
ENV_PROCESSES: Final = "BIRD_ARCHIVE_PROCESSES"
ENV_CONCURRENCY: Final = "BIRD_ARCHIVE_CONCURRENCY"

#: Retries of one shard before it is left failed (back-off 5 s, 10 s, … capped at 5 min).
MAX_RETRIES: Final = 8


class TransientArchiveError(BirdRecordingsError):
    """A shard failed for a reason that may pass (network, 5xx, 429); the task retries."""


class ShardIncompleteError(TransientArchiveError):
    """Some recordings of the shard failed; the task retries the shard (the rest is skipped)."""


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise InvalidArgumentError(f"{name} must be positive, got {raw!r}")
    return value


def _default_client() -> BlockingRecordingsClient:
    rate = _env_number(ENV_RATE_LIMIT, 50.0)
    redis_url = os.environ.get(ENV_REDIS_URL, "").strip()
    if not redis_url:
        return BlockingRecordingsClient(rate_limit=rate)
    processes = int(_env_number(ENV_PROCESSES, 1))

    def shared_budget() -> Any:
        # On the client's loop thread: the limiter's Redis connections belong to that loop.
        from bird_recordings.redis import RedisRateLimiter

        return RedisRateLimiter(url=redis_url, get_rate=rate, expected_processes=processes)

    return BlockingRecordingsClient(rate_limiter_factory=shared_budget)


_factory: Callable[[], BlockingRecordingsClient] = _default_client
_client: BlockingRecordingsClient | None = None
_sinks: dict[str, ArchiveSink] = {}
_lock = threading.Lock()


def set_client_factory(factory: Callable[[], BlockingRecordingsClient]) -> None:
    """Build each worker process's client with ``factory`` instead of the environment.

    Call it at import time of your Celery app module (before workers fork).
    """
    global _factory
    _factory = factory


def worker_client() -> BlockingRecordingsClient:
    """This process's client (created on first use if ``worker_process_init`` did not run).

    Raises:
        ConfigurationError: no access key or workspace in the environment.
    """
    global _client
    with _lock:
        if _client is None or _client.is_closed:
            _client = _factory()
        return _client


def close_worker_client() -> None:
    """Close this process's sinks and client (idempotent)."""
    global _client
    with _lock:
        client, _client = _client, None
        sinks = list(_sinks.values())
        _sinks.clear()
    if client is None:
        return

    async def close_sinks(_: Any) -> None:
        for sink in sinks:
            await sink.aclose()

    try:
        if sinks:
            client.run(close_sinks)
    finally:
        client.close()


def _sink(target: str) -> ArchiveSink:
    with _lock:
        sink = _sinks.get(target)
        if sink is None:
            sink = _sinks[target] = open_sink(target)
        return sink


def _on_process_init(**_: Any) -> None:
    # After the prefork: a loop thread of our own in this child, never inherited.
    try:
        worker_client()
    except BirdRecordingsError:
        logger.exception("bird-recordings: could not create the worker's client")


def _on_process_shutdown(**_: Any) -> None:
    close_worker_client()


def _on_worker_shutdown(**_: Any) -> None:
    close_worker_client()  # solo and threads pools have no process signals


signals.worker_process_init.connect(_on_process_init, weak=False)
signals.worker_process_shutdown.connect(_on_process_shutdown, weak=False)
signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)


_TRANSIENT: Final = (APIConnectionError, ServerError, RateLimitError, StorageError)


@shared_task(  # type: ignore[untyped-decorator]
    name=TASK_NAME,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientArchiveError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def archive_shard_task(self: Any, shard: dict[str, Any], sink: str) -> dict[str, Any]:
    """Archive one shard (``Shard.to_dict()``) into ``sink`` (a folder or ``s3://bucket/prefix``).

    Returns the :class:`~bird_recordings.archive.ShardReport` as a dict.

    Raises:
        TransientArchiveError, ShardIncompleteError: retried with back-off.
        SinkError: the sink refuses for good (not retried).
        InvalidArgumentError: a malformed shard or sink (not retried).
    """
    window = Shard.from_dict(shard)
    client = worker_client()
    concurrency = int(_env_number(ENV_CONCURRENCY, 8))
    try:
        report = client.run(archive_shard, window, _sink(sink), concurrency=concurrency)
    except SinkError as exc:
        if exc.permanent:
            raise
        raise TransientArchiveError(f"shard {window.id}: {exc}") from exc
    except _TRANSIENT as exc:
        raise TransientArchiveError(f"shard {window.id}: {exc}") from exc
    if not report.ok:
        first = next(iter(report.failures.items()))
        raise ShardIncompleteError(
            f"shard {window.id}: {report.failed} of {report.listed} recordings failed "
            f"(first: {first[0]}: {first[1]})"
        )
    return report.to_dict()
