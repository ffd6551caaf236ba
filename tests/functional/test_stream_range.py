"""stream_recording(offset=, end=, if_range=) and MediaStream.read(n) against the emulator."""

from __future__ import annotations

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator


def storage_ranges(emu: BirdEmulator, rid: str) -> list[str | None]:
    return [
        r.headers.get("Range")
        for r in emu.requests
        if r.origin == "storage" and r.recording_id == rid
    ]


async def test_offset_streams_the_tail_across_a_cut(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=300_000)
    data = emu.media_bytes(rec.id)
    emu.faults.reset(after_bytes=50_000, recording_id=rec.id)
    async with emu_client.stream_recording(rec.id, offset=1000) as media:
        assert media.is_partial
        assert (media.first_byte, media.last_byte) == (1000, 299_999)
        assert media.size_bytes == 300_000
        assert media.content_length == 299_000
        assert media.etag == emu.media_etag(rec.id)
        body = await media.read()
    assert body == data[1000:]
    ranges = storage_ranges(emu, rec.id)
    assert ranges[0] == "bytes=1000-"
    assert ranges[1] == "bytes=51000-"


async def test_closed_range_ends_at_the_last_byte_even_after_a_cut(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=200_000)
    data = emu.media_bytes(rec.id)
    emu.faults.reset(after_bytes=10_000, recording_id=rec.id)
    async with emu_client.stream_recording(rec.id, offset=500, end=40_499) as media:
        assert media.content_length == 40_000
        assert media.last_byte == 40_499
        body = await media.read()
    assert body == data[500:40_500]
    assert storage_ranges(emu, rec.id) == ["bytes=500-40499", "bytes=10500-40499"]


async def test_a_range_past_the_end_is_not_satisfiable(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=20_000)
    with pytest.raises(br.RangeNotSatisfiableError) as caught:
        async with emu_client.stream_recording(rec.id, offset=20_000):
            pass
    assert caught.value.status == 416
    assert caught.value.size_bytes == 20_000
    assert "X-Amz-Signature=REDACTED" in str(caught.value)


async def test_if_range_that_holds_keeps_the_range(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=30_000)
    async with emu_client.stream_recording(
        rec.id, offset=100, if_range=emu.media_etag(rec.id)
    ) as media:
        assert media.is_partial
        body = await media.read()
    assert body == emu.media_bytes(rec.id)[100:]
    request = next(r for r in emu.requests if r.origin == "storage")
    assert request.headers["If-Range"] == emu.media_etag(rec.id)


async def test_if_range_that_fails_streams_the_whole_object(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=30_000)
    async with emu_client.stream_recording(rec.id, offset=100, if_range='"stale"') as media:
        assert not media.is_partial
        assert media.first_byte == 0
        assert media.content_length == 30_000
        body = await media.read()
    assert body == emu.media_bytes(rec.id)


async def test_read_n_returns_at_most_n_bytes(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=100_000)
    pieces: list[bytes] = []
    async with emu_client.stream_recording(rec.id, chunk_size=8192) as media:
        assert await media.read(0) == b""
        while piece := await media.read(3000):
            assert 0 < len(piece) <= 3000
            pieces.append(piece)
        assert await media.read(10) == b""
        assert media.bytes_received == 100_000
    assert b"".join(pieces) == emu.media_bytes(rec.id)


async def test_read_n_then_iterate_continues_where_read_stopped(
    emu: BirdEmulator, emu_client: br.RecordingsClient
) -> None:
    rec = emu.add_recording(size_bytes=50_000)
    async with emu_client.stream_recording(rec.id) as media:
        head = await media.read(7)
        rest = b"".join([chunk async for chunk in media])
    assert len(head) == 7
    assert head + rest == emu.media_bytes(rec.id)


@pytest.mark.parametrize(("offset", "end"), [(-1, None), (5, 4), (0, -2)])
async def test_bad_ranges_are_refused_before_any_request(
    emu: BirdEmulator, emu_client: br.RecordingsClient, offset: int, end: int | None
) -> None:
    with pytest.raises(br.InvalidArgumentError):
        emu_client.stream_recording("x", offset=offset, end=end)
    assert emu.requests == []
