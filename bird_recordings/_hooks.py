"""Instrumentation hooks: what the client reports to a tracer, with no tracer imported.

The core calls :class:`Hooks` around every API call, every download and every
stream; the default does nothing. :mod:`bird_recordings.tracing` (extra ``otel``)
subclasses it to emit OpenTelemetry spans; other tracers can do the same.
Attribute values are already safe to export: URLs are redacted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, Final

__all__ = ["AttributeValue", "Hooks", "SpanHandle", "span_around"]

AttributeValue = str | int | float | bool


class SpanHandle:
    """One open span. The base does nothing; tracers override all three methods."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Record ``key = value`` on the span."""

    def record_error(self, error: BaseException) -> None:
        """Mark the span failed with ``error`` (an exception of this library, redacted)."""

    def end(self) -> None:
        """Close the span."""


NO_SPAN: Final = SpanHandle()


class Hooks:
    """Where the client reports its work; the base class reports nothing.

    Spans: ``bird_recordings.api`` per API call (retries included),
    ``bird_recordings.download`` per file download and ``bird_recordings.stream``
    per :meth:`~bird_recordings.RecordingsClient.stream_recording`, with the
    attributes listed in the observability guide.
    """

    def start_span(self, name: str, attributes: Mapping[str, AttributeValue]) -> SpanHandle:
        """Open a span that is *not* made current (it may end in another task)."""
        return NO_SPAN

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, AttributeValue]) -> Iterator[SpanHandle]:
        """A span around a block of one task (tracers make it the current span)."""
        handle = self.start_span(name, attributes)
        try:
            yield handle
        except Exception as exc:
            handle.record_error(exc)
            raise
        finally:
            handle.end()


NO_HOOKS: Final = Hooks()


@contextlib.contextmanager
def span_around(
    hooks: Hooks,
    name: str,
    attributes: Mapping[str, AttributeValue],
    pending: Coroutine[Any, Any, object],
) -> Iterator[SpanHandle]:
    """``hooks.span(name, attributes)`` for the work ``pending`` will do, awaited inside.

    The work is prepared before its span opens (callers without hooks await it
    directly); if the tracer fails to open the span, ``pending`` is closed
    unstarted, so nothing is sent and no never-awaited warning follows.
    """
    opened = False
    try:
        with hooks.span(name, attributes) as span:
            opened = True
            yield span
    finally:
        if not opened:
            pending.close()
