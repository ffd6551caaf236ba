"""Helpers shared by the aioresponses-based client tests."""

from __future__ import annotations

import re
from typing import Any, Final

from yarl import URL

from tests.conftest import BASE_URL, WORKSPACE

RECORDINGS_URL: Final = f"{BASE_URL}/workspaces/{WORKSPACE}/recordings"
METRICS_URL: Final = f"{BASE_URL}/workspaces/{WORKSPACE}/recording-metrics"
REAL_ID: Final = "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd"
# Any query string: aioresponses matches the URL with its query merged in.
LIST_PATTERN: Final = re.compile(re.escape(RECORDINGS_URL) + r"(\?.*)?$")


def recording_url(recording_id: str) -> str:
    return f"{RECORDINGS_URL}/{recording_id}"


def sent(mocked: Any) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request the mock saw: (method, URL with query, request kwargs).

    Requests are grouped per URL in first-seen order, in order within a URL.
    """
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


def count(mocked: Any) -> int:
    return sum(len(calls) for calls in mocked.requests.values())
