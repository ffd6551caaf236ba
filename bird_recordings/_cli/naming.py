"""``--name`` templates: render a recording's file name, and keep it under ``--out``.

A template is a :meth:`str.format` string over these fields: ``id``,
``created_at`` (a datetime, so ``{created_at:%Y/%m/%d}`` works), ``updated_at``,
``direction``, ``status``, ``source``, ``source_id``, ``channel_id``,
``duration`` and ``ext`` (the recording's format, ``mp3``). Missing values
render as ``unknown``. Path separators inside a field value are replaced, so
only the template itself (and date formats) can create folders.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Final

import bird_recordings as br

__all__ = ["DEFAULT_TEMPLATE", "FIELDS", "NameTemplate", "TemplateError"]

DEFAULT_TEMPLATE: Final = "{id}.mp3"
FIELDS: Final = (
    "id",
    "created_at",
    "updated_at",
    "direction",
    "status",
    "source",
    "source_id",
    "channel_id",
    "duration",
    "ext",
)
_MISSING: Final = "unknown"


class TemplateError(ValueError):
    """The template is malformed, names an unknown field, or escapes the output folder."""


def _safe(value: object) -> object:
    if value is None:
        return _MISSING
    if isinstance(value, datetime | int):
        return value
    text = str(value).replace("/", "_").replace("\\", "_")
    return "_" if text in (".", "..") else text


def fields_of(recording: br.Recording) -> dict[str, object]:
    """The template fields of one recording."""
    return {
        "id": _safe(recording.id),
        "created_at": recording.created_at,
        "updated_at": recording.updated_at,
        "direction": _safe(recording.direction),
        "status": _safe(recording.status),
        "source": _safe(recording.source),
        "source_id": _safe(recording.source_id),
        "channel_id": _safe(recording.channel_id),
        "duration": recording.duration if recording.duration is not None else _MISSING,
        "ext": _safe(recording.format or "mp3"),
    }


class _Formatter(string.Formatter):
    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise TemplateError("use named fields such as {id}, not positional ones like {}")
        if key not in kwargs:
            known = ", ".join(FIELDS)
            raise TemplateError(f"unknown field {{{key}}} in --name; known fields: {known}")
        return kwargs[key]


_FORMATTER: Final = _Formatter()
_SAMPLE: Final = br.Recording(
    id="5b74ee9e-9d45-473a-82cd-f1f7feea6bbd",
    source=br.RecordingSource.CALL,
    source_id="50fa2203-66c2-4820-864a-1a8002952f4e",
    status=br.RecordingStatus.AVAILABLE,
    origin=br.RecordingOrigin.CREATE_CALL,
    stereo=False,
    format="mp3",
    transcription=False,
    created_at=datetime(2023, 10, 23, 15, 55, 8, tzinfo=UTC),
    updated_at=datetime(2023, 10, 23, 15, 55, 38, tzinfo=UTC),
    channel_id="880d8171-cbab-47bb-81b6-b1a0902da136",
    direction=br.Direction.OUTGOING,
    duration=29,
)


def check_relative(rendered: str) -> PurePosixPath:
    """``rendered`` as a relative path that stays inside the output folder.

    Raises:
        TemplateError: absolute, a drive, ``..``, or empty.
    """
    text = rendered.replace("\\", "/")
    if not text.strip() or text.endswith("/"):
        raise TemplateError(f"the name {rendered!r} is not a file name")
    windows = PureWindowsPath(rendered)
    if text.startswith("/") or windows.drive or windows.root:
        raise TemplateError(f"the name {rendered!r} is absolute; names must stay inside --out")
    path = PurePosixPath(text)
    if any(part == ".." for part in path.parts):
        raise TemplateError(f"the name {rendered!r} leaves --out ('..'); names must stay inside")
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise TemplateError(f"the name {rendered!r} is not a file name")
    return PurePosixPath(*parts)


class NameTemplate:
    """A checked ``--name`` template bound to an output folder."""

    def __init__(self, template: str, out: Path) -> None:
        self.template = template
        self.out = out.absolute()
        self.is_default = template == DEFAULT_TEMPLATE
        # Render a sample now, so a bad template fails before any request (exit 2).
        try:
            self.render(_SAMPLE)
        except TemplateError:
            raise
        except (ValueError, IndexError, AttributeError, KeyError) as exc:
            raise TemplateError(f"--name {template!r} is not a valid template: {exc}") from None

    def render(self, recording: br.Recording) -> PurePosixPath:
        """The file name (relative to ``out``) of ``recording``.

        Raises:
            TemplateError: the result is not a path inside ``out``.
        """
        try:
            rendered = _FORMATTER.vformat(self.template, (), fields_of(recording))
        except TemplateError:
            raise
        except (ValueError, IndexError, AttributeError, KeyError) as exc:
            raise TemplateError(f"--name {self.template!r}: {exc}") from None
        relative = check_relative(rendered)
        target = (self.out / relative).resolve()
        if not target.is_relative_to(self.out.resolve()):
            raise TemplateError(f"the name {rendered!r} leaves --out through a symbolic link")
        return relative

    def target(self, recording: br.Recording) -> tuple[PurePosixPath, Path]:
        """``(relative name, absolute path)`` of ``recording``."""
        relative = self.render(recording)
        return relative, self.out / relative
