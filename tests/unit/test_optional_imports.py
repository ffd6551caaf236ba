"""The core never imports an optional extra: each is imported only by its own module."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import sys
import bird_recordings, bird_recordings.archive
loaded = sorted(m for m in ("aiobotocore", "botocore", "celery", "kombu", "redis", "rich")
                if m in sys.modules)
print(",".join(loaded))
"""


def test_the_core_and_the_archive_package_import_no_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(
    ("module", "extra"),
    [("bird_recordings.archive._s3", "aiobotocore"), ("bird_recordings.celery", "celery")],
)
def test_each_extra_is_imported_by_its_own_module(module: str, extra: str) -> None:
    probe = f"import sys, {module}; print({extra!r} in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "True"
