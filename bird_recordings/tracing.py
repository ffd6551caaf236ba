"""OpenTelemetry spans for the client (extra ``bird-recordings[otel]``).

::

    from bird_recordings.tracing import instrument

    instrument(client)  # spans go to the global TracerProvider

Spans (kind ``CLIENT`` for API calls, ``INTERNAL`` for transfers):

- ``bird_recordings.api``: one per API call, retries included.
  ``http.request.method``, ``url.full`` (redacted: no signature, token or key),
  ``http.response.status_code``, ``bird.recording_id``, ``bird.retries``.
- ``bird_recordings.download``: one per file download. ``bird.recording_id``,
  ``bird.bytes``, ``bird.resumes``, ``bird.url_refreshes``, ``bird.restarts``.
- ``bird_recordings.stream``: one per ``stream_recording`` block. ``bird.recording_id``,
  ``bird.first_byte``, ``bird.bytes`` (handed out), ``bird.resumes``,
  ``bird.url_refreshes``.

A failed call's span has status ``ERROR`` and the exception recorded (the
library's messages are redacted). Downloads made by ``download_recordings`` get
one span each; the API calls inside a download are its children.

This is the only module of the library that imports OpenTelemetry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._hooks import AttributeValue, Hooks, SpanHandle
from ._version import __version__

if TYPE_CHECKING:
    from . import RecordingsClient

__all__ = ["OpenTelemetryHooks", "instrument"]

_INSTRUMENTATION_NAME = "bird_recordings"


class _OpenTelemetrySpan(SpanHandle):
    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.span.set_attribute(key, value)

    def record_error(self, error: BaseException) -> None:
        self.span.record_exception(error)
        self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.set_attribute("error.type", type(error).__name__)

    def end(self) -> None:
        self.span.end()


def _kind(name: str) -> SpanKind:
    return SpanKind.CLIENT if name == "bird_recordings.api" else SpanKind.INTERNAL


class OpenTelemetryHooks(Hooks):
    """:class:`~bird_recordings.Hooks` that emit OpenTelemetry spans.

    ``tracer_provider`` defaults to the global one (``opentelemetry.trace``).
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer(
            _INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider
        )

    def start_span(self, name: str, attributes: Mapping[str, AttributeValue]) -> SpanHandle:
        """Start an OpenTelemetry span that is not made current (it may end in another task)."""
        span = self.tracer.start_span(
            name,
            kind=_kind(name),
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        )
        return _OpenTelemetrySpan(span)

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, AttributeValue]) -> Iterator[SpanHandle]:
        """An OpenTelemetry span made current around a block of one task."""
        with self.tracer.start_as_current_span(
            name,
            kind=_kind(name),
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            handle = _OpenTelemetrySpan(span)
            try:
                yield handle
            except Exception as exc:
                handle.record_error(exc)
                raise


def instrument(
    client: RecordingsClient, *, tracer_provider: trace.TracerProvider | None = None
) -> OpenTelemetryHooks:
    """Make ``client`` emit OpenTelemetry spans; return the installed hooks.

    Views made from the client with ``with_options`` afterwards inherit them.
    """
    hooks = OpenTelemetryHooks(tracer_provider)
    client.hooks = hooks
    return hooks
