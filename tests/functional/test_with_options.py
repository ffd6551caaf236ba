"""``client.with_options``: per-call timeout and retry on the same pool and limits."""

from __future__ import annotations

from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator
from tests.functional.conftest import InstantClock


@pytest.fixture
async def strict_client(emu: BirdEmulator, instant_clock: InstantClock) -> br.RecordingsClient:
    return br.RecordingsClient(
        emu.access_key,
        emu.workspace_id,
        base_url=emu.base_url,
        clock=instant_clock,
        rate_limit=None,
        retry=br.RetryPolicy.disabled(),
    )


def first_available(emu: BirdEmulator) -> str:
    return next(r.id for r in emu.recordings.values() if r.status == "available")


async def test_a_view_retries_where_the_client_does_not(
    emu: BirdEmulator, strict_client: br.RecordingsClient
) -> None:
    rid = first_available(emu)
    async with strict_client as client:
        patient = client.with_options(retry=br.RetryPolicy(max_retries=3))
        emu.faults.status(503, count=2, recording_id=rid)
        with pytest.raises(br.ServerError):
            await client.get_recording(rid)
        recording = await patient.get_recording(rid)  # one more 503, then 200
        assert recording.id == rid
        assert patient.session is client.session  # one connection pool
        assert patient.retry.max_retries == 3
        assert client.retry.max_retries == 0


async def test_a_view_with_a_short_timeout(
    emu: BirdEmulator, strict_client: br.RecordingsClient
) -> None:
    rid = first_available(emu)
    async with strict_client as client:
        hasty = client.with_options(timeout_s=0.2)
        emu.faults.latency(2.0, recording_id=rid)
        with pytest.raises(br.APITimeoutError):
            await hasty.get_recording(rid)
        assert (await client.get_recording(rid)).id == rid  # the client's own timeout


async def test_closing_a_view_leaves_the_client_open(
    emu: BirdEmulator, strict_client: br.RecordingsClient, tmp_path: Path
) -> None:
    rid = first_available(emu)
    async with strict_client as client:
        async with client.with_options(timeout_s=30) as view:
            result = await view.download_recording(rid, tmp_path)
            assert result.path.read_bytes() == emu.media_bytes(rid)
        assert view.is_closed
        with pytest.raises(br.ClientClosedError):
            await view.get_recording(rid)
        assert not client.is_closed
        assert not client.session.closed
        assert (await client.get_recording(rid)).id == rid
        assert (await client.download_recording(rid, tmp_path / "again.mp3")).size_bytes > 0


async def test_closing_the_client_closes_its_views(
    emu: BirdEmulator, strict_client: br.RecordingsClient
) -> None:
    rid = first_available(emu)
    async with strict_client as client:
        view = client.with_options(retry=br.RetryPolicy(max_retries=1))
        nested = view.with_options(timeout_s=5)
        assert (await nested.get_recording(rid)).id == rid
        session = client.session
    assert session.closed
    for closed in (view, nested):
        with pytest.raises(br.ClientClosedError):
            await closed.get_recording(rid)


def test_invalid_options_are_refused(strict_client: br.RecordingsClient) -> None:
    with pytest.raises(br.ConfigurationError):
        strict_client.with_options(timeout_s=0)
    with pytest.raises(br.ConfigurationError):
        strict_client.with_options(retry=3)  # type: ignore[arg-type]
