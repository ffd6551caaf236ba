"""Deterministic, random-access recording media: decodable MP3 that never sits in memory.

A generated object is an ID3v2.3 tag followed by MPEG-1 Layer III frames
(128 kbit/s, 48 kHz, mono, no CRC, no padding: exactly 384 bytes and 24 ms each).
Every frame has all-zero side information (``part2_3_length = 0`` in both
granules), which decoders play as silence; the 363 bytes after the side
information are ancillary data, which decoders skip, filled with pseudo-random
bytes so the content differs at every offset (a resume or offset bug changes
the bytes).

Speed matters (the benchmarks pull hundreds of MiB/s), so frames are not built
one by one: a process-wide table of 65,537 distinct framed frames (24 MiB) is
built once, and an object is that table read from a per-object starting frame,
with a per-object jump every 65,537 frames, so no pattern repeats at a fixed
period. Any byte range is then one or two ``memcpy``-like slices, and nothing
the size of the object is ever held in memory. The tag
carries a ``PRIV`` frame of seeded bytes whose length absorbs ``size % 384``,
so every size from :data:`MIN_MEDIA_BYTES` up is exact.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Final, Protocol

__all__ = [
    "FRAME_BYTES",
    "FRAME_SECONDS",
    "MIN_MEDIA_BYTES",
    "BytesMedia",
    "GeneratedMedia",
    "Media",
    "duration_for_size",
    "media_digest",
]

FRAME_BYTES: Final = 384  # 144 * 128_000 / 48_000, no padding slot at 48 kHz
FRAME_SECONDS: Final = 1152 / 48_000
# Sync word, MPEG-1, Layer III, no CRC | 128 kbit/s, 48 kHz, no padding | mono, original.
_FRAME_HEADER: Final = bytes((0xFF, 0xFB, 0x94, 0xC4))
_SIDE_INFO_BYTES: Final = 17  # MPEG-1 mono
_FRAME_PREFIX: Final = _FRAME_HEADER + bytes(_SIDE_INFO_BYTES)
_ANCILLARY_BYTES: Final = FRAME_BYTES - len(_FRAME_PREFIX)

_PRIV_OWNER: Final = b"bird\x00"
_TAG_MIN_BYTES: Final = 10 + 10 + len(_PRIV_OWNER)  # tag header + PRIV frame header + owner
MIN_MEDIA_BYTES: Final = _TAG_MIN_BYTES + FRAME_BYTES
"""The smallest generated object: an ID3 tag and one frame (409 bytes)."""

_TABLE_FRAMES: Final = 65_537
_TABLE_BYTES: Final = _TABLE_FRAMES * FRAME_BYTES
_table: bytes | None = None


def _frame_table() -> bytes:
    """The shared table of framed frames, built on first use (about 0.1 s)."""
    global _table  # one lazily built, read-only table per process
    if _table is None:
        ancillary = random.Random(0xB12D).randbytes(_TABLE_FRAMES * _ANCILLARY_BYTES)
        n = _ANCILLARY_BYTES
        _table = b"".join(
            _FRAME_PREFIX + ancillary[i * n : (i + 1) * n] for i in range(_TABLE_FRAMES)
        )
    return _table


def duration_for_size(size_bytes: int) -> int:
    """Whole seconds of audio in a generated object of ``size_bytes``."""
    frames = max(0, size_bytes - _TAG_MIN_BYTES) // FRAME_BYTES
    return round(frames * FRAME_SECONDS)


class Media(Protocol):
    """One immutable version of a recording's object."""

    @property
    def size(self) -> int:
        """Length in bytes."""

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``offset .. offset+length`` (clamped to the object)."""

    def chunks(self, start: int, end: int, chunk_bytes: int) -> Iterator[bytes]:
        """Bytes ``start .. end`` (exclusive) in pieces of at most ``chunk_bytes``."""

    def digest(self, algorithm: str) -> str:
        """Hex digest of the whole object, streamed and cached."""

    def cached_digest(self, algorithm: str) -> str | None:
        """The digest if already computed, else ``None``."""


class _DigestCache:
    __slots__ = ("_digests",)

    def __init__(self) -> None:
        self._digests: dict[str, str] = {}

    def digest(self, algorithm: str) -> str:
        cached = self._digests.get(algorithm)
        if cached is None:
            cached = media_digest(self, algorithm)  # type: ignore[arg-type]
            self._digests[algorithm] = cached
        return cached

    def cached_digest(self, algorithm: str) -> str | None:
        return self._digests.get(algorithm)


class GeneratedMedia(_DigestCache):
    """Generated MP3 of ``size`` bytes whose content is a pure function of ``key``."""

    __slots__ = ("_jump", "_start", "_tag", "key", "size")

    def __init__(self, key: bytes, size: int) -> None:
        super().__init__()
        if size < MIN_MEDIA_BYTES:
            raise ValueError(f"generated media must be at least {MIN_MEDIA_BYTES} bytes")
        self.key = key
        self.size = size
        h = int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big")
        self._start = (h >> 64) % _TABLE_FRAMES
        self._jump = 1 + (h & 0xFFFFFFFFFFFFFFFF) % (_TABLE_FRAMES - 1)
        tag_len = _TAG_MIN_BYTES + (size - _TAG_MIN_BYTES) % FRAME_BYTES
        body = tag_len - 10
        syncsafe = bytes((body >> 21 & 0x7F, body >> 14 & 0x7F, body >> 7 & 0x7F, body & 0x7F))
        self._tag = (
            b"ID3\x03\x00\x00"
            + syncsafe
            + b"PRIV"
            + (tag_len - 20).to_bytes(4, "big")
            + b"\x00\x00"
            + _PRIV_OWNER
            + random.Random(key).randbytes(tag_len - _TAG_MIN_BYTES)
        )

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``offset .. offset+length`` (clamped to the object)."""
        end = min(self.size, offset + length)
        tag = self._tag
        tag_len = len(tag)
        parts: list[bytes] = []
        if offset < min(end, tag_len):
            parts.append(tag[offset : min(end, tag_len)])
        table = _frame_table()
        # p, q: positions in the frame stream (after the tag).
        p, q = max(offset, tag_len) - tag_len, end - tag_len
        segment_bytes = _TABLE_BYTES
        while p < q:
            frame, within = divmod(p, FRAME_BYTES)
            segment = frame // _TABLE_FRAMES
            row = (self._start + frame + segment * self._jump) % _TABLE_FRAMES
            at = row * FRAME_BYTES + within
            run = min(q - p, (segment + 1) * segment_bytes - p, _TABLE_BYTES - at)
            parts.append(table[at : at + run])
            p += run
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def chunks(self, start: int, end: int, chunk_bytes: int) -> Iterator[bytes]:
        """Bytes ``start .. end`` (exclusive) in pieces of at most ``chunk_bytes``."""
        pos = start
        while pos < end:
            n = min(chunk_bytes, end - pos)
            yield self.read(pos, n)
            pos += n


class BytesMedia(_DigestCache):
    """Media given by the caller as bytes (held in memory: the caller's choice)."""

    __slots__ = ("data", "size")

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = bytes(data)
        self.size = len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``offset .. offset+length`` (clamped to the object)."""
        return self.data[offset : offset + length]

    def chunks(self, start: int, end: int, chunk_bytes: int) -> Iterator[bytes]:
        """Bytes ``start .. end`` (exclusive) in pieces of at most ``chunk_bytes``."""
        view = memoryview(self.data)
        for pos in range(start, end, chunk_bytes):
            yield bytes(view[pos : min(end, pos + chunk_bytes)])


def media_digest(media: Media, algorithm: str) -> str:
    """Hex digest of ``media`` computed in 1 MiB pieces (never the whole object at once)."""
    h = hashlib.new(algorithm)
    for chunk in media.chunks(0, media.size, 1024 * 1024):
        h.update(chunk)
    return h.hexdigest()
