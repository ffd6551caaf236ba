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


@pytest.mark.parametrize(("where", "code"), RUNNABLE_BLOCKS, ids=[w for w, _ in RUNNABLE_BLOCKS])
async def test_runnable_block(where: str, code: str, emu: BirdEmulator, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BIRD_ACCESS_KEY": emu.access_key,
        "BIRD_WORKSPACE_ID": emu.workspace_id,
        "BIRD_API_URL": emu.base_url,
        "PYTHONWARNINGS": "error",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(WAIT_S * 4):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, f"{where} failed:\n{stderr.decode()}"
    assert stdout, f"{where} printed nothing"


@pytest.mark.parametrize(("where", "text"), DOCTEST_BLOCKS, ids=[w for w, _ in DOCTEST_BLOCKS])
def test_doctest_block(where: str, text: str) -> None:
    test = doctest.DocTestParser().get_doctest(text, {}, where, where, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test)
    assert result.failed == 0, f"{where}: {result.failed} example(s) failed"
