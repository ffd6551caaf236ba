"""Fixtures for the emulator's own tests: a running emulator and a plain aiohttp session.

These tests talk to the emulator with ``aiohttp.ClientSession`` only, never with
our client library, so a bug in one cannot hide a bug in the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bird_recordings.emulator import BirdEmulator

FIXED_NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Api:
    """Small helper that builds API URLs and auth headers for one emulator."""

    def __init__(self, emu: BirdEmulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session

    def url(self, path: str) -> str:
        return f"{self.emu.base_url}/workspaces/{self.emu.workspace_id}{path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"AccessKey {self.emu.access_key}"}

    async def get_json(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.session.get(self.url(path), headers=self.headers, params=params) as r:
            return r.status, await r.json()

    async def list_all(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = dict(params)
            if token:
                query["pageToken"] = token
            status, page = await self.get_json("/recordings", **query)
            assert status == 200, page
            items.extend(page["results"])
            token = page.get("nextPageToken")
            if token is None:
                assert "nextPageToken" not in page
                return items


@pytest.fixture
def clock() -> list[float]:
    """A settable clock: ``clock[0]`` is the emulator's base time."""
    return [FIXED_NOW]


@pytest.fixture
async def emu(clock: list[float]) -> AsyncIterator[BirdEmulator]:
    async with BirdEmulator(
        recordings=40, seed=11, media_size_bytes=(16_384, 65_536), clock=lambda: clock[0]
    ) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(emu: BirdEmulator, session: aiohttp.ClientSession) -> Api:
    return Api(emu, session)


def available_id(emu: BirdEmulator) -> str:
    """The id of some recording whose media can be downloaded."""
    return next(rid for rid, rec in emu.recordings.items() if rec.status == "available")
