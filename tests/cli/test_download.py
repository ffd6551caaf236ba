"""download, list, get, metrics, delete and the error paths, run as the real command."""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path

from bird_recordings.emulator import BirdEmulator

from .conftest import Runner, base_env

NOT_FOUND_ID = "00000000-0000-4000-8000-000000000000"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def available(emu: BirdEmulator) -> list[str]:
    """Ids of the recordings that have media."""
    return sorted(rid for rid, rec in emu.recordings.items() if rec.is_available)


def unavailable(emu: BirdEmulator) -> list[str]:
    """Ids of the recordings without media."""
    return sorted(rid for rid, rec in emu.recordings.items() if not rec.is_available)


async def test_download_ids_and_a_404(run: Runner, emu: BirdEmulator, tmp_path: Path) -> None:
    ids = available(emu)[:2]
    result = await run("download", *ids, NOT_FOUND_ID, "--out", "out")
    assert result.returncode == 1, result.stderr
    # The failure is listed at the end, with its reason.
    failed = [line for line in result.stderr.splitlines() if NOT_FOUND_ID in line]
    assert failed, result.stderr
    assert "404" in failed[-1]
    for rid in ids:
        assert sha256(tmp_path / "out" / f"{rid}.mp3") == emu.media_digest(rid, "sha256")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{i}.mp3" for i in ids)


async def test_download_existing_file_is_skipped_unless_overwrite(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    rid = available(emu)[0]
    target = tmp_path / f"{rid}.mp3"
    target.write_bytes(b"mine")
    result = await run("download", rid)
    assert result.returncode == 0, result.stderr
    assert "already exists" in result.stdout
    assert target.read_bytes() == b"mine"
    result = await run("download", rid, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert sha256(target) == emu.media_digest(rid, "sha256")


async def test_download_all_with_a_name_template(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    template = "{created_at:%Y/%m/%d}/{direction}-{id}.{ext}"
    result = await run("download", "--all", "--out", "archive", "--name", template, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.json_lines()
    summary = lines[-1]["summary"]
    assert summary["downloaded"] == len(available(emu))
    assert summary["not_available"] == len(unavailable(emu))
    assert summary["seen"] == len(emu.recordings)
    for rid in available(emu):
        rec = emu.recordings[rid]
        name = f"{rec.created_at.astimezone(UTC):%Y/%m/%d}/{rec.direction or 'unknown'}-{rid}.mp3"
        path = tmp_path / "archive" / name
        assert sha256(path) == emu.media_digest(rid, "sha256"), name
    # Nothing but finished files: no temporary files left behind.
    assert not [p for p in (tmp_path / "archive").rglob("*") if p.name.endswith(".part")]


async def test_name_templates_that_escape_are_refused(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    for template in ("../{id}.mp3", "/tmp/{id}.mp3", "a/../../{id}.mp3", "{nope}.mp3"):
        result = await run("download", "--all", "--out", "out", "--name", template)
        assert result.returncode == 2, (template, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert "--out" in result.stderr or "unknown field" in result.stderr
    # Refused before any request, and nothing written.
    assert emu.requests == []
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / f"{available(emu)[0]}.mp3").exists()


async def test_missing_credentials_name_the_variable(run: Runner, emu: BirdEmulator) -> None:
    env = base_env() | {"BIRD_API_URL": emu.base_url}
    result = await run("list", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "BIRD_ACCESS_KEY" in result.stderr
    result = await run("download", "--all", env=env | {"BIRD_ACCESS_KEY": emu.access_key})
    assert result.returncode == 2
    assert "BIRD_WORKSPACE_ID" in result.stderr
    assert emu.requests == []


async def test_wrong_key_is_a_configuration_error(run: Runner, emu: BirdEmulator) -> None:
    result = await run("list", env=run.env() | {"BIRD_ACCESS_KEY": "wrong-key-1234"})
    assert result.returncode == 2
    assert "401" in result.stderr
    assert "wrong-key-1234" not in result.stdout + result.stderr


async def test_list_json_parses_and_filters(run: Runner, emu: BirdEmulator) -> None:
    result = await run("list", "--json", "--verbose")
    assert result.returncode == 0, result.stderr
    rows = result.json_lines()
    assert sorted(row["id"] for row in rows) == sorted(emu.recordings)
    assert all("url" not in row for row in rows)
    assert "DEBUG" in result.stderr  # --verbose logs, with the key kept out (checked by run)
    # Piped without --json: JSON lines too; filters and --limit apply.
    result = await run("list", "--status", "available", "--limit", "3")
    rows = result.json_lines()
    assert len(rows) == 3
    assert {row["status"] for row in rows} == {"available"}
    result = await run("list", "--since", "not-a-time")
    assert result.returncode == 2


async def test_get_metrics_and_delete(run: Runner, emu: BirdEmulator) -> None:
    rid = available(emu)[0]
    result = await run("get", rid, NOT_FOUND_ID)
    assert result.returncode == 1
    (row,) = result.json_lines()
    assert row["id"] == rid
    assert NOT_FOUND_ID in result.stderr

    result = await run("metrics", "--json")
    assert result.returncode == 0, result.stderr
    (metrics,) = result.json_lines()
    assert metrics["counter"] == len(emu.recordings)

    result = await run("delete", rid)  # no terminal and no --yes: refused
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert rid in emu.recordings
    result = await run("delete", rid, "--yes")
    assert result.returncode == 0, result.stderr
    assert rid not in emu.recordings
