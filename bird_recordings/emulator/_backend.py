"""What the two origins work with: one emulator's state, clock, faults and log.

:class:`BirdEmulator` builds one backend and hands it to the API origin and the
storage origin, which read and change the emulator only through it (never its
private attributes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from aiohttp import web

from bird_recordings._models import Transcription

from ._faults import Faults, StatusFault
from ._http import RequestRecord
from ._ratelimit import RateLimits
from ._signing import Signer
from ._state import State
from ._transcripts import StoredTranscription, TranscriptStore

__all__ = ["Backend"]


class Backend(Protocol):
    """The emulator as its origins see it."""

    @property
    def state(self) -> State:
        """The recordings and their media."""
        ...

    @property
    def transcripts(self) -> TranscriptStore:
        """The transcriptions."""
        ...

    @property
    def faults(self) -> Faults:
        """The armed faults."""
        ...

    @property
    def requests(self) -> list[RequestRecord]:
        """The request log (appended to when :attr:`log_requests`)."""
        ...

    @property
    def log_requests(self) -> bool:
        """True when requests are logged."""
        ...

    @property
    def rate_limits(self) -> RateLimits | None:
        """The API's rate limits, when enforced."""
        ...

    @property
    def signer(self) -> Signer:
        """Signs and checks presigned URLs."""
        ...

    @property
    def seed(self) -> int:
        """The seed of generated data."""
        ...

    @property
    def workspace_id(self) -> str:
        """The one workspace served."""
        ...

    @property
    def access_key(self) -> str:
        """The access key the API accepts."""
        ...

    @property
    def transcript_delivery(self) -> Literal["body", "redirect"]:
        """How transcript content is answered."""
        ...

    @property
    def server_side_encryption(self) -> str | None:
        """The storage's ``x-amz-server-side-encryption``."""
        ...

    def now_s(self) -> float:
        """The emulator's clock, epoch seconds."""
        ...

    def now(self) -> datetime:
        """The emulator's clock, aware UTC."""
        ...

    def http_date(self, epoch_s: float | None = None) -> str:
        """An HTTP date (now by default)."""
        ...

    def fault_response(
        self, fault: StatusFault, default_content_type: str
    ) -> tuple[dict[str, str], web.Response | None]:
        """Headers of a status fault, and its response when it brings its own body."""
        ...

    def presign(self, recording_id: str, expires_s: int | None = None) -> str:
        """A presigned URL of a recording's media."""
        ...

    def presign_transcript(
        self, transcription_id: str, format: str, expires_s: int | None = None
    ) -> str:
        """A presigned URL of a transcript."""
        ...

    def create_transcription(
        self,
        recording_id: str,
        *,
        locale: str = "en-US",
        message_id: str | None = None,
        conversation_id: str | None = None,
    ) -> StoredTranscription:
        """What ``POST …/transcriptions`` does."""
        ...

    def transcription_model(self, stored: StoredTranscription) -> Transcription:
        """The transcription as the API shows it now."""
        ...

    def settle_transcriptions(self) -> None:
        """Flip ``transcription`` on recordings whose transcription became available."""
        ...

    def etag_for(self, md5_hex: str) -> str:
        """The storage ETag of a body with this MD5."""
        ...

    def replace_media(
        self, recording_id: str, size_bytes: int | None = None, data: bytes | None = None
    ) -> str:
        """Replace a recording's media; returns the new ETag."""
        ...
