"""AsyncPager semantics over a scripted fetch function (no HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterable

import pytest
from attrs import frozen

import bird_recordings as br
from bird_recordings._pagination import AsyncPager


@frozen
class Page:
    results: tuple[str, ...]
    next_page_token: str | None = None


async def collect(source: AsyncIterable[str], into: list[str]) -> None:
    async for item in source:
        into.append(item)


class Server:
    """Pages keyed by the token that fetches them (``None`` is the first page)."""

    def __init__(self, pages: dict[str | None, Page]) -> None:
        self.pages = pages
        self.calls: list[str | None] = []

    async def fetch(self, token: str | None) -> Page:
        self.calls.append(token)
        return self.pages[token]


THREE_PAGES = {
    None: Page(("a", "b"), "t2"),
    "t2": Page(("c",), "t3"),
    "t3": Page(("d", "e")),
}


def pager(server: Server, **kwargs: object) -> AsyncPager[str, Page]:
    return AsyncPager(server.fetch, **kwargs)  # type: ignore[arg-type]


async def test_nothing_is_fetched_until_used() -> None:
    server = Server(THREE_PAGES)
    pager(server)
    assert server.calls == []


async def test_await_gives_the_first_page_only() -> None:
    server = Server(THREE_PAGES)
    page = await pager(server)
    assert page == Page(("a", "b"), "t2")
    assert server.calls == [None]


async def test_iterating_yields_every_item_across_pages() -> None:
    server = Server(THREE_PAGES)
    assert [item async for item in pager(server)] == ["a", "b", "c", "d", "e"]
    assert server.calls == [None, "t2", "t3"]


async def test_pages_yields_whole_pages_and_stops_without_a_token() -> None:
    server = Server(THREE_PAGES)
    pages = [page async for page in pager(server).pages()]
    assert pages == [THREE_PAGES[None], THREE_PAGES["t2"], THREE_PAGES["t3"]]
    assert server.calls == [None, "t2", "t3"]


async def test_empty_token_ends_too() -> None:
    server = Server({None: Page(("a",), "")})
    assert [item async for item in pager(server)] == ["a"]
    assert server.calls == [None]


async def test_empty_first_page() -> None:
    server = Server({None: Page(())})
    assert [item async for item in pager(server)] == []


async def test_page_token_starts_from_the_cursor() -> None:
    server = Server(THREE_PAGES)
    p = pager(server, page_token="t2")
    assert await p == THREE_PAGES["t2"]
    assert [item async for item in p] == ["c", "d", "e"]
    assert server.calls == ["t2", "t2", "t3"]


async def test_each_iteration_starts_again() -> None:
    server = Server(THREE_PAGES)
    p = pager(server)
    first = [item async for item in p]
    second = [item async for item in p]
    assert first == second == ["a", "b", "c", "d", "e"]


async def test_max_pages() -> None:
    server = Server(THREE_PAGES)
    assert [item async for item in pager(server, max_pages=2)] == ["a", "b", "c"]
    assert server.calls == [None, "t2"]


async def test_repeated_token_is_an_error_not_a_loop() -> None:
    server = Server({None: Page(("a",), "t2"), "t2": Page(("b",), "t3"), "t3": Page(("c",), "t2")})
    seen: list[str] = []
    with pytest.raises(br.ResponseValidationError, match="nextPageToken") as info:
        await collect(pager(server), seen)
    assert seen == ["a", "b", "c"]
    assert info.value.errors == ("repeated cursor @ $.nextPageToken",)
    assert server.calls == [None, "t2", "t3"]


async def test_page_pointing_to_itself_is_an_error() -> None:
    server = Server({None: Page(("a",), "t2"), "t2": Page(("b",), "t2")})
    with pytest.raises(br.ResponseValidationError):
        [item async for item in pager(server)]
    assert server.calls == [None, "t2"]


async def test_cycle_back_to_the_starting_cursor_never_repeats_a_page() -> None:
    server = Server({"t2": Page(("b",), "t3"), "t3": Page(("c",), "t2")})
    seen: list[str] = []
    with pytest.raises(br.ResponseValidationError):
        await collect(pager(server, page_token="t2"), seen)
    assert seen == ["b", "c"]  # page t2 is not handed out twice
    assert server.calls == ["t2", "t3"]


async def test_fetch_errors_propagate() -> None:
    async def fetch(token: str | None) -> Page:
        if token is None:
            return Page(("a",), "t2")
        raise br.ServerError(status=503, code=None, message="down")

    seen: list[str] = []
    with pytest.raises(br.ServerError):
        await collect(AsyncPager[str, Page](fetch), seen)
    assert seen == ["a"]


def test_repr_does_not_show_the_cursor() -> None:
    server = Server(THREE_PAGES)
    assert repr(pager(server)) == "<AsyncPager start=first page>"
    assert "secret-cursor" not in repr(pager(server, page_token="secret-cursor"))
