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
import hmac
import json
import math
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from portkey_vk._backend import (
    BackendError,
    BackendKey,
    BackendScope,
    BackendStats,
    CacheBackend,
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
        if isinstance(url_or_client, str):
            scheme = urllib.parse.urlsplit(url_or_client).scheme
            if scheme not in {"redis", "rediss", "unix"}:
                raise ValueError("the URL must be redis://, rediss:// or unix://")
            self._where = _redact_url(url_or_client)
            self._client = aioredis.Redis.from_url(url_or_client)
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
        self._lock = threading.Lock()
        self._errors = self._rejected = 0
        self._last_log = -math.inf
        self._clock: Callable[[], float] = time.monotonic

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
            with self._lock:
                self._rejected += 1
            self._note("refused a shared cache entry that failed its check")
        return answer

    async def set(self, key: BackendKey, answer: StoredAnswer, ttl: float) -> None:
        """Store ``answer`` at ``key``; Redis drops its group ``ttl`` s after its last write."""
        group, _, _ = self._names(key)
        value = _encode(key, answer)

        async def run() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(group, key.entry, value)
                pipe.pexpire(group, max(1, math.ceil(ttl * 1000)))
                await pipe.execute()

        await self._call(run(), "set")

    async def delete(self, scope: BackendScope, groups: Iterable[str]) -> None:
        """Drop every entry of ``groups`` for ``scope``."""
        names = [self._group_name(scope, g) for g in dict.fromkeys(groups)]
        if not names:
            return
        if self._cluster:
            # Groups live in different slots: one command each.
            for name in names:
                await self._call(self._client.unlink(name), "delete")
        else:
            await self._call(self._client.unlink(*names), "delete")

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

    async def aclose(self) -> None:
        """Close the client this backend opened from a URL; a client passed in stays open."""
        if self._owned:
            await self._client.aclose()

    # -- failures ------------------------------------------------------------------------------

    async def _call(self, op: Awaitable[_T], what: str) -> _T:
        """``op`` within the timeout; any failure of Redis becomes one :class:`BackendError`."""
        try:
            return await asyncio.wait_for(op, self._timeout)
        except self._failures as exc:
            self._failed(exc, what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, exc: BaseException, what: str) -> None:
        with self._lock:
            self._errors += 1
        # The class only: a redis-py message may quote the address, or a reply's bytes.
        kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
        self._note(f"shared cache unavailable ({what}: {kind}); asking the control plane")
        raise BackendError(f"{what}: {kind}") from None

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


_RELEASE_LUA: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('del', KEYS[1])
end
redis.call('rpush', KEYS[2], '1')
redis.call('pexpire', KEYS[2], ARGV[2])
return 1
"""

_EXTEND_LUA: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
