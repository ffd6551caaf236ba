"""Sans-I/O storage decisions: what to do with each answer of a presigned GET.

Pure functions of what a transfer knows and asked for (:class:`Asked`), the
answer's status, headers and S3 error code, and the server's time. The one
fetch loop (:mod:`._fetch`) executes what they decide; these are tested as
plain tables with no event loop.

=========================  ==============================================
answer                     action
=========================  ==============================================
200/206 that fits          :attr:`StorageAction.ACCEPT` (skip what we have)
200/206 of another object  :attr:`StorageAction.RESTART` (or ``CHANGED``)
206 with a wrong range     :attr:`StorageAction.BAD_RANGE`
416 at the end             :attr:`StorageAction.DONE`
416 of the caller's range  :attr:`StorageAction.RANGE_NOT_SATISFIABLE`
416 before the end, 412    :attr:`StorageAction.RESTART`
expired URL (403/400)      :attr:`StorageAction.REFRESH_URL`
other 403                  :attr:`StorageAction.REFRESH_ONCE`
404                        :attr:`StorageAction.NOT_FOUND`
408, 429, 5xx              :attr:`StorageAction.RETRY`
anything else              :attr:`StorageAction.FAIL`
=========================  ==============================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from attrs import frozen

from ._protocol import S3Error, is_expired_error, parse_content_range
from ._retry import RetryPolicy

__all__ = [
    "EXPIRED_CODES",
    "Asked",
    "BodyVerdict",
    "StorageAction",
    "after_break",
    "decide_error",
    "judge_body",
    "request_headers",
]

#: S3 error codes that mean "this URL's credentials have expired".
EXPIRED_CODES: Final = frozenset({"ExpiredToken", "TokenRefreshRequired"})


class StorageAction(enum.Enum):
    """What the fetch loop does next."""

    ACCEPT = "accept"  #: read the body (skipping bytes already received)
    DONE = "done"  #: nothing left to fetch
    RESTART = "restart"  #: the object changed: discard what we have, start from byte 0
    CHANGED = "changed"  #: it changed and starting over is not allowed (a stream)
    BAD_RANGE = "bad-range"  #: a 206 for other bytes than asked
    RANGE_NOT_SATISFIABLE = "range-not-satisfiable"  #: the caller's range is past the end
    REFRESH_URL = "refresh-url"  #: the URL expired: a new one, same byte
    REFRESH_ONCE = "refresh-once"  #: a 403 not about expiry: one new URL may cure it
    NOT_FOUND = "not-found"  #: explain the 404 (no media, or no recording)
    RETRY = "retry"  #: back off, then the same request
    FAIL = "fail"  #: raise the storage error


@frozen(kw_only=True)
class Asked:
    """What a transfer knows about the object and asked for, at one request.

    ``offset`` is the next byte wanted; ``first_byte``/``last_byte`` the range
    the caller wants (``last_byte`` included, ``None`` to the end); ``if_range``
    the caller's validator, sent until storage accepted an answer; ``etag``,
    ``last_modified`` and ``total`` what the accepted answers said.
    """

    offset: int = 0
    total: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    accepted: bool = False
    first_byte: int = 0
    last_byte: int | None = None
    if_range: str | None = None
    probe: bool = False
    allow_restart: bool = True

    @property
    def strong_etag(self) -> str | None:
        """The ETag when it may go in ``If-Match`` (RFC 9110 §13.1.1: never a weak one)."""
        etag = self.etag
        return etag if etag and not etag.startswith("W/") else None

    @property
    def can_resume(self) -> bool:
        """True if a Range request can be tied to the version we started with."""
        return self.strong_etag is not None or bool(self.last_modified)

    @property
    def is_range(self) -> bool:
        """True while a part of the object is wanted, not all of it."""
        return self.first_byte > 0 or self.last_byte is not None


@frozen(kw_only=True)
class BodyVerdict:
    """The decision on a 200/206: the action, bytes to skip, and what we now know."""

    action: StorageAction
    asked: Asked
    skip: int = 0


def request_headers(asked: Asked, user_agent: str) -> dict[str, str]:
    """The headers of the next storage GET: identity encoding, Range and its validator."""
    headers = {"Accept-Encoding": "identity", "User-Agent": user_agent}
    if asked.probe:
        headers["Range"] = "bytes=0-0"
    elif asked.offset > 0 or asked.last_byte is not None:
        last = "" if asked.last_byte is None else str(asked.last_byte)
        headers["Range"] = f"bytes={asked.offset}-{last}"
        if (etag := asked.strong_etag) is not None:
            # The same object or nothing: S3 answers 412 if it changed.
            headers["If-Match"] = etag
        elif asked.if_range and not asked.accepted:
            # The caller's validator, until storage accepted a first answer.
            headers["If-Range"] = asked.if_range
        elif asked.last_modified:
            # RFC 9110 §13.1.5: the rest if unchanged, else the whole new object (200).
            headers["If-Range"] = asked.last_modified
    return headers


def after_break(asked: Asked, *, resume: bool) -> StorageAction:
    """What to do before the next request, once bytes have been received.

    ``RETRY`` goes on from ``offset`` (a Range request tied to the version);
    ``RESTART`` starts over when there is nothing to tie a Range to (a 206
    could come from a newer object: never stitch two versions), or when the
    caller prefers that (``resume=False``: small bodies); ``FAIL`` when a
    restart is not allowed either.
    """
    if not asked.accepted or asked.offset == 0 or asked.probe:
        return StorageAction.RETRY
    if resume and asked.can_resume:
        return StorageAction.RETRY
    return StorageAction.RESTART if asked.allow_restart else StorageAction.FAIL


def decide_error(
    asked: Asked,
    status: int,
    error: S3Error,
    *,
    retry: RetryPolicy,
    url_expires_at: datetime | None,
    server_now: datetime,
) -> StorageAction:
    """The action for a storage answer that is not 200/206."""
    if status == 416:
        if not asked.accepted and asked.is_range:
            return StorageAction.RANGE_NOT_SATISFIABLE
        # Nothing left from our offset: done if we have it all, else it shrank.
        if asked.total is not None and asked.offset == asked.total:
            return StorageAction.DONE
        return StorageAction.RESTART
    if status == 412:
        return StorageAction.RESTART
    if is_expired_error(status, error) or error.code in EXPIRED_CODES:
        return StorageAction.REFRESH_URL
    if status == 403:
        if url_expires_at is not None and url_expires_at <= server_now:
            return StorageAction.REFRESH_URL
        return StorageAction.REFRESH_ONCE
    if status == 404:
        return StorageAction.NOT_FOUND
    if retry.is_retryable_status(status):
        return StorageAction.RETRY
    return StorageAction.FAIL


def judge_body(
    asked: Asked, status: int, headers: Mapping[str, str], content_length: int | None
) -> BodyVerdict:
    """Check a 200/206 against what we have: accept it, skip into it, or start over."""
    etag = headers.get("ETag")
    offset, first_byte, last_byte = asked.offset, asked.first_byte, asked.last_byte
    if not asked.accepted and status == 200 and asked.if_range and asked.is_range:
        # If-Range did not hold: the whole (new) object, as the client asked.
        offset = first_byte = 0
        last_byte = None

    def verdict(
        action: StorageAction,
        *,
        etag: str | None,
        total: int | None,
        last_modified: str | None,
        skip: int = 0,
    ) -> BodyVerdict:
        return BodyVerdict(
            action=action,
            skip=skip,
            asked=Asked(
                offset=offset,
                total=total,
                etag=etag,
                last_modified=last_modified,
                accepted=True,
                first_byte=first_byte,
                last_byte=last_byte,
                if_range=asked.if_range,
                probe=asked.probe,
                allow_restart=asked.allow_restart,
            ),
        )

    if asked.probe:
        if status == 206:
            content_range = parse_content_range(headers.get("Content-Range"))
            total = content_range.total if content_range else None
        else:
            total = content_length
        return verdict(
            StorageAction.ACCEPT, etag=etag, total=total, last_modified=asked.last_modified
        )
    modified = headers.get("Last-Modified")
    # The validators come from the first answer of this version (a ranged stream's
    # first answer starts past byte 0); later answers must match them.
    resuming = asked.accepted and offset > 0
    last_modified = asked.last_modified if resuming else modified
    known_etag = asked.etag
    strong = asked.strong_etag
    changed = known_etag is not None and etag is not None and etag != known_etag
    if resuming and strong is not None and etag is None:
        changed = True  # nothing ties these bytes to the version we started with
    elif resuming and strong is None and modified is not None and modified != last_modified:
        changed = True
    restart = StorageAction.RESTART if asked.allow_restart else StorageAction.CHANGED
    if status == 206:
        content_range = parse_content_range(headers.get("Content-Range"))
        if content_range is None or content_range.first != offset:
            return verdict(
                StorageAction.BAD_RANGE,
                etag=known_etag,
                total=asked.total,
                last_modified=last_modified,
            )
        if changed or (
            asked.total is not None
            and content_range.total is not None
            and content_range.total != asked.total
        ):
            return verdict(restart, etag=etag, total=None, last_modified=last_modified)
        total = content_range.total if content_range.total is not None else asked.total
        return verdict(
            StorageAction.ACCEPT,
            etag=known_etag or etag,
            total=total,
            last_modified=last_modified,
        )
    # 200: the whole object. Continue seamlessly only if it is the same one.
    if offset > 0:
        same = (
            not changed
            and (etag is not None or (modified is not None and known_etag is None))
            and (asked.total is None or content_length is None or content_length == asked.total)
        )
        if not same:
            return verdict(restart, etag=etag, total=content_length, last_modified=last_modified)
        return verdict(
            StorageAction.ACCEPT,
            etag=known_etag,
            total=content_length if content_length is not None else asked.total,
            last_modified=last_modified,
            skip=offset,
        )
    return verdict(
        StorageAction.ACCEPT, etag=etag, total=content_length, last_modified=last_modified
    )
