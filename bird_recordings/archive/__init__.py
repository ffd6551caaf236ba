"""Archive a workspace: shards (time windows), sinks (a folder, an S3 bucket), one shard at a time.

``plan_archive`` splits a period into :class:`Shard` windows with stable ids;
``archive_shard`` lists one window and stores every available recording the
sink does not already hold, verified. Run the shards in-process (``bird-recordings
archive run``) or on Celery workers (:mod:`bird_recordings.celery`). See the
"Archiving at scale" guide.

:class:`S3Sink` needs the ``s3`` extra (``pip install 'bird-recordings[s3]'``); it is
imported only when first used, so this package works without aiobotocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._plan import DEFAULT_SHARD, Shard, plan_archive
from ._shard import DEFAULT_ARCHIVE_CONCURRENCY, RecordingArchived, ShardReport, archive_shard
from ._sinks import (
    ArchiveSink,
    DirectorySink,
    SinkError,
    StoredMedia,
    dated_prefix,
    metadata_document,
    open_sink,
)

if TYPE_CHECKING:
    from ._s3 import S3Sink

__all__ = [
    "DEFAULT_ARCHIVE_CONCURRENCY",
    "DEFAULT_SHARD",
    "ArchiveSink",
    "DirectorySink",
    "RecordingArchived",
    "S3Sink",
    "Shard",
    "ShardReport",
    "SinkError",
    "StoredMedia",
    "archive_shard",
    "dated_prefix",
    "metadata_document",
    "open_sink",
    "plan_archive",
]


def __getattr__(name: str) -> Any:
    if name == "S3Sink":
        from ._s3 import S3Sink

        return S3Sink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
