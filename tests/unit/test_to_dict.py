"""``to_dict``/``to_json``: every model, both cases; camel round-trips through the converter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._converter import converter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

MODELS: list[tuple[str, type[Any]]] = [
    ("recording_real.json", br.Recording),
    ("recording_live.json", br.Recording),
    ("recordings_page_1.json", br.RecordingPage),
    ("call_recording.json", br.CallRecording),
    ("call_recordings_page.json", br.CallRecordingPage),
    ("storage_metrics.json", br.StorageMetrics),
]


def load(name: str, cls: type[Any]) -> Any:
    return converter.structure(json.loads((FIXTURES / name).read_text()), cls)


@pytest.mark.parametrize(("name", "cls"), MODELS)
def test_camel_is_the_wire_format_and_round_trips(name: str, cls: type[Any]) -> None:
    model = load(name, cls)
    data = br.to_dict(model, case="camel")
    assert converter.structure(data, cls) == model
    assert converter.structure(json.loads(br.to_json(model, case="camel")), cls) == model
    assert not any("_" in key for key in data)


@pytest.mark.parametrize(("name", "cls"), MODELS)
def test_snake_uses_attribute_names_and_json_types(name: str, cls: type[Any]) -> None:
    model = load(name, cls)
    data = br.to_dict(model)
    assert json.loads(json.dumps(data)) == data  # nothing that JSON cannot hold
    assert json.loads(br.to_json(model)) == data


def test_recording_fields_in_both_cases() -> None:
    rec = load("recording_real.json", br.Recording)
    snake = br.to_dict(rec)
    camel = br.to_dict(rec, case="camel")
    assert snake["source_id"] == camel["sourceId"] == rec.source_id
    assert snake["status"] == "available"
    assert snake["created_at"] == "2023-10-23T15:55:08.234Z"
    assert snake["originator"]["number"]["country_iso_code"] == "NL"
    assert camel["originator"]["number"]["countryIsoCode"] == "NL"


def test_exclude_drops_the_presigned_url_in_either_case() -> None:
    rec = load("recording_real.json", br.Recording)
    assert rec.url
    assert "url" not in br.to_dict(rec, exclude=("url", "room_info_url"))
    assert "url" not in br.to_dict(rec, case="camel", exclude=("url",))
    assert "X-Amz" not in br.to_json(rec, exclude=("url",))


def test_unknown_enum_values_survive() -> None:
    rec = load("recording_real.json", br.Recording)
    data = br.to_dict(rec, case="camel")
    data["status"] = "archived"
    again = converter.structure(data, br.Recording)
    assert br.to_dict(again)["status"] == "archived"


def test_other_models_with_paths_and_datetimes() -> None:
    result = br.DownloadResult(recording_id="r", path=Path("/tmp/r.mp3"), size_bytes=3)
    assert br.to_dict(result)["path"] == "/tmp/r.mp3"
    url = br.MediaURL(url="https://s/x", expires_at=datetime(2024, 1, 2, tzinfo=UTC))
    assert br.to_dict(url)["expires_at"] == "2024-01-02T00:00:00.000Z"


@pytest.mark.parametrize("value", [{"id": 1}, "text", None, 3])
def test_refuses_what_is_not_a_model(value: object) -> None:
    with pytest.raises(br.InvalidArgumentError):
        br.to_dict(value)


def test_refuses_an_unknown_case() -> None:
    rec = load("recording_real.json", br.Recording)
    with pytest.raises(br.InvalidArgumentError):
        br.to_dict(rec, case="kebab")  # type: ignore[arg-type]
