"""Real services for the tests that need them: started by the tests, stopped after.

A test that needs a service it cannot find *fails* under CI (``CI=true``, where
``.ci/run`` installs it) and *skips* locally with a message that says how to
install it. Services listen on a free loopback port with their files in a
temporary directory; nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Upper bound on a service's start-up; reaching it is a failure, not a delay.
START_TIMEOUT_S = 20.0


def require_executable(name: str, how_to_install: str) -> str:
    """The path of ``name``; under CI a missing one fails the test, locally it skips."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} not found: {how_to_install}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Block until ``port`` accepts connections; fail if ``process`` dies or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        # Polling a socket that is not listening yet: there is no event to wait on.
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on port {port} within {START_TIMEOUT_S} s")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM ``process`` and wait for it; SIGKILL after 10 s. ``None`` is a no-op."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """One ``redis-server`` process on loopback (Debian package ``redis-server``).

    ``stop()`` and ``start()`` may be called again in a test to take the server
    away and bring it back on the same port.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.executable = require_executable(
            "redis-server", "apt-get install -y redis-server (.ci/run does this under CI)"
        )
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, self.process, "redis-server")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        stop_process(self.process)
        self.process = None


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped on exit."""
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class MotoServer:
    """moto's S3-compatible server (``moto_server``, from ``moto[server]``) on loopback.

    Every start is an empty, in-memory S3; ``client()`` returns a boto3 client
    for it (tests inspect buckets with it).
    """

    region = "us-east-1"
    access_key = "testing-moto-key"
    secret_key = "testing-moto-secret"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.executable = require_executable(
            "moto_server", "pip install 'moto[server]' (the noxfile installs it)"
        )
        self.port = free_port()
        self.server_env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``create_client("s3", ...)`` / ``S3Sink(**...)``."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
        }

    def env(self) -> dict[str, str]:
        """AWS_* variables that point a subprocess's default chain at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def client(self) -> object:
        """A boto3 S3 client for assertions."""
        import boto3

        return boto3.client("s3", **self.client_kwargs())

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [self.executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(self.server_env or {})},
        )
        wait_for_port(self.port, self.process, "moto_server")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        stop_process(self.process)
        self.process = None


@contextlib.contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    """A started :class:`MotoServer` (``env`` for the server process), stopped on exit."""
    server = MotoServer(env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def require_module(name: str, how_to_install: str) -> None:
    """Import ``name`` or fail (under CI) / skip (locally) with how to install it."""
    import importlib.util

    if importlib.util.find_spec(name) is not None:
        return
    message = f"python package {name} not found: {how_to_install}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


class CeleryWorkers:
    """``celery -A <app> worker --pool prefork -c 1`` processes on a Redis broker.

    The app module reads its broker from ``BIRD_TEST_BROKER``; each worker
    gets ``env`` on top of this process's environment and ``PYTHONPATH`` set
    to this source tree, so it imports the code under test.
    """

    def __init__(self, app: str, broker: str, env: dict[str, str], count: int = 2) -> None:
        require_module("celery", "pip install 'bird-recordings[celery]'")
        self.app = app
        self.broker = broker
        self.count = count
        root = str(Path(__file__).resolve().parent.parent)
        self.env = {
            **os.environ,
            **env,
            "BIRD_TEST_BROKER": broker,
            "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, control: object) -> None:
        """Start the workers; return when every one answers a ping (``control`` = app.control)."""
        import sys

        for index in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable, "-m", "celery", "-A", self.app, "worker",
                        "--pool", "prefork", "-c", "1", "-n", f"archive{index}@%h",
                        "--without-gossip", "--without-mingle", "-l", "warning",
                    ],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a celery worker exited with {process.returncode}")
            replies = control.ping(timeout=0.5)  # type: ignore[attr-defined]
            if len(replies) >= self.count:
                return
        raise RuntimeError(f"celery workers did not answer within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL after 20 s."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
