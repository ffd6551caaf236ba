"""Redaction of secrets in URLs and header maps: pure, shared by every layer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED: Final = "REDACTED"

# Query parameters of an S3 presigned URL that grant or identify access.
_SECRET_QUERY_KEYS: Final = frozenset(
    {
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-credential",
        "signature",
        "awsaccesskeyid",
        "x-goog-signature",
        "x-goog-credential",
        "sig",
        "token",
        "access_token",
    }
)
# ``key=value`` of those parameters anywhere in free text: an HTML error page or an
# aiohttp message quoting the URL, percent-encoded (``%3D``) or HTML-escaped alike.
_SECRET_IN_TEXT: Final = re.compile(
    r"(?<![A-Za-z])(?P<key>"
    + "|".join(sorted((re.escape(key) for key in _SECRET_QUERY_KEYS), key=len, reverse=True))
    + r")(?P<sep>=|%3D)(?P<value>(?:(?!%26)[^&\s\"'<>;,)\]])+)",
    re.IGNORECASE,
)
_SECRET_HEADERS: Final = frozenset(
    {"authorization", "cookie", "set-cookie", "x-amz-security-token"}
)


def redact_url(url: object) -> str:
    """Return ``url`` as text with credentials and signatures replaced by ``REDACTED``.

    Userinfo (``user:pass@``) and the values of signing query parameters
    (``X-Amz-Signature``, ``X-Amz-Security-Token``, ``X-Amz-Credential``…) are
    hidden; everything else (host, path, expiry) stays, since it helps debugging.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            query = urlencode(
                [
                    (key, REDACTED if key.lower() in _SECRET_QUERY_KEYS else value)
                    for key, value in pairs
                ],
                safe="",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy ``headers`` with credential-bearing values replaced by ``REDACTED``."""
    return {
        key: (REDACTED if key.lower() in _SECRET_HEADERS else value)
        for key, value in headers.items()
    }


def redact_text(text: str) -> str:
    """``text`` with the value of every signing query parameter replaced by ``REDACTED``.

    For strings that came from the network (an error page echoing the presigned
    URL, an aiohttp message quoting a ``Location`` header) before they reach an
    exception message or a log. Text without such a parameter is returned as is.
    """
    if "=" not in text and "%3" not in text:
        return text
    return _SECRET_IN_TEXT.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)
