"""Asyncio client for Bird's Voice Recordings API.

Example::

    import bird_recordings as br

    async with br.RecordingsClient() as client:  # BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID
        async for rec in client.list_recordings(status="available"):
            await client.download_recording(rec, "recordings/")
"""

from __future__ import annotations

from typing import get_type_hints as _get_type_hints

from ._blocking import BlockingMediaStream, BlockingRecordingsClient
from ._bulk import RecordingOutcome
from ._client import RecordingsClient
from ._clock import Clock, SystemClock
from ._converter import to_dict, to_json
from ._download import (
    DownloadOutcome,
    DownloadProgress,
    DownloadResult,
    MediaStream,
)
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BirdRecordingsError,
    ClientClosedError,
    ConfigurationError,
    DestinationExistsError,
    FileWriteError,
    IntegrityError,
    InvalidArgumentError,
    InvalidMediaURLError,
    MediaChangedError,
    MediaURLExpiredError,
    NotFoundError,
    PermissionDeniedError,
    RangeNotSatisfiableError,
    RateLimitError,
    RateLimiterUnavailableError,
    RecordingNotAvailableError,
    ResponseValidationError,
    ServerError,
    StorageError,
    TranscriptionFailedError,
    TranscriptionNotAvailableError,
    TranscriptionTimeoutError,
    UnexpectedError,
    UnprocessableEntityError,
    UnsafePathError,
    WebhookSignatureError,
)
from ._hooks import Hooks, SpanHandle
from ._limits import LocalRateLimiter, RateLimiterProtocol
from ._models import (
    Call,
    CallRecording,
    CallRecordingPage,
    CallStatus,
    ClientStats,
    Contact,
    Direction,
    MediaURL,
    OpenEnum,
    Party,
    PartyNumber,
    Recording,
    RecordingOrigin,
    RecordingPage,
    RecordingSource,
    RecordingStatus,
    StorageMetrics,
    Transcription,
    TranscriptionPage,
    TranscriptionStatus,
    VoiceEvent,
    VoiceEventType,
)
from ._pagination import AsyncPager
from ._redact import redact_url
from ._retry import RetryPolicy
from ._transcriptions import TranscriptionDownloadResult
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "BirdRecordingsError",
    "BlockingMediaStream",
    "BlockingRecordingsClient",
    "Call",
    "CallRecording",
    "CallRecordingPage",
    "CallStatus",
    "ClientClosedError",
    "ClientStats",
    "Clock",
    "ConfigurationError",
    "Contact",
    "DestinationExistsError",
    "Direction",
    "DownloadOutcome",
    "DownloadProgress",
    "DownloadResult",
    "FileWriteError",
    "Hooks",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidMediaURLError",
    "LocalRateLimiter",
    "MediaChangedError",
    "MediaStream",
    "MediaURL",
    "MediaURLExpiredError",
    "NotFoundError",
    "OpenEnum",
    "Party",
    "PartyNumber",
    "PermissionDeniedError",
    "RangeNotSatisfiableError",
    "RateLimitError",
    "RateLimiterProtocol",
    "RateLimiterUnavailableError",
    "Recording",
    "RecordingNotAvailableError",
    "RecordingOrigin",
    "RecordingOutcome",
    "RecordingPage",
    "RecordingSource",
    "RecordingStatus",
    "RecordingsClient",
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "SpanHandle",
    "StorageError",
    "StorageMetrics",
    "SystemClock",
    "Transcription",
    "TranscriptionDownloadResult",
    "TranscriptionFailedError",
    "TranscriptionNotAvailableError",
    "TranscriptionPage",
    "TranscriptionStatus",
    "TranscriptionTimeoutError",
    "UnexpectedError",
    "UnprocessableEntityError",
    "UnsafePathError",
    "VoiceEvent",
    "VoiceEventType",
    "WebhookSignatureError",
    "__version__",
    "redact_url",
    "to_dict",
    "to_json",
]

# Public names report the package as their module, as httpx's do: a traceback
# reads ``bird_recordings.NotFoundError``, not ``bird_recordings._errors.NotFoundError``,
# and pickles name the import path that stays stable (the private modules may move).
# typing.get_type_hints (which attrs, cattrs and users call) evaluates a class's string
# annotations in the namespace ``__module__`` names, so they are resolved first, while
# it is still the module that defines them.
for _name in __all__:
    _public = globals()[_name]
    if getattr(_public, "__module__", "").startswith(f"{__name__}._"):
        _own = vars(_public).get("__annotations__") if isinstance(_public, type) else None
        if _own:
            _hints = _get_type_hints(_public, include_extras=True)
            _public.__annotations__ = {key: _hints[key] for key in _own}
        _public.__module__ = __name__
del _name, _public, _own, _get_type_hints
