"""Storage-side encryption: under SSE-KMS the ETag is not the MD5 of the bytes.

S3 sends ``x-amz-server-side-encryption: aws:kms`` and an ETag of 32 hex
digits that is not the body's MD5; checking it would fail every download.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

from .test_download import available, storage_requests

pytestmark = pytest.mark.asyncio


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("mode", ["aws:kms", "aws:kms:dsse"])
async def test_kms_object_downloads_without_a_false_integrity_error(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path, mode: str
) -> None:
    emu.server_side_encryption = mode
    rec = available(emu)[0]
    result = await emu_client.download_recording(rec.id, tmp_path)
    data = result.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == emu.media_digest(rec.id, "sha256")
    assert result.etag == emu.media_etag(rec.id)
    assert result.etag.strip('"') != md5(data)  # the emulator behaves like S3 here
    assert result.md5 is None  # nothing to check it against, so not computed


async def test_sse_s3_object_is_still_checked_against_its_md5(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    assert emu.server_side_encryption == "AES256"  # S3's default
    rec = available(emu)[0]
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert result.md5 == md5(result.path.read_bytes()) == emu.media_etag(rec.id).strip('"')


async def test_kms_object_resumes_with_if_match_on_its_etag(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    emu.server_side_encryption = "aws:kms"
    rec = max(available(emu), key=lambda r: emu.media_size(r.id))
    emu.faults.reset(origin="storage", after_bytes=10_000, count=1)
    emu.clear_requests()
    result = await emu_client.download_recording(rec.id, tmp_path)
    assert result.resumes == 1
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == emu.media_digest(
        rec.id, "sha256"
    )
    resumed = storage_requests(emu)[-1]
    assert resumed.headers["If-Match"] == emu.media_etag(rec.id)
    assert resumed.status == 206


async def test_bulk_skips_a_matching_kms_file_by_size(
    emu: BirdEmulator, emu_client: br.RecordingsClient, tmp_path: Path
) -> None:
    emu.server_side_encryption = "aws:kms"
    recs = available(emu)[:3]
    first = [o async for o in emu_client.download_recordings(recs, tmp_path)]
    assert {o.status for o in first} == {"downloaded"}
    again = [o async for o in emu_client.download_recordings(recs, tmp_path)]
    assert {o.status for o in again} == {"skipped"}
