"""The API origin: Bird's Voice Recordings endpoints over the emulator's state.

Choices where Bird's reference is silent (documented in ``docs/emulator.md``):
lists are sorted by ``createdAt`` descending, ties by ``id`` descending; page
tokens are keyset cursors bound to the filters they were issued for; ``startAt``
is inclusive and ``endAt`` exclusive on ``createdAt``; ``from``/``to`` match the
party's number, identity or contact identifier with or without ``+``; the
``.mp3`` of a recording whose status is not ``available`` answers 404.

Transcriptions: creating one for a recording without media (status not
``available``) answers 422; the content of a transcription that is not
``available`` answers 404, like the ``.mp3`` of a recording without media; a
missing ``locale`` means ``en-US``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final

from aiohttp import web
from multidict import MultiMapping

from bird_recordings._constants import TRANSCRIPTION_LOCALES
from bird_recordings._converter import parse_datetime
from bird_recordings._models import ZERO_TIME, Party, RecordingStatus

from ._backend import Backend
from ._faults import (
    BodyFault,
    LatencyFault,
    MalformedJSONFault,
    RequestContext,
    StatusFault,
    UnknownFieldsFault,
)
from ._http import RequestRecord, recording_id_in, send_body
from ._json import call_recording_json, recording_json, timestamp, transcription_json
from ._ratelimit import RateLimits
from ._state import StoredRecording
from ._transcripts import CONTENT_TYPES, FORMATS, StoredTranscription, render_transcript

__all__ = ["ApiOrigin"]

LIST_LIMIT_MAX: Final = 99
CALL_LIST_LIMIT_MAX: Final = 1000
DEFAULT_LIMIT: Final = 10
PAGE_TOKEN_MAX_CHARS: Final = 8000
_UUID: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_LIVE: Final = frozenset({"accepted", "ongoing", "paused"})
_LIST_FILTERS: Final = (
    "sourceId",
    "channelId",
    "id",
    "direction",
    "status",
    "startAt",
    "endAt",
    "from",
    "to",
)
_JSON: Final = "application/json"
_HTML_STATUSES: Final = frozenset({502, 504})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _is_uuid(value: str) -> bool:
    return _UUID.match(value) is not None


def _digits(value: str) -> str:
    return value.strip().lstrip("+")


def _party_matches(party: Party | None, wanted: set[str]) -> bool:
    if party is None:
        return False
    seen: set[str] = set()
    if party.number is not None:
        seen.update(_digits(v) for v in (party.number.number, party.number.identity) if v)
    if party.contact is not None and party.contact.identifier_value:
        seen.add(_digits(party.contact.identifier_value))
    return not seen.isdisjoint(wanted)


class ApiOrigin:
    """Builds the ``aiohttp.web`` application of the API origin."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def build(self) -> web.Application:
        """The application, with routes and the auth/fault/log middleware."""
        app = web.Application(
            middlewares=[self._middleware], handler_args={"max_field_size": 16384}
        )
        ws = "/workspaces/{ws}"
        app.router.add_get(ws + "/recordings", self._list)
        app.router.add_get(ws + "/recordings/{rid}", self._get)
        app.router.add_delete(ws + "/recordings/{rid}", self._delete)
        app.router.add_get(ws + "/recording-metrics", self._metrics)
        app.router.add_get(ws + "/channels/{ch}/calls/{call}/recordings", self._list_call)
        app.router.add_get(ws + "/channels/{ch}/calls/{call}/recordings/{rid}", self._get_call)
        app.router.add_post(ws + "/recordings/{rid}/transcriptions", self._create_transcription)
        app.router.add_get(ws + "/transcriptions", self._list_transcriptions)
        app.router.add_get(ws + "/transcriptions/{tid}", self._get_transcription)
        app.router.add_delete(ws + "/transcriptions/{tid}", self._delete_transcription)
        app.on_response_prepare.append(self._on_prepare)
        return app

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Date"] = self._backend.http_date()

    # Responses --------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str, details: Any = None) -> web.Response:
        payload: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            payload["details"] = details
        return web.Response(status=status, body=json.dumps(payload).encode(), content_type=_JSON)

    def _json(
        self, request: web.Request, payload: dict[str, Any], status: int = 200
    ) -> web.Response:
        faults = self._backend.faults
        if faults:
            ctx = _context(request)
            if faults.take(UnknownFieldsFault, ctx) is not None:
                payload = _with_unknowns(payload)
            if faults.take(MalformedJSONFault, ctx) is not None:
                body = json.dumps(payload).encode()
                garbled = body[: max(1, len(body) // 2)] + b"\x00<!-- upstream -->"
                return web.Response(status=status, body=garbled, content_type=_JSON)
        return web.Response(status=status, body=json.dumps(payload).encode(), content_type=_JSON)

    def _status_fault(self, fault: StatusFault) -> web.Response:
        headers, given = self._backend.fault_response(fault, _JSON)
        if given is not None:
            return given
        reason = web.Response(status=fault.status).reason
        if fault.status in _HTML_STATUSES:
            html = (
                f"<html>\r\n<head><title>{fault.status} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{fault.status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
            )
            return web.Response(
                status=fault.status, body=html.encode(), headers=headers, content_type="text/html"
            )
        codes = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
        code = codes.get(fault.status, reason.replace(" ", ""))
        payload = {"code": code, "message": f"{reason} (emulated fault)"}
        return web.Response(
            status=fault.status,
            body=json.dumps(payload).encode(),
            headers=headers,
            content_type=_JSON,
        )

    # Middleware -------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        emu = self._backend
        response: web.StreamResponse | None = None
        received_s = emu.now_s()
        rate_limited = False
        try:
            faults = emu.faults
            if faults:
                ctx = _context(request)
                latency = faults.take(LatencyFault, ctx)
                if latency is not None:
                    await asyncio.sleep(latency.seconds)
                status = faults.take(StatusFault, ctx)
                if status is not None:
                    response = self._status_fault(status)
            if response is None:
                response = self._authenticate(request)
            if response is None and (limits := emu.rate_limits) is not None:
                response = self._rate_limit(request, limits)
                rate_limited = response is not None
            if response is None:
                emu.settle_transcriptions()
                try:
                    response = await handler(request)
                except _ApiError as exc:
                    response = self._error(exc.status, exc.code, exc.message, exc.details)
                except web.HTTPException as exc:
                    code = "NotFound" if exc.status == 404 else exc.reason.replace(" ", "")
                    response = self._error(exc.status, code, exc.reason)
            if faults and isinstance(response, web.Response) and faults.has(BodyFault):
                body = response.body
                if isinstance(body, bytes) and request.method != "HEAD":
                    ctx = _context(request, body_bytes=len(body))
                    fault = faults.take(BodyFault, ctx)
                    if fault is not None:
                        stream = web.StreamResponse(
                            status=response.status, headers=response.headers
                        )
                        stream.content_length = len(body)
                        await send_body(request, stream, [body], fault)
                        response = stream
            return response
        finally:
            if emu.log_requests:
                emu.requests.append(
                    RequestRecord.capture(
                        "api", request, response, received_s=received_s, rate_limited=rate_limited
                    )
                )

    def _rate_limit(self, request: web.Request, limits: RateLimits) -> web.Response | None:
        """429 with ``Retry-After`` when the workspace's bucket for this kind is empty."""
        workspace = request.match_info.get("ws")
        if workspace != self._backend.workspace_id:
            return None  # an unknown workspace is a 404, and gets no bucket of its own
        retry_after = limits.retry_after(workspace, request.method)
        if retry_after is None:
            return None
        response = self._error(429, "TooManyRequests", "rate limit exceeded for this workspace")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _authenticate(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            return self._error(401, "Unauthorized", "missing Authorization header")
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("accesskey", "bearer") or not key:
            return self._error(401, "Unauthorized", "Authorization must be 'AccessKey <key>'")
        if key.strip() != self._backend.access_key:
            return self._error(401, "Unauthorized", "invalid access key")
        return None

    # Helpers ----------------------------------------------------------------------

    def _workspace(self, request: web.Request) -> None:
        if request.match_info["ws"] != self._backend.workspace_id:
            raise _ApiError(404, "NotFound", "workspace not found")

    def _recording(self, rid: str) -> StoredRecording:
        if not _is_uuid(rid):
            raise _ApiError(
                422,
                "InvalidPayload",
                "recording id must be a UUID",
                {"id": ["must be a valid UUID"]},
            )
        stored = self._backend.state.by_id.get(rid.lower())
        if stored is None:
            raise _ApiError(404, "NotFound", "recording not found")
        return stored

    def render(self, stored: StoredRecording) -> dict[str, Any]:
        """Bird's JSON of a recording, with a fresh presigned ``url`` when available."""
        base = stored.rendered
        if base is None:
            base = recording_json(stored.recording)
            base.pop("url", None)
            if stored.recording.status in _LIVE:
                base["endedAt"] = ZERO_TIME  # Bird's "not yet"
            stored.rendered = base
        if stored.recording.status != RecordingStatus.AVAILABLE:
            return base
        rendered = dict(base)
        rendered["url"] = self._backend.presign(stored.recording.id)
        return rendered

    def _render_call(self, stored: StoredRecording) -> dict[str, Any]:
        base = stored.rendered_call
        if base is None:
            base = call_recording_json(self._backend.state.call_recording(stored))
            if stored.recording.status in _LIVE:
                base["endedAt"] = ZERO_TIME
            stored.rendered_call = base
        return base

    # Handlers ---------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        query = request.query
        limit = _limit(query, LIST_LIMIT_MAX)
        filters = _filters(query)
        match = _matcher(filters)
        payload = self._page(
            query, filters, limit, match, self._backend.state.iter_desc, self.render
        )
        return self._json(request, payload)

    async def _list_call(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        channel, call = request.match_info["ch"], request.match_info["call"]
        for name, value in (("channelId", channel), ("callId", call)):
            if not _is_uuid(value):
                raise _ApiError(
                    422,
                    "InvalidPayload",
                    f"{name} must be a UUID",
                    {name: ["must be a valid UUID"]},
                )
        limit = _limit(request.query, CALL_LIST_LIMIT_MAX)
        state = self._backend.state
        ids = set(state.calls.get((channel.lower(), call.lower()), ()))
        filters = {"channel": [channel.lower()], "call": [call.lower()]}

        def match(stored: StoredRecording) -> bool:
            return stored.recording.id in ids

        payload = self._page(
            request.query, filters, limit, match, state.iter_desc, self._render_call
        )
        return self._json(request, payload)

    def _page(
        self,
        query: Mapping[str, str],
        filters: dict[str, list[str]],
        limit: int,
        match: Callable[[Any], bool],
        walk: Callable[[tuple[datetime, str] | None], Any],
        render: Callable[[Any], dict[str, Any]],
    ) -> dict[str, Any]:
        fingerprint = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]
        cursor = _decode_token(query.get("pageToken") or None, fingerprint)
        items: list[Any] = []  # StoredRecording or StoredTranscription
        for stored in walk(cursor):
            if match(stored):
                items.append(stored)
                if len(items) > limit:
                    break
        payload: dict[str, Any] = {"results": [render(s) for s in items[:limit]]}
        if len(items) > limit:
            payload["nextPageToken"] = _encode_token(items[limit - 1].sort_key(), fingerprint)
        return payload

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        rid = request.match_info["rid"]
        if rid.endswith(".mp3"):
            stored = self._recording(rid[: -len(".mp3")])
            status = stored.recording.status
            if status != RecordingStatus.AVAILABLE:
                raise _ApiError(
                    404, "NotFound", f"recording media is not available (status {status})"
                )
            location = self._backend.presign(stored.recording.id)
            return web.Response(status=307, headers={"Location": location})
        return self._json(request, self.render(self._recording(rid)))

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        stored = self._recording(request.match_info["rid"])
        self._backend.state.remove(stored.recording.id)
        return web.Response(status=204)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        source_id = request.query.get("sourceId")
        if source_id is not None and not _is_uuid(source_id):
            raise _ApiError(
                422,
                "InvalidPayload",
                "sourceId must be a UUID",
                {"sourceId": ["must be a valid UUID"]},
            )
        counter = 0
        duration = 0
        daily: dict[str, int] = {}
        for stored in self._backend.state.by_id.values():
            rec = stored.recording
            if source_id is not None and rec.source_id != source_id.lower():
                continue
            counter += 1
            duration += rec.duration or 0
            if rec.status == RecordingStatus.AVAILABLE:
                day = rec.created_at.strftime("%Y-%m-%d")
                daily[day] = daily.get(day, 0) + stored.media.size
        payload = {
            "counter": counter,
            "dailyStorageUsage": dict(sorted(daily.items())),
            "updatedAt": timestamp(self._backend.now()),
            "duration": duration,
        }
        return self._json(request, payload)

    async def _get_call(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        channel, call = request.match_info["ch"].lower(), request.match_info["call"].lower()
        stored = self._recording(request.match_info["rid"])
        if stored.call_id != call or stored.recording.channel_id != channel:
            raise _ApiError(404, "NotFound", "recording not found in this call")
        return self._json(request, self._render_call(stored))

    # Transcriptions -----------------------------------------------------------------

    def _transcription(self, tid: str) -> StoredTranscription:
        if not _is_uuid(tid):
            raise _ApiError(
                422,
                "InvalidPayload",
                "transcription id must be a UUID",
                {"id": ["must be a valid UUID"]},
            )
        stored = self._backend.transcripts.by_id.get(tid.lower())
        if stored is None:
            raise _ApiError(404, "NotFound", "transcription not found")
        return stored

    def _render_transcription(self, stored: StoredTranscription) -> dict[str, Any]:
        return transcription_json(self._backend.transcription_model(stored))

    async def _create_transcription(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        stored = self._recording(request.match_info["rid"])
        body = await request.read()
        try:
            data = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _ApiError(400, "BadRequest", "the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _ApiError(400, "BadRequest", "the request body must be a JSON object")
        locale = data.get("locale", "en-US")
        if not isinstance(locale, str) or locale not in TRANSCRIPTION_LOCALES:
            raise _ApiError(
                422,
                "InvalidPayload",
                f"locale {locale!r} is not supported",
                {"locale": ["must be one of the supported transcription locales"]},
            )
        extra: dict[str, str | None] = {}
        for field in ("messageId", "conversationId"):
            value = data.get(field)
            if value is not None and not (isinstance(value, str) and _is_uuid(value)):
                raise _ApiError(
                    422, "InvalidPayload", f"{field} must be a UUID", {field: ["must be a UUID"]}
                )
            extra[field] = value
        status = stored.recording.status
        if status != RecordingStatus.AVAILABLE:
            raise _ApiError(
                422,
                "InvalidPayload",
                f"recording has no media to transcribe (status {status})",
                {"recordingId": [f"recording status is {status}, not available"]},
            )
        created = self._backend.create_transcription(
            stored.recording.id,
            locale=locale,
            message_id=extra["messageId"],
            conversation_id=extra["conversationId"],
        )
        return self._json(request, self._render_transcription(created), status=202)

    async def _list_transcriptions(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        limit = _limit(request.query, LIST_LIMIT_MAX)
        payload = self._page(
            request.query,
            {"kind": ["transcriptions"]},
            limit,
            lambda _: True,
            self._backend.transcripts.iter_desc,
            self._render_transcription,
        )
        return self._json(request, payload)

    async def _delete_transcription(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        stored = self._transcription(request.match_info["tid"])
        self._backend.transcripts.remove(stored.id)
        return web.Response(status=204)

    async def _get_transcription(self, request: web.Request) -> web.StreamResponse:
        self._workspace(request)
        tid, dot, fmt = request.match_info["tid"].partition(".")
        if not dot:
            return self._json(request, self._render_transcription(self._transcription(tid)))
        if fmt not in FORMATS:
            raise _ApiError(404, "NotFound", f"no such transcript format {fmt!r}")
        stored = self._transcription(tid)
        status = stored.status_at(self._backend.now_s())
        if status != "available":
            raise _ApiError(
                404, "NotFound", f"transcription content is not available (status {status})"
            )
        if self._backend.transcript_delivery == "redirect":
            location = self._backend.presign_transcript(stored.id, fmt)
            return web.Response(status=307, headers={"Location": location})
        body = render_transcript(stored, fmt, self._backend.seed)
        return web.Response(status=200, body=body, content_type=CONTENT_TYPES[fmt], charset="utf-8")


def _context(request: web.Request, body_bytes: int | None = None) -> RequestContext:
    return RequestContext(
        origin="api",
        method=request.method,
        path=request.path,
        recording_id=recording_id_in(request.path),
        body_bytes=body_bytes,
    )


def _limit(query: Mapping[str, str], maximum: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise _ApiError(
            422,
            "InvalidPayload",
            f"limit must be between 1 and {maximum}",
            {"limit": [f"must be between 1 and {maximum}"]},
        )
    return limit


def _filters(query: MultiMapping[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for name in _LIST_FILTERS:
        values = [v for v in query.getall(name, []) if v != ""]
        if not values:
            continue
        for value in values:
            problem = None
            if name in ("sourceId", "channelId", "id") and not _is_uuid(value):
                problem = "must be a valid UUID"
            elif name == "direction" and value not in ("incoming", "outgoing"):
                problem = "must be one of incoming, outgoing"
            elif name == "status" and not RecordingStatus(value).is_known:
                problem = "must be one of " + ", ".join(s.value for s in RecordingStatus)
            elif name in ("startAt", "endAt"):
                try:
                    parse_datetime(value, strict=True)
                except ValueError:
                    problem = "must be an RFC 3339 date-time"
            if problem is not None:
                raise _ApiError(422, "InvalidPayload", f"{name} {problem}", {name: [problem]})
        filters[name] = [
            v.lower() if name in ("sourceId", "channelId", "id") else v for v in values
        ]
    return filters


def _matcher(filters: dict[str, list[str]]) -> Callable[[StoredRecording], bool]:
    sources = set(filters.get("sourceId", ()))
    channels = set(filters.get("channelId", ()))
    calls = set(filters.get("id", ()))
    directions = set(filters.get("direction", ()))
    statuses = set(filters.get("status", ()))
    start = max((parse_datetime(v) for v in filters.get("startAt", ())), default=None)
    end = min((parse_datetime(v) for v in filters.get("endAt", ())), default=None)
    senders = {_digits(v) for v in filters.get("from", ())}
    receivers = {_digits(v) for v in filters.get("to", ())}

    def match(stored: StoredRecording) -> bool:
        rec = stored.recording
        return (
            (not sources or rec.source_id in sources)
            and (not channels or rec.channel_id in channels)
            and (not calls or stored.call_id in calls)
            and (not directions or rec.direction in directions)
            and (not statuses or rec.status in statuses)
            and (start is None or rec.created_at >= start)
            and (end is None or rec.created_at < end)
            and (not senders or _party_matches(rec.originator, senders))
            and (not receivers or _party_matches(rec.receiver, receivers))
        )

    return match


def _encode_token(key: tuple[datetime, str], fingerprint: str) -> str:
    raw = json.dumps(
        {"v": 1, "c": key[0].isoformat(), "i": key[1], "f": fingerprint}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str | None, fingerprint: str) -> tuple[datetime, str] | None:
    if token is None:
        return None
    problem = "pageToken is invalid"
    if len(token) <= PAGE_TOKEN_MAX_CHARS:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            created, rid, fp = parse_datetime(data["c"]), str(data["i"]), data["f"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            pass
        else:
            if fp == fingerprint:
                return (created, rid)
            problem = "pageToken was issued for other filters: keep the filters while paging"
    raise _ApiError(422, "InvalidPayload", problem, {"pageToken": [problem]})


def _with_unknowns(payload: dict[str, Any]) -> dict[str, Any]:
    """Bird's payload with keys and enum values this client version cannot know."""
    changed = copy.deepcopy(payload)
    changed["emulatorFutureField"] = {"nested": [1, 2, 3], "enabled": True}

    def mutate(obj: dict[str, Any]) -> None:
        obj["labels"] = ["vip", "emulated"]
        obj["region"] = "eu-west-1"
        if "origin" in obj:
            obj["origin"] = "ai-agent-record"
        if "source" in obj:
            obj["source"] = "meeting"
        for side in ("originator", "receiver"):
            party = obj.get(side)
            if isinstance(party, dict):
                party["device"] = {"kind": "softphone"}
                number = party.get("number")
                if isinstance(number, dict):
                    number["type"] = "whatsapp"

    results = changed.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, dict):
                mutate(item)
    elif "id" in changed:
        mutate(changed)
    return changed
