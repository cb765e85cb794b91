"""``virtual_keys.list``: paging on the wire, the stopping rules, fetch-ahead and leaving early.

Every test runs on both surfaces (async and sync). Well-behaved lists come from FakePortkey; the
odd servers a paginator must survive come from :mod:`tests.pager`, whose answer is a function of
the page asked for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portkey_vk import (
    APIResponseValidationError,
    AsyncPage,
    BadRequestError,
    InternalServerError,
    SyncPage,
    VirtualKey,
)
from portkey_vk._pagination import MAX_BUFFERED, PREFETCH
from portkey_vk.testing import FakePortkey
from tests.conftest import LeftTheLoop, Surface
from tests.pager import API_KEY, Pager, honest, key

MakeClient = Callable[..., Surface]


@pytest.fixture
def pager_client(make_client: MakeClient) -> Callable[[Pager], Surface]:
    def make(pager: Pager, **kwargs: Any) -> Surface:
        kwargs.setdefault("max_retries", 0)
        return make_client(api_key=API_KEY, base_url=pager.base_url, **kwargs)

    return make


@pytest.fixture
def pager() -> Iterator[Pager]:
    with Pager(honest(0)) as server:
        yield server


def slugs(items: list[Any]) -> list[str]:
    return [item.slug for item in items]


def store(fake: FakePortkey, count: int, **fields: Any) -> list[str]:
    names = [f"vk-{index:03d}" for index in range(count)]
    for name in names:
        fake.add_virtual_key(name, **fields)
    return names


# -- the wire and the happy path ------------------------------------------------------------------


def test_every_key_of_every_page_in_server_order(fake: FakePortkey, client: Surface) -> None:
    names = store(fake, 23)
    items = client.items(page_size=5)
    assert slugs(items) == names
    assert all(isinstance(item, VirtualKey) for item in items)
    requests = fake.requests
    assert [(r.method, r.path) for r in requests] == [("GET", "/v1/virtual-keys")] * 5
    queries = sorted((int(r.query["current_page"]), r.query["page_size"]) for r in requests)
    assert queries == [(page, "5") for page in range(5)]
    assert all("workspace_id" not in r.query for r in requests)


def test_default_page_size_is_50(fake: FakePortkey, client: Surface) -> None:
    store(fake, 3)
    assert len(client.items()) == 3
    assert fake.requests[0].query["page_size"] == "50"
    assert fake.requests[0].query["current_page"] == "0"


def test_a_list_that_fills_its_last_page_stops_once_total_is_seen(
    fake: FakePortkey, client: Surface
) -> None:
    names = store(fake, 20)
    assert slugs(client.items(page_size=5)) == names
    assert len(fake.requests) == 4, "no empty fifth page: total was reached"


def test_an_empty_list_is_one_request(fake: FakePortkey, client: Surface) -> None:
    assert client.items() == []
    assert len(fake.requests) == 1


def test_workspace_id_is_sent_on_every_page(fake: FakePortkey, client: Surface) -> None:
    store(fake, 3, workspace_id="ws-a")
    fake.add_virtual_key("other", workspace_id="ws-b")
    items = client.items(page_size=2, workspace_id="ws-a")
    assert len(items) == 3
    assert [r.query["workspace_id"] for r in fake.requests] == ["ws-a", "ws-a"]


def test_the_clients_workspace_is_the_default_and_none_sends_none(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    store(fake, 2, workspace_id="ws-a")
    fake.add_virtual_key("other", workspace_id="ws-b")
    client = make_client(workspace_id="ws-b")
    assert slugs(client.items()) == ["other"]
    assert fake.requests[-1].query["workspace_id"] == "ws-b"
    assert len(client.items(workspace_id=None)) == 3
    assert "workspace_id" not in fake.requests[-1].query


def test_the_first_page_alone(fake: FakePortkey, client: Surface) -> None:
    names = store(fake, 7)
    page = client.first_page(page_size=3)
    assert isinstance(page, AsyncPage if client.name == "async" else SyncPage)
    assert slugs(page.data) == names[:3]
    assert (page.total, page.page_index, page.page_size, len(page)) == (7, 0, 3, 3)
    assert page.has_next_page()
    assert len(fake.requests) == 1, "awaiting list() fetches the first page only"
    second = client.next_page(page)
    assert slugs(second.data) == names[3:6]
    third = client.next_page(second)
    assert slugs(third.data) == names[6:]
    assert not third.has_next_page()
    with pytest.raises(StopAsyncIteration if client.name == "async" else StopIteration):
        client.next_page(third)
    assert len(fake.requests) == 3
    assert "page 2 (1 items, total=7)" in repr(third)


def test_iter_pages_and_iterating_a_page(fake: FakePortkey, client: Surface) -> None:
    names = store(fake, 7)
    page = client.first_page(page_size=3)
    pages = client.pages(page)
    assert [p.page_index for p in pages] == [0, 1, 2]
    assert [slug for p in pages for slug in slugs(p.data)] == names
    assert slugs(client.page_items(page)) == names


def test_iter_pages_from_a_later_page_fetches_nothing_past_the_end(
    fake: FakePortkey, client: Surface
) -> None:
    names = store(fake, 10)
    second = client.next_page(client.first_page(page_size=3))
    before = len(fake.requests)
    pages = client.pages(second)
    assert [p.page_index for p in pages] == [1, 2, 3]
    assert [slug for p in pages for slug in slugs(p.data)] == names[3:]
    assert len(fake.requests) - before == 2


def test_raw_response_of_a_list_is_the_first_page(fake: FakePortkey, client: Surface) -> None:
    names = store(fake, 4)
    raw, page = client.call_raw("list", page_size=3)
    assert raw.status_code == 200
    assert raw.request_id is not None
    assert "current_page=0" in raw.url  # type: ignore[attr-defined]
    assert isinstance(page, AsyncPage if client.name == "async" else SyncPage)
    assert slugs(page.data) == names[:3]
    assert page.total == 4
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"page_size": 0}, ValueError),
        ({"page_size": 1001}, ValueError),
        ({"page_size": "5"}, TypeError),
        ({"page_size": True}, TypeError),
        ({"page_size": 2.0}, TypeError),
        ({"workspace_id": ""}, ValueError),
        ({"workspace_id": 5}, TypeError),
        ({"extra_headers": {"x-a": "b\r\nc: d"}}, ValueError),
        ({"timeout": -1}, ValueError),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.first_page(**kwargs)
    with pytest.raises(error):
        client.items(**kwargs)
    assert fake.requests == []


def test_an_item_that_does_not_fit_names_its_index(pager: Pager, pager_client: Any) -> None:
    pager.answer = lambda page, size: {"total": 2, "data": [key(0), key(1, created_at="nope")]}
    client = pager_client(pager)
    with pytest.raises(APIResponseValidationError, match=r"\$\.data\[1\]\.created_at"):
        client.items()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([key(0), key(1)], ["k0", "k1"]),
        ({"success": True, "data": {"total": 1, "data": [key(0)]}}, ["k0"]),
    ],
    ids=["bare-array", "wrapped"],
)
def test_other_list_shapes(pager: Pager, pager_client: Any, body: Any, expected: list[str]) -> None:
    pager.answer = lambda page, size: body if page == 0 else []
    assert slugs(pager_client(pager).items()) == expected


def test_a_body_that_is_not_a_list_is_a_validation_error(pager: Pager, pager_client: Any) -> None:
    pager.answer = lambda page, size: {"object": "list", "items": []}
    with pytest.raises(APIResponseValidationError, match="data array"):
        pager_client(pager).items()


# -- stopping rules, against odd servers --------------------------------------------------------


def test_stops_on_an_empty_page_without_total(pager: Pager, pager_client: Any) -> None:
    pager.answer = honest(10, total=False)
    assert slugs(pager_client(pager).items(page_size=5)) == [f"k{i}" for i in range(10)]
    assert pager.pages_asked == [0, 1, 2], "the empty page 2 ends it"


def test_stops_on_a_short_page_without_total(pager: Pager, pager_client: Any) -> None:
    pager.answer = honest(12, total=False)
    assert len(pager_client(pager).items(page_size=5)) == 12
    assert pager.pages_asked == [0, 1, 2]


def test_stops_on_a_short_page_when_total_claims_more(pager: Pager, pager_client: Any) -> None:
    def answer(page: int, size: int) -> Any:
        count = 12  # but it says 1000
        items = [key(i) for i in range(page * size, min(count, (page + 1) * size))]
        return {"total": 1000, "data": items}

    pager.answer = answer
    assert len(pager_client(pager).items(page_size=5)) == 12
    # Page 2 is short. Taking a page tops the window up before the page is parsed, so at most
    # MAX_BUFFERED pages past it were asked for.
    assert max(pager.pages_asked) <= 2 + MAX_BUFFERED
    assert len(pager.requests) <= 3 + MAX_BUFFERED


def test_stops_once_total_items_were_seen(pager: Pager, pager_client: Any) -> None:
    # Full pages for ever, but it says there are 7.
    pager.answer = lambda page, size: {
        "total": 7,
        "data": [key(page * size + i) for i in range(size)],
    }
    items = pager_client(pager).items(page_size=5)
    assert slugs(items) == [f"k{i}" for i in range(10)]
    assert pager.pages_asked == [0, 1]


def test_a_server_that_ignores_paging_yields_each_key_once(pager: Pager, pager_client: Any) -> None:
    same = [key(i) for i in range(5)]
    pager.answer = lambda page, size: {"total": 100, "data": same}
    items = pager_client(pager).items(page_size=5)
    assert slugs(items) == [f"k{i}" for i in range(5)]
    assert len(pager.requests) <= 2 + MAX_BUFFERED
    assert len(pager.requests) <= math.ceil(100 / 5) + 1


def test_a_server_that_ignores_paging_without_total(pager: Pager, pager_client: Any) -> None:
    same = [key(i) for i in range(5)]
    pager.answer = lambda page, size: same
    assert len(pager_client(pager).items(page_size=5)) == 5
    assert pager.pages_asked == [0, 1]


def test_a_repeated_page_of_keys_without_ids_ends_it(pager: Pager, pager_client: Any) -> None:
    same = [{"name": f"anonymous {i}"} for i in range(5)]
    pager.answer = lambda page, size: {"data": same}
    assert len(pager_client(pager).items(page_size=5)) == 5
    assert pager.pages_asked == [0, 1]


def test_a_growing_list_fetches_at_most_one_page_past_total(
    pager: Pager, pager_client: Any
) -> None:
    # It says 20 but always has another full page of new keys (and a higher total each time).
    pager.answer = lambda page, size: {
        "total": 20 + page * size,
        "data": [key(page * size + i) for i in range(size)],
    }
    items = pager_client(pager).items(page_size=5)
    budget = math.ceil(20 / 5) + 1
    assert len(pager.requests) == budget
    assert len(items) == budget * 5
    assert len(set(slugs(items))) == len(items)


def test_a_shifted_list_never_yields_a_key_twice(pager: Pager, pager_client: Any) -> None:
    # A key was added at the front between the pages: page 1 repeats page 0's last key.
    def answer(page: int, size: int) -> Any:
        start = page * size - (1 if page else 0)
        return {"total": 11, "data": [key(i) for i in range(start, min(11, start + size))]}

    pager.answer = answer
    items = pager_client(pager).items(page_size=5)
    assert slugs(items) == [f"k{i}" for i in range(11)]


def test_an_error_mid_list_raises_after_the_pages_before_it(
    pager: Pager, pager_client: Any
) -> None:
    inner = honest(30)
    pager.answer = lambda page, size: (400, {"error": "no"}) if page == 2 else inner(page, size)
    client = pager_client(pager)
    seen: list[Any] = []
    with pytest.raises(BadRequestError):
        seen.extend(client.items(page_size=5))
    assert client.settle() == {"tasks": 0, "acquired": 0}


def test_a_failing_page_is_retried_like_a_read(pager: Pager, pager_client: Any) -> None:
    inner = honest(12)
    failures = {1: 1}

    def answer(page: int, size: int) -> Any:
        if failures.get(page):
            failures[page] -= 1
            return 503, {"error": "busy"}
        return inner(page, size)

    pager.answer = answer
    client = pager_client(pager, max_retries=1)
    assert len(client.items(page_size=5)) == 12
    assert sorted(pager.pages_asked) == [0, 1, 1, 2]


def test_a_page_that_keeps_failing_raises(pager: Pager, pager_client: Any) -> None:
    pager.answer = lambda page, size: (500, {"error": "down"})
    with pytest.raises(InternalServerError):
        pager_client(pager, max_retries=1).items()
    assert pager.pages_asked == [0, 0]


# -- fetch-ahead --------------------------------------------------------------------------------


def test_pages_are_fetched_ahead_concurrently_and_yielded_in_order(
    pager: Pager, pager_client: Any
) -> None:
    pager.answer = honest(45)
    pager.delay = 0.15
    client = pager_client(pager)
    started = time.monotonic()
    items = client.items(page_size=5)
    elapsed = time.monotonic() - started
    assert slugs(items) == [f"k{i}" for i in range(45)]
    assert sorted(pager.pages_asked) == list(range(9))
    assert pager.max_in_flight == PREFETCH
    # One page at a time would take 9 x 0.15 = 1.35 s; ahead: 1 + ceil(8 / 4) rounds.
    assert elapsed < 9 * 0.15 * 0.75


def test_nothing_is_fetched_ahead_without_a_total(pager: Pager, pager_client: Any) -> None:
    pager.answer = honest(12, total=False)
    pager.delay = 0.02
    pager_client(pager).items(page_size=5)
    assert pager.max_in_flight == 1


def _assert_left_cleanly(client: Surface) -> None:
    # No task left on the client's loop, no connection left checked out of the pool.
    assert client.settle() == {"tasks": 0, "acquired": 0}


def _slow_from_page_2(page: int) -> float:
    return 0.0 if page < 2 else 5.0


@pytest.mark.filterwarnings("error")
def test_break_cancels_the_pages_in_flight(pager: Pager, pager_client: Any) -> None:
    pager.answer = honest(100)
    pager.delay_for = _slow_from_page_2
    client = pager_client(pager)
    started = time.monotonic()
    items = client.items(page_size=5, stop_after=7)  # in page 1
    assert slugs(items) == [f"k{i}" for i in range(7)]
    _assert_left_cleanly(client)
    # Pages 2-5 were on the server, each to be answered in 5 s: cancelled, not awaited.
    assert time.monotonic() - started < 2.5
    assert sorted(pager.pages_asked) == [0, 1, 2, 3, 4, 5]
    # The client hung up on them: the server saw each of those requests end.
    deadline = time.monotonic() + 2
    while pager.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pager.in_flight == 0
    # The client still works afterwards.
    pager.delay_for = None
    assert len(client.items(page_size=50)) == 100


@pytest.mark.filterwarnings("error")
def test_break_in_the_first_page_sends_little(pager: Pager, pager_client: Any) -> None:
    pager.answer = honest(100)
    pager.delay = 0.3
    client = pager_client(pager)
    assert slugs(client.items(page_size=5, stop_after=2)) == ["k0", "k1"]
    _assert_left_cleanly(client)
    assert set(pager.pages_asked) <= {0, 1, 2, 3, 4}


def test_an_exception_in_the_loop_cancels_the_pages_in_flight(
    pager: Pager, pager_client: Any
) -> None:
    pager.answer = honest(100)
    pager.delay_for = _slow_from_page_2
    client = pager_client(pager)
    started = time.monotonic()
    with pytest.raises(LeftTheLoop):
        client.items(page_size=5, raise_after=7)
    _assert_left_cleanly(client)
    assert time.monotonic() - started < 2.5
    assert len(pager.requests) <= 2 + MAX_BUFFERED


def test_breaking_out_of_iter_pages_cancels_too(pager: Pager, pager_client: Any) -> None:
    pager.answer = honest(100)
    client = pager_client(pager)
    page = client.first_page(page_size=5)
    pager.delay_for = lambda page: 0.0 if page < 1 else 5.0
    started = time.monotonic()
    if client.name == "sync":
        for p in page.iter_pages():
            assert p.page_index == 0
            break
    else:

        async def walk() -> None:
            async for p in page.iter_pages():
                assert p.page_index == 0
                break

        client._run(walk())  # type: ignore[attr-defined]
    _assert_left_cleanly(client)
    assert time.monotonic() - started < 2.5


# Async only: a sync caller cannot be cancelled (its Ctrl-C is tested in test_portal).
@pytest.mark.parametrize("surface_name", ["async"])
def test_cancelling_an_async_iteration_cancels_the_pages_in_flight(
    pager: Pager, pager_client: Any, surface_name: str
) -> None:
    import asyncio  # noqa: PLC0415

    pager.answer = honest(100)
    client = pager_client(pager)
    pager.delay_for = lambda page: 0.0 if page < 1 else 5.0

    async def consume() -> None:
        async for _ in client.client.virtual_keys.list(page_size=5):
            pass

    async def go() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)  # page 0 in, pages 1-4 on the server
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    client._run(go())  # type: ignore[attr-defined]
    assert time.monotonic() - started < 2.5
    _assert_left_cleanly(client)
    assert sorted(pager.pages_asked) == [0, 1, 2, 3, 4]
    assert len(pager.requests) <= 1 + PREFETCH


def test_a_slow_caller_holds_at_most_max_buffered_pages(
    pager: Pager, pager_client: Any, surface_name: str
) -> None:
    import asyncio  # noqa: PLC0415

    pager.answer = honest(100)
    pager.delay = 0.02
    client = pager_client(pager)
    asked_while_on_page_0: list[int] = []

    def pause() -> None:
        asked_while_on_page_0.extend(pager.pages_asked)

    if surface_name == "sync":
        for index, _ in enumerate(client.client.virtual_keys.list(page_size=5)):
            if index == 0:
                time.sleep(0.4)  # everything fetched ahead has arrived by now
                pause()
    else:

        async def go() -> None:
            index = 0
            async for _ in client.client.virtual_keys.list(page_size=5):
                if index == 0:
                    await asyncio.sleep(0.4)
                    pause()
                index += 1

        client._run(go())
    assert sorted(asked_while_on_page_0) == list(range(1 + MAX_BUFFERED))
    assert pager.max_in_flight == PREFETCH
    assert sorted(pager.pages_asked) == list(range(20))
