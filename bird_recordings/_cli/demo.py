"""``demo``: the whole library at work against the embedded emulator, in one command.

It starts :class:`bird_recordings.emulator.BirdEmulator` in this process with a
seeded workspace (a mix of statuses and sizes) and a few faults switched on —
a burst of 429s on the API, storage connections reset mid-body, presigned URLs
refused as expired early — then downloads every available recording
concurrently, checks each file against the emulator's SHA-256 of the object,
and prints a summary. No account and no network.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .common import EXIT_FAILED, EXIT_OK, CLIError, Credentials, make_client
from .naming import DEFAULT_TEMPLATE, NameTemplate
from .transfer import count_all, plan_jobs, run_interruptible, run_jobs
from .ui import UI, Tally

if TYPE_CHECKING:
    from bird_recordings.emulator import BirdEmulator

__all__ = ["DEMO_SEED", "cmd_demo"]

DEMO_SEED: Final = 20231023
DEMO_SIZES: Final = (16 * 1024, 2 * 1024 * 1024)
DEMO_RECORDINGS: Final = 300


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _verify(emu: BirdEmulator, files: Sequence[tuple[str, Path]]) -> list[tuple[str, str]]:
    """``(id, reason)`` for each file whose SHA-256 differs from the emulator's (blocking)."""
    bad = []
    for rid, path in files:
        expected = emu.media_digest(rid, "sha256")
        try:
            actual = _sha256(path)
        except OSError as exc:
            bad.append((rid, f"cannot read {path}: {exc.strerror}"))
            continue
        if actual != expected:
            bad.append((rid, f"{path.name}: SHA-256 differs from the stored object"))
    return bad


def _arm_faults(emu: BirdEmulator, recordings: int) -> None:
    # A burst of 429s on the first API calls: the listing waits out Retry-After.
    emu.faults.status(429, origin="api", count=2, retry_after=1)
    # Connections that die mid-body: resumed with a Range request at the same byte.
    emu.faults.reset(
        after_bytes=12 * 1024, count=max(3, recordings // 15), probability=0.2, origin="storage"
    )
    # Presigned URLs refused as expired before their time: refreshed via the .mp3 endpoint.
    emu.faults.expire_early(count=max(2, recordings // 40), probability=0.1)


async def cmd_demo(args: argparse.Namespace, ui: UI) -> int:
    """``demo``: emulator in-process, faults on, concurrent download, verify, summary."""
    try:
        from bird_recordings.emulator import BirdEmulator
    except ImportError as exc:  # pragma: no cover - the emulator ships with the package
        raise CLIError(f"the embedded emulator is not available: {exc}") from None
    if args.recordings < 1:
        raise CLIError("--recordings must be a positive number")
    if args.concurrency < 1:
        raise CLIError("--concurrency must be a positive number")
    out = Path(args.out).absolute()  # noqa: ASYNC240 - no I/O: joins with the cwd
    names = NameTemplate(DEFAULT_TEMPLATE, out)
    tally = Tally()
    verified = 0
    async with BirdEmulator(
        recordings=args.recordings,
        seed=args.seed,
        media_size_bytes=DEMO_SIZES,
        log_requests=False,
    ) as emu:
        if not args.no_faults:
            _arm_faults(emu, args.recordings)
        creds = Credentials(
            access_key=emu.access_key, workspace_id=emu.workspace_id, api_url=emu.base_url
        )
        ui.info(
            f"Bird emulator on {emu.base_url} (storage {emu.storage_url}): "
            f"{args.recordings} recordings, seed {args.seed}"
            + ("" if args.no_faults else "; faults on: 429 burst, resets, early URL expiry")
        )
        ui.info(f"Downloading every available recording to {out}")
        # Bird's documented 50 GET/s is kept: pages of 99 mean a few list calls,
        # and each Recording.url is used while fresh, so media need no extra API call.
        async with make_client(creds) as client:
            with ui.progress("downloading") as view:

                async def work() -> int:
                    view.status("listing recordings…")
                    recordings = []
                    async for rec in client.list_recordings(limit=99):
                        recordings.append(rec)
                        view.listed(len(recordings))
                    tally.seen = len(recordings)
                    jobs, decided = await asyncio.to_thread(plan_jobs, recordings, names)
                    view.set_total(len(jobs) + len(decided))
                    view.status("downloading")
                    count_all(tally, view, decided)
                    done: list[tuple[str, Path]] = []

                    await run_jobs(
                        client,
                        jobs,
                        concurrency=args.concurrency,
                        overwrite=True,
                        view=view,
                        tally=tally,
                        on_result=lambda job, result: done.append((job.recording.id, result.path)),
                    )
                    view.status("verifying")
                    bad = await asyncio.to_thread(_verify, emu, done)
                    for rid, reason in bad:
                        tally.failed += 1
                        tally.failures.append((rid, reason))
                    return len(done) - len(bad)

                result, interrupted = await run_interruptible(work())
                verified = result or 0
            stats = client.stats
    notes = (
        []
        if interrupted
        else [
            f"{verified} file(s) verified byte for byte (SHA-256) against the emulator's objects."
        ]
    )
    ui.summary(tally, stats, title="Demo summary", interrupted=bool(interrupted), notes=notes)
    if interrupted:
        return interrupted
    return EXIT_FAILED if tally.failed else EXIT_OK
