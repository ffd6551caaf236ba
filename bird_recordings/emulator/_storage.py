"""The storage origin: an S3-like bucket that serves media only through presigned URLs.

Checks run in S3's order: auth mechanism, query parameters, access key, expiry,
signature (the method is signed, so ``HEAD`` on a GET URL is a 403), then the
key, then the conditional headers, then ``Range``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from email.utils import parsedate_to_datetime
from typing import Final
from xml.sax.saxutils import escape

from aiohttp import web

from ._backend import Backend
from ._faults import (
    BodyFault,
    ExpireEarlyFault,
    IgnoreRangeFault,
    LatencyFault,
    RequestContext,
    StatusFault,
)
from ._http import CHUNK_BYTES, RequestRecord, recording_id_in, send_body
from ._signing import iso_time, parse_presigned_query
from ._state import StoredRecording
from ._transcripts import CONTENT_TYPES, render_transcript

__all__ = ["KEY_PREFIX", "StorageOrigin", "parse_range"]

KEY_PREFIX: Final = "workspaceID:"
_INLINE_ETAG_MAX_BYTES: Final = 8 * 1024 * 1024  # larger objects are hashed off the loop
_ONE_AUTH: Final = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)
_STATUS_CODES: Final = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
    429: ("TooManyRequests", "Please reduce your request rate."),
}


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """Parse one ``bytes=`` range against ``size``.

    Returns ``(start, end_inclusive)``, ``None`` when the header is to be
    ignored (malformed or several ranges, as S3 does), or ``False`` when it is
    unsatisfiable (416).
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    try:
        if first == "":
            suffix = int(last)
            if suffix < 0:
                return None
            if suffix == 0 or size == 0:
                return False
            return (max(0, size - suffix), size - 1)
        start = int(first)
        end = int(last) if last else None
    except ValueError:
        return None
    if start < 0 or (end is not None and end < start):
        return None
    if start >= size:
        return False
    return (start, size - 1 if end is None else min(end, size - 1))


def _etag_list_matches(header: str, etag: str) -> bool:
    values = [v.strip() for v in header.split(",")]
    return any(v == "*" or v.removeprefix("W/") == etag for v in values)


class StorageOrigin:
    """Builds the ``aiohttp.web`` application of the storage origin."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._request_count = 0
        self._hashing: dict[int, asyncio.Future[str]] = {}

    def build(self) -> web.Application:
        """The application: every path is an object key."""
        app = web.Application(handler_args={"max_field_size": 16384})
        app.router.add_route("*", "/{key:.*}", self._handle)
        app.on_response_prepare.append(self._on_prepare)
        return app

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Date"] = self._backend.http_date()
        response.headers["Server"] = "AmazonS3"

    def _ids(self) -> tuple[str, str]:
        self._request_count += 1
        digest = hashlib.blake2b(
            f"{self._backend.seed}:{self._request_count}".encode(), digest_size=48
        ).digest()
        return digest[:8].hex().upper(), base64.b64encode(digest[8:]).decode()

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        extra: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        request_id, host_id = self._ids()
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (extra or {}).items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
            f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        )
        all_headers = {"x-amz-request-id": request_id, "x-amz-id-2": host_id, **(headers or {})}
        return web.Response(
            status=status, body=body.encode(), headers=all_headers, content_type="application/xml"
        )

    def _expired(self, date_s: float, expires_s: int) -> web.Response:
        return self._error(
            403,
            "AccessDenied",
            "Request has expired",
            {
                "X-Amz-Expires": str(expires_s),
                "Expires": iso_time(date_s + expires_s),
                "ServerTime": iso_time(self._backend.now_s()),
            },
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        emu = self._backend
        response: web.StreamResponse | None = None
        received_s = emu.now_s()
        try:
            response = await self._serve(request)
            return response
        finally:
            if emu.log_requests:
                emu.requests.append(
                    RequestRecord.capture("storage", request, response, received_s=received_s)
                )

    def _status_fault(self, fault: StatusFault) -> web.Response:
        headers, given = self._backend.fault_response(fault, "application/xml")
        if given is not None:
            return given
        reason = web.Response(status=fault.status).reason
        code, message = _STATUS_CODES.get(
            fault.status,
            ("ServiceUnavailable" if fault.status >= 500 else reason.replace(" ", ""), reason),
        )
        return self._error(fault.status, code, message, headers=headers)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        emu = self._backend
        query = request.query
        faults = emu.faults
        path = request.path
        ctx = RequestContext(
            origin="storage", method=request.method, path=path, recording_id=recording_id_in(path)
        )
        if faults:
            latency = faults.take(LatencyFault, ctx)
            if latency is not None:
                await asyncio.sleep(latency.seconds)
            status_fault = faults.take(StatusFault, ctx)
            if status_fault is not None:
                return self._status_fault(status_fault)

        has_auth_header = "Authorization" in request.headers
        if "X-Amz-Algorithm" not in query:
            if has_auth_header:
                return self._error(
                    400,
                    "InvalidArgument",
                    "Unsupported Authorization Type",
                    {"ArgumentName": "Authorization"},
                )
            return self._error(403, "AccessDenied", "Access Denied")
        if has_auth_header:
            return self._error(400, "InvalidArgument", _ONE_AUTH, {"ArgumentName": "Authorization"})
        flat = {k: query[k] for k in query}
        try:
            signed = parse_presigned_query(flat)
        except ValueError as exc:
            return self._error(400, "AuthorizationQueryParametersError", str(exc))
        signer = emu.signer
        if signed.access_key_id != signer.access_key_id:
            return self._error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                {"AWSAccessKeyId": signed.access_key_id},
            )
        if emu.now_s() > signed.date_s + signed.expires_s:
            return self._expired(signed.date_s, signed.expires_s)
        key = path[1:]
        host = request.headers.get("Host", "")
        if not signer.is_valid_signature(method=request.method, host=host, key=key, query=flat):
            return self._error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                {"AWSAccessKeyId": signer.access_key_id},
            )
        if faults:
            early = faults.take(ExpireEarlyFault, ctx)
            if early is not None:
                if early.kind == "token":
                    return self._error(
                        400,
                        "ExpiredToken",
                        "The provided token has expired.",
                        {"Token-0": signer.security_token},
                    )
                return self._expired(signed.date_s, signed.expires_s)

        if "/transcriptions/" in key:
            return await self._transcript(request, key, ctx)
        stored = self._lookup(key)
        if stored is None:
            return self._error(404, "NoSuchKey", "The specified key does not exist.", {"Key": key})
        return await self._object(request, stored, ctx)

    def _lookup(self, key: str) -> StoredRecording | None:
        state = self._backend.state
        prefix = f"{KEY_PREFIX}{state.workspace_id}/"
        if not key.startswith(prefix) or not key.endswith(".mp3"):
            return None
        stored = state.by_id.get(key[len(prefix) : -len(".mp3")])
        if stored is None or stored.recording.status != "available":
            return None
        return stored

    async def _transcript(
        self, request: web.Request, key: str, ctx: RequestContext
    ) -> web.StreamResponse:
        """A transcript object: the whole text (or one range of it), with its MD5 ETag."""
        emu = self._backend
        prefix = f"{KEY_PREFIX}{emu.workspace_id}/transcriptions/"
        name = key[len(prefix) :] if key.startswith(prefix) else ""
        tid, _, fmt = name.partition(".")
        stored = emu.transcripts.by_id.get(tid)
        if (
            stored is None
            or fmt not in CONTENT_TYPES
            or stored.status_at(emu.now_s()) != "available"
        ):
            return self._error(404, "NoSuchKey", "The specified key does not exist.", {"Key": key})
        body = render_transcript(stored, fmt, emu.seed)
        etag = emu.etag_for(hashlib.md5(body, usedforsecurity=False).hexdigest())
        headers = {
            **self._encryption_headers(),
            "ETag": etag,
            "Last-Modified": emu.http_date(float(int(stored.updated_at_s(emu.now_s())))),
            "Accept-Ranges": "bytes",
            "Content-Type": f"{CONTENT_TYPES[fmt]}; charset=utf-8",
            "x-amz-request-id": self._ids()[0],
        }
        if_match = request.headers.get("If-Match")
        if if_match is not None and not _etag_list_matches(if_match, etag):
            return self._error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                {"Condition": "If-Match"},
            )
        status = 200
        range_header = request.headers.get("Range")
        if range_header is not None:
            parsed = parse_range(range_header, len(body))
            if parsed is False:
                return self._error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    {"RangeRequested": range_header, "ActualObjectSize": str(len(body))},
                    headers={"Content-Range": f"bytes */{len(body)}"},
                )
            if isinstance(parsed, tuple):
                start, end = parsed
                headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
                body = body[start : end + 1]
                status = 206
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        fault = None
        if emu.faults:
            fault = emu.faults.take(
                BodyFault,
                RequestContext(
                    origin="storage",
                    method=ctx.method,
                    path=ctx.path,
                    recording_id=stored.recording_id,
                    body_bytes=len(body),
                ),
            )
        await send_body(request, response, [body], fault)
        return response

    async def _etag(self, stored: StoredRecording) -> str:
        media = stored.media
        cached = media.cached_digest("md5")
        if cached is None:
            if media.size <= _INLINE_ETAG_MAX_BYTES:
                cached = media.digest("md5")
            else:
                pending = self._hashing.get(id(media))
                if pending is None:
                    pending = asyncio.ensure_future(asyncio.to_thread(media.digest, "md5"))
                    self._hashing[id(media)] = pending
                    pending.add_done_callback(lambda _: self._hashing.pop(id(media), None))
                cached = await asyncio.shield(pending)
        return self._backend.etag_for(cached)

    def _encryption_headers(self) -> dict[str, str]:
        sse = self._backend.server_side_encryption
        return {"x-amz-server-side-encryption": sse} if sse else {}

    async def _object(
        self, request: web.Request, stored: StoredRecording, ctx: RequestContext
    ) -> web.StreamResponse:
        emu = self._backend
        media = stored.media
        size = media.size
        etag = await self._etag(stored)
        modified_s = float(int(stored.media_modified_s))
        last_modified = emu.http_date(modified_s)
        headers = request.headers

        if_match = headers.get("If-Match")
        if if_match is not None and not _etag_list_matches(if_match, etag):
            return self._error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                {"Condition": "If-Match"},
            )
        if if_match is None and _date_before(headers.get("If-Unmodified-Since"), modified_s):
            return self._error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                {"Condition": "If-Unmodified-Since"},
            )
        if_none_match = headers.get("If-None-Match")
        not_modified = (
            _etag_list_matches(if_none_match, etag)
            if if_none_match is not None
            else _date_not_before(headers.get("If-Modified-Since"), modified_s)
        )
        base_headers = {
            **self._encryption_headers(),
            "ETag": etag,
            "Last-Modified": last_modified,
            "Accept-Ranges": "bytes",
            "Content-Type": "audio/mpeg",
            "x-amz-request-id": self._ids()[0],
        }
        if not_modified:
            del base_headers["Content-Type"]
            return web.Response(status=304, headers=base_headers)

        start, end = 0, size - 1
        status = 200
        range_header = headers.get("Range")
        if range_header is not None and _if_range_holds(headers.get("If-Range"), etag, modified_s):
            parsed = parse_range(range_header, size)
            if parsed is False:
                return self._error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    {"RangeRequested": range_header, "ActualObjectSize": str(size)},
                    headers={"Content-Range": f"bytes */{size}"},
                )
            if isinstance(parsed, tuple) and not (
                emu.faults and emu.faults.take(IgnoreRangeFault, ctx) is not None
            ):
                start, end = parsed
                status = 206
                base_headers["Content-Range"] = f"bytes {start}-{end}/{size}"

        response = web.StreamResponse(status=status, headers=base_headers)
        length = end - start + 1
        response.content_length = length
        if request.method == "HEAD":  # only reachable with a HEAD-signed URL
            await response.prepare(request)
            return response
        fault = None
        if emu.faults:
            fault = emu.faults.take(
                BodyFault,
                RequestContext(
                    origin="storage",
                    method=ctx.method,
                    path=ctx.path,
                    recording_id=stored.recording.id,
                    body_bytes=length,
                ),
            )
        rid = stored.recording.id

        def replace() -> None:
            size_bytes = getattr(fault, "size_bytes", None)
            emu.replace_media(rid, size_bytes=size_bytes)

        await send_body(
            request, response, media.chunks(start, end + 1, CHUNK_BYTES), fault, on_cut=replace
        )
        return response


def _http_date_s(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _date_before(value: str | None, modified_s: float) -> bool:
    when = _http_date_s(value)
    return when is not None and modified_s > when


def _date_not_before(value: str | None, modified_s: float) -> bool:
    when = _http_date_s(value)
    return when is not None and modified_s <= when


def _if_range_holds(value: str | None, etag: str, modified_s: float) -> bool:
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    when = _http_date_s(value)
    return when is not None and int(when) == int(modified_s)
