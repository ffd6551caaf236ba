"""A faithful local Bird Voice Recordings API plus an S3-like storage origin, with faults.

Use :class:`BirdEmulator` in tests (or the ``bird_emulator`` pytest fixture), or
run it as a process with ``python -m bird_recordings.emulator``. See the
"Testing with the emulator" guide for what it reproduces and what it does not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._emulator import DEFAULT_URL_EXPIRES_S, BirdEmulator, SimulatedCall
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
        ThrottleFault,
        TruncateFault,
        UnknownFieldsFault,
    )
    from ._http import RequestRecord
    from ._media import MIN_MEDIA_BYTES
    from ._process import main
    from ._webhooks import WebhookDelivery

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
    "SimulatedCall",
    "StallFault",
    "StatusFault",
    "ThrottleFault",
    "TruncateFault",
    "UnknownFieldsFault",
    "WebhookDelivery",
    "main",
]


# Names are imported on first use so that the pytest plugin (a submodule) can be
# loaded by every pytest run without importing aiohttp.
_HOMES = {
    "DEFAULT_URL_EXPIRES_S": "._emulator",
    "BirdEmulator": "._emulator",
    "MIN_MEDIA_BYTES": "._media",
    "RequestRecord": "._http",
    "main": "._process",
    "SimulatedCall": "._emulator",
    "WebhookDelivery": "._webhooks",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_HOMES.get(name, "._faults"), __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
