"""Load: many concurrent retrieves on one async client and many threads on one sync client,
against FakePortkey: zero errors, connections bounded by the pool limit, memory flat across
rounds. The default run uses small figures; ``pytest -m long`` the full ones."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest

from portkey_vk import AsyncPortkey, Portkey
from portkey_vk._transport import DEFAULT_CONNECTION_LIMIT
from portkey_vk.testing import FakePortkey
from tests.hostile import async_test

# Growth allowed between the second round and the last (the first warms caches and the pool).
MAX_GROWTH_BYTES = 1_000_000


def _traced_rounds(rounds: int, run_round: Callable[[], None]) -> list[int]:
    """Run ``run_round`` ``rounds`` times; return traced memory after each (post-GC)."""
    sizes = []
    for _ in range(rounds):
        run_round()
        gc.collect()
        sizes.append(tracemalloc.get_traced_memory()[0])
    return sizes


def _report(label: str, sizes: list[int], elapsed: float, calls: int, peak_conns: int) -> None:
    print(
        f"\n{label}: {calls} calls in {elapsed:.2f}s ({calls / elapsed:.0f}/s), "
        f"peak pool connections {peak_conns}, traced memory per round (KiB): "
        f"{[s // 1024 for s in sizes]}"
    )


def _add_keys(fake: FakePortkey) -> None:
    for i in range(10):
        fake.add_virtual_key(f"vk-{i}")


async def _async_load(concurrency: int, rounds: int) -> None:
    async with FakePortkey() as fake:
        _add_keys(fake)
        async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            peak = server_conns = 0
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, client._transport.connection_count())
                    await asyncio.sleep(0.005)

            sampler = asyncio.create_task(sample())
            sizes: list[int] = []
            tracemalloc.start()
            started = time.monotonic()
            try:
                for _ in range(rounds):
                    results = await asyncio.gather(
                        *(client.virtual_keys.retrieve(f"vk-{i % 10}") for i in range(concurrency)),
                        return_exceptions=True,
                    )
                    errors = [r for r in results if isinstance(r, BaseException)]
                    assert errors == [], f"{len(errors)} errors, first: {errors[0]!r}"
                    assert {r.slug for r in results} == {f"vk-{i}" for i in range(10)}  # type: ignore[union-attr]
                    del results
                    # The fake records every request; forget them so only the client is measured.
                    assert len(fake.requests) == concurrency
                    server_conns = max(server_conns, fake.connection_count)
                    fake.reset()
                    _add_keys(fake)
                    gc.collect()
                    sizes.append(tracemalloc.get_traced_memory()[0])
            finally:
                tracemalloc.stop()
                sampling = False
                await sampler
            elapsed = time.monotonic() - started
        _report("async", sizes, elapsed, concurrency * rounds, peak)
        assert 0 < peak <= DEFAULT_CONNECTION_LIMIT
        assert server_conns <= DEFAULT_CONNECTION_LIMIT
        if rounds >= 3:
            assert sizes[-1] - sizes[1] < MAX_GROWTH_BYTES, sizes


@async_test
async def test_concurrent_retrieves_on_one_async_client() -> None:
    await _async_load(concurrency=1_000, rounds=3)


@pytest.mark.long
@pytest.mark.timeout(900)
@async_test
async def test_ten_thousand_concurrent_retrieves_on_one_async_client() -> None:
    await _async_load(concurrency=10_000, rounds=5)


def _sync_load(threads: int, calls_per_thread: int, rounds: int) -> None:
    with FakePortkey() as fake:
        fake.add_virtual_key("vk")
        with Portkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            errors: list[BaseException] = []
            server_conns: list[int] = []

            def worker() -> None:
                for _ in range(calls_per_thread):
                    try:
                        assert client.virtual_keys.retrieve("vk").slug == "vk"
                    except BaseException as exc:
                        errors.append(exc)

            def run_round() -> None:
                pool = [threading.Thread(target=worker) for _ in range(threads)]
                for thread in pool:
                    thread.start()
                for thread in pool:
                    thread.join(timeout=300)
                assert not any(thread.is_alive() for thread in pool)
                assert len(fake.requests) == threads * calls_per_thread
                server_conns.append(fake.connection_count)
                # The fake records every request; forget them so only the client is measured.
                fake.reset()
                fake.add_virtual_key("vk")

            tracemalloc.start()
            started = time.monotonic()
            try:
                sizes = _traced_rounds(rounds, run_round)
            finally:
                tracemalloc.stop()
            elapsed = time.monotonic() - started
            peak = client._async._transport.connection_count()
        calls = threads * calls_per_thread * rounds
        _report("sync", sizes, elapsed, calls, peak)
        assert errors == [], f"{len(errors)} errors, first: {errors[0]!r}"
        # One portal loop serves every thread: at most one connection per call in flight.
        assert max(server_conns) <= min(threads, DEFAULT_CONNECTION_LIMIT)
        assert peak <= threads
        if rounds >= 3:
            assert sizes[-1] - sizes[1] < MAX_GROWTH_BYTES, sizes


def test_sixteen_threads_on_one_sync_client() -> None:
    _sync_load(threads=16, calls_per_thread=25, rounds=3)


@pytest.mark.long
@pytest.mark.timeout(900)
def test_sixteen_threads_on_one_sync_client_long() -> None:
    _sync_load(threads=16, calls_per_thread=500, rounds=5)
