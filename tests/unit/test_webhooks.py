"""Webhook verification (Bird's documented computation), parsing, and the receiver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings import webhooks

KEY = "whsec-test-signing-key"
URL = "https://example.com/bird/webhooks?tenant=7"
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "service": "channels",
        "event": "voice.outbound",
        "payload": {
            "id": "0e4e8a1b-2a4c-4c33-9b7e-6d0f0a9a1c11",
            "channelId": "880d8171-cbab-47bb-81b6-b1a0902da136",
            "status": "completed",
            "direction": "outgoing",
            "duration": 29,
            "createdAt": "2023-10-23T15:55:08.234Z",
            "endedAt": "2023-10-23T15:55:38.101Z",
            "from": "+3197004499436",
            "somethingNew": {"x": 1},
        },
    }
).encode()


def bird_signature(key: str, timestamp: str, url: str, body: bytes) -> str:
    """Bird's documentation, step by step: HMAC-SHA256(key, ts + "\\n" + url + "\\n" +
    SHA256(body) raw digest), base64-encoded."""
    body_digest = hashlib.sha256(body).digest()
    message = timestamp.encode() + b"\n" + url.encode() + b"\n" + body_digest
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def check(**changes: Any) -> None:
    args: dict[str, Any] = {
        "signature": bird_signature(KEY, str(NOW), URL, BODY),
        "timestamp": str(NOW),
        "url": URL,
        "body": BODY,
        "now": NOW + 10,
    }
    args.update(changes)
    webhooks.verify(KEY, **args)


def test_accepts_bird_s_documented_computation() -> None:
    check()
    check(now=datetime.fromtimestamp(NOW, UTC))
    webhooks.verify(
        KEY.encode(),
        signature=bird_signature(KEY, str(NOW), URL, BODY),
        timestamp=str(NOW),
        url=URL,
        body=BODY,
        now=NOW - 299,
    )


def test_a_fixed_vector() -> None:
    # Computed once with the formula above; pins the byte layout (no hex digest, no spaces).
    signature = base64.b64encode(
        webhooks.signature_for("k", timestamp="1", url="u", body=b"")
    ).decode()
    expected_message = b"1\nu\n" + bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert (
        signature
        == base64.b64encode(hmac.new(b"k", expected_message, hashlib.sha256).digest()).decode()
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"body": BODY + b" "}, "mismatch"),
        ({"url": URL.replace("tenant=7", "tenant=8")}, "mismatch"),
        ({"url": "http://example.com/bird/webhooks?tenant=7"}, "mismatch"),
        ({"now": NOW + 301}, "stale-timestamp"),
        ({"now": NOW - 301}, "stale-timestamp"),
        ({"signature": "not base64!!"}, "bad-base64"),
        ({"signature": base64.b64encode(b"short").decode()}, "bad-length"),
        ({"signature": None}, "missing-signature"),
        ({"timestamp": ""}, "missing-timestamp"),
        ({"timestamp": "2023-10-23T15:55:08Z"}, "bad-timestamp"),
        ({"timestamp": str(NOW + 1)}, "mismatch"),
    ],
)
def test_rejects(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(br.WebhookSignatureError) as caught:
        check(**changes)
    assert caught.value.reason == reason
    assert isinstance(caught.value, br.BirdRecordingsError)
    expected = bird_signature(KEY, str(NOW), URL, BODY)
    assert KEY not in str(caught.value)
    assert expected not in str(caught.value)


def test_a_wrong_key_is_a_mismatch() -> None:
    with pytest.raises(br.WebhookSignatureError) as caught:
        webhooks.verify(
            "other",
            signature=bird_signature(KEY, str(NOW), URL, BODY),
            timestamp=str(NOW),
            url=URL,
            body=BODY,
            now=NOW,
        )
    assert caught.value.reason == "mismatch"


def test_parse_event_types_the_call_and_keeps_the_payload() -> None:
    event = webhooks.parse_event(BODY, request_id="r-1")
    assert event.event == br.VoiceEventType.OUTBOUND
    assert event.service == "channels"
    assert event.request_id == "r-1"
    call = event.call
    assert call.status == br.CallStatus.COMPLETED
    assert call.status.is_final
    assert call.channel_id == "880d8171-cbab-47bb-81b6-b1a0902da136"
    assert call.duration == 29
    assert call.ended_at == datetime(2023, 10, 23, 15, 55, 38, 101000, tzinfo=UTC)
    assert event.payload["somethingNew"] == {"x": 1}
    assert event.payload["from"] == "+3197004499436"


def test_parse_event_keeps_unknown_values_and_skips_odd_optional_fields() -> None:
    body = {
        "event": "voice.transferred",
        "payload": {"id": "c", "status": "parked", "duration": "x"},
    }
    event = webhooks.parse_event(body)
    assert event.event == "voice.transferred"
    assert not event.event.is_known
    assert event.call.status == "parked"
    assert not event.call.status.is_final
    assert event.call.duration is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"event": "voice.inbound"}',
        b'{"event": "voice.inbound", "payload": {"id": "c"}}',
        b'{"event": 3, "payload": {"id": "c", "status": "ringing"}}',
        b'{"event": "voice.inbound", "payload": {"id": 1, "status": "ringing"}}',
    ],
)
def test_parse_event_refuses_what_lacks_the_required_fields(body: bytes) -> None:
    with pytest.raises(br.ResponseValidationError):
        webhooks.parse_event(body)


def test_events_serialise_with_to_dict() -> None:
    event = webhooks.parse_event(BODY)
    assert br.to_dict(event.call, case="camel")["channelId"] == event.call.channel_id


# -- the receiver -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def headers(body: bytes = BODY, *, request_id: str = "req-1", ts: int = NOW) -> dict[str, str]:
    return {
        "MessageBird-Signature": bird_signature(KEY, str(ts), URL, body),
        "MessageBird-Request-Timestamp": str(ts),
        "MessageBird-Request-Id": request_id,
    }


async def test_receiver_answers_at_once_and_calls_back_in_the_background() -> None:
    release = asyncio.Event()
    seen: list[br.VoiceEvent] = []

    async def on_event(event: br.VoiceEvent) -> None:
        await release.wait()
        seen.append(event)

    clock = Clock()
    async with webhooks.WebhookReceiver(KEY, on_event, clock=clock) as receiver:
        answer = await receiver.receive(headers=headers(), url=URL, body=BODY)
        assert (answer.status, answer.code) == (200, "accepted")
        assert receiver.pending == 1
        assert seen == []  # answered before the callback finished
        release.set()
        await asyncio.wait_for(receiver.join(), 5)
    assert [e.call.id for e in seen] == ["0e4e8a1b-2a4c-4c33-9b7e-6d0f0a9a1c11"]
    assert seen[0].request_id == "req-1"


async def test_receiver_deduplicates_on_the_request_id_within_the_ttl() -> None:
    calls: list[str] = []

    async def on_event(event: br.VoiceEvent) -> None:
        calls.append(event.request_id or "")

    clock = Clock()
    async with webhooks.WebhookReceiver(KEY, on_event, clock=clock, dedup_ttl_s=60) as receiver:
        first = await receiver.receive(headers=headers(), url=URL, body=BODY)
        again = await receiver.receive(headers=headers(), url=URL, body=BODY)
        other = await receiver.receive(headers=headers(request_id="req-2"), url=URL, body=BODY)
        clock.now += 61  # the memory of req-1 expired; Bird's signature must be fresh too
        late = await receiver.receive(
            headers=headers(request_id="req-1", ts=int(clock.now)), url=URL, body=BODY
        )
        await asyncio.wait_for(receiver.join(), 5)
    assert [a.code for a in (first, again, other, late)] == [
        "accepted",
        "duplicate",
        "accepted",
        "accepted",
    ]
    assert again.status == 200
    assert calls == ["req-1", "req-2", "req-1"]
    assert receiver.duplicates == 1


async def test_receiver_memory_is_bounded() -> None:
    async def on_event(event: br.VoiceEvent) -> None:
        return None

    async with webhooks.WebhookReceiver(KEY, on_event, clock=Clock(), dedup_max=2) as receiver:
        for rid in ("a", "b", "c", "a"):
            answer = await receiver.receive(headers=headers(request_id=rid), url=URL, body=BODY)
            assert answer.code == "accepted"  # "a" was forgotten when "c" came


async def test_receiver_refuses_bad_deliveries_without_calling_back() -> None:
    async def on_event(event: br.VoiceEvent) -> None:
        raise AssertionError("must not be called")

    bad_body = b'{"event": "voice.inbound", "payload": {}}'
    async with webhooks.WebhookReceiver(KEY, on_event, clock=Clock(), max_body_bytes=10_000) as r:
        tampered = await r.receive(headers=headers(), url=URL, body=BODY + b"\n")
        wrong_url = await r.receive(headers=headers(), url=URL + "&x=1", body=BODY)
        invalid = await r.receive(headers=headers(bad_body), url=URL, body=bad_body)
        huge = await r.receive(headers=headers(), url=URL, body=b"x" * 10_001)
    assert [(a.status, a.code) for a in (tampered, wrong_url, invalid, huge)] == [
        (401, "invalid_signature"),
        (401, "invalid_signature"),
        (400, "invalid_event"),
        (413, "too_large"),
    ]
    assert r.rejected == 4
    # A refused delivery is not remembered: Bird's retry with a good signature goes through.
    assert r.accepted == 0


async def test_a_failing_callback_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    async def on_event(event: br.VoiceEvent) -> None:
        raise RuntimeError("boom")

    caplog.set_level(logging.ERROR, logger="bird_recordings")
    async with webhooks.WebhookReceiver(KEY, on_event, clock=Clock()) as receiver:
        answer = await receiver.receive(headers=headers(), url=URL, body=BODY)
        await asyncio.wait_for(receiver.join(), 5)
    assert answer.status == 200
    assert receiver.failed == 1
    assert "boom" in caplog.text


async def test_aclose_cancels_callbacks_that_outlive_the_timeout() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def on_event(event: br.VoiceEvent) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    receiver = webhooks.WebhookReceiver(KEY, on_event, clock=Clock())
    await receiver.receive(headers=headers(), url=URL, body=BODY)
    await asyncio.wait_for(started.wait(), 5)
    await receiver.aclose(timeout_s=0)
    assert cancelled.is_set()
    assert receiver.pending == 0


def test_receiver_refuses_an_empty_key() -> None:
    async def on_event(event: br.VoiceEvent) -> None:
        return None

    with pytest.raises(br.InvalidArgumentError):
        webhooks.WebhookReceiver("", on_event)
