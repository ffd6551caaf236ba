"""map_errors: the one boundary where aiohttp and OS errors become ours (no event loop)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from yarl import URL

import bird_recordings as br
from bird_recordings._transport import Transport, map_errors

SIGNED = "https://s3.test/o.mp3?X-Amz-Signature=topsecret"


@pytest.mark.parametrize(
    ("raised", "expected", "text"),
    [
        (TimeoutError(), br.APITimeoutError, "GET request timed out"),
        (TimeoutError(), br.APITimeoutError, "timed out"),
        (aiohttp.ServerTimeoutError("read"), br.APITimeoutError, "timed out"),
        (aiohttp.ClientPayloadError("cut"), br.APIConnectionError, "body broke off"),
        (aiohttp.ServerDisconnectedError(), br.APIConnectionError, "ServerDisconnectedError"),
        (aiohttp.ClientOSError(104, "reset"), br.APIConnectionError, "ClientOSError"),
        (ConnectionResetError(104, "reset by peer"), br.APIConnectionError, "reset by peer"),
        (OSError("no route"), br.APIConnectionError, "no route"),
        (aiohttp.InvalidURL(URL("http://x y")), br.InvalidArgumentError, "invalid URL"),
    ],
)
def test_foreign_errors_are_translated_and_chained(
    raised: BaseException, expected: type[BaseException], text: str
) -> None:
    with pytest.raises(expected) as info, map_errors(SIGNED, "GET request"):
        raise raised
    assert info.value.__cause__ is raised
    assert text in str(info.value)
    assert "topsecret" not in str(info.value)
    if expected is br.APITimeoutError:
        assert isinstance(info.value, TimeoutError)


def test_our_errors_pass_through_untouched() -> None:
    original = br.NotFoundError(status=404, code=None, message="gone")
    with pytest.raises(br.NotFoundError) as info, map_errors(SIGNED):
        raise original
    assert info.value is original


@pytest.mark.parametrize("raised", [asyncio.CancelledError(), KeyboardInterrupt(), ValueError()])
def test_cancellation_and_unrelated_errors_are_never_swallowed(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as info, map_errors(SIGNED):
        raise raised
    assert info.value is raised


def test_no_error_no_effect() -> None:
    done = []
    with map_errors(SIGNED):
        done.append("body ran")
    assert done == ["body ran"]  # the block runs, and nothing is raised on the way out


def test_the_value_of_the_block_is_kept() -> None:
    def read() -> bytes:
        with map_errors(SIGNED, "reading"):
            return b"payload"

    assert read() == b"payload"


def test_transport_is_not_open_until_opened() -> None:
    transport = Transport(
        session=None,
        connect_timeout_s=1,
        api_timeout_s=1,
        stall_timeout_s=1,
        pool_size=1,
        user_agent="t",
    )
    assert not transport.is_open
    assert transport.owns_session
    with pytest.raises(RuntimeError, match="not open"):
        _ = transport.session
    assert transport.api_timeout.total == 1
    assert transport.media_timeout.total is None  # a long download is bounded by stalls only
    assert transport.media_timeout.sock_read == 1
