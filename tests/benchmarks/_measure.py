"""What a measured process records about itself: time, CPU, faults, RSS, loop lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

MIB = 1024 * 1024
TICK_S = 0.001


def rss_mib() -> float:
    """Current resident set size (``VmRSS``) in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` (0..100) percentile, nearest-rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """Median; 0 for no values."""
    return statistics.median(values) if values else 0.0


async def _tick(samples: list[float]) -> None:
    # Lag is how late a 1 ms sleep wakes up: the time the loop was busy elsewhere.
    clock = time.perf_counter
    while True:
        start = clock()
        await asyncio.sleep(TICK_S)
        samples.append(clock() - start - TICK_S)


class Measurement:
    """Wall time, CPU, page faults, RSS and loop lag of the block it wraps."""

    def __init__(self) -> None:
        self.result: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def measure(self) -> AsyncIterator[None]:
        """Measure the ``async with`` block (the ticker runs alongside it)."""
        rss_before = rss_mib()
        samples: list[float] = []
        ticker = asyncio.create_task(_tick(samples))
        await asyncio.sleep(0)
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            lag_ms = [max(0.0, s) * 1000 for s in samples]
            peak = after.ru_maxrss / 1024
            self.result.update(
                wall_s=wall,
                user_s=after.ru_utime - before.ru_utime,
                sys_s=after.ru_stime - before.ru_stime,
                cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                page_faults=(after.ru_minflt - before.ru_minflt)
                + (after.ru_majflt - before.ru_majflt),
                # Context switches of every thread: each hand-off between the loop
                # and an I/O thread sharing one core costs one or two.
                voluntary_switches=after.ru_nvcsw - before.ru_nvcsw,
                involuntary_switches=after.ru_nivcsw - before.ru_nivcsw,
                rss_before_mib=rss_before,
                peak_rss_mib=peak,
                rss_growth_mib=max(0.0, peak - rss_before),
                lag_p50_ms=percentile(lag_ms, 50),
                lag_p99_ms=percentile(lag_ms, 99),
                lag_max_ms=max(lag_ms, default=0.0),
                ticks=len(lag_ms),
            )


def pin(cpu: int | None) -> None:
    """Pin this process to ``cpu`` when the platform allows it."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
