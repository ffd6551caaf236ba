"""Where an archive goes: the sink protocol, the metadata document, and DirectorySink."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from attrs import frozen

from bird_recordings._converter import converter
from bird_recordings._errors import BirdRecordingsError, InvalidArgumentError
from bird_recordings._files import file_md5
from bird_recordings._models import Recording

if TYPE_CHECKING:
    from bird_recordings._client import RecordingsClient

__all__ = [
    "ArchiveSink",
    "DirectorySink",
    "SinkError",
    "StoredMedia",
    "dated_prefix",
    "metadata_document",
    "open_sink",
    "safe_recording_id",
]

#: Fields of a Recording that are credentials (presigned URLs): never archived.
_SECRET_FIELDS: Final = ("url", "roomInfoUrl")
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Name of the folder (or key prefix) that holds shard status objects.
STATUS_FOLDER: Final = ".archive-status"


class SinkError(BirdRecordingsError):
    """The archive's destination refused or failed an operation (write, permission, bucket).

    ``permanent`` is true when trying again will not help (no such bucket,
    access denied, a read-only folder). ``code`` is the storage's error code
    when there is one (S3's ``AccessDenied``, ``NoSuchBucket``…), ``None`` for
    a folder or a connection failure.
    """

    def __init__(self, message: str, *, permanent: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


@frozen(kw_only=True)
class StoredMedia:
    """What a sink holds for one recording: where, how many bytes, their MD5."""

    recording_id: str
    location: str
    size_bytes: int
    md5: str


def safe_recording_id(recording: Recording) -> str:
    """The recording's id if it is a safe single name component, else :class:`SinkError`.

    Ids come from the network: ``../x`` or an empty id must never become a path
    or a key outside the archive.
    """
    rid = recording.id
    if not _SAFE_ID.fullmatch(rid) or ".." in rid:
        raise SinkError(f"recording id {rid[:80]!r} is not a safe file name; not archived")
    return rid


def dated_prefix(recording: Recording) -> str:
    """``YYYY/MM/DD`` of the recording's start time (its creation time if it has none), UTC."""
    when = (recording.started_at or recording.created_at).astimezone(UTC)
    return f"{when:%Y/%m/%d}"


def metadata_document(recording: Recording, *, media_name: str, size_bytes: int, md5: str) -> bytes:
    """The ``<id>.json`` object archived beside the media: Bird's JSON without presigned URLs.

    ``{"recording": {...as Bird sends it...}, "media": {"name", "sizeBytes", "md5"}}``,
    keys sorted, so the same recording always gives the same bytes.
    """
    wire: dict[str, Any] = converter.unstructure(recording)
    for name in _SECRET_FIELDS:
        wire.pop(name, None)
    document = {
        "recording": wire,
        "media": {"name": media_name, "sizeBytes": size_bytes, "md5": md5},
    }
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode()


def parse_metadata(body: bytes) -> tuple[int, str] | None:
    """``(size_bytes, md5)`` from a metadata document, or ``None`` if it is not one."""
    try:
        media = json.loads(body)["media"]
        size, md5 = media["sizeBytes"], media["md5"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(size, int) or not isinstance(md5, str):
        return None
    return size, md5


@runtime_checkable
class ArchiveSink(Protocol):
    """The destination of :func:`archive_shard`.

    A sink stores a recording's media and metadata so that either both are
    there and verified, or :meth:`holds` says no and a later :meth:`store`
    replaces whatever a crash left behind.
    """

    async def check(self) -> None:
        """Fail early (:class:`SinkError`) if the sink cannot be written."""
        ...

    async def holds(self, recording: Recording) -> StoredMedia | None:
        """The stored media if the sink holds this recording complete and verified."""
        ...

    async def store(self, client: RecordingsClient, recording: Recording) -> StoredMedia:
        """Fetch the recording's media with ``client`` and store it with its metadata."""
        ...

    async def write_status(self, shard_id: str, status: dict[str, Any]) -> None:
        """Save a shard's status object (see ``archive status``)."""
        ...

    async def read_statuses(self) -> list[dict[str, Any]]:
        """Every shard status object the sink holds."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


def _write_atomically(path: Path, body: bytes) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with temp.open("wb") as handle:
            handle.write(body)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


class DirectorySink:
    """Archive into a folder, with the layout and atomic rename of ``download_recordings``.

    Each recording becomes ``<path>/<id>.mp3`` (downloaded by the client's own
    media engine: temporary file, verified length and MD5, rename) and then
    ``<path>/<id>.json`` (:func:`metadata_document`, also renamed into place).
    A recording is *held* when both exist and the file's size and MD5 are the
    ones its metadata records, so a crash between the two files is repaired
    by the next run. Shard status objects live in ``<path>/.archive-status/``.

    Raises:
        InvalidArgumentError: ``path`` exists and is not a folder.
    """

    def __init__(self, path: str | os.PathLike[str], *, verify_md5: bool = True) -> None:
        self.path = Path(path).absolute()
        if self.path.exists() and not self.path.is_dir():
            raise InvalidArgumentError(f"{self.path} is not a folder")
        self.verify_md5 = verify_md5

    def __repr__(self) -> str:
        return f"DirectorySink({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    async def check(self) -> None:
        """Create the folder if needed and make sure it is writable.

        Raises:
            SinkError: it cannot be created or written (``permanent``).
        """

        def prepare() -> None:
            (self.path / STATUS_FOLDER).mkdir(parents=True, exist_ok=True)
            probe = self.path / STATUS_FOLDER / ".probe"
            _write_atomically(probe, b"")
            probe.unlink()

        try:
            await asyncio.to_thread(prepare)
        except OSError as exc:
            raise SinkError(
                f"cannot write to {self.path}: {exc.strerror or exc}", permanent=True
            ) from exc

    def _paths(self, recording: Recording) -> tuple[Path, Path]:
        rid = safe_recording_id(recording)
        return self.path / recording.default_filename, self.path / f"{rid}.json"

    async def holds(self, recording: Recording) -> StoredMedia | None:
        """See :class:`ArchiveSink`: both files there, size and MD5 as recorded."""
        media, meta = self._paths(recording)

        def check() -> StoredMedia | None:
            try:
                recorded = parse_metadata(meta.read_bytes())
                size = media.stat().st_size
            except OSError:
                return None
            if recorded is None or recorded[0] != size:
                return None
            if self.verify_md5 and file_md5(media) != recorded[1]:
                return None
            return StoredMedia(
                recording_id=recording.id, location=str(media), size_bytes=size, md5=recorded[1]
            )

        return await asyncio.to_thread(check)

    async def store(self, client: RecordingsClient, recording: Recording) -> StoredMedia:
        """Download with ``client.download_recording`` (overwriting leftovers), then the JSON."""
        media, meta = self._paths(recording)
        result = await client.download_recording(recording, media, overwrite=True)
        md5 = result.md5
        if md5 is None:  # the storage ETag was not an MD5: hash what we wrote
            md5 = await asyncio.to_thread(file_md5, media)
        body = metadata_document(
            recording, media_name=media.name, size_bytes=result.size_bytes, md5=md5
        )
        try:
            await asyncio.to_thread(_write_atomically, meta, body)
        except OSError as exc:
            raise SinkError(f"could not write {meta}: {exc.strerror or exc}") from exc
        return StoredMedia(
            recording_id=recording.id, location=str(media), size_bytes=result.size_bytes, md5=md5
        )

    async def write_status(self, shard_id: str, status: dict[str, Any]) -> None:
        """Write ``.archive-status/<shard id>.json`` atomically."""
        folder = self.path / STATUS_FOLDER
        body = json.dumps(status, sort_keys=True).encode()

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(folder / f"{shard_id}.json", body)

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise SinkError(
                f"could not write a status object in {folder}: {exc.strerror or exc}",
                permanent=True,
            ) from exc

    async def read_statuses(self) -> list[dict[str, Any]]:
        """Every readable ``.archive-status/*.json``."""
        folder = self.path / STATUS_FOLDER

        def read() -> list[dict[str, Any]]:
            found = []
            for path in sorted(folder.glob("*.json")):
                try:
                    data = json.loads(path.read_bytes())
                except (OSError, ValueError):
                    continue
                if isinstance(data, dict):
                    found.append(data)
            return found

        return await asyncio.to_thread(read)

    async def aclose(self) -> None:
        """Nothing to release."""


def open_sink(target: str | os.PathLike[str], **s3_client_kwargs: Any) -> ArchiveSink:
    """The sink a target names: ``s3://bucket/prefix`` is an ``S3Sink``, anything else a folder.

    ``s3_client_kwargs`` go to :class:`S3Sink` (ignored for a folder).

    Raises:
        InvalidArgumentError: another URL scheme, or an invalid bucket name.
        ImportError: ``s3://`` without the ``s3`` extra installed.
    """
    text = os.fspath(target)
    if text.startswith("s3://"):
        from bird_recordings.archive._s3 import S3Sink

        bucket, _, prefix = text[len("s3://") :].partition("/")
        return S3Sink(bucket, prefix, **s3_client_kwargs)
    if "://" in text:
        raise InvalidArgumentError(f"{text!r}: a folder or s3://bucket/prefix, nothing else")
    return DirectorySink(text)
