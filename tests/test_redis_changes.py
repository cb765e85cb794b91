"""The fleet hears its writes: change messages on Redis pub/sub, against a real redis-server.

Two caches with their own backends on one event loop stand for two processes (tests/test_fleet.py
proves it with real ones): what one client writes, the other's memory drops at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import redis
from aiohttp import web

from portkey_vk import AsyncPortkey, Cache, NotFoundError, Portkey, _portal
from portkey_vk.cache import BackendScope, RedisBackend
from portkey_vk.testing import FakePortkey
from tests.redis_server import RedisServer, flushed, redis_server

__all__ = ["flushed", "redis_server"]  # the fixtures, for the tests below


@pytest.fixture
def fake() -> Iterator[FakePortkey]:
    with FakePortkey() as server:
        server.add_virtual_key("prod", name="Prod")
        yield server


def entries(sync: redis.Redis) -> list[bytes]:
    """The shared entries' names (not the flights' short-lived wake-ups)."""
    return [
        n
        for n in sync.scan_iter(match="portkey_vk:*")
        if b":wake:" not in n and not n.endswith(b":gen")
    ]


def gets(fake: FakePortkey) -> int:
    return sum(1 for r in fake.requests if r.method == "GET")


@asynccontextmanager
async def process(
    fake: FakePortkey,
    server: RedisServer,
    base_url: str | None = None,
    *,
    redis_timeout: float = 1.0,
    **cache: float,
) -> AsyncIterator[AsyncPortkey]:
    """A client with its own cache and backend: one process of the fleet."""
    backend = RedisBackend(server.url, timeout=redis_timeout)
    try:
        async with AsyncPortkey(
            api_key=fake.api_key,
            base_url=base_url or fake.base_url,
            cache=Cache(ttl=cache.pop("ttl", 600), backend=backend, **cache),
            max_retries=0,
        ) as client:
            yield client
    finally:
        await backend.aclose()


def cache_of(client: AsyncPortkey) -> Cache:
    assert client.cache is not None
    return client.cache


async def listening(client: AsyncPortkey, fake: FakePortkey) -> None:
    """Wait until the client's backend has confirmed its subscription."""
    cache = cache_of(client)
    backend = cache.backend
    assert backend is not None
    scope = BackendScope.derive(fake.api_key, fake.base_url)
    deadline = time.monotonic() + 5
    while backend.listen(scope, cache._heard) is None:
        assert time.monotonic() < deadline, "never subscribed"
        await asyncio.sleep(0.01)


async def until(condition: object, within: float = 2.0) -> float:
    """Seconds until ``condition()`` holds (fails past ``within``)."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - start < within, "it did not happen in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def test_a_write_through_one_process_drops_the_others_copy_at_once(
    flushed: RedisServer, fake: FakePortkey
) -> None:
    async def main() -> None:
        async with process(fake, flushed) as one, process(fake, flushed) as two:
            assert (await one.virtual_keys.retrieve(slug="prod")).name == "Prod"
            # The first read subscribes; one read while heard keeps the whole ttl.
            assert (await two.virtual_keys.retrieve(slug="prod")).name == "Prod"
            await listening(two, fake)
            cache_of(two)._clear_here()
            assert (await two.virtual_keys.retrieve(slug="prod")).name == "Prod"
            await asyncio.sleep(1.2)  # past the bound kept while not heard
            assert (await two.virtual_keys.retrieve(slug="prod")).name == "Prod"
            assert cache_of(two).stats.hits == 1
            assert gets(fake) == 1
            await one.virtual_keys.update(slug="prod", name="Renamed")
            took = await until(lambda: len(cache_of(two)) == 0, within=1.0)
            assert took < 0.5
            assert (await two.virtual_keys.retrieve(slug="prod")).name == "Renamed"
            assert cache_of(two).stats.rejected == 0

    asyncio.run(main())


def test_change_messages_carry_no_slug_and_no_key(flushed: RedisServer, fake: FakePortkey) -> None:
    with redis.Redis.from_url(flushed.url) as sync:
        pubsub = sync.pubsub()
        pubsub.psubscribe("*")
        pubsub.get_message(timeout=1)

        async def main() -> None:
            async with process(fake, flushed) as one:
                await one.virtual_keys.retrieve(slug="prod")
                await one.virtual_keys.update(slug="prod", name="Renamed")
                await cache_of(one).ainvalidate("prod")
                await cache_of(one).aclear()

        asyncio.run(main())
        seen = []
        while (message := pubsub.get_message(timeout=0.5)) is not None:
            seen.append(message)
        pubsub.close()
    assert len(seen) == 3
    for message in seen:
        assert message["channel"].startswith(b"portkey_vk:")
        for text in (b"prod", fake.api_key.encode(), b"virtual-keys"):
            assert text not in message["channel"]
            assert text not in message["data"]


@pytest.mark.parametrize("forgery", ["garbage", "another key"])
def test_a_forged_change_message_is_refused_counted_and_drops_nothing(
    flushed: RedisServer, fake: FakePortkey, forgery: str
) -> None:
    from portkey_vk.cache import _encode_change  # noqa: PLC0415 - to sign with the wrong key

    async def main() -> None:
        async with process(fake, flushed) as one:
            await one.virtual_keys.retrieve(slug="prod")
            await listening(one, fake)
            cache = cache_of(one)
            (group,) = cache._groups
            scope = BackendScope.derive(fake.api_key, fake.base_url)
            assert isinstance(cache.backend, RedisBackend)
            channel = cache.backend._channel(scope)
            if forgery == "garbage":
                data = b"pkvk1." + b"0" * 64 + b'.{"groups":["' + group.encode() + b'"]}'
            else:
                other = BackendScope.derive("pk-someone-else", fake.base_url)
                data = _encode_change(other, channel, [group])
            with redis.Redis.from_url(flushed.url) as sync:
                assert sync.publish(channel, data) == 1
            await until(lambda: cache.stats.rejected == 1)
            assert len(cache) == 1

    asyncio.run(main())


def test_while_redis_is_down_a_process_keeps_its_copies_briefly_and_fails_no_call(
    flushed: RedisServer, fake: FakePortkey
) -> None:
    async def main() -> None:
        async with process(fake, flushed, stale_if_error=600) as one:
            await one.virtual_keys.retrieve(slug="prod")
            await listening(one, fake)
            cache_of(one)._clear_here()
            await one.virtual_keys.retrieve(slug="prod")  # heard: kept for the whole ttl
            flushed.stop()
            try:
                # Its listener notices at once (the connection closes) and bounds its copies.
                await asyncio.sleep(1.3)
                before = gets(fake)
                assert (await one.virtual_keys.retrieve(slug="prod")).name == "Prod"
                assert gets(fake) == before + 1
                assert cache_of(one).stats.backend_errors > 0
            finally:
                flushed.start()
            # Listening again once Redis is back; a write elsewhere reaches it again.
            await listening(one, fake)

    asyncio.run(main())


def test_a_404_is_remembered_for_the_whole_fleet(flushed: RedisServer, fake: FakePortkey) -> None:
    async def main() -> None:
        async with (
            process(fake, flushed, negative_ttl=5) as one,
            process(fake, flushed, negative_ttl=5) as two,
        ):
            with pytest.raises(NotFoundError) as first:
                await one.virtual_keys.retrieve(slug="missing")
            await two.virtual_keys.retrieve(slug="prod")
            await listening(two, fake)
            with pytest.raises(NotFoundError) as shared:
                await two.virtual_keys.retrieve(slug="missing")
            with pytest.raises(NotFoundError):  # and from its memory
                await two.virtual_keys.retrieve(slug="missing")
            assert gets(fake) == 2  # one 404, and "prod"
            assert cache_of(two).stats.backend_hits == 1
            assert cache_of(two).stats.hits == 1
            for attr in ("status_code", "message", "error_code", "body", "request_id", "url"):
                assert getattr(shared.value, attr) == getattr(first.value, attr), attr
            # A create of the slug is a write: the remembered 404 goes, fleet-wide.
            fake.add_virtual_key("missing", name="Found")
            await one.virtual_keys.update(slug="missing", name="Found")
            await until(lambda: len(cache_of(two)) == 1)
            assert (await two.virtual_keys.retrieve(slug="missing")).name == "Found"

    asyncio.run(main())


def test_ainvalidate_and_aclear_act_on_the_shared_tier_and_every_process(
    flushed: RedisServer, fake: FakePortkey
) -> None:
    fake.add_virtual_key("dev", name="Dev")

    async def main() -> None:
        async with process(fake, flushed) as one, process(fake, flushed) as two:
            await listening_after_read(one, two)
            assert await cache_of(one).ainvalidate("prod") == 1
            await until(lambda: len(cache_of(two)) == 1)  # "dev" stays
            await one.virtual_keys.retrieve(slug="prod")
            assert gets(fake) == 3  # prod, dev, and prod again: the shared entry went too
            with redis.Redis.from_url(flushed.url) as sync:
                sync.set("someone-else:key", b"kept")
                await cache_of(one).aclear()
                assert len(cache_of(one)) == 0
                assert list(sync.scan_iter()) == [b"someone-else:key"]
            await until(lambda: len(cache_of(two)) == 0)

    async def listening_after_read(one: AsyncPortkey, two: AsyncPortkey) -> None:
        for client in (one, two):
            for slug in ("prod", "dev"):
                await client.virtual_keys.retrieve(slug=slug)
        await listening(two, fake)

    asyncio.run(main())


def test_the_sync_invalidate_and_clear_reach_the_shared_tier(
    flushed: RedisServer, fake: FakePortkey
) -> None:
    backend = RedisBackend(flushed.url, timeout=1.0)
    cache = Cache(ttl=600, backend=backend)
    with Portkey(api_key=fake.api_key, base_url=fake.base_url, cache=cache) as client:
        client.virtual_keys.retrieve(slug="prod")
        with redis.Redis.from_url(flushed.url) as sync:
            assert len(entries(sync)) == 1
            # From a thread without an event loop: run on the sync client's loop, waited for.
            assert cache.invalidate("prod") == 1
            assert entries(sync) == []
            client.virtual_keys.retrieve(slug="prod")
            cache.clear()
            assert entries(sync) == []
        assert gets(fake) == 2

        # On a running loop: scheduled there, done soon after.
        async def on_a_loop() -> None:
            own = RedisBackend(flushed.url, timeout=1.0)
            other = Cache(ttl=600, backend=own)
            async with AsyncPortkey(
                api_key=fake.api_key, base_url=fake.base_url, cache=other
            ) as aclient:
                await aclient.virtual_keys.retrieve(slug="prod")
                other.invalidate("prod")
                with redis.Redis.from_url(flushed.url) as sync:
                    await until(lambda: entries(sync) == [])
            await own.aclose()

        thread = threading.Thread(target=asyncio.run, args=(on_a_loop(),))
        thread.start()
        thread.join()
    _portal.run(backend.aclose)


@asynccontextmanager
async def slow_reads(fake: FakePortkey, hold: list[float]) -> AsyncIterator[str]:
    """A proxy to ``fake`` that reads a GET's answer at once but hands it back ``hold.pop()``
    seconds later: an answer that predates whatever is written meanwhile."""
    origin = fake.base_url.rsplit("/v1", 1)[0]

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, origin + request.path_qs, headers=headers, data=await request.read()
            ) as answer,
        ):
            body = await answer.read()
            status, kind = answer.status, answer.headers.get("Content-Type", "application/json")
        if request.method == "GET" and hold:
            await asyncio.sleep(hold.pop())
        return web.Response(status=status, body=body, headers={"Content-Type": kind})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def test_an_answer_older_than_a_write_is_not_stored_after_it(
    flushed: RedisServer, fake: FakePortkey
) -> None:
    fake.add_virtual_key("other", name="Other")

    async def main() -> None:
        hold: list[float] = []
        async with slow_reads(fake, hold) as url:
            async with (
                process(fake, flushed, url) as one,
                process(fake, flushed, url) as two,
                process(fake, flushed, url) as three,
            ):
                await two.virtual_keys.retrieve(slug="other")
                await listening(two, fake)
                hold.append(0.5)
                # Two asks for "prod" and gets its answer as it is now, but only 0.5 s later.
                reading = asyncio.ensure_future(two.virtual_keys.retrieve(slug="prod"))
                await asyncio.sleep(0.2)
                await one.virtual_keys.update(slug="prod", name="Renamed")
                assert (await reading).name == "Prod"  # what its caller asked before the write
                # Neither Redis nor two's memory keeps that older answer.
                assert (await three.virtual_keys.retrieve(slug="prod")).name == "Renamed"
                assert (await two.virtual_keys.retrieve(slug="prod")).name == "Renamed"

    asyncio.run(main())


def test_a_burst_of_misses_past_the_pool_waits_for_connections_instead_of_failing(
    flushed: RedisServer, fake: FakePortkey
) -> None:
    slugs = [f"k{n}" for n in range(200)]
    for slug in slugs:
        fake.add_virtual_key(slug, name=slug)
    fake.delay_next(0.02, times=len(slugs))

    async def main() -> None:
        # What is proven is waiting instead of failing at once (redis-py's MaxConnectionsError):
        # a generous timeout, so that a loaded machine's slow turns are not counted as errors.
        async with process(fake, flushed, redis_timeout=30) as one:
            got = await asyncio.gather(*(one.virtual_keys.retrieve(slug=s) for s in slugs))
            assert [vk.name for vk in got] == slugs
            assert cache_of(one).stats.backend_errors == 0
        async with process(fake, flushed, redis_timeout=30) as two:
            await asyncio.gather(*(two.virtual_keys.retrieve(slug=s) for s in slugs))
            assert cache_of(two).stats.backend_hits == len(slugs)
            assert cache_of(two).stats.backend_errors == 0
        assert gets(fake) == len(slugs)

    asyncio.run(main())
