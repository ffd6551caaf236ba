"""``BirdEmulator``: the two origins, the seeded state, the clock and the controls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Protocol, Self

import attrs
from aiohttp import web

from bird_recordings._models import Recording, RecordingStatus

from ._api import ApiOrigin
from ._faults import Faults, StatusFault
from ._http import HttpDate, RequestRecord
from ._media import Media, duration_for_size
from ._signing import Signer
from ._state import SizeSpec, State, StoredRecording, check_size_spec
from ._storage import KEY_PREFIX, StorageOrigin

__all__ = ["DEFAULT_URL_EXPIRES_S", "BirdEmulator"]

DEFAULT_URL_EXPIRES_S: Final = 600  # Bird's X-Amz-Expires
REGION: Final = "eu-west-1"


class BirdEmulator:
    """A local Bird Voice Recordings API plus an S3-like storage origin, with faults.

    Use it as an async context manager; both origins listen on ``host`` (ports
    chosen by the OS unless given)::

        async with BirdEmulator(recordings=200, seed=7) as emu:
            async with aiohttp.ClientSession() as session:
                url = f"{emu.base_url}/workspaces/{emu.workspace_id}/recordings"
                headers = {"Authorization": f"AccessKey {emu.access_key}"}
                async with session.get(url, headers=headers) as resp:
                    page = await resp.json()

    ``recordings`` seeded recordings are generated from ``seed``: the same seed
    (and clock) gives the same workspace, key, recordings and media bytes.
    ``media_size_bytes`` is a size or an inclusive ``(min, max)`` range.
    ``url_expires_s`` is the ``X-Amz-Expires`` of every presigned URL.
    ``clock`` is a callable returning POSIX seconds (default :func:`time.time`)
    or an object whose ``now()`` returns an aware datetime (such as the
    client's ``Clock``); :meth:`advance_clock` moves the emulator's time
    forward on top of it.
    ``log_requests=False`` turns the request log off (for long benchmarks).
    ``warm_etags`` computes the MD5 ETags of the seeded media in a background
    thread after :meth:`start` (S3 knows an ETag before the first GET; hashing
    on the first GET would slow a benchmark's first pass); :meth:`wait_etags`
    waits for it.
    """

    def __init__(
        self,
        *,
        recordings: int = 200,
        seed: int = 0,
        url_expires_s: int = DEFAULT_URL_EXPIRES_S,
        media_size_bytes: SizeSpec = (16_384, 262_144),
        access_key: str | None = None,
        workspace_id: str | None = None,
        host: str = "127.0.0.1",
        api_port: int = 0,
        storage_port: int = 0,
        clock: Callable[[], float] | SupportsNow | None = None,
        log_requests: bool = True,
        warm_etags: bool = True,
    ) -> None:
        if recordings < 0:
            raise ValueError("recordings must be >= 0")
        if not 1 <= url_expires_s <= 604_800:
            raise ValueError("url_expires_s must be between 1 and 604800 (S3's limit)")
        check_size_spec(media_size_bytes)
        self.seed = seed
        self.url_expires_s = url_expires_s
        self.host = host
        self.log_requests = log_requests
        self._warm_etags = warm_etags
        self._warm_stop = threading.Event()
        self._warm_future: asyncio.Future[None] | None = None
        self._api_port = api_port
        self._storage_port = storage_port
        self._clock = _as_seconds(clock)
        self._offset_s = 0.0
        self._http_date = HttpDate(self._now_s)
        self._state = State(seed=seed, media_size_bytes=media_size_bytes, anchor_s=self._now_s())
        if workspace_id is not None:
            self._state.workspace_id = workspace_id.lower()
        if access_key is not None:
            self._state.access_key = access_key
        creds = random.Random(f"storage-credentials:{seed}")
        upper = string.ascii_uppercase + string.digits
        token = creds.randbytes(300)
        self._signer = Signer(
            access_key_id="ASIA" + "".join(creds.choice(upper) for _ in range(16)),
            secret_key="".join(
                creds.choice(string.ascii_letters + string.digits) for _ in range(40)
            ),
            security_token="IQoJb3JpZ2luX2VjE" + base64.b64encode(token).decode(),
            region=REGION,
        )
        self._state.seed_recordings(recordings)
        self.faults = Faults(seed)
        """The armed faults; see :class:`Faults`."""
        self.requests: list[RequestRecord] = []
        """Every request either origin received, oldest first (a plain list: ``clear()`` it)."""
        self._api = ApiOrigin(self)
        self._storage = StorageOrigin(self)
        self._runners: list[web.AppRunner] = []
        self._base_url: str | None = None
        self._storage_url: str | None = None
        self._storage_host = ""

    # Lifecycle --------------------------------------------------------------------

    async def start(self) -> Self:
        """Start both origins (idempotent); returns ``self``."""
        if self._runners:
            return self
        try:
            api_port = await self._serve(self._api.build(), self._api_port)
            storage_port = await self._serve(self._storage.build(), self._storage_port)
        except BaseException:
            await self.aclose()
            raise
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._base_url = f"http://{host}:{api_port}"
        self._storage_host = f"{host}:{storage_port}"
        self._storage_url = f"http://{self._storage_host}"
        if self._warm_etags:
            media = [s.media for s in self._state.iter_desc() if s.recording.status == "available"]
            loop = asyncio.get_running_loop()
            self._warm_future = loop.run_in_executor(None, self._warm, media)
        return self

    def _warm(self, media: list[Media]) -> None:
        """Compute ETags off the loop (hashlib releases the GIL on large buffers)."""
        for item in media:
            if self._warm_stop.is_set():
                return
            if item.cached_digest("md5") is None:
                item.digest("md5")

    async def wait_etags(self) -> None:
        """Make sure every available recording's ETag is computed, off the event loop.

        Waits for the background pass over the seeded media, then hashes, in a
        worker thread, any media added or replaced since that has no ETag yet.
        Call it after adding large recordings, before a benchmark's timed part.
        """
        if self._warm_future is not None:
            await asyncio.shield(self._warm_future)
        missing = [
            s.media
            for s in self._state.iter_desc()
            if s.recording.status == "available" and s.media.cached_digest("md5") is None
        ]
        if missing:
            await asyncio.to_thread(self._warm, missing)

    async def _serve(self, app: web.Application, port: int) -> int:
        # A short shutdown: stalled or slow handlers (faults) must not hold close() for 60 s.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.host, port, reuse_address=True)
        await site.start()
        return int(runner.addresses[-1][1])

    async def aclose(self) -> None:
        """Stop both origins and drop open connections."""
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()
        if self._warm_future is not None:
            self._warm_stop.set()
            with contextlib.suppress(Exception):
                await self._warm_future
            self._warm_future = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Where and who ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API origin, e.g. ``http://127.0.0.1:40123`` (the client's ``base_url``)."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not started: use 'async with' or start()")
        return self._base_url

    @property
    def storage_url(self) -> str:
        """The storage origin (a different port, so a different origin, like S3)."""
        if self._storage_url is None:
            raise RuntimeError("the emulator is not started: use 'async with' or start()")
        return self._storage_url

    @property
    def access_key(self) -> str:
        """The access key the API accepts (``Authorization: AccessKey <key>``)."""
        return self._state.access_key

    @property
    def workspace_id(self) -> str:
        """The one workspace the API knows."""
        return self._state.workspace_id

    @property
    def recordings(self) -> Mapping[str, Recording]:
        """Current recordings by id (a read-only view; ``url`` is signed per call, not stored)."""
        return _RecordingsView(self._state.by_id)

    def clear_requests(self) -> None:
        """Empty :attr:`requests`."""
        self.requests.clear()

    # Clock ------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self._clock() + self._offset_s

    def now(self) -> datetime:
        """The emulator's current time (aware UTC)."""
        return datetime.fromtimestamp(self._now_s(), UTC)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward: URLs signed earlier expire without sleeping."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset_s += seconds

    def _retry_after(self, fault: StatusFault) -> str:
        value = fault.retry_after
        as_date = fault.retry_after_format == "http-date"
        if value == "http-date":  # shorthand: an HTTP date one second ahead
            value, as_date = 1.0, True
        if isinstance(value, str):
            return value
        assert value is not None
        if as_date:
            return self._http_date(self._now_s() + value)
        return str(int(value)) if float(value).is_integer() else str(value)

    # Recordings -------------------------------------------------------------------

    def _stored(self, recording_id: str) -> StoredRecording:
        stored = self._state.by_id.get(recording_id.lower())
        if stored is None:
            raise KeyError(recording_id)
        return stored

    def add_recording(
        self,
        *,
        status: str = "available",
        size_bytes: int | None = None,
        data: bytes | None = None,
        call_id: str | None = None,
        end_cause: str | None = None,
        **fields: Any,
    ) -> Recording:
        """Add a recording and return it.

        ``fields`` are :class:`~bird_recordings.Recording` fields (snake_case:
        ``id``, ``created_at``, ``direction``, ``source_id``…); the rest is drawn
        from the seeded generator. ``size_bytes`` sets the generated media size,
        ``data`` gives the media bytes outright. ``call_id`` puts it in a call
        (for the call-scoped endpoints). Raises ``TypeError`` on unknown fields
        and ``ValueError`` on a duplicate id.
        """
        if fields.get("id") is not None and str(fields["id"]).lower() in self._state.by_id:
            raise ValueError(f"recording {fields['id']} already exists")
        if size_bytes is not None:
            check_size_spec(size_bytes)
        stored = self._state.make_recording(
            self._state.extra_rng(),
            status=status,
            size_bytes=size_bytes,
            data=data,
            call_id=call_id,
            end_cause=end_cause,
            **fields,
        )
        self._state.put(stored)
        return stored.recording

    def update_recording(self, recording_id: str, **changes: Any) -> Recording:
        """Change fields of a recording (e.g. ``status="available"`` when a call ends)."""
        stored = self._stored(recording_id)
        if "status" in changes:
            changes["status"] = RecordingStatus(str(changes["status"]))
        updated = attrs.evolve(stored.recording, **changes)
        self._state.remove(stored.recording.id)
        stored.recording = updated
        stored.rendered = stored.rendered_call = None
        self._state.put(stored)
        return updated

    def delete_recording(self, recording_id: str) -> None:
        """Remove a recording and its media, as ``DELETE`` does."""
        if self._state.remove(recording_id.lower()) is None:
            raise KeyError(recording_id)

    def replace_media(
        self, recording_id: str, size_bytes: int | None = None, data: bytes | None = None
    ) -> str:
        """Give a recording new media bytes (a new version) and return the new ETag.

        Generated unless ``data`` is given; ``size_bytes`` defaults to the
        current size. Downloads already running keep the old bytes; the next
        request sees the new object.
        """
        stored = self._stored(recording_id)
        if size_bytes is not None:
            check_size_spec(size_bytes)
        stored.generation += 1
        size = size_bytes if size_bytes is not None else stored.media.size
        media = self._state.new_media(stored.recording.id, stored.generation, size, data)
        stored.media = media
        stored.media_modified_s = self._now_s()
        if data is None and stored.recording.duration is not None:
            stored.recording = attrs.evolve(stored.recording, duration=duration_for_size(size))
            stored.rendered = stored.rendered_call = None
        return self.media_etag(recording_id)

    def media_bytes(self, recording_id: str) -> bytes:
        """The whole media object (mind the size for large ones)."""
        media = self._stored(recording_id).media
        return media.read(0, media.size)

    def media_digest(self, recording_id: str, algorithm: str = "sha256") -> str:
        """Hex digest of the media, streamed in pieces (fine for GiB objects); cached."""
        return self._stored(recording_id).media.digest(algorithm)

    def media_size(self, recording_id: str) -> int:
        """Media size in bytes."""
        return self._stored(recording_id).media.size

    def media_etag(self, recording_id: str) -> str:
        """The media's ETag as storage sends it: the quoted hex MD5."""
        return f'"{self.media_digest(recording_id, "md5")}"'

    def media_key(self, recording_id: str) -> str:
        """The object key of a recording's media in the bucket."""
        return f"{KEY_PREFIX}{self.workspace_id}/{recording_id.lower()}.mp3"

    def presign(self, recording_id: str, expires_s: int | None = None) -> str:
        """A presigned storage URL of a recording's media, signed at the emulator's now."""
        path = self._signer.presign(
            host=self._storage_host or "127.0.0.1",
            key=self.media_key(recording_id),
            now_s=self._now_s(),
            expires_s=self.url_expires_s if expires_s is None else expires_s,
        )
        return f"{self.storage_url}{path}"

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"<BirdEmulator {where} recordings={len(self._state.by_id)} seed={self.seed}>"


class SupportsNow(Protocol):
    """A clock object with ``now() -> datetime`` (aware), like ``bird_recordings.Clock``."""

    def now(self) -> datetime:
        """The current time."""


def _as_seconds(clock: Callable[[], float] | SupportsNow | None) -> Callable[[], float]:
    if clock is None:
        return time.time
    if callable(clock):
        return clock
    return lambda: clock.now().timestamp()


class _RecordingsView(Mapping[str, Recording]):
    """A live, read-only ``id -> Recording`` view of the emulator's state."""

    __slots__ = ("_by_id",)

    def __init__(self, by_id: dict[str, StoredRecording]) -> None:
        self._by_id = by_id

    def __getitem__(self, key: str) -> Recording:
        return self._by_id[key].recording

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._by_id))

    def __len__(self) -> int:
        return len(self._by_id)
