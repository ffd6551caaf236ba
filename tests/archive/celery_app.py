"""The Celery app the archive tests' worker processes run (``celery -A tests.archive.celery_app``).

It is configured the way docs/archiving.md recommends.
"""

from __future__ import annotations

import os

from celery import Celery

broker = os.environ.get("BIRD_TEST_BROKER", "redis://127.0.0.1:6379/0")

app = Celery(
    "bird_archive_tests", broker=broker, backend=broker, include=["bird_recordings.celery"]
)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # The visibility timeout must exceed the longest shard (Redis redelivers
    # unacknowledged tasks after it, even when their worker is alive).
    broker_transport_options={"visibility_timeout": 3600},
    result_expires=3600,
)
