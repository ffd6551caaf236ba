"""Owned vs borrowed sessions, use after close, configuration from arguments and environment."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, recording_url, sent
from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE, FakeClock
from tests.fixtures import load


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BIRD_ACCESS_KEY", "BIRD_WORKSPACE_ID", "BIRD_API_URL"):
        monkeypatch.delenv(name, raising=False)


# --- owned session ------------------------------------------------------------------------


async def test_owned_session_is_closed_on_exit(fake_clock: FakeClock) -> None:
    client = br.RecordingsClient(ACCESS_KEY, WORKSPACE, clock=fake_clock)
    async with client:
        session = client.session
        open_inside = not session.closed and not client.is_closed
    assert open_inside
    assert session.closed
    assert client.is_closed


async def test_owned_session_is_created_once_and_reused(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID), payload=load("recording_real.json"), repeat=True
    )
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL, clock=fake_clock
    ) as client:
        first = client.session
        await client.get_recording(REAL_ID)
        await client.get_recording(REAL_ID)
        assert client.session is first


async def test_owned_session_has_no_credentials(fake_clock: FakeClock) -> None:
    async with br.RecordingsClient(ACCESS_KEY, WORKSPACE, clock=fake_clock) as client:
        session = client.session
        assert session.auth is None
        assert "Authorization" not in session.headers
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)


async def test_aclose_without_async_with_and_twice(fake_clock: FakeClock) -> None:
    client = br.RecordingsClient(ACCESS_KEY, WORKSPACE, clock=fake_clock)
    session = client.session  # opens lazily inside the loop
    await client.aclose()
    await client.aclose()  # idempotent
    assert session.closed


async def test_closing_a_never_opened_client(fake_clock: FakeClock) -> None:
    client = br.RecordingsClient(ACCESS_KEY, WORKSPACE, clock=fake_clock)
    await client.aclose()
    assert client.is_closed


# --- borrowed session --------------------------------------------------------------------


async def test_borrowed_session_is_used_never_closed_never_given_credentials(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    async with aiohttp.ClientSession(headers={"X-Trace": "1"}) as session:
        async with br.RecordingsClient(
            ACCESS_KEY, WORKSPACE, base_url=BASE_URL, session=session, clock=fake_clock
        ) as client:
            assert client.session is session
            await client.get_recording(REAL_ID)
        assert client.is_closed
        assert not session.closed  # still the caller's
        assert dict(session.headers) == {"X-Trace": "1"}  # nothing added to the session
        assert session.auth is None
        # ... and the key went on the request itself.
        [(_, _, request)] = sent(aioresponses_compat)
        assert request["headers"]["Authorization"] == f"AccessKey {ACCESS_KEY}"


@pytest.mark.parametrize(
    "session_kwargs",
    [
        {"headers": {"Authorization": "Bearer other"}},
        {"headers": {"authorization": "AccessKey other"}},
        {"headers": {"AUTHORIZATION": "Basic dXNlcjpwYXNz"}},
    ],
)
async def test_borrowed_session_with_default_credentials_is_refused(
    session_kwargs: dict[str, Any],
) -> None:
    async with aiohttp.ClientSession(**session_kwargs) as session:
        with pytest.raises(br.ConfigurationError, match="default credentials") as info:
            br.RecordingsClient(ACCESS_KEY, WORKSPACE, session=session)
        assert "other" not in str(info.value)
        assert "dXNlcjpwYXNz" not in str(info.value)
        assert not session.closed


# --- use after close ---------------------------------------------------------------------


async def test_use_after_close_raises(fake_clock: FakeClock, aioresponses_compat: Any) -> None:
    client = br.RecordingsClient(ACCESS_KEY, WORKSPACE, base_url=BASE_URL, clock=fake_clock)
    async with client:
        pass
    with pytest.raises(br.ClientClosedError):
        await client.get_recording(REAL_ID)
    with pytest.raises(br.ClientClosedError):
        await client.list_recordings()
    with pytest.raises(br.ClientClosedError):
        [r async for r in client.list_recordings()]
    with pytest.raises(br.ClientClosedError):
        await client.delete_recording(REAL_ID)
    with pytest.raises(br.ClientClosedError):
        await client.get_storage_metrics()
    with pytest.raises(br.ClientClosedError):
        [o async for o in client.get_recordings([REAL_ID])]
    with pytest.raises(br.ClientClosedError):
        await client.get_call_recording("ch", "call", REAL_ID)
    with pytest.raises(br.ClientClosedError):
        _ = client.session
    with pytest.raises(br.ClientClosedError):
        async with client:
            pass
    assert sent(aioresponses_compat) == []


async def test_a_pager_made_before_close_fails_after_close(fake_clock: FakeClock) -> None:
    async with br.RecordingsClient(ACCESS_KEY, WORKSPACE, clock=fake_clock) as client:
        pager = client.list_recordings()
    with pytest.raises(br.ClientClosedError):
        await pager


# --- configuration -------------------------------------------------------------------------


def test_missing_access_key_names_argument_and_variable() -> None:
    with pytest.raises(br.ConfigurationError) as info:
        br.RecordingsClient(workspace_id=WORKSPACE)
    assert "access_key" in str(info.value)
    assert "BIRD_ACCESS_KEY" in str(info.value)


def test_missing_workspace_names_argument_and_variable() -> None:
    with pytest.raises(br.ConfigurationError) as info:
        br.RecordingsClient(access_key=ACCESS_KEY)
    assert "workspace_id" in str(info.value)
    assert "BIRD_WORKSPACE_ID" in str(info.value)
    assert ACCESS_KEY not in str(info.value)


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_key_is_missing(blank: str) -> None:
    with pytest.raises(br.ConfigurationError, match="BIRD_ACCESS_KEY"):
        br.RecordingsClient(blank, WORKSPACE)


async def test_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", "env-key-123")
    monkeypatch.setenv("BIRD_WORKSPACE_ID", "env-ws")
    monkeypatch.setenv("BIRD_API_URL", "https://env.bird.test/")
    url = "https://env.bird.test/workspaces/env-ws/recordings/r1"
    aioresponses_compat.get(url, payload=dict(load("recording_real.json"), id="r1"))
    async with br.RecordingsClient(clock=fake_clock) as client:
        assert client.workspace_id == "env-ws"
        assert client.base_url == "https://env.bird.test"
        await client.get_recording("r1")
    [(_, sent_url, request)] = sent(aioresponses_compat)
    assert str(sent_url) == url
    assert request["headers"]["Authorization"] == "AccessKey env-key-123"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRD_WORKSPACE_ID", "env-ws")
    monkeypatch.setenv("BIRD_API_URL", "https://env.bird.test")
    client = br.RecordingsClient(ACCESS_KEY, "arg-ws", base_url=BASE_URL)
    assert client.workspace_id == "arg-ws"
    assert client.base_url == BASE_URL


def test_default_base_url() -> None:
    assert br.RecordingsClient(ACCESS_KEY, WORKSPACE).base_url == "https://api.bird.com"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "ftp://api.bird.test"}, "base_url"),
        ({"base_url": "api.bird.test"}, "base_url"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"connect_timeout_s": -1}, "connect_timeout_s"),
        ({"stall_timeout_s": "5"}, "stall_timeout_s"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_burst": 0}, "rate_burst"),
        ({"max_concurrent_requests": 0}, "max_concurrent_requests"),
        ({"max_concurrent_requests": True}, "max_concurrent_requests"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"pool_size": 1.5}, "pool_size"),
        ({"io_threads": -1}, "io_threads"),
        ({"io_threads": True}, "io_threads"),
        ({"io_threads": "2"}, "io_threads"),
        ({"retry": 3}, "RetryPolicy"),
        ({"auth_scheme": "Token"}, "auth_scheme"),
    ],
)
def test_invalid_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(br.ConfigurationError, match=match):
        br.RecordingsClient(ACCESS_KEY, WORKSPACE, **kwargs)


async def test_rate_limit_none_sends_without_waiting(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID), payload=load("recording_real.json"), repeat=True
    )
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL, clock=fake_clock, rate_limit=None
    ) as client:
        for _ in range(5):
            await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == []  # the default (50/s, burst 1) would have waited 4 times


async def test_default_rate_limit_spaces_requests(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID), payload=load("recording_real.json"), repeat=True
    )
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL, clock=fake_clock
    ) as client:  # default: 50 requests/s, burst 1
        for _ in range(3):
            await client.get_recording(REAL_ID)
    assert fake_clock.sleeps == pytest.approx([0.02, 0.02])


def test_repr_names_the_workspace_but_not_the_key() -> None:
    client = br.RecordingsClient(ACCESS_KEY, WORKSPACE, base_url=BASE_URL)
    text = repr(client)
    assert WORKSPACE in text
    assert BASE_URL in text
    assert ACCESS_KEY not in text
