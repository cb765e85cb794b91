"""``Cache``: hits, single flight, stale-if-error, negative caching, bounds and invalidation.

Behaviour is proven on both surfaces (the async client on a private loop, the generated sync
facade) through ``make_client``; what only one surface has (64 coroutines, 16 threads, the sync
hit that never touches the event-loop thread) is tested on that surface. Time is a fake clock
the tests move: nothing here sleeps through a TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import portkey_vk._retry
from portkey_vk import (
    APIConnectionError,
    AsyncPortkey,
    AuthenticationError,
    Cache,
    CacheStats,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    Portkey,
    PortkeyError,
    RateLimitError,
    _portal,
    _sync,
)
from portkey_vk._cache import MISS, peek, query_items
from portkey_vk.testing import FakePortkey
from tests.conftest import AsyncSurface, Surface, SyncSurface
from tests.hostile import HostileServer, async_test, client_for, ok, respond

MakeClient = Callable[..., Surface]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def stats(surface: Surface) -> CacheStats:
    cache = surface.client.cache
    assert cache is not None
    return cache.stats


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ttl": 0}, ValueError),
        ({"ttl": -1.0}, ValueError),
        ({"ttl": float("inf")}, ValueError),
        ({"ttl": float("nan")}, ValueError),
        ({"ttl": "30"}, TypeError),
        ({"ttl": True}, TypeError),
        ({"ttl": 1, "max_entries": 0}, ValueError),
        ({"ttl": 1, "max_entries": 1.5}, TypeError),
        ({"ttl": 1, "max_entries": True}, TypeError),
        ({"ttl": 1, "stale_if_error": -1}, ValueError),
        ({"ttl": 1, "stale_if_error": float("inf")}, ValueError),
        ({"ttl": 1, "negative_ttl": -0.5}, ValueError),
        ({"ttl": 1, "negative_ttl": None}, TypeError),
        ({"ttl": 1, "clock": 5}, TypeError),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Cache(**kwargs)


def test_settings_are_readable_and_repr_is_plain() -> None:
    cache = Cache(30, max_entries=5, stale_if_error=300, negative_ttl=2)
    assert (cache.ttl, cache.max_entries, cache.stale_if_error, cache.negative_ttl) == (
        30.0,
        5,
        300.0,
        2.0,
    )
    assert repr(cache) == (
        "Cache(ttl=30.0, max_entries=5, stale_if_error=300.0, negative_ttl=2.0, size=0)"
    )
    assert len(cache) == 0
    assert cache.stats == CacheStats()


def test_a_client_refuses_what_is_not_a_cache(fake: FakePortkey) -> None:
    with pytest.raises(TypeError, match="cache"):
        AsyncPortkey(api_key=fake.api_key, cache={"ttl": 30})  # type: ignore[arg-type]
    client = AsyncPortkey(api_key=fake.api_key)
    with pytest.raises(TypeError, match="cache"):
        client.with_options(cache=30)  # type: ignore[arg-type]


def test_uncached_is_the_default_and_the_same_coroutine_as_before(fake: FakePortkey) -> None:
    client = AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url)
    assert client.cache is None
    resource = client.virtual_keys
    coro = resource._cached_get(("virtual-keys", "k"), cast_to=object)
    # Exactly what _get hands back: the retry loop's coroutine itself, no wrapper frame.
    assert coro.cr_code is portkey_vk._retry.send.__code__  # type: ignore[attr-defined]
    coro.close()
    assert Portkey(api_key=fake.api_key).cache is None


# -- hits and keys ------------------------------------------------------------------------------


def test_a_second_read_within_ttl_comes_from_memory(
    fake: FakePortkey, make_client: MakeClient, clock: Clock
) -> None:
    stored = fake.add_virtual_key("prod-openai", name="v1")
    client = make_client(cache=Cache(ttl=30.0, clock=clock))
    assert client.retrieve("prod-openai") == stored
    clock.advance(29.9)
    assert client.retrieve(slug="prod-openai") == stored
    assert len(fake.requests) == 1
    assert stats(client) == CacheStats(hits=1, misses=1, size=1)
    fake.add_virtual_key("prod-openai", name="v2")
    clock.advance(0.1)
    assert client.retrieve("prod-openai").name == "v2"
    assert len(fake.requests) == 2


def test_a_sync_hit_never_needs_the_event_loop_thread(
    fake: FakePortkey, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_virtual_key("k")
    with Portkey(api_key=fake.api_key, base_url=fake.base_url, cache=Cache(ttl=30)) as client:
        first = client.virtual_keys.retrieve("k")

        def no_hop(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a cache hit went to the event-loop thread")

        monkeypatch.setattr(_portal, "run", no_hop)
        for _ in range(100):
            assert client.virtual_keys.retrieve("k") is first
        monkeypatch.undo()
    assert len(fake.requests) == 1


def test_a_sync_miss_and_bad_input_behave_as_uncached(fake: FakePortkey) -> None:
    with Portkey(api_key=fake.api_key, base_url=fake.base_url, cache=Cache(ttl=30)) as client:
        with pytest.raises(ValueError, match="empty"):
            client.virtual_keys.retrieve("")
        with pytest.raises(NotFoundError):
            client.virtual_keys.retrieve("missing")
        assert fake.requests[-1].slug == "missing"


def test_peek_gives_up_on_a_coroutine_that_suspends() -> None:
    async def suspends() -> int:
        await asyncio.sleep(0)
        return 1

    assert peek(suspends()) is MISS


def test_entries_do_not_cross_api_keys(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    cache = Cache(ttl=30)
    good = make_client(cache=cache)
    wrong = make_client(api_key="pk-wrong-key", cache=cache)
    good.retrieve("k")
    with pytest.raises(AuthenticationError):
        wrong.retrieve("k")
    assert len(fake.requests) == 2
    # No key, and nothing the key could be read back from, in the entries.
    text = repr(list(cache._entries)) + repr(cache._by_prefix)
    assert fake.api_key not in text
    assert "pk-wrong-key" not in text


def test_entries_do_not_cross_base_urls(fake: FakePortkey, make_client: MakeClient) -> None:
    cache = Cache(ttl=30)
    with FakePortkey(api_key=fake.api_key) as other:
        fake.add_virtual_key("k", name="first")
        other.add_virtual_key("k", name="second")
        one = make_client(cache=cache)
        two = make_client(base_url=other.base_url, cache=cache)
        assert one.retrieve("k").name == "first"
        assert two.retrieve("k").name == "second"
        assert one.retrieve("k").name == "first"
    assert stats(one).size == 2


def test_a_str_subclass_slug_shares_the_plain_entry(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    class Slug(str):
        __slots__ = ()

        def __hash__(self) -> int:
            return 0

    fake.add_virtual_key("k")
    client = make_client(cache=Cache(ttl=30))
    client.retrieve("k")
    client.retrieve(Slug("k"))
    assert len(fake.requests) == 1


def test_raw_responses_bypass_the_cache(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    client = make_client(cache=Cache(ttl=30))
    client.retrieve_raw("k")
    raw, parsed = client.retrieve_raw("k")
    assert raw.status_code == 200
    assert parsed.slug == "k"
    assert len(fake.requests) == 2
    assert stats(client) == CacheStats()


def test_a_closed_client_raises_even_for_a_cached_key(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    fake.add_virtual_key("k")
    client = make_client(cache=Cache(ttl=30))
    client.retrieve("k")
    client.close()
    with pytest.raises(PortkeyError, match="closed"):
        client.retrieve("k")


def test_ten_thousand_reads_over_a_hundred_slugs_send_at_most_a_hundred_requests(
    fake: FakePortkey, make_client: MakeClient, clock: Clock
) -> None:
    slugs = [f"key-{i}" for i in range(100)]
    for slug in slugs:
        fake.add_virtual_key(slug)
    client = make_client(cache=Cache(ttl=30.0, clock=clock))
    for i in range(10_000):
        assert client.retrieve(slugs[(i * 7) % 100]).slug == slugs[(i * 7) % 100]
        clock.advance(0.001)  # 10 s in all: inside the TTL
    assert len(fake.requests) <= 100
    assert stats(client).misses == len(fake.requests) == 100
    assert stats(client).hits == 9_900


# -- single flight ------------------------------------------------------------------------------


def test_sixty_four_concurrent_async_reads_send_one_request(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(0.05)

    async def main() -> list[Any]:
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=Cache(ttl=30)
        ) as client:
            results = await asyncio.gather(*(client.virtual_keys.retrieve("k") for _ in range(64)))
            assert client.cache is not None
            assert client.cache.stats == CacheStats(misses=1, coalesced=63, size=1)
            return results

    results = asyncio.run(main())
    assert len(fake.requests) == 1
    assert all(vk is results[0] for vk in results)


def test_sixteen_threads_on_the_sync_client_send_one_request(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(0.3)
    barrier = threading.Barrier(16)
    results: list[Any] = []
    with Portkey(api_key=fake.api_key, base_url=fake.base_url, cache=Cache(ttl=30)) as client:

        def work() -> None:
            barrier.wait()
            results.append(client.virtual_keys.retrieve("k"))

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.cache is not None
        assert client.cache.stats.misses == 1
        assert client.cache.stats.coalesced + client.cache.stats.hits == 15
    assert len(results) == 16
    assert len(fake.requests) == 1


def test_an_error_reaches_every_waiter_each_with_its_own_copy(fake: FakePortkey) -> None:
    fake.fail_next(500)
    fake.delay_next(0.05)

    async def main() -> list[BaseException]:
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, max_retries=0, cache=Cache(ttl=30)
        ) as client:
            return await asyncio.gather(
                *(client.virtual_keys.retrieve("k") for _ in range(8)), return_exceptions=True
            )

    errors = asyncio.run(main())
    assert len(fake.requests) == 1
    assert all(isinstance(e, InternalServerError) for e in errors)
    assert len({id(e) for e in errors}) == 8
    assert {e.status_code for e in errors} == {500}  # type: ignore[attr-defined]


def test_cancelling_one_waiter_leaves_the_request_to_the_others(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(0.2)

    async def main() -> None:
        cache = Cache(ttl=30)
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=cache
        ) as client:
            tasks = [asyncio.create_task(client.virtual_keys.retrieve("k")) for _ in range(3)]
            await asyncio.sleep(0.05)
            tasks[0].cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            assert isinstance(done[0], asyncio.CancelledError)
            assert done[1].slug == done[2].slug == "k"  # type: ignore[union-attr]
            assert cache.stats.size == 1

    asyncio.run(main())
    assert len(fake.requests) == 1


def test_the_last_waiter_leaving_cancels_the_request(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(0.5)

    async def main() -> None:
        cache = Cache(ttl=30)
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=cache
        ) as client:
            tasks = [asyncio.create_task(client.virtual_keys.retrieve("k")) for _ in range(2)]
            await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)
            assert cache._flights == {}
            assert cache.stats.size == 0
            # The next read starts afresh (and is not delayed).
            assert (await client.virtual_keys.retrieve("k")).slug == "k"
            assert cache.stats.misses == 2

    asyncio.run(main())


def test_clients_on_two_loops_can_share_one_cache(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    cache = Cache(ttl=30)
    first, second = (
        AsyncSurface.create(api_key=fake.api_key, base_url=fake.base_url, cache=cache)
        for _ in range(2)
    )
    try:
        assert first.retrieve("k") is second.retrieve("k")
    finally:
        first.dispose()
        second.dispose()
    assert len(fake.requests) == 1


# -- stale if error -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        lambda fake: fake.fail_next(503),
        lambda fake: fake.fail_next(500),
        lambda fake: fake.fail_next(429),
        lambda fake: fake.fail_next(408),
        lambda fake: fake.delay_next(1.0),  # a timeout
    ],
    ids=["503", "500", "429", "408", "timeout"],
)
def test_a_failed_refresh_serves_the_stale_entry(
    fake: FakePortkey,
    make_client: MakeClient,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[FakePortkey], None],
) -> None:
    caplog.set_level(logging.WARNING, logger="portkey_vk")
    stored = fake.add_virtual_key("k")
    client = make_client(
        max_retries=0, timeout=0.2, cache=Cache(ttl=30, stale_if_error=300, clock=clock)
    )
    client.retrieve("k")
    clock.advance(100)
    failure(fake)
    assert client.retrieve("k") == stored
    assert stats(client).stale_served == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "stale" in warnings[0].getMessage()
    assert "virtual-keys/k" in warnings[0].getMessage()
    assert fake.api_key not in caplog.text


def test_stale_is_logged_once_per_key_and_not_past_its_window(
    fake: FakePortkey, make_client: MakeClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="portkey_vk")
    fake.add_virtual_key("k")
    client = make_client(max_retries=0, cache=Cache(ttl=30, stale_if_error=60, clock=clock))
    client.retrieve("k")
    fake.fail_next(503, times=10)
    for _ in range(5):
        clock.advance(10)  # t = 10 .. 50: fresh until 30, stale until 90
        client.retrieve("k")
    clock.advance(41)  # t = 91: past the stale window
    with pytest.raises(InternalServerError):
        client.retrieve("k")
    assert len([r for r in caplog.records if "stale" in r.getMessage()]) == 1
    assert stats(client).size == 0


def test_without_stale_if_error_a_failed_refresh_raises(
    fake: FakePortkey, make_client: MakeClient, clock: Clock
) -> None:
    fake.add_virtual_key("k")
    client = make_client(max_retries=0, cache=Cache(ttl=30, clock=clock))
    client.retrieve("k")
    clock.advance(31)
    fake.fail_next(503)
    with pytest.raises(InternalServerError):
        client.retrieve("k")


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError)],
)
def test_auth_and_not_found_never_serve_stale_and_drop_the_entry(
    fake: FakePortkey,
    make_client: MakeClient,
    clock: Clock,
    status: int,
    error: type[Exception],
) -> None:
    fake.add_virtual_key("k")
    client = make_client(max_retries=0, cache=Cache(ttl=30, stale_if_error=300, clock=clock))
    client.retrieve("k")
    clock.advance(31)
    fake.fail_next(status)
    with pytest.raises(error):
        client.retrieve("k")
    assert stats(client).size == 0
    assert stats(client).stale_served == 0


def test_other_errors_raise_and_keep_the_stale_entry(
    fake: FakePortkey, make_client: MakeClient, clock: Clock
) -> None:
    stored = fake.add_virtual_key("k")
    client = make_client(max_retries=0, cache=Cache(ttl=30, stale_if_error=300, clock=clock))
    client.retrieve("k")
    clock.advance(31)
    fake.fail_next(400)
    with pytest.raises(PortkeyError):
        client.retrieve("k")
    fake.fail_next(502)
    assert client.retrieve("k") == stored


def test_after_a_failed_refresh_stale_is_served_without_asking_for_a_while(
    fake: FakePortkey, make_client: MakeClient, clock: Clock
) -> None:
    fake.add_virtual_key("k")
    client = make_client(max_retries=0, cache=Cache(ttl=30, stale_if_error=300, clock=clock))
    client.retrieve("k")
    clock.advance(31)
    fake.fail_next(429, times=2)
    client.retrieve("k")
    for _ in range(4):
        clock.advance(1)
        client.retrieve("k")  # within the 5 s back-off: no request
    assert len(fake.requests) == 2
    clock.advance(1.5)
    client.retrieve("k")  # the back-off is over: one more try, failing again
    assert len(fake.requests) == 3
    assert stats(client).stale_served == 6


class Relay:
    """A TCP relay on a fixed loopback port in front of a fake: stop it and the control plane
    refuses connections; start it again (same port) and it is back."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()
        self.server = None

    def start(self) -> Relay:
        self._run(self._start())
        return self

    def stop(self) -> None:
        self._run(self._stop())

    def close(self) -> None:
        if self.server is not None:
            self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def relay(fake: FakePortkey) -> Iterator[Relay]:
    port = int(fake.base_url.split(":")[2].split("/")[0])
    relay = Relay(port).start()
    yield relay
    relay.close()


def test_outage_drill_every_cached_read_succeeds_then_fresh_values_return(
    fake: FakePortkey, relay: Relay, make_client: MakeClient, clock: Clock
) -> None:
    slugs = [f"key-{i}" for i in range(5)]
    for slug in slugs:
        fake.add_virtual_key(slug, name=f"{slug} before")
    client = make_client(
        base_url=f"http://127.0.0.1:{relay.port}/v1",
        max_retries=0,
        cache=Cache(ttl=30, stale_if_error=300, clock=clock),
    )
    for slug in slugs:
        client.retrieve(slug)
    clock.advance(31)  # every entry has expired
    errors = 0
    reads = 0

    def read_all(expected: str) -> None:
        nonlocal errors, reads
        for slug in slugs:
            reads += 1
            try:
                assert client.retrieve(slug).name == f"{slug} {expected}"
            except (APIConnectionError, InternalServerError):
                errors += 1

    # The control plane answers 503 ...
    fake.fail_next(503, times=len(slugs))
    read_all("before")
    assert stats(client).stale_served == len(slugs)
    # ... then refuses connections, for 30 s of simulated time.
    relay.stop()
    for _ in range(30):
        clock.advance(1)
        read_all("before")
    assert errors == 0
    assert reads == 31 * len(slugs)
    assert stats(client).stale_served == reads
    # Recovery: the values changed meanwhile, and fresh ones are served again.
    for slug in slugs:
        fake.add_virtual_key(slug, name=f"{slug} after")
    relay.start()
    clock.advance(5)
    read_all("after")
    served = stats(client).stale_served
    read_all("after")
    assert errors == 0
    assert stats(client).stale_served == served


# -- negative caching ---------------------------------------------------------------------------


def test_a_404_is_remembered_for_negative_ttl_and_raised_afresh(
    fake: FakePortkey, make_client: MakeClient, clock: Clock
) -> None:
    client = make_client(cache=Cache(ttl=30, negative_ttl=10, clock=clock))
    with pytest.raises(NotFoundError) as first:
        client.retrieve("missing")
    with pytest.raises(NotFoundError) as second:
        client.retrieve("missing")
    with pytest.raises(NotFoundError) as third:
        client.retrieve("missing")
    assert len(fake.requests) == 1
    assert second.value is not first.value
    assert third.value is not second.value
    assert second.value.message == first.value.message
    assert second.value.status_code == 404
    # Each copy's traceback holds only its own raise, not every earlier one.
    tb_len = len(list(_frames(third.value)))
    assert tb_len == len(list(_frames(second.value)))
    assert stats(client).hits == 2
    clock.advance(10)
    fake.add_virtual_key("missing")
    assert client.retrieve("missing").slug == "missing"
    assert len(fake.requests) == 2


def _frames(exc: BaseException) -> Iterator[Any]:
    tb = exc.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_without_negative_ttl_a_404_is_not_remembered(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    client = make_client(cache=Cache(ttl=30))
    for _ in range(2):
        with pytest.raises(NotFoundError):
            client.retrieve("missing")
    assert len(fake.requests) == 2
    assert stats(client).size == 0


# -- invalidation and views ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["update", "delete"])
def test_a_write_through_any_view_invalidates_the_slug(
    fake: FakePortkey, make_client: MakeClient, method: str
) -> None:
    fake.add_virtual_key("k")
    fake.add_virtual_key("other")
    client = make_client(cache=Cache(ttl=30))
    view = client.with_options(timeout=5.0)
    client.retrieve("k")
    client.retrieve("other")
    args = {"note": "rotated"} if method == "update" else {}
    with contextlib.suppress(NotFoundError):
        view.call(method, "k", **args)
    assert stats(client).size == 1
    fake.add_virtual_key("k")  # back, if the write was a delete
    client.retrieve("k")
    client.retrieve("other")
    assert [r.slug for r in fake.requests if r.method == "GET"] == ["k", "other", "k"]


def test_with_options_shares_the_cache_unless_told_otherwise(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    fake.add_virtual_key("k")
    cache = Cache(ttl=30)
    client = make_client(cache=cache)
    assert client.with_options(max_retries=0).client.cache is cache
    uncached = client.with_options(cache=None)
    assert uncached.client.cache is None
    other = Cache(ttl=5)
    assert client.with_options(cache=other).client.cache is other
    client.retrieve("k")
    client.with_options(timeout=3.0).retrieve("k")
    assert len(fake.requests) == 1
    uncached.retrieve("k")
    uncached.retrieve("k")
    assert len(fake.requests) == 3
    assert cache.stats.hits == 1


def test_invalidate_and_clear(fake: FakePortkey, make_client: MakeClient) -> None:
    for slug in ("a", "b"):
        fake.add_virtual_key(slug)
    cache = Cache(ttl=30)
    client = make_client(cache=cache)
    wrong_key = make_client(api_key="pk-other", cache=cache)
    client.retrieve("a")
    client.retrieve("b")
    with pytest.raises(AuthenticationError):
        wrong_key.retrieve("a")
    assert cache.invalidate("a", resource="providers") == 0
    assert cache.invalidate("a") == 1
    assert cache.invalidate("a") == 0
    with pytest.raises(TypeError):
        cache.invalidate(1)  # type: ignore[arg-type]
    assert len(cache) == 1
    cache.clear()
    assert cache.stats.size == 0
    assert cache.stats.misses == 3  # counters survive clear()


def test_a_read_in_flight_during_a_write_is_not_stored(fake: FakePortkey) -> None:
    fake.add_virtual_key("k", name="old")
    fake.delay_next(0.2)

    async def main() -> None:
        cache = Cache(ttl=30)
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=cache
        ) as client:
            read = asyncio.create_task(client.virtual_keys.retrieve("k"))
            await asyncio.sleep(0.05)
            fake.add_virtual_key("k", name="new")
            cache.invalidate("k")
            assert (await read).name in ("old", "new")
            assert cache.stats.size == 0
            assert (await client.virtual_keys.retrieve("k")).name == "new"

    asyncio.run(main())
    assert len(fake.requests) == 2


def test_clear_detaches_reads_in_flight(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(0.1)

    async def main() -> None:
        cache = Cache(ttl=30)
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=cache
        ) as client:
            read = asyncio.create_task(client.virtual_keys.retrieve("k"))
            await asyncio.sleep(0.03)
            cache.clear()
            await read
            assert len(cache) == 0

    asyncio.run(main())


# -- bounds -------------------------------------------------------------------------------------


def test_lru_eviction_at_max_entries(fake: FakePortkey, make_client: MakeClient) -> None:
    for i in range(6):
        fake.add_virtual_key(f"k{i}")
    client = make_client(cache=Cache(ttl=30, max_entries=3))
    for slug in ("k0", "k1", "k2"):
        client.retrieve(slug)
    client.retrieve("k0")  # k0 is now the most recently used; k1 the least
    client.retrieve("k3")
    assert stats(client).evictions == 1
    assert stats(client).size == 3
    requests = len(fake.requests)
    client.retrieve("k0")
    assert len(fake.requests) == requests
    client.retrieve("k1")
    assert len(fake.requests) == requests + 1


def test_memory_stays_flat_under_a_stream_of_distinct_slugs() -> None:
    cache = Cache(ttl=3600, max_entries=200)

    async def fetch_value() -> dict[str, str]:
        return {"slug": "x" * 64}

    async def stream(start: int, count: int) -> None:
        for i in range(start, start + count):
            key = (("virtual-keys", f"slug-{i}"), (), ("http://x", "digest"))
            await (cache._hit(key) or cache._fetch(key, fetch_value))

    async def main() -> tuple[int, int]:
        await stream(0, 2_000)
        gc.collect()
        tracemalloc.start()
        try:
            await stream(2_000, 2_000)
            gc.collect()
            middle = tracemalloc.get_traced_memory()[0]
            await stream(4_000, 10_000)
            gc.collect()
            end = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        return middle, end

    middle, end = asyncio.run(main())
    assert len(cache) == 200
    # The index holds the 200 slugs' paths and their resource's, nothing of the evicted.
    assert len(cache._by_prefix) == 200 + 1
    assert cache.stats.evictions == 14_000 - 200
    # 10,000 more distinct slugs, and what is held has not grown (a few KB of noise at most).
    assert end - middle < 64 * 1024, (middle, end)


# -- observability ------------------------------------------------------------------------------


def test_misses_log_the_stats_at_info_and_hits_at_debug(
    fake: FakePortkey, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_virtual_key("k")
    client = make_client(cache=Cache(ttl=30))
    caplog.set_level(logging.INFO, logger="portkey_vk")
    client.retrieve("k")
    client.retrieve("k")
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith("cache miss virtual-keys/k: fetching (hits=0 misses=1") for m in info)
    assert not any("cache hit" in r.getMessage() for r in caplog.records)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    client.retrieve("k")
    assert [r.getMessage() for r in caplog.records] == ["cache hit virtual-keys/k"]
    assert fake.api_key not in caplog.text


def test_surfaces_agree_on_stats(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    client = make_client(cache=Cache(ttl=30))
    assert isinstance(client, AsyncSurface | SyncSurface)
    for _ in range(3):
        client.retrieve("k")
    with pytest.raises(NotFoundError):
        client.retrieve("nope")
    assert stats(client) == CacheStats(hits=2, misses=2, size=1)


def test_rate_limit_without_a_cached_entry_raises(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    client = make_client(max_retries=0, cache=Cache(ttl=30, stale_if_error=300))
    fake.fail_next(429)
    with pytest.raises(RateLimitError):
        client.retrieve("k")


@async_test
async def test_a_create_forgets_a_remembered_404_for_its_slug() -> None:
    created = {"success": True, "data": {"slug": "new"}}
    async with HostileServer(
        respond(404, {"success": False, "data": {"message": "not found"}}),
        respond(200, created),
        ok(slug="new"),
    ) as server:
        cache = Cache(ttl=30, negative_ttl=60)
        async with client_for(server.base_url(), cache=cache) as client:
            with pytest.raises(NotFoundError):
                await client.virtual_keys.retrieve("new")
            with pytest.raises(NotFoundError):
                await client.virtual_keys.retrieve("new")  # remembered
            ref = await client.virtual_keys.create(name="n", provider="openai", key="sk-x")
            assert ref.slug == "new"
            assert (await client.virtual_keys.retrieve("new")).slug == "new"
        # GET (404), POST, GET: the raw server does not read bodies, so it sees the last GET
        # behind the POST's body, but the count is the point: the remembered 404 was dropped.
        assert [r.method for r in server.requests][:2] == ["GET", "POST"]
        assert len(server.requests) == 3


def test_the_query_is_part_of_the_key() -> None:
    assert query_items(None) == query_items({}) == ()
    assert query_items({"workspace_id": "w", "b": None, "a": 2}) == (
        ("a", "2"),
        ("workspace_id", "w"),
    )


def test_coalesced_reads_are_logged_at_debug(
    fake: FakePortkey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    fake.add_virtual_key("k")

    async def main() -> None:
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=Cache(ttl=30)
        ) as client:
            await asyncio.gather(*(client.virtual_keys.retrieve("k") for _ in range(3)))

    asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("cache coalesced virtual-keys/k: joined the request in flight") == 2


def test_the_generator_adds_the_peek_to_marked_reads_only() -> None:
    assert "peek(coro)" in inspect.getsource(_sync.VirtualKeys.retrieve)
    for name in ("list", "create", "update", "delete"):
        assert "peek(" not in inspect.getsource(getattr(_sync.VirtualKeys, name)), name


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_can_use_an_inherited_cache(fake: FakePortkey) -> None:
    fake.add_virtual_key("k", name="cached")
    code = textwrap.dedent(
        """
        import os, sys, warnings
        warnings.filterwarnings("ignore", ".*fork", DeprecationWarning)
        from portkey_vk import Cache, Portkey
        base_url, api_key = sys.argv[1:3]
        cache = Cache(ttl=30)
        client = Portkey(api_key=api_key, base_url=base_url, cache=cache)
        assert client.virtual_keys.retrieve("k").name == "cached"
        cache._lock.acquire()  # as if another thread were inside the cache at the fork
        pid = os.fork()
        if pid == 0:
            assert client.virtual_keys.retrieve("k").name == "cached"  # inherited entry
            cache.invalidate("k")
            assert client.virtual_keys.retrieve("k").name == "cached"  # a miss, in the child
            print("child ok", cache.stats.hits, cache.stats.misses, flush=True)
            sys.exit(0)
        cache._lock.release()
        _, status = os.waitpid(pid, 0)
        print("parent ok, child exit", os.waitstatus_to_exitcode(status), flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, fake.base_url, fake.api_key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "child ok 1 2" in done.stdout
    assert "parent ok, child exit 0" in done.stdout
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"extra_headers": {"x-portkey-api-key": "pk-smuggled"}}, PortkeyError),
        ({"extra_headers": {"bad name": "v"}}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "5"}, TypeError),
    ],
)
def test_bad_input_raises_on_a_hit_too(
    fake: FakePortkey, make_client: MakeClient, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    fake.add_virtual_key("k")
    client = make_client(cache=Cache(ttl=30))
    client.retrieve("k")
    with pytest.raises(error):
        client.retrieve("k", **kwargs)
    assert client.retrieve("k", extra_headers={"x-trace": "1"}, timeout=5).slug == "k"
    assert len(fake.requests) == 1


def test_concurrent_refreshes_of_an_expired_entry_share_one_request(
    fake: FakePortkey, clock: Clock
) -> None:
    fake.add_virtual_key("k", name="old")

    async def main() -> None:
        cache = Cache(ttl=30, clock=clock)
        async with AsyncPortkey(
            api_key=fake.api_key, base_url=fake.base_url, cache=cache
        ) as client:
            await client.virtual_keys.retrieve("k")
            clock.advance(31)
            fake.add_virtual_key("k", name="new")
            fake.delay_next(0.05)
            keys = await asyncio.gather(*(client.virtual_keys.retrieve("k") for _ in range(32)))
            assert {vk.name for vk in keys} == {"new"}
            assert cache.stats == CacheStats(misses=2, coalesced=31, size=1)

    asyncio.run(main())
    assert len(fake.requests) == 2
