"""Retry policy: an immutable value plus pure functions, no I/O.

The loops that use it live in :mod:`._transport` (API calls) and
:mod:`._download` (media); both close the failed response before sleeping.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import attrs
from attrs import field, frozen

from ._constants import (
    DEFAULT_BACKOFF_INITIAL_S,
    DEFAULT_BACKOFF_MAX_S,
    DEFAULT_BACKOFF_MULTIPLIER,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_AFTER_MAX_S,
)
from ._errors import ConfigurationError

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy", "parse_retry_after"]

_SECONDS: Final = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})
_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    # A typed converter: ``converter=frozenset`` left an unbound TypeVar in
    # ``__init__``, so ``RetryPolicy(retry_statuses={503})`` failed mypy.
    try:
        result = frozenset(statuses)
    except TypeError:
        raise ConfigurationError(
            f"retry_statuses must be a collection of HTTP statuses, got {statuses!r}"
        ) from None
    for status in result:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigurationError(
                f"retry_statuses must hold HTTP statuses (100-599), got {status!r}"
            )
    return result


def _number(
    low: float, high: float = math.inf, *, integer: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: a finite number in ``[low, high]``, else ConfigurationError."""

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            kind = "an integer" if integer else "a number"
            bound = f"between {low:g} and {high:g}" if high != math.inf else f"at least {low:g}"
            raise ConfigurationError(
                f"RetryPolicy.{attribute.name} must be {kind} {bound}, got {value!r}"
            )

    return check


@frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried. Immutable; share one across clients freely.

    - ``max_retries``: retries after the first attempt (0 disables retrying).
      Every value is checked at construction: a negative, non-finite or
      non-numeric one raises :class:`ConfigurationError`.
    - Connection errors, timeouts and statuses in ``retry_statuses`` (408, 429
      and 5xx by default) are retried, on idempotent methods only (GET, DELETE…).
      A POST is never retried after it may have reached Bird.
    - The wait is ``Retry-After`` when the server sent one (seconds or an HTTP
      date), capped at ``retry_after_max_s``; a longer Retry-After is not waited
      for: the error is raised. Otherwise capped exponential backoff
      ``min(backoff_max_s, backoff_initial_s * backoff_multiplier ** n)`` with
      "full jitter": a random point between ``(1 - jitter)`` and 1 times it.

    Example::

        policy = RetryPolicy(max_retries=8, backoff_max_s=30)
        client = RecordingsClient(retry=policy)
        no_retries = RetryPolicy.disabled()
    """

    max_retries: int = field(default=DEFAULT_MAX_RETRIES, validator=_number(0, integer=True))
    backoff_initial_s: float = field(default=DEFAULT_BACKOFF_INITIAL_S, validator=_number(0))
    backoff_max_s: float = field(default=DEFAULT_BACKOFF_MAX_S, validator=_number(0))
    backoff_multiplier: float = field(default=DEFAULT_BACKOFF_MULTIPLIER, validator=_number(1))
    jitter: float = field(default=1.0, validator=_number(0, 1))
    retry_after_max_s: float = field(default=DEFAULT_RETRY_AFTER_MAX_S, validator=_number(0))
    retry_statuses: frozenset[int] = field(default=_RETRY_STATUSES, converter=_status_set)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_retries=0)

    def is_retryable_status(self, status: int) -> bool:
        """True if a response with ``status`` may be retried."""
        return status in self.retry_statuses or (status >= 500 and 500 in self.retry_statuses)

    def allows(self, retries_done: int, method: str) -> bool:
        """True if another attempt is allowed after ``retries_done`` retries."""
        return retries_done < self.max_retries and method.upper() in IDEMPOTENT_METHODS

    def backoff_s(self, retries_done: int, rand: Callable[[], float] = random.random) -> float:
        """Jittered exponential backoff before retry number ``retries_done + 1``."""
        exponent = min(retries_done, 64)
        base = min(self.backoff_max_s, self.backoff_initial_s * self.backoff_multiplier**exponent)
        return base * (1.0 - self.jitter * rand())

    def delay_s(
        self,
        retries_done: int,
        retry_after_s: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up now.

        ``None`` means the server asked for a longer wait than ``retry_after_max_s``.
        """
        if retry_after_s is not None:
            if retry_after_s > self.retry_after_max_s:
                return None
            return max(0.0, retry_after_s)
        return self.backoff_s(retries_done, rand)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (RFC 9110 §10.2.3), or ``None``.

    Accepts delay-seconds (``"120"``) and an HTTP date; a date in the past is 0.
    Malformed values are ignored (``None``), as are negative numbers.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    # ASCII digits only: float() and int() accept other scripts' digits ("٣")
    # and str.isdigit() is true for "²", which int() refuses.
    if _SECONDS.fullmatch(text):
        return float(text)
    if not text.isascii():
        return None
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        reference = now or datetime.now(UTC)
        return max(0.0, (when - reference).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
