"""The emulator writes Bird's JSON by its own hand: checked against the recorded fixtures.

The models are built from the fixtures with the strict converter; what the emulator
writes back must be the fixture itself (times compared as instants, since Bird sends
0-9 fractional digits and the emulator writes milliseconds). A camelCase slip on either
side makes a key differ here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._converter import make_converter
from bird_recordings.emulator._json import (
    call_recording_json,
    recording_json,
    timestamp,
    transcription_json,
)
from tests.fixtures import load

STRICT = make_converter(strict=True)
ZERO_TIME = "0001-01-01T00:00:00Z"


def _instant(text: str) -> datetime:
    head, _, tail = text.rstrip("Z").partition(".")
    millis = (tail + "000")[:3] if tail else "000"
    return datetime.fromisoformat(f"{head}.{millis}+00:00")


def _comparable(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key.endswith("At") and isinstance(value, str):
            if value == ZERO_TIME:
                continue  # Bird's "not yet": absent in the model, written by the API layer
            out[key] = _instant(value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("name", ["recording_real.json", "recording_live.json"])
def test_recording_json_is_the_fixture(name: str) -> None:
    fixture = load(name)
    written = recording_json(STRICT.structure(fixture, br.Recording))
    assert _comparable(written) == _comparable(fixture)


@pytest.mark.parametrize("page", ["recordings_page_1.json", "recordings_page_2.json"])
def test_every_recording_of_a_page_round_trips(page: str) -> None:
    for item in load(page)["results"]:
        written = recording_json(STRICT.structure(item, br.Recording))
        assert _comparable(written) == _comparable(item)


def test_call_recording_json_is_the_fixture() -> None:
    fixture = load("call_recording.json")
    written = call_recording_json(STRICT.structure(fixture, br.CallRecording))
    assert _comparable(written) == _comparable(fixture)


def test_transcription_json_uses_birds_names() -> None:
    created = datetime(2023, 10, 26, 15, 26, 47, 770000, tzinfo=UTC)
    tr = br.Transcription(
        id="t-1",
        recording_id="r-1",
        status=br.TranscriptionStatus.AVAILABLE,
        locale="en-US",
        created_at=created,
        updated_at=created,
        stereo=False,
    )
    assert transcription_json(tr) == {
        "id": "t-1",
        "recordingId": "r-1",
        "status": "available",
        "locale": "en-US",
        "stereo": False,
        "createdAt": "2023-10-26T15:26:47.770Z",
        "updatedAt": "2023-10-26T15:26:47.770Z",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC), "2023-01-02T03:04:05.000Z"),
        (datetime(2023, 1, 2, 3, 4, 5, 999999, tzinfo=UTC), "2023-01-02T03:04:05.999Z"),
    ],
)
def test_timestamp_is_rfc3339_utc_with_milliseconds(value: datetime, text: str) -> None:
    assert timestamp(value) == text


def test_the_emulator_does_not_import_the_clients_converter_object() -> None:
    import bird_recordings.emulator._api as api
    import bird_recordings.emulator._json as writer

    for module in (api, writer):
        assert not hasattr(module, "converter")
