"""A faithful local Bird Voice Recordings API plus an S3-like storage origin, with faults.

Use :class:`BirdEmulator` in tests (or the ``bird_emulator`` pytest fixture), or
run it as a process with ``python -m bird_recordings.emulator``. See the
"Testing with the emulator" guide for what it reproduces and what it does not.
"""

from __future__ import annotations

from ._emulator import DEFAULT_URL_EXPIRES_S, BirdEmulator
from ._faults import (
    BodyFault,
    ExpireEarlyFault,
    Fault,
    Faults,
    IgnoreRangeFault,
    LatencyFault,
    MalformedJSONFault,
    ReplaceMediaFault,
    ResetFault,
    StallFault,
    StatusFault,
    TruncateFault,
    UnknownFieldsFault,
)
from ._http import RequestRecord
from ._media import MIN_MEDIA_BYTES
from ._process import main

__all__ = [
    "DEFAULT_URL_EXPIRES_S",
    "MIN_MEDIA_BYTES",
    "BirdEmulator",
    "BodyFault",
    "ExpireEarlyFault",
    "Fault",
    "Faults",
    "IgnoreRangeFault",
    "LatencyFault",
    "MalformedJSONFault",
    "ReplaceMediaFault",
    "RequestRecord",
    "ResetFault",
    "StallFault",
    "StatusFault",
    "TruncateFault",
    "UnknownFieldsFault",
    "main",
]
