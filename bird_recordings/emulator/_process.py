"""Running the emulator as a process: argument parsing, the export lines, clean shutdown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TextIO

__all__ = ["build_parser", "main"]


def _size(text: str) -> int | tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        return (int(low), int(high)) if sep else int(low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX bytes, got {text!r}") from None


_EPILOG = """\
It prints the export lines that point the bird-recordings command (or your
own code) at it, and serves until Ctrl-C or SIGTERM.

examples:
  {prog} --port 8080
  {prog} --port 8080 --recordings 500 --seed 7
  {prog} --media-size 1000000-5000000 --url-expires-s 60
  {prog} --port 8080 &   # then paste the printed export lines, and:
  bird-recordings sync --out archive
"""


def build_parser(prog: str = "python -m bird_recordings.emulator") -> argparse.ArgumentParser:
    """The command line of the emulator process (the CLI's ``emulator`` subcommand reuses it)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local Bird Voice Recordings API and S3-like storage origin.",
        epilog=_EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    parser.add_argument("--storage-port", type=int, default=0, help="storage port (0: any)")
    parser.add_argument("--recordings", type=int, default=50, help="seeded recordings")
    parser.add_argument("--seed", type=int, default=0, help="seed of recordings, key and media")
    parser.add_argument(
        "--url-expires-s", type=int, default=600, help="X-Amz-Expires of presigned URLs"
    )
    parser.add_argument(
        "--media-size",
        type=_size,
        default=(16_384, 262_144),
        metavar="N|MIN-MAX",
        help="media size in bytes, or a range (default: 16384-262144)",
    )
    parser.add_argument("--access-key", default=None, help="access key (default: from seed)")
    parser.add_argument("--workspace-id", default=None, help="workspace id (default: from seed)")
    parser.add_argument(
        "--no-request-log", action="store_true", help="do not keep a log of requests (benchmarks)"
    )
    parser.add_argument(
        "--transcript-delivery",
        choices=("body", "redirect"),
        default="body",
        help="transcript content as a 200 body or a 307 to storage (default: body)",
    )
    parser.add_argument(
        "--transcription-schedule",
        type=_schedule,
        default=(2.0, 7.0),
        metavar="ACCEPTED_S,ONGOING_S",
        help="seconds a transcription is accepted, then ongoing (default: 2,7)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_S",
        help="enforce Bird's per-workspace GET limit, e.g. 50 (429 + Retry-After; default: off)",
    )
    return parser


def _schedule(text: str) -> tuple[float, float]:
    try:
        accepted, ongoing = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected two numbers: ACCEPTED_S,ONGOING_S") from None
    if accepted < 0 or ongoing < 0:
        raise argparse.ArgumentTypeError("the schedule's seconds must be >= 0")
    return accepted, ongoing


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    from ._emulator import BirdEmulator

    emu = BirdEmulator(
        recordings=args.recordings,
        seed=args.seed,
        url_expires_s=args.url_expires_s,
        media_size_bytes=args.media_size,
        access_key=args.access_key,
        workspace_id=args.workspace_id,
        host=args.host,
        api_port=args.port,
        storage_port=args.storage_port,
        log_requests=not args.no_request_log,
        transcript_delivery=args.transcript_delivery,
        transcription_schedule_s=args.transcription_schedule,
        rate_limit=args.rate_limit,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with emu:
        # Steady state before anyone connects: ETags of the seeded media are known.
        await emu.wait_etags()
        out.write(
            f"export BIRD_API_URL={emu.base_url}\n"
            f"export BIRD_ACCESS_KEY={emu.access_key}\n"
            f"export BIRD_WORKSPACE_ID={emu.workspace_id}\n"
            f"# storage origin: {emu.storage_url}\n"
            f"# {len(emu.recordings)} recordings, seed {args.seed}; Ctrl+C or SIGTERM stops\n"
        )
        out.flush()
        await stop.wait()
    return 0


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM; returns the exit status (0 when stopped).

    Prints ``export BIRD_API_URL=… BIRD_ACCESS_KEY=… BIRD_WORKSPACE_ID=…`` lines
    (one per variable, flushed), then comment lines with the storage origin.
    ``prog`` is the name ``--help`` shows (``bird-recordings emulator`` from the CLI).
    """
    parser = build_parser() if prog is None else build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args, sys.stdout))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
