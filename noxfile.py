"""Every task of the project: `nox` runs lint, typing, tests and docs.

`nox -s bench` runs the benchmark suite (never part of the default run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typing", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
# Every version the classifiers in pyproject.toml claim; `nox -s tests` runs them all,
# `nox -s tests-3.12` one of them.
TEST_PYTHONS = ["3.11", "3.12", "3.13"]


def _select_pyenv_pythons() -> None:
    """Let pyenv's shims answer for every test Python, from a plain shell.

    pyenv's ``python3.12`` shim only runs when 3.12 is a *selected* version, and
    ``pyenv exec`` (any shim, ``python3 -m nox`` included) sets ``PYENV_VERSION`` to
    the one version it ran. Add the newest installed patch of each test Python to
    the selection, after whatever is selected already.
    """
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not versions.is_dir():
        return
    selected = [name for name in os.environ.get("PYENV_VERSION", "").split(":") if name]
    for minor in TEST_PYTHONS:
        patches = [
            entry.name
            for entry in versions.iterdir()
            if re.fullmatch(re.escape(minor) + r"\.\d+", entry.name)
        ]
        if patches:
            newest = max(patches, key=lambda name: int(name.rsplit(".", 1)[1]))
            if newest not in selected:
                selected.append(newest)
    if selected:
        os.environ["PYENV_VERSION"] = ":".join(selected)


_select_pyenv_pythons()
TEST_DEPS = [
    "pytest>=8.3",
    "pytest-asyncio>=1.0",
    "aioresponses==0.7.9",
    "coverage[toml]>=7.10",
    "hypothesis>=6.100",
    "pexpect>=4.9",
    "fastapi>=0.115",
    "uvicorn>=0.30",
    "httpx>=0.27",
    "moto[server]>=5",
    "boto3",
    "opentelemetry-sdk>=1.20",
]


@nox.session(python=TEST_PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with warnings as errors; branch coverage on the lowest Python.

    Coverage (and its ``fail_under``) is measured once, on 3.11: tracing every line
    costs a quarter of the run, and the other versions check behaviour, not reach.
    """
    session.install("-e", ".[cli,redis,s3,celery]", *TEST_DEPS)
    pytest_args = ["-m", "pytest", "-W", "error", "-p", "no:randomly", *session.posargs]
    if session.python != PYTHON:
        session.run("python", *pytest_args)
        return
    session.run("coverage", "erase")
    session.run("coverage", "run", *pytest_args)
    # `parallel = true` means every run leaves data files, so a failing combine is a real
    # failure (an unreadable file, a version mismatch), never "nothing to combine".
    session.run("coverage", "combine")
    session.run("coverage", "report")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import-linter layer contracts."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # lint-imports reads the installed package's source (pyproject.toml [tool.importlinter]).
    session.install("-e", ".", "import-linter>=2.1")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the doc examples."""
    session.install("-e", ".[cli,redis,s3,celery]", "mypy>=1.13", *TEST_DEPS)
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors and run their doctests."""
    session.install(
        "-e",
        ".[cli,redis,s3,celery,starlette,otel]",
        "sphinx>=8",
        "myst-parser>=4",
        "furo>=2024.8.6",
    )
    for builder in ("html", "doctest"):
        # -n (nitpicky): every cross-reference must resolve; docs/conf.py lists the exceptions.
        strict = ("-n", "-W", "--keep-going")
        session.run("sphinx-build", *strict, "-b", builder, "docs", f"docs/_build/{builder}")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against a raw-aiohttp baseline in the same run (see docs/performance.md).

    ``nox -s bench -- profile bulk`` runs the profiler (``tests.benchmarks.profile``) instead.
    """
    session.install("-e", ".[cli,redis,s3,celery]", "moto[server]>=5", "boto3")
    if session.posargs[:1] == ["profile"]:
        session.run("python", "-m", "tests.benchmarks.profile", *session.posargs[1:])
        return
    session.run("python", "-m", "tests.benchmarks", *session.posargs)
    if not session.posargs:
        # Archiving: S3Sink against DirectorySink (1 GiB), then a fleet of two workers.
        session.run("python", "-m", "tests.benchmarks.archive")
        session.run("python", "-m", "tests.benchmarks.archive", "--fleet", "3000")
