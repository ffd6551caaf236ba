"""Plain data: frozen attrs classes and open string enums.

Nothing here does I/O or knows the JSON wire format; :mod:`._converter` maps
between Bird's camelCase JSON and these snake_case classes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

from attrs import field, frozen

from ._paths import file_name
from ._redact import redact_url

__all__ = [
    "Call",
    "CallRecording",
    "CallRecordingPage",
    "CallStatus",
    "ClientStats",
    "Contact",
    "Direction",
    "MediaURL",
    "OpenEnum",
    "Party",
    "PartyNumber",
    "Recording",
    "RecordingOrigin",
    "RecordingPage",
    "RecordingSource",
    "RecordingStatus",
    "StorageMetrics",
    "Transcription",
    "TranscriptionPage",
    "TranscriptionStatus",
    "VoiceEvent",
    "VoiceEventType",
]


class OpenEnum(enum.StrEnum):
    """A string enum that keeps values it does not know.

    Members compare equal to their wire strings (``RecordingStatus.AVAILABLE ==
    "available"``). Bird adds enum values over time; ``RecordingStatus("archived")``
    returns a pseudo-member whose value is ``"archived"`` instead of raising, so a
    response with a new value never breaks a program. :attr:`is_known` tells the two
    apart.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper().replace("-", "_")
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """True when this value is one this version of the library was built with."""
        return self._value_ in type(self)._value2member_map_


class RecordingStatus(OpenEnum):
    """Lifecycle of a recording. Media exists only for :attr:`AVAILABLE`."""

    ACCEPTED = "accepted"
    ONGOING = "ongoing"
    PAUSED = "paused"
    COMPLETED = "completed"
    AVAILABLE = "available"
    ABSENT = "absent"
    FAILED = "failed"


class TranscriptionStatus(OpenEnum):
    """Lifecycle of a transcription: :attr:`ACCEPTED` → :attr:`ONGOING` → an end state.

    The end states are :attr:`AVAILABLE` (the text can be fetched), :attr:`ABSENT`
    (nothing to transcribe, such as a recording without speech) and :attr:`FAILED`.
    """

    ACCEPTED = "accepted"
    ONGOING = "ongoing"
    AVAILABLE = "available"
    ABSENT = "absent"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True for ``available``, ``absent`` and ``failed``: the status will not change.

        A value this library does not know is treated as still in progress.
        """
        return self in (
            TranscriptionStatus.AVAILABLE,
            TranscriptionStatus.ABSENT,
            TranscriptionStatus.FAILED,
        )


class RecordingSource(OpenEnum):
    """What was recorded: a call or a conference."""

    CALL = "call"
    CONFERENCE = "conference"


class RecordingOrigin(OpenEnum):
    """How the recording was started."""

    CALL_COMMAND_RECORD = "call-command-record"
    CALL_COMMAND_RECORD_CALL = "call-command-record-call"
    CREATE_CALL = "create-call"
    BRIDGE_CALL = "bridge-call"


class Direction(OpenEnum):
    """Direction of the recorded call."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


@frozen(kw_only=True)
class Contact:
    """A Bird contact taking part in a call."""

    id: str
    identifier_key: str | None = None
    identifier_value: str | None = None


@frozen(kw_only=True)
class PartyNumber:
    """The number side of a call party (``type`` is ``pstn``, ``sip``, ``webrtc``…)."""

    type: str | None = None
    number: str | None = None
    anonymous: bool | None = None
    caller_id_name: str | None = None
    identity: str | None = None
    country_iso_code: str | None = None


@frozen(kw_only=True)
class Party:
    """The originator or receiver of a recorded call."""

    contact: Contact | None = None
    number: PartyNumber | None = None


def _repr_url(value: str | None) -> str:
    return "None" if value is None else repr(redact_url(value))


@frozen(kw_only=True)
class Recording:
    """A voice recording's metadata, as ``GET /workspaces/{ws}/recordings/{id}`` returns it.

    ``duration`` is in whole seconds. ``url`` is a presigned S3 URL valid for a
    short time (600 s at Bird); it is redacted in ``repr``. Optional fields that
    Bird omits, and zero times (``0001-01-01T00:00:00Z``), are ``None``.
    """

    id: str
    source: RecordingSource
    source_id: str
    status: RecordingStatus
    origin: RecordingOrigin
    stereo: bool
    format: str
    transcription: bool
    created_at: datetime
    updated_at: datetime
    channel_id: str | None = None
    direction: Direction | None = None
    originator: Party | None = None
    receiver: Party | None = None
    duration: int | None = None
    conference_id: str | None = None
    url: str | None = field(default=None, repr=_repr_url)
    room_info_url: str | None = field(default=None, repr=_repr_url)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def is_available(self) -> bool:
        """True when the media can be downloaded (status ``available``)."""
        return self.status == RecordingStatus.AVAILABLE

    @property
    def default_filename(self) -> str:
        """``<id>.<format>``, the name a download gets unless the caller chooses one.

        Raises:
            UnsafePathError: the id or format would not make one safe file name
                (a separator, ``..``, a control character, too long).
        """
        return file_name(self.id, self.format or "mp3", what="recording file name")


@frozen(kw_only=True)
class CallRecording:
    """A recording of a live call, as the call-scoped endpoints return it."""

    id: str
    status: RecordingStatus
    call_id: str | None = None
    channel_id: str | None = None
    origin: RecordingOrigin | None = None
    duration: int | None = None
    stereo: bool | None = None
    end_cause: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@frozen(kw_only=True)
class StorageMetrics:
    """Recording storage of a workspace (``GET /workspaces/{ws}/recording-metrics``).

    ``daily_storage_usage`` maps Bird's day keys to byte counts.
    """

    counter: int
    daily_storage_usage: dict[str, int] = field(factory=dict)
    updated_at: datetime | None = None
    duration: int | None = None


@frozen(kw_only=True)
class RecordingPage:
    """One page of :meth:`RecordingsClient.list_recordings`.

    ``next_page_token`` is ``None`` on the last page; pass it back as
    ``page_token=`` to continue from a saved cursor.
    """

    results: tuple[Recording, ...]
    next_page_token: str | None = None


@frozen(kw_only=True)
class CallRecordingPage:
    """One page of :meth:`RecordingsClient.list_call_recordings`."""

    results: tuple[CallRecording, ...]
    next_page_token: str | None = None


@frozen(kw_only=True)
class Transcription:
    """A transcription of a recording (``GET /workspaces/{ws}/transcriptions/{id}``).

    ``status`` moves from ``accepted`` through ``ongoing`` to ``available``,
    ``absent`` or ``failed``. ``locale`` is as requested (``en-US``). ``url``
    and ``summary`` are set by Bird when it has them; ``url`` may be a
    presigned storage URL, so it is redacted in ``repr``: fetch the text with
    :meth:`RecordingsClient.get_transcription_content` instead of using it.
    Bird does not document the shape of ``summary``: it is kept as decoded
    JSON (usually a string), so an unexpected shape never fails the call.
    """

    id: str
    recording_id: str
    status: TranscriptionStatus
    locale: str
    created_at: datetime
    updated_at: datetime
    stereo: bool | None = None
    url: str | None = field(default=None, repr=_repr_url)
    summary: Any = None

    @property
    def is_available(self) -> bool:
        """True when the text can be fetched (status ``available``)."""
        return self.status == TranscriptionStatus.AVAILABLE

    @property
    def is_final(self) -> bool:
        """True when the status will not change any more (``available``, ``absent``, ``failed``)."""
        return self.status.is_final


@frozen(kw_only=True)
class TranscriptionPage:
    """One page of :meth:`RecordingsClient.list_transcriptions` (``next_page_token`` as above)."""

    results: tuple[Transcription, ...]
    next_page_token: str | None = None


ZERO_TIME: Final = "0001-01-01T00:00:00Z"


@frozen(kw_only=True)
class MediaURL:
    """A presigned storage URL for a recording's media.

    ``expires_at`` is computed from ``X-Amz-Date`` + ``X-Amz-Expires`` (aware
    UTC) and is ``None`` when the URL does not say. ``url`` is a credential until
    it expires: it is redacted in ``repr``; do not log it.
    """

    url: str = field(repr=_repr_url)
    expires_at: datetime | None = None
    recording_id: str | None = None

    def seconds_left(self, now: datetime) -> float | None:
        """Seconds until expiry as seen at ``now`` (negative once expired)."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()


@frozen(kw_only=True)
class ClientStats:
    """Work a client has done so far (see :attr:`RecordingsClient.stats`).

    ``api_retries``: API requests retried; ``storage_retries``: storage
    attempts retried after an error status or a broken connection;
    ``resumes``: transfers continued with a Range request after a broken body;
    ``url_refreshes``: presigned URLs renewed; ``restarts``: downloads started
    over because the stored object changed.
    """

    api_retries: int = 0
    storage_retries: int = 0
    resumes: int = 0
    url_refreshes: int = 0
    restarts: int = 0


class CallStatus(OpenEnum):
    """Status of a call in Bird's voice webhooks (``voice.inbound``/``voice.outbound``).

    :attr:`ACCEPTED` occurs for outbound calls only. The end states are
    :attr:`COMPLETED`, :attr:`NO_ANSWER`, :attr:`BUSY` and :attr:`FAILED`.
    """

    ACCEPTED = "accepted"
    STARTING = "starting"
    RINGING = "ringing"
    ONGOING = "ongoing"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True for completed, no-answer, busy and failed (an unknown value is not final)."""
        return self in (
            CallStatus.COMPLETED,
            CallStatus.NO_ANSWER,
            CallStatus.BUSY,
            CallStatus.FAILED,
        )


class VoiceEventType(OpenEnum):
    """The ``event`` of a voice webhook delivery."""

    INBOUND = "voice.inbound"
    OUTBOUND = "voice.outbound"


@frozen(kw_only=True)
class Call:
    """The call a voice webhook is about (the delivery's ``payload``).

    Bird's payload is the Call object of ``GET …/channels/{ch}/calls/{call}``; only
    ``id`` and ``status`` are required. The fields below are read when they have
    the expected type and left ``None`` otherwise; the ``payload`` of :class:`VoiceEvent`
    holds everything Bird sent.
    """

    id: str
    status: CallStatus
    channel_id: str | None = None
    direction: str | None = None
    type: str | None = None
    duration: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None


@frozen(kw_only=True)
class VoiceEvent:
    """One voice lifecycle webhook delivery from Bird, verified and parsed.

    ``event`` is ``voice.inbound`` or ``voice.outbound`` (unknown values kept),
    ``call`` the typed call, ``payload`` the payload as Bird sent it (decoded
    JSON), ``request_id`` the ``messagebird-request-id`` of the delivery.
    """

    event: VoiceEventType
    call: Call
    service: str | None = None
    request_id: str | None = None
    payload: dict[str, Any] = field(factory=dict, repr=False)
