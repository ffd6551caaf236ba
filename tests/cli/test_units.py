"""In-process checks of the command's pure parts: templates, times, manifest, help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import bird_recordings as br
from bird_recordings._cli.common import parse_when
from bird_recordings._cli.manifest import MANIFEST_NAME, Entry, Manifest
from bird_recordings._cli.naming import NameTemplate, TemplateError
from bird_recordings.cli import main


def attrs_evolve(rec: br.Recording, **changes: Any) -> br.Recording:
    import attrs

    return attrs.evolve(rec, **changes)


REC = br.Recording(
    id="5b74ee9e-9d45-473a-82cd-f1f7feea6bbd",
    source=br.RecordingSource.CALL,
    source_id="50fa2203-66c2-4820-864a-1a8002952f4e",
    status=br.RecordingStatus.AVAILABLE,
    origin=br.RecordingOrigin.CREATE_CALL,
    stereo=False,
    format="mp3",
    transcription=False,
    created_at=datetime(2023, 10, 23, 15, 55, 8, 234000, tzinfo=UTC),
    updated_at=datetime(2023, 10, 23, 15, 55, 38, tzinfo=UTC),
    direction=br.Direction.OUTGOING,
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{id}.mp3", "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd.mp3"),
        ("{created_at:%Y/%m/%d}/{id}.{ext}", "2023/10/23/5b74ee9e-9d45-473a-82cd-f1f7feea6bbd.mp3"),
        ("{direction}/{status}-{channel_id}.mp3", "outgoing/available-unknown.mp3"),
        ("./{source}/{id}", "call/5b74ee9e-9d45-473a-82cd-f1f7feea6bbd"),
    ],
)
def test_templates_render(template: str, expected: str, tmp_path: Path) -> None:
    assert NameTemplate(template, tmp_path).render(REC).as_posix() == expected


@pytest.mark.parametrize(
    "template",
    ["../{id}.mp3", "/etc/{id}", "x/../../{id}", "{id}/", "", "{unknown}", "{0}", "{id", "C:\\x"],
)
def test_bad_templates_are_refused(template: str, tmp_path: Path) -> None:
    with pytest.raises(TemplateError):
        NameTemplate(template, tmp_path)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{duration:>9999999999}", "width"),
        ("{id:.9999999999}", "precision"),
        ("{duration:>65}", "width"),
        ("{id!r}", "conversions"),
        ("{id!s}", "conversions"),
        ("{id.__class__}", "attribute or index"),
        ("{id[0]}", "attribute or index"),
        ("{created_at.year}", "attribute or index"),
        ("{id:{ext}}", "nested"),
        ("{created_at:%999999999Y}", "date format"),
        ("{created_at:%_99d}", "date format"),
        ("{id:" + "x" * 70 + "}", "longer than"),
        ("{id}" * 300, "longer than"),
        ("{id:%%%}", "not a valid format spec"),
    ],
)
def test_unsafe_templates_are_refused_before_rendering(
    template: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(TemplateError, match=message):
        NameTemplate(template, tmp_path)


def test_bounded_specs_and_date_directives_still_work(tmp_path: Path) -> None:
    rec = attrs_evolve(REC, duration=29)
    names = NameTemplate("{created_at:%Y/%-m}/{duration:>04}-{id:.8}.{ext}", tmp_path)
    assert names.render(rec).as_posix() == "2023/10/0029-5b74ee9e.mp3"


def test_control_characters_and_long_parts_never_reach_a_name(tmp_path: Path) -> None:
    rec = attrs_evolve(REC, id="a\x00b\nc", channel_id="x" * 300)
    assert NameTemplate("{id}.mp3", tmp_path).render(rec).as_posix() == "a_b_c.mp3"
    with pytest.raises(TemplateError, match="255 bytes"):
        NameTemplate("{channel_id}.mp3", tmp_path).render(rec)


def test_field_values_cannot_add_folders(tmp_path: Path) -> None:
    import attrs

    rec = attrs.evolve(REC, id="../../evil", direction=br.Direction("in/../out"))
    rendered = NameTemplate("{direction}/{id}.mp3", tmp_path).render(rec).as_posix()
    assert rendered == "in_.._out/.._.._evil.mp3"


def test_parse_when() -> None:
    now = datetime(2024, 5, 10, 12, tzinfo=UTC)
    assert parse_when("7d", now=now) == now - timedelta(days=7)
    assert parse_when("12h", now=now) == now - timedelta(hours=12)
    assert parse_when("2w", now=now) == now - timedelta(weeks=2)
    assert parse_when("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_when("2024-05-01T08:00:00Z") == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert parse_when("2024-05-01T08:00:00+02:00") == datetime(2024, 5, 1, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="7d"):
        parse_when("last tuesday")


def test_manifest_survives_a_cut_line_and_compacts(tmp_path: Path) -> None:
    result = br.DownloadResult(recording_id=REC.id, path=tmp_path / "a.mp3", size_bytes=5)
    manifest = Manifest(tmp_path)
    manifest.open()
    manifest.record(Entry.from_download(REC, "a.mp3", result))
    manifest.record(Entry.from_download(REC, "b.mp3", result))  # a later line wins
    manifest.close()
    with (tmp_path / MANIFEST_NAME).open("a") as handle:
        handle.write('{"id": "cut-sho')  # a crash mid-line
    again = Manifest(tmp_path)
    again.load()
    assert list(again.entries) == [REC.id]
    assert again.entries[REC.id].path == "b.mp3"
    assert again.entries[REC.id].is_current(REC, "b.mp3")
    assert "url" not in again.entries[REC.id].recording
    again.compact()
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 2
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_NAME]


@pytest.mark.parametrize(
    "name",
    [
        "demo",
        "list",
        "get",
        "download",
        "sync",
        "delete",
        "delete-transcription",
        "metrics",
        None,
    ],
)
def test_every_command_has_help_with_examples(
    name: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--help"] if name else ["--help"]) == 0
    assert "examples:" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["download", "--concurrency", "many"]) == 2
    assert main(["emulator", "--no-such-flag"]) == 2
    capsys.readouterr()


def test_emulator_help_names_the_command_and_has_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bird-recordings emulator")
    assert "python -m" not in out
    assert "examples:\n  bird-recordings emulator --port 8080" in out
