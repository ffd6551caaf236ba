"""Shards: time windows over the list filters, with ids that depend only on their inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from attrs import frozen

from bird_recordings._converter import format_datetime, parse_datetime
from bird_recordings._errors import InvalidArgumentError
from bird_recordings._models import RecordingStatus

__all__ = ["DEFAULT_SHARD", "Shard", "plan_archive"]

#: The default shard length: four windows a day.
DEFAULT_SHARD: Final = timedelta(hours=6)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ID_TIME: Final = "%Y%m%dT%H%M%SZ"


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")
    # Whole seconds: Bird's filters and our ids speak seconds.
    return value.astimezone(UTC).replace(microsecond=0)


@frozen(kw_only=True)
class Shard:
    """One window of an archive: the recordings created in ``[start, end)`` with ``status``.

    ``id`` is a pure function of the three fields (``20261101T000000Z-20261101T060000Z-available``),
    so the same plan submitted twice names the same shards. ``status=None``
    lists every status (only ``available`` ones have media to archive).
    """

    start: datetime
    end: datetime
    status: str | None = str(RecordingStatus.AVAILABLE)

    @property
    def id(self) -> str:
        """A stable and readable id made of start, end and status."""
        return (
            f"{self.start.strftime(_ID_TIME)}-{self.end.strftime(_ID_TIME)}-{self.status or 'all'}"
        )

    def contains(self, created_at: datetime) -> bool:
        """True when ``created_at`` falls in ``[start, end)``."""
        return self.start <= created_at < self.end

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (Celery task arguments, status objects)."""
        return {
            "start": format_datetime(self.start),
            "end": format_datetime(self.end),
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: object) -> Shard:
        """The inverse of :meth:`to_dict`.

        Raises:
            InvalidArgumentError: the mapping is not a shard.
        """
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"a shard is a JSON object, got {type(data).__name__}")
        try:
            start = _utc(parse_datetime(data["start"], strict=True), "start")
            end = _utc(parse_datetime(data["end"], strict=True), "end")
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"not a shard: {exc}") from exc
        status = data.get("status")
        if status is not None and not isinstance(status, str):
            raise InvalidArgumentError("a shard's status must be a string or null")
        if not start < end:
            raise InvalidArgumentError("a shard's start must be before its end")
        return cls(start=start, end=end, status=status)


def plan_archive(
    since: datetime,
    until: datetime,
    *,
    shard: timedelta = DEFAULT_SHARD,
    status: RecordingStatus | str | None = RecordingStatus.AVAILABLE,
) -> list[Shard]:
    """Split ``[since, until)`` into shards, oldest first.

    Inner boundaries fall on multiples of ``shard`` counted from 1970-01-01
    UTC, so the windows of two plans that overlap are the same windows with
    the same ids whatever ``since`` each asked for; only the first and last
    shard are clipped to ``since`` and ``until``. Times are truncated to whole
    seconds.

    Raises:
        InvalidArgumentError: naive datetimes, ``since`` not before ``until``,
            or a shard shorter than one second.

    Example::

        shards = plan_archive(now - timedelta(days=30), now)  # 120 or 121 shards
    """
    start = _utc(since, "since")
    end = _utc(until, "until")
    if not start < end:
        raise InvalidArgumentError(
            f"since ({start.isoformat()}) must be before until ({end.isoformat()})"
        )
    if not isinstance(shard, timedelta) or shard < timedelta(seconds=1):
        raise InvalidArgumentError(f"shard must be a timedelta of at least 1 second, got {shard!r}")
    step = int(shard.total_seconds())
    label = None if status is None else str(status)
    shards: list[Shard] = []
    offset = int((start - _EPOCH).total_seconds())
    boundary = _EPOCH + timedelta(seconds=offset - offset % step + step)
    lower = start
    while lower < end:
        upper = min(boundary, end)
        shards.append(Shard(start=lower, end=upper, status=label))
        lower = upper
        boundary += timedelta(seconds=step)
    return shards
