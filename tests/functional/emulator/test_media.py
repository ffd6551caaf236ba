"""The generated media: decodable MPEG audio, exact sizes, random access, no repeats."""

from __future__ import annotations

import hashlib

import pytest

from bird_recordings.emulator import MIN_MEDIA_BYTES, BirdEmulator
from bird_recordings.emulator._media import FRAME_BYTES, GeneratedMedia

# MPEG-1 Layer III bitrates (kbit/s) and sample rates (Hz) by header index.
_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATES = (44_100, 48_000, 32_000)


def parse_mp3(data: bytes) -> tuple[int, int]:
    """Walk an MP3 like a decoder: skip the ID3v2 tag, then step frame by frame.

    Returns (tag bytes, frame count); fails on anything a decoder would choke on.
    """
    assert data[:3] == b"ID3"
    size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]
    assert all(b < 0x80 for b in data[6:10]), "ID3 size must be syncsafe"
    pos = tag = 10 + size
    frames = 0
    while pos < len(data):
        header = int.from_bytes(data[pos : pos + 4], "big")
        assert header >> 21 == 0x7FF, f"lost sync at {pos}"
        assert (header >> 19) & 3 == 3, "MPEG-1"
        assert (header >> 17) & 3 == 1, "Layer III"
        bitrate = _BITRATES[(header >> 12) & 0xF] * 1000
        rate = _RATES[(header >> 10) & 3]
        padding = (header >> 9) & 1
        length = 144 * bitrate // rate + padding
        assert pos + length <= len(data), "partial last frame"
        mono = (header >> 6) & 3 == 3
        side = data[pos + 4 : pos + 4 + (17 if mono else 32)]
        assert side == bytes(len(side)), "side info must describe silence"
        pos += length
        frames += 1
    return tag, frames


@pytest.mark.parametrize("size", [MIN_MEDIA_BYTES, 16_384, 65_537, 262_144, 1_000_003])
def test_generated_media_is_decodable_mp3_of_exact_size(size: int) -> None:
    media = GeneratedMedia(b"key", size)
    data = media.read(0, size)
    assert len(data) == size
    tag, frames = parse_mp3(data)
    assert tag + frames * FRAME_BYTES == size
    assert frames >= 1


def test_any_range_equals_the_slice_of_the_whole() -> None:
    media = GeneratedMedia(b"ranges", 300_001)
    whole = media.read(0, media.size)
    for start, length in [(0, 1), (5, 30), (40, 500), (1000, 384), (299_999, 10), (123, 200_000)]:
        assert media.read(start, length) == whole[start : start + length]
    assert b"".join(media.chunks(17, media.size, 4099)) == whole[17:]
    assert media.read(media.size, 10) == b""


def test_content_differs_at_every_offset() -> None:
    media = GeneratedMedia(b"offsets", 2_000_000)
    whole = media.read(0, media.size)
    # Any 32-byte window taken from the ancillary bytes is unique: a resume at the
    # wrong offset cannot reproduce the right bytes.
    windows = {whole[o + 21 : o + 53] for o in range(1_000, len(whole) - 400, FRAME_BYTES)}
    frames = (len(whole) - 1_400) // FRAME_BYTES
    assert len(windows) >= frames
    shifted = {whole[o : o + 64] for o in range(0, 40_000, 7)}
    assert len(shifted) == len(range(0, 40_000, 7))


def test_media_is_deterministic_and_keyed() -> None:
    assert GeneratedMedia(b"a", 50_000).read(0, 50_000) == GeneratedMedia(b"a", 50_000).read(
        0, 50_000
    )
    assert GeneratedMedia(b"a", 50_000).read(0, 50_000) != GeneratedMedia(b"b", 50_000).read(
        0, 50_000
    )


def test_digest_is_streamed_and_cached() -> None:
    media = GeneratedMedia(b"digest", 9_000_000)
    expected = hashlib.sha256(media.read(0, media.size)).hexdigest()
    assert media.cached_digest("sha256") is None
    assert media.digest("sha256") == expected
    assert media.cached_digest("sha256") == expected


def test_too_small_media_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        GeneratedMedia(b"x", MIN_MEDIA_BYTES - 1)
    with pytest.raises(ValueError, match=">="):
        BirdEmulator(media_size_bytes=100)


def test_emulator_media_accessors(emu: BirdEmulator) -> None:
    rid = next(iter(emu.recordings))
    data = emu.media_bytes(rid)
    assert len(data) == emu.media_size(rid)
    assert emu.media_digest(rid, "sha256") == hashlib.sha256(data).hexdigest()
    assert emu.media_etag(rid) == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    parse_mp3(data)


def test_replace_media_gives_new_bytes_and_etag(emu: BirdEmulator) -> None:
    rid = next(iter(emu.recordings))
    old_bytes, old_etag = emu.media_bytes(rid), emu.media_etag(rid)
    new_etag = emu.replace_media(rid)
    assert new_etag != old_etag
    assert emu.media_bytes(rid) != old_bytes
    assert len(emu.media_bytes(rid)) == len(old_bytes)
    assert emu.replace_media(rid, size_bytes=20_000) == emu.media_etag(rid)
    assert emu.media_size(rid) == 20_000
    assert emu.recordings[rid].duration in (None, 1)
    emu.replace_media(rid, data=b"not really mp3")
    assert emu.media_bytes(rid) == b"not really mp3"
    md5 = hashlib.md5(b"not really mp3", usedforsecurity=False).hexdigest()
    assert emu.media_etag(rid) == f'"{md5}"'


def test_ranges_across_the_table_seam_are_consistent() -> None:
    # Past 65,537 frames the object jumps to another row of the shared table.
    media = GeneratedMedia(b"seam", 26_000_000)
    tag = len(media._tag)
    seam = tag + 65_537 * FRAME_BYTES
    window = media.read(seam - 5_000, 10_000)
    assert b"".join(media.chunks(seam - 5_000, seam + 5_000, 333)) == window
    for k in range(-10, 10):
        frame = window[5_000 + k * FRAME_BYTES : 5_000 + k * FRAME_BYTES + 4]
        assert frame == bytes((0xFF, 0xFB, 0x94, 0xC4))
    # The frame after the seam is not the frame that followed at the start.
    assert media.read(seam, FRAME_BYTES) != media.read(tag, FRAME_BYTES)
    assert media.read(seam, FRAME_BYTES) != media.read(seam - FRAME_BYTES, FRAME_BYTES)


async def test_etags_of_seeded_media_are_computed_in_the_background() -> None:
    async with BirdEmulator(recordings=30, seed=8) as emu:
        await emu.wait_etags()
        for stored in emu._state.by_id.values():
            if stored.recording.status == "available":
                assert stored.media.cached_digest("md5") is not None
    async with BirdEmulator(recordings=5, seed=8, warm_etags=False) as emu:
        assert all(s.media.cached_digest("md5") is None for s in emu._state.by_id.values())
        await emu.wait_etags()  # computes them now
        assert all(
            s.media.cached_digest("md5") is not None
            for s in emu._state.by_id.values()
            if s.recording.status == "available"
        )


async def test_wait_etags_also_covers_added_media() -> None:
    async with BirdEmulator(recordings=0, seed=8) as emu:
        rec = emu.add_recording(size_bytes=9 * 1024 * 1024)
        stored = emu._state.by_id[rec.id]
        assert stored.media.cached_digest("md5") is None
        await emu.wait_etags()
        assert stored.media.cached_digest("md5") is not None
