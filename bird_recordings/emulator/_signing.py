"""S3 SigV4 query-string authentication ("presigned URLs"), both sides.

Follows AWS's "Authenticating Requests: Using Query Parameters (AWS Signature
Version 4)": the canonical request is the method, the URI-encoded object key,
the sorted canonical query without ``X-Amz-Signature``, the signed ``host``
header and ``UNSIGNED-PAYLOAD``; the signing key is the HMAC chain over date,
region, service and ``aws4_request``. Verification recomputes the canonical
form from the *decoded* path and query, as S3 does, so a client that re-quotes
``%3A`` as ``:`` still matches while any change to a signed part does not.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

import attrs

__all__ = [
    "ALGORITHM",
    "MAX_EXPIRES_S",
    "PresignedQuery",
    "Signer",
    "amz_date",
    "encode_key",
    "iso_time",
    "parse_amz_date",
    "parse_presigned_query",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_EXPIRES_S: Final = 604_800  # S3 refuses presigned URLs valid for more than a week
_SERVICE: Final = "s3"
_UNRESERVED: Final = "-_.~"


def amz_date(epoch_s: float) -> str:
    """``20231024T173426Z``: the basic ISO 8601 form of ``X-Amz-Date``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_s))


def iso_time(epoch_s: float) -> str:
    """``2023-10-24T17:34:26Z``: the form S3 uses in error bodies."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def parse_amz_date(text: str) -> float:
    """Seconds since the epoch of an ``X-Amz-Date`` value; ``ValueError`` when malformed."""
    if len(text) != 16 or text[8] != "T" or not text.endswith("Z"):
        raise ValueError(text)
    return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))


@functools.lru_cache(maxsize=8192)
def _uri_encode(text: str, *, keep_slash: bool = False) -> str:
    # Cached: the token and credential repeat in every URL, and quote() is slow.
    return quote(text, safe=_UNRESERVED + ("/" if keep_slash else ""))


def _canonical_query(query: Mapping[str, str]) -> str:
    pairs = sorted(
        (_uri_encode(k), _uri_encode(v)) for k, v in query.items() if k != "X-Amz-Signature"
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def encode_key(key: str) -> str:
    """The URI path of an object key (``/`` kept, everything else S3-encoded)."""
    return "/" + _uri_encode(key, keep_slash=True)


@attrs.frozen
class PresignedQuery:
    """The authentication parameters of a presigned URL, parsed but not yet trusted."""

    access_key_id: str
    date_s: float
    expires_s: int


class Signer:
    """Signs and checks presigned GET URLs for one set of (temporary) credentials."""

    def __init__(
        self, *, access_key_id: str, secret_key: str, security_token: str, region: str
    ) -> None:
        self.access_key_id = access_key_id
        self.security_token = security_token
        self.region = region
        self._secret = secret_key
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            k = hmac.digest(("AWS4" + self._secret).encode(), day.encode(), "sha256")
            for part in (self.region, _SERVICE, "aws4_request"):
                k = hmac.digest(k, part.encode(), "sha256")
            self._keys[day] = key = k
        return key

    def _signature(self, method: str, host: str, key: str, query: Mapping[str, str]) -> str:
        date = query.get("X-Amz-Date", "")
        day = date[:8]
        canonical = "\n".join(
            (
                method,
                encode_key(key),
                _canonical_query(query),
                f"host:{host}\n",
                "host",
                "UNSIGNED-PAYLOAD",
            )
        )
        scope = f"{day}/{self.region}/{_SERVICE}/aws4_request"
        to_sign = "\n".join(
            (ALGORITHM, date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        return hmac.new(self._signing_key(day), to_sign.encode(), "sha256").hexdigest()

    def presign(self, *, host: str, key: str, now_s: float, expires_s: int) -> str:
        """Path and query of a presigned GET for object ``key`` on ``host``."""
        date = amz_date(now_s)
        query = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": (
                f"{self.access_key_id}/{date[:8]}/{self.region}/{_SERVICE}/aws4_request"
            ),
            "X-Amz-Date": date,
            "X-Amz-Expires": str(expires_s),
            "X-Amz-Security-Token": self.security_token,
            "X-Amz-SignedHeaders": "host",
            "x-id": "GetObject",
        }
        query["X-Amz-Signature"] = self._signature("GET", host, key, query)
        # Bird's URLs list the parameters in this order (signature last).
        text = "&".join(f"{k}={_uri_encode(v)}" for k, v in query.items())
        return f"{encode_key(key)}?{text}"

    def is_valid_signature(
        self, *, method: str, host: str, key: str, query: Mapping[str, str]
    ) -> bool:
        """True when ``X-Amz-Signature`` matches the request's signed parts."""
        given = query.get("X-Amz-Signature", "")
        expected = self._signature(method, host, key, query)
        return hmac.compare_digest(given.encode(), expected.encode())


def parse_presigned_query(query: Mapping[str, str]) -> PresignedQuery:
    """Parse the SigV4 query parameters; ``ValueError`` with S3's message when malformed."""
    required = (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    if any(name not in query for name in required):
        raise ValueError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise ValueError(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    credential = query["X-Amz-Credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        raise ValueError(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
            'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    try:
        date_s = parse_amz_date(query["X-Amz-Date"])
    except ValueError:
        raise ValueError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None
    try:
        expires_s = int(query["X-Amz-Expires"])
    except ValueError:
        raise ValueError("X-Amz-Expires should be a number") from None
    if expires_s < 0:
        raise ValueError("X-Amz-Expires must be non-negative")
    if expires_s > MAX_EXPIRES_S:
        raise ValueError(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_S}"
        )
    return PresignedQuery(access_key_id=credential[0], date_s=date_s, expires_s=expires_s)
