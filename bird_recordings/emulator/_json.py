"""Bird's camelCase JSON, written by the emulator's own hand.

The emulator is a reference the client is tested against, so it must not
borrow the client's converter: a camelCase or time-format bug there would be
invisible to both sides. Each function below spells Bird's field names out
(see ``shared/bird-api.md``) and is checked against the recorded payloads in
``tests/fixtures``. Optional fields Bird omits when unknown are omitted here too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bird_recordings._models import CallRecording, Party, Recording, Transcription

__all__ = ["call_recording_json", "recording_json", "timestamp", "transcription_json"]


def timestamp(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``, as Bird writes it: ``2023-10-23T15:55:08.234Z``."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _put_time(out: dict[str, Any], key: str, value: datetime | None) -> None:
    if value is not None:
        out[key] = timestamp(value)


def _party(party: Party) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if party.contact is not None:
        contact: dict[str, Any] = {"id": party.contact.id}
        _put(contact, "identifierKey", party.contact.identifier_key)
        _put(contact, "identifierValue", party.contact.identifier_value)
        out["contact"] = contact
    if party.number is not None:
        number: dict[str, Any] = {}
        _put(number, "type", party.number.type)
        _put(number, "number", party.number.number)
        _put(number, "anonymous", party.number.anonymous)
        _put(number, "callerIdName", party.number.caller_id_name)
        _put(number, "identity", party.number.identity)
        _put(number, "countryIsoCode", party.number.country_iso_code)
        out["number"] = number
    return out


def recording_json(rec: Recording) -> dict[str, Any]:
    """``GET /workspaces/{ws}/recordings/{id}``'s body for ``rec``."""
    out: dict[str, Any] = {"id": rec.id, "sourceId": rec.source_id}
    _put(out, "channelId", rec.channel_id)
    if rec.originator is not None:
        out["originator"] = _party(rec.originator)
    if rec.receiver is not None:
        out["receiver"] = _party(rec.receiver)
    out["source"] = str(rec.source)
    _put(out, "direction", None if rec.direction is None else str(rec.direction))
    out["origin"] = str(rec.origin)
    out["status"] = str(rec.status)
    _put(out, "duration", rec.duration)
    _put(out, "conferenceId", rec.conference_id)
    out["format"] = rec.format
    out["stereo"] = rec.stereo
    out["transcription"] = rec.transcription
    _put(out, "url", rec.url)
    _put(out, "roomInfoUrl", rec.room_info_url)
    out["createdAt"] = timestamp(rec.created_at)
    out["updatedAt"] = timestamp(rec.updated_at)
    _put_time(out, "startedAt", rec.started_at)
    _put_time(out, "endedAt", rec.ended_at)
    return out


def call_recording_json(rec: CallRecording) -> dict[str, Any]:
    """``GET …/channels/{ch}/calls/{call}/recordings/{id}``'s body for ``rec``."""
    out: dict[str, Any] = {"id": rec.id}
    _put(out, "callId", rec.call_id)
    _put(out, "channelId", rec.channel_id)
    out["status"] = str(rec.status)
    _put(out, "origin", None if rec.origin is None else str(rec.origin))
    _put(out, "duration", rec.duration)
    _put(out, "stereo", rec.stereo)
    _put(out, "endCause", rec.end_cause)
    _put_time(out, "createdAt", rec.created_at)
    _put_time(out, "updatedAt", rec.updated_at)
    _put_time(out, "startedAt", rec.started_at)
    _put_time(out, "endedAt", rec.ended_at)
    return out


def transcription_json(tr: Transcription) -> dict[str, Any]:
    """``GET /workspaces/{ws}/transcriptions/{id}``'s body for ``tr``."""
    out: dict[str, Any] = {
        "id": tr.id,
        "recordingId": tr.recording_id,
        "status": str(tr.status),
        "locale": tr.locale,
    }
    _put(out, "stereo", tr.stereo)
    _put(out, "url", tr.url)
    _put(out, "summary", tr.summary)
    out["createdAt"] = timestamp(tr.created_at)
    out["updatedAt"] = timestamp(tr.updated_at)
    return out
