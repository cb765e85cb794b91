"""RedisBackend against a real redis-server (tests/redis_server.py): entries, locks, failures."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis
import redis.asyncio

from portkey_vk import _portal
from portkey_vk.cache import (
    BackendError,
    BackendScope,
    CacheBackend,
    RedisBackend,
    StoredAnswer,
)
from tests.redis_server import RedisServer, flushed, redis_server, running

__all__ = ["flushed", "redis_server"]  # the fixtures, for the tests below

API_KEY = "pk-live-SECRET-ONE-0123456789"
OTHER_KEY = "pk-live-SECRET-TWO-9876543210"
BASE = "https://api.portkey.ai/v1"
SLUG = "prod-openai-secret-slug"
BODY = b'{"slug":"prod-openai-secret-slug","name":"Prod","note":"\xc3\xa9t\xc3\xa9"}'


def answer(body: bytes = BODY, status: int = 200) -> StoredAnswer:
    return StoredAnswer(status, body, "application/json", time.time())


@asynccontextmanager
async def backend_at(url: str, **kwargs: float | str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(url, **kwargs)  # type: ignore[arg-type]
    try:
        yield backend
    finally:
        await backend.aclose()


def all_keys(server: RedisServer) -> list[bytes]:
    with redis.Redis.from_url(server.url) as sync:
        return sorted(sync.scan_iter(count=1000))


# -- entries ------------------------------------------------------------------------------------


def test_set_then_get_round_trips_the_wire_with_a_redis_ttl(flushed: RedisServer) -> None:
    async def main() -> None:
        scope = BackendScope.derive(API_KEY, BASE)
        key = scope.key(("virtual-keys", SLUG), (("workspace_id", "ws-1"),))
        async with backend_at(flushed.url) as backend:
            assert await backend.get(key) is None
            stored = answer()
            await backend.set(key, stored, ttl=630.5)
            got = await backend.get(key)
            assert got == stored
            binary = answer(b"\xff\x00 not utf-8", status=404)
            await backend.set(key, binary, ttl=10)
            assert await backend.get(key) == binary
            assert backend.stats.rejected == 0
            assert backend.stats.errors == 0

    asyncio.run(main())
    (name,) = all_keys(flushed)
    with redis.Redis.from_url(flushed.url) as sync:
        assert 9_000 <= sync.pttl(name) <= 10_000


def test_an_entry_expires_in_redis(flushed: RedisServer) -> None:
    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url) as backend:
            await backend.set(key, answer(), ttl=0.05)
            await asyncio.sleep(0.2)
            assert await backend.get(key) is None

    asyncio.run(main())


def test_no_secret_and_no_slug_in_any_key_or_value_name(flushed: RedisServer) -> None:
    async def main() -> None:
        scope = BackendScope.derive(API_KEY, BASE)
        async with backend_at(flushed.url) as backend:
            for path in (("virtual-keys", SLUG), ("integrations", SLUG, "models")):
                key = scope.key(path)
                await backend.set(key, answer(), ttl=30)
                assert await backend.lock(key, 5) is not None

    asyncio.run(main())
    keys = all_keys(flushed)
    assert len(keys) == 4
    with redis.Redis.from_url(flushed.url) as sync:
        fields = [f for k in keys if sync.type(k) == b"hash" for f in sync.hkeys(k)]
    for name in [*keys, *fields]:
        for secret in (API_KEY, SLUG, "SECRET", "virtual-keys", "integrations", "models"):
            assert secret.encode() not in name
        assert name.startswith(b"portkey_vk:") or name in fields


def test_two_api_keys_on_one_redis_never_read_each_others_entries(flushed: RedisServer) -> None:
    async def main() -> None:
        one = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        two = BackendScope.derive(OTHER_KEY, BASE).key(("virtual-keys", SLUG))
        other_plane = BackendScope.derive(API_KEY, "https://other.example/v1").key(
            ("virtual-keys", SLUG)
        )
        assert len({one.scope.namespace, two.scope.namespace, other_plane.scope.namespace}) == 3
        async with backend_at(flushed.url) as backend:
            await backend.set(one, answer(b'{"who":"one"}'), ttl=30)
            assert await backend.get(two) is None
            assert await backend.get(other_plane) is None
            await backend.set(two, answer(b'{"who":"two"}'), ttl=30)
            got_one = await backend.get(one)
            assert got_one is not None
            assert got_one.body == b'{"who":"one"}'
            got_two = await backend.get(two)
            assert got_two is not None
            assert got_two.body == b'{"who":"two"}'
            # A key of two's, copied by someone with Redis access into one's place: refused.
            names = all_keys(flushed)
            with redis.Redis.from_url(flushed.url) as sync:
                one_name = next(n for n in names if one.scope.namespace.encode() in n)
                two_name = next(n for n in names if two.scope.namespace.encode() in n)
                sync.hset(one_name, one.entry, sync.hget(two_name, two.entry))
            assert await backend.get(one) is None
            assert backend.stats.rejected == 1

    asyncio.run(main())


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda v: v.replace(b"Prod", b"Evil"), id="forged-body"),
        pytest.param(lambda v: v[:-7], id="truncated"),
        pytest.param(lambda v: b"\x80\x04\x95pickle" + v, id="pickle-ish"),
        pytest.param(lambda v: b"garbage", id="garbage"),
        pytest.param(lambda v: b"", id="empty"),
        pytest.param(lambda v: v[:6] + b"0" * 64 + v[70:], id="zero-mac"),
    ],
)
def test_a_forged_or_garbled_entry_is_refused_and_counted(
    flushed: RedisServer, tamper: object
) -> None:
    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url) as backend:
            await backend.set(key, answer(), ttl=30)
            (name,) = all_keys(flushed)
            with redis.Redis.from_url(flushed.url) as sync:
                value = sync.hget(name, key.entry)
                assert isinstance(value, bytes)
                sync.hset(name, key.entry, tamper(value))  # type: ignore[operator]
            with _captured() as records:
                assert await backend.get(key) is None
                assert await backend.get(key) is None
            assert backend.stats.rejected == 2
            assert backend.stats.errors == 0
            # Logged once, not per read; nothing of the entry's place in the line.
            assert len(records) == 1
            assert "refused" in records[0].getMessage()
            assert SLUG not in records[0].getMessage()

    asyncio.run(main())


def test_a_value_signed_by_a_known_key_but_malformed_inside_is_refused(
    flushed: RedisServer,
) -> None:
    # The MAC passes (written by someone holding the API key) but the JSON is not an answer.
    from portkey_vk import cache as module  # noqa: PLC0415

    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url) as backend:
            await backend.set(key, answer(), ttl=30)
            (name,) = all_keys(flushed)
            for payload in (
                b'{"status":"200"}',
                b"[1]",
                b'{"status":200,"content_type":"x","stored_at":1e999,"text":"x"}',
                b"\xff",
            ):
                forged = b"pkvk1." + module._mac(key, payload).encode() + b"." + payload
                with redis.Redis.from_url(flushed.url) as sync:
                    sync.hset(name, key.entry, forged)
                assert await backend.get(key) is None
            assert backend.stats.rejected == 4

    asyncio.run(main())


def test_clear_drops_only_its_prefix_in_batches(flushed: RedisServer) -> None:
    async def main() -> None:
        scope = BackendScope.derive(API_KEY, BASE)
        with redis.Redis.from_url(flushed.url) as sync:
            sync.set("portkey_vk_other:x", b"1")
            sync.set("portkey_vkx", b"1")
            sync.set("unrelated", b"1")
        async with backend_at(flushed.url, timeout=1.0) as backend:
            for n in range(1_200):
                await backend.set(scope.key(("virtual-keys", f"s{n}")), answer(b"{}"), ttl=30)
            assert await backend.clear() == 1_200
        assert all_keys(flushed) == [b"portkey_vk_other:x", b"portkey_vkx", b"unrelated"]

    asyncio.run(main())


def test_delete_drops_a_group_below_and_across_queries(flushed: RedisServer) -> None:
    async def main() -> None:
        scope = BackendScope.derive(API_KEY, BASE)
        kept = scope.key(("integrations", "other"))
        dropped = [
            scope.key(("integrations", SLUG)),
            scope.key(("integrations", SLUG), (("workspace_id", "w"),)),
            scope.key(("integrations", SLUG, "models")),
        ]
        async with backend_at(flushed.url) as backend:
            for key in [kept, *dropped]:
                await backend.set(key, answer(), ttl=30)
            await backend.delete(scope, [scope.group(("integrations", SLUG, "models"))])
            for key in dropped:
                assert await backend.get(key) is None
            assert await backend.get(kept) is not None
            await backend.delete(scope, [])

    asyncio.run(main())


# -- the fleet's single flight ------------------------------------------------------------------


def test_one_lock_holder_and_a_token_checked_release(flushed: RedisServer) -> None:
    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url) as one, backend_at(flushed.url) as two:
            token = await one.lock(key, 5)
            assert token is not None
            assert await two.lock(key, 5) is None
            await two.release(key, "not-the-token")
            assert await two.lock(key, 5) is None
            await one.release(key, token)
            assert await two.lock(key, 5) is not None

    asyncio.run(main())


def test_waiters_wake_when_the_holder_releases_without_polling(flushed: RedisServer) -> None:
    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url) as holder, backend_at(flushed.url) as others:
            token = await holder.lock(key, 5)
            assert token is not None

            async def waiter() -> float:
                start = time.monotonic()
                await others.wait(key, timeout=5)
                return time.monotonic() - start

            waiters = [asyncio.create_task(waiter()) for _ in range(5)]
            await asyncio.sleep(0.1)
            await holder.release(key, token)
            waited = await asyncio.gather(*waiters)
            # Every waiter woke on the release (one token passed along), well before its slice.
            assert all(0.05 < w < 0.4 for w in waited), waited
            assert others.stats.errors == 0

    asyncio.run(main())


def test_a_waiter_returns_within_a_slice_and_can_take_over_a_dead_holders_lock(
    flushed: RedisServer,
) -> None:
    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url) as holder, backend_at(flushed.url) as waiter:
            # The holder "dies": it never releases; its lock lapses after 0.6 s.
            assert await holder.lock(key, 0.6) is not None
            start = time.monotonic()
            token = None
            while token is None and time.monotonic() - start < 3:
                await waiter.wait(key, timeout=10)
                assert await waiter.get(key) is None
                token = await waiter.lock(key, 5)
            took = time.monotonic() - start
            assert token is not None
            assert 0.5 < took < 1.3, took
            # A wait never blocks past its own timeout.
            start = time.monotonic()
            await waiter.wait(key, timeout=0.1)
            assert time.monotonic() - start < 0.3

    asyncio.run(main())


# -- Redis trouble ------------------------------------------------------------------------------


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _captured:
    def __enter__(self) -> list[logging.LogRecord]:
        self.records: list[logging.LogRecord] = []
        self.handler = _ListHandler(self.records)
        logger = logging.getLogger("portkey_vk")
        self.level = logger.level
        logger.setLevel(logging.WARNING)
        logger.addHandler(self.handler)
        return self.records

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("portkey_vk")
        logger.removeHandler(self.handler)
        logger.setLevel(self.level)


async def _every_operation_fails(backend: CacheBackend) -> None:
    scope = BackendScope.derive(API_KEY, BASE)
    key = scope.key(("virtual-keys", SLUG))
    operations = [
        backend.get(key),
        backend.set(key, answer(), 30),
        backend.delete(scope, [key.group]),
        backend.clear(),
        backend.lock(key, 5),
        backend.release(key, "t"),
        backend.wait(key, 0.2),
    ]
    for op in operations:
        with pytest.raises(BackendError) as info:
            await op
        text = f"{info.value!r} {info.value}"
        assert "hunter2" not in text
        assert "127.0.0.1" not in text


def test_redis_down_is_a_backend_error_logged_once_per_30_seconds() -> None:
    async def main(server: RedisServer) -> None:
        backend = RedisBackend(server.url, timeout=0.5)
        assert "hunter2" not in repr(backend)
        assert ":***@127.0.0.1" in repr(backend)
        server.stop()
        try:
            with _captured() as records:
                await _every_operation_fails(backend)
                assert backend.stats.errors == 7
                assert len(records) == 1
                # Past the interval, the next failure logs again.
                backend._last_log -= 31
                with pytest.raises(BackendError):
                    await backend.get(BackendScope.derive(API_KEY, BASE).key(("a", "b")))
                assert len(records) == 2
            for record in records:
                line = record.getMessage()
                assert "hunter2" not in line
                assert API_KEY not in line
                assert "shared cache unavailable" in line
        finally:
            server.start()
        # Redis is back: the same backend works again.
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        await backend.set(key, answer(), 30)
        assert await backend.get(key) is not None
        await backend.aclose()

    with running(password="hunter2") as server:
        asyncio.run(main(server))


def test_redis_slow_past_the_timeout_is_a_backend_error(flushed: RedisServer) -> None:
    async def main() -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(flushed.url, timeout=0.05) as backend:
            await backend.set(key, answer(), 30)
            # Freeze the server for 0.5 s (SIGSTOP), as a swapped or overloaded Redis would be.
            assert flushed.proc is not None
            flushed.proc.send_signal(19)
            try:
                start = time.monotonic()
                with pytest.raises(BackendError, match="timed out"):
                    await backend.get(key)
                assert time.monotonic() - start < 0.3
            finally:
                flushed.proc.send_signal(18)
            assert backend.stats.errors == 1
            assert await backend.get(key) is not None

    asyncio.run(main())


def test_aclose_waits_for_running_operations_so_no_connection_is_left_open(
    flushed: RedisServer,
) -> None:
    """An operation running when ``aclose`` begins (a flight's lease renewal cancelled but not
    awaited, a sync invalidate's background task) used to finish its connect after the pool was
    closed, leaving a socket for the garbage collector: found by CI on 3.10, at random."""
    key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))

    async def close_during(ticks: int) -> object:
        backend = RedisBackend(flushed.url, timeout=1.0)
        running = asyncio.get_running_loop().create_task(backend.get(key))
        for _ in range(ticks):  # each tick takes the get one step further into its connect
            await asyncio.sleep(0)
        await backend.aclose()
        try:
            return await running
        except BackendError as exc:
            return exc

    outcomes: list[object] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for ticks in range(12):
            outcomes.append(asyncio.run(close_during(ticks)))
            gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    # Not yet begun when aclose was called: refused at once, without a connection.
    assert isinstance(outcomes[0], BackendError)
    assert "closed" in str(outcomes[0])
    # Begun: it finishes (an absent entry) before the connections close.
    assert outcomes[1:] == [None] * 11


def test_aclose_from_one_loop_waits_for_the_listener_of_another_to_close(
    flushed: RedisServer,
) -> None:
    scope = BackendScope.derive(API_KEY, BASE)
    backend = RedisBackend(flushed.url, timeout=1.0)
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:

        async def subscribe() -> None:
            deadline = time.monotonic() + 5
            while backend.listen(scope, lambda *_: None) is None:
                assert time.monotonic() < deadline, "never subscribed"
                await asyncio.sleep(0.01)

        asyncio.run_coroutine_threadsafe(subscribe(), other).result(10)
        (listener,) = backend._listeners.values()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(backend.aclose())
            # Closed on its own loop before the pool was: nothing for the collector to find.
            assert listener.task.done()
            gc.collect()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.close()


def test_after_aclose_every_operation_is_a_backend_error_and_listening_stops(
    flushed: RedisServer,
) -> None:
    async def main() -> None:
        scope = BackendScope.derive(API_KEY, BASE)
        key = scope.key(("virtual-keys", SLUG))
        backend = RedisBackend(flushed.url, timeout=1.0)
        await backend.set(key, answer(), 30)
        await backend.aclose()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no coroutine left unawaited
            for operation in (
                backend.get(key),
                backend.set(key, answer(), 30),
                backend.generation(key),
                backend.delete(scope, [key.group]),
                backend.clear(),
                backend.lock(key, 1.0),
                backend.publish(scope, None),
            ):
                with pytest.raises(BackendError, match="closed"):
                    await operation
            start = time.monotonic()
            await backend.wait(key, 5.0)  # returns at once: nothing to wait for
            assert time.monotonic() - start < 0.5
        assert backend.listen(scope, lambda *_: None) is None
        assert backend.stats.errors == 0  # closing is not a failure of Redis
        await backend.aclose()  # twice is fine

    asyncio.run(main())


def test_redis_out_of_memory_is_a_backend_error() -> None:
    async def main(server: RedisServer) -> None:
        scope = BackendScope.derive(API_KEY, BASE)
        async with backend_at(server.url, timeout=1.0) as backend:
            big = answer(b"x" * 200_000)
            failed = None
            for n in range(200):
                try:
                    await backend.set(scope.key(("virtual-keys", f"s{n}")), big, 30)
                except BackendError as exc:
                    failed = exc
                    break
            assert failed is not None
            assert str(failed) == "set: OutOfMemoryError"
            assert backend.stats.errors == 1
            # Reads still work on a full Redis.
            assert await backend.get(scope.key(("virtual-keys", "s0"))) is not None

    with running(maxmemory="4mb") as server:
        asyncio.run(main(server))


def test_a_server_answering_garbage_is_a_backend_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    while conn.recv(65536):
                        conn.sendall(b"?this is not RESP\r\n\x00\xff")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> None:
        async with backend_at(f"redis://127.0.0.1:{port}/0", timeout=0.3) as backend:
            await _every_operation_fails(backend)

    try:
        asyncio.run(main())
    finally:
        stop.set()
        thread.join()
        listener.close()


# -- construction -------------------------------------------------------------------------------


def test_urls_unix_sockets_and_a_users_client() -> None:
    async def main(server: RedisServer) -> None:
        key = BackendScope.derive(API_KEY, BASE).key(("virtual-keys", SLUG))
        async with backend_at(server.url) as backend:
            await backend.set(key, answer(), 30)
            assert await backend.get(key) is not None
        client = redis.asyncio.Redis.from_url(server.url)
        backend = RedisBackend(client)
        assert repr(backend) == "RedisBackend('<Redis>', prefix='portkey_vk', timeout=0.05)"
        assert await backend.get(key) is not None
        await backend.aclose()
        # The user's client stays open: the SDK never closes what it did not open.
        assert await client.ping()
        await client.aclose()

    with running(unix=True) as server:
        assert server.url.startswith("unix://")
        asyncio.run(main(server))


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("http://x",), {}, ValueError),
        (("redis://x",), {"prefix": ""}, ValueError),
        (("redis://x",), {"prefix": "a b"}, ValueError),
        (("redis://x",), {"prefix": "a*"}, ValueError),
        (("redis://x",), {"timeout": 0}, ValueError),
        (("redis://x",), {"timeout": float("nan")}, ValueError),
        (("redis://x",), {"timeout": True}, TypeError),
        ((42,), {}, TypeError),
    ],
)
def test_bad_arguments_are_refused(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        RedisBackend(*args, **kwargs)  # type: ignore[arg-type]


def test_repr_hides_the_password_and_scope_hides_its_keys() -> None:
    backend = RedisBackend("rediss://default:hunter2@cache.internal:6380/0", timeout=0.1)
    assert repr(backend) == (
        "RedisBackend('rediss://default:***@cache.internal:6380/0', "
        "prefix='portkey_vk', timeout=0.1)"
    )
    scope = BackendScope.derive(API_KEY, BASE)
    assert repr(scope).startswith("BackendScope(namespace=")
    assert API_KEY not in repr(scope.key(("virtual-keys", SLUG)))
    assert scope.mac_key.hex() not in repr(scope.key(("virtual-keys", SLUG)))
    assert BackendScope.derive(API_KEY, BASE) == scope


_NO_REDIS = """
import sys, builtins
real = builtins.__import__
def refuse(name, *a, **k):
    if name == "redis" or name.startswith("redis."):
        raise ImportError("No module named 'redis'")
    return real(name, *a, **k)
builtins.__import__ = refuse
import portkey_vk, portkey_vk.cache
assert "redis" not in sys.modules
try:
    portkey_vk.cache.RedisBackend("redis://localhost")
except ImportError as exc:
    print(exc)
"""


def test_without_redis_installed_the_error_names_the_extra() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NO_REDIS],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert out.stdout.strip() == 'RedisBackend needs redis-py: pip install "portkey-vk[redis]"'


def test_importing_the_package_and_cache_module_does_not_import_redis() -> None:
    code = "import sys, portkey_vk, portkey_vk.cache; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- through the clients ------------------------------------------------------------------------


def test_the_sync_client_shares_entries_through_redis(flushed: RedisServer) -> None:
    from portkey_vk import Cache, Portkey  # noqa: PLC0415
    from portkey_vk.testing import FakePortkey  # noqa: PLC0415

    with FakePortkey() as fake:
        fake.add_virtual_key("prod", name="Prod")
        first = Cache(ttl=30, backend=RedisBackend(flushed.url, timeout=1.0))
        second = Cache(ttl=30, backend=RedisBackend(flushed.url, timeout=1.0))
        with Portkey(api_key=fake.api_key, base_url=fake.base_url, cache=first) as one:
            assert one.virtual_keys.retrieve(slug="prod").name == "Prod"
        with Portkey(api_key=fake.api_key, base_url=fake.base_url, cache=second) as two:
            assert two.virtual_keys.retrieve(slug="prod").name == "Prod"
            assert two.virtual_keys.retrieve(slug="prod").name == "Prod"
        assert len(fake.requests) == 1
        assert second.stats.backend_hits == 1
        assert second.stats.hits == 1
        assert "backend=RedisBackend('redis://127.0.0.1:" in repr(second)
        # Their connections live on the sync clients' loop thread: closed there.
        for cache in (first, second):
            assert isinstance(cache.backend, RedisBackend)
            _portal.run(cache.backend.aclose)


def test_a_write_drops_the_shared_entry_for_a_new_process(flushed: RedisServer) -> None:
    from portkey_vk import AsyncPortkey, Cache  # noqa: PLC0415
    from portkey_vk.testing import FakePortkey  # noqa: PLC0415

    async def main(fake: FakePortkey) -> None:
        backend = RedisBackend(flushed.url, timeout=1.0)
        for name in ("Prod", "Renamed"):
            cache = Cache(ttl=30, backend=backend)
            async with AsyncPortkey(
                api_key=fake.api_key, base_url=fake.base_url, cache=cache
            ) as client:
                assert (await client.virtual_keys.retrieve(slug="prod")).name == name
                if name == "Prod":
                    await client.virtual_keys.update(slug="prod", name="Renamed")
        await backend.aclose()

    with FakePortkey() as fake:
        fake.add_virtual_key("prod", name="Prod")
        asyncio.run(main(fake))
        assert [r.method for r in fake.requests] == ["GET", "PUT", "GET"]
