"""The pytest plugin: the ``bird_emulator`` fixture in a user's test suite."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

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


# The examples of docs/emulator.md, run in a user's suite by pytest's own pytester.
pytest_plugins = ["pytester"]

DOC_EXAMPLES = "\n\n".join(
    re.findall(
        r"<!-- pytest example -->\s*\n```python\n(.*?)\n```",
        (Path(__file__).resolve().parents[3] / "docs" / "emulator.md").read_text(),
        re.DOTALL,
    )
)
MARKER = "@pytest.mark.asyncio"


def _run_doc_examples(pytester: pytest.Pytester, source: str, ini: str = "") -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n" + ini)
    return pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "-W", "error", "--strict-markers", *_plugin_args()
    )


def test_the_documented_examples_are_there() -> None:
    assert DOC_EXAMPLES.count("async def test_") == 2
    assert DOC_EXAMPLES.count(MARKER) == 2


def test_documented_examples_pass_in_strict_mode_with_the_marker(pytester: pytest.Pytester) -> None:
    result = _run_doc_examples(pytester, DOC_EXAMPLES, ini="asyncio_mode = strict\n")
    result.assert_outcomes(passed=2)


def test_documented_examples_pass_in_auto_mode_without_the_marker(
    pytester: pytest.Pytester,
) -> None:
    unmarked = "\n".join(line for line in DOC_EXAMPLES.splitlines() if not line.startswith(MARKER))
    result = _run_doc_examples(pytester, unmarked, ini="asyncio_mode = auto\n")
    result.assert_outcomes(passed=2)


def test_strict_mode_without_the_marker_fails_as_the_docs_warn(
    pytester: pytest.Pytester,
) -> None:
    unmarked = "\n".join(line for line in DOC_EXAMPLES.splitlines() if not line.startswith(MARKER))
    result = _run_doc_examples(pytester, unmarked, ini="asyncio_mode = strict\n")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


def test_bird_client_is_closed_after_the_test(pytester: pytest.Pytester) -> None:
    source = textwrap.dedent(
        """
        import pytest

        import bird_recordings as br

        clients = []

        @pytest.fixture
        def bird_client_options():
            return {"chunk_size": 4096}

        async def test_first(bird_client, bird_emulator):
            assert bird_client.base_url == bird_emulator.base_url
            assert bird_client.workspace_id == bird_emulator.workspace_id
            assert bird_client.chunk_size == 4096
            clients.append(bird_client)

        async def test_then(bird_client):
            assert bird_client is not clients[0]
            with pytest.raises(br.ClientClosedError):
                await clients[0].get_recording("anything")
        """
    )
    result = _run_doc_examples(pytester, source, ini="asyncio_mode = auto\n")
    result.assert_outcomes(passed=2)


def test_without_pytest_asyncio_bird_client_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="async def test_it(bird_client):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-q", "-rs", "-p", "no:asyncio", "-p", "no:anyio", *_plugin_args()
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*bird_client fixture needs pytest-asyncio*"])
