"""BlockingRecordingsClient against the emulator, from plain (non-async) tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import bird_recordings as br
from tests.emulator_thread import EmulatorThread, emulator_thread


@pytest.fixture(scope="module")
def running() -> Iterator[EmulatorThread]:
    with emulator_thread(recordings=30, seed=5, media_size_bytes=(2_000, 8_000)) as emu:
        yield emu


@pytest.fixture
def client(running: EmulatorThread) -> Iterator[br.BlockingRecordingsClient]:
    emu = running.emu
    with br.BlockingRecordingsClient(
        emu.access_key, emu.workspace_id, base_url=emu.base_url, rate_limit=None
    ) as blocking:
        yield blocking


def test_the_methods_block_and_return_what_the_async_client_returns(
    running: EmulatorThread, client: br.BlockingRecordingsClient, tmp_path: Path
) -> None:
    listed = list(client.list_recordings(status="available", limit=7))
    assert {r.id for r in listed} == {
        rid for rid, r in running.emu.recordings.items() if r.status == "available"
    }
    one = client.get_recording(listed[0].id)
    assert one.id == listed[0].id
    result = client.download_recording(one, tmp_path)
    assert result.path.read_bytes() == running.emu.media_bytes(one.id)
    with client.stream_recording(listed[1]) as media:
        assert media.read() == running.emu.media_bytes(listed[1].id)
    outcomes = list(client.download_recordings(listed[:5], tmp_path / "many"))
    assert sorted(o.status for o in outcomes) == ["downloaded"] * 5
    with pytest.raises(br.NotFoundError):
        client.get_recording("00000000-0000-4000-8000-000000000000")


def test_an_iterator_left_early_stops_its_work(client: br.BlockingRecordingsClient) -> None:
    pages = client.list_recordings(limit=2)
    first = next(pages)
    pages.close()
    assert isinstance(first, br.Recording)


def test_threads_share_one_instance(
    running: EmulatorThread, client: br.BlockingRecordingsClient
) -> None:
    ids = sorted(running.emu.recordings)[:8]
    found: dict[str, str] = {}

    def fetch(rid: str) -> None:
        found[rid] = client.get_recording(rid).id

    threads = [threading.Thread(target=fetch, args=(rid,)) for rid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert found == {rid: rid for rid in ids}


def test_run_awaits_a_coroutine_function_with_the_async_client(
    client: br.BlockingRecordingsClient,
) -> None:
    async def workspace(async_client: br.RecordingsClient, suffix: str) -> str:
        return async_client.workspace_id + suffix

    assert client.run(workspace, "!") == client.workspace_id + "!"


def test_calls_after_close_are_refused(running: EmulatorThread) -> None:
    emu = running.emu
    blocking = br.BlockingRecordingsClient(emu.access_key, emu.workspace_id, base_url=emu.base_url)
    blocking.close()
    blocking.close()
    assert blocking.is_closed
    with pytest.raises(br.ClientClosedError):
        blocking.get_recording("x")


def test_a_call_from_its_own_loop_thread_is_refused(client: br.BlockingRecordingsClient) -> None:
    async def reenter(_: br.RecordingsClient) -> object:
        return client.get_recording("x")

    with pytest.raises(br.InvalidArgumentError, match="own event-loop thread"):
        client.run(reenter)


def test_configuration_errors_surface_at_construction() -> None:
    with pytest.raises(br.ConfigurationError):
        br.BlockingRecordingsClient("key", "ws", base_url="ftp://nope")


class _CountingLimiter:
    """A RateLimiterProtocol that counts, and knows which thread built and closed it."""

    def __init__(self) -> None:
        self.built_on = threading.current_thread().name
        self.acquired = 0
        self.closed_on: str | None = None

    async def acquire(self, workspace_id: str, kind: str) -> None:
        self.acquired += 1

    async def report_rate_limited(self, workspace_id: str, kind: str, retry_after_s: float) -> None:
        pass

    async def aclose(self) -> None:
        self.closed_on = threading.current_thread().name


def test_a_rate_limiter_factory_runs_on_the_loop_and_is_closed_with_the_client(
    running: EmulatorThread,
) -> None:
    emu = running.emu
    made: list[_CountingLimiter] = []

    def factory() -> _CountingLimiter:
        made.append(_CountingLimiter())
        return made[-1]

    with br.BlockingRecordingsClient(
        emu.access_key, emu.workspace_id, base_url=emu.base_url, rate_limiter_factory=factory
    ) as client:
        client.get_recording(sorted(emu.recordings)[0])
        (limiter,) = made
        assert limiter.acquired == 1
        assert limiter.closed_on is None
    assert limiter.built_on == limiter.closed_on == "bird-recordings-loop"
