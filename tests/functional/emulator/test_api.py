"""The API origin over real sockets: auth, listing, filters, paging, get, media redirect, delete."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import attrs
import pytest

from bird_recordings._converter import converter, parse_datetime
from bird_recordings._models import CallRecording, Recording
from bird_recordings.emulator import BirdEmulator

from .conftest import FIXED_NOW, Api, available_id

NOT_FOUND_ID = "00000000-0000-4000-8000-000000000000"


# Authentication and addressing ----------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "AccessKey wrong-key", "Basic abc", "AccessKey", "Token {key}"],
)
async def test_missing_or_wrong_key_is_401_with_bird_error_body(
    api: Api, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header.format(key=api.emu.access_key)}
    async with api.session.get(api.url("/recordings"), headers=headers) as resp:
        assert resp.status == 401
        body = await resp.json()
    assert set(body) == {"code", "message"}
    assert all(isinstance(v, str) for v in body.values())


@pytest.mark.parametrize("scheme", ["AccessKey", "Bearer", "accesskey"])
async def test_accesskey_and_bearer_schemes_are_accepted(api: Api, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {api.emu.access_key}"}
    async with api.session.get(api.url("/recordings"), headers=headers) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"


async def test_unknown_workspace_is_404(api: Api) -> None:
    url = f"{api.emu.base_url}/workspaces/{NOT_FOUND_ID}/recordings"
    async with api.session.get(url, headers=api.headers) as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == "NotFound"


async def test_unknown_route_is_json_404(api: Api) -> None:
    async with api.session.get(f"{api.emu.base_url}/nope", headers=api.headers) as resp:
        assert resp.status == 404
        assert set(await resp.json()) == {"code", "message"}


async def test_get_unknown_id_is_404_and_non_uuid_is_422(api: Api) -> None:
    status, body = await api.get_json(f"/recordings/{NOT_FOUND_ID}")
    assert status == 404
    assert body["code"] == "NotFound"
    status, body = await api.get_json("/recordings/not-a-uuid")
    assert status == 422
    assert {"code", "message"} <= set(body)


# Listing --------------------------------------------------------------------------


async def test_paging_visits_every_recording_once_newest_first(api: Api) -> None:
    items = await api.list_all(limit=7)
    ids = [item["id"] for item in items]
    assert sorted(ids) == sorted(api.emu.recordings)
    keys = [(parse_datetime(i["createdAt"]), i["id"]) for i in items]
    assert keys == sorted(keys, reverse=True)


async def test_default_limit_is_10_and_last_page_has_no_token(api: Api) -> None:
    status, page = await api.get_json("/recordings")
    assert status == 200
    assert len(page["results"]) == 10
    assert len(page["nextPageToken"]) <= 8000
    status, page = await api.get_json("/recordings", limit=99)
    assert len(page["results"]) == 40
    assert "nextPageToken" not in page


@pytest.mark.parametrize("limit", ["0", "100", "-1", "abc", "1.5"])
async def test_limit_outside_1_to_99_is_422(api: Api, limit: str) -> None:
    status, body = await api.get_json("/recordings", limit=limit)
    assert status == 422
    assert "limit" in body["message"]


async def test_page_token_is_bound_to_its_filters(api: Api) -> None:
    _, page = await api.get_json("/recordings", limit=2, direction="incoming")
    token = page["nextPageToken"]
    status, body = await api.get_json("/recordings", limit=2, pageToken=token)
    assert status == 422
    assert "pageToken" in body["message"]
    status, page2 = await api.get_json(
        "/recordings", limit=5, pageToken=token, direction="incoming"
    )
    assert status == 200
    assert {i["id"] for i in page2["results"]}.isdisjoint({i["id"] for i in page["results"]})


@pytest.mark.parametrize("token", ["garbage", "eyJ2IjoxfQ", "x" * 8001])
async def test_malformed_page_token_is_422(api: Api, token: str) -> None:
    status, _ = await api.get_json("/recordings", pageToken=token)
    assert status == 422


async def test_paging_survives_deleting_the_cursor_recording(api: Api) -> None:
    _, page = await api.get_json("/recordings", limit=5)
    last = page["results"][-1]["id"]
    async with api.session.delete(api.url(f"/recordings/{last}"), headers=api.headers) as r:
        assert r.status == 204
    _, page2 = await api.get_json("/recordings", limit=5, pageToken=page["nextPageToken"])
    newest_first = sorted(
        api.emu.recordings.values(), key=lambda r: (r.created_at, r.id), reverse=True
    )
    expected = newest_first[4:9]
    assert [i["id"] for i in page2["results"]] == [r.id for r in expected]


def _expected(emu: BirdEmulator, keep: Any) -> set[str]:
    return {rid for rid, rec in emu.recordings.items() if keep(rec)}


async def test_filters_are_applied_for_real(api: Api) -> None:
    emu = api.emu
    recs = list(emu.recordings.values())
    source = Counter(r.source_id for r in recs).most_common(1)[0][0]
    channel = next(r.channel_id for r in recs if r.channel_id)
    cases: list[tuple[dict[str, str], Any]] = [
        ({"sourceId": source}, lambda r: r.source_id == source),
        ({"channelId": channel}, lambda r: r.channel_id == channel),
        ({"direction": "incoming"}, lambda r: r.direction == "incoming"),
        ({"direction": "outgoing"}, lambda r: r.direction == "outgoing"),
        ({"status": "available"}, lambda r: r.status == "available"),
        ({"status": "failed"}, lambda r: r.status == "failed"),
    ]
    for params, keep in cases:
        got = {i["id"] for i in await api.list_all(limit=99, **params)}
        assert got == _expected(emu, keep), params
        assert got, params


async def test_time_window_is_start_inclusive_end_exclusive(api: Api) -> None:
    recs = sorted(api.emu.recordings.values(), key=lambda r: r.created_at)
    start, end = recs[5].created_at, recs[15].created_at
    got = {
        i["id"]
        for i in await api.list_all(
            limit=99,
            startAt=start.isoformat().replace("+00:00", "Z"),
            endAt=end.isoformat().replace("+00:00", "Z"),
        )
    }
    assert got == {r.id for r in recs if start <= r.created_at < end}
    assert recs[5].id in got
    assert recs[15].id not in got


async def test_from_and_to_match_numbers_with_or_without_plus(api: Api) -> None:
    emu = api.emu
    rec = next(
        r
        for r in emu.recordings.values()
        if r.originator and r.originator.number and r.originator.number.number
    )
    assert rec.originator is not None
    assert rec.originator.number is not None
    number = rec.originator.number.number
    assert number is not None
    for value in (number, "+" + number.lstrip("+")):
        got = {i["id"] for i in await api.list_all(limit=99, **{"from": value})}
        assert rec.id in got
        for rid in got:
            origin = emu.recordings[rid].originator
            assert origin is not None
            assert origin.number is not None
    rec_to = next(r for r in emu.recordings.values() if r.receiver and r.receiver.contact)
    assert rec_to.receiver is not None
    assert rec_to.receiver.contact is not None
    to = rec_to.receiver.contact.identifier_value
    got = {i["id"] for i in await api.list_all(limit=99, to=to)}
    assert rec_to.id in got


async def test_call_id_filter(api: Api) -> None:
    emu = api.emu
    rec = emu.add_recording(
        call_id="11111111-2222-4333-8444-555555555555",
        channel_id="66666666-7777-4888-8999-000000000000",
    )
    got = await api.list_all(id="11111111-2222-4333-8444-555555555555")
    assert [i["id"] for i in got] == [rec.id]


@pytest.mark.parametrize(
    "params",
    [
        {"direction": "sideways"},
        {"status": "archived"},
        {"startAt": "yesterday"},
        {"sourceId": "nope"},
        {"channelId": "nope"},
        {"id": "nope"},
    ],
)
async def test_invalid_filters_are_422(api: Api, params: dict[str, str]) -> None:
    status, body = await api.get_json("/recordings", **params)
    assert status == 422
    assert body["details"]


# Payloads -------------------------------------------------------------------------


async def test_payloads_match_the_models_strictly(api: Api) -> None:
    from bird_recordings._converter import make_converter

    strict = make_converter(strict=True)
    for item in await api.list_all(limit=99):
        rec = strict.structure(item, Recording)
        stored = api.emu.recordings[rec.id]
        assert attrs.evolve(rec, url=None) == stored
        assert rec.status == stored.status
        assert rec.created_at == stored.created_at
        if rec.status == "available":
            assert rec.url is not None
            assert rec.url.startswith(api.emu.storage_url)
        else:
            assert "url" not in item
        if rec.status in ("ongoing", "accepted", "paused"):
            assert item["endedAt"] == "0001-01-01T00:00:00Z"
            assert "duration" not in item


async def test_seeded_mix_is_realistic(emu: BirdEmulator) -> None:
    async with BirdEmulator(recordings=300, seed=7) as big:
        recs = list(big.recordings.values())
    statuses = Counter(str(r.status) for r in recs)
    assert statuses["available"] > 200
    assert {"ongoing", "failed", "absent"} <= set(statuses)
    assert {r.direction for r in recs} >= {"incoming", "outgoing"}
    assert {r.source for r in recs} == {"call", "conference"}
    ages = [FIXED_NOW - r.created_at.timestamp() for r in recs]
    assert max(ages) <= 31 * 86_400


async def test_seeding_is_deterministic(clock: list[float]) -> None:
    def make() -> BirdEmulator:
        return BirdEmulator(recordings=25, seed=5, clock=lambda: clock[0])

    a, b = make(), make()
    assert (a.access_key, a.workspace_id) == (b.access_key, b.workspace_id)
    assert dict(a.recordings) == dict(b.recordings)
    rid = next(iter(a.recordings))
    assert a.media_bytes(rid) == b.media_bytes(rid)
    other = BirdEmulator(recordings=25, seed=6, clock=lambda: clock[0])
    assert other.workspace_id != a.workspace_id
    given = BirdEmulator(recordings=0, access_key="k", workspace_id=NOT_FOUND_ID)
    assert (given.access_key, given.workspace_id, len(given.recordings)) == ("k", NOT_FOUND_ID, 0)


async def test_get_returns_the_recording_with_a_fresh_url(api: Api) -> None:
    rid = available_id(api.emu)
    status, body = await api.get_json(f"/recordings/{rid}")
    assert status == 200
    assert body["id"] == rid
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["X-Amz-Date"] == ["20231114T221320Z"]
    api.emu.advance_clock(30)
    _, again = await api.get_json(f"/recordings/{rid}")
    assert parse_qs(urlsplit(again["url"]).query)["X-Amz-Date"] == ["20231114T221350Z"]


async def test_date_header_follows_the_emulator_clock(api: Api) -> None:
    api.emu.advance_clock(3600)
    async with api.session.get(api.url("/recordings"), headers=api.headers) as resp:
        assert resp.headers["Date"] == "Tue, 14 Nov 2023 23:13:20 GMT"


async def test_add_and_update_recording(api: Api) -> None:
    emu = api.emu
    rec = emu.add_recording(status="ongoing", size_bytes=5_000_000, direction="incoming")
    assert rec.status == "ongoing"
    assert emu.media_size(rec.id) == 5_000_000
    status, body = await api.get_json(f"/recordings/{rec.id}")
    assert status == 200
    assert body["status"] == "ongoing"
    assert body["direction"] == "incoming"
    async with api.session.get(
        api.url(f"/recordings/{rec.id}.mp3"), headers=api.headers, allow_redirects=False
    ) as resp:
        assert resp.status == 404
    done = emu.update_recording(
        rec.id, status="available", duration=312, ended_at=rec.created_at + timedelta(seconds=312)
    )
    assert done.status == "available"
    _, body = await api.get_json(f"/recordings/{rec.id}")
    assert body["status"] == "available"
    assert body["duration"] == 312
    assert "url" in body
    with pytest.raises(TypeError, match="unexpected field"):
        emu.add_recording(colour="blue")
    with pytest.raises(ValueError, match="already exists"):
        emu.add_recording(id=rec.id)


# Media redirect and delete --------------------------------------------------------


async def test_mp3_redirects_307_to_a_fresh_presigned_url(api: Api) -> None:
    rid = available_id(api.emu)
    async with api.session.get(
        api.url(f"/recordings/{rid}.mp3"), headers=api.headers, allow_redirects=False
    ) as resp:
        assert resp.status == 307
        location = resp.headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == api.emu.storage_url
    assert parts.path == f"/workspaceID%3A{api.emu.workspace_id}/{rid}.mp3"
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["600"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["x-id"] == ["GetObject"]
    assert query["X-Amz-Credential"][0].endswith("/20231114/eu-west-1/s3/aws4_request")
    assert query["X-Amz-Credential"][0].startswith("ASIA")
    assert len(query["X-Amz-Signature"][0]) == 64
    assert query["X-Amz-Security-Token"]
    # Following the redirect with a plain client gets the exact bytes; the
    # Authorization header must not follow it (aiohttp drops it across origins).
    async with api.session.get(api.url(f"/recordings/{rid}.mp3"), headers=api.headers) as resp:
        assert resp.status == 200
        assert await resp.read() == api.emu.media_bytes(rid)


async def test_mp3_of_a_recording_without_media_is_404(api: Api) -> None:
    rid = next(r for r, rec in api.emu.recordings.items() if rec.status != "available")
    async with api.session.get(
        api.url(f"/recordings/{rid}.mp3"), headers=api.headers, allow_redirects=False
    ) as resp:
        assert resp.status == 404
        assert "not available" in (await resp.json())["message"]
    async with api.session.get(
        api.url(f"/recordings/{NOT_FOUND_ID}.mp3"), headers=api.headers, allow_redirects=False
    ) as resp:
        assert resp.status == 404


async def test_delete_is_204_then_404_and_media_is_gone(api: Api) -> None:
    rid = available_id(api.emu)
    url = api.emu.presign(rid)
    async with api.session.delete(api.url(f"/recordings/{rid}"), headers=api.headers) as resp:
        assert resp.status == 204
        assert await resp.read() == b""
    async with api.session.delete(api.url(f"/recordings/{rid}"), headers=api.headers) as resp:
        assert resp.status == 404
    status, _ = await api.get_json(f"/recordings/{rid}")
    assert status == 404
    assert rid not in api.emu.recordings
    async with api.session.get(url) as resp:
        assert resp.status == 404
        assert "<Code>NoSuchKey</Code>" in await resp.text()
    assert rid not in {i["id"] for i in await api.list_all(limit=99)}


# Metrics and call-scoped endpoints ------------------------------------------------


async def test_recording_metrics(api: Api) -> None:
    emu = api.emu
    status, body = await api.get_json("/recording-metrics")
    assert status == 200
    assert body["counter"] == len(emu.recordings)
    available = [r for r in emu.recordings.values() if r.status == "available"]
    assert sum(body["dailyStorageUsage"].values()) == sum(emu.media_size(r.id) for r in available)
    assert parse_datetime(body["updatedAt"]).timestamp() == FIXED_NOW
    assert body["duration"] == sum(r.duration or 0 for r in emu.recordings.values())
    source = next(iter(emu.recordings.values())).source_id
    _, scoped = await api.get_json("/recording-metrics", sourceId=source)
    assert scoped["counter"] == sum(r.source_id == source for r in emu.recordings.values())
    status, _ = await api.get_json("/recording-metrics", sourceId="x")
    assert status == 422


async def test_call_scoped_list_and_get(api: Api) -> None:
    emu = api.emu
    channel = "66666666-7777-4888-8999-000000000000"
    call = "11111111-2222-4333-8444-555555555555"
    made = [
        emu.add_recording(call_id=call, channel_id=channel, status=s)
        for s in ("available", "ongoing", "available")
    ]
    path = f"/channels/{channel}/calls/{call}/recordings"
    status, page = await api.get_json(path, limit=1000)
    assert status == 200
    assert {i["id"] for i in page["results"]} == {r.id for r in made}
    assert "nextPageToken" not in page
    strict_items = [converter.structure(i, CallRecording) for i in page["results"]]
    assert {c.call_id for c in strict_items} == {call}
    live = next(i for i in page["results"] if i["status"] == "ongoing")
    assert live["endedAt"] == "0001-01-01T00:00:00Z"
    status, first = await api.get_json(path, limit=2)
    assert len(first["results"]) == 2
    status, rest = await api.get_json(path, limit=2, pageToken=first["nextPageToken"])
    assert len(rest["results"]) == 1
    assert "nextPageToken" not in rest
    status, one = await api.get_json(f"{path}/{made[0].id}")
    assert status == 200
    assert one["id"] == made[0].id
    assert one["callId"] == call
    other = next(r for r in emu.recordings if r not in {m.id for m in made})
    status, _ = await api.get_json(f"{path}/{other}")
    assert status == 404
    for limit in ("0", "1001"):
        status, _ = await api.get_json(path, limit=limit)
        assert status == 422
    status, _ = await api.get_json("/channels/x/calls/y/recordings")
    assert status == 422


async def test_seeded_calls_have_several_recordings(api: Api) -> None:
    emu = BirdEmulator(recordings=200, seed=7)
    calls = Counter(
        (s.recording.channel_id, s.call_id) for s in emu._state.by_id.values() if s.call_id
    )
    assert any(n > 1 for n in calls.values())


async def test_request_log(api: Api) -> None:
    api.emu.clear_requests()
    await api.get_json("/recordings", limit=3)
    (record,) = api.emu.requests
    assert record.origin == "api"
    assert record.method == "GET"
    assert record.path == f"/workspaces/{api.emu.workspace_id}/recordings"
    assert record.query["limit"] == "3"
    assert record.headers["authorization"] == f"AccessKey {api.emu.access_key}"
    assert record.status == 200
    api.emu.requests.clear()
    assert api.emu.requests == []


async def test_head_of_the_api_is_allowed(api: Api, session: aiohttp.ClientSession) -> None:
    async with session.head(api.url("/recordings"), headers=api.headers) as resp:
        assert resp.status == 200


async def test_clock_objects_with_now_are_accepted() -> None:
    class Clock:
        def now(self) -> datetime:
            return datetime.fromtimestamp(FIXED_NOW, UTC)

    emu = BirdEmulator(recordings=1, clock=Clock())
    assert emu.now().timestamp() == FIXED_NOW
    emu.advance_clock(5)
    assert emu.now().timestamp() == FIXED_NOW + 5
    with pytest.raises(ValueError, match="forward"):
        emu.advance_clock(-1)
