"""The docs are checked: every public name is in the reference, and the examples run.

- Every name of ``bird_recordings.__all__`` is documented in ``docs/api.md``.
- Every Python block marked ``<!-- runnable -->`` in ``docs/*.md`` runs, as a user
  would run it (a fresh interpreter, a scratch folder), against the emulator.
- Every ``{doctest}`` block passes (Sphinx's doctest builder runs them too).
"""

from __future__ import annotations

import asyncio
import doctest
import os
import re
import sys
from pathlib import Path

import pytest

import bird_recordings as br
from bird_recordings.emulator import BirdEmulator

from .conftest import ROOT, WAIT_S

DOCS = ROOT / "docs"
RUNNABLE = re.compile(r"<!-- runnable -->\s*\n```python\n(.*?)\n```", re.DOTALL)
DOCTEST = re.compile(r"```\{doctest\}\n(.*?)\n```", re.DOTALL)


def _blocks(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for number, match in enumerate(pattern.finditer(page.read_text()), start=1):
            found.append((f"{page.name}#{number}", match.group(1)))
    return found


RUNNABLE_BLOCKS = _blocks(RUNNABLE)
DOCTEST_BLOCKS = _blocks(DOCTEST)


@pytest.mark.parametrize("name", sorted(br.__all__))
def test_every_public_name_is_in_the_api_reference(name: str) -> None:
    assert f"bird_recordings.{name}" in (DOCS / "api.md").read_text()


def test_the_guides_are_in_the_toctree() -> None:
    index = (DOCS / "index.md").read_text()
    pages = {page.stem for page in DOCS.glob("*.md")} - {"index"}
    listed = set(re.findall(r"^([a-z_-]+)$", index, re.MULTILINE))
    assert pages <= listed


def test_there_are_runnable_blocks() -> None:
    assert len(RUNNABLE_BLOCKS) >= 3
    assert DOCTEST_BLOCKS


async def _run_python(where: str, code: str, bird_env: dict[str, str], cwd: Path) -> str:
    """Run ``code`` as a user would (a fresh interpreter in ``cwd``); its stdout."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BIRD_")},
        **bird_env,
        "PYTHONWARNINGS": "error",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(WAIT_S * 4):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, f"{where} failed:\n{stderr.decode()}"
    assert stdout, f"{where} printed nothing"
    return stdout.decode()


@pytest.mark.parametrize(("where", "code"), RUNNABLE_BLOCKS, ids=[w for w, _ in RUNNABLE_BLOCKS])
async def test_runnable_block(where: str, code: str, emu: BirdEmulator, tmp_path: Path) -> None:
    bird_env = {
        "BIRD_ACCESS_KEY": emu.access_key,
        "BIRD_WORKSPACE_ID": emu.workspace_id,
        "BIRD_API_URL": emu.base_url,
    }
    # A user runs an example again in the same folder: it must not trip over its own files.
    for run in ("first run", "second run"):
        await _run_python(f"{where} ({run})", code, bird_env, tmp_path)


async def test_the_readme_quickstart_runs_as_written_against_bird_recordings_emulator(
    tmp_path: Path,
) -> None:
    """The README's steps: start ``bird-recordings emulator``, use the exports it prints."""
    blocks = re.findall(r"```python\n(.*?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert len(blocks) == 1
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bird_recordings",
        "emulator",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert emulator.stdout is not None
        bird_env: dict[str, str] = {}
        async with asyncio.timeout(WAIT_S):
            while len(bird_env) < 3:
                line = (await emulator.stdout.readline()).decode()
                assert line, "the emulator exited before printing its export lines"
                if line.startswith("export "):
                    name, _, value = line.removeprefix("export ").strip().partition("=")
                    bird_env[name] = value
        assert set(bird_env) == {"BIRD_API_URL", "BIRD_ACCESS_KEY", "BIRD_WORKSPACE_ID"}

        first = await _run_python("README (first run)", blocks[0], bird_env, tmp_path)
        second = await _run_python("README (second run)", blocks[0], bird_env, tmp_path)
        assert " downloaded" in first
        # The README says so: files already on disk and verified are skipped on a rerun.
        assert " downloaded" not in second
        assert " skipped" in second
    finally:
        if emulator.returncode is None:
            emulator.terminate()
        async with asyncio.timeout(WAIT_S):
            await emulator.wait()
    assert emulator.returncode == 0


@pytest.mark.parametrize(("where", "text"), DOCTEST_BLOCKS, ids=[w for w, _ in DOCTEST_BLOCKS])
def test_doctest_block(where: str, text: str) -> None:
    test = doctest.DocTestParser().get_doctest(text, {}, where, where, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test)
    assert result.failed == 0, f"{where}: {result.failed} example(s) failed"
