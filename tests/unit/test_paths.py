"""File names built from untrusted data: one safe component, inside the folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings._converter import structure
from bird_recordings._files import temp_path_for
from bird_recordings._paths import MAX_NAME_BYTES, check_inside, check_local_path, file_name
from tests.fixtures import load

REAL_ID = "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd"


@pytest.mark.parametrize(
    ("stem", "extension"),
    [
        (REAL_ID, "mp3"),
        ("rec 1 (copy)", "mp3"),
        ("ünïcode-名前", "wav"),
        ("a" * (MAX_NAME_BYTES - 4), "mp3"),
        ("x", "ogg_opus"),
    ],
)
def test_safe_names_are_kept_as_they_are(stem: str, extension: str) -> None:
    assert file_name(stem, extension, what="t") == f"{stem}.{extension}"


@pytest.mark.parametrize(
    ("stem", "extension"),
    [
        (REAL_ID, "mp3/../../../x"),
        (REAL_ID, "/etc/passwd"),
        (REAL_ID, "mp3\\..\\x"),
        (REAL_ID, ""),
        (REAL_ID, "m" * 17),
        (REAL_ID, "mp3\x00"),
        (REAL_ID, "mp3 "),
        ("../escape", "mp3"),
        ("a/b", "mp3"),
        ("/abs", "mp3"),
        ("C:\\x", "mp3"),
        ("..", "mp3"),
        (".", "mp3"),
        ("", "mp3"),
        ("id\x00nul", "mp3"),
        ("id\nnewline", "mp3"),
        ("id\u202eevil", "mp3"),
        (" padded", "mp3"),
        ("a" * 250, "mp3"),
        ("é" * 120, "mp3"),
    ],
)
def test_unsafe_names_fail_with_a_typed_error(stem: str, extension: str) -> None:
    with pytest.raises(br.UnsafePathError) as info:
        file_name(stem, extension, what="recording file name")
    assert isinstance(info.value, br.BirdRecordingsError)
    assert "\x00" not in str(info.value)


def test_the_longest_name_still_leaves_room_for_its_temporary_file(tmp_path: Path) -> None:
    name = file_name("a" * (MAX_NAME_BYTES - 4), "mp3", what="t")
    temp = temp_path_for(tmp_path / name)
    assert len(temp.name.encode()) <= 255
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.close(fd)


def test_a_callers_path_must_be_usable(tmp_path: Path) -> None:
    assert check_local_path(tmp_path / "x.mp3", what="t") == tmp_path / "x.mp3"
    for bad in (tmp_path / "a\x00b" / "x.mp3", tmp_path / ("n" * 251), Path("/")):
        with pytest.raises(br.UnsafePathError):
            check_local_path(bad, what="t")


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    outside = tmp_path / "victim.txt"
    outside.write_text("keep me")
    (folder / "evil.mp3").symlink_to(outside)
    (folder / "ok.mp3").symlink_to(folder / "real.mp3")
    with pytest.raises(br.UnsafePathError, match="outside"):
        check_inside(folder, folder / "evil.mp3", what="t")
    assert check_inside(folder, folder / "ok.mp3", what="t") == folder / "ok.mp3"
    assert check_inside(folder, folder / "plain.mp3", what="t") == folder / "plain.mp3"


def test_default_filename_refuses_a_hostile_format() -> None:
    payload = load("recording_real.json")
    payload["format"] = "mp3/../../x"
    rec = structure(payload, br.Recording, what="r")
    with pytest.raises(br.UnsafePathError):
        _ = rec.default_filename
