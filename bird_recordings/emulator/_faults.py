"""Fault injection: deterministic, scoped and counted misbehaviour of either origin.

A fault is armed with :class:`Faults` (``emu.faults``). It *matches* a request
by origin, method, a path substring and the recording id; a matching request
*fires* it while it has firings left (``count``; ``None`` means forever), and
with ``probability`` only when the emulator's seeded random generator says so.
``triggered`` counts firings. Faults are tried in the order they were armed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal, TypedDict, TypeVar, Unpack

import attrs

__all__ = [
    "BodyFault",
    "ExpireEarlyFault",
    "Fault",
    "Faults",
    "IgnoreRangeFault",
    "LatencyFault",
    "MalformedJSONFault",
    "Match",
    "OriginName",
    "ReplaceMediaFault",
    "ResetFault",
    "Scope",
    "StallFault",
    "StatusFault",
    "ThrottleFault",
    "TruncateFault",
    "UnknownFieldsFault",
]

OriginName = Literal["api", "storage", "any"]
F = TypeVar("F", bound="Fault")


@attrs.frozen
class RequestContext:
    """What a fault can match on."""

    origin: Literal["api", "storage"]
    method: str
    path: str
    recording_id: str | None
    body_bytes: int | None = None


class Scope(TypedDict, total=False):
    """The keywords of :class:`Match`, accepted by every :class:`Faults` builder."""

    origin: OriginName
    method: str | None
    path_contains: str | None
    recording_id: str | None


@attrs.frozen(kw_only=True)
class Match:
    """Which requests a fault applies to: every field that is set must hold.

    ``origin`` is ``"api"``, ``"storage"`` or ``"any"``; ``method`` an HTTP
    method; ``path_contains`` a substring of the path; ``recording_id`` the
    recording the request is about (media, metadata, transcriptions).
    """

    origin: OriginName = "any"
    method: str | None = None
    path_contains: str | None = None
    recording_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.origin not in ("api", "storage", "any"):
            raise ValueError("origin must be 'api', 'storage' or 'any'")

    def __call__(self, ctx: RequestContext) -> bool:
        """True when ``ctx`` is in scope."""
        if self.origin != "any" and self.origin != ctx.origin:
            return False
        if self.method is not None and self.method.upper() != ctx.method:
            return False
        if self.path_contains is not None and self.path_contains not in ctx.path:
            return False
        return self.recording_id is None or self.recording_id == ctx.recording_id


@attrs.define(eq=False, kw_only=True)
class Fault:
    """Base of every fault: matching, counting and cancelling.

    ``match`` says which requests it applies to, ``count`` how many more times
    it may fire (``None``: unlimited), ``triggered`` how many times it has fired.
    """

    match: Match = Match()
    count: int | None = 1
    probability: float | None = None
    triggered: int = 0
    _faults: Faults | None = attrs.field(default=None, repr=False, alias="_faults")

    @property
    def origin(self) -> OriginName:
        """The origin it applies to (``match.origin``)."""
        return self.match.origin

    @property
    def remaining(self) -> int | None:
        """Firings left (``None`` when unlimited)."""
        return None if self.count is None else max(0, self.count - self.triggered)

    @property
    def is_exhausted(self) -> bool:
        """True when the fault will not fire again."""
        return self.count is not None and self.triggered >= self.count

    def cancel(self) -> None:
        """Disarm this fault (``triggered`` is kept)."""
        if self._faults is not None:
            self._faults._remove(self)

    def matches(self, ctx: RequestContext) -> bool:
        """True when ``ctx`` is in this fault's scope (ignoring count and probability)."""
        return self.match(ctx)


@attrs.define(eq=False, kw_only=True)
class StatusFault(Fault):
    """Answer ``status`` instead of handling the request.

    Storage bodies are S3 XML (``SlowDown`` for 503, ``InternalError`` for 500,
    ``ServiceUnavailable``/``TooManyRequests`` otherwise); API bodies are Bird's
    ``{"code", "message"}`` JSON, except 502 and 504, which come as a load
    balancer's HTML page. ``body`` overrides the body.
    """

    status: int
    retry_after: float | str | None = None
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    body: str | bytes | None = None
    content_type: str | None = None


@attrs.define(eq=False, kw_only=True)
class LatencyFault(Fault):
    """Wait ``seconds`` (real time) before handling the request."""

    seconds: float


@attrs.define(eq=False, kw_only=True)
class BodyFault(Fault):
    """A fault that strikes after ``after_bytes`` bytes of a response body."""

    after_bytes: int

    def matches(self, ctx: RequestContext) -> bool:
        """In scope, and the body is longer than ``after_bytes``."""
        return (
            super().matches(ctx)
            and ctx.body_bytes is not None
            and self.after_bytes < ctx.body_bytes
        )


@attrs.define(eq=False, kw_only=True)
class ResetFault(BodyFault):
    """Abort the TCP connection (RST) after ``after_bytes`` body bytes."""


@attrs.define(eq=False, kw_only=True)
class TruncateFault(BodyFault):
    """Close the connection after ``after_bytes`` body bytes; ``Content-Length`` promised more."""


@attrs.define(eq=False, kw_only=True)
class StallFault(BodyFault):
    """Send nothing for ``seconds`` (real time) after ``after_bytes`` body bytes, then go on."""

    seconds: float


@attrs.define(eq=False, kw_only=True)
class ThrottleFault(BodyFault):
    """Send the body after ``after_bytes`` at ``bytes_per_s`` (real time): a slow link."""

    bytes_per_s: float


@attrs.define(eq=False, kw_only=True)
class ReplaceMediaFault(BodyFault):
    """Cut the body after ``after_bytes`` and replace the object (new bytes, new ETag)."""

    size_bytes: int | None = None


@attrs.define(eq=False, kw_only=True)
class MalformedJSONFault(Fault):
    """Answer a successful API call with a body that is not valid JSON."""


@attrs.define(eq=False, kw_only=True)
class UnknownFieldsFault(Fault):
    """Add unknown keys and unknown enum values to a successful API payload."""


@attrs.define(eq=False, kw_only=True)
class ExpireEarlyFault(Fault):
    """Refuse a valid, unexpired presigned URL as expired (temporary credentials ran out).

    ``kind="expired"``: 403 ``AccessDenied`` "Request has expired";
    ``kind="token"``: 400 ``ExpiredToken`` "The provided token has expired."
    """

    kind: Literal["expired", "token"] = "expired"


@attrs.define(eq=False, kw_only=True)
class IgnoreRangeFault(Fault):
    """Answer a ``Range`` request with ``200`` and the whole object."""


class Faults:
    """The armed faults of one emulator (``emu.faults``).

    Every method arms a fault and returns it; the fault's ``triggered`` tells how
    often it fired and ``cancel()`` disarms it. ``count=None`` fires on every
    matching request; ``probability`` fires on that share of matching requests,
    drawn from a generator seeded with the emulator's seed.
    """

    def __init__(self, seed: int) -> None:
        self._faults: list[Fault] = []
        self._random = random.Random(f"faults:{seed}")

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def __bool__(self) -> bool:
        return bool(self._faults)

    def clear(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def _remove(self, fault: Fault) -> None:
        if fault in self._faults:
            self._faults.remove(fault)

    def _arm(self, fault: F) -> F:
        if fault.count is not None and fault.count < 0:
            raise ValueError("count must be >= 0 or None")
        if fault.probability is not None and not 0.0 <= fault.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        fault._faults = self
        self._faults.append(fault)
        return fault

    def take(self, kind: type[F], ctx: RequestContext) -> F | None:
        """Fire and return the first armed fault of ``kind`` that matches ``ctx``."""
        for fault in self._faults:
            if not isinstance(fault, kind) or fault.is_exhausted or not fault.matches(ctx):
                continue
            if fault.probability is not None and self._random.random() >= fault.probability:
                continue
            fault.triggered += 1
            return fault
        return None

    def has(self, kind: type[Fault]) -> bool:
        """True when a fault of ``kind`` is armed and not exhausted."""
        return any(isinstance(f, kind) and not f.is_exhausted for f in self._faults)

    # Arming -------------------------------------------------------------------------
    #
    # Every builder takes the fault's own settings, ``count`` and ``probability``,
    # and its scope: ``match=Match(...)``, or the same fields as keywords
    # (``origin=``, ``method=``, ``path_contains=``, ``recording_id=``).

    @staticmethod
    def _scope(
        match: Match | None, scope: Scope, *, origin: OriginName, fixed: bool = False
    ) -> Match:
        if match is not None:
            if scope:
                raise ValueError("pass match=Match(...) or its fields as keywords, not both")
            chosen = match
        else:
            chosen = Match(
                origin=scope.get("origin", origin),
                method=scope.get("method"),
                path_contains=scope.get("path_contains"),
                recording_id=scope.get("recording_id"),
            )
        if fixed and chosen.origin != origin:
            raise ValueError(f"this fault applies to the {origin} origin only")
        return chosen

    def status(
        self,
        status: int,
        *,
        count: int | None = 1,
        probability: float | None = None,
        retry_after: float | str | None = None,
        retry_after_format: Literal["seconds", "http-date"] = "seconds",
        body: str | bytes | None = None,
        content_type: str | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> StatusFault:
        """Answer ``status`` (429, 500, 502, 503…) instead of handling matching requests.

        ``retry_after`` adds a ``Retry-After`` header: a number of seconds, sent
        as an integer, or as an HTTP date that far past the emulator's clock
        with ``retry_after_format="http-date"``; ``retry_after="http-date"`` is
        short for an HTTP date one second ahead; any other string is sent verbatim.
        The scope defaults to the API origin.
        """
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        return self._arm(
            StatusFault(
                status=status,
                retry_after=retry_after,
                retry_after_format=retry_after_format,
                body=body,
                content_type=content_type,
                match=self._scope(match, scope, origin="api"),
                count=count,
                probability=probability,
            )
        )

    def latency(
        self,
        seconds: float,
        *,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> LatencyFault:
        """Delay matching requests by ``seconds`` before they are handled (API by default)."""
        return self._arm(
            LatencyFault(
                seconds=seconds,
                match=self._scope(match, scope, origin="api"),
                count=count,
                probability=probability,
            )
        )

    def reset(
        self,
        *,
        after_bytes: int,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> ResetFault:
        """Abort the connection with a TCP reset after ``after_bytes`` body bytes."""
        return self._arm(
            ResetFault(
                after_bytes=after_bytes,
                match=self._scope(match, scope, origin="storage"),
                count=count,
                probability=probability,
            )
        )

    def truncate(
        self,
        *,
        after_bytes: int,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> TruncateFault:
        """End the body after ``after_bytes`` bytes and close: shorter than ``Content-Length``."""
        return self._arm(
            TruncateFault(
                after_bytes=after_bytes,
                match=self._scope(match, scope, origin="storage"),
                count=count,
                probability=probability,
            )
        )

    def stall(
        self,
        *,
        after_bytes: int,
        seconds: float,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> StallFault:
        """Send no bytes for ``seconds`` after ``after_bytes`` body bytes, then continue."""
        return self._arm(
            StallFault(
                after_bytes=after_bytes,
                seconds=seconds,
                match=self._scope(match, scope, origin="storage"),
                count=count,
                probability=probability,
            )
        )

    def throttle(
        self,
        bytes_per_s: float,
        *,
        after_bytes: int = 0,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> ThrottleFault:
        """Pace the body at ``bytes_per_s`` from byte ``after_bytes`` on, as a slow link would."""
        if not bytes_per_s > 0:
            raise ValueError("bytes_per_s must be > 0")
        return self._arm(
            ThrottleFault(
                bytes_per_s=bytes_per_s,
                after_bytes=after_bytes,
                match=self._scope(match, scope, origin="storage"),
                count=count,
                probability=probability,
            )
        )

    def replace_media(
        self,
        recording_id: str,
        *,
        after_bytes: int,
        size_bytes: int | None = None,
        count: int | None = 1,
        probability: float | None = None,
    ) -> ReplaceMediaFault:
        """While ``recording_id`` downloads, cut the body after ``after_bytes`` and replace it.

        The object gets new bytes (``size_bytes``, default unchanged) and a new
        ETag, as if it was re-uploaded mid-transfer.
        """
        return self._arm(
            ReplaceMediaFault(
                after_bytes=after_bytes,
                size_bytes=size_bytes,
                match=Match(origin="storage", recording_id=recording_id),
                count=count,
                probability=probability,
            )
        )

    def malformed_json(
        self,
        *,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> MalformedJSONFault:
        """Answer matching successful API calls with a cut-off, invalid JSON body."""
        return self._arm(
            MalformedJSONFault(
                match=self._scope(match, scope, origin="api", fixed=True),
                count=count,
                probability=probability,
            )
        )

    def unknown_fields(
        self,
        *,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> UnknownFieldsFault:
        """Add unknown keys and unknown enum values to matching successful API payloads."""
        return self._arm(
            UnknownFieldsFault(
                match=self._scope(match, scope, origin="api", fixed=True),
                count=count,
                probability=probability,
            )
        )

    def expire_early(
        self,
        *,
        count: int | None = None,
        probability: float | None = None,
        kind: Literal["expired", "token"] = "expired",
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> ExpireEarlyFault:
        """Refuse valid presigned URLs as expired before ``X-Amz-Expires`` says.

        ``count=None`` (the default) refuses every URL until cancelled, like
        credentials that ran out.
        """
        return self._arm(
            ExpireEarlyFault(
                kind=kind,
                match=self._scope(match, scope, origin="storage", fixed=True),
                count=count,
                probability=probability,
            )
        )

    def ignore_range(
        self,
        *,
        count: int | None = 1,
        probability: float | None = None,
        match: Match | None = None,
        **scope: Unpack[Scope],
    ) -> IgnoreRangeFault:
        """Answer matching ``Range`` requests with ``200`` and the whole object."""
        return self._arm(
            IgnoreRangeFault(
                match=self._scope(match, scope, origin="storage", fixed=True),
                count=count,
                probability=probability,
            )
        )
