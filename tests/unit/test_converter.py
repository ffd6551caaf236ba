"""The converter twins: Bird's camelCase JSON <-> our snake_case models.

Pure tables, no event loop. The lenient converter is what the client uses; the
strict twin is what the fixture drift check uses.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bird_recordings as br
from bird_recordings._converter import (
    converter,
    format_datetime,
    make_converter,
    parse_datetime,
    structure,
)
from tests.fixtures import FIXTURE_MODELS, FIXTURES_DIR, load

strict = make_converter(strict=True)
REAL_ID = "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd"


def real() -> dict[str, Any]:
    return copy.deepcopy(load("recording_real.json"))


# --- the real record, field by field ----------------------------------------------


@pytest.mark.parametrize("conv", [converter, strict], ids=["lenient", "strict"])
def test_real_record_every_field(conv: Any) -> None:
    rec = structure(real(), br.Recording, what="recording", conv=conv)

    assert rec.id == REAL_ID
    assert rec.source_id == "50fa2203-66c2-4820-864a-1a8002952f4e"
    assert rec.channel_id == "880d8171-cbab-47bb-81b6-b1a0902da136"
    assert rec.source is br.RecordingSource.CALL
    assert rec.direction is br.Direction.OUTGOING
    assert rec.origin is br.RecordingOrigin.CREATE_CALL
    assert rec.status is br.RecordingStatus.AVAILABLE
    assert rec.is_available
    assert rec.duration == 29
    assert rec.format == "mp3"
    assert rec.stereo is False
    assert rec.transcription is False
    assert rec.url is not None
    assert rec.url.startswith("https://regional--voice-recordings--637323691990--euw1.s3.")
    assert "X-Amz-Signature=1fd8deadbeefsignature" in rec.url  # the data itself is untouched
    assert rec.created_at == datetime(2023, 10, 23, 15, 55, 8, 234000, tzinfo=UTC)
    assert rec.updated_at == datetime(2023, 10, 23, 15, 55, 38, 278000, tzinfo=UTC)
    assert rec.started_at == datetime(2023, 10, 23, 15, 55, 8, 121000, tzinfo=UTC)
    assert rec.ended_at == datetime(2023, 10, 23, 15, 55, 38, 101000, tzinfo=UTC)
    assert rec.conference_id is None
    assert rec.room_info_url is None
    assert rec.default_filename == f"{REAL_ID}.mp3"

    # Nested parties.
    assert rec.originator == br.Party(
        contact=None,
        number=br.PartyNumber(
            type="pstn", number="3197004499436", identity="+3197004499436", country_iso_code="NL"
        ),
    )
    assert rec.receiver is not None
    assert rec.receiver.contact == br.Contact(
        id="225dcb7c-efbd-4288-b78d-93fba8743dd0",
        identifier_key="phonenumber",
        identifier_value="+351919150029",
    )
    assert rec.receiver.number == br.PartyNumber(
        type="pstn", number="351919150029", country_iso_code="PT"
    )


def test_live_record_optional_fields_and_zero_time() -> None:
    rec = structure(load("recording_live.json"), br.Recording, what="r", conv=strict)
    assert rec.source == "conference"
    assert rec.conference_id == "c7d8e9f0-1a2b-4c3d-9e4f-5a6b7c8d9e0f"
    assert rec.room_info_url == "https://rooms.bird.test/c7d8e9f0"
    assert rec.status == br.RecordingStatus.ONGOING
    assert not rec.is_available
    assert rec.duration is None
    assert rec.url is None
    assert rec.receiver is None
    assert rec.originator is not None
    assert rec.originator.number == br.PartyNumber(
        type="sip", number="alice@sip.example", anonymous=True, caller_id_name="Alice"
    )
    assert rec.ended_at is None  # 0001-01-01T00:00:00Z means "not yet"
    assert rec.started_at == datetime(2023, 10, 26, 15, 26, 47, tzinfo=UTC)
    assert rec.updated_at == datetime(2023, 10, 26, 15, 26, 47, 123456, tzinfo=UTC)


def test_minimal_record_leaves_optionals_none() -> None:
    data = real()
    for key in (
        "channelId",
        "direction",
        "originator",
        "receiver",
        "duration",
        "url",
        "startedAt",
        "endedAt",
    ):
        del data[key]
    rec = structure(data, br.Recording, what="r", conv=strict)
    assert rec.channel_id is None
    assert rec.direction is None
    assert rec.originator is None
    assert rec.receiver is None
    assert rec.duration is None
    assert rec.url is None
    assert rec.started_at is None
    assert rec.ended_at is None


@pytest.mark.parametrize("key", ["startedAt", "endedAt"])
def test_zero_time_becomes_none_in_optional_fields(key: str) -> None:
    data = real()
    data[key] = "0001-01-01T00:00:00Z"
    rec = structure(data, br.Recording, what="r")
    assert getattr(rec, "started_at" if key == "startedAt" else "ended_at") is None


def test_explicit_null_in_optional_field_is_none() -> None:
    data = real()
    data["endedAt"] = None
    data["duration"] = None
    rec = structure(data, br.Recording, what="r", conv=strict)
    assert rec.ended_at is None
    assert rec.duration is None


# --- datetimes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("2023-10-26T15:26:47Z", 0),
        ("2023-10-26T15:26:47.7Z", 700000),
        ("2023-10-26T15:26:47.77Z", 770000),
        ("2023-10-26T15:26:47.123Z", 123000),
        ("2023-10-26T15:26:47.1234Z", 123400),
        ("2023-10-26T15:26:47.12345Z", 123450),
        ("2023-10-26T15:26:47.123456Z", 123456),
        ("2023-10-26T15:26:47.1234567Z", 123456),
        ("2023-10-26T15:26:47.12345678Z", 123456),
        ("2023-10-26T15:26:47.123456789Z", 123456),
        ("2023-10-26T15:26:47.999999999Z", 999999),  # truncated, never rounded into :48
    ],
)
@pytest.mark.parametrize("is_strict", [False, True])
def test_parse_datetime_zero_to_nine_fraction_digits(
    text: str, micro: int, is_strict: bool
) -> None:
    parsed = parse_datetime(text, strict=is_strict)
    assert parsed == datetime(2023, 10, 26, 15, 26, 47, micro, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("digits", range(10))
def test_record_timestamps_with_every_fraction_length(digits: int) -> None:
    fraction = "." + "123456789"[:digits] if digits else ""
    data = real()
    data["createdAt"] = f"2023-10-26T15:26:47{fraction}Z"
    rec = structure(data, br.Recording, what="r", conv=strict)
    expected_micro = int(("123456789"[: min(digits, 6)] or "0").ljust(6, "0"))
    assert rec.created_at == datetime(2023, 10, 26, 15, 26, 47, expected_micro, tzinfo=UTC)


def test_parse_datetime_converts_offsets_to_utc() -> None:
    parsed = parse_datetime("2023-10-26T17:26:47.5+02:00")
    assert parsed == datetime(2023, 10, 26, 15, 26, 47, 500000, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


def test_parse_datetime_naive_is_utc_when_lenient_and_an_error_when_strict() -> None:
    assert parse_datetime("2023-10-26T15:26:47") == datetime(2023, 10, 26, 15, 26, 47, tzinfo=UTC)
    with pytest.raises(ValueError, match="without a UTC offset"):
        parse_datetime("2023-10-26T15:26:47", strict=True)


@pytest.mark.parametrize("bad", ["", "yesterday", "2023-13-01T00:00:00Z", "2023-10-26 nope"])
def test_parse_datetime_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_datetime(bad)


@pytest.mark.parametrize("bad", [None, 1698333000, 1.5, ["2023-10-26T15:26:47Z"]])
def test_parse_datetime_rejects_non_strings(bad: object) -> None:
    with pytest.raises(TypeError, match="RFC 3339 string"):
        parse_datetime(bad)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
        (
            datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2024-01-02T03:04:05.000Z",
        ),
    ],
)
def test_format_datetime(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_format_datetime_rejects_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2024, 1, 2))


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2999, 12, 31),
        timezones=st.just(UTC),
    )
)
def test_format_then_parse_round_trips_to_the_millisecond(value: datetime) -> None:
    back = parse_datetime(format_datetime(value), strict=True)
    assert back == value.replace(microsecond=value.microsecond // 1000 * 1000)


# --- unknown keys and enum values ----------------------------------------------------


def test_unknown_keys_ignored_by_lenient_rejected_by_strict() -> None:
    data = real()
    data["newTopLevelField"] = {"anything": 1}
    data["receiver"]["number"]["carrier"] = "KPN"
    rec = structure(data, br.Recording, what="recording x")
    assert rec.id == REAL_ID

    with pytest.raises(br.ResponseValidationError) as info:
        structure(data, br.Recording, what="recording x", conv=strict)
    assert "newTopLevelField" in str(info.value)


def test_unknown_nested_key_rejected_by_strict_with_its_path() -> None:
    data = real()
    data["receiver"]["number"]["carrier"] = "KPN"
    with pytest.raises(br.ResponseValidationError) as info:
        structure(data, br.Recording, what="recording x", conv=strict)
    assert any("carrier" in e and "$.receiver.number" in e for e in info.value.errors)


@pytest.mark.parametrize(
    ("key", "value", "enum_cls", "attr"),
    [
        ("status", "archived", br.RecordingStatus, "status"),
        ("source", "meeting", br.RecordingSource, "source"),
        ("origin", "api-record", br.RecordingOrigin, "origin"),
        ("direction", "internal", br.Direction, "direction"),
    ],
)
def test_unknown_enum_values_kept_by_lenient_rejected_by_strict(
    key: str, value: str, enum_cls: type[br.OpenEnum], attr: str
) -> None:
    data = real()
    data[key] = value
    rec = structure(data, br.Recording, what="recording x")
    member = getattr(rec, attr)
    assert isinstance(member, enum_cls)
    assert member == value
    assert member.value == value
    assert str(member) == value
    assert member.is_known is False

    with pytest.raises(br.ResponseValidationError) as info:
        structure(data, br.Recording, what="recording x", conv=strict)
    assert f"$.{attr}" in str(info.value)


@pytest.mark.parametrize(
    "enum_cls",
    [br.RecordingStatus, br.RecordingSource, br.RecordingOrigin, br.Direction],
)
def test_known_enum_members_compare_equal_to_wire_strings(enum_cls: type[br.OpenEnum]) -> None:
    for member in enum_cls:
        assert member == member.value
        assert member.is_known
        assert enum_cls(member.value) is member


def test_open_enum_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="not a valid"):
        br.RecordingStatus(3)  # type: ignore[arg-type]


# --- wrong types -> ResponseValidationError with the field path ---------------------


def _set(data: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


@pytest.mark.parametrize(
    ("wire_path", "value", "error_path"),
    [
        ("stereo", "false", "$.stereo"),  # a string is not a boolean
        ("transcription", 0, "$.transcription"),
        ("duration", "29", "$.duration"),
        ("duration", 29.5, "$.duration"),
        ("duration", True, "$.duration"),
        ("id", 5, "$.id"),
        ("format", None, "$.format"),
        ("status", 3, "$.status"),
        ("createdAt", "yesterday", "$.created_at"),
        ("createdAt", 1698333000, "$.created_at"),
        ("endedAt", "not a time", "$.ended_at"),
        ("receiver.contact.id", 225, "$.receiver.contact.id"),
        ("receiver.number.anonymous", "yes", "$.receiver.number.anonymous"),
        ("originator.number.countryIsoCode", ["NL"], "$.originator.number.country_iso_code"),
        ("originator", "alice", "$.originator"),
    ],
)
@pytest.mark.parametrize("conv", [converter, strict], ids=["lenient", "strict"])
def test_wrong_types_name_the_field_path(
    wire_path: str, value: object, error_path: str, conv: Any
) -> None:
    data = real()
    _set(data, wire_path, value)
    with pytest.raises(br.ResponseValidationError) as info:
        structure(data, br.Recording, what=f"recording {REAL_ID}", conv=conv)
    message = str(info.value)
    assert f"recording {REAL_ID}" in message
    assert "Recording" in message
    assert any(error_path in e for e in info.value.errors), info.value.errors
    assert error_path in message


def test_integral_float_duration_is_accepted() -> None:
    data = real()
    data["duration"] = 29.0
    assert structure(data, br.Recording, what="r").duration == 29


@pytest.mark.parametrize("missing", ["id", "sourceId", "status", "createdAt", "stereo"])
def test_missing_required_field_names_it(missing: str) -> None:
    data = real()
    del data[missing]
    with pytest.raises(br.ResponseValidationError) as info:
        structure(data, br.Recording, what="recording x")
    assert "required field missing" in str(info.value)
    assert any(e.startswith("required field missing @ $.") for e in info.value.errors)


@pytest.mark.parametrize("body", [[], "text", 3, None, [real()]])
def test_not_a_dict(body: object) -> None:
    with pytest.raises(br.ResponseValidationError) as info:
        structure(body, br.Recording, what="recording x")
    assert "expected a JSON object" in str(info.value)
    assert info.value.errors == (f"expected a JSON object @ $, got {type(body).__name__}",)


def test_validation_error_is_chained_to_the_cattrs_error() -> None:
    data = real()
    data["stereo"] = "false"
    with pytest.raises(br.ResponseValidationError) as info:
        structure(data, br.Recording, what="r")
    assert info.value.__cause__ is not None


def test_wrong_item_in_a_page_names_its_index() -> None:
    page = load("recordings_page_1.json")
    page["results"][1]["stereo"] = "no"
    with pytest.raises(br.ResponseValidationError) as info:
        structure(page, br.RecordingPage, what="recordings page")
    assert any("$.results[1].stereo" in e for e in info.value.errors), info.value.errors


@pytest.mark.parametrize(
    ("wire_path", "value"),
    [("counter", "42"), ("dailyStorageUsage", [1, 2]), ("dailyStorageUsage.2023-10-23", "1MB")],
)
def test_storage_metrics_wrong_types(wire_path: str, value: object) -> None:
    data = load("storage_metrics.json")
    if wire_path.startswith("dailyStorageUsage."):
        data["dailyStorageUsage"][wire_path.partition(".")[2]] = value
    else:
        data[wire_path] = value
    with pytest.raises(br.ResponseValidationError):
        structure(data, br.StorageMetrics, what="storage metrics")


def test_storage_metrics_fields() -> None:
    metrics = structure(load("storage_metrics.json"), br.StorageMetrics, what="m", conv=strict)
    assert metrics.counter == 42
    assert metrics.daily_storage_usage == {"2023-10-23": 1048576, "2023-10-24": 524288}
    assert metrics.updated_at == datetime(2023, 10, 24, tzinfo=UTC)
    assert metrics.duration == 3600


def test_call_recording_fields() -> None:
    rec = structure(load("call_recording.json"), br.CallRecording, what="c", conv=strict)
    assert rec.id == REAL_ID
    assert rec.call_id == "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
    assert rec.channel_id == "880d8171-cbab-47bb-81b6-b1a0902da136"
    assert rec.status is br.RecordingStatus.ONGOING
    assert rec.origin is br.RecordingOrigin.CALL_COMMAND_RECORD
    assert rec.duration == 0
    assert rec.stereo is False
    assert rec.end_cause == ""
    assert rec.started_at == datetime(2023, 10, 23, 15, 55, 8, 121000, tzinfo=UTC)
    assert rec.ended_at is None


def test_page_next_token_absent_is_none() -> None:
    page = structure(load("recordings_page_3.json"), br.RecordingPage, what="p", conv=strict)
    assert page.next_page_token is None
    assert [r.id for r in page.results] == ["44444444-4444-4444-8444-444444444444"]
    assert isinstance(page.results, tuple)


def test_unstructure_round_trips_to_camel_case() -> None:
    data = real()
    rec = structure(data, br.Recording, what="r", conv=strict)
    wire = converter.unstructure(rec)
    assert wire["sourceId"] == data["sourceId"]
    assert wire["receiver"]["contact"]["identifierKey"] == "phonenumber"
    assert wire["originator"]["number"]["countryIsoCode"] == "NL"
    assert "conferenceId" not in wire  # optional and unknown: omitted, as Bird does
    assert structure(wire, br.Recording, what="r", conv=strict) == rec


# --- the drift check: the strict converter over every fixture -----------------------------


def test_every_fixture_file_is_registered() -> None:
    on_disk = {p.name for p in FIXTURES_DIR.glob("*.json")}
    assert on_disk == set(FIXTURE_MODELS)


@pytest.mark.parametrize("name", sorted(FIXTURE_MODELS))
def test_strict_converter_accepts_every_fixture(name: str) -> None:
    cls = FIXTURE_MODELS[name]
    result = structure(load(name), cls, what=name, conv=strict)
    assert isinstance(result, cls)


@pytest.mark.parametrize(
    "text", ["2023-13-26T15:26:47Z", "2023-02-30T15:26:47.5Z", "2023-10-26T25:00:00Z"]
)
def test_parse_datetime_refuses_impossible_dates_in_the_plain_utc_form(text: str) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_datetime(text)
