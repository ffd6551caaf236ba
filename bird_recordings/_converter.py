"""The cattrs converters: Bird's camelCase JSON <-> our snake_case attrs classes.

Two twins share one recipe. The lenient :data:`converter` is what the client
uses: unknown keys are ignored and unknown enum values are kept (Bird adds
both over time). :func:`make_converter` with ``strict=True`` rejects both; the
tests run it over every fixture so drift in Bird's payloads is noticed.

Both check types (a ``"false"`` string is not a boolean), read RFC 3339 times
with 0–9 fractional digits into aware UTC datetimes, and map Bird's zero time
``0001-01-01T00:00:00Z`` to ``None`` in optional fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any, Final, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import InvalidArgumentError, ResponseValidationError
from ._models import OpenEnum

__all__ = [
    "converter",
    "format_datetime",
    "make_converter",
    "parse_datetime",
    "structure",
    "to_dict",
    "to_json",
]

T = TypeVar("T")

_ZERO_YEAR: Final = 1
# An RFC 3339 UTC timestamp with at most six fractional digits (ASCII digits only).
_PLAIN_UTC: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"
)


def to_camel(name: str) -> str:
    """``caller_id_name`` → ``callerIdName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_datetime(value: object, *, strict: bool = False) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    Fractions beyond microseconds are truncated (Bird sends up to nine digits).
    A timestamp without an offset is an error in strict mode and read as UTC
    otherwise.
    """
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(value).__name__}")
    if _PLAIN_UTC.fullmatch(value):
        # What Bird sends: UTC, at most microseconds; Python reads it as it is.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from None
    text = value.strip()
    if "." in text:
        # Python reads at most 6 fractional digits; Bird sends up to 9.
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = head + "." + tail[: min(digits, 6)] + tail[digits:] if digits else head + tail
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        if strict:
            raise ValueError(f"timestamp without a UTC offset: {value!r}")
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with milliseconds and ``Z``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (e.g. tzinfo=UTC)")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _is_zero_time(value: datetime) -> bool:
    return (
        value.year == _ZERO_YEAR
        and value.month == 1
        and value.day == 1
        and not (value.hour or value.minute or value.second or value.microsecond)
    )


def _check_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _check_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _check_int(value: object, _: type) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Build a converter for Bird's JSON; ``strict`` rejects unknown keys and enum values."""
    conv = cattrs.Converter(forbid_extra_keys=strict)

    # Singledispatch hooks: cattrs registers str/bool/int there itself, and that
    # wins over predicate hooks (which were silently ignored: "false" became
    # True). OpenEnum is registered below, more specific than str in the MRO.
    conv.register_structure_hook(str, _check_str)
    conv.register_structure_hook(bool, _check_bool)
    conv.register_structure_hook(int, _check_int)

    def structure_datetime(value: object, _: type) -> datetime:
        return parse_datetime(value, strict=strict)

    def structure_optional_datetime(value: object, _: type) -> datetime | None:
        if value is None:
            return None
        parsed = parse_datetime(value, strict=strict)
        return None if _is_zero_time(parsed) else parsed

    conv.register_structure_hook(datetime, structure_datetime)
    conv.register_structure_hook_func(lambda t: t == (datetime | None), structure_optional_datetime)
    conv.register_unstructure_hook(datetime, format_datetime)

    def structure_enum(value: object, cls: type[OpenEnum]) -> OpenEnum:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        member = cls(value)
        if strict and not member.is_known:
            raise ValueError(f"unknown {cls.__name__} value {value!r}")
        return member

    conv.register_structure_hook(OpenEnum, structure_enum)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, OpenEnum), str
    )

    def renames(cls: type) -> dict[str, Any]:
        return {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}

    def structure_factory(cls: type) -> Any:
        fn: Any = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=strict, **renames(cls)
        )

        # cattrs only tests ``key in value``: "alice" would become an empty Party.
        def structure_object(value: object, target: type) -> Any:
            if not isinstance(value, dict):
                raise TypeError(f"expected a JSON object, got {type(value).__name__}")
            return fn(value, target)

        return structure_object

    def unstructure_factory(cls: type) -> Any:
        # Bird omits optional fields it does not know; so do we.
        return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **renames(cls))

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


converter: Final = make_converter()
"""The lenient converter the client uses."""


def structure(data: object, cls: type[T], *, what: str, conv: cattrs.Converter = converter) -> T:
    """Structure decoded JSON into ``cls`` or raise :class:`ResponseValidationError`.

    ``what`` names the object for the message (``"recording 5b74…"``).
    """
    if not isinstance(data, dict):
        raise ResponseValidationError(
            f"{what}: expected a JSON object, got {type(data).__name__}",
            errors=(f"expected a JSON object @ $, got {type(data).__name__}",),
        )
    try:
        return conv.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        errors = tuple(cattrs.transform_error(exc, path="$"))
        raise ResponseValidationError(
            f"{what} does not match the {cls.__name__} schema: " + "; ".join(errors),
            errors=errors,
        ) from exc
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # Whatever odd value cattrs or a hook trips over is a malformed response.
        raise ResponseValidationError(
            f"{what} does not match the {cls.__name__} schema: {exc}", errors=(str(exc),)
        ) from exc


# -- models that leave the process ------------------------------------------------------


def _format_exact(value: datetime) -> str:
    """RFC 3339 UTC with ``Z``, keeping microseconds when there are any (no precision lost)."""
    utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if utc.microsecond % 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}Z"
    return format_datetime(utc)


def _make_out_converter(case: Literal["snake", "camel"]) -> cattrs.Converter:
    """The lenient converter for :func:`to_dict`: exact times, paths as strings."""
    conv = make_converter()
    conv.register_unstructure_hook(datetime, _format_exact)
    conv.register_unstructure_hook(PurePath, str)
    if case == "snake":
        conv.register_unstructure_hook_factory(
            attrs.has,
            lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True),
        )
    return conv


_out_converters: Final = {case: _make_out_converter(case) for case in ("snake", "camel")}


def to_dict(
    obj: object, *, case: Literal["snake", "camel"] = "snake", exclude: Collection[str] = ()
) -> dict[str, Any]:
    """A model as a JSON-ready ``dict``: strings, numbers, booleans, lists and dicts.

    ``case="snake"`` keys are the attribute names (``created_at``);
    ``case="camel"`` is Bird's wire format (``createdAt``), which the converter
    structures back into an equal model. Datetimes become RFC 3339 UTC strings
    with ``Z``, enums their strings; fields at their default (``None``) are left
    out, as Bird does. ``exclude`` drops top-level fields by attribute name, for
    example ``exclude=("url",)``: a recording's ``url`` is a presigned storage URL,
    a credential for a few minutes, and rarely belongs in your own API.

    Raises:
        InvalidArgumentError: ``obj`` is not one of the library's models.

    Example::

        br.to_dict(recording, exclude=("url", "room_info_url"))
        # {"id": "5b74…", "status": "available", "created_at": "2023-10-23T15:55:08.234Z", …}
    """
    if not attrs.has(type(obj)):
        raise InvalidArgumentError(
            f"to_dict() takes one of the library's models, not {type(obj).__name__}"
        )
    if case not in ("snake", "camel"):
        raise InvalidArgumentError(f"case must be 'snake' or 'camel', not {case!r}")
    conv = _out_converters[case]
    data: dict[str, Any] = conv.unstructure(obj)
    for name in exclude:
        data.pop(name if case == "snake" else to_camel(name), None)
    return data


def to_json(
    obj: object,
    *,
    case: Literal["snake", "camel"] = "snake",
    exclude: Collection[str] = (),
    indent: int | None = None,
) -> str:
    """:func:`to_dict` as a JSON string (UTF-8 text, non-ASCII kept).

    Raises:
        InvalidArgumentError: ``obj`` is not one of the library's models.
    """
    return json.dumps(to_dict(obj, case=case, exclude=exclude), ensure_ascii=False, indent=indent)
