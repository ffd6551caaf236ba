"""OpenTelemetry spans (bird_recordings.tracing) checked with the SDK's InMemorySpanExporter."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from bird_recordings.tracing import instrument


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(emu_client: br.RecordingsClient, exporter: InMemorySpanExporter) -> br.RecordingsClient:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(emu_client, tracer_provider=provider)
    return emu_client


def spans(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def first_available(emu: BirdEmulator) -> str:
    return next(r.id for r in emu.recordings.values() if r.status == "available")


def assert_no_secrets(emu: BirdEmulator, exporter: InMemorySpanExporter) -> None:
    for span in exporter.get_finished_spans():
        texts = [str(v) for v in (span.attributes or {}).values()]
        texts += [str(v) for event in span.events for v in (event.attributes or {}).values()]
        for text in texts:
            assert emu.access_key not in text
            assert "X-Amz-Signature=" not in text or "X-Amz-Signature=REDACTED" in text
            assert "X-Amz-Security-Token=" not in text or "Token=REDACTED" in text


async def test_a_span_per_api_call(
    emu: BirdEmulator, traced: br.RecordingsClient, exporter: InMemorySpanExporter
) -> None:
    rid = first_available(emu)
    emu.faults.status(503, count=1, recording_id=rid)
    await traced.get_recording(rid)
    (span,) = spans(exporter, "bird_recordings.api")
    attributes = dict(span.attributes or {})
    assert span.kind == SpanKind.CLIENT
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    assert attributes["bird.recording_id"] == rid
    assert attributes["bird.retries"] == 1
    assert str(attributes["url.full"]).endswith(f"/recordings/{rid}")
    assert span.status.status_code == StatusCode.UNSET
    assert_no_secrets(emu, exporter)


async def test_a_failed_call_records_the_exception(
    emu: BirdEmulator, traced: br.RecordingsClient, exporter: InMemorySpanExporter
) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(br.NotFoundError):
        await traced.get_recording(missing)
    (span,) = spans(exporter, "bird_recordings.api")
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["http.response.status_code"] == 404
    assert (span.attributes or {})["error.type"] == "NotFoundError"
    assert [event.name for event in span.events] == ["exception"]


async def test_a_download_span_counts_bytes_resumes_and_refreshes(
    emu: BirdEmulator,
    traced: br.RecordingsClient,
    exporter: InMemorySpanExporter,
    tmp_path: Path,
) -> None:
    rec = emu.add_recording(size_bytes=200_000)
    emu.faults.reset(after_bytes=60_000, recording_id=rec.id)
    emu.faults.expire_early(count=1, recording_id=rec.id)
    result = await traced.download_recording(rec.id, tmp_path)
    (download,) = spans(exporter, "bird_recordings.download")
    attributes = dict(download.attributes or {})
    assert attributes["bird.recording_id"] == rec.id
    assert attributes["bird.bytes"] == 200_000 == result.size_bytes
    assert attributes["bird.resumes"] == result.resumes == 1
    assert attributes["bird.url_refreshes"] == result.url_refreshes >= 1
    api = spans(exporter, "bird_recordings.api")
    assert api, "the .mp3 requests are traced"
    assert all(s.parent is not None and s.parent.span_id == download.context.span_id for s in api)
    assert_no_secrets(emu, exporter)


async def test_a_failed_download_is_an_error_span(
    emu: BirdEmulator, traced: br.RecordingsClient, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    ongoing = emu.add_recording(status="ongoing")
    with pytest.raises(br.RecordingNotAvailableError):
        await traced.download_recording(ongoing, tmp_path)
    (span,) = spans(exporter, "bird_recordings.download")
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RecordingNotAvailableError"


async def test_a_stream_span(
    emu: BirdEmulator, traced: br.RecordingsClient, exporter: InMemorySpanExporter
) -> None:
    rec = emu.add_recording(size_bytes=50_000)
    async with traced.stream_recording(rec.id, offset=100) as media:
        await media.read(1000)
    (span,) = spans(exporter, "bird_recordings.stream")
    attributes = dict(span.attributes or {})
    assert attributes["bird.recording_id"] == rec.id
    assert attributes["bird.first_byte"] == 100
    assert attributes["bird.bytes"] == 1000
    assert attributes["bird.resumes"] == 0
    assert span.status.status_code == StatusCode.UNSET


async def test_views_inherit_the_hooks(
    emu: BirdEmulator, traced: br.RecordingsClient, exporter: InMemorySpanExporter
) -> None:
    await traced.with_options(timeout_s=10).get_recording(first_available(emu))
    assert len(spans(exporter, "bird_recordings.api")) == 1


def test_the_core_never_imports_opentelemetry_or_starlette() -> None:
    code = (
        "import sys, bird_recordings, bird_recordings.webhooks, bird_recordings.aiohttp_server\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('opentelemetry', 'starlette')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_hooks_must_be_hooks(emu_client: br.RecordingsClient) -> None:
    assert type(emu_client.hooks) is br.Hooks  # reports nothing by default
    with pytest.raises(br.ConfigurationError):
        emu_client.hooks = object()  # type: ignore[assignment]


class BrokenTracer(br.Hooks):
    """A tracer whose spans cannot be opened."""

    def start_span(self, name: str, attributes: object) -> br.SpanHandle:
        raise RuntimeError("tracer down")


async def test_a_span_that_cannot_open_sends_nothing(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    # The request is prepared before its span opens; when the tracer fails, it
    # is dropped unsent (and no "coroutine was never awaited" warning, an error here).
    rid = first_available(emu)
    emu_client.hooks = BrokenTracer()
    sent = len(emu.requests)
    with pytest.raises(RuntimeError, match="tracer down"):
        await emu_client.get_recording(rid)
    assert len(emu.requests) == sent


async def test_a_download_span_that_cannot_open_downloads_nothing(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rid = first_available(emu)
    emu_client.hooks = BrokenTracer()
    sent = len(emu.requests)
    with pytest.raises(RuntimeError, match="tracer down"):
        await emu_client.download_recording(rid, tmp_path)
    assert len(emu.requests) == sent
    assert list(tmp_path.iterdir()) == []
