"""The GCRA rate limiter, driven by a fake clock (no event loop for reserve())."""

from __future__ import annotations

import pytest

import bird_recordings as br
from bird_recordings._limits import RateLimiter
from tests.conftest import FakeClock


def make(rate: float | None, burst: int = 1) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, burst=burst, clock=clock.monotonic, sleep=clock.sleep), clock


def test_first_request_is_free_then_one_interval_each() -> None:
    limiter, _ = make(4.0)  # interval 0.25 s, exact in binary
    assert [limiter.reserve() for _ in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_burst_is_free_then_the_rate_applies() -> None:
    limiter, _ = make(4.0, burst=3)
    assert [limiter.reserve() for _ in range(6)] == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75]


def test_steady_rate_never_waits() -> None:
    limiter, clock = make(4.0)
    for _ in range(20):
        assert limiter.reserve() == 0.0
        clock.advance(0.25)


def test_idle_time_refills_up_to_the_burst_only() -> None:
    limiter, clock = make(4.0, burst=2)
    for _ in range(4):
        limiter.reserve()
    clock.advance(100.0)  # a long idle period does not bank more than the burst
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.0, 0.25, 0.5]


def test_partial_wait_after_partial_idle() -> None:
    limiter, clock = make(4.0)
    assert limiter.reserve() == 0.0
    clock.advance(0.125)
    assert limiter.reserve() == 0.125


def test_fifty_per_second_over_one_second() -> None:
    limiter, _ = make(50.0)
    waits = [limiter.reserve() for _ in range(51)]
    assert waits[0] == 0.0
    assert waits[50] == pytest.approx(1.0)
    assert waits == sorted(waits)


def test_none_disables() -> None:
    limiter, _ = make(None, burst=1)
    assert all(limiter.reserve() == 0.0 for _ in range(1000))


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_invalid_configuration(rate: float, burst: int) -> None:
    with pytest.raises(br.ConfigurationError):
        make(rate, burst)


def test_repr() -> None:
    assert repr(make(5.0, 2)[0]) == "RateLimiter(rate=5.0, burst=2)"


async def test_acquire_sleeps_only_when_it_must() -> None:
    limiter, clock = make(4.0)
    for _ in range(3):
        await limiter.acquire()
    # The fake sleep advances the clock, so each later caller waits one interval.
    assert clock.sleeps == [0.25, 0.25]
    assert clock.monotonic() == 1000.5


# -- LocalRateLimiter: both kinds, every workspace, 429 pauses ------------------


def local(
    get_rate: float | None = 4.0, post_rate: float | None = 8.0, burst: int = 1
) -> tuple[br.LocalRateLimiter, FakeClock]:
    clock = FakeClock()
    return br.LocalRateLimiter(get_rate, post_rate, burst=burst, clock=clock), clock


def test_local_limiter_is_a_rate_limiter_protocol() -> None:
    assert isinstance(local()[0], br.RateLimiterProtocol)


def test_local_kinds_and_workspaces_have_separate_budgets() -> None:
    limiter, _ = local()
    assert [limiter.reserve("a", "get") for _ in range(3)] == [0.0, 0.25, 0.5]
    assert [limiter.reserve("a", "post") for _ in range(3)] == [0.0, 0.125, 0.25]
    assert [limiter.reserve("b", "get") for _ in range(2)] == [0.0, 0.25]


def test_local_burst_applies_to_each_kind() -> None:
    limiter, _ = local(burst=2)
    assert [limiter.reserve("a", "get") for _ in range(3)] == [0.0, 0.0, 0.25]
    assert [limiter.reserve("a", "post") for _ in range(3)] == [0.0, 0.0, 0.125]


async def test_local_report_pauses_the_kind_then_paces_without_burst() -> None:
    limiter, _ = local(burst=3)
    await limiter.report_rate_limited("a", "get", 2.0)
    # After the pause the budget restarts empty: one interval apart, no burst.
    assert [limiter.reserve("a", "get") for _ in range(3)] == [2.0, 2.25, 2.5]
    assert limiter.reserve("a", "post") == 0.0  # POST has its own budget
    assert limiter.reserve("b", "get") == 0.0  # and so has another workspace


async def test_local_pause_extends_never_shortens() -> None:
    limiter, _ = local()
    await limiter.report_rate_limited("a", "get", 3.0)
    await limiter.report_rate_limited("a", "get", 1.0)
    assert limiter.reserve("a", "get") == 3.0


async def test_local_acquire_waits_on_the_clock() -> None:
    limiter, clock = local()
    for _ in range(3):
        await limiter.acquire("a", "get")
    assert clock.sleeps == [0.25, 0.25]


async def test_local_disabled_kind_neither_waits_nor_pauses() -> None:
    limiter, clock = local(get_rate=None)
    await limiter.report_rate_limited("a", "get", 5.0)
    for _ in range(100):
        await limiter.acquire("a", "get")
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "kwargs",
    [{"get_rate": 0}, {"post_rate": -1}, {"get_rate": True}, {"burst": 0}, {"burst": 1.5}],
)
def test_local_invalid_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(br.ConfigurationError):
        br.LocalRateLimiter(**kwargs)  # type: ignore[arg-type]


def test_local_repr() -> None:
    assert repr(local()[0]) == "LocalRateLimiter(get_rate=4.0, post_rate=8.0, burst=1)"
