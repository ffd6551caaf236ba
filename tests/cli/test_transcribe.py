"""transcribe and sync --with-transcripts: the real command against the emulator.

The command polls on the real clock, so the emulator here finishes transcriptions
at once (schedule ``(0, 0)``): every end state is reached on the first poll and
nothing sleeps. The timeout case waits a fraction of a second of real time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bird_recordings.emulator import BirdEmulator
from tests.transcript_checks import parse_srt, parse_vtt

from .conftest import Runner
from .test_sync import manifest_entries


@pytest.fixture
async def emu() -> AsyncIterator[BirdEmulator]:
    async with BirdEmulator(
        recordings=24,
        seed=5,
        media_size_bytes=(16_384, 65_536),
        transcription_schedule_s=(0, 0),
    ) as emulator:
        yield emulator


def fresh(emu: BirdEmulator) -> str:
    return emu.add_recording(status="available", transcription=False, size_bytes=30_000).id


def posts(emu: BirdEmulator) -> list[str]:
    return [r.path for r in emu.requests if r.method == "POST"]


# transcribe ----------------------------------------------------------------------------


async def test_transcribe_requests_one_per_id(run: Runner, emu: BirdEmulator) -> None:
    first, second = fresh(emu), fresh(emu)
    emu.transcription_schedule_s = (60, 60)
    result = await run("transcribe", first, second, first, "--locale", "nl-NL", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.json_lines()
    assert sorted(line["id"] for line in lines) == sorted([first, second])
    assert {line["status"] for line in lines} == {"accepted"}
    assert {line["locale"] for line in lines} == {"nl-NL"}
    assert len(posts(emu)) == 2
    assert {t.recording_id for t in emu.transcriptions.values()} >= {first, second}


async def test_transcribe_wait_and_save(run: Runner, emu: BirdEmulator, tmp_path: Path) -> None:
    rid = fresh(emu)
    result = await run("transcribe", rid, "--format", "srt", "--out", "texts")
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "texts" / f"{rid}.srt"
    assert "available" in result.stdout and str(saved.name) in result.stdout
    [tid] = [t.id for t in emu.transcriptions.values() if t.recording_id == rid]
    assert saved.read_bytes() == emu.transcript_content(tid, "srt")
    parse_srt(saved.read_text())
    assert [p.name for p in (tmp_path / "texts").iterdir()] == [saved.name]

    # Again: the file exists, so that one fails (and asks for --overwrite).
    result = await run("transcribe", rid, "--out", "texts", "--format", "srt")
    assert result.returncode == 1
    assert "--overwrite" in result.stderr
    result = await run("transcribe", rid, "--out", "texts", "--format", "srt", "--overwrite")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("outcome", ["failed", "absent"])
async def test_transcribe_wait_reports_failures(
    run: Runner, emu: BirdEmulator, outcome: str
) -> None:
    good, bad = fresh(emu), fresh(emu)
    emu.transcription_outcomes[bad] = outcome  # type: ignore[assignment]
    result = await run("transcribe", good, bad, "--wait", "--json")
    assert result.returncode == 1
    by_id = {line["id"]: line for line in result.json_lines()}
    assert by_id[good]["status"] == "available"
    assert by_id[bad]["status"] == outcome
    assert bad in result.stderr


async def test_transcribe_timeout(run: Runner, emu: BirdEmulator) -> None:
    rid = fresh(emu)
    emu.transcription_schedule_s = (0, 3600)
    result = await run("transcribe", rid, "--wait", "--timeout", "0.3", "--json")
    assert result.returncode == 1
    [line] = result.json_lines()
    assert line["status"] == "timeout"
    assert "did not finish within 0.3 s" in result.stderr


async def test_transcribe_usage_errors_send_nothing(run: Runner, emu: BirdEmulator) -> None:
    rid = fresh(emu)
    emu.clear_requests()
    result = await run("transcribe", rid, "--locale", "en-us")
    assert result.returncode == 2
    assert "'en-US'" in result.stderr
    assert result.stderr.count("\n") == 1
    result = await run("transcribe", rid, "--wait", "--timeout", "0")
    assert result.returncode == 2
    result = await run("transcribe", rid, "--format", "docx")
    assert result.returncode == 2
    assert emu.requests == []


async def test_transcribe_errors_per_id_and_wrong_key(run: Runner, emu: BirdEmulator) -> None:
    live = emu.add_recording(status="ongoing").id
    result = await run("transcribe", live, fresh(emu))
    assert result.returncode == 1
    assert live in result.stderr
    assert "422" in result.stderr
    result = await run("transcribe", fresh(emu), env=run.env() | {"BIRD_ACCESS_KEY": "nope-123"})
    assert result.returncode == 2
    assert "401" in result.stderr


async def test_a_dropped_post_is_reported_not_repeated(run: Runner, emu: BirdEmulator) -> None:
    rid = fresh(emu)
    emu.faults.reset(origin="api", method="POST", after_bytes=5)
    result = await run("transcribe", rid)
    assert result.returncode == 1
    assert "look before asking again" in result.stderr
    assert len(posts(emu)) == 1


# sync --with-transcripts ---------------------------------------------------------------------


def transcribed(emu: BirdEmulator) -> dict[str, str]:
    """recording id -> id of its available transcription (the seeded ones)."""
    return {t.recording_id: t.id for t in emu.transcriptions.values() if t.is_available}


async def test_sync_with_transcripts_saves_and_remembers(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    expected = transcribed(emu)
    assert expected, "seed 5 should give transcribed recordings"
    result = await run("sync", "--out", "archive", "--with-transcripts", "--json")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "archive"
    entries = manifest_entries(folder)
    for rid, tid in expected.items():
        vtt = folder / f"{rid}.vtt"
        assert vtt.read_bytes() == emu.transcript_content(tid, "vtt")
        parse_vtt(vtt.read_text())
        assert entries[rid]["transcript_id"] == tid
        assert entries[rid]["transcript_path"] == f"{rid}.vtt"
        assert entries[rid]["transcript_size_bytes"] == vtt.stat().st_size
    others = [rid for rid in entries if rid not in expected]
    assert all(entries[rid]["transcript_id"] is None for rid in others)
    summary = result.json_lines()[-1]["summary"]
    assert summary["transcripts"] == len(expected)

    # A rerun asks nothing about transcriptions.
    emu.clear_requests()
    result = await run("sync", "--out", "archive", "--with-transcripts", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json_lines()[-1]["summary"]["transcripts"] == 0
    assert not [r for r in emu.requests if "transcriptions" in r.path]

    # One more recording gets transcribed: only it is fetched.
    newcomer = next(rid for rid in entries if rid not in expected)
    added = emu.add_transcription(newcomer, status="available", locale="pt-PT")
    (folder / f"{next(iter(expected))}.vtt").unlink()  # and one file went missing
    emu.clear_requests()
    result = await run("sync", "--out", "archive", "--with-transcripts", "--json")
    assert result.returncode == 0, result.stderr
    saved = {line["id"] for line in result.json_lines() if line.get("status") == "transcript-saved"}
    assert saved == {newcomer, next(iter(expected))}
    assert manifest_entries(folder)[newcomer]["transcript_id"] == added.id
    assert not [r for r in emu.requests if r.origin == "storage" and r.path.endswith(".mp3")]


async def test_sync_transcript_format_and_plain_output(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    expected = transcribed(emu)
    result = await run(
        "sync", "--out", "archive", "--with-transcripts", "--transcript-format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert "transcripts saved" in result.stdout
    for rid, tid in expected.items():
        data = json.loads((tmp_path / "archive" / f"{rid}.json").read_text())
        assert data["id"] == tid


async def test_sync_without_the_flag_saves_no_transcripts(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    result = await run("sync", "--out", "archive")
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "archive").glob("*.vtt"))
    assert not [r for r in emu.requests if "transcriptions" in r.path]
