"""Resolving a recording's media URL: the .mp3 redirect and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, count, recording_url

PRESIGNED = (
    "https://bucket.s3.eu-west-1.amazonaws.com/ws/rec.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIA%2F20261125%2Feu-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261125T120000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=TOKEN&X-Amz-Signature=abc123"
)
FIXTURES = Path(__file__).parent.parent / "fixtures"


def mp3_url(recording_id: str = REAL_ID) -> str:
    return recording_url(recording_id) + ".mp3"


async def test_the_307_location_becomes_a_media_url_with_its_expiry(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(mp3_url(), status=307, headers={"Location": PRESIGNED})
    media = await client.get_media_url(REAL_ID)
    assert media.url == PRESIGNED
    assert media.expires_at == datetime(2026, 11, 25, 12, 10, tzinfo=UTC)
    assert "abc123" not in repr(media)
    assert "TOKEN" not in repr(media)
    assert count(aioresponses_compat) == 1


@pytest.mark.parametrize(
    ("status", "headers", "match"),
    [
        (307, {}, "without a Location"),
        (307, {"Location": "/relative/path.mp3"}, "not an absolute URL"),
        (307, {"Location": "http://evil.example/x.mp3"}, "only https"),
        (200, {"Content-Type": "audio/mpeg"}, "instead of a 307"),
    ],
)
async def test_unusable_answers_raise_invalid_media_url(
    no_retry_client: br.RecordingsClient,
    aioresponses_compat: Any,
    status: int,
    headers: dict[str, str],
    match: str,
) -> None:
    aioresponses_compat.get(mp3_url(), status=status, headers=headers)
    with pytest.raises(br.InvalidMediaURLError, match=match):
        await no_retry_client.get_media_url(REAL_ID)


async def test_a_404_for_a_recording_without_media_is_explained(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    record = json.loads((FIXTURES / "recording_real.json").read_text())
    record["status"] = "ongoing"
    aioresponses_compat.get(mp3_url(), status=404, payload={"code": "NotFound", "message": "x"})
    aioresponses_compat.get(recording_url(REAL_ID), payload=record)
    with pytest.raises(br.RecordingNotAvailableError) as info:
        await no_retry_client.get_media_url(REAL_ID)
    assert info.value.status == "ongoing"


async def test_a_recording_that_is_not_available_sends_nothing(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    record = json.loads((FIXTURES / "recording_real.json").read_text())
    record["status"] = "failed"
    from bird_recordings._converter import converter

    rec = converter.structure(record, br.Recording)
    with pytest.raises(br.RecordingNotAvailableError):
        await no_retry_client.get_media_url(rec)
    assert count(aioresponses_compat) == 0


@pytest.mark.parametrize(
    "location", ["http://127.0.0.1:9000/rec.mp3", "http://localhost/rec.mp3", "http://s3.test/x"]
)
async def test_plain_http_storage_behind_an_https_api_needs_the_opt_in(
    fake_clock: Any, aioresponses_compat: Any, location: str
) -> None:
    from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE

    assert BASE_URL.startswith("https://")
    for allow in (False, True):
        aioresponses_compat.get(mp3_url(), status=307, headers={"Location": location})
        async with br.RecordingsClient(
            ACCESS_KEY,
            WORKSPACE,
            base_url=BASE_URL,
            clock=fake_clock,
            retry=br.RetryPolicy.disabled(),
            allow_insecure_storage=allow,
        ) as client:
            if allow:
                assert (await client.get_media_url(REAL_ID)).url == location
            else:
                with pytest.raises(br.InvalidMediaURLError, match="allow_insecure_storage"):
                    await client.get_media_url(REAL_ID)
