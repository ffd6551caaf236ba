"""``bird-recordings archive``: run, submit and follow a sharded archive.

``run`` archives the shards in this process (no broker); ``submit`` sends them
to Celery workers through a broker; ``status`` reads the shard status objects
the archive keeps in the sink itself (``<sink>/.archive-status/<shard>.json``),
so it works the same for both and needs no broker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import bird_recordings as br
from bird_recordings import archive as ar

from .common import (
    EXIT_FAILED,
    EXIT_FILESYSTEM,
    EXIT_OK,
    CLIError,
    format_time,
    make_client,
    resolve_credentials,
    when_arg,
)
from .ui import UI, ItemOutcome, Status, format_bytes, short_reason

__all__ = [
    "EXIT_NO_PERMISSION",
    "EXIT_UNAVAILABLE",
    "add_archive_parser",
    "cmd_archive",
    "redact_broker",
]

# sysexits.h, like the rest of the command: nothing was written or sent in either case.
#: The bucket or the broker cannot be reached, or the bucket does not exist.
EXIT_UNAVAILABLE: Final = 69
#: The bucket refuses our credentials.
EXIT_NO_PERMISSION: Final = 77
_DENIED: Final = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
)

_SPAN: Final = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_SPAN_S: Final = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STATES: Final = ("queued", "running", "done", "failed")
_FMT: Final = argparse.RawDescriptionHelpFormatter
_WATCH_INTERVAL_S: Final = 2.0


def _shard_arg(text: str) -> timedelta:
    match = _SPAN.match(text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shard length: use 30m, 6h, 1d or 1w")
    return timedelta(seconds=int(match.group(1)) * _SPAN_S[match.group(2).lower()])


def redact_broker(url: str) -> str:
    """A broker URL without its password (``redis://:***@host:6379/0``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def add_archive_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``archive run|submit|status`` on the main parser's subcommands."""
    archive = commands.add_parser(
        "archive",
        help="archive a workspace into a folder or an S3 bucket, in shards",
        description=textwrap.dedent(
            """\
            Archive every available recording of a period into a folder or an S3
            bucket, in shards (time windows) that can run here or on Celery workers.
            Each shard skips what the sink already holds (size and MD5 verified),
            so running or submitting again is safe and downloads only what is missing.

            exit codes: 0 done, 1 some recordings or shards failed, 2 usage or
            configuration error (--since after --until…), 69 the bucket or broker
            cannot be reached or the bucket does not exist, 74 the folder cannot be
            written, 77 the bucket refuses our credentials (in these three cases
            nothing was written or sent), 130 interrupted."""
        ),
        formatter_class=_FMT,
    )
    actions = archive.add_subparsers(dest="archive_command", metavar="ACTION", required=True)

    def window(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--since", type=when_arg, required=True, metavar="WHEN", help="30d, 2024-05-01, ISO"
        )
        parser.add_argument(
            "--until", type=when_arg, metavar="WHEN", help="end of the period (default: now)"
        )
        parser.add_argument(
            "--shard", type=_shard_arg, default=ar.DEFAULT_SHARD, metavar="SPAN",
            help="shard length: 30m, 6h, 1d (default: 6h)",
        )  # fmt: skip

    def target(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--to", required=True, metavar="DIR|s3://BUCKET/PREFIX", help="where the archive goes"
        )

    run = actions.add_parser(
        "run",
        parents=[common],
        help="archive in this process (no broker)",
        epilog="examples:\n  bird-recordings archive run --since 30d --to archive/\n"
        "  bird-recordings archive run --since 2024-05-01 --until 2024-06-01 "
        "--to s3://calls/bird",
        formatter_class=_FMT,
    )
    window(run)
    target(run)
    run.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="downloads at once (default: 8)"
    )
    submit = actions.add_parser(
        "submit",
        parents=[common],
        help="send the shards to Celery workers",
        epilog="examples:\n  bird-recordings archive submit --since 30d --to s3://calls/bird "
        "--broker redis://queue:6379/0",
        formatter_class=_FMT,
    )
    window(submit)
    target(submit)
    submit.add_argument("--broker", required=True, metavar="URL", help="redis://host:port/db")
    submit.add_argument(
        "--queue", metavar="NAME", help="Celery queue (default: the app's default queue)"
    )
    status = actions.add_parser(
        "status",
        parents=[common],
        help="shards done, running, failed; recordings and bytes",
        epilog="examples:\n  bird-recordings archive status --to s3://calls/bird --watch",
        formatter_class=_FMT,
    )
    target(status)
    status.add_argument(
        "--watch", action="store_true", help="refresh until no shard is queued or running"
    )


def _open_sink(to: str) -> ar.ArchiveSink:
    try:
        return ar.open_sink(to)
    except ImportError as exc:
        raise CLIError(f"{exc}") from exc


def _sink_exit(sink: ar.ArchiveSink, exc: ar.SinkError) -> CLIError:
    if isinstance(sink, ar.DirectorySink):
        return CLIError(str(exc), EXIT_FILESYSTEM)
    if exc.code in _DENIED:
        return CLIError(str(exc), EXIT_NO_PERMISSION)
    return CLIError(str(exc), EXIT_UNAVAILABLE)


async def _check_sink(sink: ar.ArchiveSink) -> None:
    try:
        await sink.check()
    except ar.SinkError as exc:
        raise _sink_exit(sink, exc) from exc


def _plan(args: argparse.Namespace) -> list[ar.Shard]:
    until = args.until or datetime.now(UTC)
    try:
        return ar.plan_archive(args.since, until, shard=args.shard)
    except br.InvalidArgumentError as exc:
        raise CLIError(str(exc)) from exc


async def cmd_archive(args: argparse.Namespace, ui: UI) -> int:
    """Dispatch ``archive run|submit|status``."""
    action: Callable[[argparse.Namespace, UI], Any] = {
        "run": _run,
        "submit": _submit,
        "status": _status,
    }[args.archive_command]
    result: int = await action(args, ui)
    return result


async def _run(args: argparse.Namespace, ui: UI) -> int:
    plan = _plan(args)
    creds = resolve_credentials(args)
    sink = _open_sink(args.to)
    try:
        await _check_sink(sink)
        totals = {"archived": 0, "skipped": 0, "failed": 0, "bytes": 0}
        async with make_client(creds) as client:
            with ui.progress(f"archiving {len(plan)} shards into {sink}") as view:

                def show(done: ar.RecordingArchived) -> None:
                    view.finished(_outcome(done))

                # Rich draws a live bar per recording; plain and JSON print per shard.
                progress = show if ui.mode == "rich" else None
                for index, shard in enumerate(plan, 1):
                    view.status(f"shard {index}/{len(plan)} {shard.id}")
                    report = await ar.archive_shard(
                        client, shard, sink, concurrency=args.concurrency, progress=progress
                    )
                    totals["archived"] += report.archived
                    totals["skipped"] += report.skipped
                    totals["failed"] += report.failed
                    totals["bytes"] += report.bytes_archived
                    _shard_line(ui, report)
                    for rid, reason in report.failures.items():
                        ui.error(f"{rid}: {reason}")
    finally:
        await sink.aclose()
    if ui.mode == "json":
        ui.json({"summary": {"shards": len(plan), **totals}})
    else:
        ui.info(
            f"{len(plan)} shards: {totals['archived']} archived "
            f"({format_bytes(totals['bytes'])}), {totals['skipped']} already held, "
            f"{totals['failed']} failed"
        )
    return EXIT_FAILED if totals["failed"] else EXIT_OK


def _outcome(done: ar.RecordingArchived) -> ItemOutcome:
    status: Status = {
        "archived": "downloaded",
        "skipped": "up-to-date",
        "failed": "failed",
        "ignored": "not-available",
    }[done.status]  # type: ignore[assignment]
    reason = short_reason(done.error) if done.error is not None else None
    return ItemOutcome(
        recording_id=done.recording_id, status=status, size_bytes=done.size_bytes, reason=reason
    )


def _shard_line(ui: UI, report: ar.ShardReport) -> None:
    if ui.mode == "json":
        ui.json(report.to_dict())
        return
    ui.info(
        f"{report.shard.id}: {report.archived} archived, {report.skipped} held, "
        f"{report.failed} failed, {format_bytes(report.bytes_archived)}"
    )


def _celery_app(broker: str) -> Any:
    try:
        from celery import Celery
    except ImportError as exc:
        raise CLIError("archive submit needs the celery extra: pip install "
                       "'bird-recordings[celery]'") from exc  # fmt: skip
    return Celery("bird_recordings_submit", broker=broker, set_as_current=False)


def _check_broker(app: Any, broker: str) -> None:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=5)
    except Exception as exc:
        raise CLIError(
            f"cannot reach the broker at {redact_broker(broker)}: {type(exc).__name__}",
            EXIT_UNAVAILABLE,
        ) from exc


async def _submit(args: argparse.Namespace, ui: UI) -> int:
    plan = _plan(args)
    app = _celery_app(args.broker)
    sink = _open_sink(args.to)
    try:
        await _check_sink(sink)
        await asyncio.to_thread(_check_broker, app, args.broker)
        now = format_time(datetime.now(UTC))
        submitter = f"{socket.gethostname()}:{os.getpid()}"
        ids = []
        for shard in plan:
            await sink.write_status(
                shard.id,
                {"shard": shard.id, "window": shard.to_dict(), "state": "queued",
                 "worker": None, "submittedBy": submitter, "updatedAt": now},
            )  # fmt: skip
            options = {"queue": args.queue} if args.queue else {}
            result = await asyncio.to_thread(
                app.send_task, "bird_recordings.archive_shard",
                args=(shard.to_dict(), args.to), **options,
            )  # fmt: skip
            ids.append(result.id)
            if ui.mode == "json":
                ui.json({"shard": shard.id, "task": result.id})
    finally:
        await sink.aclose()
        app.close()
    ui.info(
        f"submitted {len(plan)} shards to {redact_broker(args.broker)}; follow them with: "
        f"bird-recordings archive status --to {args.to} --watch"
    )
    return EXIT_OK


def _tally(statuses: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(_STATES, 0)
    counts |= {"archived": 0, "skipped": 0, "recordings_failed": 0, "bytes": 0}
    for status in statuses:
        state = status.get("state")
        if state in counts:
            counts[state] += 1
        for key, field in (
            ("archived", "archived"),
            ("skipped", "skipped"),
            ("recordings_failed", "failed"),
            ("bytes", "bytesArchived"),
        ):
            value = status.get(field)
            if isinstance(value, int) and state in ("done", "failed"):
                counts[key] += value
    return counts


def _show_status(ui: UI, sink: ar.ArchiveSink, statuses: list[dict[str, Any]]) -> dict[str, int]:
    counts = _tally(statuses)
    if ui.mode == "json":
        ui.json({"sink": str(sink), "shards": len(statuses), **counts})
        return counts
    ui.table(
        ("shards", "queued", "running", "done", "failed", "archived", "held", "bytes"),
        [
            (
                str(len(statuses)),
                *(str(counts[s]) for s in _STATES),
                str(counts["archived"]),
                str(counts["skipped"]),
                format_bytes(counts["bytes"]),
            )
        ],
        title=f"archive {sink}",
    )
    for status in statuses:
        if status.get("state") in ("running", "failed"):
            ui.info(f"  {status.get('state')}: {status.get('shard')} on {status.get('worker')}")
    return counts


async def _status(args: argparse.Namespace, ui: UI) -> int:
    sink = _open_sink(args.to)
    try:
        while True:
            try:
                statuses = await sink.read_statuses()
            except ar.SinkError as exc:
                raise _sink_exit(sink, exc) from exc
            counts = _show_status(ui, sink, statuses)
            if not args.watch or counts["queued"] + counts["running"] == 0:
                break
            await asyncio.sleep(_WATCH_INTERVAL_S)
    finally:
        await sink.aclose()
    return EXIT_FAILED if counts["failed"] else EXIT_OK
