"""The pytest plugin: the ``bird_emulator`` fixture in a user's test suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

USER_TEST = textwrap.dedent(
    """
    import aiohttp
    import pytest

    @pytest.mark.bird_emulator(recordings=4, seed=2)
    async def test_uses_fixture(bird_emulator):
        assert len(bird_emulator.recordings) == 4
        url = f"{bird_emulator.base_url}/workspaces/{bird_emulator.workspace_id}/recordings"
        headers = {"Authorization": f"AccessKey {bird_emulator.access_key}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 200

    async def test_default_options(bird_emulator):
        assert len(bird_emulator.recordings) == 20

    def test_sync_tests_are_untouched():
        pass
    """
)


def _plugin_args() -> list[str]:
    """Load the plugin by name unless the installed entry point already does."""
    installed = any(
        ep.value == "bird_recordings.emulator.pytest_plugin"
        for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "bird_recordings.emulator.pytest_plugin"]


def run_pytest(tmp_path: Path, *args: str, ini: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "--strict-markers",
            *_plugin_args(),
            *args,
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fixture_works_with_pytest_asyncio(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        ini="asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_without_pytest_asyncio_the_fixture_skips(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-p", "no:asyncio", "-p", "no:anyio", "-rs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 2 skipped" in result.stdout
    assert "needs pytest-asyncio" in result.stdout


def test_plugin_import_is_cheap() -> None:
    # Whatever ``import bird_recordings`` costs, the plugin adds nothing: the
    # emulator (aiohttp.web and the rest) loads only when the fixture is used.
    code = (
        "import sys; import bird_recordings; before = set(sys.modules); "
        "import bird_recordings.emulator.pytest_plugin; "
        "added = set(sys.modules) - before; "
        "print(sorted(m for m in added if 'aiohttp' in m or '_emulator' in m or '_api' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
