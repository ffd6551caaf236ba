"""The emulator's transcriptions: a schedule on the emulator's clock, and their text.

A transcription's status is a pure function of the emulator's time: it is
``accepted`` for ``schedule[0]`` seconds after it was created, ``ongoing`` for
``schedule[1]`` more, then its ``outcome`` (``available``, ``failed`` or
``absent``). ``emu.advance_clock(s)`` therefore moves it along without sleeping.
A status set with ``emu.update_transcription(id, status=...)`` overrides the
schedule from then on.

The text is generated from the seed and the transcription id, so the same
emulator gives the same words in all four formats (JSON, SRT, WebVTT, plain
text). Bird does not document the JSON structure; ours is
``{"id", "recordingId", "locale", "text", "segments": [{"start", "end",
"speaker", "text"}]}`` with times in seconds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final, Literal

import attrs

from bird_recordings._models import Transcription, TranscriptionStatus

__all__ = [
    "CONTENT_TYPES",
    "DEFAULT_SCHEDULE_S",
    "FORMATS",
    "Outcome",
    "StoredTranscription",
    "TranscriptStore",
    "render_transcript",
]

Outcome = Literal["available", "failed", "absent"]
OUTCOMES: Final = ("available", "failed", "absent")
FORMATS: Final = ("json", "srt", "vtt", "txt")
CONTENT_TYPES: Final = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "txt": "text/plain",
}
# Bird's own example went from created to available in about 9 s.
DEFAULT_SCHEDULE_S: Final = (2.0, 7.0)
_FINAL: Final = frozenset({"available", "failed", "absent"})

_PHRASES: Final = (
    "Hello, thanks for calling. How can I help you today?",
    "Hi, I am calling about my order from last week.",
    "Of course. Could you give me the order number, please?",
    "Sure, it is four two seven, nine nine one.",
    "Thank you. I can see it left our warehouse on Tuesday.",
    "Great, and when should it arrive?",
    "It should be with you by Friday at the latest.",
    "Perfect. Can I also change the delivery address?",
    "Yes, I have updated it to the new address for you.",
    "Is there anything else I can help you with?",
    "No, that is all. Merci, and have a nice day!",
    "You too. Goodbye!",
    "The café on the corner will take the parcel if I am out.",
    "Noted: the neighbour at number twelve may sign for it.",
)


@attrs.define(eq=False)
class StoredTranscription:
    """One transcription as the emulator holds it."""

    id: str
    recording_id: str
    locale: str
    stereo: bool
    created_s: float
    schedule_s: tuple[float, float]
    outcome: Outcome
    duration_s: int
    message_id: str | None = None
    conversation_id: str | None = None
    forced_status: str | None = None
    forced_at_s: float | None = None

    def status_at(self, now_s: float) -> str:
        """The status at the emulator time ``now_s``."""
        if self.forced_status is not None:
            return self.forced_status
        elapsed = now_s - self.created_s
        accepted_s, ongoing_s = self.schedule_s
        if elapsed < accepted_s:
            return "accepted"
        if elapsed < accepted_s + ongoing_s:
            return "ongoing"
        return self.outcome

    def updated_at_s(self, now_s: float) -> float:
        """When the status last changed, as of ``now_s``."""
        if self.forced_status is not None and self.forced_at_s is not None:
            return self.forced_at_s
        elapsed = now_s - self.created_s
        accepted_s, ongoing_s = self.schedule_s
        if elapsed < accepted_s:
            return self.created_s
        if elapsed < accepted_s + ongoing_s:
            return self.created_s + accepted_s
        return self.created_s + accepted_s + ongoing_s

    def model(self, now_s: float, url: str | None = None) -> Transcription:
        """The :class:`~bird_recordings.Transcription` at ``now_s``."""
        status = self.status_at(now_s)
        available = status == "available"
        return Transcription(
            id=self.id,
            recording_id=self.recording_id,
            status=TranscriptionStatus(status),
            locale=self.locale,
            stereo=self.stereo,
            created_at=_when(self.created_s),
            updated_at=_when(self.updated_at_s(now_s)),
            url=url if available else None,
            summary=_summary(self) if available else None,
        )

    def sort_key(self) -> tuple[datetime, str]:
        """Position in the list order (created_at, then id); lists walk it backwards."""
        return (_when(self.created_s), self.id)


def _when(epoch_s: float) -> datetime:
    # Milliseconds, as Bird writes them.
    return datetime.fromtimestamp(round(epoch_s, 3), UTC)


def _summary(stored: StoredTranscription) -> str:
    return (
        f"A {stored.duration_s}-second call ({stored.locale}) about an order's delivery "
        "and a change of address."
    )


class TranscriptStore:
    """Every transcription of the workspace, plus the ones still in progress."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredTranscription] = {}
        self.pending: set[str] = set()

    def put(self, stored: StoredTranscription) -> None:
        """Add or replace one; it is pending until :meth:`settle` sees its final status."""
        self.by_id[stored.id] = stored
        self.pending.add(stored.id)

    def remove(self, transcription_id: str) -> StoredTranscription | None:
        """Forget one (``DELETE …/transcriptions/{id}``); return it, or ``None`` if unknown."""
        self.pending.discard(transcription_id)
        return self.by_id.pop(transcription_id, None)

    def settle(self, now_s: float) -> list[StoredTranscription]:
        """Drop finished ones from ``pending``; return those that became ``available``."""
        became: list[StoredTranscription] = []
        for tid in list(self.pending):
            stored = self.by_id.get(tid)
            if stored is None:
                self.pending.discard(tid)
                continue
            status = stored.status_at(now_s)
            if status in _FINAL:
                self.pending.discard(tid)
                if status == "available":
                    became.append(stored)
        return became

    def iter_desc(
        self, before: tuple[datetime, str] | None = None
    ) -> Iterator[StoredTranscription]:
        """Newest first, strictly after the cursor ``before``."""
        items = sorted(self.by_id.values(), key=StoredTranscription.sort_key, reverse=True)
        for stored in items:
            if before is None or stored.sort_key() < before:
                yield stored


# Content ------------------------------------------------------------------------------


@attrs.frozen
class Segment:
    """One cue: ``start``/``end`` in milliseconds."""

    start_ms: int
    end_ms: int
    speaker: str
    text: str


def segments(stored: StoredTranscription, seed: int) -> list[Segment]:
    """The transcript's cues, a pure function of the seed and the transcription id."""
    rng = random.Random(f"transcript:{seed}:{stored.id}")
    total_ms = max(stored.duration_s, 6) * 1000
    count = max(2, min(12, total_ms // 4000))
    step = total_ms // count
    offset = rng.randrange(len(_PHRASES))
    cues = []
    for i in range(count):
        start = i * step + rng.randint(0, 300)
        end = (i + 1) * step - rng.randint(50, 400)
        speaker = f"Speaker {1 + i % 2}"
        cues.append(
            Segment(start, max(end, start + 500), speaker, _PHRASES[(offset + i) % len(_PHRASES)])
        )
    return cues


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def render_transcript(stored: StoredTranscription, fmt: str, seed: int) -> bytes:
    """The transcript in ``fmt`` (``json``, ``srt``, ``vtt`` or ``txt``), UTF-8."""
    cues = segments(stored, seed)
    if fmt == "json":
        payload = {
            "id": stored.id,
            "recordingId": stored.recording_id,
            "locale": stored.locale,
            "text": " ".join(c.text for c in cues),
            "segments": [
                {
                    "start": c.start_ms / 1000,
                    "end": c.end_ms / 1000,
                    "speaker": c.speaker,
                    "text": c.text,
                }
                for c in cues
            ],
        }
        return json.dumps(payload, ensure_ascii=False).encode()
    if fmt == "srt":
        blocks = [
            f"{n}\n{_clock(c.start_ms, ',')} --> {_clock(c.end_ms, ',')}\n{c.speaker}: {c.text}\n"
            for n, c in enumerate(cues, start=1)
        ]
        return "\n".join(blocks).encode()
    if fmt == "vtt":
        blocks = [
            f"{_clock(c.start_ms, '.')} --> {_clock(c.end_ms, '.')}\n<v {c.speaker}>{c.text}\n"
            for c in cues
        ]
        return ("WEBVTT\n\n" + "\n".join(blocks)).encode()
    if fmt == "txt":
        return "".join(f"{c.speaker}: {c.text}\n" for c in cues).encode()
    raise ValueError(f"unknown transcript format {fmt!r}")
