"""What only the async surface has: cancellation, event-loop binding, lazy pool, concurrency."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

from portkey_vk import AsyncPortkey, PortkeyError
from portkey_vk.testing import FakePortkey

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # aiohttp runs on asyncio only.
    return "asyncio"


async def test_async_context_manager_and_fake_on_the_same_loop() -> None:
    async with FakePortkey() as fake:
        fake.add_virtual_key("k", name="same loop")
        async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            assert (await client.virtual_keys.retrieve(slug="k")).name == "same loop"
        assert client.is_closed


async def test_no_pool_until_the_first_call() -> None:
    client = AsyncPortkey(api_key="k", base_url="http://127.0.0.1:9/v1")
    assert client._transport._session is None
    await client.close()


async def test_cancellation_propagates_at_once_and_the_client_stays_healthy() -> None:
    async with FakePortkey() as fake:
        fake.add_virtual_key("k")
        async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            fake.delay_next(5.0)
            task = asyncio.create_task(client.virtual_keys.retrieve("k"))
            while not fake.requests:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 0.5
            assert (await client.virtual_keys.retrieve("k")).slug == "k"
            # The cancelled request's connection was not returned to the pool half-read.
            assert client._transport.connection_count() <= 2


async def test_cancellation_during_retry_backoff() -> None:
    async with FakePortkey() as fake:
        fake.add_virtual_key("k")
        async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            fake.fail_next(503, headers={"Retry-After": "30"})
            task = asyncio.create_task(client.virtual_keys.retrieve("k"))
            while not fake.requests:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert len(fake.requests) == 1
            assert (await client.virtual_keys.retrieve("k")).slug == "k"


async def test_concurrent_calls_share_one_bounded_pool() -> None:
    async with FakePortkey() as fake:
        fake.add_virtual_key("k")
        async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            results = await asyncio.gather(*(client.virtual_keys.retrieve("k") for _ in range(300)))
            assert len(results) == 300
            assert fake.connection_count <= 100
            assert client._transport.connection_count() <= 100


async def test_using_a_client_from_another_live_loop_is_a_clear_error() -> None:
    async with FakePortkey() as fake:
        fake.add_virtual_key("k")
        async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            await client.virtual_keys.retrieve("k")

            def other_loop() -> None:
                with pytest.raises(PortkeyError, match="another event loop"):
                    asyncio.run(client.virtual_keys.retrieve("k"))

            await asyncio.to_thread(other_loop)
            assert (await client.virtual_keys.retrieve("k")).slug == "k"


# The first loop ends without close(): the next loop closes its sockets, without a warning
# (tests/test_loop_switch.py checks stderr and file descriptors in a subprocess).
@pytest.mark.filterwarnings("error::ResourceWarning")
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_client_survives_its_first_loop_closing() -> None:
    with FakePortkey() as fake:
        fake.add_virtual_key("k")
        client = AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url)
        assert asyncio.run(client.virtual_keys.retrieve("k")).slug == "k"

        async def second() -> str | None:
            try:
                return (await client.virtual_keys.retrieve("k")).slug
            finally:
                await client.close()

        assert asyncio.run(second()) == "k"
    # Anything left for the garbage collector would warn now, inside this test's filters.
    gc.collect()


async def test_close_is_idempotent_and_shared_with_copies() -> None:
    async with FakePortkey() as fake:
        fake.add_virtual_key("k")
        client = AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url)
        copy = client.with_options(max_retries=0)
        await copy.virtual_keys.retrieve("k")
        await copy.close()
        await copy.close()
        assert client.is_closed
        with pytest.raises(PortkeyError, match="closed"):
            await client.virtual_keys.retrieve("k")


def test_close_from_another_loop_while_the_clients_loop_runs() -> None:
    with FakePortkey() as fake:
        fake.add_virtual_key("k")
        client = AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(client.virtual_keys.retrieve("k"), loop)
            assert future.result(timeout=10).slug == "k"
            asyncio.run(client.close())
            assert client.is_closed
            assert client._transport.connection_count() == 0
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()


def test_close_after_the_clients_loop_ended_is_quiet() -> None:
    with FakePortkey() as fake:
        fake.add_virtual_key("k")
        client = AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url)
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(client.virtual_keys.retrieve("k")).slug == "k"
            # Closing on the loop that is about to end is the documented way...
            loop.run_until_complete(client.close())
        finally:
            loop.close()
        # ...and a second close from elsewhere, after that loop ended, is a no-op.
        asyncio.run(client.close())
        assert client.is_closed
