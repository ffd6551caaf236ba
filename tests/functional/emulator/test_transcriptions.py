"""The emulator's transcriptions over real sockets, with plain aiohttp.

Create (202), the schedule on the emulator's clock, every end state, the
recording's ``transcription`` flag, paging, 404/422, content in four formats
(SRT and WebVTT checked strictly), body and redirect delivery, and faults.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bird_recordings._converter import make_converter, parse_datetime
from bird_recordings._models import Transcription
from bird_recordings.emulator import BirdEmulator
from tests.transcript_checks import parse_srt, parse_vtt, vtt_voice

from .conftest import Api

NOT_FOUND_ID = "00000000-0000-4000-8000-000000000000"
STRICT = make_converter(strict=True)


async def create(api: Api, rid: str, body: Any = None) -> tuple[int, Any]:
    payload = {"locale": "en-US"} if body is None else body
    url = api.url(f"/recordings/{rid}/transcriptions")
    async with api.session.post(url, headers=api.headers, json=payload) as resp:
        return resp.status, await resp.json()


async def content(api: Api, tid: str, fmt: str, **kwargs: Any) -> aiohttp.ClientResponse:
    url = api.url(f"/transcriptions/{tid}.{fmt}")
    async with api.session.get(url, headers=api.headers, **kwargs) as resp:
        await resp.read()
        return resp


def fresh_recording(emu: BirdEmulator) -> str:
    """An available recording with no transcription yet."""
    return emu.add_recording(status="available", transcription=False, size_bytes=40_000).id


# Create ----------------------------------------------------------------------------


async def test_create_answers_202_with_an_accepted_transcription(api: Api) -> None:
    rid = fresh_recording(api.emu)
    status, body = await create(api, rid, {"locale": "nl-NL"})
    assert status == 202
    transcription = STRICT.structure(body, Transcription)
    assert transcription.status == "accepted"
    assert transcription.recording_id == rid
    assert transcription.locale == "nl-NL"
    assert transcription.stereo == api.emu.recordings[rid].stereo
    assert abs((transcription.created_at - api.emu.now()).total_seconds()) < 0.01
    assert "url" not in body
    assert "summary" not in body
    assert set(body) == {
        "id",
        "recordingId",
        "status",
        "stereo",
        "locale",
        "createdAt",
        "updatedAt",
    }


async def test_missing_locale_means_en_us(api: Api) -> None:
    status, body = await create(api, fresh_recording(api.emu), {})
    assert status == 202
    assert body["locale"] == "en-US"


@pytest.mark.parametrize("locale", ["xx-XX", "en-us", "EN-US", "en", "", 42, None])
async def test_unsupported_locale_is_422_with_details(api: Api, locale: object) -> None:
    before = len(api.emu.transcriptions)
    status, body = await create(api, fresh_recording(api.emu), {"locale": locale})
    assert status == 422
    assert body["code"] == "InvalidPayload"
    assert "locale" in body["details"]
    assert len(api.emu.transcriptions) == before


async def test_create_errors(api: Api) -> None:
    emu = api.emu
    assert (await create(api, NOT_FOUND_ID))[0] == 404
    assert (await create(api, "not-a-uuid"))[0] == 422
    live = emu.add_recording(status="ongoing").id
    status, body = await create(api, live)
    assert status == 422
    assert "status ongoing" in body["message"]
    status, body = await create(api, fresh_recording(emu), {"locale": "en-US", "messageId": "x"})
    assert status == 422
    assert "messageId" in body["details"]
    url = api.url(f"/recordings/{fresh_recording(emu)}/transcriptions")
    async with api.session.post(url, headers=api.headers, data=b"{not json") as resp:
        assert resp.status == 400
        assert set(await resp.json()) == {"code", "message"}
    async with api.session.post(url, json={"locale": "en-US"}) as resp:
        assert resp.status == 401


async def test_optional_ids_are_accepted(api: Api) -> None:
    body = {
        "locale": "en-GB-WLS",
        "messageId": "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd",
        "conversationId": "50fa2203-66c2-4820-864a-1a8002952f4e",
    }
    status, created = await create(api, fresh_recording(api.emu), body)
    assert status == 202
    assert created["locale"] == "en-GB-WLS"


# The schedule and end states ---------------------------------------------------------


async def test_status_follows_the_emulator_clock_to_available(api: Api) -> None:
    emu = api.emu
    rid = fresh_recording(emu)
    _, created = await create(api, rid)
    tid = created["id"]

    async def current() -> dict[str, Any]:
        status, body = await api.get_json(f"/transcriptions/{tid}")
        assert status == 200
        return dict(body)

    assert (await current())["status"] == "accepted"
    emu.advance_clock(1.9)
    assert (await current())["status"] == "accepted"
    emu.advance_clock(0.2)
    ongoing = await current()
    assert ongoing["status"] == "ongoing"
    assert parse_datetime(ongoing["updatedAt"]) > parse_datetime(ongoing["createdAt"])
    _, recording = await api.get_json(f"/recordings/{rid}")
    assert recording["transcription"] is False
    emu.advance_clock(7.0)
    done = await current()
    assert done["status"] == "available"
    assert done["url"].startswith(emu.storage_url)
    assert isinstance(done["summary"], str)
    STRICT.structure(done, Transcription)
    _, recording = await api.get_json(f"/recordings/{rid}")
    assert recording["transcription"] is True
    assert emu.recordings[rid].transcription is True


@pytest.mark.parametrize("outcome", ["failed", "absent"])
async def test_outcome_per_recording(api: Api, outcome: str) -> None:
    emu = api.emu
    rid = fresh_recording(emu)
    emu.transcription_outcomes[rid] = outcome  # type: ignore[assignment]
    _, created = await create(api, rid)
    emu.advance_clock(9.0)
    _, body = await api.get_json(f"/transcriptions/{created['id']}")
    assert body["status"] == outcome
    assert "url" not in body
    _, recording = await api.get_json(f"/recordings/{rid}")
    assert recording["transcription"] is False
    assert (await content(api, created["id"], "txt")).status == 404


async def test_default_outcome_and_schedule_are_settable(clock: list[float]) -> None:
    async with (
        BirdEmulator(
            recordings=3, seed=2, clock=lambda: clock[0], transcription_schedule_s=(0, 0)
        ) as emu,
        aiohttp.ClientSession() as session,
    ):
        api = Api(emu, session)
        emu.transcription_outcome = "failed"
        _, body = await create(api, fresh_recording(emu))
        assert body["status"] == "failed"


async def test_add_and_update_transcription(api: Api) -> None:
    emu = api.emu
    rid = fresh_recording(emu)
    done = emu.add_transcription(rid, status="available", locale="de-DE")
    assert done.status == "available"
    assert emu.recordings[rid].transcription is True
    slow = emu.add_transcription(rid, schedule_s=(10, 10))
    assert slow.status == "accepted"
    failed = emu.update_transcription(slow.id, status="failed")
    assert failed.status == "failed"
    _, body = await api.get_json(f"/transcriptions/{slow.id}")
    assert body["status"] == "failed"
    with pytest.raises(ValueError, match="unknown transcription status"):
        emu.update_transcription(slow.id, status="done")
    with pytest.raises(KeyError):
        emu.add_transcription(NOT_FOUND_ID)


# Get and list --------------------------------------------------------------------------


async def test_get_unknown_is_404_and_non_uuid_is_422(api: Api) -> None:
    status, body = await api.get_json(f"/transcriptions/{NOT_FOUND_ID}")
    assert (status, body["code"]) == (404, "NotFound")
    status, body = await api.get_json("/transcriptions/nope")
    assert status == 422


async def test_seeded_transcriptions_match_the_recording_flag(api: Api) -> None:
    emu = api.emu
    transcribed = {t.recording_id for t in emu.transcriptions.values() if t.is_available}
    flagged = {rid for rid, rec in emu.recordings.items() if rec.transcription}
    assert transcribed == flagged
    assert flagged, "seed 11 should give some transcribed recordings"
    assert all(emu.recordings[rid].status == "available" for rid in flagged)


async def test_list_pages_newest_first_and_omits_the_last_token(api: Api) -> None:
    emu = api.emu
    for _ in range(5):
        await create(api, fresh_recording(emu))
        emu.advance_clock(1)
    seen: list[dict[str, Any]] = []
    token: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 3}
        if token:
            query["pageToken"] = token
        status, page = await api.get_json("/transcriptions", **query)
        assert status == 200
        assert len(page["results"]) <= 3
        seen.extend(page["results"])
        pages += 1
        token = page.get("nextPageToken")
        if token is None:
            assert "nextPageToken" not in page
            break
    assert sorted(t["id"] for t in seen) == sorted(emu.transcriptions)
    keys = [(parse_datetime(t["createdAt"]), t["id"]) for t in seen]
    assert keys == sorted(keys, reverse=True)
    assert pages == -(-len(seen) // 3)
    for item in seen:
        STRICT.structure(item, Transcription)


async def test_list_validates_limit_and_token(api: Api) -> None:
    assert (await api.get_json("/transcriptions", limit=0))[0] == 422
    assert (await api.get_json("/transcriptions", limit=100))[0] == 422
    assert (await api.get_json("/transcriptions", pageToken="garbage"))[0] == 422
    status, page = await api.get_json("/transcriptions")
    assert status == 200
    assert len(page["results"]) <= 10


# Content -------------------------------------------------------------------------------


async def available_transcription(api: Api) -> str:
    _, created = await create(api, fresh_recording(api.emu))
    api.emu.advance_clock(9)
    return str(created["id"])


async def test_content_is_404_until_available(api: Api) -> None:
    _, created = await create(api, fresh_recording(api.emu))
    for fmt in ("json", "srt", "vtt", "txt"):
        resp = await content(api, created["id"], fmt)
        assert resp.status == 404
    api.emu.advance_clock(3)
    assert (await content(api, created["id"], "vtt")).status == 404
    api.emu.advance_clock(6)
    assert (await content(api, created["id"], "vtt")).status == 200


async def test_content_in_four_consistent_formats(api: Api) -> None:
    tid = await available_transcription(api)
    texts: dict[str, str] = {}
    types = {
        "json": "application/json",
        "srt": "application/x-subrip",
        "vtt": "text/vtt",
        "txt": "text/plain",
    }
    for fmt, content_type in types.items():
        url = api.url(f"/transcriptions/{tid}.{fmt}")
        async with api.session.get(url, headers=api.headers) as resp:
            assert resp.status == 200
            assert resp.content_type == content_type
            assert resp.charset == "utf-8"
            texts[fmt] = (await resp.read()).decode("utf-8")
    data = json.loads(texts["json"])
    assert data["id"] == tid
    segments = data["segments"]
    srt = parse_srt(texts["srt"])
    vtt = parse_vtt(texts["vtt"])
    assert len(segments) == len(srt) == len(vtt) >= 2
    for segment, (s_start, s_end, s_text), (v_start, v_end, v_text) in zip(
        segments, srt, vtt, strict=True
    ):
        assert round(segment["start"] * 1000) == s_start == v_start
        assert round(segment["end"] * 1000) == s_end == v_end
        assert s_text == f"{segment['speaker']}: {segment['text']}"
        assert vtt_voice(v_text) == (segment["speaker"], segment["text"])
    assert texts["txt"].splitlines() == [f"{s['speaker']}: {s['text']}" for s in segments]
    assert texts["txt"].encode() == api.emu.transcript_content(tid, "txt")


async def test_content_is_deterministic_per_seed(clock: list[float]) -> None:
    async def words(seed: int) -> bytes:
        async with BirdEmulator(recordings=30, seed=seed, clock=lambda: clock[0]) as emu:
            tid = sorted(emu.transcriptions)[0]
            return emu.transcript_content(tid, "vtt")

    assert await words(4) == await words(4)
    assert await words(4) != await words(5)


async def test_unknown_format_is_404(api: Api) -> None:
    tid = await available_transcription(api)
    assert (await content(api, tid, "pdf")).status == 404
    assert (await content(api, NOT_FOUND_ID, "txt")).status == 404
    assert (await content(api, "nope", "txt")).status == 422


async def test_redirect_delivery_serves_the_same_bytes_from_storage(api: Api) -> None:
    emu = api.emu
    tid = await available_transcription(api)
    emu.transcript_delivery = "redirect"
    for fmt in ("json", "srt", "vtt", "txt"):
        url = api.url(f"/transcriptions/{tid}.{fmt}")
        async with api.session.get(url, headers=api.headers, allow_redirects=False) as resp:
            assert resp.status == 307
            location = resp.headers["Location"]
        assert location.startswith(emu.storage_url)
        assert "X-Amz-Signature=" in location
        async with api.session.get(location) as resp:
            assert resp.status == 200
            assert resp.headers["ETag"].startswith('"')
            assert await resp.read() == emu.transcript_content(tid, fmt)
    headers = {"Authorization": f"AccessKey {emu.access_key}"}
    async with api.session.get(location, headers=headers) as resp:
        assert resp.status == 400
        assert b"Only one auth mechanism allowed" in await resp.read()
    async with api.session.get(location, headers={"Range": "bytes=0-9"}) as resp:
        assert resp.status == 206
        assert await resp.read() == emu.transcript_content(tid, "txt")[:10]
    emu.advance_clock(601)
    async with api.session.get(location) as resp:
        assert resp.status == 403
        assert b"Request has expired" in await resp.read()


# Faults and the request log -------------------------------------------------------------


async def test_faults_apply_to_transcription_routes(api: Api) -> None:
    emu = api.emu
    rid = fresh_recording(emu)
    before = len(emu.transcriptions)
    fault = emu.faults.status(503, method="POST", path_contains="/transcriptions", retry_after=2)
    url = api.url(f"/recordings/{rid}/transcriptions")
    async with api.session.post(url, headers=api.headers, json={"locale": "en-US"}) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "2"
    assert fault.triggered == 1
    assert len(emu.transcriptions) == before
    emu.faults.malformed_json(path_contains="/transcriptions")
    async with api.session.get(api.url("/transcriptions"), headers=api.headers) as resp:
        assert resp.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())
    post = [r for r in emu.requests if r.method == "POST"]
    assert post
    assert post[-1].recording_id == rid


async def test_body_faults_cut_transcript_content(api: Api) -> None:
    tid = await available_transcription(api)
    api.emu.faults.truncate(origin="api", after_bytes=10, path_contains=".txt")
    url = api.url(f"/transcriptions/{tid}.txt")
    async with api.session.get(url, headers=api.headers) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


def test_process_options_for_transcriptions() -> None:
    from bird_recordings.emulator._process import build_parser

    args = build_parser().parse_args(
        ["--transcript-delivery", "redirect", "--transcription-schedule", "0,1.5"]
    )
    assert args.transcript_delivery == "redirect"
    assert args.transcription_schedule == (0.0, 1.5)
    defaults = build_parser().parse_args([])
    assert (defaults.transcript_delivery, defaults.transcription_schedule) == ("body", (2.0, 7.0))
    for bad in ("1", "a,b", "-1,2"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--transcription-schedule", bad])


def test_emulator_options_are_checked() -> None:
    with pytest.raises(ValueError, match="transcript_delivery"):
        BirdEmulator(recordings=0, transcript_delivery="email")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="schedule"):
        BirdEmulator(recordings=0, transcription_schedule_s=(1, -1))
