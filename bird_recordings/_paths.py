"""Local file names built from untrusted data: pure checks, one place.

A recording id, a ``format`` and a transcript format come from the server (or
from the caller's arguments); a file name made of them must be exactly one
harmless path component, and the file must land inside the folder the caller
chose. The temporary name ``.<name>.<random>.part`` (see :mod:`._files`) adds
at most :data:`TEMP_NAME_OVERHEAD` characters, so a name is bounded to leave
room for it under the usual 255-byte limit of a file name.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Final

from ._errors import FileWriteError, UnsafePathError

__all__ = [
    "MAX_NAME_BYTES",
    "check_file_name",
    "check_inside",
    "check_local_path",
    "file_name",
    "names_a_folder",
]

# NAME_MAX is 255 bytes on Linux, macOS and Windows file systems alike.
_NAME_MAX_BYTES: Final = 255
# ``.`` + name + ``.`` + pid (<= 8 hex) + run token (6 hex) + counter (<= 16 hex) + ``.part``.
TEMP_NAME_OVERHEAD: Final = 1 + 1 + 8 + 6 + 16 + len(".part")
MAX_NAME_BYTES: Final = _NAME_MAX_BYTES - TEMP_NAME_OVERHEAD
# What no file name built from server data may contain, on any platform we run on.
_FORBIDDEN: Final = frozenset('/\\:*?"<>|')


def _file_error(message: str, exc: OSError) -> FileWriteError:
    error = FileWriteError(f"{message}: {exc.strerror or exc}")
    error.errno = exc.errno
    return error


def _shown(value: str) -> str:
    """The value for a message: repr (control characters escaped), shortened."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Letters, digits, '.', '-' and '_', starting with neither a dot nor a space:
# all safe and printable, one byte each in UTF-8.
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_file_name(name: str, *, what: str) -> str:
    r"""Return ``name`` if it is one safe path component, else raise :class:`UnsafePathError`.

    Refused: empty, ``.`` or ``..``, a path separator (``/``, ``\``) or a
    character Windows forbids, a control or format character (NUL, newline,
    bidi overrides), leading or trailing whitespace, and a name longer than
    :data:`MAX_NAME_BYTES` bytes in UTF-8 (the temporary name must still fit).
    """
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise UnsafePathError(f"{what}: {_shown(str(name))} is not a usable file name")
    if len(name) <= MAX_NAME_BYTES and _PLAIN_NAME.fullmatch(name):
        return name  # ids such as UUIDs: nothing below can refuse them
    for char in name:
        if char in _FORBIDDEN or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise UnsafePathError(
                f"{what}: the file name {_shown(name)} contains {char!r}, "
                "which is not allowed in a file name"
            )
    if name != name.strip():
        raise UnsafePathError(f"{what}: the file name {_shown(name)} has surrounding spaces")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafePathError(f"{what}: the file name {_shown(name)} is not valid text") from None
    if size > MAX_NAME_BYTES:
        raise UnsafePathError(
            f"{what}: the file name {_shown(name)} is {size} bytes long; "
            f"at most {MAX_NAME_BYTES} are allowed"
        )
    return name


def file_name(stem: str, extension: str, *, what: str) -> str:
    """``<stem>.<extension>``, each part checked (see :func:`check_file_name`).

    ``extension`` must be a plain word (letters, digits, ``-``, ``_``, at most
    16 characters): a server's ``format`` of ``mp3/../../x`` is refused, not
    trimmed.
    """
    if not isinstance(stem, str):
        raise UnsafePathError(f"{what}: the id {stem!r} is not a string")
    check_file_name(stem, what=what)
    if (
        not isinstance(extension, str)
        or not 1 <= len(extension) <= 16
        or not extension.isascii()
        or not extension.replace("-", "").replace("_", "").isalnum()
    ):
        raise UnsafePathError(f"{what}: {_shown(str(extension))} is not a usable file extension")
    return check_file_name(f"{stem}.{extension}", what=what)


def check_local_path(path: Path, *, what: str) -> Path:
    """Refuse a caller's file path that no file system call could take.

    No NUL anywhere (``os`` functions raise ``ValueError`` on it) and a last
    component that is a usable file name (:func:`check_file_name`).
    """
    text = os.fspath(path)
    if "\x00" in text:
        raise UnsafePathError(f"{what}: the path {_shown(text)} contains a NUL character")
    check_file_name(path.name, what=what)
    return path


def check_inside(folder: Path, target: Path, *, what: str) -> Path:
    """Refuse ``target`` unless, symlinks resolved, it lies directly in ``folder``.

    ``target`` is ``folder / name`` with a checked ``name``, so only a symlink
    at that name (or planted while we were not looking) can lead elsewhere; a
    symlink pointing inside the folder is allowed. Blocking (``lstat``, and
    ``realpath`` only for a symlink): call it where a few microseconds on the
    event loop are acceptable, or in a thread.
    """
    try:
        if not target.is_symlink():
            return target
        real_folder = folder.resolve()
        real_target = target.resolve()
    except OSError as exc:
        raise _file_error(f"{what}: cannot inspect {target}", exc) from exc
    if real_target.parent != real_folder:
        raise UnsafePathError(
            f"{what}: {target} is a symbolic link to {real_target}, outside {real_folder}; "
            "refusing to write there"
        )
    return target


def names_a_folder(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` ends with a separator or is an existing directory (one ``stat``).

    An unusable path (a component too long, no permission) raises
    :class:`FileWriteError`, not ``OSError``.
    """
    text = os.fspath(path)
    if text.endswith(("/", "\\")):
        return True
    try:
        return Path(text).is_dir()
    except OSError as exc:
        raise _file_error(f"cannot use {text}", exc) from exc
