"""Paging: every list operation returns a paginator that pages for the caller.

::

    async for vk in client.virtual_keys.list():        # every item of every page
        ...
    page = await client.virtual_keys.list(page_size=20)  # the first page only
    page.data, page.total, page.has_next_page()
    async for p in page.iter_pages(): ...

    for vk in Portkey().virtual_keys.list(): ...        # sync: SyncPage, the same, blocking

How a list is paged is a :class:`Paging`: the request for page N, and where an answer's items
and total are. Portkey's main lists are :class:`OffsetPaging`, ``{"object": "list", "total": T,
"data": [...]}`` addressed by ``current_page`` (from 0) and ``page_size``, with no cursor; an
integration's models and workspaces come whole in one answer, ``{"models": [...], "total": N}``
(:class:`WholeList`). The walk below knows neither scheme. Iteration stops on an empty page, a
short page, once ``total`` items were seen, or when a server ignores paging (a page of items
already seen): it never loops forever, never yields an item twice, and never fetches more than
``ceil(total / page_size) + 1`` pages. Once ``total`` is known, up to :data:`PREFETCH` page
requests are kept in flight ahead of the page being yielded (and at most :data:`MAX_BUFFERED`
pages held ahead of it, arrived or not) while items are yielded in order; a request is sent the
moment another one's answer arrives, and answers are parsed only when their turn comes. Leaving
the loop early (``break``, an exception, cancellation) cancels what is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from portkey_vk._errors import APIResponseTooLargeError, APIResponseValidationError
from portkey_vk._fast_structure import structure
from portkey_vk._response import decode, unwrap, validation_error
from portkey_vk._retry import request
from portkey_vk._types import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from portkey_vk._config import ClientConfig
    from portkey_vk._options import RequestOptions
    from portkey_vk._portal import ClientGuard
    from portkey_vk._transport import AsyncTransport
    from portkey_vk._wire import RawResponse

__all__ = [
    "PREFETCH",
    "AsyncPage",
    "AsyncPaginator",
    "OffsetPaging",
    "PageSource",
    "Paging",
    "SyncPage",
    "WholeList",
    "parse_items",
    "to_sync",
]

_T = TypeVar("_T")
_S = TypeVar("_S")

PREFETCH: Final = 4
"""How many page requests a full iteration keeps in flight ahead of the page it is yielding."""

MAX_BUFFERED: Final = 2 * PREFETCH
"""How many pages past the one being yielded may be fetched (arrived or in flight) at once."""

# Objects and arrays one item may hold (a key's limits, mappings, deployments...), generously.
_CONTAINERS_PER_ITEM: Final = 64

MAX_WALK_PAGES: Final = 10_000
"""The most pages one iteration fetches when no ``total`` bounds it and no page repeats: a
server that keeps sending full pages of new items ends with an error here, not never."""


class Paging:
    """The page protocol: how one list is paged. Subclass it for a new paging scheme.

    A scheme says which request fetches page ``index`` (:meth:`request`) and where an answer's
    items and total are (:meth:`read`); the walk, the fetch-ahead window and the sync facade
    never know more. Items are told apart by :meth:`identity` (a server repeating items is
    caught by it).

    Attributes:
        key: the answer's member holding the items (``data``, ``models``, ``workspaces``); a
            bare JSON array is read as the items too.
        page_size: the items asked for per page; ``None`` when one answer is the whole list.
        identity_fields: the item attributes that name an item (the first one set is used).
        max_items: the most items one answer may hold; more is refused before it is parsed.
    """

    __slots__ = ("identity_fields", "key", "max_items", "page_size")

    def __init__(
        self,
        key: str = "data",
        *,
        page_size: int | None = None,
        identity_fields: tuple[str, ...] = ("id", "slug"),
        max_items: int = MAX_PAGE_SIZE,
    ) -> None:
        self.key = key
        self.page_size = page_size
        self.identity_fields = identity_fields
        self.max_items = max_items

    def request(self, options: RequestOptions[Any], index: int) -> RequestOptions[Any]:
        """The request for page ``index`` (from 0) of the list ``options`` describes."""
        return options

    def read(self, body: Any) -> tuple[list[Any], int | None] | None:
        """The items of a decoded answer and the list's total (``None``: not said).

        ``None`` when the answer is not a list of this scheme. A ``total`` that is not a
        non-negative int is ignored.
        """
        if type(body) is dict and type(body.get(self.key)) is list:
            count = body.get("total")
            return body[self.key], count if type(count) is int and count >= 0 else None
        if type(body) is list:
            return body, None
        return None

    def identity(self, item: object) -> object:
        """What names ``item`` among the list's items; ``None`` when it has no such attribute."""
        found = tuple(getattr(item, name, None) for name in self.identity_fields)
        return None if all(value is None for value in found) else found


class OffsetPaging(Paging):
    """Portkey's offset paging: ``current_page`` (from 0) and ``page_size`` in the query."""

    __slots__ = ()

    def __init__(self, page_size: int, *, key: str = "data") -> None:
        super().__init__(key, page_size=page_size)

    def request(self, options: RequestOptions[Any], index: int) -> RequestOptions[Any]:
        """``options`` with ``current_page=index`` and ``page_size`` in its query."""
        query = {**(options.query or {}), "current_page": index, "page_size": self.page_size}
        return options.replace(query=query)


class WholeList(Paging):
    """A list that one answer holds whole: ``{"models": [...], "total": N}`` or a bare array."""

    __slots__ = ()

    def __init__(
        self,
        key: str,
        *,
        identity_fields: tuple[str, ...] = ("id", "slug"),
        max_items: int = 10 * MAX_PAGE_SIZE,
    ) -> None:
        super().__init__(key, page_size=None, identity_fields=identity_fields, max_items=max_items)


def parse_items(raw: RawResponse, cast_to: type[_T], paging: Paging) -> tuple[list[_T], int | None]:
    """Decode a list answer into its ``cast_to`` items and the list's total.

    The page parser: a list's options carry it (with ``cast_to`` and ``paging`` bound) as their
    ``parser``, so a page takes the same request and parse path as a single object.
    """
    # What an answer parses into is bounded before it is decoded: each JSON object or array
    # costs some 60 bytes or more once decoded, against 2 in the body, so a body of empty
    # objects would grow twenty-fold or more. Counting the brackets is one C pass per byte.
    containers = raw.body.count(b"{") + raw.body.count(b"[")
    if containers > paging.max_items * _CONTAINERS_PER_ITEM:
        raise validation_error(
            raw,
            f"a list answer may hold at most {paging.max_items} items; this one holds "
            f"{containers} JSON objects and arrays, and was not parsed",
            None,
        )
    body = unwrap(decode(raw))
    found = paging.read(body)
    if found is None:
        raise validation_error(
            raw,
            f"a list answer must be an object with a {paging.key} array, not {type(body).__name__}",
            body,
        )
    items, total = found
    if len(items) > paging.max_items:
        raise validation_error(
            raw,
            f"a list answer may hold at most {paging.max_items} items; this one holds "
            f"{len(items)}, and was not parsed",
            None,
        )
    data = []
    for index, item in enumerate(items):
        try:
            data.append(structure(item, cast_to))
        except APIResponseValidationError as exc:  # noqa: PERF203 - names the failing item
            message = exc.message.replace("@ $", f"@ $.{paging.key}[{index}]")
            raise validation_error(raw, message, body, exc) from None
    return data, total


class PageSource(Generic[_T]):
    """Where one list's pages come from: its options, sent through the one pipeline.

    :meth:`send` requests page ``index`` and :meth:`parse` reads its answer; the walk uses the
    two halves apart: a request is sent again as soon as an answer arrives, and the answer is
    parsed only when its turn comes, so parsing one page never holds back the requests for the
    next ones. Calling the source does both.
    """

    __slots__ = ("config", "options", "paging", "transport")

    def __init__(
        self, transport: AsyncTransport, config: ClientConfig, options: RequestOptions[Any]
    ) -> None:
        assert options.paging is not None
        self.transport = transport
        self.config = config
        self.options = options
        self.paging: Paging = options.paging

    def send(self, index: int, limit: int | None = None) -> Awaitable[RawResponse]:
        """Send the request for page ``index``; its coroutine gives the unparsed answer.

        ``limit`` caps its size below the client's ``max_response_bytes`` (a page fetched ahead
        gets its share of the window's budget).
        """
        page_options = self.paging.request(self.options, index)
        if limit is not None:
            page_options = page_options.replace(max_response_bytes=limit)
        result: Awaitable[RawResponse] = request(
            self.transport, self.config, page_options, parse=False
        )
        return result

    def parse(self, raw: RawResponse, index: int) -> AsyncPage[_T]:
        """Read page ``index``'s answer into an :class:`AsyncPage`."""
        data, total = self.options.parser(raw)
        page = AsyncPage(data, total, index, self.paging.page_size, self)
        page._size = len(raw.body)
        return page

    async def __call__(self, index: int) -> AsyncPage[_T]:
        return self.parse(await self.send(index), index)


class AsyncPage(Generic[_T]):
    """One page of a list: its items, the list's total, and the way to the next page.

    Attributes:
        data: the items of this page, in server order.
        total: how many items the whole list has, as the server said (``None`` if it did not).
        page_index: this page's ``current_page`` (from 0).
        page_size: the ``page_size`` it was asked with (``None`` for a list answered whole).
    """

    __slots__ = ("_fetch", "_size", "data", "page_index", "page_size", "total")

    def __init__(
        self,
        data: Sequence[_T],
        total: int | None,
        page_index: int,
        page_size: int | None,
        fetch: PageSource[_T],
    ) -> None:
        # The answer's size in bytes, which tells a walk from this page how far to fetch ahead.
        self._size = 0
        self.data: list[_T] = list(data)
        self.total = total
        self.page_index = page_index
        self.page_size = page_size
        self._fetch = fetch

    def has_next_page(self) -> bool:
        """Whether another page may follow: this one is full and ``total`` is not reached."""
        if self.page_size is None or len(self.data) < self.page_size:
            return False
        return self.total is None or (self.page_index + 1) * self.page_size < self.total

    async def get_next_page(self) -> AsyncPage[_T]:
        """Fetch the page after this one.

        Raises:
            StopAsyncIteration: there is no next page (see :meth:`has_next_page`).
        """
        if not self.has_next_page():
            raise StopAsyncIteration("this is the last page")
        return await self._fetch(self.page_index + 1)

    def iter_pages(self) -> AsyncIterator[AsyncPage[_T]]:
        """Iterate over this page and every page after it, fetched ahead concurrently."""
        return _Pages(_walk(self, self._fetch))

    def __aiter__(self) -> AsyncIterator[_T]:
        return _Items(_walk(self, self._fetch))

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} page {self.page_index} ({len(self.data)} items, "
            f"total={self.total})>"
        )


class AsyncPaginator(Generic[_T]):
    """What a ``list`` call returns: await it for the first page, iterate it for every item.

    ::

        page = await client.virtual_keys.list(page_size=20)   # AsyncPage
        async for vk in client.virtual_keys.list():           # every item, every page
            ...
    """

    __slots__ = ("_fetch", "_raw")

    def __init__(
        self, fetch: PageSource[_T], raw: Callable[[], Awaitable[Any]] | None = None
    ) -> None:
        self._fetch = fetch
        self._raw = raw

    def __await__(self) -> Generator[Any, None, AsyncPage[_T]]:
        if self._raw is not None:
            # with_raw_response: the first page's raw response, parsed on demand.
            result: Any = yield from self._raw().__await__()
            return result  # type: ignore[no-any-return]
        return (yield from self._fetch(0).__await__())

    def __aiter__(self) -> AsyncIterator[_T]:
        return _Items(_walk(None, self._fetch))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class _Items(Generic[_T]):
    """The items of a walk, one by one: what ``async for`` over a list or a page runs.

    A class, not an async generator: the walk is the only async generator of an iteration, so
    that the loop's shutdown (``asyncio.run`` ending with an iterator still alive) closes one
    generator, instead of closing an outer one whose ``finally`` closes an inner one already
    being closed ("asynchronous generator is already running").
    """

    __slots__ = ("_current", "_walk")

    def __init__(self, walk: AsyncGenerator[tuple[AsyncPage[_T], list[_T]], None]) -> None:
        self._walk = walk
        self._current: Iterator[_T] = iter(())

    def __aiter__(self) -> _Items[_T]:
        return self

    async def __anext__(self) -> _T:
        for item in self._current:
            return item
        while True:
            _, fresh = await self._walk.__anext__()
            self._current = iter(fresh)
            for item in self._current:
                return item

    async def aclose(self) -> None:
        """Stop early: cancel the pages fetched ahead (also done when the iterator is dropped)."""
        await self._walk.aclose()


class _Pages(Generic[_T]):
    """The pages of a walk, one by one (``page.iter_pages()``); a class, as :class:`_Items`."""

    __slots__ = ("_walk",)

    def __init__(self, walk: AsyncGenerator[tuple[AsyncPage[_T], list[_T]], None]) -> None:
        self._walk = walk

    def __aiter__(self) -> _Pages[_T]:
        return self

    async def __anext__(self) -> AsyncPage[_T]:
        page, _ = await self._walk.__anext__()
        return page

    async def aclose(self) -> None:
        """Stop early: cancel the pages fetched ahead."""
        await self._walk.aclose()


class _Ahead(Generic[_T]):
    """The requests a walk has sent for pages after the one it is yielding, in page order.

    At most :data:`PREFETCH` are in flight and :data:`MAX_BUFFERED` held (arrived or not). A
    request is sent again the moment one finishes (a done callback), not when the caller gets
    to that page: the window keeps moving while the caller or the parser is busy.

    Memory is bounded by a byte budget, whatever the server sends: what the window holds
    (answers arrived, plus a share of ``max_response_bytes`` reserved for each request in
    flight, which is that request's own size cap) stays within ``max_response_bytes``. A page
    larger than its share is fetched again, alone, with the whole cap when its turn comes.
    """

    __slots__ = (
        "budget",
        "closed",
        "current",
        "last",
        "limit",
        "next_index",
        "share",
        "solo",
        "source",
        "tasks",
    )

    def __init__(self, source: PageSource[_T], next_index: int) -> None:
        self.source = source
        self.tasks: deque[tuple[int, asyncio.Task[RawResponse]]] = deque()
        # The request the walk itself waits for (taken out of ``tasks``), still in flight.
        self.current: asyncio.Task[RawResponse] | None = None
        self.next_index = next_index
        # The last page index ``total`` promises, and how many more pages may be requested.
        self.last = -1
        self.budget = 0
        self.closed = False
        self.limit = source.config.max_response_bytes
        self.share = max(1, self.limit // PREFETCH)
        # Set once a page outgrew its share: pages this large are then fetched one at a time.
        self.solo = False

    def fill(self) -> None:
        if self.closed or self.solo:
            return
        in_flight = sum(1 for _, task in self.tasks if not task.done())
        if self.current is not None and not self.current.done():
            in_flight += 1
        held = sum(len(task.result().body) for _, task in self.tasks if _arrived_whole(task))
        while (
            in_flight < PREFETCH
            and len(self.tasks) < MAX_BUFFERED
            and self.next_index <= self.last
            and self.budget > 0
            and held + (in_flight + 1) * self.share <= self.limit
        ):
            task = asyncio.ensure_future(self.source.send(self.next_index, self.share))
            task.add_done_callback(self._arrived)
            self.tasks.append((self.next_index, task))
            self.next_index += 1
            self.budget -= 1
            in_flight += 1

    def _arrived(self, task: asyncio.Task[RawResponse]) -> None:
        if task.cancelled() or task.exception() is not None:
            return  # a failed page ends the walk when its turn comes; fetch nothing more
        self.fill()

    def take(self) -> tuple[int, asyncio.Task[RawResponse]]:
        """The next page's request: fetched ahead, or sent now; and top the window up.

        Topped up here too, not only in the done callbacks: a caller that finds its pages
        already arrived runs through them (parsing each) without yielding to the event loop,
        so those callbacks would only run once it waits again, with nothing in flight.
        """
        if self.tasks:
            index, task = self.tasks.popleft()
        else:
            index = self.next_index
            self.next_index += 1
            self.budget -= 1
            task = asyncio.ensure_future(self.source.send(index))
        self.current = task
        self.fill()
        return index, task

    def note(self, size: int) -> None:
        """A page of ``size`` bytes arrived: pages larger than a share are fetched one by one."""
        if size > self.share:
            self.solo = True

    async def receive(self, index: int, task: asyncio.Task[RawResponse]) -> RawResponse:
        """The answer of ``task`` (page ``index``), fetched again alone if it outgrew its share."""
        if task.done():
            # Already arrived: parsing it now would hold the loop, so the requests the
            # window just sent would not leave until the next real wait. Let them go first.
            await asyncio.sleep(0)
        try:
            return await task
        except APIResponseTooLargeError as exc:
            if exc.limit >= self.limit:
                raise
            self.solo = True
        finally:
            # Cancelled while waiting (or the page failed): the task is ours to end too.
            if not task.done():
                self.tasks.appendleft((index, task))
        return await self.source.send(index)

    async def close(self) -> None:
        self.closed = True
        if self.tasks:
            await _cancel(deque(task for _, task in self.tasks))
            self.tasks.clear()


def _arrived_whole(task: asyncio.Task[RawResponse]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


class _Seen:
    """What a walk has yielded, to tell a server that ignores paging from a list going on.

    Items are told apart by the paging's identity (an ``id`` or ``slug``), and items that have
    none by their content: a page with nothing new (a server repeating pages, or reshuffling a
    varying field among values already sent) ends the walk. Items without identity are all
    yielded, duplicates included; only the decision to go on looks at their content.
    """

    __slots__ = ("contents", "identity", "keys")

    def __init__(self, paging: Paging) -> None:
        self.identity = paging.identity
        self.keys: set[object] = set()
        self.contents: set[str] = set()

    def fresh(self, data: list[_T]) -> tuple[list[_T], bool]:
        """The items of ``data`` to yield, and whether the page holds anything not seen before."""
        fresh = []
        new = False
        for item in data:
            key = self.identity(item)
            if key is None:
                fresh.append(item)
                # Only items without identity pay for this.
                content = repr(item)
                if content not in self.contents:
                    self.contents.add(content)
                    new = True
            elif key not in self.keys:
                self.keys.add(key)
                fresh.append(item)
                new = True
        return fresh, new


async def _walk(
    first: AsyncPage[_T] | None, source: PageSource[_T]
) -> AsyncGenerator[tuple[AsyncPage[_T], list[_T]], None]:
    """Yield ``first`` and each page after it with its items not seen before, in order.

    The one place that decides when a list ends and what is fetched ahead; both the async and
    the sync iteration run it. Without ``first``, page 0 is fetched first. Pages are counted
    from ``first``, which need not be page 0 (``page.iter_pages()`` on a later page).
    """
    ahead = _Ahead(source, 1 if first is None else first.page_index + 1)
    if first is None:
        page = source.parse(await source.send(0), 0)
    else:
        page = first
        del first  # held as ``page`` until its items are handed out, and no longer
    ahead.note(page._size)
    size = page.page_size
    start = page.page_index
    # Pages this walk may fetch, the first included: the pages ``total`` promises plus one, for
    # a list that grew meanwhile. Unknown until a page says ``total``; capped when none does.
    budget = _page_budget(page)
    fetched = 1
    seen = _Seen(source.paging)
    try:
        while True:
            fresh, new = seen.fresh(page.data)
            if page.page_index != start and page.data and not new:
                # The same items again: the server ignores paging. Stop, yielding nothing new.
                return
            if budget is None and page.total is not None and size is not None:
                budget = max(fetched, _expected_pages(page.total, size) - start) + 1
            more = page.has_next_page() and fetched < (MAX_WALK_PAGES if budget is None else budget)
            if more and page.total is not None and len(seen.keys) >= page.total:
                more = False
            _steer(ahead, page, more, budget, fetched)
            yield page, fresh
            if not more:
                if budget is None and page.has_next_page():
                    raise _endless(page)
                return
            # Not held while the next page arrives and is parsed: a list holds one page at most.
            del page, fresh
            index, task = ahead.take()
            page = source.parse(await ahead.receive(index, task), index)
            ahead.note(page._size)
            fetched += 1
    finally:
        await ahead.close()


def _steer(
    ahead: _Ahead[Any], page: AsyncPage[Any], more: bool, budget: int | None, fetched: int
) -> None:
    """Fetch ahead only within the pages ``total`` promises, before ``page`` is handed out.

    The one extra page a growing list may need is fetched on its own; and the requests leave
    before the caller works on this page, so the two overlap.
    """
    if more and page.total is not None and budget is not None and page.page_size is not None:
        ahead.last = _expected_pages(page.total, page.page_size) - 1
        ahead.budget = budget - fetched - len(ahead.tasks)
        ahead.fill()
    else:
        ahead.last = -1  # nothing more ahead; what is in flight is cancelled at the end


def _endless(page: AsyncPage[Any]) -> APIResponseValidationError:
    return APIResponseValidationError(
        f"the list did not end after {MAX_WALK_PAGES} pages: the server sent no total and "
        "kept sending full pages of new items; iteration stopped",
        status_code=200,
        body=None,
        headers={},
    )


async def _cancel(tasks: deque[asyncio.Task[Any]]) -> None:
    """Cancel pages fetched ahead and wait until they are gone, leaving nothing behind.

    A page that already failed has its exception retrieved (no "exception was never retrieved"
    at garbage collection). If the caller is cancelled while this waits, that cancellation goes
    on (it is not swallowed); the tasks are cancelled already and end on their own.
    """
    pending = list(tasks)
    tasks.clear()
    for task in pending:
        task.cancel()
        task.add_done_callback(_retrieve)
    await asyncio.wait(pending)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _expected_pages(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


def _page_budget(first: AsyncPage[Any]) -> int | None:
    if first.page_size is None:
        return 1  # the whole list in one answer
    if first.total is None:
        return None  # no total yet: only short, empty or repeated pages end it
    return max(1, _expected_pages(first.total, first.page_size) - first.page_index) + 1


class SyncPage(Generic[_T]):
    """A page of a list, for the sync client: iterate it for every item of every page.

    ::

        for vk in client.virtual_keys.list(): ...          # every item, every page
        page = client.virtual_keys.list(page_size=20)      # this page: .data, .total
        page.has_next_page(); page.get_next_page(); page.iter_pages()

    Each page is fetched by the async client on the shared event-loop thread, with the same
    fetch-ahead and the same stopping rules.

    Attributes:
        data: the items of this page, in server order.
        total: how many items the whole list has (``None`` if the server did not say).
        page_index: this page's ``current_page`` (from 0).
        page_size: the ``page_size`` it was asked with (``None`` for a list answered whole).
    """

    __slots__ = ("_async", "_guard")

    def __init__(self, wrapped: AsyncPage[_T], guard: ClientGuard) -> None:
        self._async = wrapped
        # Keeps the client alive (and open) while a page of it is.
        self._guard = guard

    @property
    def data(self) -> list[_T]:
        """The items of this page."""
        return self._async.data

    @property
    def total(self) -> int | None:
        """How many items the whole list has, if the server said."""
        return self._async.total

    @property
    def page_index(self) -> int:
        """The ``current_page`` of this page (from 0)."""
        return self._async.page_index

    @property
    def page_size(self) -> int | None:
        """The ``page_size`` this page was asked with (``None`` for a list answered whole)."""
        return self._async.page_size

    def has_next_page(self) -> bool:
        """Whether another page may follow."""
        return self._async.has_next_page()

    def get_next_page(self) -> SyncPage[_T]:
        """Fetch the page after this one.

        Raises:
            StopIteration: there is no next page.
        """
        from portkey_vk import _portal  # noqa: PLC0415 - the sync side loads anyio

        if not self._async.has_next_page():
            raise StopIteration("this is the last page")
        return SyncPage(_portal.run(self._async.get_next_page), self._guard)

    def iter_pages(self) -> Iterator[SyncPage[_T]]:
        """Iterate over this page and every page after it, fetched ahead concurrently."""
        return _sync_pages(_walk(self._async, self._async._fetch), self._guard)

    def __iter__(self) -> Iterator[_T]:
        # Not a generator method: the iterator holds the walk and the client's guard, not this
        # page, so that `for vk in client.virtual_keys.list()` holds one page at a time.
        return _sync_items(_walk(self._async, self._async._fetch), self._guard)

    @classmethod
    def _first(cls, paginator: AsyncPaginator[_T], guard: ClientGuard) -> SyncPage[_T]:
        """Fetch the first page of a ``list`` call on the portal (the generated facade's hook)."""
        from portkey_vk import _portal  # noqa: PLC0415 - the sync side loads anyio

        return cls(_portal.run(_await, paginator), guard)

    def __len__(self) -> int:
        return len(self._async.data)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncPage", "SyncPage", 1)


def to_sync(value: _S, guard: ClientGuard) -> _S:
    """A result of the async side as the sync facade returns it: a page becomes a SyncPage.

    For what is typed only at run time, such as ``APIResponse.parse()``, which gives a list's
    first page for ``with_raw_response.list()`` and a model for anything else.
    """
    if isinstance(value, AsyncPage):
        return SyncPage(value, guard)  # type: ignore[return-value]
    return value


async def _await(paginator: AsyncPaginator[_T]) -> AsyncPage[_T]:
    return await paginator


def _sync_items(
    walk: AsyncGenerator[tuple[AsyncPage[_T], list[_T]], None], guard: ClientGuard
) -> Iterator[_T]:
    # Closed explicitly (not left to the garbage collector): a `break` in the caller's loop
    # cancels the pages fetched ahead as soon as this generator is closed or dropped. The guard
    # keeps the client alive (and open) meanwhile.
    with contextlib.closing(_blocking(walk)) as pages:
        for step in pages:
            fresh = step[1]
            del step
            yield from fresh
            del fresh  # not held while the next page is fetched
    del guard


def _sync_pages(
    walk: AsyncGenerator[tuple[AsyncPage[_T], list[_T]], None], guard: ClientGuard
) -> Iterator[SyncPage[_T]]:
    with contextlib.closing(_blocking(walk)) as pages:
        for page, _ in pages:
            yield SyncPage(page, guard)


def _blocking(pages: AsyncIterator[_S]) -> Generator[_S, None, None]:
    """Drive an async iterator from a blocking caller, one step per portal call."""
    from portkey_vk import _portal  # noqa: PLC0415 - the sync side loads anyio

    try:
        while True:
            try:
                page = _portal.run(pages.__anext__)
            except StopAsyncIteration:
                return
            yield page
            del page  # not held while the next one is fetched
    except BaseException:
        # A `break`, an error or an interruption (Ctrl-C, SystemExit) in the caller's loop or
        # in a step: cancel what is fetched ahead. What surfaces is the interruption itself,
        # never a failure to close after it.
        with contextlib.suppress(Exception):
            _portal.run(pages.aclose)  # type: ignore[attr-defined]
        raise
