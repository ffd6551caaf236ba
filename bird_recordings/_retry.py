"""Retry policy: an immutable value plus pure functions, no I/O.

The loops that use it live in :mod:`._transport` (API calls) and
:mod:`._download` (media); both close the failed response before sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from attrs import field, frozen, validators

from ._constants import (
    DEFAULT_BACKOFF_INITIAL_S,
    DEFAULT_BACKOFF_MAX_S,
    DEFAULT_BACKOFF_MULTIPLIER,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_AFTER_MAX_S,
)

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy", "parse_retry_after"]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})
_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    # A typed converter: ``converter=frozenset`` left an unbound TypeVar in
    # ``__init__``, so ``RetryPolicy(retry_statuses={503})`` failed mypy.
    return frozenset(statuses)


@frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried. Immutable; share one across clients freely.

    - ``max_retries``: retries after the first attempt (0 disables retrying).
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

    max_retries: int = field(default=DEFAULT_MAX_RETRIES, validator=validators.ge(0))
    backoff_initial_s: float = field(default=DEFAULT_BACKOFF_INITIAL_S, validator=validators.ge(0))
    backoff_max_s: float = field(default=DEFAULT_BACKOFF_MAX_S, validator=validators.ge(0))
    backoff_multiplier: float = field(
        default=DEFAULT_BACKOFF_MULTIPLIER, validator=validators.ge(1)
    )
    jitter: float = field(default=1.0, validator=[validators.ge(0), validators.le(1)])
    retry_after_max_s: float = field(default=DEFAULT_RETRY_AFTER_MAX_S, validator=validators.ge(0))
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
    if text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
