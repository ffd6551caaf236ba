"""S3Sink: stream presigned GETs straight into a bucket (extra ``bird-recordings[s3]``).

Nothing touches the local disk. A recording up to one part (8 MiB by default)
is a single ``PutObject`` with ``Content-MD5``; a larger one is a multipart
upload whose every part carries its own ``Content-MD5``, with at most one part
in memory, aborted on any failure so no orphan parts stay behind (and aborted
before a new attempt, when a killed process left one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterable, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Final

try:
    from aiobotocore.session import get_session
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("S3Sink needs the s3 extra: pip install 'bird-recordings[s3]'") from exc

from bird_recordings._errors import IntegrityError, InvalidArgumentError
from bird_recordings._models import Recording
from bird_recordings.archive._sinks import (
    STATUS_FOLDER,
    SinkError,
    StoredMedia,
    dated_prefix,
    metadata_document,
    parse_metadata,
    safe_recording_id,
)

if TYPE_CHECKING:
    from bird_recordings._client import RecordingsClient

__all__ = ["DEFAULT_PART_SIZE", "MIN_PART_SIZE", "S3Sink"]

#: Bytes per multipart part, and the largest recording sent as one PUT.
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
#: S3's smallest part (all but the last).
MIN_PART_SIZE: Final = 5 * 1024 * 1024
_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PERMANENT_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
        "403",
        "404",
    }
)
_NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _md5() -> Any:
    return hashlib.md5(usedforsecurity=False)


class _NotFoundError(Exception):
    """An object that is not there (inside the sink only)."""


class S3Sink:
    """Archive into an S3 bucket (or anything that speaks S3), streaming, never via disk.

    Layout, by the recording's start time (UTC; creation time if it has none)::

        <prefix>/<YYYY>/<MM>/<DD>/<id>.mp3     the media, Content-Type audio/mpeg,
                                                metadata x-amz-meta-md5 when known up front
        <prefix>/<YYYY>/<MM>/<DD>/<id>.json    Bird's metadata without presigned URLs,
                                                plus {"media": {"sizeBytes", "md5"}}
        <prefix>/.archive-status/<shard>.json  one status object per shard

    The ``.json`` is written after the media is complete, so its presence
    means the media is there. A recording is *held* when both objects exist,
    the media's size (``HeadObject``) is the one recorded, and its stored MD5
    (object metadata: multipart ETags are not MD5s) matches.

    Args:
        bucket: the bucket name (``s3://`` is not part of it).
        prefix: a key prefix without leading or trailing ``/``.
        part_size_bytes: multipart part size (at least 5 MiB; default 8 MiB);
            memory per upload stays within about two parts.
        client_kwargs: passed to aiobotocore's ``create_client("s3", ...)``:
            ``endpoint_url``, ``region_name``, ``aws_access_key_id``… (never
            shown in ``repr`` or messages). Without credentials the usual AWS
            chain (environment, profile, instance role) applies.

    Raises:
        InvalidArgumentError: a bucket name S3 would refuse, or a part size under 5 MiB.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        part_size_bytes: int = DEFAULT_PART_SIZE,
        **client_kwargs: Any,
    ) -> None:
        if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
            raise InvalidArgumentError(f"{bucket!r} is not a valid S3 bucket name")
        if isinstance(part_size_bytes, bool) or not isinstance(part_size_bytes, int):
            raise InvalidArgumentError("part_size_bytes must be an integer")
        if part_size_bytes < MIN_PART_SIZE:
            raise InvalidArgumentError(f"part_size_bytes must be at least {MIN_PART_SIZE} (S3)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if ".." in self.prefix.split("/"):
            raise InvalidArgumentError("the prefix must not contain '..'")
        self.part_size_bytes = part_size_bytes
        self._client_kwargs = client_kwargs
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3Sink({str(self)!r})"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # -- the client ------------------------------------------------------------------

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                with self._errors("create the S3 client"):
                    self._client = await stack.enter_async_context(
                        get_session().create_client("s3", **self._client_kwargs)
                    )
                self._stack = stack
            return self._client

    async def aclose(self) -> None:
        """Close the S3 client (idempotent)."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> S3Sink:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @contextlib.contextmanager
    def _errors(self, action: str, *, missing: bool = False) -> Iterator[None]:
        """Translate botocore's exceptions into :class:`SinkError` (no credentials in them).

        With ``missing``, "not found" becomes the private :class:`_NotFoundError`.
        """
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "")) or "error"
            if missing and code in _NOT_FOUND:
                raise _NotFoundError(code) from None
            message = str(error.get("Message", "")).strip()
            raise SinkError(
                f"{self}: could not {action}: {code}{': ' + message if message else ''}",
                permanent=code in _PERMANENT_CODES,
                code=code,
            ) from exc
        except BotoCoreError as exc:
            # Connection refused, DNS, timeouts: the endpoint, never the keys.
            raise SinkError(f"{self}: could not {action}: {type(exc).__name__}") from exc

    def _keys(self, recording: Recording) -> tuple[str, str]:
        rid = safe_recording_id(recording)
        base = f"{dated_prefix(recording)}/{rid}"
        if self.prefix:
            base = f"{self.prefix}/{base}"
        return f"{base}.{recording.format or 'mp3'}", f"{base}.json"

    # -- the sink ------------------------------------------------------------------------

    async def check(self) -> None:
        """Fail early if the bucket is unreachable, missing, or not writable by us.

        Writes an empty ``<prefix>/.archive-status/.check`` object (nothing is
        deleted: an archive role may lack ``DeleteObject``, and object-lock
        buckets forbid it).

        Raises:
            SinkError: unreachable endpoint, no such bucket, access denied.
        """
        s3 = await self._s3()
        key = self._status_key(".check")
        try:
            with self._errors("write to the bucket", missing=True):
                await s3.put_object(
                    Bucket=self.bucket, Key=key, Body=b"", ContentMD5=_b64(_md5_digest(b""))
                )
        except _NotFoundError:
            raise SinkError(
                f"{self}: no such bucket", permanent=True, code="NoSuchBucket"
            ) from None

    async def holds(self, recording: Recording) -> StoredMedia | None:
        """See :class:`~bird_recordings.archive.ArchiveSink`."""
        media_key, meta_key = self._keys(recording)
        s3 = await self._s3()
        try:
            with self._errors(f"read {meta_key}", missing=True):
                response = await s3.get_object(Bucket=self.bucket, Key=meta_key)
                async with response["Body"] as body:
                    recorded = parse_metadata(await body.read())
            with self._errors(f"read {media_key}", missing=True):
                head = await s3.head_object(Bucket=self.bucket, Key=media_key)
        except _NotFoundError:
            return None
        if recorded is None or head.get("ContentLength") != recorded[0]:
            return None
        stored_md5 = head.get("Metadata", {}).get("md5")
        if stored_md5 is not None and stored_md5 != recorded[1]:
            return None
        return StoredMedia(
            recording_id=recording.id,
            location=f"s3://{self.bucket}/{media_key}",
            size_bytes=recorded[0],
            md5=recorded[1],
        )

    async def store(self, client: RecordingsClient, recording: Recording) -> StoredMedia:
        """Stream the media into the bucket, verified, then write the metadata object.

        Raises:
            SinkError: S3 refused or failed (after botocore's retries).
            IntegrityError: the bytes are not the size or MD5 the storage promised.
            StorageError: and the other download errors of ``stream_recording``.
        """
        media_key, meta_key = self._keys(recording)
        s3 = await self._s3()
        async with client.stream_recording(recording) as media:
            announced = media.size_bytes
            expected_md5 = media.expected_md5
            extra: dict[str, Any] = {"ContentType": "audio/mpeg"}
            if expected_md5 is not None:
                extra["Metadata"] = {"md5": expected_md5}
            if announced is not None and announced <= self.part_size_bytes:
                size, md5 = await self._put_small(s3, media_key, media, extra)
            else:
                size, md5 = await self._put_multipart(s3, media_key, media, extra)
        self._verify(recording.id, size, md5, announced, expected_md5)
        body = metadata_document(
            recording, media_name=media_key.rsplit("/", 1)[-1], size_bytes=size, md5=md5
        )
        with self._errors(f"write {meta_key}"):
            await s3.put_object(
                Bucket=self.bucket,
                Key=meta_key,
                Body=body,
                ContentMD5=_b64(_md5_digest(body)),
                ContentType="application/json",
            )
        return StoredMedia(
            recording_id=recording.id,
            location=f"s3://{self.bucket}/{media_key}",
            size_bytes=size,
            md5=md5,
        )

    @staticmethod
    def _verify(
        rid: str, size: int, md5: str, announced: int | None, expected_md5: str | None
    ) -> None:
        if announced is not None and size != announced:
            raise IntegrityError(
                f"recording {rid}: got {size} bytes, expected {announced}", recording_id=rid
            )
        if expected_md5 is not None and md5 != expected_md5:
            raise IntegrityError(
                f"recording {rid}: MD5 of the received bytes is {md5}, the storage ETag says "
                f"{expected_md5}",
                recording_id=rid,
            )

    async def _put_small(
        self, s3: Any, key: str, media: AsyncIterable[bytes], extra: dict[str, Any]
    ) -> tuple[int, str]:
        hasher = _md5()
        pieces: list[bytes] = []
        size = 0
        async for chunk in media:
            hasher.update(chunk)
            pieces.append(chunk)
            size += len(chunk)
            if size > self.part_size_bytes:
                raise IntegrityError(f"{key}: more bytes than the storage announced")
        body = b"".join(pieces)
        md5 = hasher.hexdigest()
        expected = extra.get("Metadata", {}).get("md5")
        if expected is not None and md5 != expected:
            # Never store bytes we know are wrong.
            raise IntegrityError(f"{key}: MD5 {md5} differs from the storage ETag {expected}")
        with self._errors(f"write {key}"):
            await s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentMD5=_b64(hasher.digest()), **extra
            )
        return size, md5

    async def abort_stale_uploads(self, key: str) -> int:
        """Abort multipart uploads of ``key`` left by a process that died; return how many.

        Called before a new multipart upload of the same key: a shard is
        redelivered only after the worker running it is gone.
        """
        s3 = await self._s3()
        with self._errors(f"list multipart uploads of {key}"):
            listing = await s3.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        aborted = 0
        for upload in listing.get("Uploads", []):
            if upload.get("Key") == key:
                with (
                    contextlib.suppress(_NotFoundError),
                    self._errors(f"abort an upload of {key}", missing=True),
                ):
                    await s3.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
                    )
                aborted += 1
        return aborted

    async def _put_multipart(
        self, s3: Any, key: str, media: AsyncIterable[bytes], extra: dict[str, Any]
    ) -> tuple[int, str]:
        await self.abort_stale_uploads(key)
        with self._errors(f"start a multipart upload of {key}"):
            created = await s3.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)
        upload_id = created["UploadId"]
        completed = False
        try:
            hasher = _md5()
            parts: list[dict[str, Any]] = []
            buffer = bytearray()
            part_hasher = _md5()
            size = 0

            async def send(piece: bytes, digest: bytes) -> None:
                number = len(parts) + 1
                with self._errors(f"upload part {number} of {key}"):
                    answer = await s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=piece,
                        ContentMD5=_b64(digest),
                    )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})

            async for chunk in media:
                hasher.update(chunk)
                size += len(chunk)
                room = self.part_size_bytes - len(buffer)
                head, tail = chunk[:room], chunk[room:]
                buffer += head
                part_hasher.update(head)
                if len(buffer) == self.part_size_bytes:
                    piece = bytes(buffer)
                    buffer.clear()
                    await send(piece, part_hasher.digest())
                    part_hasher = _md5()
                    buffer += tail
                    part_hasher.update(tail)
            if buffer or not parts:
                await send(bytes(buffer), part_hasher.digest())
            md5 = hasher.hexdigest()
            expected = extra.get("Metadata", {}).get("md5")
            if expected is not None and md5 != expected:
                raise IntegrityError(f"{key}: MD5 {md5} differs from the storage ETag {expected}")
            with self._errors(f"complete the multipart upload of {key}"):
                await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            completed = True
            return size, md5
        finally:
            if not completed:
                # Shielded: a cancelled task still frees the parts it uploaded.
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                    )

    async def write_status(self, shard_id: str, status: dict[str, Any]) -> None:
        """Write ``<prefix>/.archive-status/<shard id>.json``."""
        s3 = await self._s3()
        body = json.dumps(status, sort_keys=True).encode()
        key = self._status_key(shard_id)
        with self._errors(f"write {key}"):
            await s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentMD5=_b64(_md5_digest(body))
            )

    def _status_key(self, shard_id: str) -> str:
        folder = f"{self.prefix}/{STATUS_FOLDER}" if self.prefix else STATUS_FOLDER
        return f"{folder}/{shard_id}.json"

    async def read_statuses(self) -> list[dict[str, Any]]:
        """Every shard status object under the prefix."""
        s3 = await self._s3()
        folder = self._status_key("x").rsplit("/", 1)[0] + "/"
        found: list[dict[str, Any]] = []
        paginator = s3.get_paginator("list_objects_v2")
        with self._errors("list the status objects"):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
                for entry in page.get("Contents", []):
                    response = await s3.get_object(Bucket=self.bucket, Key=entry["Key"])
                    async with response["Body"] as body:
                        raw = await body.read()
                    try:
                        data = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(data, dict):
                        found.append(data)
        return found


def _md5_digest(body: bytes) -> bytes:
    return hashlib.md5(body, usedforsecurity=False).digest()
