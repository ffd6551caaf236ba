"""Retry-After parsing and the RetryPolicy's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import bird_recordings as br
from bird_recordings._retry import IDEMPOTENT_METHODS, parse_retry_after

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# --- Retry-After ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        ("120", 120.0),
        ("  30 ", 30.0),
        ("1.5", 1.5),
        ("Wed, 25 Nov 2026 12:00:30 GMT", 30.0),
        ("Wed, 25 Nov 2026 13:00:00 GMT", 3600.0),
        ("Wed, 25 Nov 2026 12:00:30 -0000", 30.0),  # no zone info: read as UTC
        ("Wed, 25 Nov 2026 14:00:30 +0200", 30.0),
        ("Wed, 25 Nov 2026 11:59:00 GMT", 0.0),  # in the past: retry now
        ("Tue, 24 Nov 2026 12:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "-1", "-0.5", "soon", "nan", "inf", "-inf", "1e999", "Wed, 99 Foo", "12s"],
)
def test_parse_retry_after_ignores_garbage_and_negative(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_defaults_now_to_the_real_clock() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0


# --- RetryPolicy ----------------------------------------------------------------------


def test_defaults() -> None:
    policy = br.RetryPolicy()
    assert policy.max_retries == 4
    assert policy.retry_after_max_s == 60.0
    assert br.RetryPolicy.disabled().max_retries == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"backoff_initial_s": -0.1},
        {"backoff_max_s": -1},
        {"backoff_multiplier": 0.5},
        {"jitter": -0.1},
        {"jitter": 1.5},
        {"retry_after_max_s": -1},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - attrs validators raise plain ValueError
        br.RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    policy = br.RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_retries = 9  # type: ignore[misc]


def test_backoff_grows_exponentially_then_caps() -> None:
    policy = br.RetryPolicy(backoff_initial_s=0.5, backoff_multiplier=2, backoff_max_s=8, jitter=0)
    assert [policy.backoff_s(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 8, 8, 8]


def test_backoff_does_not_overflow_on_huge_retry_counts() -> None:
    policy = br.RetryPolicy(backoff_max_s=8, jitter=0)
    assert policy.backoff_s(10_000) == 8


@pytest.mark.parametrize(
    ("jitter", "rand", "factor"),
    [
        (1.0, 0.0, 1.0),
        (1.0, 0.25, 0.75),
        (1.0, 0.999, 0.001),
        (0.5, 0.0, 1.0),
        (0.5, 1.0, 0.5),
        (0.5, 0.5, 0.75),
        (0.0, 0.9, 1.0),
    ],
)
def test_jitter_bounds_with_injected_rand(jitter: float, rand: float, factor: float) -> None:
    policy = br.RetryPolicy(backoff_initial_s=2, backoff_multiplier=2, jitter=jitter)
    assert policy.backoff_s(1, lambda: rand) == pytest.approx(4 * factor)
    assert policy.delay_s(1, None, lambda: rand) == pytest.approx(4 * factor)


@pytest.mark.parametrize("rand", [0.0, 0.1, 0.5, 0.9, 0.999999])
@pytest.mark.parametrize("jitter", [0.0, 0.3, 1.0])
def test_jittered_delay_stays_within_bounds(rand: float, jitter: float) -> None:
    policy = br.RetryPolicy(backoff_initial_s=1, backoff_max_s=8, jitter=jitter)
    for n in range(6):
        base = min(8.0, 2.0**n)
        delay = policy.backoff_s(n, lambda: rand)
        assert (1 - jitter) * base - 1e-12 <= delay <= base


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [(0.0, 0.0), (5.0, 5.0), (60.0, 60.0), (60.001, None), (3600.0, None), (-3.0, 0.0)],
)
def test_retry_after_wins_over_backoff_up_to_the_cap(
    retry_after: float, delay: float | None
) -> None:
    policy = br.RetryPolicy(retry_after_max_s=60, jitter=0)
    assert policy.delay_s(3, retry_after, lambda: 0.5) == delay


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (507, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (200, False),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert br.RetryPolicy().is_retryable_status(status) is retryable


def test_custom_retry_statuses() -> None:
    policy = br.RetryPolicy(retry_statuses={503})  # any iterable of ints type-checks
    assert policy.retry_statuses == frozenset({503})
    assert policy.is_retryable_status(503)
    assert not policy.is_retryable_status(500)
    assert not policy.is_retryable_status(429)


@pytest.mark.parametrize(
    ("method", "allowed"),
    [
        ("GET", True),
        ("get", True),
        ("DELETE", True),
        ("HEAD", True),
        ("PUT", True),
        ("OPTIONS", True),
        ("POST", False),
        ("post", False),
        ("PATCH", False),
    ],
)
def test_only_idempotent_methods_are_retried(method: str, allowed: bool) -> None:
    assert br.RetryPolicy().allows(0, method) is allowed
    assert ("POST" in IDEMPOTENT_METHODS) is False


@pytest.mark.parametrize(("done", "allowed"), [(0, True), (2, True), (3, False), (4, False)])
def test_retries_are_counted(done: int, allowed: bool) -> None:
    assert br.RetryPolicy(max_retries=3).allows(done, "GET") is allowed


def test_disabled_never_allows() -> None:
    assert not br.RetryPolicy.disabled().allows(0, "GET")
