"""get_recordings: one outcome per id, in completion order; one bad id never fails the batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import aiohttp
import pytest

import bird_recordings as br
from tests.client._support import REAL_ID, count, recording_url
from tests.fixtures import load

GOOD = ["aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b"]
MISSING = "cccccccc-0000-4000-8000-00000000000c"
INVALID = "not-a-uuid"
BROKEN = "dddddddd-0000-4000-8000-00000000000d"


def record(recording_id: str) -> dict[str, Any]:
    return dict(load("recording_real.json"), id=recording_id)


async def test_mix_of_good_and_bad_ids(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    for rid in GOOD:
        m.get(recording_url(rid), payload=record(rid))
    m.get(recording_url(MISSING), status=404, payload={"code": "NotFound", "message": "no"})
    m.get(recording_url(INVALID), status=422, payload={"code": "Invalid", "message": "uuid"})
    m.get(recording_url(BROKEN), payload={"id": BROKEN})  # missing required fields
    ids = [GOOD[0], MISSING, INVALID, GOOD[1], BROKEN]

    outcomes = [o async for o in no_retry_client.get_recordings(ids, concurrency=2)]

    by_id = {o.recording_id: o for o in outcomes}
    assert len(outcomes) == len(ids)
    assert set(by_id) == set(ids)
    for rid in GOOD:
        assert by_id[rid].ok
        assert by_id[rid].error is None
        recording = by_id[rid].recording
        assert recording is not None
        assert recording.id == rid
    missing = by_id[MISSING].error
    assert isinstance(missing, br.NotFoundError)
    assert missing.recording_id == MISSING
    assert isinstance(by_id[INVALID].error, br.UnprocessableEntityError)
    assert isinstance(by_id[BROKEN].error, br.ResponseValidationError)
    for rid in (MISSING, INVALID, BROKEN):
        assert not by_id[rid].ok
        assert by_id[rid].recording is None
    assert count(m) == len(ids)


async def test_connection_failure_becomes_an_outcome(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(recording_url(GOOD[0]), payload=record(GOOD[0]))
    m.get(recording_url(GOOD[1]), exception=aiohttp.ClientConnectionError("reset"))
    outcomes = {o.recording_id: o async for o in no_retry_client.get_recordings(GOOD)}
    assert outcomes[GOOD[0]].ok
    assert isinstance(outcomes[GOOD[1]].error, br.APIConnectionError)


async def test_ids_from_an_async_iterable(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    for rid in GOOD:
        aioresponses_compat.get(recording_url(rid), payload=record(rid))

    async def ids() -> AsyncIterator[str]:
        for rid in GOOD:
            yield rid

    got = sorted([o.recording_id async for o in no_retry_client.get_recordings(ids())])
    assert got == sorted(GOOD)


async def test_empty_batch(no_retry_client: br.RecordingsClient, aioresponses_compat: Any) -> None:
    assert [o async for o in no_retry_client.get_recordings([])] == []
    assert count(aioresponses_compat) == 0


async def test_retries_apply_inside_the_batch(
    client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    m = aioresponses_compat
    m.get(recording_url(REAL_ID), status=503, body="")
    m.get(recording_url(REAL_ID), payload=load("recording_real.json"))
    [outcome] = [o async for o in client.get_recordings([REAL_ID])]
    assert outcome.ok


async def test_leaving_early_stops_the_batch(
    no_retry_client: br.RecordingsClient, aioresponses_compat: Any
) -> None:
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(40)]
    for rid in ids:
        aioresponses_compat.get(recording_url(rid), payload=record(rid))
    async with aclosing(no_retry_client.get_recordings(ids, concurrency=2)) as outcomes:
        async for _ in outcomes:
            break
    # Only what was in flight or waiting for a slot was fetched, not all 40.
    assert count(aioresponses_compat) <= 4


@pytest.mark.parametrize("concurrency", [0, -2, True])
async def test_invalid_concurrency(no_retry_client: br.RecordingsClient, concurrency: int) -> None:
    with pytest.raises(br.InvalidArgumentError, match="concurrency"):
        [o async for o in no_retry_client.get_recordings(GOOD, concurrency=concurrency)]
