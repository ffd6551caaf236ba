"""The commands that talk to Bird: list, get, download, delete, metrics."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import bird_recordings as br

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    file_system_error,
    format_time,
    jsonable,
    list_filters,
    make_client,
    recording_json,
    resolve_credentials,
)
from .manifest import sweep_unless_syncing
from .naming import NameTemplate, TemplateError
from .transfer import count_all, plan_jobs, run_interruptible, run_jobs
from .ui import UI, ItemOutcome, ProgressView, Tally, format_bytes, short_reason

__all__ = [
    "cmd_delete",
    "cmd_download",
    "cmd_get",
    "cmd_list",
    "cmd_metrics",
    "confirm",
    "listing",
]

PAGE_SIZE = 99  # Bird's maximum: the fewest requests for a full listing


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise CLIError("--limit must be a positive number")


async def listing(
    client: br.RecordingsClient, args: argparse.Namespace, *, view: ProgressView | None = None
) -> AsyncIterator[br.Recording]:
    """Recordings matching the filter flags, at most ``--limit`` of them.

    ``view`` shows a running count (``listing recordings… 198 listed``).
    """
    limit: int | None = getattr(args, "limit", None)
    _check_limit(limit)
    page_size = min(PAGE_SIZE, limit) if limit else PAGE_SIZE
    try:
        pager = client.list_recordings(limit=page_size, **list_filters(args))
    except br.InvalidArgumentError as exc:
        raise CLIError(str(exc)) from None
    count = 0
    if view is not None:
        view.status("listing recordings…")
    async for rec in pager:
        yield rec
        count += 1
        if view is not None:
            view.listed(count)
        if limit is not None and count >= limit:
            return


def _row(rec: br.Recording) -> tuple[str, ...]:
    return (
        rec.id,
        format_time(rec.created_at),
        str(rec.status),
        str(rec.direction or ""),
        "" if rec.duration is None else f"{rec.duration} s",
        str(rec.source),
        rec.channel_id or "",
    )


_COLUMNS = ("id", "created", "status", "direction", "duration", "source", "channel")


async def cmd_list(args: argparse.Namespace, ui: UI) -> int:
    """``list``: a table on a terminal, JSON lines with ``--json`` or when piped."""
    creds = resolve_credentials(args)
    async with make_client(creds) as client:
        if ui.mode != "rich" and (args.json or not sys.stdout.isatty()):
            async for rec in listing(client, args):
                ui.json(recording_json(rec))
            return EXIT_OK
        rows = [_row(rec) async for rec in listing(client, args)]
    ui.table(_COLUMNS, rows)
    if not ui.quiet:
        ui.info(f"{len(rows)} recording(s)")
    return EXIT_OK


def _detail_rows(rec: br.Recording) -> list[tuple[str, str]]:
    data = recording_json(rec)
    rows = []
    for key, value in data.items():
        if isinstance(value, dict | list):
            text = ", ".join(f"{k}={v}" for k, v in _flatten(value).items() if v not in (None, ""))
        else:
            text = str(value)
        rows.append((key, text))
    return rows


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
    else:
        out[prefix.rstrip(".")] = value
    return out


async def cmd_get(args: argparse.Namespace, ui: UI) -> int:
    """``get ID…``: metadata as tables (terminal) or JSON lines."""
    creds = resolve_credentials(args)
    ids: list[str] = list(dict.fromkeys(args.ids))
    found: dict[str, br.Recording] = {}
    failures: list[tuple[str, str]] = []
    async with make_client(creds) as client:
        async for outcome in client.get_recordings(ids, concurrency=8):
            if outcome.recording is not None:
                found[outcome.recording_id] = outcome.recording
            else:
                failures.append((outcome.recording_id, short_reason(outcome.error or Exception())))
    for rid in ids:
        rec = found.get(rid)
        if rec is None:
            continue
        if ui.mode == "rich" and not args.json:
            ui.table(("field", "value"), _detail_rows(rec), title=f"recording {rid}")
        else:
            ui.json(recording_json(rec))
    for rid, reason in failures:
        ui.error(f"{rid}: {reason}")
    return EXIT_FAILED if failures else EXIT_OK


def confirm(question: str, *, yes: bool) -> bool:
    """Ask on the terminal; ``--yes`` answers for the user. No terminal and no ``--yes``: refuse.

    Raises:
        CLIError: stdin is not a terminal and ``yes`` is false (exit 2).
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CLIError("refusing to delete without confirmation: pass --yes")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


async def cmd_delete(args: argparse.Namespace, ui: UI) -> int:
    """``delete ID…``: delete recordings from Bird after confirmation."""
    ids: list[str] = list(dict.fromkeys(args.ids))
    creds = resolve_credentials(args)
    if not confirm(
        f"Delete {len(ids)} recording(s) from Bird? This cannot be undone.", yes=args.yes
    ):
        ui.error("nothing deleted")
        return EXIT_FAILED
    failures: list[tuple[str, str]] = []
    async with make_client(creds) as client:
        limit = asyncio.Semaphore(8)

        async def delete(rid: str) -> None:
            async with limit:
                try:
                    await client.delete_recording(rid)
                except br.BirdRecordingsError as exc:
                    failures.append((rid, short_reason(exc)))
                    return
            if ui.mode == "json":
                ui.json({"id": rid, "status": "deleted"})
            else:
                ui.info(f"deleted {rid}")

        async with asyncio.TaskGroup() as group:
            for rid in ids:
                group.create_task(delete(rid))
    for rid, reason in failures:
        ui.error(f"{rid}: {reason}")
    return EXIT_FAILED if failures else EXIT_OK


async def cmd_metrics(args: argparse.Namespace, ui: UI) -> int:
    """``metrics``: the workspace's recording storage."""
    creds = resolve_credentials(args)
    async with make_client(creds) as client:
        metrics = await client.get_storage_metrics(args.source)
    if ui.mode == "json" or args.json or not sys.stdout.isatty():  # as list and get do
        ui.json(jsonable(metrics))
        return EXIT_OK
    rows = [("recordings", str(metrics.counter))]
    if metrics.duration is not None:
        rows.append(("duration", f"{metrics.duration} s"))
    if metrics.updated_at is not None:
        rows.append(("updated", format_time(metrics.updated_at)))
    for day, size in sorted(metrics.daily_storage_usage.items()):
        rows.append((f"storage {day}", format_bytes(size)))
    ui.table(("metric", "value"), rows, title="Storage metrics")
    return EXIT_OK


def name_template(args: argparse.Namespace, out: Path) -> NameTemplate:
    """The checked ``--name`` template (exit 2 when it is bad or escapes ``--out``)."""
    try:
        return NameTemplate(args.name, out)
    except TemplateError as exc:
        raise CLIError(str(exc)) from None


def prepare_out(out: Path) -> None:
    """Create ``--out`` and check that files can be created in it (blocking).

    Raises:
        CLIError: it cannot be created or written (exit 74), so the run stops
            with one line instead of failing every recording the same way.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise file_system_error(f"write to {out}", exc) from None


async def cmd_download(args: argparse.Namespace, ui: UI) -> int:
    """``download ID… | --all``: download media with live progress."""
    started = time.time()
    if args.ids and args.all:
        raise CLIError("give recording ids or --all, not both")
    if not args.ids and not args.all:
        raise CLIError("give recording ids, or --all to download every matching recording")
    if args.concurrency < 1:
        raise CLIError("--concurrency must be a positive number")
    out = Path(args.out)
    names = name_template(args, out)
    creds = resolve_credentials(args)
    await asyncio.to_thread(prepare_out, out)
    await asyncio.to_thread(sweep_unless_syncing, out, before=started)
    tally = Tally()
    async with make_client(creds) as client:
        with ui.progress("downloading") as view:

            async def work() -> None:
                recordings: list[br.Recording] = []
                lookups: list[ItemOutcome] = []
                if args.all:
                    recordings = [rec async for rec in listing(client, args, view=view)]
                else:
                    ids = list(dict.fromkeys(args.ids))
                    view.set_total(len(ids))
                    view.status("looking up recordings…")
                    async for outcome in client.get_recordings(ids, concurrency=8):
                        if outcome.recording is not None:
                            recordings.append(outcome.recording)
                        else:
                            lookups.append(
                                ItemOutcome(
                                    recording_id=outcome.recording_id,
                                    status="failed",
                                    reason=short_reason(outcome.error or Exception()),
                                )
                            )
                tally.seen = len(recordings) + len(lookups)
                jobs, decided = await asyncio.to_thread(plan_jobs, recordings, names)
                # Every requested item counts: failed look-ups and skips included.
                view.set_total(len(lookups) + len(decided) + len(jobs))
                view.status("downloading")
                count_all(tally, view, lookups + decided)

                await run_jobs(
                    client,
                    jobs,
                    concurrency=args.concurrency,
                    overwrite=args.overwrite,
                    view=view,
                    tally=tally,
                )

            _, interrupted = await run_interruptible(work())
        stats = client.stats
    ui.summary(tally, stats, title="Download summary", interrupted=bool(interrupted))
    if interrupted:
        return interrupted
    return EXIT_FAILED if tally.failed else EXIT_OK
