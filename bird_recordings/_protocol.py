"""Sans-I/O protocol: build requests and read responses, with no aiohttp import.

Everything here is a pure function of configuration or of (status, headers,
body), so it is tested with plain tables and no event loop.
"""

from __future__ import annotations

import ipaddress
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from attrs import frozen

from ._constants import (
    AUTH_SCHEMES,
    CALL_RECORDINGS_LIMIT_MAX,
    LIST_LIMIT_MAX,
    LIST_LIMIT_MIN,
    PAGE_TOKEN_MAX_CHARS,
)
from ._errors import (
    APIStatusError,
    InvalidArgumentError,
    InvalidMediaURLError,
    RateLimitError,
    ResponseValidationError,
    error_class_for_status,
)
from ._models import Direction, MediaURL, RecordingStatus
from ._redact import redact_url
from ._retry import parse_retry_after

__all__ = [
    "ContentRange",
    "S3Error",
    "api_error",
    "auth_header",
    "decode_json",
    "is_expired_error",
    "is_md5_etag",
    "list_params",
    "md5_from_etag",
    "media_url_from_string",
    "parse_content_range",
    "parse_s3_error",
    "path_segment",
    "presigned_expiry",
    "recording_path",
    "validate_media_location",
]

# Bodies of errors are read for a message, never in full: a proxy's HTML page
# can be large, and S3 XML errors are small.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
_MESSAGE_SNIPPET_CHARS: Final = 300


def auth_header(access_key: str, scheme: str) -> str:
    """``Authorization`` value for Bird: ``AccessKey <key>`` (documented) or ``Bearer <key>``."""
    if scheme not in AUTH_SCHEMES:
        raise InvalidArgumentError(f"auth_scheme must be one of {AUTH_SCHEMES}, not {scheme!r}")
    return f"{scheme} {access_key}"


_PLAIN_SEGMENT: Final = re.compile(r"[A-Za-z0-9._~-]+")


def path_segment(value: str, name: str) -> str:
    """One URL path segment from an id: non-empty, never ``.``/``..``, percent-quoted.

    Raises:
        InvalidArgumentError: empty, not a string, ``.`` or ``..`` (nothing is sent).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")
    if value in (".", ".."):
        # quote() leaves dots alone and the URL would climb a path level.
        raise InvalidArgumentError(f"{name} must not be {value!r}")
    if _PLAIN_SEGMENT.fullmatch(value):
        return value  # a UUID needs no quoting
    return quote(value, safe="")


def recording_path(workspace_id: str, recording_id: str | None = None, suffix: str = "") -> str:
    """``/workspaces/{ws}/recordings[/{id}{suffix}]`` with each segment quoted."""
    path = f"/workspaces/{path_segment(workspace_id, 'workspace_id')}/recordings"
    if recording_id is not None:
        path += f"/{path_segment(recording_id, 'recording_id')}{suffix}"
    return path


def call_recordings_path(
    workspace_id: str, channel_id: str, call_id: str, recording_id: str | None = None
) -> str:
    """``/workspaces/{ws}/channels/{ch}/calls/{call}/recordings[/{id}]``."""
    path = (
        f"/workspaces/{path_segment(workspace_id, 'workspace_id')}"
        f"/channels/{path_segment(channel_id, 'channel_id')}"
        f"/calls/{path_segment(call_id, 'call_id')}/recordings"
    )
    if recording_id is not None:
        path += f"/{path_segment(recording_id, 'recording_id')}"
    return path


def metrics_path(workspace_id: str) -> str:
    """``/workspaces/{ws}/recording-metrics``."""
    return f"/workspaces/{path_segment(workspace_id, 'workspace_id')}/recording-metrics"


def _check_limit(limit: int | None, maximum: int) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgumentError(f"limit must be an integer, got {limit!r}")
    if not LIST_LIMIT_MIN <= limit <= maximum:
        raise InvalidArgumentError(f"limit must be between {LIST_LIMIT_MIN} and {maximum}")


def _check_time(value: datetime | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(
            f"{name} must be timezone-aware (for example datetime(..., tzinfo=UTC))"
        )
    # Full microsecond precision: Bird reads 0-9 fractional digits, and rounding
    # an end_at down to milliseconds would drop up to 999 us of recordings.
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def check_page_token(page_token: str | None) -> None:
    """Reject a page token Bird would refuse (not a string, empty, over 8000 chars)."""
    if page_token is None:
        return
    if not isinstance(page_token, str) or not page_token:
        raise InvalidArgumentError("page_token must be a non-empty string")
    if len(page_token) > PAGE_TOKEN_MAX_CHARS:
        raise InvalidArgumentError(f"page_token is longer than {PAGE_TOKEN_MAX_CHARS} characters")


def list_params(
    *,
    limit: int | None = None,
    source_id: str | None = None,
    channel_id: str | None = None,
    call_id: str | None = None,
    direction: Direction | str | None = None,
    status: RecordingStatus | str | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
) -> dict[str, str]:
    """Query parameters for ``GET …/recordings``, validated; ``None`` means "not sent".

    The page token is added per request by the pager.
    """
    _check_limit(limit, LIST_LIMIT_MAX)
    start = _check_time(start_at, "start_at")
    end = _check_time(end_at, "end_at")
    if start_at is not None and end_at is not None and start_at > end_at:
        raise InvalidArgumentError("start_at is after end_at")
    candidates: dict[str, object] = {
        "limit": limit,
        "sourceId": source_id,
        "channelId": channel_id,
        "id": call_id,
        "direction": direction,
        "status": status,
        "startAt": start,
        "endAt": end,
        "from": from_number,
        "to": to_number,
    }
    params: dict[str, str] = {}
    for key, value in candidates.items():
        if value is None:
            continue
        if isinstance(value, str) and not value:
            raise InvalidArgumentError(f"filter {key!r} must not be empty")
        params[key] = str(value)
    return params


def call_list_params(limit: int | None) -> dict[str, str]:
    """Query parameters for the call-scoped list (limit 1–1000)."""
    _check_limit(limit, CALL_RECORDINGS_LIMIT_MAX)
    return {} if limit is None else {"limit": str(limit)}


def decode_json(body: bytes, *, what: str) -> object:
    """Decode a JSON body or raise :class:`ResponseValidationError`."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ResponseValidationError(
            f"{what}: the JSON response is nested too deeply to decode",
            errors=("nested too deeply @ $",),
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = body[:80].decode("utf-8", "replace")
        raise ResponseValidationError(
            f"{what}: the response is not JSON ({exc.msg if hasattr(exc, 'msg') else exc}); "
            f"it starts with {snippet!r}",
            errors=("not JSON @ $",),
        ) from exc


def _snippet(body: bytes) -> str:
    text = body[:MAX_ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    if len(text) > _MESSAGE_SNIPPET_CHARS:
        text = text[:_MESSAGE_SNIPPET_CHARS] + "…"
    return text


def api_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    url: str,
    recording_id: str | None = None,
    now: datetime | None = None,
) -> APIStatusError:
    """The exception for an API error response.

    Bird's ``{"code", "message"[, "details"]}`` body fills ``code``/``message``;
    any other body (a proxy's HTML, plain text) becomes the message, shortened.
    """
    code: str | None = None
    message = ""
    details: object = None
    try:
        payload = json.loads(body[:MAX_ERROR_BODY_BYTES]) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        payload = None
    if isinstance(payload, dict) and ("code" in payload or "message" in payload):
        code = str(payload["code"]) if payload.get("code") is not None else None
        message = str(payload.get("message") or "")
        details = payload.get("details")
    else:
        message = _snippet(body)
    cls = error_class_for_status(status)
    common = {
        "status": status,
        "code": code,
        "message": message,
        "url": url,
        "method": method,
        "recording_id": recording_id,
        "details": details,
    }
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers.get("Retry-After"), now or datetime.now(UTC))
        return RateLimitError(retry_after=retry_after, **common)
    return cls(**common)  # type: ignore[arg-type]


# --- presigned storage URLs -------------------------------------------------

_AMZ_DATE_RE: Final = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# ASCII digits only: str.isdigit() is true for "²", which int() refuses.
_ASCII_DIGITS: Final = re.compile(r"[0-9]{1,18}")


_QUERY_KEYS: Final = {
    key: re.compile(rf"[?&]{re.escape(key)}=([^&#]*)", re.IGNORECASE)
    for key in ("X-Amz-Date", "X-Amz-Expires", "Expires")
}


def _query_value(url: str, key: str) -> str | None:
    """The first value of query parameter ``key`` (case-insensitive), percent-decoded.

    A scan for one key rather than parsing the whole (long) presigned query
    with ``parse_qsl``: this runs once per download.
    """
    pattern = _QUERY_KEYS.get(key)
    if pattern is None:
        pattern = re.compile(rf"[?&]{re.escape(key)}=([^&#]*)", re.IGNORECASE)
    match = pattern.search(url)
    if match is None:
        return None
    value = match.group(1)
    return unquote(value) if "%" in value else value


def presigned_expiry(url: str) -> datetime | None:
    """When a presigned S3 URL stops working, from its query; ``None`` if it doesn't say.

    SigV4: ``X-Amz-Date`` (basic ISO 8601) + ``X-Amz-Expires`` seconds.
    SigV2: ``Expires`` (Unix seconds). Keys are matched case-insensitively.
    """
    date_text = _query_value(url, "X-Amz-Date")
    expires_text = _query_value(url, "X-Amz-Expires")
    if date_text and expires_text:
        if not _AMZ_DATE_RE.fullmatch(date_text) or not _ASCII_DIGITS.fullmatch(expires_text):
            return None
        try:
            signed_at = datetime(
                int(date_text[0:4]),
                int(date_text[4:6]),
                int(date_text[6:8]),
                int(date_text[9:11]),
                int(date_text[11:13]),
                int(date_text[13:15]),
                tzinfo=UTC,
            )
            return signed_at + timedelta(seconds=int(expires_text))
        except (ValueError, OverflowError):
            return None
    legacy = _query_value(url, "Expires")
    if legacy and _ASCII_DIGITS.fullmatch(legacy):
        try:
            return datetime.fromtimestamp(int(legacy), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return None


def presigned_lifetime_s(url: str) -> float | None:
    """``X-Amz-Expires`` of a presigned URL in seconds, or ``None``."""
    value = _query_value(url, "X-Amz-Expires")
    return float(value) if value and _ASCII_DIGITS.fullmatch(value) else None


def media_url_from_string(url: str, recording_id: str | None = None) -> MediaURL:
    """Wrap a presigned URL with its computed expiry."""
    return MediaURL(url=url, expires_at=presigned_expiry(url), recording_id=recording_id)


# What an absolute URL may contain (RFC 3986 unreserved, reserved and ``%``):
# no backslash, space, control character or non-ASCII letter.
_URL_CHARS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_DNS_LABEL: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def has_url_characters_only(url: str) -> bool:
    """True if ``url`` is made of the characters an absolute URL may contain (RFC 3986)."""
    return _URL_CHARS.fullmatch(url) is not None


def _check_host(host: str) -> bool:
    """True for an IP literal or a DNS name whose labels are all 1-63 plain characters."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "")
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    return all(_DNS_LABEL.fullmatch(label) for label in host.removesuffix(".").split("."))


def validate_media_location(
    location: str | None,
    *,
    api_url: str,
    recording_id: str | None = None,
    allow_insecure: bool = False,
) -> str:
    """Check the ``Location`` of Bird's 307 before we follow it.

    It must be an absolute ``https`` URL made of plain URL characters, with a
    well-formed host (IP literal or DNS labels of 1-63 characters) and a port in
    1-65535. Plain ``http`` is accepted only when the API itself is reached over
    plain ``http`` (the emulator, an in-cluster deployment) or ``allow_insecure``
    is true: with an ``https`` API, a clear-text hop (even to loopback) would
    let whoever answers it read or swap the media. Raises
    :class:`InvalidMediaURLError`, never ``ValueError``.
    """
    who = f"recording {recording_id}" if recording_id else "the media endpoint"
    if not location:
        raise InvalidMediaURLError(f"{who}: Bird answered 307 without a Location header")
    if not _URL_CHARS.fullmatch(location):
        raise InvalidMediaURLError(
            f"{who}: the redirect target contains characters a URL may not have "
            f"({redact_url(location)!r})"
        )
    try:
        parts = urlsplit(location)
        host = parts.hostname
        port = parts.port
        netloc_host = parts.netloc.rpartition("@")[2]
    except ValueError:
        raise InvalidMediaURLError(
            f"{who}: the redirect target is not a URL ({redact_url(location)})"
        ) from None
    if not parts.scheme or not host:
        raise InvalidMediaURLError(
            f"{who}: the redirect target is not an absolute URL ({redact_url(location)})"
        )
    literal = netloc_host.rpartition("]")[0] + "]" if netloc_host.startswith("[") else host
    if not _check_host(literal) or port == 0:
        raise InvalidMediaURLError(
            f"{who}: the redirect target has no valid host and port ({redact_url(location)})"
        )
    scheme = parts.scheme.lower()
    if scheme == "https":
        return location
    if scheme == "http" and (allow_insecure or urlsplit(api_url).scheme.lower() == "http"):
        return location
    raise InvalidMediaURLError(
        f"{who}: refusing to download from {redact_url(location)}: only https is allowed "
        "when the API is https (pass allow_insecure_storage=True to the client to accept http)"
    )


# --- storage (S3) responses --------------------------------------------------


@frozen
class S3Error:
    """An S3 XML error body: ``code``, ``message`` and the other leaf elements."""

    code: str | None
    message: str
    fields: Mapping[str, str]


def parse_s3_error(body: bytes) -> S3Error:
    """Read S3's ``<Error><Code>…</Code><Message>…</Message>…</Error>``.

    Anything that is not such XML yields ``code=None`` and the text as message.
    """
    text = body[:MAX_ERROR_BODY_BYTES]
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        # Never expand entities from a remote body.
        return S3Error(None, _snippet(text), {})
    try:
        root = ET.fromstring(text)  # noqa: S314 - entity declarations refused above
    except ET.ParseError:
        return S3Error(None, _snippet(text), {})
    if root.tag != "Error":
        return S3Error(None, _snippet(text), {})
    fields = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    return S3Error(fields.get("Code"), fields.get("Message", ""), fields)


def is_expired_error(status: int, error: S3Error) -> bool:
    """True for S3's "Request has expired" answer to a presigned GET."""
    if status != 403:
        return False
    return error.code == "AccessDenied" and "expired" in error.message.lower()


@frozen
class ContentRange:
    """A parsed ``Content-Range: bytes first-last/total`` (``total`` may be unknown)."""

    first: int
    last: int
    total: int | None


_CONTENT_RANGE: Final = re.compile(
    r"^\s*bytes\s+([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18}|\*)\s*$", re.IGNORECASE
)


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse a ``Content-Range`` header; ``None`` if absent or malformed."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if not match:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return ContentRange(first, last, total)


_MD5_ETAG: Final = re.compile(r'^(?:W/)?"?([0-9a-fA-F]{32})"?$')


def is_md5_etag(etag: str | None) -> str | None:
    """The hex MD5 inside an ETag of a single-part upload, else ``None``.

    Multipart ETags (``"…-12"``) and weak ETags are not body MD5s.
    """
    if not etag or etag.startswith("W/"):
        return None
    match = _MD5_ETAG.match(etag.strip())
    return match.group(1).lower() if match else None


def md5_from_etag(etag: str | None, headers: Mapping[str, str]) -> str | None:
    """The hex MD5 the body must have, judging by a storage response; else ``None``.

    S3's ETag is the body's MD5 only for a single-part upload stored in plain
    text or with SSE-S3 (``x-amz-server-side-encryption: AES256``). With
    SSE-KMS (``aws:kms``, ``aws:kms:dsse``) or SSE-C it is 32 hex digits that
    are *not* the MD5, so there is nothing to check the bytes against.
    """
    encryption = headers.get("x-amz-server-side-encryption", "").strip().lower()
    if encryption.startswith("aws:kms") or headers.get(
        "x-amz-server-side-encryption-customer-algorithm"
    ):
        return None
    return is_md5_etag(etag)


_UNSATISFIED_RANGE: Final = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


def parse_unsatisfied_range(value: str | None) -> int | None:
    """The size in a 416's ``Content-Range: bytes */<size>``; ``None`` if absent or malformed."""
    match = _UNSATISFIED_RANGE.match(value or "")
    return int(match.group(1)) if match else None
