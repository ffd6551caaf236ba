"""The ``bird-recordings`` command line.

``bird-recordings demo`` downloads from the embedded emulator with faults on;
``list``, ``get``, ``download``, ``sync``, ``delete``, ``metrics``,
``transcribe`` and ``delete-transcription`` work on a
real Bird workspace (``BIRD_ACCESS_KEY``, ``BIRD_WORKSPACE_ID``);
``emulator`` runs the emulator as a server. Run ``bird-recordings --help``.

Exit codes: 0 all good, 1 some items failed, 2 usage or configuration error,
74 a local file-system error, 75 another sync holds the folder, 130 interrupted
(SIGINT), 143 stopped (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import bird_recordings as br

from ._cli.archive import cmd_archive
from ._cli.commands import cmd_delete, cmd_download, cmd_get, cmd_list, cmd_metrics
from ._cli.common import (
    EXIT_FAILED,
    EXIT_FILESYSTEM,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
    setup_logging,
)
from ._cli.demo import cmd_demo
from ._cli.parser import build_parser
from ._cli.sync import cmd_sync
from ._cli.transcribe import cmd_delete_transcription, cmd_transcribe
from ._cli.ui import UI

__all__ = ["main"]

Command = Callable[[argparse.Namespace, UI], Coroutine[Any, Any, int]]

_COMMANDS: dict[str, Command] = {
    "demo": cmd_demo,
    "list": cmd_list,
    "get": cmd_get,
    "download": cmd_download,
    "sync": cmd_sync,
    "delete": cmd_delete,
    "metrics": cmd_metrics,
    "transcribe": cmd_transcribe,
    "archive": cmd_archive,
    "delete-transcription": cmd_delete_transcription,
}


def _secret(args: argparse.Namespace) -> str | None:
    import os

    return getattr(args, "access_key", None) or os.environ.get("BIRD_ACCESS_KEY")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bird-recordings`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["emulator"]:
        from .emulator import main as emulator_main

        try:
            return emulator_main(arguments[1:], prog="bird-recordings emulator")
        except SystemExit as exc:  # its argparse: --help or a usage error
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    ui = UI.create(json_output=getattr(args, "json", False), quiet=args.quiet)
    setup_logging(verbose=args.verbose, secret=_secret(args))
    command = _COMMANDS[args.command]
    try:
        return asyncio.run(command(args, ui))
    except CLIError as exc:
        ui.error(str(exc))
        return exc.code
    except (br.AuthenticationError, br.PermissionDeniedError) as exc:
        ui.error(f"{exc} — check BIRD_ACCESS_KEY and BIRD_WORKSPACE_ID")
        return EXIT_USAGE
    except (br.ConfigurationError, br.InvalidArgumentError) as exc:
        ui.error(str(exc))
        return EXIT_USAGE
    except br.BirdRecordingsError as exc:
        ui.error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        ui.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `bird-recordings list | head`: the reader left; that is not an error.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a local file-system failure the command did not foresee
        where = f" ({exc.filename})" if exc.filename else ""
        ui.error(f"file system: {exc.strerror or type(exc).__name__}{where}")
        return EXIT_FILESYSTEM
