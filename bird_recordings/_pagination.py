"""The pager: ``await`` it for the first page, ``async for`` it for every item.

Nothing is sent until the pager is awaited or iterated. Pages follow
``nextPageToken`` until a page comes without one (Bird omits the key on the
last page).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from typing import Generic, TypeVar

from ._errors import ResponseValidationError

__all__ = ["AsyncPager"]

Item = TypeVar("Item")
Page = TypeVar("Page")


class AsyncPager(Generic[Item, Page]):
    """A lazy, re-iterable view over a paginated listing.

    - ``page = await pager`` fetches the first page (``.results``,
      ``.next_page_token``).
    - ``async for item in pager`` yields every item of every page.
    - ``async for page in pager.pages()`` yields whole pages.

    Each iteration starts again from the cursor the pager was created with.
    Example::

        async for rec in client.list_recordings(status="available"):
            print(rec.id)
    """

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[Page]],
        *,
        page_token: str | None = None,
        max_pages: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._page_token = page_token
        self._max_pages = max_pages

    def __repr__(self) -> str:
        return f"<AsyncPager start={'cursor' if self._page_token else 'first page'}>"

    def __await__(self) -> Generator[object, None, Page]:
        return self._fetch(self._page_token).__await__()

    async def pages(self) -> AsyncGenerator[Page, None]:
        """Yield each page in order until the last one."""
        token = self._page_token
        # The starting cursor counts as seen: a cycle back to it would repeat its page.
        seen: set[str] = {token} if token else set()
        count = 0
        while True:
            page = await self._fetch(token)
            yield page
            count += 1
            token = getattr(page, "next_page_token", None)
            if not token or (self._max_pages is not None and count >= self._max_pages):
                return
            if token in seen:
                # A server that hands back a cursor twice would loop forever.
                raise ResponseValidationError(
                    "the API returned a nextPageToken it had returned before; "
                    "stopping instead of looping",
                    errors=("repeated cursor @ $.nextPageToken",),
                )
            seen.add(token)

    async def __aiter__(self) -> AsyncIterator[Item]:
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                for item in getattr(page, "results", ()):
                    yield item
