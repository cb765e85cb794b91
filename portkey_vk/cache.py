"""Cache tiers: the in-process :class:`Cache`, and a shared tier for a whole fleet on Redis.

::

    from portkey_vk import AsyncPortkey, Cache
    from portkey_vk.cache import RedisBackend

    backend = RedisBackend("redis://cache.internal:6379/0", prefix="portkey_vk", timeout=0.05)

A :class:`CacheBackend` is the small interface a cache calls on a shared store (the shape of
django's ``BaseCache``): ``get``/``set``/``delete``/``clear`` of entries, and ``lock``/``release``/
``wait`` for a single flight across processes. :class:`RedisBackend` implements it on redis-py's
asyncio client (``pip install "portkey-vk[redis]"``); importing this module does not import redis.

What is stored holds no secret and cannot be forged (see ``docs/caching.md``, "A cache for the
whole fleet"): an entry is the answer's wire JSON (status, body, content type, stored time),
never a pickle, behind an HMAC-SHA256 whose key is derived from the API key; the Redis key is
derived from the API key too, and the path and query are hashed into it. A backend never raises
to its caller's caller: every failure of the store is one :class:`BackendError`, which the cache
catches, and an entry that fails its check is refused and counted, never parsed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from portkey_vk._backend import (
    BackendError,
    BackendKey,
    BackendScope,
    BackendStats,
    CacheBackend,
    Change,
    OnChange,
    StoredAnswer,
)
from portkey_vk._cache import Cache, CacheStats
from portkey_vk._logging import logger as log

if TYPE_CHECKING:
    import redis.asyncio
    import redis.asyncio.cluster

__all__ = [
    "BackendError",
    "BackendKey",
    "BackendScope",
    "BackendStats",
    "Cache",
    "CacheBackend",
    "CacheStats",
    "RedisBackend",
    "StoredAnswer",
]

_T = TypeVar("_T")

# The format of a stored value; a reader refuses any other.
_VERSION: Final = b"pkvk1"
# Seconds between two log lines about a failing store: an outage is one line per 30 s, not one
# per call.
LOG_INTERVAL: Final = 30.0
# How long a waiter blocks before it looks again whether the flight's holder died (its lock
# expired): the "about a second" within which another process takes over.
WAIT_SLICE: Final = 0.5
# How long a wake-up token lives after a flight lands: enough for every waiter to pass it on.
_WAKE_MS: Final = 2_000
# The listener blocks this long for a message before it looks at new scopes to subscribe to.
_LISTEN_SLICE: Final = 0.25
# It pings Redis this often when nothing arrives, and counts itself lost after hearing nothing
# (not even a pong) for _DEAF_AFTER: a connection that died silently is noticed within ~3 s.
_PING_EVERY: Final = 1.0
_DEAF_AFTER: Final = 3.0
# Waits between attempts to listen again after a loss: 0.1 s, doubling up to 2 s.
_RELISTEN_FIRST: Final = 0.1
_RELISTEN_MAX: Final = 2.0
_GROUP_RE: Final = re.compile(rb"[0-9a-f]{32}")
# Connections a backend opened from a URL keeps to Redis per event loop's worth of work.
_MAX_CONNECTIONS: Final = 64
# How long a group's write count lives: longer than any read that could be in flight.
_GEN_MS: Final = 3_600_000
_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_INSTALL_HINT: Final = 'RedisBackend needs redis-py: pip install "portkey-vk[redis]"'


def _redact_url(url: str) -> str:
    """``url`` without its password (nor a username that might be one)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"***@{host}" if parts.password is None else f"{parts.username or ''}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _encode(key: BackendKey, answer: StoredAnswer) -> bytes:
    try:
        body: dict[str, Any] = {"text": answer.body.decode()}
    except UnicodeDecodeError:
        body = {"base64": base64.b64encode(answer.body).decode()}
    payload = json.dumps(
        {
            "status": answer.status,
            "content_type": answer.content_type,
            "stored_at": answer.stored_at,
            **body,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return _VERSION + b"." + _mac(key, payload).encode() + b"." + payload


def _mac(key: BackendKey, payload: bytes) -> str:
    # The place is signed with the value: an authentic entry copied to another slug's place
    # does not pass.
    place = f"{key.scope.namespace}:{key.group}:{key.entry}".encode()
    return hmac.new(key.scope.mac_key, _VERSION + place + b"\x00" + payload, "sha256").hexdigest()


def _channel_mac(scope: BackendScope, channel: str, payload: bytes) -> str:
    data = _VERSION + b"inv:" + channel.encode() + b"\x00" + payload
    return hmac.new(scope.mac_key, data, "sha256").hexdigest()


def _encode_change(scope: BackendScope, channel: str, groups: Sequence[str] | None) -> bytes:
    body: dict[str, Any] = {"all": True} if groups is None else {"groups": list(groups)}
    payload = json.dumps({**body, "at": time.time()}, separators=(",", ":")).encode()
    return _VERSION + b"." + _channel_mac(scope, channel, payload).encode() + b"." + payload


def _decode_change(
    scope: BackendScope, channel: str, raw: bytes
) -> tuple[Change, tuple[str, ...]] | None:
    """What a message on ``channel`` says, or ``None`` when this API key did not sign it."""
    version, _, rest = raw.partition(b".")
    mac, _, payload = rest.partition(b".")
    if version != _VERSION or len(mac) != 64:
        return None
    if not hmac.compare_digest(mac, _channel_mac(scope, channel, payload).encode()):
        return None
    try:
        data = json.loads(payload)
        if data.get("all") is True:
            return "all", ()
        groups = data["groups"]
        if not isinstance(groups, list) or not all(
            isinstance(g, str) and _GROUP_RE.fullmatch(g.encode()) for g in groups
        ):
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return "groups", tuple(groups)


def _decode(key: BackendKey, raw: bytes) -> StoredAnswer | None:
    """The answer in ``raw``, or ``None`` when it is not one this API key signed."""
    version, _, rest = raw.partition(b".")
    mac, _, payload = rest.partition(b".")
    if version != _VERSION or len(mac) != 64:
        return None
    if not hmac.compare_digest(mac, _mac(key, payload).encode()):
        return None
    # Authentic, so written by this code; still checked, as a reader would any input.
    try:
        data = json.loads(payload)
        status, content_type, stored_at = data["status"], data["content_type"], data["stored_at"]
        body = (
            data["text"].encode()
            if "text" in data
            else base64.b64decode(data["base64"], validate=True)
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if (
        type(status) is not int
        or not isinstance(content_type, str)
        or not isinstance(stored_at, int | float)
        or not math.isfinite(stored_at)
    ):
        return None
    return StoredAnswer(status, body, content_type, float(stored_at))


class RedisBackend(CacheBackend):
    """A shared cache tier on Redis (or Valkey), for every process of a fleet.

    ::

        backend = RedisBackend("redis://cache.internal:6379/0", prefix="portkey_vk", timeout=0.05)

    Args:
        url_or_client: a ``redis://``, ``rediss://`` or ``unix://`` URL (the backend opens and
            closes its own client), or a ``redis.asyncio.Redis`` or ``RedisCluster`` the caller
            owns and closes.
        prefix: the first part of every Redis key; :meth:`clear` drops only keys under it.
        timeout: seconds each operation may take; past it, the store counts as failed for that
            call and the control plane is asked instead.

    Raises:
        ImportError: redis-py is not installed (``pip install "portkey-vk[redis]"``).
        TypeError: an argument of the wrong type.
        ValueError: a URL of another scheme, a prefix outside ``[A-Za-z0-9_.:-]{1,64}``, or a
            timeout that is not a positive, finite number.
    """

    def __init__(
        self,
        url_or_client: str | redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster,
        *,
        prefix: str = "portkey_vk",
        timeout: float = 0.05,
    ) -> None:
        try:
            import redis.asyncio as aioredis  # noqa: PLC0415 - an optional extra, imported on use
            import redis.asyncio.cluster  # noqa: PLC0415
            import redis.exceptions  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT, name="redis") from exc
        if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
            raise ValueError("prefix must match [A-Za-z0-9_.:-]{1,64}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(
                f"timeout must be a positive, finite number of seconds, got {timeout!r}"
            )
        self._cluster = False
        self._client: Any
        self._pool: Any = None
        if isinstance(url_or_client, str):
            scheme = urllib.parse.urlsplit(url_or_client).scheme
            if scheme not in {"redis", "rediss", "unix"}:
                raise ValueError("the URL must be redis://, rediss:// or unix://")
            self._where = _redact_url(url_or_client)
            # A burst of misses waits for one of the pool's connections (within ``timeout``)
            # rather than failing past redis-py's default of 100 (MaxConnectionsError).
            self._pool = aioredis.BlockingConnectionPool.from_url(
                url_or_client, max_connections=_MAX_CONNECTIONS, timeout=None
            )
            self._client = aioredis.Redis(connection_pool=self._pool)
            self._owned = True
        elif isinstance(url_or_client, aioredis.Redis | redis.asyncio.cluster.RedisCluster):
            self._cluster = isinstance(url_or_client, redis.asyncio.cluster.RedisCluster)
            self._where = f"<{type(url_or_client).__name__}>"
            self._client = url_or_client
            self._owned = False
        else:
            raise TypeError(
                "url_or_client must be a redis URL or a redis.asyncio client, "
                f"got {type(url_or_client).__name__}"
            )
        self._prefix = prefix
        self._timeout = float(timeout)
        # What counts as the store failing; anything else is a bug and propagates.
        self._failures: tuple[type[BaseException], ...] = (
            redis.exceptions.RedisError,
            OSError,
            asyncio.TimeoutError,
            ValueError,
            UnicodeError,
        )
        self._release_script = self._client.register_script(_RELEASE_LUA)
        self._extend_script = self._client.register_script(_EXTEND_LUA)
        self._set_script = self._client.register_script(_SET_LUA)
        self._lock = threading.Lock()
        self._errors = self._rejected = 0
        # Operations running now, on any loop, and whether aclose has begun: see aclose.
        self._busy = 0
        self._closed = False
        self._last_log = -math.inf
        self._clock: Callable[[], float] = time.monotonic
        # One listener per event loop: a redis.asyncio connection belongs to the loop it was
        # opened on.
        self._listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Listener] = (
            weakref.WeakKeyDictionary()
        )
        _BACKENDS.add(self)

    @property
    def prefix(self) -> str:
        """The first part of every Redis key this backend writes."""
        return self._prefix

    @property
    def timeout(self) -> float:
        """Seconds each operation may take."""
        return self._timeout

    @property
    def stats(self) -> BackendStats:
        """Failures of Redis, and entries refused by their check, so far."""
        with self._lock:
            return BackendStats(errors=self._errors, rejected=self._rejected)

    def __repr__(self) -> str:
        return f"RedisBackend({self._where!r}, prefix={self._prefix!r}, timeout={self._timeout})"

    # -- names ---------------------------------------------------------------------------------

    def _group_name(self, scope: BackendScope, group: str) -> str:
        # The braces are a cluster hash tag: a group, its locks and its wake-ups share a slot, so
        # the release script may touch them together.
        return f"{self._prefix}:{scope.namespace}:{{{group}}}"

    def _gen_name(self, scope: BackendScope, group: str) -> str:
        return f"{self._group_name(scope, group)}:gen"

    def _channel(self, scope: BackendScope) -> str:
        return f"{self._prefix}:{scope.namespace}:changes"

    def _names(self, key: BackendKey) -> tuple[str, str, str]:
        base = self._group_name(key.scope, key.group)
        return base, f"{base}:lock:{key.entry}", f"{base}:wake:{key.entry}"

    # -- the operations ------------------------------------------------------------------------

    async def get(self, key: BackendKey) -> StoredAnswer | None:
        """The entry at ``key``; ``None`` when absent, or refused (counted) when not authentic."""
        group, _, _ = self._names(key)
        raw = await self._call(self._client.hget(group, key.entry), "get")
        if raw is None:
            return None
        if not isinstance(raw, bytes):
            self._failed(BackendError(f"unexpected reply of type {type(raw).__name__}"), "get")
        answer = _decode(key, raw)
        if answer is None:
            self._refused()
        return answer

    async def set(
        self, key: BackendKey, answer: StoredAnswer, ttl: float, *, generation: str | None = None
    ) -> None:
        """Store ``answer`` at ``key``; Redis drops its group ``ttl`` s after its last write.

        With ``generation``: only if the group's write count still says so (one Lua script).
        """
        group, _, _ = self._names(key)
        value = _encode(key, answer)
        ms = max(1, math.ceil(ttl * 1000))
        if generation is not None:
            gen = self._gen_name(key.scope, key.group)
            args = [generation, key.entry, value, ms]
            await self._call(self._set_script(keys=[gen, group], args=args), "set")
            return

        async def run() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(group, key.entry, value)
                pipe.pexpire(group, ms)
                await pipe.execute()

        await self._call(run(), "set")

    async def generation(self, key: BackendKey) -> str | None:
        """How many writes dropped ``key``'s group (``""`` for none lately), for :meth:`set`."""
        raw = await self._call(self._client.get(self._gen_name(key.scope, key.group)), "generation")
        if raw is None:
            return ""
        if not isinstance(raw, bytes):
            self._failed(BackendError(f"unexpected reply of type {type(raw).__name__}"), "get")
        count: str = raw.decode("ascii", "replace")
        return count

    async def delete(self, scope: BackendScope, groups: Iterable[str]) -> None:
        """Drop every entry of ``groups`` for ``scope``, and count the write in each group.

        The count (``INCR``, kept an hour) is what a :meth:`set` with a ``generation`` checks:
        a read that asked the control plane before this write does not store its answer after.
        """
        unique = list(dict.fromkeys(groups))
        if not unique:
            return

        async def run(chunk: list[str]) -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for group in chunk:
                    pipe.unlink(self._group_name(scope, group))
                    gen = self._gen_name(scope, group)
                    pipe.incr(gen)
                    pipe.pexpire(gen, _GEN_MS)
                await pipe.execute()

        if self._cluster:
            # Groups live in different slots: one group (and its count) at a time.
            for group in unique:
                await self._call(run([group]), "delete")
        else:
            await self._call(run(unique), "delete")

    async def clear(self) -> int:
        """Drop every key under this backend's prefix, in batches (``SCAN`` + ``UNLINK``)."""
        pattern = re.sub(r"([\\*?\[\]])", r"\\\1", self._prefix) + ":*"
        dropped = 0
        batch: list[bytes] = []

        async def flush() -> None:
            nonlocal dropped
            if self._cluster:
                for name in batch:
                    dropped += int(await self._call(self._client.unlink(name), "clear"))
            else:
                dropped += int(await self._call(self._client.unlink(*batch), "clear"))
            batch.clear()

        iterator = self._client.scan_iter(match=pattern, count=500)
        while True:
            # Each round trip is bounded, not the whole walk: a large prefix takes a while.
            try:
                name = await self._call(iterator.__anext__(), "clear")
            except StopAsyncIteration:
                break
            batch.append(name)
            if len(batch) >= 500:
                await flush()
        if batch:
            await flush()
        return dropped

    async def lock(self, key: BackendKey, ttl: float) -> str | None:
        """``SET lock token NX PX``: the token when this caller now holds the flight."""
        _, lock, _ = self._names(key)
        token = secrets.token_hex(16)
        ms = max(1, math.ceil(ttl * 1000))
        taken = await self._call(self._client.set(lock, token, nx=True, px=ms), "lock")
        return token if taken else None

    async def extend(self, key: BackendKey, token: str, ttl: float) -> bool:
        """``PEXPIRE`` the lock if ``token`` still holds it (a token-checked Lua script)."""
        _, lock, _ = self._names(key)
        ms = max(1, math.ceil(ttl * 1000))
        kept = await self._call(self._extend_script(keys=[lock], args=[token, ms]), "extend")
        return bool(kept)

    async def release(self, key: BackendKey, token: str) -> None:
        """Drop the lock if ``token`` still holds it, and wake the waiters (one Lua script)."""
        _, lock, wake = self._names(key)
        await self._call(self._release_script(keys=[lock, wake], args=[token, _WAKE_MS]), "release")

    async def wait(self, key: BackendKey, timeout: float) -> None:
        """Block (``BLPOP``) until the flight lands, or ``timeout`` (:data:`WAIT_SLICE` at most).

        A waiter that wakes passes the token on, so that every waiter of the fleet wakes; the
        caller then looks for the entry, and takes the flight over if its holder's lock expired.
        """
        _, _, wake = self._names(key)
        block = min(timeout, WAIT_SLICE)
        if block <= 0:
            return
        if not self._enter():
            return

        async def run() -> None:
            popped = await self._client.blpop([wake], timeout=block)
            if popped is not None:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.rpush(wake, b"1")
                    pipe.pexpire(wake, _WAKE_MS)
                    await pipe.execute()

        try:
            # Redis checks blocked clients' deadlines about ten times a second: some slack.
            await asyncio.wait_for(run(), block + self._timeout + 0.25)
        except asyncio.TimeoutError:
            # Blocked past its slice: the same as a wait that saw no wake-up. A frozen Redis
            # shows in the caller's next ``get`` instead.
            pass
        except self._failures as exc:
            self._failed(exc, "wait")
        finally:
            self._leave()

    async def publish(self, scope: BackendScope, groups: Sequence[str] | None) -> None:
        """``PUBLISH`` the hashed ``groups`` (``None``: all) on ``scope``'s channel, signed."""
        channel = self._channel(scope)
        await self._call(
            self._client.publish(channel, _encode_change(scope, channel, groups)), "publish"
        )

    def listen(self, scope: BackendScope, on_change: OnChange) -> int | None:
        """Subscribe this event loop to ``scope``'s channel (once; one connection per loop).

        Returns the subscription's number while Redis has confirmed it, ``None`` before that
        and after a loss (until the listener, which retries on its own, hears again). A cluster
        client is not listened to: its caches keep their own copies only briefly.
        """
        if self._cluster or self._closed:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        listener = self._listeners.get(loop)
        if listener is None or listener.task.done():
            listener = self._listeners[loop] = _Listener(self, loop)
        return listener.hears(self._channel(scope), scope, on_change)

    async def aclose(self) -> None:
        """Stop listening; close the client this backend opened from a URL (not one passed in).

        Operations already running finish first (each within its timeout); any begun after this
        call raise :class:`BackendError` at once, and open no connection.
        """
        with self._lock:
            self._closed = True
        listeners, self._listeners = list(self._listeners.items()), weakref.WeakKeyDictionary()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is awaited, so on a loop
            here = None
        elsewhere: list[asyncio.Task[None]] = []
        for loop, listener in listeners:
            if loop is here:
                listener.task.cancel()
                # Bounded: closing must not hang on a connection that does not answer.
                await asyncio.wait({listener.task}, timeout=self._timeout + 1.0)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(listener.task.cancel)
                if loop.is_running():
                    elsewhere.append(listener.task)
        # An operation still running (a flight's lease renewal that was cancelled but not
        # awaited, a sync invalidate's background task, a listener of another loop closing its
        # subscription) may be opening a connection right now: the pool's disconnect below
        # would miss it, and it would be left open for the garbage collector to find. Each is
        # bounded by the timeout (a wait, by one slice more), so this waits no longer than
        # that. Polled, not awaited: they may run on other event loops.
        deadline = time.monotonic() + WAIT_SLICE + self._timeout + 1.0
        while (  # noqa: ASYNC110 - an Event belongs to one loop, these run on several
            self._busy or not all(task.done() for task in elsewhere)
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if self._owned:
            await self._client.aclose()
            await self._pool.disconnect()

    # -- failures ------------------------------------------------------------------------------

    async def _call(self, op: Awaitable[_T], what: str) -> _T:
        """``op`` within the timeout; any failure of Redis becomes one :class:`BackendError`."""
        if not self._enter():
            close = getattr(op, "close", None)
            if close is not None:  # never started: no "coroutine was never awaited" warning
                close()
            raise BackendError(f"{what}: the backend is closed")
        try:
            return await asyncio.wait_for(op, self._timeout)
        except self._failures as exc:
            self._failed(exc, what)
        finally:
            self._leave()
        raise AssertionError("unreachable")  # pragma: no cover

    def _enter(self) -> bool:
        """Count one operation as running; ``False`` (and not counted) once closed."""
        with self._lock:
            if self._closed:
                return False
            self._busy += 1
            return True

    def _leave(self) -> None:
        with self._lock:
            self._busy -= 1

    def _failed(self, exc: BaseException, what: str) -> None:
        kind = self._count(exc, what)
        raise BackendError(f"{what}: {kind}") from None

    def _count(self, exc: BaseException, what: str) -> str:
        """Count and (throttled) log one failure of Redis; its kind, without any address."""
        with self._lock:
            self._errors += 1
        # The class only: a redis-py message may quote the address, or a reply's bytes.
        kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
        self._note(f"shared cache unavailable ({what}: {kind}); asking the control plane")
        return kind

    def _refused(self) -> None:
        with self._lock:
            self._rejected += 1
        self._note("refused a shared cache entry or message that failed its check")

    def _note(self, message: str) -> None:
        """Log ``message`` at WARNING, unless this backend logged less than 30 s ago."""
        now = self._clock()
        with self._lock:
            if now - self._last_log < LOG_INTERVAL:
                return
            self._last_log = now
        log.warning(
            "%s (backend %s; further notes within %ds dropped)", message, self, LOG_INTERVAL
        )


class _Listener:
    """One event loop's subscription to the change channels of every scope it has read.

    A task that blocks on the pub/sub connection (:data:`_LISTEN_SLICE` at a time, never a hot
    poll), pings when idle, and after any failure tells every cache it was ``"lost"`` and
    listens again (with a growing pause): a cache keeps its own copies only briefly meanwhile.
    """

    def __init__(self, backend: RedisBackend, loop: asyncio.AbstractEventLoop) -> None:
        self.backend = backend
        # channel -> (scope, callbacks); the callbacks are weak where they are bound methods.
        self.channels: dict[str, tuple[BackendScope, list[Callable[[], OnChange | None]]]] = {}
        self.confirmed: set[str] = set()
        self.epoch = 0
        self.task = loop.create_task(self.run())

    def hears(self, channel: str, scope: BackendScope, on_change: OnChange) -> int | None:
        known = self.channels.get(channel)
        if known is None:
            known = self.channels[channel] = (scope, [])
        refs = known[1]
        if not any(ref() == on_change for ref in refs):
            refs.append(_weak(on_change))
        return self.epoch if channel in self.confirmed else None

    def tell(self, channel: str, change: Change, groups: tuple[str, ...]) -> None:
        known = self.channels.get(channel)
        if known is None:
            return
        scope, refs = known
        for ref in list(refs):
            callback = ref()
            if callback is None:
                refs.remove(ref)
                continue
            callback(scope, change, groups)

    async def run(self) -> None:
        backend = self.backend
        pause = _RELISTEN_FIRST
        while True:
            pubsub = backend._client.pubsub()
            try:
                await self._serve(pubsub)
            except Exception as exc:  # whatever Redis does: count it, listen again later
                backend._count(exc, "listen")
            finally:
                self.epoch += 1
                lost = list(self.confirmed)
                self.confirmed.clear()
                for channel in lost:
                    self.tell(channel, "lost", ())
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), backend._timeout)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RELISTEN_MAX)

    async def _serve(self, pubsub: Any) -> None:
        backend = self.backend
        loop = asyncio.get_running_loop()
        limit = backend._timeout
        subscribed: set[str] = set()
        heard = pinged = loop.time()
        while True:
            wanted = [c for c in self.channels if c not in subscribed]
            if wanted:
                await asyncio.wait_for(pubsub.subscribe(*wanted), limit)
                subscribed.update(wanted)
            # Bounded by its own timeout (not wrapped in wait_for: a read cancelled mid-way by
            # wait_for's inner task could outlive the cancellation of this one).
            message = await pubsub.get_message(timeout=_LISTEN_SLICE)
            now = loop.time()
            if message is None:
                if now - heard > _DEAF_AFTER:
                    raise asyncio.TimeoutError
                if now - pinged > _PING_EVERY:
                    pinged = now
                    await asyncio.wait_for(pubsub.ping(), limit)
                continue
            heard = now
            kind, channel = message.get("type"), message.get("channel")
            if isinstance(kind, bytes):
                kind = kind.decode()
            if isinstance(channel, bytes):
                channel = channel.decode()
            if kind == "subscribe" and channel in self.channels:
                self.confirmed.add(channel)
            elif kind == "message" and channel in self.channels:
                data = message.get("data")
                scope = self.channels[channel][0]
                change = _decode_change(scope, channel, data) if isinstance(data, bytes) else None
                if change is None:
                    backend._refused()
                else:
                    self.tell(channel, *change)


def _strong(fn: OnChange) -> Callable[[], OnChange | None]:
    return lambda: fn


def _weak(fn: OnChange) -> Callable[[], OnChange | None]:
    """A reference to ``fn``: weak for a bound method (a cache is not kept alive by it)."""
    if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
        return weakref.WeakMethod(fn)
    return _strong(fn)


# Every backend, so that a forked child forgets the listeners of its parent's event loops.
_BACKENDS: weakref.WeakSet[RedisBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_BACKENDS):
        backend._listeners = weakref.WeakKeyDictionary()
        backend._lock = threading.Lock()
        backend._busy = 0  # the parent's operations do not run here


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)


_RELEASE_LUA: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('del', KEYS[1])
end
redis.call('rpush', KEYS[2], '1')
redis.call('pexpire', KEYS[2], ARGV[2])
return 1
"""

_SET_LUA: Final = """
local gen = redis.call('get', KEYS[1]) or ''
if gen ~= ARGV[1] then
    return 0
end
redis.call('hset', KEYS[2], ARGV[2], ARGV[3])
redis.call('pexpire', KEYS[2], ARGV[4])
return 1
"""

_EXTEND_LUA: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
