"""Every error class from its status, with Bird's JSON body and with a proxy's body."""

from __future__ import annotations

import json
from typing import Any

import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, RECORDINGS_URL, count, recording_url
from tests.conftest import FakeClock

STATUS_CLASSES = [
    (400, br.BadRequestError),
    (401, br.AuthenticationError),
    (403, br.PermissionDeniedError),
    (404, br.NotFoundError),
    (422, br.UnprocessableEntityError),
    (429, br.RateLimitError),
    (500, br.ServerError),
    (502, br.ServerError),
    (503, br.ServerError),
    (504, br.ServerError),
    (409, br.APIStatusError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_with_bird_json_body(
    no_retry_client: br.RecordingsClient,
    aioresponses_compat: Any,
    status: int,
    cls: type[br.APIStatusError],
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID),
        status=status,
        payload={"code": "SomeCode", "message": "what Bird said", "details": {"id": ["bad"]}},
    )
    with pytest.raises(br.APIStatusError) as info:
        await no_retry_client.get_recording(REAL_ID)
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.code == "SomeCode"
    assert err.message == "what Bird said"
    assert err.details == {"id": ["bad"]}
    assert err.method == "GET"
    assert err.url == recording_url(REAL_ID)
    assert err.recording_id == REAL_ID
    text = str(err)
    assert f"HTTP {status} SomeCode: what Bird said" in text
    assert REAL_ID in text


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_with_a_proxy_html_body(
    no_retry_client: br.RecordingsClient,
    aioresponses_compat: Any,
    status: int,
    cls: type[br.APIStatusError],
) -> None:
    html = f"<html><head><title>{status}</title></head><body>nginx proxy page</body></html>"
    aioresponses_compat.get(
        recording_url(REAL_ID), status=status, body=html, content_type="text/html"
    )
    with pytest.raises(br.APIStatusError) as info:
        await no_retry_client.get_recording(REAL_ID)
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.code is None
    assert "nginx proxy page" in err.message
    assert err.details is None


async def test_large_proxy_body_is_shortened(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(recording_url(REAL_ID), status=502, body="<p>oops</p>" * 3000)
    with pytest.raises(br.ServerError) as info:
        await no_retry_client.get_recording(REAL_ID)
    assert len(info.value.message) <= 301
    assert len(str(info.value)) < 600


async def test_error_on_list_and_metrics(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(RECORDINGS_URL, status=403, payload={"code": "Forbidden", "message": "no role"})
    with pytest.raises(br.PermissionDeniedError) as info:
        await no_retry_client.list_recordings()
    assert info.value.recording_id is None
    assert info.value.code == "Forbidden"


async def test_rate_limit_error_exposes_retry_after(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID),
        status=429,
        headers={"Retry-After": "12"},
        payload={"code": "TooManyRequests", "message": "slow down"},
    )
    with pytest.raises(br.RateLimitError) as info:
        await no_retry_client.get_recording(REAL_ID)
    assert info.value.retry_after == 12.0


@pytest.mark.parametrize(
    ("body", "content_type", "match"),
    [
        ("<html>maintenance</html>", "text/html", "not JSON"),
        ("", "application/json", "not JSON"),
        ('["a", "list"]', "application/json", "expected a JSON object"),
        ('{"id": 5}', "application/json", "does not match the Recording schema"),
    ],
)
async def test_200_with_a_body_that_does_not_fit(
    no_retry_client: br.RecordingsClient,
    aioresponses_compat: Any,
    body: str,
    content_type: str,
    match: str,
) -> None:
    aioresponses_compat.get(
        recording_url(REAL_ID), status=200, body=body, content_type=content_type
    )
    with pytest.raises(br.ResponseValidationError, match=match) as info:
        await no_retry_client.get_recording(REAL_ID)
    assert f"recording {REAL_ID}" in str(info.value)


async def test_client_errors_are_not_retried_even_with_retries_on(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    for status in (400, 401, 403, 404, 422):
        aioresponses_compat.get(
            recording_url(REAL_ID), status=status, body=json.dumps({"code": "x", "message": "y"})
        )
        with pytest.raises(br.APIStatusError):
            await client.get_recording(REAL_ID)
    assert count(aioresponses_compat) == 5
    assert fake_clock.sleeps == []
    assert client.retries_performed == 0
