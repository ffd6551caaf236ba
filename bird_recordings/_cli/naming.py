"""``--name`` templates: render a recording's file name, and keep it under ``--out``.

A template is a :meth:`str.format` string over these fields: ``id``,
``created_at`` (a datetime, so ``{created_at:%Y/%m/%d}`` works), ``updated_at``,
``direction``, ``status``, ``source``, ``source_id``, ``channel_id``,
``duration`` and ``ext`` (the recording's format, ``mp3``). Missing values
render as ``unknown``. Path separators and control characters inside a field
value are replaced, so only the template itself (and date formats) can create
folders.

A template is checked before any request (:func:`check_template`): known
field names only, no conversions (``!r``), no attribute or index access
(``{id.__class__}``, ``{id[0]}``), no nested fields, and a format spec of at
most 64 characters whose width and precision are at most 64 — so a template
cannot make the command build a gigabyte-long string.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Final

import bird_recordings as br

__all__ = ["DEFAULT_TEMPLATE", "FIELDS", "NameTemplate", "TemplateError", "check_template"]

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
_DATETIME_FIELDS: Final = frozenset({"created_at", "updated_at"})
MAX_TEMPLATE_CHARS: Final = 1024
MAX_SPEC_CHARS: Final = 64
MAX_WIDTH: Final = 64  # also the largest precision
MAX_COMPONENT_BYTES: Final = 255  # NAME_MAX of common file systems
# str.format's mini-language for str and int: [[fill]align][sign][z][#][0][width][,_][.prec][type]
_STANDARD_SPEC: Final = re.compile(
    r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?",
    re.DOTALL,
)
# strftime directives: a letter, optionally after one GNU flag; never a width (glibc's
# "%999999999Y" pads to any length).
_STRFTIME_DIRECTIVE: Final = re.compile(r"%(?:[-_0^#]?[A-Za-z]|%)")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class TemplateError(ValueError):
    """The template is malformed, names an unknown field, or escapes the output folder."""


def _safe(value: object) -> object:
    if value is None:
        return _MISSING
    if isinstance(value, datetime | int):
        return value
    text = _CONTROL.sub("_", str(value).replace("/", "_").replace("\\", "_"))
    return "_" if text in (".", "..") else text


def _check_spec(field: str, spec: str, template: str) -> None:
    if "{" in spec or "}" in spec:
        raise TemplateError(f"--name {template!r}: nested fields in a format spec are not allowed")
    if len(spec) > MAX_SPEC_CHARS:
        raise TemplateError(
            f"--name {template!r}: the format spec of {{{field}}} is longer than "
            f"{MAX_SPEC_CHARS} characters"
        )
    if field in _DATETIME_FIELDS:
        if "%" in spec and _STRFTIME_DIRECTIVE.sub("", spec).count("%"):
            raise TemplateError(
                f"--name {template!r}: {{{field}:{spec}}} is not a plain date format "
                "(use directives such as %Y/%m/%d, without widths)"
            )
        return
    match = _STANDARD_SPEC.fullmatch(spec)
    if match is None:
        raise TemplateError(f"--name {template!r}: {{{field}:{spec}}} is not a valid format spec")
    for part in ("width", "precision"):
        value = match.group(part)
        if value is not None and int(value) > MAX_WIDTH:
            raise TemplateError(
                f"--name {template!r}: the {part} in {{{field}:{spec}}} is too large "
                f"(at most {MAX_WIDTH})"
            )


def check_template(template: str) -> None:
    """Refuse anything but plain, bounded fields, before anything is rendered.

    Raises:
        TemplateError: malformed, too long, a positional or unknown field, a
            conversion (``!r``), attribute or index access, a nested field, or a
            format spec that is too long or pads beyond 64 characters.
    """
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"--name is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"--name {template!r} is not a valid template: {exc}") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise TemplateError("use named fields such as {id}, not positional ones like {}")
        if "." in field or "[" in field:
            raise TemplateError(
                f"--name {template!r}: {{{field}}} uses attribute or index access; "
                "only plain fields such as {id} are allowed"
            )
        if field not in FIELDS:
            known = ", ".join(FIELDS)
            raise TemplateError(f"unknown field {{{field}}} in --name; known fields: {known}")
        if conversion is not None:
            raise TemplateError(
                f"--name {template!r}: conversions such as {{{field}!{conversion}}} are not allowed"
            )
        _check_spec(field, spec or "", template)


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
    for part in parts:
        if _CONTROL.search(part):
            raise TemplateError(f"the name {rendered!r} contains a control character")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise TemplateError(
                f"the name {rendered[:80]!r}… has a part longer than {MAX_COMPONENT_BYTES} bytes"
            )
    return PurePosixPath(*parts)


class NameTemplate:
    """A checked ``--name`` template bound to an output folder."""

    def __init__(self, template: str, out: Path) -> None:
        self.template = template
        self.out = out.absolute()
        self.is_default = template == DEFAULT_TEMPLATE
        check_template(template)
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
