"""Rendering: rich on a terminal, plain lines when piped, JSON lines on request.

rich draws the live progress (an overall bar with recordings, bytes, rate and
ETA, plus one bar per active download) and the tables. It is the optional
``[cli]`` extra; without it, or when stdout is not a terminal, the same
information comes as plain lines, one per finished item.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

import attrs

import bird_recordings as br

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

try:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    HAVE_RICH = True
except ImportError:  # pragma: no cover - exercised only without the [cli] extra
    HAVE_RICH = False

__all__ = ["UI", "ItemOutcome", "ProgressView", "Tally", "format_bytes"]

Status = Literal["downloaded", "skipped", "not-available", "up-to-date", "exists", "failed"]
_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(size: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def short_reason(error: BaseException) -> str:
    """A one-line reason for a failed item."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


@attrs.frozen(kw_only=True)
class ItemOutcome:
    """What happened to one recording in a download, sync or demo run."""

    recording_id: str
    status: Status
    path: str | None = None
    size_bytes: int | None = None
    reason: str | None = None
    deleted_remote: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON line of this outcome."""
        data = attrs.asdict(self)
        data["id"] = data.pop("recording_id")
        return {k: v for k, v in data.items() if v is not None and v is not False}


@attrs.define
class Tally:
    """Counts of a run, for the summary."""

    seen: int = 0
    downloaded: int = 0
    not_available: int = 0
    up_to_date: int = 0
    exists: int = 0
    failed: int = 0
    deleted_remote: int = 0
    transcripts: int = 0
    bytes_downloaded: int = 0
    planned: int = 0
    failures: list[tuple[str, str]] = attrs.field(factory=list)
    started: float = attrs.field(factory=time.monotonic)
    transfers_started: float | None = None

    def begin_transfers(self) -> None:
        """Downloads start now: throughput is measured from here."""
        self.transfers_started = time.monotonic()

    def add(self, outcome: ItemOutcome) -> None:
        """Count one outcome."""
        if outcome.status == "downloaded":
            self.downloaded += 1
            self.bytes_downloaded += outcome.size_bytes or 0
        elif outcome.status == "not-available":
            self.not_available += 1
        elif outcome.status == "up-to-date":
            self.up_to_date += 1
        elif outcome.status in ("exists", "skipped"):
            self.exists += 1
        elif outcome.status == "failed":
            self.failed += 1
            self.failures.append((outcome.recording_id, outcome.reason or "failed"))
        if outcome.deleted_remote:
            self.deleted_remote += 1

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def bytes_per_s(self) -> float:
        """Download throughput since :meth:`begin_transfers` (or the start)."""
        since = self.transfers_started or self.started
        return self.bytes_downloaded / max(time.monotonic() - since, 1e-6)

    @property
    def files_per_s(self) -> float:
        """Downloaded files per second since :meth:`begin_transfers` (or the start)."""
        since = self.transfers_started or self.started
        return self.downloaded / max(time.monotonic() - since, 1e-6)

    def rows(self, stats: br.ClientStats | None) -> list[tuple[str, str]]:
        """The summary as (label, value) rows: what happened, not a wall of zeros.

        ``recordings seen``, ``downloaded``, ``failed`` and ``elapsed`` are always
        there; skips, deletions, transcripts, retries, resumes, refreshes and
        restarts only when they happened, and bytes and rates only when
        something was downloaded.
        """
        elapsed = self.elapsed_s
        rows = [
            ("recordings seen", str(self.seen)),
            ("downloaded", str(self.downloaded)),
        ]
        counted = (
            ("skipped: not available", self.not_available),
            ("skipped: up to date", self.up_to_date),
            ("skipped: file exists", self.exists),
        )
        rows += [(label, str(value)) for label, value in counted if value]
        rows.append(("failed", str(self.failed)))
        if self.deleted_remote:
            rows.append(("deleted from Bird", str(self.deleted_remote)))
        if self.transcripts:
            rows.append(("transcripts saved", str(self.transcripts)))
        if self.downloaded:
            rows += [
                ("bytes", format_bytes(self.bytes_downloaded)),
                ("throughput", f"{format_bytes(self.bytes_per_s)}/s"),
                ("files/s", f"{self.files_per_s:.1f}"),
            ]
        rows.append(("elapsed", f"{elapsed:.1f} s"))
        if stats is not None:
            repairs = (
                ("API retries", stats.api_retries),
                ("storage retries", stats.storage_retries),
                ("resumes", stats.resumes),
                ("URL refreshes", stats.url_refreshes),
                ("restarts", stats.restarts),
            )
            rows += [(label, str(value)) for label, value in repairs if value]
        return rows

    def as_json(self, stats: br.ClientStats | None) -> dict[str, Any]:
        """The summary as one JSON object."""
        data: dict[str, Any] = {
            "seen": self.seen,
            "downloaded": self.downloaded,
            "not_available": self.not_available,
            "up_to_date": self.up_to_date,
            "exists": self.exists,
            "failed": self.failed,
            "deleted_remote": self.deleted_remote,
            "transcripts": self.transcripts,
            "bytes": self.bytes_downloaded,
            "elapsed_s": round(self.elapsed_s, 3),
            "bytes_per_s": round(self.bytes_per_s),
            "files_per_s": round(self.files_per_s, 2),
            "failures": [{"id": rid, "reason": reason} for rid, reason in self.failures],
        }
        if stats is not None:
            data.update(attrs.asdict(stats))
        return data


class ProgressView:
    """Shows a bulk download as it runs. This base class shows nothing."""

    def set_total(self, total: int) -> None:
        """How many recordings will be downloaded."""

    def status(self, text: str) -> None:
        """A phase description (``listing…``)."""

    def listed(self, count: int) -> None:
        """``count`` recordings listed so far."""

    def notice(self, text: str) -> None:
        """A passing remark on the current phase (``rate-limited, retrying in 1 s``)."""

    def update(self, event: br.DownloadProgress) -> None:
        """A progress report of one download."""

    def finished(self, outcome: ItemOutcome, *, advance: bool = True) -> None:
        """One recording is done (whatever the outcome).

        ``advance=False`` for a second outcome of an item already counted (its
        transcript, its deletion from Bird): shown, but not counted again.
        """


class _PlainProgress(ProgressView):
    """One line per finished recording; nothing else."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.total: int | None = None
        self.done = 0

    def set_total(self, total: int) -> None:
        self.total = total

    def status(self, text: str) -> None:
        self.ui.info(text)

    def notice(self, text: str) -> None:
        self.ui.info(text)

    def finished(self, outcome: ItemOutcome, *, advance: bool = True) -> None:
        self.done += advance  # every item counts towards the total, shown or not
        if outcome.status in ("not-available", "up-to-date"):
            return
        count = f"[{self.done}/{self.total}] " if self.total else ""
        if outcome.status == "downloaded":
            size = format_bytes(outcome.size_bytes or 0)
            self.ui.info(f"{count}downloaded {outcome.recording_id} -> {outcome.path} ({size})")
        elif outcome.status == "failed":
            self.ui.info(f"{count}failed {outcome.recording_id}: {outcome.reason}")
        else:
            self.ui.info(f"{count}skipped {outcome.recording_id}: {outcome.reason}")


class _JSONProgress(ProgressView):
    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def finished(self, outcome: ItemOutcome, *, advance: bool = True) -> None:
        self.ui.json(outcome.to_json())


if HAVE_RICH:

    class _RateColumn(ProgressColumn):
        """Bytes per second of one download, in binary units like the rest of the output."""

        def render(self, task: Task) -> Text:
            if task.fields.get("verifying"):
                return Text("")  # all bytes are in: a rate would only be misleading
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{format_bytes(speed)}/s", style="red")


class _RichProgress(ProgressView):
    """An overall bar and one bar per active download."""

    def __init__(self, console: Console, label: str) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.overall: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False, style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[bytes]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[files_rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.active: Progress = Progress(
            TextColumn("  {task.description}", markup=False),
            BarColumn(bar_width=24),
            DownloadColumn(binary_units=True),
            _RateColumn(),
            console=console,
        )
        self.task: TaskID = self.overall.add_task(
            label, total=None, bytes="", rate="", files_rate=""
        )
        self.phase = label
        self.files_done = 0
        self.tasks: dict[str, TaskID] = {}
        self.bytes_by_id: dict[str, int] = {}
        self.bytes_done = 0
        self.started = time.monotonic()
        self.live = Live(Group(self.overall, self.active), console=console, refresh_per_second=10)

    def __enter__(self) -> _RichProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for task in list(self.tasks.values()):
            self.active.remove_task(task)
        self.tasks.clear()
        self.live.refresh()
        self.live.__exit__(None, None, None)

    def snapshot(self, width: int = 120) -> str:
        """The live display as plain text, as it would be drawn now (a seam for tests)."""
        from rich.console import Console, Group

        console = Console(width=width, color_system=None, force_terminal=False)
        with console.capture() as capture:
            console.print(Group(self.overall, self.active))
        return capture.get()

    def _rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{format_bytes(self.bytes_done / elapsed)}/s"

    def _files_rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{self.files_done / elapsed:.1f} files/s"

    def set_total(self, total: int) -> None:
        self.started = time.monotonic()
        self.overall.update(
            self.task, total=total, bytes=format_bytes(self.bytes_done), rate=self._rate()
        )

    def status(self, text: str) -> None:
        self.phase = text
        self.overall.update(self.task, description=text)

    def listed(self, count: int) -> None:
        self.status(f"listing recordings… {count} listed")

    def notice(self, text: str) -> None:
        self.overall.update(self.task, description=f"{self.phase} — {text}")

    def update(self, event: br.DownloadProgress) -> None:
        rid = event.recording_id
        previous = self.bytes_by_id.get(rid, 0)
        # A restart (the object changed) starts again from zero.
        delta = event.bytes_done - previous
        self.bytes_by_id[rid] = event.bytes_done
        self.bytes_done += delta
        if event.finished:
            # Verified and renamed (or failed): the row goes at once.
            task = self.tasks.pop(rid, None)
            if task is not None:
                self.active.remove_task(task)
            return
        task = self.tasks.get(rid)
        if task is None:
            task = self.active.add_task(rid[:8] + "…", total=event.bytes_total, verifying=False)
            self.tasks[rid] = task
        complete = event.bytes_total is not None and event.bytes_done >= event.bytes_total
        self.active.update(
            task,
            completed=event.bytes_done,
            total=event.bytes_total,
            description=rid[:8] + ("… verifying" if complete else "…"),
            verifying=complete,
        )
        self.overall.update(self.task, bytes=format_bytes(self.bytes_done), rate=self._rate())

    def finished(self, outcome: ItemOutcome, *, advance: bool = True) -> None:
        rid = outcome.recording_id
        task = self.tasks.pop(rid, None)
        if task is not None:
            self.active.remove_task(task)
        self.bytes_by_id.pop(rid, None)
        if outcome.status == "downloaded":
            self.files_done += 1
        if outcome.status == "failed":
            # Ids and reasons come from the server: never rich markup.
            line = Text.assemble(("failed", "red"), f" {rid}: {outcome.reason}")
            self.console.print(line, highlight=False)
        # Every item advances the bar, so the total (every requested item) is reached.
        self.overall.update(
            self.task,
            advance=1 if advance else 0,
            bytes=format_bytes(self.bytes_done),
            rate=self._rate(),
            files_rate=self._files_rate(),
        )


class _RetryNotices(logging.Handler):
    """Turns the library's rate-limit retry records into a notice on a view."""

    def __init__(self, view: ProgressView) -> None:
        super().__init__(logging.INFO)
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        status = getattr(record, "bird_retry_status", None)
        delay = getattr(record, "bird_retry_delay_s", None)
        if status != 429 or not isinstance(delay, int | float):
            return
        wait = f"{delay:.0f}" if delay >= 1 else f"{delay:.1f}"
        self.view.notice(f"rate-limited, retrying in {wait} s")


@contextmanager
def retry_notices(view: ProgressView) -> Iterator[None]:
    """Show rate-limit waits on ``view`` while the block runs (any log level setting).

    The library logs retries at INFO; the logger is opened to INFO for the block
    (the stderr handler keeps its own level, so nothing else becomes visible).
    """
    logger = logging.getLogger("bird_recordings")
    handler = _RetryNotices(view)
    previous = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


class UI:
    """Where and how the command speaks.

    ``mode`` is ``"rich"`` (stdout is a terminal and rich is installed),
    ``"plain"`` (lines) or ``"json"`` (JSON lines on stdout). ``quiet`` keeps
    only errors. Data and reports go to stdout; errors to stderr.
    """

    def __init__(
        self,
        mode: Literal["rich", "plain", "json"],
        *,
        quiet: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.mode = mode
        self.quiet = quiet
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._console: Console | None = None

    @classmethod
    def create(cls, *, json_output: bool = False, quiet: bool = False) -> UI:
        """Pick the mode from the flags and whether stdout is a terminal."""
        if json_output:
            return cls("json", quiet=quiet)
        if HAVE_RICH and sys.stdout.isatty():
            return cls("rich", quiet=quiet)
        return cls("plain", quiet=quiet)

    @property
    def console(self) -> Console:
        """The rich console (rich mode only)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stdout, highlight=False)
        return self._console

    # -- lines -------------------------------------------------------------------

    def info(self, text: str) -> None:
        """A human message on stdout (not with ``--quiet`` or ``--json``)."""
        if self.quiet or self.mode == "json":
            return
        if self.mode == "rich":
            self.console.print(text, markup=False)
        else:
            print(text, file=self.stdout, flush=True)

    def error(self, text: str) -> None:
        """An error line on stderr, always shown."""
        print(f"bird-recordings: {text}", file=self.stderr, flush=True)

    def json(self, obj: object) -> None:
        """One JSON line on stdout."""
        print(json.dumps(obj, ensure_ascii=False, sort_keys=True), file=self.stdout, flush=True)

    # -- tables ------------------------------------------------------------------

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
    ) -> None:
        """A table: rich on a terminal, aligned columns otherwise."""
        if self.mode == "rich":
            from rich.table import Table

            # Cells and titles hold server text (ids, statuses, channel ids): Text, not markup.
            table = Table(title=Text(title) if title is not None else None, title_justify="left")
            for column in columns:
                table.add_column(Text(column), overflow="fold")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            self.console.print(table)
            return
        if title:
            print(title, file=self.stdout)
        widths = [len(c) for c in columns]
        for row in rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        for row in [tuple(columns), *rows]:
            line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            print(line.rstrip(), file=self.stdout)
        self.stdout.flush()

    # -- bulk work ---------------------------------------------------------------

    @contextmanager
    def progress(self, label: str) -> Iterator[ProgressView]:
        """A live view of a bulk download, closed (and cleared) on exit.

        While it is open, the library's rate-limit retries are shown on it
        (``rate-limited, retrying in 1 s``), with or without ``--verbose``.
        """
        if self.mode == "json":
            yield _JSONProgress(self)
        elif self.quiet:
            yield ProgressView()
        elif self.mode == "rich":
            with _RichProgress(self.console, label) as live, retry_notices(live):
                yield live
        else:
            plain = _PlainProgress(self)
            with retry_notices(plain):
                yield plain

    def summary(
        self,
        tally: Tally,
        stats: br.ClientStats | None,
        *,
        title: str,
        interrupted: bool = False,
        notes: Sequence[str] = (),
    ) -> None:
        """The end-of-run summary, then the failures with their reasons."""
        if self.mode == "json":
            self.json({"summary": tally.as_json(stats) | {"interrupted": interrupted}})
            return
        if interrupted:
            self.error("interrupted: in-flight downloads were cancelled; run again to continue")
        if not self.quiet:
            rows = tally.rows(stats)
            if self.mode == "rich":
                from rich.table import Table

                table = Table(title=title, title_justify="left", show_header=False)
                table.add_column("what", style="bold")
                table.add_column("value", justify="right")
                for label, value in rows:
                    table.add_row(Text(label), Text(value))
                self.console.print(table)
            else:
                print(title, file=self.stdout)
                width = max(len(label) for label, _ in rows)
                for label, value in rows:
                    print(f"  {label.ljust(width)}  {value}", file=self.stdout)
                self.stdout.flush()
            for note in notes:
                self.info(note)
        if tally.failures:
            self.error(f"{len(tally.failures)} recording(s) failed:")
            for rid, reason in tally.failures:
                print(f"  {rid}: {reason}", file=self.stderr)
            self.stderr.flush()
