"""plan_archive and Shard: pure, no event loop."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

import bird_recordings as br
from bird_recordings.archive import Shard, plan_archive

NOW = datetime(2026, 11, 25, 13, 17, 42, 123456, tzinfo=UTC)


def test_shards_cover_the_period_without_gaps_or_overlap() -> None:
    shards = plan_archive(NOW - timedelta(days=30), NOW)
    assert shards[0].start == (NOW - timedelta(days=30)).replace(microsecond=0)
    assert shards[-1].end == NOW.replace(microsecond=0)
    for before, after in itertools.pairwise(shards):
        assert before.end == after.start
    assert len(shards) == 121  # 120 whole windows, plus the clipped ends
    assert all(s.status == "available" for s in shards)


def test_inner_boundaries_are_aligned_so_overlapping_plans_share_ids() -> None:
    first = plan_archive(NOW - timedelta(days=2), NOW)
    later = plan_archive(NOW - timedelta(days=2) + timedelta(minutes=41), NOW + timedelta(hours=1))
    assert {s.id for s in first[1:-1]} <= {s.id for s in later}
    assert all(s.start.hour % 6 == 0 and s.start.minute == 0 for s in first[1:])


def test_the_same_inputs_give_the_same_ids() -> None:
    one = plan_archive(NOW - timedelta(days=3), NOW, shard=timedelta(hours=1), status=None)
    two = plan_archive(NOW - timedelta(days=3), NOW, shard=timedelta(hours=1), status=None)
    assert [s.id for s in one] == [s.id for s in two]
    assert len({s.id for s in one}) == len(one)
    assert one[1].id == "20261122T140000Z-20261122T150000Z-all"


def test_a_shard_round_trips_through_json() -> None:
    shard = plan_archive(NOW - timedelta(hours=7), NOW)[1]
    again = Shard.from_dict(shard.to_dict())
    assert again == shard
    assert again.id == shard.id


@pytest.mark.parametrize(
    ("since", "until", "shard"),
    [
        (NOW, NOW - timedelta(days=1), timedelta(hours=6)),
        (NOW, NOW, timedelta(hours=6)),
        (NOW.replace(tzinfo=None), NOW, timedelta(hours=6)),
        (NOW - timedelta(days=1), NOW, timedelta(0)),
    ],
)
def test_bad_plans_are_refused(since: datetime, until: datetime, shard: timedelta) -> None:
    with pytest.raises(br.InvalidArgumentError):
        plan_archive(since, until, shard=shard)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"start": "x", "end": "y"},
        {"start": "2026-11-25T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
    ],
)
def test_not_a_shard(data: object) -> None:
    with pytest.raises(br.InvalidArgumentError):
        Shard.from_dict(data)


def test_contains_is_half_open() -> None:
    shard = plan_archive(NOW - timedelta(hours=12), NOW)[1]
    assert shard.contains(shard.start)
    assert not shard.contains(shard.end)
