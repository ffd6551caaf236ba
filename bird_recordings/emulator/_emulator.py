"""``BirdEmulator``: the two origins, the seeded state, the clock and the controls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import random
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self

import attrs
from aiohttp import web

from bird_recordings._models import Direction, Recording, RecordingStatus, Transcription

from ._api import ApiOrigin
from ._faults import Faults, StatusFault
from ._http import HttpDate, RequestRecord
from ._media import Media, duration_for_size
from ._ratelimit import RateLimits
from ._signing import Signer
from ._state import SizeSpec, State, StoredRecording, check_size_spec, seeded_uuid
from ._storage import KEY_PREFIX, StorageOrigin
from ._transcripts import (
    DEFAULT_SCHEDULE_S,
    FORMATS,
    OUTCOMES,
    Outcome,
    StoredTranscription,
    TranscriptStore,
    render_transcript,
)
from ._webhooks import DEFAULT_WEBHOOK_RETRY_DELAYS_S, WebhookDelivery, WebhookSender

__all__ = ["DEFAULT_URL_EXPIRES_S", "BirdEmulator", "SimulatedCall"]

DEFAULT_URL_EXPIRES_S: Final = 600  # Bird's X-Amz-Expires
REGION: Final = "eu-west-1"


_SSE_MODES: Final = (None, "AES256", "aws:kms", "aws:kms:dsse")


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

    Transcriptions move ``accepted`` → ``ongoing`` → their outcome on the
    emulator's clock: ``transcription_schedule_s=(accepted_s, ongoing_s)``
    (default ``(2, 7)``, Bird's ~9 s). The outcome of new ones is
    :attr:`transcription_outcome` (``"available"``), or
    ``transcription_outcomes[recording_id]`` for one recording.
    ``transcript_delivery`` is ``"body"`` (the content endpoints answer 200 with
    the text) or ``"redirect"`` (307 to a presigned storage URL, like ``.mp3``).
    ``server_side_encryption`` is what storage reports in
    ``x-amz-server-side-encryption``: ``"AES256"`` (SSE-S3, S3's default; the
    ETag is the MD5), ``"aws:kms"`` or ``"aws:kms:dsse"`` (the ETag is 32 hex
    digits that are *not* the MD5, as on S3), or ``None`` (no header).

    ``rate_limit`` enforces Bird's per-workspace limit on GET (and DELETE)
    requests per second, ``post_rate_limit`` on POST (Bird: 50 and 500; both
    off by default): a token bucket per workspace holding ``rate_limit_burst``
    requests (default: one second's worth), shared by every connection. A
    request that finds it empty gets 429 with ``Retry-After`` (whole seconds)
    and is counted in :attr:`rate_limited_count` and marked ``rate_limited``
    in :attr:`requests`.
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
        transcription_schedule_s: tuple[float, float] = DEFAULT_SCHEDULE_S,
        transcript_delivery: Literal["body", "redirect"] = "body",
        server_side_encryption: str | None = "AES256",
        webhook_url: str | None = None,
        signing_key: str | None = None,
        webhook_retry_delays_s: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS_S,
        rate_limit: float | None = None,
        post_rate_limit: float | None = None,
        rate_limit_burst: float | None = None,
    ) -> None:
        if recordings < 0:
            raise ValueError("recordings must be >= 0")
        if not 1 <= url_expires_s <= 604_800:
            raise ValueError("url_expires_s must be between 1 and 604800 (S3's limit)")
        check_size_spec(media_size_bytes)
        _check_schedule(transcription_schedule_s)
        if transcript_delivery not in ("body", "redirect"):
            raise ValueError("transcript_delivery must be 'body' or 'redirect'")
        if server_side_encryption not in _SSE_MODES:
            raise ValueError(f"server_side_encryption must be one of {_SSE_MODES}")
        self.server_side_encryption = server_side_encryption
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
        self.transcription_schedule_s = transcription_schedule_s
        """``(accepted_s, ongoing_s)`` of transcriptions created from now on."""
        self.transcript_delivery: Literal["body", "redirect"] = transcript_delivery
        """How the content endpoints answer, ``"body"`` or ``"redirect"`` (307 to storage)."""
        self.transcription_outcome: Outcome = "available"
        """The end state of transcriptions created from now on (available, failed or absent)."""
        self.transcription_outcomes: dict[str, Outcome] = {}
        """Per recording id, an end state that wins over :attr:`transcription_outcome`."""
        self._transcripts = TranscriptStore()
        self._seed_transcriptions()
        self.faults = Faults(seed)
        """The armed faults; see :class:`Faults`."""
        self.requests: list[RequestRecord] = []
        """Every request either origin received, oldest first (a plain list; ``clear()`` it)."""
        self._rate_limits = (
            None
            if rate_limit is None and post_rate_limit is None
            else RateLimits(rate_limit, post_rate_limit, self._now_s, rate_limit_burst)
        )
        backend = _EmulatorBackend(self)
        self._api = ApiOrigin(backend)
        self._storage = StorageOrigin(backend)
        self._runners: list[web.AppRunner] = []
        self._webhooks: WebhookSender | None = None
        if webhook_url is not None:
            if not signing_key:
                raise ValueError("webhook_url needs a signing_key")
            if any(delay < 0 for delay in webhook_retry_delays_s):
                raise ValueError("webhook_retry_delays_s must not be negative")
            self._webhooks = WebhookSender(
                url=webhook_url,
                signing_key=signing_key,
                retry_delays_s=tuple(webhook_retry_delays_s),
                now_s=self._now_s,
            )
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
        if self._webhooks is not None:
            await self._webhooks.aclose()
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
        self._settle_transcriptions()
        return _RecordingsView(self._state.by_id)

    @property
    def rate_limited_count(self) -> int:
        """How many requests the emulated rate limit answered with 429 (faults not included)."""
        return 0 if self._rate_limits is None else self._rate_limits.rejected

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

    def _fault_response(
        self, fault: StatusFault, default_content_type: str
    ) -> tuple[dict[str, str], web.Response | None]:
        """``Retry-After`` headers for a status fault, and its response if it has its own body.

        Both origins share this; each renders its own default error body (JSON
        for the API, S3 XML for storage) when the fault brings none.
        """
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = self._retry_after(fault)
        if fault.body is None:
            return headers, None
        body = fault.body.encode() if isinstance(fault.body, str) else fault.body
        return headers, web.Response(
            status=fault.status,
            body=body,
            headers=headers,
            content_type=fault.content_type or default_content_type,
        )

    def _retry_after(self, fault: StatusFault) -> str:
        value = fault.retry_after
        as_date = fault.retry_after_format == "http-date"
        if value == "http-date":  # shorthand: an HTTP date one second ahead
            value, as_date = 1.0, True
        if isinstance(value, str):
            return value
        if value is None:  # only faults with a Retry-After get here
            raise ValueError("this status fault has no retry_after")
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
        """The media's ETag as storage sends it (the quoted hex MD5, except under SSE-KMS)."""
        return self.etag_for(self.media_digest(recording_id, "md5"))

    def etag_for(self, md5_hex: str) -> str:
        """The quoted ETag storage sends for a body with this MD5.

        Under SSE-KMS, S3's ETag is not the body's MD5: a stable stand-in
        derived from it keeps ``If-Match`` working while failing an MD5 check.
        """
        if self.server_side_encryption and self.server_side_encryption.startswith("aws:kms"):
            md5_hex = hashlib.md5(f"kms:{md5_hex}".encode(), usedforsecurity=False).hexdigest()
        return f'"{md5_hex}"'

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

    # Transcriptions -------------------------------------------------------------------

    def _seed_transcriptions(self) -> None:
        """One available transcription per seeded recording whose flag is set.

        A recording without media cannot have been transcribed: its flag is cleared,
        so ``transcription`` is true exactly when an available transcription exists.
        """
        rng = random.Random(f"transcriptions:{self.seed}")
        for stored in list(self._state.by_id.values()):
            rec = stored.recording
            if not rec.transcription:
                continue
            if rec.status != RecordingStatus.AVAILABLE:
                stored.recording = attrs.evolve(rec, transcription=False)
                stored.rendered = None
                continue
            created = rec.updated_at.timestamp() + rng.uniform(5, 60)
            self._transcripts.put(
                StoredTranscription(
                    id=seeded_uuid(rng),
                    recording_id=rec.id,
                    locale=rng.choice(("en-US", "en-US", "en-GB", "nl-NL", "pt-PT")),
                    stereo=rec.stereo,
                    created_s=created,
                    schedule_s=(0.0, 0.0),
                    outcome="available",
                    duration_s=rec.duration or 0,
                    forced_status="available",
                    forced_at_s=created + rng.uniform(5, 15),
                )
            )

    def _settle_transcriptions(self) -> None:
        """Flip ``transcription`` on recordings whose transcription became available."""
        if not self._transcripts.pending:
            return
        for done in self._transcripts.settle(self._now_s()):
            stored = self._state.by_id.get(done.recording_id)
            if stored is not None and not stored.recording.transcription:
                stored.recording = attrs.evolve(stored.recording, transcription=True)
                stored.rendered = None

    def _stored_transcription(self, transcription_id: str) -> StoredTranscription:
        stored = self._transcripts.by_id.get(transcription_id.lower())
        if stored is None:
            raise KeyError(transcription_id)
        return stored

    def _transcription_model(self, stored: StoredTranscription) -> Transcription:
        now_s = self._now_s()
        url = None
        if stored.status_at(now_s) == "available" and self._storage_url is not None:
            url = self.presign_transcript(stored.id, "json")
        return stored.model(now_s, url)

    def create_transcription(
        self,
        recording_id: str,
        *,
        locale: str = "en-US",
        message_id: str | None = None,
        conversation_id: str | None = None,
    ) -> StoredTranscription:
        """What ``POST …/recordings/{id}/transcriptions`` does (the API checks the input)."""
        rec = self._stored(recording_id).recording
        outcome = self.transcription_outcomes.get(rec.id, self.transcription_outcome)
        if outcome not in OUTCOMES:
            raise ValueError(f"transcription outcome must be one of {OUTCOMES}, not {outcome!r}")
        stored = StoredTranscription(
            id=seeded_uuid(self._state.extra_rng()),
            recording_id=rec.id,
            locale=locale,
            stereo=rec.stereo,
            created_s=self._now_s(),
            schedule_s=self.transcription_schedule_s,
            outcome=outcome,
            duration_s=rec.duration or 0,
            message_id=message_id,
            conversation_id=conversation_id,
        )
        self._transcripts.put(stored)
        self._settle_transcriptions()
        return stored

    @property
    def transcriptions(self) -> Mapping[str, Transcription]:
        """Current transcriptions by id, as ``GET …/transcriptions/{id}`` would show them now."""
        self._settle_transcriptions()
        return {tid: self._transcription_model(s) for tid, s in self._transcripts.by_id.items()}

    def delete_transcription(self, transcription_id: str) -> None:
        """Remove one as ``DELETE …/transcriptions/{id}`` does; ``KeyError`` if unknown."""
        if self._transcripts.remove(transcription_id.lower()) is None:
            raise KeyError(transcription_id)

    def add_transcription(
        self,
        recording_id: str,
        *,
        locale: str = "en-US",
        outcome: Outcome | None = None,
        schedule_s: tuple[float, float] | None = None,
        status: str | None = None,
    ) -> Transcription:
        """Add a transcription of a recording, as if one was requested now; return it.

        ``outcome`` (default: :attr:`transcription_outcomes` / :attr:`transcription_outcome`)
        is where the ``schedule_s`` (default :attr:`transcription_schedule_s`) ends;
        ``status`` pins a status outright (``"available"`` for one that is done).
        Unlike the API, any recording and any locale string are accepted.
        """
        if schedule_s is not None:
            _check_schedule(schedule_s)
        rec = self._stored(recording_id).recording
        stored = self.create_transcription(rec.id, locale=locale)
        if outcome is not None:
            if outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
            stored.outcome = outcome
        if schedule_s is not None:
            stored.schedule_s = schedule_s
        if status is not None:
            return self.update_transcription(stored.id, status=status)
        self._transcripts.put(stored)
        self._settle_transcriptions()
        return self._transcription_model(stored)

    def update_transcription(self, transcription_id: str, *, status: str) -> Transcription:
        """Pin a transcription's status (``"failed"``, ``"absent"``…) from now on; return it."""
        stored = self._stored_transcription(transcription_id)
        stored.forced_status = _check_status(status)
        stored.forced_at_s = self._now_s()
        self._transcripts.put(stored)
        self._settle_transcriptions()
        return self._transcription_model(stored)

    def transcript_content(self, transcription_id: str, format: str = "txt") -> bytes:
        """The transcript's text in ``format`` (json, srt, vtt, txt), whatever its status."""
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        return render_transcript(self._stored_transcription(transcription_id), format, self.seed)

    def transcript_key(self, transcription_id: str, format: str) -> str:
        """The object key of a transcript in the bucket."""
        return f"{KEY_PREFIX}{self.workspace_id}/transcriptions/{transcription_id.lower()}.{format}"

    def presign_transcript(
        self, transcription_id: str, format: str, expires_s: int | None = None
    ) -> str:
        """A presigned storage URL of a transcript, signed at the emulator's now."""
        path = self._signer.presign(
            host=self._storage_host or "127.0.0.1",
            key=self.transcript_key(transcription_id, format),
            now_s=self._now_s(),
            expires_s=self.url_expires_s if expires_s is None else expires_s,
        )
        return f"{self.storage_url}{path}"

    # Calls and webhooks ---------------------------------------------------------------

    def complete_call(
        self,
        *,
        channel_id: str | None = None,
        call_id: str | None = None,
        direction: Literal["inbound", "outbound"] = "outbound",
        status: str = "completed",
        recordings: int = 1,
        recording_status: str = "available",
        size_bytes: int | None = None,
    ) -> SimulatedCall:
        """Simulate the end of a call: add its recordings, then send its webhook.

        ``recordings`` recordings are added to the call (``recording_status``
        ``"completed"`` or ``"ongoing"`` imitates Bird still processing them;
        :meth:`update_recording` makes them ``available`` later). With a
        ``webhook_url``, a signed ``voice.<direction>`` event with the call's
        ``status`` is delivered in the background, retried on non-2xx answers
        after each of ``webhook_retry_delays_s`` (see :attr:`webhook_deliveries`
        and :meth:`wait_webhooks`). Must be called on the event loop.
        """
        if direction not in ("inbound", "outbound"):
            raise ValueError("direction must be 'inbound' or 'outbound'")
        rng = self._state.extra_rng()
        channel = (channel_id or rng.choice(self._state.channel_ids)).lower()
        call = (call_id or seeded_uuid(rng)).lower()
        recording_direction = "incoming" if direction == "inbound" else "outgoing"
        ids = tuple(
            self.add_recording(
                status=recording_status,
                size_bytes=size_bytes,
                call_id=call,
                channel_id=channel,
                source="call",
                direction=Direction(recording_direction),
            ).id
            for _ in range(recordings)
        )
        now = self.now()
        duration = max((self._state.by_id[rid].recording.duration or 0 for rid in ids), default=0)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        payload = {
            "id": call,
            "channelId": channel,
            "status": status,
            "direction": direction,
            "type": "call",
            "duration": duration,
            "createdAt": stamp,
            "updatedAt": stamp,
            "endedAt": stamp,
        }
        request_id = None
        if self._webhooks is not None:
            request_id = self._webhooks.send(f"voice.{direction}", payload)
        return SimulatedCall(
            id=call, channel_id=channel, recording_ids=ids, webhook_request_id=request_id
        )

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook delivery attempt so far, oldest first (empty without a webhook_url)."""
        return self._webhooks.deliveries if self._webhooks is not None else []

    async def wait_webhooks(self) -> None:
        """Wait until every webhook sent so far was delivered or ran out of retries."""
        if self._webhooks is not None:
            await self._webhooks.join()

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"<BirdEmulator {where} recordings={len(self._state.by_id)} seed={self.seed}>"


def _check_schedule(schedule_s: tuple[float, float]) -> None:
    if len(schedule_s) != 2 or any(not s >= 0 for s in schedule_s):
        raise ValueError("transcription schedule must be (accepted_s, ongoing_s), both >= 0")


def _check_status(status: str) -> str:
    """A transcription status the emulator can pin; ``ValueError`` otherwise."""
    if status not in ("accepted", "ongoing", "available", "failed", "absent"):
        raise ValueError(f"unknown transcription status {status!r}")
    return status


class _EmulatorBackend:
    """The :class:`~._backend.Backend` of one emulator: what its origins may use, by name.

    Attributes are read at each use, so settings changed on the emulator (its
    request log, ``transcript_delivery``, ``server_side_encryption``…) apply.
    """

    __slots__ = ("_emu",)

    def __init__(self, emu: BirdEmulator) -> None:
        self._emu = emu

    @property
    def state(self) -> State:
        return self._emu._state

    @property
    def transcripts(self) -> TranscriptStore:
        return self._emu._transcripts

    @property
    def faults(self) -> Faults:
        return self._emu.faults

    @property
    def requests(self) -> list[RequestRecord]:
        return self._emu.requests

    @property
    def log_requests(self) -> bool:
        return self._emu.log_requests

    @property
    def rate_limits(self) -> RateLimits | None:
        return self._emu._rate_limits

    @property
    def signer(self) -> Signer:
        return self._emu._signer

    @property
    def seed(self) -> int:
        return self._emu.seed

    @property
    def workspace_id(self) -> str:
        return self._emu.workspace_id

    @property
    def access_key(self) -> str:
        return self._emu.access_key

    @property
    def transcript_delivery(self) -> Literal["body", "redirect"]:
        return self._emu.transcript_delivery

    @property
    def server_side_encryption(self) -> str | None:
        return self._emu.server_side_encryption

    def now_s(self) -> float:
        return self._emu._now_s()

    def now(self) -> datetime:
        return self._emu.now()

    def http_date(self, epoch_s: float | None = None) -> str:
        return self._emu._http_date(epoch_s)

    def fault_response(
        self, fault: StatusFault, default_content_type: str
    ) -> tuple[dict[str, str], web.Response | None]:
        return self._emu._fault_response(fault, default_content_type)

    def presign(self, recording_id: str, expires_s: int | None = None) -> str:
        return self._emu.presign(recording_id, expires_s)

    def presign_transcript(
        self, transcription_id: str, format: str, expires_s: int | None = None
    ) -> str:
        return self._emu.presign_transcript(transcription_id, format, expires_s)

    def create_transcription(
        self,
        recording_id: str,
        *,
        locale: str = "en-US",
        message_id: str | None = None,
        conversation_id: str | None = None,
    ) -> StoredTranscription:
        return self._emu.create_transcription(
            recording_id, locale=locale, message_id=message_id, conversation_id=conversation_id
        )

    def transcription_model(self, stored: StoredTranscription) -> Transcription:
        return self._emu._transcription_model(stored)

    def settle_transcriptions(self) -> None:
        self._emu._settle_transcriptions()

    def etag_for(self, md5_hex: str) -> str:
        return self._emu.etag_for(md5_hex)

    def replace_media(
        self, recording_id: str, size_bytes: int | None = None, data: bytes | None = None
    ) -> str:
        return self._emu.replace_media(recording_id, size_bytes, data)


@attrs.frozen(kw_only=True)
class SimulatedCall:
    """A call :meth:`BirdEmulator.complete_call` ended: its ids and its recordings."""

    id: str
    channel_id: str
    recording_ids: tuple[str, ...]
    webhook_request_id: str | None = None


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
