"""The access key never appears in an exception, a repr, or a log line (DEBUG included)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, RECORDINGS_URL, recording_url
from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE, FakeClock
from tests.fixtures import load


def chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def assert_no_key(exc: BaseException) -> None:
    for link in chain(exc):
        assert ACCESS_KEY not in str(link)
        assert ACCESS_KEY not in repr(link)
        assert ACCESS_KEY not in repr(getattr(link, "args", ()))
        assert ACCESS_KEY not in repr(vars(link)) if hasattr(link, "__dict__") else True


async def test_key_absent_from_errors_and_debug_logs(
    client: br.RecordingsClient,
    aioresponses_compat: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=503, body="busy")
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    m.get(recording_url("missing"), status=404, payload={"code": "NotFound", "message": "no"})
    m.get(
        recording_url("denied"),
        status=401,
        payload={"code": "Unauthorized", "message": "invalid access key"},
    )
    for _ in range(5):
        m.get(recording_url("down"), exception=aiohttp.ClientConnectionError("refused"))
        m.get(recording_url("slow"), exception=TimeoutError())
    m.get(RECORDINGS_URL, body="<html>not json</html>")

    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        await client.get_recording(REAL_ID)
        for rid in ("missing", "denied", "down", "slow"):
            with pytest.raises(br.BirdRecordingsError) as info:
                await client.get_recording(rid)
            errors.append(info.value)
        with pytest.raises(br.ResponseValidationError) as page_info:
            await client.list_recordings()
        errors.append(page_info.value)

    assert [type(e) for e in errors] == [
        br.NotFoundError,
        br.AuthenticationError,
        br.APIConnectionError,
        br.APITimeoutError,
        br.ResponseValidationError,
    ]
    for err in errors:
        assert_no_key(err)
    assert caplog.records, "the client logs its requests at DEBUG"
    assert ACCESS_KEY not in caplog.text
    for record in caplog.records:
        assert ACCESS_KEY not in record.getMessage()
        assert ACCESS_KEY not in repr(record.args)


async def test_key_absent_even_if_a_proxy_echoes_the_request(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    # Some debugging proxies and WAF block pages echo the request headers back.
    echo = f"<html><pre>GET / HTTP/1.1\nAuthorization: AccessKey {ACCESS_KEY}\n</pre></html>"
    aioresponses_compat.get(recording_url(REAL_ID), status=403, body=echo)
    with pytest.raises(br.PermissionDeniedError) as info:
        await no_retry_client.get_recording(REAL_ID)
    assert_no_key(info.value)
    assert "Authorization: AccessKey" in info.value.message  # the rest of the text is kept


async def test_key_absent_from_bird_json_echo(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID),
        status=401,
        payload={
            "code": "Unauthorized",
            "message": f"key {ACCESS_KEY} is revoked",
            "details": {"key": ACCESS_KEY},
        },
    )
    with pytest.raises(br.AuthenticationError) as info:
        await no_retry_client.get_recording(REAL_ID)
    assert_no_key(info.value)


async def test_client_and_models_reprs(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    rec = await client.get_recording(REAL_ID)
    assert ACCESS_KEY not in repr(client)
    assert ACCESS_KEY not in repr(rec)
    assert ACCESS_KEY not in repr(client.retry)
    assert "X-Amz-Signature=REDACTED" in repr(rec)


def test_configuration_errors_do_not_echo_the_key() -> None:
    with pytest.raises(br.ConfigurationError) as info:
        br.RecordingsClient(ACCESS_KEY, WORKSPACE, base_url="ftp://x", auth_scheme="Bearer")
    assert ACCESS_KEY not in str(info.value)
    with pytest.raises(br.ConfigurationError) as info:
        br.RecordingsClient(ACCESS_KEY, WORKSPACE, base_url=BASE_URL, auth_scheme="Token")
    assert ACCESS_KEY not in str(info.value)


async def test_key_absent_when_the_body_does_not_fit(
    fake_clock: FakeClock, aioresponses_compat: Any
) -> None:
    body = dict(load("recording_real.json"), stereo=ACCESS_KEY)  # a wrong-typed echo
    aioresponses_compat.get(recording_url(REAL_ID), payload=body)
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL, clock=fake_clock, rate_limit=None
    ) as client:
        with pytest.raises(br.ResponseValidationError) as info:
            await client.get_recording(REAL_ID)
    assert_no_key(info.value)
