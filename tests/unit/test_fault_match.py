"""The emulator's fault scope: one Match value, pure (no server, no loop)."""

from __future__ import annotations

import pytest

from bird_recordings.emulator import Faults, Match
from bird_recordings.emulator._faults import RequestContext, StatusFault

MP3 = RequestContext(origin="storage", method="GET", path="/media/r1.mp3", recording_id="r1")
API = RequestContext(
    origin="api", method="DELETE", path="/workspaces/w/recordings/r2", recording_id="r2"
)


@pytest.mark.parametrize(
    ("match", "ctx", "matches"),
    [
        (Match(), MP3, True),
        (Match(origin="storage"), MP3, True),
        (Match(origin="api"), MP3, False),
        (Match(method="get"), MP3, True),
        (Match(method="DELETE"), MP3, False),
        (Match(path_contains=".mp3"), MP3, True),
        (Match(path_contains="/transcriptions/"), MP3, False),
        (Match(recording_id="r2"), API, True),
        (Match(recording_id="r2"), MP3, False),
        (Match(origin="api", method="DELETE", recording_id="r2"), API, True),
    ],
)
def test_match(match: Match, ctx: RequestContext, matches: bool) -> None:
    assert match(ctx) is matches


def test_a_match_refuses_an_unknown_origin() -> None:
    with pytest.raises(ValueError, match="origin"):
        Match(origin="cdn")  # type: ignore[arg-type]


def test_builders_take_keywords_or_one_match_value() -> None:
    faults = Faults(seed=0)
    shared = Match(origin="storage", path_contains=".mp3")
    by_value = faults.status(503, match=shared, count=2)
    by_keywords = faults.status(503, origin="storage", path_contains=".mp3", count=2)
    assert isinstance(by_value, StatusFault)
    assert by_value.match == by_keywords.match == shared
    assert faults.reset(after_bytes=10, match=shared).match is shared
    # Defaults: status/latency on the API, body faults on storage.
    assert faults.latency(0.1).match == Match(origin="api")
    assert faults.truncate(after_bytes=1).match == Match(origin="storage")
    assert faults.replace_media("r1", after_bytes=1).match == Match(
        origin="storage", recording_id="r1"
    )


def test_builders_refuse_both_forms_and_a_wrong_fixed_origin() -> None:
    faults = Faults(seed=0)
    with pytest.raises(ValueError, match="not both"):
        faults.status(503, match=Match(), origin="api")
    with pytest.raises(ValueError, match="storage origin only"):
        faults.expire_early(match=Match(origin="api"))
    with pytest.raises(ValueError, match="api origin only"):
        faults.malformed_json(origin="storage")


def test_a_fault_fires_count_times_on_matching_requests_only() -> None:
    faults = Faults(seed=0)
    fault = faults.status(503, match=Match(origin="storage"), count=2)
    assert faults.take(StatusFault, API) is None
    assert faults.take(StatusFault, MP3) is fault
    assert faults.take(StatusFault, MP3) is fault
    assert faults.take(StatusFault, MP3) is None
    assert (fault.triggered, fault.remaining, fault.is_exhausted) == (2, 0, True)
