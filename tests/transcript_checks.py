"""Strict checkers for SRT and WebVTT text, shared by the emulator and client tests.

They accept only what the formats allow (and what our emulator claims to send):
SRT cues numbered 1, 2, 3… with ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` timings;
WebVTT starting with ``WEBVTT``, cues with ``HH:MM:SS.mmm --> HH:MM:SS.mmm``,
no ``-->`` in cue text. Times must not run backwards. They return the cues as
``(start_ms, end_ms, text)`` so tests can compare formats with each other.
"""

from __future__ import annotations

import re
from typing import Final

_SRT_TIMING: Final = re.compile(
    r"^(\d{2}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2}):([0-5]\d):([0-5]\d),(\d{3})$"
)
_VTT_TIMING: Final = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})(?: .*)?$"
)

Cue = tuple[int, int, str]


def _ms(groups: tuple[str, ...]) -> int:
    hours, minutes, seconds, millis = (int(g) for g in groups)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def _check_order(cues: list[Cue]) -> None:
    previous_start = -1
    for start, end, text in cues:
        assert start < end, f"cue ends before it starts: {start} --> {end}"
        assert start >= previous_start, "cues out of order"
        assert text.strip(), "empty cue text"
        previous_start = start


def parse_srt(text: str) -> list[Cue]:
    """Parse SubRip strictly; AssertionError on any deviation."""
    assert "\r" not in text or "\r\n" in text
    blocks = text.replace("\r\n", "\n").strip("\n").split("\n\n")
    assert blocks and blocks != [""], "no cues"
    cues: list[Cue] = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert len(lines) >= 3, f"cue {number} is incomplete: {block!r}"
        assert lines[0] == str(number), f"cue number {lines[0]!r}, expected {number}"
        match = _SRT_TIMING.match(lines[1])
        assert match, f"bad SRT timing line {lines[1]!r}"
        body = "\n".join(lines[2:])
        assert "-->" not in body
        cues.append((_ms(match.groups()[:4]), _ms(match.groups()[4:]), body))
    _check_order(cues)
    return cues


def parse_vtt(text: str) -> list[Cue]:
    """Parse WebVTT strictly (header, optional cue identifiers, timings, text)."""
    assert text.startswith("WEBVTT"), "missing WEBVTT header"
    header, *rest = text.replace("\r\n", "\n").split("\n\n")
    first = header.split("\n")[0]
    assert first == "WEBVTT" or first.startswith(("WEBVTT ", "WEBVTT\t")), first
    blocks = [b for b in "\n\n".join(rest).strip("\n").split("\n\n") if b]
    assert blocks, "no cues"
    cues: list[Cue] = []
    for block in blocks:
        lines = block.split("\n")
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # a cue identifier
        match = _VTT_TIMING.match(lines[0])
        assert match, f"bad WebVTT timing line {lines[0]!r}"
        body = "\n".join(lines[1:])
        assert body and "-->" not in body, f"bad cue text {body!r}"
        cues.append((_ms(match.groups()[:4]), _ms(match.groups()[4:]), body))
    _check_order(cues)
    return cues


def vtt_voice(text: str) -> tuple[str, str]:
    """``<v Speaker 1>Hello`` → ``("Speaker 1", "Hello")``."""
    match = re.fullmatch(r"<v ([^>]+)>(.*)", text, re.DOTALL)
    assert match, f"expected a voice span: {text!r}"
    return match.group(1), match.group(2)
