"""``sync``: an idempotent archive kept in step with Bird, with a manifest.

A recording is downloaded when the manifest has no entry for it, when its
``status`` or ``updatedAt`` differ from the entry, when ``--name`` now gives
it another path, or when its file is missing or has the wrong size. Nothing
else needs a media request, so a second run over an up-to-date archive only
lists.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import bird_recordings as br

from .commands import confirm, listing, name_template
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    Credentials,
    make_client,
    resolve_credentials,
)
from .manifest import Entry, Manifest, sweep_stale_temp_files
from .naming import NameTemplate
from .transcribe import sync_transcripts
from .transfer import Job, count_all, plan_jobs, run_interruptible, run_jobs
from .ui import UI, ItemOutcome, ProgressView, Tally, short_reason

__all__ = ["cmd_sync", "plan_sync"]

_MD5_BLOCK_BYTES = 1024 * 1024


def plan_sync(
    recordings: Sequence[br.Recording], names: NameTemplate, manifest: Manifest
) -> tuple[list[Job], list[ItemOutcome], list[Entry]]:
    """Jobs to download, outcomes decided now, and up-to-date entries (blocking: stats files)."""
    jobs, decided = plan_jobs(recordings, names)
    todo: list[Job] = []
    current: list[Entry] = []
    for job in jobs:
        path = job.relative.as_posix()
        entry = manifest.entries.get(job.recording.id)
        if entry is not None and entry.is_current(job.recording, path):
            try:
                size = job.target.stat().st_size
            except OSError:
                size = -1
            if size == entry.size_bytes:
                decided.append(
                    ItemOutcome(
                        recording_id=job.recording.id,
                        status="up-to-date",
                        path=path,
                        size_bytes=size,
                    )
                )
                current.append(entry)
                continue
        todo.append(job)
    return todo, decided, current


def _local_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(_MD5_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


async def _delete_remote(
    client: br.RecordingsClient,
    manifest: Manifest,
    entries: Sequence[Entry],
    view: ProgressView,
    tally: Tally,
    ui: UI,
) -> None:
    """Delete recordings from Bird whose file is on disk and matches the manifest's MD5."""
    for entry in entries:
        if entry.deleted_remote:
            continue
        target = manifest.folder / entry.path
        try:
            local = await asyncio.to_thread(_local_md5, target)
        except OSError as exc:
            reason = f"kept on Bird: cannot read {entry.path}: {exc.strerror}"
            count_all(
                tally,
                view,
                [ItemOutcome(recording_id=entry.id, status="failed", reason=reason)],
                advance=False,
            )
            continue
        if entry.md5 is not None and local != entry.md5:
            reason = f"kept on Bird: {entry.path} does not match the MD5 recorded at download"
            count_all(
                tally,
                view,
                [ItemOutcome(recording_id=entry.id, status="failed", reason=reason)],
                advance=False,
            )
            continue
        try:
            await client.delete_recording(entry.id)
        except br.NotFoundError:
            pass  # already gone: the archive holds it, which is what matters
        except br.BirdRecordingsError as exc:
            reason = f"delete failed: {short_reason(exc)}"
            count_all(
                tally,
                view,
                [ItemOutcome(recording_id=entry.id, status="failed", reason=reason)],
                advance=False,
            )
            continue
        manifest.record(Entry(**(entry.to_json() | {"deleted_remote": True})))
        tally.deleted_remote += 1
        if ui.mode == "json":
            ui.json({"id": entry.id, "status": "deleted-remote", "path": entry.path})
        elif ui.mode == "plain":
            ui.info(f"deleted from Bird {entry.id} (kept in {entry.path})")


def _dry_run_report(
    ui: UI,
    jobs: Sequence[Job],
    decided: Sequence[ItemOutcome],
    current: Sequence[Entry],
    *,
    delete_remote: bool,
) -> None:
    """What a real run would do, written as lines (or JSON lines); nothing is touched."""
    deletions = [e.id for e in current if not e.deleted_remote] + [j.recording.id for j in jobs]
    for job in jobs:
        path = job.relative.as_posix()
        if ui.mode == "json":
            ui.json({"id": job.recording.id, "status": "would-download", "path": path})
        else:
            ui.info(f"would download {job.recording.id} -> {path}")
    for outcome in decided:
        if outcome.status == "failed":
            if ui.mode == "json":
                ui.json(outcome.to_json())
            else:
                ui.info(f"would fail {outcome.recording_id}: {outcome.reason}")
    if delete_remote:
        for rid in deletions:
            if ui.mode == "json":
                ui.json({"id": rid, "status": "would-delete-remote"})
            else:
                ui.info(f"would delete {rid} on Bird (after verifying its file)")
    counts = {
        "would_download": len(jobs),
        "up_to_date": sum(1 for o in decided if o.status == "up-to-date"),
        "not_available": sum(1 for o in decided if o.status == "not-available"),
        "failed": sum(1 for o in decided if o.status == "failed"),
        "would_delete_remote": len(deletions) if delete_remote else 0,
    }
    if ui.mode == "json":
        ui.json({"dry_run": counts})
        return
    text = (
        f"dry run: {counts['would_download']} to download, {counts['up_to_date']} up to date, "
        f"{counts['not_available']} not available"
    )
    if counts["failed"]:
        text += f", {counts['failed']} with a bad name"
    if delete_remote:
        text += f", {counts['would_delete_remote']} to delete on Bird"
    ui.info(text + "; nothing was written")


async def _sync_dry_run(
    args: argparse.Namespace, ui: UI, creds: Credentials, names: NameTemplate, out: Path
) -> int:
    manifest = Manifest(out.absolute())  # noqa: ASYNC240 - no I/O: joins with the cwd
    await asyncio.to_thread(manifest.load)
    async with make_client(creds) as client:
        with ui.progress("listing") as view:

            async def work() -> tuple[list[Job], list[ItemOutcome], list[Entry]]:
                recordings = [rec async for rec in listing(client, args, view=view)]
                return await asyncio.to_thread(plan_sync, recordings, names, manifest)

            planned, stopped = await run_interruptible(work())
    if planned is None:
        ui.error("interrupted")
        return stopped
    jobs, decided, current = planned
    _dry_run_report(ui, jobs, decided, current, delete_remote=args.delete_remote)
    return EXIT_OK


async def cmd_sync(args: argparse.Namespace, ui: UI) -> int:
    """``sync --out DIR``: download what is missing or changed; keep a manifest."""
    started = time.time()
    if args.concurrency < 1:
        raise CLIError("--concurrency must be a positive number")
    out = Path(args.out)
    names = name_template(args, out)
    creds = resolve_credentials(args)
    if args.dry_run:
        return await _sync_dry_run(args, ui, creds, names, out)
    if args.delete_remote and not confirm(
        "After each recording is verified on disk it will be DELETED from Bird. Continue?",
        yes=args.yes,
    ):
        ui.error("nothing synced")
        return EXIT_FAILED
    manifest = Manifest(out.absolute())  # noqa: ASYNC240 - no I/O: joins with the cwd
    await asyncio.to_thread(manifest.lock)
    try:
        return await _sync_locked(args, ui, creds, names, manifest, started)
    finally:
        manifest.unlock()


async def _sync_locked(
    args: argparse.Namespace,
    ui: UI,
    creds: Credentials,
    names: NameTemplate,
    manifest: Manifest,
    started: float,
) -> int:
    # Under the lock no other sync writes here: what a killed run left is stale.
    await asyncio.to_thread(sweep_stale_temp_files, manifest.folder, before=started)
    await asyncio.to_thread(manifest.load)
    tally = Tally()
    async with make_client(creds) as client:
        try:
            with ui.progress("syncing") as view:

                async def work() -> None:
                    recordings = [rec async for rec in listing(client, args, view=view)]
                    tally.seen = len(recordings)
                    jobs, decided, current = await asyncio.to_thread(
                        plan_sync, recordings, names, manifest
                    )
                    await asyncio.to_thread(manifest.open)
                    view.set_total(len(jobs) + len(decided))
                    view.status("syncing")
                    count_all(tally, view, decided)
                    fetched: list[Entry] = []

                    def on_result(job: Job, result: br.DownloadResult) -> None:
                        entry = Entry.from_download(job.recording, job.relative.as_posix(), result)
                        manifest.record(entry)
                        fetched.append(entry)

                    await run_jobs(
                        client,
                        jobs,
                        concurrency=args.concurrency,
                        overwrite=True,
                        view=view,
                        tally=tally,
                        on_result=on_result,
                    )
                    if args.with_transcripts:
                        await sync_transcripts(
                            client,
                            manifest,
                            recordings,
                            fmt=args.transcript_format,
                            view=view,
                            tally=tally,
                            ui=ui,
                        )
                    if args.delete_remote:
                        view.status("deleting verified recordings from Bird")
                        await _delete_remote(client, manifest, current + fetched, view, tally, ui)

                _, interrupted = await run_interruptible(work())
        finally:
            await asyncio.to_thread(manifest.compact)
        stats = client.stats
    notes = [f"manifest: {manifest.path}"] if not ui.quiet else []
    ui.summary(tally, stats, title="Sync summary", interrupted=bool(interrupted), notes=notes)
    if interrupted:
        return interrupted
    return EXIT_FAILED if tally.failed else EXIT_OK
