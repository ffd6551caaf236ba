"""The argparse definition of ``bird-recordings``: every command with examples."""

from __future__ import annotations

import argparse
import textwrap
from typing import Final

from .common import when_arg
from .demo import DEMO_RECORDINGS, DEMO_SEED
from .naming import DEFAULT_TEMPLATE, FIELDS

__all__ = ["build_parser"]

_FMT: Final = argparse.RawDescriptionHelpFormatter
_STATUSES: Final = "accepted, ongoing, paused, completed, available, absent, failed"
_TRANSCRIPT_FORMATS: Final = ("vtt", "srt", "txt", "json")

_MAIN_EPILOG: Final = """\
examples:
  bird-recordings demo                         # no account needed: the embedded emulator
  export BIRD_ACCESS_KEY=… BIRD_WORKSPACE_ID=…
  bird-recordings list --since 7d --status available
  bird-recordings download --all --since 2024-05-01 --out archive
  bird-recordings sync --out archive --name '{created_at:%Y/%m/%d}/{id}.mp3'
  bird-recordings transcribe ID --locale en-GB --out transcripts

credentials come from BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID and BIRD_API_URL
(or --access-key, --workspace, --api-url).

exit codes: 0 all good, 1 some items failed (listed at the end),
            2 usage or configuration error, 74 a local file-system error
            (--out not writable, the manifest cannot be written or is a
            symbolic link), 75 another sync holds the folder's lock,
            130 interrupted (Ctrl-C), 143 stopped by SIGTERM.
"""


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  bird-recordings {line}" for line in lines)


def _common(*, json_flag: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--access-key",
        metavar="KEY",
        help="Bird access key (default: $BIRD_ACCESS_KEY; prefer the variable, "
        "command lines are visible to other users)",
    )
    group.add_argument(
        "--workspace", metavar="ID", help="workspace id (default: $BIRD_WORKSPACE_ID)"
    )
    group.add_argument(
        "--api-url",
        metavar="URL",
        help="API origin (default: $BIRD_API_URL or https://api.bird.com)",
    )
    if json_flag:
        group.add_argument("--json", action="store_true", help="JSON lines on stdout")
    group.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    group.add_argument(
        "-v", "--verbose", action="store_true", help="debug logs of the library on stderr"
    )
    return parent


def _filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (as list_recordings)")
    group.add_argument("--status", help=f"one of {_STATUSES}")
    group.add_argument("--direction", choices=("incoming", "outgoing"))
    group.add_argument(
        "--since",
        type=when_arg,
        metavar="WHEN",
        help="created at or after: 7d, 12h, 2024-05-01, ISO time",
    )
    group.add_argument("--until", type=when_arg, metavar="WHEN", help="created before (same forms)")
    group.add_argument("--channel", metavar="ID", help="channel id")
    group.add_argument("--call", metavar="ID", help="call id")
    group.add_argument("--source", metavar="ID", help="source id")
    group.add_argument("--from", dest="from_number", metavar="NUMBER", help="caller number")
    group.add_argument("--to", dest="to_number", metavar="NUMBER", help="called number")
    group.add_argument("--limit", type=int, metavar="N", help="at most N recordings")


def _download_options(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    group = parser.add_argument_group("files")
    group.add_argument(
        "--out", default=default_out, metavar="DIR", help=f"folder (default: {default_out})"
    )
    group.add_argument(
        "--name",
        default=DEFAULT_TEMPLATE,
        metavar="TEMPLATE",
        help=f"file name template (default: {DEFAULT_TEMPLATE}); fields: {', '.join(FIELDS)}",
    )
    group.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="downloads at once (default: 8)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``bird-recordings`` parser."""
    parser = argparse.ArgumentParser(
        prog="bird-recordings",
        description="Fetch, list, download, archive and delete Bird voice recordings.",
        epilog=_MAIN_EPILOG,
        formatter_class=_FMT,
    )
    from bird_recordings import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common()

    demo = commands.add_parser(
        "demo",
        parents=[_common(json_flag=True)],
        help="download from the embedded emulator, with faults on (no account needed)",
        description=textwrap.dedent(
            """\
            Start the Bird emulator in this process (a seeded workspace with a mix of
            statuses and sizes; a 429 burst, connections reset mid-body and URLs that
            expire early), download every available recording concurrently, verify each
            file against the emulator's SHA-256 and print a summary."""
        ),
        epilog=_examples("demo", "demo --out /tmp/demo --recordings 50"),
        formatter_class=_FMT,
    )
    demo.add_argument(
        "--out",
        default="bird-demo-recordings",
        metavar="DIR",
        help="folder (default: ./bird-demo-recordings)",
    )
    demo.add_argument(
        "--recordings",
        type=int,
        default=DEMO_RECORDINGS,
        metavar="N",
        help=f"recordings in the emulated workspace (default: {DEMO_RECORDINGS})",
    )
    demo.add_argument(
        "--seed", type=int, default=DEMO_SEED, help="emulator seed (same seed, same workspace)"
    )
    demo.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="downloads at once (default: 8)"
    )
    demo.add_argument("--no-faults", action="store_true", help="a well-behaved emulator")

    lst = commands.add_parser(
        "list",
        parents=[common],
        help="list recordings (table on a terminal, JSON lines when piped)",
        description=(
            "List recordings, newest first. A table on a terminal; "
            "JSON lines with --json or when piped."
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              bird-recordings list --since 7d
              bird-recordings list --status available --direction incoming --limit 20
              bird-recordings list --since 2024-05-01 --until 2024-06-01 | jq -r .id"""
        ),
        formatter_class=_FMT,
    )
    _filters(lst)

    get = commands.add_parser(
        "get",
        parents=[common],
        help="show recordings' metadata",
        description="Show the metadata of recordings: tables on a terminal, JSON lines otherwise.",
        epilog=_examples("get 5b74ee9e-9d45-473a-82cd-f1f7feea6bbd", "get ID1 ID2 --json"),
        formatter_class=_FMT,
    )
    get.add_argument("ids", nargs="+", metavar="ID", help="recording id")

    download = commands.add_parser(
        "download",
        parents=[common],
        help="download recordings by id, or --all matching the filters",
        description=textwrap.dedent(
            """\
            Download recordings' media with live progress. Files are written to a hidden
            temporary file, verified (length and MD5) and only then renamed into place.
            An existing file is skipped unless --overwrite. Name templates may create
            folders but cannot leave --out."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              bird-recordings download 5b74ee9e-9d45-473a-82cd-f1f7feea6bbd
              bird-recordings download --all --since 7d --out recordings --concurrency 16
              bird-recordings download --all --name '{created_at:%Y/%m/%d}/{direction}-{id}.mp3'"""
        ),
        formatter_class=_FMT,
    )
    download.add_argument("ids", nargs="*", metavar="ID", help="recording id")
    download.add_argument("--all", action="store_true", help="every recording matching the filters")
    download.add_argument("--overwrite", action="store_true", help="replace existing files")
    _download_options(download, default_out=".")
    _filters(download)

    sync = commands.add_parser(
        "sync",
        parents=[common],
        help="keep an archive folder in step with Bird (resumable, idempotent)",
        description=textwrap.dedent(
            """\
            Download what is missing or changed into --out and record each file in
            .bird-recordings-manifest.jsonl there. A recording is fetched again only when
            its status or updatedAt changed, its name changed, or its file is missing or
            has the wrong size: a second run over an up-to-date archive only lists.
            An interrupted run (Ctrl-C, SIGTERM) keeps what finished; run it again to
            continue. One sync at a time per folder (a lock); a second one exits with 75."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              bird-recordings sync --out archive
              bird-recordings sync --out archive --since 30d --name '{created_at:%Y/%m}/{id}.mp3'
              bird-recordings sync --out archive --dry-run   # what would happen
              bird-recordings sync --out archive --delete-remote --yes  # then delete from Bird"""
        ),
        formatter_class=_FMT,
    )
    _download_options(sync, default_out="bird-recordings-archive")
    sync.add_argument(
        "--delete-remote",
        action="store_true",
        help="delete each recording from Bird once its file is verified on disk (asks first)",
    )
    sync.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="list and plan only: say what would be downloaded (and deleted with "
        "--delete-remote); write nothing",
    )
    sync.add_argument(
        "--with-transcripts",
        action="store_true",
        help="also save each transcribed recording's available transcript next to its "
        "audio (<name>.<format>), recorded in the manifest",
    )
    sync.add_argument(
        "--transcript-format",
        choices=_TRANSCRIPT_FORMATS,
        default="vtt",
        help="format of saved transcripts (default: vtt)",
    )
    _filters(sync)

    transcribe = commands.add_parser(
        "transcribe",
        parents=[common],
        help="request transcriptions of recordings (optionally wait and save them)",
        description=textwrap.dedent(
            """\
            Ask Bird to transcribe each recording. With --wait, follow each transcription
            until it is available, failed or absent (nothing to transcribe); with --out,
            also save the text as <out>/<recording id>.<format> (implies --wait).
            A request is never sent twice: if one fails on a dropped connection or a 5xx,
            it may have been created anyway, so look before asking again."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              bird-recordings transcribe 5b74ee9e-9d45-473a-82cd-f1f7feea6bbd
              bird-recordings transcribe ID1 ID2 --locale nl-NL --wait --timeout 600
              bird-recordings transcribe ID1 --format srt --out transcripts"""
        ),
        formatter_class=_FMT,
    )
    transcribe.add_argument("ids", nargs="+", metavar="ID", help="recording id")
    transcribe.add_argument(
        "--locale",
        default="en-US",
        help="spoken language, as Bird spells it (default: en-US; e.g. nl-NL, en-GB-WLS)",
    )
    transcribe.add_argument(
        "--wait", action="store_true", help="wait until each transcription is done"
    )
    transcribe.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="give up waiting after S seconds per transcription (default: 300)",
    )
    transcribe.add_argument(
        "--format",
        choices=_TRANSCRIPT_FORMATS,
        default="vtt",
        help="format of saved transcripts (default: vtt)",
    )
    transcribe.add_argument("--out", metavar="DIR", help="save transcripts in DIR")
    transcribe.add_argument("--overwrite", action="store_true", help="replace existing files")

    delete = commands.add_parser(
        "delete",
        parents=[common],
        help="delete recordings from Bird (asks first)",
        description="Delete recordings from Bird. Asks for confirmation unless --yes.",
        epilog=_examples("delete 5b74ee9e-9d45-473a-82cd-f1f7feea6bbd", "delete ID1 ID2 --yes"),
        formatter_class=_FMT,
    )
    delete.add_argument("ids", nargs="+", metavar="ID", help="recording id")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    delete_transcription = commands.add_parser(
        "delete-transcription",
        parents=[common],
        help="delete transcriptions from Bird (asks first)",
        description=(
            "Delete transcriptions (by transcription id, not recording id) from Bird. "
            "The recordings stay. Asks for confirmation unless --yes."
        ),
        epilog=_examples(
            "delete-transcription 7f1c2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
            "delete-transcription TID1 TID2 --yes --json",
        ),
        formatter_class=_FMT,
    )
    delete_transcription.add_argument(
        "ids", nargs="+", metavar="TRANSCRIPTION_ID", help="transcription id"
    )
    delete_transcription.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )

    metrics = commands.add_parser(
        "metrics",
        parents=[common],
        help="show recording storage metrics",
        description="Show the workspace's recording storage metrics.",
        epilog=_examples("metrics", "metrics --source 50fa2203-66c2-4820-864a-1a8002952f4e --json"),
        formatter_class=_FMT,
    )
    metrics.add_argument("--source", metavar="ID", help="only this source id")

    from .archive import add_archive_parser

    add_archive_parser(commands, common)

    commands.add_parser(
        "emulator",
        help="run the Bird emulator as a server (see: bird-recordings emulator --help)",
        add_help=False,
    )
    return parser
