#!/usr/bin/env python3
"""Archive every available Bird recording of a date range into a folder.

Copy this file and run it::

    pip install bird-recordings rich
    export BIRD_ACCESS_KEY=... BIRD_WORKSPACE_ID=...
    python bulk_archive.py --since 2026-11-01 --until 2026-12-01 --dest archive/

It is resumable: run it again after an interruption (Ctrl-C, a crash, a lost
network) and files already complete are skipped — the library checks them
against the stored size and MD5 — while everything else is downloaded. A
download that was cut short never leaves a file under its final name, so there
is nothing to clean up. The exit status is 0 when every recording is on disk,
1 when some failed (they are listed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

import bird_recordings as br


def parse_time(text: str) -> datetime:
    """``2026-11-01`` or ``2026-11-01T12:00:00Z``; times without an offset are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--since", type=parse_time, required=True, help="start (inclusive)")
    parser.add_argument("--until", type=parse_time, required=True, help="end (exclusive)")
    parser.add_argument("--dest", type=Path, default=Path("archive"), help="target folder")
    parser.add_argument("--concurrency", type=int, default=8, help="downloads at once")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.since >= args.until:
        parser.error("--since must be before --until")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


async def archive(
    client: br.RecordingsClient,
    *,
    since: datetime,
    until: datetime,
    dest: Path,
    concurrency: int = 8,
    console: Console | None = None,
    show_progress: bool = True,
) -> list[br.DownloadOutcome]:
    """Download every available recording created in ``[since, until)`` into ``dest``.

    Returns one outcome per recording. Existing complete files are ``skipped``.
    """
    console = console or Console(stderr=True)
    # List first: the progress bar gets a total, and the listed Recording objects
    # carry fresh presigned URLs that save one API call per download.
    recordings = [
        rec
        async for rec in client.list_recordings(
            status="available", start_at=since, end_at=until, limit=99
        )
    ]
    start, end = since.astimezone(UTC), until.astimezone(UTC)
    span = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    console.print(f"{len(recordings)} available recordings from {span}")
    outcomes: list[br.DownloadOutcome] = []
    with Progress(
        TextColumn("[bold]archive"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[megabytes]:.1f} MB"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
    ) as progress:
        files = progress.add_task("files", total=len(recordings), megabytes=0.0)

        def on_progress(p: br.DownloadProgress) -> None:
            # Called on the event loop after each chunk: only cheap updates here.
            progress.update(
                files, completed=p.recordings_done, megabytes=p.overall_bytes_done / 1e6
            )

        async for outcome in client.download_recordings(
            recordings, dest, concurrency=concurrency, progress=on_progress
        ):
            outcomes.append(outcome)
            if outcome.error is not None:
                progress.console.print(f"[red]failed[/] {outcome.recording_id}: {outcome.error}")
    downloaded = sum(o.status == "downloaded" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    size = sum(o.size_bytes or 0 for o in outcomes if o.ok)
    console.print(
        f"downloaded {downloaded}, already complete {skipped}, failed {failed}; "
        f"{size / 1e6:.1f} MB in {dest}"
    )
    return outcomes


async def run(args: argparse.Namespace) -> int:
    """Run the archive with the parsed arguments; return the exit status."""
    try:
        client = br.RecordingsClient()  # BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID, BIRD_API_URL
    except br.ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    async with client:
        outcomes = await archive(
            client,
            since=args.since,
            until=args.until,
            dest=args.dest,
            concurrency=args.concurrency,
            show_progress=not args.no_progress,
        )
    return 0 if all(o.ok for o in outcomes) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
