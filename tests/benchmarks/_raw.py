"""The baselines: what a careful engineer writes by hand with plain aiohttp.

Downloads: resolve ``.mp3`` with a manual redirect, stream the presigned URL with
``iter_chunked(256 KiB)`` into ``<name>.part`` (plain blocking writes on the loop,
as hand-written code does), rename. Enough robustness for the faulty scenario and
no more: a broken body resumes with ``Range``/``If-Match`` at once, 429/5xx wait
``Retry-After``. Bulk work runs on a fixed pool of ``concurrency`` workers fed
from one iterator (``gather`` over thousands of coroutines would stall the loop
by itself and make the baseline look worse than it need be).

Metadata: ``GET`` + ``json.loads`` + ``converter.structure`` into the library's
own models, so the library's extra cost is what its layers add.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yarl

from bird_recordings import Recording, RecordingPage
from bird_recordings._converter import converter

CHUNK_BYTES = 256 * 1024
T = TypeVar("T")


async def worker_pool(
    items: Iterable[T], fn: Callable[[T], Awaitable[object]], concurrency: int
) -> list[object]:
    """Run ``fn`` over ``items`` on ``concurrency`` workers; return the results."""
    source = iter(items)
    results: list[object] = []

    async def worker() -> None:
        for item in source:
            results.append(await fn(item))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def _retry_after(headers: Any) -> float:
    try:
        return float(headers.get("Retry-After", "0.5"))
    except ValueError:
        return 0.5


class RawClient:
    """Plain aiohttp against the Bird API and its storage."""

    def __init__(self, base_url: str, access_key: str, workspace_id: str) -> None:
        self.base = f"{base_url}/workspaces/{workspace_id}/recordings"
        self.auth = {"Authorization": f"AccessKey {access_key}"}
        self.session = aiohttp.ClientSession()
        self.bytes_received = 0

    async def close(self) -> None:
        await self.session.close()

    async def _media_location(self, rid: str) -> str:
        while True:
            async with self.session.get(
                f"{self.base}/{rid}.mp3", headers=self.auth, allow_redirects=False
            ) as response:
                if response.status in (429, 500, 502, 503):
                    delay = _retry_after(response.headers)
                else:
                    if response.status not in (301, 302, 303, 307, 308):
                        raise RuntimeError(f"{rid}.mp3: HTTP {response.status}")
                    return response.headers["Location"]
            await asyncio.sleep(delay)

    async def download(self, rid: str, directory: Path, *, md5: bool = False) -> int:
        """Download one recording to ``directory/<id>.mp3``; returns its size.

        ``md5=True`` also hashes each chunk on the loop, as hand-written code
        does, and checks the digest against a plain-MD5 ETag before the rename.
        """
        url = yarl.URL(await self._media_location(rid), encoded=True)
        final = directory / f"{rid}.mp3"
        part = directory / f"{rid}.mp3.part"
        offset = 0
        etag: str | None = None
        failures = 0
        hasher = hashlib.md5(usedforsecurity=False) if md5 else None
        with open(part, "wb") as out:
            while True:
                headers: dict[str, str] = {}
                if offset:
                    headers["Range"] = f"bytes={offset}-"
                    if etag:
                        headers["If-Match"] = etag
                got = 0
                try:
                    async with self.session.get(url, headers=headers) as response:
                        if response.status in (429, 500, 503):
                            await asyncio.sleep(_retry_after(response.headers))
                            continue
                        if response.status not in (200, 206):
                            raise RuntimeError(f"{rid}: storage HTTP {response.status}")
                        if response.status == 200 and offset:
                            out.seek(0)
                            out.truncate()
                            offset = 0
                            hasher = hashlib.md5(usedforsecurity=False) if md5 else None
                        etag = response.headers.get("ETag")
                        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                            out.write(chunk)
                            if hasher is not None:
                                hasher.update(chunk)
                            got += len(chunk)
                        offset += got
                        break
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                    offset += got
                    failures = 0 if got else failures + 1
                    if failures > 5:
                        raise RuntimeError(f"{rid}: {exc}") from exc
                    if failures:
                        await asyncio.sleep(0.1 * failures)
        if hasher is not None and etag and hasher.hexdigest() != etag.strip('"'):
            raise RuntimeError(f"{rid}: MD5 does not match the ETag")
        os.replace(part, final)
        return offset

    async def get_recording(self, rid: str) -> Recording:
        async with self.session.get(f"{self.base}/{rid}", headers=self.auth) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{rid}: HTTP {response.status}")
        return converter.structure(json.loads(body), Recording)

    async def list_all(self, limit: int) -> int:
        count = 0
        token: str | None = None
        while True:
            params = {"limit": str(limit)}
            if token:
                params["pageToken"] = token
            async with self.session.get(self.base, headers=self.auth, params=params) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"list: HTTP {response.status}")
            page = converter.structure(json.loads(body), RecordingPage)
            count += len(page.results)
            token = page.next_page_token
            if not token:
                return count
