"""Shared pieces of the command line: exit codes, credentials, filters, JSON views."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Final

import attrs

import bird_recordings as br

__all__ = [
    "EXIT_FAILED",
    "EXIT_FILESYSTEM",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CLIError",
    "Credentials",
    "jsonable",
    "list_filters",
    "make_client",
    "parse_when",
    "recording_json",
    "resolve_credentials",
    "setup_logging",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
# sysexits.h names for the two local conditions: EX_IOERR, EX_TEMPFAIL (try again later).
EXIT_FILESYSTEM: Final = 74
EXIT_LOCKED: Final = 75
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED: Final = 143  # 128 + SIGTERM

ENV_ACCESS_KEY: Final = "BIRD_ACCESS_KEY"
ENV_WORKSPACE_ID: Final = "BIRD_WORKSPACE_ID"
ENV_API_URL: Final = "BIRD_API_URL"

# Fields that are credentials until they expire: never printed, never stored.
_SECRET_FIELDS: Final = frozenset({"url", "room_info_url"})


class CLIError(Exception):
    """A problem reported as one line on stderr, with an exit code (2 by default)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def file_system_error(what: str, exc: OSError) -> CLIError:
    """``cannot <what>: <reason>`` with exit code 74, for a local file-system failure."""
    reason = exc.strerror or type(exc).__name__
    return CLIError(f"cannot {what}: {reason}", EXIT_FILESYSTEM)


@attrs.frozen(repr=False)
class Credentials:
    """Where to reach Bird. ``repr`` hides the key."""

    access_key: str
    workspace_id: str
    api_url: str | None

    def __repr__(self) -> str:
        return f"Credentials(workspace_id={self.workspace_id!r}, api_url={self.api_url!r})"


def _pick(flag: str | None, env: str) -> str | None:
    value = flag if flag is not None else os.environ.get(env)
    return value.strip() if value and value.strip() else None


def resolve_credentials(args: argparse.Namespace) -> Credentials:
    """Credentials from the flags, else the environment.

    Raises:
        CLIError: one is missing; the message names the variable to set (exit 2).
    """
    key = _pick(getattr(args, "access_key", None), ENV_ACCESS_KEY)
    if key is None:
        raise CLIError(f"no access key: set {ENV_ACCESS_KEY} (or pass --access-key)")
    workspace = _pick(getattr(args, "workspace", None), ENV_WORKSPACE_ID)
    if workspace is None:
        raise CLIError(f"no workspace id: set {ENV_WORKSPACE_ID} (or pass --workspace)")
    api_url = _pick(getattr(args, "api_url", None), ENV_API_URL)
    return Credentials(access_key=key, workspace_id=workspace, api_url=api_url)


def make_client(creds: Credentials, **options: Any) -> br.RecordingsClient:
    """A :class:`bird_recordings.RecordingsClient` for ``creds``.

    Raises:
        CLIError: the library refused the configuration (exit 2).
    """
    try:
        return br.RecordingsClient(
            creds.access_key, creds.workspace_id, base_url=creds.api_url, **options
        )
    except br.ConfigurationError as exc:
        raise CLIError(str(exc)) from None


class _RedactSecret(logging.Filter):
    """Replace a secret anywhere in a log record's final message (belt and braces)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret and self._secret in message:
            record.msg = message.replace(self._secret, "***")
            record.args = None
        return True


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now, so rich's live display can redirect it."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(*, verbose: bool, secret: str | None = None) -> None:
    """Send the library's logs to stderr: DEBUG with ``--verbose``, else warnings only."""
    handler = _CurrentStderrHandler()
    # The level is the handler's too: the progress view may open the logger to
    # INFO for rate-limit notices without those lines reaching stderr.
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    if secret:
        handler.addFilter(_RedactSecret(secret))
    logger = logging.getLogger("bird_recordings")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


_SPAN: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_SPAN_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time from ``7d``/``12h``/``30m``/``2w`` (ago), a date or an ISO 8601 time.

    Dates and times without a zone are UTC. Raises :class:`ValueError`.
    """
    match = _SPAN.match(text)
    if match:
        seconds = float(match.group(1)) * _SPAN_UNITS[match.group(2).lower()]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 7d, 12h, 30m, 2w, 2024-05-01 or 2024-05-01T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when_arg(text: str) -> datetime:
    """Parse ``--since``/``--until`` (an argparse ``type=``)."""
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def list_filters(args: argparse.Namespace) -> dict[str, Any]:
    """``list_recordings`` keyword arguments from the filter flags."""
    filters: dict[str, Any] = {
        "status": getattr(args, "status", None),
        "direction": getattr(args, "direction", None),
        "channel_id": getattr(args, "channel", None),
        "call_id": getattr(args, "call", None),
        "source_id": getattr(args, "source", None),
        "from_number": getattr(args, "from_number", None),
        "to_number": getattr(args, "to_number", None),
        "start_at": getattr(args, "since", None),
        "end_at": getattr(args, "until", None),
    }
    return {key: value for key, value in filters.items() if value is not None}


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with ``Z`` and milliseconds, as Bird writes times."""
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of model values: datetimes as RFC 3339, enums as strings."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if attrs.has(type(value)):
        return jsonable(attrs.asdict(value, recurse=False))
    return value


def recording_json(recording: br.Recording) -> dict[str, Any]:
    """A recording's metadata as JSON, snake_case, without the presigned URLs."""
    data = attrs.asdict(recording, recurse=False, filter=lambda a, _: a.name not in _SECRET_FIELDS)
    return {str(key): jsonable(value) for key, value in data.items() if value is not None}
