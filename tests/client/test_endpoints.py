"""Every metadata endpoint against aioresponses: paths, query encoding, headers, models."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._converter import make_converter, structure
from tests.client._support import (
    LIST_PATTERN,
    METRICS_URL,
    REAL_ID,
    RECORDINGS_URL,
    count,
    recording_url,
    sent,
)
from tests.conftest import ACCESS_KEY, BASE_URL, WORKSPACE, FakeClock
from tests.fixtures import load

strict = make_converter(strict=True)
CHANNEL = "880d8171-cbab-47bb-81b6-b1a0902da136"
CALL = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
CALL_URL = f"{BASE_URL}/workspaces/{WORKSPACE}/channels/{CHANNEL}/calls/{CALL}/recordings"
PAGE_IDS = [
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
    "44444444-4444-4444-8444-444444444444",
]


def mock_three_pages(m: Any, query: str = "") -> None:
    prefix = f"{RECORDINGS_URL}?{query}&" if query else f"{RECORDINGS_URL}?"
    m.get(
        f"{RECORDINGS_URL}?{query}" if query else RECORDINGS_URL,
        payload=load("recordings_page_1.json"),
    )
    m.get(f"{prefix}pageToken=cGFnZS0y", payload=load("recordings_page_2.json"))
    m.get(f"{prefix}pageToken=cGFnZS0z", payload=load("recordings_page_3.json"))


# --- get --------------------------------------------------------------------------------


async def test_get_recording(client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))

    rec = await client.get_recording(REAL_ID)

    assert rec == structure(load("recording_real.json"), br.Recording, what="r", conv=strict)
    [(method, url, kwargs)] = sent(m)
    assert method == "GET"
    assert str(url) == recording_url(REAL_ID)
    assert kwargs["params"] is None
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"AccessKey {ACCESS_KEY}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("bird-recordings/")
    assert kwargs["json"] is None


async def test_get_recording_quotes_the_id(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(re.compile(r".*"), status=404, payload={"code": "NotFound", "message": "no"})
    with pytest.raises(br.NotFoundError):
        await client.get_recording("../../other-workspace/recordings/x")
    [(_, url, _)] = sent(m)
    assert url.raw_path == (
        f"/workspaces/{WORKSPACE}/recordings/..%2F..%2Fother-workspace%2Frecordings%2Fx"
    )


async def test_empty_recording_id_is_refused_before_sending(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    with pytest.raises(br.InvalidArgumentError, match="recording_id"):
        await client.get_recording("")
    assert count(aioresponses_compat) == 0


async def test_bearer_scheme(fake_clock: FakeClock, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL, auth_scheme="Bearer", clock=fake_clock
    ) as client:
        await client.get_recording(REAL_ID)
    [(_, _, kwargs)] = sent(m)
    assert kwargs["headers"]["Authorization"] == f"Bearer {ACCESS_KEY}"


def test_unknown_auth_scheme_is_a_configuration_error() -> None:
    with pytest.raises(br.ConfigurationError, match="auth_scheme"):
        br.RecordingsClient(ACCESS_KEY, WORKSPACE, auth_scheme="Basic")


async def test_base_url_trailing_slash(fake_clock: FakeClock, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    async with br.RecordingsClient(
        ACCESS_KEY, WORKSPACE, base_url=BASE_URL + "/", clock=fake_clock
    ) as client:
        await client.get_recording(REAL_ID)
    [(_, url, _)] = sent(m)
    assert str(url) == recording_url(REAL_ID)


# --- list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({"limit": 50}, {"limit": "50"}),
        ({"source_id": "src-1"}, {"sourceId": "src-1"}),
        ({"channel_id": CHANNEL}, {"channelId": CHANNEL}),
        ({"call_id": CALL}, {"id": CALL}),
        ({"direction": "incoming"}, {"direction": "incoming"}),
        ({"direction": br.Direction.OUTGOING}, {"direction": "outgoing"}),
        ({"status": br.RecordingStatus.AVAILABLE}, {"status": "available"}),
        ({"status": "failed"}, {"status": "failed"}),
        (
            {"start_at": datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)},
            {"startAt": "2024-01-02T03:04:05.600000Z"},
        ),
        (
            {"end_at": datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))},
            {"endAt": "2024-01-02T03:04:05.000000Z"},
        ),
        ({"from_number": "+3197004499436"}, {"from": "+3197004499436"}),
        ({"to_number": "+351919150029"}, {"to": "+351919150029"}),
    ],
)
async def test_each_list_filter_is_encoded(
    client: br.RecordingsClient,
    aioresponses_compat: Any,
    kwargs: dict[str, Any],
    params: dict[str, str],
) -> None:
    m = aioresponses_compat
    m.get(LIST_PATTERN, payload=load("recordings_page_3.json"))
    page = await client.list_recordings(**kwargs)
    assert len(page.results) == 1
    [(method, url, request)] = sent(m)
    assert method == "GET"
    assert request["params"] == params
    assert dict(url.query) == params
    assert url.path == f"/workspaces/{WORKSPACE}/recordings"


async def test_all_filters_together(client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(LIST_PATTERN, payload=load("recordings_page_3.json"))
    await client.list_recordings(
        limit=99,
        source_id="s",
        channel_id="c",
        call_id="call",
        direction="outgoing",
        status="available",
        start_at=datetime(2024, 1, 1, tzinfo=UTC),
        end_at=datetime(2024, 2, 1, tzinfo=UTC),
        from_number="+1",
        to_number="+2",
    )
    [(_, _, request)] = sent(m)
    assert request["params"] == {
        "limit": "99",
        "sourceId": "s",
        "channelId": "c",
        "id": "call",
        "direction": "outgoing",
        "status": "available",
        "startAt": "2024-01-01T00:00:00.000000Z",
        "endAt": "2024-02-01T00:00:00.000000Z",
        "from": "+1",
        "to": "+2",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 100},
        {"start_at": datetime(2024, 1, 1)},
        {"source_id": ""},
        {"page_token": ""},
        {"page_token": "x" * 8001},
    ],
)
async def test_bad_list_arguments_fail_before_sending(
    client: br.RecordingsClient, aioresponses_compat: Any, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(br.InvalidArgumentError):
        client.list_recordings(**kwargs)
    assert count(aioresponses_compat) == 0


async def test_pager_sends_nothing_until_used(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    client.list_recordings(status="available")
    assert count(aioresponses_compat) == 0


async def test_await_gives_the_first_page(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    mock_three_pages(m)
    page = await client.list_recordings()
    assert isinstance(page, br.RecordingPage)
    assert [r.id for r in page.results] == PAGE_IDS[:2]
    assert page.next_page_token == "cGFnZS0y"
    assert count(m) == 1


async def test_iterating_follows_next_page_token_over_three_pages(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    mock_three_pages(m, "status=available")
    ids = [rec.id async for rec in client.list_recordings(status="available")]
    assert ids == PAGE_IDS
    requests = sent(m)
    assert [r[2]["params"] for r in requests] == [
        {"status": "available"},
        {"status": "available", "pageToken": "cGFnZS0y"},
        {"status": "available", "pageToken": "cGFnZS0z"},
    ]
    for _, _, request in requests:
        assert request["headers"]["Authorization"] == f"AccessKey {ACCESS_KEY}"


async def test_pages_yields_whole_pages(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    mock_three_pages(aioresponses_compat)
    pages = [page async for page in client.list_recordings().pages()]
    assert [len(p.results) for p in pages] == [2, 1, 1]
    assert [p.next_page_token for p in pages] == ["cGFnZS0y", "cGFnZS0z", None]


async def test_page_token_starts_from_a_saved_cursor(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    mock_three_pages(m)
    ids = [rec.id async for rec in client.list_recordings(page_token="cGFnZS0y")]
    assert ids == PAGE_IDS[2:]
    assert [r[2]["params"]["pageToken"] for r in sent(m)] == ["cGFnZS0y", "cGFnZS0z"]


async def test_repeated_cursor_from_the_server_stops_the_pager(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    looping = dict(load("recordings_page_3.json"), nextPageToken="again")
    m.get(RECORDINGS_URL, payload=dict(load("recordings_page_1.json"), nextPageToken="again"))
    m.get(f"{RECORDINGS_URL}?pageToken=again", payload=looping, repeat=True)
    with pytest.raises(br.ResponseValidationError, match="nextPageToken"):
        [rec async for rec in client.list_recordings()]
    assert count(m) == 2


async def test_a_bad_item_in_a_page_names_its_path(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    page = load("recordings_page_1.json")
    page["results"][1]["status"] = 7
    aioresponses_compat.get(RECORDINGS_URL, payload=page)
    with pytest.raises(br.ResponseValidationError) as info:
        await client.list_recordings()
    assert "recordings page" in str(info.value)
    assert "$.results[1].status" in str(info.value)


# --- recordings of a live call -------------------------------------------------------------


async def test_list_call_recordings(client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(f"{CALL_URL}?limit=1000", payload=load("call_recordings_page.json"))
    page = await client.list_call_recordings(CHANNEL, CALL, limit=1000)
    assert isinstance(page, br.CallRecordingPage)
    [rec] = page.results
    assert rec.id == REAL_ID
    assert rec.call_id == CALL
    assert rec.end_cause == "hangup"
    assert rec.status is br.RecordingStatus.AVAILABLE
    [(_, _, request)] = sent(m)
    assert request["params"] == {"limit": "1000"}
    assert request["headers"]["Authorization"] == f"AccessKey {ACCESS_KEY}"


async def test_list_call_recordings_follows_pages(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    first = dict(load("call_recordings_page.json"), nextPageToken="p2")
    second = load("call_recordings_page.json")
    second["results"][0]["id"] = "66666666-6666-4666-8666-666666666666"
    m.get(CALL_URL, payload=first)
    m.get(f"{CALL_URL}?pageToken=p2", payload=second)
    ids = [rec.id async for rec in client.list_call_recordings(CHANNEL, CALL)]
    assert ids == [REAL_ID, "66666666-6666-4666-8666-666666666666"]


def test_list_call_recordings_limit_is_checked(client: br.RecordingsClient) -> None:
    with pytest.raises(br.InvalidArgumentError, match="1000"):
        client.list_call_recordings(CHANNEL, CALL, limit=1001)


async def test_get_call_recording(client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.get(f"{CALL_URL}/{REAL_ID}", payload=load("call_recording.json"))
    rec = await client.get_call_recording(CHANNEL, CALL, REAL_ID)
    assert rec == structure(load("call_recording.json"), br.CallRecording, what="c", conv=strict)
    assert rec.ended_at is None


# --- delete and metrics --------------------------------------------------------------------


async def test_delete_recording(client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    m = aioresponses_compat
    m.delete(recording_url(REAL_ID), status=204)
    result = await client.delete_recording(REAL_ID)  # type: ignore[func-returns-value]
    assert result is None
    [(method, url, request)] = sent(m)
    assert method == "DELETE"
    assert str(url) == recording_url(REAL_ID)
    assert request["headers"]["Authorization"] == f"AccessKey {ACCESS_KEY}"


async def test_deleting_twice_raises_not_found(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.delete(recording_url(REAL_ID), status=204)
    m.delete(
        recording_url(REAL_ID),
        status=404,
        payload={"code": "NotFound", "message": "recording not found"},
    )
    await client.delete_recording(REAL_ID)
    with pytest.raises(br.NotFoundError) as info:
        await client.delete_recording(REAL_ID)
    assert info.value.recording_id == REAL_ID
    assert info.value.method == "DELETE"


async def test_storage_metrics_without_source(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(METRICS_URL, payload=load("storage_metrics.json"))
    metrics = await client.get_storage_metrics()
    assert metrics == br.StorageMetrics(
        counter=42,
        daily_storage_usage={"2023-10-23": 1048576, "2023-10-24": 524288},
        updated_at=datetime(2023, 10, 24, tzinfo=UTC),
        duration=3600,
    )
    [(_, url, request)] = sent(m)
    assert request["params"] is None
    assert url.query_string == ""


async def test_storage_metrics_with_source(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(f"{METRICS_URL}?sourceId=src-9", payload={"counter": 0, "dailyStorageUsage": {}})
    metrics = await client.get_storage_metrics(source_id="src-9")
    assert metrics.counter == 0
    assert metrics.daily_storage_usage == {}
    assert metrics.updated_at is None
    [(_, _, request)] = sent(m)
    assert request["params"] == {"sourceId": "src-9"}
