"""``transcribe`` and the transcript half of ``sync --with-transcripts``.

``transcribe ID…`` asks Bird for one transcription per recording; with
``--wait`` (or ``--out``) it follows each to its end state and, with ``--out``,
saves the text as ``<out>/<recording id>.<format>``. A transcription request is
a POST that the library never retries: an id whose request failed is reported
and left for the user to check (``bird-recordings`` prints what to run).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

import bird_recordings as br

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    make_client,
    resolve_credentials,
)
from .manifest import Entry, Manifest
from .transfer import run_interruptible
from .ui import UI, ItemOutcome, ProgressView, Tally, short_reason

__all__ = [
    "check_locale_arg",
    "cmd_delete_transcription",
    "cmd_transcribe",
    "sync_transcripts",
    "transcript_relative",
]

_CONCURRENCY = 8


def check_locale_arg(locale: str) -> str:
    """The ``--locale``, checked as the library checks it (exit 2 with suggestions)."""
    # The library's own check (private), so the list and the suggestions are the same.
    import bird_recordings._transcriptions as tx

    try:
        return tx.check_locale(locale)
    except br.InvalidArgumentError as exc:
        raise CLIError(str(exc)) from None


@attrs.define
class _Report:
    requested: int = 0
    available: int = 0
    failed: list[tuple[str, str]] = attrs.field(factory=list)
    fatal: BaseException | None = None


def _line(ui: UI, data: dict[str, Any], text: str) -> None:
    if ui.mode == "json":
        ui.json({k: v for k, v in data.items() if v is not None})
    else:
        ui.info(text)


async def cmd_transcribe(args: argparse.Namespace, ui: UI) -> int:
    """``transcribe ID… [--wait] [--out DIR]``: request, follow and save transcriptions."""
    locale = check_locale_arg(args.locale)
    if args.timeout is not None and not args.timeout > 0:
        raise CLIError("--timeout must be a positive number of seconds")
    wait = args.wait or args.out is not None
    out = Path(args.out) if args.out is not None else None
    ids: list[str] = list(dict.fromkeys(args.ids))
    creds = resolve_credentials(args)
    report = _Report()
    async with make_client(creds) as client:
        limit = asyncio.Semaphore(_CONCURRENCY)

        def fail(rid: str, reason: str, tid: str | None = None, status: str = "failed") -> None:
            report.failed.append((rid, reason))
            data = {"id": rid, "transcription_id": tid, "status": status, "reason": reason}
            if ui.mode == "json":
                ui.json({k: v for k, v in data.items() if v is not None})

        async def one(rid: str) -> None:
            try:
                async with limit:
                    created = await client.create_transcription(rid, locale)
            except (br.AuthenticationError, br.PermissionDeniedError) as exc:
                report.fatal = report.fatal or exc
                return
            except br.BirdRecordingsError as exc:
                reason = short_reason(exc)
                if isinstance(exc, br.APIConnectionError | br.ServerError):
                    # A POST is never retried: it may exist anyway.
                    reason += " (it may have been created anyway: look before asking again)"
                fail(rid, reason)
                return
            report.requested += 1
            if not wait:
                _line(
                    ui,
                    {
                        "id": rid,
                        "transcription_id": created.id,
                        "status": str(created.status),
                        "locale": created.locale,
                    },
                    f"requested {created.id} for {rid} ({created.status}, {created.locale})",
                )
                return
            try:
                done = await client.wait_for_transcription(created, timeout_s=args.timeout)
            except br.TranscriptionFailedError as exc:
                fail(rid, str(exc), created.id, str(exc.status))
                return
            except br.TranscriptionTimeoutError as exc:
                fail(rid, str(exc), created.id, "timeout")
                return
            except br.BirdRecordingsError as exc:
                fail(rid, short_reason(exc), created.id)
                return
            path: Path | None = None
            if out is not None:
                try:
                    async with limit:
                        result = await client.download_transcription(
                            done,
                            out / f"{Path(rid).name}.{args.format}",
                            format=args.format,
                            overwrite=args.overwrite,
                        )
                except br.DestinationExistsError:
                    fail(rid, "the file exists (--overwrite replaces it)", done.id)
                    return
                except br.BirdRecordingsError as exc:
                    fail(rid, short_reason(exc), done.id)
                    return
                path = result.path
            report.available += 1
            shown = f" -> {path}" if path is not None else ""
            _line(
                ui,
                {
                    "id": rid,
                    "transcription_id": done.id,
                    "status": str(done.status),
                    "locale": done.locale,
                    "path": path.as_posix() if path is not None else None,
                },
                f"available {done.id} for {rid}{shown}",
            )

        async def work() -> None:
            async with asyncio.TaskGroup() as group:
                for rid in ids:
                    group.create_task(one(rid))

        _, interrupted = await run_interruptible(work())
    if report.fatal is not None:
        raise report.fatal
    if ui.mode != "json" and not ui.quiet:
        done_word = "available" if wait else "requested"
        count = report.available if wait else report.requested
        ui.info(f"{count} of {len(ids)} transcription(s) {done_word}, {len(report.failed)} failed")
    for rid, reason in report.failed:
        ui.error(f"{rid}: {reason}")
    if interrupted:
        ui.error("interrupted: requested transcriptions carry on at Bird")
        return interrupted
    return EXIT_FAILED if report.failed else EXIT_OK


async def cmd_delete_transcription(args: argparse.Namespace, ui: UI) -> int:
    """``delete-transcription ID…``: delete transcriptions from Bird after confirmation.

    The same rules as ``delete``: a ``[y/N]`` question on a terminal, ``--yes``
    to answer it, and no terminal without ``--yes`` is a refusal (exit 2).
    """
    from .commands import confirm

    ids: list[str] = list(dict.fromkeys(args.ids))
    creds = resolve_credentials(args)
    if not confirm(
        f"Delete {len(ids)} transcription(s) from Bird? This cannot be undone.", yes=args.yes
    ):
        ui.error("nothing deleted")
        return EXIT_FAILED
    failures: list[tuple[str, str]] = []
    async with make_client(creds) as client:
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def delete(tid: str) -> None:
            async with limit:
                try:
                    await client.delete_transcription(tid)
                except (br.AuthenticationError, br.PermissionDeniedError):
                    raise
                except br.BirdRecordingsError as exc:
                    failures.append((tid, short_reason(exc)))
                    if ui.mode == "json":
                        ui.json(
                            {"transcription_id": tid, "status": "failed", "reason": failures[-1][1]}
                        )
                    return
            if ui.mode == "json":
                ui.json({"transcription_id": tid, "status": "deleted"})
            else:
                ui.info(f"deleted transcription {tid}")

        try:
            async with asyncio.TaskGroup() as group:
                for tid in ids:
                    group.create_task(delete(tid))
        except* (br.AuthenticationError, br.PermissionDeniedError) as refused:
            raise refused.exceptions[0] from None
    for tid, reason in failures:
        ui.error(f"{tid}: {reason}")
    return EXIT_FAILED if failures else EXIT_OK


# --- sync --with-transcripts ---------------------------------------------------------------


def transcript_relative(media_path: str, fmt: str) -> str:
    """The transcript's path next to the audio: ``2024/05/x.mp3`` → ``2024/05/x.vtt``."""
    return PurePosixPath(media_path).with_suffix(f".{fmt}").as_posix()


def _needs_transcript(entry: Entry, folder: Path, fmt: str) -> bool:
    """True unless the entry names a transcript of this format that is on disk (blocking)."""
    if entry.transcript_id is None or entry.transcript_format != fmt or not entry.transcript_path:
        return True
    try:
        size = (folder / entry.transcript_path).stat().st_size
    except OSError:
        return True
    return size != entry.transcript_size_bytes


async def sync_transcripts(
    client: br.RecordingsClient,
    manifest: Manifest,
    recordings: Sequence[br.Recording],
    *,
    fmt: str,
    view: ProgressView,
    tally: Tally,
    ui: UI,
) -> None:
    """Save the available transcript of every archived, transcribed recording; record it.

    Only recordings whose ``transcription`` flag is set and whose audio is in the
    manifest are considered; one already saved in this format (and present with
    its recorded size) is not fetched again, so an up-to-date archive costs no
    transcription request at all.
    """
    flagged = [
        manifest.entries[rec.id]
        for rec in recordings
        if rec.is_available and rec.transcription and rec.id in manifest.entries
    ]
    needed = [
        entry
        for entry, missing in zip(
            flagged,
            await asyncio.to_thread(
                lambda: [_needs_transcript(e, manifest.folder, fmt) for e in flagged]
            ),
            strict=True,
        )
        if missing
    ]
    if not needed:
        return
    view.status("looking up transcriptions…")
    wanted = {entry.id for entry in needed}
    latest: dict[str, br.Transcription] = {}
    async for transcription in client.list_transcriptions(limit=99):
        rid = transcription.recording_id
        if rid not in wanted or not transcription.is_available:
            continue
        known = latest.get(rid)
        if known is None or transcription.updated_at > known.updated_at:
            latest[rid] = transcription
    view.status("saving transcripts")
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def save(entry: Entry) -> None:
        transcription = latest.get(entry.id)
        if transcription is None:
            return  # flagged, but no available transcription listed: nothing to save
        relative = transcript_relative(entry.path, fmt)
        try:
            async with limit:
                result = await client.download_transcription(
                    transcription,
                    manifest.folder / relative,
                    format=fmt,  # type: ignore[arg-type]
                    overwrite=True,
                )
        except br.BirdRecordingsError as exc:
            outcome = ItemOutcome(
                recording_id=entry.id,
                status="failed",
                reason=f"transcript: {short_reason(exc)}",
            )
            tally.add(outcome)
            view.finished(outcome, advance=False)
            return
        current = manifest.entries.get(entry.id, entry)
        manifest.record(
            attrs.evolve(
                current,
                transcript_id=transcription.id,
                transcript_path=relative,
                transcript_format=fmt,
                transcript_size_bytes=result.size_bytes,
            )
        )
        tally.transcripts += 1
        if ui.mode == "json":
            ui.json(
                {
                    "id": entry.id,
                    "status": "transcript-saved",
                    "transcription_id": transcription.id,
                    "path": relative,
                    "size_bytes": result.size_bytes,
                }
            )
        elif ui.mode == "plain":
            ui.info(f"transcript {transcription.id} of {entry.id} -> {relative}")

    async with asyncio.TaskGroup() as group:
        for entry in needed:
            group.create_task(save(entry))
