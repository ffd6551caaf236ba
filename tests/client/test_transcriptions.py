"""Transcription calls against aioresponses: the POST is never retried, paths and
headers, the redirect to storage, decoding, and the poll loop's timing."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, count, recording_url, sent
from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE, FakeClock

TID = "7f1c2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
CREATE_URL = f"{recording_url(REAL_ID)}/transcriptions"
TRANSCRIPTIONS_URL = f"{BASE_URL}/workspaces/{WORKSPACE}/transcriptions"
ONE_URL = f"{TRANSCRIPTIONS_URL}/{TID}"
STORAGE = "https://regional--voice-recordings.s3.eu-west-1.amazonaws.com"
PRESIGNED = (
    f"{STORAGE}/workspaceID%3Aws/transcriptions/{TID}.vtt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20261125T120000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=deadbeefcafe"
)


def client_time() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 25, 12, tzinfo=UTC)


VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Speaker 1>Olá\n"


def transcription(status: str = "accepted", **extra: Any) -> dict[str, Any]:
    return {
        "id": TID,
        "recordingId": REAL_ID,
        "status": status,
        "stereo": False,
        "locale": "en-US",
        "createdAt": "2026-11-25T12:00:00.123Z",
        "updatedAt": "2026-11-25T12:00:01Z",
        **extra,
    }


# Create ------------------------------------------------------------------------------


async def test_create_posts_the_documented_body(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.post(CREATE_URL, status=202, payload=transcription())
    created = await client.create_transcription(
        REAL_ID, "nl-NL", message_id="m-1", conversation_id="c-1"
    )
    assert created.status == br.TranscriptionStatus.ACCEPTED
    assert created.recording_id == REAL_ID
    [(method, url, kwargs)] = sent(m)
    assert (method, str(url)) == ("POST", CREATE_URL)
    assert kwargs["json"] == {"locale": "nl-NL", "messageId": "m-1", "conversationId": "c-1"}
    assert kwargs["headers"]["Authorization"] == f"AccessKey {ACCESS_KEY}"


async def test_create_is_not_retried_when_the_connection_drops(
    client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.post(CREATE_URL, exception=aiohttp.ServerDisconnectedError())
    m.post(CREATE_URL, status=202, payload=transcription())
    with pytest.raises(br.APIConnectionError):
        await client.create_transcription(REAL_ID)
    assert count(m) == 1
    assert fake_clock.sleeps == []
    assert client.retries_performed == 0


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_create_is_not_retried_on_retryable_statuses(
    client: br.RecordingsClient, aioresponses_compat: Any, status: int
) -> None:
    m = aioresponses_compat
    m.post(CREATE_URL, status=status, payload={"code": "X", "message": "no"})
    m.post(CREATE_URL, status=202, payload=transcription())
    with pytest.raises(br.APIStatusError):
        await client.create_transcription(REAL_ID)
    assert count(m) == 1


async def test_invalid_locale_and_bad_arguments_send_nothing(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    with pytest.raises(br.InvalidArgumentError, match="'en-GB'"):
        await client.create_transcription(REAL_ID, "en-gb")
    with pytest.raises(br.InvalidArgumentError):
        await client.create_transcription("")
    with pytest.raises(br.InvalidArgumentError):
        await client.create_transcription(REAL_ID, message_id="")
    with pytest.raises(br.InvalidArgumentError):
        await client.get_transcription_content(TID, "docx")  # type: ignore[call-overload]
    assert count(aioresponses_compat) == 0


# Get and list ---------------------------------------------------------------------------


async def test_get_and_list(client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(ONE_URL, payload=transcription("available", url=PRESIGNED, summary="Hi."))
    got = await client.get_transcription(TID)
    assert got.is_available and got.is_final
    assert got.summary == "Hi."
    assert "deadbeefcafe" not in repr(got)
    m.get(
        re.compile(re.escape(TRANSCRIPTIONS_URL) + r"\?limit=1$"),
        payload={"results": [transcription()], "nextPageToken": "cGFnZS0y"},
    )
    m.get(
        re.compile(re.escape(TRANSCRIPTIONS_URL) + r"\?limit=1&pageToken=cGFnZS0y$"),
        payload={"results": [transcription("ongoing", futureField=1)]},
    )
    items = [t async for t in client.list_transcriptions(limit=1)]
    assert [t.status for t in items] == ["accepted", "ongoing"]
    with pytest.raises(br.InvalidArgumentError):
        client.list_transcriptions(limit=100)


async def test_unknown_status_is_kept_and_not_final(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(ONE_URL, payload=transcription("queued"))
    got = await client.get_transcription(TID)
    assert got.status == "queued"
    assert not got.status.is_known
    assert not got.is_final


# Content --------------------------------------------------------------------------------


async def test_content_body_with_the_format_in_accept(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(f"{ONE_URL}.vtt", status=200, body="\ufeff" + VTT, content_type="text/vtt")
    assert await client.get_transcription_content(TID, "vtt") == VTT
    [(_, _, kwargs)] = sent(m)
    assert kwargs["headers"]["Accept"].startswith("text/vtt")
    assert kwargs["allow_redirects"] is False


async def test_content_json_is_parsed(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(f"{ONE_URL}.json", payload={"segments": [{"text": "hi"}]})
    assert await client.get_transcription_content(TID, "json") == {"segments": [{"text": "hi"}]}


async def test_content_that_is_not_utf8_or_json(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(f"{ONE_URL}.txt", body=b"\xff\xfeh\x00i\x00")
    with pytest.raises(br.ResponseValidationError, match="not UTF-8"):
        await client.get_transcription_content(TID)
    m.get(f"{ONE_URL}.json", body=b"<html>")
    with pytest.raises(br.ResponseValidationError, match="not JSON"):
        await client.get_transcription_content(TID, "json")


async def test_content_redirect_goes_to_storage_without_credentials(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(f"{ONE_URL}.vtt", status=307, headers={"Location": PRESIGNED})
    m.get(re.compile(re.escape(STORAGE) + r"/.*"), status=200, body=VTT)
    assert await client.get_transcription_content(TID, "vtt") == VTT
    storage = [(u, k) for meth, u, k in sent(m) if str(u).startswith(STORAGE)]
    assert len(storage) == 1
    assert "Authorization" not in storage[0][1]["headers"]


async def test_a_plain_http_redirect_is_refused(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    location = PRESIGNED.replace("https://", "http://")
    aioresponses_compat.get(f"{ONE_URL}.vtt", status=307, headers={"Location": location})
    with pytest.raises(br.InvalidMediaURLError):
        await client.get_transcription_content(TID, "vtt")


# Waiting ------------------------------------------------------------------------------------


async def test_wait_honours_retry_after_of_a_429(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    m = aioresponses_compat
    m.get(ONE_URL, status=429, headers={"Retry-After": "12"}, payload={"code": "TooMany"})
    m.get(ONE_URL, payload=transcription("ongoing"))
    m.get(ONE_URL, payload=transcription("available"))
    done = await no_retry_client.wait_for_transcription(TID, poll_interval_s=1)
    assert done.is_available
    assert fake_clock.sleeps[0] == 12
    assert 0.5 <= fake_clock.sleeps[1] < 2.0 + 1e-9
    assert count(m) == 3


async def test_wait_stops_on_a_client_error(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    aioresponses_compat.get(ONE_URL, status=401, payload={"code": "Unauthorized", "message": ""})
    with pytest.raises(br.AuthenticationError):
        await no_retry_client.wait_for_transcription(TID)


async def test_wait_times_out_with_the_last_error_as_cause(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any, fake_clock: FakeClock
) -> None:
    for _ in range(20):
        aioresponses_compat.get(ONE_URL, status=503, payload={"code": "Down", "message": ""})
    with pytest.raises(br.TranscriptionTimeoutError) as caught:
        await no_retry_client.wait_for_transcription(TID, timeout_s=10, poll_interval_s=1)
    assert caught.value.transcription is None
    assert "no status seen" in str(caught.value)
    assert isinstance(caught.value.__cause__, br.ServerError)
    assert sum(fake_clock.sleeps) == pytest.approx(10)


# Delete ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [204, 200])
async def test_delete_sends_one_delete_with_the_key(
    client: br.RecordingsClient, aioresponses_compat: Any, status: int
) -> None:
    m = aioresponses_compat
    m.delete(ONE_URL, status=status)
    await client.delete_transcription(TID)
    [(method, url, kwargs)] = sent(m)
    assert (method, str(url)) == ("DELETE", ONE_URL)
    assert kwargs["headers"]["Authorization"] == f"AccessKey {ACCESS_KEY}"


async def test_delete_accepts_a_transcription_and_maps_404(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.delete(
        ONE_URL, status=404, payload={"code": "NotFound", "message": "transcription not found"}
    )
    obj = br.Transcription(
        id=TID,
        recording_id=REAL_ID,
        status=br.TranscriptionStatus.AVAILABLE,
        stereo=False,
        locale="en-US",
        created_at=client_time(),
        updated_at=client_time(),
    )
    with pytest.raises(br.NotFoundError, match="transcription not found"):
        await client.delete_transcription(obj)
    assert count(m) == 1  # a 404 is an answer, not retried


@pytest.mark.parametrize("bad", [".", "..", "a/b", "/", "", "  "])
async def test_delete_refuses_ids_that_would_change_the_path(
    client: br.RecordingsClient, aioresponses_compat: Any, bad: str
) -> None:
    with pytest.raises(br.InvalidArgumentError):
        await client.delete_transcription(bad)
    assert count(aioresponses_compat) == 0
