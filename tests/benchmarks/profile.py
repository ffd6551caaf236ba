"""Profile one side of a benchmark scenario in-process: ``python -m tests.benchmarks.profile``.

``python -m tests.benchmarks.profile bulk`` (or ``metadata``, ``large``,
``bulk-64k``, ``list``, any scenario but ``embedded``; a scenario's faults and
pacing apply) starts the emulator in its own process (pinned to the
server core, as the suite does), then runs the library side and the baseline
doing the same work in *this* process under :mod:`cProfile`, one after the
other, and prints for each:

- the Python function calls per item (total calls ÷ files or requests): the
  figure to compare before and after a change, since it does not depend on how
  busy the machine is;
- the top entries by cumulative time and by total (own) time.

Every side runs once unprofiled on a few items first, so lazy imports and first-call
caches stay out of the profile. Only the event loop's thread is profiled: the
library's writer/hashing threads do not appear (their cost shows as CPU time in
the suite). Times under cProfile are inflated several-fold; read them as shares.

Examples::

    python -m tests.benchmarks.profile bulk
    python -m tests.benchmarks.profile metadata --top 30
    python -m tests.benchmarks.profile bulk --side lib-nomd5 --side aiohttp --out /tmp/prof
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._driver import LIB, RAW, RAW_MD5, VERIFYING, Scenario, Server, scenarios
from ._measure import pin
from ._run import library_workload, raw_workload

WARM_UP_ITEMS = 32


def default_sides(sc: Scenario) -> list[str]:
    """The library side and the baseline doing the same work."""
    return [LIB, RAW_MD5] if sc.kind == "download" else [LIB, RAW]


async def _profiled(job: dict[str, Any], profiler: cProfile.Profile | None) -> dict[str, Any]:
    factory = library_workload if job["side"].startswith("lib") else raw_workload
    workload, close = factory(job)
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        out = await workload()
        await close()  # part of the work, as in the suite
    finally:
        if profiler is not None:
            profiler.disable()
    out["wall_s"] = time.perf_counter() - start
    return out


def run_side(
    info: dict[str, Any],
    sc: Scenario,
    ids: list[str],
    side: str,
    work: Path,
    top: int,
    dump: str | None = None,
) -> str:
    """Warm up, then profile ``side`` over ``ids``; return the report (``dump``: a .prof file)."""
    base_job: dict[str, Any] = {
        **info,
        "side": side,
        "kind": sc.kind,
        "concurrency": sc.concurrency,
        "limit": sc.limit,
        "verify_md5": side in VERIFYING,
    }
    for label, chosen, profiler in (
        ("warm-up", ids[:WARM_UP_ITEMS], None),
        ("profiled", ids, cProfile.Profile()),
    ):
        directory = Path(tempfile.mkdtemp(prefix=f"{sc.name}-{side}-", dir=work))
        try:
            job = {**base_job, "ids": chosen, "directory": str(directory)}
            out = asyncio.run(_profiled(job, profiler))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        if out.get("errors"):
            raise RuntimeError(f"{side} {label} run: {out['errors']} errors")
    assert profiler is not None
    if dump:
        profiler.dump_stats(dump)
    stats = pstats.Stats(profiler)
    if sc.kind == "download":
        items, unit = int(out["files"]), "file"
    elif sc.kind == "get":
        items, unit = int(out["requests"]), "request"
    else:
        items, unit = int(out["requests"]), "page"
    total = int(stats.total_calls)  # type: ignore[attr-defined]
    text = io.StringIO()
    text.write(
        f"## {sc.name} / {side}: {items} {unit}s in {out['wall_s']:.2f}s under cProfile; "
        f"{total:,} Python calls = {total / max(items, 1):,.0f} calls per {unit}\n"
    )
    stats.stream = text  # type: ignore[attr-defined]
    stats.strip_dirs()
    for key, label in (("cumulative", "cumulative time"), ("tottime", "total (own) time")):
        text.write(f"\n### top {top} by {label}\n")
        stats.sort_stats(key).print_stats(top)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    by_name = {sc.name: sc for sc in scenarios() if not sc.embedded}
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.profile",
        description="cProfile the library side of a benchmark scenario, and its baseline.",
    )
    parser.add_argument("scenario", choices=sorted(by_name), help="the suite's scenario")
    parser.add_argument(
        "--side",
        action="append",
        choices=[
            "library",
            "lib-nomd5",
            "library-inline",
            "lib-nomd5-inline",
            "aiohttp",
            "aiohttp+md5",
        ],
        help="side to profile (repeatable; default: library and its same-work baseline)",
    )
    parser.add_argument("--count", type=int, default=None, help="items (default: the suite's)")
    parser.add_argument("--top", type=int, default=25, help="entries per listing (%(default)s)")
    parser.add_argument("--out", default=None, help="also dump <out>-<side>.prof (pstats files)")
    args = parser.parse_args(argv)
    sc = by_name[args.scenario]
    if args.count:
        if sc.kind == "download":
            sc.count = args.count
        else:
            sc.seeded = args.count
    sides = args.side or default_sides(sc)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, client_cpu = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    server = Server(seed=7, recordings=sc.seeded, cpu=server_cpu, env=env)
    try:
        if sc.kind == "download":
            ids: list[str] = server.call("add", count=sc.count, size=sc.size)["ids"]
        else:
            ids = server.call("ids")["ids"]
        pin(client_cpu)
        print(
            f"# profile: {sc.name} ({sc.what}), {len(ids)} ids, concurrency {sc.concurrency}, "
            f"Python {sys.version.split()[0]}, commit {_commit(root)}; loop thread only"
        )
        with tempfile.TemporaryDirectory(prefix="bird-profile-") as work:
            for side in sides:
                if sc.faults:
                    server.call("faults", **sc.faults)
                dump = f"{args.out}-{side}.prof" if args.out else None
                print(run_side(server.info, sc, ids, side, Path(work), args.top, dump), flush=True)
    finally:
        server.close()
    return 0


def _commit(root: Path) -> str:
    with contextlib.suppress(OSError):
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip()
    return ""


if __name__ == "__main__":
    sys.exit(main())
